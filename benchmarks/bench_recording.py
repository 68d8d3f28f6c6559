"""Whole recordings: noise and spikes of every channel, against the file floor
and SpikeInterface, on 1 and 2 threads.

Workloads (issue 8), written with ``escope.write`` once into ``--dir``
(default ``benchmarks/output/recordings``) and reused:

- 8 channels × 30 kHz × 10 min, float32 (576 MB)
- 8 channels × 100 kHz × 10 min, float32 (1.92 GB)

Unit Gaussian noise in µV, with spikes on every channel (±10 µV then half of
that on the next sample, about 20 per second per channel, random times).

Candidates, interleaved in every repetition (A B C … A B C …) so that noise
on this shared machine hits all of them alike; each opens the file afresh:

- ``F_file``: ``np.max`` over the flat memory map of the ``.dat`` (one
  streaming read of the whole file, one thread), the floor;
- control: ``np.max`` of the two halves on two threads (are two cores free?);
- ours: ``rec.rmsnoise()`` then ``rec.detectspikes(k=5)``, all channels,
  ``n_jobs=1`` and ``n_jobs=2``;
- SpikeInterface ``detect_peaks(read_escope(path), "locally_exclusive")``,
  ``peak_sign="both"``, ``detect_threshold=5``, ``n_jobs=1`` and 2 (processes,
  and threads: ``pool_engine="thread"``), 1 s chunks (its noise levels
  computed by ``detect_peaks`` itself, as users run it); its best counts;
- ``detect_peaks(..., method="escope")`` with the same job arguments;
- ``F_mapped`` and the job on a recording kept open: the same without the
  cost of mapping the file's pages (large on virtual machines).

Also: private (anonymous) memory growth over the whole job, measured in a
fresh process from ``/proc/self/smaps_rollup`` (mapped file pages count in
RSS, so RSS would mislead), on both files.

Usage::

    python benchmarks/bench_recording.py [--repeat 5] [--minutes 10] [--dir DIR] [--skip-si]
                                         [--cpu-name native|haswell|generic|all]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import select_cpu_target  # noqa: E402

if __name__ == "__main__":
    select_cpu_target(sys.argv)  # before numba is imported: NUMBA_CPU_NAME, a cache of its own

import escope  # noqa: E402
from benchmarks.machine import describe, interleaved, target_name  # noqa: E402

N_CH = 8
RATES = (30_000, 100_000)


def make(folder: Path, rate: int, minutes: float) -> Path:
    """The workload file (written once, then reused)."""
    path = folder / f"bench-{N_CH}ch-{rate // 1000}kHz-{minutes:g}min.escope"
    if path.is_file() and path.with_suffix(".dat").is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    n = int(rate * 60 * minutes)
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((N_CH, n), dtype=np.float32)
    per_channel = int(20 * n / rate)
    for c in range(N_CH):
        idx = rng.choice(n - 2, per_channel, replace=False)
        amp = rng.choice(np.array([-10, 10], np.float32), per_channel)
        x[c, idx] += amp
        x[c, idx + 1] += amp / 2
    escope.write(path, x, rate, [f"ai{i}" for i in range(N_CH)], ["1 uV"] * N_CH,
                 overwrite=True)
    return path


def floor(path: Path) -> None:
    np.max(np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r"))


def control_2_threads(path: Path) -> None:
    x = np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r")
    half = len(x) // 2
    threads = [threading.Thread(target=np.max, args=(part,)) for part in (x[:half], x[half:])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ours(path: Path, n_jobs: int) -> None:
    rec = escope.Recording(path)
    rec.rmsnoise(n_jobs=n_jobs)
    rec.detectspikes(k=5, n_jobs=n_jobs)


def noise_pass(path: Path) -> None:
    """The job's first pass alone: every channel's noise."""
    escope.Recording(path).rmsnoise(n_jobs=1)


def detection_pass(path: Path, thresholds: dict[str, float]) -> None:
    """The job's second pass alone: spikes with the thresholds given."""
    escope.Recording(path).detectspikes(threshold=thresholds, n_jobs=1)


