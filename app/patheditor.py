"""The camera path being edited, without Qt (the path dock's model).

`PathEditor` holds keyframes (pose, fov, time), the interpolation settings and the render
rate, and an undo stack of whole states (a path is a few kilobytes; a state per edit is the
cheap, exact undo). Every edit that would make a path `CameraPath` refuses (two keys at one
time, a loop with easing) is refused before it changes anything, with CameraPath's message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from engine.path import EASINGS, CameraPath, Keyframe, RenderSettings

SPACING = 2.0  # seconds after the last keyframe where a new one goes
SAME_TIME = 1e-3  # seconds: the playhead is "on" a keyframe this close to it
UNDO_DEPTH = 200
CURVE_SAMPLES = 256  # points of the path drawn on the minimap


@dataclass
class _State:
    keys: list[Keyframe]
    tension: float = 0.0
    loop: bool = False
    period: float | None = None
    easing: str = "linear"
    constant_speed: bool = False
    fps: float = 24.0
    selected: int | None = None


class PathEditor:
    """See the module docstring. `path` is None while there are fewer than two keyframes."""

    def __init__(self, width: int = 512, height: int = 384) -> None:
        self.state = _State(keys=[])
        self.size = (width, height)  # the render size: the world's frame size
        self._undo: list[_State] = []
        self.path: CameraPath | None = None

    # ---- reading

    @property
    def keys(self) -> list[Keyframe]:
        return self.state.keys

    @property
    def selected(self) -> int | None:
        return self.state.selected

    @property
    def duration(self) -> float:
        return self.path.duration if self.path is not None else 0.0

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def pose_at(self, t: float) -> tuple[np.ndarray, float] | None:
        """The path's pose (4, 4) and fov at time t, or None without a path."""
        if self.path is None:
            return None
        poses, fovs = self.path.poses([t])
        return poses[0], float(fovs[0])

    # ---- editing (each one undo step; ValueError leaves everything as it was)

    def _edit(self, change) -> None:
        state = copy.deepcopy(self.state)
        change(state)
        if state.selected is not None and not 0 <= state.selected < len(state.keys):
            state.selected = len(state.keys) - 1 if state.keys else None
        # a loop's period stays while it still closes the loop; else the default follows
        # the keys (one mean span after the last)
        keys = state.keys
        if not state.loop or len(keys) < 2 or (state.period or 0.0) <= keys[-1].time - keys[0].time:
            state.period = None
        path = self._make(state)  # raises before anything changed
        self._undo = [*self._undo[-(UNDO_DEPTH - 1) :], self.state]
        self.state, self.path = state, path

    def _make(self, s: _State) -> CameraPath | None:
        if len(s.keys) < 2:
            return None
        return CameraPath(
            [copy.copy(k) for k in s.keys],
            tension=s.tension,
            loop=s.loop,
            period=s.period,
            easing=s.easing,
            constant_speed=s.constant_speed,
            render=RenderSettings(*self.size, s.fps),
        )

    def set_size(self, width: int, height: int) -> None:
        """The render size (the world's frame size); not an edit."""
        self.size = (width, height)
        self.path = self._make(self.state)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.state = self._undo.pop()
        self.path = self._make(self.state)
        return True

    def select(self, index: int | None) -> None:
        """Not an edit (no undo step)."""
        if index is not None and not 0 <= index < len(self.keys):
            raise IndexError(f"no keyframe {index}: the path has {len(self.keys)}")
        self.state.selected = index

    def add(self, pose, fov: float, at: float | None = None) -> int:
        """A keyframe at the view `pose`: at time `at` when it falls strictly inside the path
        and on no keyframe, else SPACING seconds after the last (0 for the first). Returns
        its index (it becomes the selected one)."""
        keys = self.keys
        if not keys:
            t = 0.0
        elif (
            at is not None
            and keys[0].time < at < keys[-1].time
            and min(abs(k.time - at) for k in keys) > SAME_TIME
        ):
            t = float(at)
        else:
            t = keys[-1].time + SPACING
        key = Keyframe(pose, fov, t)

        def change(s: _State) -> None:
            s.keys = sorted([*s.keys, key], key=lambda k: k.time)
            s.selected = next(i for i, k in enumerate(s.keys) if k is key)

        self._edit(change)
        return self.state.selected

    def delete(self, index: int) -> None:
        self._check(index)

        def change(s: _State) -> None:
            del s.keys[index]
            s.selected = min(index, len(s.keys) - 1) if s.keys else None

        self._edit(change)

    def duplicate(self, index: int) -> int:
        """A copy of keyframe `index` halfway to the next (SPACING after, for the last)."""
        self._check(index)
        keys = self.keys
        t = (
            (keys[index].time + keys[index + 1].time) / 2
            if index + 1 < len(keys)
            else keys[index].time + SPACING
        )
        key = Keyframe(keys[index].pose, keys[index].fov, t)

        def change(s: _State) -> None:
            s.keys.insert(index + 1, key)
            s.selected = index + 1

        self._edit(change)
        return index + 1

    def retime(self, index: int, t: float) -> int:
        """Move keyframe `index` to time t (refused on another key's time); returns its new
        index in time order."""
        self._check(index)
        key = Keyframe(self.keys[index].pose, self.keys[index].fov, t)

        def change(s: _State) -> None:
            s.keys[index] = key
            s.keys.sort(key=lambda k: k.time)
            s.selected = next(i for i, k in enumerate(s.keys) if k is key)

        self._edit(change)
        return self.state.selected

    def set_view(self, index: int, pose, fov: float | None = None) -> None:
        """Keyframe `index` takes the view `pose` (and fov), keeping its time."""
        self._check(index)
        old = self.keys[index]
        key = Keyframe(pose, old.fov if fov is None else fov, old.time)

        def change(s: _State) -> None:
            s.keys[index] = key

        self._edit(change)

    def set_fov(self, index: int, fov: float) -> None:
        self.set_view(index, self.keys[index].pose, fov)

    def set_duration(self, seconds: float) -> None:
        """Stretch the keyframe times (from the first) so the path lasts `seconds`."""
        if self.path is None:
            raise ValueError("a path needs two keyframes before it has a duration")
        if not seconds > 0:
            raise ValueError(f"the duration must be positive, got {seconds}")
        scale = seconds / self.duration
        t0 = self.keys[0].time

        def change(s: _State) -> None:
            s.keys = [Keyframe(k.pose, k.fov, t0 + (k.time - t0) * scale) for k in s.keys]
            if s.period is not None:
                s.period *= scale

        self._edit(change)

    def set_options(self, **options) -> None:
        """tension, loop, easing, constant_speed, fps: checked as a CameraPath checks them.
        Looping turns easing to linear (a loop has no start or end to ease)."""
        unknown = set(options) - {"tension", "loop", "easing", "constant_speed", "fps"}
        if unknown:
            raise ValueError(f"unknown path options {sorted(unknown)}")
        if "fps" in options and not (options["fps"] > 0):
            raise ValueError(f"fps must be positive, got {options['fps']}")
        if "easing" in options and options["easing"] not in EASINGS:
            raise ValueError(f"easing must be one of {EASINGS}, got {options['easing']!r}")

        def change(s: _State) -> None:
            for name, value in options.items():
                setattr(s, name, value)
            if s.loop:
                s.easing = "linear"

        self._edit(change)

    def replace(self, path: CameraPath) -> bool:
        """The whole path (opened from a file, or recorded): one undo step."""

        def change(s: _State) -> None:
            s.keys = [copy.copy(k) for k in path.keyframes]
            s.tension, s.loop, s.period = path.tension, path.loop, path.period
            s.easing, s.constant_speed = path.easing, path.constant_speed
            s.fps = path.render.fps
            s.selected = 0

        self._edit(change)
        return True

    def clear(self) -> None:
        if self.keys:
            self._edit(lambda s: s.keys.clear())

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.keys):
            raise IndexError(f"no keyframe {index}: the path has {len(self.keys)}")

    # ---- for the minimap

    def curve(self, samples: int = CURVE_SAMPLES) -> np.ndarray | None:
        """(samples, 3) positions along the path, or None without a path."""
        if self.path is None:
            return None
        end = self.duration
        poses, _ = self.path.poses(np.linspace(0.0, end, samples, endpoint=not self.state.loop))
        return poses[:, :3, 3]
