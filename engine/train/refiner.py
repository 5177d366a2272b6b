"""Train the embedded latent refiner: `python -m engine.train.refiner [--steps N] [--resume]`.

The refiner (engine/models/refiner.py) turns a memory readout into the latent the codec would
give for the target view. It learns from self-supervised pairs, each made through the real
memory (LatentMemory.lift at a source camera, LatentMemory.readout at a target camera, int8
features, quantised positions, footprints) so that training sees exactly what the app shows:

- photos on a plane (exact everywhere): a crop of a photo is the source view of a wall at
  depth 1; the target camera steps sideways, forward (up to 2.5x magnification), back and
  turns a little; the target image is the plane seen from there, rendered at full resolution
  from a 2x supersampled crop. Target tokens that see past the photo's edge are left out;
- photos with the embedded depth prior's depth (parallax and disocclusions like a real
  photo's): the target image is the full-resolution RGB forward warp of the photo with that
  depth (engine.eval.warp, at 2x and averaged down), what an RGB point memory would show;
  target tokens not fully covered by the warp (disoccluded) are left out;
- synthetic rooms (engine.synth, exact renders with depth): a view along the room's sample
  paths and a second view stepped forward / sideways and turned from it. Target tokens whose
  readout depth disagrees with the true depth (disoccluded, or seen past an edge) are left out.
- quilted photos (--quilt-share; the seams of the generated regions): a side of a photo's
  latent is filled with 4x4-token windows copied from the rest as the embedded generator
  (engine.models.quilt) copies them, each matched to the tokens it already has; the input is
  that latent as the World's second refiner pass sees it (known everywhere, on the grid), the
  target the encoding of the same quilt made in pixels with image quilting's cross-fade
  (`feathered`: each token's tile extended 4 pixels beyond its edges with its source's own
  continuation and blended with its neighbours'), so where two copied patches meet the
  refiner learns a soft, textured seam instead of a step on the token grid, and where a
  patch continues it learns to change nothing.
Each source view serves several targets (--targets), so it is encoded and lifted once.
The target latent is the codec's encoding of the target image. Loss: mean squared error of the
refined latent on the kept known tokens (the embedded codec's linear path is an orthonormal
PCA basis, so latent error follows pixel error), plus --pixel-weight times the decoded image's.

`--init WEIGHTS` starts from trained weights (a fine-tune; the JSON records which).

Photos: the codec's own training images (scikit-image and scikit-learn, see
engine/train/codec.py). Progress is reported on held-out pairs made from scikit-image's
astronaut, coffee and chelsea (never trained on; the evaluation data of `latentscape eval`
is never used at all): PSNR of the decoded readout as it is, refined, and the codec's ceiling.

Reproducible for a seed (CPU, fp32). Checkpoints (`--checkpoint-every`) write the model, the
optimiser and the step to OUT.ckpt.pt and the weights to OUT (JSON marked "checkpoint");
`--resume` goes on from OUT.ckpt.pt to --steps with the same schedule and data.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.camera import Camera, rotation_about
from engine.eval.metrics import psnr
from engine.files import atomic_path
from engine.memory.latent import LatentMemory, pool_depth
from engine.models.embedded_codec import EmbeddedCodec
from engine.models.refiner import (
    DEFAULT_WEIGHTS,
    EmbeddedRefiner,
    RefinerConfig,
    RefinerNet,
    readout_features,
)

W, H = 256, 192  # pair size in pixels (32 x 24 tokens)
HELD_OUT = ["astronaut", "coffee", "chelsea"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Pair:
    """One training pair: features (C + 6, h, w), target latent (C, h, w), loss mask (h, w)
    bool, target image (3, H, W) uint8."""

    feats: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    rgb: torch.Tensor


def _fit(img: torch.Tensor, h: int, w: int, rng: random.Random) -> torch.Tensor:
    """A random crop of img (3, H0, W0) of aspect w:h, 1-2x the minimal scale, resized to
    (h, w) with antialiasing."""
    _, h0, w0 = img.shape
    base = min(h0 / h, w0 / w)
    s = base / rng.uniform(1.0, 2.0) if base > 2 else base
    ch, cw = min(h0, round(h * s)), min(w0, round(w * s))
    y, x = rng.randint(0, h0 - ch), rng.randint(0, w0 - cw)
    crop = img[:, y : y + ch, x : x + cw][None]
    return F.interpolate(crop, size=(h, w), mode="bilinear", antialias=True)[0].clamp(0, 1)


STAY = 0.08
"""Share of targets at the source camera itself: there the refiner must give the latent back
(the closed loop: flying back to where a view was seen shows it as it was)."""


def _random_motion(rng: random.Random, forward=(-0.3, 0.6), side=0.15, turn_deg=8.0):
    """A camera-to-world pose near the identity (the identity itself for STAY of them)."""
    pose = torch.eye(4, dtype=torch.float64)
    if rng.random() < STAY:
        return pose
    rot = torch.eye(3, dtype=torch.float64)
    for axis in ((0, 1, 0), (1, 0, 0), (0, 0, 1)):
        rot = rotation_about(axis, math.radians(rng.uniform(-turn_deg, turn_deg))) @ rot
    pose[:3, :3] = rot
    pose[:3, 3] = torch.tensor(
        [rng.uniform(-side, side), rng.uniform(-side, side), rng.uniform(*forward)],
        dtype=torch.float64,
    )
    return pose


def _plane_view(src2: torch.Tensor, cam: Camera, target: Camera):
    """The plane z = 1 of cam's frame, textured with src2 (3, 2H, 2W) over cam's image, seen
    from target: (image (3, H, W), valid (H, W) bool: pixels that see the texture)."""
    uv = target.pixel_grid(torch.float64).reshape(-1, 2)
    rays = target.unproject(uv, torch.ones(len(uv), dtype=torch.float64)) - target.position
    w2c = cam.world_to_camera
    origin = w2c[:3, :3] @ target.position + w2c[:3, 3]
    dirs = rays @ w2c[:3, :3].T
    s = (1.0 - origin[2]) / dirs[:, 2]
    p = origin + s[:, None] * dirs
    u = cam.fx * p[:, 0] + cam.cx  # p_z = 1 on the plane
    v = cam.fy * p[:, 1] + cam.cy
    valid = (s > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    grid = torch.stack([u / cam.width * 2 - 1, v / cam.height * 2 - 1], 1).float()
    img = F.grid_sample(
        src2[None], grid.reshape(1, target.height, target.width, 2), align_corners=False
    )[0]
    return img.clamp(0, 1), valid.reshape(target.height, target.width)


def _tokens(mask: torch.Tensor, f: int = 8) -> torch.Tensor:
    """A pixel mask (H, W) -> tokens whose every pixel is set."""
    h, w = mask.shape
    return mask.reshape(h // f, f, w // f, f).all(3).all(1)


class _Source:
    """One source view lifted into a fresh memory, read from several target cameras."""

    def __init__(self, codec, rgb, token_depth, cam, sky=None):
        self.codec = codec
        self.mem = LatentMemory(codec.channels)
        self.mem.lift(codec.encode(rgb[None])[0], token_depth, cam.scaled(W // 8, H // 8), sky=sky)

    def pair(self, tgt_rgb, tgt_cam, keep_tokens):
        r = self.mem.readout(tgt_cam.scaled(W // 8, H // 8))
        target = self.codec.encode(tgt_rgb[None])[0]
        rgb = (tgt_rgb * 255).round().to(torch.uint8)
        return Pair(readout_features(r), target, r.known & keep_tokens, rgb), r


def photo_pairs(codec, img: torch.Tensor, rng: random.Random, k: int) -> list[Pair]:
    """k pairs of a photo on a plane (see the module docstring)."""
    src2 = _fit(img, 2 * H, 2 * W, rng)
    src = F.avg_pool2d(src2[None], 2)[0]
    fov = rng.uniform(45.0, 75.0)
    cam = Camera.from_fov(fov, W, H)
    source = _Source(codec, src, torch.ones(H // 8, W // 8), cam)
    pairs = []
    for _ in range(k):
        target = Camera.from_fov(fov, W, H, pose=_random_motion(rng))
        tgt, valid = _plane_view(src2, cam, target)
        pairs.append(source.pair(tgt, target, _tokens(valid))[0])
    return pairs


def depth_photo_pairs(codec, img, depth_model, rng: random.Random, k: int) -> list[Pair]:
    """k pairs of a photo with estimated depth (see the module docstring)."""
    from engine.eval.warp import forward_warp

    src2 = _fit(img, 2 * H, 2 * W, rng)
    fov = rng.uniform(45.0, 75.0)
    est = depth_model.estimate(src2)
    depth2 = torch.where(est.sky, math.inf, est.depth)
    cam2 = Camera.from_fov(fov, 2 * W, 2 * H)
    cam = cam2.scaled(W, H)
    token_depth = pool_depth(depth2, 16)
    source = _Source(
        codec, F.avg_pool2d(src2[None], 2)[0], token_depth, cam, torch.isinf(token_depth)
    )
    scale = float(torch.nanmedian(torch.where(torch.isfinite(depth2), depth2, torch.nan)))
    pairs = []
    for _ in range(k):
        motion = _random_motion(rng, forward=(-0.2, 0.5), side=0.12, turn_deg=8.0)
        motion[:3, 3] *= scale  # steps in proportion to the scene's depth
        warp = forward_warp(src2, depth2, cam2, cam2.with_pose(motion))
        tgt = F.avg_pool2d(warp.rgb[None], 2)[0]
        covered = F.avg_pool2d(warp.covered[None, None].float(), 2)[0, 0] == 1
        pairs.append(source.pair(tgt, cam.with_pose(motion), _tokens(covered))[0])
    return pairs


def scene_pairs(codec, scene, pose: torch.Tensor, rng: random.Random, k: int) -> list[Pair]:
    """k pairs of two views of a synthetic scene (see the module docstring)."""
    fov = rng.uniform(50.0, 75.0)
    cam = Camera.from_fov(fov, W, H, pose=pose)
    a = scene.render(cam)
    depth = pool_depth(a.depth, 8)
    sky = torch.isinf(depth)
    source = _Source(codec, a.rgb, depth, cam, sky)
    pairs = []
    for _ in range(k):
        motion = _random_motion(rng, forward=(-0.4, 1.2), side=0.3, turn_deg=10.0)
        target = Camera.from_fov(fov, W, H, pose=pose @ motion)
        b = scene.render(target)
        true = pool_depth(b.depth, 8)
        pair, r = source.pair(b.rgb, target, torch.ones_like(sky))
        geo = r.known & ~r.sky & torch.isfinite(true)
        agree = geo & ((r.depth - true).abs() <= 0.03 * true)
        pair.mask = agree | (r.sky & torch.isinf(true))
        pairs.append(pair)
    return pairs


QUILT_BLOCK, QUILT_STEP, QUILT_TRIES = 4, 3, 24
FEATHER = 4  # pixels each side of a token edge over which the target cross-fades


def quilt_layout(z: torch.Tensor, hole: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Where each token of a quilted latent is copied from: (h, w, 2) source token (y, x),
    the token itself outside `hole`; inside, 4x4-token windows every 3 tokens, each the
    best by latent squared distance over the tokens it already has of QUILT_TRIES random
    source windows lying outside the hole (engine.models.quilt's matching, without its
    guides), so the seams are as well matched as the app's."""
    _, h, w = z.shape
    b, s = QUILT_BLOCK, QUILT_STEP
    ys = torch.arange(h)[:, None].expand(h, w)
    xs = torch.arange(w)[None].expand(h, w)
    src = torch.stack([ys, xs], -1).clone()
    have = ~hole.clone()
    valid = [
        (y, x)
        for y in range(h - b + 1)
        for x in range(w - b + 1)
        if not bool(hole[y : y + b, x : x + b].any())
    ]
    if not valid:
        return src

    def grid(n):  # window starts every s, the last flush with the end
        return sorted({*range(0, n - b + 1, s), n - b})

    starts = [(y, x) for y in grid(h) for x in grid(w) if bool(hole[y : y + b, x : x + b].any())]
    rng.shuffle(starts)
    starts.sort(key=lambda p: -int(have[p[0] : p[0] + b, p[1] : p[1] + b].sum()))
    for y0, x0 in starts:
        h_ = have[y0 : y0 + b, x0 : x0 + b]
        cur = z[:, y0 : y0 + b, x0 : x0 + b]
        best, best_cost = None, math.inf
        for _ in range(QUILT_TRIES):
            sy, sx = rng.choice(valid)
            cand = z[:, sy : sy + b, sx : sx + b]
            cost = float((((cand - cur) ** 2).sum(0) * h_).sum())
            if cost < best_cost:
                best, best_cost = (sy, sx), cost
        assert best is not None  # the first try's cost is finite
        sy, sx = best
        need = ~h_
        win = src[y0 : y0 + b, x0 : x0 + b]
        tokens = torch.stack(
            torch.meshgrid(torch.arange(sy, sy + b), torch.arange(sx, sx + b), indexing="ij"), -1
        )
        win[need] = tokens[need]
        have[y0 : y0 + b, x0 : x0 + b] = True
    return src


