"""``EScopeRecordingInterface``: EScope recordings in neuroconv (the ``[nwb]`` extra).

A neuroconv data interface, so an EScope recording can sit in a user's
``NWBConverter`` next to other interfaces (video, behaviour, sorting...).
It converts the voltage channels through :func:`escope_neo.read_escope`
(stream ``"voltage"``) into an ``ElectricalSeries`` in volts, with the
electrodes table, and sets the session start time from the run date
(timezone-aware, see :meth:`escope.Recording.start_time`). Current channels
are not voltages and never go into an ``ElectricalSeries``: write them with
:func:`escope_neo.write_nwb` (``python -m escope nwb``), which stores each as
a ``TimeSeries`` in amperes.
"""

from __future__ import annotations

from neuroconv.datainterfaces.ecephys.baserecordingextractorinterface import (
    BaseRecordingExtractorInterface,
)

__all__ = ["EScopeRecordingInterface"]


class EScopeRecordingInterface(BaseRecordingExtractorInterface):
    """Neuroconv interface for the voltage channels of an EScope recording.

    Parameters
    ----------
    file_path : str or os.PathLike
        ``NAME.escope`` (or ``NAME``, ``NAME.dat``).
    timezone : str, optional
        Zone of the run date (see :meth:`escope.Recording.start_time`).
    verbose : bool
    es_key : str, optional
        Name of the ``ElectricalSeries`` (default ``"ElectricalSeries"``).
    """

    display_name = "EScope Recording"
    keywords = BaseRecordingExtractorInterface.keywords + ("EScope", "software oscilloscope")
    associated_suffixes = (".escope", ".dat", ".config")
    info = "Interface for EScope software-oscilloscope recordings (.escope + .dat)."

    @classmethod
    def get_extractor_class(cls):
        from .extractor import EScopeRecordingExtractor

        return EScopeRecordingExtractor

    def __init__(self, file_path, timezone: str | None = None, verbose: bool = False,
                 es_key: str | None = None) -> None:
        # es_key only when given: recent neuroconv deprecates passing it.
        named = {} if es_key is None else {"es_key": es_key}
        super().__init__(file_path=str(file_path), stream_name="voltage", timezone=timezone,
                         verbose=verbose, **named)

    def _start_time(self):
        from datetime import datetime

        text = self.recording_extractor.get_annotation("session_start_time")
        return datetime.fromisoformat(text) if text else None

    def extract_nwb_file_metadata(self) -> dict:
        return {"session_start_time": self._start_time()}

    def get_metadata(self):
        """neuroconv's metadata with what the recording says, as
        :func:`escope_neo.write_nwb` writes it: the session's start
        (timezone-aware), a description and a stable identifier. Lay a
        metadata file over it as neuroconv does (``load_dict_from_file``,
        ``dict_deep_update``); :func:`escope_neo.nwb_metadata.load_metadata`
        checks one first."""
        from escope import Recording

        from .nwb import recording_metadata

        metadata = super().get_metadata()
        ours = recording_metadata(Recording(self.source_data["file_path"]),
                                  self.source_data.get("timezone"))
        metadata["NWBFile"].update(ours["NWBFile"])
        return metadata
