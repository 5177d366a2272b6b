"""Scene layout: the shape of what a photo does not show, so generation has one.

A photo shows a part of a room or of a street or landscape; behind and beside the camera
the world goes on in the same shape: the floor or ground continues, walls close a room and
a ceiling covers it, and outdoors the ground runs to a far edge with the sky above it. The
layout is the simplest model of that, fitted once to the seed's lifted tokens:

    a floor plane below the camera; vertical walls on an axis-aligned box in the ground
    frame (the seed camera's: up = -y); indoors a ceiling plane on top of the walls,
    outdoors the walls stop at `top` and above them is the sky (a dome at infinity).

Fitting (`Layout.estimate`), from the seed's token points (heights above the camera along
up, positions in the ground plane):

- indoors or out: outdoors when at least OUTDOOR_SKY of the top third of the photo is sky
  (or of unknown depth: depth sensors and stereo see nothing there);
- the floor: the FLOOR_QUANTILE lowest height when that is at least SEEN_DROP median
  depths below the camera; else (a photo that sees no floor) MIN_DROP median depths below;
- the ceiling (indoors): the CEILING_QUANTILE highest height, at least MIN_RISE times the
  camera's height above the floor; outdoors, `top`: that height of the non-sky points;
- the walls: the box of the points' ground positions (WALL_QUANTILE and its complement
  sideways, WALL_QUANTILE forward), the room behind the camera as deep as the room in
  front of it (the seen half reflected: a photo is taken from inside the room, rarely
  against its back wall), each side at least MIN_HALF times the median depth.

`trace` casts the rays of any camera into the layout: per latent pixel a surface class
(SKY, FLOOR, WALL, CEILING) and the camera-frame depth of the hit (+inf for sky).
`classify` sorts tokens of known depth (the photo's, a readout's) into the same classes,
so the generator fills each unseen surface from tokens of its own class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.camera import Camera
from engine.memory.latent import GroundFrame

SKY, FLOOR, WALL, CEILING = 0, 1, 2, 3
CLASSES = 4  # the guide's first channels: the class one-hot

OUTDOOR_SKY = 0.15
"""Outdoors when at least this share of the photo's top third is sky."""
FLOOR_QUANTILE = 0.03
CEILING_QUANTILE = 0.97
WALL_QUANTILE = 0.95
MIN_DROP = 0.25
"""A photo that sees no floor gets one this many median depths below the camera."""
SEEN_DROP = 0.05
"""The photo sees a floor when its lowest points lie this many median depths below the
camera or more."""
MIN_RISE = 0.5
"""A ceiling lies at least this many camera heights above the camera."""
MIN_HALF = 0.5
"""Each wall of the box lies at least this many median depths from the camera."""
NEAR_PLANE = 0.2
"""A token within this share of the camera's height of the floor (ceiling) plane is floor
(ceiling)."""


