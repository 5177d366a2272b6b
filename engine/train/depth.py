"""Train the embedded depth network: `python -m engine.train.depth [--steps N] [--seed S]`.

Reproducible for a seed (same views, same batches, same initialisation; CPU, fp32).

Training data: synthetic views rendered once at the start, never from the scenes of
`latentscape bench depth` (room and street seeds 0 and 1): rooms of seeds 2, 3, ... and
streets of seeds 2, 3, ... (`--rooms`, `--streets` of each, `--views` per scene), from random
poses:

- position: rooms anywhere in the two rooms at least 0.3 from walls and furniture, streets
  on the road or a pavement at least 0.5 from every object (and 0.3 from the cars at the
  rendered time, which is random in [0, 20) s); eye height 1.5 -+ 0.4 above the floor;
- orientation: yaw uniform; a quarter of the views level, the others pitched within
  +-20 degrees and rolled within +-5 degrees;
- field of view: vertical, uniform in [45, 80] degrees;
- weather (streets): clear, unless `--weather-share` (0 by default, as the shipped weights
  were trained) is given: then that share of the street views has another of the
  engine.synth.WEATHERS at random (dusk, overcast, fog, sunset), each varied by
  engine.synth.vary (the sky's colours, the light, the clouds, the fog's visibility), so
  that a deep blue dusk, a grey overcast or fog read as sky and not as a wall. Measured
  (2026-12-02, 4000 steps from the shipped weights, share 0.6, lr 1e-3): sky recall on
  held-out synthetic dusk, overcast, fog and sunset views 0.00-0.06 -> 0.84-0.94, but on
  the real photos little (the pier's fog sky 0 -> 5% of the photo, the rocket's dusk none)
  and the re10k bedroom's depth moved (latentscape eval: R 14.3 -> 10.3 dB), so those
  weights are not shipped.

Each view is rendered at twice the network's size (256x192) and brought to 128x96 by the
network's own input filter (engine.models.depth_net.downsample); the targets are the mean
log-depth over each 2x2 block without sky (blocks with sky are left out of the depth loss) and
the fraction of sky in the block. The prior (EmbeddedDepth(network=False)) is computed on the
128x96 image, exactly as `EmbeddedDepth.estimate` does at inference.

Loss, per image, on the log-depth d = (log prior + residual) - log ground truth over the
pixels with depth: the scale-invariant loss of Eigen et al. (2014),
    mean(d^2) - LAMBDA mean(d)^2,
plus SKY_WEIGHT x binary cross-entropy of the sky logit against the sky fraction (all pixels).
AdamW, one-cycle cosine schedule, gradient clipping at 1; augmentation: horizontal flips (of
image, prior and targets), per-channel gains, brightness and gamma on the image the network
sees. A few views of one more room and street (seeds after the training ones) report progress.

`--init WEIGHTS` starts from trained weights instead of a random network (a fine-tune: the
record keeps the first training's under "init_training").
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import synth
from engine.camera import Camera, rotation_about
from engine.models.depth import EmbeddedDepth
from engine.models.depth_net import DEFAULT_WEIGHTS, DepthNet, DepthNetConfig, downsample

LAMBDA = 0.5  # Eigen et al.'s scale-invariance weight
SKY_WEIGHT = 0.2
FIRST_SEED = 2  # scene seeds 0 and 1 are the benchmark's
MAX_PITCH, MAX_ROLL = 20.0, 5.0  # degrees
FOV_RANGE = (45.0, 80.0)  # vertical field of view, degrees
HEIGHT_JITTER = 0.4  # eye height 1.5 +- this above the floor


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- poses


def camera_pose(position, yaw: float, pitch: float, roll: float) -> torch.Tensor:
    """Camera-to-world (4, 4) at `position` turned by `yaw` (0 looks +z, pi/2 looks +x),
    tilted up by `pitch` and rolled clockwise by `roll` about the view axis (radians)."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    forward = torch.tensor([sy * cp, -sp, cy * cp], dtype=torch.float64)  # +y is down
    right = torch.tensor([cy, 0.0, -sy], dtype=torch.float64)
    down = torch.linalg.cross(forward, right)
    turn = rotation_about(forward, roll)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = turn @ right, turn @ down, forward
    pose[:3, 3] = torch.as_tensor(position, dtype=torch.float64)
    return pose


