"""Stimulus-evoked responses: sweeps, their average and statistics in a
window, and the same view cut from a continuous capture around events.

A triggered capture saves a sweep at every trigger; a continuous capture
with a stimulus channel gives the same view after the fact
(:meth:`escope.Recording.events`, :meth:`escope.Recording.epochs`). Both
are a :class:`SweepView`: equal-length stretches of the file, each with the
trigger (or event) at the same scan. Samples are read from the memory map a
sweep at a time, scaled as :meth:`escope.Recording.data` scales them, so
memory stays constant for any number of sweeps.

Examples
--------
>>> import os, tempfile, escope
>>> from escope.synth import make_evoked_recording
>>> path, _ = make_evoked_recording(os.path.join(tempfile.mkdtemp(), "ev"), n_sweeps=20)
>>> rec = escope.Recording(path)
>>> avg = rec.average("ai0", baseline="pretrigger")
>>> avg.n.max(), avg.time[0]
(np.int64(20), np.float64(-0.05))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import checks
from .units import UnitLike

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording

__all__ = ["SweepView", "Average", "Epochs", "average", "sweep_stats", "events"]

#: Samples of a stimulus channel read at a time by :func:`events`.
_EVENT_BLOCK = 1 << 22
_NOT_TRIGGERED = ("{what} needs sweeps with a trigger; this is a continuous capture: find "
                  "the stimuli with rec.events(channel, level) and cut the sweeps with "
                  "rec.epochs(times, before_s, after_s)")


@dataclass
class Average:
    """The evoked response of one channel: per sample over the sweeps.

    Attributes
    ----------
    mean, sd : ndarray
        Mean and sample standard deviation (``ddof=1``; NaN where fewer
        than two sweeps have a value), float64, in `units`.
    n : ndarray
        Sweeps that have a value (not NaN) at each sample.
    time : ndarray
        Seconds from the trigger (negative before it).
    channel, units : str
    """

    mean: np.ndarray
    sd: np.ndarray
    n: np.ndarray
    time: np.ndarray
    channel: str
    units: str


class SweepView:
    """Equal-length sweeps of a recording: sweep ``k`` is file scans
    ``starts[k] : starts[k] + length``, its trigger at scan ``trigger``."""

    def __init__(self, rec: Recording, starts: np.ndarray, length: int, trigger: int) -> None:
        self.rec = rec
        self.starts = np.asarray(starts, dtype=np.int64)
        self.length = int(length)
        self.trigger = int(trigger)

    @classmethod
    def of(cls, rec: Recording, what: str) -> "SweepView":
        """The sweeps of a triggered capture."""
        if not rec.triggered:
            raise ValueError(_NOT_TRIGGERED.format(what=what))
        return cls(rec, np.arange(rec.n_sweeps, dtype=np.int64) * rec.n_scans, rec.n_scans,
                   rec.trigger_index)

    @property
    def n_sweeps(self) -> int:
        return len(self.starts)

    @property
    def rate(self) -> float:
        return self.rec.rate

    def time(self) -> np.ndarray:
        """Seconds from the trigger of every sample of a sweep."""
        return (np.arange(self.length, dtype=np.float64) - self.trigger) / self.rate

    def samples(self, c: int, k: int, factor: Any) -> np.ndarray:
        """Sweep `k` of channel `c`, scaled by `factor` (in the file's dtype)."""
        flat = self.rec.samples().reshape(-1, self.rec.n_channels)
        return np.multiply(flat[self.starts[k]: self.starts[k] + self.length, c], factor)

    def scans(self, window: Any, name: str) -> slice:
        """The samples of a sweep with ``t0 <= t < t1`` (seconds from the
        trigger); the window must lie within the sweep and hold a sample."""
        try:
            t0, t1 = (float(v) for v in window)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be (t0, t1) in seconds from the trigger, not "
                             f"{window!r}") from None
        lo_t = -self.trigger / self.rate
        hi_t = (self.length - self.trigger) / self.rate
        if not (math.isfinite(t0) and math.isfinite(t1) and lo_t - 1e-12 <= t0 < t1
                <= hi_t + 1e-12):
            raise ValueError(f"{name}=({t0:g}, {t1:g}) s is outside the sweep: it must lie "
                             f"within [{lo_t:g}, {hi_t:g}] s of the trigger, t0 < t1")
        a = self.trigger + math.ceil(round(t0 * self.rate, 6))
        b = self.trigger + math.ceil(round(t1 * self.rate, 6))
        a, b = max(a, 0), min(b, self.length)
        if b <= a:
            raise ValueError(f"{name}=({t0:g}, {t1:g}) s holds no sample at {self.rate:g} Hz")
        return slice(a, b)

    def baseline(self, baseline: Any) -> slice | None:
        if baseline is None:
            return None
        if isinstance(baseline, str):
            if baseline != "pretrigger":
                raise ValueError(f"baseline must be 'pretrigger', (t0, t1) or None, not "
                                 f"{baseline!r}")
            if self.trigger == 0:
                raise ValueError("baseline='pretrigger' needs a part before the trigger; "
                                 "these sweeps have none (give baseline=(t0, t1) or None)")
            return slice(0, self.trigger)
        return self.scans(baseline, "baseline")

    def select(self, sweeps: Any) -> np.ndarray:
        """Indices of the chosen sweeps (None: all; a slice, indices or a mask)."""
        n = self.n_sweeps
        if sweeps is None:
            return np.arange(n)
        if isinstance(sweeps, slice):
            return np.arange(n)[sweeps]
        idx = np.asarray(sweeps)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ValueError(f"sweeps: a mask must have one value per sweep ({n}), not "
                                 f"{idx.shape}")
            return np.flatnonzero(idx)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ValueError(f"sweeps must be None, a slice, sweep indices or a mask, not "
                             f"{sweeps!r}")
        bad = idx[(idx < -n) | (idx >= n)]
        if len(bad):
            raise ValueError(f"sweeps: {bad.tolist()} out of range for {n} sweep(s)")
        return idx % n if n else idx


