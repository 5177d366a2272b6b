"""Which depth should the new (hole) tokens of a frame get, if the generator produced the
true content there: the layout's (engine.world.layout_depth, what World does now) or the
depth backend's estimate of the decoded frame, scaled to the known tokens
(engine.newdepth.estimated_depth)?

For each scene a World (WorldConfig defaults, embedded backends) is seeded from one view
with its true depth; the camera moves to poses that uncover holes; at each pose the memory
is read out (cracks closed as in a segment) and the hole tokens get

- layout:    layout_depth(readout depth, known, the layout traced at the pose), as
             World._run_segment computes it;
- estimated: estimated_depth(decode(encode(true frame at the pose)), readout depth, known,
             the world's depth backend, factor);
- inpaint:   inpaint_depth(readout depth, known) alone (layout_depth's near part), and
  est-oracle: the estimate scaled by the median ratio over the hole tokens' own truth
             (the best one scale can do: what is left is the estimate's shape error);

and are compared with the true token depth (the median of each token's true pixel depths,
as World.seed pools them): abs-rel (mean |d - true| / true where both are finite) and the
fraction within 10% (|d - true| < 0.1 true; +inf or 0 where the truth is finite counts as
a miss); on hole tokens whose truth is sky, the fraction given +inf.

Scenes: the synthetic room, room-2 and street (engine.synth, exact depth at any camera; the
seed is the sample scene's view: 512x384, 60 degrees, identity pose) at poses: steps of
0.5 to either side, turns of 30 degrees either way, a step of 1 back. The Middlebury
motorcycle (skimage.data.stereo_motorcycle, engine.eval.sequence.motorcycle_pair; ground
truth only for the left image): the World is seeded from a view whose depth is the left
ground truth carried into it, and the readout is taken at the left camera, whose true depth
is the ground truth: "step": seeded from the right image (one baseline, 0.193 m, to the
right; the left depth splatted into it, z-buffered: what the left camera sees behind the
motorcycle's left edges is unknown to the seed), so the step is one baseline to the left;
"turn": seeded from the left image turned 15 degrees either way (a pure rotation: the
left image resampled, what it does not show unknown). Tokens whose truth is unknown are
left out.

    python scripts/new_token_depth.py --out /tmp/new-token-depth [--scenes room street ...]

Prints the table, writes table.json and sheet.png (per row: true frame | true depth |
layout | estimated, log depth, one colour scale per row, holes outlined, sky white,
unknown black).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.camera import Camera  # noqa: E402
from engine.memory.latent import pool_depth  # noqa: E402
from engine.models.generator import inpaint_depth  # noqa: E402
from engine.models.layout import SKY, WALL  # noqa: E402
from engine.newdepth import (  # noqa: E402
    align_scale,
    estimate_tokens,
    estimated_depth,
    scale_misfit,
)
from engine.world import World, WorldConfig, fill_cracks, fit_photo, layout_depth  # noqa: E402

SYNTH = ("room", "room-2", "street")
SCENES = (*SYNTH, "motorcycle")
WITHIN = 0.1  # "within 10%"
GATE = 0.15
"""gated: the estimate where its scale_misfit on the known tokens is at most this, else the
layout (estimated_depth(..., max_misfit=GATE), falling back to layout_depth)."""


def yaw(degrees: float) -> Tensor:
    """(4, 4) camera-frame rotation about the camera's y axis (down): + turns right."""
    a = math.radians(degrees)
    m = torch.eye(4, dtype=torch.float64)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    return m


def shift(x: float = 0.0, z: float = 0.0) -> Tensor:
    """(4, 4) camera-frame translation: x right, z forward."""
    m = torch.eye(4, dtype=torch.float64)
    m[0, 3], m[2, 3] = x, z
    return m


SYNTH_MOVES = {
    "step left 0.5": shift(x=-0.5),
    "step right 0.5": shift(x=0.5),
    "turn left 30": yaw(-30),
    "turn right 30": yaw(30),
    "back 1": shift(z=-1.0),
}