def random_view(scene, rng: random.Random) -> tuple[torch.Tensor, float, float]:
    """(pose, fov_y_deg, time) of a random training view of `scene` (module docstring)."""
    street = isinstance(scene, synth.StreetScene)
    for _ in range(1000):
        y = rng.uniform(-HEIGHT_JITTER, HEIGHT_JITTER)  # eye height 1.5 - y above the floor
        time = rng.uniform(0.0, 20.0) if street else 0.0
        if street:
            position = (rng.uniform(-6.5, 6.5), y, rng.uniform(-35.0, 115.0))
            ok = scene.clearance(position) >= 0.5 and not any(
                box.contains(position, margin=0.3)
                for mover in scene.movers
                for box in mover.boxes(time)
            )
        else:
            position = (rng.uniform(-3.7, 3.7), y, rng.uniform(-1.7, 11.7))
            ok = scene.clearance(position) >= 0.3
        if ok:
            break
    else:
        raise RuntimeError(f"no free camera position found in {type(scene).__name__}")
    level = rng.random() < 0.25
    pitch = 0.0 if level else math.radians(rng.uniform(-MAX_PITCH, MAX_PITCH))
    roll = 0.0 if level else math.radians(rng.uniform(-MAX_ROLL, MAX_ROLL))
    pose = camera_pose(position, rng.uniform(0.0, 2 * math.pi), pitch, roll)
    return pose, rng.uniform(*FOV_RANGE), time


# --------------------------------------------------------------------------- data


def targets(view: synth.SynthView, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """A render at 2x `size` -> rgb (3, h, w), log-depth (1, h, w) (0 where invalid),
    valid (1, h, w) (no sky in the 2x2 block), sky fraction (1, h, w)."""
    rgb = downsample(view.rgb[None], size)[0]
    sky = F.avg_pool2d(view.sky[None].float(), 2)
    finite = torch.isfinite(view.depth) & (view.depth > 0)
    log_depth = torch.where(finite, view.depth.clamp(min=1e-6).log(), 0.0)[None]
    valid = F.avg_pool2d(finite[None].float(), 2) > 0.999
    log_depth = torch.where(valid, F.avg_pool2d(log_depth, 2), 0.0)
    return rgb, log_depth, valid, sky


def pick_weather(rng: random.Random, share: float) -> str:
    """ "clear" for 1 - share of the calls, else another of engine.synth.WEATHERS."""
    others = [name for name in synth.WEATHERS if name != "clear"]
    return rng.choice(others) if rng.random() < share else "clear"


def render_set(
    kind: str,
    seeds: list[int],
    views: int,
    seed: int,
    cfg: DepthNetConfig,
    weather_share: float = 0.0,
) -> dict:
    """Render `views` random views of each scene: tensors stacked over all views, keys
    rgb (N, 3, h, w), log_prior, log_depth, valid, sky (N, 1, h, w). A street view has
    another weather than clear with probability `weather_share` (pick_weather)."""
    prior = EmbeddedDepth(network=False)
    size = (cfg.height, cfg.width)
    rows: dict[str, list[torch.Tensor]] = {
        key: [] for key in ("rgb", "log_prior", "log_depth", "valid", "sky")
    }
    for scene_seed in seeds:
        scene = synth.room_scene(scene_seed) if kind == "room" else synth.street_scene(scene_seed)
        rng = random.Random(f"{seed}-{kind}-{scene_seed}")
        for _ in range(views):
            pose, fov, time = random_view(scene, rng)
            camera = Camera.from_fov(fov, 2 * cfg.width, 2 * cfg.height, pose)
            shown = scene
            if kind == "street" and weather_share > 0:
                assert isinstance(scene, synth.StreetScene)  # kind "street"
                weather = synth.vary(synth.WEATHERS[pick_weather(rng, weather_share)], rng)
                shown = dataclasses.replace(scene, weather=weather)
            rgb, log_depth, valid, sky = targets(shown.render(camera, time), size)
            rows["rgb"].append(rgb)
            rows["log_prior"].append(prior.estimate_prior(rgb).depth.log()[None])
            rows["log_depth"].append(log_depth)
            rows["valid"].append(valid)
            rows["sky"].append(sky)
    return {key: torch.stack(value) for key, value in rows.items()}


def concat(*sets: dict) -> dict:
    return {key: torch.cat([s[key] for s in sets]) for key in sets[0]}


def augment(batch: dict, gen: torch.Generator) -> dict:
    """Flip half the views (all maps); colour-jitter the rgb (gains, brightness, gamma)."""
    b = batch["rgb"].shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    out = {key: torch.where(flip[:, None, None, None], x.flip(-1), x) for key, x in batch.items()}
    gain = 0.85 + 0.3 * torch.rand(b, 3, 1, 1, generator=gen)
    bright = 0.75 + 0.5 * torch.rand(b, 1, 1, 1, generator=gen)
    gamma = torch.exp(0.25 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1))
    out["rgb"] = ((out["rgb"] * gain).clamp(0, 1) ** gamma * bright).clamp(0, 1)
    return out


