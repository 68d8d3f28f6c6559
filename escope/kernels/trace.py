"""Spike events of one trace (a contiguous or strided 1-D array of any
real dtype): rows of 64 samples tested branch-free, events walked through
bit masks, both signs in one pass."""

from __future__ import annotations

import numpy as np
from numba import njit, uint32, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

from .common import JIT, ROW, at_or_above, at_or_below, higher, is_float, predicted, resize
from .prune import tkill_inplace


# Helpers of the row scanner below take scalars only: an inlined helper
# that takes an array costs a reference-count increment and decrement (two
# calls) each time it runs, which is per event here.


@njit(inline="always")
def _peak4(i, e, v, a1, a2, a3, sign):
    """Peak of an event ``[i, e)`` with ``e - i <= 4``, given ``x[i]`` (`v`)
    and the three samples after it: a fixed, branch-free window instead of
    a loop whose exit would be mispredicted for most events."""
    best = i
    bv = v
    take = (i + 1 < e) & higher(a1, bv, sign)
    best = i + 1 if take else best
    bv = a1 if take else bv
    take = (i + 2 < e) & higher(a2, bv, sign)
    best = i + 2 if take else best
    bv = a2 if take else bv
    take = (i + 3 < e) & higher(a3, bv, sign)
    best = i + 3 if take else best
    bv = a3 if take else bv
    return best, bv


@njit(**JIT)
def _event_end(x, sign, start):
    """First index ``>= start`` with ``sign * x <= 0`` (``len(x)`` if none)."""
    e = start
    while e < len(x) and not at_or_below(x[e], sign, 0):
        e += 1
    return e


@njit(**JIT)
def _event_peak(x, sign, i, e):
    """Index of the largest ``sign * x`` in ``[i, e)`` (``x[i]`` not NaN),
    first on ties, NaN never, and its value."""
    best = i
    bv = x[i]
    for j in range(i + 1, e):
        w = x[j]
        if higher(w, bv, sign):
            best = j
            bv = w
    return best, bv


@njit(inline="always")
def _prune_step(k, zeroed, last, last_h, peak, height, w):
    """The first pruning pass of :func:`tkill` (window `w`; none if
    negative), one peak at a time: the pending peak at index `k` (`last`,
    of height `last_h`) is compared with the new one, which goes to the
    returned index; also returns whether that one is already zeroed."""
    close = np.uint8(peak - last < w)
    ge = np.uint8(last_h >= height)
    dead = zeroed | (close & (ge ^ np.uint8(1)))
    zeroed = close & ge & (zeroed ^ np.uint8(1))
    return k + np.int64(dead ^ np.uint8(1)), zeroed


