"""Full-resolution RGB forward warp: what an RGB point memory shows from one photo.

Every pixel of the source photo with a known depth is lifted to its world point and splatted
into the target camera with a footprint, nearest depth winning:

    footprint of a source pixel = the target-pixel box its unit square maps to, by the
    Jacobian of the warp (projected neighbour centres: half extent in u is
    (|du/dj| + |du/di|) / 2, in v likewise). A neighbour across a depth edge is not used:
    one whose depth differs by more than EDGE_STEP (relative), or whose projection lands
    further than MAX_STRETCH times the fronto-parallel scale s = (f_dst z_src) /
    (f_src z_dst) (+1 px) away. Where a pixel has no usable neighbour along an axis, s
    stands in. The box covers
    the target pixels whose centres fall in it (always at least the nearest one), at most
    MAX_FOOTPRINT pixels a side.

Sky pixels (depth +inf) are directions: they are warped as points SKY_DISTANCE times
farther than the farthest finite depth (so by the rotation alone, to well under a pixel),
behind every surface; RGBMemory keeps them the same way, in its sky dome.

So walking toward a surface opens no cracks, depth edges do not smear the foreground over
what it disoccludes, and the warp of a photo to its own camera is the photo itself.
`forward_warp_reference` is the slow per-pixel twin the tests compare it with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.camera import Camera

EDGE_STEP = 0.1
"""Neighbours whose depths differ by more than this fraction count as across an edge."""

MAX_STRETCH = 2.0
"""A neighbour projected further than MAX_STRETCH * s + 1 pixels away is across an edge."""

MAX_FOOTPRINT = 16
"""Largest side of a splat, target pixels."""

SKY_DISTANCE = 1e4
"""Sky pixels are warped as points this many times farther than the farthest surface."""

MIN_DEPTH = 1e-6
"""Points nearer than this to the target camera plane (or behind it) are dropped."""


@dataclass
class Warp:
    """A photo warped into a target camera. H, W: the target's size."""

    rgb: Tensor  # (3, H, W) float32, 0 where nothing landed
    depth: Tensor  # (H, W) float32 target-camera z of the winner, 0 where nothing landed,
    # +inf where the sky landed
    covered: Tensor  # (H, W) bool, some source pixel landed there


def _footprints(
    uv: Tensor, z_dst: Tensor, depth: Tensor, valid: Tensor, src: Camera, dst: Camera
) -> tuple[Tensor, Tensor]:
    """Half extents (H, W) in u and v of every source pixel's splat (module docstring)."""

    # fronto-parallel stand-in: a pixel at depth z_src spans z_src / f_src world units
    scale_u = dst.fx * depth / (src.fx * z_dst)
    scale_v = dst.fy * depth / (src.fy * z_dst)
    reach = MAX_STRETCH * torch.maximum(scale_u, scale_v) + 1.0

    def neighbour_step(axis: int) -> Tensor:
        """(2, H, W) |d uv / d axis|: the larger of the forward and backward differences
        over neighbours on the same surface; NaN where there is none."""
        n = depth.shape[axis]
        if n < 2:
            return torch.full((2, *depth.shape), math.nan, dtype=uv.dtype)
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        d0, d1 = depth[tuple(lo)], depth[tuple(hi)]
        same = valid[tuple(lo)] & valid[tuple(hi)]
        same &= (d1 - d0).abs() <= EDGE_STEP * torch.minimum(d0, d1)
        step = (uv[tuple(lo)] - uv[tuple(hi)]).abs().permute(2, 0, 1)  # (2, ...)
        same &= step.norm(dim=0) <= torch.minimum(reach[tuple(lo)], reach[tuple(hi)])
        step = torch.where(same[None], step, math.nan)
        pad = [0, 0, 0, 0]
        # forward difference at index k (k to k + 1), backward at k (k - 1 to k)
        pad_fwd = pad.copy()
        pad_bwd = pad.copy()
        if axis == 1:
            pad_fwd[1], pad_bwd[0] = 1, 1
        else:
            pad_fwd[3], pad_bwd[2] = 1, 1
        fwd = torch.nn.functional.pad(step, pad_fwd, value=math.nan)
        bwd = torch.nn.functional.pad(step, pad_bwd, value=math.nan)
        return torch.fmax(fwd, bwd)

    along_u = neighbour_step(1)  # (|du/dj|, |dv/dj|)
    along_v = neighbour_step(0)  # (|du/di|, |dv/di|)
    du_dj = torch.where(torch.isnan(along_u[0]), scale_u, along_u[0])
    dv_dj = torch.where(torch.isnan(along_u[1]), 0.0, along_u[1])
    du_di = torch.where(torch.isnan(along_v[0]), 0.0, along_v[0])
    dv_di = torch.where(torch.isnan(along_v[1]), scale_v, along_v[1])
    half = MAX_FOOTPRINT / 2
    return ((du_dj + du_di) / 2).clamp(max=half), ((dv_dj + dv_di) / 2).clamp(max=half)


def _project(rgb: Tensor, depth: Tensor, src: Camera, dst: Camera):
    """Per source pixel: target uv (H, W, 2), target z (H, W), valid (H, W), the half
    extents in u and v (H, W), and sky (H, W)."""
    depth64 = depth.double()
    valid = torch.isfinite(depth64) & (depth64 > 0)
    sky = depth64 == math.inf
    far = float(depth64[valid].max()) if bool(valid.any()) else 1.0
    depth64 = torch.where(sky, SKY_DISTANCE * far, torch.where(valid, depth64, 0.0))
    valid |= sky
    points = src.unproject(src.pixel_grid(torch.float64), torch.where(valid, depth64, 1.0))
    uv, z = dst.project(points)
    valid &= z > MIN_DEPTH
    uv = torch.where(valid[..., None], uv, 0.0)
    z = torch.where(valid, z, 1.0)
    half_u, half_v = _footprints(uv, z, depth64, valid, src, dst)
    return uv, z, valid, half_u, half_v, sky


