"""The street with buildings, trees and moving cars (StreetScene, street_scene)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.camera import Camera
from engine.synth.common import (
    _EPS,
    GROUND_Y,
    Box,
    SynthView,
    Texture,
    _as_time,
    _box_distance,
    _box_tables,
    _boxes_overlap,
    _Hits,
    _jitter,
    _nearer,
    _texture_columns,
    _vec3,
)
from engine.synth.paths import _sample_path
from engine.synth.rays import _lambert, _safe_inverse, _trace_boxes
from engine.synth.sky import WEATHERS, Weather, _sky_colour
from engine.synth.textures import BRICK_LENGTH, _albedo

ROAD_HALF_WIDTH = 3.5  # the road is |x| < 3.5 (two lanes), then a 0.25 kerb and pavements


BUILDING_LINE = 7.0  # the street-side faces of the buildings are at |x| >= this


LANE_X = 1.75  # lane centres: x = +1.75 (traffic drives +z) and x = -1.75 (drives -z)


STREET_Z = (-40.0, 120.0)  # the rows of buildings; a building stands across each end


DRIVE_Z = (-36.0, 116.0)  # cars drive within this z range and reappear at the other end


@dataclass(frozen=True)
class Mover:
    """A rigid group of boxes driving at constant speed along z, wrapping around.

    `parts` are boxes in the mover's own frame. At `time` seconds they stand at the parts
    shifted by `offset(time)`: x and y of `start`, and z = start z + speed * time wrapped into
    `wrap` = (z_lo, z_hi) (leaving one end, the mover reappears at the other)."""

    parts: tuple[Box, ...]
    start: tuple[float, float, float]
    speed: float  # units per second along +z (negative: along -z)
    wrap: tuple[float, float]

    def offset(self, time: float) -> tuple[float, float, float]:
        """(3,) shift from the mover's frame to the world at `time` seconds."""
        z_lo, z_hi = self.wrap
        z = z_lo + (self.start[2] - z_lo + self.speed * _as_time(time)) % (z_hi - z_lo)
        return (self.start[0], self.start[1], z)

    def boxes(self, time: float) -> tuple[Box, ...]:
        """The parts where they are in the world at `time` seconds."""
        shift = self.offset(time)
        return tuple(
            Box(
                _vec3(a + s for a, s in zip(part.lo, shift)),
                _vec3(a + s for a, s in zip(part.hi, shift)),
                part.faces,
            )
            for part in self.parts
        )


