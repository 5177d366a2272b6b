"""Analytic synthetic scenes, ray-cast in torch for any Camera (no GL).

Used for tests, benchmarks and codec training: every view comes with exact depth, so a
memory readout can be checked against ground truth. Scenes are deterministic by seed.

Conventions are those of engine.camera (OpenCV axes: +x right, +y DOWN, +z forward). World
up is -y, so the floor of the room is the plane y = +1.5 and the ceiling y = -1.5.

Two scene kinds, each a class with `render(camera, time=0.0) -> SynthView`,
`sample_path(kind, n, ...)` and `clearance(point)`, built by a `<kind>_scene(seed)` function:

- `room_scene`: an interior room (8 wide in x, 3 high in y, 10 deep in z) whose far wall has a
  doorway, through a short passage (the wall thickness), into a second, smaller room; 4 to 6
  furniture boxes are placed by the seed along the side walls and in the back room, leaving a
  free corridor |x| < 1.6 where camera paths run. Nothing in it moves.
- `street_scene`: an exterior, a street along +z with a ground plane at y = +1.5 (road,
  markings, kerbs, pavements), rows of buildings with facade textures (windows, bricks,
  plaster) on both sides, closed by a building across each end, trees, planters and lamp
  posts on the pavements, a procedural sky (gradient, sun glow, soft clouds) where rays
  escape, and two cars that drive along their lanes as a function of time
  (`SynthView.dynamic` marks them).

`scene_by_name` builds the named scenes that the sample scenes on disk are made from.

Ray casting works on two kinds of boxes and, in the street, a ground plane:

- cells: the rooms and the passage, seen from inside. A ray leaves its cell through the
  nearest face (slab method, exit distance); if the exit point lies in a portal (the
  doorway) it carries on in the next cell, otherwise it has hit that wall.
- solids: furniture, buildings, cars, seen from outside (slab method, entry distance),
  nearest box wins; in the street a box is tested only against the pixels it covers.
- the ground (street only): the plane y = +1.5 seen from above, bounded by the street's
  `extent`; rays that meet neither ground nor box escape to the sky (depth +inf).

Every step is vectorised over all pixels (P = H * W rays); loops run only over the few
cells, portals, boxes and texture kinds. The slab helpers, textures and shading are shared by
the scene kinds.

Shading is world-anchored: the colour of a point depends only on its world position, the
face it lies on and a Lambert term of that face's normal (fixed lights, no shadows), so two
cameras that see the same surface point see the same colour. Moving objects carry their
texture with them (it is anchored to the object's own frame), and the sky's colour depends
only on the ray direction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from engine.camera import Camera

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


# --------------------------------------------------------------------------- data types


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
        if self.kind not in _TEXTURE_KINDS:
            raise ValueError(
                f"unknown texture kind {self.kind!r}, expected one of {sorted(_TEXTURE_KINDS)}"
            )


@dataclass(frozen=True)
class Box:
    """Axis-aligned box lo <= p <= hi (world units), one texture per face (see FACE_NAMES)."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    faces: tuple[Texture, Texture, Texture, Texture, Texture, Texture]

    @classmethod
    def uniform(cls, lo, hi, texture: Texture) -> Box:
        return cls(tuple(map(float, lo)), tuple(map(float, hi)), (texture,) * 6)

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


# --------------------------------------------------------------------------- the room scene


