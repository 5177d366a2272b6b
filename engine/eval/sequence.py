"""Reading real captures for the evaluation: nerfstudio folders, COLMAP models, a stereo pair.

Every reader returns a `Sequence`: frames in order, each with its image (a file or a tensor),
a `Camera` (OpenCV axes, camera-to-world, engine.camera's conventions) and optional depth,
plus the sparse points that put a depth estimate into the poses' scale. Its first note is
one line naming the variant read (the README has a table of them).

- nerfstudio (`transforms.json`), instant-ngp (the same file with `aabb_scale`) and
  Blender-NeRF (`transforms_train.json` when there is no transforms.json): `fl_x fl_y cx cy
  w h` in pixels (continuous pixel coordinates, like ours), per frame overrides of any of
  them, or `camera_angle_x` / `camera_angle_y` (radians, Blender style) when there is no
  focal length; `w h` default to the first image's size. `frames[].transform_matrix` is
  camera-to-world in OpenGL axes (+x right, +y up, +z back): c2w_cv = c2w_gl @
  diag(1, -1, -1, 1); 4x4 or 3x4, nested or flat; written transposed, it is read the right
  way round (the layout is found from where `0 0 0 1` is, as for camera paths), and a 0 in
  the homogeneous corner is read as 1 with a note. A `file_path` without extension
  (Blender's "./train/r_0") is looked for as .png, .jpg, .jpeg. Frames are taken in the
  order of their `file_path` (nerfstudio sorts them too). `frames[].depth_file_path`
  (instant-ngp: `depth_path`): a depth map (16-bit PNG or .npy) multiplied by
  `depth_unit_scale_factor` (instant-ngp: `integer_depth_scale`; default 1e-3, nerfstudio's:
  millimetres to metres; it applies the factor to .npy files as well). `ply_file_path`: an
  ASCII PLY whose vertices start with x y z (colours ignored). Lens distortion (k1 k2 p1 p2)
  is ignored, with a note when it is not zero; so are instant-ngp's `scale` and `offset`.
- COLMAP text (`cameras.txt` + `images.txt`) or binary (`cameras.bin` + `images.bin`), in
  the folder or in sparse/0, sparse or colmap/sparse/0: world-to-camera qw qx qy qz tx ty tz
  (OpenCV axes), images looked up under images/ beside the model's folder; `points3D.txt`
  / `points3D.bin` give the sparse points. Only the pinhole part of the camera model is
  used. An images.txt written without the POINTS2D lines is read too.
- `motorcycle_pair()`: the Middlebury 2014 motorcycle pair that scikit-image ships, left
  with its ground-truth depth, right one baseline to the right.

A rotation orthonormal only to ~1e-4..1e-2 (what capture pipelines write as text) is
re-orthonormalised by engine.camera.as_pose (nearest rotation) with a note naming the
frame; anything further from a rotation is refused. Bad input raises ValueError
(FileNotFoundError for a missing folder or file) naming the file and the problem.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engine.camera import OPENCV_TO_OPENGL, Camera, as_pose
from engine.io import quaternion_to_rotation

OPENGL_TO_OPENCV = OPENCV_TO_OPENGL
"""c2w_cv = c2w_gl @ OPENGL_TO_OPENCV (flip the camera's y and z axes); its own inverse."""

DEFAULT_DEPTH_UNIT = 1e-3
"""nerfstudio's depth_unit_scale_factor when transforms.json does not give one."""

COLMAP_FOLDERS = (".", "sparse/0", "sparse", "colmap/sparse/0")
"""Where a sequence folder's COLMAP files are looked for, in this order."""

TRANSFORMS_FILES = ("transforms.json", "transforms_train.json")
"""A sequence folder's camera file: nerfstudio's and instant-ngp's, else the Blender-NeRF
synthetic scenes' training split."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")
"""Tried, in this order, after a file_path written without its extension (Blender-NeRF)."""

# Middlebury 2014 "Motorcycle", as downsampled 4x by scikit-image (calibration from
# skimage.data.stereo_motorcycle's docstring; valid for the downsampled images). Middlebury
# counts pixel centres at integers, engine.camera at j + 0.5: + 0.5 / 4 after the 4x
# down-sampling, as scripts/make_scenes.py does for the sample scene.
MOTORCYCLE_FOCAL = 994.978  # px
MOTORCYCLE_CX, MOTORCYCLE_CY = 311.193 + 0.125, 254.877 + 0.125  # px, left camera
MOTORCYCLE_DOFFS = 31.086  # px: cx of the right camera minus cx of the left
MOTORCYCLE_BASELINE = 0.193001  # m


@dataclass
class Frame:
    """One frame: an image (file or tensor), its camera, optional depth (file or tensor)."""

    name: str
    camera: Camera  # intrinsics for the image's size; camera-to-world pose, OpenCV axes
    image_path: Path | None = None
    rgb: Tensor | None = None  # (3, H, W) float32 in [0, 1] when given in memory
    depth_path: Path | None = None
    depth_scale: float | None = None  # scene units per stored step of depth_path
    depth: Tensor | None = None  # (H, W) float32 camera-frame z, 0 unknown, when in memory


@dataclass
class Sequence:
    """A capture to evaluate on: frames in order and the sparse points of the scene."""

    name: str
    source: str  # the folder, or the stereo pair's name
    kind: str  # "nerfstudio", "colmap" or "stereo"
    frames: list[Frame]
    points: Tensor | None = None  # (N, 3) float64 sparse points in the poses' frame and scale
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def photo(self, i: int) -> Tensor:
        """(3, H, W) float32 in [0, 1] of frame i; its size must be the camera's."""
        from engine.images import load_image

        frame = self.frames[i]
        rgb = frame.rgb
        if rgb is None:
            assert frame.image_path is not None  # a frame has an image, in a file or in memory
            rgb = load_image(frame.image_path).rgb
        size = (frame.camera.height, frame.camera.width)
        if tuple(rgb.shape[1:]) != size:
            where = frame.image_path or frame.name
            raise ValueError(
                f"{where}: the image is {rgb.shape[2]}x{rgb.shape[1]}, its camera says "
                f"{size[1]}x{size[0]}"
            )
        return rgb

    def depth(self, i: int) -> Tensor | None:
        """(H, W) float32 camera-frame z of frame i (0 unknown), or None when not given."""
        from engine.models.depth import load_depth_file

        frame = self.frames[i]
        if frame.depth is not None:
            return frame.depth
        if frame.depth_path is None:
            return None
        size = (frame.camera.height, frame.camera.width)
        return load_depth_file(frame.depth_path, scale=frame.depth_scale, size=size)


# --------------------------------------------------------------------------- entry point


def read_sequence(source: str | os.PathLike) -> Sequence:
    """A sequence from a folder (transforms.json, else COLMAP text) or the name
    "motorcycle" (scikit-image's Middlebury pair; an existing folder of that name wins)."""
    path = Path(source).expanduser()
    if not path.exists() and str(source) == "motorcycle":
        return motorcycle_pair()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path}: no such sequence folder (expected a folder with transforms.json or "
            "COLMAP text, or the name 'motorcycle')"
        )
    for name in TRANSFORMS_FILES:
        if (path / name).is_file():
            return read_nerfstudio(path, name)
    if colmap_folder(path) is not None:
        return read_colmap(path)
    raise FileNotFoundError(
        f"{path}: no transforms.json (nerfstudio, instant-ngp; or Blender-NeRF's "
        "transforms_train.json) and no cameras + images (COLMAP text or binary, looked for in "
        f"{', '.join(COLMAP_FOLDERS)})"
    )


