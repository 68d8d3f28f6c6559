"""Quick-look plots of recordings (matplotlib is imported only here, when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .report import display_unit

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording

__all__ = ["envelope", "plot_recording"]

_BLOCK_SAMPLES = 1 << 22  # samples per channel read at once: bounded memory


def envelope(y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max envelope of a long trace, one pair per column.

    Sample ``i`` belongs to column ``i * columns // len(y)``. NaN samples
    are ignored (a column of only NaN gives NaN). The data is read in
    blocks, so a memory-mapped trace never needs to fit in memory.

    Parameters
    ----------
    y : ndarray, 1-D
    columns : int
        Number of columns (at most ``len(y)``).

    Returns
    -------
    (start, lo, hi) : ndarrays
        First sample index of each column, and its minimum and maximum.

    Examples
    --------
    >>> envelope(np.array([1.0, 5, 2, 0, 3, 3]), 3)
    (array([0, 2, 4]), array([1., 0., 3.]), array([5., 2., 3.]))
    """
    n = len(y)
    columns = max(1, min(int(columns), n))
    starts = -(-np.arange(columns, dtype=np.int64) * n // columns)  # ceil(k * n / columns)
    lo = np.full(columns, np.nan)
    hi = np.full(columns, np.nan)
    # whole columns per block
    per_block = max(1, _BLOCK_SAMPLES // max(1, n // columns + 1))
    for c0 in range(0, columns, per_block):
        c1 = min(c0 + per_block, columns)
        i0, i1 = starts[c0], (starts[c1] if c1 < columns else n)
        block = np.asarray(y[i0:i1], dtype=np.float64)
        bounds = starts[c0:c1] - i0
        with np.errstate(invalid="ignore"):
            finite = ~np.isnan(block)
            lo_b = np.fmin.reduceat(np.where(finite, block, np.inf), bounds)
            hi_b = np.fmax.reduceat(np.where(finite, block, -np.inf), bounds)
        empty = np.add.reduceat(finite, bounds) == 0
        lo_b[empty] = np.nan
        hi_b[empty] = np.nan
        lo[c0:c1], hi[c0:c1] = lo_b, hi_b
    return starts, lo, hi


def _draw_trace(ax, rate: float, raw: np.ndarray, gain: float, max_columns: int,
                color: str) -> None:
    if len(raw) <= 2 * max_columns:
        ax.plot(np.arange(len(raw)) / rate, raw * gain, color=color, lw=0.6)
        return
    # The envelope of the raw view (read in blocks) is scaled afterwards, so
    # no scaled copy of an hours-long channel is ever made.
    starts, lo, hi = envelope(raw, max_columns)
    lo, hi = lo * gain, hi * gain
    if gain < 0:
        lo, hi = hi, lo
    ax.fill_between(starts / rate, lo, hi, color=color, lw=0.6, step="post", edgecolor=color)


def plot_recording(rec: "Recording", fig: Any = None, axes: Any = None,
                   max_columns: int = 2000, spikes: Any = None) -> list:
    """Plot every channel of `rec`; see :meth:`escope.Recording.plot`."""
    if isinstance(max_columns, bool) or not isinstance(max_columns, (int, np.integer)) \
            or max_columns < 1:
        raise ValueError(f"max_columns must be a positive integer, not {max_columns!r}")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    n = rec.n_channels
    if axes is not None:
        axes = list(np.atleast_1d(axes))
        if len(axes) != n:
            raise ValueError(f"need {n} axes (one per channel), got {len(axes)}")
        fig = axes[0].figure
    else:
        if fig is None:
            fig = plt.figure(figsize=(9, 1.2 + 1.6 * n), layout="constrained")
        axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0].tolist()
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    # Only the samples drawn are read and scaled: no time axis or scaled copy
    # of a whole long channel is made.
    step = max(1, rec.n_scans // max_columns)
    for c, ax in enumerate(axes):
        color = colors[c % len(colors)]
        unit = rec.units[c]
        gain = rec.header.gains[c]
        if rec.triggered and rec.n_sweeps:
            t = np.arange(0, rec.n_scans, step) / rec.rate
            segs = [np.column_stack([t, sweep[::step] * gain]) for sweep in rec.rawdata(c)]
            alpha = max(0.05, min(1.0, 5.0 / rec.n_sweeps))
            ax.add_collection(LineCollection(segs, colors=color, linewidths=0.6, alpha=alpha))
            ax.autoscale_view()
            ax.axvline(rec.pretrigger_s, color="0.3", lw=0.8, ls="--", label="trigger")
        elif rec.n_scans:
            _draw_trace(ax, rec.rate, rec.rawdata(c), gain, max_columns, color)
        ax.set_ylabel(f"{rec.channels[c]} ({display_unit(unit)})")
        ax.grid(True, lw=0.3, alpha=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if spikes is not None:
        _draw_spikes(rec, axes, spikes)
    axes[-1].set_xlabel("time (s)" + (" from sweep start" if rec.triggered else ""))
    if rec.n_scans > 1:
        axes[-1].set_xlim(0, (rec.n_scans - 1) / rec.rate)
    when = rec.rundate.strftime("%Y-%m-%d %H:%M:%S") if rec.rundate else rec.header.rundate
    what = f"{rec.n_sweeps} sweeps overlaid" if rec.triggered else f"{rec.duration:.3g} s"
    axes[0].set_title(f"{rec.header.escope_path.name} — {when} — {what}", fontsize=10)
    return axes


def _draw_spikes(rec: "Recording", axes: list, spikes: Any) -> None:
    """Mark detected spikes and draw ±threshold on each channel's panel."""
    from .units import conversion_factor

    thresholds = getattr(spikes, "thresholds", {}) or {}
    units = getattr(spikes, "units", {}) or {}
    amplitudes = getattr(spikes, "amplitudes", {}) or {}
    for c, ax in enumerate(axes):
        name = rec.channels[c]
        if name not in spikes:
            continue
        unit = rec.units[c]
        to_panel = conversion_factor(units.get(name, unit), unit)
        if name in thresholds:
            thr = thresholds[name] * to_panel
            for level in (thr, -thr):
                ax.axhline(level, color="0.35", lw=0.7, ls="--")
        found = spikes[name]
        sweeps = found if rec.triggered else [found]
        if name in amplitudes:
            heights = amplitudes[name] if rec.triggered else [amplitudes[name]]
        else:  # a plain dict of indices: the samples there, in the panel's unit
            y = rec.data(c)[0]
            heights = [(y[n] if rec.triggered else y)[np.asarray(idx, dtype=np.int64)] / to_panel
                       for n, idx in enumerate(sweeps)]
        for idx, values in zip(sweeps, heights):
            idx = np.asarray(idx, dtype=np.int64)
            if not len(idx):
                continue
            ax.plot(idx / rec.rate, np.asarray(values) * to_panel, ls="none",
                    marker="v" if rec.triggered else "o", ms=3, mfc="none", mec="k", mew=0.7)


def plot_sweeps(rec: "Recording", channel: Any, *, spikes: Any = None, units: Any = None,
                baseline: Any = "pretrigger", bin_s: float | None = None,
                max_columns: int = 2000, fig: Any = None) -> list:
    """See :meth:`escope.Recording.plot_sweeps`."""
    if isinstance(max_columns, bool) or not isinstance(max_columns, (int, np.integer)) \
            or max_columns < 1:
        raise ValueError(f"max_columns must be a positive integer, not {max_columns!r}")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from .sweeps import SweepView, average

    view = SweepView.of(rec, "plot_sweeps")
    c = rec.header.channel_index(channel)
    name = rec.channels[c]
    avg = average(view, c, units, baseline=baseline)
    factor = rec.scale_factor(c, units)
    base = view.baseline(baseline)
    t = avg.time
    step = max(1, view.length // max_columns)  # as plot() draws sweeps
    rows = 3 if spikes is not None else 1
    if fig is None:
        fig = plt.figure(figsize=(8, 3 + 2 * (rows - 1)), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [3, 2, 1.3][:rows]})[:, 0].tolist()
    ax = axes[0]
    segs = []
    for k in range(view.n_sweeps):
        y = view.samples(c, k, factor).astype(np.float64)
        if base is not None and np.isfinite(y[base]).any():
            y = y - np.nanmean(y[base])
        segs.append(np.column_stack([t[::step], y[::step]]))
    alpha = max(0.05, min(0.6, 5.0 / max(1, view.n_sweeps)))
    ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.5, alpha=alpha))
    ax.fill_between(t, avg.mean - avg.sd, avg.mean + avg.sd, color="C0", alpha=0.25, lw=0,
                    label="mean ± SD")
    ax.plot(t, avg.mean, color="C0", lw=1.2, label=f"mean of {view.n_sweeps} sweeps")
    ax.autoscale_view()
    ax.set_ylabel(f"{name} ({display_unit(avg.units)})")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    for a in axes:
        a.axvline(0.0, color="k", lw=0.8, ls="--")
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    if spikes is not None:
        sweeps_t = spikes.times("trigger")[name]
        ax_r, ax_h = axes[1], axes[2]
        for k, st in enumerate(sweeps_t):
            ax_r.plot(st, np.full(len(st), k), "|", color="k", ms=4, mew=0.8)
        ax_r.set_ylabel("sweep")
        ax_r.set_ylim(-0.5, max(0.5, len(sweeps_t) - 0.5))
        width = bin_s or max(1.0 / rec.rate, (t[-1] - t[0]) / 100)
        hist = spikes.psth(width)[name]
        ax_h.stairs(hist.rate, hist.edges, fill=True, color="C1", alpha=0.8)
        ax_h.set_ylabel("rate (Hz)")
    axes[-1].set_xlabel("time from trigger (s)")
    axes[-1].set_xlim(t[0], t[-1])
    when = rec.rundate.strftime("%Y-%m-%d %H:%M:%S") if rec.rundate else rec.header.rundate
    axes[0].set_title(f"{rec.header.escope_path.name} — {when} — {name}, trigger at 0",
                      fontsize=10)
    return axes
