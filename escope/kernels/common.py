"""What the kernels share: compile options, output buffers that grow, and
comparisons that never negate a sample.

``sign * x`` is never computed: negating the most negative integer of a
dtype (-128 in int8, -2**63 in int64) overflows and would turn a large
negative spike positive. Comparisons against ``sign * thr`` are exact for
every dtype; the sign test is loop-invariant, so LLVM hoists it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

#: Every kernel: cached on disk, and releasing the GIL so that plain threads
#: run channels or parts of a file on several cores.
JIT = dict(cache=True, nogil=True)

ROW = 64  # samples per row of the detectors: one bit each in a uint64 mask


@njit(**JIT)
def resize(a, used, size):
    """A new array of `size` elements holding the first `used` of `a`."""
    b = np.empty(size, dtype=a.dtype)
    b[:used] = a[:used]
    return b


@njit(**JIT)
def predicted(used, rows_done, rows_total, size, most):
    """Room for `used` items found in `rows_done` of `rows_total` rows, at
    that rate over the whole trace plus 10 %, at least twice `size`, at
    most `most`."""
    guess = used * (rows_total / max(rows_done, 1)) * 1.1 + 4 * ROW
    return min(max(2 * size, np.int64(min(guess, 2.0**62))), most)


@njit(**JIT)
def grow(a):
    b = np.empty(2 * len(a), dtype=a.dtype)
    b[: len(a)] = a
    return b



def is_float(x):
    """Whether array `x` holds floats: a constant where a kernel is
    compiled (each dtype gets its own machine code), so a branch on it costs
    nothing."""
    return x.dtype.kind == "f"


@overload(is_float, inline="always")
def _is_float(x):
    answer = isinstance(x.dtype, types.Float)
    return lambda x: answer


@njit(inline="always")
def at_or_above(v, sign, thr):
    """``sign * v >= thr``, without negating `v`."""
    return v >= thr if sign > 0 else v <= -thr


@njit(inline="always")
def at_or_below(v, sign, thr):
    """``sign * v <= thr``, without negating `v`."""
    return v <= thr if sign > 0 else v >= -thr


@njit(inline="always")
def higher(a, b, sign):
    """``sign * a > sign * b``, without negating."""
    return a > b if sign > 0 else a < b



#: Bytes Linux maps at once when a page of a file mapping is first read
#: (``fault_around_bytes``, 64 KiB by default).
FAULT_AROUND = 1 << 16


@njit(**JIT)
def touch(x, step):
    """Read every `step`-th element of `x` (how many are non-zero, so that
    the reads are not optimized away).

    Reading one sample per 64 KiB of a freshly mapped block before a kernel
    runs on it takes the block's page faults in this light loop instead of
    inside the kernel: measured on a Zen 5 virtual machine, the noise pass
    over a fresh map of 576 MB went from 90 to 64 ms (compiled for
    haswell; 33 ms on a map whose pages were mapped already). A step of one
    page, or of two or more windows, gained nothing or little."""
    n = 0
    for i in range(0, len(x), step):
        n += x[i] != 0
    return n


@njit(**JIT)
def grow_rows(a):
    b = np.empty((2 * a.shape[0], a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b