@njit(**JIT)
def _scan_rows(x, polarity, thr, hi, lo, w, state, pk_p, h_p, pk_n, h_n, stream, bvs):
    """Events of :func:`trace_events` from row ``state[0]`` on, until the
    trace ends or an output may overflow. ``state`` holds (next row, first
    sample that may open a positive event, the same for negative, index of
    the pending positive peak (-1: none yet), the same for negative, and
    whether each was zeroed by its left neighbour); it is updated so that
    a later call continues. With `stream`, an event that reaches the end of
    `x` is not closed there but left open: ``state[7:10]`` (positive) and
    ``state[10:13]`` (negative) get (1, its first sample, its peak so far)
    and ``bvs`` the peak's value."""
    n = len(x)
    # Float samples: ``|v| >= hi`` is ``v >= hi or v <= lo`` exactly (lo is
    # -hi for floats; NaN passes neither), one compare instead of two. Not
    # for integers: |-128| is not representable in int8.
    symmetric = is_float(x) and lo == -hi
    r = state[0]
    next_p = state[1]
    next_n = state[2]
    kp = state[3]
    kn = state[4]
    zp = np.uint8(state[5])
    zn = np.uint8(state[6])
    # The pending peaks live in registers (reading them back from memory
    # would chain every event to the previous store). Before the first
    # peak, a "previous" one too far away to be close.
    last_p = pk_p[kp] if kp >= 0 else np.int64(-(2**62))
    last_hp = h_p[kp] if kp >= 0 else 0.0
    last_n = pk_n[kn] if kn >= 0 else np.int64(-(2**62))
    last_hn = h_n[kn] if kn >= 0 else 0.0
    dense = False
    while r * ROW < n and kp + ROW < len(pk_p) and kn + ROW < len(pk_n):
        r0 = r * ROW
        r_end = min(r0 + ROW, n)
        row = x[r0:r_end]
        r += 1
        # A branch-free count skips the rows without candidates (nearly
        # all of them) at memory speed. After a row with candidates the
        # count is skipped: where events are dense it is wasted work.
        if not dense:
            hits = np.int32(0)
            if polarity == 0 and symmetric:
                for j in range(len(row)):
                    hits += np.int32(abs(row[j]) >= hi)
            elif polarity == 0:
                for j in range(len(row)):
                    hits += np.int32(row[j] >= hi) + np.int32(row[j] <= lo)
            elif polarity > 0:
                for j in range(len(row)):
                    hits += np.int32(row[j] >= hi)
            else:
                for j in range(len(row)):
                    hits += np.int32(row[j] <= lo)
            if hits == 0:
                continue
        # Bit j of `mask`: sample j may open an event; of `close_*`: it
        # closes one of that sign (NaN never does). Built in halves of 32
        # bits (twice the vector lanes of 64-bit shifts) for whole rows.
        if len(row) == ROW:
            # Written out here: a helper taking (a slice of) the row would
            # cost reference counting per row.
            m0 = uint32(0)
            m1 = uint32(0)
            p0 = uint32(0)
            p1 = uint32(0)
            n0 = uint32(0)
            n1 = uint32(0)
            if polarity == 0 and symmetric:
                for j in range(32):
                    v = row[j]
                    u = row[j + 32]
                    bit = uint32(j)
                    m0 |= uint32(abs(v) >= hi) << bit
                    m1 |= uint32(abs(u) >= hi) << bit
                    p0 |= uint32(v <= 0) << bit
                    p1 |= uint32(u <= 0) << bit
                    n0 |= uint32(v >= 0) << bit
                    n1 |= uint32(u >= 0) << bit
            elif polarity == 0:
                for j in range(32):
                    v = row[j]
                    u = row[j + 32]
                    bit = uint32(j)
                    m0 |= uint32((v >= hi) | (v <= lo)) << bit
                    m1 |= uint32((u >= hi) | (u <= lo)) << bit
                    p0 |= uint32(v <= 0) << bit
                    p1 |= uint32(u <= 0) << bit
                    n0 |= uint32(v >= 0) << bit
                    n1 |= uint32(u >= 0) << bit
            elif polarity > 0:
                for j in range(32):
                    v = row[j]
                    u = row[j + 32]
                    bit = uint32(j)
                    m0 |= uint32(v >= hi) << bit
                    m1 |= uint32(u >= hi) << bit
                    p0 |= uint32(v <= 0) << bit
                    p1 |= uint32(u <= 0) << bit
            else:
                for j in range(32):
                    v = row[j]
                    u = row[j + 32]
                    bit = uint32(j)
                    m0 |= uint32(v <= lo) << bit
                    m1 |= uint32(u <= lo) << bit
                    n0 |= uint32(v >= 0) << bit
                    n1 |= uint32(u >= 0) << bit
            mask = uint64(m0) | (uint64(m1) << uint64(32))
            close_p = uint64(p0) | (uint64(p1) << uint64(32))
            close_n = uint64(n0) | (uint64(n1) << uint64(32))
        else:
            mask = uint64(0)
            close_p = uint64(0)
            close_n = uint64(0)
            for j in range(len(row)):
                v = row[j]
                bit = uint64(j)
                if polarity >= 0:
                    mask |= uint64(v >= hi) << bit
                    close_p |= uint64(v <= 0) << bit
                if polarity <= 0:
                    mask |= uint64(v <= lo) << bit
                    close_n |= uint64(v >= 0) << bit
        dense = (mask & (mask - uint64(1))) != 0  # two candidates or more
        while mask != 0:
            b = np.int64(trailing_zeros(mask))
            mask &= mask - uint64(1)
            i = r0 + b
            v = x[i]
            if polarity >= 0 and i >= next_p and at_or_above(v, 1, thr):
                rest = close_p >> uint64(b)
                e = i + np.int64(trailing_zeros(rest)) if rest != 0 else _event_end(x, 1, r_end)
                if e - i <= 4 and i + 4 <= n:
                    best, bv = _peak4(i, e, v, x[i + 1], x[i + 2], x[i + 3], 1)
                else:
                    best, bv = _event_peak(x, 1, i, e)
                if stream and e == n:  # still open: more samples may follow
                    state[7] = 1
                    state[8] = i
                    state[9] = best
                    bvs[0] = bv
                    next_p = n + 1
                    continue
                height = np.float64(bv)
                kp, zp = _prune_step(kp, zp, last_p, last_hp, best, height, w)
                pk_p[kp] = best
                h_p[kp] = height
                last_p = best
                last_hp = height
                next_p = e + 1  # the closing sample cannot open the next event
            elif polarity <= 0 and i >= next_n and at_or_above(v, -1, thr):
                rest = close_n >> uint64(b)
                e = i + np.int64(trailing_zeros(rest)) if rest != 0 else _event_end(x, -1, r_end)
                if e - i <= 4 and i + 4 <= n:
                    best, bv = _peak4(i, e, v, x[i + 1], x[i + 2], x[i + 3], -1)
                else:
                    best, bv = _event_peak(x, -1, i, e)
                if stream and e == n:
                    state[10] = 1
                    state[11] = i
                    state[12] = best
                    bvs[1] = bv
                    next_n = n + 1
                    continue
                height = -np.float64(bv)  # in float64: exact for every dtype
                kn, zn = _prune_step(kn, zn, last_n, last_hn, best, height, w)
                pk_n[kn] = best
                h_n[kn] = height
                last_n = best
                last_hn = height
                next_n = e + 1
    state[0] = r
    state[1] = next_p
    state[2] = next_n
    state[3] = kp
    state[4] = kn
    state[5] = zp
    state[6] = zn


