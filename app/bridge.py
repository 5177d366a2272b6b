"""The engine bridge: one worker thread owns the World and every tensor.

The GUI calls the command methods (`open`, `move`, `set_generating`, `save`, `undo`,
`erase`, `cancel`, `shutdown`, ...); they only post to a mailbox and return at once. Camera
moves are a single slot where the newest pose wins, so a worker that falls behind skips
stale poses instead of queueing them; the other commands run in order. Results come back as
Qt signals carrying numpy arrays and plain values (`ViewFrame`, `WorldInfo`, `MemoryMap`,
`Inspection`, dicts), never tensors. The map is sent after every change of the memory
(each generated frame, erase, undo); the minimap draws the newest at its own rate. An
inspection is made only while the inspector is shown (`set_inspecting`).

Nothing is lost on a crash: with `autosave` set, every `autosave_every` segments the world
is saved (atomically, like every save) to that recovery folder, and `save_recovery` writes
it on demand (the window does on close, when the world has unsaved changes).

Generation policy (`_on_move`): the view at a pose is the memory's readout, decoded. When
the readout's holes cover more than `generate_threshold` of it and generation is on (was on
when the move was made, and still is: `set_generating` acts at once, a move waiting or
being shown is judged by the flag it was made under), a segment is generated along the
camera's motion, ahead of it: `frames_per_segment` poses from the current pose to where the
same motion would bring the camera `lookahead_s` seconds later (rotation and translation
extrapolated, `engine.camera.interpolate_pose`).
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
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from app.messages import Inspection, MemoryMap, ViewFrame, WorldInfo


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


# What an RGB point memory holds per pixel point: float32 xyz + uint8 rgb
RGB_POINT_BYTES = 15


def rgb_memory_bytes(entries: int, factor: int) -> int:
    """What an RGB point memory would hold for the surfaces of `entries` latent tokens:
    factor^2 pixel points per token, RGB_POINT_BYTES each."""
    return entries * factor * factor * RGB_POINT_BYTES


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
    undone = Signal(str)  # what an undo took back ("segment 3", "erase")
    memory_map = Signal(object)  # MemoryMap, after every change of the memory
    inspection = Signal(object)  # Inspection of each view shown, while inspecting is on
    autosaved = Signal(str)  # path of the recovery copy

    def __init__(
        self,
        config=None,
        backends: dict | None = None,
        threads: int | None = None,
        generate_threshold: float = 0.02,
        lookahead_s: float = 0.5,
        autosave: str | None = None,
        autosave_every: int = 3,
        map_resolution: int = 128,
    ) -> None:
        super().__init__()
        from engine.world import WorldConfig

        self.config = config or WorldConfig()
        self.backends = dict(backends or {})
        self.threads = threads or default_threads()
        self.generate_threshold = generate_threshold
        self.lookahead_s = lookahead_s
        self.autosave = autosave  # folder of the recovery copy; None: no autosave
        self.autosave_every = autosave_every  # segments between two recovery copies; 0: none
        self.map_resolution = map_resolution
        self._inspecting = False
        self._unsaved = False  # the world changed since it was opened or saved
        self._drain = False  # shutting down after the commands already posted
        self._pca: tuple | None = None  # (mean, basis, lo, hi) of the open world's latents
        self._lock = threading.Condition()
        self._commands: deque = deque()
        # newest pose, its time, and whether generation was on when it was posted
        self._pose: tuple[np.ndarray, float, bool] | None = None
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
            # a move generates only if generation was on when it was made: turning it on
            # while the engine is still showing an earlier move does not make that move
            # generate (it did, now and then, at a pose the user had already left)
            self._pose = (pose, time.monotonic(), self._generating)
            self._lock.notify()

    def set_generating(self, on: bool) -> None:
        """Generation on (segments are made when the view runs into the unknown) or off:
        at once, not after the commands waiting; off also stops the segment being made."""
        self._generating = bool(on)
        if not on:
            self._cancel.set()

    def save(self, path: str) -> None:
        self._post("save", str(path))

    def undo(self) -> None:
        """Take back the latest segment."""
        self._cancel.set()
        self._post("undo", None)

    def erase(self, points, radius: float) -> None:
        """Remove the memory within radius of the ground points (n, 2): one undo step."""
        self._cancel.set()
        self._post("erase", (np.asarray(points, dtype=np.float64).reshape(-1, 2), float(radius)))

    def set_inspecting(self, on: bool) -> None:
        """Inspections of each view shown (the inspector is visible) or not; turned on, the
        current view is inspected at once."""
        self._post("inspecting", bool(on))

    def set_config(self, config) -> None:
        """The WorldConfig for the next photo or scene opened (saved worlds keep theirs)."""
        self._post("config", config)

    def cancel(self) -> None:
        """Stop the segment being generated; the world stays at its last good segment."""
        self._cancel.set()

    def call(self, fn) -> None:
        """Run fn(world) on the engine thread (tests and inspectors); errors are reported."""
        self._post("call", fn)

    def save_recovery(self) -> None:
        """Write the recovery copy now (to `autosave`), when the world has unsaved changes."""
        self._post("recovery", None)

    def shutdown(self, timeout: float = 10.0, drain: bool = False) -> None:
        """Stop the engine thread; with drain, after the commands already posted (a final
        save), camera moves dropped."""
        with self._lock:
            self._stop, self._drain = True, drain
            self._pose = None
            self._lock.notify()
        if not drain:
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
                if self._stop and not (self._drain and self._commands):
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
                elif kind == "save":
                    self._on_save(arg)
                elif kind == "undo":
                    self._on_undo()
                elif kind == "recovery":
                    if self._world is not None and self._unsaved and self.autosave:
                        self._autosave()
                elif kind == "erase":
                    self._on_erase(*arg)
                elif kind == "inspecting":
                    self._inspecting = arg
                    if arg and self._world is not None:
                        pose = self._last_pose[0] if self._last_pose else self._world.camera.pose
                        self._show(np.asarray(pose))
                elif kind == "config":
                    self.config = arg
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
            ground=_ground(world),
            notes=list(world.notes),
        )
        self._pca = _pca_basis(world.seed_latent)
        self._unsaved = False
        self.opened.emit(info)
        self._show(cam.pose.numpy())
        self._changed(edit=False)

    def _on_save(self, path: str) -> None:
        from engine.io import save_world

        if self._world is None:
            raise RuntimeError("there is no world to save: open a photo or a scene first")
        out = save_world(self._world, Path(path))
        self._unsaved = False
        self.saved.emit(str(out))

    def _on_undo(self) -> None:
        self._cancel.clear()
        if self._world is None:
            raise RuntimeError("there is no world: open a photo or a scene first")
        what = self._world.undo()
        self.undone.emit(what)
        if self._last_pose is not None:
            self._show(self._last_pose[0])
        self._changed()

    def _on_erase(self, points: np.ndarray, radius: float) -> None:
        self._cancel.clear()
        if self._world is None:
            raise RuntimeError("there is no world: open a photo or a scene first")
        removed = self._world.erase_ground(points, radius)
        self.progress.emit(0, 0, f"erased {removed:,} memory entries")
        if removed:
            if self._last_pose is not None:
                self._show(self._last_pose[0])
            self._changed()

    def _on_move(self, pose: np.ndarray, at: float, generating: bool) -> None:
        world = self._world
        if world is None:
            return
        previous, self._last_pose = self._last_pose, (pose, at)
        r = self._show(pose)
        holes = 1.0 - float(r.known.float().mean())
        if not (generating and self._generating) or holes <= self.generate_threshold:
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
        if not self._generating:  # paused while this segment was being decided
            return
        self.busy.emit(True)
        before = world.segments
        try:
            world.segment(poses, on_event=self._on_event, cancel=self._cancel.is_set)
        except WorldCancelled as e:
            self.progress.emit(0, 0, str(e))
        finally:
            self.busy.emit(False)
            self._changed(edit=world.segments != before)
        if self._last_pose is not None:
            self._show(self._last_pose[0])
        if self.autosave and self.autosave_every and world.segments % self.autosave_every == 0:
            self._autosave()

    def _on_event(self, e) -> None:
        if e.kind == "progress":
            done = e.frame * e.steps + e.step
            self.progress.emit(done, e.frames * e.steps, f"segment {e.segment}")
        elif e.kind == "frame":
            self._emit_frame(e.rgb, e.depth, ~e.known, e.camera.pose, e.segment)
            self._emit_map()

    def _show(self, pose):
        """Emit the memory's view at pose; returns the readout."""
        from engine.world import fill_cracks

        rgb, r = self._world.view(pose)
        # what is shown: the cracks that World.view closed count as known, as in a segment
        _, shown, depth = fill_cracks(r.latent, r.known, r.depth)
        depth = depth.masked_fill(~shown, 0.0)
        self._emit_frame(rgb, depth, ~shown, self._world.camera_at(pose).pose, 0)
        if self._inspecting:
            self._emit_inspection(r)
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

    def _changed(self, edit: bool = True) -> None:
        """The memory changed (edit: by the user, so it is unsaved): stats and the map."""
        self._unsaved |= edit
        self._emit_stats()
        self._emit_map()

    def _autosave(self) -> None:
        """A recovery copy of the world (atomic, like every save); a failure is reported and
        generation goes on."""
        from engine.io import save_world

        try:
            out = save_world(self._world, Path(self.autosave))
        except Exception as e:
            self.error.emit(f"Could not write the recovery copy to {self.autosave}: {e}")
            return
        self.autosaved.emit(str(out))

    def _emit_map(self) -> None:
        world = self._world
        memory = world.memory
        occ = memory.occupancy(self.map_resolution)
        poses = torch.stack(world.trajectory)
        positions = poses[:, :3, 3]
        keys = torch.stack(world.segment_poses)[:, :3, 3]
        frame = memory.frame
        self.memory_map.emit(
            MemoryMap(
                count=occ.count.numpy(),
                segment=occ.segment.numpy(),
                extent=occ.extent,
                current=world.segments,
                trajectory=frame.to_ground(positions).numpy(),
                keyframes=frame.to_ground(keys).numpy(),
            )
        )

    def _emit_inspection(self, r) -> None:
        world = self._world
        memory = world.memory
        if not hasattr(memory, "entries") or self._pca is None:
            return
        h, w = r.known.shape
        geometry = r.ids >= 0
        age = torch.full((h, w), -1, dtype=torch.int64)
        if bool(geometry.any()):
            age[geometry] = memory.entries(r.ids[geometry])["age"]
        summary = memory.summary()
        factor = world.codec.factor
        summary["rgb_bytes"] = rgb_memory_bytes(summary["entries"], factor)
        by_segment = memory.counts_by_segment()
        segments = sorted(by_segment)
        entries = np.cumsum([by_segment[k] for k in segments]).astype(np.float64)
        per_entry = summary["bytes"] / max(1, summary["entries"])
        dynamic = world.dynamic
        self.inspection.emit(
            Inspection(
                pca=_pca_colours(r.latent, r.known, self._pca),
                known=r.known.numpy(),
                age=age.numpy(),
                depth=r.depth.float().numpy(),
                dynamic=None if dynamic is None else dynamic.numpy(),
                summary=summary,
                growth=np.stack(
                    [np.asarray(segments, np.float64), entries, entries * per_entry], 1
                ).reshape(-1, 3),
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
                "rgb_bytes": rgb_memory_bytes(entries, factor),
                "segments": world.segments,
                "can_undo": world.can_undo,
                "unsaved": self._unsaved,
                "backend": f"{world.config.codec} / {world.config.generator}",
            }
        )


