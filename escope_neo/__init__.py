"""escope_neo: EScope recordings in Neo and SpikeInterface.

- :class:`EScopeRawIO`: Neo's RawIO layer (with the buffer API, so Neo and
  SpikeInterface memory-map the samples directly).
- :class:`EScopeIO`: Neo's IO layer; reads Blocks and writes them back as
  ``escope-3.3`` recordings.
- :class:`EScopeRecordingExtractor` / :func:`read_escope`: a SpikeInterface
  recording, with a default probe of independent electrodes.
- :class:`EScopePeakDetector`: escope's spike detection as a SpikeInterface
  peak detector: after ``import escope_neo``,
  ``detect_peaks(recording, method="escope", ...)`` works (see
  :mod:`escope_neo.registration`).

The file format itself is parsed by :mod:`escope.format` (one parser in the
project); this package only maps it. ``import escope_neo`` imports neither
SpikeInterface nor numba: SpikeInterface is imported when the extractor or
the peak detector is first used, so reading through Neo never imports it.

Examples
--------
>>> import os, tempfile
>>> from escope.synth import make_recording
>>> from escope_neo import EScopeIO, read_escope
>>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
>>> block = EScopeIO(path).read_block()
>>> block.segments[0].analogsignals[0].units
array(1.) * uV
>>> recording = read_escope(path)
>>> recording.get_num_channels(), recording.sampling_frequency
(2, 20000.0)
"""

from __future__ import annotations

from typing import Any

import escope as _escope

from .io import EScopeIO
from .rawio import EScopeRawIO
from .registration import install, register

__version__ = _escope.__version__

__all__ = ["__version__", "write_nwb", "EScopeRecordingInterface", "EScopeRawIO", "EScopeIO",
           "EScopeRecordingExtractor", "read_escope", "default_probe", "EScopePeakDetector",
           "register"]

install()


def __getattr__(name: str) -> Any:
    if name == "EScopePeakDetector":  # imports SpikeInterface
        from .peaks import EScopePeakDetector

        return EScopePeakDetector
    if name in ("EScopeRecordingExtractor", "read_escope", "default_probe"):
        from . import extractor

        return getattr(extractor, name)
    if name == "EScopeRecordingInterface":  # needs neuroconv: the [nwb] extra
        from .interface import EScopeRecordingInterface

        return EScopeRecordingInterface
    if name == "write_nwb":  # needs pynwb: the [nwb] extra
        from .nwb import write_nwb

        return write_nwb
    raise AttributeError(f"module 'escope_neo' has no attribute {name!r}")
