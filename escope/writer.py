"""`write`: save samples as an ``escope-3.3`` recording, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._format import encode_config, resolve_paths
from .units import parse_scale

__all__ = ["write"]

VERSION = "escope-3.3"


def _default_config(
    rate_Hz: float, channels: Sequence[str], gains, units, sweep_s: float,
    triggered: bool, pretrigger_s: float, rundate: str,
) -> dict[str, Any]:
    # The settings the acquisition program would have written for such a run,
    # so that its own loader (and our reader) find the layout they expect.
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


def _atomic_write(path: Path, write_body) -> Path:
    """Write to a temporary file beside `path`; return the temporary path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write_body(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def write(
    path: str | os.PathLike,
    data: Any,
    rate_Hz: float,
    channels: Sequence[str],
    scale: Sequence[str],
    *,
    pretrigger_s: float = 0.0,
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

    Notes
    -----
    Both files are written under temporary names and renamed into place,
    the ``.escope`` last, so an interrupted write never leaves something that
    looks like a complete recording.

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
    parsed = [parse_scale(s) for s in scale]
    rate_Hz = float(rate_Hz)
    if not (np.isfinite(rate_Hz) and rate_Hz > 0):
        raise ValueError(f"rate_Hz must be a positive number, not {rate_Hz!r}")
    triggered = arr.ndim == 3
    n_scans = arr.shape[-1]
    if triggered and n_scans < 1:
        raise ValueError("triggered sweeps must have at least one scan")
    if rundate is None:
        rundate = datetime.now()
    if isinstance(rundate, datetime):
        rundate = rundate.strftime("%Y%m%d-%H%M%S")
    sweep_scans = n_scans if triggered else int(round(0.5 * rate_Hz))
    sweep_s = sweep_scans / rate_Hz
    if config is None:
        config = _default_config(
            rate_Hz, channels, [g for g, _ in parsed], [u for _, u in parsed],
            sweep_s, triggered, float(pretrigger_s), rundate,
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

    if not overwrite:
        for p in (escope_path, dat_path):
            if p.exists():
                raise FileExistsError(17, "recording exists (pass overwrite=True)", str(p))
    escope_path.parent.mkdir(parents=True, exist_ok=True)

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

    tmp_dat = _atomic_write(dat_path, write_samples)
    try:
        tmp_escope = _atomic_write(escope_path, lambda f: f.write(text.encode("utf-8")))
    except BaseException:
        os.unlink(tmp_dat)
        raise
    os.replace(tmp_dat, dat_path)
    os.replace(tmp_escope, escope_path)
    return escope_path
