"""Reading through Neo and SpikeInterface vs slicing a numpy memory map.

Workload (issue 4): an 8-channel, 100 kHz, 10-minute float32 recording
(1.92 GB, written once to a temporary folder). Every approach (run interleaved,
A B C … per repetition) reads all
samples in 1-second chunks and copies each chunk into an owned array (so
the bytes are really read); the file is in the page cache after a warm-up,
so the figures compare the readers, not the disk. SpikeInterface's own
``read_binary`` on the same ``.dat`` is the fair peer. Also: header parse time.

Usage::

    python benchmarks/bench_neo.py [--minutes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import escope  # noqa: E402
from benchmarks.machine import describe, interleaved, median_time  # noqa: E402
from escope_neo import EScopeRawIO, read_escope  # noqa: E402

RATE, N_CH = 100_000, 8


def make(folder: Path, minutes: float) -> Path:
    path = escope.write(folder / "20241007-123412", np.zeros((N_CH, 1), np.float32), RATE,
                        [f"ai{i}" for i in range(N_CH)], ["1 uV"] * N_CH)
    block = np.random.default_rng(0).normal(size=(RATE, N_CH)).astype("<f4")
    with open(path.with_suffix(".dat"), "wb") as f:
        for _ in range(int(minutes * 60)):
            f.write(block.tobytes())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = make(Path(tmp), args.minutes)
        n = int(args.minutes * 60) * RATE
        chunk = RATE

        mm = np.memmap(path.with_suffix(".dat"), dtype="<f4", mode="r", shape=(n, N_CH))

        def read_memmap():
            for i in range(0, n, chunk):
                np.array(mm[i:i + chunk])

        reader = EScopeRawIO(path)
        reader.parse_header()

        def read_rawio():
            for i in range(0, n, chunk):
                np.array(reader.get_analogsignal_chunk(0, 0, i, min(i + chunk, n), 0))

        rec = read_escope(path)
        from spikeinterface.core import read_binary

        # SpikeInterface's own reader of raw binary files, on the same .dat:
        # the fair peer (it knows nothing of the format).
        binary = read_binary(path.with_suffix(".dat"), sampling_frequency=RATE,
                             dtype="float32", num_channels=N_CH)

        def read_binary_si():
            for i in range(0, n, chunk):
                np.array(binary.get_traces(start_frame=i, end_frame=min(i + chunk, n)))

        def read_si():
            for i in range(0, n, chunk):
                np.array(rec.get_traces(start_frame=i, end_frame=min(i + chunk, n)))

        def read_si_uv():
            for i in range(0, n, chunk):
                rec.get_traces(start_frame=i, end_frame=min(i + chunk, n), return_in_uV=True)

        readers = {
            "numpy memmap slices (reference)": read_memmap,
            "EScopeRawIO.get_analogsignal_chunk": read_rawio,
            "read_escope(...).get_traces()": read_si,
            "SpikeInterface read_binary(.dat).get_traces() (peer)": read_binary_si,
            "read_escope(...).get_traces(return_in_uV=True)": read_si_uv,
        }
        result = interleaved(readers, args.repeat)
        t_mm = result["numpy memmap slices (reference)"][0]

        def parse():
            r = EScopeRawIO(path)
            r.parse_header()

        t_parse = median_time(parse, 20)
        t_si_open = median_time(lambda: read_escope(path), 10)
        size = path.with_suffix(".dat").stat().st_size

    print(f"\nReading all of a {args.minutes:g}-minute, {N_CH}-channel, 100 kHz float32 recording "
          f"({size / 1e9:.2f} GB) in 1 s chunks, file in page cache")
    print(f"machine: {describe()}")
    print(f"medians (min–max) of {args.repeat} interleaved repetitions after a warm-up\n")
    print("| reader | time | min–max | GB/s | speed vs memmap (target ≥ 0.8×) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (t, lo, hi) in result.items():
        print(f"| {name} | {t:.3f} s | {lo:.3f}–{hi:.3f} s | {size / t / 1e9:.2f} | "
              f"{t_mm / t:.2f}× |")
    print(f"\nopening: EScopeRawIO.parse_header {t_parse * 1e3:.2f} ms (target ≤ 20 ms); "
          f"read_escope (header, extractor and probe) {t_si_open * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
