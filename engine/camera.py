"""Camera model and fly-controller math.

Conventions (written down here once; everything in engine/ follows them):

- Camera axes are OpenCV's: +x right, +y down, +z forward (the viewing direction).
- ``pose`` is camera-to-world, a (4, 4) float64 matrix [[R, t], [0, 0, 0, 1]]: the columns of
  R are the camera's x, y, z axes in world coordinates and t is the camera position.
- World up is -y of the first camera: the default up vector is (0, -1, 0).
- Pixel coordinates are continuous: pixel (row i, col j) covers u in [j, j + 1) and
  v in [i, i + 1), and its centre is (j + 0.5, i + 0.5). A centred principal point is
  therefore cx = width / 2, cy = height / 2, and resizing the image to (w, h) scales fx, cx by
  w / width and fy, cy by h / height, with no half-pixel correction.
- Depth is the camera-frame z of a point, not the length of the ray to it.
- Fly-controller angles are radians: positive yaw turns right, positive pitch looks up.

Conversions to other conventions (OpenGL for nerfstudio / Blender, world-to-camera quaternions
for COLMAP) happen only at import / export, never here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

# OpenCV camera axes (x right, y down, z forward) -> OpenGL / nerfstudio (x right, y up,
# z backward): flip the y and z columns of the camera-to-world rotation.
OPENCV_TO_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))

POSE_TOL = 1e-4
"""Largest |R^T R - I| entry, |det R - 1| and bottom-row error of a pose taken as it is."""

REPAIR_TOL = 1e-2
"""Largest |R^T R - I| entry of a pose that is re-orthonormalised instead of refused: capture
pipelines (RGB-D trackers, SfM text output) write rotations orthonormal to only ~1e-4..1e-3;
a scaled or sheared matrix (a non-rigid pose) is far beyond this."""

PARALLEL_TOL = 1e-6
"""Two unit vectors whose cross product is shorter than this count as parallel."""

DEFAULT_UP = (0.0, -1.0, 0.0)
"""World up: -y of the first camera."""

WHEEL_FACTOR = 1.25
"""One mouse-wheel step multiplies the fly speed by this."""

MIN_SPEED, MAX_SPEED = 1e-3, 1e3
"""Range the fly speed is kept in (world units per second)."""

_MAX_WHEEL_STEPS = 100  # 1.25 ** 100 ~ 5e9 already spans [MIN_SPEED, MAX_SPEED]; avoids overflow

_DICT_KEYS = ("fx", "fy", "cx", "cy", "width", "height", "pose")

ArrayLike = Any  # torch.Tensor, numpy array or nested sequences of numbers


# --------------------------------------------------------------------------------------------
# Input checks


def _as_finite_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}")
    return number


def _as_positive_float(name: str, value: Any) -> float:
    number = _as_finite_float(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {number}")
    return number


def _as_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {number}")
    return number


def _as_vector3(name: str, value: ArrayLike) -> torch.Tensor:
    """Return ``value`` as a finite (3,) float64 CPU tensor."""
    vector = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if vector.shape != (3,):
        raise ValueError(f"{name} must have shape (3,), got {tuple(vector.shape)}")
    if not torch.isfinite(vector).all():
        raise ValueError(f"{name} must contain only finite values, got {vector.tolist()}")
    return vector


def _as_unit_vector(name: str, value: ArrayLike) -> torch.Tensor:
    vector = _as_vector3(name, value)
    length = vector.norm()
    if length == 0:
        raise ValueError(f"{name} must be a non-zero vector, got {vector.tolist()}")
    return vector / length


def _as_float_tensor(name: str, value: ArrayLike, last_dim: int) -> torch.Tensor:
    """Return ``value`` as a floating tensor of shape (..., last_dim), keeping its dtype."""
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {tensor.dtype}")
    if tensor.ndim == 0 or tensor.shape[-1] != last_dim:
        raise ValueError(f"{name} must have shape (..., {last_dim}), got {tuple(tensor.shape)}")
    return tensor


def nearest_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """The rotation nearest to a (3, 3) matrix in the Frobenius norm: U V^T of its SVD
    (the orthogonal polar factor), with the sign fixed so that det = +1."""
    u, _, vh = torch.linalg.svd(rotation)
    d = torch.sign(torch.linalg.det(u @ vh))
    return u @ torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=rotation.dtype)) @ vh


def as_pose(pose: ArrayLike, notes: list[str] | None = None) -> torch.Tensor:
    """Return ``pose`` as a validated copy: a (4, 4) float64 CPU camera-to-world matrix.

    A rotation orthonormal within POSE_TOL is taken as it is; one orthonormal only within
    REPAIR_TOL (what capture pipelines write as text) is replaced by the nearest rotation and
    a note saying so is appended to ``notes`` when given. Raises ValueError when the shape is
    not (4, 4), a value is NaN or inf, the bottom row is not [0, 0, 0, 1], or the rotation part
    is not orthonormal within REPAIR_TOL (a scaled or sheared matrix) or has det -1.
    """
    try:
        pose = torch.as_tensor(pose, dtype=torch.float64).detach().cpu().clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"pose must be a (4, 4) array of numbers, got {pose!r}") from error
    if pose.shape != (4, 4):
        raise ValueError(f"pose must have shape (4, 4), got {tuple(pose.shape)}")
    if not torch.isfinite(pose).all():
        raise ValueError("pose must contain only finite values, got NaN or inf")
    bottom_error = (pose[3] - torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)).abs()
    if bottom_error.max() > POSE_TOL:
        raise ValueError(f"pose bottom row must be [0, 0, 0, 1], got {pose[3].tolist()}")
    rotation = pose[:3, :3]
    # det R = x . (y × z) for the columns x, y, z
    determinant = rotation[:, 0].dot(torch.linalg.cross(rotation[:, 1], rotation[:, 2])).item()
    if determinant < 0:
        raise ValueError(
            f"pose rotation must have det +1 (a rotation, not a reflection), "
            f"got det {determinant:.6g}"
        )
    # orthonormal: R^T R = I
    deviation = (rotation.T @ rotation - torch.eye(3, dtype=torch.float64)).abs().max().item()
    if deviation > REPAIR_TOL:
        raise ValueError(
            f"pose rotation must be orthonormal (R^T R = I within {REPAIR_TOL:g}), "
            f"got max |R^T R - I| = {deviation:.3g}: a scaled or sheared matrix is no camera pose"
        )
    if deviation > POSE_TOL or abs(determinant - 1.0) > POSE_TOL:
        pose[:3, :3] = nearest_rotation(rotation)
        pose[3] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
        if notes is not None:
            notes.append(
                f"a pose rotation orthonormal only to {deviation:.2g} (max |R^T R - I|) was "
                "replaced by the nearest rotation"
            )
    return pose


# --------------------------------------------------------------------------------------------
# Camera


def _identity_pose() -> torch.Tensor:
    return torch.eye(4, dtype=torch.float64)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: intrinsics in pixels and a camera-to-world pose (see module docstring).

    The pose always lives on the CPU as float64; ``project`` / ``unproject`` move R and t to
    the device and dtype of their input.
    """

    fx: float  # focal length along u, pixels
    fy: float  # focal length along v, pixels
    cx: float  # principal point u, pixels (width / 2 when centred)
    cy: float  # principal point v, pixels (height / 2 when centred)
    width: int  # image width, pixels
    height: int  # image height, pixels
    pose: torch.Tensor = field(default_factory=_identity_pose)  # (4, 4) float64 camera-to-world

    def __post_init__(self) -> None:
        object.__setattr__(self, "fx", _as_positive_float("fx", self.fx))
        object.__setattr__(self, "fy", _as_positive_float("fy", self.fy))
        object.__setattr__(self, "cx", _as_finite_float("cx", self.cx))
        object.__setattr__(self, "cy", _as_finite_float("cy", self.cy))
        object.__setattr__(self, "width", _as_positive_int("width", self.width))
        object.__setattr__(self, "height", _as_positive_int("height", self.height))
        object.__setattr__(self, "pose", as_pose(self.pose))

    # A tensor field has no plain ==, so equality and hashing go through the exact values.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        intrinsics = (self.fx, self.fy, self.cx, self.cy, self.width, self.height)
        return hash((intrinsics, tuple(self.pose.flatten().tolist())))

    @classmethod
    def from_fov(
        cls, fov_y_deg: float, width: int, height: int, pose: ArrayLike | None = None
    ) -> Camera:
        """Camera with square pixels, a centred principal point and vertical field of view."""
        if not 0 < fov_y_deg < 180:
            raise ValueError(f"fov_y_deg must be in (0, 180), got {fov_y_deg}")
        width = _as_positive_int("width", width)
        height = _as_positive_int("height", height)
        # fy = (height / 2) / tan(fov_y / 2)
        focal = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        pose = _identity_pose() if pose is None else pose
        return cls(focal, focal, width / 2, height / 2, width, height, pose)

    # ---- derived quantities

    @property
    def R(self) -> torch.Tensor:
        """(3, 3) float64 camera-to-world rotation; its columns are the camera axes."""
        return self.pose[:3, :3].clone()

    @property
    def position(self) -> torch.Tensor:
        """(3,) float64 camera centre in world coordinates."""
        return self.pose[:3, 3].clone()

    @property
    def K(self) -> torch.Tensor:
        """(3, 3) float64 intrinsics [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]."""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
            dtype=torch.float64,
        )

    @property
    def world_to_camera(self) -> torch.Tensor:
        """(4, 4) float64 world-to-camera matrix [[R^T, -R^T t], [0, 0, 0, 1]]."""
        rotation_t = self.pose[:3, :3].T
        matrix = torch.eye(4, dtype=torch.float64)
        matrix[:3, :3] = rotation_t
        matrix[:3, 3] = -rotation_t @ self.pose[:3, 3]
        return matrix

    @property
    def fov_y_deg(self) -> float:
        """Vertical field of view: 2 atan(height / (2 fy)), degrees."""
        return math.degrees(2 * math.atan(self.height / (2 * self.fy)))

    @property
    def fov_x_deg(self) -> float:
        """Horizontal field of view: 2 atan(width / (2 fx)), degrees."""
        return math.degrees(2 * math.atan(self.width / (2 * self.fx)))

    # ---- new cameras

    def scaled(self, w: int, h: int) -> Camera:
        """The same camera for the image resized to (w, h), e.g. the latent grid."""
        w = _as_positive_int("w", w)
        h = _as_positive_int("h", h)
        sx, sy = w / self.width, h / self.height
        # fx' = fx w / width, cx' = cx w / width (continuous pixels: no half-pixel shift)
        return Camera(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, w, h, self.pose)

    def with_pose(self, pose: ArrayLike) -> Camera:
        """The same intrinsics at another (4, 4) camera-to-world pose."""
        return replace(self, pose=pose)

    # ---- projection

    def _extrinsics_like(self, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """R (3, 3) and t (3,) in the dtype and on the device of ``tensor``."""
        pose = self.pose.to(device=tensor.device, dtype=tensor.dtype)
        return pose[:3, :3], pose[:3, 3]

    def project(self, points: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (..., 3) -> pixel coordinates uv (..., 2) and depth (...,).

        Computed in the points' dtype. Nothing is masked: points behind the camera get a
        negative depth and points on the camera plane an infinite uv; the caller decides.
        """
        points = _as_float_tensor("points", points, last_dim=3)
        rotation, position = self._extrinsics_like(points)
        # p_cam = R^T (p - t), written for row vectors as (p - t) R
        x, y, z = ((points - position) @ rotation).unbind(-1)
        # u = fx x / z + cx,  v = fy y / z + cy
        uv = torch.stack((self.fx * x / z + self.cx, self.fy * y / z + self.cy), dim=-1)
        return uv, z

    def unproject(self, uv: ArrayLike, depth: ArrayLike) -> torch.Tensor:
        """Pixel coordinates uv (..., 2) and depth (...,) -> world points (..., 3)."""
        uv = _as_float_tensor("uv", uv, last_dim=2)
        depth = torch.as_tensor(depth)
        if depth.shape != uv.shape[:-1]:
            raise ValueError(
                f"depth must have shape uv.shape[:-1] = {tuple(uv.shape[:-1])}, "
                f"got {tuple(depth.shape)}"
            )
        if not depth.is_floating_point():
            raise ValueError(f"depth must have a floating dtype, got {depth.dtype}")
        dtype = torch.promote_types(uv.dtype, depth.dtype)
        u, v = uv.to(dtype).unbind(-1)
        z = depth.to(dtype)
        # x = (u - cx) z / fx,  y = (v - cy) z / fy
        p_cam = torch.stack(((u - self.cx) / self.fx * z, (v - self.cy) / self.fy * z, z), -1)
        rotation, position = self._extrinsics_like(p_cam)
        # p = R p_cam + t, written for row vectors as p_cam R^T + t
        return p_cam @ rotation.T + position

    def pixel_grid(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(height, width, 2) pixel centres (u, v): entry [i, j] is (j + 0.5, i + 0.5)."""
        u = torch.arange(self.width, dtype=dtype) + 0.5
        v = torch.arange(self.height, dtype=dtype) + 0.5
        v_grid, u_grid = torch.meshgrid(v, u, indexing="ij")
        return torch.stack((u_grid, v_grid), dim=-1)

    def ray_directions(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(height, width, 3) world directions of the pixel centres, scaled to camera z = 1.

        So the point seen at pixel [i, j] with depth d is ``position + d * dirs[i, j]``.
        """
        u, v = self.pixel_grid(torch.float64).unbind(-1)
        # d_cam = ((u - cx) / fx, (v - cy) / fy, 1)
        d_cam = torch.stack(
            ((u - self.cx) / self.fx, (v - self.cy) / self.fy, torch.ones_like(u)), -1
        )
        # d = R d_cam, written for row vectors as d_cam R^T
        return (d_cam @ self.pose[:3, :3].T).to(dtype)

    # ---- serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: the six intrinsics and the pose as nested lists (4 x 4)."""
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
            "pose": self.pose.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Camera:
        """Inverse of ``to_dict`` (exact round trip, also through JSON)."""
        missing = [key for key in _DICT_KEYS if key not in d]
        unknown = [key for key in d if key not in _DICT_KEYS]
        if missing or unknown:
            raise ValueError(
                f"camera dict must have exactly the keys {list(_DICT_KEYS)}; "
                f"missing {missing}, unknown {unknown}"
            )
        return cls(**{key: d[key] for key in _DICT_KEYS})


# --------------------------------------------------------------------------------------------
# Rotations and poses


def _pose_from_axes(
    right: torch.Tensor, down: torch.Tensor, forward: torch.Tensor, position: torch.Tensor
) -> torch.Tensor:
    """(4, 4) camera-to-world pose with columns x = right, y = down, z = forward, t."""
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = torch.stack((right, down, forward), dim=1)
    pose[:3, 3] = position
    return pose


def look_at(eye: ArrayLike, target: ArrayLike, up: ArrayLike = DEFAULT_UP) -> torch.Tensor:
    """(4, 4) float64 camera-to-world pose at ``eye`` looking at ``target``, no roll.

    OpenCV axes: z points to the target, x to the right (perpendicular to up), y down.
    """
    eye = _as_vector3("eye", eye)
    target = _as_vector3("target", target)
    up = _as_unit_vector("up", up)
    offset = target - eye
    if offset.norm() == 0:
        raise ValueError(f"look_at needs eye != target, got both {eye.tolist()}")
    forward = offset / offset.norm()
    # x = z × up: right of the view, level with the ground
    right = torch.linalg.cross(forward, up)
    if right.norm() < PARALLEL_TOL:
        raise ValueError(
            f"look_at: the direction to the target {forward.tolist()} is parallel to "
            f"up {up.tolist()}; pass an up vector that is not along the view"
        )
    right = right / right.norm()
    # y = z × x: down, so that x × y = z (right-handed)
    down = torch.linalg.cross(forward, right)
    return _pose_from_axes(right, down, forward, eye)


def _skew(vector: torch.Tensor) -> torch.Tensor:
    """(3, 3) matrix [v]_x with [v]_x w = v × w."""
    x, y, z = vector.tolist()
    return torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], dtype=torch.float64)


def rotation_about(axis: ArrayLike, angle: float) -> torch.Tensor:
    """(3, 3) float64 rotation by ``angle`` radians about ``axis`` (right-hand rule)."""
    k = _skew(_as_unit_vector("axis", axis))
    angle = _as_finite_float("angle", angle)
    # Rodrigues: R = I + sin(a) K + (1 - cos(a)) K^2
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def rotation_log(r: torch.Tensor) -> torch.Tensor:
    """(3,) axis-angle vector w of a rotation (3, 3): r = rotation_about(w / |w|, |w|), with
    |w| in [0, pi]."""
    r = torch.as_tensor(r, dtype=torch.float64)
    cos = max(-1.0, min(1.0, (float(torch.trace(r)) - 1.0) / 2.0))
    angle = math.acos(cos)
    if angle < 1e-9:
        return torch.zeros(3, dtype=torch.float64)
    if math.pi - angle < 1e-6:
        # near a half turn: the axis is the column of r + I with the largest norm
        m = r + torch.eye(3, dtype=torch.float64)
        col = m[:, int(m.norm(dim=0).argmax())]
        return col / col.norm() * angle
    # w = angle / (2 sin(angle)) (r - r^T)^vee
    v = torch.stack([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return v * (angle / (2.0 * math.sin(angle)))


def interpolate_pose(a: ArrayLike, b: ArrayLike, t: float) -> torch.Tensor:
    """Camera-to-world pose a fraction t of the way from pose a to pose b (t may lie outside
    [0, 1] to extrapolate): position linear, rotation along the shortest arc
    (R_a exp(t log(R_a^T R_b))). t = 0 gives a, t = 1 gives b."""
    a, b = as_pose(a), as_pose(b)
    t = _as_finite_float("t", t)
    w = rotation_log(a[:3, :3].T @ b[:3, :3])
    angle = float(w.norm())
    step = rotation_about(w / angle, t * angle) if angle > 0 else torch.eye(3, dtype=torch.float64)
    out = a.clone()
    out[:3, :3] = a[:3, :3] @ step
    out[:3, 3] = a[:3, 3] + t * (b[:3, 3] - a[:3, 3])
    return out


# --------------------------------------------------------------------------------------------
# Fly controller


@dataclass
class FlyInput:
    """Movement keys held during one frame; each axis in [-1, 1] (clamped by the controller)."""

    forward: float = 0.0  # W = +1, S = -1
    right: float = 0.0  # D = +1, A = -1
    up: float = 0.0  # E = +1, Q = -1
    sprint: bool = False  # Shift: speed times sprint_factor


def _project_to_plane(vector: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    # v - (v . n) n, for a unit normal n
    return vector - vector.dot(normal) * normal


def _heading(rotation: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """(3,) unit direction in the ground plane (perpendicular to up) that a camera faces."""
    forward, down = rotation[:, 2], rotation[:, 1]
    heading = _project_to_plane(forward, up)
    if heading.norm() < PARALLEL_TOL:
        # Looking straight up (down), the image's bottom (top) edge points to where the view
        # levels out when pitched back to the horizon.
        heading = _project_to_plane(down, up) * (1.0 if forward.dot(up) > 0 else -1.0)
    return heading / heading.norm()


def _elevation(direction: torch.Tensor, up: torch.Tensor) -> float:
    """Angle of a unit direction above the ground plane: asin(d . up), radians."""
    return math.asin(max(-1.0, min(1.0, direction.dot(up).item())))


def _clamp_axis(name: str, value: float) -> float:
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"FlyInput.{name} must be a number in [-1, 1], got NaN")
    return max(-1.0, min(1.0, value))


class FlyController:
    """First-person fly camera: position, yaw and pitch in a fixed ground frame; no roll.

    The reference frame is built once from the initial pose: ``up`` (unit), ``f0`` (the
    initial view direction projected onto the ground plane, normalised) and ``r0 = f0 × up``.
    Yaw turns about ``up`` starting from f0 (positive turns right); pitch is the elevation of
    the view above the ground plane (positive looks up), kept within ±pitch_limit. The initial
    yaw is 0 and the initial pitch is the initial view's elevation; its roll is dropped.

    Movement is velocity times frame time, so n steps of dt / n equal one step of dt: the
    path does not depend on the frame rate.
    """

    def __init__(
        self,
        pose: ArrayLike,
        up: ArrayLike = DEFAULT_UP,
        speed: float = 1.0,
        sprint_factor: float = 3.0,
        sensitivity: float = 0.0025,
        pitch_limit_deg: float = 89.0,
    ) -> None:
        pose = as_pose(pose)
        if not 0 < pitch_limit_deg <= 90:
            raise ValueError(f"pitch_limit_deg must be in (0, 90], got {pitch_limit_deg}")
        self.up = _as_unit_vector("up", up)  # (3,) float64
        self.speed = _as_positive_float("speed", speed)  # world units per second
        self.sprint_factor = _as_positive_float("sprint_factor", sprint_factor)
        self.sensitivity = _as_positive_float("sensitivity", sensitivity)  # rad per pixel
        self.pitch_limit = math.radians(pitch_limit_deg)  # radians
        self.f0 = _heading(pose[:3, :3], self.up)  # (3,) ground forward at yaw 0
        self.r0 = torch.linalg.cross(self.f0, self.up)  # (3,) ground right at yaw 0
        self.position = pose[:3, 3].clone()  # (3,) float64
        self.yaw = 0.0
        self.pitch = self._clamp_pitch(_elevation(pose[:3, 2], self.up))

    def _clamp_pitch(self, pitch: float) -> float:
        return max(-self.pitch_limit, min(self.pitch_limit, pitch))

    # ---- directions

    @property
    def ground_forward(self) -> torch.Tensor:
        """(3,) unit heading in the ground plane: cos(yaw) f0 + sin(yaw) r0."""
        return math.cos(self.yaw) * self.f0 + math.sin(self.yaw) * self.r0

    @property
    def forward(self) -> torch.Tensor:
        """(3,) unit view direction: cos(pitch) ground_forward + sin(pitch) up."""
        return math.cos(self.pitch) * self.ground_forward + math.sin(self.pitch) * self.up

    @property
    def right(self) -> torch.Tensor:
        """(3,) unit right direction, level with the ground: cos(yaw) r0 - sin(yaw) f0."""
        return math.cos(self.yaw) * self.r0 - math.sin(self.yaw) * self.f0

    @property
    def pose(self) -> torch.Tensor:
        """(4, 4) float64 camera-to-world pose with columns right, down, forward, position."""
        forward, right = self.forward, self.right
        # down = forward × right, so that right × down = forward (OpenCV, right-handed)
        down = torch.linalg.cross(forward, right)
        return _pose_from_axes(right, down, forward, self.position)

    # ---- input

    def look(self, dx: float, dy: float) -> None:
        """Turn by mouse deltas in pixels: right / down on screen turns right / looks down."""
        dx = _as_finite_float("dx", dx)
        dy = _as_finite_float("dy", dy)
        # yaw += dx * sensitivity, wrapped to [-pi, pi] so it never loses precision
        self.yaw = math.remainder(self.yaw + dx * self.sensitivity, math.tau)
        # pitch -= dy * sensitivity, kept within ±pitch_limit
        self.pitch = self._clamp_pitch(self.pitch - dy * self.sensitivity)

    def step(self, inp: FlyInput, dt: float) -> None:
        """Move for ``dt`` seconds with the keys in ``inp``; WASD stays in the ground plane."""
        dt = float(dt)
        if not (math.isfinite(dt) and dt >= 0):
            raise ValueError(f"dt must be finite and >= 0 seconds, got {dt}")
        forward = _clamp_axis("forward", inp.forward)
        right = _clamp_axis("right", inp.right)
        up = _clamp_axis("up", inp.up)
        speed = self.speed * (self.sprint_factor if inp.sprint else 1.0)
        # displacement = speed dt (forward ground_forward + right right + up up)
        direction = forward * self.ground_forward + right * self.right + up * self.up
        self.position = self.position + (speed * dt) * direction

    def wheel(self, steps: float) -> None:
        """Change speed by mouse-wheel steps: speed *= 1.25 ** steps, within [1e-3, 1e3]."""
        steps = _as_finite_float("steps", steps)
        steps = max(-_MAX_WHEEL_STEPS, min(_MAX_WHEEL_STEPS, steps))
        self.speed = max(MIN_SPEED, min(MAX_SPEED, self.speed * WHEEL_FACTOR**steps))

    def set_pose(self, pose: ArrayLike) -> None:
        """Jump to ``pose``: re-derive position, yaw and pitch in the existing frame."""
        pose = as_pose(pose)
        heading = _heading(pose[:3, :3], self.up)
        # yaw = atan2(heading . r0, heading . f0)
        self.yaw = math.atan2(heading.dot(self.r0).item(), heading.dot(self.f0).item())
        self.pitch = self._clamp_pitch(_elevation(pose[:3, 2], self.up))
        self.position = pose[:3, 3].clone()

    def face(self, point: ArrayLike) -> None:
        """Turn about up (pitch kept) to head toward a world point (3,); no change when the
        point lies straight above or below the camera."""
        d = torch.as_tensor(point, dtype=torch.float64).reshape(3) - self.position
        heading = d - d.dot(self.up) * self.up
        if float(heading.norm()) < 1e-9:
            return
        self.yaw = math.atan2(heading.dot(self.r0).item(), heading.dot(self.f0).item())

    def camera(self, template: Camera) -> Camera:
        """``template``'s intrinsics at the controller's pose."""
        return template.with_pose(self.pose)
