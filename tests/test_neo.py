"""escope_neo at Neo's RawIO and IO layers: compliance on every layout, round trips."""

from __future__ import annotations

import warnings

import neo
import numpy as np
import pytest
import quantities as pq
from neo.test.rawiotest import rawio_compliance as rc

import escope
from escope import FormatError, PartialDataWarning
from escope_neo import EScopeIO, EScopeRawIO
from tests.makefiles import make_files

RNG = np.random.default_rng(7)
COMPLIANCE = ["header_is_total", "check_signal_stream_buffer_hierachy", "count_element",
              "read_analogsignals", "read_spike_times", "read_spike_waveforms", "read_events",
              "has_annotations", "check_buffer_api"]


def _layouts(tmp_path):
    """(name, base path, raw in the user's layout, expected warning)."""
    out = []
    raw = RNG.normal(size=(2, 300))
    out.append(("escope-3 float64", make_files(tmp_path / "v3", raw, version="escope-3"), raw, None))
    raw = RNG.normal(size=(2, 300)).astype(np.float32)
    out.append(("escope-3.2 .config", make_files(tmp_path / "v32", raw, version="escope-3.2"),
                raw, None))
    raw = RNG.normal(size=(3, 300)).astype(np.float32)
    out.append(("escope-3.3", make_files(tmp_path / "v33", raw, scale=["1 uV", "2 mV", "10 pA"]),
                raw, None))
    raw = RNG.normal(size=(1, 500)).astype(np.float32)
    out.append(("1 channel", make_files(tmp_path / "one", raw), raw, None))
    raw = RNG.normal(size=(8, 200)).astype(np.float32)
    out.append(("8 channels", make_files(tmp_path / "eight", raw), raw, None))
    raw = RNG.normal(size=(2, 4, 100)).astype(np.float32)
    base = make_files(tmp_path / "trig", raw, triggered=True, sweep_scans=100, s_div=0.01,
                      delay_div=2, rate_Hz=1000.0, extra_bytes=2 * 4 * 30)
    out.append(("triggered + partial sweep", base, raw, PartialDataWarning))
    raw = RNG.normal(size=(2, 77)).astype(np.float32)
    out.append(("saved sweep", make_files(tmp_path / "20241007-123412-004", raw, sweep_scans=100),
                raw, None))
    raw = np.zeros((2, 0), np.float32)
    out.append(("zero scans", make_files(tmp_path / "empty", raw), raw, None))
    return out


@pytest.fixture
def layouts(tmp_path):
    return _layouts(tmp_path)


def _open(cls, base, warning):
    if warning is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PartialDataWarning)
            reader = cls(str(base) + ".escope")
            if hasattr(reader, "parse_header"):
                reader.parse_header()
        return reader
    with pytest.warns(warning):
        reader = cls(str(base) + ".escope")
        reader.parse_header()
    return reader


def test_compliance_on_every_layout(layouts):
    for name, base, raw, warning in layouts:
        reader = _open(EScopeRawIO, base, warning)
        for check in COMPLIANCE:
            try:
                getattr(rc, check)(reader)
            except Exception as exc:  # pragma: no cover - the message says which
                raise AssertionError(f"{check} failed on {name}: {exc!r}") from exc


def test_rawio_maps_the_header(layouts):
    for name, base, raw, warning in layouts:
        reader = _open(EScopeRawIO, base, warning)
        rec = escope.Recording(base) if warning is None else None
        ch = reader.header["signal_channels"]
        streams = reader.header["signal_streams"]
        # one stream per kind of unit: voltage ("0"), current ("1")
        kinds = {"V" if u.endswith("V") else "A" for u in ch["units"]}
        assert streams["name"].tolist() == [n for n, k in (("voltage", "V"), ("current", "A"))
                                            if k in kinds]
        triggered = raw.ndim == 3
        assert reader.segment_count(0) == (raw.shape[1] if triggered else 1)
        for seg in range(reader.segment_count(0)):
            for s, sid in enumerate(streams["id"]):
                cols = np.flatnonzero(ch["stream_id"] == sid)
                chunk = reader.get_analogsignal_chunk(0, seg, None, None, s)
                want = (raw[:, seg] if triggered else raw)[cols]
                assert chunk.dtype == want.dtype and np.array_equal(chunk, want.T), name
                assert reader.get_signal_t_start(0, seg, s) == 0.0
        if rec is not None:
            assert ch["name"].tolist() == rec.channels
            assert ch["gain"].tolist() == list(rec.header.gains)
            assert ch["units"].tolist() == rec.units
            assert ch["sampling_rate"][0] == rec.rate


