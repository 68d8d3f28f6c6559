"""One progress bar for every long job (tqdm on stderr, only when asked)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(total: int | None, what: str, unit: str, *, enabled: bool | None = None,
                 scale: bool = False) -> Iterator[Any]:
    """A bar of `total` steps labelled `what` (``bar.update(n)``), drawn on
    stderr when `enabled` (default: when stderr is a terminal), removed
    when done; otherwise an object whose ``update`` does nothing. `scale`
    shows large counts with SI prefixes (bytes).

    Examples
    --------
    >>> with progress_bar(3, "files", "file", enabled=False) as bar:
    ...     bar.update(1)
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _Silent()
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=what, unit=unit, unit_scale=scale, leave=False,
               file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()
