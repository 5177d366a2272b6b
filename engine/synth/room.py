"""The two-room interior (RoomScene, room_scene)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.camera import Camera
from engine.synth.common import (
    CORRIDOR_HALF_WIDTH,
    Box,
    Portal,
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
    _texture_ids,
    _vec3,
)
from engine.synth.paths import _sample_path
from engine.synth.rays import _lambert, _safe_inverse, _slab_exit, _trace_boxes
from engine.synth.textures import _albedo


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


def _wallpaper(rng: random.Random) -> Texture:
    base = (rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.85))
    dark = _vec3(c * rng.uniform(0.55, 0.75) for c in base)
    return Texture(
        "stripes",
        base,
        dark,
        scale=rng.uniform(0.18, 0.4),
        seed=rng.randrange(1 << 20),
    )


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
        other = _vec3(c * rng.uniform(0.4, 0.8) for c in base)
        texture = Texture(
            "noise", base, other, scale=rng.uniform(0.15, 0.5), seed=rng.randrange(1 << 20)
        )
        boxes.append(Box.uniform(lo, hi, texture))
    return boxes
