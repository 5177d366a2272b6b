"""RGBMemory: the pixel-space baseline that the latent memory is measured against.

This is the memory of Spatia, Voyager, WonderWorld and Gen3C, built as fairly and as
efficiently as the latent one: a coloured point cloud at pixel resolution, float32 world
position + uint8 colour + int16 segment id per point (17 bytes; the segment, like the latent
memory's, is for the map and the inspector), in the same chunk index (so it is culled the
same way), fused by the same rule at pixel cells (a covered point is dropped: there is no
weight byte to refine it with). Its readout is the "double bottleneck": rasterise the
points at full resolution with a z-buffer, then run the codec's encoder to get back to the
latent space the generator works in.

Same interface as LatentMemory (engine.memory.protocol.SceneMemory), so the world loop
runs on either. Writes take the latent frame like LatentMemory; the colours come from
`rgb` when the caller has the decoded frame already (the world decodes for display anyway),
otherwise from codec.decode(latent).

Saved like the latent memory (engine.io saves a world with either): one safetensors file,
format "latentscape.rgb_memory" version 1, see RGBMemory.save.

Device: like the latent memory, it lives on one device (`device=`, the CPU by default;
`to(device)`): points, sky dome, rasters; inputs are moved there and readouts come back
there. The codec stays where it is: the frame it decodes and the latent it encodes are
moved between its device and the memory's.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from engine.camera import Camera
from engine.memory.latent import (
    GroundFrame,
    Occupancy,
    Readout,
    WriteStats,
    erase,
    occupancy,
)
from engine.memory.sky import SkyDome
from engine.memory.store import (
    ChunkStore,
    cell_owners,
    read_memory_file,
    write_memory_file,
    zbuffer,
)

FORMAT = "latentscape.rgb_memory"
VERSION = 1


def _to_pixels(mask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A (h, w) mask or map given on the latent grid, repeated to pixel size (H, W)."""
    if tuple(mask.shape) == shape:
        return mask
    out = F.interpolate(mask[None, None].float(), size=shape, mode="nearest")[0, 0]
    return out.to(mask.dtype)


