"""`EScopeIO`: EScope recordings at Neo's IO layer, read and write."""

from __future__ import annotations

import os
import warnings
from datetime import datetime

import numpy as np
import quantities as pq  # noqa: F401  (used in the examples)
from neo.core import Block
from neo.io.basefromrawio import BaseFromRaw
from neo.io.baseio import BaseIO

from escope.format import resolve_paths

from escope.units import normalize, parse_channel_scale, unit_kind

from .rawio import EScopeRawIO

__all__ = ["EScopeIO", "DroppedWarning"]


class EScopeIO(EScopeRawIO, BaseFromRaw):
    """Neo IO for EScope recordings.

    ``read_block()`` gives :class:`neo.AnalogSignal` objects in the channels'
    units (``pq.mV``, ``pq.nA`` ...); ``lazy=True`` gives proxies that load
    only the part asked for. ``write_block(block)`` saves a Block as an
    ``escope-3.3`` recording.

    Parameters
    ----------
    filename : str or os.PathLike
        ``NAME.escope`` (or ``NAME``, ``NAME.dat``...).

    Examples
    --------
    >>> from escope_neo import EScopeIO
    >>> import os, tempfile
    >>> from escope.synth import make_recording
    >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
    >>> block = EScopeIO(path).read_block()
    >>> sig = block.segments[0].analogsignals[0]
    >>> sig.shape, sig.sampling_rate
    ((20000, 2), array(20000.) * Hz)
    >>> EScopeIO(os.path.join(tempfile.mkdtemp(), "copy.escope")).write_block(block)
    """

    name = "EScope IO"
    description = "EScope software-oscilloscope recordings (.escope + .dat)"
    _prefered_signal_group_mode = "group-by-same-units"
    is_writable = True
    writeable_objects = [Block]

    def __init__(self, filename: str | os.PathLike) -> None:
        EScopeRawIO.__init__(self, filename=filename)
        # Not BaseFromRaw.__init__: it parses the header at once, and an IO
        # opened to write a new recording has no file to parse yet.
        BaseIO.__init__(self, str(filename))
        if resolve_paths(filename)[0].exists():
            self.parse_header()

    def read_block(self, *args, **kwargs) -> Block:
        """Read the recording as a :class:`neo.Block` (see :meth:`neo.io.BaseFromRaw.read_block`).

        Examples
        --------
        >>> import os, tempfile
        >>> from escope.synth import make_recording
        >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
        >>> lazy = EScopeIO(path).read_block(lazy=True)
        >>> lazy.segments[0].analogsignals[0].load(time_slice=(0 * pq.s, 0.1 * pq.s)).shape
        (2000, 2)
        """
        if self.header is None:
            self.parse_header()  # raises escope's FormatError / FileNotFoundError
        return BaseFromRaw.read_block(self, *args, **kwargs)

    def read_segment(self, *args, **kwargs):
        """Read one segment (one sweep of a triggered capture) as a :class:`neo.Segment`."""
        if self.header is None:
            self.parse_header()
        return BaseFromRaw.read_segment(self, *args, **kwargs)

    def write_block(self, block: Block, overwrite: bool = False, **kwargs) -> None:
        """Save `block` as an ``escope-3.3`` recording at this IO's filename.

        One segment becomes a continuous recording; several segments whose
        signals have equal lengths become triggered sweeps, in order. Signals
        are matched by position: every segment must hold the same signals
        (channel counts and units) in the same order as the first; channel
        names come from its ``channel_names`` (or ``channel_ids``) array
        annotation. Every channel keeps its unit (scale ``"1 <unit>"``), the
        sampling rate, and what an EScope recording can hold of the rest:
        the pretrigger (from the ``"trigger"`` events, or the segments'
        ``trigger_time_s`` annotation), the run date, the sweep length
        (``sweep_s``) and the acquisition adapter and trigger settings
        annotated by :class:`EScopeIO`. The recording is written as
        ``escope-3.3`` (float32). Lazy blocks are loaded one signal at a time.

        Warns
        -----
        escope_neo.io.DroppedWarning
            Naming everything the format cannot hold and that is not written:
            SpikeTrains, Events other than the trigger, Epochs, a non-zero
            ``t_start``, samples that float32 rounds.

        Raises
        ------
        ValueError
            Saying why the block cannot be stored (no signals, mixed sampling
            rates, unequal sweep lengths, segments whose signals differ, units
            that are not volts or amperes, trigger times that differ between
            sweeps). Nothing is written.
        FileExistsError
            If the recording exists and `overwrite` is false.
        """
        import escope
        from escope.writer import default_config

        plan = _plan_block(block)
        if plan.dropped:
            warnings.warn(f"{self.filename}: not stored in the EScope recording: "
                          + "; ".join(plan.dropped), DroppedWarning, stacklevel=2)
        triggered = plan.data.ndim == 3
        sweep_s = plan.sweep_s if plan.sweep_s else None
        rundate = block.rec_datetime or plan.annotations.get("rundate")
        if isinstance(rundate, datetime):
            rundate = rundate.strftime("%Y%m%d-%H%M%S")
        gains_units = [parse_channel_scale(text) for text in plan.scale]
        n_scans = plan.data.shape[-1]
        length_s = n_scans / plan.rate if triggered else (sweep_s or 0.5)
        config = default_config(plan.rate, plan.names, [g for g, _ in gains_units],
                                 [u for _, u in gains_units], length_s, triggered,
                                 plan.pretrigger_s, rundate or datetime.now().strftime(
                                     "%Y%m%d-%H%M%S"))
        ann = plan.annotations
        if isinstance(ann.get("adapter"), str) and ann["adapter"]:
            config["hw"]["adapter"] = ann["adapter"].split(" ")
        for key in ("auto", "source", "direction", "level_div"):
            if f"trigger_{key}" in ann:
                config["trig"][key] = ann[f"trigger_{key}"]
        escope.write(self.filename, plan.data, plan.rate, plan.names, plan.scale,
                     pretrigger_s=plan.pretrigger_s, rundate=rundate, config=config,
                     overwrite=overwrite, sweep_s=None if triggered else sweep_s)