@dataclass
class Case:
    """One readout to score: a seeded world, the pose, the true frame and depth there."""

    scene: str
    move: str
    world: World
    pose: Tensor  # (4, 4) camera-to-world of the readout
    rgb: Tensor  # (3, H, W) the true frame at the pose, the world's size
    depth: Tensor  # (H, W) its true depth: 0 unknown, +inf sky


def synth_cases(name: str) -> list[Case]:
    from engine.synth import scene_by_name

    scene = scene_by_name(name)
    cfg = WorldConfig()
    camera = Camera.from_fov(60.0, cfg.width, cfg.height)
    seed = scene.render(camera)
    world = World(cfg)
    world.seed(seed.rgb, seed.depth, camera)
    cases = []
    for move, rel in SYNTH_MOVES.items():
        pose = camera.pose @ rel
        view = scene.render(world.camera_at(pose))
        cases.append(Case(name, move, world, pose, view.rgb, view.depth))
    return cases


def splat(rgb: Tensor, depth: Tensor, src: Camera, dst: Camera) -> tuple[Tensor, Tensor]:
    """Carry the pixels of a view (rgb (3, H, W), depth (H, W), 0 unknown) of camera src into
    camera dst: each pixel of known depth lands on the nearest pixel of dst, the nearest
    depth wins. Returns (rgb (3, h, w), depth (h, w)) of dst, 0 where nothing landed."""
    ok = depth > 0
    uv = src.pixel_grid(torch.float64)[ok]
    pts = src.unproject(uv, depth[ok].double())
    uv2, z = dst.project(pts)
    j = torch.floor(uv2[:, 0]).long()
    i = torch.floor(uv2[:, 1]).long()
    inside = (z > 0) & (j >= 0) & (j < dst.width) & (i >= 0) & (i < dst.height)
    idx = (i * dst.width + j)[inside]
    z = z[inside].float()
    colours = rgb[:, ok][:, inside]
    best = torch.full((dst.height * dst.width,), math.inf)
    best.scatter_reduce_(0, idx, z, reduce="amin")
    win = z <= best[idx]  # ties: the last writer wins, either is right
    out_rgb = torch.zeros(3, dst.height * dst.width)
    out_rgb[:, idx[win]] = colours[:, win]
    out_depth = torch.where(torch.isfinite(best), best, 0.0)
    return out_rgb.reshape(3, dst.height, dst.width), out_depth.reshape(dst.height, dst.width)


def rotated(rgb: Tensor, depth: Tensor, camera: Camera, pose: Tensor) -> tuple[Tensor, Tensor]:
    """The view (rgb, depth: camera-frame z, 0 unknown) of `camera`'s intrinsics at `pose`, a
    rotation about the centre of `camera` (identity pose): the image resampled (bilinear),
    the depth carried over (nearest, z of the turned camera); 0 outside the image."""
    turned = camera.with_pose(pose)
    dirs = turned.ray_directions(torch.float64)  # world = the source camera's frame
    uv, z = camera.project(dirs)
    h, w = depth.shape
    grid = torch.stack((uv[..., 0] / w * 2 - 1, uv[..., 1] / h * 2 - 1), -1).float()
    grid = torch.where((z > 0)[..., None], grid, 2.0)  # behind: outside
    out = F.grid_sample(rgb[None], grid[None], align_corners=False, padding_mode="zeros")[0]
    src = F.grid_sample(depth[None, None], grid[None], mode="nearest", align_corners=False)[0, 0]
    # the point at src depth along the turned ray: its z in the turned camera is src / z
    out_depth = torch.where(src > 0, src / z.float().clamp(min=1e-9), 0.0)
    return out.clamp(0, 1), out_depth


