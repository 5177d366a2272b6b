"""Ray casting against axis-aligned boxes and planes, and the fixed Lambert lighting."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.camera import Camera
from engine.synth.common import _AMBIENT, _EPS, _FACE_UV_AXES, _LIGHTS, _Hits


def _min3(t: Tensor) -> tuple[Tensor, Tensor]:
    """Minimum over the last axis of t (P,3) and its index (P,) (first index on ties).

    Written with elementwise ops: torch's min(dim=1) over 3 values is ~10x slower here."""
    a, b, c = t.unbind(1)
    ab = torch.minimum(a, b)
    index = torch.where(c < ab, 2, (b < a).long())
    return torch.minimum(ab, c), index


def _slab_exit(origin: Tensor, inv: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Exit distance t (P,) and exit axis (P,) of rays from inside the box lo, hi (3,).

    Slab method: along each axis the ray leaves the slab lo <= p <= hi at the larger of its
    two plane distances; it leaves the box at the smallest of those."""
    return _min3(torch.maximum((lo - origin) * inv, (hi - origin) * inv))


def _slab_entry(origin: Tensor, inv: Tensor, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    """Entry distance t (P,) (inf where the ray misses or starts inside) and entry axis (P,)
    of rays into the box lo, hi (3,) seen from outside.

    Slab method: the ray is inside the box between the largest near-plane distance and the
    smallest far-plane distance, if the first is below the second."""
    t_lo, t_hi = (lo - origin) * inv, (hi - origin) * inv  # (P,3)
    near, axis = _min3(-torch.minimum(t_lo, t_hi))  # max(x) = -min(-x)
    far, _ = _min3(torch.maximum(t_lo, t_hi))
    near = -near
    hit = (near <= far) & (near > 0)
    return torch.where(hit, near, math.inf), axis


def _trace_boxes(
    origin: Tensor,
    inv: Tensor,
    lo: Tensor,
    hi: Tensor,
    tex: Tensor,
    camera: Camera | None = None,
) -> tuple[_Hits, Tensor]:
    """Boxes hit from outside: nearest entry over K boxes, one box at a time.

    origin (3,), inv (P,3) = 1 / ray directions, lo / hi (K,3) box bounds, tex (K,6) texture
    index of each face. Returns the hits (t = inf where every box is missed) and (P,) the
    index of the box hit (0 where none is).

    With the `camera` whose pixel rays these are (row-major, P = H * W), each box is tested
    only against the rays of the pixels its projection covers (see _rays_near_box): the same
    result, several times faster when most boxes cover a small part of the view."""
    n_rays = inv.shape[0]
    t = torch.full((n_rays,), math.inf, dtype=inv.dtype)
    axis = torch.zeros(n_rays, dtype=torch.int64)
    box = torch.zeros(n_rays, dtype=torch.int64)
    for k in range(lo.shape[0]):
        rays = None if camera is None else _rays_near_box(camera, lo[k], hi[k])
        if rays is None:  # every ray
            t_k, axis_k = _slab_entry(origin, inv, lo[k], hi[k])
            closer = t_k < t
            t = torch.where(closer, t_k, t)
            axis = torch.where(closer, axis_k, axis)
            box = torch.where(closer, k, box)
        elif rays.numel() > 0:
            t_k, axis_k = _slab_entry(origin, inv.index_select(0, rays), lo[k], hi[k])
            closer = t_k < t.index_select(0, rays)
            rays, t_k, axis_k = rays[closer], t_k[closer], axis_k[closer]
            t.index_copy_(0, rays, t_k)
            axis.index_copy_(0, rays, axis_k)
            box.index_fill_(0, rays, k)
    entering_lo = inv.gather(1, axis[:, None])[:, 0] > 0  # moving +axis: meets the lo plane
    side = (~entering_lo).long()
    face = axis * 2 + side
    normal = torch.zeros_like(inv)  # points out of the box, towards the camera
    normal.scatter_(1, axis[:, None], (2.0 * side.to(inv.dtype) - 1.0)[:, None])
    if lo.shape[0] == 0:
        return _Hits(t, face, torch.zeros_like(face), normal), box
    return _Hits(t, face, tex.flatten().index_select(0, box * 6 + face), normal), box


def _rays_near_box(camera: Camera, lo: Tensor, hi: Tensor) -> Tensor | None:
    """Indices (row-major) of the pixels whose rays may hit the box lo, hi (3,), or None for
    every pixel.

    A ray through a pixel centre that hits the box meets it at a point in front of the
    camera that projects onto that centre. With all 8 corners in front of the camera the
    box projects inside the bounding rectangle of the projected corners, so only the pixel
    centres in that rectangle (grown by a pixel against rounding) need a test. With every
    corner behind the camera no ray can hit the box; with some on each side: every pixel."""
    corners = torch.stack(
        [
            torch.stack((x, y, z))
            for x in (lo[0], hi[0])
            for y in (lo[1], hi[1])
            for z in (lo[2], hi[2])
        ]
    ).double()  # (8,3)
    uv, depth = camera.project(corners)
    if bool((depth <= 0).all()):
        return torch.zeros(0, dtype=torch.int64)
    if bool((depth < 1e-6).any()):
        return None
    (u_min, v_min), (u_max, v_max) = uv.amin(dim=0).tolist(), uv.amax(dim=0).tolist()
    # pixel j has its centre at j + 0.5: the centres in [u_min, u_max] are j in
    # [u_min - 0.5, u_max - 0.5]; one more pixel on each side.
    c0, c1 = max(math.floor(u_min - 1.5), 0), min(math.ceil(u_max + 0.5), camera.width)
    r0, r1 = max(math.floor(v_min - 1.5), 0), min(math.ceil(v_max + 0.5), camera.height)
    if c0 >= c1 or r0 >= r1:
        return torch.zeros(0, dtype=torch.int64)
    if (c1 - c0) * (r1 - r0) > 0.8 * camera.width * camera.height:
        return None
    rows, cols = torch.arange(r0, r1), torch.arange(c0, c1)
    return (rows[:, None] * camera.width + cols[None, :]).flatten()


def _safe_inverse(dirs: Tensor) -> Tensor:
    """1 / dirs with zero components replaced by +-1e-9 (keeps slab arithmetic finite)."""
    tiny = torch.where(dirs >= 0, _EPS, -_EPS)
    return 1.0 / torch.where(dirs.abs() < _EPS, tiny, dirs)


def _lambert(normal: Tensor) -> Tensor:
    """(P,) light intensity for unit normals (P,3): ambient + fixed directional lights."""
    out = torch.full(normal.shape[:1], _AMBIENT, dtype=normal.dtype)
    for direction, weight in _LIGHTS:
        light = torch.tensor(direction, dtype=normal.dtype)
        out += weight * (normal @ (light / light.norm())).clamp(min=0.0)
    return out


def _face_uv(points: Tensor, face: Tensor) -> tuple[Tensor, Tensor]:
    """(P,) texture coordinates u, v of world points (P,3) on faces (P,)."""
    axis = face // 2
    u_axis = torch.tensor([_FACE_UV_AXES[a][0] for a in range(3)]).index_select(0, axis)
    v_axis = torch.tensor([_FACE_UV_AXES[a][1] for a in range(3)]).index_select(0, axis)
    return points.gather(1, u_axis[:, None])[:, 0], points.gather(1, v_axis[:, None])[:, 0]
