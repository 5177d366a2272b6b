"""Train the embedded codec: `python -m engine.train.codec [--steps N] [--seed S] [--out PATH]`.

Reproducible for a seed (same data, same crops, same initialisation; CPU, fp32).

Training data (never the evaluation photos of `latentscape bench codec`):
- synthetic views: every synthetic scene of engine.synth (rooms of several seeds, the street
  if present) rendered at 512x384 along their sample paths and from random look-arounds;
- licensed real images that ship inside Python packages: scikit-image's colour images other
  than the evaluation ones (hubble_deep_field, ihc, retina, color), its grayscale textures
  (brick, grass, gravel, camera, coins, moon, page, text, cell), tinted with random colours,
  and scikit-learn's two sample photos (china, flower). Missing packages are skipped with a
  note; what was used is recorded in the weights' JSON.

Method: a PCA codec is fitted on training patches first; it initialises the codec's linear
paths (see engine/models/embedded_codec.py), so training starts at the PCA solution. Then
AdamW on the mean squared error of 128x128 random crops (flips, rescaling and colour jitter on
the real images), cosine learning-rate decay. The PCA codec is saved beside the embedded one
(assets/models/codec-pca8.safetensors): it is the linear baseline of `bench codec`.

Resuming (`--resume`): training goes on from the weights at --out with a fresh one-cycle
schedule of --steps at --lr (use another --seed so the crops differ from the first phase).
The PCA codec is not fitted again: the baseline stays the one fitted before the first phase.
The JSON's "training" then describes the whole run: total steps and minutes, and "phases",
one record per phase in order.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.camera import Camera
from engine.models.codec import PCACodec
from engine.models.embedded_codec import (
    DEFAULT_WEIGHTS,
    CodecConfig,
    EmbeddedAutoencoder,
    EmbeddedCodec,
)

SKIMAGE_COLOUR = ["hubble_deep_field", "immunohistochemistry", "retina", "colorwheel"]
SKIMAGE_GRAY = ["brick", "grass", "gravel", "camera", "coins", "moon", "page", "text", "cell"]
CROP = 128


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 / float image (H, W[, C]) -> (3, H, W) float32 in [0, 1]."""
    x = torch.from_numpy(np.array(img))  # a copy: the image may be read-only
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 2:
        x = x[None].expand(3, -1, -1)
    else:
        x = x[..., :3].permute(2, 0, 1)
    return x.clamp(0, 1).contiguous()


def synthetic_views(seed: int, rooms: int = 6, streets: int = 4, n: int = 12) -> list[torch.Tensor]:
    """Views of the synthetic scenes along their sample paths, random fields of view."""
    from engine import synth

    rng = random.Random(seed)
    scenes: list[synth.RoomScene | synth.StreetScene] = [synth.room_scene(s) for s in range(rooms)]
    if hasattr(synth, "street_scene"):
        scenes += [synth.street_scene(s) for s in range(streets)]
    base = Camera.from_fov(60.0, 512, 384)
    views = []
    for scene in scenes:
        poses = []
        for kind in ("loop", "orbit"):
            try:
                poses += scene.sample_path(kind, n=n)
            except ValueError:
                pass  # a path that does not fit this scene's layout
        for pose in poses:
            # jitter the pitch and the field of view for variety
            fov = rng.uniform(45.0, 80.0)
            cam = Camera.from_fov(fov, base.width, base.height, pose=pose)
            views.append(scene.render(cam).rgb)
    log(f"  {len(views)} synthetic views from {len(scenes)} scenes")
    return views


def real_images() -> tuple[list[torch.Tensor], list[torch.Tensor], list[str]]:
    """(colour images, grayscale textures, names) from packages that ship them."""
    colour, gray, names = [], [], []
    try:
        from skimage import data as skdata

        for name in SKIMAGE_COLOUR:
            colour.append(_to_tensor(getattr(skdata, name)()))
            names.append(f"skimage.{name}")
        for name in SKIMAGE_GRAY:
            gray.append(_to_tensor(getattr(skdata, name)()))
            names.append(f"skimage.{name}")
    except ImportError:
        log("  scikit-image not installed: its images are skipped")
    try:
        from sklearn.datasets import load_sample_images

        for name, img in zip(("china", "flower"), load_sample_images().images):
            colour.append(_to_tensor(img))
            names.append(f"sklearn.{name}")
    except ImportError:
        log("  scikit-learn not installed: its sample photos are skipped")
    log(f"  {len(colour)} colour and {len(gray)} grayscale real images")
    return colour, gray, names