def test_units_are_quantities_and_buffer_is_memmappable(tmp_path):
    raw = RNG.normal(size=(3, 1000)).astype(np.float32)
    base = make_files(tmp_path / "r", raw, scale=["1 µV", "-0.5 mV", "100 pA"], rate_Hz=20000.0)
    reader = EScopeRawIO(base)
    reader.parse_header()
    ch = reader.header["signal_channels"]
    assert ch["units"].tolist() == ["uV", "mV", "pA"]
    for u in ch["units"]:
        pq.Quantity(1, u)  # quantities parses them
    d = reader.get_analogsignal_buffer_description(0, 0, "0")
    mm = np.memmap(d["file_path"], dtype=d["dtype"], mode="r", offset=d["file_offset"],
                   shape=d["shape"], order=d["order"])
    assert np.array_equal(mm, raw.T) and d["dtype"] == "<f4"
    volts = reader.get_analogsignal_chunk(stream_index=0)
    scaled = reader.rescale_signal_raw_to_float(volts, dtype="float64", stream_index=0)
    np.testing.assert_allclose(scaled, (raw[:2] * np.array([[1.0], [-0.5]])).T, rtol=1e-6)
    amps = reader.get_analogsignal_chunk(stream_index=1)
    scaled = reader.rescale_signal_raw_to_float(amps, dtype="float64", stream_index=1)
    np.testing.assert_allclose(scaled[:, 0], raw[2] * 100.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"several streams, give stream_index: 0 'voltage' "
                                         r"\(ai0, ai1\), 1 'current' \(ai2\)"):
        reader.get_analogsignal_chunk()


def test_triggered_annotations_and_events(tmp_path):
    raw = RNG.normal(size=(2, 3, 200)).astype(np.float32)
    base = make_files(tmp_path / "t", raw, triggered=True, rate_Hz=2000.0, s_div=0.01, delay_div=2)
    block = EScopeIO(base).read_block()
    assert len(block.segments) == 3
    assert block.rec_datetime.year == 2024
    assert block.annotations["escope_version"] == "escope-3.3"
    assert block.annotations["adapter"] == "dummy"
    assert block.annotations["triggered"] is True and block.annotations["trigger_delay_div"] == 2
    for k, seg in enumerate(block.segments):
        assert seg.annotations["sweep_index"] == k
        assert seg.annotations["trigger_time_s"] == pytest.approx(0.02)  # int(2*0.01*2000)/2000
        (ev,) = seg.events
        assert ev.name == "trigger" and ev.times.rescale("s").magnitude.tolist() == [0.02]
        assert seg.t_start == 0 * pq.s


def test_io_read_block_units_rate_and_lazy(tmp_path):
    raw = RNG.normal(size=(3, 5000)).astype(np.float32)
    base = make_files(tmp_path / "r", raw, scale=["1 mV", "1 mV", "100 pA"], rate_Hz=10000.0)
    block = EScopeIO(base).read_block()
    sigs = block.segments[0].analogsignals
    assert [s.units for s in sigs] == [pq.mV, 100 * pq.pA] or {
        s.units.dimensionality.string for s in sigs} == {"mV", "pA"}
    mv = next(s for s in sigs if s.units.dimensionality.string == "mV")
    assert mv.sampling_rate == 10000 * pq.Hz and mv.shape == (5000, 2)
    assert np.array_equal(mv.rescale("mV").magnitude, raw[:2].T)
    pa = next(s for s in sigs if s.units.dimensionality.string != "mV")
    np.testing.assert_allclose(pa.rescale("pA").magnitude[:, 0], raw[2] * 100, rtol=1e-6)
    lazy = EScopeIO(base).read_block(lazy=True)
    proxy = lazy.segments[0].analogsignals[0]
    assert np.array_equal(proxy.load().magnitude, block.segments[0].analogsignals[0].magnitude)
    part = proxy.load(time_slice=(0.1 * pq.s, 0.2 * pq.s))
    assert part.shape[0] == 1000 and np.array_equal(part.magnitude, raw[:2, 1000:2000].T)


