"""What `rmsnoise`'s order statistic is for unit Gaussian white noise.

The population standard deviation of a chunk of ``m`` samples of unit
Gaussian noise is ``sqrt(X / m)`` with ``X`` chi-square distributed with
``m - 1`` degrees of freedom. The ``K``-th smallest (0-based) of ``N`` such
chunk values sits, in median, at probability ``p = (K + 2/3) / (N + 1/3)``
of that distribution (the usual median-unbiased plotting position of an
order statistic). Its value is found without random numbers: a
Wilson-Hilferty start from :class:`statistics.NormalDist`, refined by Newton
steps on the exact regularized incomplete gamma function.
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist


def _gammainc(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) (series / continued fraction)."""
    if x <= 0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return total * math.exp(log_front)
    # Lentz's continued fraction for Q(a, x).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return 1.0 - h * math.exp(log_front)


def chi2_quantile(p: float, df: float) -> float:
    """Quantile of the chi-square distribution with `df` degrees of freedom."""
    z = NormalDist().inv_cdf(p)
    c = 2 / (9 * df)
    x = df * max(1 - c + z * math.sqrt(c), 1e-3) ** 3
    a = df / 2
    for _ in range(100):
        cdf = _gammainc(a, x / 2)
        pdf = math.exp((a - 1) * math.log(x / 2) - x / 2 - math.lgamma(a)) / 2
        if pdf <= 0:
            break
        step = (cdf - p) / pdf
        new = x - step
        x = new if new > 0 else x / 2
        if abs(step) < 1e-13 * x:
            break
    return x


def noise_rank(nchunks: int, percentile: float) -> int:
    """Which chunk (0-based, in ascending order) the noise estimate takes:
    ``K = int(percentile * N / 100 + 0.5)``, at most ``N - 1``.

    Examples
    --------
    >>> noise_rank(1000, 25), noise_rank(3, 100)
    (250, 2)
    """
    return min(int(percentile * nchunks / 100 + 0.5), nchunks - 1)


@functools.lru_cache(maxsize=1024)
def gaussian_reference(chunksize: int, nchunks: int, percentile: float) -> float:
    """Expected `rmsnoise` order statistic for unit-variance Gaussian noise.

    Examples
    --------
    >>> round(gaussian_reference(300, 1000, 25), 4)
    0.9699
    """
    k = noise_rank(nchunks, percentile)
    p = (k + 2 / 3) / (nchunks + 1 / 3)
    return math.sqrt(chi2_quantile(p, chunksize - 1) / chunksize)
