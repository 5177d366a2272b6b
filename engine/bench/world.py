"""`latentscape bench world`: the whole cycle, latent memory against the RGB baseline.

1. The sample scene `room` (512x384, exact depth) seeded into two worlds that differ only in
   the memory (latent, rgb), both with the embedded codec, depth and generator, flown along
   the default path (forward, forward, turn 180 degrees, back, turn 180 degrees: the last
   frame is the start pose). Per segment, like the paper's efficiency figure: seconds per
   frame of each, the memory path per frame (readout + write; for the RGB memory its readout
   includes the rasterisation and the re-encode it needs; the depth of the generated tokens
   is generation, the same work for both) and the cache in MiB, with ratios; the refiner's
   time per frame and its share of the frame (the latent memory's; the RGB memory has none).
2. The same two worlds with a TAESD-size codec (diffusers' AutoencoderTiny, random weights,
   4 channels; timing only: its latents mean nothing): the memory path ratio where the
   re-encode costs what a real video model's encoder costs.
3. End to end with an SD-VAE-size codec (AutoencoderKL of Stable Diffusion's shape, random
   weights; timing only), full run only: one segment each.
4. Closed loop: the last frame (back at the start pose) against the first frame (the seed
   latent decoded), PSNR over the tokens known at the start.
5. Ground truth: the frames of the first segment against the room rendered exactly at the
   same cameras, PSNR over the tokens read from memory (not generated).

--quick: 256x192, 2 frames per segment, no SD-VAE run (the smoke test in the suite).
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from engine.bench import write_json
from engine.eval.metrics import psnr
from engine.path import default_path
from engine.world import World, WorldConfig

MIB = 2**20


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def token_mask_to_pixels(mask: torch.Tensor, factor: int) -> torch.Tensor:
    return mask.repeat_interleave(factor, 0).repeat_interleave(factor, 1)


def fly(config: WorldConfig, codec, scene, segments, label: str) -> dict:
    """Seed a world and fly `segments`; per-segment figures and the frames."""
    world = World(config, codec=codec)
    first = world.seed(scene.rgb, depth=scene.depth, intrinsics=scene.camera)
    rows, frames, readouts, cameras = [], [], [], []
    for k, poses in enumerate(segments, start=1):
        _progress(f"bench world: {label}, segment {k}/{len(segments)}")
        t0 = time.perf_counter()
        seg = world.segment(poses)
        wall = time.perf_counter() - t0
        n = len(poses)
        rows.append(
            {
                "segment": k,
                "frames": n,
                "s_per_frame": wall / n,
                "readout_ms": statistics.mean(s.readout_ms for s in seg.stats),
                "refine_ms": statistics.mean(s.refine_ms for s in seg.stats),
                "generate_ms": statistics.mean(s.generate_ms for s in seg.stats),
                "depth_ms": statistics.mean(s.depth_ms for s in seg.stats),
                "update_ms": statistics.mean(s.update_ms for s in seg.stats),
                "decode_ms": statistics.mean(s.decode_ms for s in seg.stats),
                "memory_path_ms": statistics.mean(s.memory_ms for s in seg.stats),
                "cache_mib": seg.nbytes / MIB,
                "entries": seg.entries,
            }
        )
        frames.append(seg.frames)
        readouts += seg.readouts
        cameras += seg.cameras
    return {
        "rows": rows,
        "first": first,
        "frames": frames,
        "readouts": readouts,
        "cameras": cameras,
        "world": world,
    }


def side_by_side(latent: dict, rgb: dict) -> list[dict]:
    out = []
    for a, b in zip(latent["rows"], rgb["rows"]):
        out.append(
            {
                "segment": a["segment"],
                "latent": {k: v for k, v in a.items() if k != "segment"},
                "rgb": {k: v for k, v in b.items() if k != "segment"},
                "ratio": {
                    "s_per_frame": b["s_per_frame"] / a["s_per_frame"],
                    "memory_path": b["memory_path_ms"] / a["memory_path_ms"],
                    "cache": b["cache_mib"] / a["cache_mib"],
                },
                "memory_share": a["memory_path_ms"] / (1e3 * a["s_per_frame"]),
                "refine_share": a["refine_ms"] / (1e3 * a["s_per_frame"]),
            }
        )
    return out


def closed_loop(run: dict, factor: int) -> dict:
    """Last frame (at the start pose) against the first, over the start's known tokens."""
    first, last = run["first"], run["frames"][-1][-1]
    world = run["world"]
    start_known = world.view(world.camera.pose)[1].known
    mask = token_mask_to_pixels(start_known, factor)
    return {"psnr_db": psnr(first, last, mask), "known_fraction": float(start_known.float().mean())}


def ground_truth(run: dict, scene_fn, factor: int, segment: int = 0) -> dict:
    """Frames of one segment against exact renders, over the tokens read from memory."""
    values, fractions = [], []
    frames = run["frames"][segment]
    n = frames.shape[0]
    start = sum(f.shape[0] for f in run["frames"][:segment])
    for i in range(n):
        cam = run["cameras"][start + i]
        known = run["readouts"][start + i].known
        if not bool(known.any()):
            continue
        truth = scene_fn(cam)
        values.append(psnr(frames[i], truth, token_mask_to_pixels(known, factor)))
        fractions.append(float(known.float().mean()))
    return {
        "psnr_db": statistics.mean(values) if values else None,
        "psnr_db_min": min(values) if values else None,
        "known_fraction": statistics.mean(fractions) if fractions else None,
        "frames": len(values),
    }


