"""Synthetic EScope recordings with known spikes, for demos, tests and examples.

Examples
--------
>>> from escope.synth import make_recording
>>> path, truth = make_recording("/tmp/demo-rec", duration_s=2.0, overwrite=True)
>>> sorted(truth)
['ai0', 'ai1']
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .writer import write

__all__ = ["make_recording", "make_evoked_recording", "spike_train"]


def _waveform(rate_Hz: float, width_s: float = 0.0012) -> np.ndarray:
    # A biphasic extracellular spike: sharp negative peak, slower positive lobe.
    n = max(3, int(round(width_s * rate_Hz)))
    t = np.linspace(-1.0, 2.0, n)
    return -np.exp(-((t / 0.25) ** 2)) + 0.35 * np.exp(-(((t - 0.8) / 0.5) ** 2))


def spike_train(
    n_samples: int, rate_Hz: float, firing_Hz: float, rng: np.random.Generator,
    refractory_s: float = 0.004,
) -> np.ndarray:
    """Sorted sample indices of a Poisson spike train with a refractory period."""
    gap = max(1, int(refractory_s * rate_Hz))
    n = rng.poisson(firing_Hz * n_samples / rate_Hz)
    isi = rng.exponential(rate_Hz / firing_Hz, size=n).astype(np.int64) + gap
    times = np.cumsum(isi)
    return times[times < n_samples - 4 * gap]


def make_recording(
    path: str | os.PathLike,
    *,
    duration_s: float = 10.0,
    rate_Hz: float = 20000.0,
    n_channels: int = 2,
    noise_uV: float = 10.0,
    spike_uV: float = 120.0,
    firing_Hz: float = 8.0,
    n_sweeps: int | None = None,
    pretrigger_s: float = 0.0,
    scale: str = "1 uV",
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write a recording of Gaussian noise with negative-going spikes.

    Parameters
    ----------
    path : str or os.PathLike
        ``NAME`` or ``NAME.escope`` to write.
    duration_s : float
        Length of the recording (of each sweep if `n_sweeps` is given).
    rate_Hz : float
        Sampling rate.
    n_channels : int
        Number of channels, named ``ai0``, ``ai1``, ...
    noise_uV, spike_uV : float
        Noise standard deviation and spike amplitude, in µV.
    firing_Hz : float
        Mean firing rate per channel.
    n_sweeps : int, optional
        Write a triggered capture with this many sweeps instead of a
        continuous recording; each sweep has a spike just after the trigger.
    pretrigger_s : float
        Triggered only: time before the trigger in each sweep.
    scale : str
        Scale string of every channel; samples are stored in that unit.
    seed : int
        Seed of the random generator: the same seed gives the same file.
    overwrite : bool
        Replace an existing recording.

    Returns
    -------
    (pathlib.Path, dict)
        The ``.escope`` path, and for each channel name the sample indices
        of the spike peaks (for triggered captures, indices into the
        concatenated sweeps).
    """
    from .units import Units

    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate_Hz))
    sweeps = 1 if n_sweeps is None else int(n_sweeps)
    total = n * sweeps
    wave = _waveform(rate_Hz)
    peak = int(np.argmin(wave))
    data = np.empty((n_channels, total), dtype=np.float32)
    truth = {}
    for c in range(n_channels):
        name = f"ai{c}"
        y = rng.normal(0.0, noise_uV, total)
        idx = spike_train(total, rate_Hz, firing_Hz, rng)
        if n_sweeps is not None:
            trig = int(pretrigger_s * rate_Hz) + int(0.002 * rate_Hz)
            evoked = np.arange(sweeps) * n + trig
            idx = np.unique(np.concatenate([idx[(idx % n) < n - 2 * len(wave)], evoked]))
            idx = idx[np.diff(idx, prepend=-10**9) > len(wave)]
        starts = idx - peak
        keep = (starts >= 0) & (starts + len(wave) <= total)
        idx, starts = idx[keep], starts[keep]
        amp = spike_uV * rng.uniform(0.8, 1.2, len(idx))
        for s, a in zip(starts, amp):
            y[s : s + len(wave)] += a * wave
        data[c] = y / Units(1.0, scale).asunits("uV")
        truth[name] = idx
    if n_sweeps is not None:
        data = data.reshape(n_channels, sweeps, n)
    out = write(
        path, data, rate_Hz, [f"ai{c}" for c in range(n_channels)], [scale] * n_channels,
        pretrigger_s=pretrigger_s, rundate="20241007-123412", overwrite=overwrite,
    )
    return out, truth


