"""Recording.plot and the min/max envelope."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import escope  # noqa: E402
from escope.plotting import envelope  # noqa: E402
from escope.synth import make_recording  # noqa: E402


def naive_envelope(y, columns):
    n = len(y)
    columns = max(1, min(columns, n))
    col = np.arange(n) * columns // n
    lo, hi, start = [], [], []
    for k in range(columns):
        part = y[col == k]
        part = part[~np.isnan(part)]
        start.append(int(np.flatnonzero(col == k)[0]))
        lo.append(part.min() if len(part) else np.nan)
        hi.append(part.max() if len(part) else np.nan)
    return np.array(start), np.array(lo), np.array(hi)


@settings(max_examples=200, deadline=None)
@given(y=hnp.arrays(np.float64, st.integers(1, 500),
                    elements=st.floats(-1e6, 1e6) | st.just(np.nan)),
       columns=st.integers(1, 600))
def test_envelope_matches_naive(y, columns):
    got = envelope(y, columns)
    want = naive_envelope(y, columns)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_envelope_in_blocks(monkeypatch):
    import escope.plotting as P

    monkeypatch.setattr(P, "_BLOCK_SAMPLES", 37)  # many blocks, uneven
    y = np.random.default_rng(0).normal(size=10_001)
    for g, w in zip(envelope(y, 333), naive_envelope(y, 333)):
        np.testing.assert_array_equal(g, w)


def test_plot_continuous(tmp_path):
    path, _ = make_recording(tmp_path / "r", duration_s=5.0, n_channels=3)
    rec = escope.Recording(path)
    axes = rec.plot()
    assert len(axes) == rec.n_channels and axes[0].figure is plt.gcf()
    fig = plt.gcf()
    axes = fig.axes
    assert len(axes) == 3
    assert [a.get_ylabel() for a in axes] == ["ai0 (µV)", "ai1 (µV)", "ai2 (µV)"]
    assert axes[-1].get_xlabel() == "time (s)"
    assert "2024-10-07 12:34:12" in axes[0].get_title() and "r.escope" in axes[0].get_title()
    assert axes[0].get_xlim() == pytest.approx((0, rec.time()[-1]))
    # 100 000 samples per channel are drawn as an envelope, not as 100 000 points
    assert len(axes[0].lines) == 0 and len(axes[0].collections) == 1
    fig.savefig(tmp_path / "c.png")
    plt.close("all")


def test_plot_triggered_overlays_sweeps(tmp_path):
    path, _ = make_recording(tmp_path / "t", duration_s=0.05, n_sweeps=12, pretrigger_s=0.01)
    rec = escope.Recording(path)
    fig, axes = plt.subplots(2, 1)
    rec.plot(axes=axes)
    from matplotlib.collections import LineCollection

    lc = [c for c in axes[0].collections if isinstance(c, LineCollection)]
    assert len(lc) == 1 and len(lc[0].get_segments()) == 12
    assert axes[0].lines[0].get_xdata()[0] == pytest.approx(0.01)  # trigger marker
    with pytest.raises(ValueError, match="need 2 axes"):
        rec.plot(axes=axes[:1])
    plt.close("all")


def test_plot_zero_scans(tmp_path):
    escope.write(tmp_path / "z", np.zeros((2, 0), np.float32), 1000, ["a", "b"], ["1 mV", "1 mV"])
    escope.Recording(tmp_path / "z").plot()
    assert len(plt.gcf().axes) == 2
    plt.close("all")


def test_envelope_of_an_inverting_channel(tmp_path):
    raw = np.zeros((1, 50_000), np.float32)
    raw[0, 1000] = 3.0  # with scale -2 mV this is a -6 mV spike
    raw[0, 30_000] = -1.0  # and this +2 mV
    escope.write(tmp_path / "inv", raw, 10000, ["ai0"], ["-2 mV"])
    escope.Recording(tmp_path / "inv").plot(max_columns=500)
    ax = plt.gcf().axes[0]
    ys = np.concatenate([p.vertices[:, 1] for p in ax.collections[0].get_paths()])
    assert ys.min() == pytest.approx(-6.0) and ys.max() == pytest.approx(2.0)
    plt.close("all")
