"""The engine's streaming entrance: SpikeDetector and NoiseEstimator fed in
blocks give exactly what detectspikes and rmsnoise give on the whole trace,
for every way of cutting it, on both implementations (NumPy and Numba)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escope.engine import EventStream, NoiseEstimator, SpikeDetector
from tests import reference as ref

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# Every test runs on both implementations (the `implementation` fixture of
# conftest.py).
pytestmark = pytest.mark.usefixtures("implementation")


@st.composite
def signals(draw, max_len=1500):
    """Scans × channels: noise with spikes, dense steps, long runs (events of
    1-200 samples), NaN, constant offsets that keep an event open for long."""
    n = draw(st.integers(0, max_len))
    C = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["noise", "dense", "runs", "offset", "ints"]))
    if kind == "noise":
        x = rng.normal(size=(n, C))
        x[rng.integers(0, max(n, 1), n // 20)] += rng.choice([-8, 8])
    elif kind == "dense":
        x = rng.choice([-9.0, -6.0, 0.0, 3.0, 6.0, 9.0], (n, C))
    elif kind == "runs":
        lengths = rng.integers(1, 201, n // 20 + 2)
        col = np.resize(np.repeat(rng.choice([-9.0, -1.0, 0.0, 1.0, 6.0, 9.0], len(lengths)),
                                  lengths), n)
        x = col[:, None] + rng.normal(0, 0.5, (n, C))
    elif kind == "offset":
        x = 3.0 + rng.normal(0, 1.0, (n, C))  # above 0 for long stretches
    else:
        x = rng.integers(-12, 13, (n, C))
    if kind != "ints":
        if n and draw(st.booleans()):
            x[rng.integers(0, n, max(1, n // 50)), rng.integers(0, C)] = np.nan
        x = x.astype(draw(st.sampled_from([np.float32, np.float64])))
    else:
        x = x.astype(draw(st.sampled_from([np.int8, np.int16, np.int64, np.uint8])))
    return x


def _cuts(draw, n):
    how = draw(st.sampled_from(["one", "ones", "random", "rows"]))
    if how == "one":
        return [n]
    if how == "ones":
        return [1] * n
    if how == "rows":
        return [64] * (n // 64) + [n % 64]
    sizes = []
    while sum(sizes) < n:
        sizes.append(draw(st.integers(1, max(1, n // 3 + 1))))
    return sizes


def _feed_all(det, x, sizes, last_in_feed):
    got_i = [[] for _ in range(det.n_channels)]
    got_v = [[] for _ in range(det.n_channels)]
    i = 0
    for k, m in enumerate(sizes):
        part = x[i:i + m]
        i += m
        last = last_in_feed and k == len(sizes) - 1
        new = det.feed(part, last=last)
        for c in range(det.n_channels):
            got_i[c] += new.indices[c].tolist()
            got_v[c] += new.values[c].tolist()
    if not last_in_feed:
        new = det.finish()
        for c in range(det.n_channels):
            got_i[c] += new.indices[c].tolist()
            got_v[c] += new.values[c].tolist()
    return got_i, got_v


@SETTINGS
@given(data=st.data(), x=signals(), polarity=st.sampled_from([-1, 0, 1]),
       tkill=st.sampled_from([None, 0, 1, 2.5, 7, 50, 1e300]),
       upper=st.sampled_from([None, 8.5]), thr=st.sampled_from([2.0, 5.0]))
def test_blocks_concatenated_equal_detectspikes_on_the_whole(data, x, polarity, tkill, upper, thr):
    n, C = x.shape
    use_gains = x.dtype.kind == "f" and data.draw(st.booleans())
    gains = [float(g) for g in data.draw(st.lists(st.sampled_from([1.0, -2.0, 0.5]),
                                                  min_size=C, max_size=C))] if use_gains else None
    det = SpikeDetector([thr] * C, polarity=polarity, tkill=tkill, upperthresh=upper,
                        gains=gains)
    sizes = _cuts(data.draw, n)
    got_i, got_v = _feed_all(det, x, sizes, data.draw(st.booleans()))
    assert det.n_fed == n
    for c in range(C):
        y = x[:, c] if gains is None else x[:, c] * x.dtype.type(gains[c])
        want = ref.detectspikes(y, thr, polarity, tkill, upper)
        assert got_i[c] == want.tolist(), (c, sizes)
        np.testing.assert_array_equal(np.array(got_v[c]), y[want].astype(np.float64))


@SETTINGS
@given(data=st.data(), x=signals(max_len=900))
def test_segments_are_sweeps(data, x):
    # finish() ends a segment: events and pruning never reach across it, as
    # detectspikes on N×T sweeps.
    n, C = x.shape
    sweeps = data.draw(st.integers(1, 4))
    x = x[: n - n % sweeps]
    S = len(x) // sweeps
    det = SpikeDetector([5.0] * C, tkill=30)
    got = [[] for _ in range(C)]
    for k in range(sweeps):
        sweep = x[k * S:(k + 1) * S]
        cut = data.draw(st.integers(0, S))
        for part in (det.feed(sweep[:cut]), det.feed(sweep[cut:]), det.finish()):
            for c in range(C):
                got[c] += part.indices[c].tolist()
    for c in range(C):
        want = []
        for k in range(sweeps):
            want += (ref.detectspikes(x[k * S:(k + 1) * S, c], 5.0, 0, 30) + k * S).tolist()
        assert got[c] == want


@SETTINGS
@given(data=st.data(), x=signals(), chunksize=st.sampled_from([2, 7, 30, 300]),
       percentile=st.sampled_from([0, 25, 50, 100]))
def test_noise_of_blocks_equals_rmsnoise_of_the_whole(data, x, chunksize, percentile):
    from escope.spikex import rmsnoise

    n, C = x.shape
    est = NoiseEstimator(C, chunksize, percentile)
    i = 0
    for m in _cuts(data.draw, n):
        est.feed(x[i:i + m])
        i += m
    if n < chunksize:
        assert est.counts() == [0] * C
        with pytest.raises(ValueError, match="every chunk contains NaN"):
            est.value()
        return
    wants = []
    for c in range(C):
        try:
            wants.append(rmsnoise(x[:, c], chunksize, percentile))
        except ValueError as exc:
            assert "every chunk contains NaN" in str(exc)
            with pytest.raises(ValueError, match="every chunk contains NaN"):
                est.value()
            return
    assert est.value() == pytest.approx(wants, rel=1e-9, abs=1e-300)


@SETTINGS
@given(data=st.data(), x=signals(), chunksize=st.sampled_from([2, 7, 30]))
def test_parts_absorbed_equal_rmsnoise_of_the_whole(data, x, chunksize):
    # A file's parts run as estimators of their own (spawn) and are moved
    # into one store (absorb), reserved up front or not, too little or
    # enough: the result is the whole trace's, and a part is left empty.
    from escope.spikex import rmsnoise

    n, C = x.shape
    total = NoiseEstimator(C, chunksize)
    reserve = data.draw(st.none() | st.integers(0, n // chunksize + 2))
    if reserve is not None:
        total.reserve(reserve)
    i = 0
    while i < n:
        m = data.draw(st.integers(1, max(1, n // chunksize))) * chunksize
        part = total.spawn()
        part.feed(x[i:i + m])
        total.absorb(part)
        assert part.counts() == [0] * C
        i += m
    y = x[: n // chunksize * chunksize].astype(np.float64).reshape(-1, chunksize, C)
    assert total.counts() == np.isfinite(y).all(axis=1).sum(axis=0).tolist()
    try:
        wants = [rmsnoise(x[:, c], chunksize) for c in range(C)]
    except ValueError:
        return  # too short or all NaN: test_noise_of_blocks_... checks those
    assert total.value() == pytest.approx(wants, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_reserve_refuses_what_is_not_a_count(bad):
    with pytest.raises(ValueError, match=r"n_chunks must be an integer >= 0, not "):
        NoiseEstimator(2).reserve(bad)


def test_memory_stays_constant_over_a_long_stream():
    # An offset keeps an event open for a million samples: what the detector
    # holds is its state, not the samples.
    det = SpikeDetector([1.0], tkill=50)
    block = np.full(10_000, 3.0, np.float32)
    block[5000] = 9.0
    for _ in range(100):
        assert len(det.feed(block)) == 0
    assert sum(len(p) for row in det._pending + det._ready for p, _ in row) == 0
    end = det.finish()
    assert end.indices[0].tolist() == [5000] and end.values[0].tolist() == [9.0]


def test_event_stream_states_and_seek():
    stream = EventStream([5.0], start=100)
    found = stream.feed(np.array([0, 7, 8], np.float32))
    assert [len(p) for p, _ in found[0]] == [0, 0] and stream.open[0, 0]
    assert (stream.ion[0, 0], stream.best[0, 0]) == (101, 102)
    with pytest.raises(ValueError, match="an event is open"):
        stream.seek(500)
    closed = stream.end_segment()
    assert closed[0][0][0].tolist() == [102]
    stream.seek(500)
    found = stream.feed(np.array([-9, 0], np.float32))
    assert found[0][1][0].tolist() == [500] and found[0][1][1].tolist() == [-9.0]


@pytest.mark.parametrize("bad, message", [
    (dict(thresholds=[0.0]), "threshold must be a positive finite number"),
    (dict(thresholds=[1.0], polarity=2), "polarity must be -1, 0 or 1"),
    (dict(thresholds=[1.0], tkill=-1), "tkill must be None or a non-negative number"),
    (dict(thresholds=[1.0], upperthresh=0), "upperthresh must be None or a positive number"),
    (dict(thresholds=[1.0, 2.0], gains=[1.0]), r"gains must hold one number per channel \(2\)"),
])
def test_bad_settings(bad, message):
    bad = dict(bad)
    with pytest.raises(ValueError, match=message):
        SpikeDetector(bad.pop("thresholds"), **bad)


def test_bad_blocks():
    det = SpikeDetector([1.0, 1.0])
    with pytest.raises(ValueError, match="a block of 1 column"):
        det.feed(np.zeros((5, 1)))
    det.feed(np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="a block of float64 in a stream of float32"):
        det.feed(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="a block of 3 column"):
        det.feed(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="block must be real numbers"):
        det.feed(np.zeros((5, 2), complex))
    with pytest.raises(ValueError, match="gains scale float samples"):
        SpikeDetector([1.0], gains=[2.0]).feed(np.zeros(5, np.int16))
    with pytest.raises(ValueError, match="chunksize must be an integer >= 2"):
        NoiseEstimator(1, chunksize=1)


# --------------------------------------------------------------------------- the house
def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_escope_neo_is_light(implementation):
    if implementation == "numba":
        pytest.skip("a fresh process: one run is enough")
    assert _fresh("import sys, escope_neo; "
                  "print('spikeinterface' in sys.modules, 'numba' in sys.modules)") \
        == "False False"
    # reading through Neo does not import SpikeInterface either
    assert _fresh("import sys, os, tempfile, escope_neo\n"
                  "from escope.synth import make_recording\n"
                  "p, _ = make_recording(os.path.join(tempfile.mkdtemp(), 'r'), duration_s=0.2)\n"
                  "b = escope_neo.EScopeIO(p).read_block()\n"
                  "print('spikeinterface' in sys.modules)") == "False"


DETECT = """
import numpy as np
{first}
from spikeinterface.core import NumpyRecording
from spikeinterface.sortingcomponents.peak_detection import detect_peaks
x = np.zeros((20000, 2), np.float32); x[5000, 0] = x[12000, 1] = -12
rec = NumpyRecording([x], sampling_frequency=20000.0)
peaks = detect_peaks(rec, method="escope", method_kwargs=dict(peak_sign="neg",
                     detect_threshold=6, noise_levels=np.ones(2)),
                     job_kwargs=dict(n_jobs=1, progress_bar=False))
