"""What the synthetic scenes share: constants, the data types (textures, boxes, portals, a
rendered view, ray hits) and the box and texture tables the renderers read."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from torch import Tensor

TEXTURE_KINDS = (
    "planks",
    "tiles",
    "stripes",
    "noise",
    "plaster",
    "bricks",
    "windows",
    "brick_windows",
    "street",
)
"""The texture kinds, in the order of their ids (engine.synth.textures draws them)."""


# Faces of an axis-aligned box, indexed axis * 2 + side: side 0 is the `lo` plane, 1 the `hi`.
# With +y down: face 2 (y = lo) is a ceiling / top face, face 3 (y = hi) a floor / bottom.
FACE_NAMES = ("x_lo", "x_hi", "y_lo", "y_hi", "z_lo", "z_hi")


# Texture coordinates of a face: (u, v) are the two world axes spanning it. Walls take the
# horizontal axis as u and the vertical y as v; floors and ceilings take (x, z).
_FACE_UV_AXES = {0: (2, 1), 1: (0, 2), 2: (0, 1)}


# Fixed lights: unit vectors *towards* each light (world frame, -y is up) and their weights.
# Key from above, fill from the far end of the room, bounce from the floor (lights ceilings).
_LIGHTS = (((0.35, -0.85, -0.40), 0.50), ((-0.45, -0.30, 0.84), 0.25), ((0.0, 1.0, 0.0), 0.25))


_AMBIENT = 0.30


_EPS = 1e-9


CORRIDOR_HALF_WIDTH = 1.6  # room_scene keeps |x| below this free of furniture in the main room


GROUND_Y = 1.5  # the room's floor and the street's ground: 1.5 below a camera at the origin


def _vec3(values) -> tuple[float, float, float]:
    """Three numbers (a point, a size or a colour) as a triple of floats."""
    x, y, z = (float(v) for v in values)
    return x, y, z


@dataclass(frozen=True)
class Texture:
    """A procedural texture, evaluated from world coordinates of the face it is on.

    kind: "planks" (floor boards, `scale` = board width), "tiles" (square tiles of side
    `scale` with grout in `color_b`), "stripes" (wallpaper, vertical stripes of period
    `scale`), "noise" (value-noise blotches of size `scale`, mixing color_a and color_b),
    "plaster" (rendered wall: color_a mottled towards color_b, stains of size `scale`),
    "bricks" (running bond of bricks `scale` long in color_a, mortar in color_b),
    "windows" / "brick_windows" (a facade: plaster or bricks with a grid of windows spaced
    `scale` apart along the wall, one row per 3 m storey above GROUND_Y, frames and cornices
    in color_b), or "street" (the ground, u = x, v = z: asphalt in color_a for
    |x| < `scale` with lane markings, kerbs, paving slabs in color_b beyond).
    Every kind also carries a fine value-noise grain so views have texture at all scales.
    seed in [0, 2^24) picks the noise; each face of a box mixes in its index, so faces differ.
    """

    kind: str
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float
    seed: int

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 1 << 24:
            raise ValueError(f"texture seed must be in [0, 2^24), got {self.seed}")
        if self.kind not in TEXTURE_KINDS:
            raise ValueError(
                f"unknown texture kind {self.kind!r}, expected one of {sorted(TEXTURE_KINDS)}"
            )


@dataclass(frozen=True)
class Box:
    """Axis-aligned box lo <= p <= hi (world units), one texture per face (see FACE_NAMES)."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    faces: tuple[Texture, Texture, Texture, Texture, Texture, Texture]

    @classmethod
    def uniform(cls, lo, hi, texture: Texture) -> Box:
        return cls(_vec3(lo), _vec3(hi), (texture,) * 6)

    def contains(self, point, margin: float = 0.0) -> bool:
        """Whether `point` (3 floats) is inside the box grown by `margin` on every side."""
        return all(
            lo - margin <= p <= hi + margin
            for p, lo, hi in zip(map(float, point), self.lo, self.hi)
        )


@dataclass(frozen=True)
class Portal:
    """An opening in the shared face of two cells: the rectangle lo <= p <= hi on the plane
    p[axis] = plane (lo / hi give the other two coordinates; their `axis` entry is ignored)."""

    axis: int
    plane: float
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    cells: tuple[int, int]


