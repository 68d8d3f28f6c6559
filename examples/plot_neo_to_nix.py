"""
From EScope to Neo and NIX
==========================

:class:`escope_neo.EScopeIO` reads a recording as a :class:`neo.Block` whose
signals carry their physical units; any Neo writer can then save it. Here it
goes to a NIX file (:class:`neo.io.NixIO`) and is read back unchanged.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import neo
import numpy as np
import quantities as pq

from escope.synth import make_recording
from escope_neo import EScopeIO

# Figures go to output/ beside this script (the current folder when there is
# no script file, as in a notebook).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)

folder = Path(tempfile.mkdtemp())
path, _ = make_recording(folder / "20241007-123412", duration_s=2.0, n_channels=2)

block = EScopeIO(path).read_block()
sig = block.segments[0].analogsignals[0]
print(block.rec_datetime, block.annotations["escope_version"], sig.shape, sig.units,
      sig.sampling_rate)

# %%
# Lazy loading reads only what is asked for.
lazy = EScopeIO(path).read_block(lazy=True)
part = lazy.segments[0].analogsignals[0].load(time_slice=(0.5 * pq.s, 0.52 * pq.s))
print("lazy slice:", part.shape, part.t_start)

# %%
# Write NIX, read it back, and compare.
with neo.io.NixIO(str(folder / "recording.nix"), mode="ow") as io:
    io.write_block(block)
with neo.io.NixIO(str(folder / "recording.nix"), mode="ro") as io:
    back = io.read_block()
same = np.array_equal(back.segments[0].analogsignals[0].magnitude, sig.magnitude)
print("NIX round trip identical:", same)

fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
t = part.times.rescale("s").magnitude
ax.plot(t, part.magnitude[:, 0], lw=0.8, label="EScope (lazy slice)")
nix = back.segments[0].analogsignals[0].time_slice(0.5 * pq.s, 0.52 * pq.s)
ax.plot(nix.times.rescale("s").magnitude[::4], nix.magnitude[::4, 0], "o", ms=3, mfc="none",
        color="C1", label="read back from NIX (every 4th sample)")
ax.set_xlabel("time (s)")
ax.set_ylabel("ai0 (µV)")
ax.set_title("The same samples through Neo, EScope → NIX → Neo")
ax.legend(frameon=False, loc="upper right", fontsize=8)
fig.savefig(OUTPUT / "neo_to_nix.png", dpi=100)
