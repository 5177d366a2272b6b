"""How the app's worker threads (the engine's, a render's) share the CPU with the GUI.

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
