"""`write`: save samples as an ``escope-3.3`` recording, atomically."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic
from .format import encode_config, resolve_paths
from .units import parse_channel_scale

__all__ = ["write", "default_config"]

VERSION = "escope-3.3"


def default_config(
    rate_Hz: float, channels: Sequence[str], gains, units, sweep_s: float,
    triggered: bool, pretrigger_s: float, rundate: str,
) -> dict[str, Any]:
    """The settings the acquisition program would have written for such a
    run, so that its own loader (and our reader) find the layout they expect."""
    n = len(channels)
    s_div = sweep_s / 10 if sweep_s > 0 else 1.0
    hw_index = np.full(8, np.nan)
    hw_index[: min(n, 8)] = np.arange(min(n, 8))
    conn_scale = np.ones(8)
    conn_scale[: min(n, 8)] = gains[:8]
    conn_units = list(units[:8]) + ["V"] * (8 - min(n, 8))
    return {
        "VERSION": "escope-3",
        "MAXCHANNELS": 8,
        "hw": {
            "adapter": ["file"],
            "acqrate": {"value": float(rate_Hz)},
            "channels": list(channels),
        },
        "conn": {"hw": hw_index, "scale": conn_scale, "units": conn_units},
        "hori": {
            "s_div": s_div,
            "run": False,
            "runstart": [rundate[:8], rundate[9:]],
            "sweepno": 0,
            "xlim": [0, 10],
        },
        "trig": {
            "enable": bool(triggered),
            "auto": False,
            "count": float("inf"),
            "source": 0,
            "level_div": 0,
            "direction": 1,
            "delay_div": pretrigger_s / s_div,
        },
        "capt_enable": True,
    }


def _positive_number(value: Any, name: str, *, zero_ok: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0 or (
            number == 0 and not zero_ok):
        kind = "a non-negative" if zero_ok else "a positive"
        raise ValueError(f"{name} must be {kind} finite number, not {value!r}")
    return number


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # mkdir says "exists" or "not a directory" when a parent is a file,
        # naming the wrong path; name the file in the way.
        part = folder
        while not part.exists():
            part = part.parent
        raise NotADirectoryError(20, "cannot write a recording under a file "
                                     "(it is not a folder)", str(part)) from None


def _refuse_existing(*paths: Path) -> None:
    for p in paths:
        if os.path.lexists(p):
            raise FileExistsError(17, "recording exists (pass overwrite=True)", str(p))


def write(
    path: str | os.PathLike,
    data: Any,
    rate_Hz: float,
    channels: Sequence[str],
    scale: Sequence[str],
    *,
    pretrigger_s: float = 0.0,
    sweep_s: float | None = None,
    rundate: str | datetime | None = None,
    config: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an ``escope-3.3`` recording (``NAME.escope`` + ``NAME.dat``).

    Parameters
    ----------
    path : str or os.PathLike
        ``NAME`` or ``NAME.escope``.
    data : array_like
        Unscaled samples laid out as :meth:`Recording.rawdata` returns them:
        C×T for a continuous recording, C×N×S for N triggered sweeps of S
        scans. Stored as little-endian float32 (the format of escope-3.3).
    rate_Hz : float
        Sampling rate per channel.
    channels : sequence of str
        Channel names, e.g. ``["ai0", "ai1"]``.
    scale : sequence of str
        One scale string per channel, e.g. ``["1 uV", "0.1 V"]``: the
        physical value of a stored 1.0.
    pretrigger_s : float
        Triggered sweeps only: time before the trigger at the start of each sweep.
    sweep_s : float, optional
        Continuous recordings only: the oscilloscope's sweep length (the
        display), default 0.5 s. Triggered sweeps are as long as the data.
    rundate : str or datetime, optional
        Start of the run (default: now), written as ``YYYYMMDD-HHMMSS``.
    config : dict, optional
        Acquisition settings to embed instead of the generated ones.
    overwrite : bool
        Replace an existing recording of that name. Without it, an existing
        ``.escope`` or ``.dat`` raises :class:`FileExistsError`.

    Returns
    -------
    pathlib.Path
        The path of the ``.escope`` file written.

    Raises
    ------
    ValueError
        On data, names, scales (the unit must be a voltage or a current) or
        numbers that cannot be stored, or a path that names no recording.
    FileExistsError
        If the recording exists (or another writer created it first) and
        `overwrite` is false.
    NotADirectoryError
        If a parent of `path` is a file.

    Notes
    -----
    Writing is exclusive and crash-safe. Both files are written under hidden
    temporary names (``.NAME.dat.<hex>.part``), then a journal
    (``.NAME.escope.commit``) records the renames about to happen, and they
    are made, the sidecar last (when overwriting, the old sidecar is out of
    sight while the samples change). A write killed before the journal
    exists changed nothing; one killed after it is finished by the next
    :class:`escope.Recording` that opens the name, or the next write. So
    opening the name gives the whole old recording or the whole new one,
    never a mix, and an interrupted overwrite never loses the recording.
    Writers of one name take turns (an advisory lock on ``.NAME.escope.lock``),
    so of two writers with ``overwrite=False`` exactly one succeeds; each
    writer first deletes the temporaries a killed writer left behind. Files
    are created with the permissions the umask allows, like any other file.

    Examples
    --------
    >>> import numpy as np, escope
    >>> x = np.zeros((2, 1000), np.float32)
    >>> escope.write("/tmp/demo", x, 10000, ["ai0", "ai1"], ["1 mV", "1 mV"],
    ...              overwrite=True)
    PosixPath('/tmp/demo.escope')
    """
    escope_path, dat_path, _ = resolve_paths(path)
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"data must be real numbers, not {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"data must be C×T (continuous) or C×N×S (sweeps), not {arr.ndim}-D"
        )
    channels = list(channels)
    scale = list(scale)
    if not channels or not all(isinstance(c, str) for c in channels):
        raise ValueError("channels must be a non-empty list of names")
    if len(set(channels)) != len(channels):
        raise ValueError(f"channel names must be unique: {channels}")
    if len(channels) != arr.shape[0] or len(scale) != arr.shape[0]:
        raise ValueError(
            f"data has {arr.shape[0]} channel(s) but {len(channels)} name(s) "
            f"and {len(scale)} scale string(s)"
        )
    parsed = [parse_channel_scale(s) for s in scale]
    rate_Hz = _positive_number(rate_Hz, "rate_Hz")
    triggered = arr.ndim == 3
    n_scans = arr.shape[-1]
    if triggered and n_scans < 1:
        raise ValueError("triggered sweeps must have at least one scan")
    pretrigger_s = _positive_number(pretrigger_s, "pretrigger_s", zero_ok=True)
    if triggered and pretrigger_s * rate_Hz > n_scans:
        raise ValueError(f"pretrigger_s ({pretrigger_s:g} s) is longer than a sweep "
                         f"({n_scans} scans at {rate_Hz:g} Hz)")
    if rundate is None:
        rundate = datetime.now()
    if isinstance(rundate, datetime):
        rundate = rundate.strftime("%Y%m%d-%H%M%S")
    if sweep_s is not None and not triggered:
        display_s = _positive_number(sweep_s, "sweep_s")
    else:
        display_s = 0.5
    sweep_scans = n_scans if triggered else int(round(display_s * rate_Hz))
    sweep_s = sweep_scans / rate_Hz if triggered else display_s
    if not math.isfinite(sweep_s):
        raise ValueError(f"rate_Hz {rate_Hz!r} is too low: a sweep of {sweep_scans} scans "
                         "would last longer than any number of seconds")
    if config is None:
        config = default_config(
            rate_Hz, channels, [g for g, _ in parsed], [u for _, u in parsed],
            sweep_s, triggered, pretrigger_s, rundate,
        )
    elif not isinstance(config, dict):
        raise ValueError("config must be a dict")
    sidecar = {
        "version": VERSION,
        "rundate": rundate,
        "rate_Hz": rate_Hz,
        "channels": channels,
        "scale": scale,
        "sweep_s": sweep_s,
        "sweep_scans": sweep_scans,
        "config": encode_config(config),
    }
    text = json.dumps(sidecar, indent=2, ensure_ascii=False)

    _make_folder(escope_path.parent)
    if not overwrite:
        _refuse_existing(escope_path, dat_path)  # fail early, before writing gigabytes

    # File order is scans interleaved over channels: (T, C) or (N, S, C).
    # A view, converted and made contiguous one block at a time, so that a
    # large array is never copied whole.
    file_order = np.moveaxis(arr, 0, -1)
    sweeps = file_order if triggered else file_order[None]
    step = max(1, (1 << 24) // (4 * arr.shape[0]))

    def write_samples(f):
        for sweep in sweeps:
            for i in range(0, len(sweep), step):
                f.write(np.ascontiguousarray(sweep[i : i + step], dtype="<f4").tobytes())

    with atomic.name_lock(escope_path):
        # A commit a killed writer left half done is finished first (it
        # needs its temporaries), then the other leftovers of dead writers go.
        atomic.recover([dat_path, escope_path], locked=True)
        for final in (dat_path, escope_path, atomic.journal_path(escope_path)):
            atomic.remove_stale_temps(final)
        if not overwrite:
            _refuse_existing(escope_path, dat_path)  # another writer may have been first
        tmp_dat = atomic.write_temp(dat_path, write_samples)
        tmp_escope = None
        try:
            tmp_escope = atomic.write_temp(escope_path, lambda f: f.write(text.encode("utf-8")))
            atomic.replace_together([(tmp_dat, dat_path), (tmp_escope, escope_path)])
        except BaseException:
            # Unless a journal still needs them to finish the commit.
            if not os.path.lexists(atomic.journal_path(escope_path)):
                for tmp in (tmp_dat, tmp_escope):
                    if tmp is not None:
                        atomic.unlink_quietly(tmp)
            raise
    return escope_path
