"""``escope-analysis watch``: a live view of a capture while it is recorded.

A thin layer over :func:`escope.follow`: per channel the spike rate over
the last seconds and its history (a sparkline), the total, noise,
threshold and time since the last spike; the recording's name, recorded
time and data rate. On a terminal it draws with ``rich``; without one it
prints one plain line per interval, so it can be logged. Given a folder it
follows the newest recording and moves on when the acquisition starts a new
one. ``--csv`` appends a line per spike as it is found. Ctrl-C ends it with
a summary.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .live import Update, follow
from .report import display_unit, readable
from .tables import SPIKE_COLUMNS, cell

__all__ = ["watch", "newest_recording"]

#: Seconds of recording per bar of the history, and bars shown.
BIN_S, BINS = 2.0, 30
#: The rate column: spikes per second over this many seconds of recording.
RATE_WINDOW_S = 10.0
_SPARKS = "▁▂▃▄▅▆▇█"


def newest_recording(folder: Path, skip: set[Path] = frozenset()) -> Path | None:
    """The sidecar of the newest recording in `folder` (by its name, the
    run's start), saved sweeps and `skip` left out."""
    from .live import RUNDATE_RE

    names = sorted((p for p in folder.glob("*.escope")
                    if RUNDATE_RE.match(p.stem) and p not in skip), key=lambda p: p.stem)
    return names[-1] if names else None


class _Channel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.bins: collections.Counter = collections.Counter()
        self.last_t: float | None = None

    def add(self, times: Any) -> None:
        for t in times:
            self.bins[int(t // BIN_S)] += 1
        if len(times):
            self.last_t = float(max(times)) if self.last_t is None else max(self.last_t,
                                                                              float(max(times)))
        self.total += len(times)

    def rate(self, now_t: float) -> float:
        first = int(max(0.0, now_t - RATE_WINDOW_S) // BIN_S)
        n = sum(c for b, c in self.bins.items() if b >= first)
        return n / max(min(RATE_WINDOW_S, now_t), 1e-9) if now_t > 0 else 0.0

    def history(self, now_t: float) -> str:
        last = int(now_t // BIN_S)
        counts = [self.bins.get(b, 0) for b in range(last - BINS + 1, last + 1)]
        top = max(counts) or 1
        return "".join(" " if c == 0 else _SPARKS[min(7, int(7 * c / top))] for c in counts)

    def prune(self, now_t: float) -> None:
        oldest = int(now_t // BIN_S) - BINS
        for b in [b for b in self.bins if b < oldest]:
            del self.bins[b]


class _View:
    """What is shown, built from the updates of one recording after another."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.channels: dict[str, _Channel] = {}
        self.update: Update | None = None
        self.started = time.monotonic()
        self.bytes_s = 0.0
        self._recent: collections.deque = collections.deque()  # (wall, recorded s)
        self.status = "waiting for a recording"
        self.finished: list[tuple[Path, dict[str, int], float]] = []

    def take(self, u: Update, n_channels_in_file: int, itemsize: int) -> None:
        if u.path != self.path:
            if self.path is not None and self.update is not None:
                self.finished.append((self.path, dict(self.update.total), self.update.seconds))
            self.path = u.path
            self.channels = {n: _Channel(n) for n in u.units}
            self._recent.clear()
        now, seconds = time.monotonic(), u.seconds
        # Bytes of samples written per second of wall time, over the last
        # few seconds (the program writes in pieces of about 0.1 s).
        self._recent.append((now, seconds))
        while len(self._recent) > 2 and now - self._recent[1][0] >= 3.0:
            self._recent.popleft()
        t0, s0 = self._recent[0]
        if now - t0 >= 0.5:
            self.bytes_s = (seconds - s0) * u.rate_Hz * n_channels_in_file * itemsize / (now - t0)
        for name, idx in u.spikes.items():
            times = idx / u.rate_Hz
            if u.sweeps is not None:  # sweeps laid end to end
                times = times + u.sweeps[name] * (u.sweep_scans / u.rate_Hz)
            ch = self.channels[name]
            ch.add(times.tolist())
            ch.prune(seconds)
        self.update = u
        self.status = ("estimating the noise" if u.thresholds is None else "detecting")
        if u.ended == "newer recording":
            self.status = f"ended: {u.newer.name} started"
        elif u.ended:
            self.status = "ended: the file stopped growing"

    # ------------------------------------------------------------------ output
    def line(self) -> str:
        u = self.update
        if u is None:
            return f"{time.strftime('%H:%M:%S')} {self.status}"
        parts = [f"{time.strftime('%H:%M:%S')} {u.path.stem} t={u.seconds:.1f}s"]
        for name, ch in self.channels.items():
            parts.append(f"{name}: {ch.total} spikes ({ch.rate(u.seconds):.1f}/s)")
        if u.thresholds is None:
            parts.append("(estimating the noise)")
        if u.ended:
            parts.append(f"[{self.status}]")
        return " ".join(parts)

    def table(self):
        from rich.table import Table
        from rich.text import Text

        u = self.update
        if u is None:
            return Text(f"escope-analysis watch — {self.status}…")
        title = (f"{u.path.name} — recorded {u.seconds:.1f} s"
                 + (f" ({u.scans} sweeps)" if u.triggered else "")
                 + ("" if u.ended else f" — writing {self.bytes_s / 1e6:.2f} MB/s")
                 + f" — {self.status}")
        table = Table(title=title, title_justify="left", expand=False)
        for heading, justify in (("channel", "left"), ("spikes/s", "right"),
                                 (f"last {BINS * BIN_S:.0f} s", "left"), ("total", "right"),
                                 ("noise", "right"), ("threshold", "right"),
                                 ("last spike", "right")):
            table.add_column(heading, justify=justify)
        for name, ch in self.channels.items():
            unit = u.units[name]
            noise = u.noise.get(name) if u.noise else None
            thr = u.thresholds.get(name) if u.thresholds else None
            ago = "—" if ch.last_t is None else f"{max(0.0, u.seconds - ch.last_t):.1f} s ago"
            table.add_row(f"{name} [{display_unit(unit)}]", f"{ch.rate(u.seconds):.1f}",
                          Text(ch.history(u.seconds), style="cyan"), str(ch.total),
                          "…" if noise is None else readable(noise, unit),
                          "…" if thr is None else readable(thr, unit), ago)
        return table

    def summary(self) -> str:
        done = list(self.finished)
        if self.path is not None and self.update is not None:
            done.append((self.path, dict(self.update.total), self.update.seconds))
        if not done:
            return "no recording was followed"
        lines = []
        for path, totals, seconds in done:
            each = ", ".join(f"{n} {c} ({c / seconds if seconds else 0:.2f}/s)"
                             for n, c in totals.items())
            lines.append(f"{path.name}: {seconds:.1f} s recorded; spikes: {each}")
        return "\n".join(lines)


class _Csv:
    """One line per spike, appended as found: each write is whole lines, so
    after a crash every line is whole or absent."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        if os.fstat(self.fd).st_size == 0:
            os.write(self.fd, (",".join(SPIKE_COLUMNS) + "\n").encode())

    def add(self, u: Update) -> None:
        lines = []
        for name, idx in u.spikes.items():
            sweeps = u.sweeps[name] if u.sweeps is not None else [0] * len(idx)
            prefix = f"{cell(u.path.stem)},{cell(name)},{cell(u.units[name])},"
            for i, n, a in zip(idx.tolist(), list(sweeps), u.amplitudes[name].tolist()):
                lines.append(f"{prefix}{int(n)},{i},{i / u.rate_Hz!r},{a!r}\n")
        if lines:
            os.write(self.fd, "".join(lines).encode())

    def close(self) -> None:
        os.close(self.fd)


def watch(target: str | os.PathLike, *, k: float = 5.0, noise_s: float = 10.0, channels=None,
          csv: str | None = None, idle_timeout_s: float | None = None, poll_s: float = 0.25,
          interval_s: float = 1.0, svg: str | None = None, out: TextIO | None = None,
          live: bool | None = None) -> int:
    """Follow `target` (a recording, or a folder: its newest recording, then
    each newer one) and show it; returns the exit status."""
    out = out or sys.stdout
    live = out.isatty() if live is None else live
    target = Path(target)
    folder_mode = target.is_dir()
    view = _View()
    writer = _Csv(Path(csv)) if csv else None
    display = None
    if live:
        from rich.console import Console
        from rich.live import Live

        display = Live(view.table(), console=Console(file=out), refresh_per_second=4,
                       transient=False)
        display.start()
    from .live import load_kernels

    loaded = False
    status = 0
    skip: set[Path] = set()
    last_line = 0.0
    try:
        current = target if not folder_mode else None
        waited = time.monotonic()
        while True:
            if folder_mode and current is None:
                current = newest_recording(target, skip)
                if current is None:
                    if idle_timeout_s is not None and time.monotonic() - waited > idle_timeout_s:
                        _say(f"no recording appeared in {target}", out, display)
                        status = 1
                        break
                    if not live and time.monotonic() - last_line >= interval_s:
                        print(f"{time.strftime('%H:%M:%S')} no recording in {target} yet; "
                              "waiting", file=out, flush=True)
                        last_line = time.monotonic()
                    if not loaded:  # numba's start-up while waiting, not during a capture
                        load_kernels()
                        loaded = True
                    time.sleep(poll_s)
                    continue
            try:
                ended = None
                for u in follow(current, k=k, noise_s=noise_s, channels=channels,
                                poll_s=poll_s, idle_timeout_s=idle_timeout_s):
                    rec_h = _header_of(current)
                    view.take(u, rec_h[0], rec_h[1])
                    if writer is not None:
                        writer.add(u)
                    if display is not None:
                        display.update(view.table())
                    elif time.monotonic() - last_line >= interval_s or u.ended:
                        print(view.line(), file=out, flush=True)
                        last_line = time.monotonic()
                    ended = u
            except (OSError, ValueError) as exc:
                if not folder_mode:
                    raise
                _say(f"skipping {current.name}: {' '.join(str(exc).split())}", out, display)
                skip.add(current)
                current = None
                waited = time.monotonic()
                continue
            if folder_mode and ended is not None and ended.ended == "newer recording":
                current = ended.newer
                continue
            break
    except KeyboardInterrupt:
        pass
    finally:
        if display is not None:
            display.update(view.table())
            display.stop()
        if writer is not None:
            writer.close()
        if svg:  # the last screen, as a picture
            from rich.console import Console

            with open(os.devnull, "w") as sink:
                shot = Console(file=sink, record=True, width=110)
                shot.print(view.table())
                shot.save_svg(svg, title="escope-analysis watch")
        print(view.summary(), file=out, flush=True)
    return status


def _header_of(path: Path) -> tuple[int, int]:
    from .format import read_header

    cached = _HEADERS.get(path)
    if cached is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = read_header(path)
        cached = _HEADERS[path] = (h.n_channels, h.dtype.itemsize)
    return cached


_HEADERS: dict[Path, tuple[int, int]] = {}


def _say(text: str, out: TextIO, display) -> None:
    if display is not None:
        display.console.print(f"[yellow]{text}[/yellow]")
    else:
        print(f"escope-analysis watch: {text}", file=out, flush=True)