@dataclass(frozen=True)
class StreetScene:
    """Exterior scene: the ground plane y = GROUND_Y (texture `ground`) within `extent`
    = (x_lo, x_hi, z_lo, z_hi), static `solids` seen from outside, `movers` placed by time,
    and the sky wherever a ray meets none of them (depth +inf, `SynthView.sky`).

    Build it with `street_scene(seed)`. The camera must be above the ground and outside every
    solid; the movers are not checked (they keep to their lanes, see street_scene).
    """

    ground: Texture
    solids: tuple[Box, ...]
    movers: tuple[Mover, ...]
    extent: tuple[float, float, float, float]
    seed: int = 0
    weather: str | Weather = "clear"  # a name in WEATHERS, or a Weather: sky, light, fog
    _tables: dict[str, Tensor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.weather, Weather) and self.weather not in WEATHERS:
            raise ValueError(f"weather must be one of {', '.join(WEATHERS)}, got {self.weather!r}")
        textures = [self.ground]  # texture 0 is the ground's
        parts = tuple(part for mover in self.movers for part in mover.parts)
        tables = {
            **_box_tables("solid", self.solids, textures),
            **_box_tables("part", parts, textures),
        }
        tables.update(_texture_columns(textures))
        object.__setattr__(self, "_tables", tables)

    # ---- public API

    def render(self, camera: Camera, time: float = 0.0) -> SynthView:
        """Ray-cast every pixel of `camera` with the movers where they are at `time` seconds.

        rgb (3,H,W); depth (H,W), +inf exactly where `sky`; `dynamic` marks the movers."""
        h, w = camera.height, camera.width
        self._check_camera(camera.position.tolist())
        origin = camera.position.to(torch.float32)  # (3,)
        dirs = camera.ray_directions(torch.float32).reshape(-1, 3)  # (P,3), camera z = 1
        inv = _safe_inverse(dirs)  # (P,3)
        tab = self._tables
        hits = self._trace_ground(origin, dirs)
        solid, _ = _trace_boxes(
            origin, inv, tab["solid_lo"], tab["solid_hi"], tab["solid_tex"], camera
        )
        hits = _nearer(hits, solid)
        shift = self._part_offsets(time)  # (M,3), one row per mover part
        moving, part = _trace_boxes(
            origin, inv, tab["part_lo"] + shift, tab["part_hi"] + shift, tab["part_tex"], camera
        )
        dynamic = moving.t < hits.t  # (P,)
        hits = _nearer(hits, moving)
        sky = torch.isinf(hits.t)  # (P,)

        rgb = torch.empty_like(dirs)  # (P,3)
        seen = (~sky).nonzero()[:, 0]
        seen_hits = hits.select(seen)
        points = origin + seen_hits.t[:, None] * dirs.index_select(0, seen)  # world hit points
        # A mover is textured in its own frame, so its paint travels with it.
        anchor = torch.where(
            dynamic.index_select(0, seen)[:, None], shift[part.index_select(0, seen)], 0.0
        )
        albedo = _albedo(points - anchor, seen_hits, tab)
        weather = self.weather if isinstance(self.weather, Weather) else WEATHERS[self.weather]
        lit = albedo * _lambert(seen_hits.normal)[:, None] * torch.tensor(weather.light)
        if weather.visibility:  # fog: the colour fades to the fog's with the distance
            distance = seen_hits.t * dirs.index_select(0, seen).norm(dim=1)
            fade = 1.0 - torch.exp(-distance / weather.visibility)
            lit = torch.lerp(lit, torch.tensor(weather.horizon), fade[:, None])
        rgb.index_copy_(0, seen, lit.clamp(0.0, 1.0))
        escaping = sky.nonzero()[:, 0]
        sky_rgb = _sky_colour(dirs.index_select(0, escaping), self.seed, weather)
        rgb.index_copy_(0, escaping, sky_rgb)
        return SynthView(
            rgb=rgb.T.reshape(3, h, w).contiguous(),
            depth=hits.t.reshape(h, w),
            sky=sky.reshape(h, w),
            dynamic=dynamic.reshape(h, w),
        )

    def sample_path(
        self,
        kind: str = "forward",
        n: int = 60,
        *,
        start=(0.0, 0.0, 0.0),
        distance: float = 20.0,
        margin: float = 0.5,
    ) -> list[Tensor]:
        """Camera-to-world poses ((4,4) float64 each) of a deterministic path down the street.

        The kinds are those of RoomScene.sample_path ("forward" along +z, "loop" out and
        back, "orbit" on the spot). Every position is checked to be at least `margin` from
        the buildings, the objects on the pavements and the ground; the cars are not checked:
        they keep to their lanes (0.8 <= |x| <= 2.7), so a path along x = 0 never meets one.
        """
        return _sample_path(
            self, kind, n, start, distance, margin, "a building, an object or the ground"
        )

    def clearance(self, point) -> float:
        """Distance from `point` (3,) to the nearest static box or to the ground below it.

        Returns -1.0 when the point is inside a box, not above the ground, or outside the
        street's extent. The movers are left out (see sample_path)."""
        p = [float(c) for c in point]
        x_lo, x_hi, z_lo, z_hi = self.extent
        outside = not (x_lo <= p[0] <= x_hi and z_lo <= p[2] <= z_hi)
        if outside or p[1] >= GROUND_Y or any(box.contains(p) for box in self.solids):
            return -1.0
        return min([GROUND_Y - p[1], *(_box_distance(p, box) for box in self.solids)])

    # ---- ray casting

    def _check_camera(self, position: list[float]) -> None:
        if position[1] >= GROUND_Y:
            raise ValueError(
                f"camera position {position} is not above the ground (y < {GROUND_Y}; +y is down)"
            )
        if any(box.contains(position) for box in self.solids):
            raise ValueError(f"camera position {position} is inside a building or object")

    def _trace_ground(self, origin: Tensor, dirs: Tensor) -> _Hits:
        """The ground plane y = GROUND_Y seen from above, within the extent; t = inf elsewhere."""
        n_rays = dirs.shape[0]
        down = dirs[:, 1]
        # origin_y + t dy = GROUND_Y  =>  t = (GROUND_Y - origin_y) / dy, for rays going down
        t = (GROUND_Y - origin[1]) / down.clamp(min=_EPS)
        x = origin[0] + t * dirs[:, 0]
        z = origin[2] + t * dirs[:, 2]
        x_lo, x_hi, z_lo, z_hi = self.extent
        hit = (down > _EPS) & (x >= x_lo) & (x <= x_hi) & (z >= z_lo) & (z <= z_hi)
        normal = torch.tensor([0.0, -1.0, 0.0], dtype=dirs.dtype).expand(n_rays, 3)
        return _Hits(
            t=torch.where(hit, t, math.inf),
            face=torch.full((n_rays,), 3, dtype=torch.int64),  # a floor: the y = hi face
            texture=torch.zeros(n_rays, dtype=torch.int64),
            normal=normal.contiguous(),
        )

    def _part_offsets(self, time: float) -> Tensor:
        """(M,3) float32 world shift of every mover part at `time` seconds."""
        rows = [mover.offset(time) for mover in self.movers for _ in mover.parts]
        return torch.tensor(rows, dtype=torch.float32).reshape(-1, 3)


