"""Schmitt triggers on one 1-D signal, for :mod:`escope.peakx`."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import JIT, at_or_above, at_or_below, grow, higher

_BLOCK = 64


@njit(**JIT)
def _next_at_or_above(x, sign, thr, i):
    """First index ``>= i`` with ``sign * x >= thr`` (``len(x)`` if none)."""
    n = len(x)
    while i < n:
        stop = min(i + _BLOCK, n)
        block = x[i:stop]
        # Counting over a whole block vectorizes; most blocks of a trace
        # hold no crossing and are skipped at memory speed.
        hits = 0
        if sign > 0:
            for j in range(len(block)):
                hits += block[j] >= thr
        else:
            for j in range(len(block)):
                hits += block[j] <= -thr
        if hits:
            for j in range(len(block)):
                if at_or_above(block[j], sign, thr):
                    return i + j
        i = stop
    return n


@njit(**JIT)
def schmitt(x, sign, thr_on, thr_off):
    """Schmitt trigger on ``z = sign * x``.

    Starts low; ``z[i] >= thr_on`` while low opens an event at ``i``;
    ``z[j] <= thr_off`` while high closes it (exclusive end ``j``; sample
    ``j`` cannot open the next event). NaN compares false, so it never
    opens or closes an event.

    Returns ``(ion, ioff, is_open)``: an event still open at the end has
    ``ioff = len(x)`` and ``is_open`` is True.
    """
    # Two tight scanning loops instead of one state machine: the arrays are
    # only touched when an event is found, which keeps the scans at memory
    # speed (a loop that rebinds an array pays reference counting per sample).
    n = len(x)
    ion = np.empty(64, dtype=np.int64)
    ioff = np.empty(64, dtype=np.int64)
    k = 0
    i = 0
    is_open = False
    while i < n:
        i = _next_at_or_above(x, sign, thr_on, i)
        if i == n:
            break
        if k == len(ion):
            ion = grow(ion)
            ioff = grow(ioff)
        ion[k] = i
        i += 1
        while i < n and not at_or_below(x[i], sign, thr_off):
            i += 1
        ioff[k] = i
        k += 1
        if i == n:
            is_open = True
        i += 1
    return ion[:k].copy(), ioff[:k].copy(), is_open


@njit(**JIT)
def schmittpeak(x, sign, ion, ioff):
    """Index of the largest ``sign * x`` in each ``[ion, ioff)``, first on
    ties; NaN never peaks (-1 if a window holds only NaN)."""
    out = np.empty(len(ion), dtype=np.int64)
    for k in range(len(ion)):
        best = -1
        for i in range(ion[k], ioff[k]):
            z = x[i]
            if best < 0:
                if z == z:  # not NaN
                    best = i
            elif higher(z, x[best], sign):
                best = i
        out[k] = best
    return out


@njit(**JIT)
def schmitt2(x, thr_a, thr_b):
    """Runs of ``x > thr_b`` (ended by ``x <= thr_b``) that reach ``thr_a``.

    Returns ``(on_a, off_a, on_b, off_b)``: first index ``>= thr_a`` in the
    run, one past the last such index, the run's first index, and the first
    index after it at or below ``thr_b`` (``len(x)`` if the run is open).
    The sample that ends a run cannot start the next one; NaN neither
    starts nor ends a run.
    """
    n = len(x)
    on_a = np.empty(64, dtype=np.int64)
    off_a = np.empty(64, dtype=np.int64)
    on_b = np.empty(64, dtype=np.int64)
    off_b = np.empty(64, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        while i < n and not x[i] > thr_b:
            i += 1
        if i == n:
            break
        run_on = i
        first_a = -1
        last_a = -1
        while i < n and not x[i] <= thr_b:
            if x[i] >= thr_a:
                if first_a < 0:
                    first_a = i
                last_a = i
            i += 1
        if first_a >= 0:
            if k == len(on_a):
                on_a, off_a = grow(on_a), grow(off_a)
                on_b, off_b = grow(on_b), grow(off_b)
            on_a[k] = first_a
            off_a[k] = last_a + 1
            on_b[k] = run_on
            off_b[k] = i
            k += 1
        i += 1
    return on_a[:k].copy(), off_a[:k].copy(), on_b[:k].copy(), off_b[:k].copy()

