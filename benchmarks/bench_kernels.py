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
JIT cache warm.

Usage::

    python benchmarks/bench_kernels.py [--repeat 7] [--peer DIR]
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

import escope  # noqa: E402
from benchmarks.machine import describe, median_time  # noqa: E402
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


def fresh_process(repeat: int) -> float | None:
    if not REAL.with_suffix(".escope").is_file():
        return None
    code = FRESH.format(root=str(ROOT), path=str(REAL))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm cache
    wall = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        wall.append(time.perf_counter() - t0)
    return statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--peer", default=None, help=f"peer folder (default ${ENV})")
    args = ap.parse_args()
    peer_path = args.peer or (str(peer_dir()) if peer_dir() else None)
    peer = load_peer(peer_path) if peer_path else None

    x = workload()
    r = args.repeat
    floor = median_time(lambda: np.max(x), r)
    detect = median_time(lambda: escope.detectspikes(x, 5.0), r)
    noise = median_time(lambda: escope.rmsnoise(x), r)
    si_t = median_time(si_detect(x, 5.0), max(3, r // 2))
    rows = [
        ("floor F: np.max(x)", floor, None),
        ("detectspikes(x, 5.0)", detect, "≤ 5 F"),
        ("rmsnoise(x)", noise, "≤ 4 F"),
        ("SpikeInterface detect_peaks, locally_exclusive, n_jobs=1", si_t, None),
    ]
    if peer is not None:
        peer_detect = median_time(lambda: peer.detectspikes(x, 5.0), 3)
        peer_noise = median_time(lambda: peer.rmsnoise(x), 3)
        rows += [("acquisition program: detectspikes", peer_detect, None),
                 ("acquisition program: rmsnoise", peer_noise, None)]
    fresh = fresh_process(5)

    print(f"\n20 000 000 float32 samples, unit noise with ±8 spikes every 500 samples")
    print(f"machine: {describe()}")
    print(f"medians of {r} runs after a warm-up\n")
    print("| what | median | × F |")
    print("| --- | ---: | ---: |")
    for name, t, target in rows:
        extra = f" (target {target})" if target else ""
        print(f"| {name} | {t * 1e3:.1f} ms | {t / floor:.1f}{extra} |")
    print("\n| comparison | ratio | target |")
    print("| --- | ---: | ---: |")
    if peer is not None:
        print(f"| detectspikes vs acquisition program | {peer_detect / detect:.0f}× faster | ≥ 50× |")
        print(f"| rmsnoise vs acquisition program | {peer_noise / noise:.0f}× faster | ≥ 30× |")
    else:
        print(f"| vs acquisition program | not installed (set {ENV}) | |")
    print(f"| detectspikes vs SpikeInterface detect_peaks | {si_t / detect:.1f}× faster | ≥ 2× |")
    if fresh is not None:
        print(f"\nfresh process (import, open real recording, rmsnoise + detectspikes on "
              f"2 channels, JIT cache warm): {fresh:.2f} s wall (target ≤ 0.6 s)")


if __name__ == "__main__":
    main()
