"""Load the acquisition program's own analysis library as a black box.

The EScope acquisition program (``escope`` on the package index, GPL) ships
the library that this project replaces. We only *call* it, to compare
results and speed; its source is never read or copied. Install it into a
separate folder and point ``ESCOPE_PEER_DIR`` at it::

    pip install --no-deps --target .peer escope==4.1.2
    export ESCOPE_PEER_DIR=$PWD/.peer

It is imported under the name ``escope_peer`` so that it cannot shadow ours.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ENV = "ESCOPE_PEER_DIR"


def peer_dir() -> Path | None:
    """The folder holding the peer's ``escope`` package, or None."""
    d = os.environ.get(ENV)
    if d and (Path(d) / "escope" / "__init__.py").is_file():
        return Path(d)
    return None


def load_peer(directory: str | os.PathLike | None = None) -> ModuleType:
    """Import the peer package from `directory` (default: ``$ESCOPE_PEER_DIR``)
    as ``escope_peer`` and return it."""
    if "escope_peer" in sys.modules:
        return sys.modules["escope_peer"]
    d = Path(directory) if directory else peer_dir()
    if d is None:
        raise RuntimeError(
            f"the acquisition program's library is not installed; run "
            f"'pip install --no-deps --target DIR escope==4.1.2' and set {ENV}=DIR"
        )
    pkg = d / "escope"
    spec = importlib.util.spec_from_file_location(
        "escope_peer", pkg / "__init__.py", submodule_search_locations=[str(pkg)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["escope_peer"] = module
    spec.loader.exec_module(module)
    return module
