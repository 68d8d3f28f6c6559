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
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["name_lock", "create_temp", "write_temp", "remove_stale_temps", "fsync_dir",
           "replace_atomically", "unlink_quietly", "replace_together", "recover",
           "journal_path", "JournalError"]

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


def write_temp(final: Path, body: Callable[[Any], object], durable: bool = True, *,
               by_path: bool = False) -> Path:
    """Write a temporary file beside `final` with `body(f)` (or, with
    `by_path`, `body(path)` for writers that open files by name, such as
    HDF5), flushed to disk (unless `durable` is false: then a power cut may
    lose it, which callers must detect); return its path. On any error the
    temporary file is removed."""
    fd, tmp = create_temp(final)
    try:
        if by_path:
            os.close(fd)
            body(tmp)
            if durable:
                fd = os.open(tmp, os.O_RDONLY | _O_BINARY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        else:
            with os.fdopen(fd, "wb") as f:
                body(f)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
    except BaseException:
        unlink_quietly(tmp)
        raise
    return tmp


def replace_atomically(final: Path, body: Callable[[Any], object], *,
                       durable: bool = True, lock: bool = True,
                       unless_exists: bool = False, by_path: bool = False) -> None:
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
        tmp = write_temp(final, body, durable, by_path=by_path)
        os.replace(tmp, final)
        return
    with name_lock(final):
        if unless_exists and final.is_file():
            return
        remove_stale_temps(final)
        tmp = write_temp(final, body, durable, by_path=by_path)
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


# --------------------------------------------------------------------------- several files
# A recording is two files that must change together. Renames are atomic one
# file at a time only, so the commit writes its intent first: a journal
# naming every temporary and its final name, itself written whole. From the
# moment the journal exists the commit can always be completed (every
# temporary is complete and flushed), so a process killed anywhere after
# it leaves something the next opener or writer finishes ("rolls forward")
# under the lock; killed before it, the final names were never touched.


class JournalError(OSError):
    """A commit journal that is not one this library wrote (it is not acted on)."""


def journal_path(final: Path) -> Path:
    """The journal of a commit whose main file is `final`."""
    return final.with_name(f".{final.name}.commit")


def _read_journal(journal: Path, finals: list[Path]) -> tuple[list[tuple[Path, Path]], Path | None]:
    import json

    try:
        raw = journal.read_bytes()
        data = json.loads(raw.decode("utf-8")) if len(raw) < 1 << 16 else None
        renames = [(Path(a), Path(b)) for a, b in data["renames"]]
        hidden = None if data["hidden"] is None else Path(data["hidden"])
    except (OSError, ValueError, KeyError, TypeError):
        raise JournalError(5, "unreadable commit journal beside the recording",
                           str(journal)) from None
    # Act only on names a commit of these files can have written: a journal
    # from elsewhere must not rename or delete anything else.
    ok = all(b in finals and a.parent == b.parent and _temp_re(b).match(a.name)
             for a, b in renames)
    ok = ok and (hidden is None or (hidden.parent == finals[-1].parent
                                    and _temp_re(finals[-1]).match(hidden.name)))
    if not ok:
        raise JournalError(22, "commit journal names files that are not this recording's "
                               "temporaries (not acted on)", str(journal))
    return renames, hidden


def _roll_forward(journal: Path, finals: list[Path]) -> None:
    renames, hidden = _read_journal(journal, finals)
    for tmp, final in renames:
        if os.path.lexists(tmp):
            os.replace(tmp, final)
    if hidden is not None:
        unlink_quietly(hidden)
    fsync_dir(journal.parent)
    unlink_quietly(journal)
    fsync_dir(journal.parent)


def recover(finals: list[Path], *, locked: bool = False) -> bool:
    """Finish a commit of `finals` (main file last) that a killed process
    left half done; True if there was one. Takes the lock of the main file
    (unless the caller holds it: `locked`), so a commit under way is waited
    for, not disturbed."""
    journal = journal_path(finals[-1])
    if not os.path.lexists(journal):
        return False
    if locked:
        _roll_forward(journal, finals)
        return True
    with name_lock(finals[-1]):
        if not os.path.lexists(journal):  # its writer finished while we waited
            return False
        _roll_forward(journal, finals)
    return True


def replace_together(renames: list[tuple[Path, Path]]) -> None:
    """Rename complete temporaries over their final names so that at every
    instant the names hold all the old files or all the new ones, also
    across a crash (see :func:`recover`). The last pair is the main file:
    while the others change it is hidden, so that readers that know no
    journal never see it beside new companions. Call it holding the main
    file's lock, after :func:`recover`."""
    import json

    finals = [final for _, final in renames]
    main = finals[-1]
    journal = journal_path(main)
    hidden = None
    if os.path.lexists(main):
        fd, hidden = create_temp(main)
        os.close(fd)
    text = json.dumps({"renames": [[str(a), str(b)] for a, b in renames],
                       "hidden": None if hidden is None else str(hidden)})
    tmp_journal = None
    try:
        tmp_journal = write_temp(journal, lambda f: f.write(text.encode("utf-8")))
        os.replace(tmp_journal, journal)
    except BaseException:
        for leftover in (tmp_journal, hidden):
            if leftover is not None:
                unlink_quietly(leftover)
        raise
    fsync_dir(main.parent)
    moved = False  # has a final name changed yet?
    try:
        if hidden is not None:
            os.replace(main, hidden)
        moved = True
        for tmp, final in renames:
            os.replace(tmp, final)
    except BaseException:
        # A failure, not a crash: undo if nothing new is in place yet (the
        # old main file back), else finish; the journal goes either way.
        if not moved or all(os.path.lexists(tmp) for tmp, _ in renames):
            if hidden is not None and moved:
                os.replace(hidden, main)
            elif hidden is not None:
                unlink_quietly(hidden)
            unlink_quietly(journal)
        else:
            try:
                _roll_forward(journal, finals)
            except BaseException:
                pass  # the journal stays: the next open or write finishes
        raise
    if hidden is not None:
        unlink_quietly(hidden)
    fsync_dir(main.parent)
    unlink_quietly(journal)
    fsync_dir(main.parent)
