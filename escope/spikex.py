"""Noise estimation and threshold spike detection on arrays.

:func:`rmsnoise` and :func:`detectspikes` are also available as
``escope.rmsnoise`` and ``escope.detectspikes``. They feed the array to the
detection engine (:mod:`escope.engine`) in one block; the engine runs NumPy
for short inputs and Numba kernels (compiled on first use and cached on
disk) for longer ones.

Examples
--------
>>> import numpy as np
>>> from escope.spikex import rmsnoise, detectspikes
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(0, 2.0, 100_000).astype(np.float32)
>>> y[[5000, 20000, 60000]] = [-30, 30, -30]
>>> round(rmsnoise(y), 1)
2.0
>>> detectspikes(y, 5 * rmsnoise(y) + 10)
array([ 5000, 20000, 60000])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import checks
from .engine import NoiseEstimator, SpikeDetector
from .peakx import as_signal

__all__ = ["rmsnoise", "detectspikes", "detectspikes_channels", "cleancontext"]


def _detector(threshold: Any, polarity: Any, tkill: Any, upperthresh: Any) -> SpikeDetector:
    # The checks in detectspikes' order: threshold, polarity, tkill, upperthresh.
    thr = checks.threshold(threshold)
    checks.polarity(polarity)
    checks.tkill(tkill)
    return SpikeDetector(thr, polarity=polarity, tkill=tkill, upperthresh=upperthresh,
                         values=False)


def detectspikes(
    yy: Any,
    threshold: float,
    polarity: int = 0,
    tkill: float | None = 50,
    upperthresh: float | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Detect spikes by threshold crossing.

    For positive spikes ``z = yy``, for negative spikes ``z = -yy``. A Schmitt
    trigger (on at ``z >= threshold``, off at ``z <= 0``, starting low, so an
    event may start at index 0 and one still open at the end closes there)
    finds events; each event's peak is its largest ``z`` (first on ties).
    Peaks of one polarity closer than `tkill` samples are pruned, the lower
    one going first, until none are that close. NaN samples never start, end
    or peak an event.

    Parameters
    ----------
    yy : array_like
        A trace (1-D), or N×T sweeps (2-D) of a triggered recording.
    threshold : float
        Positive detection threshold, in the units of `yy`.
    polarity : {0, 1, -1}
        1: positive spikes only; -1: negative only; 0: both, each pruned on
        its own, then merged in ascending order.
    tkill : float or None
        Minimum distance in samples between peaks of one polarity; None
        skips the pruning.
    upperthresh : float, optional
        Positive; keep only peaks with ``abs(yy[peak]) < upperthresh``
        (rejects artefacts).

    Returns
    -------
    ndarray of int64, or list of them
        Ascending sample indices of the peaks; for 2-D input, one array per
        sweep (events never cross sweeps).

    Raises
    ------
    ValueError
        On a threshold that is not a positive finite number, a polarity not
        in {-1, 0, 1}, a negative `tkill`, an `upperthresh` that is not a
        positive number, data of more than 2 dimensions, or complex or
        non-numeric data.

    See Also
    --------
    escope.engine.SpikeDetector : the same, fed a block at a time.

    Examples
    --------
    >>> detectspikes([0, 1, 6, 2, 0, -7, -1, 0], 5)
    array([2, 5])
    >>> detectspikes([0, 1, 6, 2, 0, -7, -1, 0], 5, polarity=-1)
    array([5])
    """
    x = as_signal(yy, "yy", ndim=(1, 2))
    det = _detector(threshold, polarity, tkill, upperthresh)
    rows = x if x.ndim == 2 else x[None]
    found = []
    for row in rows:
        start = det.n_fed
        found.append(det.feed(row, last=True).indices[0] - start)
    return found if x.ndim == 2 else found[0]


def detectspikes_channels(
    data: Any,
    thresholds: float | Sequence[float],
    polarity: int = 0,
    tkill: float | None = 50,
    upperthresh: float | None = None,
    n_jobs: int | None = None,
) -> list[np.ndarray]:
    """Run :func:`detectspikes` on every channel of a C×T array, in parallel.

    The kernels release the GIL, so one thread per core runs the channels
    concurrently; results equal those of calling :func:`detectspikes` on
    each row.

    Parameters
    ----------
    data : array_like, C×T
        For example ``rec.rawdata()`` (a strided view of the memory map:
        nothing is copied) or a stack of traces in physical units.
    thresholds : float or sequence of float
        One threshold for all channels, or one per channel.
    n_jobs : int, optional
        Threads to use (default: the number of CPU cores).

    Returns
    -------
    list of ndarray of int64
        One array of peak indices per channel.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 100)); x[0, 10] = 9; x[1, 50] = -9
    >>> detectspikes_channels(x, 5)
    [array([10]), array([50])]
    """
    x = as_signal(data, "data", ndim=(2,))
    thr = np.broadcast_to(np.asarray(thresholds, dtype=object), (x.shape[0],))
    detectors = [_detector(t, polarity, tkill, upperthresh) for t in thr]
    workers = max(1, min(n_jobs or os.cpu_count() or 1, x.shape[0]))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda c: detectors[c].feed(x[c], last=True).indices[0],
                             range(x.shape[0])))