@dataclass
class SynthView:
    """One rendered view. H, W are the camera's height and width."""

    rgb: Tensor  # (3, H, W) float32 in [0, 1]
    depth: Tensor  # (H, W) float32, camera-frame z in scene units: > 0 and finite, +inf on sky
    sky: Tensor  # (H, W) bool, rays that escape to the sky (never in a closed room)
    dynamic: Tensor  # (H, W) bool, pixels on moving objects at the rendered time


@dataclass
class _Hits:
    """Per-ray hit record, P = number of rays."""

    t: Tensor  # (P,) ray parameter = camera-frame depth
    face: Tensor  # (P,) int64 face index 0..5 of the box that was hit
    texture: Tensor  # (P,) int64 index into the scene's texture table
    normal: Tensor  # (P, 3) unit normal facing the camera side

    def select(self, rays: Tensor) -> _Hits:
        """The records of the rays with indices `rays` (Q,)."""
        return _Hits(
            *(x.index_select(0, rays) for x in (self.t, self.face, self.texture, self.normal))
        )


def _nearer(a: _Hits, b: _Hits) -> _Hits:
    """Per ray, the hit of `b` where it is strictly nearer than `a`'s, else `a`'s."""
    take = b.t < a.t
    return _Hits(
        t=torch.where(take, b.t, a.t),
        face=torch.where(take, b.face, a.face),
        texture=torch.where(take, b.texture, a.texture),
        normal=torch.where(take[:, None], b.normal, a.normal),
    )


def _texture_ids(box: Box, textures: list[Texture]) -> list[int]:
    """Indices of the box's 6 face textures in `textures`, appending the ones not there."""
    ids = []
    for texture in box.faces:
        if texture not in textures:
            textures.append(texture)
        ids.append(textures.index(texture))
    return ids


def _box_tables(prefix: str, boxes: tuple[Box, ...], textures: list[Texture]) -> dict:
    """{prefix}_lo, {prefix}_hi (K,3) float32 and {prefix}_tex (K,6) for K boxes."""
    f32 = torch.float32
    return {
        f"{prefix}_lo": torch.tensor([b.lo for b in boxes], dtype=f32).reshape(-1, 3),
        f"{prefix}_hi": torch.tensor([b.hi for b in boxes], dtype=f32).reshape(-1, 3),
        f"{prefix}_tex": torch.tensor([_texture_ids(b, textures) for b in boxes]).reshape(-1, 6),
    }


def _texture_columns(textures: list[Texture]) -> dict[str, Tensor]:
    """The texture table: kind index, colours, scale and seed of each of T textures."""
    kinds = list(TEXTURE_KINDS)
    f32 = torch.float32
    return {
        "tex_kind": torch.tensor([kinds.index(t.kind) for t in textures]),  # (T,)
        "tex_a": torch.tensor([t.color_a for t in textures], dtype=f32),  # (T,3)
        "tex_b": torch.tensor([t.color_b for t in textures], dtype=f32),  # (T,3)
        "tex_scale": torch.tensor([t.scale for t in textures], dtype=f32),  # (T,)
        "tex_seed": torch.tensor([t.seed for t in textures]),  # (T,)
    }


def _jitter(rng: random.Random, color: tuple[float, float, float]) -> tuple[float, float, float]:
    return _vec3(min(1.0, max(0.0, c + rng.uniform(-0.06, 0.06))) for c in color)


def _boxes_overlap(lo, hi, box: Box, gap: float) -> bool:
    return all(
        a_lo < b_hi + gap and b_lo < a_hi + gap
        for a_lo, a_hi, b_lo, b_hi in zip(lo, hi, box.lo, box.hi)
    )


def _box_distance(point: list[float], box: Box) -> float:
    """Euclidean distance from a point outside `box` to the box."""
    gaps = [max(lo - p, 0.0, p - hi) for p, lo, hi in zip(point, box.lo, box.hi)]
    return math.sqrt(sum(g * g for g in gaps))


def _as_time(time: float) -> float:
    value = float(time)
    if not math.isfinite(value):
        raise ValueError(f"time must be a finite number of seconds, got {time!r}")
    return value
