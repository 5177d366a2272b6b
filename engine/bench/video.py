"""`latentscape bench world --generator diffusers-wan-vace:random-<size>`: Mirage's
efficiency figure for a segment-level video generator, measured here.

The sample room is seeded into two worlds that differ only in the memory (latent, rgb), both
with the Wan2.2 VAE (random weights) as the codec and the Wan VACE transformer (random
weights) as the generator, and flown along the default path. Per segment, for each memory:

- s/frame: the segment's wall time over its frames (generation, decode, depth, memory);
- the memory path per segment: readout + write. The latent memory projects its tokens; the
  RGB memory rasterises its points at full resolution and encodes each latent frame's view
  with the Wan VAE (an image encode per latent frame: cheaper than the paper's RGB
  baselines, which encode every video frame of the segment, so the ratio here is a lower
  bound);
- the cache in MiB (every generated token written: the dynamic filter is off, see run).

Random weights: the timing is that of the architecture, the pictures mean nothing. Sizes,
frames per segment, steps and layers can be reduced for a machine without a GPU; the report
says what was run.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from engine.bench import write_json
from engine.world import World, WorldConfig

MIB = 2**20
PAPER_SIZES = ((832, 480), (1280, 704))  # width x height: Wan's 480p and Mirage's 704x1280
CPU_SIZES = ((256, 160),)


@dataclass
class VideoBench:
    """What one run measures (the defaults are the paper's setting)."""

    generator: str = "diffusers-wan-vace:random-full"
    sizes: tuple[tuple[int, int], ...] = PAPER_SIZES
    frames: int = 32  # new frames per segment (33 with the one continued from)
    segments: int = 5
    steps: int = 20
    layers: int | None = None  # transformer layers kept (None: all)
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    reduced: list[str] = field(default_factory=list)  # what differs from the paper's setting

    @classmethod
    def for_machine(cls, generator: str, device: str = "auto", **given) -> VideoBench:
        """The paper's setting on a GPU; on the CPU a reduced one (said in `reduced`) for
        whatever was not given: the 5B model does not fit a small machine's memory, and a
        full segment would take hours."""
        bench = cls(generator=generator, device=device)
        cpu = WorldConfig(device=device).torch_device().type == "cpu"
        full = generator.endswith("random-full")
        if cpu and full:
            reduced = {"sizes": CPU_SIZES, "frames": 4, "steps": 2, "layers": 2}
            for key, value in reduced.items():
                if given.get(key) is None:
                    setattr(bench, key, value)
                    bench.reduced.append(key)
        for key, value in given.items():
            if value is not None:
                setattr(bench, key, value)
        return bench


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fly(config: WorldConfig, codec, generator, scene, segments, label: str) -> list[dict]:
    world = World(config, codec=codec, generator=generator)
    t0 = time.perf_counter()
    world.seed(scene.rgb, depth=scene.depth, intrinsics=scene.camera)
    _progress(f"bench world: {label}: seeded in {time.perf_counter() - t0:.1f} s")
    rows = []
    for k, poses in enumerate(segments, start=1):
        t0 = time.perf_counter()
        seg = world.segment(poses)
        wall = time.perf_counter() - t0
        n = len(poses)
        row = {
            "segment": k,
            "frames": n,
            "s_per_frame": wall / n,
            "generate_s": sum(s.generate_ms for s in seg.stats) / 1e3,
            "decode_s": sum(s.decode_ms for s in seg.stats) / 1e3,
            "memory_path_ms": sum(s.memory_ms for s in seg.stats),  # per segment
            "readout_ms": sum(s.readout_ms for s in seg.stats),
            "write_ms": sum(s.update_ms for s in seg.stats),
            "cache_mib": seg.nbytes / MIB,
            "entries": seg.entries,
        }
        rows.append(row)
        _progress(
            f"bench world: {label}, segment {k}/{len(segments)}: {row['s_per_frame']:.2f} s/frame, "
            f"memory path {row['memory_path_ms']:.1f} ms"
        )
    return rows


def run(bench: VideoBench, json_out: Path | None = None) -> int:
    from engine.models import registry
    from engine.path import default_path
    from engine.scenes import load_scene

    kind, _, arg = bench.generator.partition(":")
    if kind != "diffusers-wan-vace" or not arg.startswith("random-"):
        raise ValueError(
            f"bench world --generator takes diffusers-wan-vace:random-<size> (timing with "
            f"random weights), got {bench.generator!r}"
        )
    size = arg[len("random-") :]
    # random weights make noise that no two frames agree on: the dynamic filter would keep
    # nearly all of it out, so every generated token is written (what a trained model's
    # consistent segment adds), for both memories alike
    base = WorldConfig(
        device=bench.device, dtype=bench.dtype, seed=bench.seed, dynamic_filter=False
    )
    device = base.torch_device()
    dtype = base.torch_dtype(device)
    from engine.models.codec import DiffusersCodec
    from engine.models.wan_vace import WanVaceGenerator

    _progress(f"bench world: building the {size} architecture on {device} ({dtype})")
    generator = WanVaceGenerator.random(
        size, layers=bench.layers, steps=bench.steps, device=device, dtype=dtype
    )
    codec = registry.make_codec(f"wan-random:{size}", device=device)
    assert isinstance(codec, DiffusersCodec)  # what wan-random makes
    params = sum(p.numel() for p in generator.transformer.parameters())
    scene = load_scene("room")
    result: dict = {
        "bench": {**asdict(bench), "device": str(device), "dtype": str(dtype)},
        "transformer_params": params,
        "vae_params": sum(p.numel() for p in codec.model.parameters()),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "sizes": [],
    }
    for width, height in bench.sizes:
        config = WorldConfig(
            **{
                **base.to_dict(),
                "width": width,
                "height": height,
                "frames_per_segment": bench.frames,
                "steps": bench.steps,
                "codec": codec.name,
                "generator": bench.generator,
            }
        )
        segments = default_path(scene.camera.pose, segments=bench.segments, frames=bench.frames)
        runs = {}
        for memory in ("latent", "rgb"):
            cfg = WorldConfig(**{**config.to_dict(), "memory": memory})
            label = f"{width}x{height}, {memory} memory"
            runs[memory] = fly(cfg, codec, generator, scene, segments, label)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        rows = []
        for a, b in zip(runs["latent"], runs["rgb"]):
            rows.append(
                {
                    "segment": a["segment"],
                    "latent": a,
                    "rgb": b,
                    "memory_path_ratio": b["memory_path_ms"] / max(a["memory_path_ms"], 1e-9),
                    "cache_ratio": b["cache_mib"] / max(a["cache_mib"], 1e-12),
                    "s_per_frame_ratio": b["s_per_frame"] / a["s_per_frame"],
                }
            )
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        result["sizes"].append(
            {"width": width, "height": height, "rows": rows, "peak_gpu_gib": peak}
        )
    print_report(result)
    if json_out is not None:
        write_json(result, json_out)
    return 0


def print_report(result: dict) -> None:
    b = result["bench"]
    print(
        f"\nWan VACE segment cycle ({b['generator']}, random weights: timing only) on "
        f"{b['device']} ({b['dtype']}), {result['machine']['threads']} CPU threads"
        f"{', ' + result['machine']['gpu'] if result['machine']['gpu'] else ''}"
    )
    kept = f" ({b['layers']} layers kept)" if b["layers"] else ""
    print(
        f"transformer {result['transformer_params'] / 1e9:.2f} B parameters{kept}, VAE "
        f"{result['vae_params'] / 1e6:.0f} M; {b['segments']} segments of {b['frames']} "
        f"frames, {b['steps']} steps"
    )
    if b["reduced"]:
        print(
            f"REDUCED for this machine ({', '.join(b['reduced'])} below the paper's setting: "
            "832x480 and 1280x704, 32 frames, 20 steps, 30 layers); the GPU figures are "
            "still to be measured (DEVELOPERS.md, GPU checks)"
        )
    for size in result["sizes"]:
        print(f"\n{size['width']}x{size['height']}")
        print(
            f"{'seg':>3} {'latent s/f':>10} {'rgb s/f':>8} {'latent mem ms':>13} "
            f"{'rgb mem ms':>10} {'x':>7} {'latent MiB':>10} {'rgb MiB':>8} {'x':>6}"
        )
        for r in size["rows"]:
            a, c = r["latent"], r["rgb"]
            print(
                f"{r['segment']:>3} {a['s_per_frame']:10.3f} {c['s_per_frame']:8.3f} "
                f"{a['memory_path_ms']:13.1f} {c['memory_path_ms']:10.1f} "
                f"{r['memory_path_ratio']:7.1f} {a['cache_mib']:10.3f} {c['cache_mib']:8.2f} "
                f"{r['cache_ratio']:6.1f}"
            )
        rows = size["rows"]
        later = [r["latent"]["s_per_frame"] for r in rows[1:]] or [rows[0]["latent"]["s_per_frame"]]
        print(
            f"latent memory: {statistics.mean(later):.3f} s/frame after the first segment; "
            f"memory path {statistics.mean(r['memory_path_ratio'] for r in rows):.1f}x cheaper "
            f"than the RGB memory's; cache {rows[-1]['latent']['cache_mib']:.2f} MiB after "
            f"{len(rows)} segments ({rows[-1]['cache_ratio']:.1f}x smaller)"
        )
        if size["peak_gpu_gib"] is not None:
            print(f"peak GPU memory {size['peak_gpu_gib']:.1f} GiB")
