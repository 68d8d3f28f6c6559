"""Spikes as spike trains: times in seconds, PSTHs, waveform cut-outs, and
the objects of Neo, SpikeInterface and pynapple.

The methods of :class:`escope.analysis.Spikes` (what
:meth:`escope.Recording.detectspikes` returns) call these; each result can
go to the tools that analyse spike trains: Elephant (through Neo),
SpikeInterface's ``SortingAnalyzer``, pynapple.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import checks

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Spikes
    from .recording import Recording

__all__ = ["Histogram", "Waveforms", "times", "psth", "waveforms", "to_neo", "to_sorting",
           "to_pynapple"]


class Histogram(NamedTuple):
    """A peri-stimulus time histogram of one channel."""

    edges: np.ndarray  #: bin edges, seconds from the trigger
    counts: np.ndarray  #: spikes in each bin, all sweeps together
    rate: np.ndarray  #: spikes per second per sweep (Hz)


class Waveforms(dict):
    """Channel name → cut-outs (spikes × samples) around each spike, in the
    detection's units.

    Attributes
    ----------
    time_ms : ndarray
        Milliseconds of each sample from the spike's peak.
    dropped : dict
        Channel name → spikes left out because their cut-out would leave the
        recording or their sweep (never padded).
    kept : dict
        Channel name → which spikes are there: a boolean mask over the
        channel's spikes (all sweeps together, in order).
    """

    time_ms: np.ndarray
    dropped: dict[str, int]
    kept: dict[str, np.ndarray]


def _per_sweep(spikes: Spikes, name: str) -> list[np.ndarray]:
    value = spikes[name]
    return value if isinstance(value, list) else [value]


def _need_trigger(spikes: Spikes, what: str) -> None:
    if not getattr(spikes, "triggered", False):
        raise ValueError(f"{what} needs sweeps with a trigger; these are the spikes of a "
                         "continuous capture: find the stimuli with rec.events(channel, level) "
                         "and cut the spikes into epochs with rec.epochs(times, before_s, "
                         "after_s).spikes(spikes)")


def times(spikes: Spikes, relative_to: str = "start") -> dict[str, Any]:
    """Spike times in seconds: from the start of the recording or sweep
    (``"start"``), or from the trigger (``"trigger"``, triggered captures and
    epochs). Per channel an array, or a list of them per sweep."""
    if relative_to not in ("start", "trigger"):
        raise ValueError(f"relative_to must be 'start' or 'trigger', not {relative_to!r}")
    if relative_to == "trigger":
        _need_trigger(spikes, "relative_to='trigger'")
    offset = spikes.trigger_index if relative_to == "trigger" else 0
    out = {}
    for name, value in spikes.items():
        if isinstance(value, list):
            out[name] = [(np.asarray(v) - offset) / spikes.rate_Hz for v in value]
        else:
            out[name] = (np.asarray(value) - offset) / spikes.rate_Hz
    return out


def psth(spikes: Spikes, bin_s: float, window: Any = None) -> dict[str, Histogram]:
    """Per channel the spikes of all sweeps in bins of `bin_s` seconds from
    the trigger over `window` (default: the whole sweep); bins are
    ``[edge, next edge)``, as many whole bins as fit."""
    _need_trigger(spikes, "a PSTH")
    try:
        width = float(bin_s)
    except (TypeError, ValueError):
        width = math.nan
    if isinstance(bin_s, bool) or not (math.isfinite(width) and width > 0):
        raise ValueError(f"bin_s must be a positive number of seconds, not {bin_s!r}")
    rate, trig, S = spikes.rate_Hz, spikes.trigger_index, spikes.sweep_scans
    lo_t, hi_t = -trig / rate, (S - trig) / rate
    if window is None:
        t0, t1 = lo_t, hi_t
    else:
        try:
            t0, t1 = (float(v) for v in window)
        except (TypeError, ValueError):
            raise ValueError(f"window must be (t0, t1) in seconds from the trigger, not "
                             f"{window!r}") from None
        if not (math.isfinite(t0) and math.isfinite(t1) and lo_t - 1e-12 <= t0 < t1
                <= hi_t + 1e-12):
            raise ValueError(f"window=({t0:g}, {t1:g}) s is outside the sweep: it must lie "
                             f"within [{lo_t:g}, {hi_t:g}] s of the trigger, t0 < t1")
    n_bins = int(math.floor((t1 - t0) / width + 1e-9))
    if n_bins < 1:
        raise ValueError(f"bin_s={width:g} s is longer than the window ({t1 - t0:g} s)")
    edges = t0 + np.arange(n_bins + 1) * width
    out = {}
    for name, sweeps in times(spikes, "trigger").items():
        sweeps = sweeps if isinstance(sweeps, list) else [sweeps]
        all_t = np.concatenate(sweeps) if sweeps else np.empty(0)
        b = np.searchsorted(edges, all_t, side="right") - 1
        b = b[(b >= 0) & (b < n_bins)]
        counts = np.bincount(b, minlength=n_bins)
        n_sweeps = len(sweeps)
        rate_hz = counts / (n_sweeps * width) if n_sweeps else np.full(n_bins, np.nan)
        out[name] = Histogram(edges=edges, counts=counts, rate=rate_hz)
    return out


def waveforms(spikes: Spikes, rec: Recording, before_ms: float = 1.0,
              after_ms: float = 2.0) -> Waveforms:
    """Cut-outs of ``before_ms`` before to ``after_ms`` after each peak
    (samples ``peak - int(before_ms·rate/1000)`` up to, not including,
    ``peak + int(after_ms·rate/1000)``), in the detection's units."""
    before = checks.nonnegative_duration(before_ms, "before_ms", "milliseconds")
    after = checks.nonnegative_duration(after_ms, "after_ms", "milliseconds")
    nb = int(before * rec.rate / 1000)
    na = int(after * rec.rate / 1000)
    if nb + na < 1:
        raise ValueError("before_ms + after_ms must span at least one sample")
    offsets = np.arange(-nb, na)
    out = Waveforms()
    out.time_ms = offsets / rec.rate * 1000
    out.dropped, out.kept = {}, {}
    flat = rec.samples().reshape(-1, rec.n_channels)
    S = rec.n_scans
    for name in spikes:
        c = rec.header.channel_index(name)
        factor = rec.scale_factor(c, spikes.units.get(name))
        cuts, kept = [], []
        for n, idx in enumerate(_per_sweep(spikes, name)):
            idx = np.asarray(idx, dtype=np.int64)
            ok = (idx - nb >= 0) & (idx + na <= S)
            kept.append(ok)
            base = n * S if rec.triggered else 0
            rows = base + idx[ok][:, None] + offsets[None, :]
            cuts.append(np.multiply(flat[rows, c], factor))
        mask = np.concatenate(kept) if kept else np.empty(0, bool)
        out[name] = (np.concatenate(cuts) if cuts
                     else np.empty((0, nb + na), dtype=flat.dtype))
        out.kept[name] = mask
        out.dropped[name] = int((~mask).sum())
    return out


