"""What every depth backend shares: the result, the protocol, the file error, the input check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor


@dataclass
class DepthResult:
    """One depth estimate, at the resolution of the rgb it was made from."""

    depth: Tensor  # (H, W) float32 camera-frame z; > 0 and finite except at sky / unknown
    sky: Tensor | None  # (H, W) bool, True on sky; None when the estimator gives no sky mask
    notes: list[str] = field(default_factory=list)  # what was assumed, clamped or filled


@runtime_checkable
class DepthEstimator(Protocol):
    """rgb -> depth for one photo."""

    name: str

    def estimate(self, rgb: Tensor) -> DepthResult:
        """rgb (3, H, W) float32 in [0, 1] -> DepthResult with depth of shape (H, W)."""
        ...


class DepthFileError(ValueError):
    """A depth file cannot be used; the message names the file and the reason."""


# --------------------------------------------------------------------------- input checks


def check_rgb_image(rgb: Any, caller: str = "estimate") -> Tensor:
    """Return rgb as a float32 (3, H, W) CPU-or-device tensor; ValueError if it is not one."""
    if isinstance(rgb, np.ndarray):
        rgb = torch.from_numpy(rgb)
    if not isinstance(rgb, Tensor):
        raise ValueError(f"{caller} expects a torch.Tensor, got {type(rgb).__name__}")
    shape = tuple(rgb.shape)
    if rgb.ndim != 3 or shape[0] != 3 or shape[1] < 2 or shape[2] < 2:
        raise ValueError(f"{caller} expects rgb of shape (3, H, W) with H, W >= 2, got {shape}")
    if rgb.dtype != torch.float32:
        raise ValueError(f"{caller} expects float32 rgb in [0, 1], got {rgb.dtype}")
    if not bool(torch.isfinite(rgb).all()):
        raise ValueError(f"{caller} expects finite rgb values, got NaN or inf")
    return rgb
