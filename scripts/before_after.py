"""Compose a before/after sheet from two `latentscape eval --out` folders of the same source:
one row per offset, columns real | ours before | ours after | RGB warp | codec, each tile with
its co-visible PSNR (read from the folders' eval.json, cut from their sheet.png).

    python scripts/before_after.py BEFORE_DIR AFTER_DIR OUT.png [--offsets 4 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SHEET_COLUMNS = ["real", "ours", "rgb-warp", "rgb-memory", "codec"]  # engine.eval.protocol
HEADER, GAP, TILE = 16, 2, 320


def tiles(folder: Path) -> tuple[dict, dict]:
    """{(offset, column): tile image} and {offset: metrics} of one eval folder."""
    result = json.loads((folder / "eval.json").read_text())
    sheet = Image.open(folder / "sheet.png").convert("RGB")
    w, h = result["size"]
    tw = min(TILE, w)
    th = max(1, round(h * tw / w))
    out, metrics = {}, {}
    for r, row in enumerate(result["results"]):
        offset = row["offset"]
        metrics[offset] = row["methods"]
        for c, name in enumerate(SHEET_COLUMNS):
            x, y = c * (tw + GAP), HEADER + r * (th + GAP)
            out[offset, name] = sheet.crop((x, y, x + tw, y + th))
    return out, metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--offsets", type=int, nargs="*", default=None)
    args = p.parse_args(argv)
    before, _ = tiles(args.before)
    after, _ = tiles(args.after)
    offsets = sorted({o for o, _ in after})
    if args.offsets:
        offsets = [o for o in offsets if o in args.offsets]
    columns = [
        ("real", before, "real"),
        ("ours before", before, "ours"),
        ("ours now", after, "ours"),
        ("RGB warp", after, "rgb-warp"),
        ("codec", after, "codec"),
    ]
    tw, th = after[offsets[0], "real"].size
    sheet = Image.new(
        "RGB", (len(columns) * (tw + GAP) - GAP, HEADER + len(offsets) * (th + GAP)), (24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    for c, (label, _, _) in enumerate(columns):
        draw.text((c * (tw + GAP) + 4, 2), label, fill=(235, 235, 235))
    for r, offset in enumerate(offsets):
        for c, (_, source, name) in enumerate(columns):
            sheet.paste(source[offset, name], (c * (tw + GAP), HEADER + r * (th + GAP)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
