"""Recordings from before EScope 3.0 (1.x, 2010-2023; 2.0, 2023-July 2024).

Those versions wrote ``NAME.txt`` (a ``key = value`` summary),
``NAME.escope`` (the whole settings object, **pickled**) and float64
``NAME.dat`` (FORMAT.md, "Recordings from before 3.0"). This module turns the
first two into the plain values :func:`escope.format.read_header` needs; it
never touches samples.

A pickle runs whatever code it names when loaded with the standard class
lookup, and recordings travel between labs. So :func:`load_settings` never
does that: it first walks the opcodes (:func:`pickletools.genops`, which
checks every claimed length against the bytes that are really there, so a
huge claimed length allocates nothing), then unpickles with a class lookup
that knows only

- the settings class ``Struct`` (every module path the program used),
  turned into a plain dict;
- Qt colours (``PyQt4``/``PyQt5`` ``QtGui.QColor``, also in the form sip's
  pickling support writes), turned into ``(r, g, b, a)`` tuples;
- numpy's array, dtype and scalar reconstructors (``numpy.core`` and
  ``numpy._core`` spellings), with arrays limited to numbers, booleans and
  strings;
- ``copyreg._reconstructor`` and ``object``, which protocol 0 uses to make
  each ``Struct``.

Any other global is refused with a :class:`~escope.FormatError` naming it,
before anything it names is looked up. The result is converted to the
values a 3.x settings file decodes to (dicts, lists, numbers, strings, numpy
arrays), with bounded depth and no internal exception escaping.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
from typing import Any, Callable

import numpy as np

from .units import parse_channel_scale

__all__ = ["LegacyError", "load_settings", "parse_summary", "settings_fields",
           "STRUCT_MODULES", "MAX_SUMMARY_BYTES", "bool_setting", "disagreement",
           "generation_of_summary"]

#: Module paths of the settings class: 1.x, 2.0 installed, 2.0 run from source.
STRUCT_MODULES = {"escopelib.Struct": 1, "escope_wagenadl.escopelib.Struct": 2,
                  "src.escope_wagenadl.escopelib.Struct": 2}
_QT_MODULES = ("PyQt4.QtGui", "PyQt5.QtGui")
_SIP_MODULES = ("sip", "PyQt4.sip", "PyQt5.sip")
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
#: Deepest nesting of the settings (real ones are 3-4 levels deep).
MAX_DEPTH = 64
#: Largest array in the settings (real ones hold 8 values).
MAX_ARRAY_ITEMS = 1 << 20
_ARRAY_KINDS = "biufcSU"


class LegacyError(Exception):
    """What is wrong with an old settings pickle or summary (no file name:
    the caller adds it)."""


# --------------------------------------------------------------------- the pickle
class _Struct:
    """Stands in for EScope's ``Struct``: keeps the state it is given."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: Any = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = state[0]
        if not isinstance(state, dict):
            raise LegacyError(f"a Struct's state is a {type(state).__name__}, not a dict")
        self.state = state


class _Colour(tuple):
    """A Qt colour as ``(red, green, blue, alpha)``."""


def _qcolor(*args: Any) -> _Colour:
    if len(args) not in (3, 4) or not all(isinstance(a, int) and not isinstance(a, bool)
                                          for a in args):
        raise LegacyError(f"a QColor made from {args!r} (expected 3 or 4 integers)")
    return _Colour(args if len(args) == 4 else (*args, 255))


