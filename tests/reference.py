"""Plain Python/NumPy reference implementations, written from the issue's
semantics (not from the kernels), for the property tests to compare against.

Slow on purpose: every step is spelled out the way the specification says it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def schmitt(z, thr_on, thr_off):
    """Events of a Schmitt trigger starting low; (ion, ioff, open_at_end)."""
    z = [float(v) for v in z]  # exact comparisons, as mathematics would
    ion, ioff, high = [], [], False
    for i, v in enumerate(z):
        if not high and v >= thr_on:
            ion.append(i)
            high = True
        elif high and v <= thr_off:
            ioff.append(i)
            high = False
    if high:
        ioff.append(len(z))
    return ion, ioff, high


def argmax_first(z, lo, hi):
    best = None
    for i in range(lo, hi):
        if math.isnan(z[i]):
            continue
        if best is None or z[i] > z[best]:
            best = i
    return best


def tkill(peaks, heights, window):
    peaks, h = list(peaks), list(heights)
    while True:
        for k in range(len(peaks) - 1):
            if peaks[k + 1] - peaks[k] < window:
                if h[k] < h[k + 1]:
                    h[k] = 0
                else:
                    h[k + 1] = 0
        kept = [(p, v) for p, v in zip(peaks, h) if v != 0]
        if len(kept) == len(peaks):
            return peaks
        peaks, h = [p for p, _ in kept], [v for _, v in kept]


def detectspikes(yy, threshold, polarity=0, tkill_=50, upperthresh=None):
    yy = np.asarray(yy)
    if yy.ndim == 2:
        return [detectspikes(row, threshold, polarity, tkill_, upperthresh) for row in yy]
    values = [float(v) for v in yy]
    found = []
    for sign in ((1, -1) if polarity == 0 else (polarity,)):
        z = [sign * v for v in values]
        ion, ioff, _ = schmitt(z, threshold, 0.0)
        peaks = [argmax_first(z, a, b) for a, b in zip(ion, ioff)]
        if tkill_ is not None:
            peaks = tkill(peaks, [z[p] for p in peaks], tkill_)
        found += peaks
    found.sort()
    if upperthresh is not None:
        found = [p for p in found if abs(values[p]) < upperthresh]
    return np.array(found, dtype=np.int64)


def peakx_schmitt(data, thr_on, thr_off, endtype=2, starttype=1):
    ion, ioff, is_open = schmitt(np.asarray(data, dtype=float), thr_on, thr_off)
    if is_open and endtype != 2:
        ioff = ioff[:-1]
        if endtype == 0:
            ion = ion[:-1]
    if starttype == 0 and ion and ion[0] == 0:
        ion, ioff = ion[1:], ioff[1:]
    return np.array(ion, dtype=np.int64), np.array(ioff, dtype=np.int64)


def schmitt2(data, thr_a, thr_b):
    x = [float(v) for v in data]
    rows = []
    i, n = 0, len(x)
    while i < n:
        if x[i] > thr_b:
            start = i
            j = i
            while j < n and not x[j] <= thr_b:
                j += 1
            a = [k for k in range(start, j) if x[k] >= thr_a]
            if a:
                rows.append((a[0], a[-1] + 1, start, j))
            i = j + 1 if j < n else n
        else:
            i += 1
    out = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return tuple(out[:, k] for k in range(4))


def rmsnoise(dat, chunksize=300, percentile=25):
    """The issue's rmsnoise, with scipy's chi2 for the Gaussian reference."""
    dat = np.asarray(dat, dtype=np.float64)
    rows = dat if dat.ndim == 2 else dat[None]
    values = []
    for row in rows:
        for c in range(len(row) // chunksize):
            chunk = row[c * chunksize:(c + 1) * chunksize]
            if np.isnan(chunk).any():
                continue
            values.append(np.sqrt(np.mean((chunk - chunk.mean()) ** 2)))
    n = len(values)
    k = min(int(percentile * n / 100 + 0.5), n - 1)
    value = sorted(values)[k]
    p = (k + 2 / 3) / (n + 1 / 3)
    ref = math.sqrt(stats.chi2.ppf(p, chunksize - 1) / chunksize)
    return value / ref


def cleancontext(idx, dat, test, testabs, thr, absthr):
    dat = np.asarray(dat, dtype=float)
    kept = []
    for t in idx:
        if not 0 <= t < len(dat):
            continue
        h = dat[t]
        ok = True
        if thr is not None:
            for r in test:
                for o in r:
                    if not 0 <= t + o < len(dat):
                        ok = False
                    elif (h >= 0 and dat[t + o] > thr * h) or (h < 0 and dat[t + o] < thr * h):
                        ok = False
        if absthr is not None:
            for r in testabs:
                for o in r:
                    if not 0 <= t + o < len(dat):
                        ok = False
                    elif abs(dat[t + o]) > absthr * abs(h):
                        ok = False
        if ok:
            kept.append(t)
    return np.array(kept, dtype=np.int64)