@dataclass(frozen=True)
class RoomScene:
    """Interior scene: `cells` seen from inside, linked by `portals`; `solids` seen from outside.

    Build it with `room_scene(seed)`. The camera must be strictly inside one of the cells.
    """

    cells: tuple[Box, ...]
    portals: tuple[Portal, ...]
    solids: tuple[Box, ...]
    seed: int = 0
    _tables: dict[str, Tensor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tables", _scene_tables(self.cells, self.solids))

    # ---- public API

    def render(self, camera: Camera, time: float = 0.0) -> SynthView:
        """Ray-cast every pixel of `camera`: rgb (3,H,W), depth (H,W), sky and dynamic masks.

        Nothing in the room moves and no ray escapes: `time` (seconds) is accepted for the
        common scene API and has no effect; the sky and dynamic masks are all False."""
        _as_time(time)
        h, w = camera.height, camera.width
        origin = camera.position.to(torch.float32)  # (3,)
        dirs = camera.ray_directions(torch.float32).reshape(-1, 3)  # (P,3), camera z = 1
        hits = self._trace(origin, dirs)
        points = origin + hits.t[:, None] * dirs  # (P,3) world hit points
        albedo = _albedo(points, hits, self._tables)  # (P,3)
        rgb = (albedo * _lambert(hits.normal)[:, None]).clamp(0.0, 1.0)
        return SynthView(
            rgb=rgb.T.reshape(3, h, w).contiguous(),
            depth=hits.t.reshape(h, w),
            sky=torch.zeros(h, w, dtype=torch.bool),
            dynamic=torch.zeros(h, w, dtype=torch.bool),
        )

    def sample_path(
        self,
        kind: str = "loop",
        n: int = 60,
        *,
        start=(0.0, 0.0, 0.0),
        distance: float = 4.0,
        margin: float = 0.3,
    ) -> list[Tensor]:
        """Camera-to-world poses ((4,4) float64 each) of a deterministic path in the room.

        kind: "forward": walk `distance` along +z from `start`, looking ahead.
              "loop": walk forward, turn 180 degrees in place, walk back to `start` (the last
                      pose is at `start`, looking -z): 40% / 20% / 40% of the n poses.
              "orbit": stand at `start` and look around one full turn, with a gentle pitch
                       swing, ending one step before the first pose.
        Every position is checked to be at least `margin` from furniture and walls.
        """
        return _sample_path(self, kind, n, start, distance, margin, "a wall or furniture")

    def clearance(self, point) -> float:
        """Distance from `point` (3,) to the nearest furniture box or wall of its cell.

        Returns -1.0 when the point is inside furniture or in no cell.
        """
        p = [float(c) for c in point]
        if any(box.contains(p) for box in self.solids):
            return -1.0
        cell = self._cell_of(p)
        if cell is None:
            return -1.0
        # Doorway edges are ignored: paths do not go through the door.
        to_walls = min(min(c - lo, hi - c) for c, lo, hi in zip(p, cell.lo, cell.hi))
        to_solids = [_box_distance(p, box) for box in self.solids]
        return min([to_walls, *to_solids])

    # ---- ray casting

    def _trace(self, origin: Tensor, dirs: Tensor) -> _Hits:
        """Nearest surface along each ray origin + t * dirs[p], t > 0. dirs: (P,3)."""
        inv = _safe_inverse(dirs)  # (P,3)
        room = self._trace_cells(origin, dirs, inv)
        if not self.solids:
            return room
        tab = self._tables
        solid, _ = _trace_boxes(origin, inv, tab["solid_lo"], tab["solid_hi"], tab["solid_tex"])
        return _nearer(room, solid)

    def _trace_cells(self, origin: Tensor, dirs: Tensor, inv: Tensor) -> _Hits:
        """Walls hit from inside: leave the current cell, go on through portals."""
        start = self._cell_of(origin.tolist())
        if start is None:
            raise ValueError(f"camera position {origin.tolist()} is outside the room")
        tab = self._tables
        n_rays = dirs.shape[0]
        t = torch.empty(n_rays, dtype=dirs.dtype)
        axis = torch.empty(n_rays, dtype=torch.int64)
        cell = torch.full((n_rays,), self.cells.index(start), dtype=torch.int64)
        active = torch.arange(n_rays)  # rays whose wall is still to be found
        for _ in range(len(self.cells)):  # a ray visits each cell at most once
            active_cell = cell.index_select(0, active)
            for c in range(len(self.cells)):
                rays = active[active_cell == c]
                if rays.numel() == 0:
                    continue
                t_c, axis_c = _slab_exit(
                    origin, inv.index_select(0, rays), tab["cell_lo"][c], tab["cell_hi"][c]
                )
                t.index_copy_(0, rays, t_c)
                axis.index_copy_(0, rays, axis_c)
            points = origin + t.index_select(0, active)[:, None] * dirs.index_select(0, active)
            nxt = self._through_portal(points, axis.index_select(0, active), active_cell)
            crossing = nxt >= 0
            if not bool(crossing.any()):
                break
            active = active[crossing]
            cell.index_copy_(0, active, nxt[crossing])
        side = (dirs.gather(1, axis[:, None])[:, 0] > 0).long()  # leaving through the hi plane
        face = axis * 2 + side
        normal = torch.zeros_like(dirs)  # points back into the cell
        normal.scatter_(1, axis[:, None], (1.0 - 2.0 * side.to(dirs.dtype))[:, None])
        return _Hits(t, face, tab["cell_tex"].flatten().index_select(0, cell * 6 + face), normal)

    def _through_portal(self, point: Tensor, axis: Tensor, cell: Tensor) -> Tensor:
        """(Q,) index of the cell a ray enters at its exit `point` (Q,3) through face `axis`
        of `cell`, or -1 where it hits a wall."""
        nxt = torch.full_like(cell, -1)
        for portal in self.portals:
            a, b = portal.cells
            crossing = (axis == portal.axis) & ((cell == a) | (cell == b))
            crossing &= (point[:, portal.axis] - portal.plane).abs() < 1e-3
            for k in range(3):
                if k != portal.axis:
                    crossing &= (point[:, k] >= portal.lo[k]) & (point[:, k] <= portal.hi[k])
            nxt = torch.where(crossing, torch.where(cell == a, b, a), nxt)
        return nxt

    def _cell_of(self, point: list[float]) -> Box | None:
        return next((cell for cell in self.cells if cell.contains(point)), None)


def room_scene(seed: int = 0) -> RoomScene:
    """The two-room interior with 4 to 6 furniture boxes placed by `seed` (deterministic).

    Room 0: x in [-4, 4], y in [-1.5, 1.5] (floor at +1.5), z in [-2, 8]; the default
    camera (origin, looking +z) stands 2 m in front of its back wall. A doorway 1.2 wide and
    2.1 high in the far wall leads through a 0.25 deep passage (cell 1) into the back room
    (cell 2): x in [-2.5, 2.5], y in [-1.1, 1.5] (lower ceiling), z in [8.25, 12].
    """
    rng = random.Random(seed)
    floor, ceiling = 1.5, -1.5
    door_lo, door_hi = (-0.6, -0.6, 0.0), (0.6, floor, 0.0)
    wall_a, wall_b = _wallpaper(rng), _wallpaper(rng)
    planks = Texture(
        "planks",
        _jitter(rng, (0.55, 0.36, 0.20)),
        _jitter(rng, (0.36, 0.22, 0.12)),
        scale=0.22,
        seed=rng.randrange(1 << 20),
    )
    tiles = Texture(
        "tiles",
        _jitter(rng, (0.85, 0.84, 0.80)),
        (0.55, 0.55, 0.55),
        scale=0.6,
        seed=rng.randrange(1 << 20),
    )
    stone = Texture(
        "tiles",
        _jitter(rng, (0.60, 0.58, 0.55)),
        (0.30, 0.30, 0.30),
        scale=0.45,
        seed=rng.randrange(1 << 20),
    )
    main = Box(
        (-4.0, ceiling, -2.0), (4.0, floor, 8.0), (wall_a, wall_a, tiles, planks, wall_a, wall_a)
    )
    passage = Box(
        (door_lo[0], door_lo[1], 8.0),
        (door_hi[0], door_hi[1], 8.25),
        (stone, stone, stone, planks, stone, stone),
    )
    back = Box(
        (-2.5, -1.1, 8.25), (2.5, floor, 12.0), (wall_b, wall_b, tiles, planks, wall_b, wall_b)
    )
    portals = [Portal(2, 8.0, door_lo, door_hi, (0, 1)), Portal(2, 8.25, door_lo, door_hi, (1, 2))]
    solids = _place_furniture(rng, main, back, seed)
    return RoomScene((main, passage, back), tuple(portals), tuple(solids), seed=seed)


def _scene_tables(cells: tuple[Box, ...], solids: tuple[Box, ...]) -> dict[str, Tensor]:
    """The scene as tensors: box bounds (float32), per-face indices into a texture table and
    the texture table's columns (kind index, colours, scale, seed)."""
    textures: list[Texture] = []
    f32 = torch.float32
    tables = {
        "cell_lo": torch.tensor([c.lo for c in cells], dtype=f32),  # (R,3)
        "cell_hi": torch.tensor([c.hi for c in cells], dtype=f32),  # (R,3)
        "cell_tex": torch.tensor([_texture_ids(c, textures) for c in cells]),  # (R,6)
        **_box_tables("solid", solids, textures),
    }
    tables.update(_texture_columns(textures))
    return tables


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
    kinds = list(_TEXTURE_KINDS)
    f32 = torch.float32
    return {
        "tex_kind": torch.tensor([kinds.index(t.kind) for t in textures]),  # (T,)
        "tex_a": torch.tensor([t.color_a for t in textures], dtype=f32),  # (T,3)
        "tex_b": torch.tensor([t.color_b for t in textures], dtype=f32),  # (T,3)
        "tex_scale": torch.tensor([t.scale for t in textures], dtype=f32),  # (T,)
        "tex_seed": torch.tensor([t.seed for t in textures]),  # (T,)
    }


def _wallpaper(rng: random.Random) -> Texture:
    base = (rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.85))
    dark = tuple(c * rng.uniform(0.55, 0.75) for c in base)
    return Texture(
        "stripes",
        base,
        dark,
        scale=rng.uniform(0.18, 0.4),
        seed=rng.randrange(1 << 20),
    )


