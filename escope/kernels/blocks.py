"""Spike events of interleaved recordings (scan-major, C channels), read as
the flat array of the file, in blocks of scans that never straddle a sweep.

Samples are scaled as ``Recording.data`` scales them (one multiply in the
file's dtype), so results equal the per-channel functions'.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

from .common import JIT, at_or_above, at_or_below, grow_rows, higher
from .prune import tkill_inplace


@njit(**JIT)
def chunk_peaks(ev, xf, C, cols, gains, window, lo, hi):
    """The peaks of :func:`detect_blocks` rows `ev` (over a C-channel chunk
    `xf`; channel ``k`` is column ``cols[k]``, scaled by ``gains[cols[k]]``),
    each channel and sign pruned by :func:`~escope.kernels.prune.tkill` with
    `window` (none if negative), those with ``lo <= peak < hi`` ordered by
    sample, then channel. Returns ``(sample, channel)``. One call per
    chunk instead of a score of small NumPy operations."""
    K = len(cols)
    G = 2 * K
    count = np.zeros(G + 1, dtype=np.int64)
    for i in range(len(ev)):
        count[ev[i, 0] * 2 + ev[i, 1] + 1] += 1
    for g in range(G):
        count[g + 1] += count[g]
    at = count[:G].copy()
    peaks = np.empty(len(ev), dtype=np.int64)
    heights = np.empty(len(ev), dtype=np.float64)
    for i in range(len(ev)):  # stable: each group stays in time order
        g = ev[i, 0] * 2 + ev[i, 1]
        j = at[g]
        at[g] += 1
        peaks[j] = ev[i, 4]
        col = cols[ev[i, 0]]
        v = np.float64(xf[ev[i, 4] * C + col] * gains[col])
        heights[j] = v if ev[i, 1] == 0 else -v
    keys = np.empty(len(ev), dtype=np.int64)
    n = 0
    for g in range(G):
        a = count[g]
        b = count[g + 1]
        m = b - a
        if window >= 0 and m > 1:
            m = tkill_inplace(peaks[a:b], heights[a:b], window)
        for j in range(a, a + m):
            if lo <= peaks[j] < hi:
                keys[n] = peaks[j] * K + g // 2
                n += 1
    keys = np.sort(keys[:n])
    return keys // K, keys % K


# Samples per row of the recording detector's first test. Wider rows were
# measured slower: more of them hold a candidate, and each such row is
# scanned whole again.
_WIDE = 64


@njit(**JIT)
def _detect_rows(xf, C, q, k_of_col, col_of, scan_of, gtile, thr_tile, thr, polarity, bstart,
                 blen, bend, pos, state, out):
    """The work of :func:`detect_blocks` from block ``state[0]``, scan
    ``state[1]`` on, until the blocks end or `out` may overflow; ``state[2]``
    counts the rows of `out` in use. Updates `state` so that a later call
    continues. No helper taking an array is called per event (each such call
    costs two reference-count updates)."""
    W = q * C
    b = state[0]
    t = state[1]
    n = state[2]
    while b < len(bstart):
        b0 = bstart[b]
        b1 = b0 + blen[b]
        end = bend[b]
        while t < b1:
            if n + W > out.shape[0]:
                state[0] = b
                state[1] = t
                state[2] = n
                return
            m = min(W, (b1 - t) * C)
            row = xf[t * C : t * C + m]
            hits = np.int32(0)
            for w in range(m):  # branch-free: vectorizes
                hits += np.int32(abs(row[w] * gtile[w]) >= thr_tile[w])
            if hits != 0:
                for s0 in range(0, m, 64):
                    sub = row[s0 : min(s0 + 64, m)]
                    mask = uint64(0)
                    for j in range(len(sub)):
                        mask |= uint64(abs(sub[j] * gtile[s0 + j]) >= thr_tile[s0 + j]) << uint64(j)
                    while mask != 0:
                        w = s0 + np.int64(trailing_zeros(mask))
                        mask &= mask - uint64(1)
                        col = col_of[w]  # tables: a division per event costs more
                        k = k_of_col[col]
                        tt = t + scan_of[w]
                        g = gtile[col]
                        v = row[w] * g
                        if (polarity >= 0 and tt >= pos[k, 0] and at_or_above(v, 1, thr[k])):
                            sign = 1
                            s = 0
                        elif (polarity <= 0 and tt >= pos[k, 1] and at_or_above(v, -1, thr[k])):
                            sign = -1
                            s = 1
                        else:
                            continue
                        # The event closes at the first later scan of its
                        # channel with sign * y <= 0, at the latest at the
                        # end of its sweep; its peak is its largest sign * y.
                        best = tt
                        bestv = v
                        j = tt + 1
                        while j < end:
                            y = xf[j * C + col] * g
                            if at_or_below(y, sign, 0.0):
                                break
                            if higher(y, bestv, sign):
                                best = j
                                bestv = y
                            j += 1
                        out[n, 0] = k
                        out[n, 1] = s
                        out[n, 2] = tt
                        out[n, 3] = j
                        out[n, 4] = best
                        n += 1
                        # The closing sample cannot open the next event; at
                        # the end of a sweep there is no such sample.
                        pos[k, s] = j + 1 if j < end else j
            t += q
        for k in range(len(pos)):
            for s in range(2):
                if pos[k, s] < b1:
                    pos[k, s] = b1
        b += 1
        if b < len(bstart):
            t = bstart[b]
    state[0] = b
    state[1] = t
    state[2] = n


@njit(**JIT)
def detect_blocks(xf, C, cols, gtile, thr, polarity, bstart, blen, bend, pos):
    """Schmitt events (on at ``sign * y >= thr``, off at ``sign * y <= 0``)
    of each channel and sign whose opening lies in the given blocks, with
    the peak of each (largest ``sign * y``, first on ties, NaN never).

    Channel ``k`` is column ``cols[k]`` of the file; samples are scaled by
    the gain of their column, ``gtile[c]`` for column ``c`` (`gtile` holds
    the gains of all columns, possibly repeated). A branch-free count over
    each row of about 64 samples finds the few samples whose ``|y|`` may
    reach their channel's threshold, and only those are checked exactly.
    An event's closing is searched past the block, up to ``bend[b]`` (the
    end of its sweep: events never cross sweeps; one still open there
    closes at ``bend[b]``). ``pos[k, s]`` is the first scan at which channel
    ``k``, sign ``s`` (0: positive, 1: negative) may open; it is updated,
    so that a later call continues where this one stopped.

    Returns rows ``(k, s, ion, ioff, peak)`` (file scans), in time order
    for each ``(k, s)``.
    """
    q = max(1, _WIDE // C)
    W = q * C
    K = len(cols)
    k_of_col = np.full(C, -1, dtype=np.int64)
    for k in range(K):
        k_of_col[cols[k]] = k
    gt = np.empty(W, dtype=gtile.dtype)
    col_of = np.empty(W, dtype=np.int64)
    scan_of = np.empty(W, dtype=np.int64)
    for w in range(W):
        gt[w] = gtile[w % C]
        col_of[w] = w % C
        scan_of[w] = w // C
    # The row test runs in the samples' own dtype (twice the lanes of
    # float64) against thresholds rounded down: it may let through a sample
    # the exact test then rejects, never the reverse.
    thr_tile = np.empty(W, dtype=gtile.dtype)
    thr_low = np.empty(K, dtype=gtile.dtype)
    for k in range(K):
        t32 = gtile.dtype.type(thr[k])
        while t32 > thr[k]:
            t32 = np.nextafter(t32, gtile.dtype.type(-np.inf))
        thr_low[k] = t32
    for w in range(W):
        k = k_of_col[w % C]
        # NaN, not inf: an infinite sample must not count on a column that
        # is not looked at (nothing is >= NaN).
        thr_tile[w] = thr_low[k] if k >= 0 else gtile.dtype.type(np.nan)
    out = np.empty((1024, 5), dtype=np.int64)
    state = np.zeros(3, dtype=np.int64)
    if len(bstart):
        state[1] = bstart[0]
    while True:
        _detect_rows(xf, C, q, k_of_col, col_of, scan_of, gt, thr_tile, thr, polarity, bstart,
                     blen, bend, pos, state, out)
        if state[0] >= len(bstart):
            break
        out = grow_rows(out)
    return out[: state[2]].copy()


@njit(**JIT)
def group_events(ev, xf, C, cols, gains, K, n, at):
    """Sort the rows of :func:`detect_blocks` (over a block of `n` scans that
    starts at stream index `at`) by channel and sign, keeping time order:
    the peaks (stream indices) and their values (scaled, float64) of the
    events that closed, group ``g = 2 * k + s`` at ``[bounds[g],
    bounds[g + 1])``; and the rows of the events still open at the end
    (``ioff == n``), at most one per group. One pass instead of a sort."""
    G = 2 * K
    bounds = np.zeros(G + 1, dtype=np.int64)
    n_open = 0
    for i in range(len(ev)):
        if ev[i, 3] == n:
            n_open += 1
        else:
            bounds[ev[i, 0] * 2 + ev[i, 1] + 1] += 1
    for g in range(G):
        bounds[g + 1] += bounds[g]
    at_g = bounds[:G].copy()
    peaks = np.empty(bounds[G], dtype=np.int64)
    values = np.empty(bounds[G], dtype=np.float64)
    still = np.empty(n_open, dtype=np.int64)
    j = 0
    for i in range(len(ev)):
        if ev[i, 3] == n:
            still[j] = i
            j += 1
            continue
        g = ev[i, 0] * 2 + ev[i, 1]
        col = cols[ev[i, 0]]
        peaks[at_g[g]] = ev[i, 4] + at
        values[at_g[g]] = np.float64(xf[ev[i, 4] * C + col] * gains[col])
        at_g[g] += 1
    return peaks, values, bounds, still
