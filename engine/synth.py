"""Analytic synthetic scenes, ray-cast in torch for any Camera (no GL).

Used for tests, benchmarks and codec training: every view comes with exact depth, so a
memory readout can be checked against ground truth. Scenes are deterministic by seed.

Conventions are those of engine.camera (OpenCV axes: +x right, +y DOWN, +z forward). World
up is -y, so the floor of the room is the plane y = +1.5 and the ceiling y = -1.5.

One scene kind for now, `room_scene`: an interior room (8 wide in x, 3 high in y, 10 deep in
z) whose far wall has a doorway, through a short passage (the wall thickness), into a second,
smaller room; 4 to 6 furniture boxes are placed by the seed along the side walls and in the
back room, leaving a free corridor |x| < 1.6 where camera paths run.

Ray casting works on two kinds of boxes:

- cells: the rooms and the passage, seen from inside. A ray leaves its cell through the
  nearest face (slab method, exit distance); if the exit point lies in a portal (the
  doorway) it carries on in the next cell, otherwise it has hit that wall.
- solids: furniture, seen from outside (slab method, entry distance), nearest box wins.

Every step is vectorised over all pixels (P = H * W rays); loops run only over the few
cells, portals, boxes and texture kinds.

Adding a scene kind (an exterior with sky and a moving object is planned): a class with
`render(camera) -> SynthView` and `sample_path(kind, n, ...)`, built by a `<kind>_scene(seed)`
function; the slab helpers, textures and shading below are shared.

Shading is world-anchored: the colour of a point depends only on its world position, the
face it lies on and a Lambert term of that face's normal (fixed lights, no shadows), so two
cameras that see the same surface point see the same colour.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

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


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Texture:
    """A procedural texture, evaluated from world coordinates of the face it is on.

    kind: "planks" (floor boards, `scale` = board width), "tiles" (square tiles of side
    `scale` with grout in `color_b`), "stripes" (wallpaper, vertical stripes of period
    `scale`), or "noise" (value-noise blotches of size `scale`, mixing color_a and color_b).
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
    depth: Tensor  # (H, W) float32, camera-frame z in scene units, > 0
    sky: Tensor  # (H, W) bool, rays that escape to the sky (never in a closed room)
    dynamic: Tensor  # (H, W) bool, pixels on moving objects (none yet)