# --------------------------------------------------------------------------- poses


def checked_pose(matrix, where: str, notes: list[str]) -> Tensor:
    """A camera-to-world (4, 4) through engine.camera.as_pose (which re-orthonormalises a
    rotation off by up to engine.camera.REPAIR_TOL), its note and any error naming `where`."""
    said: list[str] = []
    try:
        pose = as_pose(matrix, said)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    notes += [f"{where}: rotation re-orthonormalised ({note})" for note in said]
    return pose


def opengl_to_opencv(c2w_gl: Tensor) -> Tensor:
    """Camera-to-world with OpenGL camera axes -> OpenCV camera axes (either way round)."""
    return torch.as_tensor(c2w_gl, dtype=torch.float64) @ OPENGL_TO_OPENCV


# --------------------------------------------------------------------------- nerfstudio


def _number(data: dict, key: str, where: str, positive: bool = False) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{where}: {key} must be > 0, got {value!r}")
    return float(value)


def _intrinsics(
    frame: dict, top: dict, size: tuple[int, int] | None, where: str
) -> tuple[float, float, float, float, int, int]:
    """(fx, fy, cx, cy, w, h) of a frame: its own keys over the file's; size = (w, h) of
    the image, used when neither gives w and h."""

    def get(key: str, positive: bool = False) -> float | None:
        for source in (frame, top):
            if key in source:
                return _number(source, key, where, positive)
        return None

    w, h = get("w", True), get("h", True)
    if w is None or h is None:
        if size is None:
            raise ValueError(f"{where}: no image size (w, h) and no image to read it from")
        w, h = size if w is None and h is None else (w or size[0], h or size[1])
    if w != int(w) or h != int(h):
        raise ValueError(f"{where}: w and h must be whole numbers of pixels, got {w} x {h}")
    w, h = int(w), int(h)
    fx, fy = get("fl_x", True), get("fl_y", True)
    if fx is None and fy is None:
        angle_x, angle_y = get("camera_angle_x", True), get("camera_angle_y", True)
        if angle_x is None and angle_y is None:
            raise ValueError(f"{where}: no focal length (fl_x / fl_y or camera_angle_x)")
        # f = (w / 2) / tan(angle_x / 2)
        fx = 0.5 * w / math.tan(0.5 * angle_x) if angle_x is not None else None
        fy = 0.5 * h / math.tan(0.5 * angle_y) if angle_y is not None else None
    fx, fy = fx or fy, fy or fx
    assert fx is not None and fy is not None  # given or computed above
    cx, cy = get("cx"), get("cy")
    return fx, fy, w / 2 if cx is None else cx, h / 2 if cy is None else cy, w, h