def _jitter(rng: random.Random, color: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(min(1.0, max(0.0, c + rng.uniform(-0.06, 0.06))) for c in color)


def _place_furniture(rng: random.Random, main: Box, back: Box, seed: int) -> list[Box]:
    """4-6 boxes standing on the floor: one in the `back` room, the others along the side
    walls of the `main` room, outside the corridor |x| < CORRIDOR_HALF_WIDTH, not overlapping."""
    floor = main.hi[1]
    count = rng.randint(4, 6)
    boxes: list[Box] = []
    attempts = 0
    while len(boxes) < count:
        attempts += 1
        if attempts > 1000:
            raise RuntimeError(f"could not place {count} furniture boxes for seed {seed}")
        if not boxes:  # the first one goes into the back room, beside the door axis
            size = (rng.uniform(0.5, 1.2), rng.uniform(0.4, 1.8), rng.uniform(0.5, 1.2))
            x_near = rng.uniform(0.9, back.hi[0] - size[0] - 0.1)  # |x| of the near edge
            x0 = x_near if rng.random() < 0.5 else -x_near - size[0]
            z0 = rng.uniform(back.lo[2] + 1.0, back.hi[2] - size[2] - 0.1)
            height_cap = floor - back.lo[1] - 0.3
        else:  # along a side wall of the main room, outside the corridor
            size = (rng.uniform(0.5, 1.6), rng.uniform(0.4, 2.0), rng.uniform(0.5, 1.6))
            x_near = rng.uniform(CORRIDOR_HALF_WIDTH, main.hi[0] - size[0] - 0.05)
            x0 = x_near if rng.random() < 0.5 else -x_near - size[0]
            z0 = rng.uniform(main.lo[2] + 0.1, main.hi[2] - size[2] - 0.1)
            height_cap = floor - main.lo[1] - 0.3
        lo = (x0, floor - min(size[1], height_cap), z0)
        hi = (x0 + size[0], floor, z0 + size[2])
        if any(_boxes_overlap(lo, hi, b, gap=0.2) for b in boxes):
            continue
        base = (rng.uniform(0.15, 0.9), rng.uniform(0.15, 0.9), rng.uniform(0.15, 0.9))
        other = tuple(c * rng.uniform(0.4, 0.8) for c in base)
        texture = Texture(
            "noise", base, other, scale=rng.uniform(0.15, 0.5), seed=rng.randrange(1 << 20)
        )
        boxes.append(Box.uniform(lo, hi, texture))
    return boxes


def _boxes_overlap(lo, hi, box: Box, gap: float) -> bool:
    return all(
        a_lo < b_hi + gap and b_lo < a_hi + gap
        for a_lo, a_hi, b_lo, b_hi in zip(lo, hi, box.lo, box.hi)
    )


def _box_distance(point: list[float], box: Box) -> float:
    """Euclidean distance from a point outside `box` to the box."""
    gaps = [max(lo - p, 0.0, p - hi) for p, lo, hi in zip(point, box.lo, box.hi)]
    return math.sqrt(sum(g * g for g in gaps))


# --------------------------------------------------------------------------- the street scene

ROAD_HALF_WIDTH = 3.5  # the road is |x| < 3.5 (two lanes), then a 0.25 kerb and pavements
BUILDING_LINE = 7.0  # the street-side faces of the buildings are at |x| >= this
LANE_X = 1.75  # lane centres: x = +1.75 (traffic drives +z) and x = -1.75 (drives -z)
STREET_Z = (-40.0, 120.0)  # the rows of buildings; a building stands across each end
DRIVE_Z = (-36.0, 116.0)  # cars drive within this z range and reappear at the other end
STOREY_HEIGHT = 3.0  # one row of windows per storey in the facade textures
BRICK_LENGTH = 0.25  # brick length of the "brick_windows" facade


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
                tuple(a + s for a, s in zip(part.lo, shift)),
                tuple(a + s for a, s in zip(part.hi, shift)),
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
        trim = tuple(c * rng.uniform(0.6, 0.8) for c in wall)
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
    return Box(tuple(map(float, lo)), tuple(map(float, hi)), tuple(faces))


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
    body = Texture("noise", paint, tuple(c * 0.7 for c in paint), 0.5, rng.randrange(1 << 20))
    glass = Texture("noise", (0.12, 0.15, 0.19), (0.30, 0.36, 0.42), 0.4, rng.randrange(1 << 20))
    tyre = Texture("noise", (0.05, 0.05, 0.05), (0.16, 0.16, 0.16), 0.1, rng.randrange(1 << 20))
    g = GROUND_Y
    parts = (
        Box.uniform((-0.9, g - 1.0, -2.1), (0.9, g - 0.3, 2.1), body),
        Box.uniform((-0.8, g - 1.45, -1.2), (0.8, g - 1.0, 0.9), glass),
        Box.uniform((-0.95, g - 0.62, 1.05), (0.95, g, 1.7), tyre),
        Box.uniform((-0.95, g - 0.62, -1.7), (0.95, g, -1.05), tyre),
    )
    return Mover(parts, tuple(map(float, start)), float(speed), DRIVE_Z)


def _as_time(time: float) -> float:
    value = float(time)
    if not math.isfinite(value):
        raise ValueError(f"time must be a finite number of seconds, got {time!r}")
    return value


# --------------------------------------------------------------------------- scenes by name

SCENE_NAMES = ("room", "room-2", "street")
"""The synthetic scenes `scene_by_name` knows; the sample scenes on disk are made from them."""


def scene_by_name(name: str) -> RoomScene | StreetScene:
    """The synthetic scene called `name`.

    "room": room_scene(0); "room-2": room_scene(1), the same two rooms with other wallpaper,
    floor and furniture; "street": street_scene(0).
    """
    if name == "room":
        return room_scene(0)
    if name == "room-2":
        return room_scene(1)
    if name == "street":
        return street_scene(0)
    raise ValueError(f"unknown synthetic scene {name!r}, expected one of {list(SCENE_NAMES)}")


# --------------------------------------------------------------------------- paths


def _sample_path(
    scene: RoomScene | StreetScene,
    kind: str,
    n: int,
    start,
    distance: float,
    margin: float,
    obstacles: str,
) -> list[Tensor]:
    """The poses of `scene.sample_path` (see RoomScene.sample_path), each position checked
    against `scene.clearance`; `obstacles` names what a path may pass too close to."""
    if n < 2:
        raise ValueError(f"sample_path needs n >= 2, got {n}")
    start = torch.tensor(start, dtype=torch.float64)
    if kind == "forward":
        poses = _forward_path(start, distance, n)
    elif kind == "loop":
        poses = _loop_path(start, distance, n)
    elif kind == "orbit":
        poses = _orbit_path(start, n)
    else:
        raise ValueError(f"unknown path kind {kind!r}, expected 'forward', 'loop' or 'orbit'")
    for pose in poses:
        position = pose[:3, 3].tolist()
        if scene.clearance(position) < margin:
            raise ValueError(
                f"{kind} path from {start.tolist()} over {distance} passes "
                f"within {margin} of {obstacles} at {position}"
            )
    return poses


def _yaw_pose(position: Tensor, yaw: float, pitch: float = 0.0) -> Tensor:
    """Camera-to-world (4,4) float64 at `position`, turned by `yaw` radians about the world
    vertical (yaw 0 looks +z, yaw pi/2 looks +x) and tilted up by `pitch` radians."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    forward = torch.tensor([sy * cp, -sp, cy * cp], dtype=torch.float64)
    right = torch.tensor([cy, 0.0, -sy], dtype=torch.float64)
    down = torch.linalg.cross(forward, right)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, position
    return pose


def _forward_path(start: Tensor, distance: float, n: int) -> list[Tensor]:
    step = torch.tensor([0.0, 0.0, distance], dtype=torch.float64)
    return [_yaw_pose(start + step * (i / (n - 1)), 0.0) for i in range(n)]


def _loop_path(start: Tensor, distance: float, n: int) -> list[Tensor]:
    """Path parameter s = i / (n-1): walk out for s < 0.4, turn until 0.6, walk back to 1."""
    far = start + torch.tensor([0.0, 0.0, distance], dtype=torch.float64)
    poses = []
    for i in range(n):
        s = i / (n - 1)
        if s <= 0.4:
            poses.append(_yaw_pose(torch.lerp(start, far, s / 0.4), 0.0))
        elif s < 0.6:
            poses.append(_yaw_pose(far, math.pi * (s - 0.4) / 0.2))
        else:
            poses.append(_yaw_pose(torch.lerp(far, start, (s - 0.6) / 0.4), math.pi))
    return poses


def _orbit_path(center: Tensor, n: int) -> list[Tensor]:
    return [
        _yaw_pose(center, 2 * math.pi * i / n, 0.15 * math.sin(4 * math.pi * i / n))
        for i in range(n)
    ]


# --------------------------------------------------------------------------- ray helpers


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


# --------------------------------------------------------------------------- textures


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


# --------------------------------------------------------------------------- sky


@dataclass(frozen=True)
class Weather:
    """The sky and light of a street: the sky's colours at the horizon and the zenith (and
    of its clouds, covering `cloud_cover` of it, 0-1), the glow around the key light, the
    light's colour times the surfaces' shading, and the fog's visibility in metres (0: no
    fog; surfaces fade to the horizon colour as 1 - exp(-distance / visibility))."""

    horizon: tuple[float, float, float]
    zenith: tuple[float, float, float]
    cloud: tuple[float, float, float] = (0.97, 0.97, 0.96)
    cloud_cover: float = 0.9
    glow: float = 1.0
    light: tuple[float, float, float] = (1.0, 1.0, 1.0)
    visibility: float = 0.0


WEATHERS = {
    # the sample street's: a clear day with soft clouds
    "clear": Weather(horizon=(0.80, 0.86, 0.92), zenith=(0.25, 0.45, 0.82)),
    # after sunset: a deep blue sky, dark surfaces
    "dusk": Weather(
        horizon=(0.36, 0.42, 0.60),
        zenith=(0.05, 0.09, 0.26),
        cloud=(0.22, 0.24, 0.34),
        cloud_cover=0.5,
        glow=0.15,
        light=(0.32, 0.34, 0.45),
    ),
    # a grey sky, flat light, a little haze
    "overcast": Weather(
        horizon=(0.80, 0.81, 0.83),
        zenith=(0.60, 0.62, 0.66),
        cloud=(0.70, 0.71, 0.73),
        cloud_cover=1.0,
        glow=0.0,
        light=(0.78, 0.78, 0.80),
        visibility=400.0,
    ),
    # fog: a white-grey sky and everything far fading into it
    "fog": Weather(
        horizon=(0.78, 0.79, 0.80),
        zenith=(0.70, 0.71, 0.73),
        cloud=(0.76, 0.77, 0.78),
        cloud_cover=0.6,
        glow=0.0,
        light=(0.75, 0.75, 0.76),
        visibility=45.0,
    ),
    # the sun low: an orange horizon under a blue-violet sky, warm light
    "sunset": Weather(
        horizon=(0.98, 0.62, 0.36),
        zenith=(0.28, 0.32, 0.58),
        cloud=(0.95, 0.70, 0.55),
        cloud_cover=0.6,
        glow=1.5,
        light=(0.95, 0.75, 0.58),
    ),
}
"""The weathers a street can have (StreetScene.weather); the depth network trains on all."""


def vary(weather: Weather, rng: random.Random, amount: float = 1.0) -> Weather:
    """Another weather like `weather`: each colour moved by up to 0.08 x amount per channel
    (the sky's) or scaled by up to 20% (the light), the cloud cover by up to 0.2 and the
    fog's visibility by a factor up to 2 either way, drawn from `rng`."""

    def colour(c, spread=0.08 * amount):
        return tuple(min(1.0, max(0.0, v + rng.uniform(-spread, spread))) for v in c)

    gain = 1.0 + rng.uniform(-0.2, 0.2) * amount
    return replace(
        weather,
        horizon=colour(weather.horizon),
        zenith=colour(weather.zenith),
        cloud=colour(weather.cloud),
        cloud_cover=min(1.0, max(0.0, weather.cloud_cover + rng.uniform(-0.2, 0.2) * amount)),
        light=tuple(min(1.2, v * gain) for v in colour(weather.light, 0.04 * amount)),
        visibility=weather.visibility * 2.0 ** rng.uniform(-amount, amount),
    )


_HAZE = (0.70, 0.72, 0.74)  # below the horizon, beyond the end of the ground
_SUN_GLOW = (1.0, 0.88, 0.65)


def _sky_colour(dirs: Tensor, seed: int, weather: Weather = WEATHERS["clear"]) -> Tensor:
    """(Q,3) colour of rays (Q,3) that escape, from their direction only: a gradient from
    the horizon to the zenith, a glow around the key light's direction and soft clouds on a
    plane above (fading towards the horizon); haze below the horizon. Colours: `weather`'s."""
    d = dirs / dirs.norm(dim=1, keepdim=True)
    rise = -d[:, 1]  # sine of the elevation (+y is down)
    horizon, zenith = torch.tensor(weather.horizon), torch.tensor(weather.zenith)
    haze = torch.tensor(_HAZE) if not weather.visibility else horizon
    colour = torch.lerp(horizon, zenith, rise.clamp(min=0.0).pow(0.6)[:, None])
    colour = torch.where(
        (rise < 0)[:, None],
        torch.lerp(horizon, haze, (-8.0 * rise).clamp(max=1.0)[:, None]),
        colour,
    )
    sun = torch.tensor(_LIGHTS[0][0])
    closeness = d @ (sun / sun.norm()) - 1.0  # cos(angle to the sun) - 1, in [-2, 0]
    glow = 0.35 * torch.exp(30.0 * closeness) + 0.5 * torch.exp(2000.0 * closeness)
    colour = colour + weather.glow * glow[:, None] * torch.tensor(_SUN_GLOW)
    # Clouds: the point where the ray meets a plane above, at the same height for every ray.
    reach = 1.0 / rise.clamp(min=0.05)
    seeds = torch.full_like(rise, seed * 7919 + 12345, dtype=torch.int64)
    density = _fbm(d[:, 0] * reach * 1.5, d[:, 2] * reach * 1.5, seeds, 5)
    cover = ((density - 0.48) / 0.22).clamp(0.0, 1.0)
    cover = cover * cover * (3 - 2 * cover) * ((rise - 0.02) / 0.2).clamp(0.0, 1.0)
    shade = 0.85 + 0.15 * _fbm(d[:, 0] * reach * 6.0, d[:, 2] * reach * 6.0, seeds + 1, 2)
    cloud = torch.tensor(weather.cloud) * shade[:, None]
    return torch.lerp(colour, cloud, (weather.cloud_cover * cover)[:, None]).clamp(0.0, 1.0)
