"""Timing for the benchmarks: the one median-of-repeats clock they all use."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], repeats: int = 21, warmup: int = 3) -> float:
    """Median wall time of `fn()` in milliseconds over `repeats` calls, after `warmup`
    calls that are not timed (caches, scratch buffers and lazy setup grow on the first)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)
