"""Triggered experiments: times from the trigger, averages, statistics per
sweep, PSTHs, waveforms, events and epochs, and spikes as Neo,
SpikeInterface and pynapple objects — each against a plain NumPy reference
written from the issue's words."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import Recording
from escope.synth import make_evoked_recording
from tests.makefiles import make_files

ROOT = Path(__file__).resolve().parents[1]
RATE = 1000.0


def _triggered(tmp_path, dtype=np.float32, delay_div=2.0, n=6, S=200, seed=0, nan=False):
    """A triggered capture (s_div 0.02 s: a delay of 2 divisions puts the
    trigger at scan 40), samples in mV: noise, a response and a spike."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 1, (2, n, S))
    trig = int(delay_div * 0.02 * RATE)
    raw[:, :, trig + 10: trig + 30] -= 2.0  # the response
    raw[0, :, trig + 5] -= 12.0  # a locked spike
    raw[1, ::2, 3] += 9.0  # a spike 3 scans into every other sweep: near the edge
    if nan:
        raw[0, 1, 50:55] = np.nan
    base = make_files(tmp_path / f"t{seed}", raw.astype(dtype), triggered=True, sweep_scans=S,
                      delay_div=delay_div, s_div=0.02, rate_Hz=RATE,
                      version="escope-3" if dtype == np.float64 else "escope-3.3",
                      scale=["1 mV", "2 uV"])
    return Recording(base), raw.astype(dtype), trig


def _ref_sweeps(raw, c, gain, baseline, trig):
    y = (raw[c] * raw.dtype.type(gain)).astype(np.float64)
    if baseline == "pretrigger":
        y = y - np.nanmean(y[:, :trig], axis=1, keepdims=True)
    elif baseline is not None:
        a, b = baseline
        y = y - np.nanmean(y[:, a:b], axis=1, keepdims=True)
    return y


# --------------------------------------------------------------------------- times
def test_time_relative_to_the_trigger(tmp_path):
    rec, _, trig = _triggered(tmp_path)
    assert rec.trigger_index == trig == 40
    t = rec.time(relative_to="trigger")
    np.testing.assert_allclose(t, (np.arange(200) - 40) / RATE)
    assert t[40] == 0.0 and t[0] < 0
    np.testing.assert_allclose(rec.time(start=0.1, stop=0.15, relative_to="trigger"),
                               (np.arange(100, 150) - 40) / RATE)
    cont = Recording(make_files(tmp_path / "c", np.zeros((1, 100))))
    with pytest.raises(ValueError, match=r"continuous capture: find the stimuli with "
                                         r"rec\.events\(channel, level\)"):
        cont.time(relative_to="trigger")
    with pytest.raises(ValueError, match="relative_to must be 'start' or 'trigger'"):
        rec.time(relative_to="sweep")


