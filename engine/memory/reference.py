"""Slow, obviously correct twins of LatentMemory's lift / readout / update.

One Python loop iteration per entry or token, float64 numpy, no index tricks. They exist
only so that tests can check the vectorised code against them on small scenes; do not
use them for anything else.

An entry is a dict with "xyz" (3,) float64, "latent" (C,) float64, "weight" int,
"segment" int and "footprint" float (world side of its token; 0: unknown). Semantics
(same as LatentMemory, see its module docstring):

- a token at latent pixel (i, j) with depth d lies at camera.unproject((j + .5, i + .5), d);
- readout: an entry covers the pixels of its footprint (see covered_pixels; a point or a
  token smaller than a pixel covers (floor(v), floor(u))); per pixel the nearest surface
  wins and on it the entry whose centre is nearest the pixel's centre (see readout);
- update: an entry is seen at pixel (floor(v), floor(u)) if its depth z > NEAR and (u, v)
  is inside the image;
- update: a valid token is covered when an entry falls in its pixel with
  |z - d| <= tol * d; the nearest such entry is refined by a running mean, uncovered
  tokens are appended.
"""

from __future__ import annotations

import math

import numpy as np

from engine.camera import Camera
from engine.memory.latent import FOOT_SPREAD, SURFACE_STEP
from engine.memory.store import FOOT_MAX, NEAR


