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


#: The compile targets a benchmark can be run for: this CPU's own, and two
#: stand-ins for older ones (AVX2 without AVX-512; SSE2 only).
CPU_TARGETS = ("native", "haswell", "generic")


def cpu_target(name: str | None) -> None:
    """Make numba compile for `name` (``native``, ``haswell``, ``generic``):
    numba reads ``NUMBA_CPU_NAME`` when it is imported, so the process runs
    itself again with it set (and a cache folder of that target's own, so
    that no target loads another's machine code). Call before importing
    numba. ``None`` or ``native`` keeps the process as it is."""
    import subprocess
    import sys
    from pathlib import Path

    if name in (None, "native"):
        if os.environ.get("NUMBA_CPU_NAME"):
            raise SystemExit("NUMBA_CPU_NAME is set: unset it or pass --cpu-name")
        return
    if name not in CPU_TARGETS:
        raise SystemExit(f"--cpu-name must be one of {', '.join(CPU_TARGETS)} or all")
    if os.environ.get("NUMBA_CPU_NAME") == name:
        return
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "NUMBA_CPU_NAME": name,
           "NUMBA_CACHE_DIR": str(root / "benchmarks" / "output" / f"numba-cache-{name}")}
    sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))


def target_name() -> str:
    """The numba compile target in force: ``native (<cpu>)`` or the one set."""
    name = os.environ.get("NUMBA_CPU_NAME")
    if name:
        return name
    try:
        import llvmlite.binding as llvm

        return f"native ({llvm.get_host_cpu_name()})"
    except Exception:  # pragma: no cover
        return "native"


def run_each_target(argv: list[str]) -> None:
    """``--cpu-name all``: run the benchmark once per target, in turn."""
    import subprocess
    import sys

    args = list(argv)
    i = args.index("--cpu-name")
    for name in CPU_TARGETS:
        args[i + 1] = name
        print(f"\n## numba target: {name}\n", flush=True)
        subprocess.call([sys.executable, *args], env={k: v for k, v in os.environ.items()
                                                      if k != "NUMBA_CPU_NAME"})


def select_cpu_target(argv: list[str]) -> None:
    """Act on ``--cpu-name NAME`` in a benchmark's command line, before numba
    is imported: ``all`` runs the benchmark once per target and exits, any
    other name re-runs it compiled for that target (see :func:`cpu_target`)."""
    import sys

    if "--cpu-name" not in argv:
        return
    i = argv.index("--cpu-name")
    if i + 1 >= len(argv):
        raise SystemExit("--cpu-name needs a value: native, haswell, generic or all")
    name = argv[i + 1]
    if name == "all":
        run_each_target(argv)
        sys.exit(0)
    cpu_target(name)
