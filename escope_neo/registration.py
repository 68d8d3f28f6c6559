"""How ``detect_peaks(recording, method="escope")`` works after ``import escope_neo``
without ``import escope_neo`` importing SpikeInterface (or numba).

SpikeInterface looks peak detection methods up in one dict,
``spikeinterface.sortingcomponents.peak_detection.method_list.detect_peak_methods``.
:func:`install` (run by ``import escope_neo``) adds ``"escope"`` to it:

- at once, if SpikeInterface's peak detection is imported already;
- otherwise when it is imported: a finder on :data:`sys.meta_path` wraps the
  loader of that one module, so that right after the module has run,
  :class:`~escope_neo.peaks.EScopePeakDetector` is imported and registered.
  Nothing else is touched; the finder stays out of every other import.

Reading files through Neo therefore never imports SpikeInterface, and a user
who imported ``escope_neo`` and then SpikeInterface (in either order) finds
``method="escope"`` there. :func:`register` does the registration by hand.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

__all__ = ["install", "register", "METHOD_LIST"]

#: The module that holds SpikeInterface's peak detection methods.
METHOD_LIST = "spikeinterface.sortingcomponents.peak_detection.method_list"


def register(methods: dict | None = None) -> None:
    """Add ``"escope"`` to SpikeInterface's peak detection methods
    (idempotent; imports SpikeInterface)."""
    if methods is None:
        methods = importlib.import_module(METHOD_LIST).detect_peak_methods
    from .peaks import EScopePeakDetector

    methods.setdefault("escope", EScopePeakDetector)


class _Loader(importlib.abc.Loader):
    """The loader of SpikeInterface's method list, registering after it ran."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:
        self._inner.exec_module(module)
        register(module.detect_peak_methods)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code...: the original's
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != METHOD_LIST:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    """Make ``"escope"`` a SpikeInterface peak detection method, now or when
    SpikeInterface's peak detection is imported (see the module's text)."""
    if METHOD_LIST in sys.modules:
        register(sys.modules[METHOD_LIST].detect_peak_methods)
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
