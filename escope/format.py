"""The EScope file format: the one parser of the project.

Everything that knows how ``.escope``/``.dat``/``.config`` files are laid out
lives here. :class:`escope.Recording` and :mod:`escope_neo` both build on
:func:`read_header`, which reads the sidecar (and the ``.config`` of old
versions) once, checks it, and returns a :class:`Header` of plain values that
say where every sample is. Samples are never read here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np

from .units import parse_channel_scale

__all__ = [
    "FormatError",
    "PartialDataWarning",
    "MissingSettingsWarning",
    "Header",
    "read_header",
    "resolve_paths",
    "decode_config",
    "encode_config",
    "parse_version",
    "refresh_header",
    "open_samples",
    "start_time",
]

KNOWN_VERSIONS = ((3, 0), (3, 1), (3, 2), (3, 3))
NEWEST = KNOWN_VERSIONS[-1]
#: What a recording's files end in (".txt": the summary of files before 3.0).
EXTENSIONS = (".escope", ".dat", ".config", ".txt")
_VERSION_RE = re.compile(r"^escope-(\d+)(?:\.(\d+))?$")
_SAVED_SWEEP_RE = re.compile(r"^\d{8}-\d{6}-\d{3}$")
#: Largest sidecar or settings file read. Real ones are a few kB; the cap only
#: stops a wrong file (a link to a device, a huge log) from eating memory.
MAX_JSON_BYTES = 16 * 1024 * 1024


class FormatError(ValueError):
    """A recording that is malformed or of an unsupported version.

    The message names the file and says what is wrong.
    """


class PartialDataWarning(UserWarning):
    """Trailing samples that do not make a whole scan or sweep were dropped."""


class MissingSettingsWarning(UserWarning):
    """An old recording's settings (its pickled ``.escope``) are missing or
    unreadable: it is read from its ``.txt`` alone, as a continuous capture."""


def resolve_paths(filename: str | os.PathLike) -> tuple[Path, Path, Path]:
    """Return the ``.escope``, ``.dat`` and ``.config`` paths of a recording.

    `filename` may name any of its files (also an old recording's ``.txt``)
    or the bare ``NAME``.
    """
    try:
        text = os.fspath(filename)
    except TypeError:
        raise TypeError(
            f"filename must be a str or os.PathLike, not {type(filename).__name__}"
        ) from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    path = Path(text)
    if path.suffix.lower() in EXTENSIONS:
        path = path.with_suffix("")
    # "", "dir/", "." and ".." name no recording: without this check they
    # would become "..escope" in some folder.
    if not text or text.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise ValueError(
            f"{text!r} does not name a recording: give NAME.escope, NAME.dat or NAME"
        )
    base = str(path)
    return Path(base + ".escope"), Path(base + ".dat"), Path(base + ".config")


def parse_version(text: Any, source: str = "recording") -> tuple[int, int]:
    """Return ``(major, minor)`` of an ``escope-X[.Y]`` version string.

    Unknown newer ``escope-3.x``/``escope-4.x`` versions are returned with a
    warning (they are read as the newest known layout); anything else raises
    :class:`FormatError`.
    """
    if not isinstance(text, str):
        raise FormatError(f"{source}: 'version' must be a string, not {text!r}")
    m = _VERSION_RE.match(text.strip())
    if m is None:
        raise FormatError(f"{source}: unknown version {text!r} (expected 'escope-3.x')")
    version = (int(m.group(1)), int(m.group(2) or 0))
    if version in KNOWN_VERSIONS:
        return version
    if version > NEWEST and version[0] in (3, 4):
        warnings.warn(
            f"{source}: version {text!r} is newer than this library knows "
            f"(escope-{NEWEST[0]}.{NEWEST[1]}); reading it as escope-{NEWEST[0]}.{NEWEST[1]}",
            UserWarning,
            stacklevel=3,
        )
        return version
    raise FormatError(f"{source}: unsupported version {text!r}")


def _config_hook(obj: dict) -> Any:
    tag = obj.get("__type__")
    if tag == "array":
        shape, data = obj.get("shape"), obj.get("data")
        if not isinstance(shape, list) or not isinstance(data, list):
            raise ValueError("array without list 'shape' and 'data'")
        try:
            arr = np.asarray(data)
            return arr.reshape([int(n) for n in shape])
        except (ValueError, TypeError, OverflowError) as exc:  # Infinity in a shape
            raise ValueError(f"bad array {shape}: {exc}") from None
    if tag == "Struct":
        return {k: v for k, v in obj.items() if k != "__type__"}
    return obj


def decode_config(text: str | bytes) -> Any:
    """Decode settings JSON, turning ``"array"`` objects into numpy arrays
    and dropping ``"Struct"`` tags. ``NaN``/``Infinity`` are accepted."""
    return json.loads(text, object_hook=_config_hook)


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__type__": "array", "shape": list(obj.shape), "data": obj.ravel().tolist()}
    if isinstance(obj, dict):
        out = {} if "__type__" in obj else {"__type__": "Struct"}
        out.update((str(k), _encode(v)) for k, v in obj.items())
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def encode_config(config: dict) -> Any:
    """The inverse of :func:`decode_config`: plain JSON-able objects with
    ``"Struct"`` and ``"array"`` tags, as the acquisition program writes."""
    return _encode(config)


def _get(config: dict, path: str, default: Any = None) -> Any:
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


@dataclass(frozen=True)
class Header:
    """Everything about a recording except its samples.

    Sample ``k`` of channel ``c`` in sweep ``n`` is element
    ``(n * n_scans + k) * n_channels + c`` of the ``.dat`` file, read as
    :attr:`dtype`. Continuous recordings and saved sweeps have ``n_sweeps == 1``.
    For a recording from before 3.0, `version` is ``"escope-1"`` or
    ``"escope-2"``, `escope_path` is the pickled settings (the ``.txt`` when
    they are missing), `txt_path` the summary, and `sidecar` what a 3.x
    sidecar would have said.
    """

    escope_path: Path
    dat_path: Path
    config_path: Path | None
    version: str
    version_info: tuple[int, int]
    rundate: str
    rate_Hz: float
    channels: tuple[str, ...]
    scale: tuple[str, ...]
    gains: tuple[float, ...]
    units: tuple[str, ...]
    sweep_s: float
    sweep_scans: int
    config: dict
    dtype: np.dtype
    kind: str  # "continuous", "triggered" or "sweep"
    n_sweeps: int
    n_scans: int  # scans per sweep (triggered) or in all (continuous, sweep)
    trigger_index: int  # scan of the trigger within a sweep; 0 when not triggered
    dropped_scans: int
    dropped_samples: int
    dat_id: tuple[int, int]  # (st_dev, st_ino) of the .dat when the header was read
    sidecar: dict = field(repr=False)
    txt_path: Path | None = None  # the summary of a recording from before 3.0
    dat_size: int = 0  # bytes of the .dat when last sized
    #: (path, st_dev, st_ino, st_size, st_mtime_ns) of each file that
    #: describes the samples, to tell that none changed (see refresh_header)
    described_by: tuple = field(default=(), repr=False)

    @property
    def files(self) -> list[Path]:
        """Every file of the recording that was read (sidecar first)."""
        extra = [p for p in (self.config_path, self.txt_path)
                 if p is not None and p != self.escope_path]
        return [self.escope_path, self.dat_path, *extra]

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def triggered(self) -> bool:
        return self.kind == "triggered"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the samples in file order: ``(N, S, C)`` or ``(T, C)``."""
        if self.triggered:
            return (self.n_sweeps, self.n_scans, self.n_channels)
        return (self.n_scans, self.n_channels)

    @property
    def n_bytes(self) -> int:
        """Bytes of whole scans/sweeps at the start of the ``.dat`` file."""
        return self.n_sweeps * self.n_scans * self.n_channels * self.dtype.itemsize

    @property
    def rundate_datetime(self) -> datetime | None:
        try:
            return datetime.strptime(self.rundate, "%Y%m%d-%H%M%S")
        except ValueError:
            return None

    def channel_index(self, channel: int | str) -> int:
        """Index of `channel`, given as an index (negative from the end) or a name."""
        if isinstance(channel, str):
            try:
                return self.channels.index(channel)
            except ValueError:
                raise ValueError(
                    f"no channel named {channel!r}; channels are {list(self.channels)}"
                ) from None
        if isinstance(channel, (bool, np.bool_)) or not isinstance(channel, (int, np.integer)):
            raise TypeError(f"channel must be an int or a name, not {channel!r}")
        n = self.n_channels
        if not -n <= channel < n:
            raise IndexError(f"channel {channel} out of range for {n} channel(s)")
        return int(channel) % n


def _number(sidecar: dict, key: str, src: str) -> float:
    value = sidecar.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"{src}: {key!r} must be a number, not {value!r}")
    try:
        return float(value)
    except OverflowError:  # a JSON integer literal beyond float range
        raise FormatError(f"{src}: {key!r} is out of range ({str(value)[:20]}...)") from None


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_small_file(path: Path, what: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """Read a whole sidecar or settings file, refusing anything that is not a
    regular file of at most `limit` bytes (a FIFO would block forever, a link
    to ``/dev/zero`` would never end)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(2, f"{what} not found", str(path)) from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a directory, not a {what}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FormatError(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(f"{path}: is {_file_kind(info.st_mode)}; a {what} must be a "
                              "regular file")
        if info.st_size > limit:
            raise FormatError(f"{path}: {info.st_size} bytes is too large for a {what} "
                              f"(at most {limit})")
    except BaseException:
        os.close(fd)
        raise
    chunks, total = [], 0
    with os.fdopen(fd, "rb") as f:
        # In pieces: read(limit) would allocate the whole limit up front.
        while total <= limit:
            chunk = f.read(max(info.st_size + 1 - total, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise FormatError(f"{path}: too large for a {what} (more than {limit} bytes)")
    return raw


def _read_json(path: Path, what: str) -> Any:
    raw = read_small_file(path, what)
    try:
        return decode_config(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{path}: {what} is not valid JSON ({exc})") from None


def needs_config_file(sidecar: Any) -> bool:
    """True if a sidecar keeps its settings in a separate ``.config`` file
    (no embedded ``config`` and a version before ``escope-3.3``)."""
    if not isinstance(sidecar, dict) or "config" in sidecar:
        return False
    version = sidecar.get("version")
    m = _VERSION_RE.match(version.strip()) if isinstance(version, str) else None
    return m is not None and (int(m.group(1)), int(m.group(2) or 0)) < (3, 3)


def _finish_interrupted_write(escope_path: Path, dat_path: Path) -> None:
    """A write of this recording killed mid-commit left a journal: finish
    it first (see :func:`escope.write`), so that the name opens as the
    whole new recording, never as a mix or as nothing."""
    from . import atomic

    try:
        atomic.recover([dat_path, escope_path])
    except atomic.JournalError as exc:
        raise FormatError(f"{exc.filename}: {exc.strerror}") from None
    except OSError as exc:
        raise FormatError(f"{escope_path}: a write of this recording was interrupted and "
                          f"cannot be finished here ({exc.strerror or exc}); open it where "
                          "its folder can be written") from None


def _looks_like_pickle(raw: bytes) -> bool:
    # Protocol 2+ starts with PROTO (0x80); protocol 0 settings with GLOBAL
    # ("ccopy_reg\n_reconstructor") or MARK. No JSON text starts so.
    return raw[:1] in (b"\x80", b"c", b"(")


def read_header(filename: str | os.PathLike) -> Header:
    """Read and check a recording's sidecar (and ``.config``); size its ``.dat``.

    Recordings from before 3.0 (``NAME.txt`` + pickled ``NAME.escope``) are
    read too, without unpickling anything (see :mod:`escope._legacy`).

    Raises
    ------
    FormatError
        If the sidecar or settings are malformed or of an unknown version.
    FileNotFoundError
        If the sidecar, the ``.dat`` or a needed ``.config`` is missing.
    """
    escope_path, dat_path, config_path = resolve_paths(filename)
    _finish_interrupted_write(escope_path, dat_path)
    txt_path = escope_path.with_name(escope_path.stem + ".txt")
    given = Path(os.fsdecode(os.fspath(filename)))
    if given.is_dir():
        raise FormatError(f"{given}: is a directory, not a recording (list the recordings in "
                          "it with 'escope-analysis ls')")
    if given.is_file() and not escope_path.exists() and (
            given.suffix.lower() not in EXTENSIONS
            # a .txt is an old recording's summary only beside its samples
            or (given.suffix.lower() == ".txt" and not dat_path.exists())):
        raise FormatError(f"{given}: not an EScope recording (expected NAME.escope, NAME.dat "
                          "or NAME.config; a NAME.txt only beside its NAME.dat)")
    if not escope_path.exists() and txt_path.is_file():
        d = _describe_legacy(escope_path, None, txt_path)
    else:
        raw = read_small_file(escope_path, "sidecar")
        if (_looks_like_pickle(raw) or txt_path.is_file()) and raw.lstrip()[:1] != b"{":
            d = _describe_legacy(escope_path, raw, txt_path)
        else:
            d = _describe_json(escope_path, config_path, raw)
    return _layout(d, dat_path)


@dataclass
class _Description:
    """What the sidecar (and settings) say, before the ``.dat`` is sized."""

    escope_path: Path
    config_path: Path | None
    txt_path: Path | None
    version: str
    version_info: tuple[int, int]
    rundate: str
    rate_Hz: float
    channels: list
    scale: list
    gains: list
    units: list
    sweep_s: float
    sweep_scans: int
    config: dict
    dtype: np.dtype
    sidecar: dict
    kind: str | None = None  # decided here for files whose settings are lost


def _describe_json(escope_path: Path, config_path: Path, raw: bytes) -> _Description:
    src = str(escope_path)
    try:
        sidecar = decode_config(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{escope_path}: sidecar is not valid JSON ({exc})") from None
    if not isinstance(sidecar, dict):
        raise FormatError(f"{src}: the sidecar must be a JSON object")

    if "version" not in sidecar:
        raise FormatError(f"{src}: missing key 'version'")
    version_info = parse_version(sidecar["version"], src)
    for key in ("rundate", "rate_Hz", "channels", "scale", "sweep_s", "sweep_scans"):
        if key not in sidecar:
            raise FormatError(f"{src}: missing key {key!r}")

    rundate = sidecar["rundate"]
    if not isinstance(rundate, str):
        raise FormatError(f"{src}: 'rundate' must be a string, not {rundate!r}")
    rate = _number(sidecar, "rate_Hz", src)
    if not (math.isfinite(rate) and rate > 0):
        raise FormatError(f"{src}: 'rate_Hz' must be a positive number, not {rate!r}")
    sweep_s = _number(sidecar, "sweep_s", src)
    sweep_scans = sidecar["sweep_scans"]
    if isinstance(sweep_scans, float) and sweep_scans.is_integer():
        sweep_scans = int(sweep_scans)
    if isinstance(sweep_scans, bool) or not isinstance(sweep_scans, int):
        raise FormatError(f"{src}: 'sweep_scans' must be an integer, not {sweep_scans!r}")

    channels = sidecar["channels"]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise FormatError(f"{src}: 'channels' must be a list of strings")
    if not channels:
        raise FormatError(f"{src}: the recording has zero channels")
    if len(set(channels)) != len(channels):
        raise FormatError(f"{src}: channel names are not unique: {channels}")
    scale = sidecar["scale"]
    if not isinstance(scale, list):
        raise FormatError(f"{src}: 'scale' must be a list of strings")
    if len(scale) != len(channels):
        raise FormatError(
            f"{src}: {len(channels)} channel(s) but {len(scale)} scale string(s)"
        )
    gains, units = [], []
    for text in scale:
        try:
            gain, unit = parse_channel_scale(text)
        except ValueError as exc:
            raise FormatError(f"{src}: {exc}") from None
        gains.append(gain)
        units.append(unit)

    if "config" in sidecar:
        config, cfg_path = sidecar["config"], None
        if not isinstance(config, dict):
            raise FormatError(f"{src}: 'config' must be an object")
    elif needs_config_file(sidecar):
        cfg_path = config_path
        config = _read_json(config_path, "settings file")
        if not isinstance(config, dict):
            raise FormatError(f"{config_path}: the settings must be a JSON object")
    else:
        raise FormatError(f"{src}: missing key 'config' (required from escope-3.3 on)")

    dtype = np.dtype("<f4") if version_info >= (3, 2) else np.dtype("<f8")
    return _Description(
        escope_path=escope_path, config_path=cfg_path, txt_path=None,
        version=sidecar["version"], version_info=version_info, rundate=rundate, rate_Hz=rate,
        channels=channels, scale=scale, gains=gains, units=units, sweep_s=sweep_s,
        sweep_scans=sweep_scans, config=config, dtype=dtype, sidecar=sidecar)


def _describe_legacy(escope_path: Path, raw: bytes | None, txt_path: Path) -> _Description:
    """A 1.x/2.0 recording: pickled settings and/or the ``.txt`` summary."""
    from ._legacy import (
        LegacyError,
        MAX_SUMMARY_BYTES,
        bool_setting,
        disagreement,
        generation_of_summary,
        load_settings,
        parse_summary,
        settings_fields,
    )

    config: dict | None = None
    generation = 0
    why_lost = f"{escope_path.name} is missing"
    if raw is not None:
        try:
            config, generation = load_settings(raw)
        except LegacyError as exc:
            if not txt_path.is_file():
                raise FormatError(f"{escope_path}: old EScope settings (a pickle) that cannot "
                                  f"be read safely: {exc}") from None
            why_lost = f"{escope_path.name} cannot be read safely ({exc})"
    txt = None
    if txt_path.is_file():
        try:
            txt = parse_summary(read_small_file(txt_path, "summary",
                                                        MAX_SUMMARY_BYTES))
        except LegacyError as exc:
            raise FormatError(f"{txt_path}: not an EScope summary: {exc}") from None
    fields = None
    if config is not None:
        try:
            fields = settings_fields(config)
        except LegacyError as exc:
            raise FormatError(f"{escope_path}: {exc}") from None
        if txt is not None:
            problem = disagreement(txt, fields, str(txt_path), str(escope_path))
            if problem:
                raise FormatError(problem)
        # The two flags that decide the layout, as 3.x files hold them.
        config["capt_enable"] = bool_setting(config, "capt_enable")
        if isinstance(config.get("trig"), dict):
            config["trig"]["enable"] = bool_setting(config, "trig.enable")
    kind = None
    if fields is None:
        assert txt is not None  # the caller saw the .txt
        fields = txt
        generation = generation_of_summary(txt)
        config = {}
        kind = "sweep" if _SAVED_SWEEP_RE.match(escope_path.stem) else "continuous"
        tail = ("" if kind == "sweep" else
                "; read as one continuous capture: whether it held triggered sweeps cannot "
                "be told without them")
        warnings.warn(f"{txt_path}: the settings are lost ({why_lost}){tail}",
                      MissingSettingsWarning, stacklevel=4)
    if txt is not None:
        # The summary is what the program wrote about the samples; the
        # settings' own sweep length may be a float expression away from it.
        sweep_s, sweep_scans, rundate = txt["sweep_s"], txt["sweep_scans"], txt["rundate"]
    else:
        sweep_s, sweep_scans = fields["sweep_s"], fields["sweep_scans"]
        rundate = escope_path.stem[:15]
    version = f"escope-{generation}"
    sidecar = {"version": version, "rundate": rundate, "rate_Hz": fields["rate_Hz"],
               "channels": list(fields["channels"]), "scale": list(fields["scale"]),
               "sweep_s": sweep_s, "sweep_scans": sweep_scans}
    return _Description(
        escope_path=escope_path if raw is not None else txt_path, config_path=None,
        txt_path=txt_path if txt is not None else None, version=version,
        version_info=(generation, 0), rundate=rundate, rate_Hz=fields["rate_Hz"],
        channels=list(fields["channels"]), scale=list(fields["scale"]),
        gains=list(fields["gains"]), units=list(fields["units"]), sweep_s=sweep_s,
        sweep_scans=sweep_scans, config=config,
        # "the machine's byte order (little-endian on every machine it ran on)"
        dtype=np.dtype("<f8"), sidecar=sidecar, kind=kind)


def _layout(d: _Description, dat_path: Path) -> Header:
    """Size the ``.dat`` and lay the samples out as `d` says."""
    src = str(d.escope_path)
    n_ch, dtype, sweep_scans = len(d.channels), d.dtype, d.sweep_scans
    try:
        dat_stat = os.stat(dat_path)
    except FileNotFoundError:
        raise FileNotFoundError(2, "sample file not found", str(dat_path)) from None
    if not stat.S_ISREG(dat_stat.st_mode):
        raise FormatError(f"{dat_path}: is {_file_kind(dat_stat.st_mode)}; the samples must "
                          "be a regular file")
    size = dat_stat.st_size

    if d.kind is not None:
        kind = d.kind
    elif _SAVED_SWEEP_RE.match(d.escope_path.stem):
        kind = "sweep"
    elif _get(d.config, "trig.enable") is True and _get(d.config, "capt_enable") is True:
        kind = "triggered"
    else:
        kind = "continuous"

    n_sweeps, n_scans, dropped_scans, dropped_samples, partial_bytes = _sizes(
        kind, size, n_ch, dtype.itemsize, sweep_scans, d.sweep_s, d.rate_Hz, src, dat_path)
    trigger_index = (_trigger_index(d.config, d.rate_Hz, sweep_scans, src)
                     if kind == "triggered" else 0)
    if dropped_scans or partial_bytes:
        parts = []
        if dropped_scans:
            parts.append(f"{dropped_scans} scan(s) of a partial sweep of {sweep_scans}")
        if partial_bytes:
            parts.append(
                f"1 partial scan ({partial_bytes} byte(s), {n_ch * dtype.itemsize} per scan)"
            )
        warnings.warn(
            f"{dat_path}: dropped {' and '.join(parts)} at the end of the file "
            "(the recording was interrupted)",
            PartialDataWarning,
            stacklevel=4,
        )

    return Header(
        escope_path=d.escope_path,
        dat_path=dat_path,
        config_path=d.config_path,
        version=d.version,
        version_info=d.version_info,
        rundate=d.rundate,
        rate_Hz=d.rate_Hz,
        channels=tuple(d.channels),
        scale=tuple(d.scale),
        gains=tuple(d.gains),
        units=tuple(d.units),
        sweep_s=d.sweep_s,
        sweep_scans=sweep_scans,
        config=d.config,
        dtype=dtype,
        kind=kind,
        n_sweeps=n_sweeps,
        n_scans=n_scans,
        trigger_index=trigger_index,
        dropped_scans=dropped_scans,
        dropped_samples=dropped_samples,
        dat_id=(dat_stat.st_dev, dat_stat.st_ino),
        sidecar=d.sidecar,
        txt_path=d.txt_path,
        dat_size=size,
        described_by=_identities([d.escope_path, d.config_path, d.txt_path]),
    )


#: The longest sweep an empty triggered capture may announce: about six
#: hours at 200 kHz. Real sweeps are seconds; a longer claim is not a sweep.
MAX_SWEEP_SCANS = 1 << 32


def _plausible_sweep(sweep_scans: int, sweep_s: float, rate: float) -> bool:
    """A sweep length that agrees with ``sweep_s × rate_Hz`` (as the program
    computes it) and is not absurd."""
    return (1 <= sweep_scans <= MAX_SWEEP_SCANS and math.isfinite(sweep_s * rate)
            and abs(sweep_s * rate - sweep_scans) <= 1 + 1e-9 * sweep_scans)


def _sizes(kind: str, size: int, n_ch: int, itemsize: int, sweep_scans: int, sweep_s: float,
           rate: float, src: str, dat_path: Path) -> tuple[int, int, int, int, int]:
    """Whole sweeps, scans (per sweep if triggered), dropped scans, dropped
    samples and bytes of a partial scan, in a ``.dat`` of `size` bytes."""
    total_scans = size // (n_ch * itemsize)
    dropped_samples = size // itemsize - total_scans * n_ch
    partial_bytes = size - total_scans * n_ch * itemsize
    if kind != "triggered":
        return 1, total_scans, 0, dropped_samples, partial_bytes
    if sweep_scans < 1:
        raise FormatError(
            f"{src}: triggered recording with 'sweep_scans' {sweep_scans} (must be >= 1)"
        )
    if sweep_scans > total_scans and not _plausible_sweep(sweep_scans, sweep_s, rate):
        # Not even one sweep, and a sweep length that disagrees with the
        # sweep's duration: a wrong 'sweep_scans', which would size arrays.
        raise FormatError(
            f"{src}: a sweep of {sweep_scans} scans ('sweep_scans') is longer than the "
            f"whole file ({total_scans} scans in {dat_path.name}): no whole sweep to read"
        )
    # A capture waiting for its first trigger has no whole sweep yet: 0 sweeps.
    n_sweeps, dropped_scans = divmod(total_scans, sweep_scans)
    return n_sweeps, sweep_scans, dropped_scans, dropped_samples, partial_bytes


def _identities(paths) -> tuple:
    out = []
    for p in paths:
        if p is None:
            continue
        try:
            st = os.stat(p)
        except OSError:
            continue
        out.append((str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def refresh_header(h: Header) -> Header:
    """`h` after the recording's ``.dat`` has grown (a capture being written):
    the same files, sized again. A partial scan or sweep at the end is left
    for a later refresh, without a warning (it is still being written).

    Raises
    ------
    FormatError
        If the ``.dat`` was replaced, shrank or vanished, or a file that
        describes the samples (sidecar, settings) changed: the samples
        already read may no longer be what they were.
    """
    try:
        st = os.stat(h.dat_path)
    except FileNotFoundError:
        raise FormatError(f"{h.dat_path}: the sample file vanished while it was being "
                          "followed") from None
    if (st.st_dev, st.st_ino) != h.dat_id:
        raise FormatError(f"{h.dat_path}: the sample file was replaced while it was being "
                          "followed; open the recording again")
    if st.st_size < h.dat_size:
        raise FormatError(f"{h.dat_path}: the sample file shrank from {h.dat_size} to "
                          f"{st.st_size} bytes while it was being followed")
    for known in h.described_by:
        if _identities([known[0]]) != (known,):
            raise FormatError(f"{known[0]}: changed while the recording was being followed "
                              "(EScope never rewrites it); open the recording again")
    n_sweeps, n_scans, dropped_scans, dropped_samples, _ = _sizes(
        h.kind, st.st_size, h.n_channels, h.dtype.itemsize, h.sweep_scans, h.sweep_s,
        h.rate_Hz, str(h.escope_path), h.dat_path)
    return dataclasses.replace(h, n_sweeps=n_sweeps, n_scans=n_scans,
                               dropped_scans=dropped_scans, dropped_samples=dropped_samples,
                               dat_size=st.st_size)


def _trigger_index(config: dict, rate: float, sweep_scans: int, src: str) -> int:
    delay = _get(config, "trig.delay_div", 0)
    s_div = _get(config, "hori.s_div", 0)
    for name, value in (("trig.delay_div", delay), ("hori.s_div", s_div)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FormatError(f"{src}: config {name!r} must be a finite number, not {value!r}")
    # Clamp before int(): the product of finite settings can overflow to inf.
    return int(min(max(delay * s_div * rate, 0.0), float(sweep_scans)))


TIMEZONE_ENV = "ESCOPE_TIMEZONE"


def start_time(h: Header, timezone: str | tzinfo | None = None) -> datetime | None:
    """The start of the run as a timezone-aware datetime (None if unreadable).

    EScope writes ``rundate`` as local time without a zone. The rule: the
    zone `timezone` (an IANA name such as ``"Europe/Berlin"``, or a
    ``tzinfo``), else the zone named by ``$ESCOPE_TIMEZONE``, else the local
    zone of the computer reading the file (where the recording is assumed to
    have been made). Daylight-saving time is that of the date.

    Raises
    ------
    ValueError
        Naming a zone that does not exist.
    """
    naive = h.rundate_datetime
    if naive is None:
        return None
    zone = timezone if timezone is not None else (os.environ.get(TIMEZONE_ENV) or None)
    if zone is None:
        return naive.astimezone()  # naive means local time to Python
    if isinstance(zone, str):
        from zoneinfo import ZoneInfo

        try:
            zone = ZoneInfo(zone)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            source = "timezone" if timezone is not None else f"${TIMEZONE_ENV}"
            raise ValueError(f"{source}: unknown time zone {zone!r} (use an IANA name such "
                             "as 'Europe/Berlin' or 'UTC')") from None
    if not isinstance(zone, tzinfo):
        raise ValueError(f"timezone must be a zone name or a tzinfo, not {zone!r}")
    return naive.replace(tzinfo=zone)


def open_samples(h: Header) -> np.ndarray:
    """Memory-map the samples described by `h`, in file order (``h.shape``).

    The file must still be the one the header was read from, at least as
    long: a ``.dat`` replaced or truncated since then would otherwise be read
    with the old layout (wrong samples) or fail inside numpy.
    """
    if h.n_bytes == 0:
        return np.zeros(h.shape, dtype=h.dtype)
    try:
        f = open(h.dat_path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(2, "sample file vanished since the recording was opened",
                                str(h.dat_path)) from None
    with f:
        info = os.fstat(f.fileno())
        if (info.st_dev, info.st_ino) != h.dat_id:
            raise FormatError(f"{h.dat_path}: the file was replaced since the recording was "
                              "opened; open the recording again")
        if info.st_size < h.n_bytes:
            raise FormatError(f"{h.dat_path}: the file was truncated since the recording was "
                              f"opened ({info.st_size} bytes now, {h.n_bytes} expected)")
        return np.memmap(f, dtype=h.dtype, mode="r", shape=h.shape)