def test_escope_to_nix_and_back(tmp_path):
    raw = RNG.normal(size=(2, 3, 400)).astype(np.float32)
    base = make_files(tmp_path / "t", raw, triggered=True, scale=["1 uV", "1 nA"])
    block = EScopeIO(base).read_block()
    with neo.io.NixIO(str(tmp_path / "t.nix"), mode="ow") as nio:
        nio.write_block(block)
    with neo.io.NixIO(str(tmp_path / "t.nix"), mode="ro") as nio:
        back = nio.read_block()
    assert len(back.segments) == 3
    for s0, s1 in zip(block.segments, back.segments):
        for a, b in zip(s0.analogsignals, s1.analogsignals):
            assert a.units == b.units and a.sampling_rate == b.sampling_rate
            assert np.array_equal(a.magnitude, b.magnitude)


def test_neo_to_escope_and_back(tmp_path):
    block = neo.Block(rec_datetime=None)
    for k in range(2):
        seg = neo.Segment()
        sig = neo.AnalogSignal(RNG.normal(size=(300, 2)).astype(np.float32), units="uV",
                               sampling_rate=5 * pq.kHz, array_annotations={
                                   "channel_names": np.array(["ai0", "ai1"])})
        seg.analogsignals.append(sig)
        block.segments.append(seg)
    EScopeIO(tmp_path / "out.escope").write_block(block)
    rec = escope.Recording(tmp_path / "out")
    assert rec.triggered and rec.n_sweeps == 2 and rec.channels == ["ai0", "ai1"]
    assert rec.units == ["uV", "uV"] and rec.rate == 5000.0
    back = EScopeIO(tmp_path / "out.escope").read_block()
    for s0, s1 in zip(block.segments, back.segments):
        a, b = s0.analogsignals[0], s1.analogsignals[0]
        assert np.array_equal(a.magnitude, b.magnitude)
        assert a.units == b.units and a.sampling_rate == b.sampling_rate
    one = neo.Block()
    one.segments.append(neo.Segment())
    one.segments[0].analogsignals.append(
        neo.AnalogSignal(np.ones((10, 1), np.float32), units="nA", sampling_rate=1 * pq.kHz))
    EScopeIO(tmp_path / "cont").write_block(one)
    assert escope.Recording(tmp_path / "cont").kind == "continuous"
    with pytest.raises(FileExistsError):
        EScopeIO(tmp_path / "cont").write_block(one)
    EScopeIO(tmp_path / "cont").write_block(one, overwrite=True)


def _block(*segments):
    block = neo.Block()
    for sigs in segments:
        seg = neo.Segment()
        seg.analogsignals.extend(sigs)
        block.segments.append(seg)
    return block


def _sig(n=10, rate=1.0, units="mV", ch=1):
    return neo.AnalogSignal(np.zeros((n, ch), np.float32), units=units, sampling_rate=rate * pq.kHz)


@pytest.mark.parametrize("block, message", [
    (_block(), "no analog signals"),
    (_block([]), "no analog signals"),
    (_block([_sig(rate=1.0), _sig(rate=2.0)]), "mixed sampling rates"),
    (_block([_sig(rate=1.0)], [_sig(rate=2.0)]), "mixed sampling rates"),
    (_block([_sig(10)], [_sig(12)]), "segments differ in length"),
    (_block([_sig(10), _sig(12)]), "differ in length"),
    (_block([_sig(ch=1)], [_sig(ch=2)]), "different channels"),
    (_block([_sig(units="mV")], [_sig(units="pA")]), "different channels or units"),
    (_block([_sig(units="dimensionless")]), "unit"),
])
def test_write_block_refuses_and_writes_nothing(tmp_path, block, message):
    with pytest.raises(ValueError, match=message):
        EScopeIO(tmp_path / "x.escope").write_block(block)
    assert list(tmp_path.iterdir()) == []


