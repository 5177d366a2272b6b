"""Procedural textures (planks, tiles, stripes, noise, plaster, bricks, windows, street),
evaluated per hit point."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.synth.common import GROUND_Y, TEXTURE_KINDS, _Hits
from engine.synth.rays import _face_uv

STOREY_HEIGHT = 3.0  # one row of windows per storey in the facade textures


BRICK_LENGTH = 0.25  # brick length of the "brick_windows" facade


def _albedo(points: Tensor, hits: _Hits, tables: dict[str, Tensor]) -> Tensor:
    """(P,3) surface colour of world points (P,3) with their hit records, from a scene's
    texture table (see _texture_columns); evaluated once per texture kind."""
    u, v = _face_uv(points, hits.face)
    kind_of_ray = tables["tex_kind"].index_select(0, hits.texture)
    out = torch.empty_like(points)
    for kind_id, texture_fn in enumerate(_TEXTURE_KINDS.values()):
        rays = (kind_of_ray == kind_id).nonzero()[:, 0]
        if rays.numel() == 0:
            continue
        tex = hits.texture.index_select(0, rays)
        face = hits.face.index_select(0, rays)
        params = _TexParams(
            color_a=tables["tex_a"].index_select(0, tex),
            color_b=tables["tex_b"].index_select(0, tex),
            scale=tables["tex_scale"].index_select(0, tex),
            seed=tables["tex_seed"].index_select(0, tex) * 16 + face,
        )
        colour = texture_fn(u.index_select(0, rays), v.index_select(0, rays), params)
        out.index_copy_(0, rays, colour)
    return out


@dataclass
class _TexParams:
    """Per-ray texture parameters for Q rays of one texture kind."""

    color_a: Tensor  # (Q,3)
    color_b: Tensor  # (Q,3)
    scale: Tensor  # (Q,)
    seed: Tensor  # (Q,) int64, texture seed mixed with the face index


def _hash(ix: Tensor, iy: Tensor, seed: Tensor) -> Tensor:
    """Deterministic integer hash of int64 lattice coordinates -> float32 in [0, 1).

    With coordinates and seeds below 2^31 in magnitude no int64 product overflows (32-bit
    masks in between)."""
    h = (ix * 374761393 + iy * 668265263 + seed * 1442695041) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).to(torch.float32) / float(1 << 24)


def _value_noise(u: Tensor, v: Tensor, seed: Tensor) -> Tensor:
    """Smooth value noise in [0, 1) on the unit lattice, bilinear with smoothstep weights.

    u, v (Q,) float, seed (Q,) int64. The corners are hashed one at a time: stacking them
    (4, Q) halves the op count but makes large renders several times slower (cache)."""
    fu, fv = torch.floor(u), torch.floor(v)
    iu, iv = fu.long(), fv.long()
    su, sv = u - fu, v - fv
    su, sv = su * su * (3 - 2 * su), sv * sv * (3 - 2 * sv)
    n00, n10 = _hash(iu, iv, seed), _hash(iu + 1, iv, seed)
    n01, n11 = _hash(iu, iv + 1, seed), _hash(iu + 1, iv + 1, seed)
    return torch.lerp(torch.lerp(n00, n10, su), torch.lerp(n01, n11, su), sv)


def _fbm(u: Tensor, v: Tensor, seed: Tensor, octaves: int) -> Tensor:
    """Fractal sum of value-noise octaves (frequency x2, amplitude /2), in [0, 1). u, v (Q,)."""
    total, norm, amplitude = torch.zeros_like(u), 0.0, 1.0
    for octave in range(octaves):
        frequency = 2.0**octave
        total += amplitude * _value_noise(u * frequency, v * frequency, seed + 7919 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _grain(u: Tensor, v: Tensor, seed: Tensor) -> Tensor:
    """Fine texture common to every kind: ~2 cm value noise, zero mean, amplitude ~0.1."""
    return _value_noise(u * 50.0, v * 50.0, seed + 104729) - 0.5


def _mix(p: _TexParams, weight: Tensor) -> Tensor:
    """(Q,3) colour: color_a where weight = 0, color_b where weight = 1."""
    return torch.lerp(p.color_a, p.color_b, weight[:, None])


def _planks(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Floor boards: rows of width `scale` across u, boards 5x longer along v, staggered."""
    row = torch.floor(u / p.scale)
    length = 5.0 * p.scale
    offset = _hash(row.long(), torch.zeros_like(row).long(), p.seed) * length
    col = torch.floor((v + offset) / length)
    tone = _hash(row.long(), col.long(), p.seed + 1)  # one shade per board
    grain = torch.sin(u / p.scale * 40.0 + 6.0 * _fbm(u * 3.0, v * 0.5, p.seed + 2, 2))
    weight = 0.7 * tone + 0.15 * (grain + 1.0) * 0.5
    colour = _mix(p, weight)
    gap_u = (u / p.scale - row) * p.scale
    gap_v = ((v + offset) / length - col) * length
    seam = (gap_u < 0.008) | (gap_v < 0.008)
    colour = torch.where(seam[:, None], colour * 0.35, colour)
    return colour * (1.0 + 0.5 * _grain(u, v, p.seed))[:, None]