def _sip_unpickle(module: Any, name: Any, args: Any) -> _Colour:
    if module not in _QT_MODULES or name != "QColor" or not isinstance(args, tuple):
        raise LegacyError(f"sip object {module}.{name} (only QtGui.QColor is allowed)")
    return _qcolor(*args)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    # copyreg._reconstructor(Struct, object, None): an empty Struct whose
    # __dict__ BUILD then sets.
    if cls is not _Struct or base is not object or state is not None:
        raise LegacyError("copy_reg._reconstructor used for something other than a Struct")
    return _Struct()


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy's _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD
    # (ndarray.__setstate__) fills. The shape given here would be allocated
    # as is, so it is not taken from the file.
    if subtype is not np.ndarray:
        raise LegacyError("numpy _reconstruct of something other than an ndarray")
    return np.ndarray((0,), np.uint8)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _ARRAY_KINDS:
        raise LegacyError(f"a numpy scalar of type {dtype!r}")
    if isinstance(data, str):  # a Python 2 byte string, read as latin-1
        data = data.encode("latin-1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise LegacyError(f"a numpy scalar of type {dtype} with {type(data).__name__} data")
    return np.frombuffer(data, dtype)[0]


def _np_dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if isinstance(obj, bytes):
        obj = obj.decode("latin-1")
    if not isinstance(obj, str) or not re.fullmatch(r"[biufcSU]\d{1,4}|\?|[SU]", obj):
        raise LegacyError(f"numpy dtype {obj!r}")
    return np.dtype(obj, bool(align), bool(copy))


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    **{(m, "Struct"): _Struct for m in STRUCT_MODULES},
    **{(m, "QColor"): _qcolor for m in _QT_MODULES},
    **{(m, "_unpickle_type"): _sip_unpickle for m in _SIP_MODULES},
    **{(m, "_reconstruct"): _np_reconstruct for m in _NUMPY_MODULES},
    **{(m, "scalar"): _np_scalar for m in _NUMPY_MODULES},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _np_dtype,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}


class _Refused(Exception):
    pass


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.struct_module: str | None = None

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"{module}.{name}") from None
        if found is _Struct:
            self.struct_module = module
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise LegacyError("a persistent id (not written by EScope)")


def _walk(raw: bytes) -> tuple[int, set[str]]:
    """Check the opcode stream without building anything; return the
    protocol and the globals named directly (GLOBAL/INST opcodes).

    Every length an opcode claims is checked against the bytes present (the
    unpickler would allocate a claimed length before reading it). Like
    :func:`pickletools.genops`, except that Python 2 byte strings (numpy
    arrays' data) are not decoded as ASCII.
    """
    f = io.BytesIO(raw)
    protocol, names = 0, set()
    try:
        while True:
            code = f.read(1)
            if not code:
                raise LegacyError("a truncated pickle (no STOP opcode)")
            op = pickletools.code2op.get(code.decode("latin-1"))
            if op is None:
                raise LegacyError(f"a damaged pickle (unknown opcode {code!r} at byte "
                                  f"{f.tell() - 1})")
            arg = None
            if op.arg is not None:
                if op.arg.name == "stringnl":
                    pickletools.read_stringnl(f, decode=False)
                else:
                    arg = op.arg.reader(f)
            if op.name == "PROTO":
                protocol = int(arg)
            elif op.name in ("GLOBAL", "INST"):
                names.add(str(arg).replace(" ", "."))
            elif op.name == "STOP":
                return protocol, names
    except (ValueError, EOFError, OverflowError, UnicodeDecodeError, TypeError) as exc:
        raise LegacyError(f"a damaged pickle ({exc})") from None


