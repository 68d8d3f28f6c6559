"""Spike detection over many recordings: :func:`detect_folder`.

For every recording and channel: the noise level, the threshold and every
spike (time in seconds, sweep for triggered captures, amplitude), written as
one tidy table, ``spikes.csv``, and a per-recording summary, ``summary.csv``
(counts, rates, and the error of any recording that failed). With pyarrow
installed, ``.parquet`` copies of both are written too.

The per-recording work is :meth:`escope.Recording.detectspikes` (so the
results are those of the Python functions), run

- in this process (``jobs=1``),
- on local processes (``jobs=N``, default: all cores), or
- on a Dask cluster (``scheduler="tcp://host:8786"`` or a
  ``distributed.Client``; the ``[dask]`` extra). The workers open the
  recordings themselves, so they need the files: a shared filesystem that
  has the same paths everywhere, or ``http(s)://`` URLs.

Whichever executor runs it, the results are the same. A recording that fails
is reported in the summary with its error and the others still run. Each
recording's results are written atomically into ``OUT/parts-<settings>/`` as
soon as they are done, so a run that was interrupted skips what is done when
started again (``force=True`` redoes it); the combined tables are then
rebuilt, also atomically: an existing output is never half-overwritten.

Examples
--------
>>> import os, tempfile
>>> from escope.synth import make_recording
>>> folder = tempfile.mkdtemp()
>>> _ = make_recording(os.path.join(folder, "20241007-123412"), duration_s=1.0)
>>> result = detect_folder([folder], os.path.join(folder, "out"), jobs=1, progress=False)
>>> result.summary[0]["channel"], result.summary[0]["n_spikes"], result.failed
('ai0', 11, [])
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _atomic

__all__ = ["detect_folder", "analyse_recording", "BatchResult", "SPIKE_COLUMNS",
           "SUMMARY_COLUMNS"]

SPIKE_COLUMNS = ["recording", "channel", "unit", "sweep", "sample", "time_s", "amplitude"]
SUMMARY_COLUMNS = ["recording", "channel", "unit", "noise", "threshold", "n_spikes",
                   "duration_s", "rate_Hz", "status", "error", "path"]


@dataclass
class BatchResult:
    """What :func:`detect_folder` did."""

    output: Path
    summary: list[dict[str, Any]] = field(default_factory=list)  #: one row per channel (or failure)
    done: list[str] = field(default_factory=list)  #: recordings analysed in this run
    skipped: list[str] = field(default_factory=list)  #: already done in an earlier run
    failed: list[str] = field(default_factory=list)  #: recordings that could not be analysed


# --------------------------------------------------------------------------- one recording
def _format(value: Any) -> str:
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
        prefix = ",".join(_format(v) for v in (name, c_name, unit)) + ","
        raw = rec.rawdata(c)
        gain = rec._factor(c)
        n_spikes = 0
        for n, idx in enumerate(peaks if rec.triggered else [peaks]):
            values = ((raw[n] if rec.triggered else raw)[idx] * gain).astype(np.float64)
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


def _safe(path: str, k: float, polarity: int, channels) -> dict[str, Any]:
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
def _summary_csv(rows: list[dict[str, Any]]) -> str:
    return "".join(",".join(_format(r[c]) for c in SUMMARY_COLUMNS) + "\n" for r in rows)


def _write(path: Path, body) -> None:
    """Write a file atomically (temporary file, then rename)."""
    with _atomic.name_lock(path):
        tmp = _atomic.write_temp(path, body)
        os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    _write(path, lambda f: f.write(text.encode("utf-8")))


def _write_part(path: Path, text: str) -> None:
    """A part: atomic, but not flushed to disk (one fsync per recording was a
    tenth of the whole job); a part a power cut emptied is caught by
    :func:`_part_is_whole` and redone."""
    tmp = _atomic.write_temp(path, lambda f: f.write(text.encode("utf-8")), durable=False)
    os.replace(tmp, path)


def _part_is_whole(spikes: Path, summary: Path) -> bool:
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


def _concatenate(target: Path, header: list[str], sources: list[Path]) -> None:
    """``header`` and then the bytes of every source, into `target`."""
    import shutil

    def body(f):
        f.write((",".join(header) + "\n").encode("utf-8"))
        for src in sources:
            with open(src, "rb") as part:
                shutil.copyfileobj(part, f, 1 << 20)

    _write(target, body)


def _parquet(csv_path: Path) -> None:
    """A Parquet copy of a CSV table, when pyarrow is installed."""
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return
    table = pacsv.read_csv(csv_path)
    _write(csv_path.with_suffix(".parquet"), lambda f: pq.write_table(table, f))


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    for name, kind in (("noise", float), ("threshold", float), ("n_spikes", int),
                       ("duration_s", float), ("rate_Hz", float)):
        if out.get(name, "") != "":
            out[name] = kind(out[name])
    return out


# --------------------------------------------------------------------------- many recordings
def _inputs(paths: Iterable[str | os.PathLike], recursive: bool) -> list[str]:
    from ._format import resolve_paths
    from .folder import find_recordings

    paths = list(paths)
    found: list[str] = []
    for p in paths:
        text = os.fspath(p)
        if isinstance(text, str) and text.lower().startswith(("http://", "https://")):
            found.append(text)
        elif Path(text).is_dir():
            found += [str(b.with_name(b.name + ".escope")) for b in find_recordings(text,
                                                                                   recursive)]
        else:
            found.append(str(resolve_paths(text)[0]))
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ValueError(f"no recordings in {', '.join(map(str, paths))}")
    return unique


def _part_name(path: str) -> str:
    stem = Path(path.split("?", 1)[0]).stem
    return f"{stem}.{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def _connect(scheduler: Any, timeout: float):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("a Dask scheduler needs the [dask] extra: "
                         "pip install 'escope-analysis[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(str(scheduler), timeout=timeout, set_as_default=False), True
    except Exception as exc:  # OSError, TimeoutError, ValueError from a bad address
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise OSError(f"could not reach the Dask scheduler at {scheduler}: {message}") from None


def detect_folder(paths: Iterable[str | os.PathLike], output: str | os.PathLike, *,
                  k: float = 5.0, polarity: int = 0, channels: Sequence[str] | None = None,
                  jobs: int | None = None, scheduler: Any = None, force: bool = False,
                  recursive: bool = False, progress: bool | None = None,
                  connect_timeout: float = 10.0) -> BatchResult:
    """Detect spikes in every recording of `paths` and write the tables.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Recordings (any of their files, or URLs) and folders of recordings.
    output : str or os.PathLike
        Folder for ``spikes.csv``, ``summary.csv`` (and ``.parquet`` with
        pyarrow) and the per-recording parts.
    k : float
        Threshold in multiples of each channel's :func:`escope.rmsnoise`.
    polarity : {0, 1, -1}
        As for :func:`escope.detectspikes`.
    channels : sequence of str, optional
        Only these channels (by name) of every recording.
    jobs : int, optional
        Local processes (default: all cores; 1 runs in this process).
    scheduler : str or distributed.Client, optional
        Run on this Dask cluster instead of local processes.
    force : bool
        Redo recordings already done by an earlier run with the same settings.
    recursive : bool
        Also look for recordings in sub-folders of the given folders.
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    connect_timeout : float
        Seconds to wait for the Dask scheduler.

    Returns
    -------
    BatchResult

    Raises
    ------
    ValueError
        If there is no recording in `paths`, or on bad settings.
    OSError
        If the Dask scheduler cannot be reached (naming its address).
    """
    from .analysis import check_k
    from .spikex import _check_detect_args

    _check_detect_args(1.0, polarity, 50)
    k = check_k(k)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive integer, not {jobs!r}")
    channels = list(channels) if channels is not None else None
    inputs = _inputs(paths, recursive)
    out = Path(output)
    settings = json.dumps({"k": k, "polarity": polarity, "channels": channels}, sort_keys=True)
    parts = out / f"parts-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "settings.json").write_text(settings + "\n", encoding="utf-8")
    result = BatchResult(output=out)

    todo = []
    for path in inputs:
        name = _part_name(path)
        if not force and _part_is_whole(parts / f"{name}.spikes.csv",
                                        parts / f"{name}.summary.csv"):
            result.skipped.append(path)
        else:
            todo.append(path)

    failures: dict[str, dict[str, Any]] = {}

    def finish(path: str, outcome: dict[str, Any]) -> None:
        name = _part_name(path)
        if outcome["spikes"] is None:
            failures[path] = outcome["summary"][0]
            result.failed.append(path)
            return
        # spikes first, the summary last: the summary marks a part as done
        _write_part(parts / f"{name}.spikes.csv", outcome["spikes"])
        _write_part(parts / f"{name}.summary.csv", _summary_csv(outcome["summary"]))
        result.done.append(path)

    _execute(todo, finish, k, polarity, channels, jobs, scheduler, progress, connect_timeout)

    # The combined tables, in the order of the inputs whichever executor ran
    # them, from every part (this run's and earlier ones') and the failures.
    import csv

    spike_parts, summary_text = [], []
    for path in inputs:
        name = _part_name(path)
        if path in failures:
            summary_text.append(_summary_csv([failures[path]]))
        elif (parts / f"{name}.summary.csv").is_file():
            spike_parts.append(parts / f"{name}.spikes.csv")
            summary_text.append((parts / f"{name}.summary.csv").read_text(encoding="utf-8"))
    _concatenate(out / "spikes.csv", SPIKE_COLUMNS, spike_parts)
    summary = ",".join(SUMMARY_COLUMNS) + "\n" + "".join(summary_text)
    _write_text(out / "summary.csv", summary)
    for table in ("spikes.csv", "summary.csv"):
        _parquet(out / table)
    result.summary = [_typed(r) for r in csv.DictReader(summary.splitlines())]
    return result


def _execute(todo: list[str], finish, k: float, polarity: int, channels, jobs, scheduler,
             progress, connect_timeout: float) -> None:
    if not todo:
        return
    bar = None
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="recording", file=sys.stderr, leave=False)

    def done(path, outcome):
        finish(path, outcome)
        if bar is not None:
            bar.update(1)

    try:
        if scheduler is not None:
            client, own = _connect(scheduler, connect_timeout)
            try:
                from distributed import as_completed

                futures = {client.submit(_safe, p, k, polarity, channels, pure=False): p
                           for p in todo}
                # A client that is not the default one: as_completed must be
                # told which event loop to use.
                for future in as_completed(list(futures), loop=client.loop):
                    done(futures[future], future.result())
            finally:
                if own:
                    client.close()
        elif (jobs or os.cpu_count() or 1) == 1 or len(todo) == 1:
            for p in todo:
                done(p, _safe(p, k, polarity, channels))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            workers = min(jobs or os.cpu_count() or 1, len(todo))
            with ProcessPoolExecutor(workers) as pool:
                futures = {pool.submit(_safe, p, k, polarity, channels): p for p in todo}
                for future in as_completed(futures):
                    done(futures[future], future.result())
    finally:
        if bar is not None:
            bar.close()