@dataclass
class _Hits:
    """Per-ray hit record, P = number of rays."""

    t: Tensor  # (P,) ray parameter = camera-frame depth
    face: Tensor  # (P,) int64 face index 0..5 of the box that was hit
    texture: Tensor  # (P,) int64 index into the scene's texture table
    normal: Tensor  # (P, 3) unit normal facing the camera side


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

    def render(self, camera: Camera) -> SynthView:
        """Ray-cast every pixel of `camera`: rgb (3,H,W), depth (H,W), sky and dynamic masks."""
        h, w = camera.height, camera.width
        origin = camera.position.to(torch.float32)  # (3,)
        dirs = camera.ray_directions(torch.float32).reshape(-1, 3)  # (P,3), camera z = 1
        hits = self._trace(origin, dirs)
        points = origin + hits.t[:, None] * dirs  # (P,3) world hit points
        albedo = self._albedo(points, hits)  # (P,3)
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
            if self.clearance(position) < margin:
                raise ValueError(
                    f"{kind} path from {start.tolist()} over {distance} passes "
                    f"within {margin} of a wall or furniture at {position}"
                )
        return poses

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
        solid = self._trace_solids(origin, inv)
        take = solid.t < room.t
        return _Hits(
            t=torch.where(take, solid.t, room.t),
            face=torch.where(take, solid.face, room.face),
            texture=torch.where(take, solid.texture, room.texture),
            normal=torch.where(take[:, None], solid.normal, room.normal),
        )

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

    def _trace_solids(self, origin: Tensor, inv: Tensor) -> _Hits:
        """Furniture hit from outside: nearest entry over all boxes, one box at a time."""
        tab = self._tables
        n_rays = inv.shape[0]
        t = torch.full((n_rays,), math.inf, dtype=inv.dtype)
        axis = torch.zeros(n_rays, dtype=torch.int64)
        box = torch.zeros(n_rays, dtype=torch.int64)
        for k in range(len(self.solids)):
            t_k, axis_k = _slab_entry(origin, inv, tab["solid_lo"][k], tab["solid_hi"][k])
            closer = t_k < t
            t = torch.where(closer, t_k, t)
            axis = torch.where(closer, axis_k, axis)
            box = torch.where(closer, k, box)
        entering_lo = inv.gather(1, axis[:, None])[:, 0] > 0  # moving +axis: meets the lo plane
        side = (~entering_lo).long()
        face = axis * 2 + side
        normal = torch.zeros_like(inv)  # points out of the box, towards the camera
        normal.scatter_(1, axis[:, None], (2.0 * side.to(inv.dtype) - 1.0)[:, None])
        return _Hits(t, face, tab["solid_tex"].flatten().index_select(0, box * 6 + face), normal)

    def _cell_of(self, point: list[float]) -> Box | None:
        return next((cell for cell in self.cells if cell.contains(point)), None)

    # ---- texturing

    def _albedo(self, points: Tensor, hits: _Hits) -> Tensor:
        """(P,3) surface colour from world hit points (P,3), evaluated once per texture kind."""
        tab = self._tables
        u, v = _face_uv(points, hits.face)
        kind_of_ray = tab["tex_kind"].index_select(0, hits.texture)
        out = torch.empty_like(points)
        for kind_id, texture_fn in enumerate(_TEXTURE_KINDS.values()):
            rays = (kind_of_ray == kind_id).nonzero()[:, 0]
            if rays.numel() == 0:
                continue
            tex = hits.texture.index_select(0, rays)
            face = hits.face.index_select(0, rays)
            params = _TexParams(
                color_a=tab["tex_a"].index_select(0, tex),
                color_b=tab["tex_b"].index_select(0, tex),
                scale=tab["tex_scale"].index_select(0, tex),
                seed=tab["tex_seed"].index_select(0, tex) * 16 + face,
            )
            colour = texture_fn(u.index_select(0, rays), v.index_select(0, rays), params)
            out.index_copy_(0, rays, colour)
        return out


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

    def texture_ids(box: Box) -> list[int]:
        ids = []
        for texture in box.faces:
            if texture not in textures:
                textures.append(texture)
            ids.append(textures.index(texture))
        return ids

    f32 = torch.float32
    tables = {
        "cell_lo": torch.tensor([c.lo for c in cells], dtype=f32),  # (R,3)
        "cell_hi": torch.tensor([c.hi for c in cells], dtype=f32),  # (R,3)
        "cell_tex": torch.tensor([texture_ids(c) for c in cells]),  # (R,6)
        "solid_lo": torch.tensor([s.lo for s in solids], dtype=f32).reshape(-1, 3),  # (K,3)
        "solid_hi": torch.tensor([s.hi for s in solids], dtype=f32).reshape(-1, 3),  # (K,3)
        "solid_tex": torch.tensor([texture_ids(s) for s in solids]).reshape(-1, 6),  # (K,6)
    }
    kinds = list(_TEXTURE_KINDS)
    tables.update(
        tex_kind=torch.tensor([kinds.index(t.kind) for t in textures]),  # (T,)
        tex_a=torch.tensor([t.color_a for t in textures], dtype=f32),  # (T,3)
        tex_b=torch.tensor([t.color_b for t in textures], dtype=f32),  # (T,3)
        tex_scale=torch.tensor([t.scale for t in textures], dtype=f32),  # (T,)
        tex_seed=torch.tensor([t.seed for t in textures]),  # (T,)
    )
    return tables


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


# --------------------------------------------------------------------------- paths


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


_TEXTURE_KINDS = {"planks": _planks, "tiles": _tiles, "stripes": _stripes, "noise": _noise}