def test_bad_files_raise_the_escope_errors(tmp_path):
    (tmp_path / "bad.escope").write_text("[]")
    (tmp_path / "bad.dat").write_bytes(b"")
    for make in (lambda: EScopeRawIO(tmp_path / "bad.escope").parse_header(),
                 lambda: EScopeIO(tmp_path / "bad.escope").read_block()):
        with pytest.raises(FormatError, match="bad.escope: the sidecar must be a JSON object"):
            make()
    with pytest.raises(FileNotFoundError) as err:
        EScopeIO(tmp_path / "missing.escope").read_block()
    assert err.value.filename.endswith("missing.escope")


def test_nonexistent_segment_stream_or_channel(tmp_path):
    base = make_files(tmp_path / "r", RNG.normal(size=(2, 50)).astype(np.float32))
    reader = EScopeRawIO(base)
    reader.parse_header()
    with pytest.raises(IndexError, match=r"segment 5 does not exist; there are 1 segment\(s\), 0 to 0"):
        reader.get_analogsignal_chunk(0, 5, None, None, 0)
    with pytest.raises(IndexError, match=r"block 1 does not exist"):
        reader.get_analogsignal_chunk(1, 0, None, None, 0)
    with pytest.raises(IndexError, match=r"stream 2 does not exist; streams are 0 'voltage'"):
        reader.get_analogsignal_chunk(0, 0, None, None, 2)
    with pytest.raises(ValueError, match=r"no channel \['ai9'\]; channels are \['ai0', 'ai1'\]"):
        reader.get_analogsignal_chunk(0, 0, None, None, 0, channel_names=["ai9"])
    with pytest.raises(IndexError, match=r"channel index \[5\] out of range for 2 channel"):
        reader.get_analogsignal_chunk(0, 0, None, None, 0, channel_indexes=[5])
    assert reader.get_analogsignal_chunk(channel_names=["ai1"]).shape == (50, 1)


def test_recording_to_neo(tmp_path):
    raw = RNG.normal(size=(2, 100)).astype(np.float32)
    base = make_files(tmp_path / "r", raw)
    block = escope.Recording(base).to_neo()
    assert isinstance(block, neo.Block)
    assert np.array_equal(block.segments[0].analogsignals[0].magnitude, raw.T)
    lazy = escope.Recording(base).to_neo(lazy=True)
    assert np.array_equal(lazy.segments[0].analogsignals[0].load().magnitude, raw.T)


# --------------------------------------------------------------------------- sample bounds
@pytest.fixture
def two_sweeps(tmp_path):
    raw = np.stack([np.full((2, 100), 1.0), np.full((2, 100), 2.0)], axis=1).astype(np.float32)
    return make_files(tmp_path / "t", raw, triggered=True, sweep_scans=100), raw


@pytest.mark.parametrize("i_start, i_stop", [(0, 200), (0, 101), (-5, 10), (-1, None), (50, 40),
                                             (101, None)])
def test_chunks_never_cross_into_a_neighbouring_sweep(two_sweeps, i_start, i_stop):
    base, _ = two_sweeps
    reader = EScopeRawIO(str(base))
    reader.parse_header()
    for seg in (0, 1):
        with pytest.raises(IndexError, match=rf"outside segment {seg}, which has 100 samples"):
            reader.get_analogsignal_chunk(seg_index=seg, i_start=i_start, i_stop=i_stop)


def test_chunks_within_a_sweep_and_bad_index_types(two_sweeps):
    base, raw = two_sweeps
    reader = EScopeRawIO(str(base))
    reader.parse_header()
    for seg in (0, 1):
        chunk = reader.get_analogsignal_chunk(seg_index=seg, i_start=np.int64(90), i_stop=100)
        assert np.array_equal(chunk, raw[:, seg, 90:100].T)
        assert reader.get_analogsignal_chunk(seg_index=seg, i_start=100).shape == (0, 2)
    with pytest.raises(ValueError, match="i_start must be an integer sample index, not 2.5"):
        reader.get_analogsignal_chunk(i_start=2.5)


def test_spikeinterface_never_reads_a_neighbouring_sweep(two_sweeps):
    from escope_neo import read_escope

    base, raw = two_sweeps
    rec = read_escope(str(base))
    with pytest.raises(IndexError, match="outside segment 1, which has 100 samples"):
        rec.get_traces(start_frame=-5, segment_index=1)
    traces = rec.get_traces(start_frame=0, end_frame=500, segment_index=0)  # SI clamps the end
    assert np.array_equal(traces, raw[:, 0].T)


