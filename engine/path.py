"""Camera paths for virtual cinematographers: keyframes in, a camera per frame out.

A `CameraPath` holds keyframes (camera-to-world pose, vertical field of view, time in
seconds) and how to pass between them:

- position and fov: a Kochanek-Bartels spline in time (continuity and bias 0; `tension` 0
  is Catmull-Rom, 1 stops at every keyframe). On a span from key i to key i + 1 of length
  dt, the cubic Hermite p(s) = h00 p_i + h10 dt m_i + h01 p_i+1 + h11 dt m_i+1, s in [0, 1],
  with the velocity m_i = (1 - tension) * the time-weighted mean of the velocities of the
  spans on both sides (non-uniform Catmull-Rom), so the path passes through every keyframe
  and its velocity is continuous (C1) there.
- orientation: scipy's RotationSpline (cubic in rotation vectors, continuous angular rate)
  through the keyframes' rotations; each span turns the short way (relative rotations
  below 180 degrees), never the long way round.
- `loop`: the last key runs on to the first, `period` seconds after key 0; neighbours wrap
  around (position and fov exactly; the rotation spline is solved over LOOP_LAPS laps and
  the middle one used, so the free ends' pull on the angular rate at the wrap has died out:
  it shrinks about fourfold per keyframe).
- `easing` "ease-in-out" slows the start and the end (a smoothstep of time; open paths only);
  `constant_speed` travels the path at constant speed instead of by keyframe times (the
  keyframes are still passed through, at other times).

Poses are OpenCV camera-to-world (x right, y down, z forward), as everywhere in the engine.
`sample(fps)` gives Cameras. Formats: the project's own JSON (`save_path` / `load_path`:
keyframes, interpolation and render settings) and nerfstudio's camera_path.json (export:
OpenGL camera axes, row-major 4x4; import: every variant its viewers have written, each
matrix's layout found from where its `0 0 0 1` is, see from_nerfstudio); `load_path` tells
them apart. `CameraPath.from_recording` makes keyframes from a live flight, as few as keep
the path within a tolerance of every recorded pose.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation, RotationSpline
from torch import Tensor

from engine.camera import OPENCV_TO_OPENGL, POSE_TOL, rotation_about
from engine.files import atomic_write
from engine.io import read_json

FORMAT = "latentscape.camera_path"
VERSION = 1
EASINGS = ("linear", "ease-in-out")
LOOP_LAPS = 7  # laps of a looped rotation spline (odd: the middle one is the path)
# OpenCV camera axes -> OpenGL camera axes (y up, z back): c2w_gl = c2w_cv @ FLIP_YZ
FLIP_YZ = OPENCV_TO_OPENGL.numpy()


@dataclass
class Keyframe:
    pose: np.ndarray  # (4, 4) float64 camera-to-world, OpenCV axes
    fov: float = 60.0  # vertical field of view, degrees
    time: float = 0.0  # seconds from the start of the path

    def __post_init__(self) -> None:
        from engine.camera import as_pose

        self.pose = as_pose(self.pose).numpy()
        self.fov, self.time = float(self.fov), float(self.time)
        if not 1.0 <= self.fov <= 170.0:
            raise ValueError(f"keyframe fov must be in [1, 170] degrees, got {self.fov}")
        if not math.isfinite(self.time):
            raise ValueError(f"keyframe time must be finite, got {self.time}")


@dataclass
class RenderSettings:
    """What a render of the path makes: frame size and rate (seconds: the path's)."""

    width: int = 512
    height: int = 384
    fps: float = 24.0

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8 or not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(
                f"render settings need width, height >= 8 and fps > 0, got "
                f"{self.width}x{self.height} at {self.fps}"
            )


@dataclass
class CameraPath:
    """See the module docstring. Keyframes are kept sorted by time."""

    keyframes: list[Keyframe]
    tension: float = 0.0
    loop: bool = False
    period: float | None = None  # loop: seconds from key 0 round to key 0 (default below)
    easing: str = "linear"
    constant_speed: bool = False
    render: RenderSettings = field(default_factory=RenderSettings)

    def __post_init__(self) -> None:
        keys = sorted(self.keyframes, key=lambda k: k.time)
        if len(keys) < 2:
            raise ValueError(
                f"a camera path needs at least two keyframes, got {len(keys)}: add another"
            )
        times = np.array([k.time for k in keys])
        if (np.diff(times) <= 0).any():
            raise ValueError(f"keyframe times must differ, got {times.tolist()}")
        if not 0.0 <= self.tension <= 1.0:
            raise ValueError(f"tension must be in [0, 1], got {self.tension}")
        if self.easing not in EASINGS:
            raise ValueError(f"easing must be one of {EASINGS}, got {self.easing!r}")
        if self.loop and self.easing != "linear":
            raise ValueError("a looped path has no start or end to ease: use easing 'linear'")
        if self.loop:
            span = times[-1] - times[0]
            default = span + span / (len(keys) - 1)
            self.period = float(self.period if self.period is not None else default)
            if not self.period > span:
                raise ValueError(
                    f"period must be longer than the keyframes' span {span}, got {self.period}"
                )
        self.keyframes = keys
        self._build()

    # ---- the splines

    @property
    def start(self) -> float:
        return self.keyframes[0].time

    @property
    def duration(self) -> float:
        """Seconds the path lasts: first to last keyframe, or one lap of a loop."""
        if self.loop:
            assert self.period is not None  # __post_init__ sets a loop's
            return self.period
        return self.keyframes[-1].time - self.start

    def _build(self) -> None:
        keys = self.keyframes
        t = np.array([k.time for k in keys])
        v = np.array([[*k.pose[:3, 3], k.fov] for k in keys])  # position and fov
        rot = Rotation.from_matrix(np.stack([k.pose[:3, :3] for k in keys]))
        if self.loop:
            t = np.append(t, self.start + self.duration)
            v = np.vstack([v, v[:1]])
            rot = Rotation.concatenate([rot, rot[:1]])
        self._t, self._v = t, v
        self._m = _velocities(t, v, self.tension, self.loop)
        if self.loop:
            # LOOP_LAPS laps, the middle one used: the spline's free ends are far enough
            # away that their pull on the middle lap's angular rate has died out
            n, lap, side = len(keys), self.duration, LOOP_LAPS // 2
            times = np.concatenate(
                [t[:n] + j * lap for j in range(-side, side + 1)] + [t[-1:] + side * lap]
            )
            self._rot = RotationSpline(
                times, Rotation.concatenate([rot[:n]] * LOOP_LAPS + [rot[:1]])
            )
        else:
            self._rot = RotationSpline(t, rot)
        # the arc-length table, made when constant_speed first needs it
        self._arc: tuple[np.ndarray, np.ndarray] | None = None

    def _local(self, s: np.ndarray) -> np.ndarray:
        """Spline time (seconds, within the keys' range or one lap) -> (n, 4) position, fov."""
        t, v, m = self._t, self._v, self._m
        i = np.clip(np.searchsorted(t, s, side="right") - 1, 0, len(t) - 2)
        dt = t[i + 1] - t[i]
        u = ((s - t[i]) / dt)[:, None]
        h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
        h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
        return h00 * v[i] + h10 * dt[:, None] * m[i] + h01 * v[i + 1] + h11 * dt[:, None] * m[i + 1]

    def _spline_time(self, times: np.ndarray) -> np.ndarray:
        """Path time (seconds from the start) -> spline time, through easing and speed."""
        d = self.duration
        x = np.asarray(times, np.float64)
        if self.loop:
            x = np.mod(x, d)
        else:
            x = np.clip(x, 0.0, d)
        if self.easing == "ease-in-out" and d > 0:
            y = x / d
            x = d * y * y * (3 - 2 * y)  # smoothstep
        if self.constant_speed and d > 0:
            lengths, knots = self._arc_table()
            if lengths[-1] > 0:
                x = np.interp(x / d * lengths[-1], lengths, knots) - self.start
        return self.start + x

    def _arc_table(self, per_span: int = 256) -> tuple[np.ndarray, np.ndarray]:
        if self._arc is None:
            knots = np.concatenate(
                [np.linspace(a, b, per_span, endpoint=False) for a, b in zip(self._t, self._t[1:])]
                + [self._t[-1:]]
            )
            xyz = self._local(knots)[:, :3]
            lengths = np.concatenate(
                [[0.0], np.cumsum(np.linalg.norm(np.diff(xyz, axis=0), axis=1))]
            )
            self._arc = (lengths, knots)
        return self._arc

    # ---- evaluation

    def poses(self, times) -> tuple[np.ndarray, np.ndarray]:
        """Path times (seconds from the start) -> poses (n, 4, 4) and fovs (n,)."""
        s = self._spline_time(np.atleast_1d(np.asarray(times, np.float64)))
        v = self._local(s)
        out = np.tile(np.eye(4), (len(s), 1, 1))
        out[:, :3, 3] = v[:, :3]
        out[:, :3, :3] = self._rot(s).as_matrix()
        return out, np.clip(v[:, 3], 1.0, 170.0)

    def frame_times(self, fps: float | None = None) -> np.ndarray:
        """One time per frame at fps (default: the render settings'): 0, 1/fps, ... up to
        the duration (its end included on an open path, excluded on a loop: it is the
        start again)."""
        fps = float(fps or self.render.fps)
        n = int(math.floor(self.duration * fps + 1e-9))
        if not self.loop or n == 0:
            n += 1
        return np.arange(n) / fps

    def sample(self, fps: float | None = None, width: int | None = None, height: int | None = None):
        """Cameras at fps (see frame_times) with the render size unless given."""
        from engine.camera import Camera

        w, h = width or self.render.width, height or self.render.height
        poses, fovs = self.poses(self.frame_times(fps))
        return [Camera.from_fov(f, w, h, p) for p, f in zip(poses, fovs)]

    # ---- recording

    @classmethod
    def from_recording(
        cls,
        times,
        poses,
        fov: float = 60.0,
        tolerance: float = 0.01,
        angle_tolerance_deg: float = 0.5,
        **settings,
    ) -> CameraPath:
        """Keyframes from a live flight: poses (n, 4, 4) shown at times (n,) seconds. Starts
        with the first and last pose and adds the recorded pose farthest from the path
        until every recorded pose is within tolerance (scene units) and angle_tolerance_deg
        of the path at its time. Times are kept relative to the first."""
        t = np.asarray(times, np.float64)
        poses = np.asarray(poses, np.float64)
        if len(t) != len(poses) or len(t) == 0:
            raise ValueError(f"need as many times as poses, got {len(t)} and {len(poses)}")
        if (np.diff(t) < 0).any():
            raise ValueError("recorded times must not decrease")
        # several poses in one instant: keep the last of each
        keep = np.append(np.diff(t) > 0, True)
        t, poses = t[keep] - t[0], poses[keep]
        if len(t) < 2:
            raise ValueError("the recording is one instant long: fly a while before stopping")
        chosen = [0, len(t) - 1]
        while True:
            path = cls([Keyframe(poses[i], fov, t[i]) for i in chosen], **settings)
            got, _ = path.poses(t)
            err = np.linalg.norm(got[:, :3, 3] - poses[:, :3, 3], axis=1) / tolerance
            rel = np.einsum("nji,njk->nik", got[:, :3, :3], poses[:, :3, :3])
            cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
            err = np.maximum(err, np.degrees(np.arccos(cos)) / angle_tolerance_deg)
            worst = int(np.argmax(err))
            if err[worst] <= 1.0 or worst in chosen:
                return path
            chosen = sorted([*chosen, worst])


def _velocities(t: np.ndarray, v: np.ndarray, tension: float, loop: bool) -> np.ndarray:
    """Kochanek-Bartels velocities (continuity = bias = 0) at the keys (n, d): the mean of
    the neighbouring spans' velocities, each weighted by the other span's length, times
    (1 - tension). Open ends use their one span; a loop's first and last key (the same
    key) see the wrap-around spans."""
    n = len(t)
    span_v = np.diff(v, axis=0) / np.diff(t)[:, None]  # (n - 1, d)
    span_t = np.diff(t)
    m = np.empty_like(v)
    for k in range(n):
        before = k - 1 if k > 0 else (n - 2 if loop else None)
        after = k if k < n - 1 else (0 if loop else None)
        if before is None:
            m[k] = span_v[after]
        elif after is None:
            m[k] = span_v[before]
        else:
            a, b = span_t[before], span_t[after]
            m[k] = (span_v[before] * b + span_v[after] * a) / (a + b)
    return (1.0 - tension) * m


# --------------------------------------------------------------------------- formats


def to_dict(path: CameraPath) -> dict:
    """The project's own JSON (see load_path)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "keyframes": [
            {"pose": k.pose.tolist(), "fov": k.fov, "time": k.time} for k in path.keyframes
        ],
        "interpolation": {
            "tension": path.tension,
            "loop": path.loop,
            "period": path.period,
            "easing": path.easing,
            "constant_speed": path.constant_speed,
        },
        "render": {
            "width": path.render.width,
            "height": path.render.height,
            "fps": path.render.fps,
            "seconds": path.duration,
        },
    }


def from_dict(data: dict, where: str = "camera path", notes: list[str] | None = None) -> CameraPath:
    """Own JSON or nerfstudio camera_path.json, told apart by their keys; a nerfstudio
    file's variant and repairs are appended to `notes` when given (see from_nerfstudio)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if data.get("format") == FORMAT:
        return _from_own(data, where)
    if "keyframes" in data or "camera_path" in data:
        return from_nerfstudio(data, where, notes)
    raise ValueError(
        f"{where}: not a camera path (expected format {FORMAT!r} or nerfstudio's "
        "camera_path.json with 'keyframes' or 'camera_path')"
    )


def _from_own(data: dict, where: str) -> CameraPath:
    if data.get("version") != VERSION:
        raise ValueError(f"{where}: camera path version {data.get('version')!r}; reads {VERSION}")
    try:
        keys = [Keyframe(np.array(k["pose"]), k["fov"], k["time"]) for k in data["keyframes"]]
        interp = data.get("interpolation", {})
        render = data.get("render", {})
        return CameraPath(
            keys,
            tension=float(interp.get("tension", 0.0)),
            loop=bool(interp.get("loop", False)),
            period=interp.get("period"),
            easing=interp.get("easing", "linear"),
            constant_speed=bool(interp.get("constant_speed", False)),
            render=RenderSettings(
                int(render.get("width", 512)),
                int(render.get("height", 384)),
                float(render.get("fps", 24.0)),
            ),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as e:
        raise ValueError(f"{where}: {e}") from None


def to_nerfstudio(path: CameraPath) -> dict:
    """nerfstudio's camera_path.json: keyframes (matrix: camera-to-world, OpenGL axes,
    row-major, 16 numbers; fov vertical degrees; aspect), each keyframe's transition to the
    next as override_transition_sec (so the times come back), and the sampled camera_path
    at the render fps (what `ns-render camera-path` and the Blender add-on read)."""
    r = path.render
    aspect = r.width / r.height
    keys = path.keyframes
    times = [k.time for k in keys] + ([path.start + path.duration] if path.loop else [])
    gaps = np.diff(times) if len(times) > 1 else np.array([1.0])
    frames, fovs = path.poses(path.frame_times())
    return {
        "default_fov": keys[0].fov,
        "default_transition_sec": float(gaps.mean()),
        "keyframes": [
            {
                "matrix": (k.pose @ FLIP_YZ).reshape(-1).tolist(),
                "fov": k.fov,
                "aspect": aspect,
                "override_transition_enabled": i < len(gaps) and len(times) > 1,
                "override_transition_sec": float(gaps[i]) if i < len(gaps) else None,
            }
            for i, k in enumerate(keys)
        ],
        "camera_type": "perspective",
        "render_height": r.height,
        "render_width": r.width,
        "fps": r.fps,
        "seconds": path.duration,
        "is_cycle": path.loop,
        "smoothness_value": path.tension,
        "camera_path": [
            {
                "camera_to_world": (p @ FLIP_YZ).reshape(-1).tolist(),
                "fov": float(f),
                "aspect": aspect,
            }
            for p, f in zip(frames, fovs)
        ],
    }


def from_nerfstudio(
    data: dict, where: str = "camera_path.json", notes: list[str] | None = None
) -> CameraPath:
    """A nerfstudio camera_path.json, as its viewers have written it over their versions
    (the README has a table of the variants). Read: the keyframes, their times from every
    keyframe's properties TIME, else each one's override_transition_sec when enabled, else
    default_transition_sec, else `seconds` spread evenly; their fov (or properties FOV, or
    default_fov); or, when there are fewer than two keyframes or they cannot be read,
    every camera_path frame at 1 / fps (and back: unreadable frames with readable
    keyframes read the keyframes); render_width, render_height (aspect gives a missing
    width), fps, is_cycle, smoothness_value; camera_type and crop with a note. Each
    matrix's layout is found from the matrix itself (see ns_matrix). One line naming the
    variant read, and one per repair, is appended to `notes` when given."""
    said: list[str] = []
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object")
    try:
        fps = _ns_number(data, "fps", 24.0)
        height = int(round(_ns_number(data, "render_height", 384.0)))
        default_width = height * _ns_number(data, "aspect", 4 / 3) if "aspect" in data else 512
        width = int(round(_ns_number(data, "render_width", default_width)))
        loop = bool(data.get("is_cycle", False))
        tension = _ns_number(data, "smoothness_value", 0.0)
        render = RenderSettings(width, height, fps)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise ValueError(f"{where}: not a readable nerfstudio camera path ({e})") from None
    keys_raw = data.get("keyframes") or []
    frames_raw = data.get("camera_path") or []
    failures: list[str] = []
    path: CameraPath | None = None
    readers = (
        ("keyframes", keys_raw, lambda: _ns_keyframes(data, keys_raw, loop, tension, render)),
        ("camera_path", frames_raw, lambda: _ns_frames(data, frames_raw, tension, render)),
    )
    for name, raw, read in readers:
        if not isinstance(raw, list):
            failures.append(f"'{name}' is not a list")
            continue
        if len(raw) < 2:
            one = "keyframe" if name == "keyframes" else "camera_path frame"
            failures.append(f"only one {one}" if raw else f"no {one}s")
            continue
        try:
            path, variant, repaired = read()
        except (KeyError, TypeError, ValueError, IndexError) as e:
            failures.append(f"{name}: {_ns_error(e)}")
            continue
        fell_back = f" ({'; '.join(failures)})" if failures else ""
        said.append(f"{where}: read as nerfstudio camera_path.json: {variant}{fell_back}")
        said += [f"{where}: {note}" for note in repaired]
        break
    if path is None:
        raise ValueError(f"{where}: not a readable nerfstudio camera path ({'; '.join(failures)})")
    camera_type = data.get("camera_type", "perspective")
    if camera_type != "perspective":
        said.append(f"{where}: camera_type {camera_type!r} rendered as 'perspective'")
    if data.get("crop"):
        said.append(f"{where}: crop ignored (the whole view is rendered)")
    if notes is not None:
        notes += said
    return path


def _ns_number(data: dict, key: str, default: float) -> float:
    value = data.get(key)
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _ns_error(e: Exception) -> str:
    return f"no {e.args[0]!r}" if isinstance(e, KeyError) else str(e)


def _ns_properties(entry: dict) -> dict:
    """The legacy viewer's keyframe properties: a JSON string (or list) of [name, value]
    pairs, e.g. '[["FOV", 50], ["NAME", "Camera 0"], ["TIME", 0]]'."""
    raw = entry.get("properties")
    if raw is None:
        return {}
    pairs = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(pairs, dict):
        return pairs
    return {str(p[0]): p[1] for p in pairs}


def _ns_times(props: list[dict]) -> list[float] | None:
    """The keyframes' properties TIME (seconds), when every keyframe has one and they
    increase; else None (the times come from the transitions)."""
    times = []
    for p in props:
        stamp = p.get("TIME")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            return None
        times.append(float(stamp))
    return times if all(b > a for a, b in zip(times, times[1:])) else None


def _ns_fov(entry: dict, props: dict, default: float) -> float:
    for value in (entry.get("fov"), props.get("FOV")):
        if value is not None:
            return float(value)
    return default


class _Repairs:
    """What was mended in a file's matrices, said once for all of them."""

    def __init__(self, what: str) -> None:
        self.what = what  # "keyframe" or "camera_path frame"
        self.corners: list[int] = []
        self.rotations: list[int] = []
        self.deviation = 0.0

    def pose(self, m: np.ndarray, i: int) -> np.ndarray:
        """OpenGL camera-to-world -> OpenCV, re-orthonormalised within REPAIR_TOL."""
        from engine.camera import as_pose

        said: list[str] = []
        pose = as_pose(m @ FLIP_YZ, said).numpy()
        if said:
            self.rotations.append(i)
            dev = m[:3, :3].T @ m[:3, :3] - np.eye(3)
            self.deviation = max(self.deviation, float(np.abs(dev).max()))
        return pose

    def notes(self, n: int) -> list[str]:
        out = []
        if self.corners:
            out.append(
                f"{_which(self.what, self.corners, n)}: a 0 in the matrix's homogeneous corner "
                "read as 1"
            )
        if self.rotations:
            out.append(
                f"{_which(self.what, self.rotations, n)}: rotation orthonormal only to "
                f"{self.deviation:.2g} (max |R^T R - I|), replaced by the nearest rotation"
            )
        return out


def _which(what: str, indices: list[int], n: int) -> str:
    if len(indices) == n:
        return f"every {what} ({n})"
    shown = ", ".join(str(i) for i in indices[:5]) + (", ..." if len(indices) > 5 else "")
    return f"{what}{'s' if len(indices) > 1 else ''} {shown} ({len(indices)} of {n})"


def _ns_keyframes(
    data: dict, raw: list, loop: bool, tension: float, render: RenderSettings
) -> tuple[CameraPath, str, list[str]]:
    default_fov = _ns_number(data, "default_fov", 60.0)
    repairs = _Repairs("keyframe")
    poses, layouts, fovs, props = [], [], [], []
    for i, k in enumerate(raw):
        try:
            m, layout, corner = ns_matrix(k["matrix"])
            p = _ns_properties(k)
            fovs.append(_ns_fov(k, p, default_fov))
            poses.append(repairs.pose(m, i))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ValueError(f"keyframe {i}: {_ns_error(e)}") from None
        if corner:
            repairs.corners.append(i)
        layouts.append(layout)
        props.append(p)
    n = len(raw)
    spans = n if loop else n - 1
    stamps = _ns_times(props)
    times: list[float]
    if stamps is not None:
        times = [s - stamps[0] for s in stamps]
        seconds = _ns_number(data, "seconds", 0.0)
        period = seconds if loop and seconds > times[-1] else None
        timing = "times from properties TIME"
    else:
        even = _ns_number(data, "seconds", spans) / max(spans, 1)
        default = _ns_number(data, "default_transition_sec", 0.0) or even
        gaps = [
            float(k["override_transition_sec"])
            if k.get("override_transition_enabled") and k.get("override_transition_sec")
            else default
            for k in raw
        ]
        times = np.concatenate([[0.0], np.cumsum(gaps[: n - 1])]).tolist()
        period = float(times[-1] + gaps[n - 1]) if loop else None
        given = "default_transition_sec" in data or any(
            k.get("override_transition_enabled") for k in raw
        )
        timing = (
            "times from the transitions"
            if given
            else "times from seconds"
            if "seconds" in data
            else "no times given: 1 s apart"
        )
    keys = [Keyframe(p, f, t) for p, f, t in zip(poses, fovs, times)]
    path = CameraPath(
        keys, tension=min(max(tension, 0.0), 1.0), loop=loop, period=period, render=render
    )
    variant = f"{n} keyframes, {_ns_layouts(layouts)}, {timing}" + (", looped" if loop else "")
    return path, variant, repairs.notes(n)


def _ns_frames(
    data: dict, raw: list, tension: float, render: RenderSettings
) -> tuple[CameraPath, str, list[str]]:
    default_fov = _ns_number(data, "default_fov", 60.0)
    repairs = _Repairs("camera_path frame")
    keys, layouts = [], []
    for i, f in enumerate(raw):
        try:
            m, layout, corner = ns_matrix(
                f["camera_to_world"] if "camera_to_world" in f else f["matrix"]
            )
            keys.append(Keyframe(repairs.pose(m, i), _ns_fov(f, {}, default_fov), i / render.fps))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ValueError(f"frame {i}: {_ns_error(e)}") from None
        if corner:
            repairs.corners.append(i)
        layouts.append(layout)
    path = CameraPath(keys, tension=min(max(tension, 0.0), 1.0), render=render)
    variant = (
        f"{len(raw)} camera_path frames as keyframes, {_ns_layouts(layouts)}, "
        f"1/{render.fps:g} s apart"
    )
    return path, variant, repairs.notes(len(raw))


def _ns_layouts(layouts: list[str]) -> str:
    kinds = sorted(set(layouts), key=layouts.index)
    return " and ".join(kinds) + (" matrices" if len(kinds) == 1 else " matrices (mixed)")


MATRIX_ZERO_TOL = 1e-6
"""Largest |value| of a 0 in a matrix's homogeneous row (or column) and corner."""


def ns_matrix(value: object) -> tuple[np.ndarray, str, bool]:
    """A nerfstudio camera-to-world matrix -> ((4, 4) row-major float64, the layout read,
    whether a 0 in the homogeneous corner was read as 1).

    16 numbers (flat, 4 lists, or a JSON string of them: the legacy three.js viewer's) in
    either order: row-major has `0 0 0 1` as its last four numbers (translation at 3, 7, 11),
    column-major (three.js' `elements`) has the zeros at 3, 7, 11. The layout is found from
    where the zeros are; a matrix without translation (zeros in both places) is taken as
    column-major when it is a string, row-major otherwise. A lone 0 where the corner's 1
    belongs is read as 1 (the caller says so). 12 numbers are a row-major 3x4."""
    string = isinstance(value, str)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("the matrix string is not a JSON list of numbers") from None
    try:
        m = np.array(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"the matrix is not a list of numbers: {value!r:.80}") from None
    if not np.isfinite(m).all():
        raise ValueError("the matrix has NaN or inf")
    if m.size == 12:
        return np.vstack([m.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]]), "3x4 row-major", False
    if m.size != 16:
        raise ValueError(f"a matrix has 16 numbers (or 12), got {m.size}")
    row_off = float(np.abs(m[12:15]).max())
    col_off = float(np.abs(m[[3, 7, 11]]).max())
    row = row_off <= MATRIX_ZERO_TOL
    col = col_off <= MATRIX_ZERO_TOL
    if row and col:  # no translation: the smaller zeros, else the writer's usual order
        row = row_off < col_off or (row_off == col_off and not string)
    elif not (row or col):
        raise ValueError(
            "the matrix is neither row-major nor column-major: no 0 0 0 in its last row "
            f"(elements 12-14: {m[12:15].tolist()}) nor its last column (elements 3, 7, 11: "
            f"{m[[3, 7, 11]].tolist()})"
        )
    corner = float(m[15])
    repaired = abs(corner) <= MATRIX_ZERO_TOL
    if repaired:
        m[15] = 1.0
    elif abs(corner - 1.0) > POSE_TOL:
        raise ValueError(f"the matrix's homogeneous corner must be 1 (or a lone 0), got {corner:g}")
    matrix = m.reshape(4, 4) if row else m.reshape(4, 4).T
    layout = "row-major" if row else "column-major"
    return matrix, layout + (" string" if string else ""), repaired


def save_path(path: CameraPath, file: str | os.PathLike, fmt: str = "latentscape") -> Path:
    """Write the path as JSON, atomically: fmt "latentscape" (own) or "nerfstudio"."""
    if fmt not in ("latentscape", "nerfstudio"):
        raise ValueError(f"path format must be 'latentscape' or 'nerfstudio', got {fmt!r}")
    data = to_dict(path) if fmt == "latentscape" else to_nerfstudio(path)
    file = Path(file)
    atomic_write(file, (json.dumps(data, indent=1) + "\n").encode())
    return file


def load_path(file: str | os.PathLike, notes: list[str] | None = None) -> CameraPath:
    """Read either JSON format (see from_dict); a clear error for anything else. What was
    read (a nerfstudio file's variant, repairs) is appended to `notes` when given."""
    return from_dict(read_json(file, "camera path"), str(file), notes)


def is_camera_path(data) -> bool:
    """Whether parsed JSON is a camera path (either format) rather than a pose list."""
    return isinstance(data, dict) and (
        data.get("format") == FORMAT or "keyframes" in data or "camera_path" in data
    )


def default_path(
    start: Tensor, segments: int = 5, frames: int = 8, distance: float = 1.0
) -> list[list[Tensor]]:
    """The default path of `latentscape render` and `bench world`, as `segments` lists of
    `frames` poses (camera-to-world (4, 4) float64). With 5 segments: walk `distance`
    forward (2 segments), turn 180 degrees in place (1), walk back to the start (1) and turn
    180 degrees again (1), so the last frame is the start pose exactly; more segments add to
    the walk out and the last turn, fewer than 4 leave out the return.
    Motion is in the camera's ground plane (world up = -y of the start camera); each segment
    continues where the previous one ended."""
    if segments < 1 or frames < 1:
        raise ValueError("segments and frames must be >= 1")
    start = torch.as_tensor(start, dtype=torch.float64)
    up = -start[:3, 1]
    forward = start[:3, 2] - (start[:3, 2] @ up) * up
    forward = forward / forward.norm()
    # segments: out, turn, back, turn2 = 2, 1, 1, 1 for 5; fewer segments drop the return
    back_n = 1 if segments >= 4 else 0
    turn_n = 1 if segments >= 2 else 0
    out_n = max(1, round(segments * 2 / 5)) if back_n else segments - turn_n
    plan = ["out"] * out_n + ["turn"] * turn_n + ["back"] * back_n
    plan += ["turn2"] * (segments - len(plan))
    counts = {k: plan.count(k) * frames for k in ("out", "turn", "back", "turn2")}
    done = {k: 0 for k in counts}
    path = []
    for kind in plan:
        seg = []
        for _ in range(frames):
            done[kind] += 1
            t = done[kind] / counts[kind]
            pose = start.clone()
            if kind == "out":
                pose[:3, 3] = start[:3, 3] + distance * t * forward
            elif kind in ("turn", "turn2"):
                base = 0.0 if kind == "turn" else math.pi
                far = distance if kind == "turn" else 0.0
                pose[:3, :3] = rotation_about(up, base + math.pi * t) @ start[:3, :3]
                pose[:3, 3] = start[:3, 3] + far * forward
            else:  # back
                pose[:3, :3] = rotation_about(up, math.pi) @ start[:3, :3]
                pose[:3, 3] = start[:3, 3] + distance * (1 - t) * forward
            seg.append(pose)
        path.append(seg)
    if plan[-1] == "turn2":
        path[-1][-1] = start.clone()  # exactly the start, not a rounding away from it
    return path
