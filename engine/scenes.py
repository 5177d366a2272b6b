"""Sample scenes on disk: a photo with its depth map and camera intrinsics, opened by name.

A scene is a folder; the ones shipped with Latentscape are assets/scenes/<name>/
(engine.assets.SCENES), made by scripts/make_scenes.py. A folder holds three files:

- ``photo.png``: the photo, 8-bit RGB.
- ``depth.png``: 16-bit greyscale, depth = value * depth_scale (in depth_unit); value 0 means
  unknown (sky, or no ground truth there). Depth is the camera-frame z of the point seen at
  the pixel, not the length of the ray to it (engine.camera's convention).
- ``scene.json``: an object with fx, fy, cx, cy (pixels; OpenCV axes and continuous pixel
  coordinates as in engine.camera: the centre of pixel (row i, column j) is (j + 0.5, i + 0.5),
  a centred principal point is (width / 2, height / 2)), width, height (pixels, the size of
  both images), depth_scale (> 0), depth_unit (e.g. "m"), source, licence, description
  (strings). Any further keys are kept in `SampleScene.meta` (e.g. "synthetic": the
  engine.synth scene and time a synthetic photo was rendered from).

`load_scene` checks all of it and names the scene, the file and what is wrong when it refuses.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from engine.assets import SCENES
from engine.camera import Camera

PHOTO, DEPTH, META = "photo.png", "depth.png", "scene.json"
"""The three files of a scene folder."""

_INTRINSICS = ("fx", "fy", "cx", "cy", "width", "height")
_DEPTH_FORMAT = ("depth_scale", "depth_unit")
_TEXTS = ("source", "licence", "description")
REQUIRED_KEYS = _INTRINSICS + _DEPTH_FORMAT + _TEXTS
"""Keys every scene.json must have."""

_MAX_DEPTH_VALUE = 65535  # largest 16-bit value


@dataclass
class SampleScene:
    """One sample scene, loaded. H, W are camera.height, camera.width."""

    name: str  # the folder's name
    rgb: Tensor  # (3, H, W) float32 in [0, 1]
    depth: Tensor  # (H, W) float32 camera-frame z in meta["depth_unit"]; 0 where unknown
    camera: Camera  # intrinsics from scene.json, identity pose
    meta: dict[str, Any]  # scene.json without the intrinsics: source, licence, description, ...

    @property
    def known(self) -> Tensor:
        """(H, W) bool: pixels whose depth is known (> 0)."""
        return self.depth > 0


def list_scenes(root: str | os.PathLike | None = None) -> list[str]:
    """Sorted names of the scene folders (those with a scene.json) in `root` (default SCENES)."""
    root = SCENES if root is None else Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / META).is_file())


def load_scene(
    name_or_folder: str | os.PathLike, root: str | os.PathLike | None = None
) -> SampleScene:
    """Load a scene by name (a folder in `root`, default SCENES) or from a folder path.

    A string without a path separator is a name first; a name that is not in `root` but is
    an existing folder is loaded from there. Raises ValueError for an unknown name (listing
    the available ones) or a malformed file, FileNotFoundError for a missing folder or file.
    """
    folder = _scene_folder(name_or_folder, SCENES if root is None else Path(root))
    name = folder.name
    for file in (META, PHOTO, DEPTH):
        if not (folder / file).is_file():
            raise FileNotFoundError(f"scene {name!r}: {folder / file} is missing")
    meta = _read_meta(name, folder / META)
    width, height = meta["width"], meta["height"]
    try:
        camera = Camera(*(meta[key] for key in _INTRINSICS))
    except ValueError as error:
        raise ValueError(f"scene {name!r}: {folder / META}: bad intrinsics: {error}") from None
    rgb = _read_photo(name, folder / PHOTO, width, height)
    values = _read_depth(name, folder / DEPTH, width, height)
    depth = torch.from_numpy(values.astype(np.float32) * np.float32(meta["depth_scale"]))
    extra = {key: value for key, value in meta.items() if key not in _INTRINSICS}
    return SampleScene(name=name, rgb=rgb, depth=depth, camera=camera, meta=extra)


def save_scene(
    folder: str | os.PathLike,
    rgb: Tensor | np.ndarray,
    depth: Tensor | np.ndarray,
    camera: Camera,
    *,
    depth_scale: float,
    depth_unit: str,
    source: str,
    licence: str,
    description: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a scene folder that load_scene reads back; returns the folder.

    rgb (3, H, W) in [0, 1] is rounded to 8 bits; depth (H, W) camera-frame z in
    `depth_unit` is rounded to multiples of `depth_scale`, and every depth that is not finite
    and > 0 (sky, unknown) is written as 0. A known depth below depth_scale / 2 is written as
    1 (one step), so that it stays known. `camera` gives the intrinsics; its pose must be the
    identity. `extra` keys go into scene.json beside the required ones.
    """
    folder = Path(folder)
    height, width = camera.height, camera.width
    rgb = torch.as_tensor(rgb, dtype=torch.float32)
    depth = torch.as_tensor(depth, dtype=torch.float32)
    if rgb.shape != (3, height, width):
        raise ValueError(f"rgb must have shape (3, {height}, {width}), got {tuple(rgb.shape)}")
    if depth.shape != (height, width):
        raise ValueError(f"depth must have shape ({height}, {width}), got {tuple(depth.shape)}")
    if not torch.equal(camera.pose, torch.eye(4, dtype=torch.float64)):
        raise ValueError("a sample scene's camera must have the identity pose")
    if not (math.isfinite(depth_scale) and depth_scale > 0):
        raise ValueError(f"depth_scale must be a finite number > 0, got {depth_scale}")
    clash = sorted(set(extra or {}) & set(REQUIRED_KEYS))
    if clash:
        raise ValueError(f"extra keys {clash} clash with the required keys of {META}")

    known = torch.isfinite(depth) & (depth > 0)
    steps = torch.where(known, depth / depth_scale, 0.0).double().round()
    if float(steps.max()) > _MAX_DEPTH_VALUE:
        raise ValueError(
            f"depth up to {float(depth[known].max()):.6g} {depth_unit} does not fit 16 bits "
            f"with depth_scale {depth_scale} (at most {_MAX_DEPTH_VALUE * depth_scale:.6g})"
        )
    steps = torch.where(known, steps.clamp(min=1.0), 0.0)
    photo = (rgb.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(photo)).save(folder / PHOTO, optimize=True)
    Image.fromarray(steps.numpy().astype(np.uint16)).save(folder / DEPTH, optimize=True)
    meta = {key: getattr(camera, key) for key in _INTRINSICS}
    meta.update(
        depth_scale=float(depth_scale),
        depth_unit=depth_unit,
        source=source,
        licence=licence,
        description=description,
        **(extra or {}),
    )
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- reading