def read_nerfstudio(folder: str | os.PathLike, name: str = "transforms.json") -> Sequence:
    """A sequence from folder/transforms.json (see the module docstring), or another file
    of that format in the folder (Blender-NeRF's transforms_train.json)."""
    from engine.io import read_json

    folder = Path(folder)
    path = folder / name
    data = read_json(path, name)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'frames'")
    frames_data = data.get("frames")
    if not isinstance(frames_data, list) or not frames_data:
        raise ValueError(f"{path}: no frames (expected a non-empty 'frames' list)")
    notes: list[str] = []
    distortion = [k for k in ("k1", "k2", "k3", "k4", "p1", "p2") if data.get(k, 0) not in (0, 0.0)]
    if distortion:
        notes.append(f"{path}: lens distortion ({', '.join(distortion)}) ignored")
    # nerfstudio's depth_unit_scale_factor, else instant-ngp's integer_depth_scale
    unit_key = next(
        (k for k in ("depth_unit_scale_factor", "integer_depth_scale") if k in data),
        "depth_unit_scale_factor",
    )
    unit = data.get(unit_key, DEFAULT_DEPTH_UNIT)
    if isinstance(unit, bool) or not isinstance(unit, (int, float)) or not unit > 0:
        raise ValueError(f"{path}: {unit_key} must be a number > 0, got {unit!r}")
    for i, item in enumerate(frames_data):
        if not isinstance(item, dict) or not isinstance(item.get("file_path"), str):
            raise ValueError(f"{path}: frame {i}: no file_path")
    frames = []
    layouts: list[str] = []
    corners: list[str] = []
    added: set[str] = set()
    for item in sorted(frames_data, key=lambda f: f["file_path"]):
        where = f"{path}: frame {item['file_path']!r}"
        image = _image_file(folder / item["file_path"], added)
        if not image.is_file():
            raise FileNotFoundError(f"{where}: image file {image} is missing")
        if "transform_matrix" not in item:
            raise ValueError(f"{where}: no transform_matrix")
        matrix, layout, corner = _matrix(item["transform_matrix"], where)
        layouts.append(layout)
        if corner:
            corners.append(repr(item["file_path"]))
        pose = checked_pose(matrix, where, notes)
        size = None
        if not all(k in item or k in data for k in ("w", "h")):
            from PIL import Image

            with Image.open(image) as im:
                size = im.size
        camera = Camera(*_intrinsics(item, data, size, where), opengl_to_opencv(pose))
        depth_path = None
        depth_key = next((k for k in ("depth_file_path", "depth_path") if k in item), None)
        if depth_key is not None:
            depth_path = folder / item[depth_key]
            if not depth_path.is_file():
                raise FileNotFoundError(f"{where}: depth file {depth_path} is missing")
        frames.append(
            Frame(
                name=Path(item["file_path"]).stem,
                camera=camera,
                image_path=image,
                depth_path=depth_path,
                depth_scale=float(unit) if depth_path is not None else None,
            )
        )
    said = [f"{path}: read as {_transforms_variant(data, frames_data, layouts, added)}"]
    if corners:
        shown = ", ".join(corners[:3]) + (", ..." if len(corners) > 3 else "")
        said.append(
            f"{path}: a 0 in the homogeneous corner of {len(corners)} of {len(frames)} frames' "
            f"transform_matrix ({shown}) read as 1"
        )
    if "aabb_scale" in data and ("scale" in data or "offset" in data):
        said.append(
            f"{path}: instant-ngp's scale and offset ignored (they place the scene in its "
            "unit cube; the poses are read as written)"
        )
    points = None
    if "ply_file_path" in data:
        ply = folder / str(data["ply_file_path"])
        if not ply.is_file():
            raise FileNotFoundError(f"{path}: ply_file_path {ply} is missing")
        points = read_ascii_ply(ply)
    return Sequence(folder.name, str(folder), "nerfstudio", frames, points, said + notes)


