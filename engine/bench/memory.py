"""`latentscape bench memory`: the latent memory against the RGB memory, side by side.

1. A 5-segment camera path through a synthetic room (forward, turn 180 degrees, back to
   the start) at 512x384. Every frame: both memories read out at the frame's camera, then
   write the frame. The latent memory gets the frame's latent (codec.encode of the
   rendered view) and its depth pooled to the latent grid; the RGB memory gets the
   rendered pixels and full-resolution depth, and its readout is rasterise + encode.
   Per segment: readout and update time per frame, cache bytes, and their ratios.
2. Quantisation: the same path with a latent memory storing int8 features against one
   storing float32, both fed by a fitted linear (PCA) codec; the int8 error is decoded and
   compared with the codec's own error, both as PSNR in dB.
3. Closed loop: the latent path flown a second time; growth of the memory on that pass.
4. Scaling: readout time against the number of entries (C = 16, 64x48 grid), with every
   entry in the frustum and with 10% of them in it.

The JSON written by --json has these keys (README, "Benchmarks", says what they mean).
"""

from __future__ import annotations

import math
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

from engine.bench import write_json
from engine.bench.timing import median_ms
from engine.camera import Camera
from engine.eval.metrics import psnr
from engine.memory.latent import GroundFrame, LatentMemory, pool_depth
from engine.memory.rgb import RGBMemory

WIDTH, HEIGHT, FACTOR = 512, 384, 8
SEGMENTS = 5


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Timer:
    def __init__(self):
        self.s = 0.0

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.s += time.perf_counter() - self.t0


# -- 1. the path, both memories --------------------------------------------------------


def render_path(scene, frames_per_segment: int, codec):
    """Poses, rendered views and latents of the 5-segment loop path."""
    n = SEGMENTS * frames_per_segment
    poses = scene.sample_path("loop", n=n, distance=4.0)
    base = Camera.from_fov(60.0, WIDTH, HEIGHT)
    frames = []
    for k, pose in enumerate(poses):
        cam = base.with_pose(pose)
        view = scene.render(cam)
        latent = codec.encode(view.rgb[None])[0]
        frames.append((cam, view, latent))
        _progress(f"  rendered and encoded frame {k + 1}/{n}")
    return frames


def compare_memories(frames, frames_per_segment: int, codec) -> tuple[list[dict], LatentMemory]:
    """Run both memories along the frames; per-segment figures, and the latent memory."""
    lat = LatentMemory(codec.channels)
    rgb = RGBMemory(codec)
    rows = []
    w, h = WIDTH // FACTOR, HEIGHT // FACTOR
    for seg in range(SEGMENTS):
        lat.segment = rgb.segment = seg
        t = {k: _Timer() for k in ("lr", "lu", "rr", "ru")}
        raster_s = encode_s = 0.0
        chunk = frames[seg * frames_per_segment : (seg + 1) * frames_per_segment]
        for cam, view, latent in chunk:
            grid = cam.scaled(w, h)
            depth_lat = pool_depth(view.depth, FACTOR)
            if len(lat) == 0:  # the seed frame: the paper's lift
                lat.lift(latent, depth_lat, grid)
                rgb.lift(latent, view.depth, cam, rgb=view.rgb)
                continue
            with t["lr"]:
                lat.readout(grid)
            with t["lu"]:
                lat.update(latent, depth_lat, grid)
            with t["rr"]:
                rgb.readout(grid)
            raster_s += rgb.last_timing["raster_s"]
            encode_s += rgb.last_timing["encode_s"]
            with t["ru"]:
                rgb.update(latent, view.depth, cam, rgb=view.rgb)
        lat.compact()
        rgb.compact()
        timed = len(chunk) - (1 if seg == 0 else 0)
        per = {k: 1e3 * v.s / max(timed, 1) for k, v in t.items()}
        row = {
            "segment": seg + 1,
            "frames": len(chunk),
            "latent": {
                "readout_ms": per["lr"],
                "update_ms": per["lu"],
                "bytes": lat.nbytes,
                "entries": len(lat),
            },
            "rgb": {
                "readout_ms": per["rr"],
                "raster_ms": 1e3 * raster_s / max(timed, 1),
                "encode_ms": 1e3 * encode_s / max(timed, 1),
                "update_ms": per["ru"],
                "bytes": rgb.nbytes,
                "entries": len(rgb),
            },
        }
        row["ratio"] = {
            "readout": per["rr"] / per["lr"] if per["lr"] else None,
            "update": per["ru"] / per["lu"] if per["lu"] else None,
            "memory_path": (per["rr"] + per["ru"]) / (per["lr"] + per["lu"])
            if per["lr"] + per["lu"]
            else None,
            "bytes": rgb.nbytes / lat.nbytes,
        }
        rows.append(row)
        _progress(f"  segment {seg + 1}/{SEGMENTS} done")
    return rows, lat