class RGBMemory:
    """Coloured points at pixel resolution whose readout is rasterise + encode, each with
    the segment that wrote it (0 = the seed photo). A SceneMemory
    (engine.memory.protocol)."""

    readout_is_encoded = True  # an encode of the rendered view: a refiner has nothing to do

    def __init__(
        self,
        codec,
        *,
        chunk_size: float = 2.0,
        depth_tolerance: float = 0.05,
        known_fraction: float = 0.5,
        sky_resolution: tuple[int, int] = (512, 1024),
        device: torch.device | str = "cpu",
    ):
        self.codec = codec
        self.channels = codec.channels
        self.factor = codec.factor
        self.depth_tolerance = depth_tolerance
        self.known_fraction = known_fraction
        self.segment = 0  # the newest segment id written; new points get it by default
        self.frame: GroundFrame | None = None
        self.store = ChunkStore(
            chunk_size,
            {"rgb": (torch.uint8, (3,)), "segment": (torch.int16, ())},
            quantize=False,
            device=device,
        )
        self.sky = SkyDome(3, sky_resolution, torch.uint8, device=self.store.device)
        self.last_raster: torch.Tensor | None = None  # (3, H, W) of the latest readout
        self.last_timing: dict[str, float] = {}  # seconds spent in its two stages

    @property
    def device(self) -> torch.device:
        """The device the points, the sky dome and the readouts live on."""
        return self.store.device

    def to(self, device: torch.device | str) -> RGBMemory:
        """Move the memory to device, in place, and return it (the codec is not moved)."""
        self.store.to(device)
        self.sky.to(self.store.device)
        if self.last_raster is not None:
            self.last_raster = self.last_raster.to(self.store.device)
        return self

    def __len__(self) -> int:
        return len(self.store)

    @property
    def nbytes(self) -> int:
        return self.store.nbytes + self.sky.nbytes

    def compact(self) -> None:
        self.store.merge()

    def positions(self) -> torch.Tensor:
        """World positions (N, 3) float32 of the points, in id order."""
        return self.store.positions()

    def erase(self, box=None, ids=None) -> int:
        """Remove points inside an axis-aligned world box and/or with the given ids."""
        return erase(self.store, box, ids)

    def occupancy(self, resolution=128, extent=None) -> Occupancy:
        """Point counts on a grid of the ground plane, with the latest segment per cell
        (see Occupancy)."""
        return occupancy(self.frame, self.store, resolution, extent, self.store.column("segment"))

    # -- writing ------------------------------------------------------------------------

    def lift(self, latent, depth, camera, keep=None, sky=None, segment=None, rgb=None):
        """Append every valid pixel of one frame (no fusion). depth (H, W) at pixel
        resolution (a latent-grid depth is repeated to pixels); masks likewise; segment:
        the segment id the points get (by default the newest written)."""
        return self._write(latent, depth, camera, keep, sky, segment, rgb, fuse=False)

    def update(self, latent, depth, camera, keep=None, sky=None, segment=None, rgb=None):
        """Write one frame, dropping pixels whose cell already holds a consistent point."""
        return self._write(latent, depth, camera, keep, sky, segment, rgb, fuse=True)

    def _write(
        self, latent, depth, camera: Camera, keep, sky, segment: int | None, rgb, fuse: bool
    ) -> WriteStats:
        dev = self.device
        latent = torch.as_tensor(latent, device=dev).float()
        if latent.ndim != 3 or latent.shape[0] != self.channels:
            raise ValueError(
                f"latent must have shape (C={self.channels}, h, w), got {tuple(latent.shape)}"
            )
        size = (latent.shape[1] * self.factor, latent.shape[2] * self.factor)
        seg = self.segment if segment is None else int(segment)
        if not 0 <= seg < 2**15:
            raise ValueError(f"segment id must be in [0, 32767], got {seg}")
        if rgb is None:
            rgb = self.codec.decode(latent[None])[0]
        rgb = torch.as_tensor(rgb, device=dev).float()
        if rgb.shape != (3, *size):
            raise ValueError(
                f"rgb must have shape (3, {size[0]}, {size[1]}), got {tuple(rgb.shape)}"
            )
        depth = _to_pixels(torch.as_tensor(depth, device=dev).float(), size)
        if depth.shape != size:
            raise ValueError(f"depth must have shape {size} (or the latent grid's)")
        if keep is None:
            keep_m = torch.ones(size, dtype=torch.bool, device=dev)
        else:
            keep_m = _to_pixels(torch.as_tensor(keep, device=dev), size)
        if sky is None:
            sky_m = depth == math.inf
        else:
            sky_m = _to_pixels(torch.as_tensor(sky, device=dev), size)
        sky_m = sky_m & keep_m
        geo = keep_m & ~sky_m
        if bool((geo & ~(torch.isfinite(depth) & (depth >= 0))).any()):
            raise ValueError("depth must be finite and >= 0 where pixels are kept")
        valid = (geo & (depth > 0)).reshape(-1)
        cam = camera if (camera.width, camera.height) == size[::-1] else camera.scaled(*size[::-1])
        if self.frame is None:
            self.frame = GroundFrame.from_camera(cam)
        colours = rgb.reshape(3, -1).T
        stats = WriteStats(dropped=int((~keep_m).sum() + (geo & (depth == 0)).sum()))
        dirs = cam.ray_directions(torch.float64).to(dev).reshape(-1, 3)
        stats.sky = self.sky.write(self.frame, dirs[sky_m.reshape(-1)], colours[sky_m.reshape(-1)])
        flat_depth = torch.where(valid, depth.reshape(-1), 0.0)
        if fuse and len(self.store):
            owner = cell_owners(self.store, cam, flat_depth, valid, self.depth_tolerance)
            stats.fused = int((valid & (owner >= 0)).sum())
            valid = valid & (owner < 0)
        uv = cam.pixel_grid(torch.float64).to(dev).reshape(-1, 2)[valid]
        xyz = cam.unproject(uv, flat_depth[valid].double()).float()
        rgb8 = torch.round(colours[valid].clamp(0, 1) * 255).to(torch.uint8)
        n = int(valid.sum())
        segs = torch.full((n,), seg, dtype=torch.int16, device=dev)
        self.store.append(xyz, {"rgb": rgb8, "segment": segs})
        if n:  # like the latent memory: ages count from the newest segment written
            self.segment = max(self.segment, seg)
        stats.appended = n
        return stats

    # -- reading ------------------------------------------------------------------------

    def rasterize(self, camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Z-buffer the points into camera at its own resolution: rgb (3, H, W) with holes
        0, known (H, W), depth (H, W) (0 at holes, +inf on sky), on the memory's device."""
        w, h = camera.width, camera.height
        hw = w * h
        dev = self.device
        zbuf, ids = zbuffer(self.store.project(camera), hw, self.store.scratch)
        ids = ids[:hw]
        known = ids >= 0
        rgb = torch.zeros(hw, 3, device=dev)
        rgb[known] = self.store.column("rgb", ids[known]).float() / 255
        depth = torch.where(known, zbuf[:hw], 0.0)
        if self.sky.allocated and not bool(known.all()):
            holes = ~known
            values, seen = self.sky.read(
                self.frame, camera.ray_directions(torch.float64).to(dev).reshape(-1, 3)[holes]
            )
            sky = torch.zeros(hw, dtype=torch.bool, device=dev)
            sky[holes] = seen
            rgb[sky] = values[seen]
            depth[sky] = math.inf
            known = known | sky
        return rgb.T.reshape(3, h, w), known.reshape(h, w), depth.reshape(h, w)

    def readout(self, camera: Camera) -> Readout:
        """Rasterise at pixel resolution (latent grid x factor), then encode.

        A latent token is known when at least known_fraction of its pixels are; its depth
        is the median of its known pixels' depths. ids are -1: tokens are not entries here.
        """
        f = self.factor
        w, h = camera.width, camera.height
        t0 = time.perf_counter()
        rgb, known, depth = self.rasterize(camera.scaled(w * f, h * f))
        t1 = time.perf_counter()
        latent = self.codec.encode(rgb[None])[0].to(self.device)  # from the codec's device
        self.last_raster = rgb
        self.last_timing = {"raster_s": t1 - t0, "encode_s": time.perf_counter() - t1}
        blocks = known.reshape(h, f, w, f).permute(0, 2, 1, 3).reshape(h, w, f * f)
        token_known = blocks.float().mean(-1) >= self.known_fraction
        d = depth.reshape(h, f, w, f).permute(0, 2, 1, 3).reshape(h, w, f * f)
        d = torch.where(blocks, d, torch.nan).nanmedian(-1).values
        is_sky = token_known & torch.isinf(d)
        return Readout(
            latent=latent * token_known,
            known=token_known,
            depth=torch.where(token_known, d, 0.0),
            ids=torch.full((h, w), -1, dtype=torch.int64, device=self.device),
            sky=is_sky,
        )

    # -- persistence --------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "factor": self.factor,
            "chunk_size": self.store.chunk_size,
            "depth_tolerance": self.depth_tolerance,
            "known_fraction": self.known_fraction,
            "sky_resolution": list(self.sky.resolution),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the points and the sky dome to one safetensors file, atomically: the
        store's arrays (pos (3, N) float32, chunk_keys, chunk_starts, col.rgb (N, 3) uint8,
        col.segment (N,) int16), sky_feat / sky_weight when the dome was written, and a JSON
        header (format, version, config, segment, frame). The codec is not saved: the world
        names it, and load() is given it."""
        arrays = self.store.state()
        arrays.update(self.sky.state())
        write_memory_file(path, arrays, FORMAT, VERSION, self)

    @classmethod
    def load(
        cls, path: str | os.PathLike, codec: Any = None, device: torch.device | str = "cpu"
    ) -> RGBMemory:
        """Read a memory written by save() onto device, for `codec` (its readout encodes with
        it: it must have the saved channels and factor); refuse a foreign or damaged file
        clearly."""
        path = Path(path)
        header, arrays = read_memory_file(path, FORMAT, "an RGB memory")
        version, cfg = header["version"], header["config"]
        if version != VERSION:
            raise ValueError(
                f"{path} has RGB memory format version {version!r}; this program reads version "
                f"{VERSION}"
            )
        if codec is None:
            raise ValueError(f"{path}: reading an RGB memory needs the codec it encodes with")
        try:
            saved = (int(cfg["channels"]), int(cfg["factor"]))
            if saved != (codec.channels, codec.factor):
                raise ValueError(
                    f"saved for a codec of {saved[0]} channels and factor {saved[1]}; the codec "
                    f"here has {codec.channels} and {codec.factor}"
                )
            mem = cls(
                codec,
                chunk_size=cfg["chunk_size"],
                depth_tolerance=cfg["depth_tolerance"],
                known_fraction=cfg["known_fraction"],
                sky_resolution=tuple(cfg["sky_resolution"]),
                device=device,
            )
            mem.store.load_state(arrays)
            if bool((mem.store.column("segment") < 0).any()):
                raise ValueError("array 'col.segment' has negative segment ids")
            mem.sky.load_state(arrays)
            mem.segment = int(header["segment"])
            if header.get("frame") is not None:
                mem.frame = GroundFrame.from_dict(header["frame"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: RGB memory header is incomplete ({e})") from None
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        if mem.frame is None and (len(mem) or mem.sky.allocated):
            raise ValueError(f"{path}: points present but no ground frame in the header")
        return mem
