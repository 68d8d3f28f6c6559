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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import checks
from .tables import (
    SPIKE_COLUMNS,
    SUMMARY_COLUMNS,
    analyse_recording,
    concatenate,
    parquet,
    part_is_whole,
    safe_analysis,
    summary_csv,
    typed,
    write_part,
    write_text,
)

__all__ = ["detect_folder", "analyse_recording", "BatchResult", "SPIKE_COLUMNS",
           "SUMMARY_COLUMNS", "execute", "find_inputs"]


@dataclass
class BatchResult:
    """What :func:`detect_folder` did."""

    output: Path
    summary: list[dict[str, Any]] = field(default_factory=list)  #: one row per channel (or failure)
    done: list[str] = field(default_factory=list)  #: recordings analysed in this run
    skipped: list[str] = field(default_factory=list)  #: already done in an earlier run
    failed: list[str] = field(default_factory=list)  #: recordings that could not be analysed


# --------------------------------------------------------------------------- many recordings
def find_inputs(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[str]:
    """The recordings of `paths` (recordings, folders of recordings, URLs),
    each once, as ``NAME.escope`` paths or URLs."""
    from .format import resolve_paths
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
    checks.polarity(polarity)
    k = checks.k(k)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive integer, not {jobs!r}")
    channels = list(channels) if channels is not None else None
    inputs = find_inputs(paths, recursive)
    out = Path(output)
    settings = json.dumps({"k": k, "polarity": polarity, "channels": channels}, sort_keys=True)
    parts = out / f"parts-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "settings.json").write_text(settings + "\n", encoding="utf-8")
    result = BatchResult(output=out)

    todo = []
    for path in inputs:
        name = _part_name(path)
        if not force and part_is_whole(parts / f"{name}.spikes.csv",
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
        write_part(parts / f"{name}.spikes.csv", outcome["spikes"])
        write_part(parts / f"{name}.summary.csv", summary_csv(outcome["summary"]))
        result.done.append(path)

    execute(todo, safe_analysis, (k, polarity, channels), finish, jobs=jobs,
            scheduler=scheduler, progress=progress, connect_timeout=connect_timeout)

    # The combined tables, in the order of the inputs whichever executor ran
    # them, from every part (this run's and earlier ones') and the failures.
    import csv

    spike_parts, summary_text = [], []
    for path in inputs:
        name = _part_name(path)
        if path in failures:
            summary_text.append(summary_csv([failures[path]]))
        elif (parts / f"{name}.summary.csv").is_file():
            spike_parts.append(parts / f"{name}.spikes.csv")
            summary_text.append((parts / f"{name}.summary.csv").read_text(encoding="utf-8"))
    concatenate(out / "spikes.csv", SPIKE_COLUMNS, spike_parts)
    summary = ",".join(SUMMARY_COLUMNS) + "\n" + "".join(summary_text)
    write_text(out / "summary.csv", summary)
    for table in ("spikes.csv", "summary.csv"):
        parquet(out / table)
    result.summary = [typed(r) for r in csv.DictReader(summary.splitlines())]
    return result


def execute(todo: list[str], work, args: tuple, finish, *, jobs: int | None = None,
            scheduler: Any = None, progress: bool | None = None,
            connect_timeout: float = 10.0, what: str = "recordings") -> None:
    """Run ``work(path, *args)`` for every path of `todo` — in this process
    (``jobs=1``), on local processes, or on a Dask cluster (`scheduler`) —
    and call ``finish(path, outcome)`` in this process as each one is done.
    `work` must be a module-level function that never raises (its outcome
    says what went wrong), so that processes and Dask workers can run it."""
    from .progress import progress_bar

    if not todo:
        return
    with progress_bar(len(todo), what, what.rstrip("s"), enabled=progress) as bar:
        def done(path, outcome):
            finish(path, outcome)
            bar.update(1)

        if scheduler is not None:
            client, own = _connect(scheduler, connect_timeout)
            try:
                from distributed import as_completed

                futures = {client.submit(work, p, *args, pure=False): p for p in todo}
                # A client that is not the default one: as_completed must be
                # told which event loop to use.
                for future in as_completed(list(futures), loop=client.loop):
                    done(futures[future], future.result())
            finally:
                if own:
                    client.close()
        elif (jobs or os.cpu_count() or 1) == 1 or len(todo) == 1:
            for p in todo:
                done(p, work(p, *args))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            workers = min(jobs or os.cpu_count() or 1, len(todo))
            with ProcessPoolExecutor(workers) as pool:
                futures = {pool.submit(work, p, *args): p for p in todo}
                for future in as_completed(futures):
                    done(futures[future], future.result())
