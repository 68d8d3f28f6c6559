"""This tree against another commit's, interleaved in one run: is any figure worse?

Give the other commit as a work tree (``git worktree add /tmp/base <commit>``).
Its ``escope`` package is loaded beside this one under the name
``escope_base`` (its modules import each other relatively; Numba caches by
file, so each keeps its own compiled kernels), and every candidate runs
A B A B …, so that the machine's drift hits both alike. What cannot share a
process (a fresh process's start-up, SpikeInterface's ``method="escope"``,
which each tree registers under the same name, memory growth) runs as
subprocesses, alternating too.

Workloads: those of ``bench_kernels.py`` (20 M float32 samples, spikes every
500; a crossing every 20 samples) and ``bench_recording.py`` (8 channels ×
30 kHz and × 100 kHz, float32; written there once and reused).

Usage::

    python benchmarks/compare_commits.py /tmp/base [--repeat 7] [--minutes 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import escope  # noqa: E402
from benchmarks.bench_kernels import FRESH, REAL, dense_workload, workload  # noqa: E402
from benchmarks.bench_recording import MEMORY, RATES, make  # noqa: E402
from benchmarks.machine import describe, interleaved  # noqa: E402


def load_other(tree: Path):
    """The other tree's ``escope`` package, as ``escope_base``."""
    spec = importlib.util.spec_from_file_location(
        "escope_base", tree / "escope" / "__init__.py",
        submodule_search_locations=[str(tree / "escope")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["escope_base"] = module
    spec.loader.exec_module(module)
    return module


def job(pkg, path: Path, n_jobs: int) -> None:
    rec = pkg.Recording(path)
    rec.rmsnoise(n_jobs=n_jobs)
    rec.detectspikes(k=5, n_jobs=n_jobs)


SI_NODE = r"""
import sys, time
sys.path.insert(0, {root!r})
import escope_neo
from spikeinterface.sortingcomponents.peak_detection import detect_peaks
rec = escope_neo.read_escope({path!r})
kw = dict(method="escope", method_kwargs=dict(peak_sign="both", detect_threshold=5),
          job_kwargs=dict(n_jobs=1, chunk_duration="1s", progress_bar=False))
detect_peaks(rec, **kw)
t0 = time.perf_counter()
detect_peaks(rec, **kw)
print(time.perf_counter() - t0)
"""


def _env(name: str) -> dict[str, str]:
    # The base tree's kernels are cached, in this process, under the module
    # name escope_base: its subprocesses (which import it as escope) keep a
    # Numba cache of their own.
    env = dict(os.environ)
    if name.endswith("[base]"):
        env["NUMBA_CACHE_DIR"] = str(ROOT / "benchmarks" / "output" / "numba-cache-base")
    return env


def alternate(scripts: dict[str, str], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Run each script (printing one number) `repeat` times, A B A B …"""
    for name, code in scripts.items():  # warm caches
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       env=_env(name))
    values: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(repeat):
        for name, code in scripts.items():
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                 text=True, env=_env(name))
            values[name].append(float(out.stdout.strip().splitlines()[-1]))
    return {n: (statistics.median(v), min(v), max(v)) for n, v in values.items()}


def table(title: str, result: dict, floor: float | None, unit: float = 1e3,
          suffix: str = "ms") -> None:
    print(f"\n### {title}\n")
    print("| what | this tree | base | this / base |" + (" × F (this, base) |" if floor else ""))
    print("| --- | ---: | ---: | ---: |" + (" ---: |" if floor else ""))
    names = sorted({k.rsplit(" [", 1)[0] for k in result}, key=list(
        k.rsplit(" [", 1)[0] for k in result).index)
    for name in names:
        a, b = result[f"{name} [this]"], result[f"{name} [base]"]
        row = (f"| {name} | {a[0] * unit:.1f} {suffix} ({a[1] * unit:.1f}–{a[2] * unit:.1f}) | "
               f"{b[0] * unit:.1f} {suffix} ({b[1] * unit:.1f}–{b[2] * unit:.1f}) | "
               f"{a[0] / b[0]:.2f} |")
        if floor:
            row += f" {a[0] / floor:.2f}, {b[0] / floor:.2f} |"
        print(row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", type=Path, help="work tree of the commit to compare with")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "output" / "recordings")
    args = ap.parse_args()
    base = load_other(args.base.resolve())
    print(f"machine: {describe()}")
    print(f"this tree: {ROOT}; base: {args.base} — medians (min–max) of {args.repeat} "
          "interleaved repetitions")

    x, dense = workload(), dense_workload()
    kernels = {}
    for tag, pkg in (("this", escope), ("base", base)):
        kernels.update({
            f"detectspikes(x, 5.0), polarity 0 [{tag}]": lambda p=pkg: p.detectspikes(x, 5.0),
            f"detectspikes(x, 5.0, polarity=1) [{tag}]":
                lambda p=pkg: p.detectspikes(x, 5.0, polarity=1),
            f"detectspikes(x, 5.0, polarity=-1) [{tag}]":
                lambda p=pkg: p.detectspikes(x, 5.0, polarity=-1),
            f"detectspikes, a crossing every 20 samples [{tag}]":
                lambda p=pkg: p.detectspikes(dense, 5.0),
            f"rmsnoise(x) [{tag}]": lambda p=pkg: p.rmsnoise(x),
            f"rmsnoise(x, 30) [{tag}]": lambda p=pkg: p.rmsnoise(x, 30),
        })
    order = sorted(kernels, key=lambda k: (k.rsplit(" [", 1)[0], k.endswith("[base]")))
    res = interleaved({k: kernels[k] for k in order}, args.repeat)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        np.max(x)
    floor = (time.perf_counter() - t0) / args.repeat
    table("One trace (bench_kernels workloads), F = np.max(x)", res, floor)

    for rate in RATES:
        path = make(args.dir, rate, args.minutes)
        kept = {tag: pkg.Recording(path) for tag, pkg in (("this", escope), ("base", base))}

        def kept_job(tag, n_jobs=1):
            rec = kept[tag]
            if hasattr(rec, "analysis_cache"):
                rec.analysis_cache.clear()
            else:
                rec._stats_cache = None
            rec.rmsnoise(n_jobs=n_jobs)
            rec.detectspikes(k=5, n_jobs=n_jobs)

        cands = {}
        for nj in (1, 2):
            for tag, pkg in (("this", escope), ("base", base)):
                cands[f"rec.rmsnoise() + rec.detectspikes(k=5), n_jobs={nj} [{tag}]"] = \
                    lambda p=pkg, n=nj: job(p, path, n)
        for tag in ("this", "base"):
            cands[f"the same, n_jobs=1, recording kept open [{tag}]"] = lambda t=tag: kept_job(t)
        res = interleaved(cands, args.repeat)
        fmap = np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r")
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            np.max(np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r"))
        f_file = (time.perf_counter() - t0) / args.repeat
        del fmap
        table(f"8 channels × {rate // 1000} kHz × {args.minutes:g} min (bench_recording), "
              "F = np.max over a fresh map", res, f_file)

        sub = alternate({f"SpikeInterface detect_peaks(method='escope'), n_jobs=1 [{tag}]":
                         SI_NODE.format(root=str(tree), path=str(path))
                         for tag, tree in (("this", ROOT), ("base", args.base.resolve()))},
                        max(3, args.repeat // 2))
        table(f"SpikeInterface node, {rate // 1000} kHz file", sub, None)
        mem = alternate({f"private memory growth, MB [{tag}]":
                         MEMORY.format(root=str(tree), path=str(path)).replace(
                             "escope.analysis, escope.engine  # imports first\n"
                             "import escope.kernels.blocks, escope.kernels.noise, "
                             "escope.kernels.prune",
                             "escope.analysis  # imports first")
                         for tag, tree in (("this", ROOT), ("base", args.base.resolve()))}, 3)
        table(f"memory, {rate // 1000} kHz file (fresh process)", mem, None, unit=1, suffix="MB")

    if REAL.with_suffix(".escope").is_file():
        fresh = {}
        for tag, tree in (("this", ROOT), ("base", args.base.resolve())):
            code = FRESH.format(root=str(tree), path=str(REAL))
            fresh[f"fresh process: import, open the example, noise + spikes [{tag}]"] = \
                f"import subprocess, sys, time\nt0 = time.perf_counter()\n" \
                f"subprocess.run([sys.executable, '-c', {code!r}], check=True, " \
                f"capture_output=True)\n" \
                f"print(time.perf_counter() - t0)"
        table("Start-up (wall time of a fresh process, JIT cache warm)",
              alternate(fresh, 5), None, unit=1, suffix="s")


if __name__ == "__main__":
    main()
