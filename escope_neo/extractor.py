"""`EScopeRecordingExtractor` and `read_escope`: EScope recordings in SpikeInterface."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from spikeinterface.core.core_tools import define_function_from_class
from spikeinterface.extractors.neoextractors.neobaseextractor import NeoBaseRecordingExtractor

from escope.units import conversion_factor, unit_kind

from .rawio import EScopeRawIO

__all__ = ["EScopeRecordingExtractor", "read_escope", "default_probe"]

#: Distance between the default probe's contacts, in µm: EScope channels are
#: separate electrodes, so they are placed far beyond any neighbourhood radius
#: that SpikeInterface's tools use.
ELECTRODE_SPACING_UM = 10_000.0


def default_probe(n_channels: int):
    """A probe of `n_channels` independent electrodes, 10 mm apart on a grid.

    The contacts sit on a square grid (as many columns as the square root of
    the channel count, rounded up) inside a rectangular outline, so the
    layout has a real 2-D extent and SpikeInterface's probe plots draw it.
    No two contacts are within any neighbourhood radius that
    SpikeInterface's tools use: every channel is sorted on its own. Set a
    real probe (``read_escope(path, probe=...)``) when the electrodes have
    a geometry.

    Examples
    --------
    >>> default_probe(3).contact_positions.tolist()
    [[0.0, 0.0], [10000.0, 0.0], [0.0, 10000.0]]
    """
    from probeinterface import Probe

    columns = max(1, int(np.ceil(np.sqrt(n_channels))))
    k = np.arange(n_channels)
    positions = np.column_stack([k % columns, k // columns]).astype(float) * ELECTRODE_SPACING_UM
    probe = Probe(ndim=2, si_units="um")
    probe.set_contacts(positions=positions, shapes="circle", shape_params={"radius": 10})
    probe.set_device_channel_indices(np.arange(n_channels))
    probe.create_auto_shape(probe_type="rect", margin=ELECTRODE_SPACING_UM / 2)
    probe.annotate(name="escope-independent-electrodes")
    return probe


class EScopeRecordingExtractor(NeoBaseRecordingExtractor):
    """A SpikeInterface recording of an EScope file, through :class:`EScopeRawIO`.

    Triggered captures are multi-segment recordings (one segment per sweep).
    Voltage and current channels are separate streams, ``"voltage"`` and
    ``"current"``: a recording holding both needs ``stream_name``. Voltage
    channels give µV with ``get_traces(return_in_uV=True)`` (also nV, MV…);
    a current stream keeps its ``physical_unit`` and ``gain_to_physical_unit``
    properties and has no ``gain_to_uV``, so ``return_in_uV=True`` is refused
    rather than labelling amperes as volts. A default probe is attached in
    which every channel is an independent electrode far from the others (see
    :func:`default_probe`); pass `probe` when the electrodes have a real
    geometry.

    Parameters
    ----------
    file_path : str or os.PathLike
        ``NAME.escope`` (or ``NAME``, ``NAME.dat``...).
    stream_id, stream_name : str, optional
        ``"0"``/``"voltage"`` or ``"1"``/``"current"``; needed only when the
        recording has both kinds of channel.
    all_annotations : bool
        Copy all Neo annotations onto the recording.
    use_names_as_ids : bool
        Channel ids are the channel names in any case (they are unique).
    probe : probeinterface.Probe, optional
        The electrodes' geometry, one contact per channel of the stream (a
        dict from ``Probe.to_dict()`` works too: that is how it is saved).
    timezone : str, optional
        Zone of the run date (see :meth:`escope.Recording.start_time`); the
        recording's ``session_start_time`` annotation is its ISO 8601 form.

    Raises
    ------
    ValueError
        For a stream that does not exist or is not chosen (the message lists
        the streams), or a probe whose contact count differs from the
        channel count (the message says both).

    Examples
    --------
    >>> from escope_neo import read_escope
    >>> import os, tempfile
    >>> from escope.synth import make_recording
    >>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
    >>> rec = read_escope(path)
    >>> rec.get_traces(return_in_uV=True).shape
    (20000, 2)
    """

    NeoRawIOClass = "EScopeRawIO"

    def __init__(self, file_path: str | os.PathLike, stream_id: str | None = None,
                 stream_name: str | None = None, all_annotations: bool = False,
                 use_names_as_ids: bool = False, probe=None, timezone=None) -> None:
        if isinstance(probe, dict):  # as stored in _kwargs (JSON-safe)
            from probeinterface import Probe

            probe = Probe.from_dict(probe)
        neo_kwargs = self.map_to_neo_kwargs(file_path, timezone)
        # SpikeInterface chooses the stream, from the header the reader has
        # parsed once; its errors (assertions, or a generic message) are
        # replaced by one that lists this file's streams.
        try:
            with warnings.catch_warnings():
                # SpikeInterface knows only V, mV and uV; nV and MV channels
                # are voltages too (their gains are fixed below).
                warnings.filterwarnings("ignore",
                                        message="Found a mix of voltage and non-voltage")
                NeoBaseRecordingExtractor.__init__(
                    self, stream_id=stream_id, stream_name=stream_name,
                    all_annotations=all_annotations, use_names_as_ids=use_names_as_ids,
                    **neo_kwargs)
        except (ValueError, AssertionError) as exc:
            reader = getattr(self, "neo_reader", None)
            if reader is None or getattr(reader, "header", None) is None:
                raise
            raise ValueError(_stream_error(file_path, reader.header["signal_streams"],
                                           stream_id, stream_name) or str(exc)) from None
        if stream_id is not None and stream_name is not None and stream_name != self.stream_name:
            raise ValueError(_stream_error(file_path, self.neo_reader.header["signal_streams"],
                                           stream_id, stream_name))
        self._kwargs.update({"file_path": str(Path(file_path).absolute()),
                             "stream_id": self.stream_id, "stream_name": None,
                             "probe": None if probe is None else probe.to_dict(array_as_list=True),
                             "timezone": None if timezone is None else str(timezone)})
        started = self.neo_reader.raw_annotations["blocks"][0].get("session_start_time")
        if started is not None:
            # ISO 8601 with its offset: what NWB converters read (JSON-safe).
            self.annotate(session_start_time=started.isoformat())
        self._fix_gains_to_uV()
        n = self.get_num_channels()
        if probe is not None:
            contacts = probe.get_contact_count()
            if contacts != n:
                raise ValueError(f"{file_path}: the probe has {contacts} contact(s) but the "
                                 f"stream has {n} channel(s)")
            if getattr(probe, "device_channel_indices", None) is None:
                probe = probe.copy()
                probe.set_device_channel_indices(np.arange(n))
            self.set_probe(probe)  # in place since SpikeInterface 0.105
        elif n:
            self.set_probe(default_probe(n))

    def _fix_gains_to_uV(self) -> None:
        units = [str(u) for u in self.get_property("physical_unit")]
        if units and all(unit_kind(u) == "A" for u in units):
            # A current is never microvolts. Without gains SpikeInterface
            # would hand float samples out as µV anyway; NaN gains make any
            # derived recording's "µV" NaN instead of plausible numbers.
            self.set_property("gain_to_uV", np.full(len(units), np.nan))
            self.set_property("offset_to_uV", np.zeros(len(units)))
            self._is_current = True
            return
        gains = np.array(self.get_property("gain_to_physical_unit"), dtype=float)
        to_uv = np.array(gains * [conversion_factor(u, "uV") for u in units], dtype=float)
        self.set_property("gain_to_uV", to_uv)

    def get_traces(self, *args, return_in_uV: bool = False, **kwargs):
        """As SpikeInterface's; ``return_in_uV=True`` on a current stream
        raises (there are no microvolts to give)."""
        if return_in_uV and getattr(self, "_is_current", False):
            raise ValueError(
                f"{self._kwargs['file_path']}: the current stream "
                f"({', '.join(map(str, self.channel_ids))} in "
                f"{', '.join(map(str, self.get_property('physical_unit')))}) has no microvolts; "
                "read raw traces and scale them with the 'gain_to_physical_unit' property")
        return super().get_traces(*args, return_in_uV=return_in_uV, **kwargs)

    @classmethod
    def map_to_neo_kwargs(cls, file_path: str | os.PathLike, timezone=None) -> dict:
        return {"filename": str(file_path), "timezone": timezone}

    @classmethod
    def get_neo_io_reader(cls, raw_class: str, **neo_kwargs) -> EScopeRawIO:
        # Our RawIO is not in neo.rawio: build it directly.
        reader = EScopeRawIO(**neo_kwargs)
        reader.parse_header()
        return reader


def _stream_error(file_path, streams, stream_id: str | None, stream_name: str | None) -> str:
    """What is wrong with the stream asked for, listing the file's streams."""
    ids = [str(i) for i in streams["id"]]
    names = [str(n) for n in streams["name"]]
    listing = ", ".join(f"{sid!r} ({name!r})" for sid, name in zip(ids, names))
    if stream_id is not None and stream_name is not None:
        if stream_id not in ids or names[ids.index(stream_id)] != stream_name:
            return (f"{file_path}: stream_id {stream_id!r} and stream_name {stream_name!r} do "
                    f"not match; streams are {listing}")
    if stream_name is not None and stream_name not in names:
        return f"{file_path}: no stream named {stream_name!r}; streams are {listing}"
    if stream_id is not None and stream_id not in ids:
        return f"{file_path}: no stream {stream_id!r}; streams are {listing}"
    if stream_id is None and stream_name is None and len(ids) > 1:
        return (f"{file_path}: the recording has voltage and current channels; choose a "
                f"stream with stream_name: {listing}")
    return ""


read_escope = define_function_from_class(source_class=EScopeRecordingExtractor, name="read_escope")
