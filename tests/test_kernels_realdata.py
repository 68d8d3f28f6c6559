"""The kernels on the real recording, against the reference and the peer."""

from __future__ import annotations

import numpy as np

import escope
from tests import reference as ref


def test_detectspikes_on_real_recording_equals_reference(real_recording):
    rec = escope.Recording(real_recording)
    for c in range(rec.n_channels):
        x = rec.data(c, "uV")
        noise = escope.rmsnoise(x)
        assert abs(noise / ref.rmsnoise(x) - 1) < 1e-9
        spikes = escope.detectspikes(x, 5 * noise)
        assert len(spikes) > 100  # the dummy source fires hundreds of spikes in 7 s
        np.testing.assert_array_equal(spikes, ref.detectspikes(x, 5 * noise))
        # detecting on the strided raw view (no copy) gives the same peaks
        raw_thr = 5 * escope.rmsnoise(rec.rawdata(c))
        np.testing.assert_array_equal(escope.detectspikes(rec.rawdata(c), raw_thr),
                                      ref.detectspikes(rec.rawdata(c), raw_thr))


def test_real_recording_against_acquisition_program(real_recording, peer):
    rec = escope.Recording(real_recording)
    for c in range(rec.n_channels):
        x = rec.data(c, "uV").astype(np.float64)
        thr = 5 * escope.rmsnoise(x)
        ours = escope.detectspikes(x, thr)
        theirs = np.asarray(peer.detectspikes(x, thr))
        # identical away from the first and last sample (see the migration guide)
        inner = lambda a: a[(a > 0) & (a < len(x) - 1)]  # noqa: E731
        np.testing.assert_array_equal(inner(ours), inner(theirs))