@dataclass
class Layout:
    """The fitted layout, in the ground frame of the seed camera (module docstring)."""

    frame: GroundFrame  # the seed camera's position and its right, forward, up axes
    floor: float  # height of the floor plane above the origin (< 0)
    top: float  # height where the walls end (the ceiling indoors)
    indoor: bool  # a ceiling closes the box (else sky above the walls)
    box: tuple[float, float, float, float]  # (right min, right max, forward min, forward max)

    # ---- fitting

    @classmethod
    def estimate(cls, camera: Camera, depth: Tensor) -> Layout:
        """Fit to one frame: camera (its size is depth's grid), depth (h, w) camera-frame z
        (+inf sky, 0 or non-finite unknown)."""
        h, w = depth.shape
        if (camera.width, camera.height) != (w, h):
            camera = camera.scaled(w, h)
        frame = GroundFrame.from_camera(camera)
        d = depth.double()
        # depth sensors and stereo see nothing in the sky: unknown counts as sky here
        sky = (d == math.inf) | ~(d > 0)
        top_third = sky[: max(1, h // 3)]
        indoor = float(top_third.float().mean()) < OUTDOOR_SKY
        geo = torch.isfinite(d) & (d > 0)
        if int(geo.sum()) < 4:
            # nothing to fit: a room of unit size around the camera
            return cls(frame, -1.0, 1.0, indoor, (-2.0, 2.0, -2.0, 2.0))
        pts = camera.unproject(camera.pixel_grid(torch.float64)[geo], d[geo])  # (n, 3)
        (gr, gf), height = frame.to_ground(pts).T, (pts - frame.origin) @ frame.up
        median = float(d[geo].median())
        low = float(torch.quantile(height, FLOOR_QUANTILE))
        floor = low if low <= -SEEN_DROP * median else -MIN_DROP * median
        high = float(torch.quantile(height, CEILING_QUANTILE))
        top = max(high, MIN_RISE * -floor)
        reach = MIN_HALF * median
        fwd = max(float(torch.quantile(gf, WALL_QUANTILE)), reach)
        lo = min(float(torch.quantile(gr, 1 - WALL_QUANTILE)), -reach)
        hi = max(float(torch.quantile(gr, WALL_QUANTILE)), reach)
        return cls(frame, floor, top, indoor, (lo, hi, -fwd, fwd))

    # ---- rays

    def _ground(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(right, forward, up) coordinates of world points (N, 3) in the ground frame."""
        (right, forward), up = (
            self.frame.to_ground(points).T,
            (points.double() - self.frame.origin) @ self.frame.up,
        )
        return right, forward, up

    def trace(self, camera: Camera) -> tuple[Tensor, Tensor]:
        """Class (h, w) long and camera-frame depth (h, w) float32 (+inf for sky) of every
        pixel of `camera` (use the latent-grid camera) on the layout."""
        h, w = camera.height, camera.width
        uv = camera.pixel_grid(torch.float64).reshape(-1, 2)
        far = camera.unproject(uv, torch.ones(len(uv), dtype=torch.float64))
        c = camera.position.double()
        ray = far - c  # camera-frame z of each ray is 1 per unit of t
        cr, cf, cu = self._ground(c[None])
        f = self.frame
        dr, df, du = ray @ f.right, ray @ f.forward, ray @ f.up
        inf = torch.full_like(du, math.inf)
        tiny = 1e-12

        def plane(height: float, down: bool) -> Tensor:
            going = du < -tiny if down else du > tiny
            t = (height - cu) / torch.where(going, du, 1.0)
            return torch.where(going & (t > 0), t, inf)

        t_floor = plane(self.floor, True)
        t_ceil = plane(self.top, False) if self.indoor else inf
        lo_r, hi_r, lo_f, hi_f = self.box

        def slab(cpos: Tensor, dpos: Tensor, lo: float, hi: float) -> Tensor:
            # where the ray leaves the slab lo <= x <= hi (inside it: the exit; outside:
            # the far side as seen from outside, or never)
            t_hi = torch.where(dpos > tiny, (hi - cpos) / dpos.clamp(min=tiny), inf)
            t_lo = torch.where(dpos < -tiny, (lo - cpos) / dpos.clamp(max=-tiny), inf)
            t = torch.minimum(t_hi, t_lo)
            return torch.where(t > 0, t, inf)

        t_wall = torch.minimum(slab(cr, dr, lo_r, hi_r), slab(cf, df, lo_f, hi_f))
        wall_height = cu + t_wall * du
        t_wall = torch.where(self.indoor | (wall_height <= self.top), t_wall, inf)
        stack = torch.stack([inf, t_floor, t_wall, t_ceil])  # index = class
        t, cls = stack.min(0)
        cls = torch.where(torch.isinf(t), SKY, cls)
        return cls.reshape(h, w), t.float().reshape(h, w)

    def classify(self, camera: Camera, depth: Tensor) -> Tensor:
        """Class (h, w) long of tokens of known depth (h, w) seen by camera: sky where depth
        is +inf; floor (ceiling) within NEAR_PLANE camera heights of its plane and level
        (the surface through the token and its neighbours faces up or down within
        LEVEL_DEGREES: the foot of a cupboard is near the floor but not floor; when fewer
        than MIN_CLASS tokens near a plane are level, as with a rough depth estimate, the
        tokens near it); wall otherwise; -1 where the depth is unknown."""
        h, w = depth.shape
        if (camera.width, camera.height) != (w, h):
            camera = camera.scaled(w, h)
        d = depth.double()
        geo = torch.isfinite(d) & (d > 0)
        uv = camera.pixel_grid(torch.float64).reshape(-1, 2)
        pts = camera.unproject(uv, torch.where(geo, d, 1.0).reshape(-1))
        _, _, height = self._ground(pts)
        height = height.reshape(h, w)
        flat = _level(pts.reshape(h, w, 3), geo, self.frame.up)
        band = NEAR_PLANE * -self.floor
        out = torch.full((h, w), WALL, dtype=torch.long)
        planes = [(FLOOR, height <= self.floor + band)]
        if self.indoor:
            planes.append((CEILING, height >= self.top - band))
        for cls, near in planes:
            near = near & geo
            # a depth too rough for its normals leaves no level token: then near is enough
            out[near & flat if int((near & flat).sum()) >= MIN_CLASS else near] = cls
        out[~geo] = -1
        out[d == math.inf] = SKY
        return out

    def guide(self, camera: Camera, depth: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The guide of a frame of `camera` (latent grid) whose tokens have `depth` (h, w)
        (0 where unknown or to be generated, +inf sky): (guide (6, h, w), see
        guide_features; the layout's class (h, w) and depth (h, w) along each ray, see
        trace). A token of known depth has its own class (classify) and relief, the others
        the layout's class and no relief."""
        traced, traced_depth = self.trace(camera)
        seen = self.classify(camera, depth)
        classes = torch.where(seen >= 0, seen, traced)
        return guide_features(self, camera, classes, depth, traced_depth), traced, traced_depth

    def to_dict(self) -> dict:
        return {
            "frame": self.frame.to_dict(),
            "floor": self.floor,
            "top": self.top,
            "indoor": self.indoor,
            "box": list(self.box),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        x0, x1, y0, y1 = (float(v) for v in d["box"])
        return cls(
            GroundFrame.from_dict(d["frame"]),
            float(d["floor"]),
            float(d["top"]),
            bool(d["indoor"]),
            (x0, x1, y0, y1),
        )


MIN_CLASS = 16
"""Fewer level tokens near a plane than this: the tokens near it count, level or not."""
LEVEL_DEGREES = 40.0
"""A surface whose normal is within this of up (or down) is level: floor or ceiling."""


def _level(points: Tensor, valid: Tensor, up: Tensor) -> Tensor:
    """(h, w) bool: the surface at each token of a grid of points (h, w, 3) is level, its
    normal (the cross product of the central differences along the grid, one-sided at
    the borders and where a neighbour is not valid) within LEVEL_DEGREES of up or down.
    A token with no valid neighbour along an axis is not level."""

    def diff(axis: int) -> tuple[Tensor, Tensor]:
        p = points
        n = p.shape[axis]
        fwd = torch.zeros_like(p)
        bwd = torch.zeros_like(p)
        ok_f = torch.zeros(valid.shape, dtype=torch.bool)
        ok_b = torch.zeros(valid.shape, dtype=torch.bool)
        lo = tuple(slice(0, n - 1) if a == axis else slice(None) for a in range(2))
        hi = tuple(slice(1, n) if a == axis else slice(None) for a in range(2))
        both = valid[lo] & valid[hi]
        fwd[lo] = p[hi] - p[lo]
        ok_f[lo] = both
        bwd[hi] = p[hi] - p[lo]
        ok_b[hi] = both
        d = torch.where(ok_f[..., None], fwd, 0.0) + torch.where(ok_b[..., None], bwd, 0.0)
        return d, ok_f | ok_b

    du, ok_u = diff(1)
    dv, ok_v = diff(0)
    normal = torch.linalg.cross(du, dv, dim=-1)
    length = normal.norm(dim=-1)
    cos = (normal @ up.double()).abs() / length.clamp(min=1e-12)
    return ok_u & ok_v & valid & (length > 0) & (cos >= math.cos(math.radians(LEVEL_DEGREES)))


CLASS_WEIGHT = 2.0
"""Guide scale of the class one-hot: two classes differ by 2 CLASS_WEIGHT^2 per token."""
RELIEF_WEIGHT = 3.0
"""Guide scale of the relief: a token at a third of the layout's depth costs about 11."""
ELEVATION_WEIGHT = 4.0
"""Guide scale of the elevation (radians): 10 degrees apart cost 0.5 per token."""
SCALE_WEIGHT = 0.75
"""Guide scale of log2 of a token's world size (its depth over the focal length): a token
covering twice the width of another costs 2.25."""


def guide_features(
    layout: Layout,
    camera: Camera,
    classes: Tensor,
    depth: Tensor | None = None,
    traced_depth: Tensor | None = None,
) -> Tensor:
    """The generator's guide (7, h, w) float32 for tokens of `camera` (latent grid) with
    surface classes (h, w): the class one-hot times CLASS_WEIGHT, the elevation of each
    token's ray above the layout's horizon times ELEVATION_WEIGHT, its relief times
    RELIEF_WEIGHT: log(depth / the layout's depth along its ray (traced_depth, traced when
    not given)), clamped to [-2, 1]; 0 where the depth is not given, unknown or sky (a
    generated token lies on the layout). A thing standing in front of the wall (a face, a
    cupboard, a motorcycle) has a relief well below 0, so it is not copied onto the
    layout's bare surfaces. Last, its scale times SCALE_WEIGHT: log2 of the world size a
    token covers, its depth (the layout's where it has none) over the camera's focal
    length, 0 on sky: a far wall is filled from tokens that saw as much of a wall (the
    photo's own far tokens, or the photo taken at half or a quarter of its size), not
    from near ones whose windows would come out twice as large."""
    h, w = classes.shape
    relief = torch.zeros(h, w)
    traced = layout.trace(camera)[1] if traced_depth is None else traced_depth
    size = traced.float()  # the world size a token covers, times the focal length
    if depth is not None:
        ok = torch.isfinite(depth) & (depth > 0) & torch.isfinite(traced) & (traced > 0)
        ratio = torch.where(ok, depth.float() / torch.where(ok, traced, 1.0), 1.0)
        relief = torch.where(ok, torch.log(ratio).clamp(-2.0, 1.0), 0.0)
        size = torch.where(torch.isfinite(depth) & (depth > 0), depth.float(), size)
    ok = torch.isfinite(size) & (size > 0)
    focal = math.sqrt(camera.fx * camera.fy)
    scale = torch.where(ok, torch.log2(torch.where(ok, size, 1.0) / focal), 0.0)
    uv = camera.pixel_grid(torch.float64).reshape(-1, 2)
    far = camera.unproject(uv, torch.ones(len(uv), dtype=torch.float64))
    _, elevation = layout.frame.angles(far - camera.position.double())
    elevation = elevation.reshape(h, w).float()
    onehot = F.one_hot(classes.clamp(0, CLASSES - 1), CLASSES).permute(2, 0, 1).float()
    return torch.cat(
        [
            onehot * CLASS_WEIGHT,
            elevation[None] * ELEVATION_WEIGHT,
            relief[None] * RELIEF_WEIGHT,
            scale[None] * SCALE_WEIGHT,
        ]
    )
