"""`convert`: rewrite any recording (old ones above all) as ``escope-3.3``.

Recordings from before 3.0 hold float64 samples and pickled settings;
``escope-3.3`` holds float32 samples and JSON settings. :func:`convert`
carries the samples, layout, scales, run date and settings over, and refuses
to round a sample unless told it may.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .format import read_header, resolve_paths
from .recording import Recording
from .writer import write

__all__ = ["convert", "RoundingError", "default_target"]

#: Samples compared at a time (bounded memory for any file size).
_BLOCK = 1 << 20


class RoundingError(ValueError):
    """Storing the samples as float32 would change some of them."""


def default_target(old: str | os.PathLike) -> Path:
    """Where :func:`convert` writes when no target is given: a folder
    ``escope-3.3`` beside the old recording, under the same name (run dates
    and saved-sweep numbers stay in the names)."""
    escope_path = resolve_paths(old)[0]
    return escope_path.parent / "escope-3.3" / escope_path.stem


def _rounding(rec: Recording) -> tuple[int, float, int]:
    """(samples float32 would change, largest change in raw units, its channel)."""
    raw = rec.rawdata()  # C×T or C×N×S, a view of the map
    if raw.dtype == np.float32:
        return 0, 0.0, 0
    flat = np.moveaxis(raw, 0, -1).reshape(-1, rec.n_channels)  # file order, no copy
    changed, largest, where = 0, 0.0, 0
    step = max(1, _BLOCK // rec.n_channels)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, len(flat), step):
            x = np.asarray(flat[i: i + step], dtype=np.float64)
            diff = np.abs(x.astype(np.float32).astype(np.float64) - x)
            diff[~np.isfinite(x)] = 0.0  # NaN stays NaN, inf stays inf
            # A float64 beyond float32's range becomes inf: an inf change.
            moved = int(np.count_nonzero(diff))
            if moved:
                changed += moved
                per_channel = diff.max(axis=0)
                c = int(np.argmax(per_channel))
                if per_channel[c] > largest:
                    largest, where = float(per_channel[c]), c
    return changed, largest, where


def convert(old: str | os.PathLike, new: str | os.PathLike | None = None, *,
            allow_rounding: bool = False) -> Path:
    """Write recording `old` as an ``escope-3.3`` recording `new`.

    Parameters
    ----------
    old : str or os.PathLike
        Any recording :class:`escope.Recording` opens: ``NAME.escope``,
        ``NAME.txt``, ``NAME.dat`` or ``NAME`` of an EScope 1.x/2.0 file, or
        an older 3.x one.
    new : str or os.PathLike, optional
        ``NAME`` (or ``NAME.escope``) of the new recording, or an existing
        folder to write it into under the old name. Default:
        :func:`default_target`.
    allow_rounding : bool
        ``escope-3.3`` stores float32. Without this, a recording any of whose
        samples float32 cannot hold exactly is refused, and nothing is written.

    Returns
    -------
    pathlib.Path
        The new ``.escope`` file.

    Raises
    ------
    RoundingError
        (a ValueError) saying how many samples would change and the largest
        change, in the channel's units.
    FileExistsError
        If `new` exists (nothing is overwritten), or names the old recording.
    escope.FormatError, FileNotFoundError
        If `old` cannot be opened.

    Notes
    -----
    Written with :func:`escope.write`: crash-safe and exclusive. The old
    settings are carried over as ``config`` (a recording whose settings were
    lost gets the settings :func:`escope.write` makes for a continuous
    capture); the layout (continuous, triggered sweeps with their trigger
    position, saved sweep) is kept.

    Examples
    --------
    >>> import numpy as np, os, tempfile, escope
    >>> folder = tempfile.mkdtemp()
    >>> old = escope.write(os.path.join(folder, "20240101-120000"),
    ...                    np.zeros((1, 100), np.float32), 1000, ["ai0"], ["1 mV"])
    >>> escope.convert(old).relative_to(folder).as_posix()
    'escope-3.3/20240101-120000.escope'
    """
    rec = Recording(old)
    h = rec.header
    target = default_target(h.escope_path) if new is None else Path(os.fspath(new))
    if target.is_dir():
        target = target / h.escope_path.stem
    new_escope, new_dat, _ = resolve_paths(target)
    if new_dat.exists() and os.path.samefile(new_dat, h.dat_path) or (
            new_escope.with_suffix("") == h.escope_path.with_suffix("")):
        raise FileExistsError(17, "the new recording would replace the one being converted "
                                  "(give another name or folder)", str(new_escope))
    changed, largest, c = _rounding(rec)
    if changed and not allow_rounding:
        total = rec.rawdata().size
        raise RoundingError(
            f"{h.escope_path}: escope-3.3 stores float32, which would change {changed} of "
            f"{total} samples (largest change {largest * abs(h.gains[c]):.3g} {h.units[c]} on "
            f"channel {h.channels[c]}); nothing written (allow_rounding=True, or "
            "--allow-rounding, accepts that)")
    config = h.config or None  # settings lost: let write() make a continuous capture's
    sweep_s = h.sweep_s if not h.triggered and h.sweep_s > 0 else None
    path = write(new_escope, rec.rawdata(), h.rate_Hz, list(h.channels), list(h.scale),
                 pretrigger_s=rec.pretrigger_s, sweep_s=sweep_s, rundate=h.rundate,
                 config=config)
    read_header(path)  # what was written opens (and says what it is)
    return path
