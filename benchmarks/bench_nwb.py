"""NWB export: file size and write time with each compression, to choose one.

Recordings: the example recording in ../shared/data (EScope's own dummy
source, 2 channels, 20 kHz, float32), and a synthetic 8-channel, 30 kHz,
60 s recording (noise with spikes, ``escope.synth``). Candidates: no
compression, gzip levels 1, 4 and 9 with the byte shuffle, gzip 4 without
it, and LZF (h5py's own: fast, but only HDF5 readers built with h5py open
it). Written interleaved, medians of ``--repeat``.

Usage::

    python benchmarks/bench_nwb.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402

CANDIDATES = {
    "none": None,
    "gzip 1 + shuffle": dict(compression="gzip", compression_opts=1, shuffle=True),
    "gzip 4 + shuffle": dict(compression="gzip", compression_opts=4, shuffle=True),
    "gzip 9 + shuffle": dict(compression="gzip", compression_opts=9, shuffle=True),
    "gzip 4, no shuffle (default)": dict(compression="gzip", compression_opts=4,
                                         shuffle=False),
    "gzip 1, no shuffle": dict(compression="gzip", compression_opts=1, shuffle=False),
    "lzf + shuffle": dict(compression="lzf", shuffle=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import escope_neo.nwb as nwb
    from escope.synth import make_recording

    warnings.simplefilter("ignore")
    folder = Path(tempfile.mkdtemp())
    recs = {}
    real = ROOT.parent / "shared" / "data" / "20231030-154906"
    if real.with_suffix(".escope").is_file():
        recs["example recording (2 ch × 20 kHz × 7 s)"] = real
    synth, _ = make_recording(folder / "synth", duration_s=60.0, rate_Hz=30000.0, n_channels=8)
    recs["synthetic (8 ch × 30 kHz × 60 s)"] = synth
    print(f"machine: {describe()}\n")
    for title, path in recs.items():
        raw = path.with_suffix(".dat").stat().st_size
        sizes, times = {}, {name: [] for name in CANDIDATES}
        for _ in range(args.repeat):
            for name, setting in CANDIDATES.items():
                nwb.COMPRESSION = setting or {}
                out = folder / f"{abs(hash(name))}.nwb"
                t0 = time.perf_counter()
                nwb.write_nwb(path, out, overwrite=True, compress=setting is not None,
                              validate=False, timezone="UTC")
                times[name].append(time.perf_counter() - t0)
                sizes[name] = out.stat().st_size
        print(f"### {title}: samples {raw / 1e6:.2f} MB\n")
        print("| compression | file | samples / file | write time (median, min–max) |")
        print("| --- | ---: | ---: | ---: |")
        for name in CANDIDATES:
            t = times[name]
            print(f"| {name} | {sizes[name] / 1e6:.2f} MB | {raw / sizes[name]:.2f}× | "
                  f"{statistics.median(t):.2f} s ({min(t):.2f}–{max(t):.2f}) |")
        print()


if __name__ == "__main__":
    main()
