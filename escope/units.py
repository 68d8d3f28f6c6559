"""Physical units of EScope channels, built on :mod:`quantities`.

EScope stores one scale string per channel, such as ``"1 mV"`` or
``"2.5e-05 V"``: the physical value that a stored sample of 1.0 means. This
module parses those strings and converts between units. Unit names are those
of :mod:`quantities`; the three spellings of micro that appear in EScope
files (``u``, the micro sign ``µ`` and the Greek mu ``μ``) are all accepted.

Examples
--------
>>> from escope.units import Units
>>> Units(3.0, "1 mV").asunits("uV")
3000.0
>>> Units("0.1 V").asunits("mV")
100.0
>>> Units("100 pA").definition()
1e-10
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

__all__ = ["Units", "UnitLike", "normalize", "parse_scale", "parse_channel_scale",
           "unit_kind", "conversion_factor", "si_unit"]

#: A unit given as a string (``"mV"``) or as a :mod:`quantities` unit (``pq.mV``).
UnitLike = Any

_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})
# The SI prefixes (a standard, not a table of units): the units themselves
# always come from quantities.
#: SI prefixes EScope units use, and their factors.
SI_PREFIXES = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3,
                "k": 1e3, "M": 1e6, "G": 1e9}
#: A prefixed volt or ampere, micro spelled ``u`` (what :func:`normalize` gives).
ESCOPE_UNIT_RE = re.compile(r"^[fpnumkMG]?[VA]$")
_UNIT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALE_RE = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$"
)


def _pq():
    # quantities costs ~35 ms to import; only pay for it when units are used.
    import quantities

    return quantities


def normalize(unit: UnitLike) -> str:
    """Return the canonical spelling of a unit: ASCII ``u`` for micro.

    Parameters
    ----------
    unit : str or quantities unit
        For example ``"µV"``, ``"μA"`` or ``pq.uV``.

    Returns
    -------
    str
        ``"uV"``, ``"uA"``, ... The unit is checked with :mod:`quantities`.

    Raises
    ------
    ValueError
        If :mod:`quantities` does not know the unit.

    Examples
    --------
    >>> normalize("µV")
    'uV'
    """
    if not isinstance(unit, str):
        dim = getattr(unit, "dimensionality", None)
        if dim is None:
            raise ValueError(f"not a unit: {unit!r}")
        magnitude = float(getattr(unit, "magnitude", 1.0))
        if magnitude != 1.0:
            raise ValueError(f"not a plain unit (magnitude {magnitude}): {unit!r}")
        unit = dim.string
    text = unit.strip().translate(_MICRO)
    # The units EScope itself offers (prefixed volts and amperes) are known
    # without importing quantities, which keeps opening a file in the
    # low milliseconds; anything else is checked by quantities.
    if not ESCOPE_UNIT_RE.match(text):
        _unit_quantity(text)
    return text


@functools.lru_cache(maxsize=256)
def _unit_quantity(text: str):
    pq = _pq()
    # quantities eval()s unit names: only hand it plain identifiers.
    if not _UNIT_RE.match(text) or text == "dimensionless":
        raise ValueError(f"unknown unit {text!r}")
    try:
        return pq.Quantity(1.0, text)
    except Exception:  # quantities raises LookupError, ValueError, ...
        pass
    # quantities lacks some prefixed units (nV, pV, fA, MA...): build them
    # from the prefix and the unit it does know, and register them with it.
    prefix, base = text[:1], text[1:]
    if prefix in SI_PREFIXES and base:
        try:
            unit = pq.Quantity(1.0, base)
        except Exception:
            pass
        else:
            pq.UnitQuantity(text, unit.units * SI_PREFIXES[prefix], symbol=text)
            return pq.Quantity(1.0, text)
    raise ValueError(f"unknown unit {text!r}")


@functools.lru_cache(maxsize=256)
def _factor(src: str, dst: str) -> float:
    if ESCOPE_UNIT_RE.match(src) and ESCOPE_UNIT_RE.match(dst) and src[-1] == dst[-1]:
        # Prefixed volts to volts, amperes to amperes: a ratio of prefixes,
        # without importing quantities (a fresh process saves ~0.1 s).
        ratio = SI_PREFIXES.get(src[:-1], 1.0) / SI_PREFIXES.get(dst[:-1], 1.0)
        return float(f"{ratio:.15g}")
    q = _unit_quantity(src)
    target = _unit_quantity(dst)
    if q.simplified.dimensionality != target.simplified.dimensionality:
        raise ValueError(f"cannot convert {src} to {dst}: incompatible units")
    # Ratios of decimal prefixes come out as 1000.0000000000001; round to the
    # 15 significant digits that float64 holds exactly so mV -> uV is 1000.
    ratio = float(q.simplified.magnitude) / float(target.simplified.magnitude)
    return float(f"{ratio:.15g}")


def conversion_factor(src: UnitLike, dst: UnitLike) -> float:
    """Return the number that converts a value in `src` units to `dst` units.

    Raises
    ------
    ValueError
        Naming both units when they measure different things (``mV`` to ``nA``).

    Examples
    --------
    >>> conversion_factor("mV", "uV")
    1000.0
    """
    return _factor(normalize(src), normalize(dst))


def si_unit(unit: UnitLike) -> str:
    """Return the coherent SI unit for `unit` (``"V"`` for ``"mV"``, ``"A"`` for ``"pA"``).

    A prefixed unit loses its prefix; anything else is expressed in SI base
    units.

    Examples
    --------
    >>> si_unit("pA"), si_unit("mV"), si_unit("V")
    ('A', 'V', 'V')
    """
    text = normalize(unit)
    q = _unit_quantity(text).simplified
    for candidate in (text, text[1:]):
        if candidate and _UNIT_RE.match(candidate):
            try:
                c = _unit_quantity(candidate).simplified
            except ValueError:
                continue
            if c.dimensionality == q.dimensionality and float(c.magnitude) == 1.0:
                return candidate
    return q.dimensionality.string


def parse_scale(text: str) -> tuple[float, str]:
    """Split an EScope scale string into its number and canonical unit.

    Parameters
    ----------
    text : str
        ``"<number> <unit>"``, as in the sidecar, e.g. ``"2.5e-05 V"``.

    Returns
    -------
    (float, str)
        The number and the unit with micro spelled ``u``.

    Raises
    ------
    ValueError
        If `text` is not a finite number followed by a known unit.

    Examples
    --------
    >>> parse_scale("100 µA")
    (100.0, 'uA')
    """
    if not isinstance(text, str):
        raise ValueError(f"scale must be a string like '1 mV', not {text!r}")
    m = _SCALE_RE.match(text)
    if m is None or m.group(2) is None:
        raise ValueError(f"cannot parse scale {text!r}: expected '<number> <unit>'")
    value = float(m.group(1))
    if not math.isfinite(value):
        raise ValueError(f"cannot parse scale {text!r}: the number is not finite")
    try:
        unit = normalize(m.group(2))
    except ValueError as exc:
        raise ValueError(f"cannot parse scale {text!r}: {exc}") from None
    return value, unit


def unit_kind(unit: UnitLike) -> str:
    """``"V"`` for a voltage unit, ``"A"`` for a current; ValueError otherwise.

    Examples
    --------
    >>> unit_kind("mV"), unit_kind("pA"), unit_kind("volt")
    ('V', 'A', 'V')
    """
    text = normalize(unit)
    if ESCOPE_UNIT_RE.match(text):
        return text[-1]
    dim = _unit_quantity(text).simplified.dimensionality
    for kind in ("V", "A"):
        if dim == _unit_quantity(kind).simplified.dimensionality:
            return kind
    raise ValueError(f"{text!r} is not a voltage or a current")


def parse_channel_scale(text: str) -> tuple[float, str]:
    """:func:`parse_scale` for a recorded channel, whose unit must be a
    voltage or a current (EScope records nothing else).

    Raises
    ------
    ValueError
        As :func:`parse_scale`, or naming a unit that measures something else.

    Examples
    --------
    >>> parse_channel_scale("2.5e-05 V")
    (2.5e-05, 'V')
    >>> parse_channel_scale("1 furlong")
    Traceback (most recent call last):
    ...
    ValueError: scale '1 furlong': 'furlong' is not a voltage or a current (EScope channels are in volts or amperes)
    """
    value, unit = parse_scale(text)
    try:
        unit_kind(unit)  # the usual spellings are known without quantities
    except ValueError:
        raise ValueError(f"scale {text!r}: {unit!r} is not a voltage or a current "
                         "(EScope channels are in volts or amperes)") from None
    return value, unit


class Units:
    """A value with a unit, as EScope writes them (``"1 mV"``).

    Parameters
    ----------
    value : float or str
        Either the number, with the unit given as `definition`, or a whole
        scale string such as ``"0.1 V"``.
    definition : str, optional
        A scale string (``"1 mV"``) or a unit (``"mV"``) in which `value` is
        expressed.

    Examples
    --------
    >>> Units(2.0, "1 mV").asunits("uV")
    2000.0
    >>> Units("0.1 V").asunits("mV")
    100.0
    >>> Units("0.1 V")
    Units('0.1 V')
    """

    def __init__(self, value: float | str, definition: str | None = None) -> None:
        if isinstance(value, str):
            if definition is not None:
                raise ValueError("give either a scale string, or a value and its unit")
            self.value, self.unit = parse_scale(value)
            return
        if definition is None:
            raise ValueError("a numeric value needs a unit, e.g. Units(3.0, 'mV')")
        try:
            number, unit = parse_scale(definition)
        except ValueError:
            number, unit = 1.0, normalize(definition)
        self.value = value * number
        self.unit = unit

    def asunits(self, units: UnitLike) -> Any:
        """Return the value expressed in `units` (a string or a quantities unit).

        Raises
        ------
        ValueError
            If `units` measures something else; the message names both units.
        """
        return self.value * conversion_factor(self.unit, units)

    def definition(self) -> Any:
        """Return the value in coherent SI units (volts, amperes, ...)."""
        return self.value * conversion_factor(self.unit, si_unit(self.unit))

    def quantity(self):
        """Return the value as a :class:`quantities.Quantity`."""
        return _pq().Quantity(self.value, self.unit)

    def __repr__(self) -> str:
        if isinstance(self.value, (int, float)):
            return f"Units('{self.value:.5g} {self.unit}')"
        return f"Units(<array>, '{self.unit}')"
