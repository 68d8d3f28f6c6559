"""Noise and spikes of a whole recording: every channel in one pass over the
interleaved file, on every core.

:meth:`escope.Recording.rmsnoise` and :meth:`escope.Recording.detectspikes`
call :func:`recording_rmsnoise` and :func:`recording_detectspikes`. They give
exactly what the per-channel functions give on ``rec.data(c, units)`` —
:func:`escope.rmsnoise` (to rounding of the sums) and
:func:`escope.detectspikes` (the same indices) — without making scaled
copies or reading the file once per channel:

1. **Block statistics** (one pass): the file is cut into blocks of scans
   (the noise chunks, which never straddle a sweep, plus each sweep's
   remainder). For every block and channel one vectorized pass over the
   interleaved samples gives the chunk RMS and the largest ``|sample|``.
2. **Events** (a second pass, only where needed): a block whose largest
   ``|sample|`` is below a channel's threshold cannot open an event on that
   channel and is skipped; elsewhere the exact Schmitt trigger of
   :func:`escope.detectspikes` runs, its state carried per channel and sign
   from block to block.
3. **Pruning**: ``tkill`` and ``upperthresh`` on each channel's peaks, as
   :func:`escope.detectspikes` does.

Both passes split the blocks into tasks run on threads (the kernels release
the GIL). Block statistics are independent; an event that straddles the
edge between two tasks is handed off exactly: the later task's events are
re-derived from where the earlier task's last event really ended until both
agree. Results therefore never depend on the block size or the number of
threads. Memory is constant apart from a few numbers per block and the
spikes found.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .units import UnitLike

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording

__all__ = ["Spikes", "recording_rmsnoise", "recording_detectspikes"]

#: Scans per block of the detection (its unit of work and of hand-offs).
DEFAULT_BLOCK_SCANS = 4096
#: Scans per threaded task, about 8 MB of an 8-channel float32 file.
DEFAULT_TASK_SCANS = 1 << 18
#: Samples per vectorized row of the block statistics.
_ROW = 64
#: Recordings (the chosen channels and window) of at most this many samples
#: are analysed channel by channel with NumPy (see :mod:`escope._small`):
#: cheaper than a process's first use of the Numba kernels (~0.4 s).
SMALL_RECORDING = 1 << 20


class Spikes(dict):
    """Spikes of each channel: a ``dict`` channel name → peak indices.

    For a continuous recording (or a saved sweep) each value is an int64
    array of sample indices from the start of the recording; for a triggered
    capture, a list with one such array per sweep (indices from the start
    of the sweep). Indices are always counted from the start of the
    recording or sweep, also when a time window was given, so
    ``rec.time()[idx]`` is the time of each spike.

    Attributes
    ----------
    thresholds : dict
        Channel name → the threshold used (in `units`).
    noise : dict or None
        Channel name → :func:`escope.rmsnoise` of the channel, when the
        thresholds were derived from it.
    units : dict
        Channel name → the unit of thresholds, noise and samples.
    """

    thresholds: dict[str, float]
    noise: dict[str, float] | None
    units: dict[str, str]

    def counts(self) -> dict[str, int]:
        """Number of spikes per channel (all sweeps together)."""
        return {name: int(sum(len(a) for a in v)) if isinstance(v, list) else len(v)
                for name, v in self.items()}


@dataclass
class _Plan:
    """Where the samples of the chosen channels and window are."""

    xf: np.ndarray  # the whole file, flat
    C: int  # channels in the file
    cols: np.ndarray  # file columns of the chosen channels
    names: list[str]
    units: list[str]
    gains: np.ndarray  # per chosen channel, in the file's dtype
    sweep_scans: int  # S: scans per sweep in the file (T for continuous)
    n_sweeps: int
    lo: int  # window within each sweep: [lo, hi)
    hi: int


def _plan(rec: Recording, channels: Any, units: UnitLike | None, start: Any, stop: Any) -> _Plan:
    h = rec.header
    if channels is None:
        cols = list(range(h.n_channels))
    else:
        if isinstance(channels, (str, int, np.integer)):
            channels = [channels]
        cols = [h.channel_index(c) for c in channels]
        if len(set(cols)) != len(cols):
            raise ValueError(f"channels are repeated: {list(channels)}")
        if not cols:
            raise ValueError("no channels given")
    window = rec._window(start, stop)
    gains, unit_names = [], []
    for c in cols:
        gains.append(rec._factor(c, units))
        unit_names.append(h.units[c] if units is None else _unit_name(units))
    # The recording's own map, kept between calls: a second pass then finds
    # the file's pages mapped already (no page faults).
    samples = np.moveaxis(rec._memmap(), 0, -1)
    return _Plan(
        xf=np.asarray(samples).reshape(-1),
        C=h.n_channels,
        cols=np.asarray(cols, dtype=np.int64),
        names=[h.channels[c] for c in cols],
        units=unit_names,
        gains=np.asarray(gains, dtype=h.dtype).astype(h.dtype.newbyteorder("=")),
        sweep_scans=h.n_scans,
        n_sweeps=h.n_sweeps,
        lo=window.start,
        hi=window.stop,
    )


def _small(plan: _Plan) -> bool:
    return plan.n_sweeps * (plan.hi - plan.lo) * len(plan.cols) <= SMALL_RECORDING


def _channel(plan: _Plan, k: int) -> np.ndarray:
    """Chosen channel `k` in the window, scaled as ``Recording.data`` scales
    it (in the file's dtype): one row per sweep (one row if continuous)."""
    raw = plan.xf.reshape(plan.n_sweeps, plan.sweep_scans, plan.C)[:, plan.lo:plan.hi,
                                                                  plan.cols[k]]
    return raw * plan.gains[k]


def _unit_name(units: UnitLike) -> str:
    from .units import normalize

    return normalize(units)


def _blocks(plan: _Plan, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start scan, length and sweep end of every block: whole blocks of
    `block` scans from the window start of each sweep, then the remainder."""
    length = plan.hi - plan.lo
    whole, rest = divmod(length, block)
    per_sweep = np.arange(whole, dtype=np.int64) * block
    lens = np.full(whole, block, dtype=np.int64)
    if rest:
        per_sweep = np.append(per_sweep, whole * block)
        lens = np.append(lens, rest)
    sweep0 = np.arange(plan.n_sweeps, dtype=np.int64) * plan.sweep_scans + plan.lo
    bstart = (sweep0[:, None] + per_sweep[None, :]).ravel()
    blen = np.tile(lens, plan.n_sweeps)
    bend = np.repeat(sweep0 + length, len(per_sweep))
    return bstart, blen, bend


def _jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or None, not {n_jobs!r}")
    return int(n_jobs)


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def _tasks(n_blocks: int, task_blocks: int) -> list[tuple[int, int]]:
    return [(i, min(i + task_blocks, n_blocks)) for i in range(0, n_blocks, task_blocks)]


def _run(tasks: list, work, n_jobs: int, progress: bool | None, what: str) -> list:
    """Run ``work(lo, hi)`` for every task on `n_jobs` threads, in order."""
    if not tasks:
        return []
    bar = None
    if progress is None:
        progress = len(tasks) > 1 and sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc=what, unit="block", leave=False, file=sys.stderr)

    def one(task):
        result = work(*task)
        if bar is not None:
            bar.update(1)
        return result

    try:
        if n_jobs == 1 or len(tasks) == 1:
            return [one(t) for t in tasks]
        with ThreadPoolExecutor(min(n_jobs, len(tasks))) as pool:
            return list(pool.map(one, tasks))
    finally:
        if bar is not None:
            bar.close()


def _gain_tile(plan: _Plan) -> np.ndarray:
    """The gain of every file column, repeated over a row of ``q`` scans
    (about 64 samples): the kernels' vectorized unit. All columns are read
    (rows are contiguous); unchosen ones get gain 1 and are ignored."""
    gain_all = np.ones(plan.C, dtype=plan.gains.dtype)
    gain_all[plan.cols] = plan.gains
    return np.tile(gain_all, max(1, _ROW // plan.C))


def _block_rms(plan: _Plan, bstart, blen, full: int, n_jobs: int, task_blocks: int,
               progress) -> np.ndarray:
    """RMS per whole block and chosen channel (NaN where none)."""
    from . import _kernels

    gtile = _gain_tile(plan)
    # float32 keeps 7 digits, more than the 1e-6 the noise is promised to,
    # and halves what a long recording holds (one value per chunk).
    rms = np.empty((len(bstart), plan.C), dtype=np.float32)

    def work(lo, hi):
        _kernels.block_stats(plan.xf, plan.C, gtile, bstart[lo:hi], blen[lo:hi], full,
                             rms[lo:hi])

    _run(_tasks(len(bstart), task_blocks), work, n_jobs, progress, "noise")
    if np.array_equal(plan.cols, np.arange(plan.C)):
        return rms  # no copy in the usual case: all channels
    return rms[:, plan.cols]


def _noise_from_rms(rms: Sequence[np.ndarray], chunksize: int, percentile: float,
                    names) -> np.ndarray:
    """Noise of each channel from the RMS of its chunks (NaN: left out)."""
    from ._noise import gaussian_reference
    from .spikex import _kth_smallest

    out = np.empty(len(rms))
    for k, values in enumerate(rms):
        values = values[~np.isnan(values)]
        n = len(values)
        if n == 0:
            raise ValueError(f"channel {names[k]}: every chunk contains NaN or inf: no noise "
                             "level can be estimated")
        kth = min(int(percentile * n / 100 + 0.5), n - 1)
        out[k] = _kth_smallest(values, kth) / gaussian_reference(chunksize, n, percentile)
    return out


def _noise(rec: Recording, plan: _Plan, chunksize: int, pct: float, n_jobs: int,
           task_scans: int, progress):
    length = plan.hi - plan.lo
    if length < chunksize:
        raise ValueError(f"need at least one chunk: {length} samples are fewer than chunksize "
                         f"{chunksize}")
    # The chunk RMS values of the last noise estimate are kept on the
    # recording (one number per chunk and channel): rmsnoise() followed by
    # detectspikes(k=...) reads the file for the noise only once.
    key = (tuple(plan.cols), plan.gains.tobytes(), plan.lo, plan.hi, chunksize)
    cached = rec._stats_cache
    if cached is None or cached[0] != key:
        if _small(plan):
            from . import _small as numpy_impl

            rms = [np.sqrt(np.concatenate([numpy_impl.chunk_var(row, chunksize)
                                           for row in _channel(plan, k)]))
                   for k in range(len(plan.cols))]
        else:
            bstart, blen, _ = _blocks(plan, chunksize)
            block = _block_rms(plan, bstart, blen, chunksize, n_jobs,
                               max(1, task_scans // chunksize), progress)
            rms = list(block.T)
        cached = rec._stats_cache = (key, rms, {})
    _, rms, by_percentile = cached
    if pct not in by_percentile:
        by_percentile[pct] = _noise_from_rms(rms, chunksize, pct, plan.names)
    return by_percentile[pct]


def recording_rmsnoise(rec: Recording, channels: Any = None, *, units: UnitLike | None = None,
                       chunksize: int = 300, percentile: float = 25, start: Any = None,
                       stop: Any = None, n_jobs: int | None = None,
                       task_scans: int = DEFAULT_TASK_SCANS,
                       progress: bool | None = None) -> dict[str, float]:
    """See :meth:`escope.Recording.rmsnoise`."""
    from .spikex import _check_noise_args

    pct = _check_noise_args(chunksize, percentile)
    plan = _plan(rec, channels, units, start, stop)
    noise = _noise(rec, plan, int(chunksize), pct, _jobs(n_jobs),
                      _positive_int(task_scans, "task_scans"), progress)
    return {name: float(v) for name, v in zip(plan.names, noise)}


def check_k(k: Any) -> float:
    """`k` (a threshold in multiples of the noise) as a positive finite float."""
    value = float(k) if isinstance(k, numbers.Real) and not isinstance(k, bool) else math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"k must be a positive finite number, not {k!r}")
    return value


def _thresholds(threshold: Any, k: Any, names: list[str]) -> list[float] | None:
    from .spikex import _check_detect_args

    if threshold is None:
        check_k(k)
        return None
    if isinstance(threshold, Mapping):
        missing = [n for n in names if n not in threshold]
        if missing:
            raise ValueError(f"threshold has no value for channel(s) {missing}")
        values = [threshold[n] for n in names]
    elif isinstance(threshold, (str, bytes)) or not isinstance(threshold, (Sequence, np.ndarray)):
        values = [threshold] * len(names)
    else:
        values = list(np.asarray(threshold, dtype=object).ravel())
        if len(values) != len(names):
            raise ValueError(f"threshold has {len(values)} value(s) for {len(names)} "
                             f"channel(s) {names}")
    return [_check_detect_args(v, 1, None) for v in values]


def _merge(parts: list[np.ndarray], tasks: list[tuple[int, int]], bstart: np.ndarray,
           rescan) -> np.ndarray:
    """Join the events of consecutive tasks for one channel and sign.

    Each task ran as if nothing were open at its first block. Where the
    previous task's last event really ended past that point, the task's
    events are re-derived block by block (``rescan(block, pos)`` returns
    the block's events and the new position) from where it ended, until
    both runs are free to open from the same block boundary: from there on
    they agree, so the task's own events are kept.
    """
    merged = [parts[0]]
    pos = _next_pos(parts[0])
    for part, (lo, hi) in zip(parts[1:], tasks[1:]):
        first = int(bstart[lo])
        if pos is None or pos <= first:
            merged.append(part)
            pos = _next_pos(part, pos)
            continue
        for b in range(lo, hi):
            boundary = int(bstart[b])
            own = _next_pos(part[part[:, 0] < boundary], first)
            if max(own, boundary) == max(pos, boundary):
                rest = part[part[:, 0] >= boundary]
                merged.append(rest)
                pos = _next_pos(rest, pos)
                break
            events, pos = rescan(b, pos)
            merged.append(events)
    return np.concatenate(merged)


def _next_pos(events: np.ndarray, default: int | None = None) -> int | None:
    """Where an event may open after the last of `events` (rows ion, ioff,
    peak, sweep end): past the closing sample, which cannot open one."""
    if not len(events):
        return default
    _, ioff, _, end = events[-1]
    return int(ioff + 1 if ioff < end else ioff)


def recording_detectspikes(rec: Recording, threshold: Any = None, *, k: float = 5.0,
                           channels: Any = None, polarity: int = 0, tkill: float | None = 50,
                           upperthresh: float | None = None, start: Any = None, stop: Any = None,
                           units: UnitLike | None = None, chunksize: int = 300,
                           percentile: float = 25, n_jobs: int | None = None,
                           block_scans: int | None = None, task_scans: int = DEFAULT_TASK_SCANS,
                           progress: bool | None = None) -> Spikes:
    """See :meth:`escope.Recording.detectspikes`."""
    from .spikex import _check_detect_args, _check_noise_args, _check_upperthresh

    _check_detect_args(1.0, polarity, tkill)
    upper = _check_upperthresh(upperthresh)
    pct = _check_noise_args(chunksize, percentile)
    jobs = _jobs(n_jobs)
    task_scans = _positive_int(task_scans, "task_scans")
    plan = _plan(rec, channels, units, start, stop)
    given = _thresholds(threshold, k, plan.names)
    if given is None:
        noise = _noise(rec, plan, int(chunksize), pct, jobs, task_scans, progress)
        thr = float(k) * noise
    else:
        noise = None
        thr = np.asarray(given)
    spikes = Spikes()
    spikes.thresholds = {n: float(t) for n, t in zip(plan.names, thr)}
    spikes.noise = None if noise is None else {n: float(v) for n, v in zip(plan.names, noise)}
    spikes.units = dict(zip(plan.names, plan.units))
    if _small(plan):
        from .spikex import _detect_1d

        for kk, name in enumerate(plan.names):
            found = [_detect_1d(row, float(thr[kk]), polarity, tkill, upper) + plan.lo
                     for row in _channel(plan, kk)]
            spikes[name] = found if rec.triggered else found[0]
        return spikes
    from . import _kernels

    # Detection needs no candidate pre-selection: its row test already runs
    # near memory speed, and skipping blocks breaks the hardware's prefetch.
    size = DEFAULT_BLOCK_SCANS if block_scans is None else _positive_int(block_scans,
                                                                         "block_scans")
    bstart, blen, bend = _blocks(plan, size)
    K = len(plan.cols)
    tasks = _tasks(len(bstart), max(1, task_scans // size))
    gtile = _gain_tile(plan)

    def detect(lo, hi, pos=None, polarity_=polarity, ks=None):
        cols = plan.cols if ks is None else plan.cols[ks]
        th = thr if ks is None else thr[ks]
        if pos is None:
            first = bstart[lo] if hi > lo else 0
            pos = np.full((len(cols), 2), first, dtype=np.int64)
        ev = _kernels.detect_blocks(plan.xf, plan.C, cols, gtile, th, polarity_,
                                    bstart[lo:hi], blen[lo:hi], bend[lo:hi], pos)
        return ev, pos

    def rows(ev: np.ndarray) -> np.ndarray:
        # (ion, ioff, peak, end of its sweep)
        return np.column_stack([ev[:, 2], ev[:, 3], ev[:, 4], _sweep_end(ev[:, 2], plan)])

    def task(lo, hi):
        # The task's events, split by channel and sign (each in time order):
        # done in the worker, so that it runs on every core too.
        ev = detect(lo, hi)[0]
        key = ev[:, 0] * 2 + ev[:, 1]
        order = np.argsort(key, kind="stable")
        bounds = np.cumsum(np.bincount(key, minlength=2 * K))[:-1]
        return np.split(rows(ev[order]), bounds)

    groups = _run(tasks, task, jobs, progress, "spikes")
    signs = (0, 1) if polarity == 0 else ((0,) if polarity == 1 else (1,))

    def channel(kk: int):
        found = []
        for s in signs:
            sign = 1 if s == 0 else -1
            parts = [g[2 * kk + s] for g in groups]

            def rescan(b, pos, s=s, sign=sign):
                p = np.full((1, 2), pos, dtype=np.int64)
                ev, p = detect(b, b + 1, pos=p, polarity_=sign, ks=np.array([kk]))
                return rows(ev), int(p[0, s])

            peaks = _merge(parts, tasks, bstart, rescan)[:, 2] if parts else np.empty(0, np.int64)
            if tkill is not None and len(peaks) > 1:
                peaks = _tkill_per_sweep(peaks, plan, kk, sign, float(tkill))
            found.append(peaks)
        # Two sorted runs: a stable sort merges them in linear time.
        peaks = found[0] if len(found) == 1 else np.sort(np.concatenate(found), kind="stable")
        if upper is not None and len(peaks):
            peaks = peaks[np.abs(_values(plan, kk, peaks)) < upper]
        return _per_sweep(peaks, plan, rec.triggered)

    # The channels' hand-offs and pruning are independent: threads too.
    if jobs == 1 or K == 1:
        per_channel = [channel(kk) for kk in range(K)]
    else:
        with ThreadPoolExecutor(min(jobs, K)) as pool:
            per_channel = list(pool.map(channel, range(K)))
    for name, value in zip(plan.names, per_channel):
        spikes[name] = value
    return spikes


def _values(plan: _Plan, kk: int, scans: np.ndarray) -> np.ndarray:
    """Scaled samples of chosen channel `kk` at file scans `scans`, as float64
    (scaled in the file's dtype first, as ``Recording.data`` does)."""
    raw = plan.xf[scans * plan.C + plan.cols[kk]]
    return (raw * plan.gains[kk]).astype(np.float64)


def _sweep_end(ion: np.ndarray, plan: _Plan) -> np.ndarray:
    sweep = ion // plan.sweep_scans
    return sweep * plan.sweep_scans + plan.hi


def _tkill_per_sweep(peaks: np.ndarray, plan: _Plan, kk: int, sign: int,
                     window: float) -> np.ndarray:
    from . import _kernels

    sweeps = peaks // plan.sweep_scans
    out = []
    for n in np.unique(sweeps):
        p = peaks[sweeps == n]
        if len(p) > 1:
            p = _kernels.tkill(p, sign * _values(plan, kk, p), window)
        out.append(p)
    return np.concatenate(out) if out else peaks


def _per_sweep(peaks: np.ndarray, plan: _Plan, triggered: bool):
    if not triggered:
        return peaks.astype(np.int64)
    sweeps = peaks // plan.sweep_scans
    local = peaks - sweeps * plan.sweep_scans
    return [local[sweeps == n].astype(np.int64) for n in range(plan.n_sweeps)]
