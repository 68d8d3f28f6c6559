"""Remote recordings: download a recording's files into a local cache.

``Recording("https://host/path/NAME.escope")`` calls :func:`fetch_recording`,
which downloads ``NAME.escope``, ``NAME.dat`` and, for versions that keep
their settings apart, ``NAME.config`` from the same folder (and, for a
recording from before 3.0, whose ``NAME.escope`` is not JSON, its
``NAME.txt`` when the server has it).

- A query string or fragment (``NAME.escope?token=abc``, as signed or
  authenticated links have) is kept on every file of the recording
  (``NAME.dat?token=abc``); cached files are named without it.
- Downloads stream to disk (never the whole file in memory) under a hidden
  temporary name and are renamed when complete, so an interrupted download
  leaves nothing that looks complete. Downloads of one file take turns (see
  :mod:`escope.atomic`), and the temporaries of a download that was killed
  are deleted by the next download of that file.
- Files are cached by folder URL and query under ``ESCOPE_CACHE_DIR``
  (``~`` is expanded; default: the user cache folder,
  ``pooch.os_cache("escope-analysis")``); opening the same URL again
  downloads nothing. A cached recording is not checked against the server
  again: call :func:`clear_cache` (or delete its folder) to fetch it anew.
- The ``.dat`` shows a progress bar (tqdm) when stderr is a terminal.
- Every wait for the server is bounded by ``ESCOPE_TIMEOUT`` seconds
  (default 30), and a transfer that delivers less than 1 KiB/s over any
  window of that length is abandoned as stalled, so a server that trickles
  bytes cannot keep a download alive forever.
- Failures raise :class:`DownloadError`, an :class:`OSError` that names the
  URL and the HTTP status or the reason.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import time
import urllib.parse
from pathlib import Path
from typing import BinaryIO

from . import atomic
from .format import EXTENSIONS
from .progress import progress_bar

__all__ = ["DownloadError", "fetch_recording", "cache_dir", "clear_cache", "timeout"]

#: Below this average rate (bytes per second, over one timeout window) a
#: transfer counts as stalled.
MIN_RATE = 1024
_CHUNK = 1 << 20
#: Sidecars and settings are small; a server sending more is not serving one.
_MAX_SMALL = 16 * 1024 * 1024
_MAX_TIMEOUT = 86400.0


class DownloadError(OSError):
    """A recording could not be downloaded (HTTP error, refused, timeout, cut off)."""


def cache_dir() -> Path:
    """Folder holding downloaded recordings (``$ESCOPE_CACHE_DIR`` if set, ``~`` expanded)."""
    env = os.environ.get("ESCOPE_CACHE_DIR", "").strip()
    if env:
        return Path(os.path.expanduser(env))
    import pooch

    return Path(pooch.os_cache("escope-analysis"))


def timeout() -> float:
    """Seconds a request may wait for the server (``$ESCOPE_TIMEOUT``, default 30).

    Raises
    ------
    ValueError
        If ``ESCOPE_TIMEOUT`` is not a number of seconds in (0, 86400].
    """
    text = os.environ.get("ESCOPE_TIMEOUT", "").strip()
    if not text:
        return 30.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= _MAX_TIMEOUT):
        raise ValueError(f"ESCOPE_TIMEOUT must be a number of seconds above 0 and at most "
                         f"{_MAX_TIMEOUT:g}, not {text!r}")
    return value


def _split(url: str) -> tuple[str, str, str]:
    """``(folder_url, NAME, tail)`` of a URL naming any file of a recording;
    `tail` is the query and fragment (``"?token=abc"``), kept for every file."""
    parts = urllib.parse.urlsplit(url)
    folder_path, _, name = parts.path.rpartition("/")
    for ext in EXTENSIONS:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    if not name:
        raise DownloadError(f"{url}: the URL does not name a recording")
    folder = urllib.parse.urlunsplit((parts.scheme, parts.netloc, folder_path, "", ""))
    tail = (f"?{parts.query}" if parts.query else "") + (
        f"#{parts.fragment}" if parts.fragment else "")
    return folder, name, tail


def _cache_folder(folder_url: str, tail: str = "") -> Path:
    """Cache folder for the recordings of one server folder (and query: a
    query may select what the server sends, so it is part of the key)."""
    query = tail.split("#", 1)[0]
    return cache_dir() / hashlib.sha256((folder_url + query).encode()).hexdigest()[:16]


def _stream(url: str, f: BinaryIO, progress: bool, max_bytes: int | None) -> None:
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    wait = timeout()
    try:
        with requests.get(url, stream=True, timeout=wait) as r:
            r.raise_for_status()
            total = r.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            if max_bytes is not None and total is not None and total > max_bytes:
                raise DownloadError(f"could not download {url}: {total} bytes is too large "
                                    f"for this file (at most {max_bytes})")
            received = 0
            window_start, window_bytes = time.monotonic(), 0
            with progress_bar(total, url.rsplit("/", 1)[-1].split("?", 1)[0], "B",
                              enabled=progress, scale=True) as bar:
                while True:
                    chunk = r.raw.read1(_CHUNK, decode_content=True)
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    window_bytes += len(chunk)
                    bar.update(len(chunk))
                    if max_bytes is not None and received > max_bytes:
                        raise DownloadError(f"could not download {url}: more than {max_bytes} "
                                            "bytes, too large for this file")
                    elapsed = time.monotonic() - window_start
                    if elapsed >= wait:
                        if window_bytes < MIN_RATE * elapsed:
                            raise DownloadError(
                                f"could not download {url}: stalled ({window_bytes} bytes in "
                                f"{elapsed:.1f} s, below {MIN_RATE} bytes/s)")
                        window_start, window_bytes = time.monotonic(), 0
            if total is not None and received != total and "Content-Encoding" not in r.headers:
                raise DownloadError(f"could not download {url}: connection dropped mid-file "
                                    f"({received} of {total} bytes)")
    except requests.HTTPError as exc:
        resp = exc.response
        status = f"HTTP {resp.status_code} {resp.reason}" if resp is not None else str(exc)
        raise DownloadError(f"could not download {url}: {status}") from None
    except (requests.Timeout, ReadTimeoutError, TimeoutError):
        raise DownloadError(f"could not download {url}: timed out after {wait:g} s") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
            ProtocolError) as exc:
        raise DownloadError(f"could not download {url}: connection dropped mid-file ({exc})") \
            from None
    except requests.ConnectionError as exc:
        raise DownloadError(f"could not download {url}: connection failed ({exc})") from None
    except (requests.RequestException, Urllib3Error) as exc:
        raise DownloadError(f"could not download {url}: {exc}") from None


def _download(url: str, target: Path, progress: bool, max_bytes: int | None = None) -> None:
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Another process may be downloading the same file: the lock makes this
    # one wait, and the download is skipped if the file is there by then.
    atomic.replace_atomically(target, lambda f: _stream(url, f, progress, max_bytes),
                               unless_exists=True)


def fetch_recording(url: str) -> Path:
    """Download a recording's files (if not cached) and return the local sidecar path.

    Parameters
    ----------
    url : str
        ``http(s)://…/NAME.escope`` (or ``NAME.dat``, ``NAME.config``,
        ``NAME``), optionally with a query string (kept for every file).

    Returns
    -------
    pathlib.Path
        The cached ``NAME.escope``, beside its ``.dat`` (and ``.config``).

    Raises
    ------
    DownloadError
        Naming the URL and the HTTP status or reason.
    ValueError
        If ``ESCOPE_TIMEOUT`` is not a valid number of seconds.
    """
    from .format import decode_config, needs_config_file

    folder, name, tail = _split(url)
    timeout()  # a bad ESCOPE_TIMEOUT is reported before anything is requested
    local = _cache_folder(folder, tail) / name
    sidecar = local.with_name(name + ".escope")
    _download(f"{folder}/{name}.escope{tail}", sidecar, progress=False, max_bytes=_MAX_SMALL)
    try:
        content = decode_config(sidecar.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        content = None  # Recording reports the malformed sidecar, naming it
    # The same rule as for local files: only versions before escope-3.3 keep
    # their settings apart (a 3.3 sidecar without them is reported as such).
    if needs_config_file(content):
        _download(f"{folder}/{name}.config{tail}", local.with_name(name + ".config"),
                  progress=False, max_bytes=_MAX_SMALL)
    elif content is None:
        # Perhaps pickled settings from before 3.0: their summary helps
        # (it is checked against them), but they open without it.
        try:
            _download(f"{folder}/{name}.txt{tail}", local.with_name(name + ".txt"),
                      progress=False, max_bytes=_MAX_SMALL)
        except DownloadError:
            pass
    _download(f"{folder}/{name}.dat{tail}", local.with_name(name + ".dat"),
              progress=sys.stderr.isatty())
    return sidecar


def clear_cache(url: str | None = None) -> None:
    """Forget downloaded recordings: those of `url`'s folder, or all of them."""
    if url is None:
        target = cache_dir()
    else:
        folder, _, tail = _split(url)
        target = _cache_folder(folder, tail)
    shutil.rmtree(target, ignore_errors=True)
