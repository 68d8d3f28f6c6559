"""escope.units: conversions on quantities, all micro spellings, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import quantities as pq
from hypothesis import given
from hypothesis import strategies as st

from escope.units import Units, conversion_factor, normalize, parse_scale, si_unit

PREFIX = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9, "p": 1e-12}


@pytest.mark.parametrize("src", [p + b for p in PREFIX for b in "VA"])
@pytest.mark.parametrize("dst", [p + b for p in PREFIX for b in "VA"])
def test_every_prefixed_volt_and_ampere(src, dst):
    if src[-1] != dst[-1]:
        with pytest.raises(ValueError, match=f"cannot convert {normalize(src)} to {normalize(dst)}"):
            conversion_factor(src, dst)
        return
    want = PREFIX[src[:-1]] / PREFIX[dst[:-1]]
    assert conversion_factor(src, dst) == pytest.approx(want, rel=1e-15)
    # exact for the decimal ratios users check against (mV -> uV is 1000, not 1000.0000000000001)
    assert conversion_factor(src, dst) == float(f"{want:.15g}")


def test_quantities_units_are_accepted():
    assert conversion_factor(pq.mV, pq.uV) == 1000.0
    assert conversion_factor("mV", pq.V) == 0.001
    assert normalize(pq.uV) == "uV"
    with pytest.raises(ValueError, match="not a plain unit"):
        normalize(2 * pq.mV)
    with pytest.raises(ValueError, match="not a unit"):
        normalize(3.0)


def test_units_class():
    assert Units(3.0, "1 mV").asunits("uV") == 3000.0
    assert Units("0.1 V").asunits("mV") == 100.0
    assert Units("100 pA").definition() == pytest.approx(1e-10)
    assert Units(2.0, "mV").asunits(pq.V) == 0.002
    arr = Units(np.array([1.0, 2.0]), "2.5e-05 V").asunits("uV")
    np.testing.assert_allclose(arr, [25.0, 50.0])
    assert repr(Units("0.1 V")) == "Units('0.1 V')"
    assert Units("1 µA").quantity() == 1 * pq.uA
    assert si_unit("pA") == "A" and si_unit("mV") == "V"
    with pytest.raises(ValueError, match="cannot convert mV to nA"):
        Units("1 mV").asunits("nA")
    with pytest.raises(ValueError, match="needs a unit"):
        Units(3.0)
    with pytest.raises(ValueError, match="either a scale string"):
        Units("1 mV", "mV")


@pytest.mark.parametrize("text, value, unit", [
    ("1 mV", 1.0, "mV"), ("0.1 V", 0.1, "V"), ("100 pA", 100.0, "pA"),
    ("2.5e-05 V", 2.5e-5, "V"), ("-1 µV", -1.0, "uV"), ("1 μA", 1.0, "uA"),
    ("  3mV ", 3.0, "mV"), (".5 nV", 0.5, "nV"),
])
def test_parse_scale(text, value, unit):
    assert parse_scale(text) == (value, unit)


@pytest.mark.parametrize("text", ["mV", "1", "", "1 mV mV", "1 blorp", "x V", "1 __import__('os')",
                                  "inf V", "nan mV", "1 mV)"])
def test_parse_scale_rejects(text):
    with pytest.raises(ValueError, match="cannot parse scale|unknown unit"):
        parse_scale(text)


@given(st.text(max_size=12))
def test_parse_scale_only_raises_value_error(text):
    try:
        value, unit = parse_scale(text)
    except ValueError:
        return
    assert np.isfinite(value) and isinstance(unit, str) and "µ" not in unit


def test_prefix_ratios_need_no_quantities_and_agree_with_it():
    import escope.units as u

    units = [p + b for b in "VA" for p in ["f", "p", "n", "u", "m", "", "k", "M", "G"]]
    for src in units:
        for dst in units:
            if src[-1] != dst[-1]:
                continue
            q = u._unit_quantity(src)
            target = u._unit_quantity(dst)
            ratio = float(q.simplified.magnitude) / float(target.simplified.magnitude)
            assert u._factor(src, dst) == float(f"{ratio:.15g}"), (src, dst)


def test_opening_and_converting_escope_units_does_not_import_quantities(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, escope\n"
        f"p = escope.write({str(tmp_path / 'r')!r}, np.ones((1, 10), 'f4'), 1000, ['a'], ['1 mV'])\n"
        "y = escope.Recording(p).data(0, 'uV')\n"
        "assert y[0] == 1000, y[0]\n"
        "print('quantities' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
