"""The engine bridge: one worker thread owns the World and every tensor.

The GUI calls the command methods (`open`, `move`, `set_generating`, `save`, `undo`,
`cancel`, `shutdown`); they only post to a mailbox and return at once. Camera moves are a
single slot where the newest pose wins, so a worker that falls behind skips stale poses
instead of queueing them; the other commands run in order. Results come back as Qt signals
carrying numpy arrays and plain values (`ViewFrame`, `WorldInfo`, dicts), never tensors.

Generation policy (`_on_move`): the view at a pose is the memory's readout, decoded. When
the readout's holes cover more than `generate_threshold` of it and generation is on, a
segment is generated along the camera's motion, ahead of it: `frames_per_segment` poses
from the current pose to where the same motion would bring the camera `lookahead_s`
seconds later (rotation and translation extrapolated, `engine.camera.interpolate_pose`).
Each generated frame is shown as it comes (the viewport warps it to the current camera).
Moves that arrive meanwhile wait in the slot; the newest is shown once the segment is done.

Threads: torch on the worker uses `threads` intra-op threads, by default all cores but
one (at least 1), so the GUI thread and the OpenGL driver (Mesa's llvmpipe draws on the
CPU) keep a core: on a 2-core machine the engine gets one. The worker thread also runs at
a lower priority (nice +10 on Linux), so that when the GUI needs the CPU it gets it first.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from app.renderer import ViewFrame


@dataclass
class WorldInfo:
    """What the GUI learns about a world when it opens."""

    source: str
    width: int
    height: int
    K: np.ndarray  # (3, 3) intrinsics, pixels
    pose: np.ndarray  # (4, 4) the seed camera's pose (camera-to-world)
    up: np.ndarray  # (3,) world up
    config: dict
    segments: int
    trajectory: np.ndarray  # (n, 4, 4)
    notes: list[str] = field(default_factory=list)


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


ENGINE_NICE = 10  # the engine thread yields the CPU to the GUI and the GL driver


def lower_priority(nice: int) -> bool:
    """Lower the calling thread's scheduling priority (Linux: a thread id works as a process
    id for setpriority). False where the system does not allow it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        return True
    except (AttributeError, OSError):
        return False