# --------------------------------------------------------------------------- loss, metrics


def si_log_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Eigen et al.'s scale-invariant log loss, mean over the images that have depth.
    pred, target: (B, 1, h, w) log-depths; valid (B, 1, h, w) bool."""
    w = valid.float()
    n = w.sum(dim=(1, 2, 3))
    d = (pred - target) * w
    mean = d.sum(dim=(1, 2, 3)) / n.clamp(min=1)
    mean_sq = (d * d).sum(dim=(1, 2, 3)) / n.clamp(min=1)
    per_image = mean_sq - LAMBDA * mean * mean
    has = n > 0
    return per_image[has].mean() if bool(has.any()) else pred.sum() * 0


def abs_rel(log_pred: torch.Tensor, log_gt: torch.Tensor, valid: torch.Tensor) -> float:
    """Mean over images of AbsRel after median scaling (as depth_metrics), on valid pixels."""
    values = []
    for p, g, v in zip(log_pred, log_gt, valid):
        if bool(v.any()):
            p, g = p[v].double().exp(), g[v].double().exp()
            p = p * (g.median() / p.median())
            values.append(float(((p - g).abs() / g).mean()))
    return sum(values) / max(1, len(values))


def evaluate(model: torch.nn.Module, data: dict) -> tuple[float, float, float]:
    """(net AbsRel, prior AbsRel, sky accuracy) on `data` (eval mode, no augmentation)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        residual, sky_logit = model(data["rgb"], data["log_prior"])
    model.train(was_training)
    valid = data["valid"]
    net = abs_rel(data["log_prior"] + residual, data["log_depth"], valid)
    prior = abs_rel(data["log_prior"], data["log_depth"], valid)
    sky_acc = float(((sky_logit > 0) == (data["sky"] > 0.5)).float().mean())
    return net, prior, sky_acc


# --------------------------------------------------------------------------- training


