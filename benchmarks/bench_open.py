"""Open time and peak memory on a large recording: ours vs the acquisition program's loader.

Creates a recording of SIZE GB (a sparse .dat: it costs no disk) and, in fresh
processes so that nothing is cached in Python, measures for each library:

- open: constructing ``Recording(path)``;
- open + window: opening and reading 1 s of one channel in physical units;
- peak memory: growth of the process's maximum resident set during the step.

Usage::

    python benchmarks/bench_open.py [--gb 2] [--repeat 5] [--peer DIR]

The peer is the acquisition program's own library (``escope==4.1.2`` on the
package index), installed with ``pip install --no-deps --target DIR`` and
called as a black box (see benchmarks/peer.py); without it only our figures
are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.peer import ENV, peer_dir  # noqa: E402

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
which, path, window = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if which == "ours":
    import escope as lib
else:
    from benchmarks.peer import load_peer
    lib = load_peer({peer!r})
import numpy as np
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
rec = lib.Recording(path)
if window:
    if which == "ours":
        y = rec.data(3, "uV", start=60.0, stop=61.0)
    else:
        y = rec.data(3)[0][6000000:6100000] * 1000
    float(np.asarray(y).sum())
dt = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"s": dt, "mb": (rss1 - rss0) / 1024}}))
"""


def make(folder: Path, gb: float) -> Path:
    import numpy as np

    import escope

    rate, n_ch = 100_000.0, 8
    path = escope.write(folder / "20241007-123412", np.zeros((n_ch, 1), np.float32), rate,
                        [f"ai{i}" for i in range(n_ch)], ["1 mV"] * n_ch, overwrite=True)
    scans = int(gb * 1e9) // (n_ch * 4)
    with open(path.with_suffix(".dat"), "r+b") as f:
        f.truncate(scans * n_ch * 4)
    return path


def run(which: str, path: Path, window: bool, peer: str | None) -> dict:
    code = CHILD.format(root=str(ROOT), peer=peer)
    out = subprocess.run([sys.executable, "-c", code, which, str(path), "1" if window else "0"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer", default=None, help=f"peer folder (default ${ENV})")
    args = ap.parse_args()
    peer = args.peer or (str(peer_dir()) if peer_dir() else None)

    with tempfile.TemporaryDirectory() as tmp:
        path = make(Path(tmp), args.gb)
        size = os.path.getsize(path.with_suffix(".dat"))
        rows = []
        for step, window in (("open", False), ("open + 1 s window", True)):
            result = {}
            for which in ("ours", "peer") if peer else ("ours",):
                runs = [run(which, path, window, peer) for _ in range(args.repeat)]
                result[which] = (statistics.median(r["s"] for r in runs),
                                 statistics.median(r["mb"] for r in runs))
            rows.append((step, result))

    print(f"\nOpening a {size / 1e9:.2f} GB recording (8 channels, 100 kHz, float32, sparse file)")
    print(f"machine: {describe()}")
    print(f"medians of {args.repeat} fresh processes each\n")
    print("| step | ours: time | ours: peak memory | peer: time | peer: peak memory "
          "| faster | less memory |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for step, r in rows:
        ot, om = r["ours"]
        # ru_maxrss moves in pages; below 0.1 MB we only know an upper bound.
        ours_mb = f"{om:.1f} MB" if om >= 0.1 else "< 0.1 MB"
        if "peer" in r:
            pt, pm = r["peer"]
            ratio = f"{pm / om:.0f}×" if om >= 0.1 else f"> {pm / 0.1:.0f}×"
            print(f"| {step} | {ot * 1e3:.2f} ms | {ours_mb} | {pt * 1e3:.0f} ms | {pm:.0f} MB "
                  f"| {pt / ot:.0f}× | {ratio} |")
        else:
            print(f"| {step} | {ot * 1e3:.2f} ms | {ours_mb} | – | – | – | – |")
    if not peer:
        print(f"\n(peer not installed: set {ENV} or pass --peer to compare)")


if __name__ == "__main__":
    main()