def _image_file(image: Path, added: set[str]) -> Path:
    """The image of a file_path; one written without its extension (Blender-NeRF's
    "./train/r_0") is looked for with each of IMAGE_SUFFIXES, the one found put in `added`."""
    if image.is_file() or image.suffix.lower() in IMAGE_SUFFIXES:
        return image
    for suffix in IMAGE_SUFFIXES:
        candidate = image.with_name(image.name + suffix)
        if candidate.is_file():
            added.add(suffix)
            return candidate
    return image


def _transforms_variant(data: dict, frames: list[dict], layouts: list[str], added: set[str]) -> str:
    """One line: which flavour of transforms.json was read, and how."""
    per_frame = sorted(
        {k for f in frames for k in INTRINSIC_KEYS if k in f},
        key=INTRINSIC_KEYS.index,
    )
    anywhere = [k for k in INTRINSIC_KEYS if k in data or k in per_frame]
    focal = "fl_x/fl_y" if {"fl_x", "fl_y"} & set(anywhere) else "camera_angle_x/y"
    if "aabb_scale" in data:
        flavour = "instant-ngp"
    elif focal == "camera_angle_x/y" and not {"w", "h", "cx", "cy"} & set(anywhere):
        flavour = "Blender-NeRF"
    else:
        flavour = "nerfstudio"
    kinds = sorted(set(layouts), key=layouts.index)
    parts = [
        f"{flavour} transforms.json: {len(frames)} frames",
        f"focal length from {focal}",
        f"per-frame {', '.join(per_frame)}" if per_frame else "one camera for every frame",
        " and ".join(kinds) + " transform_matrix",
    ]
    if added:
        parts.append(f"file_path without extension ({', '.join(sorted(added))} added)")
    return ", ".join(parts)


INTRINSIC_KEYS = ("fl_x", "fl_y", "camera_angle_x", "camera_angle_y", "cx", "cy", "w", "h")
"""transforms.json's intrinsics, at the top level or per frame."""


def _matrix(value: object, where: str) -> tuple[Tensor, str, bool]:
    """A transform_matrix -> ((4, 4) float64, its layout, whether a 0 in the homogeneous
    corner was read as 1): 4 rows of 4 (or 3 rows: the row [0, 0, 0, 1] added), or 16 (12)
    numbers in a flat list. The layout is found as engine.path.ns_matrix finds it (where
    `0 0 0` is: a matrix written transposed is read the right way round); a matrix with
    NaN or inf is left to as_pose to refuse."""
    from engine.path import ns_matrix

    try:
        matrix = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{where}: transform_matrix is not a 4x4 list of numbers") from None
    flat = matrix.ndim == 1
    if flat and matrix.shape[0] in (12, 16):
        matrix = matrix.reshape(-1, 4)
    if matrix.shape == (3, 4):
        matrix = torch.cat([matrix, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)])
        return matrix, "3x4" + (" flat" if flat else ""), False
    if matrix.shape != (4, 4):
        raise ValueError(
            f"{where}: transform_matrix must be 4x4 (or 3x4), got shape {tuple(matrix.shape)}"
        )
    if not torch.isfinite(matrix).all():
        return matrix, "4x4", False
    try:
        read, layout, corner = ns_matrix(matrix.reshape(-1).tolist())
    except ValueError as error:
        raise ValueError(f"{where}: transform_matrix: {error}") from None
    layout = "4x4" if layout == "row-major" else "4x4 transposed (column-major)"
    return torch.from_numpy(read), layout + (" flat" if flat else ""), corner


