"""`latentscape bench batch`: how a batch of renders scales with workers on this machine.

Eight jobs of the sample scenes (room, room-2, street and motorcycle, two seeds each, the
default path) are rendered by `engine.batch.run_batch` with 1 worker using all the cores,
then with 2 workers sharing them (and, with --ray, by Ray on this machine with 2 CPUs), each
into a fresh folder. Printed: the wall time of each, the speed-up (1-worker time / N-worker
time), the mean time per job inside its worker and per frame, and the cost of the batch
itself (wall time beyond the jobs' own time divided among the workers).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.batch import BatchJob, Executor, LocalExecutor, RayExecutor, run_batch
from engine.bench import write_json

SCENES = ("room", "room-2", "street", "motorcycle")


def jobs(width: int, height: int, frames: int) -> list[BatchJob]:
    config = {"width": width, "height": height, "frames_per_segment": frames}
    return [
        BatchJob(f"{scene}-s{seed}", scene, config={**config, "seed": seed})
        for scene in SCENES
        for seed in (0, 1)
    ]


def run(
    width: int = 256,
    height: int = 192,
    frames: int = 4,
    ray: bool = False,
    json_out: Path | None = None,
) -> int:
    cores = os.cpu_count() or 1
    batch = jobs(width, height, frames)
    setups: list[tuple[str, Executor, int]] = [  # label, executor, workers at once
        ("local, 1 worker", LocalExecutor(1, cpus=cores), 1),
        ("local, 2 workers", LocalExecutor(2, cpus=max(1, cores // 2)), 2),
    ]
    if ray:
        setups.append(("ray (this machine), 2 CPUs", RayExecutor(None, cpus=1, num_cpus=2), 2))
    rows: list[dict[str, Any]] = []
    for label, executor, _ in setups:
        with tempfile.TemporaryDirectory(prefix="latentscape-bench-batch-") as out:
            print(f"bench batch: {label}: {len(batch)} jobs", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            results = run_batch(batch, out, executor, retries=0)
            wall = time.perf_counter() - t0
        failed = [r.name for r in results if r.status != "done"]
        if failed:
            raise RuntimeError(f"bench batch: jobs failed under {label}: {failed}")
        job_s = [r.seconds for r in results]
        rows.append(
            {
                "setup": label,
                "wall_s": wall,
                "job_s_mean": statistics.mean(job_s),
                "frame_s_mean": statistics.mean(r.seconds_per_frame or 0.0 for r in results),
                "frames": sum(r.frames for r in results),
            }
        )
    base = rows[0]["wall_s"]
    for row, (_, _, workers) in zip(rows, setups):
        row["speedup"] = base / row["wall_s"]
        row["overhead_s"] = row["wall_s"] - row["job_s_mean"] * len(batch) / workers
    result = {
        "jobs": len(batch),
        "size": [width, height],
        "frames_per_segment": frames,
        "cores": cores,
        "rows": rows,
    }
    print(
        f"\nBatch of {len(batch)} renders ({', '.join(SCENES)} x 2 seeds, {width}x{height}, "
        f"the default path in segments of {frames}) on {cores} cores"
    )
    print(
        f"{'setup':<30} {'wall s':>7} {'speed-up':>8} {'job s':>6} {'frame s':>7} "
        f"{'overhead s':>10}"
    )
    for r in rows:
        print(
            f"{r['setup']:<30} {r['wall_s']:7.1f} {r['speedup']:7.2f}x {r['job_s_mean']:6.1f} "
            f"{r['frame_s_mean']:7.3f} {r['overhead_s']:10.1f}"
        )
    if json_out is not None:
        write_json(result, json_out)
    return 0