# --------------------------------------------------------------------------- start time, NWB
@pytest.fixture
def summer(tmp_path):
    raw = RNG.normal(size=(2, 500)).astype(np.float32)
    return escope.write(tmp_path / "s", raw, 1000, ["ai0", "ai1"], ["1 uV", "1 uV"],
                        rundate="20240707-123412"), raw


def test_start_time_rule(summer, monkeypatch):
    import time

    path, _ = summer
    rec = escope.Recording(path)
    monkeypatch.delenv("ESCOPE_TIMEZONE", raising=False)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert rec.start_time().isoformat() == "2024-07-07T12:34:12-04:00"  # local zone
        monkeypatch.setenv("ESCOPE_TIMEZONE", "Europe/Berlin")
        assert rec.start_time().isoformat() == "2024-07-07T12:34:12+02:00"
        assert rec.start_time("UTC").isoformat() == "2024-07-07T12:34:12+00:00"  # given wins
        block = EScopeIO(path).read_block()
        assert block.rec_datetime.isoformat() == "2024-07-07T12:34:12+02:00"
        assert block.annotations["session_start_time"] == block.rec_datetime
        assert EScopeIO.__mro__  # the RawIO takes the zone too
        raw = EScopeRawIO(path, timezone="Asia/Tokyo")
        raw.parse_header()
        assert raw.raw_annotations["blocks"][0]["rec_datetime"].utcoffset().total_seconds() == 9 * 3600
        from escope_neo import read_escope

        assert read_escope(path).get_annotation("session_start_time") == "2024-07-07T12:34:12+02:00"
        with pytest.raises(ValueError, match=r"timezone: unknown time zone 'Mars/Olympus'"):
            rec.start_time("Mars/Olympus")
        monkeypatch.setenv("ESCOPE_TIMEZONE", "Nowhere/Land")
        with pytest.raises(ValueError, match=r"\$ESCOPE_TIMEZONE: unknown time zone 'Nowhere/Land'"):
            rec.start_time()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_neo_nwbio_writes_an_escope_block_with_no_glue(summer, tmp_path, monkeypatch):
    pytest.importorskip("pynwb", reason="pynwb (the [nwb] extra) is not installed")
    path, raw = summer
    monkeypatch.setenv("ESCOPE_TIMEZONE", "Europe/Berlin")
    block = EScopeIO(path).read_block()
    out = str(tmp_path / "s.nwb")
    neo.NWBIO(out, mode="w").write_all_blocks([block])
    back = neo.NWBIO(out, mode="r").read_all_blocks()[0]
    sig = back.segments[0].analogsignals[0]
    np.testing.assert_array_equal(sig.rescale("uV").magnitude, raw.T)
    import pynwb

    with pynwb.NWBHDF5IO(out, "r") as io:
        nwb = io.read()
        assert nwb.session_start_time.isoformat() == "2024-07-07T12:34:12+02:00"


def test_scales_are_array_annotations_and_escope_neo_has_a_version(tmp_path):
    import escope_neo

    base = make_files(tmp_path / "r", RNG.normal(size=(3, 100)).astype(np.float32),
                      scale=["1 uV", "2 mV", "10 pA"])
    block = EScopeIO(base).read_block()
    scales = sorted(x for s in block.segments[0].analogsignals
                    for x in s.array_annotations["escope_scale"].tolist())
    assert scales == ["1 uV", "10 pA", "2 mV"]  # one per channel, whatever the grouping
    assert all("escope_scale" not in s.annotations for s in block.segments[0].analogsignals)
    assert escope_neo.__version__ == escope.__version__


