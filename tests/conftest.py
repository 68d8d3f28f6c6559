"""Shared fixtures: the real recording, and the peer library when available."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_DATA = ROOT.parent / "shared" / "data"
REAL = SHARED_DATA / "20231030-154906"


@pytest.fixture(scope="session")
def real_recording() -> Path:
    """Base name of the real recording in ../shared/data (skips when absent)."""
    if not (REAL.with_suffix(".escope")).is_file():
        pytest.skip(f"the real recording is not here ({SHARED_DATA} is absent, as in a fresh clone)")
    return REAL


@pytest.fixture(scope="session")
def peer():
    """The acquisition program's own library, as a black box (skips when not installed)."""
    from benchmarks.peer import ENV, load_peer, peer_dir

    directory = peer_dir() or (ROOT / ".peer" if (ROOT / ".peer" / "escope").is_dir() else None)
    if directory is None:
        pytest.skip(f"the acquisition program's library is not installed (see README; or set {ENV})")
    return load_peer(directory)


@pytest.fixture(params=["numpy", "numba"])
def implementation(request):
    """Run a test on both implementations of the engine: NumPy (short
    inputs) and the Numba kernels, by setting the one switch,
    ``escope.engine.SMALL_INPUT``, to one extreme or the other."""
    from escope import engine

    old = engine.SMALL_INPUT
    engine.SMALL_INPUT = 1 << 62 if request.param == "numpy" else -1
    yield request.param
    engine.SMALL_INPUT = old
