"""DepthNet: the small U-Net that refines EmbeddedDepth's geometric prior.

It sees the photo at low resolution (about 128x96, see `net_size`) and the prior's log-depth
at the same resolution, and predicts two maps at that resolution:

    residual = max_residual * tanh(head_0)    log-depth correction over the prior
    sky      = head_1                         logit of "this pixel is sky"

so the refined depth is prior * exp(residual). The tanh keeps the correction within a factor
exp(+-max_residual) (7.4 for the default 2) of the prior on any image, trained-for or not:
the result stays finite, positive and near the geometric prior where the network is unsure.
The residual head starts at zero, so an untrained network returns the prior unchanged.

Layout (channels c0..c4 = `channels`, at 1, 1/2, 1/4, 1/8, 1/16 of the input size):

    in (rgb - 0.5, log prior - LOG_CENTRE) 4 ch
    encoder: level 0 two 3x3 convs; levels 1..4 a stride-2 3x3 conv and a 3x3 conv
    context: the bottleneck's spatial mean -> linear -> added everywhere (global view: is it
             a room or a street, where is the horizon)
    decoder: per level, bilinear x2, concatenate the encoder's map, two 3x3 convs
    head:    1x1 conv to 2 channels

Every 3x3 conv is conv -> BatchNorm -> SiLU. The input height and width must be multiples
of 16. Weights live in assets/models/depth-embedded.safetensors with a JSON config (and the
training record) beside them; `python -m engine.train.depth` trains them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.assets import MODELS
from engine.models.weights import load_model, save_model

DEFAULT_WEIGHTS = MODELS / "depth-embedded.safetensors"
LOG_CENTRE = 1.5  # the prior's log-depth is fed as log(depth) - LOG_CENTRE (depth e^1.5 = 4.5)
MULTIPLE = 16  # input sizes are multiples of this (four stride-2 levels)


@dataclass
class DepthNetConfig:
    """Shape of the depth network (saved as JSON next to the weights)."""

    width: int = 128  # network input width for a 4:3 photo (other aspects: see net_size)
    height: int = 96  # network input height for a 4:3 photo
    channels: tuple[int, ...] = (16, 24, 32, 48, 64)  # per level, full to 1/16 resolution
    max_residual: float = 2.0  # |log-depth correction| <= this (tanh scaling)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.channels) != 5 or min(self.channels) < 1:
            raise ValueError(f"channels must be 5 positive numbers, got {self.channels}")
        if self.width % MULTIPLE or self.height % MULTIPLE or min(self.width, self.height) < 16:
            raise ValueError(
                f"width and height must be multiples of {MULTIPLE}, got {self.width}x{self.height}"
            )
        if not (math.isfinite(self.max_residual) and self.max_residual > 0):
            raise ValueError(f"max_residual must be finite and > 0, got {self.max_residual}")


def net_size(height: int, width: int, cfg: DepthNetConfig) -> tuple[int, int]:
    """(h, w) the network sees for a (height, width) photo: about cfg.width x cfg.height
    pixels in all, the photo's aspect ratio, both multiples of 16 (at least 16).

    A 4:3 photo of any size -> (cfg.height, cfg.width), 96x128 by default."""
    area = cfg.width * cfg.height
    aspect = width / height
    h = max(MULTIPLE, round(math.sqrt(area / aspect) / MULTIPLE) * MULTIPLE)
    w = max(MULTIPLE, round(h * aspect / MULTIPLE) * MULTIPLE)
    return h, w


def downsample(rgb: Tensor, size: tuple[int, int]) -> Tensor:
    """rgb (B, 3, H, W) -> (B, 3, h, w): antialiased bilinear, the network's input filter
    (training uses the same function on renders, so both see the same blur)."""
    if tuple(rgb.shape[-2:]) == tuple(size):
        return rgb
    x = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0)


class ConvBN(nn.Sequential):
    """3x3 conv (stride 1 or 2) -> BatchNorm -> SiLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.SiLU(inplace=True),
        )


class DepthUNet(nn.Module):
    """rgb (B, 3, h, w) in [0, 1] + prior log-depth (B, 1, h, w) -> residual (B, 1, h, w)
    within +-max_residual and sky logit (B, 1, h, w); h, w multiples of 16."""

    def __init__(self, cfg: DepthNetConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.down = nn.ModuleList([nn.Sequential(ConvBN(4, c[0]), ConvBN(c[0], c[0]))])
        for i in range(1, 5):
            self.down.append(nn.Sequential(ConvBN(c[i - 1], c[i], stride=2), ConvBN(c[i], c[i])))
        self.context = nn.Linear(c[4], c[4])
        self.up = nn.ModuleList(
            nn.Sequential(ConvBN(c[i] + c[i + 1], c[i]), ConvBN(c[i], c[i])) for i in range(4)
        )
        self.head = nn.Conv2d(c[0], 2, 1)
        assert self.context.bias is not None and self.head.bias is not None  # bias=True
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        nn.init.zeros_(self.head.weight)  # residual 0, sky probability 1/2 at the start
        nn.init.zeros_(self.head.bias)

    def forward(self, rgb: Tensor, log_prior: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = rgb.shape
        if h % MULTIPLE or w % MULTIPLE or log_prior.shape != (b, 1, h, w):
            raise ValueError(
                f"DepthUNet expects rgb (B, 3, h, w) and log_prior (B, 1, h, w) with h, w "
                f"multiples of {MULTIPLE}, got {tuple(rgb.shape)} and {tuple(log_prior.shape)}"
            )
        x = torch.cat((rgb - 0.5, log_prior - LOG_CENTRE), dim=1)
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        x = x + self.context(x.mean(dim=(2, 3)))[:, :, None, None]
        for i in reversed(range(4)):
            skip = skips[i]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat((skip, x), dim=1))
        out = self.head(x)
        residual = self.cfg.max_residual * torch.tanh(out[:, :1])
        return residual, out[:, 1:]


class DepthNet:
    """DepthUNet with its config, loaded from / saved to safetensors + JSON (fp32, eval)."""

    def __init__(self, model: DepthUNet, source: str = "random"):
        self.model = model.eval()
        self.cfg = model.cfg
        self.source = source  # where the weights came from, for DepthResult.notes

    @classmethod
    def random(cls, cfg: DepthNetConfig | None = None, seed: int = 0) -> DepthNet:
        """Untrained network (zero residual head): for tests and as the training start."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(DepthUNet(cfg or DepthNetConfig()), source="random weights")

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> DepthNet:
        """Load weights (safetensors) and the JSON config beside them."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        model = load_model(
            path, DepthNetConfig, DepthUNet, "embedded depth", "python -m engine.train.depth"
        )
        return cls(model, source=path.name)

    def save(self, path: str | os.PathLike, extra: dict | None = None) -> None:
        """Write weights + config (+ any training record in `extra`), each file atomically."""
        save_model(self.model, self.cfg, path, extra)

    def num_parameters(self) -> int:
        """Number of trained parameters (BatchNorm statistics not counted)."""
        return sum(p.numel() for p in self.model.parameters())

    def __call__(self, rgb: Tensor, log_prior: Tensor) -> tuple[Tensor, Tensor]:
        """rgb (B, 3, h, w), log_prior (B, 1, h, w) -> residual, sky logit (B, 1, h, w)."""
        with torch.inference_mode():
            return self.model(rgb.float(), log_prior.float())
