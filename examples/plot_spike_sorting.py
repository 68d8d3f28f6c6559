"""
Spike sorting with SpikeInterface
=================================

:func:`escope_neo.read_escope` turns a recording into a SpikeInterface
recording, so the whole SpikeInterface toolbox applies: here a band-pass
filter and the ``simple`` sorter, checked against the ground truth of a
recording made by SpikeInterface itself and saved as an EScope file.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from spikeinterface.comparison import compare_sorter_to_ground_truth
from spikeinterface.core import generate_ground_truth_recording
from spikeinterface.preprocessing import bandpass_filter
from spikeinterface.sorters import run_sorter

import escope
from escope_neo import read_escope

# Figures go to output/ beside this script (the current folder when there is
# no script file, as in a notebook).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

folder = Path(tempfile.mkdtemp())
gt_rec, gt_sorting = generate_ground_truth_recording(
    durations=[20.0], sampling_frequency=20000.0, num_channels=4, num_units=4, seed=0,
    noise_kwargs={"noise_levels": 5.0, "strategy": "on_the_fly"},
    generate_probe_kwargs={"num_columns": 1, "xpitch": 20, "ypitch": 20,
                           "contact_shapes": "circle", "contact_shape_params": {"radius": 6}})
traces = gt_rec.get_traces(return_in_uV=True).T.astype(np.float32)
path = escope.write(folder / "20241007-123412", traces, 20000.0,
                    [f"ai{i}" for i in range(4)], ["1 uV"] * 4)

# %%
# Read it, give it the real electrode geometry (the default probe treats
# EScope channels as independent, far-apart electrodes), filter and sort.
rec = read_escope(path)
rec.set_probe(gt_rec.get_probe())
filtered = bandpass_filter(rec, freq_min=300.0, freq_max=6000.0)
sorting = run_sorter("simple", filtered, folder=folder / "sorting", verbose=False,
                     job_kwargs={"n_jobs": 2, "progress_bar": False})
cmp = compare_sorter_to_ground_truth(gt_sorting, sorting, exhaustive_gt=True)
perf = cmp.get_performance()
print(f"{len(sorting.unit_ids)} units found")
print(perf[["accuracy", "recall", "precision"]].round(2))

# %%
# Accuracy per ground-truth unit, and a few spikes of the best unit.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained",
                               gridspec_kw={"width_ratios": [1, 2]})
ax1.bar([str(u) for u in perf.index], perf["accuracy"].astype(float), color="C2")
ax1.set_ylim(0, 1)
ax1.set_xlabel("ground-truth unit")
ax1.set_ylabel("accuracy")
ax1.set_title("Sorter vs ground truth")
best = perf["accuracy"].astype(float).idxmax()
match = cmp.best_match_12[best]
times = sorting.get_unit_spike_train(match)[:30]
y = filtered.get_traces(return_in_uV=True)
chan = int(np.argmax(np.abs(y[times]).mean(axis=0)))
win = np.arange(-20, 40)
for s in times:
    if 20 <= s < len(y) - 40:
        ax2.plot(win / 20.0, y[s + win, chan], color="0.3", lw=0.5, alpha=0.6)
ax2.set_xlabel("time from spike (ms)")
ax2.set_ylabel(f"ai{chan} filtered (µV)")
ax2.set_title(f"30 spikes of sorted unit {match} (ground truth {best})")
fig.savefig(OUTPUT / "spike_sorting.png", dpi=100)