class EngineBridge(QObject):
    """Owns the engine thread; see the module docstring."""

    opened = Signal(object)  # WorldInfo
    frame = Signal(object)  # ViewFrame
    progress = Signal(int, int, str)  # done, total, what
    stats = Signal(object)  # dict: entries, bytes, rgb_bytes, segments, can_undo, known
    error = Signal(str)  # a message for the user; the world is unchanged
    busy = Signal(bool)  # a segment is being generated
    saved = Signal(str)  # path of a saved world
    undone = Signal(int)  # segments left after an undo

    def __init__(
        self,
        config=None,
        backends: dict | None = None,
        threads: int | None = None,
        generate_threshold: float = 0.02,
        lookahead_s: float = 0.5,
    ) -> None:
        super().__init__()
        from engine.world import WorldConfig

        self.config = config or WorldConfig()
        self.backends = dict(backends or {})
        self.threads = threads or default_threads()
        self.generate_threshold = generate_threshold
        self.lookahead_s = lookahead_s
        self._lock = threading.Condition()
        self._commands: deque = deque()
        self._pose: tuple[np.ndarray, float] | None = None  # newest pose and its time
        self._cancel = threading.Event()
        self._stop = False
        self._generating = False
        self._frames = 0
        self._world = None  # touched by the worker thread only
        self._last_pose: tuple[np.ndarray, float] | None = None
        self._thread = threading.Thread(target=self._run, name="latentscape-engine", daemon=True)
        self._thread.start()

    # ---- commands (any thread; they return at once)

    def open(self, source: str) -> None:
        """Open a photo, a sample scene name or a saved world folder."""
        self._cancel.set()
        self._post("open", str(source))

    def move(self, pose) -> None:
        """The camera is at pose (4, 4) camera-to-world; replaces any pose not yet handled."""
        pose = np.array(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            self.error.emit(f"camera pose must be a finite 4x4 matrix, got shape {pose.shape}")
            return
        with self._lock:
            self._pose = (pose, time.monotonic())
            self._lock.notify()

    def set_generating(self, on: bool) -> None:
        """Generation on (segments are made when the view runs into the unknown) or off."""
        self._post("generating", bool(on))
        if not on:
            self._cancel.set()

    def save(self, path: str) -> None:
        self._post("save", str(path))

    def undo(self) -> None:
        """Take back the latest segment."""
        self._cancel.set()
        self._post("undo", None)

    def cancel(self) -> None:
        """Stop the segment being generated; the world stays at its last good segment."""
        self._cancel.set()

    def call(self, fn) -> None:
        """Run fn(world) on the engine thread (tests and inspectors); errors are reported."""
        self._post("call", fn)

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._cancel.set()
        self._thread.join(timeout)

    def _post(self, kind: str, arg) -> None:
        with self._lock:
            self._commands.append((kind, arg))
            self._lock.notify()

    # ---- the worker

    def _run(self) -> None:
        torch.set_num_threads(self.threads)
        lower_priority(ENGINE_NICE)
        while True:
            with self._lock:
                while not (self._stop or self._commands or self._pose is not None):
                    self._lock.wait()
                if self._stop:
                    return
                if self._commands:
                    kind, arg = self._commands.popleft()
                    pose = None
                else:
                    kind, arg = "move", None
                    pose, self._pose = self._pose, None
            try:
                if kind == "move":
                    self._on_move(*pose)
                elif kind == "open":
                    self._on_open(arg)
                elif kind == "generating":
                    self._generating = arg
                    self._cancel.clear()
                elif kind == "save":
                    self._on_save(arg)
                elif kind == "undo":
                    self._on_undo()
                elif kind == "call":
                    arg(self._world)
            except Exception as e:  # the GUI shows it; the world is as it was
                self.error.emit(_message(kind, e))
                traceback.print_exc()

    def _on_open(self, source: str) -> None:
        from engine.render import open_source

        self._cancel.clear()
        world = open_source(source, self.config, **self.backends)
        self._world = world
        self._last_pose = None
        cam = world.camera
        info = WorldInfo(
            source=source,
            width=cam.width,
            height=cam.height,
            K=cam.K.numpy().astype(np.float64),
            pose=cam.pose.numpy().astype(np.float64),
            up=(-cam.pose[:3, 1]).numpy().astype(np.float64),
            config=world.config.to_dict(),
            segments=world.segments,
            trajectory=np.stack([p.numpy() for p in world.trajectory]),
            notes=list(world.notes),
        )
        self.opened.emit(info)
        self._show(cam.pose.numpy())
        self._emit_stats()

    def _on_save(self, path: str) -> None:
        from engine.io import save_world

        if self._world is None:
            raise RuntimeError("there is no world to save: open a photo or a scene first")
        out = save_world(self._world, Path(path))
        self.saved.emit(str(out))

    def _on_undo(self) -> None:
        self._cancel.clear()
        if self._world is None:
            raise RuntimeError("there is no world: open a photo or a scene first")
        left = self._world.undo_segment()
        self.undone.emit(left)
        if self._last_pose is not None:
            self._show(self._last_pose[0])
        self._emit_stats()

    def _on_move(self, pose: np.ndarray, at: float) -> None:
        world = self._world
        if world is None:
            return
        previous, self._last_pose = self._last_pose, (pose, at)
        r = self._show(pose)
        holes = 1.0 - float(r.known.float().mean())
        if not self._generating or holes <= self.generate_threshold:
            return
        self._generate(self._ahead(previous, pose, at))

    def _ahead(self, previous, pose: np.ndarray, at: float) -> list[np.ndarray]:
        """Poses of a segment from `pose` along the latest motion, lookahead_s ahead."""
        from engine.camera import interpolate_pose

        n = self.config.frames_per_segment
        if previous is None or np.allclose(previous[0], pose, atol=1e-9):
            return [pose]
        dt = max(at - previous[1], 1.0 / 120.0)
        steps = self.lookahead_s / dt  # how many of the latest motions fit in the lookahead
        return [
            interpolate_pose(pose, interpolate_pose(previous[0], pose, 1.0 + steps), k / n)
            .numpy()
            .copy()
            for k in range(1, n + 1)
        ]

    def _generate(self, poses: list[np.ndarray]) -> None:
        from engine.world import WorldCancelled

        world = self._world
        self._cancel.clear()
        self.busy.emit(True)
        try:
            world.segment(poses, on_event=self._on_event, cancel=self._cancel.is_set)
        except WorldCancelled as e:
            self.progress.emit(0, 0, str(e))
        finally:
            self.busy.emit(False)
            self._emit_stats()
        if self._last_pose is not None:
            self._show(self._last_pose[0])

    def _on_event(self, e) -> None:
        if e.kind == "progress":
            done = e.frame * e.steps + e.step
            self.progress.emit(done, e.frames * e.steps, f"segment {e.segment}")
        elif e.kind == "frame":
            self._emit_frame(e.rgb, e.depth, ~e.known, e.camera.pose, e.segment)

    def _show(self, pose):
        """Emit the memory's view at pose; returns the readout."""
        rgb, r = self._world.view(pose)
        depth = r.depth.masked_fill(~r.known, 0.0)
        self._emit_frame(rgb, depth, ~r.known, self._world.camera_at(pose).pose, 0)
        return r

    def _emit_frame(self, rgb, depth, holes, pose, segment: int) -> None:
        self._frames += 1
        image = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        self.frame.emit(
            ViewFrame(
                rgb=image.permute(1, 2, 0).contiguous().numpy(),
                depth=depth.float().numpy(),
                holes=holes.numpy(),
                K=self._world.camera.K.numpy(),
                pose=np.asarray(pose, dtype=np.float64),
                segment=segment,
                index=self._frames,
            )
        )

    def _emit_stats(self) -> None:
        world = self._world
        if world is None:
            return
        factor = world.codec.factor
        entries = len(world.memory)
        self.stats.emit(
            {
                "entries": entries,
                "bytes": world.memory.nbytes,
                # what an RGB point memory would hold for the same surfaces: factor^2 pixel
                # points per token, 15 bytes each (float32 xyz + uint8 rgb)
                "rgb_bytes": entries * factor * factor * 15,
                "segments": world.segments,
                "can_undo": world.can_undo,
                "backend": f"{world.config.codec} / {world.config.generator}",
            }
        )


def _message(kind: str, e: Exception) -> str:
    what = {
        "open": "Could not open",
        "save": "Could not save the world",
        "undo": "Could not undo",
        "move": "The engine failed while generating",
        "call": "Engine call failed",
    }.get(kind, "Engine error")
    return f"{what}: {e}"
