"""`Recording`: lazy access to one EScope recording."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

from . import format as _fmt
from .format import Header
from .units import UnitLike, conversion_factor

__all__ = ["Recording"]


def _is_url(name: Any) -> bool:
    return isinstance(name, str) and name.lower().startswith(("http://", "https://"))


class Recording:
    """An EScope recording, opened lazily.

    Opening reads only the sidecar (and, for old versions, the ``.config``
    file). Samples come from a read-only memory map of the ``.dat`` file when
    they are asked for, so a recording larger than memory opens in
    milliseconds and :meth:`data` reads only what it returns.

    Parameters
    ----------
    filename : str or os.PathLike
        ``NAME.escope``, ``NAME.dat``, ``NAME.config`` or plain ``NAME``
        (for a recording of EScope 1.x/2.0 also ``NAME.txt``; its pickled
        settings are read without running them). A name starting with
        ``http://`` or ``https://`` is downloaded (with its ``.dat`` and, for
        old versions, ``.config`` or ``.txt``) into a local cache first.

    Raises
    ------
    escope.FormatError
        If the recording is malformed or of an unsupported version.
    ValueError
        If `filename` names no recording (``""``, a folder path ending in ``/``).
    FileNotFoundError
        If the sidecar, the ``.dat`` or a needed ``.config`` file is missing.
    OSError
        If a download fails (:class:`escope.DownloadError`).

    Warns
    -----
    escope.PartialDataWarning
        When a trailing partial scan or sweep (an interrupted acquisition) is
        dropped; the message says how many scans.
    escope.MissingSettingsWarning
        When an EScope 1.x/2.0 recording's settings are missing or cannot be
        read safely: it is read from its ``.txt`` as a continuous capture.

    Examples
    --------
    >>> import escope, os, tempfile
    >>> from escope.synth import make_recording
    >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
    >>> rec = escope.Recording(path)
    >>> rec.channels, rec.units, rec.rate
    (['ai0', 'ai1'], ['uV', 'uV'], 20000.0)
    >>> y, unit = rec.data("ai0")
    >>> y.shape, y.dtype, unit
    ((20000,), dtype('float32'), 'uV')
    >>> rec.data(1, "mV", start=0.5, stop=0.6).shape
    (2000,)
    >>> rec.time()[:3]
    array([0.e+00, 5.e-05, 1.e-04])
    """

    def __init__(self, filename: str | os.PathLike) -> None:
        source = filename
        if _is_url(filename):
            from ._remote import fetch_recording

            filename = fetch_recording(filename)
        self._source = str(source) if _is_url(source) else None
        self._header: Header = _fmt.read_header(filename)
        self._raw: np.ndarray | None = None
        #: Scratch space of the analyses of this recording (e.g. the noise
        #: chunks of the last estimate, see :mod:`escope.analysis`); emptied
        #: by :meth:`close`.
        self.analysis_cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ basics
    @property
    def header(self) -> Header:
        """The parsed header (see :class:`escope.format.Header`)."""
        return self._header

    @property
    def filename(self) -> str:
        """Path of the sidecar (``.escope``) file."""
        return str(self._header.escope_path)

    @property
    def rate(self) -> float:
        """Sampling rate per channel, in Hz."""
        return self._header.rate_Hz

    @property
    def channels(self) -> list[str]:
        """Channel names, in column order."""
        return list(self._header.channels)

    @property
    def units(self) -> list[str]:
        """The unit of each channel (``"mV"``, ``"uV"``, ``"pA"``...)."""
        return list(self._header.units)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self._header.n_channels

    @property
    def n_scans(self) -> int:
        """Samples per channel: per sweep if triggered, in all otherwise."""
        return self._header.n_scans

    @property
    def n_sweeps(self) -> int:
        """Number of whole sweeps (1 for continuous recordings and saved sweeps)."""
        return self._header.n_sweeps

    @property
    def triggered(self) -> bool:
        """True for a triggered capture (data is sweeps × samples)."""
        return self._header.triggered

    @property
    def kind(self) -> str:
        """``"continuous"``, ``"triggered"`` or ``"sweep"`` (a saved sweep)."""
        return self._header.kind

    @property
    def duration(self) -> float:
        """Recorded time in seconds (all sweeps together, if triggered)."""
        return self.n_sweeps * self.n_scans / self.rate

    @property
    def trigger_index(self) -> int:
        """Scan index of the trigger within each sweep (0 if not triggered)."""
        return self._header.trigger_index

    @property
    def pretrigger_s(self) -> float:
        """Seconds before the trigger at the start of each sweep (0 if not triggered)."""
        return self._header.trigger_index / self.rate

    @property
    def rundate(self):
        """Start of the run as a :class:`datetime.datetime` (None if unreadable)."""
        return self._header.rundate_datetime

    def start_time(self, timezone: Any = None):
        """Start of the run as a timezone-aware :class:`datetime.datetime`.

        EScope writes local time without a zone: it is read in `timezone`
        (an IANA name such as ``"Europe/Berlin"`` or a ``tzinfo``), else in
        ``$ESCOPE_TIMEZONE``, else in this computer's local zone. None if the
        run date is unreadable.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=0.1)
        >>> Recording(path).start_time("Europe/Berlin").isoformat()
        '2024-10-07T12:34:12+02:00'
        """
        return _fmt.start_time(self._header, timezone)

    def info(self) -> dict[str, Any]:
        """Return the recording's metadata.

        Returns
        -------
        dict
            ``version``, ``rundate``, ``rate_Hz``, ``channels``, ``scale``,
            ``sweep_s``, ``sweep_scans`` and ``config`` (the settings as
            plain dicts and numpy arrays, whether embedded or from
            ``.config``), plus ``units``, ``kind``, ``n_sweeps``, ``n_scans``,
            ``trigger_index``, ``duration_s``, ``filename`` and ``url`` (the
            address it was downloaded from, or None).
        """
        h = self._header
        return {
            "version": h.version,
            "rundate": h.rundate,
            "rate_Hz": h.rate_Hz,
            "channels": list(h.channels),
            "scale": list(h.scale),
            "sweep_s": h.sweep_s,
            "sweep_scans": h.sweep_scans,
            "config": h.config,
            "units": list(h.units),
            "kind": h.kind,
            "n_sweeps": h.n_sweeps,
            "n_scans": h.n_scans,
            "trigger_index": h.trigger_index,
            "duration_s": self.duration,
            "filename": self.filename,
            "url": self._source,
        }

    def refresh(self) -> int:
        """Take in what a capture still being written has added to the file.

        Re-reads the length of the ``.dat``; everything that reports shape
        (:attr:`n_scans`, :attr:`n_sweeps`, :attr:`duration`, :meth:`data`…)
        follows. A partial sample, scan or sweep at the end is not read (it
        is still being written). Arrays returned before stay as they were.

        Returns
        -------
        int
            Scans added (continuous captures, saved sweeps) or whole sweeps
            added (triggered captures).

        Raises
        ------
        escope.FormatError
            If the ``.dat`` was replaced, shrank or vanished, or the sidecar
            or settings changed, naming the file.

        Examples
        --------
        >>> import os, tempfile, numpy as np, escope
        >>> path = escope.write(os.path.join(tempfile.mkdtemp(), "rec"),
        ...                     np.zeros((2, 100), np.float32), 1000, ["a", "b"], ["1 mV"] * 2)
        >>> rec = Recording(path)
        >>> with open(rec.header.dat_path, "ab") as f:
        ...     _ = f.write(np.ones((50, 2), "<f4").tobytes() + bytes(2))  # and a partial sample
        >>> rec.refresh(), rec.n_scans
        (50, 150)
        """
        old = self._header
        self._header = _fmt.refresh_header(old)
        self._raw = None  # the map of the old length: a new one on the next read
        self.analysis_cache.clear()
        if old.triggered:
            return self._header.n_sweeps - old.n_sweeps
        return self._header.n_scans - old.n_scans

    # ------------------------------------------------------------------ samples
    def samples(self) -> np.ndarray:
        """The raw samples in file order, a read-only memory map (no copy):
        ``(T, C)`` scans × channels, or ``(N, S, C)`` sweeps × scans ×
        channels. What the analysis reads; :meth:`rawdata` is the same
        channel-major.

        Raises
        ------
        escope.FormatError
            If the ``.dat`` file was replaced or truncated since opening.
        """
        return np.moveaxis(self._memmap(), 0, -1)

    def _memmap(self) -> np.ndarray:
        if self._raw is None:
            # Channel-major view of the interleaved file: C×T or C×N×S.
            self._raw = np.moveaxis(_fmt.open_samples(self._header), -1, 0)
        return self._raw

    def _scan_index(self, t: Any, name: str) -> int:
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise ValueError(f"{name} must be a time in seconds (a real number), not {t!r}")
        try:
            t = float(t)
        except OverflowError:  # an int beyond float range
            t = math.inf if t > 0 else -math.inf
        scans = t * self.rate
        if math.isfinite(scans):
            # Round the product first so that e.g. 0.1 s at 20 kHz is scan 2000.
            index = math.ceil(round(scans, 6))
            if 0 <= index <= self.n_scans:
                return index
        span = "each sweep" if self.triggered else "the recording"
        raise ValueError(f"{name}={t!r} s is outside {span}: times run from 0 to "
                         f"{self.n_scans / self.rate:g} s")

    def window(self, start: float | None = None, stop: float | None = None) -> slice:
        """Scans of the time window ``start <= t < stop`` (seconds; within
        each sweep if triggered), as a slice.

        The rule, as in Neo: a window must lie within the recording (within a
        sweep, if triggered), ``0 <= start <= stop <= n_scans / rate``;
        anything else raises a ValueError naming the argument.
        """
        i0 = 0 if start is None else self._scan_index(start, "start")
        i1 = self.n_scans if stop is None else self._scan_index(stop, "stop")
        if i0 > i1:
            raise ValueError(f"start={start!r} s is after stop={stop!r} s")
        return slice(i0, i1)

    def rawdata(
        self,
        channel: int | str | None = None,
        *,
        start: float | None = None,
        stop: float | None = None,
    ) -> np.ndarray:
        """Return unscaled samples as a read-only view of the file (no copy).

        Parameters
        ----------
        channel : int or str, optional
            Index (negative counts from the end) or name. Default: all.
        start, stop : float, optional
            Time window in seconds (within each sweep, if triggered):
            samples with ``start <= t < stop``. The window must lie within
            the recording, ``0 <= start <= stop <= n_scans / rate``.

        Returns
        -------
        numpy.ndarray
            C×T (continuous, saved sweep) or C×N×T (triggered); with
            `channel`, T or N×T.
        """
        raw = self._memmap()
        window = self.window(start, stop)
        if channel is None:
            return raw[..., window]
        return raw[self._header.channel_index(channel)][..., window]

    def data(
        self,
        channel: int | str,
        units: UnitLike | None = None,
        *,
        start: float | None = None,
        stop: float | None = None,
    ) -> Any:
        """Return one channel's samples in physical units.

        Parameters
        ----------
        channel : int or str
            Index (negative counts from the end) or a name from :attr:`channels`.
        units : str or quantities unit, optional
            Convert to these units (``"uV"``, ``"µV"``, ``pq.mV``, ``"nA"``...).
        start, stop : float, optional
            Time window in seconds, within the recording (as for
            :meth:`rawdata`); only that part of the file is read.

        Returns
        -------
        (numpy.ndarray, str) or numpy.ndarray
            Without `units`: the samples in the channel's own unit and that
            unit (``"mV"``; micro is spelled ``u``). With `units`: only the
            converted samples. Length-T vector (continuous, saved sweep) or
            N×T array (triggered). float32 files give float32 arrays.

        Raises
        ------
        ValueError
            Unknown channel name (the message lists the names), units that
            cannot be converted (the message names both), or a time window
            outside the recording (the message names the argument).
        escope.FormatError
            If the ``.dat`` file was replaced or truncated since opening.
        IndexError
            Channel index out of range.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
        >>> rec = Recording(path)
        >>> y, unit = rec.data(0)
        >>> unit
        'uV'
        >>> y_mv = rec.data("ai1", "mV")
        >>> bool(abs(y_mv[100] * 1000 - rec.data("ai1")[0][100]) < 1e-3)
        True
        """
        h = self._header
        c = h.channel_index(channel)
        raw = self.rawdata(c, start=start, stop=stop)
        out = np.multiply(raw, self.scale_factor(c, units))
        return out if units is not None else (out, h.units[c])

    def scale_factor(self, channel: int | str, units: UnitLike | None = None) -> np.generic:
        """The number raw samples of `channel` are multiplied by to give
        `units` (default: the channel's own), in the samples' dtype. Every
        path that scales samples uses it, so that they all give exactly what
        :meth:`data` gives.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=0.1)
        >>> Recording(path).scale_factor("ai0", "mV")
        np.float32(0.001)
        """
        h = self._header
        c = h.channel_index(channel)
        factor = h.gains[c]
        if units is not None:
            factor *= conversion_factor(h.units[c], units)
        return h.dtype.type(factor)

    def time(self, *, start: float | None = None, stop: float | None = None,
             relative_to: str = "start") -> np.ndarray:
        """Sample times in seconds, float64: from the start of the recording
        (of each sweep, if triggered), or with ``relative_to="trigger"`` from
        the trigger (0 at the trigger, negative before it; triggered
        captures only). `start` and `stop` are always from the start.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_evoked_recording
        >>> path, _ = make_evoked_recording(os.path.join(tempfile.mkdtemp(), "ev"))
        >>> Recording(path).time(relative_to="trigger")[:2]
        array([-0.05   , -0.04995])
        """
        if relative_to not in ("start", "trigger"):
            raise ValueError(f"relative_to must be 'start' or 'trigger', not {relative_to!r}")
        window = self.window(start, stop)
        first = window.start
        if relative_to == "trigger":
            from .sweeps import SweepView

            first -= SweepView.of(self, "relative_to='trigger'").trigger
        return np.arange(first, first + window.stop - window.start, dtype=np.float64) / self.rate

    # ------------------------------------------------------------------ sweeps
    def average(self, channel: int | str, units: UnitLike | None = None, *,
                baseline: Any = "pretrigger", sweeps: Any = None):
        """The evoked response of `channel`: mean, SD and count per sample
        over the sweeps of a triggered capture.

        Parameters
        ----------
        channel : int or str
        units : str, optional
            Default: the channel's own.
        baseline : "pretrigger", (t0, t1) or None
            Subtract from each sweep its mean before the trigger, or in the
            window ``t0 <= t < t1`` (seconds from the trigger), or nothing.
        sweeps : slice, sequence of int or bool mask, optional
            Which sweeps (default: all).

        Returns
        -------
        escope.sweeps.Average
            ``mean``, ``sd`` (``ddof=1``), ``n`` (sweeps with a value at
            each sample; NaN samples are left out) and ``time`` (seconds
            from the trigger). One pass over the file in float64, a sweep
            at a time: constant memory for any number of sweeps.

        Raises
        ------
        ValueError
            For a continuous capture (use :meth:`events` and
            :meth:`epochs`), a baseline window outside the sweep,
            ``"pretrigger"`` without a pre-trigger part, no sweep.
        """
        from .sweeps import SweepView, average

        return average(SweepView.of(self, "average"), channel, units, baseline=baseline,
                       sweeps=sweeps)

    def sweep_stats(self, channel: int | str, window: Any, *, units: UnitLike | None = None,
                    baseline: Any = "pretrigger"):
        """Per sweep, in `window` (``(t0, t1)`` seconds from the trigger):
        the peak (the value of largest magnitude after the baseline, signed,
        first on ties), its latency from the trigger (s), the mean and the
        area (unit·s).

        Returns
        -------
        pandas.DataFrame or dict
            Columns ``sweep``, ``peak``, ``latency_s``, ``mean``, ``area``
            (a dict of arrays when pandas is not installed).

        Raises
        ------
        ValueError
            As :meth:`average`, and for a window outside the sweep.
        """
        from .sweeps import SweepView, sweep_stats

        return sweep_stats(SweepView.of(self, "sweep_stats"), channel, window, units,
                           baseline=baseline)

    def events(self, channel: int | str, level: float, direction: int = 1, *,
               units: UnitLike | None = None, reset: float | None = None) -> np.ndarray:
        """Times (seconds) where a stimulus `channel` of a continuous capture
        crosses `level`: upward (`direction` 1) or downward (-1), like a
        Schmitt trigger re-armed only once the channel is back past `reset`
        (default ``level / 2``), so noise on a crossing counts it once. A
        channel already past `level` at the start is no crossing.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_evoked_recording
        >>> path, _ = make_evoked_recording(os.path.join(tempfile.mkdtemp(), "c"),
        ...                                 continuous=True, n_sweeps=3)
        >>> Recording(path).events("stim", 2.5).round(3)
        array([0.05, 0.25, 0.45])
        """
        from .sweeps import events

        return events(self, channel, level, direction, units, reset)

    def epochs(self, times: Any, before_s: float, after_s: float):
        """The sweep view of a continuous capture: the stretches from
        `before_s` before to `after_s` after each time (e.g. from
        :meth:`events`), with ``average``, ``sweep_stats`` and ``spikes``
        as for a triggered capture (:class:`escope.sweeps.Epochs`). Times
        whose stretch would leave the recording are left out and counted."""
        from .sweeps import Epochs

        return Epochs(self, times, before_s, after_s)

    def plot_sweeps(self, channel: int | str, spikes: Any = None, *,
                    units: UnitLike | None = None, baseline: Any = "pretrigger",
                    bin_s: float | None = None, max_columns: int = 2000, fig: Any = None):
        """The sweeps of `channel` overlaid (thin, subsampled as :meth:`plot`
        does), their mean ± SD, the trigger marked; with `spikes` (from
        :meth:`detectspikes`) a raster (sweep × time) and the PSTH below,
        on the same time axis. Returns the axes."""
        from .plotting import plot_sweeps

        return plot_sweeps(self, channel, spikes=spikes, units=units, baseline=baseline,
                           bin_s=bin_s, max_columns=max_columns, fig=fig)

    # ------------------------------------------------------------------ analysis
    def rmsnoise(
        self,
        channels: Any = None,
        *,
        units: UnitLike | None = None,
        chunksize: int = 300,
        percentile: float = 25,
        start: float | None = None,
        stop: float | None = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
        **tuning: int,
    ) -> dict[str, float]:
        """Noise level of every channel, in one pass over the file.

        Equal (to rounding of the sums, 1e-6 relative) to
        ``escope.rmsnoise(rec.data(c, units, start=start, stop=stop),
        chunksize, percentile)`` for each channel, without reading the file
        once per channel or making scaled copies.

        Parameters
        ----------
        channels : sequence of str or int, optional
            Names or indices; default: all channels.
        units : str or quantities unit, optional
            Express the noise in these units; default: each channel's own.
        chunksize, percentile
            As for :func:`escope.rmsnoise` (chunks never straddle sweeps).
        start, stop : float, optional
            Time window in seconds (within each sweep, if triggered).
        n_jobs : int, optional
            Threads; default: all cores. Results do not depend on it.
        progress : bool, optional
            Show a progress bar; default: when stderr is a terminal.

        Returns
        -------
        dict
            Channel name → noise level.

        Raises
        ------
        ValueError
            As :func:`escope.rmsnoise`, for unknown channels (listing the
            channels) and for windows outside the recording.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
        >>> noise = Recording(path).rmsnoise(units="uV")
        >>> {name: round(value) for name, value in noise.items()}
        {'ai0': 10, 'ai1': 10}
        """
        from .analysis import recording_rmsnoise

        return recording_rmsnoise(self, channels, units=units, chunksize=chunksize,
                                  percentile=percentile, start=start, stop=stop, n_jobs=n_jobs,
                                  progress=progress, **tuning)

    def detectspikes(
        self,
        threshold: Any = None,
        *,
        k: float = 5.0,
        channels: Any = None,
        polarity: int = 0,
        tkill: float | None = 50,
        upperthresh: float | None = None,
        start: float | None = None,
        stop: float | None = None,
        units: UnitLike | None = None,
        chunksize: int = 300,
        percentile: float = 25,
        n_jobs: int | None = None,
        progress: bool | None = None,
        **tuning: int,
    ):
        """Spikes of every channel, detected in one pass over the file.

        The indices equal ``escope.detectspikes(rec.data(c, units), thr,
        polarity, tkill, upperthresh)`` for each channel ``c`` and its
        threshold ``thr`` (sweep by sweep for a triggered capture), but the
        file is read once for all channels, on all cores, without scaled
        copies; memory stays constant however long the recording is.

        Parameters
        ----------
        threshold : float, sequence or dict, optional
            One threshold for all channels, one per channel (in the order of
            `channels`), or a dict name → threshold; in `units`. Default:
            `k` times each channel's :meth:`rmsnoise`.
        k : float
            Multiple of the noise used when `threshold` is not given.
        channels : sequence of str or int, optional
            Names or indices; default: all channels.
        polarity, tkill, upperthresh
            As for :func:`escope.detectspikes`.
        start, stop : float, optional
            Only detect within this time window (seconds, within each sweep
            if triggered); indices still count from the start of the
            recording or sweep.
        units : str or quantities unit, optional
            Units of the samples, thresholds and `upperthresh`; default:
            each channel's own.
        chunksize, percentile
            Of the noise estimate (see :func:`escope.rmsnoise`).
        n_jobs : int, optional
            Threads; default: all cores. Results do not depend on it.
        progress : bool, optional
            Show a progress bar; default: when stderr is a terminal.

        Returns
        -------
        escope.analysis.Spikes
            A dict channel name → int64 array of peak indices (a list of
            arrays, one per sweep, for a triggered capture), with the
            ``thresholds`` and ``noise`` used as attributes.

        Raises
        ------
        ValueError
            Whatever :func:`escope.detectspikes` and :func:`escope.rmsnoise`
            refuse; unknown channels (listing the channels); a `threshold`
            sequence of the wrong length; `k` that is not a positive finite
            number; a window outside the recording.

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, truth = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
        >>> rec = Recording(path)
        >>> spikes = rec.detectspikes(k=5, polarity=-1)
        >>> spikes.counts()
        {'ai0': 7, 'ai1': 4}
        >>> import escope
        >>> y = rec.data("ai0")[0]
        >>> bool((spikes["ai0"] == escope.detectspikes(y, spikes.thresholds["ai0"],
        ...                                            polarity=-1)).all())
        True
        """
        from .analysis import recording_detectspikes

        return recording_detectspikes(
            self, threshold, k=k, channels=channels, polarity=polarity, tkill=tkill,
            upperthresh=upperthresh, start=start, stop=stop, units=units, chunksize=chunksize,
            percentile=percentile, n_jobs=n_jobs, progress=progress, **tuning)

    # ------------------------------------------------------------------ plots and bridges
    def plot(self, fig=None, axes=None, *, max_columns: int = 2000, spikes=None) -> list:
        """Quick look at the whole recording with matplotlib.

        One panel per channel with its name and unit, a shared time axis in
        seconds and the run date as title; sweeps of a triggered recording are
        overlaid. Long traces are drawn as a min/max envelope per pixel
        column, so hours of data plot in about a second.

        Parameters
        ----------
        fig : matplotlib.figure.Figure, optional
            Figure to draw into (new panels are added).
        axes : sequence of matplotlib.axes.Axes, optional
            One axes per channel to draw into.
        max_columns : int
            Resolution of the envelope (columns across the time axis).
        spikes : escope.analysis.Spikes, optional
            The result of :meth:`detectspikes`: its spikes are marked and its
            thresholds drawn (dashed, ±) on each channel.

        Returns
        -------
        list of matplotlib.axes.Axes
            One per channel. In a script, show the figure with
            ``plt.show()`` or save it with ``plt.savefig("overview.png")``
            (or ``axes[0].figure.savefig(...)``); in a notebook it shows by
            itself.
        """
        from .plotting import plot_recording

        return plot_recording(self, fig=fig, axes=axes, max_columns=max_columns, spikes=spikes)

    def to_neo(self, lazy: bool = False):
        """Return the recording as a :class:`neo.core.Block` (imports neo)."""
        from escope_neo import EScopeIO

        return EScopeIO(self.filename).read_block(lazy=lazy)

    def to_spikeinterface(self):
        """Return the recording as a SpikeInterface recording extractor."""
        from escope_neo import read_escope

        return read_escope(self.filename)

    # ------------------------------------------------------------------ life cycle
    def __getstate__(self) -> dict[str, Any]:
        # Pickle the name, never the samples: a pickled Recording costs
        # bytes, and the file is opened (and checked) again on unpickling.
        return {"filename": self.filename, "source": self._source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._source = state["source"]
        self._header = _fmt.read_header(state["filename"])
        self._raw = None
        self.analysis_cache = {}

    def close(self) -> None:
        """Drop this object's memory map (arrays already returned stay valid)."""
        self._raw = None
        self.analysis_cache.clear()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        h = self._header
        chans = ", ".join(f"{c} ({u})" for c, u in zip(h.channels, h.units))
        shape = (
            f"{h.n_sweeps} sweeps × {h.n_scans} scans" if h.triggered else f"{h.n_scans} scans"
        )
        return (
            f"<escope.Recording {h.escope_path.name!r} {h.version} {h.kind}: "
            f"{h.n_channels} channel(s) [{chans}] at {h.rate_Hz:g} Hz, {shape}, "
            f"{self.duration:.3f} s>"
        )
