"""Numba kernels: one small kernel per concept.

Imported by :mod:`escope.peakx`, :mod:`escope.spikex`, :mod:`escope.analysis`
and :mod:`escope_neo.peaks` only where a kernel runs (traces and recordings
longer than the NumPy path of :mod:`escope._small` takes), so
``import escope`` never loads numba. Every
kernel is compiled lazily for the array types it meets (float32 stays
float32; strided and read-only arrays work without copies), cached on disk
(``cache=True``), and releases the GIL (``nogil=True``) so that channels can
be processed on several cores by plain threads.

The public functions validate their arguments and dispatch here; the tests
compare each kernel with a plain NumPy reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint32, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def _resize(a, used, size):
    """A new array of `size` elements holding the first `used` of `a`."""
    b = np.empty(size, dtype=a.dtype)
    b[:used] = a[:used]
    return b


@njit(**_JIT)
def _predicted(used, rows_done, rows_total, size, most):
    """Room for `used` items found in `rows_done` of `rows_total` rows, at
    that rate over the whole trace plus 10 %, at least twice `size`, at
    most `most`."""
    guess = used * (rows_total / max(rows_done, 1)) * 1.1 + 4 * _ROW
    return min(max(2 * size, np.int64(min(guess, 2.0**62))), most)


@njit(**_JIT)
def _grow(a):
    b = np.empty(2 * len(a), dtype=a.dtype)
    b[: len(a)] = a
    return b


_BLOCK = 64

# ``sign * x`` is never computed: negating the most negative integer of a
# dtype (-128 in int8, -2**63 in int64) overflows and would turn a large
# negative spike positive. Comparisons against ``sign * thr`` are exact for
# every dtype; the sign test is loop-invariant, so LLVM hoists it.


@njit(inline="always")
def _at_or_above(v, sign, thr):
    """``sign * v >= thr``, without negating `v`."""
    return v >= thr if sign > 0 else v <= -thr


@njit(inline="always")
def _at_or_below(v, sign, thr):
    """``sign * v <= thr``, without negating `v`."""
    return v <= thr if sign > 0 else v >= -thr


@njit(inline="always")
def _higher(a, b, sign):
    """``sign * a > sign * b``, without negating."""
    return a > b if sign > 0 else a < b


@njit(**_JIT)
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
                if _at_or_above(block[j], sign, thr):
                    return i + j
        i = stop
    return n


@njit(**_JIT)
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
            ion = _grow(ion)
            ioff = _grow(ioff)
        ion[k] = i
        i += 1
        while i < n and not _at_or_below(x[i], sign, thr_off):
            i += 1
        ioff[k] = i
        k += 1
        if i == n:
            is_open = True
        i += 1
    return ion[:k].copy(), ioff[:k].copy(), is_open


@njit(**_JIT)
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
            elif _higher(z, x[best], sign):
                best = i
        out[k] = best
    return out


@njit(**_JIT)
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
                on_a, off_a = _grow(on_a), _grow(off_a)
                on_b, off_b = _grow(on_b), _grow(off_b)
            on_a[k] = first_a
            off_a[k] = last_a + 1
            on_b[k] = run_on
            off_b[k] = i
            k += 1
        i += 1
    return on_a[:k].copy(), off_a[:k].copy(), on_b[:k].copy(), off_b[:k].copy()


_ROW = 64  # samples per row of the 1-D detector: one bit each in a uint64 mask


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
    take = (i + 1 < e) & _higher(a1, bv, sign)
    best = i + 1 if take else best
    bv = a1 if take else bv
    take = (i + 2 < e) & _higher(a2, bv, sign)
    best = i + 2 if take else best
    bv = a2 if take else bv
    take = (i + 3 < e) & _higher(a3, bv, sign)
    best = i + 3 if take else best
    bv = a3 if take else bv
    return best, bv


@njit(**_JIT)
def _event_end(x, sign, start):
    """First index ``>= start`` with ``sign * x <= 0`` (``len(x)`` if none)."""
    e = start
    while e < len(x) and not _at_or_below(x[e], sign, 0):
        e += 1
    return e


@njit(**_JIT)
def _event_peak(x, sign, i, e):
    """Index of the largest ``sign * x`` in ``[i, e)`` (``x[i]`` not NaN),
    first on ties, NaN never, and its value."""
    best = i
    bv = x[i]
    for j in range(i + 1, e):
        w = x[j]
        if _higher(w, bv, sign):
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


@njit(**_JIT)
def _scan_rows(x, polarity, thr, hi, lo, w, state, pk_p, h_p, pk_n, h_n):
    """Events of :func:`trace_events` from row ``state[0]`` on, until the
    trace ends or an output may overflow. ``state`` holds (next row, first
    sample that may open a positive event, the same for negative, index of
    the pending positive peak (-1: none yet), the same for negative, and
    whether each was zeroed by its left neighbour); it is updated so that
    a later call continues."""
    n = len(x)
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
    while r * _ROW < n and kp + _ROW < len(pk_p) and kn + _ROW < len(pk_n):
        r0 = r * _ROW
        r_end = min(r0 + _ROW, n)
        row = x[r0:r_end]
        r += 1
        # A branch-free count skips the rows without candidates (nearly
        # all of them) at memory speed. After a row with candidates the
        # count is skipped: where events are dense it is wasted work.
        if not dense:
            hits = np.int32(0)
            if polarity == 0:
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
        if len(row) == _ROW:
            # Written out here: a helper taking (a slice of) the row would
            # cost reference counting per row.
            m0 = uint32(0)
            m1 = uint32(0)
            p0 = uint32(0)
            p1 = uint32(0)
            n0 = uint32(0)
            n1 = uint32(0)
            if polarity == 0:
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
            if polarity >= 0 and i >= next_p and _at_or_above(v, 1, thr):
                rest = close_p >> uint64(b)
                e = i + np.int64(trailing_zeros(rest)) if rest != 0 else _event_end(x, 1, r_end)
                if e - i <= 4 and i + 4 <= n:
                    best, bv = _peak4(i, e, v, x[i + 1], x[i + 2], x[i + 3], 1)
                else:
                    best, bv = _event_peak(x, 1, i, e)
                height = np.float64(bv)
                kp, zp = _prune_step(kp, zp, last_p, last_hp, best, height, w)
                pk_p[kp] = best
                h_p[kp] = height
                last_p = best
                last_hp = height
                next_p = e + 1  # the closing sample cannot open the next event
            elif polarity <= 0 and i >= next_n and _at_or_above(v, -1, thr):
                rest = close_n >> uint64(b)
                e = i + np.int64(trailing_zeros(rest)) if rest != 0 else _event_end(x, -1, r_end)
                if e - i <= 4 and i + 4 <= n:
                    best, bv = _peak4(i, e, v, x[i + 1], x[i + 2], x[i + 3], -1)
                else:
                    best, bv = _event_peak(x, -1, i, e)
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


@njit(**_JIT)
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
    n = len(x)
    # Gaps are integers: ``gap < window`` is ``gap < ceil(window)``.
    w = np.int64(min(np.ceil(window), 2.0**62))
    # Small at first: the rate of the first events sizes the one resize.
    cap = min(n // 2 + 2 * _ROW, 1 << 12)
    pk_p = np.empty(cap, dtype=np.int64)
    h_p = np.empty(cap, dtype=np.float64)
    pk_n = np.empty(cap, dtype=np.int64)
    h_n = np.empty(cap, dtype=np.float64)
    state = np.zeros(7, dtype=np.int64)
    state[3] = -1
    state[4] = -1
    while True:
        # The scanning loop never rebinds its arrays (that would cost
        # reference counting per event); growing happens out here, only for
        # the sign that is full and copying only what it holds (fresh pages
        # are not free).
        _scan_rows(x, polarity, thr, hi, lo, w, state, pk_p, h_p, pk_n, h_n)
        if state[0] * _ROW >= n:
            break
        # Room for what the rate so far predicts for the whole trace (at
        # least double): one reallocation instead of a chain of doublings.
        rows_total = (n + _ROW - 1) // _ROW
        most = n // 2 + 2 * _ROW + 1  # events need two samples each
        if state[3] + _ROW >= len(pk_p):
            size = _predicted(state[3] + 1, state[0], rows_total, len(pk_p), most)
            pk_p, h_p = _resize(pk_p, state[3] + 1, size), _resize(h_p, state[3] + 1, size)
        if state[4] + _ROW >= len(pk_n):
            size = _predicted(state[4] + 1, state[0], rows_total, len(pk_n), most)
            pk_n, h_n = _resize(pk_n, state[4] + 1, size), _resize(h_n, state[4] + 1, size)
    # The last pending peak of each sign has no right neighbour left.
    kp = state[3] + 1 - state[5] if state[3] >= 0 else 0
    kn = state[4] + 1 - state[6] if state[4] >= 0 else 0
    return pk_p[:kp], h_p[:kp], pk_n[:kn], h_n[:kn]


@njit(**_JIT)
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


@njit(**_JIT)
def detect_trace(x, polarity, thr, hi, lo, window):
    """:func:`trace_events`, then the rest of :func:`tkill` on each sign
    (unless `window` is negative), merged into one ascending array of
    peaks."""
    pk_p, h_p, pk_n, h_n = trace_events(x, polarity, thr, hi, lo, window)
    if window >= 0:
        pk_p = pk_p[: _tkill_inplace(pk_p, h_p, window)]
        pk_n = pk_n[: _tkill_inplace(pk_n, h_n, window)]
    return _merge(pk_p, pk_n)


@njit(**_JIT)
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


@njit(**_JIT)
def _tkill_inplace(idx, h, window):
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


@njit(**_JIT)
def tkill(peaks, heights, window):
    """Prune peaks closer than `window`: in repeated passes the lower of
    two close neighbours gets height 0 (the later one on ties); zeroed
    peaks are removed after each pass, until a pass removes nothing.
    Heights must be positive (a peak's ``sign * y`` is at least its
    threshold)."""
    idx = peaks.astype(np.int64)
    h = heights.astype(np.float64)
    n = _tkill_inplace(idx, h, window)
    return idx[:n].copy()


@njit(**_JIT)
def chunk_peaks(ev, xf, C, window, lo, hi):
    """The peaks of :func:`detect_blocks` rows `ev` (over a C-channel chunk
    `xf`, gain 1), each channel and sign pruned by :func:`tkill` with
    `window` (none if negative), those with ``lo <= peak < hi`` ordered by
    sample, then channel. Returns ``(sample, channel)``. One call per
    chunk instead of a score of small NumPy operations."""
    G = 2 * C
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
        v = np.float64(xf[ev[i, 4] * C + ev[i, 0]])
        heights[j] = v if ev[i, 1] == 0 else -v
    keys = np.empty(len(ev), dtype=np.int64)
    n = 0
    for g in range(G):
        a = count[g]
        b = count[g + 1]
        m = b - a
        if window >= 0 and m > 1:
            m = _tkill_inplace(peaks[a:b], heights[a:b], window)
        for j in range(a, a + m):
            if lo <= peaks[j] < hi:
                keys[n] = peaks[j] * C + g // 2
                n += 1
    keys = np.sort(keys[:n])
    return keys // C, keys % C


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def chunk_var(x, chunksize):
    """Population variance of each whole chunk of `x`; chunks holding NaN
    or ±inf are left out. Sums run in float64 whatever the input.

    One pass per chunk: sums of ``x - x[first]`` and of their squares
    (shifting by the chunk's first sample keeps the variance formula free
    of cancellation). Reassociation lets LLVM vectorize the sums; NaN
    handling is kept exact (no ``nnan`` fast-math flag). Variances, not
    RMS values: the square root is monotonic, so callers that want one
    order statistic take the root of that one value only.
    """
    nchunks = len(x) // chunksize
    out = np.empty(nchunks, dtype=np.float64)
    inv = 1.0 / chunksize
    k = 0
    c0 = 0
    if chunksize < 64:
        # Short chunks: per-chunk overhead dominates, and two chunks summed
        # side by side give the core two independent chains (~12 % faster
        # at 30; slower for long chunks). The sums are the same.
        while c0 + 1 < nchunks:
            a = x[c0 * chunksize : (c0 + 1) * chunksize]
            b = x[(c0 + 1) * chunksize : (c0 + 2) * chunksize]
            shift_a = np.float64(a[0])
            shift_b = np.float64(b[0])
            sa = 0.0
            qa = 0.0
            sb = 0.0
            qb = 0.0
            for i in range(chunksize):
                d = np.float64(a[i]) - shift_a
                e = np.float64(b[i]) - shift_b
                sa += d
                qa += d * d
                sb += e
                qb += e * e
            var = (qa - sa * sa * inv) * inv
            out[k] = var if var > 0 else 0.0
            k += np.int64(np.isfinite(var))
            var = (qb - sb * sb * inv) * inv
            out[k] = var if var > 0 else 0.0
            k += np.int64(np.isfinite(var))
            c0 += 2
    for c in range(c0, nchunks):
        chunk = x[c * chunksize : (c + 1) * chunksize]
        shift = np.float64(chunk[0])
        s = 0.0
        ss = 0.0
        for i in range(chunksize):  # a slice and range() let LLVM vectorize
            d = np.float64(chunk[i]) - shift
            s += d
            ss += d * d
        # A NaN or ±inf anywhere in the chunk makes `s` NaN or infinite
        # (inf - inf, or an infinite sum), and so the variance; so does a
        # chunk whose sums overflow float64. None of them has a meaningful
        # RMS; the slot is simply reused (no branch per chunk).
        var = (ss - s * s * inv) * inv
        out[k] = var if var > 0 else 0.0
        k += np.int64(np.isfinite(var))
    return out[:k]  # a view: a copy would cost fresh pages for nothing


@njit(**_JIT)
def kth_smallest(values, k):
    """The `k`-th smallest (0-based) of `values` (no NaN), exactly.

    A strided sample of the values brackets the wanted rank; one
    branch-free counting pass checks the bracket and a second copies the
    few values inside it, which are then partitioned. Much faster than a
    full ``np.partition`` of hundreds of thousands of values; if the sample
    misleads (a bracket that does not hold rank `k`), the full partition
    is the fallback, so the result is exact either way.
    """
    n = len(values)
    if n <= 8192:
        return np.partition(values.copy(), k)[k]
    m = 4096
    step = n // m
    sample = np.empty(m, dtype=values.dtype)
    for i in range(m):
        sample[i] = values[i * step]
    sample.sort()
    r = (k * m) // n
    margin = 160  # ~5 standard deviations of the sample rank at worst
    lo = sample[r - margin] if r >= margin else -np.inf
    hi = sample[r + margin] if r + margin < m else np.inf
    below = 0
    inside = 0
    for i in range(n):
        v = values[i]
        below += np.int64(v < lo)
        inside += np.int64((v >= lo) & (v <= hi))
    if not (below <= k < below + inside):
        return np.partition(values.copy(), k)[k]
    cand = np.empty(inside + 1, dtype=values.dtype)
    j = 0
    for i in range(n):
        v = values[i]
        cand[j] = v
        j += np.int64((v >= lo) & (v <= hi))
    return np.partition(cand[:inside], k - below)[k - below]


# --------------------------------------------------------------------------- whole recordings
# The kernels below read an interleaved recording (scan-major, C channels)
# as the flat array of its file, in blocks of scans that never straddle a
# sweep. Samples are scaled as ``Recording.data`` scales them (one multiply
# in the file's dtype), so results equal the per-channel functions'.


@njit(**_JIT)
def _grow_rows(a):
    b = np.empty((2 * a.shape[0], a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(**_JIT)
def block_stats(xf, C, gtile, bstart, blen, full, rms):
    """Population RMS of each whole block of each channel, the root of what
    :func:`chunk_var` computes (shifted one-pass sums in float64), into
    ``rms[b, c]``; NaN for a block shorter than `full` or holding NaN/inf.

    `gtile` is the per-channel gain repeated ``q`` times (``W = q * C``
    elements): rows of ``q`` scans are then contiguous, branch-free runs of
    ``W`` samples, which LLVM vectorizes. Blocks start at scan
    ``bstart[b]`` and hold ``blen[b]`` scans.
    """
    W = len(gtile)
    q = W // C
    acc_s = np.empty(W)
    acc_ss = np.empty(W)
    shift = np.empty(W)
    col_of = np.empty(W, dtype=np.int64)  # a table: divisions per block cost more
    for w in range(W):
        col_of[w] = w % C
    for b in range(len(bstart)):
        base = bstart[b] * C
        n = blen[b]
        if n != full:
            for c in range(C):
                rms[b, c] = np.nan
            continue
        for w in range(W):
            shift[w] = np.float64(xf[base + col_of[w]] * gtile[w])
            acc_s[w] = 0.0
            acc_ss[w] = 0.0
        rows = n // q
        for r in range(rows):
            row = xf[base + r * W : base + (r + 1) * W]  # a slice: vectorizes
            for w in range(W):
                d = np.float64(row[w] * gtile[w]) - shift[w]
                acc_s[w] += d
                acc_ss[w] += d * d
        tail = xf[base + rows * W : base + n * C]
        for i in range(len(tail)):
            d = np.float64(tail[i] * gtile[i]) - shift[i]
            acc_s[i] += d
            acc_ss[i] += d * d
        for c in range(C):
            s = 0.0
            ss = 0.0
            for k in range(q):
                s += acc_s[k * C + c]
                ss += acc_ss[k * C + c]
            if not (np.isfinite(s) and np.isfinite(ss)):
                rms[b, c] = np.nan
            else:
                var = (ss - s * s / n) / n
                rms[b, c] = np.sqrt(var) if var > 0 else 0.0


# Samples per row of the recording detector's first test. Wider rows were
# measured slower: more of them hold a candidate, and each such row is
# scanned whole again.
_WIDE = 64


@njit(**_JIT)
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
                        if (polarity >= 0 and tt >= pos[k, 0] and _at_or_above(v, 1, thr[k])):
                            sign = 1
                            s = 0
                        elif (polarity <= 0 and tt >= pos[k, 1] and _at_or_above(v, -1, thr[k])):
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
                            if _at_or_below(y, sign, 0.0):
                                break
                            if _higher(y, bestv, sign):
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


@njit(**_JIT)
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
        out = _grow_rows(out)
    return out[: state[2]].copy()