def read_ascii_ply(path: str | os.PathLike) -> Tensor:
    """(N, 3) float64 vertex positions of an ASCII PLY whose vertex properties start with
    x y z (nerfstudio's sparse_pc.ply); ValueError naming the file otherwise."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an ASCII PLY (binary data)") from None
    if not lines or lines[0].strip() != "ply":
        raise ValueError(f"{path}: not a PLY file (no 'ply' on the first line)")
    try:
        end = next(i for i, line in enumerate(lines) if line.strip() == "end_header")
    except StopIteration:
        raise ValueError(f"{path}: no end_header line") from None
    header = [line.split() for line in lines[1:end]]
    if ["format", "ascii", "1.0"] not in header:
        raise ValueError(f"{path}: only 'format ascii 1.0' PLY files are read")
    count, props, element = None, [], None
    for words in header:
        if words[:1] == ["element"]:
            element = words[1] if len(words) > 1 else None
            if element == "vertex":
                count = int(words[2])
        elif words[:1] == ["property"] and element == "vertex":
            props.append(words[-1])
    if count is None or props[:3] != ["x", "y", "z"]:
        raise ValueError(f"{path}: expected a vertex element with properties x y z first")
    rows = lines[end + 1 : end + 1 + count]
    if len(rows) < count:
        raise ValueError(f"{path}: {count} vertices declared, {len(rows)} found")
    try:
        xyz = np.array([[float(v) for v in row.split()[:3]] for row in rows], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path}: a vertex line is not numbers") from None
    xyz = xyz.reshape(-1, 3)
    if not np.isfinite(xyz).all():
        raise ValueError(f"{path}: vertex positions with NaN or inf")
    return torch.from_numpy(xyz)


# --------------------------------------------------------------------------- COLMAP


def colmap_folder(folder: Path) -> Path | None:
    """The folder holding a COLMAP model (cameras + images, text or binary), or None."""
    for sub in COLMAP_FOLDERS:
        candidate = folder / sub
        if _colmap_kind(candidate) is not None:
            return candidate
    return None


def _colmap_kind(folder: Path) -> str | None:
    """ "text" (cameras.txt + images.txt, preferred), "binary" (.bin) or None."""
    for kind, ext in (("text", "txt"), ("binary", "bin")):
        if (folder / f"cameras.{ext}").is_file() and (folder / f"images.{ext}").is_file():
            return kind
    return None


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines that are not comments; blank lines kept."""
    return [
        (n, line.strip())
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if not line.startswith("#")
    ]


# fx fy cx cy from a COLMAP model's parameters
_PINHOLE = {
    "SIMPLE_PINHOLE": lambda p: (p[0], p[0], p[1], p[2]),
    "SIMPLE_RADIAL": lambda p: (p[0], p[0], p[1], p[2]),
    "RADIAL": lambda p: (p[0], p[0], p[1], p[2]),
    "SIMPLE_RADIAL_FISHEYE": lambda p: (p[0], p[0], p[1], p[2]),
    "RADIAL_FISHEYE": lambda p: (p[0], p[0], p[1], p[2]),
    "PINHOLE": lambda p: (p[0], p[1], p[2], p[3]),
    "OPENCV": lambda p: (p[0], p[1], p[2], p[3]),
    "FULL_OPENCV": lambda p: (p[0], p[1], p[2], p[3]),
    "OPENCV_FISHEYE": lambda p: (p[0], p[1], p[2], p[3]),
    "FOV": lambda p: (p[0], p[1], p[2], p[3]),
    "THIN_PRISM_FISHEYE": lambda p: (p[0], p[1], p[2], p[3]),
}
_PARAMS = {
    "SIMPLE_PINHOLE": 3,
    "PINHOLE": 4,
    "SIMPLE_RADIAL": 4,
    "RADIAL": 5,
    "OPENCV": 8,
    "OPENCV_FISHEYE": 8,
    "FULL_OPENCV": 12,
    "FOV": 5,
    "SIMPLE_RADIAL_FISHEYE": 4,
    "RADIAL_FISHEYE": 5,
    "THIN_PRISM_FISHEYE": 12,
}
COLMAP_MODEL_IDS = (
    "SIMPLE_PINHOLE",
    "PINHOLE",
    "SIMPLE_RADIAL",
    "RADIAL",
    "OPENCV",
    "OPENCV_FISHEYE",
    "FULL_OPENCV",
    "FOV",
    "SIMPLE_RADIAL_FISHEYE",
    "RADIAL_FISHEYE",
    "THIN_PRISM_FISHEYE",
)
"""COLMAP's camera model names by their id in cameras.bin (src/colmap/sensor/models.h)."""

