"""`latentscape bench depth`: the embedded depth prior against the synthetic scenes' exact depth.

For each synthetic scene of engine.synth (the room, and the street when engine.synth has
`street_scene`), views at 256x192 (60 degrees vertical field of view, the prior's default)
along two of the scene's sample paths:

- "loop": walk out, turn around in place, walk back; a level camera, as the prior assumes.
- "orbit": look around one full turn on the spot with a gentle pitch swing (+-0.15 rad),
  which the prior's level-camera assumption does not cover; reported as the harder case.

Each view: EmbeddedDepth (default settings) and, as the baseline, its box prior alone
(contact=False), scored by depth_metrics (median scaling) on the non-sky pixels. Printed
per scene and path: mean AbsRel, mean delta < 1.25 and mean sky IoU over the views.

The JSON written by --json: {"config": {...}, "results": [{"scene", "path", "views",
"abs_rel", "delta1", "rmse", "baseline_abs_rel", "baseline_delta1", "sky_iou",
"per_view": [{"abs_rel", "delta1", "rmse"}, ...]}, ...]}; sky_iou is null where neither the
truth nor the estimate has sky.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import torch

from engine import synth
from engine.camera import Camera
from engine.models.depth import EmbeddedDepth, depth_metrics

WIDTH, HEIGHT, FOV_Y = 256, 192, 60.0
PATHS = ("loop", "orbit")
TARGET_ABS_REL = 0.25


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def scenes() -> list[tuple[str, object]]:
    """(name, scene) for every synthetic scene engine.synth has (seed 0)."""
    found = [("room", synth.room_scene(0))]
    street = getattr(synth, "street_scene", None)
    if street is None:
        print("note: engine.synth has no street_scene; the exterior is skipped")
    else:
        found.append(("street", street(0)))
    return found


def evaluate(scene, path: str, poses: int, estimator=None, baseline=None) -> dict:
    """Score `estimator` (default EmbeddedDepth()) on `poses` views of `scene` along `path`."""
    estimator = estimator or EmbeddedDepth()
    baseline = baseline or EmbeddedDepth(contact=False)
    base = Camera.from_fov(FOV_Y, WIDTH, HEIGHT)
    per_view, base_view, ious = [], [], []
    for pose in scene.sample_path(path, n=poses):
        view = scene.render(base.with_pose(pose))
        mask = ~view.sky
        result = estimator.estimate(view.rgb)
        m = depth_metrics(result.depth, view.depth, mask)
        per_view.append({key: m[key] for key in ("abs_rel", "delta1", "rmse")})
        base_view.append(depth_metrics(baseline.estimate(view.rgb).depth, view.depth, mask))
        if result.sky is not None:
            union = int((result.sky | view.sky).sum())
            if union:
                ious.append(int((result.sky & view.sky).sum()) / union)

    def mean(rows, key):
        return statistics.mean(row[key] for row in rows)

    return {
        "path": path,
        "views": len(per_view),
        "abs_rel": mean(per_view, "abs_rel"),
        "delta1": mean(per_view, "delta1"),
        "rmse": mean(per_view, "rmse"),
        "baseline_abs_rel": mean(base_view, "abs_rel"),
        "baseline_delta1": mean(base_view, "delta1"),
        "sky_iou": statistics.mean(ious) if ious else None,
        "per_view": per_view,
    }


def print_report(results: list[dict]) -> None:
    print(f"\nEmbedded depth prior, {WIDTH}x{HEIGHT}, fov_y {FOV_Y:g}, median-scaled, sky masked")
    head = (
        f"{'scene':8} {'path':6} {'views':>5} {'AbsRel':>7} {'d<1.25':>7} {'RMSE':>6} "
        f"{'box AbsRel':>10} {'box d<1.25':>10} {'sky IoU':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        iou = "-" if r["sky_iou"] is None else f"{r['sky_iou']:.2f}"
        print(
            f"{r['scene']:8} {r['path']:6} {r['views']:5d} {r['abs_rel']:7.3f} "
            f"{r['delta1']:7.3f} {r['rmse']:6.2f} {r['baseline_abs_rel']:10.3f} "
            f"{r['baseline_delta1']:10.3f} {iou:>7}"
        )
    print(f"(target: AbsRel <= {TARGET_ABS_REL} on the level 'loop' paths; box = prior alone)")


def run(json_out: Path | None = None, poses: int = 8) -> int:
    results = []
    for name, scene in scenes():
        for path in PATHS:
            _progress(f"bench depth: {name} {path}, {poses} views")
            results.append({"scene": name, **evaluate(scene, path, poses)})
    print_report(results)
    if json_out is not None:
        payload = {
            "config": {
                "width": WIDTH,
                "height": HEIGHT,
                "fov_y_deg": FOV_Y,
                "poses": poses,
                "estimator": "embedded (defaults)",
                "threads": torch.get_num_threads(),
            },
            "results": results,
        }
        json_out = Path(json_out)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=2))
        print(f"\nwrote {json_out}")
    return 0
