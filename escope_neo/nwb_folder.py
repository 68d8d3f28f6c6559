"""Every recording of a data folder to NWB: :func:`write_nwb_folder`.

The recordings run as :func:`escope.detect_folder`'s do (in this process,
on local processes, or on a Dask cluster), each with :func:`write_nwb`. An
NWB file appears whole or not at all, so one that exists is done: a run
that was interrupted skips it when started again (``force=True`` redoes
it). A recording that fails is named with its error and the others go on.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["write_nwb_folder", "NWBFolderResult", "convert_one"]


@dataclass
class NWBFolderResult:
    """What :func:`write_nwb_folder` did: per recording a row with ``path``,
    ``output``, ``status`` (``"ok"``, ``"skipped"``, ``"failed"``), ``error``
    and the Inspector's counts per importance (``inspector``)."""

    output: Path
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]


def convert_one(path: str, out: str, metadata: dict, spikes: bool, k: float, compress: bool,
                require_dandi: bool, timezone: Any, force: bool) -> dict[str, Any]:
    """One recording to `out`; never raises (the row says what went wrong)."""
    from .nwb import write_nwb

    row = {"path": path, "output": out, "status": "ok", "error": "", "inspector": {}}
    if Path(out).exists() and not force:
        row["status"] = "skipped"
        return row
    report: list = []
    try:
        write_nwb(path, out, timezone=timezone, overwrite=True, metadata=metadata,
                  spikes=spikes, k=k, compress=compress, require_dandi=require_dandi,
                  report=report)
    except Exception as exc:  # reported, never stops the other recordings
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, (OSError, ValueError)):
            message = f"{type(exc).__name__}: {message}"
        row.update(status="failed", error=message)
        return row
    row["inspector"] = dict(Counter(m.importance for m in report))
    return row


def write_nwb_folder(paths, output: str | os.PathLike, *, metadata: Any = None,
                     spikes: bool = False, k: float = 5.0, compress: bool = True,
                     require_dandi: bool = False, timezone: Any = None, jobs: int | None = None,
                     scheduler: Any = None, force: bool = False, recursive: bool = False,
                     progress: bool | None = None) -> NWBFolderResult:
    """Convert every recording of `paths` (recordings and folders) into
    ``OUTPUT/NAME.nwb``; see :func:`escope_neo.write_nwb` for the other
    arguments and :mod:`escope.batch` for `jobs` and `scheduler`.

    Raises
    ------
    escope_neo.nwb_metadata.MetadataError
        Before anything is written, for bad metadata.
    NotADirectoryError
        If `output` is a file.
    ValueError
        If there is no recording in `paths`.
    """
    from escope.batch import execute, find_inputs

    from .nwb_metadata import load_metadata

    checked = load_metadata(metadata)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "the output folder is a file", str(out))
    inputs = find_inputs(paths, recursive)
    out.mkdir(parents=True, exist_ok=True)
    stems = Counter(Path(p.split("?", 1)[0]).stem for p in inputs)
    targets = {}
    for p in inputs:
        stem = Path(p.split("?", 1)[0]).stem
        if stems[stem] > 1:  # the same name in two folders: both kept apart
            stem += "-" + hashlib.sha256(p.encode()).hexdigest()[:8]
        targets[p] = str(out / f"{stem}.nwb")
    result = NWBFolderResult(output=out)
    rows: dict[str, dict] = {}
    execute(inputs, _convert, (targets, checked, spikes, k, compress, require_dandi, timezone,
                               force),
            lambda path, row: rows.__setitem__(path, row), jobs=jobs, scheduler=scheduler,
            progress=progress)
    result.rows = [rows[p] for p in inputs]
    return result


def _convert(path: str, targets: dict, *args: Any) -> dict[str, Any]:
    return convert_one(path, targets[path], *args)