def rmsnoise(dat: Any, chunksize: int = 300, percentile: float = 25) -> float:
    """Estimate the RMS noise of a trace, robust to spikes.

    The data is cut into whole chunks of `chunksize` samples (the rest is
    ignored; for N×T sweeps chunks never straddle sweeps) and chunks holding
    NaN or ±inf are skipped. The RMS of each chunk about its own mean is taken, and
    the ``K``-th smallest (``K = int(percentile * N / 100 + 0.5)``, at most
    ``N - 1``) is divided by the value this order statistic has for unit
    Gaussian white noise, computed deterministically. Gaussian noise of any
    standard deviation σ gives σ.

    Parameters
    ----------
    dat : array_like
        A trace (1-D) or N×T sweeps (2-D).
    chunksize : int
        Samples per chunk, at least 2.
    percentile : float
        Which order statistic to use, in [0, 100]; low values ignore
        chunks that hold spikes.

    Returns
    -------
    float
        The noise level, in the units of `dat`.

    Raises
    ------
    ValueError
        On `chunksize` < 2, `percentile` outside [0, 100], fewer samples
        than one chunk (or only NaN chunks), or bad data.

    See Also
    --------
    escope.engine.NoiseEstimator : the same, fed a block at a time.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(0, 3.0, 1_000_000)
    >>> round(rmsnoise(x), 2)
    3.0
    """
    x = as_signal(dat, "dat", ndim=(1, 2))
    chunksize, pct = checks.noise_args(chunksize, percentile)
    length = x.shape[-1]
    if length < chunksize:
        raise ValueError(
            f"need at least one chunk: {length} samples are fewer than chunksize {chunksize}"
        )
    est = NoiseEstimator(1, chunksize, pct)
    for row in (x if x.ndim == 2 else x[None]):
        est.feed(row)
        est.end_segment()
    return est.value()[0]


def cleancontext(
    idx: Any,
    dat: Any,
    test: Sequence[range] = (range(-25, -12), range(12, 25)),
    testabs: Sequence[range] = (range(-25, -4), range(4, 25)),
    thr: float | None = 0.5,
    absthr: float | None = 0.9,
) -> np.ndarray:
    """Keep the spikes whose surroundings are clean (the MEABench filter).

    A spike at ``t`` with height ``h = dat[t]`` is dropped if a sample at an
    offset in `test` goes beyond ``thr * h`` in the spike's own direction,
    or a sample at an offset in `testabs` has ``abs`` above
    ``absthr * abs(h)``. Spikes whose tested offsets would leave the data
    are dropped. ``thr=None`` / ``absthr=None`` skip that test.

    Parameters
    ----------
    idx : array_like of int
        Spike indices, e.g. from :func:`detectspikes`.
    dat : array_like, 1-D
        The trace they were detected on.

    Returns
    -------
    ndarray of int64
        The indices that pass, in their original order.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros(200); y[[50, 120]] = -10; y[130] = -9.5
    >>> cleancontext([50, 120], y)
    array([50])
    """
    x = as_signal(dat, "dat")
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu" and idx.size:
        raise ValueError(f"idx must be integer indices, not {idx.dtype}")
    idx = idx.astype(np.int64).ravel()
    keep = (idx >= 0) & (idx < len(x))
    if not keep.any():
        return idx[keep]
    last = len(x) - 1
    h = x[np.clip(idx, 0, last)].astype(np.float64)
    for ranges, level, directional in ((test, thr, True), (testabs, absthr, False)):
        if level is None:
            continue
        offsets = np.array(sorted({o for r in ranges for o in r}), dtype=np.int64)
        if offsets.size == 0:
            continue
        pos = idx[:, None] + offsets[None, :]
        keep &= ((pos >= 0) & (pos <= last)).all(axis=1)  # context must lie inside the data
        vals = x[np.clip(pos, 0, last)].astype(np.float64)
        if directional:
            direction = np.where(h >= 0, 1.0, -1.0)[:, None]
            bad = (direction * vals > direction * level * h[:, None]).any(axis=1)
        else:
            bad = (np.abs(vals) > level * np.abs(h)[:, None]).any(axis=1)
        keep &= ~bad
    return idx[keep]
