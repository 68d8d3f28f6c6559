"""Remote recordings: download a recording's files into a local cache.

``Recording("https://host/path/NAME.escope")`` calls :func:`fetch_recording`,
which downloads ``NAME.escope``, ``NAME.dat`` and, for versions that keep
their settings apart, ``NAME.config`` from the same folder.

- Downloads stream to disk (never the whole file in memory) through
  :mod:`pooch`, which writes to a temporary file and renames it when
  complete: an interrupted download leaves nothing that looks complete.
- Files are cached by URL under ``ESCOPE_CACHE_DIR`` (default: the user cache
  folder, ``pooch.os_cache("escope-analysis")``); opening the same URL again
  downloads nothing. A cached recording is not checked against the server
  again: call :func:`clear_cache` (or delete its folder) to fetch it anew.
- The ``.dat`` shows a progress bar (tqdm) when stderr is a terminal.
- Every request has a timeout (``ESCOPE_TIMEOUT`` seconds, default 30).
- Failures raise :class:`DownloadError`, an :class:`OSError` that names the
  URL and the HTTP status or the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

__all__ = ["DownloadError", "fetch_recording", "cache_dir", "clear_cache"]


class DownloadError(OSError):
    """A recording could not be downloaded (HTTP error, refused, timeout, cut off)."""


def cache_dir() -> Path:
    """Folder holding downloaded recordings (``$ESCOPE_CACHE_DIR`` if set)."""
    env = os.environ.get("ESCOPE_CACHE_DIR")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("escope-analysis"))


def timeout() -> float:
    """Seconds a request may wait for the server (``$ESCOPE_TIMEOUT``, default 30)."""
    return float(os.environ.get("ESCOPE_TIMEOUT", "30"))


def _split(url: str) -> tuple[str, str]:
    """``(folder_url, NAME)`` of a URL naming any file of a recording."""
    folder, _, name = url.rpartition("/")
    for ext in (".escope", ".dat", ".config"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    if not name:
        raise DownloadError(f"{url}: the URL does not name a recording")
    return folder, name


def _cache_folder(folder_url: str) -> Path:
    """Cache folder for the recordings of one server folder."""
    return cache_dir() / hashlib.sha256(folder_url.encode()).hexdigest()[:16]


def _download(url: str, target: Path, progress: bool) -> None:
    import pooch
    import requests

    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout())
    pooch.get_logger().setLevel("WARNING")
    try:
        pooch.retrieve(url, known_hash=None, fname=target.name, path=target.parent,
                       downloader=downloader)
    except requests.HTTPError as exc:
        r = exc.response
        status = f"HTTP {r.status_code} {r.reason}" if r is not None else str(exc)
        raise DownloadError(f"could not download {url}: {status}") from None
    except requests.Timeout:
        raise DownloadError(f"could not download {url}: timed out after {timeout():g} s") from None
    except (requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as exc:
        raise DownloadError(f"could not download {url}: connection dropped mid-file ({exc})") \
            from None
    except requests.ConnectionError as exc:
        raise DownloadError(f"could not download {url}: connection failed ({exc})") from None
    except requests.RequestException as exc:
        raise DownloadError(f"could not download {url}: {exc}") from None


def fetch_recording(url: str) -> Path:
    """Download a recording's files (if not cached) and return the local sidecar path.

    Parameters
    ----------
    url : str
        ``http(s)://…/NAME.escope`` (or ``NAME.dat``, ``NAME.config``, ``NAME``).

    Returns
    -------
    pathlib.Path
        The cached ``NAME.escope``, beside its ``.dat`` (and ``.config``).

    Raises
    ------
    DownloadError
        Naming the URL and the HTTP status or reason.
    """
    from ._format import decode_config

    folder, name = _split(url)
    local = _cache_folder(folder) / name
    sidecar = local.with_name(name + ".escope")
    _download(f"{folder}/{name}.escope", sidecar, progress=False)
    try:
        content = decode_config(sidecar.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        content = None  # Recording reports the malformed sidecar, naming it
    if isinstance(content, dict) and "config" not in content:
        _download(f"{folder}/{name}.config", local.with_name(name + ".config"), progress=False)
    _download(f"{folder}/{name}.dat", local.with_name(name + ".dat"),
              progress=sys.stderr.isatty())
    return sidecar


def clear_cache(url: str | None = None) -> None:
    """Forget downloaded recordings: those of `url`'s folder, or all of them."""
    target = cache_dir() if url is None else _cache_folder(_split(url)[0])
    shutil.rmtree(target, ignore_errors=True)
