"""What an Explorer reports to the GUI: plain dataclasses of numpy arrays, no Qt, no torch.

engine.explore.Explorer builds them on the engine thread and app/bridge.py emits them as Qt
signals; the viewport, the minimap, the inspector and the window read them. `ViewFrame` is what the
renderer draws (app/renderer.py); `WorldInfo` what the GUI learns when a world opens;
`MemoryMap` the minimap's picture of the memory; `Inspection` the inspector's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ViewFrame:
    """One engine frame as the GUI sees it.

    rgb (H, W, 3) uint8; depth (h, w) float32 camera z per latent token (0 where unknown or
    sky); holes (h, w) bool, tokens generated for this frame (not read from memory);
    K (3, 3) intrinsics in pixels of rgb; pose (4, 4) camera-to-world of the frame."""

    rgb: np.ndarray
    depth: np.ndarray
    holes: np.ndarray
    K: np.ndarray
    pose: np.ndarray
    segment: int = 0
    index: int = 0  # frame counter of the bridge

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"ViewFrame.rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        depth, holes = np.asarray(self.depth, np.float32), np.asarray(self.holes, bool)
        if depth.ndim != 2 or holes.shape != depth.shape:
            raise ValueError(
                f"ViewFrame.depth and .holes must be (h, w) alike, got {depth.shape} {holes.shape}"
            )
        if np.asarray(self.K).shape != (3, 3) or np.asarray(self.pose).shape != (4, 4):
            raise ValueError("ViewFrame.K must be (3, 3) and .pose (4, 4)")
        self.rgb = np.ascontiguousarray(rgb)
        self.depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
        self.holes = holes
        self.K = np.asarray(self.K, np.float64)
        self.pose = np.asarray(self.pose, np.float64)


@dataclass
class WorldInfo:
    """What the GUI learns about a world when it opens."""

    source: str
    width: int
    height: int
    K: np.ndarray  # (3, 3) intrinsics, pixels
    pose: np.ndarray  # (4, 4) the seed camera's pose (camera-to-world)
    up: np.ndarray  # (3,) world up
    config: dict[str, Any]
    segments: int
    trajectory: np.ndarray  # (n, 4, 4)
    ground: np.ndarray  # (4, 3) rows origin, right, forward, up of the ground frame (minimap)
    notes: list[str] = field(default_factory=list)


@dataclass
class MemoryMap:
    """The memory seen from above, for the minimap (made on the engine thread, numpy only).

    Ground coordinates are (x, y) = (right, forward) of the seed camera, on the plane
    through it perpendicular to world up (engine.memory.latent.GroundFrame).
    count (rows, cols) float32: entries per cell; segment (rows, cols) int64: the newest
    segment that wrote into the cell (-1 empty; 0 is the seed photo); extent (x0, x1, y0,
    y1): the ground rectangle the grid covers, row 0 at the far edge (y1), column 0 at x0;
    current: the world's segment count (age of a cell = current - segment); trajectory
    (n, 2): every camera the world rendered, in ground coordinates; keyframes (k, 2): the
    seed camera and the last camera of each segment.
    """

    count: np.ndarray
    segment: np.ndarray
    extent: tuple[float, float, float, float]
    current: int
    trajectory: np.ndarray
    keyframes: np.ndarray


@dataclass
class Inspection:
    """What the memory holds in the current view, for the inspector (engine thread, numpy).

    All maps are on the latent grid (h, w). pca (h, w, 3) uint8: the readout latent's first
    three principal components (basis fixed per world, from the seed latent) as colours,
    black at holes; known (h, w) bool; age (h, w) int64: segments since the entry seen was
    written (-1 at holes and sky); depth (h, w) float32: camera z (0 at holes, inf on sky);
    dynamic (h, w) bool or None: seed tokens the dynamic filter kept out of the memory
    (None when no dynamic mask was given); summary: LatentMemory.summary() plus rgb_bytes;
    growth (k, 3) float64 rows of (segment, entries, bytes) as the memory holds them now
    (cumulative over the segments that wrote the entries still held).
    """

    pca: np.ndarray
    known: np.ndarray
    age: np.ndarray
    depth: np.ndarray
    dynamic: np.ndarray | None
    summary: dict[str, Any]
    growth: np.ndarray
