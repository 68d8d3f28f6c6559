"""Write EScope recordings of every version and layout, byte by byte, for tests.

`escope.write` only writes the current version (escope-3.3). Old versions
(escope-3 with float64 samples, escope-3.2 with float32) keep their settings
in a separate ``.config`` file; this helper writes those by hand, following
FORMAT.md, so the readers are tested on files they did not write themselves.

Usage::

    from tests.makefiles import make_files
    base = make_files(tmp_path / "rec", raw, version="escope-3",
                      triggered=True, sweep_scans=100, extra_bytes=12)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from escope.format import encode_config


def settings(
    *, triggered: bool = False, rate_Hz: float = 1000.0, s_div: float = 0.01,
    delay_div: float = 0.0, capt_enable: bool = True,
) -> dict[str, Any]:
    """Acquisition settings with the fields the readers look at."""
    return {
        "hw": {"adapter": ["dummy"], "acqrate": {"value": rate_Hz},
               "channels": [f"ai{i}" for i in range(8)]},
        "conn": {"hw": np.array([0.0, 1.0] + [np.nan] * 6), "units": ["mV"] * 8},
        "hori": {"s_div": s_div, "xlim": [0, 10]},
        "trig": {"enable": triggered, "auto": False, "count": float("inf"),
                 "source": 0, "level_div": 0, "direction": 1, "delay_div": delay_div},
        "capt_enable": capt_enable,
    }


def make_files(
    base: str | Path,
    raw: np.ndarray,
    *,
    version: str = "escope-3.3",
    rate_Hz: float = 1000.0,
    channels: list[str] | None = None,
    scale: list[str] | None = None,
    triggered: bool = False,
    sweep_scans: int | None = None,
    delay_div: float = 0.0,
    s_div: float = 0.01,
    extra_bytes: int = 0,
    sidecar_overrides: dict[str, Any] | None = None,
) -> Path:
    """Write ``base.escope``, ``base.dat`` (and ``base.config`` before 3.3).

    Parameters
    ----------
    raw : ndarray
        Unscaled samples in the user's layout: C×T, or C×N×S when triggered.
    version : str
        ``"escope-3"`` (float64, .config), ``"escope-3.2"`` (float32, .config)
        or ``"escope-3.3"`` (float32, embedded config); any other string is
        written as given with float32 samples and embedded config.
    extra_bytes : int
        Bytes of garbage appended to the ``.dat`` (a partial scan/sweep).
    sidecar_overrides : dict
        Keys to replace in the sidecar (a value of ``...`` deletes the key).

    Returns
    -------
    Path
        ``base`` (no extension).
    """
    base = Path(base)
    raw = np.asarray(raw)
    n_ch = raw.shape[0]
    channels = channels if channels is not None else [f"ai{i}" for i in range(n_ch)]
    scale = scale if scale is not None else ["1 mV"] * n_ch
    if sweep_scans is None:
        sweep_scans = raw.shape[-1] if triggered else int(rate_Hz * s_div * 10)
    dtype = "<f8" if version == "escope-3" else "<f4"
    cfg = settings(triggered=triggered, rate_Hz=rate_Hz, s_div=s_div, delay_div=delay_div)
    sidecar: dict[str, Any] = {
        "version": version,
        "rundate": "20241007-123412",
        "rate_Hz": rate_Hz,
        "channels": channels,
        "scale": scale,
        "sweep_s": sweep_scans / rate_Hz,
        "sweep_scans": sweep_scans,
    }
    old = version in ("escope-3", "escope-3.2")
    if old:
        base.with_name(base.name + ".config").write_text(json.dumps(encode_config(cfg), indent=2))
    else:
        sidecar["config"] = encode_config(cfg)
    for key, value in (sidecar_overrides or {}).items():
        if value is ...:
            sidecar.pop(key, None)
        else:
            sidecar[key] = value
    base.with_name(base.name + ".escope").write_text(json.dumps(sidecar, ensure_ascii=False))
    samples = np.moveaxis(raw, 0, -1).astype(dtype)
    with open(base.with_name(base.name + ".dat"), "wb") as f:
        f.write(samples.tobytes())
        f.write(b"\x7f" * extra_bytes)
    return base
