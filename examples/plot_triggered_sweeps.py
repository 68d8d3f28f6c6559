"""
Triggered sweeps: overlay and average around the trigger
========================================================

A triggered capture stores N sweeps of equal length; ``Recording.data``
returns them as an N×T array and ``Recording.time()`` gives the time within
a sweep. Here each sweep holds an evoked spike 2 ms after the trigger, plus
spontaneous spikes at random times: the average keeps the evoked response
and washes out the rest.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import escope
from escope.synth import make_recording

# Figures go to output/ beside this script (the current folder when there is
# no script file, as in a notebook).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

path, _ = make_recording(Path(tempfile.mkdtemp()) / "20241007-123412", duration_s=0.03,
                         n_sweeps=40, pretrigger_s=0.005, n_channels=1, firing_Hz=20.0)
rec = escope.Recording(path)
print(rec)
print(f"{rec.n_sweeps} sweeps, trigger at {rec.pretrigger_s * 1e3:.1f} ms into each sweep")

# %%
# Time relative to the trigger, in ms; sweeps as rows.
sweeps = rec.data("ai0", "uV")
t_ms = (rec.time() - rec.pretrigger_s) * 1e3
mean = sweeps.mean(axis=0)
sem = sweeps.std(axis=0, ddof=1) / np.sqrt(rec.n_sweeps)

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, layout="constrained")
ax1.plot(t_ms, sweeps.T, color="0.4", lw=0.4, alpha=0.35)
ax1.set_ylabel("ai0 (µV)")
ax1.set_title(f"{rec.n_sweeps} sweeps overlaid")
ax2.fill_between(t_ms, mean - sem, mean + sem, color="C0", alpha=0.3, lw=0, label="± s.e.m.")
ax2.plot(t_ms, mean, color="C0", lw=1.2, label="average")
ax2.set_ylabel("ai0 (µV)")
ax2.set_xlabel("time from trigger (ms)")
ax2.set_title("Average evoked response")
ax2.legend(frameon=False)
for ax in (ax1, ax2):
    ax.axvline(0, color="crimson", ls="--", lw=0.8)
fig.savefig(OUTPUT / "triggered_sweeps.png", dpi=100)

# %%
# Spike latencies: ``detectspikes`` on an N×T array works sweep by sweep.
per_sweep = escope.detectspikes(sweeps, 5 * escope.rmsnoise(sweeps), polarity=-1)
first = [t_ms[s[t_ms[s] > 0][0]] for s in per_sweep if np.any(t_ms[s] > 0)]
print(f"first spike after the trigger: {np.median(first):.2f} ms (median of {len(first)} sweeps)")
