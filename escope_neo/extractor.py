"""`EScopeRecordingExtractor` and `read_escope`: EScope recordings in SpikeInterface."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from spikeinterface.core.core_tools import define_function_from_class
from spikeinterface.extractors.neoextractors.neobaseextractor import NeoBaseRecordingExtractor

from escope.units import conversion_factor, si_unit

from .rawio import EScopeRawIO

__all__ = ["EScopeRecordingExtractor", "read_escope", "default_probe"]

#: Distance between the default probe's contacts, in µm: EScope channels are
#: separate electrodes, so they are placed far beyond any neighbourhood radius
#: that SpikeInterface's tools use.
ELECTRODE_SPACING_UM = 10_000.0


def default_probe(n_channels: int):
    """A probe of `n_channels` independent electrodes, 10 mm apart on a line.

    Examples
    --------
    >>> default_probe(3).contact_positions[:, 0].tolist()
    [0.0, 10000.0, 20000.0]
    """
    from probeinterface import Probe

    probe = Probe(ndim=2, si_units="um")
    positions = np.column_stack([np.arange(n_channels) * ELECTRODE_SPACING_UM,
                                 np.zeros(n_channels)])
    probe.set_contacts(positions=positions, shapes="circle", shape_params={"radius": 10})
    probe.set_device_channel_indices(np.arange(n_channels))
    probe.annotate(name="escope-independent-electrodes")
    return probe


class EScopeRecordingExtractor(NeoBaseRecordingExtractor):
    """A SpikeInterface recording of an EScope file, through :class:`EScopeRawIO`.

    Triggered captures are multi-segment recordings (one segment per sweep).
    ``get_traces(return_in_uV=True)`` gives µV for voltage channels; current
    channels keep their ``physical_unit`` and ``gain_to_physical_unit``
    properties. A default probe is attached in which every channel is an
    independent electrode far from the others (see :func:`default_probe`);
    replace it with ``set_probe`` when the electrodes have a real geometry.

    Parameters
    ----------
    file_path : str or os.PathLike
        ``NAME.escope`` (or ``NAME``, ``NAME.dat``...).
    stream_id, stream_name : str, optional
        EScope files have one stream (``"0"``, ``"Signals"``).
    all_annotations : bool
        Copy all Neo annotations onto the recording.
    use_names_as_ids : bool
        Channel ids are the channel names in any case (they are unique).

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
                 use_names_as_ids: bool = False) -> None:
        neo_kwargs = self.map_to_neo_kwargs(file_path)
        NeoBaseRecordingExtractor.__init__(
            self, stream_id=stream_id, stream_name=stream_name,
            all_annotations=all_annotations, use_names_as_ids=use_names_as_ids, **neo_kwargs)
        self._kwargs.update({"file_path": str(Path(file_path).absolute())})
        self._fix_gains_to_uV()
        if self.get_num_channels():
            self.set_probe(default_probe(self.get_num_channels()))  # in place since SI 0.105

    def _fix_gains_to_uV(self) -> None:
        # SpikeInterface knows only V, mV and uV; EScope files can be in nV,
        # MV... and in amperes. Voltage channels get their true factor to
        # µV; other channels keep SpikeInterface's convention.
        units = self.get_property("physical_unit")
        gains = np.array(self.get_property("gain_to_physical_unit"), dtype=float)
        to_uv = np.array(self.get_property("gain_to_uV"), dtype=float)
        for i, unit in enumerate(units):
            if si_unit(str(unit)) == "V":
                to_uv[i] = gains[i] * conversion_factor(str(unit), "uV")
        self.set_property("gain_to_uV", to_uv)

    @classmethod
    def map_to_neo_kwargs(cls, file_path: str | os.PathLike) -> dict:
        return {"filename": str(file_path)}

    @classmethod
    def get_neo_io_reader(cls, raw_class: str, **neo_kwargs) -> EScopeRawIO:
        # Our RawIO is not in neo.rawio: build it directly.
        reader = EScopeRawIO(**neo_kwargs)
        reader.parse_header()
        return reader


read_escope = define_function_from_class(source_class=EScopeRecordingExtractor, name="read_escope")