@njit(**JIT)
def trace_events(x, polarity, thr, hi, lo, window):
    """Peaks of the Schmitt events of each sign of a trace (on at
    ``sign * x >= thr``, off at ``sign * x <= 0``; see :func:`schmitt`),
    both signs in one pass, after the first pruning pass of
    :func:`tkill` with `window` (none if `window` is negative).

    `hi` and `lo` bound the candidates in the samples' own type: every
    sample with ``x >= thr`` has ``x >= hi`` and every sample with
    ``x <= -thr`` has ``x <= lo`` (they may let through more; the exact
    test follows). Returns ``(peaks_pos, heights_pos, peaks_neg,
    heights_neg)``, heights as ``sign * x[peak]`` in float64; they are
    views of larger buffers.
    """
    pk_p, h_p, pk_n, h_n, _, _ = _trace(x, polarity, thr, hi, lo, window, False, 0, 0)
    return pk_p, h_p, pk_n, h_n


@njit(**JIT)
def trace_stream(x, polarity, thr, hi, lo, start_p, start_n):
    """The events of one block of a stream: as :func:`trace_events` with no
    pruning, positive events opening at ``start_p`` or later and negative
    ones at ``start_n`` or later (the first samples that may open), and an
    event that reaches the end of `x` left open.

    Returns ``(peaks_pos, heights_pos, peaks_neg, heights_neg, open, bvs)``:
    `open` holds (is open, first sample, peak so far) for the positive sign
    then the negative; `bvs` the two open peaks' values in `x`'s dtype.
    """
    pk_p, h_p, pk_n, h_n, state, bvs = _trace(x, polarity, thr, hi, lo, -1.0, True,
                                              start_p, start_n)
    return pk_p, h_p, pk_n, h_n, state[7:13].copy(), bvs


@njit(**JIT)
def _trace(x, polarity, thr, hi, lo, window, stream, start_p, start_n):
    """:func:`trace_events` and :func:`trace_stream`."""
    n = len(x)
    # Gaps are integers: ``gap < window`` is ``gap < ceil(window)``.
    w = np.int64(min(np.ceil(window), 2.0**62))
    # Small at first: the rate of the first events sizes the one resize.
    cap = min(n // 2 + 2 * ROW, 1 << 12)
    pk_p = np.empty(cap, dtype=np.int64)
    h_p = np.empty(cap, dtype=np.float64)
    pk_n = np.empty(cap, dtype=np.int64)
    h_n = np.empty(cap, dtype=np.float64)
    state = np.zeros(13, dtype=np.int64)
    state[1] = start_p
    state[2] = start_n
    state[3] = -1
    state[4] = -1
    bvs = np.zeros(2, dtype=x.dtype)
    while True:
        # The scanning loop never rebinds its arrays (that would cost
        # reference counting per event); growing happens out here, only for
        # the sign that is full and copying only what it holds (fresh pages
        # are not free).
        _scan_rows(x, polarity, thr, hi, lo, w, state, pk_p, h_p, pk_n, h_n, stream, bvs)
        if state[0] * ROW >= n:
            break
        # Room for what the rate so far predicts for the whole trace (at
        # least double): one reallocation instead of a chain of doublings.
        rows_total = (n + ROW - 1) // ROW
        most = n // 2 + 2 * ROW + 1  # events need two samples each
        if state[3] + ROW >= len(pk_p):
            size = predicted(state[3] + 1, state[0], rows_total, len(pk_p), most)
            pk_p, h_p = resize(pk_p, state[3] + 1, size), resize(h_p, state[3] + 1, size)
        if state[4] + ROW >= len(pk_n):
            size = predicted(state[4] + 1, state[0], rows_total, len(pk_n), most)
            pk_n, h_n = resize(pk_n, state[4] + 1, size), resize(h_n, state[4] + 1, size)
    # The last pending peak of each sign has no right neighbour left.
    kp = state[3] + 1 - state[5] if state[3] >= 0 else 0
    kn = state[4] + 1 - state[6] if state[4] >= 0 else 0
    return pk_p[:kp], h_p[:kp], pk_n[:kn], h_n[:kn], state, bvs


@njit(**JIT)
def _merge(a, b):
    """Merge two ascending arrays with no common value."""
    out = np.empty(len(a) + len(b), dtype=np.int64)
    i = 0
    j = 0
    for k in range(len(out)):
        if j == len(b) or (i < len(a) and a[i] < b[j]):
            out[k] = a[i]
            i += 1
        else:
            out[k] = b[j]
            j += 1
    return out


@njit(**JIT)
def detect_trace(x, polarity, thr, hi, lo, window):
    """:func:`trace_events`, then the rest of :func:`tkill` on each sign
    (unless `window` is negative), merged into one ascending array of
    peaks."""
    pk_p, h_p, pk_n, h_n = trace_events(x, polarity, thr, hi, lo, window)
    if window >= 0:
        pk_p = pk_p[: tkill_inplace(pk_p, h_p, window)]
        pk_n = pk_n[: tkill_inplace(pk_n, h_n, window)]
    return _merge(pk_p, pk_n)