def motorcycle_cases() -> list[Case]:
    from engine.eval.sequence import motorcycle_pair

    seq = motorcycle_pair()
    left, right = seq.frames
    assert left.rgb is not None and left.depth is not None and right.rgb is not None
    cfg = WorldConfig()
    true_rgb, _, maps = fit_photo(left.rgb, left.camera, cfg.width, cfg.height, left.depth[None])
    assert maps is not None
    true_depth = maps[0]
    cases = []
    # step: seeded from the right image with the left depth carried into it
    _, right_depth = splat(left.rgb, left.depth, left.camera, right.camera)
    world = World(cfg)
    world.seed(right.rgb, right_depth, right.camera)
    cases.append(
        Case("motorcycle", "step left 0.193", world, left.camera.pose, true_rgb, true_depth)
    )
    for degrees in (15.0, -15.0):
        # seeded from the left camera turned by `degrees`; the readout turns back
        pose = yaw(degrees)
        rgb, depth = rotated(left.rgb, left.depth, left.camera, pose)
        world = World(cfg)
        world.seed(rgb, depth, left.camera.with_pose(pose))
        move = f"turn {'left' if degrees > 0 else 'right'} {abs(degrees):g}"
        cases.append(Case("motorcycle", move, world, left.camera.pose, true_rgb, true_depth))
    return cases


def score(pred: Tensor, truth: Tensor, holes: Tensor) -> dict:
    """Metrics of pred on the hole tokens whose truth is known (see the module docstring)."""
    solid = holes & torch.isfinite(truth) & (truth > 0)
    sky = holes & torch.isinf(truth)
    both = solid & torch.isfinite(pred) & (pred > 0)
    rel = (pred - truth).abs() / truth.clamp(min=1e-9)
    return {
        "tokens": int(solid.sum()),
        "sky_tokens": int(sky.sum()),
        "rel_sum": float(rel[both].sum()),
        "rel_count": int(both.sum()),
        "within": int((both & (rel < WITHIN)).sum()),
        "false_sky": int((solid & torch.isinf(pred)).sum()),
        "sky_hit": int((sky & torch.isinf(pred)).sum()),
    }


def summary(s: dict) -> dict:
    return {
        "abs_rel": s["rel_sum"] / s["rel_count"] if s["rel_count"] else math.nan,
        "within_10": s["within"] / s["tokens"] if s["tokens"] else math.nan,
        "sky_as_sky": s["sky_hit"] / s["sky_tokens"] if s["sky_tokens"] else math.nan,
        "false_sky": s["false_sky"],
        "tokens": s["tokens"],
        "sky_tokens": s["sky_tokens"],
    }


def add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + v for k, v in b.items()}


def timed(fn, repeats: int):
    """(fn(), the least wall time of `repeats` calls in ms): the machine runs other work."""
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, (time.perf_counter() - t) * 1e3)
    return out, best


def run_case(case: Case, repeats: int) -> dict:
    world = case.world
    lw, lh = world.latent_size
    f = world.codec.factor
    lat_cam = world.camera_at(case.pose).scaled(lw, lh)
    r = world.memory.readout(lat_cam)
    _, known, depth = fill_cracks(r.latent, r.known, r.depth)  # as World._run_segment
    holes = ~known
    truth = pool_depth(torch.where(torch.isfinite(case.depth), case.depth, math.inf), f)

    # (a) the layout's depth as World._run_segment computes it; the layout's trace is shared
    # there with the generator's guide, so it is timed apart from the blend
    layout, _ = world.layout
    (_, traced, traced_depth), trace_ms = timed(lambda: layout.guide(lat_cam, depth), repeats)
    d_layout, blend_ms = timed(lambda: layout_depth(depth, known, traced, traced_depth), repeats)
    d_inpaint = inpaint_depth(depth, known)

    # (b) the depth backend on the true frame through the codec
    with torch.inference_mode():
        decoded, codec_ms = timed(
            lambda: world.codec.decode(world.codec.encode(case.rgb[None]))[0].clamp(0, 1),
            repeats,
        )
        d_est, est_ms = timed(
            lambda: estimated_depth(decoded, depth, known, world.depth_estimator, f), repeats
        )
        estimate = estimate_tokens(decoded, world.depth_estimator, f)
    scale = align_scale(estimate, depth, known)
    if d_est is None or scale is None:
        raise RuntimeError(f"{case.scene} {case.move}: too few known tokens to align to")
    misfit = scale_misfit(estimate, depth, known, scale)
    gated = d_est if misfit <= GATE else d_layout
    # the estimate in the layout's place in layout_depth: the known surfaces' continuation
    # next to the known region, blended into the estimate farther out
    est_scaled = torch.where(torch.isinf(estimate), math.inf, estimate * scale)
    d_blend = layout_depth(depth, known, torch.where(torch.isinf(estimate), SKY, WALL), est_scaled)
    oracle = align_scale(estimate, truth, holes)
    est_oracle = torch.where(torch.isinf(estimate), math.inf, estimate * (oracle or scale))
    d_oracle = torch.where(known, depth, est_oracle)
    preds = {
        "layout": d_layout,
        "estimated": d_est,
        "gated": gated,
        "est-blend": d_blend,
        "inpaint": d_inpaint,
        "est-oracle": d_oracle,
    }
    return {
        "scene": case.scene,
        "move": case.move,
        "holes": int(holes.sum()),
        "scores": {m: score(p, truth, holes) for m, p in preds.items()},
        "scale": scale,
        "misfit": misfit,
        "oracle_scale": oracle,
        "ms": {
            "layout_trace": trace_ms,
            "layout_blend": blend_ms,
            "estimated": est_ms,
            "codec_roundtrip": codec_ms,
        },
        "maps": {"rgb": decoded, "truth": truth, "holes": holes, **preds},
    }