def make_evoked_recording(
    path: str | os.PathLike,
    *,
    n_sweeps: int = 30,
    sweep_s: float = 0.2,
    pretrigger_s: float = 0.05,
    rate_Hz: float = 20000.0,
    n_channels: int = 2,
    noise_uV: float = 10.0,
    response_uV: float = -25.0,
    latency_s: float = 0.015,
    jitter_s: float = 0.002,
    spike_latency_s: float = 0.005,
    spike_probability: float = 0.9,
    spike_uV: float = 150.0,
    firing_Hz: float = 3.0,
    continuous: bool = False,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Write a stimulus-evoked recording: after every stimulus a slow
    response (a smooth deflection of `response_uV` peaking `latency_s`
    after it, jittered by `jitter_s`) and, with `spike_probability`, a
    locked spike `spike_latency_s` after it (jittered by ``jitter_s / 4``),
    on spontaneous firing and noise.

    By default a triggered capture: `n_sweeps` sweeps of `sweep_s` with the
    trigger `pretrigger_s` into each. With `continuous`, a continuous
    recording of the same stimuli, `sweep_s` apart (the first at
    `pretrigger_s`), with one more channel, ``stim``, in volts: a 5 V pulse
    of 1 ms at each stimulus (find them with ``rec.events("stim", 2.5)``).

    Returns
    -------
    (pathlib.Path, dict)
        The ``.escope`` path, and per channel the sample indices of the
        locked spikes' peaks (from the start of the sweep, or of the
        recording if continuous).

    Examples
    --------
    >>> import os, tempfile
    >>> path, truth = make_evoked_recording(os.path.join(tempfile.mkdtemp(), "ev"),
    ...                                     n_sweeps=5)
    >>> sorted(truth), len(truth["ai0"]) <= 5
    (['ai0', 'ai1'], True)
    """
    rng = np.random.default_rng(seed)
    S = int(round(sweep_s * rate_Hz))
    trig = int(round(pretrigger_s * rate_Hz))
    total = S * n_sweeps
    wave = _waveform(rate_Hz)
    peak = int(np.argmin(wave))
    t = np.arange(S) / rate_Hz
    data = np.empty((n_channels, total), dtype=np.float32)
    truth = {}
    for c in range(n_channels):
        y = rng.normal(0.0, noise_uV, total)
        locked = []
        for n in range(n_sweeps):
            at = pretrigger_s + latency_s + rng.normal(0, jitter_s)
            width = 0.004
            y[n * S:(n + 1) * S] += response_uV * np.exp(-0.5 * ((t - at) / width) ** 2)
            if rng.random() < spike_probability:
                s_at = trig + int(round((spike_latency_s + rng.normal(0, jitter_s / 4))
                                        * rate_Hz))
                locked.append(n * S + s_at)
        spont = spike_train(total, rate_Hz, firing_Hz, rng)
        # spontaneous spikes stay clear of the locked ones and of sweep edges
        near = np.isin(spont // 50, np.array(locked, dtype=np.int64) // 50)
        edge = (spont % S < len(wave)) | (spont % S > S - 2 * len(wave))
        peaks = np.unique(np.concatenate([np.asarray(locked, dtype=np.int64),
                                          spont[~near & ~edge]]))
        peaks = peaks[np.diff(peaks, prepend=-10**9) > 2 * len(wave)]
        for p in peaks:
            y[p - peak: p - peak + len(wave)] += spike_uV * rng.uniform(0.8, 1.2) * wave
        data[c] = y
        kept = np.intersect1d(peaks, locked)
        truth[f"ai{c}"] = kept if continuous else kept % S
    names = [f"ai{c}" for c in range(n_channels)]
    scale = ["1 uV"] * n_channels
    if continuous:
        stim = np.zeros((1, total), dtype=np.float32)
        for n in range(n_sweeps):
            stim[0, n * S + trig: n * S + trig + max(1, int(0.001 * rate_Hz))] = 5.0
        out = write(path, np.concatenate([data, stim]), rate_Hz, names + ["stim"],
                    scale + ["1 V"], rundate="20241007-123412", overwrite=overwrite)
    else:
        out = write(path, data.reshape(n_channels, n_sweeps, S), rate_Hz, names, scale,
                    pretrigger_s=pretrigger_s, rundate="20241007-123412", overwrite=overwrite)
    return out, truth
