"""Following a capture while it is written: latency, throughput, and the CPU
the live view takes.

1. **Latency** (``escope.follow``, ``poll_s=0.25``): a writer process appends
   8 channels × 30 kHz float32 in pieces of 0.1 s at real speed (as the
   acquisition program does) and logs when each piece was written; the
   follower notes when each spike is handed out. Latency = the time a spike
   was reported minus the time the piece holding its peak was written
   (``time.monotonic`` is one clock for both processes). Target: p99 ≤ poll
   + 50 ms.
2. **Throughput**: a finished 8 × 200 kHz float32 file (the largest EScope
   stream, 6.4 MB/s) of 60 s, followed from its start with thresholds given:
   CPU time of the process per MB read, as a multiple of 6.4 MB/s. Target:
   ≥ 20×.
3. **CPU of** ``escope-analysis watch`` (plain lines, no terminal) following
   an 8 × 30 kHz capture written at real speed for 20 s: its CPU time over
   wall time, from ``/proc/PID/stat``. Target: ≤ 5 % of one core.

Usage::

    python benchmarks/bench_follow.py [--seconds 20] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import escope  # noqa: E402
from benchmarks.machine import describe  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

WRITER = r"""
import json, os, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from tests.livewriter import sidecar
folder, rundate, seconds, log = {folder!r}, {rundate!r}, {seconds!r}, {log!r}
C, rate = 8, 30000.0
rng = np.random.default_rng(0)
x = rng.standard_normal((int(rate * seconds), C)).astype("<f4")
idx = rng.choice(len(x) - 2, int(30 * seconds) * C, replace=False)
x[idx, rng.integers(0, C, len(idx))] += 9
side = sidecar("continuous", C, rate, 15000, rundate)
base = os.path.join(folder, rundate)
with open(base + ".escope.tmp", "w") as f:
    json.dump(side, f)
os.replace(base + ".escope.tmp", base + ".escope")
raw = x.tobytes()
piece = int(0.1 * rate) * C * 4  # about 0.1 s, as the program writes
times = []
fd = os.open(base + ".dat", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.monotonic()
for k, i in enumerate(range(0, len(raw), piece)):
    time.sleep(max(0.0, t0 + k * 0.1 - time.monotonic()))
    os.write(fd, raw[i:i + piece])
    times.append((i + len(raw[i:i + piece]), time.monotonic()))
os.close(fd)
with open(log, "w") as f:
    json.dump(times, f)
print("done", flush=True)
"""


def latency(folder: Path, seconds: float) -> tuple[float, float, int, float, float]:
    folder = folder / "latency"  # alone: a newer recording beside it would end the follow
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.glob("20241202-090000*"):
        p.unlink()
    log = folder / "writes.json"
    code = WRITER.format(root=str(ROOT), folder=str(folder), rundate="20241202-090000",
                         seconds=seconds, log=str(log))
    # A follower started before the capture (as `watch` on a folder is) has
    # loaded numba's kernels already; the cold start is shown apart.
    from escope.live import load_kernels

    t0 = time.perf_counter()
    load_kernels()
    print(f"  (loading the kernels in this process: {time.perf_counter() - t0:.2f} s)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE)
    path = folder / "20241202-090000.escope"
    while not path.exists():
        time.sleep(0.01)
    reported = []
    started = time.monotonic()
    for u in escope.follow(path, threshold=6.0, poll_s=0.25, idle_timeout_s=1.0):
        now = time.monotonic()
        for idx in u.spikes.values():
            reported += [(int(i), now) for i in idx]
    proc.wait(timeout=60)
    writes = json.loads(log.read_text())
    ends = np.array([e for e, _ in writes])
    when = np.array([t for _, t in writes])
    lat, steady = [], []
    for i, t_report in reported:
        # the piece that holds the end of the peak's scan
        k = int(np.searchsorted(ends, (i + 1) * 8 * 4))
        if k < len(when):
            lat.append(t_report - when[k])
            if when[k] >= started + 1.0:  # past the follower's own start-up
                steady.append(t_report - when[k])
    lat, steady = np.array(lat), np.array(steady)
    return (float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), len(lat),
            float(np.percentile(steady, 50)), float(np.percentile(steady, 99)))


def throughput(folder: Path) -> float:
    folder = folder / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "20241202-100000.escope"
    if not path.exists():
        rng = np.random.default_rng(1)
        x = rng.standard_normal((8, 200_000 * 60), dtype=np.float32)
        for c in range(8):  # spikes at ~30 Hz per channel, both signs
            idx = rng.choice(x.shape[1] - 2, 30 * 60, replace=False)
            x[c, idx] += rng.choice(np.array([-9, 9], np.float32), len(idx))
        escope.write(path, x, 200_000, [f"ai{i}" for i in range(8)], ["1 uV"] * 8)
    # warm: kernels compiled and loaded, file in the page cache
    for _ in escope.follow(path, threshold=6.0, poll_s=0.001, idle_timeout_s=0.0):
        pass
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    for _ in escope.follow(path, threshold=6.0, poll_s=0.001, idle_timeout_s=0.0):
        pass
    cpu = time.process_time() - t_cpu
    size = path.with_suffix(".dat").stat().st_size
    print(f"  (followed {size / 1e6:.0f} MB in {time.perf_counter() - t_wall:.2f} s wall, "
          f"{cpu:.2f} s CPU)")
    return size / cpu


def watch_cpu(folder: Path, seconds: float) -> tuple[float, float]:
    sub = folder / "watch"
    sub.mkdir(parents=True, exist_ok=True)
    for p in sub.iterdir():
        p.unlink()
    code = WRITER.format(root=str(ROOT), folder=str(sub), rundate="20241202-110000",
                         seconds=seconds, log=str(folder / "writes-watch.json"))
    # (the folder holds this recording only)
    writer = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE)
    time.sleep(0.2)
    watch = subprocess.Popen([sys.executable, "-m", "escope", "watch", str(sub),
                              "--idle-timeout", "1.5", "--noise-s", "2"], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3.0)  # past start-up (imports, the kernels' first load)
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu_s() -> float:
        fields = Path(f"/proc/{watch.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    c0, t0 = cpu_s(), time.monotonic()
    time.sleep(max(1.0, seconds - 5.0))
    c1, t1 = cpu_s(), time.monotonic()
    watch.communicate(timeout=120)
    writer.wait(timeout=60)
    return (c1 - c0) / (t1 - t0), t1 - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "output" / "follow")
    args = ap.parse_args()
    print(f"machine: {describe()}\n")
    p50, p99, n, s50, s99 = latency(args.dir, args.seconds)
    rate = throughput(args.dir)
    cpu, span = watch_cpu(args.dir, args.seconds)
    print("| what | measured | target |")
    print("| --- | ---: | --- |")
    print(f"| latency, write → spike reported (poll 0.25 s, {n} spikes): p50 / p99 | "
          f"{p50 * 1e3:.0f} / {p99 * 1e3:.0f} ms | p99 ≤ 300 ms (poll + 50 ms) |")
    print(f"| the same, samples written 1 s or more after the follower started: p50 / p99 | "
          f"{s50 * 1e3:.0f} / {s99 * 1e3:.0f} ms | |")
    print(f"| throughput of one core (8 × 200 kHz file followed from its start) | "
          f"{rate / 1e6:.0f} MB/s = {rate / 6.4e6:.0f}× the largest stream | ≥ 20× |")
    print(f"| CPU of `watch` following 8 × 30 kHz live (over {span:.0f} s) | "
          f"{100 * cpu:.1f} % of a core | ≤ 5 % |")


if __name__ == "__main__":
    main()
