"""How the app's worker threads (the engine's, a render's) share the CPU with the GUI, and
`BackgroundRunner`, what a render and a batch have in common.

Torch on a worker uses all cores but one (at least 1), so the GUI thread and the OpenGL
driver (Mesa's llvmpipe draws on the CPU) keep a core: on a 2-core machine the engine gets
one. Workers also run at a lower priority (nice +10 on Linux), so that when the GUI needs
the CPU it gets it first.
"""

from __future__ import annotations

import os
import threading

ENGINE_NICE = 10  # the engine thread yields the CPU to the GUI and the GL driver


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def lower_priority(nice: int) -> bool:
    """Lower the calling thread's scheduling priority (Linux: a thread id works as a process
    id for setpriority). False where the system does not allow it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        return True
    except (AttributeError, OSError):
        return False


class BackgroundRunner:
    """One piece of background work at a time that starts from a snapshot made on the engine
    thread (Render... and Render a batch...): `begin()` when it is asked for (the snapshot is
    pending), `spawn(target, *args)` to run it on a thread of its own at ENGINE_NICE,
    `cancel()` sets the event the work polls, `wait()` joins it. Mixed into a QObject that
    declares the signals."""

    def _init_runner(self) -> None:
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = False  # a snapshot is being made on the engine thread

    @property
    def running(self) -> bool:
        return self._pending or (self._thread is not None and self._thread.is_alive())

    def begin(self) -> None:
        self._pending = True
        self._cancel.clear()

    def spawn(self, target, *args, name: str) -> None:
        """Run target(*args) on a new daemon thread at the engine's lower priority."""

        def run() -> None:
            lower_priority(ENGINE_NICE)
            target(*args)

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        self._pending = False

    def cancel(self) -> None:
        """Ask the work to stop (between its steps; what is done is kept)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work ends (tests, closing the window); True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running
