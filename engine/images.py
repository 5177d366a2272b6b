"""Reading the user's photo, and writing PNGs atomically.

`load_image` turns whatever image file a user opens into one tensor the engine can use: RGB
(3, H, W) float32 in [0, 1], upright, at most `max_pixels` pixels. It either does that (and
says what it changed in `LoadedImage.notes`) or refuses with an `ImageLoadError` (a
ValueError) that names the file and the problem. It never returns a partial image.

What it does, in order:

1. Refuses a missing, unreadable or empty file, a folder, a file Pillow cannot identify, and
   an image over HARD_MAX_PIXELS (decompression-bomb guard; Pillow's own guard, at twice
   `PIL.Image.MAX_IMAGE_PIXELS`, about 179 MP by default, may refuse first) or under
   MIN_SIDE on either side.
2. JPEG over `max_pixels`: asks the decoder for a reduced decode (`Image.draft`, DCT scaling
   by 1/2, 1/4 or 1/8), so a 50 MP photo is never decoded at full size.
3. Applies the EXIF orientation (`ImageOps.exif_transpose`).
4. Converts the mode: 1 / L / P / CMYK / YCbCr / LAB / HSV / RGBX -> RGB or L (Pillow's
   conversions; CMYK without colour management); LA / PA / RGBA / P with transparency ->
   composited over BACKGROUND grey; 16-bit (I;16*) -> value / 65535; I (32-bit integer) ->
   value / 65535 when every value fits 16 bits, else stretched min..max; F (float) -> kept
   when in [0, 1], else stretched min..max (NaN -> 0). Grey images are repeated to 3 channels.
   Multi-frame files (GIF, TIFF) give their first frame.
5. Resizes (Lanczos, area-preserving aspect) so that W * H <= max_pixels.

Pillow reads 16-bit-per-channel RGB PNGs as 8-bit RGB (it keeps the high byte), so for
those the [0, 1] scaling is exact but the low 8 bits are lost.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.files import atomic_path

MIN_SIDE = 16
"""Smallest accepted width and height, in pixels (after EXIF rotation and any resize)."""

DEFAULT_MAX_PIXELS = 4_000_000
"""Default pixel budget of a loaded image; larger images are reduced to it."""

HARD_MAX_PIXELS = 200_000_000
"""Images declaring more pixels than this are refused before decoding (decompression bombs)."""

BACKGROUND = (128, 128, 128)
"""Neutral grey that transparent pixels are composited over (0.502 in [0, 1])."""

_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # orientations that swap width and height
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_CONVERTIBLE_MODES = ("1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX")


class ImageLoadError(ValueError):
    """The file cannot be used as a photo; the message names the file and the reason."""


@dataclass
class LoadedImage:
    """A photo as the engine uses it."""

    rgb: torch.Tensor  # (3, H, W) float32 in [0, 1], upright
    path: Path  # the file it was read from
    original_size: tuple[int, int]  # (width, height) of the upright image before any resize
    notes: list[str] = field(default_factory=list)  # what was converted, rotated or resized

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])


# --------------------------------------------------------------------------- loading


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file as upright RGB (3, H, W) float32 in [0, 1] with W * H <= max_pixels.

    Raises ImageLoadError (a ValueError) naming the file when it cannot be used; see the
    module docstring for every conversion and refusal.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int):
        raise ValueError(f"max_pixels must be an int, got {max_pixels!r}")
    if max_pixels < MIN_SIDE * MIN_SIDE:
        raise ValueError(f"max_pixels must be >= {MIN_SIDE * MIN_SIDE}, got {max_pixels}")
    path = Path(path)
    _check_file(path)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Our own HARD_MAX_PIXELS check below replaces Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                rgb, original_size = _decode(im, path, max_pixels, notes)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageLoadError(
            f"{path}: refused as a possible decompression bomb ({error})"
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file that Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        # Truncated or corrupt data surfaces here, at decode time.
        raise ImageLoadError(
            f"{path}: the image data cannot be decoded ({type(error).__name__}: {error})"
        ) from None
    return LoadedImage(rgb=rgb, path=path, original_size=original_size, notes=notes)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{path}: is a folder, not an image file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as error:
        raise ImageLoadError(f"{path}: cannot be read ({error.strerror or error})") from None
    if size == 0:
        raise ImageLoadError(f"{path}: the file is empty (0 bytes)")


def _decode(
    im: Image.Image, path: Path, max_pixels: int, notes: list[str]
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The body of load_image on an open image; fills `notes`."""
    width, height = im.size
    if width * height > HARD_MAX_PIXELS:
        raise ImageLoadError(
            f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, more than the "
            f"{HARD_MAX_PIXELS / 1e6:.0f} MP limit (refused before decoding, as a possible "
            "decompression bomb)"
        )
    n_frames = getattr(im, "n_frames", 1)
    if n_frames > 1:
        im.seek(0)
        notes.append(f"the file has {n_frames} frames; used the first")
    orientation = _orientation(im, notes)
    upright = (height, width) if orientation in _ROTATED_ORIENTATIONS else (width, height)
    if min(upright) < MIN_SIDE:
        raise ImageLoadError(
            f"{path}: {upright[0]}x{upright[1]} is too small; the minimum is "
            f"{MIN_SIDE}x{MIN_SIDE} pixels"
        )
    target = _target_size(upright, max_pixels, path)

    if im.format == "JPEG" and target != upright:
        # The decoder may only scale by 1/2, 1/4 or 1/8 and returns at least the asked size.
        ask = (target[1], target[0]) if orientation in _ROTATED_ORIENTATIONS else target
        if im.draft(im.mode, ask) is not None and im.size != (width, height):
            notes.append(
                f"decoded the JPEG at reduced size {im.size[0]}x{im.size[1]} "
                f"(from {width}x{height})"
            )
    im.load()

    if orientation != 1:
        im = ImageOps.exif_transpose(im)
        notes.append(f"rotated upright from EXIF orientation {orientation}")

    source_mode = im.mode
    im = _to_standard_mode(im, path, notes)  # L, RGB, I or F

    if im.size != target:
        im = im.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        notes.append(
            f"resized from {upright[0]}x{upright[1]} to {target[0]}x{target[1]} "
            f"(max_pixels {max_pixels})"
        )

    array = _to_unit_float(im, source_mode, notes)  # (H, W) or (H, W, 3), in [0, 1]
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    rgb = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    return rgb, upright