# --------------------------------------------------------------------------- the sheet

TILE = 4  # sheet pixels per token


def colour(depth: Tensor, lo: float, hi: float) -> np.ndarray:
    """Token depth (h, w) -> (h, w, 3) uint8: log depth on turbo from lo to hi, sky white,
    unknown black."""
    from matplotlib import colormaps

    d = depth.double()
    finite = torch.isfinite(d) & (d > 0)
    t = ((torch.log(d.clamp(min=1e-9)) - math.log(lo)) / (math.log(hi) - math.log(lo))).clamp(0, 1)
    rgb = colormaps["turbo"](t.numpy())[..., :3]
    rgb[torch.isinf(d).numpy()] = 1.0
    rgb[~(finite | torch.isinf(d)).numpy()] = 0.0
    return (rgb * 255).round().astype(np.uint8)


def outline(img: np.ndarray, holes: Tensor) -> np.ndarray:
    """Draw the border of the hole region (token mask, image TILE times larger) in magenta."""
    m = holes.repeat_interleave(TILE, 0).repeat_interleave(TILE, 1)
    inner = -F.max_pool2d(-m.float()[None, None], 3, 1, 1)[0, 0] > 0
    edge = (m & ~inner).numpy()
    img = img.copy()
    img[edge] = (255, 0, 255)
    return img


