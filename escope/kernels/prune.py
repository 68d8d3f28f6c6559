"""``tkill``: pruning peaks of one sign that are closer than a window."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import JIT

@njit(**JIT)
def _tkill_pass(idx, h, a, b, w):
    """One pruning pass of :func:`tkill` over ``idx[a:b]``, survivors
    compacted in place. Returns their new end and the first and last index
    of the peaks that are still closer than `w` to a neighbour among them
    (-1 if none).

    The sequential rule "the lower of two close neighbours gets height 0"
    only needs one bit of state: whether peak ``k`` was already zeroed by
    its left neighbour (then it loses to ``k + 1`` too, as 0 < any height).
    The loop has no data-dependent branches: heights are random, and a
    mispredicted branch per peak would cost more than the whole pass.
    """
    ii = idx[a:b]  # slices indexed from 0: no negative-index handling
    hh = h[a:b]
    n = len(ii)
    m = 0
    zeroed = np.uint8(0)
    first = np.int64(-1)
    last = np.int64(-1)
    kept = np.int64(-(2**62))  # the last survivor
    for k in range(n):
        if k + 1 < n:
            close = np.uint8(ii[k + 1] - ii[k] < w)
            ge = np.uint8(hh[k] >= hh[k + 1])
        else:
            close = np.uint8(0)
            ge = np.uint8(0)
        alive = (zeroed | (close & (ge ^ np.uint8(1)))) ^ np.uint8(1)
        zeroed = close & ge & (zeroed ^ np.uint8(1))
        value = ii[k]
        near = (alive != 0) & (value - kept < w)
        first = m - 1 if near & (first < 0) else first
        last = m if near else last
        kept = value if alive != 0 else kept
        ii[m] = value
        hh[m] = hh[k]
        m += np.int64(alive)
    return a + m, a + first if first >= 0 else first, a + last if last >= 0 else last


@njit(**JIT)
def tkill_inplace(idx, h, window):
    """:func:`tkill` on owned arrays; returns how many peaks are kept (at
    the front of `idx` and `h`)."""
    # Gaps are integers: ``gap < window`` is ``gap < ceil(window)``.
    w = np.int64(min(np.ceil(window), 2.0**62))
    n = len(idx)
    lo = 0
    hi = n
    # Each pass runs over the span that still holds close peaks: pruning
    # never brings peaks closer, so nothing outside it changes again, and
    # a pass needs no state from before the span (its first peak is not
    # close to the one before).
    while hi - lo > 1:
        m, first, last = _tkill_pass(idx, h, lo, hi, w)
        if m < hi:
            for k in range(n - hi):  # close the gap the pass left
                idx[m + k] = idx[hi + k]
                h[m + k] = h[hi + k]
            n -= hi - m
        if first < 0:
            break
        lo = first
        hi = last + 1
    return n


@njit(**JIT)
def tkill(peaks, heights, window):
    """Prune peaks closer than `window`: in repeated passes the lower of
    two close neighbours gets height 0 (the later one on ties); zeroed
    peaks are removed after each pass, until a pass removes nothing.
    Heights must be positive (a peak's ``sign * y`` is at least its
    threshold)."""
    idx = peaks.astype(np.int64)
    h = heights.astype(np.float64)
    n = tkill_inplace(idx, h, window)
    return idx[:n].copy()

