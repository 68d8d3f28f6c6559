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
from typing import Any, NamedTuple

import numpy as np

from escope import Recording
from escope.units import conversion_factor, unit_kind

__all__ = ["write_nwb", "inspect_nwb", "recording_metadata", "InspectorMessage",
           "COMPRESSION"]


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


def recording_metadata(rec: Recording, timezone=None) -> dict[str, dict]:
    """What the recording itself says, in neuroconv's layout: the session's
    start (timezone-aware), a description and a stable identifier."""
    import uuid

    h = rec.header
    started = rec.start_time(timezone)
    if started is None:
        raise ValueError(f"{h.escope_path}: the run date {h.rundate!r} cannot be read; NWB "
                         "needs a session start time")
    name = h.escope_path.stem
    # The same recording gives the same identifier (from what identifies it).
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"escope:{name}:{h.rundate}:{h.dat_size}:"
                                           f"{h.rate_Hz}:{','.join(h.channels)}")
    return {"NWBFile": {"session_description": f"EScope recording {name}",
                        "identifier": str(ident), "session_start_time": started},
            "Subject": {}}


#: Compression of the sample datasets: gzip, which every HDF5 reader has,
#: level 4 of 9 (higher levels cost time and gain little). Measured by
#: benchmarks/bench_nwb.py: samples quantized by an ADC, as real ones are,
#: compress 1.6x without the byte shuffle and only 1.05x with it; unquantized
#: float32 noise compresses little either way (1.07x, 1.16x with shuffle).
COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=False)


