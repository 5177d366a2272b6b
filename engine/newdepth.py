"""Depth for the new tokens of a decoded frame: the depth backend run on the frame, its scale
aligned to the tokens the memory already knows.

A segment-level generator decodes whole frames, so the depth backend can look at the new
content itself instead of guessing it from the known region and the layout
(engine.world.layout_depth). `estimated_depth` does that:

    estimate = estimator.estimate(rgb)                 depth (H, W) and sky (H, W) or None
    e = pool_depth(estimate, factor)                   to the token grid as World.seed does:
                                                       the median of each token's pixels,
                                                       +inf where all of them are sky
    s = exp(median over known finite tokens of log(depth / e))      scale only, in log depth
    out = depth where known; +inf where e is sky; s * e elsewhere

Scale only: a monocular estimate is relative (an embedded prior's metres are a guess, a
relative network's are arbitrary), and one factor is what survives between two views of one
scene; a shift or an exponent fitted on the known tokens would bend the new ones (the holes
lie outside the range the fit saw). The median of the log ratios is the median of the ratios
(the log is monotone), robust to the known tokens the estimator gets wrong, up to half of
them.

With fewer than `min_known` known tokens of finite depth where the estimate is finite too,
there is nothing to align to: `estimated_depth` returns None, and the caller keeps its own
depth for the holes (layout_depth): the choice of a fallback is the caller's. It returns
None too, when asked to (`max_misfit`), if one scale does not fit the known tokens: the
median of |log(depth / (s estimate))| over them, as a factor exp(.) - 1 (`scale_misfit`),
is above max_misfit. An estimate whose shape disagrees with what the memory knows is no
better where it cannot be checked (scripts/new_token_depth.py: misfit 0.04-0.06 on the
synthetic scenes, where the embedded estimate beats the layout, 0.27-0.36 on the
Middlebury motorcycle, where it is worse than the layout).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.memory.latent import pool_depth

MIN_KNOWN = 16
"""Known tokens (finite depth, finite estimate) needed to align the estimate's scale."""


def estimate_tokens(rgb: Tensor, estimator, factor: int) -> Tensor:
    """The depth backend's estimate of rgb (3, H, W) in [0, 1] on the token grid (H/f, W/f):
    the median of each token's pixels (engine.memory.latent.pool_depth), +inf where all of a
    token's pixels are sky (the estimate's sky mask), 0 where it has no valid pixel."""
    if rgb.ndim != 3 or rgb.shape[0] != 3 or rgb.shape[1] % factor or rgb.shape[2] % factor:
        raise ValueError(
            f"estimate_tokens expects rgb (3, H, W) with H and W multiples of {factor}, "
            f"got {tuple(rgb.shape)}"
        )
    result = estimator.estimate(rgb.float().contiguous())
    depth = result.depth.float()
    if result.sky is not None:
        depth = torch.where(result.sky, math.inf, depth)
    return pool_depth(torch.where(torch.isnan(depth), 0.0, depth), factor)


def align_scale(estimate: Tensor, depth: Tensor, known: Tensor, min_known: int = MIN_KNOWN):
    """The factor s that brings estimate (h, w) to depth (h, w) on the known tokens:
    exp(median of log(depth / estimate)) over known tokens where both are finite and > 0;
    None when fewer than min_known such tokens exist."""
    both = known & torch.isfinite(depth) & (depth > 0) & torch.isfinite(estimate) & (estimate > 0)
    if int(both.sum()) < max(1, min_known):
        return None
    log_ratio = torch.log(depth[both].double()) - torch.log(estimate[both].double())
    return float(torch.exp(log_ratio.median()))


def scale_misfit(estimate: Tensor, depth: Tensor, known: Tensor, scale: float) -> float:
    """How far the known tokens are from scale x estimate: the median over the known tokens
    where both are finite and > 0 of |log(depth / (scale estimate))|, as a relative factor
    exp(.) - 1 (0: one scale fits them all; 0.1: half of them within 10%). NaN when there
    is no such token."""
    both = known & torch.isfinite(depth) & (depth > 0) & torch.isfinite(estimate) & (estimate > 0)
    if not bool(both.any()):
        return math.nan
    r = torch.log(depth[both].double()) - torch.log(scale * estimate[both].double())
    return float(torch.exp(r.abs().median()) - 1)


def estimated_depth(
    rgb: Tensor,
    depth: Tensor,
    known: Tensor,
    estimator,
    factor: int,
    min_known: int = MIN_KNOWN,
    max_misfit: float | None = None,
) -> Tensor | None:
    """Depth (h, w) of a decoded frame rgb (3, h f, w f) in [0, 1] whose tokens `known` (h, w)
    bool have `depth` (h, w) (camera-frame z; 0 unknown, +inf sky): known tokens keep their
    depth; the others take the estimator's depth (estimate_tokens) times the scale that
    matches it to the known tokens (align_scale), +inf where the estimator sees sky, 0 where
    it has no value. Returns None when fewer than min_known known tokens can be aligned to,
    or when max_misfit is given and scale_misfit is above it (see the module docstring):
    the caller falls back to its own depth."""
    h, w = depth.shape
    if tuple(known.shape) != (h, w):
        raise ValueError(
            f"estimated_depth expects depth and known of one shape, got {(h, w)} and "
            f"{tuple(known.shape)}"
        )
    if rgb.ndim != 3 or tuple(rgb.shape) != (3, h * factor, w * factor):
        raise ValueError(
            f"estimated_depth expects rgb (3, {h * factor}, {w * factor}) for tokens {(h, w)} "
            f"at factor {factor}, got {tuple(rgb.shape)}"
        )
    estimate = estimate_tokens(rgb, estimator, factor)
    scale = align_scale(estimate, depth, known, min_known)
    if scale is None:
        return None
    if max_misfit is not None and not scale_misfit(estimate, depth, known, scale) <= max_misfit:
        return None
    new = torch.where(torch.isinf(estimate), math.inf, estimate * scale)
    return torch.where(known, depth.float(), new.float())
