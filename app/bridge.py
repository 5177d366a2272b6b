"""The engine bridge: one worker thread owns an Explorer (engine/explore.py), its World and
every tensor; what the Explorer reports comes back as Qt signals.

The GUI calls the command methods (`open`, `move`, `set_generating`, `save`, `undo`,
`erase`, `cancel`, `shutdown`, ...); they only post to a mailbox (engine/mailbox.py) and
return at once: camera moves go to one slot where the newest pose wins, so a worker that
falls behind skips stale poses; the other commands run in order. `request` posts a command
and returns a future of its answer, which the app's jobs await (app/jobs.py). Signals carry numpy
arrays and plain values (engine.messages: `ViewFrame`, `WorldInfo`, `MemoryMap`,
`Inspection`; dicts), never tensors. What to show and when to generate is the Explorer's
(its docstring): a move generates only if generation was on when the move was made, so
turning it on while the engine still shows an earlier move does not make that move
generate. Each generated frame is shown as it comes; moves that arrive meanwhile wait in the
slot, and the newest is shown once the segment is done.

Nothing is lost on a crash: with `autosave` set, every `autosave_every` segments the world
is saved (atomically, like every save) to that recovery folder, and `save_recovery` writes
it on demand (the window does on close, when the world has unsaved changes).

Threads: torch on the worker uses `threads` intra-op threads (app/threads.py: by default
all cores but one), and the worker runs at a lower priority, so that the GUI and the OpenGL
driver get the CPU first.
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import Future

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from app.jobs import JobError
from app.threads import ENGINE_NICE, default_threads, lower_priority
from engine.explore import REPORTS, Explorer, Listener, failure
from engine.mailbox import Mailbox
from engine.world import WorldCancelled


def _forward(name: str) -> property:
    """A property of the bridge that is the Explorer's attribute `name`."""
    return property(
        lambda self: getattr(self.explorer, name),
        lambda self, value: setattr(self.explorer, name, value),
    )


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

    def __init__(self, config=None, threads: int | None = None, **options) -> None:
        """config: the WorldConfig of the photos and scenes opened; threads: torch's on the
        engine thread (default_threads); options: the Explorer's (backends,
        generate_threshold, lookahead_s, autosave, autosave_every, map_resolution)."""
        super().__init__()
        self.explorer = Explorer(config, _Signals(self), **options)
        self.threads = threads or default_threads()
        self.mailbox = Mailbox()  # commands in order, and the newest pose
        self._thread = threading.Thread(target=self._run, name="latentscape-engine", daemon=True)
        self._thread.start()

    # the Explorer's settings, read and set through the bridge (the window, tests)
    config = _forward("config")
    autosave = _forward("autosave")
    autosave_every = _forward("autosave_every")
    lookahead_s = _forward("lookahead_s")
    generate_threshold = _forward("generate_threshold")

    # ---- commands (any thread; they return at once)

    def open(self, source: str) -> None:
        """Open a photo, a sample scene name or a saved world folder."""
        self.request("open", str(source))

    def move(self, pose) -> None:
        """The camera is at pose (4, 4) camera-to-world; replaces any pose not yet handled."""
        pose = np.array(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            self.error.emit(f"camera pose must be a finite 4x4 matrix, got shape {pose.shape}")
            return
        self.mailbox.put_pose(pose, time.monotonic(), self.explorer.generation_on)

    def set_generating(self, on: bool) -> None:
        """Generation on (segments are made when the view runs into the unknown) or off:
        at once, not after the commands waiting; off also stops the segment being made."""
        self.explorer.set_generating(on)

    def save(self, path: str) -> None:
        self._post("save", str(path))

    def undo(self) -> None:
        """Take back the latest segment."""
        self.explorer.cancelled.set()
        self._post("undo", None)

    def erase(self, points, radius: float) -> None:
        """Remove the memory within radius of the ground points (n, 2): one undo step."""
        self.explorer.cancelled.set()
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
        self.explorer.cancel()

    def request(self, kind: str, arg=None) -> Future:
        """Post the command `kind` ("open", "save", "call", ...) and get a future the engine
        thread completes with its result, or with a JobError when it failed (the `error`
        signal has said why, as for every command). The app's jobs await these."""
        if kind == "open":
            self.explorer.cancelled.set()  # a segment being made gives way
        future: Future = Future()
        self._post(kind, arg, future)
        return future

    def call(self, fn) -> None:
        """Run fn(world) on the engine thread (tests and inspectors); errors are reported."""
        self._post("call", fn)

    def save_recovery(self) -> None:
        """Write the recovery copy now (to `autosave`), when the world has unsaved changes."""
        self._post("recovery", None)

    def shutdown(self, timeout: float = 10.0, drain: bool = False) -> None:
        """Stop the engine thread; with drain, after the commands already posted (a final
        save), camera moves dropped."""
        self.mailbox.close(drain)
        if not drain:
            self.explorer.cancelled.set()
        self._thread.join(timeout)

    def _post(self, kind: str, arg, future: Future | None = None) -> None:
        self.mailbox.post(kind, arg, future)

    # ---- the worker

    def _run(self) -> None:
        torch.set_num_threads(self.threads)
        lower_priority(ENGINE_NICE)
        while (letter := self.mailbox.take()) is not None:
            kind, arg, future = letter
            if future is not None and not future.set_running_or_notify_cancel():
                continue  # cancelled before it began
            try:
                result = self.explorer.run(kind, arg)
            except WorldCancelled as e:  # asked for: not an error; the world is as it was
                if future is not None:
                    future.set_exception(e)
            except Exception as e:  # the GUI shows it; the world is as it was
                traceback.print_exc()
                self.error.emit(failure(kind, e))
                if future is not None:
                    future.set_exception(JobError(failure(kind, e)))
            else:
                if future is not None:
                    future.set_result(result)


class _Signals(Listener):
    """The Explorer's reports, emitted as the bridge's signals of the same names (queued to
    the GUI thread)."""

    def __init__(self, bridge: EngineBridge) -> None:
        for name in REPORTS:
            setattr(self, name, getattr(bridge, name).emit)
