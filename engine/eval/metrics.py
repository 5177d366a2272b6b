"""Image metrics of the evaluation: PSNR, SSIM (over a mask or the whole frame), blockiness.

Images are (3, H, W) float in [0, 1]; masks (H, W) bool. A metric over an empty mask is NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

TOKEN = 8
"""Side of a latent token in pixels: the grid the blockiness score looks at."""

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # (K1 L)^2, (K2 L)^2 with data range L = 1

LUMA = (0.299, 0.587, 0.114)


def _check(a: Tensor, b: Tensor, mask: Tensor | None) -> None:
    if a.ndim != 3 or a.shape[0] != 3 or a.shape != b.shape:
        raise ValueError(
            f"expected two images (3, H, W) of one size, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if mask is not None and tuple(mask.shape) != tuple(a.shape[1:]):
        raise ValueError(f"mask must be (H, W) = {tuple(a.shape[1:])}, got {tuple(mask.shape)}")


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> float:
    """10 log10(1 / MSE) in dB over the pixels where mask (all three channels); inf when
    equal, NaN over an empty mask."""
    _check(a, b, mask)
    err = (a.double() - b.double()) ** 2
    if mask is not None:
        if not bool(mask.any()):
            return math.nan
        err = err[:, mask]
    mse = float(err.mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _gaussian() -> Tensor:
    """(11,) float32 normalised Gaussian taps, sigma 1.5."""
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).float()


def ssim_map(a: Tensor, b: Tensor) -> Tensor:
    """(H, W) SSIM of two images (3, H, W), the mean of the channels' maps (Gaussian window
    11 x 11, sigma 1.5, K1 0.01, K2 0.03, range 1; the borders reflected)."""
    _check(a, b, None)
    pad = SSIM_WINDOW // 2
    g = _gaussian()
    across, down = g.reshape(1, 1, 1, -1), g.reshape(1, 1, -1, 1)

    def blur(x: Tensor) -> Tensor:  # the 2-D Gaussian as two 1-D passes
        x = F.pad(x[:, None], (pad, pad, pad, pad), mode="reflect")
        return F.conv2d(F.conv2d(x, across), down)[:, 0]

    a, b = a.float(), b.float()
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    # SSIM = (2 mu_a mu_b + C1)(2 cov + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return (num / den).mean(0)


def ssim(a: Tensor, b: Tensor, mask: Tensor | None = None) -> float:
    """Mean of ssim_map over the pixels where mask (NaN over an empty mask)."""
    _check(a, b, mask)
    return masked_mean(ssim_map(a, b), mask)


def masked_mean(values: Tensor, mask: Tensor | None = None) -> float:
    """Mean of a map (H, W) over the pixels where mask (all when None; NaN when empty)."""
    if mask is not None:
        if not bool(mask.any()):
            return math.nan
        values = values[mask]
    return float(values.double().mean())


def luma(rgb: Tensor) -> Tensor:
    """(H, W) float64 luma of an image (3, H, W) (LUMA weights)."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"expected an image (3, H, W), got {tuple(rgb.shape)}")
    return torch.einsum("c,chw->hw", torch.tensor(LUMA, dtype=torch.float64), rgb.double())


def blockiness(rgb: Tensor, token: int = TOKEN) -> float:
    """Mean absolute luma jump across the token grid (between columns tk - 1 and tk, rows
    likewise) over the mean absolute jump between the other neighbouring columns and rows.
    About 1 for a photo; above 1 when the picture breaks up along the tokens."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"blockiness expects an image (3, H, W), got {tuple(rgb.shape)}")
    y = luma(rgb)
    dx = (y[:, 1:] - y[:, :-1]).abs()  # column j: the jump between columns j and j + 1
    dy = (y[1:] - y[:-1]).abs()
    on_x = (torch.arange(dx.shape[1]) + 1) % token == 0
    on_y = (torch.arange(dy.shape[0]) + 1) % token == 0
    grid = torch.cat([dx[:, on_x].reshape(-1), dy[on_y].reshape(-1)])
    other = torch.cat([dx[:, ~on_x].reshape(-1), dy[~on_y].reshape(-1)])
    if grid.numel() == 0 or other.numel() == 0:
        return math.nan
    off = float(other.mean())
    on = float(grid.mean())
    if off == 0:
        return 1.0 if on == 0 else math.inf
    return on / off
