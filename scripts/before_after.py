"""Compose a before/after sheet from two `latentscape eval --out` folders of the same source:
one row per offset, columns real | ours before | ours after | RGB warp | codec, each tile with
its co-visible PSNR (read from the folders' eval.json, cut from their sheet.png).

    python scripts/before_after.py BEFORE_DIR AFTER_DIR OUT.png [--offsets 4 8]

Two `latentscape eval generation --out` folders instead (they hold eval-generation.json):
one row per photo, columns photo | then, for each chosen frame, before | after.

    python scripts/before_after.py BEFORE_DIR AFTER_DIR OUT.png [--frames 20 24 31]
        [--photos room street]
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


def generation_tiles(folder: Path) -> tuple[dict, list[str], list[int]]:
    """{(photo, column): tile} of an eval-generation folder, its photos and sheet frames."""
    result = json.loads((folder / "eval-generation.json").read_text())
    sheet = Image.open(folder / "sheet-generation.png").convert("RGB")
    names = [p["name"] for p in result["photos"]]
    frames = [f for f in result["sheet_frames"] if f < result["frames"]]
    columns = len(frames) + 1
    tw = (sheet.width + GAP) // columns - GAP
    th = (sheet.height - HEADER) // len(names) - GAP
    out = {}
    for r, name in enumerate(names):
        for c, column in enumerate(["photo", *frames]):
            x, y = c * (tw + GAP), HEADER + r * (th + GAP)
            out[name, column] = sheet.crop((x, y, x + tw, y + th))
    return out, names, frames


def compose(columns: list[tuple[str, dict, object]], rows: list, out: Path) -> int:
    """Write a sheet: a header of column labels, then a row per entry of rows, each column's
    tile taken from its source dict at (row, key)."""
    tw, th = columns[0][1][rows[0], columns[0][2]].size
    sheet = Image.new(
        "RGB", (len(columns) * (tw + GAP) - GAP, HEADER + len(rows) * (th + GAP)), (24, 24, 24)
    )
    draw = ImageDraw.Draw(sheet)
    for c, (label, _, _) in enumerate(columns):
        draw.text((c * (tw + GAP) + 4, 2), label, fill=(235, 235, 235))
    for r, row in enumerate(rows):
        for c, (_, source, key) in enumerate(columns):
            sheet.paste(source[row, key], (c * (tw + GAP), HEADER + r * (th + GAP)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out}")
    return 0


def generation_sheet(args) -> int:
    before, names, frames = generation_tiles(args.before)
    after, _, _ = generation_tiles(args.after)
    chosen = [f for f in (args.frames or frames) if f in frames]
    names = [n for n in names if not args.photos or n in args.photos]
    columns = [("photo", before, "photo")]
    for f in chosen:
        columns += [(f"frame {f} before", before, f), (f"frame {f} now", after, f)]
    return compose(columns, names, args.out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--offsets", type=int, nargs="*", default=None)
    p.add_argument("--frames", type=int, nargs="*", default=None, help="generation sheets")
    p.add_argument("--photos", nargs="*", default=None, help="generation sheets")
    args = p.parse_args(argv)
    if (args.before / "eval-generation.json").is_file():
        return generation_sheet(args)
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
    return compose(columns, offsets, args.out)


if __name__ == "__main__":
    sys.exit(main())