# -- 2. quantisation error ----------------------------------------------------------------


def quantisation_error(scene, frames, channels: int = 8) -> dict:
    """int8 against float32 features, decoded, next to the codec's own error."""
    from engine.models.codec import PCACodec

    train_cams = [
        Camera.from_fov(60.0, 256, 192, pose=p)
        for p in scene.sample_path("orbit", n=12, start=(0.0, 0.0, 2.0))
    ]
    codec = PCACodec(factor=FACTOR, channels=channels).fit(
        torch.stack([scene.render(c).rgb for c in train_cams])
    )
    mems = {d: LatentMemory(channels, feature_dtype=d) for d in ("int8", "float32")}
    w, h = WIDTH // FACTOR, HEIGHT // FACTOR
    readout_psnr, codec_psnr = [], []
    for k, (cam, view, _) in enumerate(frames):
        grid = cam.scaled(w, h)
        latent = codec.encode(view.rgb[None])[0]
        codec_psnr.append(psnr(codec.decode(latent[None])[0], view.rgb))
        if k:
            outs = {d: m.readout(grid) for d, m in mems.items()}
            a, b = (codec.decode(outs[d].latent[None])[0] for d in ("int8", "float32"))
            readout_psnr.append(psnr(a, b))
        for m in mems.values():
            m.update(latent, pool_depth(view.depth, FACTOR), grid)
    finite = [p for p in readout_psnr if math.isfinite(p)]
    return {
        "codec": f"pca{channels}",
        "feature_dtype": "int8",
        "readout_psnr_db": min(finite) if finite else math.inf,
        "readout_psnr_db_mean": statistics.mean(finite) if finite else math.inf,
        "codec_psnr_db": statistics.mean(codec_psnr),
        "bytes_int8": mems["int8"].nbytes,
        "bytes_float32": mems["float32"].nbytes,
    }


# -- 3. closed loop twice -----------------------------------------------------------------


def loop_twice(frames) -> dict:
    mem = LatentMemory(frames[0][2].shape[0])
    w, h = WIDTH // FACTOR, HEIGHT // FACTOR
    counts = []
    for _ in range(2):
        for cam, view, latent in frames:
            mem.update(latent, pool_depth(view.depth, FACTOR), cam.scaled(w, h))
        counts.append(len(mem))
    return {
        "entries_first_pass": counts[0],
        "entries_second_pass": counts[1],
        "growth": counts[1] / counts[0] - 1,
    }


# -- 4. scaling ---------------------------------------------------------------------------


def synthetic_memory(n: int, visible: float, camera: Camera, channels: int = 16, seed: int = 0):
    """n entries on a cylindrical shell around the camera (radius 5..15). With visible=1
    all of them are in its frustum; otherwise their azimuths span 1/visible times the
    horizontal field of view, so about that fraction is in view."""
    g = torch.Generator().manual_seed(seed)
    hfov, vfov = math.radians(camera.fov_x_deg), math.radians(camera.fov_y_deg)
    az = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * (0.98 * hfov / visible)
    el = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 0.98 * vfov
    r = 5 + 10 * torch.rand(n, generator=g, dtype=torch.float64)
    xyz = torch.stack([r * torch.sin(az), r * torch.tan(el), r * torch.cos(az)], 1)
    mem = LatentMemory(channels)
    mem.frame = GroundFrame.from_camera(camera)
    step = 1 << 20
    for i in range(0, n, step):  # in blocks, to keep the peak memory of insert modest
        mem.insert(xyz[i : i + step].float(), torch.randn(min(step, n - i), channels, generator=g))
    mem.compact()
    return mem


def scaling(sizes, repeats: int) -> list[dict]:
    camera = Camera.from_fov(27.0, 64, 48)  # 36 degrees wide: 10% of the shell at visible=0.1
    rows = []
    for visible in (1.0, 0.1):
        for n in sizes:
            mem = synthetic_memory(n, visible, camera)
            in_view = int((mem.store.project(camera).pix < 64 * 48).sum())
            projected = mem.store.project(camera).idx.numel()
            ms = median_ms(partial(mem.readout, camera), repeats, warmup=1)
            rows.append(
                {
                    "entries": n,
                    "visible_fraction": in_view / n,
                    "projected": projected,
                    "readout_ms": ms,
                    "bytes": mem.nbytes,
                }
            )
            _progress(f"  {n:>10,} entries, {in_view / n:5.1%} in view: {ms:8.2f} ms")
            del mem
    return rows


# -- report -------------------------------------------------------------------------------


