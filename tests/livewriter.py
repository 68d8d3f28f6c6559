"""A writer that behaves like the acquisition program while it captures
(FORMAT.md, "While a capture is running"), for the live tests.

The sidecar is written first and completely; then ``NAME.dat`` is created
and samples are appended in pieces of random size cut anywhere — inside a
scan, inside a sample — at a controlled rate, with pauses. A triggered
capture writes only whole sweeps (in pieces), possibly after a long empty
start. With ``--then`` a new recording starts in the same folder after this
one is closed, as pressing Run again does.

The samples are deterministic (``--seed``): :func:`samples` gives the same
array to the test that checks the result. Run as::

    python tests/livewriter.py FOLDER RUNDATE [--kind triggered] [--seconds 2] ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def samples(kind: str, channels: int, rate: float, seconds: float, sweep_scans: int,
            seed: int) -> np.ndarray:
    """Unscaled float32 samples in file order: (T, C), or (N, S, C) for sweeps;
    unit noise with spikes of both signs (~30 per second per channel), one
    long excursion above zero (an event that stays open across many pieces)
    and a few NaN."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    if kind == "triggered":
        n_sweeps = max(1, n // sweep_scans)
        n = n_sweeps * sweep_scans
    x = rng.standard_normal((n, channels)).astype(np.float32)
    for c in range(channels):
        idx = rng.choice(max(1, n - 3), min(n - 3, int(30 * n / rate)), replace=False)
        x[idx, c] += rng.choice(np.array([-9, 9], np.float32), len(idx))
        x[idx + 1, c] += rng.choice(np.array([-4, 4], np.float32), len(idx))
    if n > 3000:
        x[1000:2500, 0] = np.abs(x[1000:2500, 0]) + 0.5  # a long positive run
        x[1200, 0] = 12.0
    x[rng.integers(0, n, 3), -1] = np.nan
    if kind == "triggered":
        return x.reshape(-1, sweep_scans, channels)
    return x


def sidecar(kind: str, channels: int, rate: float, sweep_scans: int, rundate: str) -> dict:
    from escope.format import encode_config
    from escope.writer import default_config

    names = [f"ai{i}" for i in range(channels)]
    triggered = kind == "triggered"
    sweep_s = sweep_scans / rate
    config = default_config(rate, names, [1.0] * channels, ["uV"] * channels, sweep_s,
                            triggered, 0.1 * sweep_s if triggered else 0.0, rundate)
    return {"version": "escope-3.3", "rundate": rundate, "rate_Hz": rate, "channels": names,
            "scale": ["1 uV"] * channels, "sweep_s": sweep_s, "sweep_scans": sweep_scans,
            "config": encode_config(config)}


def capture(folder: Path, rundate: str, args: argparse.Namespace, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    base = folder / rundate
    side = sidecar(args.kind, args.channels, args.rate, args.sweep_scans, rundate)
    tmp = folder / f".{rundate}.escope.tmp"
    tmp.write_text(json.dumps(side))
    os.replace(tmp, base.with_suffix(".escope"))  # the sidecar appears whole
    time.sleep(args.before_dat)
    data = samples(args.kind, args.channels, args.rate, args.seconds, args.sweep_scans, seed)
    raw = np.ascontiguousarray(data, dtype="<f4").tobytes()
    fd = os.open(base.with_suffix(".dat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        time.sleep(args.empty_start)  # a triggered capture waits for its first trigger
        bytes_per_s = args.rate * args.channels * 4 * args.speed
        i = 0
        while i < len(raw):
            piece = int(rng.integers(1, args.piece_max + 1))
            os.write(fd, raw[i:i + piece])  # may end inside a scan, inside a sample
            i += piece
            time.sleep(piece / bytes_per_s)
            if args.pause and rng.random() < args.pause_chance:
                time.sleep(args.pause)
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("rundate")
    ap.add_argument("--kind", choices=("continuous", "triggered"), default="continuous")
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--rate", type=float, default=20000.0)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--sweep-scans", type=int, default=2000)
    ap.add_argument("--speed", type=float, default=4.0, help="times real time")
    ap.add_argument("--piece-max", type=int, default=9000, help="largest piece in bytes")
    ap.add_argument("--pause", type=float, default=0.0, help="seconds of a pause")
    ap.add_argument("--pause-chance", type=float, default=0.02)
    ap.add_argument("--before-dat", type=float, default=0.1)
    ap.add_argument("--empty-start", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--then", default=None, help="RUNDATE of a recording started after this one")
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    capture(args.folder, args.rundate, args, args.seed)
    if args.then:
        time.sleep(0.3)
        args.seconds = min(args.seconds, 0.5)
        capture(args.folder, args.then, args, args.seed + 100)
    print("done", flush=True)


if __name__ == "__main__":
    main()
