"""Follow a capture while it is recorded: :func:`follow`.

EScope writes the sidecar first, then appends samples in buffered pieces
that can end anywhere, even inside a sample (FORMAT.md, "While a capture is
running"). :func:`follow` polls the ``.dat``, takes in whole scans (or whole
sweeps of a triggered capture) as they arrive, and hands out the spikes that
no later sample can change, through the detection engine's streaming
entrance (:class:`escope.engine.SpikeDetector`). When the capture has ended,
the spikes it handed out, concatenated, are exactly those of
``rec.detectspikes(threshold=<the same thresholds>)`` on the finished file.
Memory stays constant over hours: the samples are read from the file, never
kept.

Examples
--------
>>> import os, tempfile, numpy as np, escope
>>> x = np.zeros((1, 20000), np.float32); x[0, 5000] = 9
>>> path = escope.write(os.path.join(tempfile.mkdtemp(), "20241007-123412"), x, 10000,
...                     ["ai0"], ["1 mV"])
>>> for update in escope.follow(path, threshold=5, poll_s=0.01, idle_timeout_s=0.05):
...     if update.ended:
...         print(update.ended, update.scans, update.total["ai0"])
idle 20000 1
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import checks
from .engine import SMALL_INPUT, NoiseEstimator, SpikeDetector
from .format import FormatError, PartialDataWarning, resolve_paths
from .units import UnitLike

__all__ = ["follow", "Update", "newer_recording", "load_kernels"]

#: A recording named by the start of its run (saved sweeps add -NNN).
RUNDATE_RE = re.compile(r"^\d{8}-\d{6}$")


@dataclass
class Update:
    """What :func:`follow` found since its previous update.

    Attributes
    ----------
    spikes : dict
        Channel name → int64 sample indices of the spikes found final in
        this update, from the start of the recording (continuous) or of
        their sweep (triggered), as :meth:`escope.Recording.detectspikes`.
    sweeps : dict or None
        Triggered captures: channel name → the sweep of each of those spikes.
    amplitudes : dict
        Channel name → the value of the sample at each spike (in `units`).
    scans : int
        Scans (continuous) or whole sweeps (triggered) read so far.
    thresholds : dict or None
        Channel name → threshold in use; None while the noise is still
        being measured (no spike is reported before, none is lost).
    noise : dict or None
        Channel name → noise level, when the thresholds come from it.
    units : dict
        Channel name → unit of thresholds, noise and amplitudes.
    total : dict
        Channel name → spikes handed out so far, this update included.
    ended : str or None
        Set on the last update: ``"idle"`` (the file did not grow for
        `idle_timeout_s`) or ``"newer recording"`` (the acquisition started
        one in the same folder: `newer`).
    newer : pathlib.Path or None
        The newer recording's sidecar, when that ended the following.
    """

    path: Path
    rate_Hz: float
    triggered: bool
    sweep_scans: int
    spikes: dict[str, np.ndarray]
    sweeps: dict[str, np.ndarray] | None
    amplitudes: dict[str, np.ndarray]
    scans: int
    thresholds: dict[str, float] | None
    noise: dict[str, float] | None
    units: dict[str, str]
    total: dict[str, int] = field(default_factory=dict)
    ended: str | None = None
    newer: Path | None = None

    @property
    def seconds(self) -> float:
        """Recorded time read so far, in seconds."""
        per = self.sweep_scans if self.triggered else 1
        return self.scans * per / self.rate_Hz


def newer_recording(path: str | os.PathLike) -> Path | None:
    """The newest recording started after `path` in the same folder (its
    ``NAME.escope``), or None. Recordings are named by their start
    (``YYYYMMDD-HHMMSS``); saved sweeps (``…-NNN``) do not count."""
    escope_path = resolve_paths(path)[0]
    ours = escope_path.stem
    if not RUNDATE_RE.match(ours):
        return None
    newest = None
    try:
        entries = list(os.scandir(escope_path.parent))
    except OSError:
        return None
    for entry in entries:
        name = entry.name
        if name.endswith(".escope") and RUNDATE_RE.match(name[:-7]) and name[:-7] > ours:
            if newest is None or name > newest:
                newest = name
    return escope_path.parent / newest if newest else None


def _open(path: Any, deadline: float | None, poll_s: float):
    """Open the recording, waiting (until `deadline`) for a ``.dat`` that
    the acquisition program has not created yet."""
    from .recording import Recording

    while True:
        try:
            with warnings.catch_warnings():
                # a partial scan or sweep at the end is still being written
                warnings.simplefilter("ignore", PartialDataWarning)
                return Recording(path)
        except FileNotFoundError as exc:
            if "sample file" not in str(exc.strerror) or (
                    deadline is not None and time.monotonic() >= deadline):
                raise
        time.sleep(poll_s)


def follow(path: str | os.PathLike, *, threshold: Any = None, k: float = 5.0,
           noise_s: float = 10.0, units: UnitLike | None = None,
           channels: Sequence[str | int] | None = None, polarity: int = 0,
           tkill: float | None = 50, upperthresh: float | None = None, poll_s: float = 0.25,
           idle_timeout_s: float | None = None) -> Iterator[Update]:
    """Follow a recording while it is written: the spikes as they happen.

    Parameters
    ----------
    path : str or os.PathLike
        The recording (``NAME.escope`` or any of its files).
    threshold : float, sequence or dict, optional
        One for all channels, one per channel or a dict name → threshold, in
        `units`. Default: `k` × each channel's noise (:func:`escope.rmsnoise`)
        over the first `noise_s` seconds of the recording, then fixed.
    k, noise_s
        See `threshold`. Until `noise_s` seconds are recorded no spike is
        reported; then the spikes of those seconds come too (the samples are
        read from the file again), so none is lost. If the capture ends
        sooner, the noise of what was recorded is used.
    units : str, optional
        Units of samples, thresholds and amplitudes (default: each channel's own).
    channels : sequence of str or int, optional
        Names or indices (default: all).
    polarity, tkill, upperthresh
        As for :func:`escope.detectspikes`.
    poll_s : float
        Seconds between looks at the file.
    idle_timeout_s : float, optional
        End when the file has not grown for this long (default: never, only
        when a newer recording starts in the same folder or the caller stops).

    Yields
    ------
    Update
        One per look at the file (spikes may be empty); the last one has
        ``ended`` set.

    Raises
    ------
    escope.FormatError
        If the ``.dat`` is replaced, shrinks or vanishes, or the sidecar
        changes, while it is followed (naming the file); what the other
        functions raise for the arguments.

    Notes
    -----
    Follows run the Numba kernels (a capture is a long job): the first
    update pays their start-up, about half a second.
    """
    from .analysis import resolve_thresholds

    polarity = checks.polarity(polarity)
    tkill = checks.tkill(tkill)
    upperthresh = checks.upperthresh(upperthresh)
    poll_s = _seconds(poll_s, "poll_s", zero_ok=False)
    noise_s = _seconds(noise_s, "noise_s", zero_ok=True)
    if idle_timeout_s is not None:
        idle_timeout_s = _seconds(idle_timeout_s, "idle_timeout_s", zero_ok=True)
    load_kernels()  # before the capture's samples matter: once per process, ~0.5 s
    start = time.monotonic()
    rec = _open(path, None if idle_timeout_s is None else start + idle_timeout_s, poll_s)
    h = rec.header
    cols = (list(range(h.n_channels)) if channels is None
            else [h.channel_index(c) for c in ([channels] if isinstance(channels, (str, int))
                                               else channels)])
    if len(set(cols)) != len(cols) or not cols:
        raise ValueError(f"channels must name distinct channels, not {channels!r}")
    names = [h.channels[c] for c in cols]
    gains = [float(rec.scale_factor(c, units)) for c in cols]
    unit_names = {n: (h.units[c] if units is None else _normalized(units))
                  for n, c in zip(names, cols)}
    given = resolve_thresholds(threshold, k, names)
    k = checks.k(k)
    triggered = h.triggered
    S = h.n_scans if triggered else 1  # scans per unit the file grows by
    # A capture is a long job: the kernels, whatever the size of each piece.
    job = SMALL_INPUT + 1
    noise_units = max(1, int(np.ceil(noise_s * h.rate_Hz / S)))  # scans, or sweeps
    estimator = None if given is not None else NoiseEstimator(
        len(cols), gains=gains, columns=cols, names=names, job_samples=job)
    detector = None
    thresholds = noise = None
    fed_noise = fed = 0  # units (scans or sweeps) taken in by each
    total = dict.fromkeys(names, 0)

    def make_detector(values: list[float]) -> SpikeDetector:
        return SpikeDetector(values, polarity=polarity, tkill=tkill, upperthresh=upperthresh,
                             gains=gains, columns=cols, job_samples=job)

    if given is not None:
        thresholds = dict(zip(names, given))
        detector = make_detector(given)

    def update(found: list, ended: str | None = None, newer: Path | None = None) -> Update:
        spikes, amps, sweeps = {}, {}, ({} if triggered else None)
        for name, (idx, val) in zip(names, found):
            if triggered:
                sweeps[name] = idx // S
                spikes[name] = idx - sweeps[name] * S
            else:
                spikes[name] = idx
            amps[name] = val
            total[name] += len(idx)
        return Update(path=h.escope_path, rate_Hz=h.rate_Hz, triggered=triggered,
                      sweep_scans=h.n_scans if triggered else h.sweep_scans, spikes=spikes,
                      sweeps=sweeps, amplitudes=amps, scans=available, thresholds=thresholds,
                      noise=noise, units=unit_names, total=dict(total), ended=ended,
                      newer=newer)

    def units_available() -> int:
        return rec.n_sweeps if triggered else rec.n_scans

    def block(a: int, b: int) -> np.ndarray:
        x = rec.samples()  # (T, C) or (N, S, C): a fresh map of what is there
        return x[a * S: b * S] if not triggered else x[a:b].reshape(-1, h.n_channels)

    def take_in(final: bool) -> list:
        """Feed what arrived; returns per channel (indices, values) handed out."""
        nonlocal thresholds, noise, detector, fed_noise, fed, noise_units
        found = [[np.empty(0, np.int64), np.empty(0)] for _ in names]
        if detector is None:
            end = min(available, noise_units)
            if triggered:
                for n in range(fed_noise, end):  # chunks never straddle sweeps
                    estimator.feed(block(n, n + 1))
                    estimator.end_segment()
            elif end > fed_noise:
                estimator.feed(block(fed_noise, end))
            fed_noise = end
            if fed_noise < noise_units and not final:
                return found
            if min(estimator.counts()) == 0:
                # not one chunk free of NaN and inf on some channel yet
                noise_units = available + max(1, int(np.ceil(h.rate_Hz / S)))
                return found
            noise = dict(zip(names, estimator.value()))
            thresholds = {n: k * v for n, v in noise.items()}
            detector = make_detector(list(thresholds.values()))
        parts = []
        if triggered:
            for n in range(fed, available):
                parts.append(detector.feed(block(n, n + 1), last=True))
        elif available > fed:
            parts.append(detector.feed(block(fed, available)))
        fed = available
        if final and not triggered:
            parts.append(detector.finish())
        for part in parts:
            for c in range(len(names)):
                found[c][0] = np.concatenate([found[c][0], part.indices[c]])
                found[c][1] = np.concatenate([found[c][1], part.values[c]])
        return found

    def grow() -> bool:
        """Take in the file's new length; True if it changed."""
        nonlocal available
        try:
            size = os.stat(h.dat_path).st_size
        except FileNotFoundError:
            raise FormatError(f"{h.dat_path}: the sample file vanished while it was being "
                              "followed") from None
        if size == rec.header.dat_size:
            return False
        rec.refresh()  # checks that it is the same file, grown
        available = units_available()
        return True

    available = units_available()
    last_growth = time.monotonic()
    while True:
        newer = newer_recording(h.escope_path)
        if newer is not None:
            grow()  # the program closed this file before it started the next
            yield update(take_in(True), "newer recording", newer)
            return
        if idle_timeout_s is not None and time.monotonic() - last_growth >= idle_timeout_s:
            yield update(take_in(True), "idle")
            return
        yield update(take_in(False))
        time.sleep(poll_s)
        if grow():
            last_growth = time.monotonic()


def load_kernels() -> None:
    """Run the kernels a follower uses once on a few zeros: a process pays
    their start-up the first time (loading them from numba's cache, ~0.5 s),
    which should not delay the first spikes of a capture. ``watch`` calls it
    before it waits for a recording."""
    x = np.zeros((64, 2), np.float32)
    SpikeDetector([1.0, 1.0], gains=[1.0, 1.0], job_samples=SMALL_INPUT + 1).feed(x, last=True)
    SpikeDetector([1.0, 1.0], gains=[1.0, 1.0], job_samples=SMALL_INPUT + 1).feed(x)
    NoiseEstimator(2, 2, gains=[1.0, 1.0], job_samples=SMALL_INPUT + 1).feed(x)


def _seconds(value: Any, name: str, *, zero_ok: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    if isinstance(value, bool) or not (number >= 0 if zero_ok else number > 0) or \
            number == float("inf"):
        kind = "non-negative" if zero_ok else "positive"
        raise ValueError(f"{name} must be a {kind} number of seconds, not {value!r}")
    return number


def _normalized(units: UnitLike) -> str:
    from .units import normalize

    return normalize(units)