def feathered(img: torch.Tensor, src: torch.Tensor, f: int = 8) -> torch.Tensor:
    """The quilt of `src` (h, w, 2 source tokens) made in pixels as image quilting blends:
    every token's tile extended FEATHER pixels on each side with its source's own
    continuation, cross-faded with its neighbours' over those pixels (weights that sum to
    one). Tokens that continue one source blend copies of the same pixels, so only seams
    between sources change: a soft, textured seam in place of a step on the token grid."""
    c, H_, W_ = img.shape
    h, w, _ = src.shape
    e = FEATHER
    k = f + 2 * e
    pad = F.pad(img[None], (e, e, e, e), mode="replicate")[0]
    ys = (src[..., 0] * f).reshape(-1)
    xs = (src[..., 1] * f).reshape(-1)
    iy = ys[:, None] + torch.arange(k)[None]  # (L, k) rows of the padded image
    ix = xs[:, None] + torch.arange(k)[None]
    tiles = pad[:, iy[:, :, None], ix[:, None, :]]  # (C, L, k, k)
    ramp = torch.minimum(torch.arange(k) + 0.5, k - torch.arange(k) - 0.5).clamp(max=e * 2) / (
        e * 2
    )
    wt = (ramp[:, None] * ramp[None, :])[None, None]  # (1, 1, k, k)
    cols = (tiles * wt).reshape(c, h * w, k * k).permute(0, 2, 1).reshape(c * k * k, h * w)
    ones = wt.expand(1, h * w, k, k).reshape(1, h * w, k * k).permute(0, 2, 1).reshape(k * k, -1)
    num = F.fold(cols[None], (H_, W_), k, padding=e, stride=f)[0]
    den = F.fold(ones[None], (H_, W_), k, padding=e, stride=f)[0]
    return (num / den).clamp(0, 1)


