"""Numba kernels, one module per concern.

- :mod:`~escope.kernels.common`: compile options, growing buffers, and
  comparisons that never negate a sample (shared bit tricks);
- :mod:`~escope.kernels.trace`: spike events of one trace (any dtype);
- :mod:`~escope.kernels.blocks`: spike events of interleaved recordings, and
  a chunk's peaks pruned and ordered in one call;
- :mod:`~escope.kernels.prune`: ``tkill``;
- :mod:`~escope.kernels.noise`: chunk variances, block RMS, the k-th value;
- :mod:`~escope.kernels.schmitt`: the Schmitt triggers of :mod:`escope.peakx`;
- :mod:`~escope.kernels.small`: NumPy versions of the detection and noise
  kernels, used for short inputs (a process pays ~0.4 s the first time it
  runs any Numba kernel).

Only :mod:`escope.engine` and :mod:`escope.peakx` import them, and only
where a kernel runs, so ``import escope`` never loads numba (importing this
package itself does not either: each module is imported where used). Every
kernel is compiled lazily for the array types it meets (float32 stays
float32; strided and read-only arrays work without copies), cached on disk,
and releases the GIL. The tests compare each kernel with a plain reference
written from the specification (``tests/reference.py``).
"""
