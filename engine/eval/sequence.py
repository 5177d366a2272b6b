"""Reading real captures for the evaluation: nerfstudio folders, COLMAP text, a stereo pair.

Every reader returns a `Sequence`: frames in order, each with its image (a file or a tensor),
a `Camera` (OpenCV axes, camera-to-world, engine.camera's conventions) and optional depth,
plus the sparse points that put a depth estimate into the poses' scale.

- nerfstudio (`transforms.json`): `fl_x fl_y cx cy w h` in pixels (continuous pixel
  coordinates, like ours), per frame overrides of any of them, or `camera_angle_x` /
  `camera_angle_y` (radians, Blender style) when there is no focal length; `w h` default to
  the first image's size. `frames[].transform_matrix` is camera-to-world in OpenGL axes
  (+x right, +y up, +z back): c2w_cv = c2w_gl @ diag(1, -1, -1, 1). Frames are taken in the
  order of their `file_path` (nerfstudio sorts them too). `frames[].depth_file_path`: a depth
  map (16-bit PNG or .npy) multiplied by `depth_unit_scale_factor` (default 1e-3, nerfstudio's:
  millimetres to metres; it applies the factor to .npy files as well). `ply_file_path`: an
  ASCII PLY whose vertices start with x y z (colours ignored). Lens distortion (k1 k2 p1 p2)
  is ignored, with a note when it is not zero.
- COLMAP text (`cameras.txt` + `images.txt`, in the folder or in sparse/0, sparse or
  colmap/sparse/0): world-to-camera qw qx qy qz tx ty tz (OpenCV axes), images looked up
  under images/ beside the text files' folder; `points3D.txt` gives the sparse points.
  Only the pinhole part of the camera model is used.
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
"""Where a sequence folder's COLMAP text files are looked for, in this order."""

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
    if (path / "transforms.json").is_file():
        return read_nerfstudio(path)
    if colmap_folder(path) is not None:
        return read_colmap(path)
    raise FileNotFoundError(
        f"{path}: no transforms.json (nerfstudio) and no cameras.txt + images.txt (COLMAP "
        f"text, looked for in {', '.join(COLMAP_FOLDERS)})"
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


def read_nerfstudio(folder: str | os.PathLike) -> Sequence:
    """A sequence from folder/transforms.json (see the module docstring)."""
    from engine.io import read_json

    folder = Path(folder)
    path = folder / "transforms.json"
    data = read_json(path, "transforms.json")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'frames'")
    frames_data = data.get("frames")
    if not isinstance(frames_data, list) or not frames_data:
        raise ValueError(f"{path}: no frames (expected a non-empty 'frames' list)")
    notes: list[str] = []
    distortion = [k for k in ("k1", "k2", "k3", "k4", "p1", "p2") if data.get(k, 0) not in (0, 0.0)]
    if distortion:
        notes.append(f"{path}: lens distortion ({', '.join(distortion)}) ignored")
    unit = data.get("depth_unit_scale_factor", DEFAULT_DEPTH_UNIT)
    if isinstance(unit, bool) or not isinstance(unit, (int, float)) or not unit > 0:
        raise ValueError(f"{path}: depth_unit_scale_factor must be a number > 0, got {unit!r}")
    for i, item in enumerate(frames_data):
        if not isinstance(item, dict) or not isinstance(item.get("file_path"), str):
            raise ValueError(f"{path}: frame {i}: no file_path")
    frames = []
    for item in sorted(frames_data, key=lambda f: f["file_path"]):
        where = f"{path}: frame {item['file_path']!r}"
        image = folder / item["file_path"]
        if not image.is_file():
            raise FileNotFoundError(f"{where}: image file {image} is missing")
        if "transform_matrix" not in item:
            raise ValueError(f"{where}: no transform_matrix")
        pose = checked_pose(_matrix(item["transform_matrix"], where), where, notes)
        size = None
        if not all(k in item or k in data for k in ("w", "h")):
            from PIL import Image

            with Image.open(image) as im:
                size = im.size
        camera = Camera(*_intrinsics(item, data, size, where), opengl_to_opencv(pose))
        depth_path = None
        if "depth_file_path" in item:
            depth_path = folder / item["depth_file_path"]
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
    points = None
    if "ply_file_path" in data:
        ply = folder / str(data["ply_file_path"])
        if not ply.is_file():
            raise FileNotFoundError(f"{path}: ply_file_path {ply} is missing")
        points = read_ascii_ply(ply)
    return Sequence(folder.name, str(folder), "nerfstudio", frames, points, notes)


def _matrix(value, where: str) -> Tensor:
    """A transform_matrix as (4, 4) float64; 3x4 gets the row [0, 0, 0, 1]."""
    try:
        matrix = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{where}: transform_matrix is not a 4x4 list of numbers") from None
    if matrix.shape == (3, 4):
        matrix = torch.cat([matrix, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)])
    if matrix.shape != (4, 4):
        raise ValueError(
            f"{where}: transform_matrix must be 4x4 (or 3x4), got shape {tuple(matrix.shape)}"
        )
    return matrix


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