def quilt_pairs(codec, img: torch.Tensor, rng: random.Random, k: int) -> list[Pair]:
    """k pairs of a photo's latent with a region quilted (see the module docstring)."""
    from engine.memory.latent import Readout

    rgb = _fit(img, H, W, rng)
    z = codec.encode(rgb[None])[0]
    _, h, w = z.shape
    pairs = []
    for _ in range(k):
        hole = torch.zeros(h, w, dtype=torch.bool)
        side = rng.randrange(4)
        n = rng.randint(w // 3, 2 * w // 3) if side < 2 else rng.randint(h // 3, 2 * h // 3)
        if side == 0:
            hole[:, w - n :] = True
        elif side == 1:
            hole[:, :n] = True
        elif side == 2:
            hole[h - n :] = True
        else:
            hole[:n] = True
        src = quilt_layout(z, hole, rng)
        latent = z[:, src[..., 0], src[..., 1]]
        target_rgb = feathered(rgb, src)
        r = Readout(
            latent=latent,
            known=torch.ones(h, w, dtype=torch.bool),
            depth=torch.ones(h, w),
            ids=torch.full((h, w), -1, dtype=torch.long),
            sky=torch.zeros(h, w, dtype=torch.bool),
        )
        target = codec.encode(target_rgb[None])[0]
        u8 = (target_rgb * 255).round().to(torch.uint8)
        pairs.append(Pair(readout_features(r), target, torch.ones(h, w, dtype=torch.bool), u8))
    return pairs


def training_images() -> tuple[list[torch.Tensor], list[str]]:
    from engine.train.codec import real_images

    colour, gray, names = real_images()
    return colour + gray, names


def held_out_images() -> list[torch.Tensor]:
    from skimage import data as skdata

    from engine.train.codec import _to_tensor

    return [_to_tensor(getattr(skdata, n)()) for n in HELD_OUT]


def make_pairs(
    codec,
    n: int,
    seed: int,
    synthetic_share: float,
    depth_share: float,
    targets: int,
    smoke: bool = False,
    quilt_share: float = 0.0,
) -> list[Pair]:
    """n training pairs, deterministic for a seed: synthetic_share of them from the rooms,
    depth_share from photos with estimated depth, quilt_share quilted photos, the rest
    from photos on a plane."""
    from engine.models.depth import EmbeddedDepth

    rng = random.Random(seed)
    images, _ = training_images()
    depth_model = EmbeddedDepth()
    scenes, poses = [], []
    if synthetic_share > 0:
        from engine import synth

        for s in range(2 if smoke else 6):
            scenes.append(synth.room_scene(s))
            poses.append(
                scenes[-1].sample_path("loop", n=24) + scenes[-1].sample_path("orbit", n=24)
            )
        # the street is left out: a pair of it renders ~15x slower than a room's
    pairs: list[Pair] = []
    t0, reported = time.time(), 0
    while len(pairs) < n:
        kind = rng.random()
        k = min(targets, n - len(pairs))
        if scenes and kind < synthetic_share:
            i = rng.randrange(len(scenes))
            pairs += scene_pairs(codec, scenes[i], rng.choice(poses[i]), rng, k)
        elif kind < synthetic_share + depth_share:
            pairs += depth_photo_pairs(codec, rng.choice(images), depth_model, rng, k)
        elif kind < synthetic_share + depth_share + quilt_share:
            pairs += quilt_pairs(codec, rng.choice(images), rng, k)
        else:
            pairs += photo_pairs(codec, rng.choice(images), rng, k)
        if len(pairs) - reported >= 250 or len(pairs) == n:
            reported = len(pairs)
            log(f"  pairs {len(pairs)}/{n} ({time.time() - t0:.0f} s)")
    return pairs


def held_out_pairs(codec, n: int = 48, seed: int = 12345) -> list[Pair]:
    rng = random.Random(seed)
    images = held_out_images()
    pairs = []
    for i in range(n // 2):
        pairs += photo_pairs(codec, images[i % len(images)], rng, 2)
    return pairs


def _stack(pairs: list[Pair]):
    return (
        torch.stack([p.feats for p in pairs]),
        torch.stack([p.target for p in pairs]),
        torch.stack([p.mask for p in pairs]),
        torch.stack([p.rgb for p in pairs]),
    )


def masked_psnr(codec, latent, rgb_u8, mask) -> float:
    """PSNR (dB) of the decoded latents (B, C, h, w) against rgb over the masked tokens, the
    batch taken as one tall image."""
    with torch.inference_mode():
        out = codec.decode(latent)
    f = codec.factor
    pixels = mask.repeat_interleave(f, 1).repeat_interleave(f, 2)

    def tall(x):  # (B, 3, H, W) -> (3, B H, W)
        return x.permute(1, 0, 2, 3).reshape(3, -1, x.shape[-1])

    return psnr(tall(out), tall(rgb_u8.float() / 255), pixels.reshape(-1, pixels.shape[-1]))


def held_out_quilts(codec, n: int = 12, seed: int = 54321) -> list[Pair]:
    rng = random.Random(seed)
    images = held_out_images()
    return [p for i in range(n) for p in quilt_pairs(codec, images[i % len(images)], rng, 1)]


def evaluate(model, codec, held, quilts=None) -> dict:
    """Held-out PSNR of the readouts as they are, refined, and the codec's ceiling; with
    quilts, the mean blockiness (engine.eval.metrics) of the quilted latents decoded as
    they are, refined, and of the feathered targets' encoding."""
    from engine.eval.metrics import blockiness

    feats, target, mask, rgb = held
    c = codec.channels
    with torch.inference_mode():
        refined = model(feats)
    out: dict[str, float | list[float]] = {
        "readout_db": round(masked_psnr(codec, feats[:, :c], rgb, mask), 2),
        "refined_db": round(masked_psnr(codec, refined, rgb, mask), 2),
        "codec_db": round(masked_psnr(codec, target, rgb, mask), 2),
    }
    if quilts is not None:
        qf, qt, _, _ = quilts
        with torch.inference_mode():
            rows = [codec.decode(x) for x in (qf[:, :c], model(qf), qt)]
        out["quilt_blockiness"] = [
            round(sum(blockiness(im.clamp(0, 1)) for im in x) / len(x), 3) for x in rows
        ]
    return out


def train(args) -> dict:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    ckpt_path = out.with_name(out.name.replace(".safetensors", "") + ".ckpt.pt")
    codec = EmbeddedCodec.load()
    cfg = RefinerConfig(channels=codec.channels, width=args.width, blocks=args.blocks)
    model = RefinerNet(cfg)
    if args.init is not None and not args.resume:
        start = EmbeddedRefiner.load(args.init).model
        if asdict(start.cfg) != asdict(cfg):
            raise SystemExit(f"--init: {args.init} is a {start.cfg}, not a {cfg}")
        model.load_state_dict(start.state_dict())
        log(f"starting from {args.init}")
    init_record = None  # how the weights it started from were trained
    if args.init is not None:
        meta = Path(args.init).with_suffix(".json")
        if meta.is_file():
            init_record = json.loads(meta.read_text()).get("training")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, minutes_before, phases = 0, 0.0, []
    if args.resume:
        if not ckpt_path.is_file():
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, weights_only=False)
        if ck["config"] != asdict(cfg) or ck["args"]["seed"] != args.seed:
            raise SystemExit(f"--resume: {ckpt_path} is of another run ({ck['args']})")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, minutes_before = ck["step"], ck["minutes"]
        # the run so far, as one phase per process that trained it (steps, loss, schedule)
        before = ck["args"]
        phases = ck.get("phases", []) + [
            {
                "until_step": step,
                "steps": before["steps"],
                "lr": before["lr"],
                "pixel_weight": before["pixel_weight"],
                "minutes": round(ck["minutes"], 1),
            }
        ]
        log(f"resuming at step {step} of {args.steps}")
    n_pairs = 12 if args.smoke else args.pairs
    log(f"making {n_pairs} training pairs (synthetic share {args.synthetic_share})")
    pairs = make_pairs(
        codec,
        n_pairs,
        args.seed,
        args.synthetic_share,
        args.depth_share,
        args.targets,
        smoke=args.smoke,
        quilt_share=args.quilt_share,
    )
    feats, target, mask, rgb = _stack(pairs)
    held = _stack(held_out_pairs(codec, 3 if args.smoke else 48))
    quilts = _stack(held_out_quilts(codec, 2 if args.smoke else 12)) if args.quilt_share else None
    log(f"held out before training: {evaluate(model, codec, held, quilts)}")
    decoder = codec.model
    for p in decoder.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(args.seed * 7919 + step)
    start_step = step
    t0 = time.time()
    model.train()
    record: dict = {}
    while step < args.steps:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        lr *= min(1.0, (step + 1) / 200)  # warm-up
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(pairs), (args.batch,), generator=gen)
        f, t, m = feats[idx], target[idx], mask[idx].float()[:, None]
        pred = model(f)
        err = ((pred - t) ** 2 * m).sum() / (m.sum() * pred.shape[1]).clamp(min=1)
        loss = err
        if args.pixel_weight > 0:
            pm = m.repeat_interleave(8, 2).repeat_interleave(8, 3)
            img = decoder.decode(pred)
            ref = rgb[idx].float() / 255
            loss = loss + args.pixel_weight * ((img - ref) ** 2 * pm).sum() / (pm.sum() * 3).clamp(
                min=1
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        done = step == args.steps
        if step % args.log_every == 0 or done:
            model.eval()
            ev = evaluate(model, codec, held, quilts)
            model.train()
            rate = (time.time() - t0) / max(1, step - start_step)
            log(
                f"step {step}/{args.steps}  loss {float(err.detach()):.5f}  lr {lr:.2e}  "
                f"held-out {ev}  "
                f"{rate:.2f} s/step"
            )
        if (args.checkpoint_every and step % args.checkpoint_every == 0) or done:
            minutes = minutes_before + (time.time() - t0) / 60
            model.eval()
            ev = evaluate(model, codec, held, quilts)
            model.train()
            record = {
                "steps": step,
                "of": args.steps,
                "checkpoint": not done,
                "seed": args.seed,
                "batch": args.batch,
                "lr": args.lr,
                "pairs": n_pairs,
                "synthetic_share": args.synthetic_share,
                "depth_share": args.depth_share,
                "quilt_share": args.quilt_share,
                "init": None if args.init is None else Path(args.init).name,
                "init_training": init_record,
                "targets_per_source": args.targets,
                "pixel_weight": args.pixel_weight,
                "pair_size": [W, H],
                "minutes": round(minutes, 1),
                "training_images": training_images()[1],
                "held_out_images": [f"skimage.{n}" for n in HELD_OUT],
                "held_out_psnr": ev,
                "earlier_phases": phases,
                "torch": torch.__version__,
            }
            EmbeddedRefiner(model.eval()).save(out, {"training": record})
            model.train()
            state = {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "minutes": minutes,
                "config": asdict(cfg),
                "args": vars(args) | {"out": str(args.out)},
                "phases": phases,
            }
            with atomic_path(ckpt_path) as tmp:
                torch.save(state, tmp)
            log(f"saved {out} at step {step} ({ev})")
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m engine.train.refiner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--pairs", type=int, default=8000, help="training pairs made up front")
    p.add_argument("--synthetic-share", type=float, default=0.3, metavar="F")
    p.add_argument("--depth-share", type=float, default=0.3, metavar="F")
    p.add_argument("--quilt-share", type=float, default=0.0, metavar="F")
    p.add_argument("--init", type=Path, default=None, help="start from these weights (a fine-tune)")
    p.add_argument("--targets", type=int, default=3, help="target views per source view")
    p.add_argument("--pixel-weight", type=float, default=0.0, metavar="W")
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=250, metavar="N")
    p.add_argument("--resume", action="store_true", help="go on from OUT.ckpt.pt")
    p.add_argument("--smoke", action="store_true", help="tiny data set: checks the script runs")
    args = p.parse_args(argv)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
