"""Camera paths through a synthetic scene (sample_path: forward, loop, orbit)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from engine.synth.room import RoomScene
    from engine.synth.street import StreetScene


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
