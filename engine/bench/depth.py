"""`latentscape bench depth`: embedded depth against the synthetic scenes' exact depth.

For each synthetic scene of engine.synth (the room and the street) and each of the seeds
SEEDS (0: the scenes of the app's samples; 1: the same kinds, other textures and layout; the
depth network is trained on seeds 2 and up, never on these), views at 256x192 (60 degrees
vertical field of view, the prior's default) along two of the scene's sample paths:

- "loop": walk out, turn around in place, walk back; a level camera, as the prior assumes.
- "orbit": look around one full turn on the spot with a gentle pitch swing (+-0.15 rad),
  which the prior's level-camera assumption does not cover.

Each view is scored by depth_metrics (median scaling) on the non-sky pixels, twice:
"prior" is EmbeddedDepth(network=False), the geometric prior alone; "net" is EmbeddedDepth()
with its default settings, the prior refined by the shipped depth network
(assets/models/depth-embedded.safetensors; without those weights it is the prior again, and
the report says so). Printed per scene, seed and path: mean AbsRel and mean delta < 1.25 of
both, and the mean sky IoU of the default estimator; then the time of one estimate of a
512x384 photo for both (median of a few runs, after a warm-up, at the current thread count).

The JSON written by --json: {"config": {...}, "timing_ms": {"prior", "net"},
"results": [{"scene", "seed", "path", "views", "abs_rel", "delta1", "rmse", "prior_abs_rel",
"prior_delta1", "sky_iou", "per_view": [{"abs_rel", "delta1", "rmse", "prior_abs_rel"}, ...]},
...]}; abs_rel / delta1 / rmse are the default estimator's; sky_iou is null where neither the
truth nor the estimate has sky.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from engine import synth
from engine.bench import write_json
from engine.camera import Camera
from engine.models.depth import EmbeddedDepth, depth_metrics

WIDTH, HEIGHT, FOV_Y = 256, 192, 60.0
PATHS = ("loop", "orbit")
SEEDS = (0, 1)
TARGET_ABS_REL = 0.25
TIMING_SIZE = (512, 384)  # width, height of the photo the timing is measured on


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def scenes(seeds=SEEDS) -> list[tuple[str, int, object]]:
    """(name, seed, scene) for the room and the street of every seed."""
    return [
        (name, seed, make(seed))
        for name, make in (("room", synth.room_scene), ("street", synth.street_scene))
        for seed in seeds
    ]


def evaluate(scene, path: str, poses: int, estimator=None, prior=None) -> dict:
    """Score `estimator` (default EmbeddedDepth()) and `prior` (default
    EmbeddedDepth(network=False)) on `poses` views of `scene` along `path`."""
    estimator = estimator or EmbeddedDepth()
    prior = prior or EmbeddedDepth(network=False)
    base = Camera.from_fov(FOV_Y, WIDTH, HEIGHT)
    per_view, ious = [], []
    for pose in scene.sample_path(path, n=poses):
        view = scene.render(base.with_pose(pose))
        mask = ~view.sky
        result = estimator.estimate(view.rgb)
        m = depth_metrics(result.depth, view.depth, mask)
        p = depth_metrics(prior.estimate(view.rgb).depth, view.depth, mask)
        row = {key: m[key] for key in ("abs_rel", "delta1", "rmse")}
        per_view.append({**row, "prior_abs_rel": p["abs_rel"], "prior_delta1": p["delta1"]})
        if result.sky is not None:
            union = int((result.sky | view.sky).sum())
            if union:
                ious.append(int((result.sky & view.sky).sum()) / union)

    def mean(key):
        return statistics.mean(row[key] for row in per_view)

    return {
        "path": path,
        "views": len(per_view),
        "abs_rel": mean("abs_rel"),
        "delta1": mean("delta1"),
        "rmse": mean("rmse"),
        "prior_abs_rel": mean("prior_abs_rel"),
        "prior_delta1": mean("prior_delta1"),
        "sky_iou": statistics.mean(ious) if ious else None,
        "per_view": [
            {key: row[key] for key in ("abs_rel", "delta1", "rmse", "prior_abs_rel")}
            for row in per_view
        ],
    }


def time_estimates(repeats: int = 5) -> dict[str, float]:
    """Milliseconds per estimate of a 512x384 street view (median of `repeats`), for the
    prior alone and the default estimator."""
    width, height = TIMING_SIZE
    scene = synth.street_scene(0)
    camera = Camera.from_fov(FOV_Y, width, height, scene.sample_path("loop", 2)[0])
    rgb = scene.render(camera).rgb
    timing = {}
    for key, estimator in (("prior", EmbeddedDepth(network=False)), ("net", EmbeddedDepth())):
        estimator.estimate(rgb)  # warm-up
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            estimator.estimate(rgb)
            runs.append(1000 * (time.perf_counter() - t0))
        timing[key] = statistics.median(runs)
    return timing


def print_report(results: list[dict], timing: dict | None, network: str | None) -> None:
    print(f"\nEmbedded depth, {WIDTH}x{HEIGHT}, fov_y {FOV_Y:g}, median-scaled, sky masked")
    if network is None:
        print("(no depth network weights: 'net' is the prior alone)")
    else:
        print(f"(prior: the geometric prior alone; net: prior + depth network {network})")
    head = (
        f"{'scene':8} {'seed':>4} {'path':6} {'views':>5} {'prior':>7} {'prior':>7} "
        f"{'net':>7} {'net':>7} {'net':>6} {'sky':>5}"
    )
    sub = (
        f"{'':8} {'':>4} {'':6} {'':>5} {'AbsRel':>7} {'d<1.25':>7} "
        f"{'AbsRel':>7} {'d<1.25':>7} {'RMSE':>6} {'IoU':>5}"
    )
    print(head)
    print(sub)
    print("-" * len(head))
    for r in results:
        iou = "-" if r["sky_iou"] is None else f"{r['sky_iou']:.2f}"
        flag = "" if r["abs_rel"] <= TARGET_ABS_REL else "  > target"
        print(
            f"{r['scene']:8} {r['seed']:4d} {r['path']:6} {r['views']:5d} "
            f"{r['prior_abs_rel']:7.3f} {r['prior_delta1']:7.3f} {r['abs_rel']:7.3f} "
            f"{r['delta1']:7.3f} {r['rmse']:6.2f} {iou:>5}{flag}"
        )
    print(f"(target: net AbsRel <= {TARGET_ABS_REL} on every row)")
    if timing is not None:
        w, h = TIMING_SIZE
        print(
            f"time per {w}x{h} estimate ({torch.get_num_threads()} threads): "
            f"prior {timing['prior']:.1f} ms, net {timing['net']:.1f} ms"
        )


def run(json_out: Path | None = None, poses: int = 8, seeds=SEEDS, timing: bool = True) -> int:
    default = EmbeddedDepth()
    network = None if default.net is None else default.net.source
    results = []
    for name, seed, scene in scenes(seeds):
        for path in PATHS:
            _progress(f"bench depth: {name} seed {seed} {path}, {poses} views")
            row = evaluate(scene, path, poses, estimator=default)
            results.append({"scene": name, "seed": seed, **row})
    times = time_estimates() if timing else None
    print_report(results, times, network)
    if json_out is not None:
        payload = {
            "config": {
                "width": WIDTH,
                "height": HEIGHT,
                "fov_y_deg": FOV_Y,
                "poses": poses,
                "seeds": list(seeds),
                "estimator": "embedded (defaults)",
                "network": network,
                "threads": torch.get_num_threads(),
            },
            "timing_ms": times,
            "results": results,
        }
        write_json(payload, json_out)
    return 0
