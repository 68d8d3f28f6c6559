"""An EScope recording as an NWB file, in one step: :func:`write_nwb`.

Needs the ``[nwb]`` extra (pynwb). Also ``python -m escope nwb FILE [OUT]``.

The file holds

- the session start: the run date, timezone-aware (see
  :meth:`escope.Recording.start_time`);
- a device ("EScope", with the acquisition adapter) and one electrode group;
  one row of the electrodes table per voltage channel (``channel_name``);
- the voltage channels as an ``ElectricalSeries`` in volts: the samples are
  stored as recorded (float32) with each channel's gain to volts in
  ``channel_conversion``, so nothing is rounded twice;
- each current channel as a ``TimeSeries`` in amperes (NWB's
  ``ElectricalSeries`` is for voltages; a current is never written as one);
- for a triggered capture, one series per sweep, in order, each starting
  where the previous one ends (EScope does not store when sweeps happened),
  and a ``trials`` table with each sweep's start, stop and trigger time.

Samples are copied in blocks of about one second from the memory map: a
recording larger than memory converts in constant memory.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from escope import Recording
from escope.units import conversion_factor, unit_kind

__all__ = ["write_nwb"]


def _iterator(source: np.ndarray, columns: list[int], gain_free: bool = True):
    """Chunks of about one second of `columns` of a (scans, channels) view."""
    from hdmf.data_utils import GenericDataChunkIterator

    cols = np.asarray(columns)

    class _Chunks(GenericDataChunkIterator):
        def _get_data(self, selection):
            rows, picked = selection
            return np.asarray(source[rows][:, cols[picked]])

        def _get_maxshape(self):
            return (source.shape[0], len(cols))

        def _get_dtype(self):
            return source.dtype

    rows = max(1, min(source.shape[0], (1 << 22) // max(1, len(cols) * source.dtype.itemsize)))
    return _Chunks(buffer_shape=(rows, len(cols)), chunk_shape=(rows, len(cols)),
                   display_progress=False)


def write_nwb(path: str | os.PathLike, output: str | os.PathLike | None = None, *,
              timezone=None, overwrite: bool = False, session_description: str | None = None,
              validate: bool = True) -> Path:
    """Convert an EScope recording to NWB.

    Parameters
    ----------
    path : str or os.PathLike
        The recording (``NAME.escope``, ``NAME``, ... or a URL).
    output : str or os.PathLike, optional
        The ``.nwb`` file to write (default: ``NAME.nwb`` beside the recording).
    timezone : str or tzinfo, optional
        Zone of the run date (see :meth:`escope.Recording.start_time`).
    overwrite : bool
        Replace an existing output.
    session_description : str, optional
        Default: "EScope recording NAME".
    validate : bool
        Check the written file with pynwb's validator (raises on errors).

    Returns
    -------
    pathlib.Path
        The file written (atomically: it appears whole or not at all).

    Raises
    ------
    FileExistsError
        If the output exists and `overwrite` is false.
    ValueError
        If the run date cannot be read (NWB needs a session start) or the
        written file does not validate.
    """
    import pynwb
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.ecephys import ElectricalSeries

    from escope.atomic import replace_atomically

    rec = Recording(path)
    h = rec.header
    name = h.escope_path.stem
    out = Path(output) if output is not None else h.escope_path.with_suffix(".nwb")
    if out.exists() and not overwrite:
        raise FileExistsError(17, "NWB file exists (pass overwrite=True)", str(out))
    started = rec.start_time(timezone)
    if started is None:
        raise ValueError(f"{h.escope_path}: the run date {h.rundate!r} cannot be read; NWB "
                         "needs a session start time")
    adapter = h.config.get("hw", {}).get("adapter") if isinstance(h.config.get("hw"),
                                                                  dict) else None
    nwb = NWBFile(session_description=session_description or f"EScope recording {name}",
                  identifier=f"escope-{name}", session_start_time=started,
                  source_script="escope-analysis", source_script_file_name="escope_neo/nwb.py")
    device = nwb.create_device(name="EScope", description="EScope software oscilloscope; "
                               f"adapter {' '.join(map(str, adapter)) if adapter else 'unknown'}")
    kinds = [unit_kind(u) for u in h.units]
    volts = [c for c, k in enumerate(kinds) if k == "V"]
    amps = [c for c, k in enumerate(kinds) if k == "A"]
    region = None
    if volts:
        group = nwb.create_electrode_group(
            name="escope", description="EScope input channels", location="unknown",
            device=device)
        nwb.add_electrode_column(name="channel_name", description="EScope channel name")
        for c in volts:
            nwb.add_electrode(group=group, location="unknown", channel_name=h.channels[c])
        region = nwb.create_electrode_table_region(list(range(len(volts))),
                                                   "the voltage channels")
    raw = rec.rawdata()  # C×T or C×N×S view of the memory map
    file_order = np.moveaxis(raw, 0, -1)  # (T, C) or (N, S, C): no copy
    sweeps = list(file_order) if rec.triggered else [file_order]
    duration = h.n_scans / h.rate_Hz
    for n, sweep in enumerate(sweeps):
        suffix = f"_sweep{n:03d}" if rec.triggered else ""
        start = n * duration
        if volts:
            nwb.add_acquisition(ElectricalSeries(
                name="ElectricalSeries" + suffix, data=_iterator(sweep, volts),
                electrodes=region, rate=h.rate_Hz, starting_time=start,
                channel_conversion=[h.gains[c] * conversion_factor(h.units[c], "V")
                                    for c in volts],
                description="voltage channels, in volts after channel_conversion"))
        for c in amps:
            nwb.add_acquisition(TimeSeries(
                name=f"{h.channels[c]}{suffix}", data=_iterator(sweep, [c]), unit="amperes",
                conversion=h.gains[c] * conversion_factor(h.units[c], "A"), rate=h.rate_Hz,
                starting_time=start, description=f"current channel {h.channels[c]}"))
    if rec.triggered:
        nwb.add_trial_column(name="trigger_time", description="time of the trigger, s")
        for n in range(h.n_sweeps):
            nwb.add_trial(start_time=n * duration, stop_time=(n + 1) * duration,
                          trigger_time=n * duration + rec.pretrigger_s)

    out.parent.mkdir(parents=True, exist_ok=True)

    def body(tmp) -> None:
        with warnings.catch_warnings():
            # the temporary name does not end in .nwb; the final one does
            warnings.filterwarnings("ignore", message="The file path provided")
            with NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
            if validate:
                errors = _validate(pynwb, tmp)
                if errors:
                    raise ValueError(f"{out}: the NWB file does not validate: {errors[:3]}")

    replace_atomically(out, body, by_path=True)
    return out


def _validate(pynwb, path) -> list:
    """pynwb's schema validation errors (its signature changed in pynwb 3)."""
    try:
        result = pynwb.validate(path=str(path))
    except TypeError:
        result = pynwb.validate(paths=[str(path)])
    return list(result[0] if isinstance(result, tuple) else result)
