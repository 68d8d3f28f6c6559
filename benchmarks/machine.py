"""Shared by the benchmarks: the machine they ran on, and median timings."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def describe() -> str:
    """One line: CPU model, cores, memory, Python and numpy versions."""
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, numpy {numpy.__version__}"
    )


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `fn` over `repeat` runs, after one warm-up run
    (JIT compilation or cache loading, page cache, imports)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(candidates: dict[str, Callable[[], object]],
                repeat: int) -> dict[str, tuple[float, float, float]]:
    """Median, min and max wall time of each candidate, run A B C … A B C …
    (after one warm-up of each), so that noise on a shared machine hits all
    of them alike."""
    for fn in candidates.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(v), min(v), max(v)) for name, v in times.items()}