def _annotations(spikes: Spikes, name: str) -> dict[str, Any]:
    notes = {"detection": "escope Schmitt trigger (detectspikes)", "channel": name,
             "threshold_units": spikes.units.get(name, "")}
    if name in spikes.thresholds:
        notes["threshold"] = float(spikes.thresholds[name])
    if spikes.noise is not None and name in spikes.noise:
        notes["noise"] = float(spikes.noise[name])
    for key in ("k", "polarity", "tkill"):
        value = getattr(spikes, key, None)
        if value is not None:
            notes[key] = value
    return notes


def to_neo(spikes: Spikes, rec: Recording, lazy: bool = False):
    """A Neo ``Block``: a ``Segment`` per sweep (one for a continuous
    capture) with the analog signals (proxies when `lazy`) and a
    ``SpikeTrain`` per channel, times in seconds from the segment's start."""
    import quantities as pq
    from neo.core import SpikeTrain

    from escope_neo import EScopeIO

    block = EScopeIO(rec.filename).read_block(lazy=lazy)
    duration = max(rec.n_scans, 1) / rec.rate if rec.n_sweeps else 1 / rec.rate
    for name in spikes:
        per = _per_sweep(spikes, name)
        amps = spikes.amplitudes.get(name)
        amps = amps if isinstance(amps, list) else [amps]
        for n, seg in enumerate(block.segments):
            idx = np.asarray(per[n] if n < len(per) else [], dtype=np.int64)
            values = (np.asarray(amps[n]) if amps and n < len(amps) and amps[n] is not None
                      else np.full(len(idx), np.nan))
            train = SpikeTrain(idx / rec.rate, units="s", t_start=0.0 * pq.s,
                               t_stop=duration * pq.s, name=name,
                               sampling_rate=rec.rate * pq.Hz,
                               array_annotations={"amplitude": values[:len(idx)]},
                               **_annotations(spikes, name))
            seg.spiketrains.append(train)
    return block


