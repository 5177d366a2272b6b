"""TransformersDepth: a transformers depth-estimation model from a local folder or the
Hugging Face cache."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.depth.base import DepthResult, check_rgb_image

# --------------------------------------------------------------------------- transformers


METRIC_MODEL_TYPES = frozenset({"zoedepth", "glpn", "depth_pro"})
"""transformers model types whose output is metric depth (Depth Anything says so in its
config: depth_estimation_type = "metric")."""


class TransformersDepth:
    """A transformers depth-estimation model (AutoModelForDepthEstimation), e.g. Depth
    Anything V2, loaded from a local folder or the Hugging Face cache; no download unless
    local_files_only=False (HF_HUB_OFFLINE=1 forbids it in any case).

    Preprocessing follows the model's preprocessor_config.json, done in torch on the float
    rgb (no PIL round trip): resize as DPTImageProcessor does (`size`, `keep_aspect_ratio`,
    `ensure_multiple_of`; bicubic, antialiased), normalise by image_mean / image_std, pad
    to `size_divisor` when do_pad. The prediction is resized back (bilinear) to (H, W).

    Relative models (Depth Anything's default) predict an affine-invariant inverse depth
    ("disparity" d, larger = nearer) whose shift is unknown. The policy, with b = 0:

        d_hi = max(d),  d' = clamp(d, d_hi / max_ratio, d_hi),  depth = k / d'

    with k chosen so that the median depth is `median_depth` (scene units). So far <=
    max_ratio x near, the sky and anything at d <= 0 land on the far clamp, and the result
    is finite and > 0 everywhere. An output with no d > 0 gives the constant median_depth,
    with a note. Metric models (config depth_estimation_type == "metric", or a type in
    METRIC_MODEL_TYPES; `metric=` overrides) are used as depth directly; values <= 0 or
    non-finite become 0 (unknown). Sky: None (not estimated here).
    """

    name = "transformers"

    def __init__(
        self,
        path_or_id: str | os.PathLike,
        local_files_only: bool = True,
        device: str | torch.device = "cpu",
        median_depth: float = 3.0,
        max_ratio: float = 50.0,
        metric: bool | None = None,
    ) -> None:
        if not (math.isfinite(median_depth) and median_depth > 0):
            raise ValueError(f"median_depth must be finite and > 0, got {median_depth}")
        if not (math.isfinite(max_ratio) and max_ratio > 1):
            raise ValueError(f"max_ratio must be finite and > 1, got {max_ratio}")
        self.source = os.fspath(path_or_id)
        self.median_depth = float(median_depth)
        self.max_ratio = float(max_ratio)
        self.device = torch.device(device)
        self.model, self.preprocess = _load_depth_model(self.source, local_files_only)
        self.model = self.model.to(self.device, dtype=torch.float32).eval()
        config = self.model.config
        if metric is None:
            metric = (
                getattr(config, "depth_estimation_type", None) == "metric"
                or config.model_type in METRIC_MODEL_TYPES
            )
        self.metric = bool(metric)

    def estimate(self, rgb: Tensor) -> DepthResult:
        rgb = check_rgb_image(rgb, caller="TransformersDepth.estimate")
        _, height, width = rgb.shape
        with torch.inference_mode():
            pixels, crop = _prepare(rgb.to(self.device), self.preprocess)
            out = self.model(pixel_values=pixels).predicted_depth
            out = out.reshape(1, 1, *out.shape[-2:]).float()
            out = out[..., : crop[0], : crop[1]]
            pred = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
            pred = pred[0, 0].to("cpu", torch.float64)
        notes = [f"{self.model.config.model_type} model from {self.source}"]
        if self.metric:
            valid = torch.isfinite(pred) & (pred > 0)
            if not bool(valid.all()):
                notes.append(f"{int((~valid).sum())} pixels without a metric depth > 0 (set 0)")
            depth = torch.where(valid, pred, 0.0)
            notes.append("metric depth used as is")
        else:
            depth = self._from_disparity(pred, notes)
        return DepthResult(depth=depth.to(torch.float32), sky=None, notes=notes)

    def _from_disparity(self, disp: Tensor, notes: list[str]) -> Tensor:
        """Relative inverse depth (H, W) float64 -> depth by the policy of the class doc."""
        finite = torch.isfinite(disp)
        if not bool(finite.all()):
            notes.append(f"{int((~finite).sum())} non-finite outputs treated as far")
            disp = torch.where(finite, disp, 0.0)
        d_hi = float(disp.max())
        if d_hi <= 0:
            notes.append("the model gave no positive disparity; depth set to median_depth")
            return torch.full_like(disp, self.median_depth)
        clamped = disp.clamp(min=d_hi / self.max_ratio, max=d_hi)
        depth = 1.0 / clamped
        depth = depth * (self.median_depth / float(depth.median()))
        n_far = int((disp < d_hi / self.max_ratio).sum())
        notes.append(
            f"relative disparity -> depth: median {self.median_depth:g}, "
            f"far <= {self.max_ratio:g} x near ({n_far} pixels at the far clamp)"
        )
        return depth


def _load_depth_model(source: str, local_files_only: bool):
    """(model, preprocessor config dict), or FileNotFoundError saying what to download."""
    from transformers import AutoModelForDepthEstimation
    from transformers.image_processing_base import ImageProcessingMixin

    path = Path(source).expanduser()
    looks_local = path.exists() or path.is_absolute() or source.startswith((".", "~"))
    looks_local = looks_local or source.count("/") > 1 or os.sep != "/" and os.sep in source
    if looks_local:
        if not path.is_dir():
            raise FileNotFoundError(
                f"depth model folder {path} does not exist: download a depth model once "
                "(e.g. `hf download depth-anything/Depth-Anything-V2-Small-hf --local-dir "
                f"{path}`) and give that folder"
            )
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"depth model folder {path} has no config.json: it must hold what "
                "save_pretrained writes (config.json, model.safetensors, "
                "preprocessor_config.json)"
            )
        source = os.fspath(path)
    try:
        model = AutoModelForDepthEstimation.from_pretrained(
            source, local_files_only=local_files_only
        )
        preprocess, _ = ImageProcessingMixin.get_image_processor_dict(
            source, local_files_only=local_files_only
        )
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "")
        raise FileNotFoundError(
            f"depth model {source!r} is neither a local folder nor in the Hugging Face cache "
            f"(local_files_only={local_files_only}, HF_HUB_OFFLINE={offline or 'unset'}). "
            f"Download it once on a machine with network, e.g. `hf download {source} "
            "--local-dir models/depth` and pass that folder, or run once with "
            f"local_files_only=False. ({error})"
        ) from None
    return model, preprocess


def _prepare(rgb: Tensor, config: dict) -> tuple[Tensor, tuple[int, int]]:
    """rgb (3, H, W) in [0, 1] -> pixel_values (1, 3, h, w) and the (h, w) before padding."""
    x = rgb[None].float()
    height, width = rgb.shape[1:]
    multiple = int(config.get("ensure_multiple_of") or 1)
    size = config.get("size") or {}
    if config.get("do_resize", True) and "height" in size and "width" in size:
        out_h, out_w = _dpt_output_size(
            (height, width),
            (int(size["height"]), int(size["width"])),
            bool(config.get("keep_aspect_ratio", False)),
            multiple,
        )
    else:  # no target size: keep the input size, on the model's multiple
        out_h = max(multiple, round(height / multiple) * multiple)
        out_w = max(multiple, round(width / multiple) * multiple)
    if (out_h, out_w) != (height, width):
        mode = "bicubic" if config.get("resample", 3) == 3 else "bilinear"
        x = F.interpolate(x, size=(out_h, out_w), mode=mode, align_corners=False, antialias=True)
        x = x.clamp(0.0, 1.0)
    if config.get("do_normalize", False):
        mean = torch.tensor(config.get("image_mean", (0.5, 0.5, 0.5)), dtype=x.dtype)
        std = torch.tensor(config.get("image_std", (0.5, 0.5, 0.5)), dtype=x.dtype)
        x = (x - mean.to(x.device)[:, None, None]) / std.to(x.device)[:, None, None]
    divisor = int(config.get("size_divisor") or 1)
    if config.get("do_pad", False) and divisor > 1:
        pad_h, pad_w = (-out_h) % divisor, (-out_w) % divisor
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x.contiguous(), (out_h, out_w)


def _dpt_output_size(
    size: tuple[int, int], target: tuple[int, int], keep_aspect_ratio: bool, multiple: int
) -> tuple[int, int]:
    """DPTImageProcessor's resize rule (transformers, get_resize_output_image_size)."""
    scale_h, scale_w = target[0] / size[0], target[1] / size[1]
    if keep_aspect_ratio:  # scale as little as possible
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def constrain(value: float) -> int:
        return max(multiple, round(value / multiple) * multiple)

    return constrain(scale_h * size[0]), constrain(scale_w * size[1])