def write_nwb(path: str | os.PathLike, output: str | os.PathLike | None = None, *,
              timezone=None, overwrite: bool = False, session_description: str | None = None,
              validate: bool = True, metadata: Any = None, spikes: bool = False,
              k: float = 5.0, compress: bool = True, require_dandi: bool = False,
              report: list | None = None) -> Path:
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
        Default: "EScope recording NAME" (a metadata file's wins over both).
    validate : bool
        Check the written file with pynwb's validator (raises on errors).
    metadata : dict or path of a YAML file, optional
        Sections ``NWBFile`` and ``Subject`` in neuroconv's layout (see
        :mod:`escope_neo.nwb_metadata`), laid over what the recording says;
        checked before anything is written.
    spikes : bool
        Add the spikes of every voltage channel (``k`` × its noise), as
        ``EventDetection`` objects in the ``ecephys`` processing module,
        with threshold, noise and ``k``.
    k : float
        See `spikes`.
    compress : bool
        Store the samples chunked and compressed (gzip, which every HDF5
        reader opens); False stores them as they are.
    require_dandi : bool
        Refuse, leaving nothing behind, when the NWB Inspector (the
        ``nwbinspector`` package, DANDI's configuration) reports anything
        CRITICAL.
    report : list, optional
        The Inspector's messages (most important first) are appended to it.

    Returns
    -------
    pathlib.Path
        The file written (atomically: it appears whole or not at all).

    Raises
    ------
    escope_neo.nwb_metadata.MetadataError
        (a ValueError) naming the file, key and value of bad metadata.
    FileExistsError
        If the output exists and `overwrite` is false.
    NotADirectoryError
        If the output's folder is a file.
    ValueError
        If the run date cannot be read (NWB needs a session start), the
        written file does not validate, or `require_dandi` and the
        Inspector reports something CRITICAL.
    """
    import pynwb
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.ecephys import ElectricalSeries

    from escope.atomic import replace_atomically

    from .nwb_metadata import load_metadata, merge

    given = load_metadata(metadata)  # before anything else: nothing is written if wrong
    rec = Recording(path)
    h = rec.header
    out = Path(output) if output is not None else h.escope_path.with_suffix(".nwb")
    if out.exists() and not overwrite:
        raise FileExistsError(17, "NWB file exists (pass overwrite=True)", str(out))
    if out.parent.exists() and not out.parent.is_dir():
        raise NotADirectoryError(20, "the output's folder is a file", str(out.parent))
    meta = recording_metadata(rec, timezone)
    if session_description:
        meta["NWBFile"]["session_description"] = session_description
    meta = merge(meta, given)
    adapter = h.config.get("hw", {}).get("adapter") if isinstance(h.config.get("hw"),
                                                                  dict) else None
    nwb = NWBFile(source_script="escope-analysis", source_script_file_name="escope_neo/nwb.py",
                  **meta["NWBFile"])
    if meta["Subject"]:
        from pynwb.file import Subject

        nwb.subject = Subject(**meta["Subject"])
    device = nwb.create_device(name="EScope", description="EScope software oscilloscope; "
                               f"adapter {' '.join(map(str, adapter)) if adapter else 'unknown'}")
    kinds = [unit_kind(u) for u in h.units]
    volts = [c for c, k_ in enumerate(kinds) if k_ == "V"]
    amps = [c for c, k_ in enumerate(kinds) if k_ == "A"]
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

    def stored(source, columns):
        data = _iterator(source, columns)
        if not compress:
            return data
        from hdmf.backends.hdf5.h5_utils import H5DataIO

        return H5DataIO(data=data, **COMPRESSION)

    raw = rec.rawdata()  # C×T or C×N×S view of the memory map
    file_order = np.moveaxis(raw, 0, -1)  # (T, C) or (N, S, C): no copy
    sweeps = list(file_order) if rec.triggered else [file_order]
    duration = h.n_scans / h.rate_Hz
    series = []
    for n, sweep in enumerate(sweeps):
        suffix = f"_sweep{n:03d}" if rec.triggered else ""
        start = n * duration
        if volts:
            es = ElectricalSeries(
                name="ElectricalSeries" + suffix, data=stored(sweep, volts),
                electrodes=region, rate=h.rate_Hz, starting_time=start,
                channel_conversion=[h.gains[c] * conversion_factor(h.units[c], "V")
                                    for c in volts],
                description="voltage channels, in volts after channel_conversion")
            nwb.add_acquisition(es)
            series.append(es)
        for c in amps:
            nwb.add_acquisition(TimeSeries(
                name=f"{h.channels[c]}{suffix}", data=stored(sweep, [c]), unit="amperes",
                conversion=h.gains[c] * conversion_factor(h.units[c], "A"), rate=h.rate_Hz,
                starting_time=start, description=f"current channel {h.channels[c]}"))
    if rec.triggered:
        # The sweeps as a TimeIntervals table (pynapple reads it as intervals).
        nwb.add_trial_column(name="trigger_time", description="time of the trigger, s")
        for n in range(h.n_sweeps):
            nwb.add_trial(start_time=n * duration, stop_time=(n + 1) * duration,
                          trigger_time=n * duration + rec.pretrigger_s)
    if spikes and volts and series:
        _add_spikes(nwb, rec, [h.channels[c] for c in volts], series, k, duration)

    out.parent.mkdir(parents=True, exist_ok=True)
    messages: list = []

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
        # (inspected under its temporary name: the name check is for the final one)
        messages.extend(m for m in inspect_nwb(tmp)
                        if not (m.check == "check_file_extension" and out.suffix == ".nwb"))
        critical = [m for m in messages if m.importance == "CRITICAL"]
        if require_dandi and critical:
            raise ValueError(f"{out}: not written: the NWB Inspector reports "
                             f"{len(critical)} CRITICAL problem(s) for DANDI: "
                             + "; ".join(m.message for m in critical))

    replace_atomically(out, body, by_path=True)
    if report is not None:
        report.extend(messages)
    return out


class InspectorMessage(NamedTuple):
    """One finding of the NWB Inspector."""

    importance: str  #: CRITICAL, BEST_PRACTICE_VIOLATION, BEST_PRACTICE_SUGGESTION…
    check: str
    location: str
    message: str


def inspect_nwb(path: str | os.PathLike) -> list[InspectorMessage]:
    """What the NWB Inspector (with DANDI's configuration) reports about a
    file, most important first; empty when ``nwbinspector`` is not installed."""
    try:
        from nwbinspector import inspect_nwbfile, load_config
    except ImportError:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    order = {"ERROR": 0, "PYNWB_VALIDATION": 1, "CRITICAL": 2, "BEST_PRACTICE_VIOLATION": 3,
             "BEST_PRACTICE_SUGGESTION": 4}
    msgs = [InspectorMessage(m.importance.name, m.check_function_name,
                             f"{m.object_type} {m.location or ''}".strip(), m.message)
            for m in found]
    return sorted(msgs, key=lambda m: (order.get(m.importance, 9), m.check))


def _add_spikes(nwb, rec: Recording, names: list[str], series: list, k: float,
                duration: float) -> None:
    """The spikes of the voltage channels as EventDetection objects (NWB's
    type for unsorted threshold crossings), one per channel (and sweep)."""
    from pynwb.ecephys import EventDetection

    found = rec.detectspikes(k=k, channels=names, progress=False)
    module = nwb.create_processing_module(
        name="ecephys", description="Spikes detected by escope: threshold crossings per "
                                    "channel, not sorted")
    for name in names:
        per = found[name] if rec.triggered else [found[name]]
        for n, idx in enumerate(per):
            suffix = f"_sweep{n:03d}" if rec.triggered else ""
            method = (f"escope Schmitt trigger on channel {name}: events from "
                      f"|{name}| >= threshold {found.thresholds[name]:.6g} "
                      f"{found.units[name]} (k = {k:g} × noise {found.noise[name]:.6g} "
                      f"{found.units[name]}, rmsnoise) back to 0; the time of each is its "
                      "peak (largest |value|); peaks closer than 50 samples pruned, the "
                      "lower first")
            module.add(EventDetection(
                name=f"EventDetection_{name}{suffix}", detection_method=method,
                source_electricalseries=series[n],
                source_idx=np.asarray(idx, dtype=np.int64),
                times=np.asarray(idx, dtype=np.float64) / rec.rate + n * duration))


def _validate(pynwb, path) -> list:
    """pynwb's schema validation errors (its signature changed in pynwb 3)."""
    try:
        result = pynwb.validate(path=str(path))
    except TypeError:
        result = pynwb.validate(paths=[str(path)])
    return list(result[0] if isinstance(result, tuple) else result)