def print_report(result: dict) -> None:
    print(f"\nLatent vs RGB memory, {WIDTH}x{HEIGHT}, codec {result['config']['codec']}")
    head = (
        f"{'seg':>3} | {'latent read':>11} {'update':>8} {'cache':>9} |"
        f" {'rgb read':>9} {'(raster':>8} {'encode)':>8} {'update':>8} {'cache':>9} |"
        f" {'read x':>7} {'path x':>7} {'bytes x':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in result["segments"]:
        la, rg, ra = r["latent"], r["rgb"], r["ratio"]
        print(
            f"{r['segment']:>3} | {la['readout_ms']:9.2f}ms {la['update_ms']:6.2f}ms"
            f" {la['bytes'] / 2**20:7.3f}Mi | {rg['readout_ms']:7.1f}ms {rg['raster_ms']:6.1f}ms"
            f" {rg['encode_ms']:6.1f}ms {rg['update_ms']:6.1f}ms {rg['bytes'] / 2**20:7.2f}Mi |"
            f" {ra['readout'] or 0:7.1f} {ra['memory_path'] or 0:7.1f} {ra['bytes']:7.1f}"
        )
    s = result["summary"]
    print(
        f"after {SEGMENTS} segments: latent {s['latent_entries']:,} entries "
        f"({s['latent_bytes_per_entry']:.1f} B each), rgb {s['rgb_entries']:,} points; "
        f"cache {s['bytes_ratio']:.1f}x smaller, readout {s['readout_ratio']:.0f}x faster"
    )
    q = result["quantisation"]
    print(
        f"int8 features: decoded readout vs float32 {q['readout_psnr_db']:.1f} dB (worst frame), "
        f"codec's own error {q['codec_psnr_db']:.1f} dB ({q['codec']})"
    )
    lp = result["loop"]
    print(
        f"closed loop flown twice: {lp['entries_first_pass']:,} -> {lp['entries_second_pass']:,}"
        f" entries ({lp['growth']:+.2%} on the second pass)"
    )
    print("\nReadout time against memory size (C=16, 64x48):")
    for r in result["scaling"]:
        print(
            f"  {r['entries']:>10,} entries  {r['visible_fraction']:6.1%} in view  "
            f"{r['projected']:>10,} projected  {r['readout_ms']:8.2f} ms"
        )


def run(quick: bool = False, json_out: Path | None = None, seed: int = 0) -> int:
    from engine.models.codec import TAESDCodec
    from engine.synth import room_scene

    torch.manual_seed(seed)
    frames_per_segment = 2 if quick else 8
    sizes = [10**4, 10**5, 10**6] if quick else [10**4, 10**5, 10**6, 10**7]
    repeats = 5 if quick else 21
    codec = TAESDCodec.random(latent_channels=8, seed=seed)
    scene = room_scene(seed)
    _progress(f"bench memory: rendering {SEGMENTS * frames_per_segment} frames")
    frames = render_path(scene, frames_per_segment, codec)
    _progress("bench memory: latent vs rgb memory")
    segments, _ = compare_memories(frames, frames_per_segment, codec)
    _progress("bench memory: quantisation error")
    quant = quantisation_error(scene, frames)
    _progress("bench memory: closed loop twice")
    loop = loop_twice(frames)
    _progress("bench memory: readout scaling")
    scale = scaling(sizes, repeats)
    last = segments[-1]
    timed = segments[1:] if len(segments) > 1 else segments
    lat_read = statistics.mean(r["latent"]["readout_ms"] for r in timed)
    rgb_read = statistics.mean(r["rgb"]["readout_ms"] for r in timed)
    result = {
        "config": {
            "quick": quick,
            "seed": seed,
            "width": WIDTH,
            "height": HEIGHT,
            "factor": FACTOR,
            "segments": SEGMENTS,
            "frames_per_segment": frames_per_segment,
            "codec": "taesd-architecture, random weights, 8 latent channels",
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
        "segments": segments,
        "summary": {
            "latent_entries": last["latent"]["entries"],
            "latent_bytes": last["latent"]["bytes"],
            "latent_bytes_per_entry": last["latent"]["bytes"] / max(1, last["latent"]["entries"]),
            "rgb_entries": last["rgb"]["entries"],
            "rgb_bytes": last["rgb"]["bytes"],
            "bytes_ratio": last["ratio"]["bytes"],
            "readout_ratio": rgb_read / lat_read,
            "memory_path_ratio": statistics.mean(r["ratio"]["memory_path"] for r in timed),
        },
        "quantisation": quant,
        "loop": loop,
        "scaling": scale,
    }
    print_report(result)
    if json_out is not None:
        write_json(result, json_out)
    return 0