def to_sorting(spikes: Spikes, rec: Recording):
    """A SpikeInterface sorting: a unit per channel (named by it), a segment
    per sweep, that ``create_sorting_analyzer`` takes with
    ``read_escope(path)``."""
    from spikeinterface.core import NumpySorting

    names = list(spikes)
    n_seg = max(rec.n_sweeps, 1) if rec.triggered else 1
    samples, labels = [], []
    for n in range(n_seg):
        s, lab = [], []
        for u, name in enumerate(names):
            per = _per_sweep(spikes, name)
            idx = np.asarray(per[n] if n < len(per) else [], dtype=np.int64)
            s.append(idx)
            lab.append(np.full(len(idx), u, dtype=np.int64))
        s = np.concatenate(s) if s else np.empty(0, np.int64)
        lab = np.concatenate(lab) if lab else np.empty(0, np.int64)
        order = np.argsort(s, kind="stable")
        samples.append(s[order])
        labels.append(np.asarray(names, dtype=object)[lab[order]].astype(str))
    sorting = NumpySorting.from_samples_and_labels(samples, labels, rec.rate,
                                                   unit_ids=np.asarray(names))
    for key, values in (("threshold", spikes.thresholds), ("noise", spikes.noise or {})):
        if values:
            sorting.set_property(key, np.array([values.get(n, np.nan) for n in names]))
    return sorting


def to_pynapple(spikes: Spikes):
    """A pynapple ``TsGroup`` (a unit per channel, times in seconds), whose
    ``time_support`` is the recording or, for a triggered capture, its
    sweeps laid end to end (absolute times of sweeps are not stored)."""
    import pynapple as nap

    rate, S = spikes.rate_Hz, spikes.sweep_scans
    names = list(spikes)
    if getattr(spikes, "triggered", False):
        n_sweeps = max((len(v) for v in spikes.values()), default=0)
        dur = S / rate
        support = nap.IntervalSet(start=np.arange(n_sweeps) * dur,
                                  end=np.arange(1, n_sweeps + 1) * dur)
    else:
        support = nap.IntervalSet(start=[0.0], end=[max(spikes.duration_s, 1 / rate)])
    units = {}
    for u, name in enumerate(names):
        per = _per_sweep(spikes, name)
        t = [np.asarray(v) / rate + (n * S / rate if len(per) > 1 or spikes.triggered else 0)
             for n, v in enumerate(per)]
        units[u] = nap.Ts(t=np.concatenate(t) if t else np.empty(0),
                          time_support=support)
    return nap.TsGroup(units, time_support=support, channel=np.asarray(names))
