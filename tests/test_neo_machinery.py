"""Neo's own test machinery (BaseTestRawIO, BaseTestIO) on local EScope files.

Neo's base classes download their files with datalad; here the files are
written locally (every version and layout) and the download is switched off.
The one test left out checks Neo's own list of formats, which an external IO
is not in.
"""

from __future__ import annotations

import unittest
from pathlib import Path

import numpy as np
import pytest
from neo.test.iotest import common_io_test
from neo.test.iotest.common_io_test import BaseTestIO
from neo.test.rawiotest import common_rawio_test
from neo.test.rawiotest.common_rawio_test import BaseTestRawIO

from escope_neo import EScopeIO, EScopeRawIO
from tests.makefiles import make_files
from tests.makelegacy import make_legacy

RNG = np.random.default_rng(21)
FILES = {
    "v3.escope": dict(raw=RNG.normal(size=(2, 300)), version="escope-3"),
    "v32.escope": dict(raw=RNG.normal(size=(2, 300)).astype(np.float32), version="escope-3.2"),
    "mixed.escope": dict(raw=RNG.normal(size=(3, 300)).astype(np.float32),
                         scale=["1 uV", "2 mV", "10 pA"]),
    "eight.escope": dict(raw=RNG.normal(size=(8, 200)).astype(np.float32)),
    "trig.escope": dict(raw=RNG.normal(size=(2, 4, 100)).astype(np.float32), triggered=True,
                        sweep_scans=100, delay_div=2),
    "20241007-123412-004.escope": dict(raw=RNG.normal(size=(2, 77)).astype(np.float32),
                                       sweep_scans=100),
    # a triggered capture waiting for its first trigger: no whole sweep yet
    "trig-empty.escope": dict(raw=np.zeros((2, 0, 100), np.float32), triggered=True,
                              sweep_scans=100),
}
#: Recordings from before 3.0 (EScope 1.x and 2.0).
LEGACY = {
    "v1.escope": dict(raw=RNG.normal(size=(2, 300)), generation=1),
    "v2-triggered.escope": dict(raw=RNG.normal(size=(3, 4, 100)), generation=2, triggered=True,
                                delay_div=2, scales=[(1, "mV"), (10, "uV"), (1, "nA")]),
    "20120317-101112-001.escope": dict(raw=RNG.normal(size=(2, 77)), generation=1,
                                       sweep_scans=100),
}


def _make(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, kw in FILES.items():
        kw = dict(kw)
        make_files(folder / name.removesuffix(".escope"), kw.pop("raw"), **kw)
    for name, kw in LEGACY.items():
        kw = dict(kw)
        make_legacy(folder / name.removesuffix(".escope"), kw.pop("raw"), **kw)
    return folder


@pytest.fixture(scope="module", autouse=True)
def local_files(tmp_path_factory):
    folder = _make(tmp_path_factory.mktemp("neo-data"))
    # The files are here already: nothing to download, and Neo's gates on
    # datalad and the network are opened for these classes only.
    saved = (common_rawio_test.HAVE_DATALAD, common_io_test.HAVE_DATALAD,
             common_io_test.can_use_network)
    common_rawio_test.HAVE_DATALAD = common_io_test.HAVE_DATALAD = True
    common_io_test.can_use_network = lambda: True
    for cls in (TestEScopeRawIO, TestEScopeIO):
        cls.local_test_dir = folder
    yield folder
    (common_rawio_test.HAVE_DATALAD, common_io_test.HAVE_DATALAD,
     common_io_test.can_use_network) = saved


class TestEScopeRawIO(BaseTestRawIO, unittest.TestCase):
    rawioclass = EScopeRawIO
    entities_to_download = []
    entities_to_test = list(FILES) + list(LEGACY)
    use_network = True

    @classmethod
    def setUpClass(cls):
        cls.shortname = "escope"

    def get_local_base_folder(self):
        return Path(self.local_test_dir)


class TestEScopeIO(BaseTestIO, unittest.TestCase):
    ioclass = EScopeIO
    entities_to_download = []
    entities_to_test = list(FILES) + list(LEGACY)
    # EScope recordings hold signals and the trigger only: a Neo block with
    # spike trains, other events or epochs does not come back identical
    # (write_block names what it drops).
    read_and_write_is_bijective = False

    @classmethod
    def get_local_base_folder(cls):
        return Path(cls.local_test_dir)

    def test_list_candidate_ios(self):
        pytest.skip("checks Neo's own list of formats, which an external IO is not in")