_Intrinsics = tuple[float, float, float, float, int, int]  # fx fy cx cy w h


@dataclass
class _ColmapImage:
    where: str  # file:line (text) or file: image n (binary), for messages
    q: list[float]  # qw qx qy qz, world-to-camera
    t: list[float]  # tx ty tz, world-to-camera
    camera_id: int
    name: str


def _camera(
    model: str, w: int, h: int, params: list[float], where: str, notes: list[str]
) -> tuple[str, _Intrinsics]:
    if model not in _PINHOLE:
        raise ValueError(f"{where}: camera model {model} is not read (pinhole models only)")
    if len(params) < _PARAMS.get(model, 4):
        raise ValueError(f"{where}: {model} needs {_PARAMS.get(model, 4)} parameters")
    if model not in ("SIMPLE_PINHOLE", "PINHOLE"):
        notes.append(f"{where}: {model} distortion ignored (pinhole part used)")
    return model, (*_PINHOLE[model](params), w, h)


def _cameras_text(cam_file: Path, notes: list[str]) -> dict[int, tuple[str, _Intrinsics]]:
    cameras: dict[int, tuple[str, _Intrinsics]] = {}
    for n, line in _data_lines(cam_file):
        if not line:
            continue
        words = line.split()
        where = f"{cam_file}:{n}"
        try:
            cam_id, model, w, h = int(words[0]), words[1], int(words[2]), int(words[3])
            params = [float(v) for v in words[4:]]
        except (IndexError, ValueError):
            raise ValueError(f"{where}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...") from None
        cameras[cam_id] = _camera(model, w, h, params, where, notes)
    return cameras


def _numeric(words: list[str]) -> bool:
    try:
        [float(v) for v in words]
    except ValueError:
        return False
    return True


def _images_text(img_file: Path) -> list[_ColmapImage]:
    """images.txt: a line per image, each followed by its POINTS2D line (x y id triples,
    possibly empty); a file written without the POINTS2D lines is read too (the line after
    an image is skipped only when it is all numbers)."""
    lines = _data_lines(img_file)
    images = []
    i = 0
    while i < len(lines):
        n, line = lines[i]
        if not line:
            i += 1
            continue
        where = f"{img_file}:{n}"
        words = line.split()
        if len(words) < 10:
            raise ValueError(f"{where}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME")
        try:
            q = [float(v) for v in words[1:5]]
            t = [float(v) for v in words[5:8]]
            cam_id = int(words[8])
        except ValueError:
            raise ValueError(f"{where}: the pose is not numbers") from None
        images.append(_ColmapImage(where, q, t, cam_id, " ".join(words[9:])))
        following = lines[i + 1][1].split() if i + 1 < len(lines) else []
        i += 2 if _numeric(following) else 1  # the image's 2D points (possibly empty)
    return images