def street_scene(seed: int = 0, weather: str = "clear") -> StreetScene:
    """A street along +z, built by `seed` (deterministic). +y is down; lengths in metres.
    `weather` (WEATHERS) sets the sky, the light and the fog; the geometry is the seed's.

    The ground is y = GROUND_Y = 1.5, so a camera at the origin stands at eye height on the
    centre line of the road, looking down the street. Road |x| < 3.5 with a dashed centre
    line; kerbs; pavements to the building line |x| = 7. Buildings 6 to 24 high, 8 to 18
    along the street, some set back, some with alleys between them, line both sides for z in
    [-40, 120]; one building stands across each end. Trees, planters and lamp posts stand on
    the pavements (|x| in [3.75, 7]). Two cars drive in their lanes and wrap around within
    DRIVE_Z: one in the right lane (x = +1.75) driving away at 7 to 10 m/s, starting at
    z = 12 ahead of the camera; one in the left lane (x = -1.75) coming towards the camera at
    5 to 8 m/s. The ground ends at |x| = 60, z in [-60, 140]; beyond is sky.
    """
    rng = random.Random(seed)
    ground = Texture(
        "street",
        _jitter(rng, (0.24, 0.24, 0.25)),
        _jitter(rng, (0.62, 0.60, 0.56)),
        scale=ROAD_HALF_WIDTH,
        seed=rng.randrange(1 << 20),
    )
    solids: list[Box] = []
    for side in (1.0, -1.0):
        solids += _building_row(rng, side)
    for z_near, facing in ((STREET_Z[1], 4), (STREET_Z[0] - 14.0, 5)):
        height = rng.uniform(12.0, 20.0)
        lo, hi = (-30.0, GROUND_Y - height, z_near), (30.0, GROUND_Y, z_near + 14.0)
        solids.append(_building(rng, lo, hi, facing))
    solids += _street_furniture(rng)
    movers = (
        _car(rng, (LANE_X, 0.0, 12.0), rng.uniform(7.0, 10.0)),
        _car(rng, (-LANE_X, 0.0, rng.uniform(35.0, 60.0)), -rng.uniform(5.0, 8.0)),
    )
    extent = (-60.0, 60.0, -60.0, 140.0)
    return StreetScene(ground, tuple(solids), movers, extent, seed=seed, weather=weather)


def _building_row(rng: random.Random, side: float) -> list[Box]:
    """Buildings along one side of the street (side +1: x > 0, -1: x < 0), end to end in z,
    some set back from the building line, some with an alley before the next one."""
    boxes = []
    z = STREET_Z[0]
    while z < STREET_Z[1] - 4.0:
        length = min(rng.uniform(8.0, 18.0), STREET_Z[1] - z)
        depth, height = rng.uniform(8.0, 14.0), rng.uniform(6.0, 24.0)
        near = BUILDING_LINE + rng.choice((0.0, 0.0, 0.0, 0.6, 1.2))
        x0, x1 = (near, near + depth) if side > 0 else (-near - depth, -near)
        facing = 0 if side > 0 else 1  # the face towards the street: x_lo or x_hi
        boxes.append(_building(rng, (x0, GROUND_Y - height, z), (x1, GROUND_Y, z + length), facing))
        z += length + (rng.uniform(2.0, 4.0) if rng.random() < 0.3 else 0.0)
    return boxes


_PLASTER_COLOURS = (
    (0.86, 0.80, 0.66),
    (0.80, 0.62, 0.45),
    (0.70, 0.76, 0.80),
    (0.85, 0.70, 0.64),
    (0.72, 0.72, 0.70),
    (0.90, 0.86, 0.78),
)


_BRICK_COLOURS = ((0.55, 0.25, 0.18), (0.62, 0.38, 0.24), (0.66, 0.55, 0.40), (0.45, 0.22, 0.20))


def _building(rng: random.Random, lo, hi, facing: int) -> Box:
    """A building box: a facade with windows on face `facing`, plain walls of the same
    material on the others, a dark roof (face 2)."""
    if rng.random() < 0.5:
        wall = _jitter(rng, rng.choice(_PLASTER_COLOURS))
        trim = _vec3(c * rng.uniform(0.6, 0.8) for c in wall)
        facade = Texture("windows", wall, trim, rng.uniform(2.4, 3.4), rng.randrange(1 << 20))
        side = Texture("plaster", wall, trim, rng.uniform(0.8, 2.0), rng.randrange(1 << 20))
    else:
        brick = _jitter(rng, rng.choice(_BRICK_COLOURS))
        mortar = _jitter(rng, (0.70, 0.68, 0.62))
        spacing = rng.uniform(2.4, 3.4)
        facade = Texture("brick_windows", brick, mortar, spacing, rng.randrange(1 << 20))
        side = Texture("bricks", brick, mortar, BRICK_LENGTH, rng.randrange(1 << 20))
    roof = Texture(
        "noise", (0.30, 0.29, 0.28), (0.17, 0.17, 0.18), scale=1.5, seed=rng.randrange(1 << 20)
    )
    faces = [side] * 6
    faces[facing], faces[2] = facade, roof
    f0, f1, f2, f3, f4, f5 = faces
    return Box(_vec3(lo), _vec3(hi), (f0, f1, f2, f3, f4, f5))


