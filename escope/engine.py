"""The detection engine: one streaming spike detector and one streaming noise
estimator, which every analysis in the project uses.

:func:`escope.detectspikes` and :func:`escope.rmsnoise` on arrays,
:meth:`escope.Recording.detectspikes` and :meth:`escope.Recording.rmsnoise`
(whose threads run parts of the file as streams), the folder functions and
the SpikeInterface peak detector all feed samples to the classes here, a
block at a time or all at once. The rules live here once:

- **Events** (:class:`EventStream`): for each channel and sign a Schmitt
  trigger on ``sign * y``, on at ``>= threshold``, off at ``<= 0`` (the
  closing sample cannot open the next event; NaN neither opens nor closes);
  each event's peak is its largest ``sign * y``, the first on ties. An event
  still open at the end of a block stays open until a later block closes it,
  or until :meth:`EventStream.end_segment` (the end of a trace or a sweep).
- **Pruning** (:func:`prune`): peaks of one sign closer than ``tkill``
  samples, the lower going first, in repeated passes. Peaks that are close
  form chains; a chain is final once no later peak can come close to its
  last one, so a stream prunes it then, and the result is the same as on the
  whole trace.
- **Rejection and order**: peaks with ``abs(y) >= upperthresh`` are dropped;
  both signs are merged in time order, and a peak is only handed out once
  no earlier one can still appear.
- **Noise** (:class:`NoiseEstimator`): the variance of every whole chunk
  (chunks never straddle a segment; chunks holding NaN or ±inf are left
  out), then one order statistic scaled by its value for Gaussian noise.

Short inputs run on NumPy (:mod:`escope.kernels.small`), longer ones on the
Numba kernels (:mod:`escope.kernels`): :func:`use_numpy` decides, with one
threshold, :data:`SMALL_INPUT`. Both give the same spike indices and the same
noise to rounding; the tests run every property test on both by setting
``SMALL_INPUT``.

Examples
--------
>>> import numpy as np
>>> from escope.engine import SpikeDetector
>>> x = np.zeros((1000, 2), np.float32)
>>> x[100, 0], x[700, 1] = 9, -9
>>> det = SpikeDetector([5.0, 5.0])
>>> first = det.feed(x[:650])        # spikes no later sample can change
>>> first.indices[0].tolist(), first.indices[1].tolist()
([100], [])
>>> rest = det.feed(x[650:], last=True)   # the end of the trace
>>> rest.indices[1].tolist(), rest.values[1].tolist()
([700], [-9.0])
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import checks
from ._noise import gaussian_reference, noise_rank
from .peakx import as_signal

__all__ = ["SMALL_INPUT", "use_numpy", "SpikeDetector", "NoiseEstimator", "StreamSpikes",
           "EventStream", "prune", "continue_event", "kth_smallest", "candidate_bounds"]

#: Inputs of at most this many samples are analysed with NumPy instead of the
#: Numba kernels: a process pays about 0.4 s the first time it runs a
#: kernel, more than NumPy takes for them. The one switch of the project
#: (the tests set it to run everything on either implementation).
SMALL_INPUT = 1 << 20


def use_numpy(n_samples: int) -> bool:
    """True if `n_samples` samples are analysed with NumPy (see :data:`SMALL_INPUT`)."""
    return n_samples <= SMALL_INPUT


def candidate_bounds(dtype: np.dtype, thr: float) -> tuple[Any, Any]:
    """``(hi, lo)`` in `dtype` (float64 for 64-bit integers, whose
    comparisons with a float threshold go through float64) such that
    ``x >= thr`` implies ``x >= hi`` and ``x <= -thr`` implies ``x <= lo``:
    a cheap first test in the samples' own type that never misses."""
    if dtype.kind == "f":
        hi = dtype.type(thr)
        while hi > thr:  # round down: may let through more, never fewer
            hi = np.nextafter(hi, dtype.type(-np.inf))
        return hi, -hi
    if dtype.itemsize == 8:
        return np.float64(thr), np.float64(-thr)
    info = np.iinfo(dtype)
    top = math.ceil(thr)  # exact: these integers are exact in float64
    return dtype.type(min(top, info.max)), dtype.type(max(-top, info.min))


