"""Threshold crossings and peaks: Schmitt triggers on 1-D signals.

Examples
--------
>>> import numpy as np
>>> from escope import peakx
>>> x = np.array([0, 1, 0.2, 0, 1, 1, 0.5, 0.1])
>>> peakx.schmitt(x)
(array([1, 4]), array([2, 7]))
>>> ion, ioff = peakx.schmitt(x, 0.9, 0.4)
>>> peakx.schmittpeak(x, ion, ioff)
array([1, 4])
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

__all__ = ["ENDTYPE", "STARTTYPE", "schmitt", "schmittpeak", "schmitt2"]


class ENDTYPE(enum.IntEnum):
    """What :func:`schmitt` does with an event still high at the end of the data."""

    #: Drop it.
    DROP_PARTIAL = 0
    #: Keep its up-crossing without a down-crossing (one more ``ion`` than ``ioff``).
    BROKEN_PARTIAL = 1
    #: Close it at ``len(data)``.
    INCLUDE_PARTIAL = 2


class STARTTYPE(enum.IntEnum):
    """What :func:`schmitt` does with an event already high at index 0."""

    #: Drop it.
    DROP_PARTIAL = 0
    #: Report it with ``ion[0] = 0``.
    INCLUDE_PARTIAL = 1


def as_signal(data: Any, name: str = "data", ndim: tuple[int, ...] = (1,)) -> np.ndarray:
    """Check that `data` is a real numeric array of an allowed dimension and
    return it, without copying for the dtypes the kernels take as they are
    (native-order integers of any width, signed or not, float32, float64;
    booleans are viewed as uint8). float16 and byte-swapped data are
    converted (exactly); long double is refused rather than rounded."""
    arr = np.asarray(data)
    if arr.dtype.kind == "b":
        arr = arr.view(np.uint8)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be real numbers, not {arr.dtype}")
    if arr.ndim not in ndim:
        dims = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {dims}, not {arr.ndim}-D")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        raise ValueError(f"{name}: {arr.dtype} is not supported (convert it to float64 "
                         "knowing that this rounds)")
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
        arr = arr.astype(np.float32)  # exact: numba has no float16 arithmetic
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _threshold(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if v != v:
        raise ValueError(f"{name} must not be NaN")
    return v


def schmitt(
    data: Any,
    thr_on: float | None = None,
    thr_off: float | None = None,
    endtype: ENDTYPE = ENDTYPE.INCLUDE_PARTIAL,
    starttype: STARTTYPE = STARTTYPE.INCLUDE_PARTIAL,
) -> tuple[np.ndarray, np.ndarray]:
    """Find the up- and down-crossings of a Schmitt trigger.

    Starting low, a sample at or above `thr_on` is an up-crossing; after it,
    the first sample at or below `thr_off` is the down-crossing. NaN samples
    never cross.

    Parameters
    ----------
    data : array_like, 1-D
        Numbers or booleans.
    thr_on : float, optional
        Upper threshold; default 2/3 (True for boolean data).
    thr_off : float, optional
        Lower threshold, at most `thr_on`; default ``thr_on / 2`` (False for
        boolean data).
    endtype : ENDTYPE
        Treatment of an event still high at the end (see :class:`ENDTYPE`).
    starttype : STARTTYPE
        Treatment of an event already high at index 0 (see :class:`STARTTYPE`).

    Returns
    -------
    ion, ioff : ndarray of int64
        Indices of the up-crossings and of the down-crossings.

    Examples
    --------
    >>> schmitt([1, 1, 0, 0, 1, 0.5], endtype=ENDTYPE.BROKEN_PARTIAL)
    (array([0, 4]), array([2]))
    >>> schmitt([1, 1, 0, 0, 1, 0.5], starttype=STARTTYPE.DROP_PARTIAL)
    (array([4]), array([6]))
    """
    from .kernels import schmitt as kernels

    is_bool = np.asarray(data).dtype.kind == "b"
    x = as_signal(data)
    if thr_on is None:
        thr_on = 1 if is_bool else 2 / 3
    thr_on = _threshold(thr_on, "thr_on")
    if thr_off is None:
        thr_off = 0 if is_bool else thr_on / 2
    thr_off = _threshold(thr_off, "thr_off")
    if thr_off > thr_on:
        raise ValueError(f"thr_off ({thr_off}) must not exceed thr_on ({thr_on})")
    endtype, starttype = ENDTYPE(endtype), STARTTYPE(starttype)
    ion, ioff, is_open = kernels.schmitt(x, 1, thr_on, thr_off)
    if is_open and endtype != ENDTYPE.INCLUDE_PARTIAL:
        ioff = ioff[:-1]
        if endtype == ENDTYPE.DROP_PARTIAL:
            ion = ion[:-1]
    if starttype == STARTTYPE.DROP_PARTIAL and len(ion) and ion[0] == 0:
        ion, ioff = ion[1:], ioff[1:]
    return ion, ioff


def _windows(n: int, ion: Any, ioff: Any) -> tuple[np.ndarray, np.ndarray]:
    ion = np.asarray(ion, dtype=np.int64).ravel()
    ioff = np.asarray(ioff, dtype=np.int64).ravel()
    if len(ion) != len(ioff):
        raise ValueError(f"ion and ioff differ in length ({len(ion)} vs {len(ioff)})")
    if len(ion) and (ion.min() < 0 or ioff.max() > n or np.any(ioff <= ion)):
        raise ValueError(f"each window must satisfy 0 <= ion < ioff <= {n}")
    return ion, ioff


def schmittpeak(data: Any, ion: Any, ioff: Any) -> np.ndarray:
    """Index of the maximum of `data` in each window ``[ion, ioff)``.

    The first index wins ties; NaN is never a maximum.

    Examples
    --------
    >>> schmittpeak([0, 3, 5, 5, 1, 9], [1, 4], [4, 6])
    array([2, 5])
    """
    from .kernels import schmitt as kernels

    x = as_signal(data)
    ion, ioff = _windows(len(x), ion, ioff)
    return kernels.schmittpeak(x, 1, ion, ioff)


def schmitt2(
    data: Any, thr_a: float, thr_b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-level crossings: the peaks above `thr_a` and their runs above `thr_b`.

    A run is a stretch of samples above `thr_b`, ended by the first sample at
    or below `thr_b`. For each run that reaches `thr_a` this returns the
    first index at or above `thr_a`, one past the last such index, the
    run's first index and the index that ends it (``len(data)`` if it is
    still open at the end).

    Parameters
    ----------
    data : array_like, 1-D
    thr_a : float
        Upper level.
    thr_b : float
        Lower level, below `thr_a`.

    Returns
    -------
    on_a, off_a, on_b, off_b : ndarray of int64

    Examples
    --------
    >>> schmitt2([0, 1, 3, 1, 3, 0, 2, 0], 2.5, 0.5)
    (array([2]), array([5]), array([1]), array([5]))
    """
    from .kernels import schmitt as kernels

    x = as_signal(data)
    thr_a, thr_b = _threshold(thr_a, "thr_a"), _threshold(thr_b, "thr_b")
    if not thr_b < thr_a:
        raise ValueError(f"thr_b ({thr_b}) must be below thr_a ({thr_a})")
    return kernels.schmitt2(x, thr_a, thr_b)
