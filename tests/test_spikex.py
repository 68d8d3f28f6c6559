"""detectspikes, rmsnoise, cleancontext: kernels against the reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import escope
from escope.spikex import cleancontext, detectspikes, detectspikes_channels, rmsnoise
from tests import reference as ref

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# Every test runs on both implementations (the `implementation` fixture of
# conftest.py).
pytestmark = pytest.mark.usefixtures("implementation")


@st.composite
def traces(draw, max_len=3000):
    """Random traces: noise, dense spike trains, constant runs, NaNs, edges above threshold."""
    n = draw(st.integers(0, max_len))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "dense", "constant", "steps", "runs", "ints"]))
    if kind == "noise":
        x = rng.normal(0, 1, n)
        k = draw(st.integers(0, max(0, n // 20)))
        x[rng.integers(0, max(n, 1), k)] += rng.choice([-8, 8], k) if n else []
    elif kind == "dense":
        x = rng.choice([-9.0, -6.0, 0.0, 3.0, 6.0, 9.0], n)
    elif kind == "constant":
        x = np.full(n, draw(st.sampled_from([0.0, 5.0, -5.0, 100.0])))
    elif kind == "steps":
        x = np.repeat(rng.normal(0, 6, max(1, n // 7 + 1)), 7)[:n]
    elif kind == "runs":  # events of 1 to 200 samples: within, across and beyond 64-sample rows
        lengths = rng.integers(1, 201, n // 20 + 2)
        x = np.resize(np.repeat(rng.choice([-9.0, -1.0, 0.0, 1.0, 6.0, 9.0], len(lengths)), lengths), n)
        x = x + rng.normal(0, 0.5, len(x)) * (x != 0)
    else:
        x = rng.integers(-12, 13, n)
    if kind != "ints" and n and draw(st.booleans()):
        x[rng.integers(0, n, max(1, n // 50))] = np.nan
    if n and draw(st.booleans()):
        x[0] = draw(st.sampled_from([9.0, -9.0, 6.0]))  # starts above threshold
    if n and draw(st.booleans()):
        x[-1] = draw(st.sampled_from([9.0, -9.0]))  # ends above threshold
    dtype = draw(st.sampled_from(["float32", "float64"])) if kind != "ints" else draw(
        st.sampled_from(["int16", "int64", "uint8"]))
    if dtype == "uint8":
        x = np.abs(x)
    x = x.astype(dtype)
    view = draw(st.sampled_from(["plain", "strided", "column", "readonly"]))
    if view == "strided":
        big = np.zeros(2 * len(x), dtype=x.dtype)
        big[::2] = x
        x = big[::2]
    elif view == "column":
        big = np.zeros((len(x), 3), dtype=x.dtype)
        big[:, 1] = x
        x = big[:, 1]
    elif view == "readonly":
        x.setflags(write=False)
    return x


@SETTINGS
@given(x=traces(), threshold=st.sampled_from([0.5, 2.0, 5.0, 5.5, 8.0]),
       polarity=st.sampled_from([-1, 0, 1]), tkill=st.sampled_from([None, 0, 1, 3, 50, 500]),
       upper=st.sampled_from([None, 8.5, 100.0]))
def test_detectspikes_matches_reference(x, threshold, polarity, tkill, upper):
    got = detectspikes(x, threshold, polarity, tkill, upper)
    want = ref.detectspikes(x, threshold, polarity, tkill, upper)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), polarity=st.sampled_from([-1, 0, 1]))
def test_detectspikes_long_traces(seed, polarity):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, 100_000).astype(np.float32)
    x[rng.integers(0, len(x), 300)] *= 8
    np.testing.assert_array_equal(detectspikes(x, 4.0, polarity),
                                  ref.detectspikes(x, 4.0, polarity))


def test_detectspikes_2d_sweeps_are_independent():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (4, 500))
    x[1, -1] = 9  # open at the end of sweep 1: must not continue into sweep 2
    x[2, 0] = 0.5
    got = detectspikes(x, 2.5)
    assert isinstance(got, list) and len(got) == 4
    for row, g in zip(x, got):
        np.testing.assert_array_equal(g, ref.detectspikes(row, 2.5))
    assert got[1][-1] == 499


def test_detectspikes_edges_and_empty():
    assert detectspikes([9.0, 0.0, 0.0], 5).tolist() == [0]  # an event may start at 0
    assert detectspikes([0.0, 0.0, 9.0, 10.0], 5).tolist() == [3]  # still open at the end
    assert detectspikes([0.0, 1.0, -1.0], 5).tolist() == []  # no spikes at all
    empty = detectspikes([], 5)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert detectspikes(np.full(10, np.nan), 1).tolist() == []


def test_detectspikes_tkill_semantics():
    # three close peaks: the middle is highest; a pass zeroes both neighbours
    x = np.zeros(100)
    x[[10, 20, 30]] = [6, 9, 7]
    assert detectspikes(x, 5, tkill=15).tolist() == [20]
    assert detectspikes(x, 5, tkill=None).tolist() == [10, 20, 30]
    assert detectspikes(x, 5, tkill=10).tolist() == [10, 20, 30]  # distance 10 is not < 10
    # equal heights: the later one goes
    x[[10, 20, 30]] = [6, 6, 0]
    assert detectspikes(x, 5, tkill=15).tolist() == [10]


def test_float32_stays_float32_and_memmap(tmp_path):
    x = np.random.default_rng(0).normal(0, 1, 20000).astype(np.float32)
    x[::997] = 9
    x.tofile(tmp_path / "x.bin")
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="r")
    np.testing.assert_array_equal(detectspikes(mm, 5), detectspikes(x, 5))
    assert rmsnoise(mm) == rmsnoise(x)


def test_detectspikes_channels_equals_per_channel():
    rng = np.random.default_rng(5)
    data = rng.normal(0, 1, (20000, 5)).astype(np.float32).T  # strided rows, like rawdata()
    data[:, ::400] *= 9
    thresholds = [3, 4, 5, 6, 7]
    got = detectspikes_channels(data, thresholds, polarity=0, tkill=30)
    for c in range(5):
        np.testing.assert_array_equal(got[c], detectspikes(data[c], thresholds[c], 0, 30))
    assert [len(a) for a in detectspikes_channels(data, 4.0, n_jobs=1)] == [
        len(detectspikes(row, 4.0)) for row in data]
    with pytest.raises(ValueError, match="threshold must be a positive"):
        detectspikes_channels(data, [1, 2, 3, 4, -1])
    with pytest.raises(ValueError, match="must be 2-D"):
        detectspikes_channels(data[0], 1)


BAD_DETECT = [
    (dict(threshold=0), "threshold must be a positive finite number"),
    (dict(threshold=-1), "threshold must be a positive finite number"),
    (dict(threshold=np.inf), "threshold must be a positive finite number"),
    (dict(threshold=np.nan), "threshold must be a positive finite number"),
    (dict(threshold="5"), None),  # a numeric string is a number
    (dict(threshold="five"), "threshold must be a positive finite number"),
    (dict(threshold=None), "threshold must be a positive finite number"),
    (dict(polarity=2), "polarity must be -1, 0 or 1"),
    (dict(polarity=True), "polarity must be -1, 0 or 1"),
    (dict(polarity="up"), "polarity must be -1, 0 or 1"),
    (dict(tkill=-1), "tkill must be None or a non-negative number"),
    (dict(tkill="50"), "tkill must be None or a non-negative number"),
    (dict(yy=np.zeros((2, 2, 2))), "yy must be 1-D or 2-D, not 3-D"),
    (dict(yy=np.zeros(10, complex)), "yy must be real numbers"),
    (dict(yy=np.array(["a", "b"])), "yy must be real numbers"),
    (dict(yy=[object(), object()]), "yy must be real numbers"),
]


@pytest.mark.parametrize("kwargs, message", BAD_DETECT,
                         ids=[f"{next(iter(k))}-{i}" for i, (k, _) in enumerate(BAD_DETECT)])
def test_detectspikes_bad_input(kwargs, message):
    args = dict(yy=np.zeros(10), threshold=5, polarity=0, tkill=50)
    args.update(kwargs)
    if message is None:
        assert detectspikes(**args).tolist() == []
        return
    with pytest.raises(ValueError, match=message):
        detectspikes(**args)


# --------------------------------------------------------------------------- rmsnoise
@SETTINGS
@given(x=traces(max_len=5000), chunksize=st.sampled_from([2, 3, 50, 300]),
       percentile=st.sampled_from([0, 10, 25, 50, 99.9, 100]))
def test_rmsnoise_matches_reference(x, chunksize, percentile):
    assume(len(x) >= chunksize)
    rows = np.asarray(x, dtype=float)
    chunks = rows[: len(rows) // chunksize * chunksize].reshape(-1, chunksize)
    if np.isnan(chunks).any(axis=1).all():
        with pytest.raises(ValueError, match="every chunk contains NaN"):
            rmsnoise(x, chunksize, percentile)
        return
    got = rmsnoise(x, chunksize, percentile)
    want = ref.rmsnoise(x, chunksize, percentile)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_rmsnoise_2d_chunks_do_not_straddle_sweeps():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (3, 1000))
    x[:, :] += np.array([0, 100, -50])[:, None]  # offsets between sweeps
    # 1000 = 3 whole chunks of 300 per sweep; straddling would see the jumps
    assert rmsnoise(x) == pytest.approx(ref.rmsnoise(x), rel=1e-12)
    assert rmsnoise(x) < 2


@pytest.mark.parametrize("sigma", [1e-6, 1e-3, 1.0, 37.0, 1e3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmsnoise_recovers_sigma_within_1_percent(sigma, dtype):
    x = (np.random.default_rng(int(sigma * 1e6) % 2**32).normal(0, sigma, 1_000_000)).astype(dtype)
    assert rmsnoise(x) == pytest.approx(sigma, rel=0.01)


def test_rmsnoise_reference_is_the_median_order_statistic():
    # Independent check of the deterministic reference by simulation.
    from escope._noise import gaussian_reference

    rng = np.random.default_rng(11)
    m, n, pct = 50, 40, 25
    k = min(int(pct * n / 100 + 0.5), n - 1)
    sims = np.sort(rng.normal(size=(4000, n, m)).std(axis=2), axis=1)[:, k]
    assert gaussian_reference(m, n, pct) == pytest.approx(np.median(sims), rel=0.003)


def test_rmsnoise_is_deterministic_and_ignores_spikes():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 2, 200_000).astype(np.float32)
    clean = rmsnoise(x)
    x[::2000] = 40  # a spike in 15% of the chunks
    assert rmsnoise(x) == rmsnoise(x.copy())
    assert rmsnoise(x) == pytest.approx(clean, rel=0.03)


BAD_NOISE = [
    (dict(chunksize=1), "chunksize must be an integer >= 2"),
    (dict(chunksize=2.5), "chunksize must be an integer >= 2"),
    (dict(chunksize=True), "chunksize must be an integer >= 2"),
    (dict(percentile=-1), r"percentile must be in \[0, 100\]"),
    (dict(percentile=100.5), r"percentile must be in \[0, 100\]"),
    (dict(percentile="x"), r"percentile must be a number"),
    (dict(dat=np.zeros(299)), "299 samples are fewer than chunksize 300"),
    (dict(dat=np.zeros(0)), "0 samples are fewer than chunksize 300"),
    (dict(dat=np.zeros((2, 2, 400))), "dat must be 1-D or 2-D, not 3-D"),
    (dict(dat=np.zeros(400, complex)), "dat must be real numbers"),
    (dict(dat=np.full(600, np.nan)), "every chunk contains NaN"),
]


@pytest.mark.parametrize("kwargs, message", BAD_NOISE, ids=[m for _, m in BAD_NOISE])
def test_rmsnoise_bad_input(kwargs, message):
    args = dict(dat=np.ones(1000), chunksize=300, percentile=25)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rmsnoise(**args)


# --------------------------------------------------------------------------- cleancontext
@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(0, 400),
       thr=st.sampled_from([None, 0.5, 0.2]), absthr=st.sampled_from([None, 0.9, 0.5]))
def test_cleancontext_matches_reference(seed, n, thr, absthr):
    rng = np.random.default_rng(seed)
    dat = rng.normal(0, 1, n)
    idx = np.sort(rng.integers(-5, n + 5, rng.integers(0, 20))) if n else np.array([], int)
    dat[idx[(idx >= 0) & (idx < n)]] = rng.choice([-6, 6], ((idx >= 0) & (idx < n)).sum())
    test = [range(-25, -12), range(12, 25)]
    testabs = [range(-25, -4), range(4, 25)]
    got = cleancontext(idx, dat, test, testabs, thr, absthr)
    np.testing.assert_array_equal(got, ref.cleancontext(idx, dat, test, testabs, thr, absthr))


def test_cleancontext_examples():
    y = np.zeros(200)
    y[[50, 120]] = -10
    y[60] = -6  # beyond 0.5*h in the spike's direction, at offset +10: only testabs sees it
    assert cleancontext([50, 120], y).tolist() == [50, 120]
    y[140] = -6  # offset +20 of spike 120: inside `test`, goes beyond -5
    assert cleancontext([50, 120], y).tolist() == [50]
    assert cleancontext([50, 120], y, thr=None).tolist() == [50, 120]
    assert cleancontext([10, 190], y).tolist() == []  # context leaves the data
    assert cleancontext([10, 190], y, thr=None, absthr=None).tolist() == [10, 190]


def test_top_level_names_and_lazy_numba():
    assert escope.rmsnoise is rmsnoise and escope.detectspikes is detectspikes
    assert escope.spikex.cleancontext is cleancontext
    code = "import sys, escope.spikex, escope.peakx; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False"


def test_agrees_with_acquisition_program_inside_the_trace(peer):
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, 50_000)
    x[1000:-1000:700] += rng.choice([-9, 9], len(range(1000, 49_000, 700)))
    for polarity in (-1, 0, 1):
        theirs = np.asarray(peer.detectspikes(x, 5.0, polarity=polarity))
        np.testing.assert_array_equal(detectspikes(x, 5.0, polarity=polarity), theirs)


# --------------------------------------------------------------------------- non-finite and extreme values
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), nchunks=st.integers(1, 60),
       chunksize=st.sampled_from([2, 7, 50]), percentile=st.sampled_from([0, 10, 25, 50, 100]),
       frac=st.floats(0, 0.9), dtype=st.sampled_from([np.float32, np.float64]))
def test_rmsnoise_skips_chunks_with_inf_like_nan(seed, nchunks, chunksize, percentile, frac, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, nchunks * chunksize + rng.integers(0, chunksize)).astype(dtype)
    bad = rng.random(nchunks) < frac
    if bad.all():
        bad[0] = False
    for c in np.flatnonzero(bad):
        x[c * chunksize + rng.integers(0, chunksize)] = rng.choice([np.inf, -np.inf, np.nan])
    keep = np.concatenate([x[c * chunksize:(c + 1) * chunksize]
                           for c in range(nchunks) if not bad[c]])
    # Equal to rounding: short chunks are summed two at a time, so a chunk's
    # sums may round differently once the chunks before it are gone.
    assert rmsnoise(x, chunksize, percentile) == pytest.approx(
        rmsnoise(keep, chunksize, percentile), rel=1e-12)


def test_rmsnoise_with_many_inf_chunks_is_not_zero():
    x = np.random.default_rng(0).normal(0, 1, 300_000)
    x[::700] = np.inf  # 40 % of the 300-sample chunks hold an inf
    assert rmsnoise(x) == pytest.approx(1.0, rel=0.03)
    with pytest.raises(ValueError, match="every chunk contains NaN or inf"):
        rmsnoise(np.full(600, np.inf))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400),
       dtype=st.sampled_from([np.int8, np.int16, np.int64, np.uint8, np.uint16, np.uint64]),
       polarity=st.sampled_from([-1, 0, 1]), tkill=st.sampled_from([None, 0, 5, 50]),
       threshold=st.sampled_from([0.5, 5.0, 100.0]))
def test_integer_extremes_detect_as_their_float_values(seed, n, dtype, polarity, tkill, threshold):
    # int8 -128 and int64's minimum cannot be negated in their own dtype.
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    candidates = [info.min, info.min + 1, 0, 1, 7, info.max - 1, info.max, 2**53, -(2**53),
                  2**62, 2**63]
    # Only values float64 holds exactly, so that the float reference is exact too.
    pool = np.array([v for v in candidates if info.min <= v <= info.max and int(float(v)) == v],
                    dtype=dtype)
    x = rng.choice(pool, n) if n else np.zeros(0, dtype)
    got = detectspikes(x, threshold, polarity=polarity, tkill=tkill)
    want = ref.detectspikes(x.astype(np.float64).tolist(), threshold, polarity, tkill, None)
    assert got.tolist() == list(want)


def test_int8_minimum_is_pruned_like_its_float_value():
    x = np.zeros(200, np.int8)
    x[[20, 40]] = [-128, -100]
    assert detectspikes(x, 5, polarity=-1).tolist() == [20]
    assert detectspikes(x.astype(float), 5, polarity=-1).tolist() == [20]
    y = np.zeros(200, np.int64)
    y[[20, 40]] = [np.iinfo(np.int64).min, -100]
    assert detectspikes(y, 5, polarity=-1).tolist() == [20]


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ch=st.integers(1, 5),
       window=st.sampled_from([-1.0, 0, 3, 50]), margin=st.sampled_from([0, 7]))
def test_chunk_peaks_is_tkill_per_channel_and_sign(seed, n_ch, window, margin):
    from escope.kernels import blocks

    rng = np.random.default_rng(seed)
    n = 400
    x = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], (n, n_ch)).astype(np.float32)
    rows = []  # (channel, sign, ion, ioff, peak): only channel, sign and peak matter
    for c in range(n_ch):
        for s in range(2):
            wanted = x[:, c] > 0 if s == 0 else x[:, c] < 0
            for p in np.flatnonzero(wanted & (rng.random(n) < 0.2)):
                rows.append((c, s, p, p + 1, p))
    rng.shuffle(rows)  # groups interleaved, each still in time order after a stable sort
    rows.sort(key=lambda r: r[2])
    ev = np.array(rows, dtype=np.int64).reshape(-1, 5)
    sample, channel = blocks.chunk_peaks(ev, x.reshape(-1), n_ch, np.arange(n_ch),
                                         np.ones(n_ch, x.dtype), float(window), margin,
                                         n - margin)
    want = []
    for c in range(n_ch):
        for s, sign in ((0, 1), (1, -1)):
            p = [r[4] for r in rows if r[0] == c and r[1] == s]
            if window >= 0 and p:
                p = ref.tkill(p, [sign * float(x[q, c]) for q in p], window)
            want += [(q, c) for q in p if margin <= q < n - margin]
    want.sort()
    assert list(zip(sample.tolist(), channel.tolist())) == want


def test_detectspikes_more_events_than_one_buffer():
    # 150 000 events of each sign (the kernel's buffers start at 65 536 and grow).
    x = np.tile(np.array([9.0, -9.0], np.float32), 150_000)
    x[::6] = 10.0
    for tkill in (None, 3):
        for polarity in (0, 1, -1):
            got = detectspikes(x, 5.0, polarity, tkill)
            np.testing.assert_array_equal(got, ref.detectspikes(x, 5.0, polarity, tkill))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60),
       window=st.sampled_from([0, 0.5, 1, 2.5, 7, 30, 1e300, float("inf")]))
def test_tkill_kernel_matches_reference(seed, n, window):
    from escope.kernels import prune as _kernels

    rng = np.random.default_rng(seed)
    peaks = np.sort(rng.choice(300, n, replace=False)).astype(np.int64)
    heights = rng.choice([1.0, 2.0, 3.0, np.inf], n) if n % 2 else rng.integers(1, 9, n) * 1.0
    got = _kernels.tkill(peaks, heights, window) if n else peaks
    assert got.tolist() == list(ref.tkill(peaks.tolist(), heights.tolist(), window))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60_000),
       kind=st.sampled_from(["normal", "few values", "sorted", "reversed", "periodic"]),
       where=st.floats(0, 1))
def test_kth_smallest_is_exact(seed, n, kind, where):
    from escope.kernels import noise as _kernels

    rng = np.random.default_rng(seed)
    values = {"normal": lambda: rng.normal(1, 0.1, n),
              "few values": lambda: rng.integers(0, 4, n).astype(float),
              "sorted": lambda: np.sort(rng.random(n)),
              "reversed": lambda: np.sort(rng.random(n))[::-1].copy(),
              "periodic": lambda: np.resize(rng.random(7), n)}[kind]()
    k = min(int(where * n), n - 1)
    assert _kernels.kth_smallest(values, k) == np.partition(values, k)[k]


def test_kth_smallest_when_its_sample_misleads():
    from escope.kernels import noise as _kernels

    # Every sampled position holds the smallest value: the sample's bracket
    # misses rank k and the full partition must take over.
    values = np.full(4096 * 5, 10.0)
    values[::5] = 0.0
    values[1::5] = np.arange(4096.0)
    for k in (0, 4095, 4096, 10_000, len(values) - 1):
        assert _kernels.kth_smallest(values, k) == np.partition(values, k)[k]


def test_small_inputs_never_start_numba(tmp_path):
    # A fresh process analysing a short recording must not pay numba's
    # start-up: neither the array functions nor the Recording methods.
    code = f"""
import sys, numpy as np, escope
x = np.random.default_rng(0).normal(0, 1, (2, 140_000)).astype(np.float32)
x[:, ::1000] += 9
path = escope.write({str(tmp_path / "r")!r}, x, 20000, ["a", "b"], ["1 uV", "1 uV"])
rec = escope.Recording(path)
for c in range(2):
    y = rec.data(c, "uV")
    assert len(escope.detectspikes(y, 5 * escope.rmsnoise(y))) > 100
rec.rmsnoise()
assert min(rec.detectspikes(k=5).counts().values()) > 100
print('numba' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1], timeout=120)
    assert out.stdout.strip() == "False"