def train(
    steps: int,
    seed: int,
    out: Path,
    batch: int,
    lr: float,
    cfg: DepthNetConfig,
    rooms: int,
    streets: int,
    views: int,
    checkpoint_every: int = 0,
    weather_share: float = 0.0,
    init: Path | None = None,
) -> dict:
    """Render the data, train, save the weights + record to `out`; returns the record.
    `init`: weights to start from (else a random network of `cfg`)."""
    torch.manual_seed(seed)
    t_start = time.perf_counter()
    room_seeds = list(range(FIRST_SEED, FIRST_SEED + rooms))
    street_seeds = list(range(FIRST_SEED, FIRST_SEED + streets))
    log(f"rendering {views} views of rooms {room_seeds} and streets {street_seeds}")
    data = concat(
        render_set("room", room_seeds, views, seed, cfg),
        render_set("street", street_seeds, views, seed, cfg, weather_share),
    )
    held_views = max(2, views // 4)
    held = concat(
        render_set("room", [FIRST_SEED + rooms], held_views, seed, cfg),
        render_set("street", [FIRST_SEED + streets], held_views, seed, cfg, weather_share),
    )
    n = data["rgb"].shape[0]
    render_min = (time.perf_counter() - t_start) / 60
    log(f"  {n} training views, {held['rgb'].shape[0]} held out ({render_min:.1f} min)")

    init_record = None
    if init is not None:
        net = DepthNet.load(init)
        record_path = Path(init).with_suffix(".json")
        if record_path.is_file():
            init_record = json.loads(record_path.read_text()).get("training")
        log(f"  starting from {init}")
    else:
        net = DepthNet.random(cfg, seed=seed)
    model = net.model.train()
    log(f"  network: {net.num_parameters()} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, pct_start=0.1, anneal_strategy="cos"
    )
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    running = None
    for step in range(1, steps + 1):
        index = torch.randint(n, (batch,), generator=gen)
        b = augment({key: x[index] for key, x in data.items()}, gen)
        residual, sky_logit = model(b["rgb"], b["log_prior"])
        loss = si_log_loss(b["log_prior"] + residual, b["log_depth"], b["valid"])
        loss = loss + SKY_WEIGHT * F.binary_cross_entropy_with_logits(sky_logit, b["sky"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % 50 == 0 or step == steps:
            elapsed = time.perf_counter() - t0
            eta = elapsed / step * (steps - step)
            msg = f"step {step}/{steps}  loss {running:.4f}"
            if step % 500 == 0 or step == steps:
                held_net, held_prior, sky_acc = evaluate(model, held)
                msg += (
                    f"  held-out AbsRel {held_net:.3f} (prior {held_prior:.3f}), sky {sky_acc:.3f}"
                )
            if checkpoint_every and step % checkpoint_every == 0 and step < steps:
                ckpt = {"training": {"steps": step, "of": steps, "seed": seed, "checkpoint": True}}
                DepthNet(copy.deepcopy(model)).save(out, extra=ckpt)
                msg += "  (checkpoint saved)"
            log(f"{msg}  {elapsed / 60:.1f} min, {eta / 60:.1f} min left")
    model.eval()
    held_net, held_prior, sky_acc = evaluate(model, held)
    record = {
        "training": {
            "steps": steps,
            "seed": seed,
            "batch": batch,
            "lr": lr,
            "loss": f"scale-invariant log (lambda {LAMBDA}) + {SKY_WEIGHT} x sky BCE",
            "room_seeds": room_seeds,
            "street_seeds": street_seeds,
            "views_per_scene": views,
            "poses": (
                f"random: pitch +-{MAX_PITCH:g} deg, roll +-{MAX_ROLL:g} deg (a quarter "
                f"level), fov_y {FOV_RANGE[0]:g}-{FOV_RANGE[1]:g} deg, eye height "
                f"1.5 +- {HEIGHT_JITTER:g}"
            ),
            "held_out_abs_rel": round(held_net, 4),
            "held_out_prior_abs_rel": round(held_prior, 4),
            "held_out_sky_accuracy": round(sky_acc, 4),
            "weather_share": weather_share,
            "init": None if init is None else Path(init).name,
            "init_training": init_record,
            "minutes": round((time.perf_counter() - t_start) / 60, 1),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
    }
    DepthNet(model, source=out.name).save(out, extra=record)
    log(f"saved {out} (held-out AbsRel {held_net:.3f}, prior {held_prior:.3f})")
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m engine.train.depth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rooms", type=int, default=24, help="room scenes (seeds 2, 3, ...)")
    p.add_argument("--streets", type=int, default=24, help="street scenes (seeds 2, 3, ...)")
    p.add_argument("--views", type=int, default=64, help="random views per scene")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument(
        "--weather-share",
        type=float,
        default=0.0,
        help="share of street views in another weather than clear (module docstring)",
    )
    p.add_argument("--init", type=Path, default=None, help="start from these weights")
    p.add_argument("--smoke", action="store_true", help="tiny run: checks the script works")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=500,
        metavar="N",
        help="save the weights every N steps too (0: only at the end)",
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.batch, args.rooms, args.streets, args.views = 3, 2, 1, 1, 2
        args.checkpoint_every = 0
    train(
        args.steps,
        args.seed,
        args.out,
        args.batch,
        args.lr,
        DepthNetConfig(),
        rooms=args.rooms,
        streets=args.streets,
        views=args.views,
        checkpoint_every=args.checkpoint_every,
        weather_share=args.weather_share,
        init=args.init,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
