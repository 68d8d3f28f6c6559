"""Files that appear whole or not at all, written by one process at a time.

Used by :func:`escope.write` and by the download cache. A file ``NAME`` is
written under a hidden temporary name beside it, ``.NAME.<12 hex>.part``,
and renamed into place when complete. Writers of one name take an exclusive
lock (:func:`name_lock`) for the whole write, so that

- two writers never both believe they created ``NAME``, and
- any temporary of ``NAME`` found while holding the lock belongs to a writer
  that died (killed, power cut): :func:`remove_stale_temps` deletes it.

Temporaries are created with mode ``0o666`` minus the umask, like any file a
program creates (``tempfile.mkstemp`` would force ``0o600`` and hide the
recording from the other users of a lab's shared folder).

The lock is an advisory ``flock`` on ``.NAME.lock``; the kernel releases it
when its holder dies, so a crash never leaves a name locked. Where ``fcntl``
is missing (Windows) writers are not serialised.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["name_lock", "create_temp", "write_temp", "remove_stale_temps", "fsync_dir",
           "replace_atomically", "unlink_quietly"]

_O_BINARY = getattr(os, "O_BINARY", 0)


def _temp_re(final: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(final.name)}\.[0-9a-f]{{12}}\.part$")


def create_temp(final: Path) -> tuple[int, Path]:
    """Create an empty temporary file beside `final`; return ``(fd, path)``."""
    for _ in range(100):
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(6)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            continue
        return fd, tmp
    raise FileExistsError(17, "could not create a temporary file", str(final))


def write_temp(final: Path, body: Callable[[BinaryIO], object], durable: bool = True) -> Path:
    """Write a temporary file beside `final` with `body(f)`, flushed to disk
    (unless `durable` is false: then a power cut may lose it, which callers
    must detect); return its path. On any error the temporary file is removed."""
    fd, tmp = create_temp(final)
    try:
        with os.fdopen(fd, "wb") as f:
            body(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
    except BaseException:
        unlink_quietly(tmp)
        raise
    return tmp


def replace_atomically(final: Path, body: Callable[[BinaryIO], object], *,
                       durable: bool = True, lock: bool = True,
                       unless_exists: bool = False) -> None:
    """Write `final` whole or not at all: `body(f)` into a temporary beside
    it, then a rename over it. With `lock`, the write holds the name's lock
    (and first deletes temporaries dead writers left); without it, the
    caller is the only writer of that name. With `unless_exists`, a file
    that is there once the lock is held is kept (another process made it
    while this one waited). On any error nothing changes.

    The one way the project replaces a file: tables, downloads, NWB files
    (recordings, two files at once, use :func:`write_temp` and their own
    commit in :mod:`escope.writer`)."""
    final = Path(final)
    if not lock:
        tmp = write_temp(final, body, durable)
        os.replace(tmp, final)
        return
    with name_lock(final):
        if unless_exists and final.is_file():
            return
        remove_stale_temps(final)
        tmp = write_temp(final, body, durable)
        try:
            os.replace(tmp, final)
        except BaseException:
            unlink_quietly(tmp)
            raise
    if durable:
        fsync_dir(final.parent)


def unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_stale_temps(final: Path) -> list[Path]:
    """Delete the temporaries of `final` left by dead writers; return them.

    Call only while holding :func:`name_lock` for `final`: then no live
    writer owns such a file.
    """
    pattern = _temp_re(final)
    removed = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return removed
    for entry in entries:
        if pattern.match(entry.name):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def fsync_dir(folder: Path) -> None:
    """Make renames in `folder` durable (best effort: not every system can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def name_lock(final: Path) -> Iterator[None]:
    """Hold the exclusive write lock of `final` (waits for a live holder)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path = final.with_name(f".{final.name}.lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # The previous holder removes the lock file when done; if it did
            # so after we opened it, our lock is on a dead inode: try again.
            try:
                current = os.stat(lock_path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        unlink_quietly(lock_path)
        os.close(fd)
