"""peakx: Schmitt triggers and peaks against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escope.peakx import ENDTYPE, STARTTYPE, schmitt, schmitt2, schmittpeak
from tests import reference as ref
from tests.test_spikex import traces

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(x=traces(), thr=st.sampled_from([(5.0, 0.0), (2 / 3, 1 / 3), (3.0, 3.0), (6.0, -6.0)]),
       endtype=st.sampled_from(list(ENDTYPE)), starttype=st.sampled_from(list(STARTTYPE)))
def test_schmitt_matches_reference(x, thr, endtype, starttype):
    ion, ioff = schmitt(x, thr[0], thr[1], endtype, starttype)
    want_on, want_off = ref.peakx_schmitt(x, thr[0], thr[1], int(endtype), int(starttype))
    np.testing.assert_array_equal(ion, want_on)
    np.testing.assert_array_equal(ioff, want_off)
    if endtype == ENDTYPE.INCLUDE_PARTIAL and len(ion):
        peaks = schmittpeak(x, ion, ioff)
        z = np.asarray(x, dtype=float)
        assert peaks.tolist() == [ref.argmax_first(z, a, b) for a, b in zip(ion, ioff)]


@SETTINGS
@given(x=traces(), levels=st.sampled_from([(5.0, 0.0), (8.0, 2.0), (0.5, -0.5)]))
def test_schmitt2_matches_reference(x, levels):
    got = schmitt2(x, *levels)
    want = ref.schmitt2(x, *levels)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_schmitt_defaults_and_types():
    x = [0, 0.7, 0.5, 0.3, 0.9, 1.0]
    assert [a.tolist() for a in schmitt(x)] == [[1, 4], [3, 6]]
    assert [a.tolist() for a in schmitt(x, endtype=ENDTYPE.DROP_PARTIAL)] == [[1], [3]]
    assert [a.tolist() for a in schmitt(x, endtype=ENDTYPE.BROKEN_PARTIAL)] == [[1, 4], [3]]
    b = np.array([True, True, False, True, False, False, True])
    assert [a.tolist() for a in schmitt(b)] == [[0, 3, 6], [2, 4, 7]]
    assert [a.tolist() for a in schmitt(b, starttype=STARTTYPE.DROP_PARTIAL)] == [[3, 6], [4, 7]]
    assert [a.tolist() for a in schmitt([])] == [[], []]


def test_schmittpeak_first_on_ties_and_nan():
    x = np.array([0, 5, 5, np.nan, 1, 7, 7, 0])
    assert schmittpeak(x, [0, 3], [4, 8]).tolist() == [1, 5]


@pytest.mark.parametrize("call, message", [
    (lambda: schmitt(np.zeros((2, 2))), "must be 1-D"),
    (lambda: schmitt(np.zeros(3, complex)), "real numbers"),
    (lambda: schmitt([1, 2], 1, 2), r"thr_off \(2.0\) must not exceed thr_on \(1.0\)"),
    (lambda: schmitt([1, 2], np.nan), "thr_on must not be NaN"),
    (lambda: schmitt([1, 2], "high"), "thr_on must be a number"),
    (lambda: schmitt([1, 2], endtype=5), "is not a valid ENDTYPE"),
    (lambda: schmittpeak([1, 2, 3], [0, 1], [2]), r"differ in length \(2 vs 1\)"),
    (lambda: schmittpeak([1, 2, 3], [0], [4]), "0 <= ion < ioff <= 3"),
    (lambda: schmittpeak([1, 2, 3], [2], [2]), "0 <= ion < ioff <= 3"),
    (lambda: schmitt2([1, 2], 1, 1), r"thr_b \(1.0\) must be below thr_a \(1.0\)"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
