"""Slow, obviously correct twins of LatentMemory's lift / readout / update.

One Python loop iteration per entry or token, float64 numpy, no index tricks. They exist
only so that tests can check the vectorised code against them on small scenes; do not
use them for anything else.

An entry is a dict with "xyz" (3,) float64, "latent" (C,) float64, "weight" int and
"segment" int. Semantics (same as LatentMemory, see its module docstring):

- a token at latent pixel (i, j) with depth d lies at camera.unproject((j + .5, i + .5), d);
- an entry is seen at pixel (floor(v), floor(u)) if its depth z > NEAR and (u, v) is
  inside the image; the nearest z wins, ties go to the larger entry index;
- update: a valid token is covered when an entry falls in its pixel with
  |z - d| <= tol * d; the nearest such entry is refined by a running mean, uncovered
  tokens are appended.
"""

from __future__ import annotations

import math

import numpy as np

from engine.camera import Camera
from engine.memory.store import NEAR


def _extrinsics(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    w2c = camera.world_to_camera.numpy()
    return w2c[:3, :3], w2c[:3, 3]


def project_entry(camera: Camera, xyz: np.ndarray) -> tuple[int, int, float] | None:
    """(row, col, z) where the point is seen, or None when it is not in the image."""
    rot, t = _extrinsics(camera)
    x, y, z = rot @ xyz + t
    if not z > NEAR:
        return None
    u = camera.fx * x / z + camera.cx
    v = camera.fy * y / z + camera.cy
    if not (0 <= u < camera.width and 0 <= v < camera.height):
        return None
    return int(math.floor(v)), int(math.floor(u)), float(z)


def token_point(camera: Camera, i: int, j: int, d: float) -> np.ndarray:
    """World point of the token at latent pixel (i, j) with depth d."""
    x = (j + 0.5 - camera.cx) / camera.fx * d
    y = (i + 0.5 - camera.cy) / camera.fy * d
    pose = camera.pose.numpy()
    return pose[:3, :3] @ np.array([x, y, d]) + pose[:3, 3]


def lift(entries: list[dict], latent, depth, camera: Camera, keep=None, segment: int = 0):
    """Append one entry per kept token with depth > 0 (no fusion)."""
    latent, depth = np.asarray(latent, np.float64), np.asarray(depth, np.float64)
    _, h, w = latent.shape
    for i in range(h):
        for j in range(w):
            if (keep is None or keep[i][j]) and depth[i, j] > 0:
                entries.append(
                    {
                        "xyz": token_point(camera, i, j, depth[i, j]),
                        "latent": latent[:, i, j].copy(),
                        "weight": 1,
                        "segment": segment,
                    }
                )
    return entries


def readout(entries: list[dict], camera: Camera, channels: int):
    """(latent (C, h, w), known (h, w), depth (h, w), ids (h, w)) by a per-entry loop."""
    h, w = camera.height, camera.width
    best_z = np.full((h, w), np.inf)
    ids = np.full((h, w), -1, np.int64)
    for k, e in enumerate(entries):
        seen = project_entry(camera, e["xyz"])
        if seen is None:
            continue
        i, j, z = seen
        if z < best_z[i, j] or (z == best_z[i, j] and k > ids[i, j]):
            best_z[i, j], ids[i, j] = z, k
    latent = np.zeros((channels, h, w))
    depth = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            if ids[i, j] >= 0:
                latent[:, i, j] = entries[ids[i, j]]["latent"]
                depth[i, j] = best_z[i, j]
    return latent, ids >= 0, depth, ids


def update(entries, latent, depth, camera: Camera, keep=None, segment=0, tol=0.05, max_weight=16):
    """Fuse covered tokens into the nearest consistent entry; append the others."""
    latent, depth = np.asarray(latent, np.float64), np.asarray(depth, np.float64)
    _, h, w = latent.shape
    valid = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            valid[i, j] = (keep is None or keep[i][j]) and depth[i, j] > 0
    owner = np.full((h, w), -1, np.int64)
    owner_z = np.full((h, w), np.inf)
    for k, e in enumerate(entries):
        seen = project_entry(camera, e["xyz"])
        if seen is None:
            continue
        i, j, z = seen
        d = depth[i, j]
        if not valid[i, j] or abs(z - d) > tol * d:
            continue
        if z < owner_z[i, j] or (z == owner_z[i, j] and k > owner[i, j]):
            owner_z[i, j], owner[i, j] = z, k
    new = []
    for i in range(h):
        for j in range(w):
            if not valid[i, j]:
                continue
            if owner[i, j] >= 0:
                e = entries[owner[i, j]]
                wgt = e["weight"]
                e["latent"] = (e["latent"] * wgt + latent[:, i, j]) / (wgt + 1)
                e["weight"] = min(wgt + 1, max_weight)
            else:
                new.append(
                    {
                        "xyz": token_point(camera, i, j, depth[i, j]),
                        "latent": latent[:, i, j].copy(),
                        "weight": 1,
                        "segment": segment,
                    }
                )
    entries.extend(new)
    return entries
