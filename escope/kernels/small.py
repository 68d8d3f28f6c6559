"""NumPy versions of the detection and noise kernels, for short inputs.

A process pays about 0.4 s the first time it runs any Numba kernel (numba
loads its typing registries, which import scipy.linalg, and tearing them
down slows the interpreter's exit), even with the compiled code cached on
disk. For a trace of a few hundred thousand samples that is a hundred times
the work itself, so the engine (:mod:`escope.engine`) uses these vectorized
NumPy versions for inputs of at most :data:`escope.engine.SMALL_INPUT`
samples. They follow the same rules as the Numba kernels (the tests run
every property test on both): spike indices are identical, chunk variances
equal to rounding. This module imports NumPy only.
"""

from __future__ import annotations

import numpy as np


def chunk_var(x: np.ndarray, chunksize: int) -> np.ndarray:
    """:func:`escope.kernels.noise.chunk_var`: the population variance of each
    whole chunk whose variance is finite (no NaN or ±inf in it)."""
    n = len(x) // chunksize
    chunks = np.asarray(x[: n * chunksize], dtype=np.float64).reshape(n, chunksize)
    inv = 1.0 / chunksize
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf chunks are dropped
        d = chunks - chunks[:, :1]  # shifted by the first sample, as the kernel
        s = d.sum(axis=1)
        ss = np.einsum("ij,ij->i", d, d)
        var = (ss - s * s * inv) * inv
    var = var[np.isfinite(var)]
    return np.maximum(var, 0.0)


def events(x: np.ndarray, sign: int, thr: float, start: int = 0,
           stream: bool = False) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Peaks and heights (``sign * x`` in float64) of the Schmitt events of
    one sign opening at `start` or later: on at ``sign * x >= thr``, off at
    ``sign * x <= 0``. With `stream`, an event that reaches the end of `x`
    is not closed there: it is returned apart as ``(first sample, peak so
    far, its value)`` (else None)."""
    if sign > 0:
        opens, closes = x >= thr, x <= 0
    else:
        opens, closes = x <= -thr, x >= 0
    o = np.flatnonzero(opens)
    if start:
        o = o[o >= start]
    if not len(o):
        return o, np.empty(0), None
    c = np.flatnonzero(closes)
    # Closing samples cut the trace into segments; an event opens at the
    # first opening sample of a segment and closes at the segment's end.
    seg = np.searchsorted(c, o)
    first = np.ones(len(o), dtype=bool)
    first[1:] = seg[1:] != seg[:-1]
    ion = o[first]
    seg = seg[first]
    ioff = np.full(len(ion), len(x), dtype=np.int64)  # open at the end: closes there
    inside = seg < len(c)
    ioff[inside] = c[seg[inside]]
    # The largest sign * x of each [ion, ioff) (NaN never: fmax/fmin skip
    # it), then the first sample that reaches it.
    padded = np.concatenate([x, x[:1]])  # reduceat needs ioff < len
    bounds = np.empty(2 * len(ion), dtype=np.int64)
    bounds[0::2] = ion
    bounds[1::2] = ioff
    best = (np.fmax if sign > 0 else np.fmin).reduceat(padded, bounds)[0::2]
    lengths = ioff - ion
    event = np.repeat(np.arange(len(ion)), lengths)
    pos = np.arange(lengths.sum()) + np.repeat(ion - np.cumsum(lengths) + lengths, lengths)
    hit = np.flatnonzero(x[pos] == best[event])
    _, at = np.unique(event[hit], return_index=True)
    peaks = pos[hit[at]]
    still_open = None
    if stream and ioff[-1] == len(x):
        still_open = (int(ion[-1]), int(peaks[-1]), x[peaks[-1]])
        peaks = peaks[:-1]
    return peaks, sign * x[peaks].astype(np.float64), still_open


def tkill(peaks: np.ndarray, heights: np.ndarray, window: float) -> np.ndarray:
    """:func:`escope.kernels.prune.tkill`, a whole pass at a time.

    Within a pass, peak ``k + 1`` is zeroed by peak ``k`` when they are
    close, ``h[k] >= h[k + 1]`` and ``k`` itself was not zeroed by ``k - 1``;
    that last condition alternates along a run of such pairs, so whether a
    peak was zeroed from the left is the parity of the run ending before it.
    """
    p, h = peaks, heights
    while len(p) > 1:
        close = np.diff(p) < window
        ge = h[:-1] >= h[1:]
        chain = close & ge
        k = np.arange(len(chain))
        run = k - np.maximum.accumulate(np.where(chain, -1, k))  # run of `chain` ending at k
        dead = np.zeros(len(p), dtype=bool)
        dead[1:] = run % 2 == 1  # zeroed by the left neighbour
        dead[:-1] |= close & ~ge  # lower than its right neighbour
        if not dead.any():
            break
        p, h = p[~dead], h[~dead]
    return p


def detect(x: np.ndarray, thr: float, polarity: int, window: float | None) -> np.ndarray:
    """:func:`escope.kernels.trace.detect_trace`: peaks of both signs (as
    `polarity` allows), each pruned by :func:`tkill` unless `window` is
    None, merged in ascending order."""
    found = []
    for sign in (1, -1):
        if polarity not in (0, sign):
            continue
        peaks, heights, _ = events(x, sign, thr)
        if window is not None and len(peaks) > 1:
            peaks = tkill(peaks, heights, window)
        found.append(peaks)
    return found[0] if len(found) == 1 else np.sort(np.concatenate(found))
