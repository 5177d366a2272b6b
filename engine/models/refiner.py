"""Latent refiners: a memory readout -> the latent the codec would give for that view.

A readout puts each remembered token in the latent pixel its footprint covers; the token is
where it was seen, not where it lands now: up to half a pixel off (Readout.offset) and, when
the camera came closer, stretched over several pixels (Readout.scale). A latent is not
shift-equivariant below a token, so decoding such a readout as it is shows blocks and cracks.
A refiner re-renders the known region in the latent space for the target view; it never
invents the holes (they stay zero: the generator's part) and nothing it makes is written to
the memory (the memory keeps what was seen).

- `NoRefiner` ("none"): the readout latent as it is.
- `EmbeddedRefiner` ("embedded"): a small convolutional network at latent resolution, trained
  by `python -m engine.train.refiner` for the embedded codec's latent space; its input per
  latent pixel is the readout latent, the known mask, the sub-token offset, log2 of the
  footprint scale, the depth relative to the view's median and the sky mask
  (`readout_features`). It predicts a correction of the known latent. Its shipped weights
  were fine-tuned on quilted photos as well (engine.train.refiner --quilt-share), so where
  the World runs it over a frame whose holes were generated, the steps on the token grid
  between copied patches soften.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.assets import MODELS
from engine.models.weights import load_model, save_model

if TYPE_CHECKING:
    from engine.memory.latent import Readout

DEFAULT_WEIGHTS = MODELS / "refiner-embedded.safetensors"
EXTRA_FEATURES = 6  # known, offset x, offset y, log2 scale, relative log depth, sky


@runtime_checkable
class Refiner(Protocol):
    """Readout -> refined latent (C, h, w): the known region re-rendered, holes zero."""

    name: str

    def refine(self, readout: Readout) -> Tensor: ...


def readout_features(readout: Readout) -> Tensor:
    """The refiner's input (C + 6, h, w) float32 of one readout: latent (zero at holes),
    known, offset x, offset y (latent pixels), log2 of the footprint scale (clamped to
    [-3, 3]), log depth minus its median over the known geometry (clamped to [-3, 3], 0 at
    holes and sky), sky. Everything is zero at holes but the latent's zeros."""
    known = readout.known
    geo = known & ~readout.sky & (readout.depth > 0) & torch.isfinite(readout.depth)
    logd = torch.zeros_like(readout.depth)
    if bool(geo.any()):
        ld = torch.log(readout.depth[geo])
        logd[geo] = (ld - ld.median()).clamp(-3, 3)
    assert readout.scale is not None and readout.offset is not None  # Readout fills them in
    k = known.float()
    scale = torch.log2(readout.scale.clamp(min=1e-3)).clamp(-3, 3) * k
    return torch.cat(
        [
            readout.latent * k,
            k[None],
            readout.offset * k,
            scale[None],
            logd[None],
            readout.sky.float()[None],
        ]
    )


class NoRefiner:
    """The readout latent as it is (the method without a refiner)."""

    name = "none"

    def refine(self, readout: Readout) -> Tensor:
        return readout.latent


@dataclass
class RefinerConfig:
    """Shape of the embedded refiner (saved as JSON next to the weights)."""

    channels: int = 8  # latent channels of the codec it works for
    width: int = 96  # channels of its convolutions
    blocks: int = 3  # residual blocks (two 3x3 convolutions each; every second one dilated)
    codec: str = "embedded"  # the codec whose latent space it was trained for


class _Block(nn.Module):
    def __init__(self, ch: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class RefinerNet(nn.Module):
    """features (B, C + 6, h, w) -> refined latent (B, C, h, w): latent + a learned
    correction, on the known pixels only (zero at holes)."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.cfg = cfg
        c, wd = cfg.channels, cfg.width
        self.inp = nn.Conv2d(c + EXTRA_FEATURES, wd, 3, padding=1)
        self.blocks = nn.Sequential(*(_Block(wd, 1 + i % 2) for i in range(cfg.blocks)))
        self.out = nn.Conv2d(wd, c, 3, padding=1)
        assert self.out.bias is not None  # made with bias=True
        nn.init.zeros_(self.out.weight)  # starts as the identity: the readout as it is
        nn.init.zeros_(self.out.bias)

    def forward(self, feats: Tensor) -> Tensor:
        c = self.cfg.channels
        latent, known = feats[:, :c], feats[:, c : c + 1]
        h = self.blocks(self.inp(feats))
        return (latent + self.out(F.silu(h))) * known


class EmbeddedRefiner:
    """Refiner protocol around RefinerNet (fp32, channels_last, inference only)."""

    def __init__(self, model: RefinerNet, name: str = "embedded"):
        # Module.to takes memory_format; torch's overloads of it leave the argument out
        self.model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.channels = model.cfg.channels
        self.name = name

    @classmethod
    def random(cls, cfg: RefinerConfig | None = None, seed: int = 0) -> EmbeddedRefiner:
        """Untrained refiner with a random last layer (not the identity): for tests."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = RefinerNet(cfg or RefinerConfig())
            nn.init.normal_(model.out.weight, std=0.01)
        return cls(model, name="embedded-random")

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmbeddedRefiner:
        """Load weights (safetensors) and the JSON config beside them."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        model = load_model(
            path, RefinerConfig, RefinerNet, "embedded refiner", "python -m engine.train.refiner"
        )
        return cls(model, name="embedded")

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        save_model(self.model, self.model.cfg, path, extra)

    def refine(self, readout: Readout) -> Tensor:
        c = readout.latent.shape[0]
        if c != self.channels:
            raise ValueError(
                f"the refiner works on {self.channels}-channel latents "
                f"(codec {self.model.cfg.codec!r}), the readout has {c}"
            )
        feats = readout_features(readout)[None].contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(feats)[0].contiguous()