class CropSampler:
    """Random training crops with augmentation, from a seeded generator."""

    def __init__(self, synthetic, colour, gray, seed: int, synthetic_share: float = 0.3):
        self.synthetic, self.colour, self.gray = synthetic, colour, gray
        # Users open real photos, so real images get most of the crops; of the rest, 65%
        # colour photos and 35% tinted grayscale textures.
        self.synthetic_share = synthetic_share
        self.gen = torch.Generator().manual_seed(seed)

    def _rand(self) -> float:
        return float(torch.rand(1, generator=self.gen))

    def _pick(self, pool):
        return pool[int(torch.randint(len(pool), (1,), generator=self.gen))]

    def _crop(self, img: torch.Tensor, scale: float) -> torch.Tensor:
        if scale != 1.0:
            h, w = img.shape[1:]
            size = (max(CROP, round(h * scale)), max(CROP, round(w * scale)))
            img = F.interpolate(img[None], size=size, mode="bilinear", antialias=True)[0]
        h, w = img.shape[1:]
        y = int(torch.randint(h - CROP + 1, (1,), generator=self.gen))
        x = int(torch.randint(w - CROP + 1, (1,), generator=self.gen))
        return img[:, y : y + CROP, x : x + CROP]

    def sample(self) -> torch.Tensor:
        r = self._rand()
        if r < self.synthetic_share or not (self.colour or self.gray):
            x = self._crop(self._pick(self.synthetic), 1.0)
        elif r < 1 - (1 - self.synthetic_share) * 0.35 or not self.gray:
            x = self._crop(self._pick(self.colour), 0.4 + 0.6 * self._rand())
            x = self._jitter(x)
        else:  # a grayscale texture tinted between two random colours
            x = self._crop(self._pick(self.gray), 0.4 + 0.6 * self._rand())[0:1]
            a, b = torch.rand(3, 1, 1, generator=self.gen), torch.rand(3, 1, 1, generator=self.gen)
            x = a + (b - a) * x
        if self._rand() < 0.5:
            x = x.flip(2)
        return x.clamp(0, 1)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        perm = torch.randperm(3, generator=self.gen)
        gain = 0.8 + 0.4 * torch.rand(3, 1, 1, generator=self.gen)
        return x[perm] * gain

    def batch(self, n: int) -> torch.Tensor:
        return torch.stack([self.sample() for _ in range(n)])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(max(float(F.mse_loss(a, b)), 1e-12))


