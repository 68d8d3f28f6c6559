"""The argument checks of the analysis functions, each written once.

Every public function that takes a threshold, polarity, ``tkill``,
``upperthresh``, noise chunk size or percentile, ``k`` or a number of jobs
checks it here, so that one rule gives one error message everywhere (the
array functions, :class:`escope.Recording`, the engine, the folder
functions and the SpikeInterface node).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

__all__ = ["threshold", "polarity", "tkill", "upperthresh", "noise_args", "k", "jobs",
           "positive_int", "nonnegative_duration"]


def threshold(value: Any) -> float:
    """A detection threshold: a positive finite number."""
    try:
        thr = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a positive finite number, not {value!r}") from None
    if not (math.isfinite(thr) and thr > 0):
        raise ValueError(f"threshold must be a positive finite number, not {value!r}")
    return thr


def polarity(value: Any) -> int:
    """1 (positive spikes), -1 (negative) or 0 (both)."""
    if isinstance(value, bool) or value not in (-1, 0, 1):
        raise ValueError(f"polarity must be -1, 0 or 1, not {value!r}")
    return int(value)


def tkill(value: Any) -> float | None:
    """The pruning window in samples: None or a non-negative number."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not value >= 0):
        raise ValueError(f"tkill must be None or a non-negative number, not {value!r}")
    return float(value)


def upperthresh(value: Any) -> float | None:
    """None or a positive number (peaks at or above it are rejected)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not number > 0:
        raise ValueError(f"upperthresh must be None or a positive number, not {value!r}")
    return number


def noise_args(chunksize: Any, percentile: Any) -> tuple[int, float]:
    """rmsnoise's chunk size (an integer >= 2) and percentile (in [0, 100])."""
    if isinstance(chunksize, bool) or not isinstance(chunksize, (int, np.integer)) or chunksize < 2:
        raise ValueError(f"chunksize must be an integer >= 2, not {chunksize!r}")
    try:
        pct = float(percentile)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"percentile must be a number in [0, 100], not {percentile!r}") from None
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be in [0, 100], not {percentile!r}")
    return int(chunksize), pct


def k(value: Any) -> float:
    """`k` (a threshold in multiples of the noise): a positive finite float."""
    number = (float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool)
              else math.nan)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"k must be a positive finite number, not {value!r}")
    return number


def jobs(value: Any) -> int:
    """A number of threads: a positive integer, or None for all cores."""
    if value is None:
        return os.cpu_count() or 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"n_jobs must be a positive integer or None, not {value!r}")
    return int(value)


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer of at least `minimum`, named `name` in the error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def nonnegative_duration(value: Any, name: str, unit: str = "seconds") -> float:
    """A finite duration >= 0 (not a bool), in `unit`, named `name` in the error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a non-negative number of {unit}, not {value!r}")
    return number