def ours_kept(rec: escope.Recording, n_jobs: int) -> None:
    """The same job on a recording kept open: its pages are mapped already."""
    rec.analysis_cache.clear()  # no noise kept from the previous repetition
    rec.rmsnoise(n_jobs=n_jobs)
    rec.detectspikes(k=5, n_jobs=n_jobs)


def si_peaks(path: Path, method: str, n_jobs: int, engine: str | None = None) -> int:
    from spikeinterface.sortingcomponents.peak_detection import detect_peaks

    from escope_neo import read_escope

    kwargs = dict(peak_sign="both", detect_threshold=5)
    if method == "locally_exclusive":
        kwargs["exclude_sweep_ms"] = 0.1  # about escope's tkill of 50 samples at 30 kHz... shortest
    job = dict(n_jobs=n_jobs, chunk_duration="1s", progress_bar=False)
    if engine is not None:  # SpikeInterface's thread pool instead of processes
        job["pool_engine"] = engine
    peaks = detect_peaks(read_escope(path), method=method, method_kwargs=kwargs,
                         job_kwargs=job)
    return len(peaks)


MEMORY = r"""
import sys, threading, time
sys.path.insert(0, {root!r})
import numpy as np, escope, escope.analysis, escope.engine  # imports first
import escope.kernels.blocks, escope.kernels.noise, escope.kernels.prune

# Load the compiled kernels (numba's cache) before measuring: that is code,
# not data, and the same for any file. The window must be longer than what
# is analysed with NumPy (escope.engine.SMALL_INPUT samples), or the
# kernels would first load during the measured job.
warm = escope.Recording({path!r})
warm.rmsnoise(n_jobs=1, start=0, stop=10.0)
warm.detectspikes(k=5, n_jobs=1, start=0, stop=10.0)
del warm


def anonymous():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) * 1024
    return 0


base = anonymous()
peak = [base]
done = threading.Event()


def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anonymous())
        time.sleep(0.002)


t = threading.Thread(target=sample)
t.start()
rec = escope.Recording({path!r})
rec.rmsnoise(n_jobs=1)
rec.detectspikes(k=5, n_jobs=1)
done.set()
t.join()
peak[0] = max(peak[0], anonymous())
print((peak[0] - base) / 2**20)
"""


