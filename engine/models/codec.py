"""Image codecs: RGB (B,3,H,W) in [0,1] <-> latent (B,C,H/f,W/f).

The `Codec` protocol is what the memory, the generator and the benchmarks see. The
implementations here:

- `PCACodec`: a linear patch codec (each f x f x 3 patch -> C PCA coefficients). It is the
  linear baseline a trained codec is compared with, and needs nothing but torch.
- `DiffusersCodec`: a diffusers VAE (AutoencoderKL, AutoencoderTiny, the Wan video VAE)
  from a local folder or the Hugging Face cache, with the latent normalised the way the
  diffusion pipelines normalise it, so a generator can use the latent as it is.
- `TAESDCodec`: the DiffusersCodec of diffusers' `AutoencoderTiny` (the TAESD
  architecture), which can also be randomly initialised by seed. Until a trained codec
  exists, the random full-size model is the "TAESD-size encode" cost model of the
  RGB-memory baseline.

All run under torch.inference_mode and check their inputs at the boundary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from diffusers import AutoencoderTiny, ModelMixin


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
        assert self.eigenvalues is not None  # fitted with mean and basis
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


# --------------------------------------------------------------------------- diffusers VAEs

# config.json's `_class_name` -> our kind.
VAE_KINDS = {"AutoencoderKL": "kl", "AutoencoderTiny": "tiny", "AutoencoderKLWan": "wan"}
_TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub accepts as a true env variable


class DiffusersCodec:
    """A diffusers VAE as a Codec: AutoencoderKL, AutoencoderTiny or AutoencoderKLWan.

    encode takes rgb in [0, 1], gives the model `2 rgb - 1` and returns the latent in the
    space the diffusion pipelines use, `latent = (raw - offset) * gain` per channel;
    decode inverts it (`raw = latent / gain + offset`), decodes and maps back to [0, 1].
    The conventions, as read in diffusers 0.42:

    - kl (AutoencoderKL): raw is the posterior mean (`latent_dist.mean`, deterministic).
      offset = shift_factor (None -> 0), gain = scaling_factor: the SD / SD3 / Flux pipelines
      (stable_diffusion_3/pipeline_stable_diffusion_3_img2img.py: `(x - shift_factor) *
      scaling_factor`, inverse before vae.decode). A config with latents_mean / latents_std
      is normalised as SDXL does (stable_diffusion_xl/pipeline_stable_diffusion_xl_img2img.py:
      `(x - latents_mean) * scaling_factor / latents_std`): offset = latents_mean,
      gain = scaling_factor / latents_std.
    - tiny (AutoencoderTiny): raw is `encode(x).latents`; the encoder maps its [-1, 1] input
      back to [0, 1] itself (vae.py, EncoderTiny.forward: `x.add(1).div(2)`) and the decoder
      returns [-1, 1] (DecoderTiny.forward: `x.mul(2).sub(1)`). latent_magnitude /
      latent_shift (scale_latents, for 8-bit storage) are not applied; offset = shift_factor,
      gain = scaling_factor as for kl, which the pipelines apply to a tiny VAE just the same.
      Both are 0 and 1 for TAESD / TAESDXL, so the latent is the raw encoder output.
    - wan (AutoencoderKLWan, a video VAE on (B, C, T, H, W)): an image is a T=1 video (the
      first frame is encoded and decoded on its own: autoencoder_kl_wan.py `_encode` /
      `_decode`), raw is the posterior mode (`retrieve_latents(..., sample_mode="argmax")`),
      offset = latents_mean, gain = 1 / latents_std: wan/pipeline_wan_i2v.py and
      pipeline_wan_vace.py encode `(x - latents_mean) * (1 / latents_std)`, and
      pipeline_wan.py decodes `latents / (1 / latents_std) + latents_mean`.

    factor: 2 ** (len(block_out_channels) - 1) for kl, the encoder's downsampling for tiny,
    config.scale_factor_spatial for wan (checked against the architecture). The model runs in
    its own dtype; encode / decode take and return float32.
    """

    def __init__(self, model: ModelMixin, name: str = "diffusers") -> None:
        class_name = type(model).__name__
        if class_name not in VAE_KINDS:
            raise ValueError(f"unsupported VAE class {class_name}; supported: {sorted(VAE_KINDS)}")
        self.kind = VAE_KINDS[class_name]
        config = model.config
        # Wan2.2's VAE patchifies 2x2 pixels first: it takes 3 * patch_size**2 channels
        rgb_channels = 3 * (config.get("patch_size") or 1) ** 2 if self.kind == "wan" else 3
        if config.get("in_channels", 3) != rgb_channels or config.get("out_channels", 3) != (
            rgb_channels
        ):
            raise ValueError(
                f"{class_name} must map {rgb_channels} channels to {rgb_channels} (RGB), got "
                f"in/out channels {config.get('in_channels')}/{config.get('out_channels')}"
            )
        self.name = name
        self.factor = _vae_factor(self.kind, config)
        self.channels = int(config.z_dim if self.kind == "wan" else config.latent_channels)
        # a video VAE's frames per latent frame after the first (None: an image codec)
        self.temporal_factor: int | None = (
            2 ** sum(config.temperal_downsample) if self.kind == "wan" else None
        )
        offset, gain = _latent_normalisation(self.kind, config, self.channels)
        if self.kind != "wan":
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()
        self.offset = offset  # (C,) float32, latent = (raw - offset) * gain
        self.gain = gain  # (C,) float32

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        kind: str = "auto",
        subfolder: str | None = None,
        local_files_only: bool | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
    ) -> DiffusersCodec:
        """Load a VAE from a local folder (save_pretrained layout) or a Hub id in the cache.

        kind: "auto" reads `_class_name` from config.json; "kl", "tiny" or "wan" insist on one.
        subfolder: None looks in the folder itself, then in its "vae" subfolder (the layout
        of a whole pipeline repository). local_files_only: None means True when
        HF_HUB_OFFLINE is set or path_or_id is an existing folder, else False (a Hub id not
        in the cache is then downloaded). FileNotFoundError, saying what to download, when
        the weights are not there.
        """
        model = load_vae(path_or_id, kind, subfolder, local_files_only, dtype)
        if device is not None:
            model = model.to(device)
        return cls(model, name=f"diffusers:{os.fspath(path_or_id)}")

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json + weights in diffusers' format (loadable by from_pretrained)."""
        self.model.save_pretrained(os.fspath(path))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def encode(self, rgb: Tensor) -> Tensor:
        """rgb (B,3,H,W) float32 in [0,1] -> normalised latent (B,C,H/f,W/f) float32."""
        check_rgb(rgb, self.factor, caller="encode")
        with torch.inference_mode():
            x = (rgb.to(self.device) * 2.0 - 1.0).to(self.dtype)
            if self.kind == "wan":
                raw = self.model.encode(x[:, :, None]).latent_dist.mode()[:, :, 0]
            elif self.kind == "kl":
                x = x.contiguous(memory_format=torch.channels_last)
                raw = self.model.encode(x).latent_dist.mean
            else:
                x = x.contiguous(memory_format=torch.channels_last)
                raw = self.model.encode(x).latents
            offset, gain = self._normalisation(raw.device)
            return ((raw.float() - offset) * gain).contiguous()

    def decode(self, latent: Tensor) -> Tensor:
        """normalised latent (B,C,h,w) float32 -> rgb (B,3,h*f,w*f) float32 in [0,1]."""
        check_latent(latent, self.channels, caller="decode")
        with torch.inference_mode():
            offset, gain = self._normalisation(self.device)
            z = (latent.to(self.device) / gain + offset).to(self.dtype)
            if self.kind == "wan":
                image = self.model.decode(z[:, :, None]).sample[:, :, 0]
            else:
                image = self.model.decode(z.contiguous(memory_format=torch.channels_last)).sample
            return ((image.float() + 1.0) * 0.5).clamp_(0.0, 1.0).contiguous()

    def encode_video(self, rgb: Tensor) -> Tensor:
        """A video VAE's encode of frames rgb (N,3,H,W) float32 in [0,1], N = 1 + k *
        temporal_factor -> normalised latent frames (1 + k, C, H/f, W/f) float32: the first
        frame on its own, then one latent frame per temporal_factor frames (causal)."""
        tf = self._temporal("encode_video")
        check_rgb(rgb, self.factor, caller="encode_video")
        if (rgb.shape[0] - 1) % tf:
            raise ValueError(f"encode_video expects 1 + k * {tf} frames, got {rgb.shape[0]}")
        with torch.inference_mode():
            x = (rgb.to(self.device) * 2.0 - 1.0).to(self.dtype)
            raw = self.model.encode(x.permute(1, 0, 2, 3)[None]).latent_dist.mode()[0]
            offset, gain = self._normalisation(raw.device)
            return ((raw.float().permute(1, 0, 2, 3) - offset) * gain).contiguous()

    def decode_video(self, latent: Tensor) -> Tensor:
        """A video VAE's decode of latent frames (T,C,h,w) float32 -> frames
        (1 + (T - 1) * temporal_factor, 3, h*f, w*f) float32 in [0, 1], decoded together
        (each latent frame after the first stands for temporal_factor frames)."""
        self._temporal("decode_video")
        check_latent(latent, self.channels, caller="decode_video")
        with torch.inference_mode():
            offset, gain = self._normalisation(self.device)
            z = (latent.to(self.device) / gain + offset).to(self.dtype)
            video = self.model.decode(z.permute(1, 0, 2, 3)[None]).sample[0]
            return ((video.float().permute(1, 0, 2, 3) + 1.0) * 0.5).clamp_(0.0, 1.0).contiguous()

    def _temporal(self, caller: str) -> int:
        if self.temporal_factor is None:
            raise ValueError(
                f"{caller}: {type(self.model).__name__} is an image VAE, not a video one"
            )
        return self.temporal_factor

    def _normalisation(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """offset and gain as (C,1,1) on device."""
        return self.offset.to(device)[:, None, None], self.gain.to(device)[:, None, None]

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        return (
            f"{type(self).__name__}({self.name!r}, kind={self.kind}, factor={self.factor}, "
            f"channels={self.channels}, params={n_params})"
        )


def _vae_factor(kind: str, config) -> int:
    """Pixels per latent pixel along each axis, from the config; ValueError if inconsistent."""
    if kind == "kl":
        return 2 ** (len(config.block_out_channels) - 1)
    if kind == "tiny":
        enc_factor = 2 ** (len(config.num_encoder_blocks) - 1)
        dec_factor = config.upsampling_scaling_factor ** (len(config.num_decoder_blocks) - 1)
        if enc_factor != dec_factor:
            raise ValueError(
                f"unsupported AutoencoderTiny config: encoder factor {enc_factor}, "
                f"decoder factor {dec_factor}"
            )
        return enc_factor
    # wan: one 2x downsampling per dim_mult entry but the last, times the patchify step.
    built = 2 ** (len(config.dim_mult) - 1) * (config.get("patch_size") or 1)
    declared = config.get("scale_factor_spatial") or built
    if declared != built:
        raise ValueError(
            f"AutoencoderKLWan config says scale_factor_spatial={declared} but its "
            f"architecture downsamples by {built} (dim_mult {list(config.dim_mult)}, "
            f"patch_size {config.get('patch_size')})"
        )
    return int(declared)


def _latent_normalisation(kind: str, config, channels: int) -> tuple[Tensor, Tensor]:
    """(offset, gain), each (C,) float32, with latent = (raw - offset) * gain."""
    mean, std = config.get("latents_mean"), config.get("latents_std")
    if kind == "wan" or (kind == "kl" and mean is not None and std is not None):
        if mean is None or std is None or len(mean) != channels or len(std) != channels:
            raise ValueError(
                f"latents_mean / latents_std must hold {channels} values each, got "
                f"{None if mean is None else len(mean)} / {None if std is None else len(std)}"
            )
        offset = torch.tensor(mean, dtype=torch.float32)
        std = torch.tensor(std, dtype=torch.float32)
        gain = 1.0 / std if kind == "wan" else float(config.scaling_factor) / std
        return offset, gain
    shift = float(config.get("shift_factor") or 0.0)
    scaling = float(config.get("scaling_factor") or 1.0)
    return torch.full((channels,), shift), torch.full((channels,), scaling)


def load_vae(
    path_or_id: str | os.PathLike,
    kind: str = "auto",
    subfolder: str | None = None,
    local_files_only: bool | None = None,
    dtype: torch.dtype = torch.float32,
):
    """The diffusers model behind DiffusersCodec.from_pretrained (same arguments), in eval mode."""
    import diffusers

    if kind not in ("auto", *VAE_KINDS.values()):
        raise ValueError(f"kind must be 'auto', 'kl', 'tiny' or 'wan', got {kind!r}")
    source = os.fspath(path_or_id)
    folder = Path(source).expanduser()
    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE
    if folder.is_dir():
        source = str(folder)
        local_files_only = True if local_files_only is None else local_files_only
        if subfolder is None and not (folder / "config.json").is_file():
            if not (folder / "vae" / "config.json").is_file():
                raise FileNotFoundError(
                    f"{folder} holds no config.json (nor vae/config.json): it is not a "
                    f"diffusers VAE folder. {_download_hint('<repo-id>', folder)}"
                )
            subfolder = "vae"
    elif _looks_like_path(source):
        raise FileNotFoundError(
            f"VAE folder {folder} does not exist. {_download_hint('<repo-id>', folder)}"
        )
    elif local_files_only is None:
        local_files_only = offline

    config, subfolder = _load_vae_config(source, subfolder, local_files_only, offline)
    class_name = config.get("_class_name")
    if kind == "auto":
        if class_name not in VAE_KINDS:
            raise ValueError(
                f"{source}: config.json names class {class_name!r}; DiffusersCodec supports "
                f"{sorted(VAE_KINDS)} (pass kind= to force one)"
            )
        kind = VAE_KINDS[class_name]
    elif class_name in VAE_KINDS and VAE_KINDS[class_name] != kind:
        raise ValueError(f"{source}: kind={kind!r} asked for, but config.json names {class_name}")
    model_class = getattr(diffusers, {v: k for k, v in VAE_KINDS.items()}[kind])
    model = model_class.from_pretrained(
        source, subfolder=subfolder, local_files_only=local_files_only, torch_dtype=dtype
    )
    return model.eval()


def _load_vae_config(
    source: str, subfolder: str | None, local_files_only: bool, offline: bool
) -> tuple[dict, str | None]:
    """config.json of a VAE (trying subfolder "vae" when subfolder is None), and its subfolder."""
    from diffusers import AutoencoderKL  # any ConfigMixin class reads any config.json

    tries = [subfolder] if subfolder is not None else [None, "vae"]
    for sub in tries:
        try:
            config = AutoencoderKL.load_config(
                source, subfolder=sub, local_files_only=local_files_only
            )
            return config, sub
        except (OSError, ValueError) as e:
            error = e
    where = source if subfolder is None else f"{source} (subfolder {subfolder!r})"
    if offline:
        why = "HF_HUB_OFFLINE is set, so nothing is downloaded"
    elif local_files_only:
        why = "local_files_only=True, so nothing is downloaded"
    else:
        why = f"downloading failed: {error}"
    raise FileNotFoundError(
        f"diffusers VAE {where} is neither a local folder nor in the Hugging Face cache "
        f"({why}). {_download_hint(source, Path('models') / source.split('/')[-1])}"
    ) from error


def _download_hint(repo_id: str, folder: Path) -> str:
    return (
        f"Download it with `hf download {repo_id} --local-dir {folder}` (`huggingface-cli "
        "download` with an older huggingface_hub; add `--include 'vae/*'` for a whole "
        "pipeline repository) and pass that folder, or fill the Hugging Face cache with "
        f"`hf download {repo_id}` (HF_HOME sets where the cache is). With HF_HUB_OFFLINE=1 "
        "nothing is ever downloaded; unset it to let a Hub id download on first use."
    )


def _looks_like_path(text: str) -> bool:
    """True for what can only be a file system path, never a Hub id ("owner/name")."""
    return (
        not text
        or os.path.isabs(text)
        or text.startswith((".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or text.endswith("/")
    )


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


class TAESDCodec(DiffusersCodec):
    """diffusers `AutoencoderTiny` (the TAESD architecture) as a Codec, fp32.

    A DiffusersCodec of kind "tiny" (see there for the value ranges) that can also be built
    with random weights: until a trained codec exists, the random full-size model is the
    "TAESD-size encode" cost model of the RGB-memory baseline. For TAESD's own config
    (scaling_factor 1, shift_factor 0) the latent is the encoder's raw output.
    """

    def __init__(self, model: AutoencoderTiny) -> None:
        if any(p.dtype != torch.float32 for p in model.parameters()):
            model = model.to(torch.float32)
        super().__init__(model, name="taesd")
        if self.kind != "tiny":
            raise ValueError(f"TAESDCodec needs an AutoencoderTiny, got {type(model).__name__}")

    @classmethod
    def random(cls, latent_channels: int = 4, seed: int = 0, tiny: bool = False) -> TAESDCodec:
        """TAESD architecture (or its tiny test variant) with seeded random weights.

        The global RNG is used inside torch.random.fork_rng, so callers' RNG state is kept.
        """
        from diffusers import AutoencoderTiny

        config = TINY_CONFIG if tiny else TAESD_CONFIG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoencoderTiny(latent_channels=latent_channels, **config)
        return cls(model)

    # Not DiffusersCodec's signature (kind, dtype and device are fixed here, and
    # local_files_only comes second): a call through the base class's arguments misreads them.
    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        path_or_id: str | os.PathLike,
        local_files_only: bool = True,
        subfolder: str | None = None,
    ) -> TAESDCodec:
        """Load real weights (a folder from save_pretrained, or a Hub id such as
        "madebyollin/taesd" already in the cache); no download unless local_files_only=False."""
        return cls(load_vae(path_or_id, "tiny", subfolder, local_files_only, torch.float32))
