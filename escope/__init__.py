"""escope: fast, lazy, exact analysis of EScope electrophysiology recordings.

This package replaces the analysis library that ships with the EScope
acquisition program, with the same names (``Recording``, ``rmsnoise``,
``detectspikes``, ``units``, ``peakx``, ``spikex``).

``import escope`` stays light: numba, matplotlib, neo and spikeinterface are
imported only by the functions that use them.

Examples
--------
>>> import escope
>>> import os, tempfile
>>> from escope.synth import make_recording
>>> path, _ = make_recording(os.path.join(tempfile.mkdtemp(), "rec"), duration_s=1.0)
>>> rec = escope.Recording(path)
>>> y = rec.data("ai0", "uV")
>>> spikes = escope.detectspikes(y, 5 * escope.rmsnoise(y), polarity=-1)
>>> len(spikes)
7
"""

from __future__ import annotations

import importlib
from typing import Any

from .format import FormatError, MissingSettingsWarning, PartialDataWarning
from .recording import Recording
from .writer import write

__version__ = "0.1.0"

__all__ = [
    "Recording",
    "write",
    "FormatError",
    "PartialDataWarning",
    "MissingSettingsWarning",
    "convert",
    "DownloadError",
    "rmsnoise",
    "detectspikes",
    "SpikeDetector",
    "NoiseEstimator",
    "follow",
    "units",
    "peakx",
    "spikex",
    "scan",
    "detect_folder",
    "__version__",
]

_SUBMODULES = {"units", "peakx", "spikex", "loader", "analysis", "folder", "batch",
               "conversion", "engine", "format", "checks", "report", "tables", "atomic", "live",
               "progress", "kernels"}
_LAZY = {"rmsnoise": "spikex", "detectspikes": "spikex", "DownloadError": "_remote",
         "SpikeDetector": "engine", "NoiseEstimator": "engine", "follow": "live",
         "scan": "folder", "detect_folder": "batch", "convert": "conversion"}


def __getattr__(name: str) -> Any:
    # Submodules and the numba-backed functions load on first use, so that
    # `import escope` does not pay for numba.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'escope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