def _street_furniture(rng: random.Random) -> list[Box]:
    """Trees (trunk + canopy), planters and lamp posts on both pavements, not overlapping."""
    boxes: list[Box] = []
    placed: list[Box] = []  # footprints, for the overlap test
    bark = Texture("noise", (0.36, 0.26, 0.17), (0.20, 0.14, 0.09), 0.12, rng.randrange(1 << 20))
    leaves = Texture("noise", (0.30, 0.50, 0.18), (0.10, 0.25, 0.08), 0.35, rng.randrange(1 << 20))
    concrete = Texture("noise", (0.66, 0.65, 0.62), (0.50, 0.50, 0.48), 0.2, rng.randrange(1 << 20))
    metal = Texture("noise", (0.22, 0.24, 0.26), (0.12, 0.13, 0.14), 0.3, rng.randrange(1 << 20))
    # (kind, count per side, |x| of the centre, half size in x and z of the footprint)
    for kind, count, x_abs, half in (
        ("tree", 3, 5.3, 1.1),
        ("planter", 2, 5.3, 0.6),
        ("lamp", 2, 4.1, 0.07),
    ):
        for side in (1.0, -1.0):
            for _ in range(count):
                for _attempt in range(100):
                    z = rng.uniform(-30.0, 100.0)
                    x = side * x_abs
                    lo, hi = (x - half, GROUND_Y - 5.0, z - half), (x + half, GROUND_Y, z + half)
                    if not any(_boxes_overlap(lo, hi, b, gap=1.0) for b in placed):
                        break
                else:
                    raise RuntimeError(f"could not place a {kind} on the pavement")
                placed.append(Box.uniform(lo, hi, concrete))
                if kind == "tree":
                    boxes.append(
                        Box.uniform(
                            (x - 0.15, GROUND_Y - 2.6, z - 0.15),
                            (x + 0.15, GROUND_Y, z + 0.15),
                            bark,
                        )
                    )
                    top = GROUND_Y - rng.uniform(4.4, 5.0)
                    boxes.append(
                        Box.uniform(
                            (x - half, top, z - half), (x + half, GROUND_Y - 2.4, z + half), leaves
                        )
                    )
                elif kind == "planter":
                    boxes.append(
                        Box.uniform(
                            (x - half, GROUND_Y - 0.6, z - 0.9),
                            (x + half, GROUND_Y, z + 0.9),
                            concrete,
                        )
                    )
                else:
                    boxes.append(
                        Box.uniform(
                            (x - half, GROUND_Y - 4.5, z - half),
                            (x + half, GROUND_Y, z + half),
                            metal,
                        )
                    )
    return boxes


_PAINT_COLOURS = (
    (0.75, 0.10, 0.08),
    (0.10, 0.25, 0.60),
    (0.85, 0.85, 0.82),
    (0.90, 0.70, 0.10),
    (0.15, 0.45, 0.25),
)


def _car(rng: random.Random, start, speed: float) -> Mover:
    """A car-sized mover (4.2 long, 1.9 wide, 1.45 high): body, cabin and two axles with
    wheels, in its own frame centred on x = z = 0 and standing on the ground."""
    paint = _jitter(rng, rng.choice(_PAINT_COLOURS))
    body = Texture("noise", paint, _vec3(c * 0.7 for c in paint), 0.5, rng.randrange(1 << 20))
    glass = Texture("noise", (0.12, 0.15, 0.19), (0.30, 0.36, 0.42), 0.4, rng.randrange(1 << 20))
    tyre = Texture("noise", (0.05, 0.05, 0.05), (0.16, 0.16, 0.16), 0.1, rng.randrange(1 << 20))
    g = GROUND_Y
    parts = (
        Box.uniform((-0.9, g - 1.0, -2.1), (0.9, g - 0.3, 2.1), body),
        Box.uniform((-0.8, g - 1.45, -1.2), (0.8, g - 1.0, 0.9), glass),
        Box.uniform((-0.95, g - 0.62, 1.05), (0.95, g, 1.7), tyre),
        Box.uniform((-0.95, g - 0.62, -1.7), (0.95, g, -1.05), tyre),
    )
    return Mover(parts, _vec3(start), float(speed), DRIVE_Z)
