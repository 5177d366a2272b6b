"""The engine thread's mailbox: commands in the order they were posted, and one slot for the
camera's newest pose.

Any thread posts; the engine thread takes. A pose replaces the one not yet taken, so an
engine that falls behind skips stale poses instead of queueing them; commands never are
skipped, and go before a waiting pose. A command may carry a concurrent future for whoever
waits on its answer (the app's jobs). `close` ends it: `take` returns None at once, or,
with drain, once the commands already posted are taken (the poses are dropped).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

import numpy as np

Letter = tuple[str, Any, "Future[Any] | None"]  # (command, its argument, its answer)


class Mailbox:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._commands: deque[Letter] = deque()
        # the newest pose, its time, and whether generation was on when it was posted
        self._pose: tuple[np.ndarray, float, bool] | None = None
        self._closed = False
        self._drain = False

    def post(self, kind: str, arg: Any = None, future: Future[Any] | None = None) -> None:
        with self._lock:
            self._commands.append((kind, arg, future))
            self._lock.notify()

    def put_pose(self, pose: np.ndarray, at: float, generating: bool) -> None:
        """The camera is at pose at time `at`: replaces a pose not yet taken."""
        with self._lock:
            self._pose = (pose, at, generating)
            self._lock.notify()

    def close(self, drain: bool = False) -> None:
        with self._lock:
            self._closed, self._drain = True, drain
            self._pose = None
            self._lock.notify()

    def take(self) -> Letter | None:
        """The next command, else the newest pose as ("move", (pose, at, generating), None);
        waits for one. None once closed (after the commands posted, with drain)."""
        with self._lock:
            while not (self._closed or self._commands or self._pose is not None):
                self._lock.wait()
            if self._closed and not (self._drain and self._commands):
                return None
            if self._commands:
                return self._commands.popleft()
            pose, self._pose = self._pose, None
            return ("move", pose, None)
