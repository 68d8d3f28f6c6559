"""Numba kernels: one small kernel per concept.

Imported only by :mod:`escope.peakx` and :mod:`escope.spikex` when a function
that needs it is first called, so ``import escope`` never loads numba. Every
kernel is compiled lazily for the array types it meets (float32 stays
float32; strided and read-only arrays work without copies), cached on disk
(``cache=True``), and releases the GIL (``nogil=True``) so that channels can
be processed on several cores by plain threads.

The public functions validate their arguments and dispatch here; the tests
compare each kernel with a plain NumPy reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


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


@njit(**_JIT)
def tkill(peaks, heights, window):
    """Prune peaks closer than `window`: in repeated passes the lower of
    two close neighbours gets height 0 (the later one on ties); zeroed
    peaks are removed after each pass, until a pass removes nothing."""
    idx = peaks.copy()
    h = heights.copy()
    n = len(idx)
    while True:
        for k in range(n - 1):
            if idx[k + 1] - idx[k] < window:
                if h[k] < h[k + 1]:
                    h[k] = 0
                else:
                    h[k + 1] = 0
        m = 0
        for k in range(n):
            if h[k] != 0:
                idx[m] = idx[k]
                h[m] = h[k]
                m += 1
        if m == n:
            return idx[:n].copy()
        n = m


@njit(**_JIT)
def tkill_groups(group, peaks, heights, window):
    """:func:`tkill` on each run of equal `group` values (runs contiguous,
    each in ascending time order); returns a mask of the peaks kept. One
    call instead of one per channel and sign."""
    keep = np.zeros(len(peaks), dtype=np.bool_)
    start = 0
    while start < len(peaks):
        stop = start + 1
        while stop < len(peaks) and group[stop] == group[start]:
            stop += 1
        kept = tkill(peaks[start:stop], heights[start:stop], window)
        j = 0
        for i in range(start, stop):  # both ascending: one merge-like walk
            if j < len(kept) and peaks[i] == kept[j]:
                keep[i] = True
                j += 1
        start = stop
    return keep


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def chunk_rms(x, chunksize):
    """Population standard deviation of each whole chunk of `x`; chunks
    holding NaN or ±inf are left out. Sums run in float64 whatever the input.

    One pass per chunk: sums of ``x - x[first]`` and of their squares
    (shifting by the chunk's first sample keeps the variance formula free
    of cancellation). Reassociation lets LLVM vectorize the sums; NaN
    handling is kept exact (no ``nnan`` fast-math flag).
    """
    nchunks = len(x) // chunksize
    out = np.empty(nchunks, dtype=np.float64)
    k = 0
    for c in range(nchunks):
        chunk = x[c * chunksize : (c + 1) * chunksize]
        shift = np.float64(chunk[0])
        s = 0.0
        ss = 0.0
        for i in range(chunksize):  # a slice and range() let LLVM vectorize
            d = np.float64(chunk[i]) - shift
            s += d
            ss += d * d
        # A NaN or ±inf anywhere in the chunk makes `s` NaN or infinite
        # (inf - inf, or an infinite sum); so does a chunk whose sums
        # overflow float64. None of them has a meaningful RMS.
        if not (np.isfinite(s) and np.isfinite(ss)):
            continue
        var = (ss - s * s / chunksize) / chunksize
        out[k] = np.sqrt(var) if var > 0 else 0.0
        k += 1
    return out[:k].copy()


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
    """Population RMS of each whole block of each channel, as
    :func:`chunk_rms` computes it (shifted one-pass sums in float64), into
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
    for b in range(len(bstart)):
        base = bstart[b] * C
        n = blen[b]
        if n != full:
            for c in range(C):
                rms[b, c] = np.nan
            continue
        for w in range(W):
            shift[w] = np.float64(xf[base + w % C] * gtile[w])
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


@njit(**_JIT)
def _walk(xf, C, col, g, sign, t, v, end):
    """Close the event opened at scan `t` (value `v`): the first later scan
    with ``sign * y <= 0`` before `end`, and the event's peak."""
    best = t
    bestv = v
    j = t + 1
    while j < end:
        w = xf[j * C + col] * g
        if _at_or_below(w, sign, 0.0):
            break
        if _higher(w, bestv, sign):
            best = j
            bestv = w
        j += 1
    return j, best


@njit(**_JIT)
def detect_blocks(xf, C, cols, gtile, thr, polarity, bstart, blen, bend, pos):
    """Schmitt events (on at ``sign * y >= thr``, off at ``sign * y <= 0``)
    of each channel and sign whose opening lies in the given blocks, with
    the peak of each (largest ``sign * y``, first on ties, NaN never).

    Channel ``k`` is column ``cols[k]`` of the file; samples are scaled by
    `gtile` (the gain of every file column, repeated over a row of ``q``
    scans, as for :func:`block_stats`). A branch-free count over each row
    of ``q`` scans finds the few samples whose ``|y|`` may reach their
    channel's threshold, and only those are checked exactly. An event's closing is searched past the block, up to
    ``bend[b]`` (the end of its sweep: events never cross sweeps; one still
    open there closes at ``bend[b]``). ``pos[k, s]`` is the first scan at
    which channel ``k``, sign ``s`` (0: positive, 1: negative) may open; it
    is updated, so that a later call continues where this one stopped.

    Returns rows ``(k, s, ion, ioff, peak)`` (file scans), in time order
    for each ``(k, s)``.
    """
    W = len(gtile)
    q = W // C
    K = len(cols)
    k_of_col = np.full(C, -1, dtype=np.int64)
    for k in range(K):
        k_of_col[cols[k]] = k
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
    for c in range(C):
        k = k_of_col[c]
        # NaN, not inf: an infinite sample must not count on a column that
        # is not looked at (nothing is >= NaN).
        value = thr_low[k] if k >= 0 else gtile.dtype.type(np.nan)
        for r in range(q):
            thr_tile[r * C + c] = value
    out = np.empty((64, 5), dtype=np.int64)
    n = 0
    for b in range(len(bstart)):
        b0 = bstart[b]
        b1 = b0 + blen[b]
        end = bend[b]
        for t in range(b0, b1, q):
            m = min(W, (b1 - t) * C)
            row = xf[t * C : t * C + m]
            hits = np.int32(0)
            for w in range(m):  # branch-free: vectorizes
                hits += np.int32(abs(row[w] * gtile[w]) >= thr_tile[w])
            if hits == 0:
                continue
            for w in range(m):
                if not abs(row[w] * gtile[w]) >= thr_tile[w]:
                    continue
                col = w % C
                k = k_of_col[col]
                tt = t + w // C
                g = gtile[col]
                v = row[w] * g
                for s in range(2):
                    sign = 1 if s == 0 else -1
                    if polarity != 0 and polarity != sign:
                        continue
                    if tt < pos[k, s] or not _at_or_above(v, sign, thr[k]):
                        continue
                    j, best = _walk(xf, C, col, g, sign, tt, v, end)
                    if n == out.shape[0]:
                        out = _grow_rows(out)
                    out[n, 0] = k
                    out[n, 1] = s
                    out[n, 2] = tt
                    out[n, 3] = j
                    out[n, 4] = best
                    n += 1
                    # The closing sample cannot open the next event; at
                    # the end of a sweep there is no such sample.
                    pos[k, s] = j + 1 if j < end else j
        for k in range(K):
            for s in range(2):
                if pos[k, s] < b1:
                    pos[k, s] = b1
    return out[:n].copy()