def run(quick: bool = False, json_out: Path | None = None, seed: int = 0) -> int:
    from engine import synth
    from engine.models.registry import make_codec
    from engine.scenes import load_scene

    scene = load_scene("room")
    width, height = (256, 192) if quick else (512, 384)
    frames = 2 if quick else 8
    # World.seed fits the photo, its depth and camera to the world's size
    base = WorldConfig(width=width, height=height, frames_per_segment=frames, seed=seed)
    segments = default_path(scene.camera.pose, segments=5, frames=frames)
    room = synth.room_scene(0)

    def both(codec, segs, name: str) -> tuple[dict, dict]:
        """The same flight with the latent memory and with the RGB baseline."""
        latent = fly(base, codec, scene, segs, f"latent memory, {name}")
        rgb_config = WorldConfig(**{**base.to_dict(), "memory": "rgb"})
        return latent, fly(rgb_config, codec, scene, segs, f"rgb memory, {name}")

    embedded = make_codec("embedded")
    latent, rgb = both(embedded, segments, "embedded codec")
    result = {
        "config": {
            "quick": quick,
            "seed": seed,
            "width": width,
            "height": height,
            "frames_per_segment": frames,
            "segments": len(segments),
            "scene": "room",
            "refiner": latent["world"].refiner.name,
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor(),
        },
        "embedded": side_by_side(latent, rgb),
    }
    result["taesd"] = side_by_side(
        *both(make_codec("taesd-random:4"), segments, "TAESD-size codec")
    )
    if not quick:
        from diffusers import AutoencoderKL

        from engine.models.codec import DiffusersCodec

        torch.manual_seed(0)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
        ).eval()
        sd = DiffusersCodec(vae, name="sd-vae-random")
        result["sd_vae"] = side_by_side(*both(sd, segments[:1], "SD-VAE-size codec"))
    result["closed_loop"] = closed_loop(latent, embedded.factor)
    result["ground_truth"] = ground_truth(latent, lambda cam: room.render(cam).rgb, embedded.factor)
    print_report(result)
    if json_out is not None:
        write_json(result, json_out)
    return 0


def print_report(result: dict) -> None:
    cfg = result["config"]
    print(
        f"\nWorld cycle, room {cfg['width']}x{cfg['height']}, {cfg['segments']} segments of "
        f"{cfg['frames_per_segment']} frames ({result['machine']['threads']} threads), "
        f"refiner {cfg.get('refiner', 'none')}"
    )
    for key, title in (
        ("embedded", "embedded codec"),
        ("taesd", "TAESD-size codec (random weights, timing only)"),
        ("sd_vae", "SD-VAE-size codec (random weights, timing only)"),
    ):
        if key not in result:
            continue
        print(f"\n{title}")
        print(
            f"{'seg':>3} {'latent s/f':>10} {'rgb s/f':>8} {'x':>5} "
            f"{'latent mem ms':>13} {'rgb mem ms':>10} {'x':>6} {'mem share':>9} "
            f"{'latent MiB':>10} {'rgb MiB':>8} {'x':>5} {'refine ms':>9} {'share':>6}"
        )
        for r in result[key]:
            a, b, x = r["latent"], r["rgb"], r["ratio"]
            print(
                f"{r['segment']:>3} {a['s_per_frame']:10.3f} {b['s_per_frame']:8.3f} "
                f"{x['s_per_frame']:5.1f} {a['memory_path_ms']:13.2f} "
                f"{b['memory_path_ms']:10.1f} {x['memory_path']:6.1f} "
                f"{100 * r['memory_share']:8.1f}% {a['cache_mib']:10.2f} "
                f"{b['cache_mib']:8.2f} {x['cache']:5.1f} {a['refine_ms']:9.2f} "
                f"{100 * r['refine_share']:5.1f}%"
            )
        rows = result[key]
        if len(rows) > 1:
            last, first = rows[-1]["latent"], rows[0]["latent"]
            flat = last["s_per_frame"] / first["s_per_frame"]
            mem = last["memory_path_ms"] / first["memory_path_ms"]
            print(
                f"latent, segment {rows[-1]['segment']} / segment 1: s/frame {flat:.2f}, "
                f"memory path {mem:.2f}"
            )
            if len(rows) >= 5:  # the two turns do the same work, the memory grown between
                turn = rows[4]["latent"]["s_per_frame"] / rows[2]["latent"]["s_per_frame"]
                print(f"latent, segment 5 / segment 3 (both turns, generating): s/frame {turn:.2f}")
    loop, gt = result["closed_loop"], result["ground_truth"]
    print(
        f"\nclosed loop: last frame at the start pose vs the first frame: "
        f"{loop['psnr_db']:.2f} dB over the {100 * loop['known_fraction']:.0f}% of tokens "
        "known at the start"
    )
    if gt["psnr_db"] is not None:
        print(
            f"ground truth: segment 1 frames vs exact renders, over tokens read from memory "
            f"({100 * gt['known_fraction']:.0f}% of them): mean {gt['psnr_db']:.2f} dB, "
            f"worst {gt['psnr_db_min']:.2f} dB"
        )