print(peaks["sample_index"].tolist())
"""


@pytest.mark.parametrize("order", ["escope_neo first", "spikeinterface first"])
def test_detect_peaks_escope_works_after_import_escope_neo(order, implementation):
    if implementation == "numba":
        pytest.skip("a fresh process: one run is enough")
    first = ("import escope_neo" if order == "escope_neo first"
             else "import spikeinterface.sortingcomponents.peak_detection\nimport escope_neo")
    assert _fresh(DETECT.format(first=first)) == "[5000, 12000]"


def test_no_module_imports_another_modules_private_names(implementation):
    if implementation == "numba":
        pytest.skip("static: one run is enough")
    offenders = []
    for package in ("escope", "escope_neo"):
        for path in (ROOT / package).rglob("*.py"):
            if "kernels" in path.parts:
                continue  # the kernels' own package shares its helpers
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                # Only our own modules count: Neo's RawIO API hands out its
                # header dtypes under underscore names, and every RawIO
                # imports them so.
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "")
                                                         .split(".")[0] in ("escope",
                                                                            "escope_neo")):
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            offenders.append(f"{path.relative_to(ROOT)}: {alias.name}")
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    # rec._window, module._helper...: another object's private name
                    if (node.attr.startswith("_") and not node.attr.startswith("__")
                            and node.value.id not in ("self", "cls")
                            and node.value.id in _imported_modules(tree)):
                        offenders.append(f"{path.relative_to(ROOT)}: "
                                         f"{node.value.id}.{node.attr}")
    assert offenders == []


def _imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


@settings(max_examples=150, deadline=None)
@given(C=st.integers(1, 8), full=st.integers(1, 700), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]), gains=st.booleans(),
       bad=st.sampled_from([None, np.nan, np.inf]))
def test_block_stats_kernel_equals_naive_variances(C, full, seed, dtype, gains, bad):
    # The whole-recording noise kernel against NumPy's population variance of
    # each (block, channel): any number of rows per block (odd and even: the
    # kernel sums two rows per step), a tail shorter than a row, short blocks
    # (NaN), blocks holding NaN or inf (NaN), gains in the samples' dtype.
    from escope.kernels.noise import block_stats

    rng = np.random.default_rng(seed)
    nblocks = int(rng.integers(1, 6))
    blen = np.where(rng.random(nblocks) < 0.2, rng.integers(0, full + 1, nblocks), full)
    bstart = np.concatenate([[0], np.cumsum(blen)[:-1]]).astype(np.int64)
    x = (rng.standard_normal((int(blen.sum()), C)) * rng.uniform(0.1, 100) + rng.uniform(-1e3, 1e3)
         ).astype(dtype)
    if bad is not None and len(x):
        x[rng.integers(len(x)), rng.integers(C)] = bad
    g = (rng.uniform(0.1, 10, C) if gains else np.ones(C)).astype(dtype)
    gtile = np.tile(g, max(1, 64 // C))
    var = np.empty((nblocks, C))
    block_stats(x.reshape(-1), C, gtile, bstart, blen.astype(np.int64), full, var)
    for b in range(nblocks):
        scaled = x[bstart[b]:bstart[b] + blen[b]] * g  # scaled in the samples' dtype
        for c in range(C):
            y = scaled[:, c].astype(np.float64)
            if blen[b] != full or not np.isfinite(y).all():
                assert np.isnan(var[b, c])
            else:
                assert var[b, c] == pytest.approx(np.var(y), rel=1e-9, abs=1e-12 * np.mean(y * y))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 5000), C=st.integers(1, 4), step=st.integers(1, 3000),
       dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8]))
def test_touch_kernel_reads_every_step_th_element(n, C, step, dtype):
    # The page-touching loop must read what it says (and not be optimized
    # away): its count equals the naive one, on contiguous and strided data.
    from escope.kernels.common import touch

    x = np.random.default_rng(n).integers(0, 3, (n, C)).astype(dtype)
    assert touch(x.reshape(-1), step) == np.count_nonzero(x.reshape(-1)[::step])
    assert touch(x[:, -1], step) == np.count_nonzero(x[::step, -1])


def test_map_pages_leaves_blocks_unchanged_and_takes_any_shape():
    from escope.engine import map_pages

    x = np.arange(40_000, dtype=np.float32).reshape(-1, 4)
    before = x.copy()
    for block in (x, x[::3], x[::-1], x[:, 1:3], x[:0], np.empty((5, 0), np.float32),
                  x[:, ::-1]):
        map_pages(block)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int16, np.int64, np.uint8])
def test_is_float_is_the_dtype_kind_where_kernels_are_compiled(dtype):
    # The single-compare test |v| >= hi is taken on floats only: for int8,
    # |-128| does not exist.
    from numba import njit

    from escope.kernels.common import is_float

    x = np.zeros(3, dtype)
    assert njit(lambda a: is_float(a))(x) == (np.dtype(dtype).kind == "f") == is_float(x)


def test_only_views_of_memory_maps_are_touched(tmp_path):
    import mmap

    from escope.engine import _mapped

    path = tmp_path / "x.dat"
    np.arange(4000, dtype=np.float32).tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r")
    assert _mapped(mm) and _mapped(np.asarray(mm).reshape(-1, 4)[::3, 1:])
    with open(path, "rb") as f:
        raw = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = np.frombuffer(raw, dtype=np.float32).reshape(-1, 2)
    assert _mapped(view)
    assert not _mapped(np.arange(10.0).reshape(5, 2)) and not _mapped(np.array(mm))
    del view
    raw.close()