def sheet(results: list[dict], path: Path) -> None:
    from PIL import Image, ImageDraw

    columns = ("frame", "truth", "layout", "estimated")
    first = results[0]["maps"]["truth"]
    th, tw = first.shape[0] * TILE, first.shape[1] * TILE
    head, gap, label = 16, 2, 14
    rows = len(results)
    img = Image.new("RGB", (len(columns) * (tw + gap), head + rows * (th + label + gap)), "white")
    draw = ImageDraw.Draw(img)
    for c, name in enumerate(columns):
        title = "frame (magenta: the holes' edge)" if name == "frame" else name
        draw.text((c * (tw + gap) + 4, 2), title, fill="black")
    for r, res in enumerate(results):
        maps = res["maps"]
        truth, holes = maps["truth"], maps["holes"]
        finite = truth[torch.isfinite(truth) & (truth > 0)]
        lo, hi = float(finite.quantile(0.01)), float(finite.quantile(0.99)) * 1.5
        y = head + r * (th + label + gap)
        for c, name in enumerate(columns):
            if name == "frame":
                rgb = F.interpolate(maps["rgb"][None], size=(th, tw), mode="area")[0]
                tile = (rgb.permute(1, 2, 0) * 255).round().byte().numpy()
                caption = f"{res['scene']}: {res['move']}"
            else:
                tile = colour(maps[name], lo, hi).repeat(TILE, 0).repeat(TILE, 1)
                caption = f"{lo:.2g}..{hi:.2g}" if name == "truth" else ""
                if name in ("layout", "estimated"):
                    s = summary(res["scores"][name])
                    caption = f"abs-rel {s['abs_rel']:.3f}  within10 {s['within_10']:.2f}"
            img.paste(Image.fromarray(outline(tile, holes)), (c * (tw + gap), y))
            draw.text((c * (tw + gap) + 2, y + th + 1), caption, fill="black")
    img.save(path)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for table.json, sheet.png")
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--repeats", type=int, default=3, help="timed calls; the least counts")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    results = []
    for name in args.scenes:
        cases = motorcycle_cases() if name == "motorcycle" else synth_cases(name)
        # the first estimate loads the depth network: warm it up outside the timing
        w = cases[0].world
        with torch.inference_mode():
            w.depth_estimator.estimate(cases[0].rgb)
        for case in cases:
            results.append(run_case(case, args.repeats))

    cols = ("layout", "estimated", "gated", "est-blend", "inpaint", "est-oracle")
    head = f"{'scene':<11}{'move':<17}{'tokens':>6}" + "".join(f"{m:>16}" for m in cols)
    head += f"{'misfit':>8}"
    print(
        "abs-rel / within 10% on the hole tokens of known, finite truth (tokens: how many); "
        f"gated: estimated where misfit <= {GATE}, else layout"
    )
    print(head)
    print("-" * len(head))
    totals: dict[str, dict] = {}
    per_scene: dict[str, dict[str, dict]] = {}
    for res in results:
        cells = []
        for m in cols:
            s = summary(res["scores"][m])
            cells.append(f"{s['abs_rel']:.3f} / {s['within_10']:.2f}".rjust(16))
            totals[m] = add(totals.get(m, {}), res["scores"][m])
            per_scene.setdefault(res["scene"], {})
            per_scene[res["scene"]][m] = add(per_scene[res["scene"]].get(m, {}), res["scores"][m])
        tokens = res["scores"]["layout"]["tokens"]
        print(
            f"{res['scene']:<11}{res['move']:<17}{tokens:>6}"
            + "".join(cells)
            + f"{res['misfit']:>8.3f}"
        )
        sky = res["scores"]["layout"]["sky_tokens"]
        if sky:
            parts = [f"{m} {summary(res['scores'][m])['sky_as_sky']:.2f}" for m in cols[:2]]
            print(f"{'':<28}sky holes {sky}: given +inf by " + ", ".join(parts))
    print("-" * len(head))
    for scene, by in per_scene.items():
        cells = [
            f"{summary(by[m])['abs_rel']:.3f} / {summary(by[m])['within_10']:.2f}".rjust(16)
            for m in cols
        ]
        print(f"{scene:<11}{'all':<17}{by['layout']['tokens']:>6}" + "".join(cells))
    cells = [
        f"{summary(totals[m])['abs_rel']:.3f} / {summary(totals[m])['within_10']:.2f}".rjust(16)
        for m in cols
    ]
    print(f"{'overall':<28}{totals['layout']['tokens']:>6}" + "".join(cells))
    ms = {k: float(np.median([r["ms"][k] for r in results])) for k in results[0]["ms"]}
    print(
        "ms per frame (median over the rows of the least of --repeats calls): layout: trace "
        "{layout_trace:.1f} (shared with the generator's guide) + layout_depth "
        "{layout_blend:.1f}; estimated_depth {estimated:.1f} (the codec round trip "
        "{codec_roundtrip:.1f} made the true frame here; a segment decodes anyway)".format(**ms)
    )

    table = {
        "rows": [
            {
                "scene": r["scene"],
                "move": r["move"],
                "holes": r["holes"],
                "scale": r["scale"],
                "oracle_scale": r["oracle_scale"],
                "misfit": r["misfit"],
                "ms": r["ms"],
                **{m: summary(r["scores"][m]) for m in cols},
            }
            for r in results
        ],
        "scenes": {s: {m: summary(by[m]) for m in cols} for s, by in per_scene.items()},
        "overall": {m: summary(totals[m]) for m in cols},
        "median_ms": ms,
    }
    (args.out / "table.json").write_text(json.dumps(table, indent=2) + "\n")
    sheet(results, args.out / "sheet.png")
    print(f"wrote {args.out / 'table.json'} and {args.out / 'sheet.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
