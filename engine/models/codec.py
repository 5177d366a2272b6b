"""Image codecs: RGB (B,3,H,W) in [0,1] <-> latent (B,C,H/f,W/f).

The `Codec` protocol is what the memory, the generator and the benchmarks see. Two
implementations live here:

- `PCACodec`: a linear patch codec (each f x f x 3 patch -> C PCA coefficients). It is the
  linear baseline a trained codec is compared with, and needs nothing but torch.
- `TAESDCodec`: diffusers' `AutoencoderTiny` (the TAESD architecture), with real weights
  from a local folder / the Hugging Face cache, or randomly initialised by seed. Until a
  trained codec exists, the random full-size model is the "TAESD-size encode" cost model of
  the RGB-memory baseline.

Both run under torch.inference_mode and check their inputs at the boundary.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from diffusers import AutoencoderTiny


@runtime_checkable
class Codec(Protocol):
    """RGB <-> latent codec with a fixed downsampling factor and latent channel count."""

    name: str
    factor: int  # H / h and W / w
    channels: int  # C of the latent

    def encode(self, rgb: Tensor) -> Tensor:
        """rgb (B,3,H,W) float32 in [0,1], H and W divisible by factor -> (B,C,H/f,W/f)."""
        ...

    def decode(self, latent: Tensor) -> Tensor:
        """latent (B,C,h,w) float32 -> rgb (B,3,h*f,w*f) float32 in [0,1]."""
        ...


# --------------------------------------------------------------------------- input checks


def check_rgb(rgb: Tensor, factor: int, caller: str = "encode") -> None:
    """Raise ValueError unless rgb is a float32 (B,3,H,W) tensor with H, W divisible by factor."""
    if not isinstance(rgb, Tensor):
        raise ValueError(f"{caller} expects a torch.Tensor, got {type(rgb).__name__}")
    shape = tuple(rgb.shape)
    if rgb.ndim != 4 or shape[1] != 3 or shape[2] % factor or shape[3] % factor:
        raise ValueError(
            f"{caller} expects rgb of shape (B, 3, H, W) with H and W divisible "
            f"by {factor}, got {shape}"
        )
    if shape[0] == 0 or shape[2] == 0 or shape[3] == 0:
        raise ValueError(f"{caller} expects a non-empty rgb batch, got {shape}")
    if rgb.dtype != torch.float32:
        raise ValueError(f"{caller} expects float32 rgb, got {rgb.dtype}")


def check_latent(latent: Tensor, channels: int, caller: str = "decode") -> None:
    """Raise ValueError unless latent is a float32 (B,channels,h,w) tensor."""
    if not isinstance(latent, Tensor):
        raise ValueError(f"{caller} expects a torch.Tensor, got {type(latent).__name__}")
    shape = tuple(latent.shape)
    if latent.ndim != 4 or shape[1] != channels or 0 in shape:
        raise ValueError(f"{caller} expects a latent of shape (B, {channels}, h, w), got {shape}")
    if latent.dtype != torch.float32:
        raise ValueError(f"{caller} expects a float32 latent, got {latent.dtype}")


# --------------------------------------------------------------------------- PCA codec


class PCACodec:
    """Linear patch codec: x_patch ~ mean + basis^T @ coeff, one patch per latent pixel.

    A patch is the f x f x 3 block under one latent pixel, flattened channel-major
    (c, dy, dx) into D = 3 f^2 values, which is the order of pixel_unshuffle; encode is
    pixel_unshuffle + matmul, decode is matmul + pixel_shuffle (the same as unfold / fold
    for non-overlapping patches, without the copies). `fit` sets the basis to the top
    `channels` principal components of training patches.
    """

    name = "pca"

    def __init__(self, factor: int = 8, channels: int = 8) -> None:
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        dim = 3 * factor * factor
        if not 1 <= channels <= dim:
            raise ValueError(f"channels must be in [1, {dim}] for factor {factor}, got {channels}")
        self.factor = factor
        self.channels = channels
        self.mean: Tensor | None = None  # (D,) float32 mean patch
        self.basis: Tensor | None = None  # (C, D) float32, orthonormal rows
        self.eigenvalues: Tensor | None = None  # (C,) float32 variance along each row

    @property
    def fitted(self) -> bool:
        return self.basis is not None

    def fit(self, images: Tensor, max_patches: int = 200_000, seed: int = 0) -> PCACodec:
        """Fit mean and basis on images (N,3,H,W) float32 in [0,1]; deterministic for a seed.

        At most `max_patches` patches (drawn without replacement by `seed`) enter the
        covariance, which is computed in float64 and diagonalised with torch.linalg.eigh.
        The sign of each component is fixed so that its largest-magnitude entry is positive.
        """
        check_rgb(images, self.factor, caller="fit")
        with torch.no_grad():  # not inference_mode: the fitted tensors may meet autograd later
            patches = F.pixel_unshuffle(images, self.factor)  # (N,D,h,w)
            patches = patches.permute(0, 2, 3, 1).reshape(-1, 3 * self.factor**2)  # (M,D)
            if patches.shape[0] > max_patches:
                gen = torch.Generator().manual_seed(seed)
                keep = torch.randperm(patches.shape[0], generator=gen)[:max_patches]
                patches = patches.index_select(0, keep.to(patches.device))
            if patches.shape[0] < 2:
                raise ValueError(f"fit needs at least 2 patches, got {patches.shape[0]}")
            x = patches.to(torch.float64)
            mean = x.mean(dim=0)
            centred = x - mean
            cov = centred.T @ centred / (x.shape[0] - 1)  # (D,D)
            values, vectors = torch.linalg.eigh(cov)  # ascending
            top = vectors[:, -self.channels :].flip(1).T  # (C,D), largest variance first
            peak = top.abs().argmax(dim=1, keepdim=True)
            top = top * torch.sign(top.gather(1, peak))
            self.mean = mean.to(torch.float32).cpu()
            self.basis = top.to(torch.float32).contiguous().cpu()
            self.eigenvalues = values[-self.channels :].flip(0).clamp(min=0).to(torch.float32).cpu()
        return self

    def encode(self, rgb: Tensor) -> Tensor:
        """rgb (B,3,H,W) float32 in [0,1] -> PCA coefficients (B,C,H/f,W/f) float32."""
        check_rgb(rgb, self.factor, caller="encode")
        mean, basis = self._params(rgb.device)
        with torch.inference_mode():
            patches = F.pixel_unshuffle(rgb, self.factor)  # (B,D,h,w)
            centred = patches - mean[:, None, None]
            return torch.einsum("cd,bdhw->bchw", basis, centred)

    def decode(self, latent: Tensor) -> Tensor:
        """PCA coefficients (B,C,h,w) float32 -> rgb (B,3,h*f,w*f) float32 clamped to [0,1]."""
        check_latent(latent, self.channels, caller="decode")
        mean, basis = self._params(latent.device)
        with torch.inference_mode():
            patches = torch.einsum("cd,bchw->bdhw", basis, latent) + mean[:, None, None]
            return F.pixel_shuffle(patches, self.factor).clamp_(0.0, 1.0)

    def save(self, path: str | os.PathLike) -> None:
        """Write mean, basis and eigenvalues to a safetensors file (factor etc. as metadata)."""
        from safetensors.torch import save_file

        mean, basis = self._params(torch.device("cpu"))
        meta = {"name": self.name, "factor": str(self.factor), "channels": str(self.channels)}
        save_file(
            {
                "mean": mean.contiguous(),
                "basis": basis.contiguous(),
                "eigenvalues": self.eigenvalues.contiguous(),
            },
            os.fspath(path),
            metadata=meta,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> PCACodec:
        """Read a file written by `save`; ValueError if it is not a valid PCA codec file."""
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
        if meta.get("name") != cls.name or not {"mean", "basis", "eigenvalues"} <= set(tensors):
            raise ValueError(
                f"{os.fspath(path)} is not a PCACodec file (metadata {meta}, "
                f"tensors {sorted(tensors)})"
            )
        codec = cls(factor=int(meta["factor"]), channels=int(meta["channels"]))
        dim = 3 * codec.factor**2
        expected = {
            "mean": (dim,),
            "basis": (codec.channels, dim),
            "eigenvalues": (codec.channels,),
        }
        for key, shape in expected.items():
            tensor = tensors[key]
            if tuple(tensor.shape) != shape or tensor.dtype != torch.float32:
                raise ValueError(
                    f"{os.fspath(path)}: {key} must be float32 of shape {shape}, "
                    f"got {tensor.dtype} {tuple(tensor.shape)}"
                )
        codec.mean, codec.basis, codec.eigenvalues = (tensors[k] for k in expected)
        return codec

    def _params(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.basis is None:
            raise RuntimeError("PCACodec is not fitted: call fit(images) or PCACodec.load(path)")
        return self.mean.to(device), self.basis.to(device)


# --------------------------------------------------------------------------- TAESD codec


# The TAESD architecture: diffusers' AutoencoderTiny defaults, and a tiny variant for tests.
TAESD_CONFIG = dict(
    encoder_block_out_channels=(64, 64, 64, 64),
    decoder_block_out_channels=(64, 64, 64, 64),
    num_encoder_blocks=(1, 3, 3, 3),
    num_decoder_blocks=(3, 3, 3, 1),
)
TINY_CONFIG = dict(
    encoder_block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8),
    num_encoder_blocks=(1, 1, 1, 1),
    num_decoder_blocks=(1, 1, 1, 1),
)


class TAESDCodec:
    """diffusers `AutoencoderTiny` as a Codec: fp32, eval mode, channels_last.

    Value ranges (as read in diffusers 0.42, models/autoencoders/vae.py and autoencoder_tiny.py):
    - `EncoderTiny.forward` takes images in [-1, 1] and maps them back to [0, 1] (TAESD's own
      convention) before its first conv. So encode passes `2 * rgb - 1`, which the encoder
      turns back into rgb exactly (up to rounding).
    - The latent is the encoder's raw output, not `scale_latents`: latent_magnitude and
      latent_shift only map it to [0, 1] for 8-bit storage (AutoencoderTiny.forward), and
      scaling_factor (1.0 for TAESD) belongs to diffusion pipelines. Neither is applied.
    - `DecoderTiny.forward` soft-clamps the latent (3 tanh(z / 3)) and returns images in
      [-1, 1] (2 x - 1 of its last conv); decode returns `(x + 1) / 2` clamped to [0, 1].
    """

    name = "taesd"

    def __init__(self, model: AutoencoderTiny) -> None:
        config = model.config
        enc_factor = 2 ** (len(config.num_encoder_blocks) - 1)
        dec_factor = config.upsampling_scaling_factor ** (len(config.num_decoder_blocks) - 1)
        if enc_factor != dec_factor or config.in_channels != 3 or config.out_channels != 3:
            raise ValueError(
                f"unsupported AutoencoderTiny config: encoder factor {enc_factor}, "
                f"decoder factor {dec_factor}, in/out channels "
                f"{config.in_channels}/{config.out_channels}"
            )
        if any(p.dtype != torch.float32 for p in model.parameters()):
            model = model.to(torch.float32)
        self.model = model.to(memory_format=torch.channels_last).eval()
        self.factor = enc_factor
        self.channels = int(config.latent_channels)

    @classmethod
    def random(cls, latent_channels: int = 4, seed: int = 0, tiny: bool = False) -> TAESDCodec:
        """TAESD architecture (or its tiny test variant) with seeded random weights.

        The global RNG is used inside torch.random.fork_rng, so callers' RNG state is kept.
        """
        AutoencoderTiny = _autoencoder_tiny()
        config = TINY_CONFIG if tiny else TAESD_CONFIG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoencoderTiny(latent_channels=latent_channels, **config)
        return cls(model)

    @classmethod
    def from_pretrained(
        cls, path_or_id: str | os.PathLike, local_files_only: bool = True, **kwargs
    ) -> TAESDCodec:
        """Load real weights (a folder from save_pretrained, or a Hub id such as
        "madebyollin/taesd" already in the cache); no download unless local_files_only=False."""
        AutoencoderTiny = _autoencoder_tiny()
        model = AutoencoderTiny.from_pretrained(
            os.fspath(path_or_id),
            local_files_only=local_files_only,
            torch_dtype=torch.float32,
            **kwargs,
        )
        return cls(model)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json + weights in diffusers' format (loadable by from_pretrained)."""
        self.model.save_pretrained(os.fspath(path))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, rgb: Tensor) -> Tensor:
        """rgb (B,3,H,W) float32 in [0,1] -> raw TAESD latent (B,C,H/8,W/8) float32."""
        check_rgb(rgb, self.factor, caller="encode")
        with torch.inference_mode():
            x = (rgb.to(self.device) * 2.0 - 1.0).contiguous(memory_format=torch.channels_last)
            latent = self.model.encode(x).latents
            return latent.contiguous()

    def decode(self, latent: Tensor) -> Tensor:
        """raw TAESD latent (B,C,h,w) float32 -> rgb (B,3,8h,8w) float32 in [0,1]."""
        check_latent(latent, self.channels, caller="decode")
        with torch.inference_mode():
            z = latent.to(self.device).contiguous(memory_format=torch.channels_last)
            image = self.model.decode(z).sample
            return ((image + 1.0) * 0.5).clamp_(0.0, 1.0).contiguous()

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        return f"TAESDCodec(factor={self.factor}, channels={self.channels}, params={n_params})"


def _autoencoder_tiny():
    """diffusers.AutoencoderTiny, imported on first use (importing diffusers takes seconds)."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny
