"""Bad input: a table of malformed recordings, and random ones from Hypothesis.

The contract: a malformed or unsupported recording raises escope.FormatError
(a ValueError) naming the file; a missing file raises FileNotFoundError naming
it. Nothing else escapes the reader.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escope import FormatError, Recording
from escope.format import decode_config, encode_config, read_header
from tests.makefiles import make_files

RAW = np.arange(20, dtype=np.float32).reshape(2, 10)

MALFORMED = [
    ("not-json", b"{version: escope-3.3", "not valid JSON"),
    ("not-utf8", b"\xff\xfe{}", "not valid JSON"),
    ("list", b"[1, 2]", "must be a JSON object"),
    ("string", b'"escope-3.3"', "must be a JSON object"),
    ("empty", b"", "not valid JSON"),
]


@pytest.mark.parametrize("name, content, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_sidecar_not_json_object(tmp_path, name, content, message):
    base = make_files(tmp_path / "r", RAW)
    (tmp_path / "r.escope").write_bytes(content)
    with pytest.raises(FormatError, match=message) as err:
        Recording(base)
    assert str(tmp_path / "r.escope") in str(err.value)
    assert isinstance(err.value, ValueError)


BAD_KEYS = [
    ({"version": ...}, "missing key 'version'"),
    ({"version": 3.3}, "'version' must be a string"),
    ({"rundate": ...}, "missing key 'rundate'"),
    ({"rundate": 20241007}, "'rundate' must be a string"),
    ({"rate_Hz": ...}, "missing key 'rate_Hz'"),
    ({"rate_Hz": "20000"}, "'rate_Hz' must be a number"),
    ({"rate_Hz": True}, "'rate_Hz' must be a number"),
    ({"rate_Hz": 0}, "'rate_Hz' must be a positive number"),
    ({"rate_Hz": -5.0}, "'rate_Hz' must be a positive number"),
    ({"rate_Hz": float("nan")}, "'rate_Hz' must be a positive number"),
    ({"rate_Hz": float("inf")}, "'rate_Hz' must be a positive number"),
    ({"channels": ...}, "missing key 'channels'"),
    ({"channels": "ai0"}, "'channels' must be a list of strings"),
    ({"channels": ["ai0", 1]}, "'channels' must be a list of strings"),
    ({"channels": [], "scale": []}, "zero channels"),
    ({"channels": ["ai0", "ai0"]}, "not unique"),
    ({"scale": ...}, "missing key 'scale'"),
    ({"scale": "1 mV"}, "'scale' must be a list"),
    ({"scale": ["1 mV"]}, r"2 channel\(s\) but 1 scale string\(s\)"),
    ({"scale": ["1 mV", "1 mV", "1 mV"]}, r"2 channel\(s\) but 3 scale"),
    ({"scale": ["1 mV", "mV"]}, "cannot parse scale 'mV'"),
    ({"scale": ["1 mV", "1"]}, "cannot parse scale '1'"),
    ({"scale": ["1 mV", "one mV"]}, "cannot parse scale 'one mV'"),
    ({"scale": ["1 mV", "1 parsecs_of_doom"]}, "unknown unit"),
    ({"scale": ["1 mV", 1.0]}, "scale must be a string"),
    ({"scale": ["1 mV", "nan mV"]}, "cannot parse scale"),
    ({"sweep_s": ...}, "missing key 'sweep_s'"),
    ({"sweep_s": "0.5"}, "'sweep_s' must be a number"),
    ({"sweep_scans": ...}, "missing key 'sweep_scans'"),
    ({"sweep_scans": 10.5}, "'sweep_scans' must be an integer"),
    ({"sweep_scans": "10"}, "'sweep_scans' must be an integer"),
    ({"config": [1, 2]}, "'config' must be an object"),
    ({"config": "trig"}, "'config' must be an object"),
    ({"config": ...}, "missing key 'config'"),
]


@pytest.mark.parametrize("overrides, message", BAD_KEYS, ids=[m for _, m in BAD_KEYS])
def test_malformed_sidecar_keys(tmp_path, overrides, message):
    base = make_files(tmp_path / "r", RAW, sidecar_overrides=overrides)
    with pytest.raises(FormatError, match=message) as err:
        Recording(base)
    assert "r.escope" in str(err.value)


@pytest.mark.parametrize("sweep_scans", [0, -3])
def test_triggered_needs_positive_sweep_scans(tmp_path, sweep_scans):
    base = make_files(tmp_path / "r", RAW, triggered=True, sweep_scans=sweep_scans)
    with pytest.raises(FormatError, match=r"triggered recording with 'sweep_scans'"):
        Recording(base)


def test_continuous_tolerates_any_integer_sweep_scans(tmp_path):
    base = make_files(tmp_path / "r", RAW, sweep_scans=0)
    assert Recording(base).n_scans == 10


@pytest.mark.parametrize("field, value", [("delay_div", "5"), ("delay_div", float("nan"))])
def test_triggered_bad_trigger_settings(tmp_path, field, value):
    base = make_files(tmp_path / "r", RAW[:, None, :], triggered=True)
    side = json.loads((tmp_path / "r.escope").read_text())
    side["config"]["trig"][field] = value
    (tmp_path / "r.escope").write_text(json.dumps(side))
    with pytest.raises(FormatError, match=f"'trig.{field}' must be a finite number"):
        Recording(base)


def test_old_config_not_object(tmp_path):
    base = make_files(tmp_path / "r", RAW, version="escope-3.2")
    (tmp_path / "r.config").write_text("[1, 2, 3]")
    with pytest.raises(FormatError, match="r.config: the settings must be a JSON object"):
        Recording(base)
    (tmp_path / "r.config").write_text("{oops")
    with pytest.raises(FormatError, match="r.config: settings file is not valid JSON"):
        Recording(base)


@pytest.mark.parametrize("bad_array", [
    {"__type__": "array", "shape": [3], "data": [1, 2]},
    {"__type__": "array", "shape": "3", "data": [1, 2, 3]},
    {"__type__": "array", "data": [1]},
])
def test_bad_config_array(tmp_path, bad_array):
    base = make_files(tmp_path / "r", RAW)
    side = json.loads((tmp_path / "r.escope").read_text())
    side["config"]["conn"]["hw"] = bad_array
    (tmp_path / "r.escope").write_text(json.dumps(side))
    with pytest.raises(FormatError, match="not valid JSON"):
        Recording(base)


def test_missing_files_name_the_path(tmp_path):
    base = make_files(tmp_path / "r", RAW, version="escope-3.2")
    (tmp_path / "r.config").unlink()
    with pytest.raises(FileNotFoundError) as err:
        Recording(base)
    assert err.value.filename == str(tmp_path / "r.config")
    base = make_files(tmp_path / "s", RAW)
    (tmp_path / "s.dat").unlink()
    with pytest.raises(FileNotFoundError) as err:
        Recording(base)
    assert err.value.filename == str(tmp_path / "s.dat") and "s.dat" in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        Recording(tmp_path / "nothing.escope")
    assert err.value.filename == str(tmp_path / "nothing.escope")


def test_sidecar_is_a_directory(tmp_path):
    (tmp_path / "d.escope").mkdir()
    with pytest.raises(FormatError, match="is a directory"):
        Recording(tmp_path / "d")


def test_config_round_trip():
    cfg = {"a": np.arange(6.0).reshape(2, 3), "b": {"c": [1, float("nan")], "d": np.float64(2)},
           "tagged": {"__type__": "Mono", "amp": 1.0}}
    text = json.dumps(encode_config(cfg))
    back = decode_config(text)
    assert np.array_equal(back["a"], cfg["a"]) and back["a"].shape == (2, 3)
    assert back["b"]["d"] == 2.0 and np.isnan(back["b"]["c"][1])
    assert back["tagged"] == {"__type__": "Mono", "amp": 1.0}  # stimulator values kept as dicts
    assert "Infinity" in json.dumps(encode_config({"x": float("inf")}))


# --------------------------------------------------------------------------- Hypothesis
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
VERSIONS = st.sampled_from(["escope-3", "escope-3.2", "escope-3.3", "escope-3.7", "escope-4",
                            "escope-2", "x"]) | st.text(max_size=10)
SCALES = st.sampled_from(["1 mV", "0.1 V", "100 pA", "2.5e-05 V", "-1 µV", "1 μA", "1 uV",
                          "mV", "1", "1 mV mV", "1 kg", ""]) | st.text(max_size=8)
CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "trig": st.fixed_dictionaries(
            {}, optional={"enable": st.booleans() | JSON_SCALARS,
                          "delay_div": JSON_SCALARS, "auto": st.booleans()}) | JSON_SCALARS,
        "hori": st.fixed_dictionaries({}, optional={"s_div": JSON_SCALARS}) | JSON_SCALARS,
        "capt_enable": st.booleans() | JSON_SCALARS,
        "conn": JSON_VALUES,
    },
)


@st.composite
def sidecars(draw):
    def pick(good, bad=JSON_SCALARS):
        # Mostly well-formed values, so that many random recordings do open
        # and their shapes get checked, with malformed ones mixed in.
        return draw(good) if draw(st.integers(0, 9)) < 8 else draw(bad)

    n = draw(st.integers(0, 9))
    side = {
        "version": pick(st.sampled_from(["escope-3", "escope-3.2", "escope-3.3", "escope-3.7",
                                         "escope-4"]), VERSIONS),
        "rundate": pick(st.just("20241007-123412")),
        "rate_Hz": pick(st.sampled_from([1000.0, 20000, 0.5, 1e-9])),
        "channels": pick(st.lists(st.sampled_from([f"ai{i}" for i in range(10)]), min_size=n,
                                  max_size=n, unique=True), JSON_VALUES),
        "scale": pick(st.lists(st.sampled_from(["1 mV", "0.1 V", "100 pA", "-1 µV", "1 μA"]),
                               min_size=n, max_size=n), st.lists(SCALES, min_size=n, max_size=n)),
        "sweep_s": pick(st.floats(0, 10)),
        "sweep_scans": pick(st.integers(-2, 50)),
        "config": pick(CONFIGS, JSON_VALUES),
    }
    for key in draw(st.sets(st.sampled_from(sorted(side)), max_size=1)):
        del side[key]
    return side


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(side=sidecars(), dat_size=st.integers(0, 2000), with_config=st.booleans(),
       saved_sweep=st.booleans())
def test_random_recordings_raise_only_documented_errors(tmp_path, side, dat_size, with_config,
                                                        saved_sweep):
    name = "20241007-123412-001" if saved_sweep else "rec"
    base = tmp_path / name
    base.with_name(name + ".escope").write_text(json.dumps(side, ensure_ascii=False))
    base.with_name(name + ".dat").write_bytes(bytes(range(256)) * (dat_size // 256)
                                              + bytes(dat_size % 256))
    cfg = base.with_name(name + ".config")
    if with_config:
        cfg.write_text(json.dumps({"trig": {"enable": True}, "capt_enable": True}))
    elif cfg.exists():
        cfg.unlink()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = Recording(base)
    except (FormatError, FileNotFoundError) as exc:
        assert name in str(exc)
        return
    # A recording that opens must be consistent with its file size.
    h = rec.header
    assert h.n_bytes <= dat_size
    raw = rec.rawdata()
    assert raw.shape == (h.n_channels,) + h.shape[:-1]
    assert raw.dtype.itemsize * raw.size == h.n_bytes
    for c in range(h.n_channels):
        y, unit = rec.data(c)
        assert y.shape == raw.shape[1:] and unit == h.units[c]
    assert len(rec.time()) == h.n_scans
    assert 0 <= h.trigger_index <= max(h.n_scans, 0)


def test_read_header_does_not_touch_samples(tmp_path):
    base = make_files(tmp_path / "r", RAW)
    (tmp_path / "r.dat").chmod(0)  # unreadable: only its size may be asked for
    try:
        h = read_header(base)
    finally:
        (tmp_path / "r.dat").chmod(0o644)
    assert h.n_scans == 10
