"""Write recordings as EScope 1.x and 2.0 did, from FORMAT.md's facts, for tests.

No file or code of the acquisition program is used. The pickles are emitted
opcode by opcode, exactly in the shapes FORMAT.md describes:

- 1.x: Python 2, protocol 0; each ``Struct`` made by
  ``copy_reg._reconstructor(escopelib.Struct.Struct, __builtin__.object,
  None)`` then its ``__dict__`` set (BUILD); colours ``PyQt4.QtGui.QColor``;
  numpy arrays through ``numpy.core.multiarray._reconstruct`` with their bytes
  as a Python 2 byte string.
- 2.0: protocol 4; each ``Struct`` made with NEWOBJ then BUILD, in module
  ``escope_wagenadl.escopelib.Struct`` (or ``src.escope_wagenadl...``);
  colours ``PyQt5.QtGui.QColor`` called with four ints.

:func:`real_pickle_v2` also makes a 2.0-style pickle with Python's own
pickler (stand-in classes in stand-in modules), as a cross-check that the
reader takes what a real pickler writes.
"""

from __future__ import annotations

import math
import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np


class S(dict):
    """A settings ``Struct`` (a dict that is pickled as EScope's Struct)."""


class Colour(tuple):
    """A Qt colour (r, g, b, a)."""


# --------------------------------------------------------------------- protocol 0 (1.x)
def _p0(obj: Any, struct_module: str, numpy_core: str) -> bytes:
    def rec(o: Any) -> bytes:
        return _p0(o, struct_module, numpy_core)

    if obj is None:
        return b"N"
    if isinstance(obj, (bool, np.bool_)):
        return b"I01\n" if obj else b"I00\n"
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.generic):
        return b"I%d\n" % obj
    if isinstance(obj, float) and not isinstance(obj, np.generic):
        return b"F" + repr(obj).encode() + b"\n"
    if isinstance(obj, str):
        return b"S" + repr(obj.encode("latin-1"))[1:].encode() + b"\n"
    if isinstance(obj, Colour):
        return b"cPyQt4.QtGui\nQColor\n(" + b"".join(rec(int(v)) for v in obj) + b"tR"
    if isinstance(obj, S):
        return (b"ccopy_reg\n_reconstructor\n(c" + struct_module.encode() + b"\nStruct\n"
                b"c__builtin__\nobject\nNtR" + _p0_dict(obj, rec) + b"b")
    if isinstance(obj, dict):
        return _p0_dict(obj, rec)
    if isinstance(obj, list):
        return b"(l" + b"".join(rec(v) + b"a" for v in obj)
    if isinstance(obj, tuple):
        return b"(" + b"".join(rec(v) for v in obj) + b"t"
    if isinstance(obj, np.ndarray):
        return (b"c" + numpy_core.encode() + b".multiarray\n_reconstruct\n(cnumpy\nndarray\n"
                b"(I0\ntS'b'\ntR(I1\n" + rec(tuple(int(n) for n in obj.shape))
                + _p0_dtype(obj.dtype) + b"I00\n" + b"S" + repr(obj.tobytes())[1:].encode()
                + b"\ntb")
    if isinstance(obj, np.generic):
        return (b"c" + numpy_core.encode() + b".multiarray\nscalar\n(" + _p0_dtype(obj.dtype)
                + b"S" + repr(obj.tobytes())[1:].encode() + b"\ntR")
    raise TypeError(f"cannot emit {type(obj)}")


def _p0_dict(obj: dict, rec) -> bytes:
    return b"(d" + b"".join(rec(k) + rec(v) + b"s" for k, v in obj.items())


def _p0_dtype(dt: np.dtype) -> bytes:
    order = "|" if dt.itemsize == 1 else "<"
    return (b"cnumpy\ndtype\n(S'" + dt.str[1:].encode() + b"'\nI00\nI01\ntR(I3\nS'"
            + order.encode() + b"'\nNNNI-1\nI-1\nI0\ntb")