def _box(centre: Tensor, half: Tensor) -> tuple[Tensor, Tensor]:
    """First and last pixel index whose centre (k + 0.5) lies in [centre - half,
    centre + half), widened to include the pixel under the centre."""
    first = torch.ceil(centre - half - 0.5)
    last = torch.ceil(centre + half - 0.5) - 1
    under = torch.floor(centre)
    return torch.minimum(first, under).long(), torch.maximum(last, under).long()


def forward_warp(rgb: Tensor, depth: Tensor, src: Camera, dst: Camera) -> Warp:
    """Warp a photo rgb (3, H, W) with depth (H, W) (camera-frame z; +inf: sky; 0 or NaN:
    unknown, not warped) from camera src (its size) into camera dst (module docstring)."""
    if rgb.ndim != 3 or rgb.shape[0] != 3 or tuple(rgb.shape[1:]) != (src.height, src.width):
        raise ValueError(
            f"forward_warp: rgb must be (3, {src.height}, {src.width}), got {tuple(rgb.shape)}"
        )
    if tuple(depth.shape) != (src.height, src.width):
        raise ValueError(
            f"forward_warp: depth must be ({src.height}, {src.width}), got {tuple(depth.shape)}"
        )
    uv, z, valid, half_u, half_v, sky = _project(rgb, depth, src, dst)
    u0, u1 = _box(uv[..., 0], half_u)
    v0, v1 = _box(uv[..., 1], half_v)
    w, h = dst.width, dst.height
    # only the pixels whose box can touch the image
    valid &= (u1 >= 0) & (u0 < w) & (v1 >= 0) & (v0 < h)
    src_ids = valid.reshape(-1).nonzero()[:, 0]
    u0, u1, v0, v1 = (x.reshape(-1)[src_ids] for x in (u0, u1, v0, v1))
    zs = z.reshape(-1)[src_ids]
    span_u = int((u1 - u0).max()) + 1 if len(src_ids) else 0
    span_v = int((v1 - v0).max()) + 1 if len(src_ids) else 0
    targets, depths, owners = [], [], []
    for dv in range(span_v):
        rows = v1 - v0 >= dv  # the splats that reach this far down
        tv, su0, su1, sz, sid = v0[rows] + dv, u0[rows], u1[rows], zs[rows], src_ids[rows]
        for du in range(span_u):
            tu = su0 + du
            hit = (tu <= su1) & (tu >= 0) & (tu < w) & (tv >= 0) & (tv < h)
            targets.append((tv * w + tu)[hit])
            depths.append(sz[hit])
            owners.append(sid[hit])
    hw = w * h
    zbuf = torch.full((hw,), math.inf, dtype=torch.float64)
    winner = torch.full((hw,), -1, dtype=torch.long)
    if targets:
        target, zt, owner = torch.cat(targets), torch.cat(depths), torch.cat(owners)
        zbuf.scatter_reduce_(0, target, zt, "amin")
        near = zt <= zbuf[target]  # the nearest depth wins; a tie goes to the lowest source
        winner.scatter_reduce_(0, target[near], owner[near], "amin", include_self=False)
    covered = winner >= 0
    out = torch.zeros(3, hw)
    out[:, covered] = rgb.reshape(3, -1).float()[:, winner[covered]]
    out_depth = torch.where(covered, zbuf, 0.0).float()
    on_sky = covered.clone()
    on_sky[covered] = sky.reshape(-1)[winner[covered]]
    out_depth[on_sky] = math.inf
    return Warp(out.reshape(3, h, w), out_depth.reshape(h, w), covered.reshape(h, w))


def forward_warp_reference(rgb: Tensor, depth: Tensor, src: Camera, dst: Camera) -> Warp:
    """Slow twin of forward_warp: one source pixel at a time, one target pixel at a time."""
    uv, z, valid, half_u, half_v, sky = _project(rgb, depth, src, dst)
    u0, u1 = _box(uv[..., 0], half_u)
    v0, v1 = _box(uv[..., 1], half_v)
    w, h = dst.width, dst.height
    zbuf = torch.full((h, w), math.inf, dtype=torch.float64)
    out = torch.zeros(3, h, w)
    covered = torch.zeros(h, w, dtype=torch.bool)
    on_sky = torch.zeros(h, w, dtype=torch.bool)
    for i in range(src.height):
        for j in range(src.width):
            if not valid[i, j]:
                continue
            for tv in range(max(0, int(v0[i, j])), min(h - 1, int(v1[i, j])) + 1):
                for tu in range(max(0, int(u0[i, j])), min(w - 1, int(u1[i, j])) + 1):
                    if z[i, j] < zbuf[tv, tu]:  # strictly nearer: the first source wins ties
                        zbuf[tv, tu] = z[i, j]
                        out[:, tv, tu] = rgb[:, i, j]
                        covered[tv, tu] = True
                        on_sky[tv, tu] = sky[i, j]
    depth_out = torch.where(covered, zbuf, 0.0).float()
    return Warp(out, torch.where(on_sky, math.inf, depth_out), covered)


def erode(mask: Tensor, pixels: int = 1) -> Tensor:
    """(H, W) bool mask shrunk by `pixels` (square structuring element); outside the image
    counts as inside the mask, so the image border does not erode it."""
    if pixels <= 0:
        return mask
    k = 2 * pixels + 1
    x = (~mask)[None, None].float()
    grown = torch.nn.functional.max_pool2d(x, k, stride=1, padding=pixels)
    return grown[0, 0] == 0