def map_pages(x: np.ndarray) -> None:
    """Take the page faults of block `x` (scans × columns) before a kernel
    reads it, if it is a view of a memory map: see
    :func:`escope.kernels.common.touch`. For the kernels only (it loads
    numba)."""
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0 or not _mapped(x):
        return
    from .kernels.common import FAULT_AROUND, touch

    touch(x[:, 0], max(1, FAULT_AROUND // max(1, abs(x.strides[0]))))


def _mapped(x: np.ndarray) -> bool:
    """Whether `x` is a view of a memory map (whose pages may not be mapped
    yet): in memory, touching would only cost (~0.1 ms per 80 MB)."""
    b: Any = x
    for _ in range(32):  # a chain of views, bounded
        if isinstance(b, (np.memmap, mmap.mmap)):
            return True
        b = b.obj if isinstance(b, memoryview) else getattr(b, "base", None)
        if b is None:
            return False
    return False


def kth_smallest(values: np.ndarray, k: int) -> float:
    """The `k`-th smallest (0-based) of `values` (no NaN): NumPy for a few,
    the kernel's sampled bracket for many (a full partition is slow)."""
    if use_numpy(16 * len(values)):
        return float(np.partition(values, k)[k])
    from .kernels.noise import kth_smallest as kernel

    return float(kernel(values, k))


def _window(tkill: float | None) -> int | None:
    # Gaps are integers: ``gap < tkill`` is ``gap < ceil(tkill)``.
    return None if tkill is None else int(min(math.ceil(tkill), 2**62))


def prune(peaks: np.ndarray, heights: np.ndarray, tkill: float | None, *,
          job_samples: int | None = None) -> np.ndarray:
    """``tkill`` on the peaks of one sign (ascending, with positive heights
    ``sign * y``): the peaks that survive. NumPy or the kernel by the size of
    the job (default: the number of peaks)."""
    if tkill is None or len(peaks) < 2:
        return peaks
    if use_numpy(len(peaks) if job_samples is None else job_samples):
        from .kernels.small import tkill as small_tkill

        return small_tkill(peaks, heights, tkill)
    from .kernels.prune import tkill as kernel

    return kernel(peaks, heights, float(tkill))


def continue_event(y: np.ndarray, sign: int, best: int, best_value: Any,
                   position: int) -> tuple[int | None, int, Any]:
    """Carry an open event over the samples `y` (one channel, scaled; the
    first is sample `position` of the stream).

    Returns ``(close, best, best_value)``: the index in `y` of the sample
    that closes the event (``sign * y <= 0``), or None if it stays open, and
    its peak so far (the first of the largest ``sign * y``; NaN never).
    """
    n = len(y)
    start, step = 0, 64  # most events close within a few samples
    while start < n:
        stop = min(n, start + step)
        seg = y[start:stop]
        closing = np.flatnonzero(seg <= 0 if sign > 0 else seg >= 0)
        end = start + int(closing[0]) if len(closing) else stop
        part = y[start:end]
        if len(part):
            with np.errstate(invalid="ignore"):
                top = (np.fmax if sign > 0 else np.fmin).reduce(part)  # NaN skipped
            if top == top and (top > best_value if sign > 0 else top < best_value):
                best = position + start + int(np.flatnonzero(part == top)[0])
                best_value = top
        if len(closing):
            return end, best, best_value
        start, step = stop, min(8 * step, 1 << 22)
    return None, best, best_value


class StreamSpikes:
    """Spikes handed out by :class:`SpikeDetector`: per channel, ascending
    int64 sample indices (``indices[c]``) and the peak values (``values[c]``,
    float64, in the units of the samples times their gains; None from a
    detector made with ``values=False`` where they were not needed)."""

    __slots__ = ("_indices", "_values", "_flat", "_n")

    def __init__(self, indices: list[np.ndarray] | None, values: list[np.ndarray] | None,
                 flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 n_channels: int | None = None) -> None:
        self._indices = indices
        self._values = values
        self._flat = flat
        self._n = len(indices) if indices is not None else n_channels

    @property
    def indices(self) -> list[np.ndarray]:
        if self._indices is None:
            self._split()
        return self._indices

    @property
    def values(self) -> list[np.ndarray] | None:
        if self._indices is None:
            self._split()
        return self._values

    def _split(self) -> None:
        # Per channel from the flat form, when asked for (a SpikeInterface
        # chunk only needs the flat one).
        sample, channel, value = self._flat
        order = np.argsort(channel, kind="stable")
        bounds = np.cumsum(np.bincount(channel, minlength=self._n))[:-1]
        self._indices = np.split(sample[order], bounds)
        self._values = np.split(value[order], bounds)

    def __len__(self) -> int:
        if self._indices is None:
            return len(self._flat[0])
        return sum(len(i) for i in self._indices)

    def __iter__(self):
        values = self.values
        return iter(zip(self.indices, values or [None] * len(self.indices)))

    def __repr__(self) -> str:
        return f"<StreamSpikes {[len(i) for i in self.indices]}>"

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sample, channel, value)`` of every spike, ordered by sample
        then channel."""
        if self._flat is None:
            indices, values = self._indices, self._values
            sample = np.concatenate(indices) if indices else np.empty(0, np.int64)
            channel = np.concatenate([np.full(len(i), c, np.int64)
                                      for c, i in enumerate(indices)]) if indices \
                else np.empty(0, np.int64)
            value = (np.concatenate(values) if values
                     else np.full(len(sample), np.nan))
            order = np.lexsort((channel, sample))
            self._flat = (sample[order], channel[order], value[order])
        return self._flat

    @classmethod
    def empty(cls, n_channels: int) -> "StreamSpikes":
        return cls([np.empty(0, np.int64) for _ in range(n_channels)],
                   [np.empty(0) for _ in range(n_channels)])


# --------------------------------------------------------------------------- events
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0, np.float64)


def _join(parts: list[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of (peaks, values) in time order, as one pair of arrays."""
    if not parts:
        return _EMPTY_I, _EMPTY_F
    if len(parts) == 1:
        return (np.asarray(parts[0][0], np.int64), np.asarray(parts[0][1], np.float64))
    return (np.concatenate([p for p, _ in parts]).astype(np.int64, copy=False),
            np.concatenate([v for _, v in parts]).astype(np.float64, copy=False))


class EventStream:
    """The Schmitt events of every channel and sign of a stream of blocks.

    The lower layer of :class:`SpikeDetector` (no pruning, no rejection):
    :meth:`feed` returns, per channel and sign, the peaks (stream indices)
    and values of the events that closed in the block; an event still open
    stays open. :meth:`end_segment` closes the open ones where the stream
    stands (the end of a trace or sweep) and :meth:`seek` moves to another
    part of a file. :class:`escope.Recording` runs parts of a file as such
    streams on several threads and hands open events from one part to the
    next with :func:`continue_event`.

    Parameters
    ----------
    thresholds : sequence of float
        One per channel, positive, in the units of ``block * gains``.
    polarity : {0, 1, -1}
    gains : sequence of float, optional
        Per channel: blocks hold raw samples, multiplied in their own dtype
        (as :meth:`escope.Recording.data` scales them). Float blocks only.
    columns : sequence of int, optional
        Which columns of each block are the channels (default: all).
    start : int
        Stream index of the first sample to be fed.
    job_samples : int, optional
        The size of the whole job in samples, which decides NumPy or Numba
        (:func:`use_numpy`); default: each block's own size.
    """

    def __init__(self, thresholds: Sequence[float], polarity: int = 0, *,
                 gains: Sequence[float] | None = None, columns: Sequence[int] | None = None,
                 start: int = 0, job_samples: int | None = None) -> None:
        self.job_samples = job_samples
        self.thresholds = np.array([checks.threshold(t) for t in thresholds], dtype=np.float64)
        self.polarity = checks.polarity(polarity)
        K = len(self.thresholds)
        if K == 0:
            raise ValueError("no channels: give one threshold per channel")
        self.columns = (np.arange(K, dtype=np.int64) if columns is None
                        else np.asarray(columns, dtype=np.int64))
        if self.columns.shape != (K,) or (K and self.columns.min() < 0):
            raise ValueError(f"columns must be {K} non-negative column indices, not {columns!r}")
        self.gains = None if gains is None else np.asarray(gains, dtype=np.float64)
        if self.gains is not None and self.gains.shape != (K,):
            raise ValueError(f"gains must hold one number per channel ({K}), not {gains!r}")
        self.position = int(start)
        self.pos = np.full((K, 2), self.position, dtype=np.int64)
        self.open = np.zeros((K, 2), dtype=bool)
        self.ion = np.zeros((K, 2), dtype=np.int64)
        self.best = np.zeros((K, 2), dtype=np.int64)
        self.best_value: np.ndarray | None = None
        self.dtype: np.dtype | None = None
        self.width: int | None = None
        self._tile: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        return len(self.thresholds)

    def spawn(self, start: int = 0) -> "EventStream":
        """A new stream with the same settings (checked once), at `start`:
        the parts of one file run on several threads are such streams."""
        other = object.__new__(EventStream)
        other.__dict__.update(self.__dict__)
        other.position = int(start)
        K = self.n_channels
        other.pos = np.full((K, 2), other.position, dtype=np.int64)
        other.open = np.zeros((K, 2), dtype=bool)
        other.ion = np.zeros((K, 2), dtype=np.int64)
        other.best = np.zeros((K, 2), dtype=np.int64)
        if self.best_value is not None:
            other.best_value = np.zeros_like(self.best_value)
        return other

    def signs(self) -> tuple[int, ...]:
        """The signs looked for (0: positive, 1: negative): `polarity`, and
        never negative spikes in unsigned samples (none is ``<= -thr < 0``)."""
        pos = self.polarity >= 0
        neg = self.polarity <= 0 and (self.dtype is None or self.dtype.kind != "u")
        return tuple(s for s, on in ((0, pos), (1, neg)) if on)

    def fresh(self) -> bool:
        """True if no event is open (a new segment may start)."""
        return not self.open.any()

    # -------------------------------------------------------------- blocks
    def prepare(self, block: Any) -> np.ndarray:
        """`block` as a 2-D (scans, columns) array of the stream's dtype."""
        x = as_signal(block, "block", ndim=(1, 2))
        if x.ndim == 1:
            x = x[:, None]
        if self.width is None:
            if x.shape[1] <= self.columns.max():
                raise ValueError(f"a block of {x.shape[1]} column(s) holds no column "
                                 f"{int(self.columns.max())}")
            if self.gains is not None and x.dtype.kind != "f":
                raise ValueError(f"gains scale float samples, not {x.dtype}")
            self.width, self.dtype = x.shape[1], x.dtype
            self.best_value = np.zeros((self.n_channels, 2), dtype=x.dtype)
        elif x.shape[1] != self.width:
            raise ValueError(f"a block of {x.shape[1]} column(s) in a stream of {self.width}")
        elif x.dtype != self.dtype:
            raise ValueError(f"a block of {x.dtype} in a stream of {self.dtype}")
        return x

    def column(self, x: np.ndarray, k: int) -> np.ndarray:
        """Channel `k` of block `x`, scaled as the stream scales it."""
        y = x[:, self.columns[k]]
        if self.gains is None:
            return y
        return np.multiply(y, self.dtype.type(self.gains[k]))

    def path(self, x: np.ndarray) -> str:
        """Which implementation runs on block `x`: ``"numpy"``, ``"trace"``
        (the 1-D kernel, per channel: any dtype, any strides) or ``"blocks"``
        (the interleaved kernel: float samples in one contiguous array)."""
        if self.small(len(x)):
            return "numpy"
        if x.dtype.kind == "f" and x.flags.c_contiguous and (
                self.width > 1 or self.gains is not None):
            return "blocks"
        return "trace"

    def small(self, n_scans: int) -> bool:
        """NumPy for a block of `n_scans` scans (see `job_samples`)?"""
        return use_numpy(n_scans * self.n_channels if self.job_samples is None
                         else self.job_samples)

    def gain_tile(self) -> np.ndarray:
        """Every column's gain (1 where not a channel) in the stream's dtype,
        repeated over a row of about 64 samples: the kernels' unit."""
        if self._tile is None:
            g = np.ones(self.width, dtype=self.dtype)
            if self.gains is not None:
                g[self.columns] = self.gains.astype(self.dtype)
            self._tile = np.tile(g, max(1, 64 // self.width))
        return self._tile

    def _sign_polarity(self, signs: Sequence[int]) -> int:
        return 0 if len(signs) == 2 else (1 if signs[0] == 0 else -1)

    def feed(self, block: Any) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Find the events that close in `block`; returns, per channel and
        sign (0: positive, 1: negative), ``(peaks, values)`` in time order
        (peaks as stream indices, values in float64)."""
        x = self.prepare(block)
        return self._feed(x)

    def _feed(self, x: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        K, n, at = self.n_channels, len(x), self.position
        found: list[list[list]] = [[[], []] for _ in range(K)]
        signs = self.signs()
        if n == 0 or not signs:
            self.position += n
            self.pos[:] = np.maximum(self.pos, self.position)
            return self._collect(found)
        cols: dict[int, np.ndarray] = {}

        def col(k: int) -> np.ndarray:
            if k not in cols:
                cols[k] = self.column(x, k)
            return cols[k]

        # 1. Events left open by earlier blocks.
        for k, s in zip(*np.nonzero(self.open)):
            sign = 1 if s == 0 else -1
            close, best, value = continue_event(col(k), sign, int(self.best[k, s]),
                                                self.best_value[k, s], at)
            self.best[k, s], self.best_value[k, s] = best, value
            if close is not None:
                found[k][s].append((np.array([best]), np.array([value], np.float64)))
                self.open[k, s] = False
                self.pos[k, s] = at + close + 1
        # 2. Events opening in the block.
        local = np.clip(self.pos - at, 0, n)
        local[self.open] = n  # nothing opens while an event is open
        path = self.path(x)
        if path != "numpy":
            map_pages(x)
        if path == "numpy":
            from .kernels.small import events

            for k in range(K):
                for s in signs:
                    if local[k, s] >= n:
                        continue
                    sign = 1 if s == 0 else -1
                    peaks, heights, still = events(col(k), sign, self.thresholds[k],
                                                   int(local[k, s]), stream=True)
                    found[k][s].append((peaks + at, sign * heights))
                    if still is not None:
                        self._set_open(k, s, still[0] + at, still[1] + at, still[2])
        elif path == "trace":
            from .kernels.trace import trace_stream

            pol = self._sign_polarity(signs)
            for k in range(K):
                if all(local[k, s] >= n for s in signs):
                    continue
                hi, lo = candidate_bounds(self.dtype, self.thresholds[k])
                pk_p, h_p, pk_n, h_n, still, bvs = trace_stream(
                    col(k), pol, self.thresholds[k], hi, lo, int(local[k, 0]), int(local[k, 1]))
                found[k][0].append((pk_p + at, h_p.copy()))
                found[k][1].append((pk_n + at, -h_n))
                for s in (0, 1):
                    if still[3 * s]:
                        self._set_open(k, s, still[3 * s + 1] + at, still[3 * s + 2] + at,
                                       bvs[s])
        else:
            from .kernels.blocks import detect_blocks, group_events

            ends = np.full(1, n, np.int64)
            xf = x.reshape(-1)
            g = self.gain_tile()
            ev = detect_blocks(xf, self.width, self.columns, g, self.thresholds,
                               self._sign_polarity(signs), np.zeros(1, np.int64), ends, ends,
                               np.ascontiguousarray(local))
            peaks, values, bounds, still = group_events(ev, xf, self.width, self.columns, g, K,
                                                        n, at)
            for i in still:
                k, s = int(ev[i, 0]), int(ev[i, 1])
                col = self.columns[k]
                self._set_open(k, s, ev[i, 2] + at, ev[i, 4] + at, x[ev[i, 4], col] * g[col])
            for grp in range(2 * K):
                a, b = bounds[grp], bounds[grp + 1]
                if b > a:
                    found[grp // 2][grp % 2].append((peaks[a:b], values[a:b]))
        # Every sample of the block was looked at: what opens next opens later.
        self.position = at + n
        self.pos[:] = self.position
        return self._collect(found)

    def _set_open(self, k: int, s: int, ion: int, best: int, value: Any) -> None:
        self.open[k, s] = True
        self.ion[k, s], self.best[k, s] = ion, best
        self.best_value[k, s] = value

    @staticmethod
    def _collect(found) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        return [[_join(parts) for parts in per_sign] for per_sign in found]

    def end_segment(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Close the open events where the stream stands (events never cross
        a segment: the end of a trace or sweep); returns them as :meth:`feed` does."""
        found: list[list[list]] = [[[], []] for _ in range(self.n_channels)]
        for k, s in zip(*np.nonzero(self.open)):
            found[k][s].append((np.array([self.best[k, s]]),
                                np.array([self.best_value[k, s]], np.float64)))
        self.open[:] = False
        self.pos[:] = self.position
        return self._collect(found)

    def seek(self, index: int) -> None:
        """Continue the stream at stream index `index` (no event may be open)."""
        if not self.fresh():
            raise ValueError("an event is open: end the segment before seeking")
        self.position = int(index)
        self.pos[:] = self.position


# --------------------------------------------------------------------------- spikes
class SpikeDetector:
    """Threshold spike detection on a stream of samples, exactly as
    :func:`escope.detectspikes` on the whole trace.

    Parameters
    ----------
    thresholds : float or sequence of float
        One positive threshold per channel (a number: one channel), in the
        units of ``block * gains``.
    polarity : {0, 1, -1}
        1: positive spikes; -1: negative; 0: both.
    tkill : float or None
        Minimum distance in samples between peaks of one sign (None: no
        pruning).
    upperthresh : float, optional
        Reject peaks with ``abs(value) >= upperthresh``.
    gains : sequence of float, optional
        Per channel, what raw samples are multiplied by (in their own dtype,
        as :meth:`escope.Recording.data` scales them), so that raw file
        samples can be fed with thresholds in physical units.
    columns : sequence of int, optional
        Which columns of each block are the channels (default: all).
    job_samples : int, optional
        The size of the whole job in samples: it decides NumPy or Numba
        (:func:`use_numpy`) for every block, so that a long job fed in small
        blocks runs on the kernels. Default: each block's own size.
    values : bool
        Hand out the peak values too (default). Without them a whole
        segment fed at once skips gathering them (``values`` of the result
        is then None where they were not needed).

    Notes
    -----
    :meth:`feed` returns the spikes that are final: no later sample can
    change them. Indices count from the first sample ever fed. For every way
    of cutting a trace into blocks, the spikes returned, concatenated, are
    those of :func:`escope.detectspikes` on the whole trace. :meth:`finish`
    (or ``feed(block, last=True)``) ends a segment: events and pruning never
    reach across it, and feeding may go on with the next segment (a sweep)
    at the following indices. Memory stays constant: what is kept is the
    open events and the peaks whose pruning is not yet decided.

    Examples
    --------
    >>> import numpy as np
    >>> det = SpikeDetector(5.0, tkill=None)
    >>> y = np.array([0, 6, 7, 1, 0, 0, 9, 9], np.float32)
    >>> [det.feed(part).indices[0].tolist() for part in (y[:2], y[2:5], y[5:])]
    [[], [2], []]
    >>> det.finish().indices[0].tolist()
    [6]
    """

    def __init__(self, thresholds: Any, *, polarity: int = 0, tkill: float | None = 50,
                 upperthresh: float | None = None, gains: Sequence[float] | None = None,
                 columns: Sequence[int] | None = None, job_samples: int | None = None,
                 values: bool = True) -> None:
        thr = [checks.threshold(t)
               for t in np.atleast_1d(np.asarray(thresholds, dtype=object)).ravel()]
        self.values = bool(values)
        polarity = checks.polarity(polarity)
        self.tkill = checks.tkill(tkill)
        self.upperthresh = checks.upperthresh(upperthresh)
        self._events = EventStream(thr, polarity, gains=gains, columns=columns,
                                   job_samples=job_samples)
        self._w = _window(self.tkill)
        K = self.n_channels
        # Per channel and sign: peaks whose pruning is not decided yet, and
        # pruned peaks waiting for the other sign (the output is in order).
        self._pending = [[(_EMPTY_I, _EMPTY_F), (_EMPTY_I, _EMPTY_F)] for _ in range(K)]
        self._ready = [[(_EMPTY_I, _EMPTY_F), (_EMPTY_I, _EMPTY_F)] for _ in range(K)]
        self._busy = False  # a segment is under way (fed, not finished)

    @property
    def n_channels(self) -> int:
        return self._events.n_channels

    @property
    def thresholds(self) -> np.ndarray:
        return self._events.thresholds

    @property
    def n_fed(self) -> int:
        """Samples (scans) fed so far."""
        return self._events.position

    @property
    def dtype(self) -> np.dtype | None:
        """The samples' dtype (set by the first block)."""
        return self._events.dtype

    def _idle(self) -> bool:
        """Nothing open, pending or waiting: a whole segment may be fed at once."""
        return not self._busy

    def feed(self, block: Any, *, last: bool = False) -> StreamSpikes:
        """Feed the next `block` (scans × channels, or 1-D for one channel);
        return the spikes that are now final. With `last`, the block ends
        the segment (as :meth:`finish`)."""
        x = self._events.prepare(block)
        if last and self._idle():
            return self._whole(x)
        self._busy = True
        self._absorb(self._events._feed(x))
        if last:  # the events still open end with the segment: they come last
            self._absorb(self._events.end_segment())
        return self._emit(last)

    def finish(self) -> StreamSpikes:
        """End the segment: close the open events, decide every pruning, and
        return the remaining spikes. Feeding may continue (a new segment)."""
        if self._events.dtype is None:
            return StreamSpikes.empty(self.n_channels)
        self._absorb(self._events.end_segment())
        return self._emit(True)

    def _absorb(self, found) -> None:
        for k, per_sign in enumerate(found):
            for s, (peaks, values) in enumerate(per_sign):
                if len(peaks):
                    old_p, old_v = self._pending[k][s]
                    self._pending[k][s] = (np.concatenate([old_p, peaks]),
                                           np.concatenate([old_v, values]))

    def _final_part(self, peaks: np.ndarray, bound: float) -> int:
        """How many of the undecided `peaks` form chains that are closed: no
        peak to come (at `bound` or later) can reach them."""
        if not len(peaks):
            return 0
        if self._w is None or bound - peaks[-1] >= self._w:
            return len(peaks)
        cuts = np.flatnonzero(np.diff(peaks) >= self._w)
        return int(cuts[-1]) + 1 if len(cuts) else 0

    def _emit(self, last: bool) -> StreamSpikes:
        ev = self._events
        out_i, out_v = [], []
        for k in range(self.n_channels):
            bound = math.inf
            for s in (0, 1):
                peaks, values = self._pending[k][s]
                nxt = math.inf if last else float(ev.ion[k, s] if ev.open[k, s]
                                                   else ev.position)
                m = self._final_part(peaks, nxt)
                if m:
                    p, v = peaks[:m], values[:m]
                    keep = prune(p, v if s == 0 else -v, self.tkill,
                                 job_samples=ev.job_samples)
                    if len(keep) != len(p):
                        v = v[np.searchsorted(p, keep)]
                        p = keep
                    if self.upperthresh is not None:
                        ok = np.abs(v) < self.upperthresh
                        p, v = p[ok], v[ok]
                    rp, rv = self._ready[k][s]
                    self._ready[k][s] = (np.concatenate([rp, p]), np.concatenate([rv, v]))
                    peaks, values = peaks[m:], values[m:]
                    self._pending[k][s] = (peaks, values)
                bound = min(bound, float(peaks[0]) if len(peaks) else nxt)
            parts_i, parts_v = [], []
            for s in (0, 1):
                rp, rv = self._ready[k][s]
                if not len(rp):
                    continue
                m = len(rp) if bound == math.inf else int(np.searchsorted(rp, bound))
                parts_i.append(rp[:m])
                parts_v.append(rv[:m])
                self._ready[k][s] = (rp[m:], rv[m:])
            if len(parts_i) == 2 and len(parts_i[0]) and len(parts_i[1]):
                idx = np.concatenate(parts_i)
                order = np.argsort(idx, kind="stable")
                out_i.append(idx[order])
                out_v.append(np.concatenate(parts_v)[order])
            elif parts_i:
                j = 0 if len(parts_i[0]) or len(parts_i) == 1 else 1
                out_i.append(parts_i[j])
                out_v.append(parts_v[j])
            else:
                out_i.append(_EMPTY_I)
                out_v.append(_EMPTY_F)
        if last:  # everything of the segment is out
            self._busy = False
        return StreamSpikes(out_i, out_v)

    def _whole(self, x: np.ndarray) -> StreamSpikes:
        """A whole segment in one block: the same rules in the fastest form
        (all chains are closed at its end)."""
        ev = self._events
        at, n, K = ev.position, len(x), self.n_channels
        signs = ev.signs()
        ev.position = at + n
        ev.pos[:] = ev.position
        if n == 0 or not signs:
            return StreamSpikes.empty(K)
        path = ev.path(x)
        if path == "blocks":
            return self._whole_blocks(x, at, signs)
        out_i, out_v = [], []
        for k in range(K):
            y = ev.column(x, k)
            if path == "numpy":
                from .kernels.small import events

                found = []
                for s in signs:
                    sign = 1 if s == 0 else -1
                    peaks, heights, _ = events(y, sign, ev.thresholds[k])
                    found.append(prune(peaks, heights, self.tkill, job_samples=ev.job_samples))
                peaks = found[0] if len(found) == 1 else np.sort(np.concatenate(found))
            else:
                from .kernels.trace import detect_trace

                hi, lo = candidate_bounds(ev.dtype, ev.thresholds[k])
                window = -1.0 if self.tkill is None else self.tkill
                peaks = detect_trace(y, ev._sign_polarity(signs), ev.thresholds[k], hi, lo,
                                     window)
            values = None
            if self.values or self.upperthresh is not None:
                values = y[peaks].astype(np.float64)
            if self.upperthresh is not None:
                ok = np.abs(values) < self.upperthresh
                peaks, values = peaks[ok], values[ok]
            # No copy when nothing changes (fresh pages cost ~2 µs each here).
            peaks = peaks.astype(np.int64, copy=False)
            out_i.append(peaks + at if at else peaks)
            out_v.append(values)
        return StreamSpikes(out_i, out_v if self.values else None)

    def _whole_blocks(self, x: np.ndarray, at: int, signs) -> StreamSpikes:
        from .kernels.blocks import chunk_peaks, detect_blocks

        ev = self._events
        n, C, K = len(x), ev.width, self.n_channels
        xf = x.reshape(-1)
        gtile = ev.gain_tile()
        ends = np.full(1, n, np.int64)
        found = detect_blocks(xf, C, ev.columns, gtile, ev.thresholds, ev._sign_polarity(signs),
                              np.zeros(1, np.int64), ends, ends, np.zeros((K, 2), np.int64))
        window = -1.0 if self.tkill is None else self.tkill
        sample, channel = chunk_peaks(found, xf, C, ev.columns, gtile[:C], window, 0, n)
        col = ev.columns[channel]
        values = np.multiply(xf[sample * C + col], gtile[col]).astype(np.float64)
        if self.upperthresh is not None:
            ok = np.abs(values) < self.upperthresh
            sample, channel, values = sample[ok], channel[ok], values[ok]
        return StreamSpikes(None, None, flat=(sample + at, channel, values), n_channels=K)


# --------------------------------------------------------------------------- noise
class NoiseEstimator:
    """:func:`escope.rmsnoise` of a stream of samples, per channel.

    Every whole chunk of `chunksize` scans gives one variance per channel
    (chunks holding NaN or ±inf give none; a chunk never straddles a
    segment: :meth:`end_segment` drops the partial one). :meth:`value` is
    the noise of everything fed so far: the RMS of the ``K``-th smallest
    chunk (``K = int(percentile * N / 100 + 0.5)``, at most ``N - 1``)
    divided by what that order statistic is for unit Gaussian noise.
    Memory: one number per chunk and channel.

    Parameters
    ----------
    n_channels : int
    chunksize : int
        Scans per chunk, at least 2.
    percentile : float
        In [0, 100].
    gains, columns
        As for :class:`SpikeDetector`.
    dtype : numpy dtype
        Of the stored variances: float64 (default) or float32 (half the
        memory; 7 digits).
    names : sequence of str, optional
        Channel names for error messages.
    job_samples : int, optional
        As for :class:`SpikeDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(0, 2.0, (30000, 2))
    >>> est = NoiseEstimator(2)
    >>> est.feed(x[:10000]); est.feed(x[10000:])
    >>> [round(v, 1) for v in est.value()]
    [2.0, 2.0]
    """

    def __init__(self, n_channels: int, chunksize: int = 300, percentile: float = 25, *,
                 gains: Sequence[float] | None = None, columns: Sequence[int] | None = None,
                 dtype: Any = np.float64, names: Sequence[str] | None = None,
                 job_samples: int | None = None) -> None:
        self.n_channels = checks.positive_int(n_channels, "n_channels")
        self.chunksize, self.percentile = checks.noise_args(chunksize, percentile)
        # The stream's scaling, column choice and implementation choice are
        # EventStream's (one rule).
        self._shape = EventStream([1.0] * self.n_channels, gains=gains, columns=columns,
                                  job_samples=job_samples)
        self._dtype = np.dtype(dtype)
        self._empty()
        self._carry: np.ndarray | None = None
        self.names = list(names) if names is not None else None

    def _empty(self) -> None:
        # One buffer per channel, filled from the front (``_n`` values): no
        # list of pieces to join, so the variances are never held twice.
        self._var: list[np.ndarray] = [np.empty(0, self._dtype) for _ in range(self.n_channels)]
        self._n = [0] * self.n_channels

    def reserve(self, n_chunks: int) -> None:
        """Make room for `n_chunks` more chunks per channel at once (when the
        length of the stream is known): the store then never grows by copying."""
        extra = checks.positive_int(n_chunks, "n_chunks", minimum=0)
        for k in range(self.n_channels):
            self._grow(k, extra, exact=True)

    def _grow(self, k: int, extra: int, exact: bool = False) -> None:
        need = self._n[k] + extra
        if need > len(self._var[k]):
            size = need if exact else max(need, 2 * len(self._var[k]), 1024)
            buf = np.empty(size, self._dtype)
            buf[:self._n[k]] = self._var[k][:self._n[k]]
            self._var[k] = buf

    def _append(self, k: int, values: np.ndarray, fresh: bool = False) -> None:
        if fresh and self._n[k] == 0 and len(self._var[k]) < len(values):
            # A new array nobody else holds: kept as it is. Copying it into
            # a new buffer cost a whole trace's rmsnoise ~10 % (fresh pages).
            self._var[k], self._n[k] = values, len(values)
            return
        self._grow(k, len(values))
        self._var[k][self._n[k]:self._n[k] + len(values)] = values
        self._n[k] += len(values)

    def feed(self, block: Any) -> None:
        """Add the whole chunks of `block` (scans × channels), carrying a
        partial chunk over to the next block."""
        x = self._shape.prepare(block)
        cs = self.chunksize
        if self._carry is not None and len(self._carry):
            need = cs - len(self._carry)
            head = np.concatenate([self._carry, x[:need]])
            x = x[need:]
            if len(head) < cs:
                self._carry = head
                return
            self._add(head)
        whole = len(x) // cs * cs
        if whole:
            self._add(x[:whole])
        self._carry = x[whole:].copy() if whole < len(x) else None

    def end_segment(self) -> None:
        """The segment (a trace or sweep) ends: its partial chunk is dropped."""
        self._carry = None

    def spawn(self) -> "NoiseEstimator":
        """A new, empty estimator with the same settings (checked once): the
        parts of one file run on several threads, then pooled by :meth:`absorb`."""
        other = object.__new__(NoiseEstimator)
        other.__dict__.update(self.__dict__)
        other._empty()
        other._carry = None
        return other

    def _add(self, x: np.ndarray) -> None:
        shape, cs = self._shape, self.chunksize
        K = self.n_channels
        nchunks = len(x) // cs
        small = shape.small(len(x))
        if not small:
            map_pages(x)
        if not small and x.dtype.kind == "f" and x.flags.c_contiguous and (
                shape.width > 1 or shape.gains is not None):
            from .kernels.noise import block_stats

            var = np.empty((nchunks, shape.width), dtype=self._dtype)
            block_stats(x.reshape(-1), shape.width, shape.gain_tile(),
                        np.arange(nchunks, dtype=np.int64) * cs, np.full(nchunks, cs, np.int64),
                        cs, var)
            bad = np.isnan(var)  # chunks holding NaN or inf give none
            for k, (col, any_bad) in enumerate(zip(shape.columns.tolist(),
                                                   bad.any(axis=0)[shape.columns].tolist())):
                self._append(k, var[~bad[:, col], col] if any_bad else var[:, col])
            return
        if small:
            from .kernels.small import chunk_var
        else:
            from .kernels.noise import chunk_var
        for k in range(K):
            y = shape.column(x, k)
            if y.dtype.kind == "f" and y.dtype.itemsize > 8:  # pragma: no cover
                y = y.astype(np.float64)
            # chunk_var returns a new array (astype copies only to change dtype).
            self._append(k, chunk_var(y, cs).astype(self._dtype, copy=False), fresh=True)

    def absorb(self, other: "NoiseEstimator") -> None:
        """Move the chunks of `other` (another part of the same channels,
        e.g. run on another thread) into this one; `other` is left empty.
        The order of chunks does not matter."""
        for k in range(self.n_channels):
            self._append(k, other.variances(k))
        other._empty()

    def counts(self) -> list[int]:
        """Chunks per channel that gave a variance."""
        return list(self._n)

    def variances(self, k: int) -> np.ndarray:
        """The chunk variances of channel `k`, in the order fed (a view: do
        not change it)."""
        return self._var[k][:self._n[k]]

    def value(self, percentile: float | None = None) -> list[float]:
        """The noise of each channel (in the units of ``block * gains``), at
        `percentile` (default: the estimator's).

        Raises
        ------
        ValueError
            For a channel without a single chunk free of NaN and inf.
        """
        pct = self.percentile if percentile is None else checks.noise_args(2, percentile)[1]
        out = []
        for k in range(self.n_channels):
            var = self.variances(k)
            n = len(var)
            if n == 0:
                who = f"channel {self.names[k]}: " if self.names else ""
                raise ValueError(f"{who}every chunk contains NaN or inf: no noise level can "
                                 "be estimated")
            kth = noise_rank(n, pct)
            rms = math.sqrt(max(kth_smallest(var, kth), 0.0))
            out.append(rms / gaussian_reference(self.chunksize, n, pct))
        return out
