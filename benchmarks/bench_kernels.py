"""Speed of rmsnoise and detectspikes against the floor and the peers.

Workload (issue 3): 20 000 000 float32 samples of unit Gaussian noise with
±8 spikes every 500 samples, alternating sign. The floor F is ``np.max(x)``
on the same array in the same process: one streaming read. Medians of
several repetitions after a warm-up (JIT compiled and cached).

Peers, measured in the same run:

- the acquisition program's own library (``escope==4.1.2``, installed with
  ``pip install --no-deps --target DIR`` and called as a black box; pass
  ``--peer DIR`` or set ``ESCOPE_PEER_DIR``);
- SpikeInterface's ``detect_peaks(method="locally_exclusive")`` on one
  channel with ``n_jobs=1``.

Also: a fresh process that imports escope, opens the real recording in
../shared/data and runs rmsnoise + detectspikes on both channels, with the
JIT cache warm (short traces run on NumPy); and the same forced onto the
Numba kernels, which is what a process pays when its first analysis is
longer than ``escope.engine.SMALL_INPUT`` samples.

Usage::

    python benchmarks/bench_kernels.py [--repeat 7] [--peer DIR]
                                       [--cpu-name native|haswell|generic|all]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import select_cpu_target  # noqa: E402

if __name__ == "__main__":
    select_cpu_target(sys.argv)  # before numba is imported: NUMBA_CPU_NAME, a cache of its own

import escope  # noqa: E402
from benchmarks.machine import describe, interleaved, target_name  # noqa: E402
from benchmarks.peer import ENV, load_peer, peer_dir  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "20231030-154906"


def workload(n: int = 20_000_000) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    idx = np.arange(250, n, 500)
    x[idx] += np.where(np.arange(len(idx)) % 2, -8, 8).astype(np.float32)
    return x


def si_detect(x: np.ndarray, threshold: float):
    import spikeinterface.core as si
    from spikeinterface.sortingcomponents.peak_detection import detect_peaks

    rec = si.NumpyRecording([x[:, None]], sampling_frequency=20000.0)
    rec.set_channel_locations(np.zeros((1, 2)))
    noise = np.ones(1, dtype=np.float32)  # x is already in units of its noise
    kwargs = dict(method="locally_exclusive", peak_sign="both", detect_threshold=threshold,
                  noise_levels=noise, exclude_sweep_ms=0.1, radius_um=1.0)
    job = dict(n_jobs=1, chunk_duration="10s", progress_bar=False)

    def run():
        try:
            return detect_peaks(rec, method_kwargs=kwargs, job_kwargs=job)
        except TypeError:  # older SpikeInterface: flat keyword arguments
            return detect_peaks(rec, **kwargs, **job)

    return run


FRESH = r"""
import time
t0 = time.perf_counter()
import sys; sys.path.insert(0, {root!r})
import escope
rec = escope.Recording({path!r})
for c in range(rec.n_channels):
    y = rec.data(c, "uV")
    escope.detectspikes(y, 5 * escope.rmsnoise(y))
