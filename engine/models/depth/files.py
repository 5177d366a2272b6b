"""Depth given with a photo: 16-bit PNG, .npy and .exr readers, `load_depth_file`,
`FileDepth`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engine.models.depth.base import DepthFileError, DepthResult, check_rgb_image

# --------------------------------------------------------------------------- depth files


def load_depth_file(
    path: str | os.PathLike,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Read a depth map given with a photo -> (H, W) float32 camera-frame z in scene units.

    Formats, by suffix:
    - .png, 16-bit grey (mode I;16): depth = value * scale. `scale` (scene units per step,
      e.g. 0.001 for millimetres) is required: pass it, or put {"depth_scale": s} in a
      sidecar JSON beside the file (depth.json or depth.png.json). Value 0 = unknown.
    - .npy: a 2-D float array (or (1, H, W) / (H, W, 1)); multiplied by `scale`, or by the
      sidecar's depth_scale, when one is given. Integer arrays need a scale like PNGs.
    - .exr: the Z (or depth, or first colour) channel; needs the OpenEXR package.

    In the result 0 means unknown and +inf means sky (only float files can hold inf).
    `size` = (H, W), the shape of the photo, is checked when given. Refused with a
    DepthFileError (ValueError): missing / empty / unreadable files, other formats, 8-bit or
    colour PNGs, NaN, negative values or -inf, a map with no finite depth > 0, a wrong size.
    """
    path = Path(path)
    if not path.is_file():
        raise DepthFileError(f"{path}: no such depth file")
    if path.stat().st_size == 0:
        raise DepthFileError(f"{path}: the depth file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise DepthFileError(f"{path}: scale must be a finite number > 0, got {scale}")
    if suffix == ".png":
        values = _read_png16(path)
        scale = scale if scale is not None else _sidecar_scale(path)
        if scale is None:
            raise DepthFileError(
                f"{path}: a 16-bit PNG holds integer steps; give the scene units per step "
                f"with scale= (e.g. 0.001 for millimetres) or a sidecar "
                f'{path.with_suffix(".json").name} holding {{"depth_scale": 0.001}}'
            )
    elif suffix == ".npy":
        values = _read_npy(path)
        scale = scale if scale is not None else _sidecar_scale(path)
        if scale is None and not np.issubdtype(values.dtype, np.floating):
            raise DepthFileError(
                f"{path}: an integer array ({values.dtype}) needs scale= or a sidecar "
                f"depth_scale, like a 16-bit PNG"
            )
    elif suffix == ".exr":
        values = _read_exr(path)
        scale = scale if scale is not None else _sidecar_scale(path)
    else:
        raise DepthFileError(
            f"{path}: unsupported depth file type {suffix or '(none)'!r}; "
            "expected .png (16-bit), .npy or .exr"
        )
    depth = values.astype(np.float64) * (1.0 if scale is None else scale)
    _validate_depth(path, depth, size)
    return torch.from_numpy(depth.astype(np.float32))


def _read_png16(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                raise DepthFileError(
                    f"{path}: a depth PNG must be 16-bit grey (mode I;16), got mode {mode}; "
                    "8-bit or colour PNGs are pictures of depth, not depth"
                )
            values = np.asarray(im.convert("I") if mode != "I" else im, dtype=np.int64)
    except DepthFileError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DepthFileError(f"{path}: cannot be read as a PNG ({error})") from None
    if values.min() < 0 or values.max() > 65535:
        raise DepthFileError(f"{path}: values outside the 16-bit range [0, 65535]")
    return values


def _read_npy(path: Path) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DepthFileError(f"{path}: cannot be read as a .npy array ({error})") from None
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    elif values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim != 2:
        raise DepthFileError(f"{path}: depth must be a 2-D (H, W) array, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise DepthFileError(f"{path}: depth must be a float or integer array, got {values.dtype}")
    return values


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise DepthFileError(
            f"{path}: reading .exr depth needs the OpenEXR package (pip install OpenEXR); "
            "or save the depth as .npy (float) or a 16-bit PNG with a scale"
        ) from None
    if not hasattr(OpenEXR, "File"):
        raise DepthFileError(
            f"{path}: the installed OpenEXR package is too old (no OpenEXR.File); "
            "pip install 'OpenEXR>=3.3'"
        )
    try:
        with OpenEXR.File(os.fspath(path)) as exr:
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as error:  # OpenEXR raises plain RuntimeError / Exception on bad files
        raise DepthFileError(f"{path}: cannot be read as an EXR file ({error})") from None
    for name in ("Z", "depth", "Depth", "D", "Y", "R", "RGB", "RGBA"):
        if name in channels:
            values = np.asarray(channels[name])
            return values[..., 0] if values.ndim == 3 else values
    if len(channels) == 1:
        values = np.asarray(next(iter(channels.values())))
        return values[..., 0] if values.ndim == 3 else values
    raise DepthFileError(
        f"{path}: no depth channel among {sorted(channels)}; expected Z, depth, Y or R"
    )


def _sidecar_scale(path: Path) -> float | None:
    """depth_scale from depth.json or depth.png.json beside the file, or None."""
    for sidecar in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if not sidecar.is_file():
            continue
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, ValueError, RecursionError) as error:
            raise DepthFileError(f"{sidecar}: cannot be read as JSON ({error})") from None
        if not isinstance(data, dict) or "depth_scale" not in data:
            continue
        value = data["depth_scale"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DepthFileError(f"{sidecar}: depth_scale must be a number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise DepthFileError(f"{sidecar}: depth_scale must be finite and > 0, got {value}")
        return float(value)
    return None


def _validate_depth(path: Path, depth: np.ndarray, size: tuple[int, int] | None) -> None:
    if size is not None and tuple(depth.shape) != tuple(size):
        raise DepthFileError(
            f"{path}: depth of shape (H, W) = {tuple(depth.shape)} does not match the photo's "
            f"{tuple(size)}; give a depth map of the photo's size (it is not resized)"
        )
    if min(depth.shape) < 1:
        raise DepthFileError(f"{path}: the depth map is empty, shape {depth.shape}")
    nan = np.isnan(depth)
    if nan.any():
        raise DepthFileError(
            f"{path}: {int(nan.sum())} NaN depth values; mark unknown depth with 0 "
            "and sky with +inf"
        )
    negative = depth < 0
    if negative.any():
        i, j = np.argwhere(negative)[0]
        raise DepthFileError(
            f"{path}: {int(negative.sum())} negative depth values (first at row {i}, col {j}: "
            f"{depth[i, j]:g}); depth is camera-frame z, > 0"
        )
    if not (np.isfinite(depth) & (depth > 0)).any():
        raise DepthFileError(f"{path}: no finite depth > 0 (all zero / unknown or all sky)")


class FileDepth:
    """Depth read from a file given with the photo (see `load_depth_file`).

    The rgb passed to `estimate` is used only for the size check. Sky = the +inf pixels of
    the file (None when it has none); unknown pixels keep depth 0.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike, scale: float | None = None) -> None:
        self.path = Path(path)
        self.scale = scale

    def estimate(self, rgb: Tensor) -> DepthResult:
        rgb = check_rgb_image(rgb, caller="FileDepth.estimate")
        _, h, w = rgb.shape
        depth = load_depth_file(self.path, scale=self.scale, size=(h, w))
        notes = [f"depth read from {self.path}"]
        sky = torch.isinf(depth)
        unknown = int((depth == 0).sum())
        if unknown:
            notes.append(f"{unknown} pixels have unknown depth (0)")
        if bool(sky.any()):
            notes.append(f"{int(sky.sum())} pixels are sky (+inf)")
            return DepthResult(depth=depth, sky=sky, notes=notes)
        return DepthResult(depth=depth, sky=None, notes=notes)
