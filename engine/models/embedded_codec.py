"""EmbeddedCodec: the small autoencoder that gives Latentscape its latent space.

Designed for a 2-core CPU: factor 8, 8 channels by default, and nearly all of the work at
latent resolution (64x48 for a 512x384 image), where a 3x3 convolution is 64 times cheaper
than at pixel resolution. Each side is a *linear path plus a residual branch*:

    encode(x) = A unshuffle8(x - 0.5) + E(x)                   (C, H/8, W/8)
    decode(z) = shuffle8(B z + b) + D(z)                       (3, H, W), clamped to [0, 1]

unshuffle8 turns each 8x8x3 patch into a 192-vector; A (C x 192) and B (192 x C) start as a
PCA basis of training patches, so the untrained codec is exactly the linear PCA codec. E and D
are small convolutional branches whose last layers start at zero: training starts from the
PCA solution and can only move away from it where that lowers the error. E looks at a 4x4
space-to-depth view of the image (one 3x3 convolution at quarter resolution) and then works at
latent resolution; D works at latent resolution, then refines at quarter resolution before
the final space-to-depth back to pixels.

Weights live in assets/models/codec-embedded.safetensors with a JSON config beside them;
`engine/train/codec.py` trains them (reproducible with a seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.assets import MODELS
from engine.models.codec import check_latent, check_rgb
from engine.models.weights import load_model, save_model

DEFAULT_WEIGHTS = MODELS / "codec-embedded.safetensors"


@dataclass
class CodecConfig:
    """Shape of the embedded codec (saved as JSON next to the weights)."""

    factor: int = 8  # pixels per latent token along each axis (fixed by the design)
    channels: int = 8  # latent channels; 8 keeps the memory 55x smaller than RGB points
    width: int = 128  # channels of the convolutions at latent resolution
    quarter: int = 32  # channels of the convolutions at quarter resolution
    enc_blocks: int = 2  # residual blocks (two 3x3 convs each) in the encoder
    dec_blocks: int = 3  # residual blocks in the decoder


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.silu(self.conv1(x)))


class EmbeddedAutoencoder(nn.Module):
    """The network; EmbeddedCodec wraps it with the Codec protocol."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        if cfg.factor != 8:
            raise ValueError(f"the embedded codec is built for factor 8, got {cfg.factor}")
        self.cfg = cfg
        c, wd, q = cfg.channels, cfg.width, cfg.quarter
        patch = 3 * 64
        # Linear paths (PCA at initialisation).
        self.enc_linear = nn.Conv2d(patch, c, 1)
        self.dec_linear = nn.Conv2d(c, patch, 1)
        # Encoder branch: quarter resolution -> latent resolution -> C.
        self.enc_quarter = nn.Conv2d(3 * 16, q, 3, padding=1)
        self.enc_in = nn.Conv2d(4 * q, wd, 1)
        self.enc_blocks = nn.Sequential(*(ResBlock(wd) for _ in range(cfg.enc_blocks)))
        self.enc_out = nn.Conv2d(wd, c, 1)
        # Decoder branch: C -> latent resolution -> quarter resolution -> pixels.
        self.dec_in = nn.Conv2d(c, wd, 3, padding=1)
        self.dec_blocks = nn.Sequential(*(ResBlock(wd) for _ in range(cfg.dec_blocks)))
        self.dec_up = nn.Conv2d(wd, 4 * q, 1)
        self.dec_quarter = nn.Conv2d(q, q, 3, padding=1)
        self.dec_out = nn.Conv2d(q, 3 * 16, 1)
        for last in (self.enc_out, self.dec_out):
            assert last.bias is not None  # made with bias=True
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def init_from_pca(self, mean: Tensor, basis: Tensor) -> None:
        """Set the linear paths to a PCA codec: mean (192,), basis (C, 192), both in the
        patch order of F.pixel_unshuffle (channel-major: c * 64 + dy * 8 + dx)."""
        c = self.cfg.channels
        assert self.enc_linear.bias is not None and self.dec_linear.bias is not None  # bias=True
        with torch.no_grad():
            self.enc_linear.weight.copy_(basis.reshape(c, 192, 1, 1))
            self.enc_linear.bias.copy_(-(basis @ (mean - 0.5)))
            self.dec_linear.weight.copy_(basis.T.reshape(192, c, 1, 1))
            self.dec_linear.bias.copy_(mean)

    def encode(self, x: Tensor) -> Tensor:
        linear = self.enc_linear(F.pixel_unshuffle(x - 0.5, 8))
        h = F.silu(self.enc_quarter(F.pixel_unshuffle(x, 4)))
        h = self.enc_in(F.pixel_unshuffle(h, 2))
        return linear + self.enc_out(self.enc_blocks(F.silu(h)))

    def decode(self, z: Tensor) -> Tensor:
        linear = F.pixel_shuffle(self.dec_linear(z), 8)
        h = self.dec_blocks(F.silu(self.dec_in(z)))
        h = F.pixel_shuffle(self.dec_up(F.silu(h)), 2)
        h = F.pixel_shuffle(self.dec_out(F.silu(self.dec_quarter(F.silu(h)))), 4)
        return linear + h


class EmbeddedCodec:
    """Codec protocol around EmbeddedAutoencoder (fp32, channels_last, inference only)."""

    factor = 8

    def __init__(self, model: EmbeddedAutoencoder, name: str = "embedded"):
        # Module.to takes memory_format; torch's overloads of it leave the argument out
        self.model = model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.channels = model.cfg.channels
        self.name = name

    @classmethod
    def random(cls, cfg: CodecConfig | None = None, seed: int = 0) -> EmbeddedCodec:
        """Untrained codec (random branches, identity-free linear paths): for tests."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(EmbeddedAutoencoder(cfg or CodecConfig()), name="embedded-random")

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmbeddedCodec:
        """Load weights (safetensors) and the JSON config beside them."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        model = load_model(
            path, CodecConfig, EmbeddedAutoencoder, "embedded codec", "python -m engine.train.codec"
        )
        return cls(model, name="embedded")

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Write weights + config (+ any training record in `extra`), each file atomically
        (training writes checkpoints while tests may read them)."""
        save_model(self.model, self.model.cfg, path, extra)

    def encode(self, rgb: Tensor) -> Tensor:
        check_rgb(rgb, self.factor)
        with torch.inference_mode():
            x = rgb.float().contiguous(memory_format=torch.channels_last)
            return self.model.encode(x).contiguous()

    def decode(self, latent: Tensor) -> Tensor:
        check_latent(latent, self.channels)
        with torch.inference_mode():
            z = latent.float().contiguous(memory_format=torch.channels_last)
            return self.model.decode(z).clamp_(0, 1).contiguous()
