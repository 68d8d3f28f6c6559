"""``detect_peaks(recording, method="escope")``: escope's detection as a
SpikeInterface peak detector node.

After ``import escope_neo``, :class:`EScopePeakDetector` is in SpikeInterface's
list of peak detection methods under the name ``"escope"`` (see
:mod:`escope_neo.registration`), so it runs in SpikeInterface pipelines
(chunked, ``n_jobs``, any recording, not only EScope files) like the
built-in methods. Each chunk is fed to :class:`escope.engine.SpikeDetector`,
the engine every detection of the project uses.
"""

from __future__ import annotations

import threading

import numpy as np
from spikeinterface.core.node_pipeline import PeakDetector

from escope import checks
from escope.engine import SpikeDetector

__all__ = ["EScopePeakDetector"]

_SIGNS = {"pos": 1, "neg": -1, "both": 0}


class EScopePeakDetector(PeakDetector):
    """Schmitt-trigger peak detection, as :func:`escope.detectspikes`, per channel.

    On each chunk, every channel is searched for events that open at
    ``sign * trace >= detect_threshold * noise_level`` and close at
    ``sign * trace <= 0``; each event's peak is its largest ``sign * trace``
    (first on ties); peaks of one sign closer than `tkill` samples are
    pruned, the lower going first. That is exactly what
    :func:`escope.detectspikes` and :meth:`escope.Recording.detectspikes` do
    on a whole trace, with two differences that only matter at chunk edges:

    - each chunk is read with a margin of `margin` samples on both sides
      (default ``2 * tkill + 10``) and only peaks inside the chunk proper are
      kept, so an event or a ``tkill`` chain that reaches further than the
      margin across a chunk edge can end differently;
    - the thresholds are multiples of ``noise_levels`` (in the traces' raw
      units; SpikeInterface computes them from the median absolute deviation
      when not given). Pass ``noise_levels`` from
      :meth:`escope.Recording.rmsnoise` (divided by the channels' gains) to get
      :meth:`escope.Recording.detectspikes`'s thresholds.

    Parameters
    ----------
    recording : BaseRecording
    peak_sign : {"both", "neg", "pos"}
        Polarity (``0``, ``-1``, ``1`` in :func:`escope.detectspikes`).
    detect_threshold : float
        Threshold in multiples of the noise level (`k`).
    tkill : float or None
        Minimum distance in samples between peaks of one sign; None: no pruning.
    noise_levels : array, optional
        Noise per channel in raw units (required; ``detect_peaks`` fills it).
    margin : int, optional
        Samples read on each side of a chunk (default ``2 * tkill + 10``).

    Examples
    --------
    >>> import escope_neo  # "escope" joins SpikeInterface's methods
    >>> import numpy as np
    >>> from spikeinterface.core import NumpyRecording
    >>> from spikeinterface.sortingcomponents.peak_detection import detect_peaks
    >>> x = np.random.default_rng(0).normal(size=(20000, 2)).astype("float32")
    >>> x[5000, 0] = x[12000, 1] = -12
    >>> rec = NumpyRecording([x], sampling_frequency=20000.0)
    >>> peaks = detect_peaks(rec, method="escope",
    ...                      method_kwargs=dict(peak_sign="neg", detect_threshold=6,
    ...                                         noise_levels=np.ones(2)),
    ...                      job_kwargs=dict(n_jobs=1, progress_bar=False))
    >>> peaks["sample_index"].tolist(), peaks["channel_index"].tolist()
    ([5000, 12000], [0, 1])
    """

    name = "escope"
    engine = "numba"
    need_noise_levels = True
    preferred_mp_context = None
    need_first_call_before_pipeline = True  # compile the kernels before threads start
    params_doc = """
    peak_sign: "both" | "neg" | "pos", default: "both"
        Polarity of the peaks.
    detect_threshold: float, default: 5
        Threshold in multiples of the noise level.
    tkill: float | None, default: 50
        Minimum distance in samples between peaks of one sign.
    margin: int | None, default: None
        Samples read on each side of a chunk (2 * tkill + 10).
    """

    def __init__(self, recording, peak_sign: str = "both", detect_threshold: float = 5.0,
                 tkill: float | None = 50, noise_levels=None, margin: int | None = None,
                 return_output: bool = True) -> None:
        PeakDetector.__init__(self, recording, return_output=return_output)
        self.recording = recording  # read by the first call before the pipeline
        if peak_sign not in _SIGNS:
            raise ValueError(f"peak_sign must be 'both', 'neg' or 'pos', not {peak_sign!r}")
        if noise_levels is None:
            raise ValueError("noise_levels are required (detect_peaks computes them)")
        noise = np.asarray(noise_levels, dtype=np.float64)
        if noise.shape != (recording.get_num_channels(),):
            raise ValueError(f"noise_levels has {noise.size} value(s) for "
                             f"{recording.get_num_channels()} channel(s)")
        self.thresholds = noise * float(detect_threshold)
        for t in self.thresholds:
            checks.threshold(t)
        checks.tkill(tkill)
        self.polarity = _SIGNS[peak_sign]
        # The whole job's size decides NumPy or Numba (chunks are small, the
        # job need not be): see escope.engine.use_numpy.
        self.job_samples = int(recording.get_total_samples()) * recording.get_num_channels()
        self._local = threading.local()  # a detector per thread, reused chunk after chunk
        self.tkill = tkill
        self.margin = int(2 * (tkill or 0) + 10) if margin is None else int(margin)
        self._kwargs.update(dict(peak_sign=peak_sign, detect_threshold=detect_threshold,
                                 tkill=tkill, noise_levels=noise_levels, margin=margin))

    def get_margin(self) -> int:
        return self.margin

    def compute(self, traces, start_frame, end_frame, segment_index, max_margin):
        x = np.ascontiguousarray(traces)
        if x.dtype.kind != "f" or x.dtype.itemsize > 8 or not x.dtype.isnative:
            x = x.astype(np.float32 if x.dtype.itemsize <= 2 else np.float64)
        n = len(x)
        detector = getattr(self._local, "detector", None)
        if detector is None or detector.dtype != x.dtype:
            detector = self._local.detector = SpikeDetector(
                self.thresholds, polarity=self.polarity, tkill=self.tkill,
                job_samples=self.job_samples)
        start = detector.n_fed  # each chunk is a segment of its own
        sample, channel, value = detector.feed(x, last=True).flat()
        sample = sample - start
        inside = (sample >= self.margin) & (sample < n - self.margin)
        peaks = np.zeros(int(inside.sum()), dtype=self.get_dtype())
        peaks["sample_index"] = sample[inside]
        peaks["channel_index"] = channel[inside]
        peaks["amplitude"] = value[inside]
        peaks["segment_index"] = segment_index
        return (peaks,)

    def __getstate__(self):  # the per-thread detectors stay behind
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()