# --------------------------------------------------------------------------- a faithful writer
def test_round_trip_keeps_pretrigger_sweep_s_names_and_settings(tmp_path):
    from escope_neo.io import DroppedWarning

    raw = RNG.normal(size=(2, 3, 200)).astype(np.float32)
    base = make_files(tmp_path / "t", raw, triggered=True, rate_Hz=2000.0, s_div=0.01,
                      delay_div=2, channels=["ai3", "ai7"], scale=["1 uV", "1 nA"])
    block = EScopeIO(base).read_block()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DroppedWarning)  # nothing is lost
        EScopeIO(tmp_path / "copy.escope").write_block(block)
    a, b = escope.Recording(base), escope.Recording(tmp_path / "copy")
    assert b.channels == ["ai3", "ai7"] and b.units == ["uV", "nA"]
    assert b.trigger_index == a.trigger_index == 40 and b.pretrigger_s == pytest.approx(0.02)
    assert b.info()["sweep_s"] == a.info()["sweep_s"] and b.n_sweeps == 3
    assert np.array_equal(b.rawdata(), a.rawdata())
    assert b.rundate == a.rundate
    back = EScopeIO(tmp_path / "copy.escope").read_block()
    assert back.annotations["adapter"] == "dummy"
    assert [s.events[0].times.rescale("s").magnitude.tolist() for s in back.segments] == \
        [[0.02]] * 3
    cont = make_files(tmp_path / "c", raw[:, 0], version="escope-3.2", s_div=0.01)
    assert escope.Recording(cont).info()["sweep_s"] == pytest.approx(0.1)
    EScopeIO(tmp_path / "c2.escope").write_block(EScopeIO(cont).read_block())
    assert escope.Recording(tmp_path / "c2").info()["sweep_s"] == pytest.approx(0.1)


def test_what_cannot_be_stored_is_named(tmp_path):
    from escope_neo.io import DroppedWarning

    block = _block([_sig(100, units="mV", ch=2)])
    seg = block.segments[0]
    seg.analogsignals[0].t_start = 5 * pq.s
    seg.spiketrains.append(neo.SpikeTrain([5.01, 5.02] * pq.s, t_start=5 * pq.s,
                                          t_stop=5.1 * pq.s))
    seg.events.append(neo.Event([5.05] * pq.s, name="stim"))
    seg.epochs.append(neo.Epoch([5.0] * pq.s, durations=[0.01] * pq.s))
    with pytest.warns(DroppedWarning) as caught:
        EScopeIO(tmp_path / "x.escope").write_block(block)
    message = str(caught[0].message)
    for part in ("t_start 5 s of segment 0", "1 SpikeTrain(s)", "1 Event(s) other than the trigger",
                 "1 Epoch(s)"):
        assert part in message
    wide = _block([neo.AnalogSignal(np.full((10, 1), 0.1), units="mV", sampling_rate=1 * pq.kHz)])
    with pytest.warns(DroppedWarning, match="float64 samples rounded to float32"):
        EScopeIO(tmp_path / "y.escope").write_block(wide)


def test_signals_are_matched_by_position_and_lazy_blocks_write(tmp_path):
    # Neo's own regular blocks: 3 segments of 4 signals, same rate, unit and length,
    # with names that differ between segments.
    block = neo.Block()
    for k in range(3):
        seg = neo.Segment()
        for j in range(4):
            seg.analogsignals.append(neo.AnalogSignal(
                RNG.normal(size=(50, 1)).astype(np.float32), units="mV",
                sampling_rate=1 * pq.kHz, name=f"seg{k}sig{j}"))
        block.segments.append(seg)
    EScopeIO(tmp_path / "reg.escope").write_block(block)
    rec = escope.Recording(tmp_path / "reg")
    assert rec.channels == ["seg0sig0", "seg0sig1", "seg0sig2", "seg0sig3"] and rec.n_sweeps == 3
    for k, seg in enumerate(block.segments):
        for j, sig in enumerate(seg.analogsignals):
            assert np.array_equal(rec.rawdata(j)[k], sig.magnitude[:, 0])
    lazy = EScopeIO(tmp_path / "reg.escope").read_block(lazy=True)
    EScopeIO(tmp_path / "lazy.escope").write_block(lazy)
    assert np.array_equal(escope.Recording(tmp_path / "lazy").rawdata(), rec.rawdata())


def test_differing_trigger_times_are_refused(tmp_path):
    block = _block([_sig(10)], [_sig(10)])
    for k, seg in enumerate(block.segments):
        seg.events.append(neo.Event([0.001 * (k + 1)] * pq.s, name="trigger"))
    with pytest.raises(ValueError, match="trigger times differ between sweeps"):
        EScopeIO(tmp_path / "x.escope").write_block(block)
    assert list(tmp_path.iterdir()) == []