class _Reader:
    """Little-endian fields from a COLMAP .bin file; a clear error when it ends early."""

    def __init__(self, path: Path) -> None:
        self.path, self.data, self.at = path, path.read_bytes(), 0

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.at + size > len(self.data):
            raise ValueError(
                f"{self.path}: truncated ({len(self.data)} bytes; {size} more needed at "
                f"byte {self.at})"
            )
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += size
        return values

    def skip(self, count: int, size: int) -> None:
        if count < 0 or self.at + count * size > len(self.data):
            raise ValueError(f"{self.path}: truncated ({count} records of {size} bytes declared)")
        self.at += count * size

    def name(self) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise ValueError(f"{self.path}: truncated (an image name without its end)")
        text = self.data[self.at : end].decode("utf-8", errors="replace")
        self.at = end + 1
        return text

    def done(self) -> None:
        if self.at != len(self.data):
            raise ValueError(
                f"{self.path}: {len(self.data) - self.at} bytes left over after the last "
                "record (not a COLMAP binary model?)"
            )


def _cameras_binary(cam_file: Path, notes: list[str]) -> dict[int, tuple[str, _Intrinsics]]:
    """cameras.bin: uint64 count, then per camera int32 id, int32 model id, uint64 width,
    uint64 height, float64 params (as many as the model has)."""
    data = _Reader(cam_file)
    cameras: dict[int, tuple[str, _Intrinsics]] = {}
    (count,) = data.read("Q")
    for _ in range(count):
        cam_id, model_id, w, h = data.read("iiQQ")
        where = f"{cam_file}: camera {cam_id}"
        if not 0 <= model_id < len(COLMAP_MODEL_IDS):
            raise ValueError(f"{where}: unknown camera model id {model_id}")
        model = COLMAP_MODEL_IDS[model_id]
        params = list(data.read(f"{_PARAMS[model]}d"))
        cameras[cam_id] = _camera(model, int(w), int(h), params, where, notes)
    data.done()
    return cameras


def _images_binary(img_file: Path) -> list[_ColmapImage]:
    """images.bin: uint64 count, then per image int32 id, float64 qw qx qy qz tx ty tz,
    int32 camera id, the name ending in a NUL byte, uint64 point count and per point
    float64 x, y and int64 point3D id."""
    data = _Reader(img_file)
    images = []
    (count,) = data.read("Q")
    for _ in range(count):
        image_id, *pose, cam_id = data.read("i7di")
        name = data.name()
        (points,) = data.read("Q")
        data.skip(points, 24)
        where = f"{img_file}: image {image_id} ({name})"
        images.append(_ColmapImage(where, list(pose[:4]), list(pose[4:]), cam_id, name))
    data.done()
    return images


def _points_binary(points_file: Path) -> list[list[float]]:
    """points3D.bin: uint64 count, then per point uint64 id, float64 x y z, uint8 r g b,
    float64 error, uint64 track length and per track element int32 image id, point2D idx."""
    data = _Reader(points_file)
    rows = []
    (count,) = data.read("Q")
    for _ in range(count):
        _, x, y, z, _r, _g, _b, _error, track = data.read("Q3d3BdQ")
        data.skip(track, 8)
        rows.append([x, y, z])
    data.done()
    return rows


def _points_text(points_file: Path) -> list[list[float]]:
    rows = []
    for n, line in _data_lines(points_file):
        if line:
            try:
                rows.append([float(v) for v in line.split()[1:4]])
            except ValueError:
                raise ValueError(f"{points_file}:{n}: expected POINT3D_ID X Y Z ...") from None
    return rows