def private_growth_mb(path: Path) -> float:
    code = MEMORY.format(root=str(ROOT), path=str(path))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm JIT
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "output" / "recordings")
    ap.add_argument("--skip-si", action="store_true", help="leave out SpikeInterface")
    ap.add_argument("--cpu-name", default="native",
                    help="numba compile target: native, haswell (AVX2, no AVX-512), generic "
                         "(SSE2) or all (each in turn)")
    args = ap.parse_args()

    print(f"machine: {describe()}; numba target: {target_name()}")
    print(f"medians (min–max) of {args.repeat} interleaved repetitions after a warm-up\n")
    paths = {rate: make(args.dir, rate, args.minutes) for rate in RATES}
    for rate, path in paths.items():
        size = path.with_suffix(".dat").stat().st_size
        # Mapping a file's pages costs as much as reading them on some
        # machines (virtual machines): the job on a map kept open, against
        # np.max on a kept map, shows the work without that cost.
        kept = np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r")
        rec_kept = escope.Recording(path)
        thresholds = {c: 5 * v for c, v in escope.Recording(path).rmsnoise().items()}
        candidates = {
            "F_file: np.max over the flat memory map": lambda p=path: floor(p),
            "control: np.max, 2 threads": lambda p=path: control_2_threads(p),
            "ours, n_jobs=1": lambda p=path: ours(p, 1),
            "ours, n_jobs=2": lambda p=path: ours(p, 2),
            "F_mapped: np.max over a map kept open": lambda k=kept: np.max(k),
            "ours, n_jobs=1, recording kept open": lambda r=rec_kept: ours_kept(r, 1),
            "ours, noise pass alone, n_jobs=1": lambda p=path: noise_pass(p),
            "ours, detection with thresholds given, n_jobs=1":
                lambda p=path, t=thresholds: detection_pass(p, t),
        }
        if not args.skip_si:
            candidates.update({
                "SI locally_exclusive, n_jobs=1": lambda p=path: si_peaks(p, "locally_exclusive", 1),
                "SI locally_exclusive, n_jobs=2": lambda p=path: si_peaks(p, "locally_exclusive", 2),
                "SI locally_exclusive, n_jobs=2, threads":
                    lambda p=path: si_peaks(p, "locally_exclusive", 2, "thread"),
                "SI method='escope', n_jobs=1": lambda p=path: si_peaks(p, "escope", 1),
            })
        result = interleaved(candidates, args.repeat)
        f = result["F_file: np.max over the flat memory map"][0]
        print(f"### {N_CH} channels × {rate // 1000} kHz × {args.minutes:g} min, float32 "
              f"({size / 1e9:.2f} GB, page cache warm)\n")
        print("| candidate | median | min–max | × F_file |")
        print("| --- | ---: | ---: | ---: |")
        for name, (med, lo, hi) in result.items():
            print(f"| {name} | {med * 1e3:.0f} ms | {lo * 1e3:.0f}–{hi * 1e3:.0f} ms | "
                  f"{med / f:.2f} |")
        o1, o2 = result["ours, n_jobs=1"][0], result["ours, n_jobs=2"][0]
        c2 = result["control: np.max, 2 threads"][0]
        print()
        print("| check | measured | target |")
        print("| --- | ---: | --- |")
        print(f"| ours, 1 thread | {o1 / f:.2f} F_file | ≤ 4 |")
        fm = result["F_mapped: np.max over a map kept open"][0]
        ok = result["ours, n_jobs=1, recording kept open"][0]
        print(f"| ours, 1 thread, pages mapped already (no page faults on either side) | "
              f"{ok / fm:.2f} F_mapped | |")
        print(f"| noise pass alone, 1 thread | "
              f"{result['ours, noise pass alone, n_jobs=1'][0] / f:.2f} F_file | ≤ 1.5 |")
        print(f"| detection with thresholds given, 1 thread | "
              f"{result['ours, detection with thresholds given, n_jobs=1'][0] / f:.2f} F_file | "
              f"≤ 1.5 |")
        print(f"| control: 2 threads vs 1 (are 2 cores free?) | {f / c2:.2f}× | ~1.7× |")
        print(f"| ours, 2 threads vs 1 | {o1 / o2:.2f}× | ≥ 1.7× |")
        if not args.skip_si:
            le1 = result["SI locally_exclusive, n_jobs=1"][0]
            le2 = result["SI locally_exclusive, n_jobs=2"][0]
            le2t = result["SI locally_exclusive, n_jobs=2, threads"][0]
            node = result["SI method='escope', n_jobs=1"][0]
            best_si = min(le1, le2, le2t)
            which = {le1: "n_jobs=1", le2: "n_jobs=2", le2t: "n_jobs=2, threads"}[best_si]
            print(f"| vs SI locally_exclusive (its best: {which}), "
                  f"ours 1 thread | {best_si / o1:.1f}× faster | ≥ 3× |")
            print(f"| vs SI locally_exclusive, ours 2 threads | {best_si / o2:.1f}× faster | "
                  f"≥ 3.5× |")
            print(f"| SI method='escope' vs locally_exclusive, n_jobs=1 | {le1 / node:.1f}× "
                  f"faster | ≥ 2× |")
        print()
    growth = {rate: private_growth_mb(path) for rate, path in paths.items()}
    print("| private memory growth over the whole job (fresh process) | MB |")
    print("| --- | ---: |")
    for rate, path in paths.items():
        size = path.with_suffix(".dat").stat().st_size
        print(f"| {rate // 1000} kHz file ({size / 1e9:.2f} GB) | {growth[rate]:.1f} |")


if __name__ == "__main__":
    main()