def _ground(world) -> np.ndarray:
    """The ground frame (4, 3): origin, right, forward, up."""
    from engine.memory.latent import GroundFrame

    frame = world.memory.frame or GroundFrame.from_camera(world.camera)
    return np.stack([getattr(frame, k).numpy() for k in ("origin", "right", "forward", "up")])


def _pca_basis(latent: torch.Tensor) -> tuple:
    """The first three principal directions of a latent (C, h, w) over its tokens, and the
    2nd-98th percentile range of each projection: a fixed colour map for one world, so the
    same token shows the same colour from every view."""
    x = latent.reshape(latent.shape[0], -1).T.double()  # (tokens, C)
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    basis = v[:3].T  # (C, <=3)
    if basis.shape[1] < 3:  # fewer than 3 channels: repeat the last component
        basis = torch.cat([basis, basis[:, -1:].expand(-1, 3 - basis.shape[1])], 1)
    proj = (x - mean) @ basis
    lo, hi = torch.quantile(proj, 0.02, dim=0), torch.quantile(proj, 0.98, dim=0)
    return mean, basis, lo, torch.maximum(hi, lo + 1e-6)


def _pca_colours(latent: torch.Tensor, known: torch.Tensor, pca: tuple) -> np.ndarray:
    mean, basis, lo, hi = pca
    c, h, w = latent.shape
    proj = (latent.reshape(c, -1).T.double() - mean) @ basis
    rgb = ((proj - lo) / (hi - lo)).clamp(0, 1) * 255 + 0.5
    rgb = rgb.to(torch.uint8).reshape(h, w, 3)
    rgb[~known] = 0
    return rgb.numpy()


def _message(kind: str, e: Exception) -> str:
    what = {
        "open": "Could not open",
        "save": "Could not save the world",
        "undo": "Could not undo",
        "erase": "Could not erase",
        "move": "The engine failed while generating",
        "call": "Engine call failed",
    }.get(kind, "Engine error")
    return f"{what}: {e}"
