"""LatentMemory: the scene memory of Mirage, kept in the generator's own latent space.

An entry is one latent token lifted to 3D: a world point, the token's latent vector
(C values), the segment that wrote it (0 = the seed photo) and a fusion weight. Entries
are read by projecting them straight into the target camera at latent resolution,
nearest depth winning (a z-buffer), never through pixels.

Beyond the paper:

- Fusion (`update`). A new token at latent pixel p with depth d is *covered* when some
  existing entry projects into the same latent pixel at a consistent depth,
  |z_entry - d| <= depth_tolerance * d: the token's frustum cell (one latent pixel wide,
  a depth band deep) is already occupied. A covered token is not appended; its latent
  refines the nearest consistent entry of that cell by a running mean,
  f <- (w f + x) / (w + 1), w <- min(w + 1, max_weight), so after max_weight views the
  entry follows new observations with rate 1 / (max_weight + 1). Positions are never
  moved, so an entry once written stays where it was seen. Uncovered tokens are appended.
  Seeing the same surface again from the same view therefore adds nothing; from a closer
  view it adds the detail that the old entries leave as holes. `lift` is the paper's
  blind append (no fusion), used for the seed frame.
- Compact storage: positions as int16 offsets in 2-unit chunks (see store.py), latents as
  int8 with one scale per channel (`feature_dtype="int8"`, the default; "float16" and
  "float32" are there for measurement). The per-channel scale grows when a larger value
  arrives (existing entries are requantised once).
- A byte budget. When `nbytes` exceeds `budget_bytes` after a write, entries are evicted
  until the memory is at 90% of the budget. Eviction order: largest
  distance / (1 + log2(weight)) first, distance measured from the camera of that write.
  The memory keeps what is near the viewer and what has been confirmed by many views.
- Frustum culling through the chunk index (ChunkStore.project), so a readout costs what
  is visible, not the size of the memory.
- A sky dome: tokens marked sky (or with depth +inf when no sky mask is given) are
  fused into a directional latent panorama (equirectangular, azimuth around the world
  up, elevation from the horizon) and read out in latent pixels where no geometry is
  visible. Directions only: the sky turns with the camera and never parallaxes.

World up is -y of the first camera that writes to the memory; the ground frame of the
minimap is (right, forward) of that camera, projected on the ground plane.

Device: the memory lives on one torch device (`device=`, the CPU by default; `to(device)`
moves it): every entry column, the chunk index, the int8 scales, the sky dome and the
scratch buffers, and every tensor it makes while writing or reading. Tensors given to its
public methods (latent, depth, masks, points, ids, boxes) may be on any device and are
moved there; what it returns (Readout, entries, positions, occupancy) is on its device.
Two things stay on the CPU by design: the Camera (float64 CPU matrices, converted where
used) and the GroundFrame (four float64 3-vectors, public to callers that work on the CPU;
its methods compute on the device of what they are given). save() always writes CPU
tensors; load(path, device=...) reads onto a device. The memory computes partly in float64
(positions, footprints, angles), so it needs a device with float64 (the CPU, CUDA; not MPS).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from engine.camera import Camera
from engine.memory.sky import SkyDome
from engine.memory.store import (
    ChunkStore,
    cell_owners,
    decode_footprint,
    encode_footprint,
    footprint_zbuffer,
    read_memory_file,
    write_memory_file,
)

FORMAT = "latentscape.latent_memory"
VERSION = 2  # 2: entries carry a footprint byte ("foot"); version 1 files load without one
FEATURE_DTYPES = {"int8": torch.int8, "float16": torch.float16, "float32": torch.float32}


def pool_depth(depth: torch.Tensor, factor: int) -> torch.Tensor:
    """Pixel depth (H, W) -> latent-grid depth (H/f, W/f): the median of each f x f block's
    valid (finite, > 0) values, so a token straddling a depth edge takes one side's depth
    instead of a flying average; 0 where a block has no valid value, +inf where all of
    its values are +inf (sky)."""
    h, w = depth.shape
    if h % factor or w % factor:
        raise ValueError(f"depth of shape {(h, w)} is not divisible by the factor {factor}")
    blocks = depth.float().reshape(h // factor, factor, w // factor, factor)
    blocks = blocks.permute(0, 2, 1, 3).reshape(h // factor, w // factor, -1)
    valid = torch.isfinite(blocks) & (blocks > 0)
    med = torch.where(valid, blocks, torch.nan).nanmedian(-1).values
    all_inf = (blocks == math.inf).all(-1)
    return torch.where(valid.any(-1), med, torch.where(all_inf, math.inf, 0.0))


SURFACE_STEP = 0.3
"""Two tokens whose depths differ by less than this (relative) can be on one surface: at
write time such neighbours set each other's footprint; at read time, among the entries that
cover a pixel within this band of the nearest, the one whose centre is nearest wins."""
FOOT_SPREAD = 1.9
"""A token's footprint is at most this many times its frontal size: below 2, so that seen
from the camera that wrote it, a token covers its own latent pixel and no other."""


def token_footprints(camera: Camera, depth: torch.Tensor) -> torch.Tensor:
    """The world size of each token of a latent frame (h, w) seen by camera (latent grid):
    the largest distance from its point to a 4-neighbour's point on the same surface (depths
    within SURFACE_STEP of each other), at least its frontal size d / sqrt(fx fy) and at most
    FOOT_SPREAD times that. A token of a surface seen at a grazing angle (a floor, a ceiling)
    spans more than its frontal size; a readout from nearer must cover all of that.
    Returns (h, w) float64 on the device of depth, 0 where the depth is not a finite
    positive value."""
    h, w = depth.shape
    d = depth.double()
    valid = torch.isfinite(d) & (d > 0)
    d0 = torch.where(valid, d, 0.0)
    grid = camera.pixel_grid(torch.float64).to(d0.device)  # the camera makes it on the CPU
    pts = camera.unproject(grid.reshape(-1, 2), d0.reshape(-1))
    pts = pts.reshape(h, w, 3)
    frontal = d0 / math.sqrt(camera.fx * camera.fy)
    reach = frontal.clone()
    for dy, dx in ((0, 1), (1, 0)):
        a = (slice(0, h - dy), slice(0, w - dx))
        b = (slice(dy, h), slice(dx, w))
        dist = (pts[a] - pts[b]).norm(dim=-1)
        same = (
            valid[a]
            & valid[b]
            & ((d0[a] - d0[b]).abs() <= SURFACE_STEP * torch.minimum(d0[a], d0[b]))
        )
        dist = torch.where(same, dist, 0.0)
        reach[a] = torch.maximum(reach[a], dist)
        reach[b] = torch.maximum(reach[b], dist)
    return torch.minimum(reach, FOOT_SPREAD * frontal)


@dataclass
class Readout:
    """The memory seen from one camera at the camera's (latent-grid) resolution.

    latent (C, h, w) float32, zero at holes; known (h, w) bool, True where geometry or
    sky was read; depth (h, w) float32 camera-frame z, 0 at holes and +inf on sky;
    ids (h, w) int64 index of the entry seen (-1 at holes and sky; valid until the next
    write, see LatentMemory.entries); sky (h, w) bool, True where the sky dome was read;
    offset (2, h, w) float32 where the seen entry's centre lies relative to the pixel's
    centre, in latent pixels (x right, y down; 0 at holes and sky); scale (h, w) float32 the
    seen entry's footprint side in latent pixels (> 1: magnified, the camera came closer;
    1 at holes and sky). A learned refiner turns the last two into the right latent.
    """

    latent: torch.Tensor
    known: torch.Tensor
    depth: torch.Tensor
    ids: torch.Tensor
    sky: torch.Tensor
    offset: torch.Tensor | None = None
    scale: torch.Tensor | None = None

    def __post_init__(self) -> None:
        h, w = self.known.shape
        dev = self.known.device
        if self.offset is None:
            self.offset = torch.zeros(2, h, w, device=dev)
        if self.scale is None:
            self.scale = torch.ones(h, w, device=dev)

    def cpu(self) -> Readout:
        """The readout on the CPU (itself when it is there): the world's per-token work on
        the latent grid (cracks, layout depth, refiner) runs there."""
        if self.known.device.type == "cpu":
            return self
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.cpu() for k, v in moved.items() if v is not None})

    @property
    def holes(self) -> torch.Tensor:
        return ~self.known


@dataclass
class WriteStats:
    """What one lift or update did."""

    appended: int = 0
    fused: int = 0
    sky: int = 0
    dropped: int = 0  # tokens not kept: keep=False or depth 0 (unknown)
    evicted: int = 0


@dataclass
class Occupancy:
    """Memory seen from above on a (rows, cols) grid of the ground frame.

    count: entries per cell (float32); segment: latest segment id per cell (-1 empty);
    extent: (x0, x1, y0, y1) ground coordinates covered, x = right, y = forward of the
    first camera. Row 0 is the far edge (largest y), so the grid reads like a map.
    """

    count: torch.Tensor
    segment: torch.Tensor
    extent: tuple[float, float, float, float]


@dataclass
class GroundFrame:
    """Origin and axes of the world's ground plane, from the first camera.

    Kept on the CPU (like the Camera it comes from) whatever the memory's device: callers
    use it with CPU data (trajectories, the minimap). to_ground and angles compute on the
    device of their argument."""

    origin: torch.Tensor  # (3,) float64
    right: torch.Tensor  # (3,) float64, unit
    forward: torch.Tensor  # (3,) float64, unit
    up: torch.Tensor  # (3,) float64, unit

    @classmethod
    def from_camera(cls, camera: Camera) -> GroundFrame:
        # up = -y of the camera; its forward (+z) and right (+x) are then in the ground
        # plane by construction.
        rot = camera.R
        return cls(camera.position.clone(), rot[:, 0].clone(), rot[:, 2].clone(), -rot[:, 1])

    def to_ground(self, points: torch.Tensor) -> torch.Tensor:
        """World points (N, 3) -> ground coordinates (N, 2): (right, forward)."""
        dev = points.device
        d = points.double() - self.origin.to(dev)
        return torch.stack([d @ self.right.to(dev), d @ self.forward.to(dev)], 1)

    def angles(self, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World directions (N, 3) -> azimuth in (-pi, pi] (0 = forward, + = right) and
        elevation in [-pi/2, pi/2] above the horizon."""
        d = directions.double()
        d = d / d.norm(dim=1, keepdim=True)
        right, forward, up = (v.to(d.device) for v in (self.right, self.forward, self.up))
        az = torch.atan2(d @ right, d @ forward)
        el = torch.asin((d @ up).clamp(-1, 1))
        return az, el

    def to_dict(self) -> dict:
        return {k: getattr(self, k).tolist() for k in ("origin", "right", "forward", "up")}

    @classmethod
    def from_dict(cls, d: dict) -> GroundFrame:
        return cls(
            *(torch.tensor(d[k], dtype=torch.float64) for k in ("origin", "right", "forward", "up"))
        )