print(time.perf_counter() - t0)
"""


FRESH_RECORDING = r"""
import time
t0 = time.perf_counter()
import sys; sys.path.insert(0, {root!r})
import escope
rec = escope.Recording({path!r})
rec.detectspikes(k=5, units="uV")
print(time.perf_counter() - t0)
"""


# The same job forced onto the Numba kernels even for this short recording.
FRESH_KERNELS = FRESH.replace("import escope\n", "import escope, escope.engine\n"
                              "escope.engine.SMALL_INPUT = -1\n")


def fresh_process(code: str, repeat: int) -> tuple[float, float, float] | str:
    """Median, min and max wall time of a fresh process, or why it cannot run."""
    if not REAL.with_suffix(".escope").is_file():
        return (f"not measured: the example recording is not at {REAL}.escope "
                "(../shared/data beside the repository)")
    code = code.format(root=str(ROOT), path=str(REAL))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm cache
    wall = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        wall.append(time.perf_counter() - t0)
    return statistics.median(wall), min(wall), max(wall)


def dense_workload(n: int = 20_000_000) -> np.ndarray:
    """Unit noise with a crossing every 20 samples."""
    x = np.random.default_rng(1).standard_normal(n, dtype=np.float32)
    x[::20] += 9
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--peer", default=None, help=f"peer folder (default ${ENV})")
    ap.add_argument("--cpu-name", default="native",
                    help="numba compile target: native, haswell (AVX2, no AVX-512), generic "
                         "(SSE2) or all (each in turn)")
    args = ap.parse_args()
    peer_path = args.peer or (str(peer_dir()) if peer_dir() else None)
    peer = load_peer(peer_path) if peer_path else None

    x = workload()
    dense = dense_workload()
    candidates = {
        "floor F: np.max(x)": (lambda: np.max(x), None),
        "detectspikes(x, 5.0), polarity 0": (lambda: escope.detectspikes(x, 5.0), "≤ 3 F"),
        "detectspikes(x, 5.0, polarity=1)":
            (lambda: escope.detectspikes(x, 5.0, polarity=1), "≤ 2 F"),
        "detectspikes(x, 5.0, polarity=-1)":
            (lambda: escope.detectspikes(x, 5.0, polarity=-1), "≤ 2 F"),
        "detectspikes, a crossing every 20 samples":
            (lambda: escope.detectspikes(dense, 5.0), "≤ 8 F"),
        "rmsnoise(x) (chunksize 300)": (lambda: escope.rmsnoise(x), "≤ 1.5 F"),
        "rmsnoise(x, 30)": (lambda: escope.rmsnoise(x, 30), "≤ 2.5 F"),
        "SpikeInterface detect_peaks, locally_exclusive, n_jobs=1": (si_detect(x, 5.0), None),
    }
    if peer is not None:
        candidates["acquisition program: detectspikes"] = (lambda: peer.detectspikes(x, 5.0), None)
        candidates["acquisition program: rmsnoise"] = (lambda: peer.rmsnoise(x), None)
    result = interleaved({name: fn for name, (fn, _) in candidates.items()}, args.repeat)
    floor = result["floor F: np.max(x)"][0]
    detect = result["detectspikes(x, 5.0), polarity 0"][0]
    noise = result["rmsnoise(x) (chunksize 300)"][0]
    si_t = result["SpikeInterface detect_peaks, locally_exclusive, n_jobs=1"][0]
    if peer is not None:
        peer_detect = result["acquisition program: detectspikes"][0]
        peer_noise = result["acquisition program: rmsnoise"][0]
    fresh = fresh_process(FRESH, 5)
    fresh_rec = fresh_process(FRESH_RECORDING, 5)
    fresh_kernels = fresh_process(FRESH_KERNELS, 5)

    print("\n20 000 000 float32 samples, unit noise with ±8 spikes every 500 samples "
          "(dense: a crossing every 20 samples)")
    print(f"machine: {describe()}; numba target: {target_name()}")
    print(f"medians (min–max) of {args.repeat} interleaved repetitions after a warm-up\n")
    print("| what | median | min–max | × F | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, (_, target) in candidates.items():
        med, lo, hi = result[name]
        print(f"| {name} | {med * 1e3:.1f} ms | {lo * 1e3:.1f}–{hi * 1e3:.1f} ms | "
              f"{med / floor:.1f} | {target or ''} |")
    print("\n| comparison | ratio | target |")
    print("| --- | ---: | ---: |")
    if peer is not None:
        print(f"| detectspikes vs acquisition program | {peer_detect / detect:.0f}× faster | ≥ 50× |")
        print(f"| rmsnoise vs acquisition program | {peer_noise / noise:.0f}× faster | ≥ 30× |")
    else:
        print(f"| vs acquisition program | not installed (set {ENV}) | |")
    print(f"| detectspikes vs SpikeInterface detect_peaks | {si_t / detect:.1f}× faster | ≥ 2× |")
    for what, result in (("per channel: data(c, 'uV'), rmsnoise, detectspikes", fresh),
                         ("rec.detectspikes(k=5, units='uV')", fresh_rec),
                         ("per channel as above, forced onto the Numba kernels (what a "
                          "first analysis of more than 2**20 samples pays)", fresh_kernels)):
        if isinstance(result, str):
            print(f"\nfresh process ({what}): {result}")
        else:
            med, lo, hi = result
            print(f"\nfresh process (import, open the example recording, {what} on 2 channels, "
                  f"JIT cache warm): {med:.2f} s wall ({lo:.2f}–{hi:.2f}; target ≤ 0.6 s)")


if __name__ == "__main__":
    main()
