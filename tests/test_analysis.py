"""Recording-level noise and spikes equal the per-channel functions on
rec.data(c, units), whatever the layout, dtype, block size or thread count."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import escope
from escope import Recording
from escope.spikex import detectspikes, rmsnoise
from tests.makefiles import make_files

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def recording_path(request):
    """Every test runs on both implementations of the engine: the Numba
    kernels over the interleaved file, and NumPy channel by channel (small
    recordings); the one switch, escope.engine.SMALL_INPUT, sets both the
    recording-level and the per-channel functions (each of which
    test_spikex checks against the plain reference)."""
    from escope import engine

    old = engine.SMALL_INPUT
    engine.SMALL_INPUT = -1 if request.param == "numba" else 1 << 62
    yield request.param
    engine.SMALL_INPUT = old


@st.composite
def recordings(draw, tmp_path_factory):
    """A recording on disk with noise, spikes of both signs, offsets, NaN/inf."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(["continuous", "triggered", "sweep"]))
    version = draw(st.sampled_from(["escope-3", "escope-3.2", "escope-3.3"]))
    n_ch = draw(st.integers(1, 5))
    n = draw(st.integers(1 if layout == "triggered" else 0, 2500))
    sweeps = draw(st.integers(1, 4)) if layout == "triggered" else 1
    raw = rng.normal(0, 1, (n_ch, sweeps, n))
    for _ in range(draw(st.integers(0, 3 * n // 50 + 1))):  # spikes, some dense
        c, s, i = rng.integers(n_ch), rng.integers(sweeps), rng.integers(max(n, 1))
        if n:
            raw[c, s, i:i + 3] += rng.choice([-1, 1]) * rng.uniform(4, 12)
    extra = draw(st.sampled_from(["none", "offset", "nan", "inf", "dense"]))
    if n and extra == "offset":  # events that stay open for long stretches
        raw[rng.integers(n_ch)] += 7.0
    elif n and extra in ("nan", "inf"):
        raw.reshape(-1)[rng.integers(0, raw.size, 1 + raw.size // 200)] = (
            np.nan if extra == "nan" else rng.choice([np.inf, -np.inf]))
    elif extra == "dense":
        raw[0] = rng.choice([-9.0, -6.0, 0.0, 3.0, 6.0, 9.0], raw[0].shape)
    scales = [draw(st.sampled_from(["1 mV", "-2 uV", "0.1 V", "2.5e-05 V", "10 pA", "-1 nA"]))
              for _ in range(n_ch)]
    base = tmp_path_factory.mktemp("rec") / ("20241007-123412-001" if layout == "sweep" else "r")
    data = raw if layout == "triggered" else raw[:, 0]
    make_files(base, data, version=version, scale=scales, triggered=layout == "triggered",
               sweep_scans=n if layout == "triggered" else 100, rate_Hz=1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Recording(base)


def _per_channel_spikes(rec, c, thr, units, start, stop, **kw):
    y = rec.data(c, units, start=start, stop=stop) if units else rec.data(c, start=start,
                                                                           stop=stop)[0]
    offset = rec.window(start, stop).start
    found = detectspikes(y, thr, **kw)
    return [f + offset for f in found] if isinstance(found, list) else found + offset


def _noise_or_error(rec, c, units, start, stop, chunksize, percentile):
    y = rec.data(c, units, start=start, stop=stop) if units else rec.data(c, start=start,
                                                                           stop=stop)[0]
    try:
        return rmsnoise(y, chunksize, percentile)
    except ValueError as exc:
        return exc


@SETTINGS
@given(data=st.data(), chunksize=st.sampled_from([2, 3, 50, 300]),
       percentile=st.sampled_from([0, 25, 60]), polarity=st.sampled_from([-1, 0, 1]),
       tkill=st.sampled_from([None, 0, 3, 50]), upper=st.sampled_from([None, 8.0, 1e9]),
       n_jobs=st.integers(1, 4), task_scans=st.sampled_from([1, 2, 7, 64, 1 << 18]),
       block_scans=st.sampled_from([None, 1, 2, 5, 256]), k=st.sampled_from([2.0, 4.5]),
       window=st.sampled_from([(None, None), (0.1, None), (0.05, 0.9)]))
def test_recording_level_equals_per_channel(tmp_path_factory, data, chunksize, percentile,
                                            polarity, tkill, upper, n_jobs, task_scans,
                                            block_scans, k, window):
    rec = data.draw(recordings(tmp_path_factory))
    duration = rec.n_scans / rec.rate
    start, stop = (t if t is None else min(t, duration) for t in window)
    if start is not None and stop is not None and start > stop:
        start = stop
    units = data.draw(st.sampled_from([None, "uV"])) if set(rec.units) <= {"mV", "uV", "V"} \
        else None
    tuning = dict(n_jobs=n_jobs, task_scans=task_scans, block_scans=block_scans)
    expected_noise = {name: _noise_or_error(rec, c, units, start, stop, chunksize, percentile)
                      for c, name in enumerate(rec.channels)}
    errors = [e for e in expected_noise.values() if isinstance(e, ValueError)]
    if errors:
        with pytest.raises(ValueError):
            rec.rmsnoise(units=units, chunksize=chunksize, percentile=percentile, start=start,
                         stop=stop, n_jobs=n_jobs, task_scans=task_scans)
    else:
        noise = rec.rmsnoise(units=units, chunksize=chunksize, percentile=percentile,
                             start=start, stop=stop, n_jobs=n_jobs, task_scans=task_scans)
        for name, value in noise.items():
            assert value == pytest.approx(expected_noise[name], rel=1e-6, abs=1e-300)
        if all(v > 0 for v in noise.values()):
            spikes = rec.detectspikes(k=k, polarity=polarity, tkill=tkill, upperthresh=upper,
                                      units=units, start=start, stop=stop, chunksize=chunksize,
                                      percentile=percentile, **tuning)
            _check_spikes(rec, spikes, units, start, stop, polarity, tkill, upper)
            assert spikes.noise == noise
    thresholds = [3.0 + i for i in range(rec.n_channels)]
    spikes = rec.detectspikes(thresholds, polarity=polarity, tkill=tkill, upperthresh=upper,
                              units=units, start=start, stop=stop, **tuning)
    assert list(spikes.thresholds.values()) == thresholds and spikes.noise is None
    _check_spikes(rec, spikes, units, start, stop, polarity, tkill, upper)


def _check_spikes(rec, spikes, units, start, stop, polarity, tkill, upper):
    assert list(spikes) == rec.channels
    for c, name in enumerate(rec.channels):
        want = _per_channel_spikes(rec, c, spikes.thresholds[name], units, start, stop,
                                   polarity=polarity, tkill=tkill, upperthresh=upper)
        got = spikes[name]
        if rec.triggered:
            assert len(got) == rec.n_sweeps
            for g, w in zip(got, want):
                assert g.dtype == np.int64 and g.tolist() == w.tolist()
        else:
            assert got.dtype == np.int64 and got.tolist() == want.tolist()


def test_results_do_not_depend_on_blocks_or_threads(tmp_path):
    rng = np.random.default_rng(11)
    raw = rng.normal(0, 1, (4, 60_000)).astype(np.float32)
    raw[:, ::97] += 9
    raw[2, 1000:5000] += 6  # a long event crossing many blocks
    path = escope.write(tmp_path / "r", raw, 30000, ["a", "b", "c", "d"], ["1 uV"] * 4)
    rec = Recording(path)
    reference = rec.detectspikes(k=4, n_jobs=1)
    for n_jobs in (1, 2, 3, 4):
        for task_scans, block_scans in ((1, None), (300, 1), (301, 7), (4096, 64), (10**9, None)):
            got = rec.detectspikes(k=4, n_jobs=n_jobs, task_scans=task_scans,
                                   block_scans=block_scans)
            assert got.thresholds == reference.thresholds
            for name in rec.channels:
                assert np.array_equal(got[name], reference[name]), (n_jobs, task_scans)


def test_more_events_than_one_output_buffer(tmp_path):
    # ~25 000 events per channel and sign in one task: the kernel's output
    # (1024 rows at first) fills and the scan resumes where it stopped.
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 1, (3, 200_000)).astype(np.float32)
    raw[:, ::8] += 9
    raw[:, 4::8] -= 9
    path = escope.write(tmp_path / "r", raw, 30000, ["a", "b", "c"], ["1 uV"] * 3)
    rec = Recording(path)
    for tkill in (None, 3):
        spikes = rec.detectspikes([5.0] * 3, tkill=tkill, n_jobs=1, task_scans=10**9)
        if tkill is None:
            assert min(spikes.counts().values()) > 40_000
        _check_spikes(rec, spikes, None, None, None, 0, tkill, None)


def test_channels_units_and_thresholds_by_name(tmp_path):
    raw = np.zeros((3, 1000), np.float32)
    raw[:, 100] = [5, -5, 50]
    path = escope.write(tmp_path / "r", raw, 1000, ["a", "b", "c"], ["1 mV", "1 mV", "1 uV"])
    rec = Recording(path)
    got = rec.detectspikes({"c": 40, "a": 6000}, channels=["c", "a"], units="uV")
    assert list(got) == ["c", "a"] and got["a"].size == 0 and got["c"].tolist() == [100]
    assert got.units == {"c": "uV", "a": "uV"}
    assert rec.detectspikes(4, channels=[0, -2])["b"].tolist() == [100]


BAD = [
    (dict(channels=["zz"]), r"no channel named 'zz'; channels are \['a', 'b'\]"),
    (dict(threshold=[1, 2, 3]), r"threshold has 3 value\(s\) for 2 channel\(s\)"),
    (dict(threshold={"a": 1}), r"threshold has no value for channel\(s\) \['b'\]"),
    (dict(threshold=-1), "threshold must be a positive finite number"),
    (dict(threshold="x"), "threshold must be a positive finite number"),
    (dict(k=0), "k must be a positive finite number"),
    (dict(k=float("nan")), "k must be a positive finite number"),
    (dict(k="5"), "k must be a positive finite number"),
    (dict(polarity=2), "polarity must be -1, 0 or 1"),
    (dict(tkill=-1), "tkill must be None or a non-negative number"),
    (dict(upperthresh="x"), "upperthresh must be None or a positive number"),
    (dict(chunksize=1), "chunksize must be an integer >= 2"),
    (dict(percentile=101), r"percentile must be in \[0, 100\]"),
    (dict(chunksize=5000), "need at least one chunk: 1000 samples are fewer than chunksize 5000"),
    (dict(n_jobs=0), "n_jobs must be a positive integer"),
    (dict(start=5.0), r"start=5.0 s is outside the recording"),
    (dict(units="nA"), "cannot convert mV to nA"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments(tmp_path, kwargs, message):
    path = escope.write(tmp_path / "r", np.zeros((2, 1000), np.float32), 1000, ["a", "b"],
                        ["1 mV", "1 mV"])
    with pytest.raises(ValueError, match=message):
        Recording(path).detectspikes(**kwargs)


def test_rmsnoise_bad_arguments_match_the_function(tmp_path):
    path = escope.write(tmp_path / "r", np.full((1, 600), np.nan, np.float32), 1000, ["a"],
                        ["1 mV"])
    rec = Recording(path)
    with pytest.raises(ValueError, match="every chunk contains NaN or inf"):
        rec.rmsnoise()
    with pytest.raises(ValueError, match="every chunk contains NaN or inf"):
        rmsnoise(rec.data(0)[0])
    with pytest.raises(ValueError, match=r"no channel named 'x'"):
        rec.rmsnoise(["x"])
