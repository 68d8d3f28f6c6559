"""The module layout of the acquisition program's library: ``escope.loader``.

Scripts written for the library that ships with the EScope acquisition
program start with ``from escope.loader import Recording``; they run
unchanged on this package. Everything here is a thin alias of the modules
that do the work:

- :class:`Recording` is :class:`escope.Recording`;
- :class:`Units` is :class:`escope.units.Units`;
- :func:`load` returns the raw samples and the sidecar's settings;
- :func:`plot` draws all channels of such data in one figure.

Examples
--------
>>> import os, tempfile
>>> from escope.synth import make_recording
>>> from escope.loader import load
>>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
>>> data, info = load(path)
>>> data.shape, info["rate_Hz"], info["channels"]
((2, 20000), 20000.0, ['ai0', 'ai1'])
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .recording import Recording
from .units import Units, parse_scale

__all__ = ["Recording", "Units", "load", "plot"]


def load(fn: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Load a recording's raw samples and its settings.

    Parameters
    ----------
    fn : str or os.PathLike
        ``NAME.escope`` (or ``NAME``, ``NAME.dat``, an ``http(s)://`` URL).

    Returns
    -------
    data : numpy.ndarray
        The unscaled samples, C×T (continuous, saved sweep) or C×N×T
        (triggered sweeps): a read-only view of the memory-mapped file.
    info : dict
        The sidecar's keys (``version``, ``rundate``, ``rate_Hz``,
        ``channels``, ``scale``, ``sweep_s``, ``sweep_scans``) and
        ``config``, the acquisition settings (from the sidecar or the
        ``.config`` file), decoded into dicts and numpy arrays.
    """
    rec = Recording(fn)
    info = dict(rec.header.sidecar)
    info["config"] = rec.header.config
    return rec.rawdata(), info


def plot(data: np.ndarray, info: dict[str, Any]) -> None:
    """Plot data from :func:`load`: all channels in one figure, in physical
    units, sweeps of a triggered capture concatenated.

    Like the acquisition program's function it returns nothing (a returned
    figure would be drawn twice in a notebook): show the figure with
    ``plt.show()`` or save it with ``plt.savefig("name.png")``.
    """
    import matplotlib.pyplot as plt

    from .report import display_unit

    arr = np.asarray(data)
    if arr.ndim not in (2, 3):
        raise ValueError(f"data must be C×T or C×N×T, not {arr.ndim}-D")
    rate = float(info["rate_Hz"])
    _, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    for c, (name, scale) in enumerate(zip(info["channels"], info["scale"])):
        gain, unit = parse_scale(scale)
        y = arr[c].reshape(-1) * gain
        ax.plot(np.arange(len(y)) / rate, y, lw=0.6, label=f"{name} ({display_unit(unit)})")
    ax.set_xlabel("Time (s)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(str(info.get("rundate", "")), fontsize=10)