def train(
    steps: int,
    seed: int,
    out: Path,
    batch: int,
    lr: float,
    cfg: CodecConfig,
    smoke: bool = False,
    checkpoint_every: int = 0,
    synthetic_share: float = 0.3,
    resume: bool = False,
) -> dict:
    """Train and save; smoke=True uses one room and no real images (a test of the script);
    resume=True goes on from the weights at `out` (module docstring)."""
    torch.manual_seed(seed)
    log("collecting training images")
    colour: list[torch.Tensor]
    gray: list[torch.Tensor]
    real_names: list[str]
    if smoke:
        synthetic = synthetic_views(seed, rooms=1, streets=0, n=6)
        colour, gray, real_names = [], [], []
    else:
        synthetic = synthetic_views(seed)
        colour, gray, real_names = real_images()
    n_held = max(1, min(8, len(synthetic) // 4))
    held_out = torch.stack(synthetic[-n_held:])  # the last views only report progress
    synthetic = synthetic[:-n_held]
    sampler = CropSampler(synthetic, colour, gray, seed, synthetic_share)

    out.parent.mkdir(parents=True, exist_ok=True)
    if resume:
        model, earlier = resume_from(out)
        cfg = model.cfg
        pca_path = out.parent / f"codec-pca{cfg.channels}.safetensors"
        pca = PCACodec.load(pca_path)
        log(f"resuming from {out} ({earlier[-1]['steps'] if earlier else '?'} steps so far)")
    else:
        earlier = []
        pca_path = out.parent / f"codec-pca{cfg.channels}.safetensors"
        log("fitting the PCA initialisation")
        pca = PCACodec(factor=8, channels=cfg.channels).fit(
            sampler.batch(256 if smoke else 2048), seed=seed
        )
        pca.save(pca_path)
        model = EmbeddedCodec.random(cfg, seed=seed).model
        model.init_from_pca(pca.mean, pca.basis)
    model.train()
    held_pca = psnr(pca.decode(pca.encode(held_out)), held_out)
    log(f"  PCA on held-out synthetic views: {held_pca:.2f} dB")

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, pct_start=0.1, anneal_strategy="cos"
    )
    t0 = time.perf_counter()
    running = None
    for step in range(1, steps + 1):
        x = sampler.batch(batch).contiguous(memory_format=torch.channels_last)
        y = model.decode(model.encode(x))
        loss = F.mse_loss(y, x)
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
            msg = f"step {step}/{steps}  train {-10 * math.log10(running):.2f} dB"
            if step % 500 == 0 or step == steps:
                with torch.no_grad():
                    model.eval()
                    held = psnr(model.decode(model.encode(held_out)).clamp(0, 1), held_out)
                    model.train()
                msg += f"  held-out {held:.2f} dB (PCA {held_pca:.2f})"
            if checkpoint_every and step % checkpoint_every == 0 and step < steps:
                ckpt: dict[str, dict[str, Any]] = {
                    "training": {"steps": step, "of": steps, "seed": seed, "checkpoint": True}
                }
                if earlier:  # a resumed run: keep the record of the phases before it
                    ckpt["training"]["earlier_phases"] = earlier
                EmbeddedCodec(copy.deepcopy(model)).save(out, extra=ckpt)
                msg += "  (checkpoint saved)"
            log(f"{msg}  {elapsed / 60:.1f} min, {eta / 60:.1f} min left")
    model.eval()
    with torch.no_grad():
        held = psnr(model.decode(model.encode(held_out)).clamp(0, 1), held_out)
    phase = {
        "steps": steps,
        "seed": seed,
        "batch": batch,
        "crop": CROP,
        "lr": lr,
        "resumed": resume,
        "minutes": round((time.perf_counter() - t0) / 60, 1),
        "synthetic_views": len(synthetic),
        "synthetic_share": sampler.synthetic_share,
        "real_images": real_names,
        "held_out_psnr_db": round(held, 2),
        "held_out_pca_psnr_db": round(held_pca, 2),
        "torch": torch.__version__,
    }
    phases = [*earlier, phase]
    whole = {
        **phase,
        "steps": sum(p["steps"] for p in phases),
        "minutes": round(sum(p.get("minutes", 0.0) for p in phases), 1),
        "phases": phases,
    }
    record = {"training": whole}
    EmbeddedCodec(model).save(out, extra=record)
    log(f"saved {out} (held-out {held:.2f} dB, PCA {held_pca:.2f} dB)")
    return record


def resume_from(path: Path) -> tuple[EmbeddedAutoencoder, list[dict]]:
    """The model saved at `path` and the records of the phases that trained it."""
    import json

    codec = EmbeddedCodec.load(path)
    training = json.loads(path.with_suffix(".json").read_text()).get("training", {})
    if training.get("checkpoint"):
        raise ValueError(
            f"{path} is a checkpoint of an unfinished run ({training.get('steps')} of "
            f"{training.get('of')} steps): finish or restart that run instead of resuming it"
        )
    phases = training.get("phases") or ([training] if training else [])
    return codec.model, [{k: v for k, v in p.items() if k != "phases"} for p in phases]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m engine.train.codec",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=18000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--width", type=int, default=CodecConfig.width)
    p.add_argument("--enc-blocks", type=int, default=CodecConfig.enc_blocks)
    p.add_argument("--dec-blocks", type=int, default=CodecConfig.dec_blocks)
    p.add_argument("--smoke", action="store_true", help="tiny data set: checks the script runs")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        metavar="N",
        help="save the weights every N steps too (0: only at the end)",
    )
    p.add_argument(
        "--synthetic-share",
        type=float,
        default=0.3,
        metavar="F",
        help="fraction of crops from synthetic views (the rest from real images)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on from the weights at --out (fresh schedule; the PCA baseline is kept)",
    )
    args = p.parse_args(argv)
    cfg = CodecConfig(width=args.width, enc_blocks=args.enc_blocks, dec_blocks=args.dec_blocks)
    train(
        args.steps,
        args.seed,
        args.out,
        args.batch,
        args.lr,
        cfg,
        smoke=args.smoke,
        checkpoint_every=args.checkpoint_every,
        synthetic_share=args.synthetic_share,
        resume=args.resume,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
