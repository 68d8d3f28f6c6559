"""Noise and spikes of a whole recording: every channel in one pass over the
interleaved file, on every core.

:meth:`escope.Recording.rmsnoise` and :meth:`escope.Recording.detectspikes`
call :func:`recording_rmsnoise` and :func:`recording_detectspikes`. They give
exactly what the per-channel functions give on ``rec.data(c, units)`` —
:func:`escope.rmsnoise` (to rounding of the sums) and
:func:`escope.detectspikes` (the same indices) — without making scaled
copies or reading the file once per channel, because both are the detection
engine (:mod:`escope.engine`) fed the raw file with the channels' gains:

1. **Noise**: the window of each sweep is cut into parts of whole noise
   chunks; each part is fed to a :class:`~escope.engine.NoiseEstimator` on
   a thread, and their chunks are pooled (their order does not matter).
2. **Events**: the window is cut into parts of whole blocks; each part is
   an :class:`~escope.engine.EventStream` on a thread, started as if
   nothing were open. Where an event was still open at the end of a part,
   it is carried into the next part with
   :func:`~escope.engine.continue_event`: it closes at the first closing
   sample, and the part's own events before that sample (which began inside
   the carried event, so closed there too) are dropped. Results therefore
   never depend on the block size or the number of threads.
3. **Pruning**: ``tkill`` (per sweep) and ``upperthresh`` on each
   channel's peaks (:func:`~escope.engine.prune`), on threads too.

Memory is constant apart from one number per noise chunk and channel and
the spikes found.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import checks
from .engine import EventStream, NoiseEstimator, continue_event, prune, use_numpy
from .units import UnitLike

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording

__all__ = ["Spikes", "recording_rmsnoise", "recording_detectspikes", "check_k",
           "resolve_thresholds"]

#: Scans per block of the detection (the unit parts of the file are made of).
DEFAULT_BLOCK_SCANS = 4096
#: Scans per threaded part, 32 MB of an 8-channel float32 file. Each part
#: costs some Python (estimators, hand-off): 2**20 scans measured 6-10 %
#: faster than 2**18 for the whole job on 8 × 30 and 8 × 100 kHz files, and
#: still gives two threads 17 parts of a 10-minute 30 kHz file.
DEFAULT_TASK_SCANS = 1 << 20


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
        Channel name → the unit of thresholds, noise, samples and amplitudes.
    amplitudes : dict
        Channel name → the value of the sample at each spike (float64, in
        `units`), shaped as the indices.
    rate_Hz, sweep_scans, trigger_index, triggered, duration_s
        Of the recording (or epochs) they come from: what turns indices
        into times.
    k, polarity, tkill
        How they were detected (`k` None when thresholds were given).
    """

    thresholds: dict[str, float]
    noise: dict[str, float] | None
    units: dict[str, str]
    amplitudes: dict[str, Any]
    rate_Hz: float
    sweep_scans: int
    trigger_index: int = 0
    triggered: bool = False
    duration_s: float = 0.0
    k: float | None = None
    polarity: int = 0
    tkill: float | None = None

    def counts(self) -> dict[str, int]:
        """Number of spikes per channel (all sweeps together)."""
        return {name: int(sum(len(a) for a in v)) if isinstance(v, list) else len(v)
                for name, v in self.items()}

    def times(self, relative_to: str = "start") -> dict[str, Any]:
        """Spike times in seconds, from the start of the recording or sweep
        (``"start"``), or from the trigger (``"trigger"``: triggered
        captures and epochs; 0 at the trigger, negative before it).

        Examples
        --------
        >>> import os, tempfile, escope
        >>> from escope.synth import make_evoked_recording
        >>> path, _ = make_evoked_recording(os.path.join(tempfile.mkdtemp(), "ev"))
        >>> spikes = escope.Recording(path).detectspikes(k=5, polarity=-1)
        >>> round(float(spikes.times("trigger")["ai0"][0][0]), 3)  # the locked spike
        0.005
        """
        from .spiketrains import times

        return times(self, relative_to)

    def psth(self, bin_s: float, window: Any = None) -> dict[str, Any]:
        """Peri-stimulus time histogram per channel: bin edges (seconds
        from the trigger), counts (all sweeps) and rate (Hz per sweep); see
        :func:`escope.spiketrains.psth`."""
        from .spiketrains import psth

        return psth(self, bin_s, window)

    def waveforms(self, rec: Recording, before_ms: float = 1.0, after_ms: float = 2.0):
        """Cut-outs around each spike, per channel (spikes × samples), in the
        detection's units; spikes too close to an edge of the recording or
        sweep are left out and counted (:class:`escope.spiketrains.Waveforms`)."""
        from .spiketrains import waveforms

        return waveforms(self, rec, before_ms, after_ms)

    def to_neo(self, rec: Recording, lazy: bool = False):
        """A Neo ``Block``: a ``Segment`` per sweep with the signals and a
        ``SpikeTrain`` per channel (Elephant takes them)."""
        from .spiketrains import to_neo

        return to_neo(self, rec, lazy)

    def to_sorting(self, rec: Recording):
        """A SpikeInterface sorting: a unit per channel, a segment per sweep."""
        from .spiketrains import to_sorting

        return to_sorting(self, rec)

    def to_pynapple(self):
        """A pynapple ``TsGroup`` whose ``time_support`` is the sweeps."""
        from .spiketrains import to_pynapple

        return to_pynapple(self)


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

    @property
    def n_samples(self) -> int:
        return self.n_sweeps * (self.hi - self.lo) * len(self.cols)

    def scans(self, a: int, b: int) -> np.ndarray:
        """File scans ``[a, b)`` as a (scans, C) view of the map."""
        return self.xf[a * self.C: b * self.C].reshape(-1, self.C)


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
    window = rec.window(start, stop)
    gains, unit_names = [], []
    for c in cols:
        gains.append(rec.scale_factor(c, units))
        unit_names.append(h.units[c] if units is None else _unit_name(units))
    # The recording's own map, kept between calls: a second pass then finds
    # the file's pages mapped already (no page faults).
    return _Plan(
        xf=np.asarray(rec.samples()).reshape(-1),
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


def _unit_name(units: UnitLike) -> str:
    from .units import normalize

    return normalize(units)


def _parts(plan: _Plan, unit: int, task_scans: int) -> list[list[tuple[int, int, bool]]]:
    """The window of every sweep cut into runs of whole `unit`-scan blocks
    counted from the window's start (so noise chunks are never split),
    grouped into tasks of about `task_scans` scans. A task is a list of
    ``(first scan, end scan, ends its sweep)`` in file scans; only its last
    run may end mid-sweep."""
    per_task = max(1, task_scans // unit) * unit
    tasks: list[list[tuple[int, int, bool]]] = []
    current: list[tuple[int, int, bool]] = []
    room = per_task
    for n in range(plan.n_sweeps):
        a = n * plan.sweep_scans + plan.lo
        end = n * plan.sweep_scans + plan.hi
        while a < end:
            if room <= 0:
                tasks.append(current)
                current, room = [], per_task
            b = min(end, a + room)
            current.append((a, b, b == end))
            room -= -(-(b - a) // unit) * unit  # a sweep's remainder counts as a block
            a = b
    if current:
        tasks.append(current)
    return tasks


def _run(tasks: list, work, n_jobs: int, progress: bool | None, what: str,
         collect=None) -> list:
    """Run ``work(task)`` for every task on `n_jobs` threads: the results
    in order, or, given `collect`, each handed to ``collect(result)`` in
    order as soon as it is there and not kept (so parts are not all held
    at once)."""
    from .progress import progress_bar

    if not tasks:
        return []
    if progress is None:
        progress = len(tasks) > 1 and sys.stderr.isatty()
    kept: list = []
    collect = kept.append if collect is None else collect
    with progress_bar(len(tasks), what, "part", enabled=progress) as bar:
        def one(task):
            result = work(task)
            bar.update(1)
            return result

        if n_jobs == 1 or len(tasks) == 1:
            for t in tasks:
                collect(one(t))
        else:
            with ThreadPoolExecutor(min(n_jobs, len(tasks))) as pool:
                for result in pool.map(one, tasks):
                    collect(result)
    return kept


def _noise(rec: Recording, plan: _Plan, chunksize: int, pct: float, n_jobs: int,
           task_scans: int, progress) -> list[float]:
    if plan.n_sweeps == 0:
        raise ValueError("no whole sweep yet (a triggered capture waiting for its first "
                         "trigger): no noise level can be estimated")
    length = plan.hi - plan.lo
    if length < chunksize:
        raise ValueError(f"need at least one chunk: {length} samples are fewer than chunksize "
                         f"{chunksize}")
    # The chunks of the last noise estimate are kept with the recording (one
    # number per chunk and channel): rmsnoise() followed by
    # detectspikes(k=...) reads the file for the noise only once.
    key = ("noise", tuple(plan.cols), plan.gains.tobytes(), plan.lo, plan.hi, chunksize)
    cache = rec.analysis_cache
    if cache.get("noise", (None,))[0] != key:
        # float32 keeps 7 digits, more than the 1e-6 the noise is promised
        # to, and halves what a long recording holds.
        dtype = np.float64 if use_numpy(plan.n_samples) else np.float32

        proto = NoiseEstimator(len(plan.cols), chunksize, pct, gains=plan.gains,
                               columns=plan.cols, dtype=dtype, names=plan.names,
                               job_samples=plan.n_samples)

        def work(task):
            est = proto.spawn()
            for a, b, ends in task:
                est.feed(plan.scans(a, b))
                if ends:
                    est.end_segment()
            return est

        # Every part's chunks are moved into one store sized for the whole
        # window up front, as each part is done: the variances are never
        # held twice, nor joined from pieces.
        total = proto.spawn()
        total.reserve(plan.n_sweeps * (length // chunksize))
        _run(_parts(plan, chunksize, task_scans), work, n_jobs, progress, "noise",
             collect=total.absorb)
        cache["noise"] = (key, total, {})
    _, total, by_percentile = cache["noise"]
    if pct not in by_percentile:
        by_percentile[pct] = total.value(pct)
    return by_percentile[pct]


def recording_rmsnoise(rec: Recording, channels: Any = None, *, units: UnitLike | None = None,
                       chunksize: int = 300, percentile: float = 25, start: Any = None,
                       stop: Any = None, n_jobs: int | None = None,
                       task_scans: int = DEFAULT_TASK_SCANS,
                       progress: bool | None = None) -> dict[str, float]:
    """See :meth:`escope.Recording.rmsnoise`."""
    chunksize, pct = checks.noise_args(chunksize, percentile)
    plan = _plan(rec, channels, units, start, stop)
    noise = _noise(rec, plan, chunksize, pct, checks.jobs(n_jobs),
                   checks.positive_int(task_scans, "task_scans"), progress)
    return {name: float(v) for name, v in zip(plan.names, noise)}


def check_k(k: Any) -> float:
    """`k` (a threshold in multiples of the noise) as a positive finite float."""
    return checks.k(k)


def resolve_thresholds(threshold: Any, k: Any, names: list[str]) -> list[float] | None:
    """One checked threshold per channel of `names` from what a user gave
    (a number, a sequence in channel order, a dict name → value), or None
    when they are to be `k` × the noise (then `k` is checked)."""
    if threshold is None:
        checks.k(k)
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
    return [checks.threshold(v) for v in values]


@dataclass
class _Part:
    """What one part of the file gave: per channel and sign the peaks and
    values of the events that closed in it, and the events still open at
    its end (when it ends mid-sweep)."""

    runs: list[tuple[int, int, bool]]
    found: list[list[tuple[np.ndarray, np.ndarray]]]
    open: np.ndarray | None  # (K, 2) bool
    ion: np.ndarray | None
    best: np.ndarray | None
    best_value: np.ndarray | None


def recording_detectspikes(rec: Recording, threshold: Any = None, *, k: float = 5.0,
                           channels: Any = None, polarity: int = 0, tkill: float | None = 50,
                           upperthresh: float | None = None, start: Any = None, stop: Any = None,
                           units: UnitLike | None = None, chunksize: int = 300,
                           percentile: float = 25, n_jobs: int | None = None,
                           block_scans: int | None = None, task_scans: int = DEFAULT_TASK_SCANS,
                           progress: bool | None = None) -> Spikes:
    """See :meth:`escope.Recording.detectspikes`."""
    checks.threshold(1.0)
    polarity = checks.polarity(polarity)
    tkill = checks.tkill(tkill)
    upper = checks.upperthresh(upperthresh)
    chunksize, pct = checks.noise_args(chunksize, percentile)
    jobs = checks.jobs(n_jobs)
    task_scans = checks.positive_int(task_scans, "task_scans")
    block = (DEFAULT_BLOCK_SCANS if block_scans is None
             else checks.positive_int(block_scans, "block_scans"))
    plan = _plan(rec, channels, units, start, stop)
    given = resolve_thresholds(threshold, k, plan.names)
    if given is None and plan.n_sweeps == 0:
        # A triggered capture without a sweep yet: no noise, no spikes.
        noise = [math.nan] * len(plan.cols)
        thr = list(noise)
    elif given is None:
        noise = _noise(rec, plan, chunksize, pct, jobs, task_scans, progress)
        thr = [float(k) * v for v in noise]
    else:
        noise = None
        thr = list(given)
    spikes = Spikes()
    spikes.thresholds = {n: float(t) for n, t in zip(plan.names, thr)}
    spikes.noise = None if noise is None else {n: float(v) for n, v in zip(plan.names, noise)}
    spikes.units = dict(zip(plan.names, plan.units))
    spikes.amplitudes = {}
    spikes.rate_Hz, spikes.sweep_scans = rec.rate, rec.n_scans
    spikes.trigger_index, spikes.triggered = rec.trigger_index, rec.triggered
    spikes.duration_s = rec.duration
    spikes.k = None if given is not None else float(k)
    spikes.polarity, spikes.tkill = polarity, tkill
    K = len(plan.cols)
    if plan.n_sweeps == 0:  # no whole sweep yet: an empty list of sweeps per channel
        for name in plan.names:
            spikes[name], spikes.amplitudes[name] = [], []
        return spikes

    proto = EventStream(thr, polarity, gains=plan.gains, columns=plan.cols,
                        job_samples=plan.n_samples)
    proto.prepare(plan.scans(0, 0))  # dtype, width and gain tile: once, for every part
    proto.gain_tile()

    def part(runs) -> _Part:
        stream = proto.spawn(runs[0][0])
        found: list[list[list]] = [[[], []] for _ in range(K)]
        for a, b, ends in runs:
            if stream.position != a:
                stream.seek(a)
            pieces = [stream.feed(plan.scans(a, b))]
            if ends:
                pieces.append(stream.end_segment())
            for piece in pieces:
                for kk in range(K):
                    for s in (0, 1):
                        if len(piece[kk][s][0]):
                            found[kk][s].append(piece[kk][s])
        merged = [[_join(found[kk][s]) for s in (0, 1)] for kk in range(K)]
        if runs[-1][2]:
            return _Part(runs, merged, None, None, None, None)
        return _Part(runs, merged, stream.open.copy(), stream.ion.copy(), stream.best.copy(),
                     stream.best_value.copy())

    parts = _run(_parts(plan, block, task_scans), part, jobs, progress, "spikes")
    _hand_off(parts, plan)
    dtype_scan = plan.sweep_scans

    def channel(kk: int):
        found_i, found_v = [], []
        for s in (0, 1):
            peaks = np.concatenate([p.found[kk][s][0] for p in parts]) if parts else \
                np.empty(0, np.int64)
            values = np.concatenate([p.found[kk][s][1] for p in parts]) if parts else \
                np.empty(0)
            if tkill is not None and len(peaks) > 1:
                # per sweep: chains of close peaks never cross one (peaks
                # are in time order, so each sweep's are one slice)
                heights = values if s == 0 else -values
                edges = (np.searchsorted(peaks, np.arange(1, plan.n_sweeps) * dtype_scan)
                         if plan.n_sweeps > 1 else [])
                keep = []
                for a, b in zip([0, *edges], [*edges, len(peaks)]):
                    if b - a > 1:
                        kept = prune(peaks[a:b], heights[a:b], tkill,
                                     job_samples=plan.n_samples)
                        keep.append(a + np.searchsorted(peaks[a:b], kept))
                    elif b > a:
                        keep.append(np.arange(a, b))
                keep = np.concatenate(keep) if keep else np.empty(0, np.int64)
                peaks, values = peaks[keep], values[keep]
            if upper is not None:
                ok = np.abs(values) < upper
                peaks, values = peaks[ok], values[ok]
            found_i.append(peaks)
            found_v.append(values)
        peaks = np.concatenate(found_i)
        values = np.concatenate(found_v)
        order = np.argsort(peaks, kind="stable")  # two sorted runs: merged
        return _per_sweep(peaks[order], values[order], plan, rec.triggered)

    # The channels' pruning is independent: threads too.
    if jobs == 1 or K == 1:
        per_channel = [channel(kk) for kk in range(K)]
    else:
        with ThreadPoolExecutor(min(jobs, K)) as pool:
            per_channel = list(pool.map(channel, range(K)))
    for name, (idx, amp) in zip(plan.names, per_channel):
        spikes[name] = idx
        spikes.amplitudes[name] = amp
    return spikes


def _join(pieces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not pieces:
        return np.empty(0, np.int64), np.empty(0)
    if len(pieces) == 1:
        return pieces[0]
    return (np.concatenate([p for p, _ in pieces]), np.concatenate([v for _, v in pieces]))


def _hand_off(parts: list[_Part], plan: _Plan) -> None:
    """Carry the events open at the end of each part into the next one (in
    order: a carried event may cross several parts)."""
    for prev, part in zip(parts, parts[1:]):
        if prev.open is None or not prev.open.any():
            continue
        a, b, ends = part.runs[0]
        x = plan.scans(a, b)
        for kk, s in zip(*np.nonzero(prev.open)):
            sign = 1 if s == 0 else -1
            y = np.multiply(x[:, plan.cols[kk]], plan.gains[kk])
            close, best, value = continue_event(y, sign, int(prev.best[kk, s]),
                                                prev.best_value[kk, s], a)
            peaks, values = part.found[kk][s]
            limit = a + close if close is not None else b
            if close is not None or ends:
                # The carried event ends at `limit` (a closing sample, or the
                # end of its sweep); the part's own events before it began
                # inside it and are replaced by it.
                keep = peaks >= limit
                part.found[kk][s] = (np.concatenate([[best], peaks[keep]]).astype(np.int64),
                                     np.concatenate([[float(value)], values[keep]]))
            else:
                # Still open at the end of this part (a single run ending
                # mid-sweep): it replaces whatever the part found.
                part.found[kk][s] = (peaks[:0], values[:0])
                part.open[kk, s] = True
                part.ion[kk, s] = prev.ion[kk, s]
                part.best[kk, s] = best
                part.best_value[kk, s] = value


def _per_sweep(peaks: np.ndarray, values: np.ndarray, plan: _Plan, triggered: bool):
    if not triggered:
        return peaks.astype(np.int64), values
    sweeps = peaks // plan.sweep_scans
    local = peaks - sweeps * plan.sweep_scans
    return ([local[sweeps == n].astype(np.int64) for n in range(plan.n_sweeps)],
            [values[sweeps == n] for n in range(plan.n_sweeps)])
