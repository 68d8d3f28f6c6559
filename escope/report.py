"""Text for people: units with µ, values with the SI prefix that reads best,
and the summary of a recording that ``escope-analysis info`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .units import ESCOPE_UNIT_RE, SI_PREFIXES, normalize

if TYPE_CHECKING:  # pragma: no cover
    from .recording import Recording

__all__ = ["display_unit", "display_scale", "readable", "summary"]


def display_unit(unit: str) -> str:
    """Spell micro as µ for people: ``"uV"`` → ``"µV"``.

    Examples
    --------
    >>> display_unit("uV"), display_unit("mA")
    ('µV', 'mA')
    """
    return "\u00b5" + unit[1:] if unit.startswith("u") and len(unit) > 1 else unit


_PREFIXES = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("u", 1e-6),
             ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))


def readable(value: float, unit: str) -> str:
    """`value` in `unit` with the SI prefix that puts it in [1, 1000): µ spelled µ.

    Examples
    --------
    >>> readable(0.01254, "mV")
    '12.54 µV'
    >>> readable(1500.0, "uA")
    '1.5 mA'
    """
    unit = normalize(unit)
    if not ESCOPE_UNIT_RE.match(unit) or value == 0 or value != value:
        return f"{value:.4g} {display_unit(unit)}"
    base = unit[-1]
    si = value * SI_PREFIXES.get(unit[:-1], 1.0)
    for prefix, factor in _PREFIXES:
        if abs(si) >= factor * 0.9995 or prefix == "f":
            return f"{si / factor:.4g} {display_unit(prefix + base)}"
    return f"{value:.4g} {display_unit(unit)}"  # pragma: no cover


def display_scale(scale: str) -> str:
    """A scale string with micro spelled µ: ``"2.5 uV"`` → ``"2.5 µV"``."""
    number, _, unit = scale.strip().rpartition(" ")
    return f"{number} {display_unit(unit.translate(str.maketrans({'μ': 'u', 'µ': 'u'})))}"


def summary(rec: "Recording") -> str:
    """A human-readable summary of a recording, with the noise level per channel."""
    h = rec.header
    lines = [
        f"file:      {rec.filename}",
        f"version:   {h.version}",
        f"date:      {rec.rundate or h.rundate}",
        f"layout:    {h.kind}",
        f"rate:      {h.rate_Hz:g} Hz",
        f"duration:  {rec.duration:.6g} s"
        + (f" ({h.n_sweeps} sweeps of {h.n_scans} scans, trigger at scan {h.trigger_index})"
           if h.triggered else f" ({h.n_scans} scans)"),
        "channels:",
    ]
    try:
        noise = rec.rmsnoise(progress=False)
        why = None
    except ValueError as exc:  # too short for one chunk, or all NaN
        noise, why = {}, str(exc)
    for c, (name, unit, scale) in enumerate(zip(h.channels, h.units, h.scale)):
        level = (f"noise {readable(noise[name], unit)}" if name in noise
                 else f"noise n/a ({why})")
        lines.append(f"  {c}: {name:<6} {display_unit(unit):<3} "
                     f"(scale {display_scale(scale)}), {level}")
    return "\n".join(lines)