class DroppedWarning(UserWarning):
    """Part of a Neo block that an EScope recording cannot hold was not written."""


class _BlockPlan:
    def __init__(self):
        self.data = None
        self.rate = 0.0
        self.names: list[str] = []
        self.scale: list[str] = []
        self.pretrigger_s = 0.0
        self.sweep_s = 0.0
        self.dropped: list[str] = []
        self.annotations: dict = {}


def _load(sig):
    # A proxy (lazy block) is loaded here, one signal at a time.
    return sig.load() if hasattr(sig, "load") and not hasattr(sig, "magnitude") else sig


def _channel_names(sig, n_done: int) -> list[str]:
    for key in ("channel_names", "channel_ids"):
        values = sig.array_annotations.get(key)
        if values is not None and len(values) == sig.shape[1]:
            return [str(v) for v in values]
    if sig.shape[1] == 1 and sig.name:
        return [str(sig.name)]
    return [f"ch{n_done + k}" for k in range(sig.shape[1])]


def _plan_block(block: Block) -> _BlockPlan:
    plan = _BlockPlan()
    plan.annotations = dict(block.annotations)
    segments = [seg for seg in block.segments if seg.analogsignals]
    if not segments:
        raise ValueError("the block has no analog signals: nothing to write")
    first = segments[0].analogsignals
    layout = []
    rates = set()
    for sig in first:
        unit = normalize(sig.units.dimensionality.string)
        try:
            unit_kind(unit)
        except ValueError:
            raise ValueError(f"signal {sig.name!r} is in {unit!r}: an EScope channel's unit "
                             "must be a voltage or a current") from None
        layout.append((sig.shape[1], unit))
    for k, seg in enumerate(segments):
        sigs = seg.analogsignals
        got = [(s.shape[1], normalize(s.units.dimensionality.string)) for s in sigs]
        if got != layout:
            raise ValueError(f"segment {k} has different channels or units than segment 0 "
                             f"({got} vs {layout}): cannot store them as sweeps")
        for s in sigs:
            rates.add(float(s.sampling_rate.rescale("Hz").magnitude))
        lengths = {s.shape[0] for s in sigs}
        if len(lengths) > 1:
            raise ValueError(f"signals of segment {k} differ in length {sorted(lengths)}: "
                             "EScope stores channels of equal length")
    if len(rates) > 1:
        raise ValueError(f"signals have mixed sampling rates {sorted(rates)} Hz: "
                         "EScope stores one rate for all channels")
    lengths = {seg.analogsignals[0].shape[0] for seg in segments}
    if len(lengths) > 1:
        raise ValueError(f"segments differ in length {sorted(lengths)}: "
                         "triggered sweeps must all have the same number of samples")
    plan.rate = rates.pop()
    names: list[str] = []
    for sig in first:
        names += _channel_names(sig, len(names))
    if len(set(names)) != len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    plan.names = names
    plan.scale = [f"1 {u}" for n_ch, u in layout for _ in range(n_ch)]

    # What the format cannot hold is named, never silently lost.
    counts = {"SpikeTrain": 0, "Event": 0, "Epoch": 0}
    triggers = []
    for k, seg in enumerate(block.segments):
        counts["SpikeTrain"] += len(seg.spiketrains)
        counts["Epoch"] += len(seg.epochs)
        for ev in seg.events:
            ev = _load(ev)
            if ev.name == "trigger" and len(ev) == 1:
                triggers.append(float(ev.times.rescale("s").magnitude[0]
                                      - seg.t_start.rescale("s").magnitude))
            else:
                counts["Event"] += 1
        if "trigger_time_s" in seg.annotations and not any(e.name == "trigger"
                                                            for e in seg.events):
            triggers.append(float(seg.annotations["trigger_time_s"]))
        t0 = float(seg.t_start.rescale("s").magnitude) if seg.t_start is not None else 0.0
        if t0 != 0.0 and seg.analogsignals:
            plan.dropped.append(f"t_start {t0:g} s of segment {k} (EScope recordings and "
                                "sweeps start at 0)")
    for kind, n in counts.items():
        if n:
            plan.dropped.append(f"{n} {kind}(s)" + (" other than the trigger"
                                                    if kind == "Event" else ""))
    triggered = len(segments) > 1
    if triggers:
        if triggered and len(set(triggers)) > 1:
            raise ValueError(f"trigger times differ between sweeps {sorted(set(triggers))} s: "
                             "EScope stores one pretrigger for all sweeps")
        if triggered:
            plan.pretrigger_s = triggers[0]
        else:
            plan.dropped.append("the trigger event of a single (continuous) segment")
    sweep_s = plan.annotations.get("sweep_s")
    if isinstance(sweep_s, (int, float)) and not triggered and sweep_s > 0:
        plan.sweep_s = float(sweep_s)

    n = lengths.pop()
    data = np.empty((len(names), len(segments), n), dtype=np.float32)
    rounded = False
    for k, seg in enumerate(segments):
        col = 0
        for sig, (n_ch, unit) in zip(seg.analogsignals, layout):
            sig = _load(sig)
            values = np.asarray(sig.rescale(unit).magnitude)
            block_ = values.T.astype(np.float32)
            if values.dtype.itemsize > 4 and not rounded:
                with np.errstate(invalid="ignore"):
                    rounded = not np.array_equal(block_, values.T, equal_nan=True)
            data[col : col + n_ch, k] = block_
            col += n_ch
    if rounded:
        plan.dropped.append("precision: float64 samples rounded to float32 (the format stores "
                            "float32)")
    plan.data = data if triggered else data[:, 0]
    return plan