# --------------------------------------------------------------------------- averages
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("baseline", ["pretrigger", (-0.03, -0.01), None])
def test_average_equals_numpy(tmp_path, dtype, baseline):
    rec, raw, trig = _triggered(tmp_path, dtype=dtype, nan=True)
    avg = rec.average("ai0", baseline=baseline)
    b = baseline if not isinstance(baseline, tuple) else (trig - 30, trig - 10)
    y = _ref_sweeps(raw, 0, 1.0, b, trig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(avg.mean, np.nanmean(y, axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(avg.sd, np.nanstd(y, axis=0, ddof=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(avg.n, (~np.isnan(y)).sum(axis=0))
    assert avg.n.min() == 5 and avg.n.max() == 6  # the NaN samples left out
    np.testing.assert_allclose(avg.time, (np.arange(200) - trig) / RATE)
    assert avg.units == "mV" and avg.channel == "ai0"


def test_average_in_other_units_and_of_chosen_sweeps(tmp_path):
    rec, raw, trig = _triggered(tmp_path)
    avg = rec.average(1, "uV", sweeps=[0, 2, -1])
    y = _ref_sweeps(raw[:, [0, 2, 5]], 1, 2.0, "pretrigger", trig)
    np.testing.assert_allclose(avg.mean, y.mean(axis=0), rtol=1e-6)
    mask = np.zeros(6, bool)
    mask[[1, 3]] = True
    assert rec.average("ai1", sweeps=mask).n.max() == 2
    assert rec.average("ai1", sweeps=slice(0, 4)).n.max() == 4


def test_sweep_stats_equal_numpy(tmp_path):
    rec, raw, trig = _triggered(tmp_path, dtype=np.float64)
    window = (0.002, 0.035)
    stats = rec.sweep_stats("ai0", window)
    y = _ref_sweeps(raw, 0, 1.0, "pretrigger", trig)
    a, b = trig + 2, trig + 35
    part = y[:, a:b]
    i = np.argmax(np.abs(part), axis=1)
    np.testing.assert_allclose(stats["peak"], part[np.arange(6), i])
    np.testing.assert_allclose(stats["latency_s"], (a + i - trig) / RATE)
    np.testing.assert_allclose(stats["mean"], part.mean(axis=1))
    np.testing.assert_allclose(stats["area"], part.sum(axis=1) / RATE)
    assert list(stats["sweep"]) == list(range(6))
    assert np.allclose(stats["latency_s"], 0.005)  # the spike is the peak


def test_bad_sweep_arguments(tmp_path):
    rec, _, _ = _triggered(tmp_path)
    for kwargs, message in [
        (dict(baseline=(-1.0, 0.0)), r"baseline=\(-1, 0\) s is outside the sweep"),
        (dict(baseline="before"), "baseline must be 'pretrigger', \\(t0, t1\\) or None"),
        (dict(sweeps=[7]), r"sweeps: \[7\] out of range for 6 sweep"),
        (dict(sweeps=np.ones(3, bool)), "a mask must have one value per sweep"),
    ]:
        with pytest.raises(ValueError, match=message):
            rec.average("ai0", **kwargs)
    with pytest.raises(ValueError, match=r"window=\(0.1, 0.5\) s is outside the sweep"):
        rec.sweep_stats("ai0", (0.1, 0.5))
    with pytest.raises(ValueError, match="no channel named 'x'"):
        rec.average("x")
    rec0, _, _ = _triggered(tmp_path, delay_div=0.0, seed=1)
    with pytest.raises(ValueError, match="baseline='pretrigger' needs a part before the "
                                         "trigger"):
        rec0.average("ai0")
    assert rec0.average("ai0", baseline=None).n.max() == 6
    empty = Recording(make_files(tmp_path / "e", np.zeros((1, 0, 100)), triggered=True,
                                 sweep_scans=100))
    with pytest.raises(ValueError, match="no sweep to average"):
        empty.average(0, baseline=None)
    cont = Recording(make_files(tmp_path / "c", np.zeros((1, 100))))
    with pytest.raises(ValueError, match=r"rec\.epochs\(times, before_s, after_s\)"):
        cont.average(0)


# --------------------------------------------------------------------------- spikes
def _spikes(tmp_path, **kw):
    rec, raw, trig = _triggered(tmp_path, **kw)
    return rec, rec.detectspikes(threshold=[6.0, 14.0], tkill=None), raw, trig


def test_times_and_amplitudes(tmp_path):
    rec, spikes, raw, trig = _spikes(tmp_path)
    assert all(list(s) == [trig + 5] for s in spikes["ai0"])
    start, trigger = spikes.times(), spikes.times("trigger")
    for n in range(6):
        np.testing.assert_allclose(start["ai0"][n], spikes["ai0"][n] / RATE)
        np.testing.assert_allclose(trigger["ai0"][n], (spikes["ai0"][n] - trig) / RATE)
        np.testing.assert_allclose(spikes.amplitudes["ai0"][n], raw[0, n, spikes["ai0"][n]])
    cont = Recording(make_files(tmp_path / "c", np.array([[0, 9, 0, 0, 9, 0.0]])))
    found = cont.detectspikes(threshold=5.0, tkill=None)
    np.testing.assert_allclose(found.times()["ai0"], [0.001, 0.004])
    with pytest.raises(ValueError, match=r"cut the spikes into epochs with rec\.epochs"):
        found.times("trigger")
    with pytest.raises(ValueError, match="a PSTH needs sweeps with a trigger"):
        found.psth(0.01)


def test_psth_counts_exactly(tmp_path):
    rec, spikes, _, trig = _spikes(tmp_path)
    for bin_s in (0.001, 0.007, 0.05):
        h = spikes.psth(bin_s)
        for name in ("ai0", "ai1"):
            edges = -trig / RATE + np.arange(int(0.2 / bin_s + 1e-9) + 1) * bin_s
            t = np.concatenate(spikes.times("trigger")[name])
            want = [int(((t >= a) & (t < b)).sum()) for a, b in zip(edges, edges[1:])]
            assert h[name].counts.tolist() == want
            np.testing.assert_allclose(h[name].edges, edges)
            np.testing.assert_allclose(h[name].rate, np.array(want) / (6 * bin_s))
    h = spikes.psth(0.01, window=(0.0, 0.02))
    assert h["ai0"].counts.tolist() == [6, 0]
    for bad, message in [(0, "bin_s must be a positive number"),
                         (-1, "bin_s must be a positive number"),
                         (1.0, "longer than the window")]:
        with pytest.raises(ValueError, match=message):
            spikes.psth(bad)
    with pytest.raises(ValueError, match="window=\\(0, 1\\) s is outside the sweep"):
        spikes.psth(0.01, window=(0, 1))


def test_waveforms_are_cut_outs_and_edges_are_counted(tmp_path):
    rec, spikes, raw, trig = _spikes(tmp_path)
    cuts = spikes.waveforms(rec, before_ms=4.0, after_ms=6.0)
    np.testing.assert_allclose(cuts.time_ms, np.arange(-4, 6))
    want = np.stack([raw[0, n, trig + 5 - 4: trig + 5 + 6] for n in range(6)])
    np.testing.assert_array_equal(cuts["ai0"], want)
    # ai1's spikes sit 3 scans into their sweeps: 4 ms before would leave it
    assert cuts["ai1"].shape[0] == 0 and cuts.dropped["ai1"] == 3
    assert cuts.kept["ai1"].tolist() == [False] * 3
    inside = spikes.waveforms(rec, before_ms=3.0, after_ms=1.0)
    np.testing.assert_array_equal(inside["ai1"],
                                  np.stack([raw[1, n, 0:4] * np.float32(2.0)
                                            for n in (0, 2, 4)]))
    with pytest.raises(ValueError, match="before_ms must be a non-negative number"):
        spikes.waveforms(rec, before_ms=-1)


def test_to_neo_and_elephant_give_our_psth(tmp_path):
    elephant = pytest.importorskip("elephant.statistics")
    import quantities as pq

    rec, spikes, _, trig = _spikes(tmp_path)
    block = spikes.to_neo(rec)
    assert len(block.segments) == 6
    for n, seg in enumerate(block.segments):
        trains = {st.name: st for st in seg.spiketrains}
        np.testing.assert_allclose(trains["ai0"].rescale("s").magnitude, spikes["ai0"][n] / RATE)
        assert float(trains["ai0"].t_stop.rescale("s")) == pytest.approx(0.2)
        assert trains["ai0"].annotations["threshold"] == 6.0
        assert len(seg.analogsignals) >= 1
    trains = [seg.spiketrains[0] for seg in block.segments]  # ai0 of every sweep
    hist = elephant.time_histogram(trains, bin_size=10 * pq.ms, t_start=0 * pq.s,
                                   t_stop=0.2 * pq.s)
    ours = spikes.psth(0.010)["ai0"]  # bins from -0.04 s: the sweep's start
    assert np.asarray(hist.magnitude).ravel().astype(int).tolist() == ours.counts.tolist()


def test_to_sorting_goes_into_a_sorting_analyzer_with_our_waveforms(tmp_path):
    si = pytest.importorskip("spikeinterface.core")
    from escope_neo import read_escope

    path, _ = make_evoked_recording(tmp_path / "ev", n_sweeps=4, n_channels=2, seed=2)
    rec = Recording(path)
    spikes = rec.detectspikes(k=5, polarity=-1)
    sorting = spikes.to_sorting(rec)
    assert sorting.get_num_segments() == 4 and list(sorting.unit_ids) == ["ai0", "ai1"]
    for n in range(4):
        np.testing.assert_array_equal(sorting.get_unit_spike_train("ai0", segment_index=n),
                                      spikes["ai0"][n])
    analyzer = si.create_sorting_analyzer(sorting, read_escope(path), format="memory",
                                          sparse=False)
    analyzer.compute("random_spikes", method="all")
    analyzer.compute("waveforms", ms_before=1.0, ms_after=2.0)
    theirs = analyzer.get_extension("waveforms").get_waveforms_one_unit("ai0")
    ours = spikes.waveforms(rec, before_ms=1.0, after_ms=2.0)
    # SpikeInterface gives µV, as our detection (the file's unit)
    kept = ours.kept["ai0"]
    np.testing.assert_allclose(theirs[kept][:, :, 0], ours["ai0"], rtol=1e-5, atol=1e-3)


def test_to_pynapple(tmp_path):
    nap = pytest.importorskip("pynapple")
    rec, spikes, _, trig = _spikes(tmp_path)
    group = spikes.to_pynapple()
    assert isinstance(group, nap.TsGroup) and len(group) == 2
    np.testing.assert_allclose(group[0].t, [(n * 200 + trig + 5) / RATE for n in range(6)])
    support = group.time_support
    np.testing.assert_allclose(support.start, np.arange(6) * 0.2)
    # (pynapple keeps touching intervals apart by its time precision, 1 µs)
    np.testing.assert_allclose(support.end, np.arange(1, 7) * 0.2, atol=2e-6)


# --------------------------------------------------------------------------- events, epochs
def _ref_events(y, level, reset, direction):
    z, on, off = direction * y, direction * level, direction * reset
    out, high = [], z[0] >= on  # already on at the start: no crossing
    for i in range(1, len(z)):
        if not high and z[i] >= on:
            out.append(i)
            high = True
        elif high and z[i] <= off:
            high = False
    return np.array(out)


@pytest.mark.parametrize("direction", [1, -1])
def test_events_are_schmitt_crossings_counted_once(tmp_path, direction):
    rng = np.random.default_rng(4)
    y = rng.normal(0, 0.2, 5000)
    for at in (100, 900, 2000, 4990):
        y[at:at + 50] = 5.0
        y[at - 6:at] = [2.6, 2.4, 2.6, 2.3, 2.7, 2.4]  # chatter on the level: counted once
    y[0:10] = 5.0  # on at the very start: not a crossing
    y *= direction
    base = make_files(tmp_path / "s", y[None].astype(np.float32), scale=["1 V"])
    rec = Recording(base)
    got = rec.events(0, 2.5 * direction, direction)
    want = _ref_events(y.astype(np.float32).astype(np.float64), 2.5 * direction,
                       1.25 * direction, direction)
    np.testing.assert_allclose(got, want / RATE)
    assert len(got) == 4
    naive = np.flatnonzero(np.diff((direction * y >= 2.5).astype(int)) == 1)
    assert len(naive) > len(got)  # the reference isn't trivial
    with pytest.raises(ValueError, match="direction must be 1"):
        rec.events(0, 2.5, 2)
    with pytest.raises(ValueError, match="reset .* must be on the other side"):
        rec.events(0, 2.5 * direction, direction, reset=4.0 * direction)


def test_epochs_are_the_sweep_view_of_a_continuous_capture(tmp_path):
    path, truth = make_evoked_recording(tmp_path / "c", n_sweeps=8, continuous=True, seed=6)
    rec = Recording(path)
    times = rec.events("stim", 2.5)
    assert len(times) == 8
    ep = rec.epochs(np.concatenate([[-1.0], times, [1e6]]), 0.05, 0.15)
    assert ep.n_sweeps == 8 and ep.dropped == 2
    avg = ep.average("ai0")
    y = rec.data("ai0")[0].astype(np.float64)
    at = np.round(times * rec.rate).astype(int)
    nb, na = int(0.05 * rec.rate), int(0.15 * rec.rate)
    stack = np.stack([y[a - nb:a + na] for a in at])
    stack -= stack[:, :nb].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(avg.mean, stack.mean(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(avg.time, (np.arange(nb + na) - nb) / rec.rate)
    stats = ep.sweep_stats("ai0", (0.0, 0.01))
    assert len(stats) == 8
    spikes = rec.detectspikes(k=5, polarity=-1, channels=["ai0"])
    per = ep.spikes(spikes)
    flat = np.array([int(s + start) for s_list, start in zip(per["ai0"], ep.starts)
                     for s in s_list])
    for i in truth["ai0"]:  # every locked spike lands in its epoch (its peak ± noise)
        assert np.abs(flat - i).min() <= 2
    h = per.psth(0.002)["ai0"]
    assert h.counts[np.searchsorted(h.edges, 0.004, side="right") - 1:][:2].sum() >= 6
    with pytest.raises(ValueError, match="before_s must be a non-negative number"):
        rec.epochs(times, -0.1, 0.1)
    trig, _, _ = _triggered(tmp_path, seed=9)
    with pytest.raises(ValueError, match="epochs are cut from a continuous capture"):
        trig.epochs([0.1], 0.01, 0.01)


# --------------------------------------------------------------------------- pictures
def test_plot_sweeps_and_the_command_line(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    path, _ = make_evoked_recording(tmp_path / "20241007-123412", n_sweeps=10)
    rec = Recording(path)
    spikes = rec.detectspikes(k=5, polarity=-1)
    axes = rec.plot_sweeps("ai0", spikes=spikes, bin_s=0.002)
    assert len(axes) == 3 and axes[-1].get_xlabel() == "time from trigger (s)"
    assert len(rec.plot_sweeps("ai1")) == 1
    out = subprocess.run([sys.executable, "-m", "escope", "sweeps", str(path), "-c", "ai1",
                          "-o", str(tmp_path / "s.png"), "--csv", str(tmp_path / "s.csv"),
                          "--window", "0.002", "0.03", "--polarity", "-1"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.png").stat().st_size > 5000
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "channel,unit,sweep,peak,latency_s,mean,area" and len(lines) == 11
    stats = rec.sweep_stats("ai1", (0.002, 0.03))
    assert float(lines[1].split(",")[3]) == pytest.approx(stats["peak"][0])
    bad = subprocess.run([sys.executable, "-m", "escope", "sweeps",
                          str(make_files(tmp_path / "c", np.zeros((1, 100)))) + ".escope",
                          "-o", str(tmp_path / "x.png")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "continuous capture" in bad.stderr


def test_saved_sweeps_are_continuous_for_these_functions(tmp_path):
    base = make_files(tmp_path / "20241007-123412-004", np.array([[0, 9, 0, 0.0] * 10]),
                      sweep_scans=100)
    rec = Recording(base)
    assert rec.kind == "sweep"
    spikes = rec.detectspikes(threshold=5.0, tkill=None)
    np.testing.assert_allclose(spikes.times()["ai0"], np.arange(1, 40, 4) / RATE)
    assert spikes.waveforms(rec, 1.0, 2.0)["ai0"].shape == (10, 3)
    with pytest.raises(ValueError, match="continuous capture"):
        spikes.psth(0.001)
    assert escope.Recording(base).events(0, 5.0).tolist() == (np.arange(1, 40, 4) / RATE).tolist()


@pytest.mark.parametrize("bad", [-1, -0.001, float("nan"), float("inf"), True, "x", None])
def test_durations_must_be_non_negative_numbers(tmp_path, bad):
    from escope import checks

    msg = "after_ms must be a non-negative number of milliseconds, not "
    with pytest.raises(ValueError, match=msg):
        checks.nonnegative_duration(bad, "after_ms", "milliseconds")
    path, _ = make_evoked_recording(tmp_path / "c", n_sweeps=2, continuous=True, seed=1)
    with pytest.raises(ValueError, match="before_s must be a non-negative number of seconds, not "):
        Recording(path).epochs([0.5], bad, 0.1)
    assert checks.nonnegative_duration(0, "x") == 0.0
    assert checks.nonnegative_duration("2.5", "x") == 2.5
