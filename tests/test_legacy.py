"""Recordings from before 3.0 (EScope 1.x and 2.0): opened safely, in every layer.

The fixtures are written by tests/makelegacy.py from FORMAT.md's facts.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import escope
from escope import FormatError, MissingSettingsWarning, PartialDataWarning, Recording
from escope._legacy import LegacyError, load_settings, parse_summary
from tests.makelegacy import S, dumps, legacy_settings, make_legacy, real_pickle_v2, summary_text

RNG = np.random.default_rng(17)
ROOT = Path(__file__).resolve().parents[1]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------- opening
CASES = {
    # name: (make_legacy keyword arguments, expected kind)
    "v1-continuous": (dict(generation=1), "continuous"),
    "v2-continuous": (dict(generation=2), "continuous"),
    "v1-triggered": (dict(generation=1, triggered=True, delay_div=2.0), "triggered"),
    "v2-triggered": (dict(generation=2, triggered=True, delay_div=3.0), "triggered"),
    "v2-source-checkout": (dict(generation=2, struct_module="src.escope_wagenadl.escopelib.Struct",
                                numpy_core="numpy._core"), "continuous"),
    "v1-numpy2-names": (dict(generation=1, numpy_core="numpy._core"), "continuous"),
    "v2-real-pickler": (dict(generation=2, real_pickler=True, triggered=True, delay_div=1.0),
                        "triggered"),
}


def _raw(kind: str, n_ch: int = 2) -> np.ndarray:
    shape = (n_ch, 3, 250) if kind == "triggered" else (n_ch, 1200)
    return RNG.normal(size=shape)


@pytest.mark.parametrize("name", list(CASES))
def test_fixture_opens_with_samples_layout_units_version(tmp_path, name):
    kw, kind = CASES[name]
    raw = _raw(kind)
    scales = [(1.0, "V"), (0.1, "mV")]
    base = make_legacy(tmp_path / "20120317-101112", raw, scales=scales, rate_Hz=20000, **kw)
    for given in (base, f"{base}.escope", f"{base}.txt", f"{base}.dat"):
        rec = Recording(given)
        assert rec.kind == kind
        assert np.array_equal(rec.rawdata(), raw) and rec.rawdata().dtype == np.float64
    info = rec.info()
    assert info["version"] == f"escope-{kw['generation']}"
    assert rec.units == ["V", "mV"] and rec.rate == 20000.0
    assert info["scale"] == ["1 V", "0.1 mV"]
    y, unit = rec.data(1)
    assert unit == "mV" and np.array_equal(y, raw[1] * 0.1)
    np.testing.assert_allclose(rec.data("ai1", "uV"), raw[1] * 100.0, rtol=1e-12)
    # the settings as a 3.x settings file decodes to: dicts, lists, numbers,
    # strings, arrays; colours as tuples
    cfg = info["config"]
    assert isinstance(cfg["hw"], dict) and cfg["hw"]["adapter"] == ["nidaq", "Dev1"]
    assert cfg["hw"]["acqrate"]["value"] == 20000.0 and type(cfg["hw"]["acqrate"]["value"]) is float
    assert isinstance(cfg["conn"]["hw"], np.ndarray) and cfg["conn"]["hw"][:2].tolist() == [0, 1]
    assert cfg["colors"][0] == (255, 0, 0, 255)
    assert cfg["hori"]["xlim"] == [0, 10]
    assert cfg["trig"]["count"] == float("inf")
    json.dumps(escope.format.encode_config(cfg))  # JSON-able, as convert needs
    if kind == "triggered":
        delay = kw["delay_div"]
        assert rec.trigger_index == int(delay * cfg["hori"]["s_div"] * 20000)
        assert rec.n_sweeps == 3 and rec.n_scans == 250


def test_pickle_alone_and_summary_alone(tmp_path):
    raw = _raw("triggered")
    base = make_legacy(tmp_path / "20120317-101112", raw, triggered=True, with_txt=False)
    rec = Recording(base)
    assert rec.kind == "triggered" and rec.rundate.year == 2012
    assert np.array_equal(rec.rawdata(), raw)
    # The summary alone: continuous, with a warning that says why; never a
    # guessed sweep layout.
    for gen in (1, 2):
        b = make_legacy(tmp_path / f"t{gen}", raw, triggered=True, with_pickle=False,
                        generation=gen)
        with pytest.warns(MissingSettingsWarning, match=r"t\d\.escope is missing.*continuous"
                                                        r".*triggered sweeps cannot be told"):
            rec = Recording(b)
        assert rec.kind == "continuous" and rec.info()["version"] == f"escope-{gen}"
        # the sweeps back to back, as one trace per channel
        assert np.array_equal(rec.rawdata(), raw.reshape(2, 750))
        assert rec.info()["config"] == {}
        assert rec.filename == str(b) + ".txt"
        assert _quiet(Recording, rec.filename).n_scans == 750  # the name it reports opens


def test_saved_sweep_and_partial_data(tmp_path):
    raw = RNG.normal(size=(2, 77))
    base = make_legacy(tmp_path / "20120317-101112-004", raw, sweep_scans=100)
    rec = Recording(base)
    assert rec.kind == "sweep" and rec.n_scans == 77
    with pytest.warns(MissingSettingsWarning) as caught:
        b = make_legacy(tmp_path / "20120317-101112-005", raw, with_pickle=False)
        assert Recording(b).kind == "sweep"
    assert "continuous" not in str(caught[0].message)
    # a partial scan and a partial sweep, as for 3.x
    b = make_legacy(tmp_path / "p", RNG.normal(size=(2, 100)), extra_bytes=12)
    with pytest.warns(PartialDataWarning, match="1 partial scan"):
        assert Recording(b).n_scans == 100
    trig = RNG.normal(size=(2, 3, 50))
    b = make_legacy(tmp_path / "q", trig, triggered=True, sweep_scans=40)
    with pytest.warns(PartialDataWarning, match="30 scan"):
        rec = Recording(b)
    assert rec.n_sweeps == 3 and rec.n_scans == 40
    assert np.array_equal(rec.rawdata(), np.moveaxis(np.moveaxis(trig, 0, -1).reshape(
        -1, 2)[:120].reshape(3, 40, 2), -1, 0))


def test_opening_reads_no_samples(tmp_path, monkeypatch):
    import builtins

    raw = RNG.normal(size=(2, 1000))
    base = make_legacy(tmp_path / "r", raw)
    opened = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *a, **k):
        opened.append(str(file))
        return real_open(file, *a, **k)

    def spy_os_open(path, *a, **k):
        opened.append(str(path))
        return real_os_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    rec = Recording(base)
    assert rec.n_scans == 1000
    assert opened and not [p for p in opened if p.endswith(".dat")]
    monkeypatch.undo()
    assert np.array_equal(rec.rawdata(), raw)  # the samples come from the map


def test_analysis_equals_the_array_functions(tmp_path):
    raw = RNG.normal(size=(2, 3, 2000))
    raw[:, :, 500] = 9.0
    base = make_legacy(tmp_path / "r", raw, triggered=True)
    rec = Recording(base)
    noise = rec.rmsnoise()
    found = rec.detectspikes(k=5)
    for c, name in enumerate(rec.channels):
        y = rec.data(c)[0]
        assert noise[name] == pytest.approx(escope.rmsnoise(y), rel=1e-6)
        for n in range(3):
            assert np.array_equal(found[name][n],
                                  escope.detectspikes(y[n], found.thresholds[name]))


# --------------------------------------------------------------------- hostile pickles
def _global0(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _system_payload(target: Path, protocol: int) -> bytes:
    cmd = f"touch {target}"
    if protocol == 0:
        return _global0("os", "system") + b"(S'" + cmd.encode() + b"'\ntR."
    return (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd.encode()
            + b"\x85R.")


def _open_payload(target: Path) -> bytes:
    return _global0("builtins", "open") + b"(S'" + str(target).encode() + b"'\nS'w'\ntR."


def _check_refused(tmp_path, data: bytes, match: str, target: Path | None = None):
    raw = RNG.normal(size=(2, 100))
    base = make_legacy(tmp_path / "h", raw, with_txt=False)
    Path(f"{base}.escope").write_bytes(data)
    with pytest.raises(FormatError, match=match) as err:
        Recording(base)
    assert str(base) + ".escope" in str(err.value)
    if target is not None:
        assert not target.exists()
    # with the summary beside it: read from the summary, with a warning naming why
    make_legacy(tmp_path / "h", raw, with_pickle=False)
    with pytest.warns(MissingSettingsWarning, match="cannot be read safely"):
        rec = Recording(base)
    assert rec.kind == "continuous" and np.array_equal(rec.rawdata(), raw)
    if target is not None:
        assert not target.exists()
    for p in tmp_path.glob("h.*"):
        p.unlink()


@pytest.mark.parametrize("protocol", [0, 4])
def test_code_is_never_run(tmp_path, protocol):
    target = tmp_path / "pwned"
    # proof that the payload does create the file with the standard lookup
    probe = tmp_path / "probe"
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=_system_payload(probe, protocol), check=True, timeout=60)
    assert probe.exists()
    _check_refused(tmp_path, _system_payload(target, protocol), r"os\.system", target)
    _check_refused(tmp_path, _open_payload(target), r"builtins\.open", target)
    _check_refused(tmp_path, _global0("builtins", "eval") + b"(S'1+1'\ntR.", r"builtins\.eval")
    _check_refused(tmp_path, b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x031+1\x85R.",
                   r"builtins\.eval")


def test_system_call_before_valid_settings_is_refused(tmp_path):
    target = tmp_path / "pwned"
    good = dumps(legacy_settings(), 1)
    payload = _system_payload(target, 0)[:-1] + b"0" + good  # call, POP, then the settings
    _check_refused(tmp_path, payload, r"os\.system", target)
    good4 = dumps(legacy_settings(), 2)
    payload = _system_payload(target, 4)[:-1] + b"0" + good4[2:]
    _check_refused(tmp_path, payload, r"os\.system", target)


@pytest.mark.parametrize("name", ["posix.system", "subprocess.Popen", "numpy.load",
                                  "numpy.core.multiarray.frombuffer", "copyreg.__newobj__",
                                  "escopelib.Struct.Other", "builtins.getattr",
                                  "builtins.object.__subclasses__"])
def test_every_other_global_is_refused_by_name(tmp_path, name):
    module, _, attr = name.rpartition(".")
    if name == "builtins.object.__subclasses__":
        module, attr = "builtins", "object.__subclasses__"
    stack4 = (b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c"
              + bytes([len(attr)]) + attr.encode() + b"\x93)R.")
    _check_refused(tmp_path, stack4, "refused: the pickle names " + re.escape(f"{module}.{attr}"))


def test_deep_nesting_truncation_and_huge_lengths(tmp_path):
    deep = b"\x80\x04" + b"](" * 200_000 + b"e" * 200_000 + b"."
    _check_refused(tmp_path, deep, "not EScope's settings|nested")
    s = legacy_settings()
    node = s
    for _ in range(100):
        node["more"] = S()
        node = node["more"]
    _check_refused(tmp_path, dumps(s, 2), "nested more than")
    good = dumps(legacy_settings(), 2)
    _check_refused(tmp_path, good[: len(good) // 2], "damaged|truncated")
    for claim in (b"\x8e" + (2**62).to_bytes(8, "little"),       # BINBYTES8
                  b"\x8d" + (2**62).to_bytes(8, "little"),       # BINUNICODE8
                  b"B" + (2**31 - 1).to_bytes(4, "little"),      # BINBYTES
                  b"\x8b" + (2**31 - 1).to_bytes(4, "little"),   # LONG4
                  b"\x95" + (2**62).to_bytes(8, "little")):      # FRAME
        _check_refused(tmp_path, b"\x80\x04" + claim + b"xyz.", "damaged")
    cyclic = b"\x80\x04]\x94h\x00a."  # a list that contains itself
    _check_refused(tmp_path, cyclic, "not EScope's settings")
    s = legacy_settings()
    s["loop"] = []
    data = dumps(s, 2)
    # make the list contain the Struct that holds it: Struct memoized first
    data = data[:2] + data[2:].replace(b"\x81}(", b"\x81\x94}(", 1)
    data = data.replace(b"\x8c\x04loop](e", b"\x8c\x04loop](h\x00e")
    _check_refused(tmp_path, data, "contains itself")


def test_a_struct_holding_other_objects_is_refused(tmp_path):
    bad_state = b"\x80\x04\x8c\x10escopelib.Struct\x8c\x06Struct\x93)\x81J\x01\x00\x00\x00b."
    _check_refused(tmp_path, bad_state, "state is a int")
    not_struct = b"\x80\x04]\x94."
    _check_refused(tmp_path, not_struct, "holds a list")
    obj_array = dumps(S(x=np.array([1.0])), 2).replace(b"\x8c\x02f8", b"\x8c\x02O8")
    _check_refused(tmp_path, obj_array, "numpy dtype")
    huge = dumps(S(x=np.zeros(2, "S1")), 2)  # claims 2**40 one-byte strings, holds 2
    assert huge.count(b"(J\x02\x00\x00\x00t") == 1
    huge = huge.replace(b"(J\x02\x00\x00\x00t", b"(\x8a\x06" + (2**40).to_bytes(6, "little")
                        + b"t")
    _check_refused(tmp_path, huge, "damaged")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_pickles_give_settings_or_a_format_error(tmp_path, data):
    gen = data.draw(st.sampled_from([1, 2]))
    raw = bytearray(dumps(legacy_settings(triggered=True), gen))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    try:
        cfg, g = load_settings(bytes(raw[:cut]))
    except LegacyError:
        return
    assert isinstance(cfg, dict) and g in (1, 2)


# --------------------------------------------------------------------- the summary
GOOD = summary_text(rundate="20120317-101112", rate_Hz=1000, channels=["ai0", "ai1"],
                    scales=[(1, "V"), (0.1, "mV")], sweep_scans=500, sweep_s=0.5, generation=1)
GOOD2 = summary_text(rundate="20120317-101112", rate_Hz=1e6, channels=["ai0", "ai1"],
                     scales=[(1, "V"), (0.1, "mV")], sweep_scans=500, sweep_s=0.0005,
                     generation=2)

TXT_MUTATIONS = [
    ("missing key", GOOD.replace("nchannels = 2\n", ""), "missing nchannels"),
    ("missing scale", GOOD.replace("scale = { '1 V' '0.1 mV' }\n", ""), "missing scale"),
    ("nchannels disagrees", GOOD.replace("nchannels = 2", "nchannels = 3"),
     r"nchannels = 3 but 2 channel\(s\) listed"),
    ("scale count", GOOD.replace(" '0.1 mV'", ""), r"2 channel\(s\) but 1 scale entry"),
    ("rate not numeric", GOOD.replace("rate_hz = 1000", "rate_hz = fast"),
     "rate_hz = 'fast' is not a number"),
    ("rate zero", GOOD.replace("rate_hz = 1000", "rate_hz = 0"), "not a positive rate"),
    ("unit not V or A", GOOD.replace("0.1 mV", "0.1 mK"), "'mK' is not a voltage or a current"),
    ("unit furlong", GOOD.replace("1 V", "1 furlong"), "furlong"),
    ("bad line", GOOD + "this is not a setting\n", "line 8 is not 'key = value'"),
    ("duplicate", GOOD + "rate_hz = 2000\n", "rate_hz given twice"),
    ("unquoted channel", GOOD.replace("'ai1'", "ai1"), "every entry must be quoted"),
    ("unclosed block", GOOD2.replace("\n}", ""), "never closed"),
    ("rundate unquoted", GOOD.replace("'20120317-101112'", "20120317"), "not a quoted string"),
    ("scans not a count", GOOD.replace("= 500", "= 5.5e2"), "scans_per_sweep"),
    ("non-ASCII", GOOD.replace("ai0", "ai\u00e9"), "not ASCII"),
]


@pytest.mark.parametrize("text, message", [m[1:] for m in TXT_MUTATIONS],
                         ids=[m[0] for m in TXT_MUTATIONS])
def test_summary_mutations_are_format_errors(tmp_path, text, message):
    raw = RNG.normal(size=(2, 100))
    base = make_legacy(tmp_path / "r", raw, with_pickle=False)
    Path(f"{base}.txt").write_bytes(text.encode("utf-8"))
    with pytest.raises(FormatError, match=message) as err:
        Recording(base)
    assert str(base) + ".txt" in str(err.value)


def test_summary_styles_and_rates():
    one = parse_summary(GOOD.encode())
    two = parse_summary(GOOD2.encode())
    assert not one["multiline"] and two["multiline"]
    assert one["scale"] == two["scale"] == ["1 V", "0.1 mV"]
    assert two["rate_Hz"] == 1e6 and "rate_hz = 1e+06" in GOOD2
    windows = parse_summary(GOOD2.replace("\n", "\r\n").encode())
    assert windows["channels"] == ["ai0", "ai1"]


@pytest.mark.parametrize("what, change, message", [
    ("channels", dict(channels=["ai0", "ai3"]), r"lists channels \['ai0', 'ai3'\] but .* connects "
                                                r"\['ai0', 'ai1'\]"),
    ("rate", dict(rate_Hz=2000), "says rate_hz = 2000 but .* says hw.acqrate.value = 1000"),
    ("scale", dict(scales=[(1.0, "V"), (0.2, "mV")]), "the scale '0.2 mV' but .* gives '0.1 mV'"),
])
def test_summary_and_settings_that_disagree(tmp_path, what, change, message):
    raw = RNG.normal(size=(2, 100))
    base = make_legacy(tmp_path / "r", raw, scales=[(1.0, "V"), (0.1, "mV")])
    kw = dict(rundate="20120317-101112", rate_Hz=1000, channels=["ai0", "ai1"],
              scales=[(1.0, "V"), (0.1, "mV")], sweep_scans=500, sweep_s=0.5, generation=1)
    kw.update(change)
    Path(f"{base}.txt").write_text(summary_text(**kw))
    with pytest.raises(FormatError, match=message) as err:
        Recording(base)
    assert f"{base}.txt" in str(err.value) and f"{base}.escope" in str(err.value)


def test_a_json_sidecar_beside_a_stray_txt_is_still_3x(tmp_path):
    from tests.makefiles import make_files

    base = make_files(tmp_path / "r", np.zeros((2, 10), np.float32))
    Path(f"{base}.txt").write_text("my notes about this run\n")
    assert Recording(base).info()["version"] == "escope-3.3"


# --------------------------------------------------------------------- every layer
def _folder(tmp_path) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    make_legacy(folder / "20120317-101112", RNG.normal(size=(2, 2000)), generation=1)
    make_legacy(folder / "20230915-142233", RNG.normal(size=(2, 4, 500)), generation=2,
                triggered=True)
    make_legacy(folder / "20230915-150000", RNG.normal(size=(2, 1000)), generation=2,
                with_pickle=False)
    return folder


def test_scan_and_ls_show_the_versions(tmp_path):
    folder = _folder(tmp_path)
    listing = escope.scan(folder)
    assert [(r.name, r.version, r.layout, r.error is None) for r in listing] == [
        ("20120317-101112", "escope-1", "continuous", True),
        ("20230915-142233", "escope-2", "triggered", True),
        ("20230915-150000", "escope-2", "continuous", True)]
    assert "settings are lost" in listing[2].warning
    sizes = {r.name: r.size_bytes for r in listing}
    base = folder / "20120317-101112"
    assert sizes[base.name] == sum(os.path.getsize(f"{base}{e}") for e in (".escope", ".dat",
                                                                           ".txt"))
    out = subprocess.run([sys.executable, "-m", "escope", "ls", str(folder)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("escope-1") == 1 and out.stdout.count("escope-2") == 2


def test_spikes_info_plot_convert_on_the_command_line(tmp_path):
    folder = _folder(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "escope", *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = run("spikes", folder, "-o", tmp_path / "res", "--jobs", "1")
    assert out.returncode == 0, out.stderr
    assert "3 analysed" in out.stdout
    out = run("info", folder / "20230915-142233.txt")
    assert out.returncode == 0 and "escope-2" in out.stdout and "4 sweeps" in out.stdout
    out = run("plot", folder / "20120317-101112", "-o", tmp_path / "p.png")
    assert out.returncode == 0 and (tmp_path / "p.png").stat().st_size > 1000
    out = run("convert", folder / "20230915-142233")
    assert out.returncode == 2 and "would change" in out.stderr
    out = run("convert", folder / "20230915-142233", "--allow-rounding")
    assert out.returncode == 0, out.stderr
    assert (folder / "escope-3.3" / "20230915-142233.escope").is_file()


def test_loader_and_neo_and_spikeinterface(tmp_path):
    from escope.loader import load
    from escope_neo import EScopeIO, EScopeRawIO, read_escope

    folder = _folder(tmp_path)
    trig = folder / "20230915-142233"
    data, info = load(f"{trig}.escope")
    assert data.shape == (2, 4, 500) and info["version"] == "escope-2"
    assert info["config"]["trig"]["enable"] is True
    reader = EScopeRawIO(f"{trig}.escope")
    reader.parse_header()
    assert reader.segment_count(0) == 4
    rec = Recording(trig)
    block = EScopeIO(trig).read_block()
    sig = block.segments[2].analogsignals[0]  # scale 1 mV: raw values are millivolts
    # (Neo's proxies load float32 unless asked otherwise)
    np.testing.assert_allclose(sig.rescale("mV").magnitude, rec.rawdata()[:, 2].T, rtol=1e-6)
    si = read_escope(f"{trig}.escope")
    assert si.get_num_segments() == 4
    np.testing.assert_array_equal(si.get_traces(segment_index=1), rec.rawdata()[:, 1].T)
    txt_only = _quiet(EScopeIO, folder / "20230915-150000.txt")
    assert _quiet(txt_only.read_block).segments[0].analogsignals[0].shape == (1000, 2)


def test_nwb_export(tmp_path):
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    from escope_neo import write_nwb

    folder = _folder(tmp_path)
    out = write_nwb(folder / "20120317-101112", tmp_path / "old.nwb")
    rec = Recording(folder / "20120317-101112")
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        series = next(iter(nwb.acquisition.values()))
        volts = series.data[:] * series.conversion * series.channel_conversion[:]
    np.testing.assert_allclose(volts, rec.rawdata().T * np.array(rec.header.gains) *
                               np.array([1e-3, 1e-3]), rtol=1e-6)


def test_neo_base_tests_run_on_old_files():
    # tests/test_neo_machinery.py includes 1.x and 2.0 files in Neo's own suites
    from tests import test_neo_machinery

    names = test_neo_machinery.TestEScopeRawIO.entities_to_test
    assert {"v1.escope", "v2-triggered.escope", "20120317-101112-001.escope"} <= set(names)


def test_remote_old_recording_fetches_its_summary(tmp_path, monkeypatch):
    import http.server
    import threading

    folder = tmp_path / "www"
    folder.mkdir()
    raw = RNG.normal(size=(2, 300))
    make_legacy(folder / "r", raw)
    monkeypatch.setenv("ESCOPE_CACHE_DIR", str(tmp_path / "cache"))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: Quiet(*a, directory=str(folder), **k))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        rec = Recording(f"http://127.0.0.1:{httpd.server_address[1]}/r.escope")
        assert np.array_equal(rec.rawdata(), raw) and rec.header.txt_path is not None
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------- convert
@pytest.mark.parametrize("name", ["v1-continuous", "v2-triggered", "v2-real-pickler"])
def test_convert_round_trips_exactly(tmp_path, name):
    kw, kind = CASES[name]
    raw = _raw(kind).astype(np.float32).astype(np.float64)  # float32 holds these exactly
    base = make_legacy(tmp_path / "20120317-101112", raw, scales=[(1.0, "V"), (0.1, "mV")],
                       **kw)
    old = Recording(base)
    path = escope.convert(base)
    assert path == tmp_path / "escope-3.3" / "20120317-101112.escope"
    new = Recording(path)
    assert new.info()["version"] == "escope-3.3" and new.kind == old.kind
    assert np.array_equal(new.rawdata(), old.rawdata())
    assert new.rawdata().dtype == np.float32
    assert (new.channels, new.units, new.header.scale, new.rate, new.trigger_index,
            new.header.rundate) == (old.channels, old.units, old.header.scale, old.rate,
                                    old.trigger_index, old.header.rundate)
    assert new.info()["config"]["hw"]["adapter"] == ["nidaq", "Dev1"]
    assert new.info()["config"]["colors"][0] == [255, 0, 0, 255]
    assert new.header.config_path is None and "config" in json.loads(path.read_text())


def test_convert_refuses_rounding_with_the_numbers(tmp_path):
    raw = np.zeros((2, 1000))
    raw[1, 10] = 0.1  # not a float32
    raw[1, 20] = 1 / 3
    raw[0, 5] = np.nan
    base = make_legacy(tmp_path / "r", raw, scales=[(1.0, "V"), (2.0, "mV")])
    largest = 2.0 * abs(float(np.float32(1 / 3)) - 1 / 3)
    with pytest.raises(escope.conversion.RoundingError,
                       match=rf"change 2 of 2000 samples \(largest change {largest:.3g} mV on "
                             r"channel ai1\); nothing written") as err:
        escope.convert(base, tmp_path / "new")
    assert isinstance(err.value, ValueError)
    assert not list(tmp_path.glob("new*")) and not list(tmp_path.glob(".new*"))
    path = escope.convert(base, tmp_path / "new", allow_rounding=True)
    got = Recording(path).rawdata()
    assert np.array_equal(got, raw.astype(np.float32), equal_nan=True)


def test_convert_never_overwrites_and_keeps_txt_only_layout(tmp_path):
    raw = np.ones((2, 600))
    base = make_legacy(tmp_path / "20120317-101112", raw, with_pickle=False)
    with pytest.raises(FileExistsError, match="would replace the one being converted"):
        _quiet(escope.convert, base, base)
    target = tmp_path / "out"
    target.mkdir()
    path = _quiet(escope.convert, base, target)
    assert path == target / "20120317-101112.escope"
    assert Recording(path).kind == "continuous"
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        _quiet(escope.convert, base, target)
    assert path.read_bytes() == before
    mode = path.stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_pickle_loader_never_uses_pickle_load(monkeypatch, tmp_path):
    # the standard loaders are never called (a restricted Unpickler is)
    def boom(*a, **k):
        raise AssertionError("pickle.load(s) called")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    base = make_legacy(tmp_path / "r", RNG.normal(size=(2, 10)))
    assert Recording(base).n_scans == 10
    assert real_pickle_v2(legacy_settings())  # (the fixture writer still works)