# --------------------------------------------------------------------------- COLMAP text


def colmap_folder(folder: Path) -> Path | None:
    """The folder holding cameras.txt and images.txt, or None."""
    for sub in COLMAP_FOLDERS:
        candidate = folder / sub
        if (candidate / "cameras.txt").is_file() and (candidate / "images.txt").is_file():
            return candidate
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
}
_PARAMS = {"SIMPLE_PINHOLE": 3, "PINHOLE": 4, "SIMPLE_RADIAL": 4, "RADIAL": 5, "OPENCV": 8}


def read_colmap(folder: str | os.PathLike) -> Sequence:
    """A sequence from COLMAP text files (see the module docstring)."""
    folder = Path(folder)
    text = colmap_folder(folder)
    if text is None:
        raise FileNotFoundError(f"{folder}: no cameras.txt + images.txt")
    notes: list[str] = []
    cameras: dict[int, tuple[float, float, float, float, int, int]] = {}
    cam_file = text / "cameras.txt"
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
        if model not in _PINHOLE:
            raise ValueError(f"{where}: camera model {model} is not read (pinhole models only)")
        if len(params) < _PARAMS.get(model, 4):
            raise ValueError(f"{where}: {model} needs {_PARAMS.get(model, 4)} parameters")
        if model not in ("SIMPLE_PINHOLE", "PINHOLE"):
            notes.append(f"{where}: {model} distortion ignored (pinhole part used)")
        cameras[cam_id] = (*_PINHOLE[model](params), w, h)
    img_file = text / "images.txt"
    images_dir = next(
        (d for d in (folder / "images", text / "images", text.parent / "images") if d.is_dir()),
        folder / "images",
    )
    lines = _data_lines(img_file)
    frames = []
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
        name = " ".join(words[9:])
        if cam_id not in cameras:
            raise ValueError(f"{where}: camera {cam_id} is not in {cam_file}")
        if not all(math.isfinite(v) for v in q + t) or math.hypot(*q) == 0:
            raise ValueError(f"{where}: the quaternion must be finite and non-zero")
        w2c = torch.eye(4, dtype=torch.float64)
        w2c[:3, :3] = quaternion_to_rotation(q)
        w2c[:3, 3] = torch.tensor(t, dtype=torch.float64)
        pose = checked_pose(torch.linalg.inv(w2c), where, notes)
        image = images_dir / name
        if not image.is_file():
            raise FileNotFoundError(f"{where}: image file {image} is missing")
        frames.append((name, Frame(Path(name).stem, Camera(*cameras[cam_id], pose), image)))
        i += 2  # the next line holds the image's 2D points (possibly empty)
    if not frames:
        raise ValueError(f"{img_file}: no images")
    points = None
    points_file = text / "points3D.txt"
    if points_file.is_file():
        rows = []
        for n, line in _data_lines(points_file):
            if line:
                try:
                    rows.append([float(v) for v in line.split()[1:4]])
                except ValueError:
                    raise ValueError(f"{points_file}:{n}: expected POINT3D_ID X Y Z ...") from None
        points = torch.tensor(rows, dtype=torch.float64).reshape(-1, 3) if rows else None
    ordered = [f for _, f in sorted(frames, key=lambda item: item[0])]
    return Sequence(folder.name, str(folder), "colmap", ordered, points, notes)


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
