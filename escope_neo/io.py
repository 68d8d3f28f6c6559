"""`EScopeIO`: EScope recordings at Neo's IO layer, read and write."""

from __future__ import annotations

import os

import numpy as np
import quantities as pq  # noqa: F401  (used in the examples)
from neo.core import Block
from neo.io.basefromrawio import BaseFromRaw
from neo.io.baseio import BaseIO

from escope._format import resolve_paths

from escope.units import normalize

from .rawio import EScopeRawIO

__all__ = ["EScopeIO"]


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
        signals have equal lengths become triggered sweeps. Every channel
        keeps its units (scale ``"1 <unit>"``) and the sampling rate.

        Raises
        ------
        ValueError
            Saying why the block cannot be stored (no signals, mixed sampling
            rates, unequal sweep lengths, channels differing between
            segments, units that are not physical). Nothing is written.
        FileExistsError
            If the recording exists and `overwrite` is false.
        """
        import escope

        data, rate, names, scale = _block_to_arrays(block)
        escope.write(self.filename, data, rate, names, scale, overwrite=overwrite,
                     rundate=block.rec_datetime)


def _block_to_arrays(block: Block):
    segments = [seg for seg in block.segments if seg.analogsignals]
    if not segments:
        raise ValueError("the block has no analog signals: nothing to write")
    layouts = []
    rates = set()
    for seg in segments:
        names, units, columns, lengths = [], [], [], set()
        for sig in seg.analogsignals:
            rates.add(float(sig.sampling_rate.rescale("Hz").magnitude))
            lengths.add(sig.shape[0])
            unit = normalize(sig.units.dimensionality.string)
            chan_names = sig.array_annotations.get("channel_names")
            for k in range(sig.shape[1]):
                if chan_names is not None and len(chan_names) == sig.shape[1]:
                    names.append(str(chan_names[k]))
                else:
                    names.append(f"{sig.name or 'ch'}{k}" if sig.shape[1] > 1 else str(sig.name or f"ch{len(names)}"))
                units.append(unit)
                columns.append(np.asarray(sig.magnitude[:, k]))
        if len(lengths) > 1:
            raise ValueError(f"signals of one segment differ in length {sorted(lengths)}: "
                             "EScope stores channels of equal length")
        layouts.append((names, units, columns))
    if len(rates) > 1:
        raise ValueError(f"signals have mixed sampling rates {sorted(rates)} Hz: "
                         "EScope stores one rate for all channels")
    names, units, _ = layouts[0]
    if any(lay[0] != names or lay[1] != units for lay in layouts):
        raise ValueError("segments have different channels or units: cannot store them as sweeps")
    if len(set(names)) != len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    if len(layouts) == 1:
        data = np.stack(layouts[0][2])
    else:
        lengths = {len(lay[2][0]) for lay in layouts}
        if len(lengths) > 1:
            raise ValueError(f"segments differ in length {sorted(lengths)}: "
                             "triggered sweeps must all have the same number of samples")
        data = np.stack([np.stack(lay[2]) for lay in layouts], axis=1)
    return data, rates.pop(), names, [f"1 {u}" for u in units]