@dataclass
class _Write:
    """Validated inputs of one lift/update, flattened over the latent grid."""

    camera: Camera
    latent: torch.Tensor  # (h*w, C) float32
    depth: torch.Tensor  # (h*w,) float32
    valid: torch.Tensor  # (h*w,) bool: geometry tokens to write
    sky: torch.Tensor  # (h*w,) bool: sky tokens to write
    all_depth: torch.Tensor  # (h*w,) float32: the frame's depth, kept or not (0: unknown)
    dropped: int = 0
    extra: dict = field(default_factory=dict)


class LatentMemory:
    """Latent tokens lifted to 3D; see the module docstring. A SceneMemory
    (engine.memory.protocol)."""

    readout_is_encoded = False  # its readout is the tokens themselves, projected

    def __init__(
        self,
        channels: int,
        *,
        chunk_size: float = 2.0,
        feature_dtype: str = "int8",
        budget_bytes: int | None = None,
        depth_tolerance: float = 0.05,
        max_weight: int = 16,
        sky_resolution: tuple[int, int] = (64, 128),
        device: torch.device | str = "cpu",
    ):
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if feature_dtype not in FEATURE_DTYPES:
            raise ValueError(
                f"feature_dtype must be one of {list(FEATURE_DTYPES)}, got {feature_dtype!r}"
            )
        if not 0 < depth_tolerance < 1:
            raise ValueError(f"depth_tolerance must be in (0, 1), got {depth_tolerance}")
        if not 1 <= max_weight <= 255:
            raise ValueError(f"max_weight must be in [1, 255], got {max_weight}")
        self.channels = channels
        self.feature_dtype = feature_dtype
        self.budget_bytes = budget_bytes
        self.depth_tolerance = depth_tolerance
        self.max_weight = max_weight
        self.sky_resolution = tuple(sky_resolution)
        self.segment = 0  # the newest segment id written; new entries get it by default
        self.frame: GroundFrame | None = None
        self.store = ChunkStore(
            chunk_size,
            {
                "feat": (FEATURE_DTYPES[feature_dtype], (channels,)),
                "segment": (torch.int16, ()),
                "weight": (torch.uint8, ()),
                "foot": (torch.uint8, ()),
            },
            quantize=True,
            device=device,
        )
        dev = self.store.device
        self.scale = torch.zeros(channels, dtype=torch.float32, device=dev)  # int8 step / channel
        self.sky = SkyDome(channels, self.sky_resolution, torch.float16, max_weight, dev)

    # -- device -------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device every array of the memory lives on."""
        return self.store.device

    def to(self, device: torch.device | str) -> LatentMemory:
        """Move the memory (entries, chunk index, scales, sky dome; scratch is made anew) to
        device, in place, and return it. Entry ids and contents do not change."""
        self.store.to(device)
        self.scale = self.scale.to(self.store.device)
        self.sky.to(self.store.device)
        return self

    # -- size ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.store)

    @property
    def nbytes(self) -> int:
        """Bytes held: entries, chunk index, scales and the sky dome if allocated."""
        return self.store.nbytes + self.scale.numel() * 4 + self.sky.nbytes

    def compact(self) -> None:
        """Merge recent appends into the chunk-sorted part (contents do not change)."""
        self.store.merge()

    # -- writing ------------------------------------------------------------------------

    def lift(
        self, latent, depth, camera, keep=None, sky=None, segment=None, rgb=None
    ) -> WriteStats:
        """Append every valid token of one latent frame (the paper's lift, no fusion).

        latent (C, h, w); depth (h, w) camera-frame z on the latent grid (0 = unknown,
        dropped; +inf = sky when no sky mask is given); camera: any Camera, scaled to the
        latent grid (w, h) if it is not already; keep (h, w) bool, False for tokens that
        must not be written (dynamic objects); sky (h, w) bool, tokens for the sky dome;
        segment: the segment id the entries get. rgb (the decoded frame) is not used: this
        memory keeps latents (SceneMemory: the RGB memory keeps colours). Tensors on another
        device than the memory's are moved to it.
        """
        wr = self._check(latent, depth, camera, keep, sky)
        stats = WriteStats(dropped=wr.dropped)
        stats.sky = self._write_sky(wr)
        stats.appended = self._append(wr, wr.valid, segment)
        stats.evicted = self._enforce_budget(wr.camera)
        return stats

    def update(
        self, latent, depth, camera, keep=None, sky=None, segment=None, rgb=None
    ) -> WriteStats:
        """Write one latent frame, fusing tokens whose cell is already occupied.

        Same arguments as lift. See the module docstring for the fusion rule.
        """
        wr = self._check(latent, depth, camera, keep, sky)
        stats = WriteStats(dropped=wr.dropped)
        stats.sky = self._write_sky(wr)
        cam = wr.camera
        owner = cell_owners(self.store, cam, wr.depth, wr.valid, self.depth_tolerance)
        fuse = wr.valid & (owner >= 0)
        if bool(fuse.any()):
            ids = owner[fuse]
            w = self.store.column("weight", ids).float()
            old = self._dequantize(self.store.column("feat", ids))
            new = (old * w[:, None] + wr.latent[fuse]) / (w[:, None] + 1)
            self._set_features(ids, new)
            self.store.set_column("weight", ids, (w + 1).clamp(max=self.max_weight))
            stats.fused = int(fuse.sum())
        stats.appended = self._append(wr, wr.valid & (owner < 0), segment)
        stats.evicted = self._enforce_budget(cam)
        return stats

    def _append(self, wr: _Write, mask: torch.Tensor, segment: int | None) -> int:
        if not bool(mask.any()):
            return 0
        cam = wr.camera
        uv = cam.pixel_grid(torch.float64).to(self.device).reshape(-1, 2)[mask]
        depth = wr.depth[mask].double()
        xyz = cam.unproject(uv, depth).float()
        # the world size of each token, from the whole frame's depth (neighbours that are not
        # written still tell how far the surface reaches; see token_footprints)
        full = torch.where(wr.all_depth > 0, wr.all_depth, 0.0)
        footprint = token_footprints(cam, full.reshape(cam.height, cam.width)).reshape(-1)
        return self.insert(xyz, wr.latent[mask], segment, footprint[mask])

    def insert(
        self,
        xyz: torch.Tensor,
        latent: torch.Tensor,
        segment: int | None = None,
        footprint: torch.Tensor | None = None,
    ) -> int:
        """Append entries given directly as world points xyz (N, 3) and latents (N, C),
        without fusion (for importers and benchmarks); footprint (N,) world sides of their
        tokens, unknown (each read as one latent pixel) when not given. Returns N. Tensors
        on another device are moved to the memory's."""
        dev = self.device
        xyz = torch.as_tensor(xyz, device=dev).float()
        feats = torch.as_tensor(latent, device=dev).float()
        n = xyz.shape[0]
        if xyz.shape != (n, 3) or feats.shape != (n, self.channels):
            raise ValueError(
                f"insert expects xyz (N, 3) and latent (N, {self.channels}), "
                f"got {tuple(xyz.shape)} and {tuple(feats.shape)}"
            )
        if not (torch.isfinite(xyz).all() and torch.isfinite(feats).all()):
            raise ValueError("insert: xyz and latent must be finite")
        seg = self.segment if segment is None else int(segment)
        if not 0 <= seg < 2**15:
            raise ValueError(f"segment id must be in [0, 32767], got {seg}")
        self.segment = max(self.segment, seg)  # ages count from the newest segment written
        if self.frame is None and n:
            raise ValueError("insert needs a ground frame: lift a frame first or set memory.frame")
        if footprint is None:
            foot = torch.zeros(n, dtype=torch.uint8, device=dev)
        else:
            footprint = torch.as_tensor(footprint, device=dev).reshape(-1)
            if footprint.shape != (n,) or not bool((footprint > 0).all()):
                raise ValueError(f"insert: footprint must be (N,) positive sides, N = {n}")
            foot = encode_footprint(footprint)
        self._grow_scale(feats)
        self.store.append(
            xyz,
            {
                "feat": self._quantize(feats),
                "segment": torch.full((n,), seg, dtype=torch.int16, device=dev),
                "weight": torch.ones(n, dtype=torch.uint8, device=dev),
                "foot": foot,
            },
        )
        return n

    def _check(self, latent, depth, camera, keep, sky) -> _Write:
        """Validate one write's inputs, moved to the memory's device; raise ValueError naming
        what is wrong."""
        dev = self.device
        latent = torch.as_tensor(latent, device=dev)
        depth = torch.as_tensor(depth, device=dev)
        if latent.ndim != 3 or latent.shape[0] != self.channels:
            raise ValueError(
                f"latent must have shape (C={self.channels}, h, w), got {tuple(latent.shape)}"
            )
        _, h, w = latent.shape
        if depth.shape != (h, w):
            raise ValueError(
                f"depth must have shape ({h}, {w}) like the latent grid, got {tuple(depth.shape)}"
            )
        if not torch.isfinite(latent).all():
            raise ValueError("latent contains NaN or infinite values")
        masks = {}
        for name, m in (("keep", keep), ("sky", sky)):
            if m is None:
                continue
            m = torch.as_tensor(m, device=dev)
            if m.shape != (h, w) or m.dtype != torch.bool:
                raise ValueError(
                    f"{name} must be a bool mask of shape ({h}, {w}), "
                    f"got {m.dtype} {tuple(m.shape)}"
                )
            masks[name] = m
        if not isinstance(camera, Camera):
            raise ValueError(f"camera must be an engine.camera.Camera, got {type(camera).__name__}")
        if (camera.width, camera.height) != (w, h):
            camera = camera.scaled(w, h)
        depth = depth.float()
        keep_m = masks.get("keep", torch.ones(h, w, dtype=torch.bool, device=dev))
        if "sky" in masks:
            sky_m = masks["sky"] & keep_m
        else:
            sky_m = (depth == math.inf) & keep_m
        geo = keep_m & ~sky_m
        bad = geo & ~(torch.isfinite(depth) & (depth >= 0))
        if bool(bad.any()):
            i, j = (int(x) for x in bad.nonzero()[0])
            raise ValueError(
                f"depth must be finite and >= 0 where tokens are kept ({int(bad.sum())} bad "
                f"values, first at row {i}, col {j}: {float(depth[i, j])}); mark sky with the "
                "sky mask and unwanted tokens with keep=False"
            )
        valid = geo & (depth > 0)
        if self.frame is None and bool((valid | sky_m).any()):
            self.frame = GroundFrame.from_camera(camera)
        return _Write(
            camera=camera,
            latent=latent.float().reshape(self.channels, -1).T,
            depth=torch.where(valid, depth, 0.0).reshape(-1),
            valid=valid.reshape(-1),
            sky=sky_m.reshape(-1),
            all_depth=torch.where(torch.isfinite(depth) & ~sky_m, depth, 0.0).reshape(-1),
            dropped=int((~keep_m).sum() + (geo & (depth == 0)).sum()),
        )

    # -- features -----------------------------------------------------------------------

    def _grow_scale(self, feats: torch.Tensor) -> None:
        """Widen the int8 range of channels that feats (n, C) would overflow."""
        if self.feature_dtype != "int8" or feats.shape[0] == 0:
            return
        need = feats.abs().amax(0) / 127
        grow = need > self.scale
        if not bool(grow.any()):
            return
        new = torch.where(grow, need * 1.25, self.scale)
        if len(self.store):
            old = self._dequantize(self.store.column("feat"))
            self.scale = new
            self._set_features(torch.arange(len(self.store), device=self.device), old)
        self.scale = new

    def _quantize(self, feats: torch.Tensor) -> torch.Tensor:
        if self.feature_dtype != "int8":
            return feats.to(FEATURE_DTYPES[self.feature_dtype])
        safe = torch.where(self.scale > 0, self.scale, 1.0)
        return torch.round(feats / safe).clamp_(-127, 127).to(torch.int8)

    def _dequantize(self, stored: torch.Tensor) -> torch.Tensor:
        if self.feature_dtype != "int8":
            return stored.float()
        return stored.float() * self.scale

    def _set_features(self, ids: torch.Tensor, feats: torch.Tensor) -> None:
        self._grow_scale(feats)
        self.store.set_column("feat", ids, self._quantize(feats))

    # -- reading ------------------------------------------------------------------------

    def readout(self, camera: Camera) -> Readout:
        """Project every visible entry into camera, each covering the latent pixels its
        footprint covers there; per pixel the nearest surface wins, and on it the entry whose
        centre is nearest (store.footprint_zbuffer); holes stay zero. The Readout is on the
        memory's device."""
        w, h = camera.width, camera.height
        hw = w * h
        proj = self.store.project(camera)
        side = decode_footprint(self.store.column("foot", proj.idx))
        splats = footprint_zbuffer(proj, side, camera, SURFACE_STEP)
        ids = splats.ids
        known = ids >= 0
        dev = self.device
        latent = torch.zeros(hw, self.channels, device=dev)
        latent[known] = self._dequantize(self.store.column("feat", ids[known]))
        depth = splats.z
        sky = torch.zeros(hw, dtype=torch.bool, device=dev)
        if self.sky.allocated and not bool(known.all()):
            holes = ~known
            dirs = camera.ray_directions(torch.float64).to(dev).reshape(-1, 3)[holes]
            values, seen = self.sky.read(self.frame, dirs)
            sky[holes] = seen
            latent[sky] = values[seen]
            depth[sky] = math.inf
        return Readout(
            latent=latent.T.reshape(self.channels, h, w).contiguous(),
            known=(known | sky).reshape(h, w),
            depth=depth.reshape(h, w),
            ids=ids.reshape(h, w),
            sky=sky.reshape(h, w),
            offset=splats.offset.reshape(2, h, w),
            scale=torch.where(sky, 1.0, splats.side).reshape(h, w),
        )

    def entries(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the inspector shows about entries ids (n,) (e.g. Readout.ids[known]):
        xyz (n, 3), latent (n, C), segment (n,), age in segments (n,), weight (n,),
        footprint (n,) world side of the token when written (0: unknown). On the memory's
        device."""
        ids = torch.as_tensor(ids, dtype=torch.int64, device=self.device).reshape(-1)
        if ids.numel() and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(
                f"entry ids must be in [0, {len(self)}), "
                f"got range [{int(ids.min())}, {int(ids.max())}]"
            )
        seg = self.store.column("segment", ids).long()
        return {
            "xyz": self.store.positions(ids),
            "latent": self._dequantize(self.store.column("feat", ids)),
            "segment": seg,
            "age": self.segment - seg,
            "weight": self.store.column("weight", ids).long(),
            "footprint": decode_footprint(self.store.column("foot", ids)),
        }

    def counts_by_segment(self) -> dict[int, int]:
        """Number of entries written by each segment (0 = the seed photo)."""
        seg = self.store.column("segment").long()
        if seg.numel() == 0:
            return {}
        counts = torch.bincount(seg)
        return {i: int(c) for i, c in enumerate(counts.tolist()) if c}

    def counts_by_age(self) -> dict[int, int]:
        """Number of entries by age in segments (0 = written by the current segment)."""
        return {self.segment - s: n for s, n in sorted(self.counts_by_segment().items())}

    def summary(self) -> dict:
        """Figures for the inspector: entries, bytes, chunks, sky cells written."""
        sky_cells = int((self.sky.weight > 0).sum()) if self.sky.weight is not None else 0
        return {
            "entries": len(self),
            "bytes": self.nbytes,
            "bytes_per_entry": self.store.nbytes / len(self) if len(self) else 0.0,
            "chunks": self.store.n_chunks,
            "sky_cells": sky_cells,
            "segment": self.segment,
        }

    def occupancy(self, resolution=128, extent=None) -> Occupancy:
        """Entry counts on a grid of the ground plane, seen from above (see Occupancy).

        resolution: int (square) or (rows, cols); extent: (x0, x1, y0, y1) in ground
        coordinates, by default the bounds of all entries plus a 5% margin. On the memory's
        device.
        """
        return occupancy(self.frame, self.store, resolution, extent, self.store.column("segment"))

    def positions(self) -> torch.Tensor:
        """World positions (N, 3) float32 of the entries, in entry-id order, on the memory's
        device."""
        return self.store.positions()

    # -- removing -----------------------------------------------------------------------

    def erase(self, box=None, ids=None) -> int:
        """Remove entries inside an axis-aligned world box ((x0, y0, z0), (x1, y1, z1))
        and/or with the given entry ids (on any device). Returns how many were removed."""
        return erase(self.store, box, ids)

    def _enforce_budget(self, camera: Camera) -> int:
        if self.budget_bytes is None or self.nbytes <= self.budget_bytes:
            return 0
        per_entry = max(1, self.store.nbytes // max(1, len(self)))
        target = int(0.9 * self.budget_bytes)
        n_evict = min(len(self), math.ceil((self.nbytes - target) / per_entry))
        position = camera.position.to(self.device)
        dist = (self.store.positions().double() - position).norm(dim=1)
        w = self.store.column("weight").double()
        score = dist / (1 + torch.log2(w))
        drop = torch.zeros(len(self), dtype=torch.bool, device=self.device)
        drop[torch.topk(score, n_evict).indices] = True
        self.store.filter(~drop)
        return n_evict

    # -- sky dome -----------------------------------------------------------------------

    def _write_sky(self, wr: _Write) -> int:
        if not bool(wr.sky.any()):
            return 0
        dirs = wr.camera.ray_directions(torch.float64).to(self.device).reshape(-1, 3)[wr.sky]
        return self.sky.write(self.frame, dirs, wr.latent[wr.sky])

    # -- persistence --------------------------------------------------------------------

    def config(self) -> dict:
        return {
            "channels": self.channels,
            "chunk_size": self.store.chunk_size,
            "feature_dtype": self.feature_dtype,
            "budget_bytes": self.budget_bytes,
            "depth_tolerance": self.depth_tolerance,
            "max_weight": self.max_weight,
            "sky_resolution": list(self.sky_resolution),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the memory to one safetensors file, atomically (temp file + rename). The file
        holds CPU tensors whatever the memory's device."""
        arrays = self.store.state()
        arrays["scale"] = self.scale
        arrays.update(self.sky.state())
        write_memory_file(path, arrays, FORMAT, VERSION, self)

    @classmethod
    def load(
        cls, path: str | os.PathLike, codec: object = None, device: torch.device | str = "cpu"
    ) -> LatentMemory:
        """Read a memory written by save() onto device; refuse a foreign or damaged file
        clearly. codec is not used: the tokens are the codec's latents already (SceneMemory:
        the RGB memory needs it)."""
        path = Path(path)
        header, arrays = read_memory_file(path, FORMAT, "a latent memory")
        version, cfg = header["version"], header["config"]
        if version not in (1, VERSION):
            raise ValueError(
                f"{path} has memory format version {version}; this program reads versions 1 "
                f"to {VERSION}"
            )
        if version == 1 and "pos" in arrays:  # no footprints yet: unknown, read as points
            n = arrays["pos"].shape[-1]
            arrays.setdefault("col.foot", torch.zeros(n, dtype=torch.uint8))
        try:
            mem = cls(
                cfg["channels"],
                chunk_size=cfg["chunk_size"],
                feature_dtype=cfg["feature_dtype"],
                budget_bytes=cfg["budget_bytes"],
                depth_tolerance=cfg["depth_tolerance"],
                max_weight=cfg["max_weight"],
                sky_resolution=tuple(cfg["sky_resolution"]),
                device=device,
            )
            mem.store.load_state(arrays)
            scale = arrays.get("scale")
            if scale is None or scale.dtype != torch.float32 or scale.shape != (mem.channels,):
                raise ValueError(f"array 'scale' must be float32 of shape ({mem.channels},)")
            if not bool((torch.isfinite(scale) & (scale >= 0)).all()):
                raise ValueError("array 'scale' has negative or non-finite values")
            mem.scale = scale.to(mem.device)
            mem.sky.load_state(arrays)
            mem.segment = int(header["segment"])
            if header.get("frame") is not None:
                mem.frame = GroundFrame.from_dict(header["frame"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: memory header is incomplete ({e})") from None
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        if mem.frame is None and len(mem):
            raise ValueError(f"{path}: entries present but no ground frame in the header")
        return mem


# --------------------------------------------------------------------------- shared by memories


def occupancy(
    frame: GroundFrame | None, store, resolution=128, extent=None, segments=None
) -> Occupancy:
    """A point store's entries counted on a grid of the ground plane (see Occupancy); the
    latest of `segments` (N,), one per entry, per cell, or -1 everywhere without them.
    resolution: int (square) or (rows, cols); extent: (x0, x1, y0, y1) in ground
    coordinates, by default the bounds of all entries plus a 5% margin. On the store's
    device."""
    rows, cols = (resolution, resolution) if isinstance(resolution, int) else resolution
    if rows < 1 or cols < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    dev = store.device
    if frame is None or len(store) == 0:
        ext = tuple(extent) if extent is not None else (-1.0, 1.0, -1.0, 1.0)
        empty = torch.zeros(rows, cols, device=dev)
        return Occupancy(empty, torch.full((rows, cols), -1, device=dev), ext)
    g = frame.to_ground(store.positions())
    if extent is None:
        lo, hi = g.min(0).values, g.max(0).values
        pad = 0.05 * (hi - lo).max().clamp(min=1e-3)
        extent = (
            float(lo[0] - pad),
            float(hi[0] + pad),
            float(lo[1] - pad),
            float(hi[1] + pad),
        )
    x0, x1, y0, y1 = (float(e) for e in extent)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"extent must have x1 > x0 and y1 > y0, got {extent}")
    col = torch.floor((g[:, 0] - x0) / (x1 - x0) * cols).long()
    row = rows - 1 - torch.floor((g[:, 1] - y0) / (y1 - y0) * rows).long()
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    cell = (row * cols + col)[inside]
    count = torch.bincount(cell, minlength=rows * cols).float()
    seg = torch.full((rows * cols,), -1, dtype=torch.int64, device=dev)
    if segments is not None:
        seg.scatter_reduce_(0, cell, segments.long()[inside], "amax")
    return Occupancy(count.reshape(rows, cols), seg.reshape(rows, cols), (x0, x1, y0, y1))


def erase(store, box=None, ids=None) -> int:
    """Remove a point store's entries inside an axis-aligned world box ((x0, y0, z0),
    (x1, y1, z1)) and/or with the given entry ids (on any device: moved to the store's).
    Returns how many were removed."""
    if box is None and ids is None:
        raise ValueError("erase needs a box or entry ids")
    n_entries, dev = len(store), store.device
    drop = torch.zeros(n_entries, dtype=torch.bool, device=dev)
    if box is not None:
        lo, hi = (torch.as_tensor(b, dtype=torch.float32, device=dev).reshape(3) for b in box)
        if not bool((hi >= lo).all()):
            raise ValueError(f"box must be (min corner, max corner), got {box}")
        xyz = store.positions()
        drop |= ((xyz >= lo) & (xyz <= hi)).all(1)
    if ids is not None:
        ids = torch.as_tensor(ids, dtype=torch.int64, device=dev).reshape(-1)
        if ids.numel() and (ids.min() < 0 or ids.max() >= n_entries):
            raise ValueError(f"entry ids must be in [0, {n_entries})")
        drop[ids] = True
    n = int(drop.sum())
    if n:
        store.filter(~drop)
    return n