def load_settings(raw: bytes) -> tuple[dict[str, Any], int]:
    """Safely load an old ``.escope`` settings pickle.

    Returns
    -------
    (dict, int)
        The settings as plain values, and the program generation that wrote
        them: 1 (``escopelib.Struct``, protocol 0) or 2 (the
        ``escope_wagenadl`` paths, protocol 4).

    Raises
    ------
    LegacyError
        Naming a refused global, or saying how the pickle is damaged.
    """
    if not raw:
        raise LegacyError("empty")
    protocol, names = _walk(raw)
    for name in sorted(names):  # protocol 0 names them all up front
        module, _, attr = name.rpartition(".")
        if (module, attr) not in _ALLOWED:
            raise LegacyError(f"refused: the pickle names {name}, which EScope settings never "
                              "hold (it was not loaded)")
    unpickler = _SafeUnpickler(io.BytesIO(raw), encoding="latin1")
    try:
        obj = unpickler.load()
    except _Refused as exc:
        raise LegacyError(f"refused: the pickle names {exc}, which EScope settings never hold "
                          "(it was not loaded)") from None
    except LegacyError:
        raise
    except RecursionError:
        raise LegacyError("nested too deeply") from None
    except MemoryError:
        raise LegacyError("too large to load") from None
    except Exception as exc:  # UnpicklingError, EOFError, TypeError from a bad call...
        raise LegacyError(f"a damaged pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, _Struct):
        raise LegacyError(f"holds a {type(obj).__name__}, not EScope's settings (a Struct)")
    generation = STRUCT_MODULES[unpickler.struct_module] if unpickler.struct_module else (
        1 if protocol < 2 else 2)
    return _plain(obj), generation


def _plain(root: Any) -> dict[str, Any]:
    """The unpickled objects as the values a 3.x settings file decodes to,
    with shared objects converted once and cycles refused."""
    done: dict[int, Any] = {}
    busy: set[int] = set()
    keep = []  # objects whose id() is a key of `done` stay alive

    def conv(obj: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise LegacyError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(obj, np.generic):  # before float: np.float64 is a float
            if obj.dtype.kind not in _ARRAY_KINDS:
                raise LegacyError(f"a numpy value of type {obj.dtype}")
            return obj.item()
        if obj is None or isinstance(obj, (bool, str, int, float)):
            return obj
        if isinstance(obj, bytes):
            return obj.decode("latin-1")
        if isinstance(obj, _Colour):
            return tuple(obj)
        key = id(obj)
        if key in done:
            return done[key]
        if key in busy:
            raise LegacyError("a settings object that contains itself")
        busy.add(key)
        keep.append(obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in _ARRAY_KINDS or obj.dtype.itemsize == 0:
                raise LegacyError(f"an array of type {obj.dtype}")
            if obj.size > MAX_ARRAY_ITEMS:
                raise LegacyError(f"an array of {obj.size} values (at most {MAX_ARRAY_ITEMS})")
            out: Any = np.array(obj)  # own, writable, native order
        elif isinstance(obj, _Struct):
            out = conv(obj.state, depth + 1)
        elif isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if isinstance(k, bytes):
                    k = k.decode("latin-1")
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise LegacyError(f"a settings key of type {type(k).__name__}")
                out[str(k)] = conv(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            out = [conv(v, depth + 1) for v in obj]
        else:
            raise LegacyError(f"a value of type {type(obj).__name__}")
        busy.discard(key)
        done[key] = out
        return out

    return conv(root, 0)


# --------------------------------------------------------------------- NAME.txt
_LINE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_QUOTED_RE = re.compile(r"'([^'\n]*)'")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_REQUIRED = ("rundate", "rate_hz", "channels", "nchannels", "scale", "scans_per_sweep",
             "sweepperiod_s")
#: The summary's own size limit: real ones are a few hundred bytes.
MAX_SUMMARY_BYTES = 1 << 16


def _strings(key: str, value: str) -> list[str]:
    inner = value.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise LegacyError(f"{key} = {value!r} is not a list {{ '...' '...' }}")
    inner = inner[1:-1]
    items = _QUOTED_RE.findall(inner)
    if _QUOTED_RE.sub("", inner).strip():
        raise LegacyError(f"{key} = {value!r}: every entry must be quoted")
    return items


def _number(key: str, value: str) -> float:
    if not _NUMBER_RE.match(value):
        raise LegacyError(f"{key} = {value!r} is not a number")
    return float(value)


def _count(key: str, value: str, low: int) -> int:
    if not re.fullmatch(r"\d{1,12}", value) or int(value) < low:
        raise LegacyError(f"{key} = {value!r} is not a whole number >= {low}")
    return int(value)


def parse_summary(raw: bytes) -> dict[str, Any]:
    """Parse an old ``NAME.txt`` strictly.

    Returns a dict with ``rundate``, ``rate_Hz``, ``channels``, ``scale``
    (the strings), ``gains``, ``units``, ``sweep_scans``, ``sweep_s`` and
    ``multiline`` (True for 2.0's scale block of several lines).

    Raises
    ------
    LegacyError
        Naming the key or line that is wrong.
    """
    if len(raw) > MAX_SUMMARY_BYTES:
        raise LegacyError(f"{len(raw)} bytes is too large for a summary "
                          f"(at most {MAX_SUMMARY_BYTES})")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise LegacyError(f"not ASCII text (byte {exc.start})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    values: dict[str, str] = {}
    multiline = False
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        i += 1
        if not line.strip():
            continue
        m = _LINE_RE.match(line)
        if m is None:
            raise LegacyError(f"line {number} is not 'key = value': {line[:60]!r}")
        key, value = m.group(1), m.group(2)
        if value.startswith("{") and "}" not in value:
            # 2.0 ends every entry of a list with a newline: the block
            # closes with '}' on a later line.
            parts = [value]
            while "}" not in parts[-1]:
                if i >= len(lines):
                    raise LegacyError(f"line {number}: {key} = {{ ... is never closed")
                parts.append(lines[i].strip())
                i += 1
            value = " ".join(parts)
            multiline = True
        if key in values:
            raise LegacyError(f"line {number}: {key} given twice")
        values[key] = value
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise LegacyError(f"missing {', '.join(missing)}")

    rundate = _QUOTED_RE.fullmatch(values["rundate"])
    if rundate is None:
        raise LegacyError(f"rundate = {values['rundate']!r} is not a quoted string")
    rate = _number("rate_hz", values["rate_hz"])
    if not (math.isfinite(rate) and rate > 0):
        raise LegacyError(f"rate_hz = {values['rate_hz']!r} is not a positive rate")
    channels = _strings("channels", values["channels"])
    if not channels:
        raise LegacyError("channels = { } lists no channel")
    if len(set(channels)) != len(channels):
        raise LegacyError(f"channel names are not unique: {channels}")
    n = _count("nchannels", values["nchannels"], 1)
    if n != len(channels):
        raise LegacyError(f"nchannels = {n} but {len(channels)} channel(s) listed {channels}")
    scale = _strings("scale", values["scale"])
    if len(scale) != len(channels):
        raise LegacyError(f"{len(channels)} channel(s) but {len(scale)} scale entr"
                          f"{'y' if len(scale) == 1 else 'ies'}")
    gains, units = [], []
    for s in scale:
        try:
            gain, unit = parse_channel_scale(s)
        except ValueError as exc:
            raise LegacyError(str(exc)) from None
        gains.append(gain)
        units.append(unit)
    sweep_s = _number("sweepperiod_s", values["sweepperiod_s"])
    if not math.isfinite(sweep_s):
        raise LegacyError(f"sweepperiod_s = {values['sweepperiod_s']!r} is not finite")
    return {
        "rundate": rundate.group(1),
        "rate_Hz": rate,
        "channels": channels,
        "scale": scale,
        "gains": gains,
        "units": units,
        "sweep_scans": _count("scans_per_sweep", values["scans_per_sweep"], 0),
        "sweep_s": sweep_s,
        "multiline": multiline,
    }


# --------------------------------------------------------------------- settings -> fields
def _at(config: dict, path: str) -> Any:
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise LegacyError(f"the settings have no {path}")
        node = node[key]
    return node


def _real(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LegacyError(f"{path} = {value!r} is not a number")
    return float(value)


def settings_fields(config: dict) -> dict[str, Any]:
    """What an old settings object says about the samples: ``rate_Hz``,
    ``channels``, ``scale`` (built as the program built them, ``%.5g`` and
    the unit), ``gains``, ``units``, ``sweep_s`` and ``sweep_scans``.

    Raises
    ------
    LegacyError
        Naming a setting that is missing or of the wrong kind.
    """
    rate = _real(_at(config, "hw.acqrate.value"), "hw.acqrate.value")
    if not (math.isfinite(rate) and rate > 0):
        raise LegacyError(f"hw.acqrate.value = {rate!r} is not a positive rate")
    hw_channels = _at(config, "hw.channels")
    slots = _at(config, "conn.hw")
    scales = _at(config, "conn.scale")
    units = _at(config, "conn.units")
    for path, seq in (("hw.channels", hw_channels), ("conn.hw", slots),
                      ("conn.scale", scales), ("conn.units", units)):
        if not isinstance(seq, (list, np.ndarray)):
            raise LegacyError(f"{path} is a {type(seq).__name__}, not a list")
    slots, scales = list(np.ravel(slots)), list(np.ravel(scales))
    units = list(np.ravel(units)) if isinstance(units, np.ndarray) else units
    channels, scale, gains, unit_list = [], [], [], []
    for k, slot in enumerate(slots):
        slot = _real(slot.item() if isinstance(slot, np.generic) else slot, f"conn.hw[{k}]")
        if math.isnan(slot):
            continue  # an unused display slot
        if not slot.is_integer() or not 0 <= slot < len(hw_channels):
            raise LegacyError(f"conn.hw[{k}] = {slot!r} names no channel of hw.channels "
                              f"({len(hw_channels)} of them)")
        if k >= len(scales) or k >= len(units):
            raise LegacyError(f"conn.scale/conn.units have no entry for slot {k}")
        name = hw_channels[int(slot)]
        gain = _real(scales[k].item() if isinstance(scales[k], np.generic) else scales[k],
                     f"conn.scale[{k}]")
        if not isinstance(name, str) or not isinstance(units[k], str):
            raise LegacyError(f"slot {k}: channel {name!r} with unit {units[k]!r}")
        text = f"{gain:.5g} {units[k]}"
        try:
            parsed_gain, unit = parse_channel_scale(text)
        except ValueError as exc:
            raise LegacyError(f"conn.units[{k}]: {exc}") from None
        channels.append(name)
        scale.append(text)
        gains.append(parsed_gain)
        unit_list.append(unit)
    if not channels:
        raise LegacyError("conn.hw connects no channel")
    # As the program computed them (FORMAT.md): the same float expressions.
    s_div = _real(_at(config, "hori.s_div"), "hori.s_div")
    xlim = _at(config, "hori.xlim")
    if not isinstance(xlim, (list, np.ndarray)) or len(xlim) != 2:
        raise LegacyError(f"hori.xlim = {xlim!r} is not [x0, x1]")
    x0, x1 = (_real(v.item() if isinstance(v, np.generic) else v, "hori.xlim") for v in xlim)
    sweep_s = s_div * (x1 - x0)
    scans = sweep_s * rate
    if not (math.isfinite(scans) and 0 <= scans < 2**62):
        raise LegacyError(f"a sweep of {sweep_s!r} s at {rate:g} Hz")
    return {"rate_Hz": rate, "channels": channels, "scale": scale, "gains": gains,
            "units": unit_list, "sweep_s": sweep_s, "sweep_scans": int(scans)}


def bool_setting(config: dict, path: str) -> bool:
    """A true/false setting as old files hold it (``True``, or ``1`` from
    Python 2 code); anything else is false."""
    try:
        value = _at(config, path)
    except LegacyError:
        return False
    return (isinstance(value, (bool, int)) and value == 1)


def _same_scale(a: tuple[float, str], b: tuple[float, str]) -> bool:
    # Both are written with %.5g: equal to 5 significant digits.
    return a[1] == b[1] and math.isclose(a[0], b[0], rel_tol=1e-4, abs_tol=0.0)


def disagreement(txt: dict[str, Any], cfg: dict[str, Any], txt_name: str,
                 pickle_name: str) -> str | None:
    """Describe the first way the summary and the settings disagree, or None."""
    if txt["channels"] != cfg["channels"]:
        return (f"{txt_name} lists channels {txt['channels']} but {pickle_name} connects "
                f"{cfg['channels']}")
    # rate_hz is written with %g (6 significant digits)
    if not math.isclose(txt["rate_Hz"], cfg["rate_Hz"], rel_tol=1e-5):
        return (f"{txt_name} says rate_hz = {txt['rate_Hz']:g} but {pickle_name} says "
                f"hw.acqrate.value = {cfg['rate_Hz']:g}")
    for name, ts, tg, tu, cs, cg, cu in zip(txt["channels"], txt["scale"], txt["gains"],
                                            txt["units"], cfg["scale"], cfg["gains"],
                                            cfg["units"]):
        if not _same_scale((tg, tu), (cg, cu)):
            return (f"{txt_name} gives channel {name} the scale {ts!r} but {pickle_name} "
                    f"gives {cs!r}")
    return None


def generation_of_summary(txt: dict[str, Any]) -> int:
    """1.x writes the scale list on one line, 2.0 one entry per line."""
    return 2 if txt["multiline"] else 1