# --------------------------------------------------------------------- protocol 4 (2.0)
def _str4(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def _global4(module: str, name: str) -> bytes:
    return _str4(module) + _str4(name) + b"\x93"


def _p4(obj: Any, struct_module: str, numpy_core: str) -> bytes:
    def rec(o: Any) -> bytes:
        return _p4(o, struct_module, numpy_core)

    if obj is None:
        return b"N"
    if isinstance(obj, (bool, np.bool_)) and not isinstance(obj, np.generic):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int) and not isinstance(obj, np.generic):
        if -2**31 <= obj < 2**31:
            return b"J" + struct.pack("<i", obj)
        data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(data)]) + data
    if isinstance(obj, float) and not isinstance(obj, np.generic):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, str):
        return _str4(obj)
    if isinstance(obj, bytes):
        if len(obj) < 256:
            return b"C" + bytes([len(obj)]) + obj
        return b"B" + struct.pack("<I", len(obj)) + obj
    if isinstance(obj, Colour):
        return _global4("PyQt5.QtGui", "QColor") + rec(tuple(int(v) for v in obj)) + b"R"
    if isinstance(obj, S):
        return _global4(struct_module, "Struct") + b")\x81" + _p4_dict(obj, rec) + b"b"
    if isinstance(obj, dict):
        return _p4_dict(obj, rec)
    if isinstance(obj, list):
        return b"](" + b"".join(rec(v) for v in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(rec(v) for v in obj) + b"t" if obj else b")"
    if isinstance(obj, np.ndarray):
        return (_global4(numpy_core + ".multiarray", "_reconstruct")
                + _global4("numpy", "ndarray") + rec((0,)) + rec(b"b") + b"\x87R"
                + b"(" + rec(1) + rec(tuple(int(n) for n in obj.shape)) + _p4_dtype(obj.dtype)
                + b"\x89" + rec(obj.tobytes()) + b"tb")
    if isinstance(obj, np.generic):
        return (_global4(numpy_core + ".multiarray", "scalar") + _p4_dtype(obj.dtype)
                + rec(obj.tobytes()) + b"\x86R")
    raise TypeError(f"cannot emit {type(obj)}")


def _p4_dict(obj: dict, rec) -> bytes:
    return b"}(" + b"".join(rec(k) + rec(v) for k, v in obj.items()) + b"u"


def _p4_dtype(dt: np.dtype) -> bytes:
    order = "|" if dt.itemsize == 1 else "<"
    return (_global4("numpy", "dtype") + _str4(dt.str[1:]) + b"\x89\x88\x87R"
            + b"(" + b"J\x03\x00\x00\x00" + _str4(order) + b"NNN" + b"J\xff\xff\xff\xff" * 2
            + b"J\x00\x00\x00\x00" + b"tb")


def dumps(settings: S, generation: int, *, struct_module: str | None = None,
          numpy_core: str = "numpy.core") -> bytes:
    """The settings pickled as EScope `generation` (1 or 2) did."""
    if generation == 1:
        return _p0(settings, struct_module or "escopelib.Struct", numpy_core) + b"."
    return (b"\x80\x04" + _p4(settings, struct_module or "escope_wagenadl.escopelib.Struct",
                              numpy_core) + b".")


def real_pickle_v2(settings: S) -> bytes:
    """`settings` pickled by Python's own pickler (protocol 4), with
    stand-ins for ``escope_wagenadl.escopelib.Struct.Struct`` and
    ``PyQt5.QtGui.QColor`` (numpy pickles its own arrays: ``numpy._core``)."""
    names = ["escope_wagenadl", "escope_wagenadl.escopelib", "escope_wagenadl.escopelib.Struct",
             "PyQt5", "PyQt5.QtGui"]
    saved = {n: sys.modules.get(n) for n in names}
    try:
        mods = {n: types.ModuleType(n) for n in names}
        sys.modules.update(mods)

        class Struct:
            def __init__(self, d):
                self.__dict__.update(d)

        class QColor:
            def __init__(self, *rgba):
                self.rgba = rgba

            def __reduce__(self):
                return (QColor, tuple(self.rgba))

        Struct.__module__, Struct.__qualname__ = "escope_wagenadl.escopelib.Struct", "Struct"
        QColor.__module__, QColor.__qualname__ = "PyQt5.QtGui", "QColor"
        mods["escope_wagenadl.escopelib.Struct"].Struct = Struct
        mods["PyQt5.QtGui"].QColor = QColor

        def build(o):
            if isinstance(o, S):
                return Struct({k: build(v) for k, v in o.items()})
            if isinstance(o, Colour):
                return QColor(*o)
            if isinstance(o, list):
                return [build(v) for v in o]
            if isinstance(o, dict):
                return {k: build(v) for k, v in o.items()}
            return o

        return pickle.dumps(build(settings), protocol=4)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


# --------------------------------------------------------------------- a whole recording
def s_div_for(sweep_scans: int, rate: float) -> float:
    """An ``s_div`` for which the program's ``int(s_div * 10 * rate)`` is
    `sweep_scans` (a float expression: nudge until it is)."""
    s_div = sweep_scans / (10 * rate)
    for _ in range(8):
        got = int(s_div * (10 - 0) * rate)
        if got == sweep_scans:
            return s_div
        s_div = math.nextafter(s_div, math.inf if got < sweep_scans else -math.inf)
    raise ValueError("no s_div found")


def legacy_settings(*, rate_Hz: float = 1000.0, channels=("ai0", "ai1"),
                    scales=((1.0, "V"), (0.1, "mV")), triggered: bool = False,
                    capt_enable: bool = True, sweep_scans: int = 500, delay_div: float = 0.0,
                    numpy_values: bool = True) -> S:
    """Settings with the fields FORMAT.md lists (and some display ones)."""
    hw_channels = [f"ai{i}" for i in range(8)]
    for name in channels:
        if name not in hw_channels:
            hw_channels.append(name)
    slots = [float(hw_channels.index(c)) for c in channels] + [math.nan] * (8 - len(channels))
    scale = [float(g) for g, _ in scales] + [1.0] * (8 - len(scales))
    units = [u for _, u in scales] + ["V"] * (8 - len(scales))
    rate = np.float64(rate_Hz) if numpy_values else float(rate_Hz)
    return S(
        MAXCHANNELS=8,
        FONTSIZE=9,
        COLORS=["#ff0000", "#00aa00"],
        colors=[Colour((255, 0, 0, 255)), Colour((0, 170, 0, 255))] * 4,
        hw=S(adapter=["nidaq", "Dev1"], acqrate=S(value=rate, unit="Hz"),
             channels=hw_channels),
        conn=S(hw=np.array(slots) if numpy_values else slots,
               scale=np.array(scale) if numpy_values else scale, units=units),
        hori=S(s_div=s_div_for(sweep_scans, rate_Hz), xlim=(0, 10)),
        vert=S(coupling=["DC"] * 8, offset_div=np.zeros(8) if numpy_values else [0.0] * 8),
        trig=S(enable=triggered, auto=False, count=math.inf, source=0, direction=1,
               level_div=1.5, delay_div=float(delay_div)),
        capt_enable=capt_enable,
    )


def summary_text(*, rundate: str, rate_Hz: float, channels, scales, sweep_scans: int,
                 sweep_s: float, generation: int) -> str:
    """``NAME.txt`` as 1.x (one-line scale block) or 2.0 (one entry per line) wrote it."""
    chans = " ".join(f"'{c}'" for c in channels)
    entries = [f"'{g:.5g} {u}'" for g, u in scales]
    if generation == 1:
        scale = "{ " + " ".join(entries) + " }"
    else:
        scale = "{ " + "\n".join(entries) + "\n}"
    return (f"rundate = '{rundate}'\nrate_hz = {rate_Hz:g}\nchannels = {{ {chans} }}\n"
            f"nchannels = {len(channels)}\nscale = {scale}\nscans_per_sweep = {sweep_scans}\n"
            f"sweepperiod_s = {sweep_s:g}\n")


def make_legacy(base: str | Path, raw: np.ndarray, *, generation: int = 1,
                rate_Hz: float = 1000.0, channels=None, scales=None, triggered: bool = False,
                sweep_scans: int | None = None, delay_div: float = 0.0,
                with_pickle: bool = True, with_txt: bool = True, extra_bytes: int = 0,
                real_pickler: bool = False, **pickle_kw: Any) -> Path:
    """Write ``base.txt``, ``base.escope`` (pickled settings) and float64
    ``base.dat`` as EScope `generation` did; `raw` is C×T, or C×N×S when
    triggered. Returns ``base``."""
    base = Path(base)
    raw = np.asarray(raw, dtype=np.float64)
    n_ch = raw.shape[0]
    channels = list(channels or [f"ai{i}" for i in range(n_ch)])
    scales = list(scales or [(1.0, "mV")] * n_ch)
    if sweep_scans is None:
        sweep_scans = raw.shape[-1] if triggered else 500
    settings = legacy_settings(rate_Hz=rate_Hz, channels=channels, scales=scales,
                               triggered=triggered, sweep_scans=sweep_scans,
                               delay_div=delay_div)
    if with_pickle:
        data = real_pickle_v2(settings) if real_pickler else dumps(settings, generation,
                                                                  **pickle_kw)
        base.with_name(base.name + ".escope").write_bytes(data)
    if with_txt:
        sweep_s = settings["hori"]["s_div"] * 10
        base.with_name(base.name + ".txt").write_text(summary_text(
            rundate=base.name[:15] if base.name[:8].isdigit() else "20120317-101112",
            rate_Hz=rate_Hz, channels=channels, scales=scales, sweep_scans=sweep_scans,
            sweep_s=sweep_s, generation=generation))
    with open(base.with_name(base.name + ".dat"), "wb") as f:
        f.write(np.moveaxis(raw, 0, -1).astype("<f8").tobytes())
        f.write(b"\x7f" * extra_bytes)
    return base
