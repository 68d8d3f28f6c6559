"""Chunk variances and order statistics: the noise estimate's kernels."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import JIT

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


@njit(**JIT)
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




@njit(**JIT)
def block_stats(xf, C, gtile, bstart, blen, full, var):
    """Population variance of each whole block of each channel, as
    :func:`chunk_var` computes it (shifted one-pass sums in float64), into
    ``var[b, c]`` (float64 or float32); NaN for a block shorter than `full`
    or holding NaN/inf.

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
                var[b, c] = np.nan
            continue
        for w in range(W):
            shift[w] = np.float64(xf[base + col_of[w]] * gtile[w])
            acc_s[w] = 0.0
            acc_ss[w] = 0.0
        rows = n // q
        # Two rows per step: the accumulators live in memory (W of them), so
        # each step loads and stores them once for two rows' samples. Halving
        # that traffic measured 1.4x faster compiled for generic x86-64 (SSE2),
        # ~1.1x for haswell and znver5 (Zen 5); four rows per step helped
        # haswell more but slowed znver5. Adding the two rows' terms first is
        # pairwise summation: no less accurate than one row at a time.
        r = 0
        while r + 2 <= rows:
            row = xf[base + r * W : base + (r + 1) * W]  # slices: vectorizes
            nxt = xf[base + (r + 1) * W : base + (r + 2) * W]
            for w in range(W):
                d = np.float64(row[w] * gtile[w]) - shift[w]
                e = np.float64(nxt[w] * gtile[w]) - shift[w]
                acc_s[w] += d + e
                acc_ss[w] += d * d + e * e
            r += 2
        if r < rows:
            row = xf[base + r * W : base + (r + 1) * W]
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
                var[b, c] = np.nan
            else:
                v = (ss - s * s / n) / n
                var[b, c] = v if v > 0 else 0.0


# Samples per row of the recording detector's first test. Wider rows were
# measured slower: more of them hold a candidate, and each such row is
