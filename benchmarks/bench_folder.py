"""A folder of recordings: the spikes command's overhead and its scaling.

Workload (issue 11): 40 recordings of 2 to 8 channels, 20 kHz, 1 to 3
minutes each, float32 unit noise with spikes (about 10 per second per
channel), written once into ``--dir`` (default
``benchmarks/output/folder``) and reused; about 2 GB in all.

Measured, interleaved per repetition (A B C … A B C …), page cache warm:

- the sum of the per-recording analysis times: ``analyse_recording`` (open,
  noise, spikes and their table rows) called on every recording in turn, in
  this process: what the command must add as little as possible to;
- ``detect_folder(jobs=1)``: the whole job in this process, writing every
  output (parts, spikes.csv, summary.csv);
- ``detect_folder(jobs=2)``: two local processes;
- ``detect_folder(scheduler=client)``: a Dask ``LocalCluster`` of 2 worker
  processes on 127.0.0.1 (started once, outside the timing);
- control: ``np.max`` over every ``.dat``, on 1 and on 2 threads (are two
  cores free for this kind of work?).

Also, once: the command line ``python -m escope spikes DIR -o OUT --jobs 1``
in a fresh process (interpreter start and imports included).

Usage::

    python benchmarks/bench_folder.py [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import escope  # noqa: E402
from benchmarks.machine import describe, interleaved  # noqa: E402
from escope.batch import analyse_recording, detect_folder  # noqa: E402

N_RECORDINGS = 40
RATE = 20_000


def make(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    paths = []
    for i in range(N_RECORDINGS):
        path = folder / f"20241007-{10 + i // 60:02d}{i % 60:02d}00.escope"
        paths.append(path)
        if path.is_file():
            continue
        n_ch = 2 + i % 7
        n = RATE * 60 * (1 + i % 3)
        x = rng.standard_normal((n_ch, n), dtype=np.float32)
        for c in range(n_ch):
            idx = rng.choice(n - 1, n // (RATE // 10), replace=False)
            x[c, idx] += rng.choice(np.array([-9, 9], np.float32), len(idx))
        escope.write(path, x, RATE, [f"ai{c}" for c in range(n_ch)], ["1 uV"] * n_ch,
                     overwrite=True)
    return paths


def np_max_all(paths: list[Path], threads: int) -> None:
    maps = [np.memmap(p.with_suffix(".dat"), dtype="<f4", mode="r") for p in paths]
    if threads == 1:
        for m in maps:
            np.max(m)
        return
    halves = [maps[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=lambda ms: [np.max(m) for m in ms], args=(h,))
               for h in halves]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "output" / "folder")
    args = ap.parse_args()

    paths = make(args.dir)
    size = sum(p.with_suffix(".dat").stat().st_size for p in paths)
    out = Path(tempfile.mkdtemp(prefix="bench-folder-"))
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        candidates = {
            "sum of per-recording analyses (analyse_recording, in turn)":
                lambda: [analyse_recording(str(p)) for p in paths],
            "detect_folder, jobs=1 (whole job, all outputs)":
                lambda: detect_folder([args.dir], out / "j1", jobs=1, force=True,
                                      progress=False),
            "detect_folder, jobs=2 (local processes)":
                lambda: detect_folder([args.dir], out / "j2", jobs=2, force=True,
                                      progress=False),
            "detect_folder, Dask LocalCluster, 2 workers":
                lambda: detect_folder([args.dir], out / "dask", scheduler=client, force=True,
                                      progress=False),
            "control: np.max over every .dat, 1 thread": lambda: np_max_all(paths, 1),
            "control: np.max over every .dat, 2 threads": lambda: np_max_all(paths, 2),
        }
        result = interleaved(candidates, args.repeat)
    finally:
        client.close()
        cluster.close()
    same = all((out / "j1" / t).read_bytes() == (out / d / t).read_bytes()
               for d in ("j2", "dask") for t in ("spikes.csv", "summary.csv"))

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "escope", "spikes", str(args.dir), "-o",
                    str(out / "cli"), "--jobs", "1", "--force"], check=True,
                   capture_output=True, cwd=ROOT)
    cli = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)

    print(f"machine: {describe()}")
    print(f"{N_RECORDINGS} recordings, 2–8 channels, {RATE // 1000} kHz, 1–3 min each "
          f"({size / 1e9:.2f} GB of samples), page cache warm")
    print(f"medians (min–max) of {args.repeat} interleaved repetitions after a warm-up\n")
    print("| candidate | median | min–max |")
    print("| --- | ---: | ---: |")
    for name, (med, lo, hi) in result.items():
        print(f"| {name} | {med:.2f} s | {lo:.2f}–{hi:.2f} s |")
    base = result["sum of per-recording analyses (analyse_recording, in turn)"][0]
    j1 = result["detect_folder, jobs=1 (whole job, all outputs)"][0]
    j2 = result["detect_folder, jobs=2 (local processes)"][0]
    dk = result["detect_folder, Dask LocalCluster, 2 workers"][0]
    c1 = result["control: np.max over every .dat, 1 thread"][0]
    c2 = result["control: np.max over every .dat, 2 threads"][0]
    print("\n| check | measured | target |")
    print("| --- | ---: | --- |")
    print(f"| overhead of the whole job (jobs=1) over the sum of analyses | "
          f"{(j1 / base - 1) * 100:+.1f} % | ≤ 15 % |")
    print(f"| the command line in a fresh process (jobs=1, once) over the sum | "
          f"{(cli / base - 1) * 100:+.1f} % ({cli:.2f} s) | |")
    print(f"| control: 2 threads vs 1 (are two cores free?) | {c1 / c2:.2f}× | ~1.7× |")
    print(f"| jobs=2 vs jobs=1 | {j1 / j2:.2f}× | ≥ 1.7× where the control allows |")
    print(f"| Dask LocalCluster (2 workers) vs jobs=1 | {j1 / dk:.2f}× | |")
    print(f"| identical spikes.csv and summary.csv from every executor | {same} | yes |")


if __name__ == "__main__":
    main()
