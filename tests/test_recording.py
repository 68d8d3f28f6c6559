"""escope.Recording: every version and layout, the documented API, laziness."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import quantities as pq

import escope
from escope import FormatError, PartialDataWarning, Recording
from tests.makefiles import make_files

RNG = np.random.default_rng(1)


def raw_c_t(n_ch=2, n=100, dtype=np.float32):
    return RNG.normal(size=(n_ch, n)).astype(dtype)


# --------------------------------------------------------------------------- the real recording
def test_real_recording_reads_exactly(real_recording):
    rec = Recording(real_recording.with_suffix(".escope"))
    file = np.fromfile(real_recording.with_suffix(".dat"), dtype="<f4").reshape(-1, 2)
    assert rec.rawdata().shape == (2, 140000)
    assert np.array_equal(rec.rawdata(), file.T)  # bit-equal, NaN-free
    for c in range(2):
        assert np.array_equal(rec.data(c, "uV"), file[:, c] * np.float32(1000))
        y, unit = rec.data(c)
        assert unit == "mV" and y.dtype == np.float32
        assert np.array_equal(y, file[:, c])
    t = rec.time()
    assert t.dtype == np.float64 and len(t) == 140000
    assert t[1] == 1 / 20000 and t[-1] == 139999 / 20000
    info = rec.info()
    assert info["version"] == "escope-3.2" and info["rundate"] == "20231030-154906"
    assert info["channels"] == ["ai0", "ai5"] and info["scale"] == ["1 mV", "1 mV"]
    assert info["rate_Hz"] == 20000.0 and info["sweep_scans"] == 10000
    # the settings came from the separate .config file, decoded
    assert info["config"]["trig"]["enable"] is False
    assert isinstance(info["config"]["conn"]["hw"], np.ndarray)
    assert np.isnan(info["config"]["conn"]["hw"][2])
    assert "__type__" not in info["config"]


@pytest.mark.parametrize("suffix", [".escope", ".dat", ".config", ""])
def test_real_recording_any_name(real_recording, suffix):
    rec = Recording(str(real_recording) + suffix)
    assert rec.n_scans == 140000 and rec.channels == ["ai0", "ai5"]


# --------------------------------------------------------------------------- versions
@pytest.mark.parametrize(
    "version, dtype", [("escope-3", np.float64), ("escope-3.2", np.float32), ("escope-3.3", np.float32)]
)
def test_versions_continuous(tmp_path, version, dtype):
    raw = raw_c_t(3, 250, dtype)
    base = make_files(tmp_path / "r", raw, version=version, scale=["1 mV", "0.1 V", "100 pA"])
    rec = Recording(base)
    assert rec.kind == "continuous" and not rec.triggered
    assert rec.rawdata().dtype == dtype
    assert np.array_equal(rec.rawdata(), raw)
    y, unit = rec.data(1)
    assert unit == "V" and y.dtype == dtype
    assert np.array_equal(y, raw[1] * dtype(0.1))
    assert rec.data(2)[1] == "pA"
    assert np.array_equal(rec.data(2, "nA"), raw[2] * dtype(0.1))
    assert rec.info()["config"]["capt_enable"] is True
    assert (rec.header.config_path is None) == (version == "escope-3.3")


@pytest.mark.parametrize("version", ["escope-3.4", "escope-3.10", "escope-4", "escope-4.2"])
def test_newer_version_reads_as_newest_with_warning(tmp_path, version):
    raw = raw_c_t()
    base = make_files(tmp_path / "r", raw, version=version)
    with pytest.warns(UserWarning, match="newer than this library knows"):
        rec = Recording(base)
    assert rec.rawdata().dtype == np.float32
    assert np.array_equal(rec.rawdata(), raw)


@pytest.mark.parametrize("version", ["escope-2", "escope-2.9", "escope-5", "EScope 3", "3.3", "escope-3.3.1", ""])
def test_unknown_version_refused(tmp_path, version):
    base = make_files(tmp_path / "r", raw_c_t(), version="escope-3.3",
                      sidecar_overrides={"version": version})
    with pytest.raises(FormatError, match="version") as err:
        Recording(base)
    assert "r.escope" in str(err.value)


def test_version_compared_as_numbers(tmp_path):
    # "escope-3.10" > "escope-3.3" numerically, but < as a string.
    base = make_files(tmp_path / "r", raw_c_t(), version="escope-3.10")
    with pytest.warns(UserWarning):
        assert Recording(base).header.version_info == (3, 10)


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("version", ["escope-3", "escope-3.2", "escope-3.3"])
def test_triggered_layout_with_partial_sweep(tmp_path, version):
    dtype = np.float64 if version == "escope-3" else np.float32
    n_ch, n_sw, s = 2, 4, 50
    raw = RNG.normal(size=(n_ch, n_sw, s)).astype(dtype)
    extra = 7 * n_ch * np.dtype(dtype).itemsize  # 7 scans of a fifth sweep
    base = make_files(tmp_path / "r", raw, version=version, triggered=True, sweep_scans=s,
                      rate_Hz=1000.0, s_div=0.005, delay_div=2.0, extra_bytes=extra)
    with pytest.warns(PartialDataWarning, match=r"dropped 7 scan\(s\) of a partial sweep"):
        rec = Recording(base)
    assert rec.triggered and rec.n_sweeps == 4 and rec.n_scans == 50
    assert rec.rawdata().shape == (2, 4, 50)
    assert np.array_equal(rec.rawdata(), raw)
    assert np.array_equal(rec.rawdata(1), raw[1])
    y, _ = rec.data("ai1")
    assert y.shape == (4, 50) and np.array_equal(y, raw[1])
    assert len(rec.time()) == 50
    # trigger at int(delay_div * s_div * rate) = int(2 * 0.005 * 1000) = 10
    assert rec.trigger_index == 10 and rec.pretrigger_s == pytest.approx(0.01)
    assert rec.duration == pytest.approx(4 * 50 / 1000)


def test_partial_scan_dropped_with_warning(tmp_path):
    raw = raw_c_t(3, 20)
    base = make_files(tmp_path / "r", raw, extra_bytes=5)
    with pytest.warns(PartialDataWarning, match=r"1 partial scan \(5 byte"):
        rec = Recording(base)
    assert np.array_equal(rec.rawdata(), raw)


def test_no_warning_for_whole_scans(tmp_path):
    base = make_files(tmp_path / "r", raw_c_t())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recording(base)


def test_triggered_needs_both_flags(tmp_path):
    raw = raw_c_t(2, 100)
    base = make_files(tmp_path / "r", raw, triggered=True, sweep_scans=10)
    cfg = escope.Recording(base).info()["config"]
    assert cfg["trig"]["enable"] and cfg["capt_enable"]
    # trig.enable without capt_enable: continuous
    import json

    side = json.loads(base.with_name("r.escope").read_text())
    side["config"]["capt_enable"] = False
    base.with_name("r.escope").write_text(json.dumps(side))
    rec = Recording(base)
    assert rec.kind == "continuous" and rec.rawdata().shape == (2, 100)


@pytest.mark.parametrize("triggered", [False, True])
def test_saved_sweep_is_c_by_l_even_if_short(tmp_path, triggered):
    raw = raw_c_t(2, 37)  # shorter than sweep_scans = 50
    base = make_files(tmp_path / "20241007-123412-003", raw, triggered=triggered, sweep_scans=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = Recording(base)
    assert rec.kind == "sweep" and rec.n_sweeps == 1
    assert rec.rawdata().shape == (2, 37)
    assert rec.data(0)[0].shape == (37,)
    assert np.array_equal(rec.rawdata(), raw)


def test_empty_dat_is_zero_scans(tmp_path):
    base = make_files(tmp_path / "r", np.zeros((3, 0)), sweep_scans=10)
    rec = Recording(base)
    assert rec.rawdata().shape == (3, 0)
    assert rec.data(0)[0].shape == (0,)
    assert rec.duration == 0.0
    assert len(rec.time()) == 0


@pytest.mark.parametrize("scans", [0, 9])
def test_triggered_without_a_whole_sweep_opens_with_0_sweeps(tmp_path, scans):
    # A capture waiting for its first trigger (issue 16): its sweep length
    # agrees with sweep_s × rate, so it opens, with no sweep yet.
    base = make_files(tmp_path / "r", np.zeros((3, scans)), triggered=True, sweep_scans=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialDataWarning)  # the 9 scans of a partial sweep
        rec = Recording(base)
    assert rec.n_sweeps == 0 and rec.rawdata().shape == (3, 0, 10)
    assert rec.data(0)[0].shape == (0, 10) and rec.duration == 0.0
    assert rec.info()["n_sweeps"] == 0


@pytest.mark.parametrize("scans", [0, 9])
def test_triggered_with_an_absurd_sweep_length_is_refused(tmp_path, scans):
    # A sweep longer than the file whose length disagrees with sweep_s × rate
    # is not a sweep (and a huge sweep_scans would otherwise size arrays).
    base = make_files(tmp_path / "r", np.zeros((3, scans)), triggered=True, sweep_scans=10,
                      sidecar_overrides={"sweep_s": 0.5})
    with pytest.raises(FormatError, match=rf"a sweep of 10 scans .* longer than the whole file "
                                          rf"\({scans} scans in r\.dat\)"):
        Recording(base)


# --------------------------------------------------------------------------- channels and units
@pytest.fixture
def rec3(tmp_path):
    raw = raw_c_t(3, 64)
    base = make_files(tmp_path / "r", raw, channels=["ai0", "ai5", "ai7"],
                      scale=["1 µV", "-2 μV", "2.5e-05 V"])
    return Recording(base), raw


def test_channel_by_index_name_negative(rec3):
    rec, raw = rec3
    assert np.array_equal(rec.rawdata(-1), raw[2])
    assert np.array_equal(rec.rawdata("ai5"), raw[1])
    assert np.array_equal(rec.data(-3)[0], rec.data("ai0")[0])
    assert np.array_equal(rec.rawdata(np.int64(1)), raw[1])


def test_micro_spellings_and_negative_scale(rec3):
    rec, raw = rec3
    assert rec.units == ["uV", "uV", "V"]
    y, unit = rec.data(1)
    assert unit == "uV" and np.array_equal(y, raw[1] * np.float32(-2))
    for u in ["mV", pq.mV]:
        assert np.allclose(rec.data("ai5", u), raw[1] * -0.002, rtol=1e-6)
    for u in ["uV", "µV", "μV", pq.uV]:
        assert np.array_equal(rec.data(2, u), raw[2] * np.float32(25))
    assert np.array_equal(rec.data(2, "nV"), raw[2] * np.float32(25000))


def test_unknown_channel_lists_names(rec3):
    rec, _ = rec3
    with pytest.raises(ValueError, match=r"no channel named 'ai1'.*\['ai0', 'ai5', 'ai7'\]"):
        rec.data("ai1")


@pytest.mark.parametrize("index", [3, -4, 100])
def test_channel_out_of_range(rec3, index):
    rec, _ = rec3
    with pytest.raises(IndexError, match="out of range"):
        rec.data(index)
    with pytest.raises(IndexError):
        rec.rawdata(index)


@pytest.mark.parametrize("units", ["nA", "pA", pq.A, "s"])
def test_incompatible_units_name_both(rec3, units):
    rec, _ = rec3
    with pytest.raises(ValueError, match=r"cannot convert uV to"):
        rec.data(0, units)


def test_unknown_units(rec3):
    rec, _ = rec3
    with pytest.raises(ValueError, match="unknown unit 'blorps'"):
        rec.data(0, "blorps")


# --------------------------------------------------------------------------- views, windows, laziness
def test_rawdata_is_a_read_only_view(tmp_path):
    base = make_files(tmp_path / "r", raw_c_t(2, 1000))
    rec = Recording(base)
    a = rec.rawdata()
    b = rec.rawdata(1)
    assert np.shares_memory(a, b)
    assert not a.flags.writeable
    assert isinstance(a.base, np.ndarray) or isinstance(a, np.memmap)


def test_time_window(tmp_path):
    raw = raw_c_t(2, 1000)
    base = make_files(tmp_path / "r", raw, rate_Hz=100.0)
    rec = Recording(base)
    y, _ = rec.data(0, start=0.1, stop=0.25)
    assert np.array_equal(y, raw[0, 10:25])
    assert np.array_equal(rec.time(start=0.1, stop=0.25), np.arange(10, 25) / 100.0)
    assert np.array_equal(rec.rawdata(1, start=9.0), raw[1, 900:])
    assert rec.rawdata(start=10.0).shape == (2, 0)  # the end itself is inside
    assert rec.rawdata(start=0.5, stop=0.5).shape == (2, 0)


def test_open_is_lazy_on_a_huge_sparse_file(tmp_path):
    base = make_files(tmp_path / "big", raw_c_t(8, 10), version="escope-3.3", rate_Hz=100000.0)
    size = 10 * 2**30  # 10 GiB, sparse: costs no disk
    with open(base.with_name("big.dat"), "r+b") as f:
        f.truncate(size)
    tracemalloc.start()
    rec = Recording(base)
    window = rec.data(3, "uV", start=60.0, stop=60.01)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rec.n_scans == size // (8 * 4)
    assert window.shape == (1000,) and not window.any()
    assert peak < 5 * 2**20  # a few MB, not gigabytes


def test_properties_repr_context_manager(tmp_path):
    raw = RNG.normal(size=(2, 3, 40)).astype(np.float32)
    base = make_files(tmp_path / "r", raw, triggered=True, rate_Hz=2000.0, s_div=0.002, delay_div=5)
    with Recording(base) as rec:
        assert rec.rate == 2000.0 and rec.channels == ["ai0", "ai1"] and rec.units == ["mV", "mV"]
        assert rec.n_sweeps == 3 and rec.triggered and rec.trigger_index == 20
        assert rec.rundate.year == 2024 and rec.filename.endswith("r.escope")
        text = repr(rec)
        assert "triggered" in text and "3 sweeps × 40 scans" in text and "ai0 (mV)" in text
        kept = rec.rawdata()
    assert rec._raw is None  # closed
    assert np.array_equal(kept, raw)  # arrays handed out stay valid
    assert np.array_equal(rec.rawdata(), raw)  # and the recording reopens its map


def test_pathlike_and_bad_filename_type(tmp_path):
    base = make_files(tmp_path / "r", raw_c_t())
    assert Recording(Path(str(base) + ".dat")).n_scans == 100
    with pytest.raises(TypeError, match="str or os.PathLike"):
        Recording(42)


def test_import_escope_is_light():
    code = (
        "import sys, escope; bad = [m for m in ('numba', 'matplotlib', 'neo', 'spikeinterface') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], check=True)
    assert out.stdout.strip() == "[]"
