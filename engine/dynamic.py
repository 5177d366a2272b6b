"""Multi-frame consistency: which tokens of a generated segment may enter the memory.

A video generator may put moving things (people, cars) into a segment. Written to the
memory they would come back frozen, or leave a ghost trail of copies along their path. The
check below keeps a token only if the frames around it agree with it:

    for frame i and each other frame j within `window` frames of it:
        X   = unproject token p of frame i at its depth d_i(p)            (world point)
        q,z = project X into frame j                                      (latent pixel, depth)
        if q is outside frame j, or d_j(q) is unknown: no evidence, keep
        if z > (1 + depth_tolerance) d_j(q): X is hidden behind something in j, keep
        moved  = z < (1 - depth_tolerance) d_j(q)        (X is in front of what j sees:
                                                          the surface it was on is gone)
        differ = |latent_i(p) - latent_j(q)| > latent_tolerance x scale   (what j sees
                                                          there is something else)
        p is contradicted by j if moved or differ
    keep p unless some frame j contradicts it

`scale` is the median token norm over the segment, so the tolerance is relative to the
codec's latent range. Nearest-pixel reprojection of a static surface has a sub-token offset;
latent_tolerance (default 0.6) is set above what that offset costs on the synthetic street
(tests/engine/test_dynamic.py) and below what a car moving past a wall costs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.camera import Camera


def consistent_tokens(
    latents: Tensor,
    depths: Tensor,
    cameras: list[Camera],
    depth_tolerance: float = 0.1,
    latent_tolerance: float = 0.6,
    window: int = 2,
) -> Tensor:
    """latents (T, C, h, w), depths (T, h, w) (0 = unknown, +inf = sky), cameras at the
    latent grid (or any size: they are scaled) -> keep (T, h, w) bool, False for tokens the
    neighbouring frame contradicts. A single frame has no neighbour: all kept."""
    t, c, h, w = latents.shape
    if tuple(depths.shape) != (t, h, w) or len(cameras) != t:
        raise ValueError(
            f"consistent_tokens needs latents (T, C, h, w), depths (T, h, w) and T cameras; "
            f"got {tuple(latents.shape)}, {tuple(depths.shape)}, {len(cameras)} cameras"
        )
    keep = torch.ones(t, h, w, dtype=torch.bool)
    if t < 2:
        return keep
    cams = [cam.scaled(w, h) for cam in cameras]
    scale = float(latents.flatten(2).norm(dim=1).median())
    scale = scale if scale > 0 else 1.0
    tolerances = (depth_tolerance, latent_tolerance)
    for i in range(t):
        for j in range(max(0, i - window), min(t, i + window + 1)):
            if j != i:
                keep[i] &= ~_contradicted(latents, depths, cams, i, j, scale, tolerances)
    return keep


def _contradicted(latents, depths, cams, i, j, scale, tolerances) -> Tensor:
    """(h, w) bool: tokens of frame i that frame j contradicts (module docstring)."""
    depth_tol, latent_tol = tolerances
    c, h, w = latents.shape[1:]
    out = torch.zeros(h * w, dtype=torch.bool)
    d = depths[i].reshape(-1).double()
    valid = torch.isfinite(d) & (d > 0)
    if not bool(valid.any()):
        return out.reshape(h, w)
    grid = cams[i].pixel_grid(torch.float64).reshape(-1, 2)  # token centres
    uv, z = cams[j].project(cams[i].unproject(grid[valid], d[valid]))
    col, row = uv[:, 0].floor().long(), uv[:, 1].floor().long()
    inside = (z > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    idx = valid.nonzero()[:, 0][inside]
    col, row, z = col[inside], row[inside], z[inside]
    dj = depths[j][row, col].double()
    seen = torch.isfinite(dj) & (dj > 0)  # j has a surface there to compare with
    idx, col, row, z, dj = idx[seen], col[seen], row[seen], z[seen], dj[seen]
    hidden = z > (1 + depth_tol) * dj
    moved = z < (1 - depth_tol) * dj
    a = latents[i].reshape(c, -1)[:, idx]
    b = latents[j][:, row, col]
    differ = (a - b).norm(dim=0) > latent_tol * scale
    out[idx[~hidden & (moved | differ)]] = True
    return out.reshape(h, w)
