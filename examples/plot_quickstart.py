"""
Quickstart: open, plot, noise and spikes
========================================

Open a recording, look at it, estimate the noise on each channel and
detect spikes with a threshold of five times the noise. The recording is
written here with :func:`escope.synth.make_recording` (Gaussian noise with
negative-going spikes), so the example needs no download; put your own
``.escope`` file in its place.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import escope
from escope.synth import make_recording

# Figures go to output/ beside this script (the current folder when there is
# no script file, as in a notebook).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

folder = Path(tempfile.mkdtemp())
path, truth = make_recording(folder / "20241007-123412", duration_s=10.0, n_channels=2)

# %%
# Open the recording. Only the sidecar is read; samples are memory-mapped.
rec = escope.Recording(path)
print(rec)
print(rec.info()["scale"], rec.units)

# %%
# A quick look at the whole recording: one panel per channel.
rec.plot()
plt.savefig(OUTPUT / "quickstart_overview.png", dpi=100)

# %%
# Noise and spikes on each channel, in µV. ``rmsnoise`` is robust to the
# spikes: it takes a low percentile of the RMS of short chunks.
fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, layout="constrained")
t = rec.time()
for c, ax in enumerate(axes):
    y = rec.data(c, "uV")
    noise = escope.rmsnoise(y)
    threshold = 5 * noise
    spikes = escope.detectspikes(y, threshold, polarity=-1)
    print(f"{rec.channels[c]}: noise {noise:.2f} µV, {len(spikes)} spikes "
          f"({len(truth[rec.channels[c]])} were put in)")
    window = t < 1.0
    ax.plot(t[window], y[window], lw=0.6, color=f"C{c}")
    ax.axhline(-threshold, color="k", ls="--", lw=0.8, label=f"threshold −5σ = {-threshold:.0f} µV")
    shown = spikes[t[spikes] < 1.0]
    ax.plot(t[shown], y[shown], "v", color="crimson", ms=6, label=f"{len(shown)} spikes")
    ax.set_ylabel(f"{rec.channels[c]} (µV)")
    ax.legend(loc="upper right", fontsize=8, ncols=2, framealpha=0.9)
axes[0].set_title("Spike detection at 5 × RMS noise (first second)")
axes[-1].set_xlabel("time (s)")
fig.savefig(OUTPUT / "quickstart_spikes.png", dpi=100)

# %%
# Every channel at once: ``rec.detectspikes`` reads the interleaved file once
# for all channels (on all cores) and gives exactly the spikes above. The plot
# marks them and draws the ±threshold.
found = rec.detectspikes(k=5, polarity=-1, units="uV")
print(found.counts(), {name: round(t, 1) for name, t in found.thresholds.items()})
rec.plot(spikes=found)
plt.savefig(OUTPUT / "quickstart_all_channels.png", dpi=100)

# %%
# The same works on the real recording that ships beside the project, if
# it is there.
REAL = HERE.parent.parent / "shared" / "data" / "20231030-154906.escope"  # beside a clone

if REAL.is_file():
    real = escope.Recording(REAL)
    y = real.data("ai0", "uV")
    print(real, f"noise {escope.rmsnoise(y):.1f} µV,",
          len(escope.detectspikes(y, 5 * escope.rmsnoise(y))), "spikes on ai0")
