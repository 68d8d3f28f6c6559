"""``escope-analysis watch`` in a subprocess: without a terminal (its lines and
its CSV), under a pseudo-terminal (it draws; SIGINT ends it with a summary),
on a folder across a restart, with no recording yet and with a broken one."""

from __future__ import annotations

import csv
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from escope import Recording

ROOT = Path(__file__).resolve().parents[1]
WRITER = str(ROOT / "tests" / "livewriter.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WATCH = [sys.executable, "-m", "escope", "watch"]


def _writer(folder: Path, rundate: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, WRITER, str(folder), rundate, *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_plain_lines_and_csv_on_a_folder_across_a_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    watch = subprocess.Popen(WATCH + [str(data), "--idle-timeout", "2", "--noise-s", "0.3",
                                      "--poll", "0.05", "--interval", "0.2", "--csv",
                                      str(tmp_path / "live.csv")],
                             env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    first = watch.stdout.readline()  # it starts before any recording exists
    writer = _writer(data, "20241007-120000", "--seconds", "1.0", "--then", "20241007-120002")
    out, err = watch.communicate(timeout=120)
    out = first + out
    assert writer.wait(timeout=60) == 0
    assert watch.returncode == 0, err
    lines = out.splitlines()
    assert "no recording in" in lines[0] and "waiting" in lines[0]
    assert any(line.split()[1] == "20241007-120000" for line in lines[1:])
    assert any("[ended: 20241007-120002.escope started]" in line for line in lines)
    assert any("[ended: the file stopped growing]" in line for line in lines)
    assert "20241007-120000.escope: 1.0 s recorded" in out
    assert "20241007-120002.escope: 0.5 s recorded" in out
    # the CSV: a header, then one whole line per spike, every spike found
    rows = list(csv.DictReader((tmp_path / "live.csv").open()))
    for rundate in ("20241007-120000", "20241007-120002"):
        rec = Recording(data / rundate)
        mine = [r for r in rows if r["recording"] == rundate]
        counts = {c: sum(1 for r in mine if r["channel"] == c) for c in rec.channels}
        assert sum(counts.values()) > 20
        samples = {c: [int(r["sample"]) for r in mine if r["channel"] == c]
                   for c in rec.channels}
        assert all(s == sorted(s) and len(set(s)) == len(s) for s in samples.values())


def test_no_recording_yet_waits_then_says_so(tmp_path):
    out = subprocess.run(WATCH + [str(tmp_path), "--idle-timeout", "0.5", "--poll", "0.05",
                                  "--interval", "0.2"],
                         env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "no recording in" in out.stdout and f"no recording appeared in {tmp_path}" in out.stdout


def test_a_broken_recording_is_named_and_skipped(tmp_path):
    (tmp_path / "20241007-130000.escope").write_text("{ not json")
    (tmp_path / "20241007-130000.dat").write_bytes(b"")
    out = subprocess.run(WATCH + [str(tmp_path), "--idle-timeout", "0.6", "--poll", "0.05"],
                         env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "skipping 20241007-130000.escope" in out.stdout
    assert "not valid JSON" in out.stdout
    assert out.returncode == 1  # and nothing else appeared


def _read_until(fd: int, needle: bytes | tuple, timeout: float) -> bytes:
    needles = needle if isinstance(needle, tuple) else (needle,)
    seen = b""
    deadline = time.monotonic() + timeout
    while not all(n in seen for n in needles) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_on_a_terminal_it_draws_and_sigint_ends_it_with_a_summary(tmp_path):
    import pty

    writer = _writer(tmp_path, "20241007-120000", "--seconds", "8", "--speed", "1",
                     "--channels", "3")
    deadline = time.monotonic() + 30
    while not (tmp_path / "20241007-120000.escope").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid, fd = pty.fork()
    if pid == 0:  # the child: watch on a terminal
        os.environ.update(ENV, COLUMNS="110", LINES="30")
        os.chdir(ROOT)
        os.execv(sys.executable, WATCH + [str(tmp_path / "20241007-120000.escope"),
                                          "--noise-s", "0.5", "--poll", "0.05",
                                          "--svg", str(tmp_path / "shot.svg")])
    try:
        drawn = _read_until(fd, (b"detecting", b"spikes/s", b"threshold", b"ai2 ["), 60)
        assert b"spikes/s" in drawn and b"threshold" in drawn and b"ai2" in drawn
        assert b"\x1b[" in drawn  # it draws (escape sequences), not plain lines
        os.kill(pid, signal.SIGINT)
        rest = _read_until(fd, b"s recorded; spikes:", 30)
        _, status = os.waitpid(pid, 0)
    finally:
        writer.kill()
        writer.wait(timeout=30)
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert b"20241007-120000.escope:" in rest and b"ai0" in rest
    assert b"Traceback" not in drawn + rest
    svg = (tmp_path / "shot.svg").read_text()
    assert svg.startswith("<svg") and "threshold" in svg and len(svg) < 200_000