def _orientation(im: Image.Image, notes: list[str]) -> int:
    """EXIF orientation 1..8 (1 = upright); 1 with a note when the EXIF block is unreadable."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block must not stop the photo from loading
        notes.append("ignored an unreadable EXIF block")
        return 1
    if value not in range(1, 9):
        notes.append(f"ignored an invalid EXIF orientation {value!r}")
        return 1
    return int(value)


def _target_size(size: tuple[int, int], max_pixels: int, path: Path) -> tuple[int, int]:
    """(width, height) scaled by one factor so that width * height <= max_pixels."""
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    target = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    if min(target) < MIN_SIDE:
        raise ImageLoadError(
            f"{path}: {width}x{height} cannot be reduced to {max_pixels} pixels without a side "
            f"under {MIN_SIDE} pixels (the aspect ratio is too extreme)"
        )
    return target


def _to_standard_mode(im: Image.Image, path: Path, notes: list[str]) -> Image.Image:
    """Convert to one of L, RGB (8-bit), I (32-bit integer) or F (float)."""
    mode = im.mode
    if mode in ("L", "RGB", "I", "F"):
        return im
    if mode in _SIXTEEN_BIT_MODES:
        notes.append(f"read 16-bit {mode} grey values as value / 65535")
        return im.convert("I")
    if mode == "P" or mode == "PA":
        if mode == "PA" or "transparency" in im.info:
            im = im.convert("RGBA")
        else:
            notes.append("converted a palette image to RGB")
            return im.convert("RGB")
    if im.mode in _ALPHA_MODES:
        return _composite(im, notes)
    if im.mode in _CONVERTIBLE_MODES:
        target = "L" if im.mode == "1" else "RGB"
        notes.append(f"converted {im.mode} to {target}")
        return im.convert(target)
    try:
        converted = im.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageLoadError(f"{path}: unsupported image mode {im.mode!r} ({error})") from None
    notes.append(f"converted {im.mode} to RGB")
    return converted


def _composite(im: Image.Image, notes: list[str]) -> Image.Image:
    """RGBA-like image -> RGB over BACKGROUND, or plain RGB when every pixel is opaque."""
    source = im.mode
    im = im.convert("RGBA")
    low, _high = im.getchannel("A").getextrema()
    if low == 255:
        notes.append(f"dropped the alpha channel of a fully opaque {source} image")
        return im.convert("RGB")
    background = Image.new("RGBA", im.size, (*BACKGROUND, 255))
    notes.append(f"composited the transparent parts of a {source} image over grey {BACKGROUND}")
    return Image.alpha_composite(background, im).convert("RGB")


def _to_unit_float(im: Image.Image, source_mode: str, notes: list[str]) -> np.ndarray:
    """L / RGB / I / F image -> float32 array in [0, 1] ((H, W) or (H, W, 3)).

    `source_mode` is the file's own mode, which says whether an I image held 16-bit values."""
    if im.mode in ("L", "RGB"):
        return np.asarray(im, dtype=np.float32) / np.float32(255.0)
    array = np.asarray(im, dtype=np.float64)
    if im.mode == "F" and not np.isfinite(array).all():
        notes.append("replaced NaN / infinite float pixels by 0")
        array = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(array.min()), float(array.max())
    if im.mode == "I" and low >= 0 and high <= 65535:
        if source_mode == "I":
            notes.append("read 32-bit integer grey values (all within 16 bits) as value / 65535")
        array = array / 65535.0
    elif im.mode == "F" and low >= 0 and high <= 1:
        pass
    elif high > low:
        notes.append(f"stretched {im.mode} values from [{low:g}, {high:g}] to [0, 1]")
        array = (array - low) / (high - low)
    else:
        notes.append(f"the {im.mode} image is constant ({low:g}); set it to 0")
        array = np.zeros_like(array)
    return np.clip(array, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- saving


def save_png_atomic(path: str | os.PathLike, rgb) -> None:
    """Write rgb (3, H, W) float in [0, 1] (tensor or array) as an 8-bit RGB PNG at `path`.

    Values are clamped to [0, 1] and rounded. Written atomically (engine.files.atomic_path):
    readers never see a partial PNG.
    """
    array = rgb.detach().cpu().numpy() if isinstance(rgb, torch.Tensor) else np.asarray(rgb)
    if array.ndim != 3 or array.shape[0] != 3 or 0 in array.shape:
        raise ValueError(f"save_png_atomic expects rgb of shape (3, H, W), got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"save_png_atomic expects float rgb in [0, 1], got {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("save_png_atomic: rgb contains NaN or infinite values")
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(tmp, format="PNG")
