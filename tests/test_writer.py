"""escope.write: bit-exact round trips, atomic files, no overwrites, clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import escope
from escope import Recording

RNG = np.random.default_rng(2)


def test_round_trip_continuous(tmp_path):
    raw = RNG.normal(size=(3, 1234)).astype(np.float32)
    path = escope.write(tmp_path / "rec", raw, 20000, ["ai0", "ai1", "ai7"],
                        ["1 uV", "0.1 V", "100 pA"], rundate="20241007-123412")
    assert path == tmp_path / "rec.escope"
    rec = Recording(path)
    assert rec.info()["version"] == "escope-3.3" and rec.kind == "continuous"
    assert np.array_equal(rec.rawdata(), raw)
    assert rec.rawdata().tobytes() == raw.tobytes()
    assert rec.units == ["uV", "V", "pA"] and rec.info()["scale"] == ["1 uV", "0.1 V", "100 pA"]
    assert rec.rate == 20000.0 and rec.info()["rundate"] == "20241007-123412"
    assert rec.header.config_path is None
    assert list(tmp_path.iterdir()) == [] or sorted(p.name for p in tmp_path.iterdir()) == [
        "rec.dat", "rec.escope"]


def test_round_trip_triggered(tmp_path):
    raw = RNG.normal(size=(2, 5, 300)).astype(np.float32)
    escope.write(tmp_path / "trig.escope", raw, 10000, ["ai0", "ai1"], ["1 mV", "1 mV"],
                 pretrigger_s=0.005)
    rec = Recording(tmp_path / "trig")
    assert rec.triggered and rec.n_sweeps == 5 and rec.n_scans == 300
    assert rec.info()["sweep_scans"] == 300
    assert np.array_equal(rec.rawdata(), raw)
    assert rec.trigger_index == 50


def test_write_is_byte_exact_in_file_order(tmp_path):
    raw = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    escope.write(tmp_path / "r", raw, 1000, ["a", "b"], ["1 mV", "1 mV"])
    assert np.array_equal(np.fromfile(tmp_path / "r.dat", "<f4"), [1, 4, 2, 5, 3, 6])
    side = json.loads((tmp_path / "r.escope").read_text(encoding="utf-8"))
    assert side["config"]["__type__"] == "Struct"
    assert side["config"]["conn"]["hw"]["__type__"] == "array"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=7),
                      elements=st.floats(width=32, allow_nan=True)))
def test_round_trip_is_bit_exact_property(tmp_path, raw):
    if raw.ndim == 3 and raw.shape[-1] == 0:
        return
    names = [f"c{i}" for i in range(raw.shape[0])]
    escope.write(tmp_path / "p", raw, 1000, names, ["1 mV"] * len(names), overwrite=True)
    back = Recording(tmp_path / "p").rawdata()
    assert back.shape == raw.shape
    assert back.tobytes() == np.ascontiguousarray(raw).tobytes()  # NaN payloads too


def test_never_overwrites_unless_asked(tmp_path):
    raw = np.ones((1, 10), np.float32)
    escope.write(tmp_path / "r", raw, 1000, ["a"], ["1 mV"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError) as err:
        escope.write(tmp_path / "r", raw * 2, 1000, ["a"], ["1 mV"])
    assert "overwrite=True" in str(err.value) and err.value.filename.endswith("r.escope")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (tmp_path / "r.escope").unlink()  # a stray .dat alone also blocks
    with pytest.raises(FileExistsError, match="recording exists"):
        escope.write(tmp_path / "r", raw * 2, 1000, ["a"], ["1 mV"])
    escope.write(tmp_path / "r", raw * 2, 1000, ["a"], ["1 mV"], overwrite=True)
    assert np.array_equal(Recording(tmp_path / "r").rawdata(), raw * 2)


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    raw = np.ones((2, 10), np.float32)
    calls = {"n": 0}
    real_replace = os.replace

    def failing_replace(src, dst):
        calls["n"] += 1
        if str(dst).endswith(".escope"):
            raise KeyboardInterrupt  # interrupted between the two renames
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        escope.write(tmp_path / "r", raw, 1000, ["a", "b"], ["1 mV", "1 mV"])
    # no sidecar means no recording; .part files are not recordings either
    assert not (tmp_path / "r.escope").exists()


def test_failure_while_writing_samples_leaves_no_files(tmp_path, monkeypatch):
    class Boom(Exception):
        pass

    def boom(*a, **k):
        raise Boom

    monkeypatch.setattr(np, "ascontiguousarray", boom)
    with pytest.raises(Boom):
        escope.write(tmp_path / "r", np.ones((2, 10), np.float32), 1000, ["a", "b"],
                     ["1 mV", "1 mV"])
    assert list(tmp_path.iterdir()) == []


BAD = [
    (dict(data=np.ones(10)), ValueError, "C×T"),
    (dict(data=np.ones((1, 2, 3, 4))), ValueError, "4-D"),
    (dict(data=np.ones((2, 10)) + 1j), ValueError, "real numbers"),
    (dict(data=np.array([["a", "b"]])), ValueError, "real numbers"),
    (dict(channels=["a", "b"]), ValueError, r"1 channel\(s\) but 2 name"),
    (dict(scale=["1 mV", "1 mV"]), ValueError, r"2 scale string"),
    (dict(channels=[]), ValueError, "non-empty"),
    (dict(scale=["1 blorp"]), ValueError, "unknown unit"),
    (dict(scale=["mV"]), ValueError, "cannot parse scale"),
    (dict(rate_Hz=0), ValueError, "rate_Hz must be a positive"),
    (dict(rate_Hz=float("nan")), ValueError, "rate_Hz must be a positive"),
    (dict(data=np.ones((1, 3, 0))), ValueError, "at least one scan"),
    (dict(config=[1]), ValueError, "config must be a dict"),
    # hostile numbers and units (issue 9)
    (dict(rate_Hz="fast"), ValueError, r"rate_Hz must be a positive finite number, not 'fast'"),
    (dict(rate_Hz=None), ValueError, r"rate_Hz must be a positive finite number, not None"),
    (dict(rate_Hz=10**400), ValueError, r"rate_Hz must be a positive finite number"),
    (dict(pretrigger_s=float("nan")), ValueError, r"pretrigger_s must be a non-negative finite"),
    (dict(pretrigger_s=-0.1), ValueError, r"pretrigger_s must be a non-negative finite"),
    (dict(pretrigger_s="x"), ValueError, r"pretrigger_s must be a non-negative finite"),
    (dict(data=np.ones((1, 2, 10), np.float32), pretrigger_s=0.5), ValueError,
     r"pretrigger_s \(0.5 s\) is longer than a sweep \(10 scans at 1000 Hz\)"),
    (dict(scale=["1 furlong"]), ValueError, r"'furlong' is not a voltage or a current"),
]


@pytest.mark.parametrize("kwargs, exc, message", BAD, ids=[b[2] for b in BAD])
def test_bad_arguments(tmp_path, kwargs, exc, message):
    args = dict(path=tmp_path / "r", data=np.ones((1, 10), np.float32), rate_Hz=1000,
                channels=["a"], scale=["1 mV"])
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        escope.write(**args)
    assert list(tmp_path.iterdir()) == []


def test_acquisition_program_reads_it_back_identically(tmp_path, peer):
    raw = RNG.normal(size=(2, 4, 250)).astype(np.float32)
    escope.write(tmp_path / "t", raw, 10000, ["ai0", "ai3"], ["1 mV", "0.5 V"], pretrigger_s=0.002)
    theirs = peer.Recording(str(tmp_path / "t.escope"))
    ours = Recording(tmp_path / "t")
    assert np.array_equal(theirs.rawdata(), ours.rawdata())
    assert np.array_equal(theirs.time(), ours.time())
    for c in range(2):
        y, unit = theirs.data(c)
        mine, my_unit = ours.data(c)
        assert unit == my_unit and y.shape == mine.shape == (4, 250)
        # the peer scales through SI units, which can move the last float32 bit
        np.testing.assert_allclose(y, mine, rtol=2e-7)
    raw2 = RNG.normal(size=(3, 999)).astype(np.float32)
    escope.write(tmp_path / "c", raw2, 20000, ["a", "b", "c"], ["1 uV", "10 mV", "1 V"])
    theirs = peer.Recording(str(tmp_path / "c.escope"))
    assert np.array_equal(theirs.rawdata(), raw2)
    for c in range(3):
        np.testing.assert_allclose(theirs.data(c)[0], Recording(tmp_path / "c").data(c)[0],
                                   rtol=2e-7)
