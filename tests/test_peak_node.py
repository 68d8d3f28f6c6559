"""detect_peaks(method="escope") in SpikeInterface pipelines: the same peaks
as Recording.detectspikes away from chunk edges."""

from __future__ import annotations

import numpy as np
import pytest
from spikeinterface.core.base import base_peak_dtype
from spikeinterface.sortingcomponents.peak_detection import detect_peaks

import escope
import escope_neo
from escope_neo import read_escope

RATE = 30_000


def _recording(tmp_path, triggered=False):
    rng = np.random.default_rng(4)
    shape = (4, 3, 40_000) if triggered else (4, 150_000)
    raw = rng.normal(0, 2.0, shape).astype(np.float32)
    flat = raw.reshape(4, -1)
    for c in range(4):
        idx = rng.choice(flat.shape[1] - 3, flat.shape[1] // 700, replace=False)
        flat[c, idx] += rng.choice([-1, 1], len(idx)) * 25
    return escope.write(tmp_path / "r", raw, RATE, ["a", "b", "c", "d"],
                        ["1 uV", "2 uV", "-0.5 uV", "1 mV"], pretrigger_s=0.001 if triggered else 0)


def _away_from_edges(samples, chunk, guard):
    offset = samples % chunk
    return (offset >= guard) & (offset < chunk - guard)


@pytest.mark.parametrize("triggered", [False, True])
@pytest.mark.parametrize("peak_sign, polarity", [("both", 0), ("neg", -1), ("pos", 1)])
def test_same_peaks_as_detectspikes_away_from_chunk_edges(tmp_path, triggered, peak_sign,
                                                           polarity):
    path = _recording(tmp_path, triggered)
    rec = escope.Recording(path)
    si_rec = read_escope(path)
    noise = rec.rmsnoise()
    gains = np.array(rec.header.gains)
    levels = np.array([noise[c] for c in rec.channels]) / np.abs(gains)
    chunk = RATE // 2
    peaks = detect_peaks(si_rec, method="escope",
                         method_kwargs=dict(peak_sign=peak_sign, detect_threshold=5,
                                            noise_levels=levels, tkill=50),
                         job_kwargs=dict(n_jobs=2, chunk_size=chunk, progress_bar=False))
    assert peaks.dtype == np.dtype(base_peak_dtype)
    ours = rec.detectspikes(k=5, polarity=polarity, tkill=50)
    guard = 2 * 50 + 10 + 50
    n_segments = rec.n_sweeps if triggered else 1
    total = 0
    for seg in range(n_segments):
        in_seg = peaks[peaks["segment_index"] == seg]
        for c, name in enumerate(rec.channels):
            mine = ours[name][seg] if triggered else ours[name]
            mine = mine[_away_from_edges(mine, chunk, guard)]
            theirs = in_seg["sample_index"][in_seg["channel_index"] == c]
            theirs = theirs[_away_from_edges(theirs, chunk, guard)]
            # Raw traces scaled by a negative gain flip the sign of a peak.
            if gains[c] < 0 and polarity != 0:
                continue
            assert theirs.tolist() == mine.tolist(), (seg, name)
            total += len(mine)
    assert total > 100


def test_registered_on_import_and_bad_arguments(tmp_path):
    from spikeinterface.sortingcomponents.peak_detection.method_list import detect_peak_methods

    assert detect_peak_methods["escope"] is escope_neo.EScopePeakDetector
    si_rec = read_escope(_recording(tmp_path))
    for kwargs, message in ((dict(peak_sign="up"), "peak_sign must be"),
                            (dict(noise_levels=np.ones(3)), r"3 value\(s\) for 4 channel"),
                            (dict(detect_threshold=-1), "threshold must be a positive")):
        args = dict(noise_levels=np.ones(4))
        args.update(kwargs)
        with pytest.raises(ValueError, match=message):
            escope_neo.EScopePeakDetector(si_rec, **args)


def test_any_recording_int16(tmp_path):
    from spikeinterface.core import NumpyRecording

    x = np.zeros((50_000, 2), np.int16)
    x[[1000, 30000], [0, 1]] = [-300, 400]
    rec = NumpyRecording([x], sampling_frequency=RATE)
    peaks = detect_peaks(rec, method="escope", method_kwargs=dict(noise_levels=np.full(2, 10.0)),
                         job_kwargs=dict(n_jobs=1, chunk_size=20_000, progress_bar=False))
    assert peaks["sample_index"].tolist() == [1000, 30000]
    assert peaks["amplitude"].tolist() == [-300, 400]