def _channel(rec: Recording, channel: Any, units: UnitLike | None) -> tuple[int, Any, str]:
    c = rec.header.channel_index(channel)
    unit = rec.units[c] if units is None else _normalized(units)
    return c, rec.scale_factor(c, units), unit


def _normalized(units: UnitLike) -> str:
    from .units import normalize

    return normalize(units)


def average(view: SweepView, channel: Any, units: UnitLike | None = None, *,
            baseline: Any = "pretrigger", sweeps: Any = None) -> Average:
    """Mean, SD and count per sample over the sweeps (see
    :meth:`escope.Recording.average`): one pass, float64, constant memory."""
    c, factor, unit = _channel(view.rec, channel, units)
    base = view.baseline(baseline)
    chosen = view.select(sweeps)
    if len(chosen) == 0:
        raise ValueError("no sweep to average (the capture has no whole sweep yet, or none "
                         "was chosen)")
    L = view.length
    n = np.zeros(L, dtype=np.int64)
    mean = np.zeros(L)
    m2 = np.zeros(L)
    for k in chosen:  # Welford's update, per sample, NaN left out
        y = view.samples(c, int(k), factor).astype(np.float64)
        if base is not None:
            y = y - np.nanmean(y[base]) if np.isfinite(y[base]).any() else y * np.nan
        ok = ~np.isnan(y)
        n += ok
        delta = np.where(ok, y - mean, 0.0)
        mean += np.where(ok, delta / np.maximum(n, 1), 0.0)
        m2 += np.where(ok, delta * (y - mean), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(n > 1, np.sqrt(m2 / np.maximum(n - 1, 1)), np.nan)
    mean = np.where(n > 0, mean, np.nan)
    return Average(mean=mean, sd=sd, n=n, time=view.time(), channel=view.rec.channels[c],
                   units=unit)


def sweep_stats(view: SweepView, channel: Any, window: Any, units: UnitLike | None = None, *,
                baseline: Any = "pretrigger") -> Any:
    """Per sweep in `window` (seconds from the trigger): the peak (the value
    of largest magnitude, signed, first on ties), its latency from the
    trigger, the mean and the area (see :meth:`escope.Recording.sweep_stats`)."""
    c, factor, unit = _channel(view.rec, channel, units)
    win = view.scans(window, "window")
    base = view.baseline(baseline)
    N = view.n_sweeps
    peak, latency, mean, area = (np.full(N, np.nan) for _ in range(4))
    dt = 1.0 / view.rate
    for k in range(N):
        y = view.samples(c, k, factor).astype(np.float64)
        if base is not None:
            y = y - np.nanmean(y[base]) if np.isfinite(y[base]).any() else y * np.nan
        part = y[win]
        if np.isnan(part).all():
            continue
        i = int(np.nanargmax(np.abs(part)))
        peak[k] = part[i]
        latency[k] = (win.start + i - view.trigger) * dt
        mean[k] = np.nanmean(part)
        area[k] = np.nansum(part) * dt
    columns = {"sweep": np.arange(N), "peak": peak, "latency_s": latency, "mean": mean,
               "area": area}
    try:
        import pandas as pd
    except ImportError:
        columns["units"] = unit
        return columns
    frame = pd.DataFrame(columns)
    frame.attrs["units"] = unit
    frame.attrs["area units"] = f"{unit}·s"
    return frame


class Epochs(SweepView):
    """Sweeps cut from a continuous capture around events (see
    :meth:`escope.Recording.epochs`): the same view as a triggered capture's.

    Attributes
    ----------
    times : ndarray
        The events (seconds from the start) whose window lies within the
        recording, in order.
    dropped : int
        Events left out: their window would leave the recording.
    """

    def __init__(self, rec: Recording, times: Any, before_s: float, after_s: float) -> None:
        if rec.triggered:
            raise ValueError("epochs are cut from a continuous capture; a triggered capture "
                             "has its sweeps already (rec.average, rec.sweep_stats)")
        before = checks.nonnegative_duration(before_s, "before_s")
        after = checks.nonnegative_duration(after_s, "after_s")
        t = np.asarray(times, dtype=np.float64).ravel()
        if np.isnan(t).any():
            raise ValueError("times must be seconds from the start of the recording, not NaN")
        nb = int(round(before * rec.rate))
        na = int(round(after * rec.rate))
        if nb + na < 1:
            raise ValueError("before_s + after_s must span at least one sample")
        at = np.round(t * rec.rate).astype(np.int64)
        ok = (at - nb >= 0) & (at + na <= rec.n_scans)
        self.times = t[ok]
        self.dropped = int((~ok).sum())
        self.before_s, self.after_s = before, after
        super().__init__(rec, at[ok] - nb, nb + na, nb)

    def average(self, channel: Any, units: UnitLike | None = None, *,
                baseline: Any = "pretrigger", epochs: Any = None) -> Average:
        """:meth:`escope.Recording.average` over the epochs."""
        return average(self, channel, units, baseline=baseline, sweeps=epochs)

    def sweep_stats(self, channel: Any, window: Any, units: UnitLike | None = None, *,
                    baseline: Any = "pretrigger") -> Any:
        """:meth:`escope.Recording.sweep_stats` over the epochs."""
        return sweep_stats(self, channel, window, units, baseline=baseline)

    def spikes(self, spikes: Any) -> Any:
        """The spikes of a continuous capture (``rec.detectspikes``), cut
        into the epochs: as a triggered capture's, per epoch, indices from
        the epoch's start (a spike in two overlapping epochs is in both), so
        that ``times(relative_to="trigger")`` and ``psth`` work on them."""
        from .analysis import Spikes

        out = Spikes()
        out.thresholds = dict(spikes.thresholds)
        out.noise = None if spikes.noise is None else dict(spikes.noise)
        out.units = dict(spikes.units)
        out.amplitudes = {}
        out.rate_Hz, out.trigger_index, out.sweep_scans = self.rate, self.trigger, self.length
        out.triggered, out.duration_s = True, self.n_sweeps * self.length / self.rate
        out.k, out.polarity, out.tkill = spikes.k, spikes.polarity, spikes.tkill
        for name, idx in spikes.items():
            if isinstance(idx, list):
                raise ValueError("spikes of a triggered capture cannot be cut into epochs")
            idx = np.asarray(idx, dtype=np.int64)
            amps = np.asarray(spikes.amplitudes.get(name, np.full(len(idx), np.nan)))
            lo = np.searchsorted(idx, self.starts)
            hi = np.searchsorted(idx, self.starts + self.length)
            out[name] = [idx[a:b] - s for a, b, s in zip(lo, hi, self.starts)]
            out.amplitudes[name] = [amps[a:b] for a, b in zip(lo, hi)]
        return out


def events(rec: Recording, channel: Any, level: float, direction: int = 1,
           units: UnitLike | None = None, reset: float | None = None) -> np.ndarray:
    """Times (seconds) where `channel` crosses `level` (see
    :meth:`escope.Recording.events`)."""
    from .peakx import schmitt

    if rec.triggered:
        raise ValueError("events are found in a continuous capture; a triggered capture's "
                         "sweeps start at its triggers already")
    if isinstance(direction, bool) or direction not in (1, -1):
        raise ValueError(f"direction must be 1 (upward) or -1 (downward), not {direction!r}")
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number, not {level!r}") from None
    if not math.isfinite(level):
        raise ValueError(f"level must be a finite number, not {level!r}")
    if reset is None:
        reset = level / 2  # a Schmitt trigger: re-armed halfway back
    reset = float(reset)
    if direction * (reset - level) > 0 or not math.isfinite(reset):
        raise ValueError(f"reset ({reset:g}) must be on the other side of level ({level:g}) "
                         "from the crossing")
    c, factor, _ = _channel(rec, channel, units)
    x = rec.samples()
    on, off = direction * level, direction * reset
    onsets, high = [], False
    for a in range(0, rec.n_scans, _EVENT_BLOCK):  # a block at a time: constant memory
        z = direction * np.multiply(x[a:a + _EVENT_BLOCK, c], factor).astype(np.float64)
        i0 = 0
        if high:  # still above from the block before: wait for the reset
            down = np.flatnonzero(z <= off)
            if not len(down):
                continue
            i0, high = int(down[0]) + 1, False  # the resetting sample opens nothing
        # An event already on at the very start of the recording is no crossing.
        ion, ioff = schmitt(z[i0:], on, off, endtype=2, starttype=0 if a == 0 else 1)
        onsets.append(a + i0 + ion)
        high = bool(len(ioff)) and ioff[-1] == len(z) - i0
    return (np.concatenate(onsets) if onsets else np.empty(0, np.int64)) / rec.rate