def read_colmap(folder: str | os.PathLike) -> Sequence:
    """A sequence from a COLMAP model, text or binary (see the module docstring)."""
    folder = Path(folder)
    model = colmap_folder(folder)
    if model is None:
        raise FileNotFoundError(f"{folder}: no cameras.txt + images.txt (or .bin)")
    kind = _colmap_kind(model)
    notes: list[str] = []
    if kind == "text":
        cam_file, img_file = model / "cameras.txt", model / "images.txt"
        cameras = _cameras_text(cam_file, notes)
        images = _images_text(img_file)
    else:
        cam_file, img_file = model / "cameras.bin", model / "images.bin"
        cameras = _cameras_binary(cam_file, notes)
        images = _images_binary(img_file)
    images_dir = next(
        (d for d in (folder / "images", model / "images", model.parent / "images") if d.is_dir()),
        folder / "images",
    )
    frames = []
    for image in images:
        where, q, t = image.where, image.q, image.t
        if image.camera_id not in cameras:
            raise ValueError(f"{where}: camera {image.camera_id} is not in {cam_file}")
        if not all(math.isfinite(v) for v in q + t) or math.hypot(*q) == 0:
            raise ValueError(f"{where}: the quaternion must be finite and non-zero")
        w2c = torch.eye(4, dtype=torch.float64)
        w2c[:3, :3] = quaternion_to_rotation(q)
        w2c[:3, 3] = torch.tensor(t, dtype=torch.float64)
        pose = checked_pose(torch.linalg.inv(w2c), where, notes)
        file = images_dir / image.name
        if not file.is_file():
            raise FileNotFoundError(f"{where}: image file {file} is missing")
        camera = Camera(*cameras[image.camera_id][1], pose)
        frames.append((image.name, Frame(Path(image.name).stem, camera, file)))
    if not frames:
        raise ValueError(f"{img_file}: no images")
    points = None
    points_file = model / ("points3D.txt" if kind == "text" else "points3D.bin")
    if points_file.is_file():
        rows = _points_text(points_file) if kind == "text" else _points_binary(points_file)
        points = torch.tensor(rows, dtype=torch.float64).reshape(-1, 3) if rows else None
    ordered = [f for _, f in sorted(frames, key=lambda item: item[0])]
    models = sorted({model for model, _ in cameras.values()})
    said = (
        f"{model}: read as a COLMAP {kind} model: {len(frames)} images, {len(cameras)} "
        f"camera{'s' if len(cameras) != 1 else ''} ({', '.join(models)}), "
        + (f"{len(points)} points" if points is not None else "no points")
    )
    return Sequence(folder.name, str(folder), "colmap", ordered, points, [said, *notes])


# --------------------------------------------------------------------------- stereo pair


def motorcycle_pair() -> Sequence:
    """scikit-image's Middlebury 2014 motorcycle pair as a two-frame sequence.

    Frame 0: the left image with its ground-truth depth Z = f B / (disp + doffs) (metres;
    unknown, 0, where the disparity is not finite). Frame 1: the right image, its camera one
    baseline B to the right (+x) of the left one. The right camera's principal point lies
    doffs = 31.086 px right of the left one's; the world renders every frame with the seed's
    intrinsics, so the pair is cropped to a common field of view: the left image loses its
    last 31 columns, the right one its first 31, which leaves the right camera's cx
    0.086 px off the left's (a note; the metrics are taken as if it were 0).
    """
    from skimage.data import stereo_motorcycle

    left, right, disp = stereo_motorcycle()
    shift = int(round(MOTORCYCLE_DOFFS))
    h, w = disp.shape
    disp = torch.from_numpy(np.ascontiguousarray(disp[:, : w - shift])).double()
    known = torch.isfinite(disp)
    # Z = f B / (d + doffs), with the disparity d in left-image pixels
    depth = torch.where(
        known,
        MOTORCYCLE_FOCAL * MOTORCYCLE_BASELINE / (disp.nan_to_num(0.0) + MOTORCYCLE_DOFFS),
        0.0,
    ).float()

    def as_rgb(a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0

    cw = w - shift
    left_cam = Camera(MOTORCYCLE_FOCAL, MOTORCYCLE_FOCAL, MOTORCYCLE_CX, MOTORCYCLE_CY, cw, h)
    right_pose = torch.eye(4, dtype=torch.float64)
    right_pose[0, 3] = MOTORCYCLE_BASELINE
    right_cx = MOTORCYCLE_CX + MOTORCYCLE_DOFFS - shift
    right_cam = Camera(
        MOTORCYCLE_FOCAL, MOTORCYCLE_FOCAL, right_cx, MOTORCYCLE_CY, cw, h, right_pose
    )
    frames = [
        Frame("left", left_cam, rgb=as_rgb(left[:, :cw]), depth=depth),
        Frame("right", right_cam, rgb=as_rgb(right[:, shift:])),
    ]
    notes = [
        f"motorcycle: cropped to {cw}x{h} (left loses its last {shift} columns, right its "
        f"first {shift}) so both cameras share one principal point, up to "
        f"{right_cx - MOTORCYCLE_CX:.3f} px",
        f"motorcycle: {int((~known).sum())} pixels of the left image have no ground-truth "
        "disparity (unknown depth)",
    ]
    return Sequence("motorcycle", "skimage.data.stereo_motorcycle", "stereo", frames, None, notes)