def _extrinsics(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    w2c = camera.world_to_camera.numpy()
    return w2c[:3, :3], w2c[:3, 3]


def image_point(camera: Camera, xyz: np.ndarray) -> tuple[float, float, float] | None:
    """(u, v, z) of a world point in camera, or None when it is not in front (z <= NEAR)."""
    rot, t = _extrinsics(camera)
    x, y, z = rot @ xyz + t
    if not z > NEAR:
        return None
    return camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy, float(z)


def project_entry(camera: Camera, xyz: np.ndarray) -> tuple[int, int, float] | None:
    """(row, col, z) where the point is seen, or None when it is not in the image."""
    seen = image_point(camera, xyz)
    if seen is None:
        return None
    u, v, z = seen
    if not (0 <= u < camera.width and 0 <= v < camera.height):
        return None
    return int(math.floor(v)), int(math.floor(u)), float(z)


def token_point(camera: Camera, i: int, j: int, d: float) -> np.ndarray:
    """World point of the token at latent pixel (i, j) with depth d."""
    x = (j + 0.5 - camera.cx) / camera.fx * d
    y = (i + 0.5 - camera.cy) / camera.fy * d
    pose = camera.pose.numpy()
    return pose[:3, :3] @ np.array([x, y, d]) + pose[:3, 3]


def footprints(camera: Camera, depth) -> np.ndarray:
    """World size of each token of a latent frame (h, w): the largest distance to a
    4-neighbour's point whose depth is within SURFACE_STEP (relative) of its own, at least
    the frontal size d / sqrt(fx fy), at most FOOT_SPREAD times that, rounded to the 1/8
    octave that the memory's one-byte code keeps; 0 where the depth is not positive."""
    depth = np.asarray(depth, np.float64)
    h, w = depth.shape
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            d = depth[i, j]
            if not (np.isfinite(d) and d > 0):
                continue
            frontal = d / math.sqrt(camera.fx * camera.fy)
            reach = frontal
            for di, dj in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                a, b = i + di, j + dj
                if not (0 <= a < h and 0 <= b < w):
                    continue
                dn = depth[a, b]
                if not (np.isfinite(dn) and dn > 0) or abs(dn - d) > SURFACE_STEP * min(d, dn):
                    continue
                dist = np.linalg.norm(token_point(camera, i, j, d) - token_point(camera, a, b, dn))
                reach = max(reach, dist)
            side = min(reach, FOOT_SPREAD * frontal)
            out[i, j] = 2.0 ** (round(math.log2(side) * 8) / 8)
    return out


def lift(entries: list[dict], latent, depth, camera: Camera, keep=None, segment: int = 0):
    """Append one entry per kept token with depth > 0 (no fusion)."""
    latent, depth = np.asarray(latent, np.float64), np.asarray(depth, np.float64)
    _, h, w = latent.shape
    foot = footprints(camera, depth)
    for i in range(h):
        for j in range(w):
            if (keep is None or keep[i][j]) and depth[i, j] > 0:
                entries.append(
                    {
                        "xyz": token_point(camera, i, j, depth[i, j]),
                        "latent": latent[:, i, j].copy(),
                        "weight": 1,
                        "segment": segment,
                        "footprint": foot[i, j],
                    }
                )
    return entries


def covered_pixels(camera: Camera, xyz: np.ndarray, side: float, hidden: bool = False):
    """Pixels (row, col) an entry's footprint covers, with its (u, v, z) and footprint r in
    target pixels, or None when it is behind the camera. Per axis: the pixels whose centres
    lie in [u - r/2, u + r/2), or just floor(u) when r <= 1, the footprint is unknown or the
    entry is hidden at its centre."""
    seen = image_point(camera, xyz)
    if seen is None:
        return None
    u, v, z = seen
    rx = 0.0 if hidden else min(side * camera.fx / z, FOOT_MAX)
    ry = 0.0 if hidden else min(side * camera.fy / z, FOOT_MAX)

    def span(c, r, size):
        if r <= 1:
            lo = hi = math.floor(c)
        else:
            lo, hi = math.ceil(c - r / 2 - 0.5), math.ceil(c + r / 2 - 0.5) - 1
        return range(max(lo, 0), min(hi, size - 1) + 1)

    pixels = [(i, j) for i in span(v, ry, camera.height) for j in span(u, rx, camera.width)]
    return pixels, (u, v, z), math.sqrt(rx * ry)


def readout(entries: list[dict], camera: Camera, channels: int, band: float = SURFACE_STEP):
    """(latent (C, h, w), known (h, w), depth (h, w), ids (h, w), offset (2, h, w),
    scale (h, w)) by a per-entry loop. Per pixel, among the entries covering it within band
    (relative) of the nearest depth, the one whose centre is nearest wins (squared distance
    rounded to 1/65536 of a pixel^2), ties to the larger index. An entry's "footprint" is
    its world side (0 or absent: unknown)."""
    h, w = camera.height, camera.width
    # the nearest entry whose centre falls in each pixel: an entry farther than the band
    # behind it there is hidden and covers only that pixel
    centre_z = np.full((h, w), np.inf)
    centres = [project_entry(camera, e["xyz"]) for e in entries]
    for seen in centres:
        if seen is not None:
            i, j, z = seen
            centre_z[i, j] = min(centre_z[i, j], z)
    cover: dict[tuple[int, int], list] = {}
    for k, e in enumerate(entries):
        c = centres[k]
        hidden = c is not None and c[2] > centre_z[c[0], c[1]] * (1 + band)
        seen = covered_pixels(camera, e["xyz"], float(e.get("footprint", 0.0)), hidden)
        if seen is None:
            continue
        pixels, (u, v, z), r = seen
        for i, j in pixels:
            dx, dy = u - (j + 0.5), v - (i + 0.5)
            cover.setdefault((i, j), []).append(
                (z, round((dx * dx + dy * dy) * 65536), k, dx, dy, r)
            )
    latent = np.zeros((channels, h, w))
    depth = np.zeros((h, w))
    ids = np.full((h, w), -1, np.int64)
    offset = np.zeros((2, h, w))
    scale = np.ones((h, w))
    for (i, j), cands in cover.items():
        zmin = min(c[0] for c in cands)
        near = [c for c in cands if c[0] <= zmin * (1 + band)]
        z, _, k, dx, dy, r = min(near, key=lambda c: (c[1], -c[2]))
        ids[i, j], depth[i, j] = k, z
        latent[:, i, j] = entries[k]["latent"]
        offset[:, i, j] = dx, dy
        scale[i, j] = r if r > 0 else 1.0
    return latent, ids >= 0, depth, ids, offset, scale


def update(entries, latent, depth, camera: Camera, keep=None, segment=0, tol=0.05, max_weight=16):
    """Fuse covered tokens into the nearest consistent entry; append the others."""
    latent, depth = np.asarray(latent, np.float64), np.asarray(depth, np.float64)
    _, h, w = latent.shape
    foot = footprints(camera, depth)
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
                        "footprint": foot[i, j],
                    }
                )
    entries.extend(new)
    return entries
