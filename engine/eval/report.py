"""What the evaluation runs share in their output: progress lines, JSON-safe numbers, the
world size option, the picture sheet (a grid of labelled tiles) and the files, written
atomically."""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

from torch import Tensor

from engine.files import atomic_write

FACTOR = 8
"""Frame sizes are multiples of this (the codec's factor)."""

HEADER, GAP = 16, 2
"""Sheet layout in pixels: the column names' strip on top, the gap between tiles
(scripts/before_after.py cuts tiles out of a sheet with the same numbers)."""

BACKGROUND = (24, 24, 24)


def progress(msg: str) -> None:
    """A progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def mean(values: list[float]) -> float:
    """Mean of the finite values; NaN when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def json_safe(value):
    """JSON-safe copy: NaN and inf become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def parse_size(text: str) -> tuple[int, int]:
    """Parse "WxH" -> (w, h), rounded to multiples of 8 (at least 8)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size expects WxH (e.g. 512x384), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--size expects positive WxH, got {text!r}")
    return max(FACTOR, round(w / FACTOR) * FACTOR), max(FACTOR, round(h / FACTOR) * FACTOR)


def grid_sheet(
    columns: list[str],
    rows: list[list[tuple[Tensor, str]]],
    size: tuple[int, int],
    tile_width: int = 320,
):
    """PIL image: the column names on top, then one row of tiles per entry of `rows`; a tile
    is an image (3, H, W) in [0, 1] of `size` (W, H), shrunk to tile_width, with its label
    (white on a black box, top left; none when empty)."""
    from PIL import Image, ImageDraw

    w, h = size
    tw = min(tile_width, w)
    th = max(1, round(h * tw / w))
    sheet = Image.new(
        "RGB", (len(columns) * (tw + GAP) - GAP, HEADER + len(rows) * (th + GAP)), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(columns):
        draw.text((c * (tw + GAP) + 4, 2), name, fill=(235, 235, 235))
    for r, row in enumerate(rows):
        y = HEADER + r * (th + GAP)
        for c, (image, text) in enumerate(row):
            pixels = (image.clamp(0, 1) * 255).round().byte()
            tile = Image.fromarray(pixels.permute(1, 2, 0).numpy(), "RGB")
            x = c * (tw + GAP)
            sheet.paste(tile.resize((tw, th), Image.Resampling.LANCZOS), (x, y))
            if text:
                box = draw.textbbox((x + 3, y + 3), text)
                draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
                draw.text((x + 3, y + 3), text, fill=(255, 255, 255))
    return sheet


def write_report(folder: str | Path, json_name: str, data: dict, sheet_name: str, sheet):
    """folder/json_name (data, NaN and inf as null) and folder/sheet_name (a PIL image, PNG),
    each written atomically. Returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, sheet_path = folder / json_name, folder / sheet_name
    atomic_write(json_path, (json.dumps(json_safe(data), indent=1) + "\n").encode())
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write(sheet_path, buffer.getvalue())
    return json_path, sheet_path
