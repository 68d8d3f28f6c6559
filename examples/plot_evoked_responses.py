"""
Evoked responses: average, statistics per sweep, raster and PSTH
================================================================

A triggered capture is how EScope records stimulus-evoked responses: every
trigger saves a sweep. ``Recording.average`` gives the mean response and
its spread, ``Recording.sweep_stats`` each sweep's peak, latency, mean and
area in a window, and the detected spikes give a raster and a PSTH, in
seconds from the trigger. The recording here is synthetic: after each
stimulus a slow negative response and, in most sweeps, a spike 5 ms after
it, on spontaneous firing.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import escope
from escope.synth import make_evoked_recording

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

path, truth = make_evoked_recording(Path(tempfile.mkdtemp()) / "20241007-123412",
                                    n_sweeps=40, seed=3)
rec = escope.Recording(path)
print(rec)

# %%
# The evoked response: the pre-trigger part of every sweep is its baseline.
avg = rec.average("ai0", baseline="pretrigger")
i = avg.mean.argmin()
print(f"mean response: {avg.mean[i]:.1f} µV at {avg.time[i] * 1e3:.1f} ms "
      f"(SD {avg.sd[i]:.1f} µV over {avg.n[i]} sweeps)")

# %%
# Each sweep's response in a window from 8 to 30 ms after the trigger (a
# pandas DataFrame).
stats = rec.sweep_stats("ai0", window=(0.008, 0.030))
print(stats.describe().loc[["mean", "std"], ["peak", "latency_s", "area"]])

# %%
# Spikes, their times from the trigger, and the picture: sweeps with mean ±
# SD, the raster and the PSTH on one time axis.
spikes = rec.detectspikes(k=5, polarity=-1)
first = [t[t > 0][0] for t in spikes.times("trigger")["ai0"] if (t > 0).any()]
print(f"first spike after the trigger: median {1e3 * sorted(first)[len(first) // 2]:.2f} ms")
rec.plot_sweeps("ai0", spikes=spikes, bin_s=0.002)
plt.savefig(OUTPUT / "evoked_responses.png", dpi=100)

# %%
# The same spikes for the tools that analyse spike trains: a Neo block
# (Elephant), a SpikeInterface sorting, waveform cut-outs.
block = spikes.to_neo(rec)
print(f"Neo: {len(block.segments)} segments, "
      f"{sum(len(st) for seg in block.segments for st in seg.spiketrains)} spikes")
cuts = spikes.waveforms(rec, before_ms=1.0, after_ms=2.0)
print(f"waveforms of ai0: {cuts['ai0'].shape} (left out at sweep edges: {cuts.dropped['ai0']})")