def _scene_folder(name_or_folder: str | os.PathLike, root: Path) -> Path:
    text = os.fspath(name_or_folder)
    is_name = isinstance(name_or_folder, str) and not any(
        sep in text for sep in {"/", "\\", os.sep}
    )
    if is_name and text not in (".", "..") and (root / text / META).is_file():
        return root / text
    if Path(text).is_dir():
        return Path(text)
    if is_name:
        raise ValueError(f"unknown sample scene {text!r}; available: {list_scenes(root)}")
    raise FileNotFoundError(f"scene folder {text} does not exist")


def _read_meta(name: str, path: Path) -> dict[str, Any]:
    def bad(what: str) -> ValueError:
        return ValueError(f"scene {name!r}: {path}: {what}")

    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad(f"not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise bad(f"must hold a JSON object, got {type(meta).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise bad(f"missing keys {missing} (required: {list(REQUIRED_KEYS)})")
    for key in ("fx", "fy", "cx", "cy", "depth_scale"):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"{key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise bad(f"{key} must be finite, got {value!r}")
    for key in ("width", "height"):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise bad(f"{key} must be a positive integer, got {value!r}")
    if meta["depth_scale"] <= 0:
        raise bad(f"depth_scale must be > 0, got {meta['depth_scale']!r}")
    for key in ("depth_unit", *_TEXTS):
        if not isinstance(meta[key], str):
            raise bad(f"{key} must be a string, got {meta[key]!r}")
    return meta


def _open_image(name: str, path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"scene {name!r}: {path} is not a readable image ({error})") from None
    return image


def _check_size(name: str, path: Path, image: Image.Image, width: int, height: int) -> None:
    if image.size != (width, height):
        raise ValueError(
            f"scene {name!r}: {path} is {image.size[0]}x{image.size[1]}, but {META} says "
            f"width x height = {width}x{height}"
        )


def _read_photo(name: str, path: Path, width: int, height: int) -> Tensor:
    """(3, H, W) float32 in [0, 1] from an 8-bit RGB image."""
    image = _open_image(name, path)
    if image.mode != "RGB":
        raise ValueError(f"scene {name!r}: {path} must be 8-bit RGB, got mode {image.mode!r}")
    _check_size(name, path, image, width, height)
    pixels = np.asarray(image, dtype=np.uint8)  # (H, W, 3)
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def _read_depth(name: str, path: Path, width: int, height: int) -> np.ndarray:
    """(H, W) integer depth values from a 16-bit greyscale image."""
    image = _open_image(name, path)
    if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise ValueError(
            f"scene {name!r}: {path} must be a 16-bit greyscale PNG, got mode {image.mode!r}"
        )
    _check_size(name, path, image, width, height)
    values = np.asarray(image).astype(np.int64)
    if values.min() < 0 or values.max() > _MAX_DEPTH_VALUE:  # mode "I" holds 32 bits
        raise ValueError(f"scene {name!r}: {path} has values outside the 16-bit range")
    return values