def _tiles(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Square tiles of side `scale` in color_a (one shade each), grout lines in color_b."""
    tu, tv = u / p.scale, v / p.scale
    iu, iv = torch.floor(tu), torch.floor(tv)
    shade = 0.85 + 0.3 * _hash(iu.long(), iv.long(), p.seed)
    mottle = 0.9 + 0.2 * _fbm(u * 4.0 / p.scale, v * 4.0 / p.scale, p.seed + 1, 3)
    colour = p.color_a * (shade * mottle)[:, None]
    fu, fv = tu - iu, tv - iv
    grout = torch.minimum(torch.minimum(fu, 1 - fu), torch.minimum(fv, 1 - fv)) < 0.03
    colour = torch.where(grout[:, None], p.color_b, colour)
    return colour * (1.0 + 0.4 * _grain(u, v, p.seed))[:, None]


def _stripes(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Wallpaper: soft vertical stripes of period `scale`, pinstripes, a faded damask noise."""
    phase = u / p.scale
    band = 0.5 + 0.5 * torch.sin(2 * math.pi * phase)
    pin = ((phase - torch.floor(phase) - 0.5).abs() < 0.04).float()
    damask = _fbm(u * 6.0, v * 6.0, p.seed, 3)
    weight = (0.55 * band + 0.35 * pin + 0.4 * (damask - 0.5)).clamp(0.0, 1.0)
    return _mix(p, weight) * (1.0 + 0.3 * _grain(u, v, p.seed))[:, None]


def _noise(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Blotchy material: fBm value noise of feature size `scale` mixing color_a / color_b."""
    blotch = _fbm(u / p.scale, v / p.scale, p.seed, 4)
    weight = ((blotch - 0.5) * 2.2 + 0.5).clamp(0.0, 1.0)
    return _mix(p, weight) * (1.0 + 0.4 * _grain(u, v, p.seed))[:, None]


def _plaster(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Rendered wall: color_a, mottled towards color_b by weathering stains of size `scale`."""
    stain = _fbm(u / p.scale, v / p.scale, p.seed, 4)
    weight = ((stain - 0.45) * 1.4).clamp(0.0, 1.0)
    return _mix(p, weight) * (1.0 + 0.35 * _grain(u, v, p.seed))[:, None]


def _brick_wall(u: Tensor, v: Tensor, length: Tensor | float, p: _TexParams) -> Tensor:
    """Running bond: bricks `length` long, courses length / 3 high, every other course shifted
    by half a brick; one shade of color_a per brick, 1 cm mortar joints in color_b."""
    course = length / 3.0
    row = torch.floor(v / course)
    shifted = u + torch.remainder(row, 2.0) * 0.5 * length
    col = torch.floor(shifted / length)
    tone = 0.75 + 0.4 * _hash(col.long(), row.long(), p.seed)
    colour = p.color_a * tone[:, None]
    joint = ((shifted / length - col) * length < 0.01) | ((v / course - row) * course < 0.01)
    colour = torch.where(joint[:, None], p.color_b, colour)
    return colour * (1.0 + 0.3 * _grain(u, v, p.seed))[:, None]


def _bricks(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Brick wall with bricks `scale` long (see _brick_wall)."""
    return _brick_wall(u, v, p.scale, p)


_GLASS = (0.14, 0.18, 0.24)  # window panes: dark, lighter towards the top (reflected sky)


_LIT_GLASS = (0.85, 0.72, 0.45)  # a pane with the light on inside


def _facade(u: Tensor, v: Tensor, p: _TexParams, wall: Tensor) -> Tensor:
    """A grid of windows over the wall colours `wall` (Q,3): one bay per `scale` along the
    wall, one row per STOREY_HEIGHT above GROUND_Y; each window 1.5 high, 0.4 of a bay wide,
    with a frame, a mullion and a cornice band at every storey floor in color_b."""
    height = GROUND_Y - v  # above the ground (+y is down)
    bay, storey = u / p.scale, height / STOREY_HEIGHT
    col, row = torch.floor(bay), torch.floor(storey)
    across = (bay - col - 0.5).abs() * p.scale  # metres from the bay's centre line
    up = (storey - row) * STOREY_HEIGHT  # metres above the storey floor
    half_width = 0.2 * p.scale
    pane = (across < half_width) & (up > 0.9) & (up < 2.4)
    frame = (across < half_width + 0.08) & (up > 0.82) & (up < 2.48)
    trim = (frame & ~pane) | (pane & (across < 0.03)) | (up < 0.15)
    lit = _hash(col.long(), row.long(), p.seed + 3) > 0.8
    shade = 0.8 + 0.4 * _hash(col.long(), row.long(), p.seed + 4)
    sky_reflection = (0.6 + 0.5 * (up - 0.9) / 1.5)[:, None]
    glass = torch.where(
        lit[:, None],
        torch.tensor(_LIT_GLASS) * shade[:, None],
        torch.tensor(_GLASS) * (shade[:, None] + sky_reflection),
    )
    colour = torch.where(trim[:, None], p.color_b, wall)
    return torch.where(pane[:, None] & ~trim[:, None], glass, colour)


def _windows(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Plaster facade (color_a) with windows `scale` apart (see _facade)."""
    stain = _fbm(u / 1.5, v / 1.5, p.seed, 3)
    wall = p.color_a * (0.9 + 0.2 * stain)[:, None] * (1.0 + 0.3 * _grain(u, v, p.seed))[:, None]
    return _facade(u, v, p, wall)


def _brick_windows(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """Brick facade (bricks BRICK_LENGTH long in color_a) with windows `scale` apart."""
    return _facade(u, v, p, _brick_wall(u, v, BRICK_LENGTH, p))


_ROAD_PAINT = (0.86, 0.86, 0.80)


def _street(u: Tensor, v: Tensor, p: _TexParams) -> Tensor:
    """The ground, u = x and v = z: asphalt (color_a) for |x| < `scale` with a dashed centre
    line (3 m dashes, 3 m gaps) and solid edge lines, a 0.25 kerb, then 0.6 m paving slabs
    (color_b, one shade each, dark joints)."""
    edge = u.abs()
    patches = 0.85 + 0.3 * _fbm(u * 0.5, v * 0.5, p.seed, 3)
    asphalt = p.color_a * patches[:, None] * (1.0 + 0.8 * _grain(u, v, p.seed))[:, None]
    centre_line = (edge < 0.07) & (torch.remainder(v, 6.0) < 3.0)
    edge_line = (edge > p.scale - 0.35) & (edge < p.scale - 0.22)
    paint = torch.tensor(_ROAD_PAINT) * (0.9 + 0.1 * _grain(u, v, p.seed + 5))[:, None]
    road = torch.where((centre_line | edge_line)[:, None], paint, asphalt)
    slab_u, slab_v = u / 0.6, v / 0.6
    iu, iv = torch.floor(slab_u), torch.floor(slab_v)
    shade = 0.85 + 0.25 * _hash(iu.long(), iv.long(), p.seed + 1)
    paving = p.color_b * shade[:, None] * (1.0 + 0.4 * _grain(u, v, p.seed))[:, None]
    joint = torch.minimum(slab_u - iu, slab_v - iv) < 0.025
    paving = torch.where(joint[:, None], p.color_b * 0.5, paving)
    kerb = p.color_b * 0.8 * (1.0 + 0.3 * _grain(u, v, p.seed + 6))[:, None]
    colour = torch.where((edge < p.scale + 0.25)[:, None], kerb, paving)
    return torch.where((edge < p.scale)[:, None], road, colour)


_TEXTURE_KINDS = {
    "planks": _planks,
    "tiles": _tiles,
    "stripes": _stripes,
    "noise": _noise,
    "plaster": _plaster,
    "bricks": _bricks,
    "windows": _windows,
    "brick_windows": _brick_windows,
    "street": _street,
}


assert tuple(_TEXTURE_KINDS) == TEXTURE_KINDS  # the ids common.py gives them
