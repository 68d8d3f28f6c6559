"""The tables :func:`escope.detect_folder` writes: ``spikes.csv`` (one row per
spike) and ``summary.csv`` (one row per channel, or per failed recording),
built one recording at a time and written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from .atomic import replace_atomically

__all__ = ["SPIKE_COLUMNS", "SUMMARY_COLUMNS", "SWEEP_COLUMNS", "analyse_recording",
           "safe_analysis", "summary_csv", "write_text", "write_part", "part_is_whole",
           "concatenate", "parquet", "typed", "cell", "write_sweep_stats"]

SPIKE_COLUMNS = ["recording", "channel", "unit", "sweep", "sample", "time_s", "amplitude"]
SUMMARY_COLUMNS = ["recording", "channel", "unit", "noise", "threshold", "n_spikes",
                   "duration_s", "rate_Hz", "status", "error", "path"]
SWEEP_COLUMNS = ["channel", "unit", "sweep", "peak", "latency_s", "mean", "area"]


def cell(value: Any) -> str:
    """One CSV cell: floats exactly (repr), text quoted when it must be."""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def analyse_recording(path: str, k: float = 5.0, polarity: int = 0,
                      channels: Sequence[str] | None = None) -> dict[str, Any]:
    """Noise, threshold and spikes of every channel of one recording.

    Returns ``{"spikes": csv_rows, "summary": [row, ...]}``: the recording's
    rows of ``spikes.csv`` (:data:`SPIKE_COLUMNS`, no header; amplitudes in
    each channel's own unit, times in seconds from the start of the
    recording or sweep) and one summary row (:data:`SUMMARY_COLUMNS`) per
    channel. Raises what :class:`escope.Recording` and
    :meth:`escope.Recording.detectspikes` raise.
    """
    from .recording import Recording

    rec = Recording(path)
    name = Path(rec.filename).stem
    found = rec.detectspikes(k=k, polarity=polarity, channels=channels, n_jobs=1,
                             progress=False)
    lines: list[str] = []
    summary = []
    for c_name, peaks in found.items():
        c = rec.header.channel_index(c_name)
        unit = rec.units[c]
        prefix = ",".join(cell(v) for v in (name, c_name, unit)) + ","
        amplitudes = found.amplitudes[c_name]
        n_spikes = 0
        for n, (idx, values) in enumerate(zip(peaks, amplitudes) if rec.triggered
                                          else [(peaks, amplitudes)]):
            lines += [f"{prefix}{n},{i},{t!r},{a!r}" for i, t, a in
                      zip(idx.tolist(), (idx / rec.rate).tolist(), values.tolist())]
            n_spikes += len(idx)
        summary.append({
            "recording": name, "channel": c_name, "unit": unit,
            "noise": found.noise[c_name], "threshold": found.thresholds[c_name],
            "n_spikes": n_spikes, "duration_s": rec.duration,
            "rate_Hz": n_spikes / rec.duration if rec.duration else 0.0,
            "status": "ok", "error": "", "path": str(path),
        })
    return {"spikes": "".join(line + "\n" for line in lines), "summary": summary}


def safe_analysis(path: str, k: float, polarity: int, channels) -> dict[str, Any]:
    """:func:`analyse_recording`, turning any failure into a summary row."""
    try:
        return analyse_recording(path, k, polarity, channels)
    except Exception as exc:  # reported, never stops the other recordings
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, (OSError, ValueError)):
            message = f"{type(exc).__name__}: {message}"
        row = dict.fromkeys(SUMMARY_COLUMNS, "")
        row.update(recording=Path(path.split("?", 1)[0]).stem, status="failed",
                   error=message, path=str(path))
        return {"spikes": None, "summary": [row]}


# --------------------------------------------------------------------------- tables
def summary_csv(rows: list[dict[str, Any]]) -> str:
    return "".join(",".join(cell(r[c]) for c in SUMMARY_COLUMNS) + "\n" for r in rows)


def write_text(path: Path, text: str) -> None:
    """A table, atomically (it appears whole or not at all)."""
    replace_atomically(path, lambda f: f.write(text.encode("utf-8")))


def write_part(path: Path, text: str) -> None:
    """A part: atomic, but not flushed to disk (one fsync per recording was a
    tenth of the whole job); a part a power cut emptied is caught by
    :func:`part_is_whole` and redone."""
    replace_atomically(path, lambda f: f.write(text.encode("utf-8")), durable=False,
                       lock=False)


def part_is_whole(spikes: Path, summary: Path) -> bool:
    """The summary part parses and its spike counts match the spikes part."""
    import csv

    try:
        rows = list(csv.reader(summary.read_text(encoding="utf-8").splitlines()))
        expected = sum(int(r[SUMMARY_COLUMNS.index("n_spikes")]) for r in rows)
        with open(spikes, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return False
    return bool(rows) and lines == expected


def concatenate(target: Path, header: list[str], sources: list[Path]) -> None:
    """``header`` and then the bytes of every source, into `target`."""
    import shutil

    def body(f):
        f.write((",".join(header) + "\n").encode("utf-8"))
        for src in sources:
            with open(src, "rb") as part:
                shutil.copyfileobj(part, f, 1 << 20)

    replace_atomically(target, body)


def parquet(csv_path: Path) -> None:
    """A Parquet copy of a CSV table, when pyarrow is installed."""
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return
    table = pacsv.read_csv(csv_path)
    replace_atomically(csv_path.with_suffix(".parquet"), lambda f: pq.write_table(table, f))


def typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    for name, kind in (("noise", float), ("threshold", float), ("n_spikes", int),
                       ("duration_s", float), ("rate_Hz", float)):
        if out.get(name, "") != "":
            out[name] = kind(out[name])
    return out




def write_sweep_stats(path: Path, rec: Any, channel: str, window: Any) -> None:
    """``rec.sweep_stats(channel, window)`` as a CSV table
    (:data:`SWEEP_COLUMNS`), written atomically."""
    stats = rec.sweep_stats(channel, window)
    unit = rec.units[rec.header.channel_index(channel)]
    columns = SWEEP_COLUMNS[2:]
    rows = zip(*[list(stats[k]) for k in columns])
    text = ",".join(SWEEP_COLUMNS) + "\n" + "".join(
        ",".join([cell(channel), cell(unit)] + [cell(int(v) if k == "sweep" else float(v))
                                                for k, v in zip(columns, row)]) + "\n"
        for row in rows)
    write_text(path, text)
