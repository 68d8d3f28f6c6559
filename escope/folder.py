"""What a data folder holds: :func:`scan`.

EScope writes one recording per capture (``YYYYMMDD-HHMMSS.escope`` with its
``.dat``, saved sweeps as ``…-NNN.escope``); a lab collects hundreds.
:func:`scan` lists them without reading any samples (only sidecars), and
lists broken recordings with their error instead of stopping.

Examples
--------
>>> import os, tempfile
>>> from escope.synth import make_recording
>>> folder = tempfile.mkdtemp()
>>> _ = make_recording(os.path.join(folder, "20241007-123412"), duration_s=1.0)
>>> listing = scan(folder)
>>> [(r.name, r.layout, r.channels, r.rate_Hz, r.error) for r in listing]
[('20241007-123412', 'continuous', ['ai0', 'ai1'], 20000.0, None)]
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from .format import read_header

__all__ = ["RecordingInfo", "Listing", "scan", "find_recordings"]


@dataclass
class RecordingInfo:
    """One recording of a folder, as :func:`scan` found it.

    Fields other than `path`, `name` and `error` are None for a recording
    that could not be read (then `error` says why).
    """

    path: Path  #: the sidecar (``NAME.escope``)
    # (for a recording from before 3.0 whose settings are lost, still
    # NAME.escope: every function given it finds the NAME.txt beside it)
    name: str
    rundate: datetime | None = None
    layout: str | None = None  #: "continuous", "triggered" or "sweep"
    channels: list[str] | None = None
    units: list[str] | None = None
    rate_Hz: float | None = None
    duration_s: float | None = None
    n_sweeps: int | None = None
    n_scans: int | None = None
    size_bytes: int | None = None  #: all files of the recording
    version: str | None = None
    warning: str | None = None  #: e.g. a partial scan that was dropped
    error: str | None = None  #: why the recording cannot be read

    @property
    def ok(self) -> bool:
        return self.error is None


class Listing(list):
    """The :class:`RecordingInfo` records of a folder (a list), sorted by
    run date then name; :meth:`to_frame` makes a pandas DataFrame."""

    def to_frame(self):
        """A :class:`pandas.DataFrame` with one row per recording (needs pandas)."""
        import pandas as pd

        rows = [asdict(r) for r in self]
        columns = [f.name for f in RecordingInfo.__dataclass_fields__.values()]
        return pd.DataFrame(rows, columns=columns)

    @property
    def broken(self) -> list[RecordingInfo]:
        return [r for r in self if not r.ok]


def find_recordings(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Base paths (``NAME``) of the recordings in `folder`: every ``.escope``,
    and every ``.dat`` without one (a recording from before 3.0 that has only
    its ``.txt``, or one that lost its sidecar)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(20, "not a folder", str(folder))
    pattern = "**/*" if recursive else "*"
    names = set()
    for path in folder.glob(pattern):
        if path.suffix.lower() in (".escope", ".dat") and not path.name.startswith("."):
            names.add(path.with_suffix(""))
    return sorted(names)


def _info(base: Path) -> RecordingInfo:
    sidecar = base.with_name(base.name + ".escope")
    info = RecordingInfo(path=sidecar, name=base.name)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = read_header(sidecar)
    except (OSError, ValueError) as exc:
        info.error = str(exc)
        return info
    info.warning = "; ".join(str(w.message) for w in caught) or None
    info.rundate = h.rundate_datetime
    info.layout = h.kind
    info.channels = list(h.channels)
    info.units = list(h.units)
    info.rate_Hz = h.rate_Hz
    info.n_sweeps = h.n_sweeps
    info.n_scans = h.n_scans
    info.duration_s = h.n_sweeps * h.n_scans / h.rate_Hz
    info.version = h.version
    info.size_bytes = sum(p.stat().st_size for p in h.files)
    return info


def scan(folder: str | os.PathLike, recursive: bool = False) -> Listing:
    """List the recordings in `folder` (reads sidecars only, never samples).

    Parameters
    ----------
    folder : str or os.PathLike
    recursive : bool
        Also look in sub-folders.

    Returns
    -------
    Listing
        A list of :class:`RecordingInfo` (path, run date, layout, channels
        and units, rate, duration, sweeps, size, version), sorted by run
        date then name; broken recordings are included with their `error`.
        ``.to_frame()`` gives a pandas DataFrame.

    Raises
    ------
    NotADirectoryError
        If `folder` is not a folder.
    """
    infos = [_info(base) for base in find_recordings(folder, recursive)]
    infos.sort(key=lambda r: (r.rundate is None, r.rundate or datetime.min, r.name, str(r.path)))
    return Listing(infos)
