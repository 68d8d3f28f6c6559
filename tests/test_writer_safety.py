"""escope.write under crashes and concurrency: killed writers, racing
writers, leftovers of dead writers, and file permissions."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import FormatError, Recording
from escope.atomic import name_lock

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# Two recordings of different shapes: any mix of one's sidecar with the
# other's samples is visible in the shape or the values.
WRITER = """
import sys, numpy as np, escope
path = sys.argv[1]
versions = [np.full((2, 400_000), 1.0, np.float32), np.full((3, 300_000), 2.0, np.float32)]
print("ready", flush=True)
i = 0
while True:
    data = versions[i % 2]
    escope.write(path, data, 1000, [f"c{k}" for k in range(len(data))], ["1 mV"] * len(data),
                 overwrite=True)
    i += 1
"""
WHOLE = {(2, 400_000): 1.0, (3, 300_000): 2.0}


def _state(base: Path) -> str:
    """'none' if nothing opens, else 'whole' (asserting it is one whole version)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a PartialDataWarning is a mix, too
            rec = Recording(base)
            raw = rec.rawdata()
    except (FormatError, FileNotFoundError):
        return "none"
    assert raw.shape in WHOLE, f"mixed recording of shape {raw.shape}"
    assert np.all(raw == WHOLE[raw.shape]), "mixed samples"
    return "whole"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def kill_a_writer(base, rng) -> None:
    """Start WRITER (overwriting `base` again and again) and SIGKILL it at a
    random moment within its first quarter second of writing."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(base)], env=ENV,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_killed_writers_leave_old_new_or_nothing(tmp_path):
    rng = random.Random(1234)
    base = tmp_path / "r"
    seen = []
    for _ in range(16):
        kill_a_writer(base, rng)
        seen.append(_state(base))
    assert "whole" in seen
    # The next write cleans what the killed ones left (temporaries, lock).
    escope.write(base, np.full((2, 400_000), 1.0, np.float32), 1000, ["c0", "c1"],
                 ["1 mV", "1 mV"], overwrite=True)
    assert _state(base) == "whole"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dat", "r.escope"]


RACER = """
import sys, time, numpy as np, escope
path, value, start = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
data = np.full((2, 200_000), value, np.float32)
time.sleep(max(0.0, start - time.time()))
try:
    escope.write(path, data, 1000, ["a", "b"], ["1 mV", "1 mV"])
except FileExistsError as exc:
    print("exists", exc, flush=True)
    sys.exit(3)
print("wrote", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(3))
def test_racing_writers_exactly_one_wins(tmp_path, round_):
    base = tmp_path / "r"
    start = time.time() + 1.5  # after every interpreter has started
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(base), str(v), str(start)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for v in (1, 2, 3, 4)]
    results = [p.communicate(timeout=60) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3, 3, 3], results
    winner = float(codes.index(0) + 1)
    raw = Recording(base).rawdata()
    assert raw.shape == (2, 200_000) and np.all(raw == winner)
    assert all("recording exists" in out for (out, _), c in zip(results, codes) if c == 3)
    assert _leftovers(tmp_path) == []


def test_stale_temporaries_are_removed_and_others_kept(tmp_path):
    stale = [".r.dat.0123456789ab.part", ".r.escope.abcdefabcdef.part", ".r.escope.lock"]
    kept = [".r.dat.notmine.part", ".other.dat.0123456789ab.part", ".r.dat.0123456789ab.partial",
            "notes.txt"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x" * 100)
    escope.write(tmp_path / "r", np.ones((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(kept + ["r.dat", "r.escope"])


def test_a_live_writers_temporary_is_not_touched(tmp_path):
    holder = f"""
import time, pathlib
from escope.atomic import name_lock, create_temp
final = pathlib.Path({str(tmp_path / 'r.escope')!r})
with name_lock(final):
    fd, tmp = create_temp(final.with_name('r.dat'))
    print(tmp, flush=True)
    time.sleep(1.5)
"""  # exits holding its temporary: from then on, a dead writer's leftover
    proc = subprocess.Popen([sys.executable, "-c", holder], env=ENV, stdout=subprocess.PIPE,
                            text=True)
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists()
    done = threading.Event()

    def write():
        escope.write(tmp_path / "r", np.ones((1, 10), np.float32), 1000, ["a"], ["1 mV"])
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.5)
    assert not done.is_set() and tmp.exists()  # waits for the live writer, leaves its file
    proc.wait(timeout=30)
    thread.join(timeout=30)
    assert done.is_set() and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dat", "r.escope"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_respect_the_umask(tmp_path, umask, mode):
    import neo
    import quantities as pq

    from escope_neo import EScopeIO

    old = os.umask(umask)
    try:
        escope.write(tmp_path / "r", np.ones((1, 10), np.float32), 1000, ["a"], ["1 mV"])
        block = neo.Block()
        seg = neo.Segment()
        seg.analogsignals.append(neo.AnalogSignal(np.zeros((10, 1)), units=pq.mV,
                                                  sampling_rate=1 * pq.kHz))
        block.segments.append(seg)
        EScopeIO(str(tmp_path / "n.escope")).write_block(block)
    finally:
        os.umask(old)
    for name in ("r.escope", "r.dat", "n.escope", "n.dat"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_overwrite_failure_restores_the_old_recording(tmp_path, monkeypatch):
    base = tmp_path / "r"
    escope.write(base, np.ones((1, 10), np.float32), 1000, ["a"], ["1 mV"])
    real_replace = os.replace

    def failing(src, dst):
        if str(dst).endswith("r.dat"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        escope.write(base, np.zeros((2, 5), np.float32), 1000, ["a", "b"], ["1 mV"] * 2,
                     overwrite=True)
    monkeypatch.undo()
    assert np.array_equal(Recording(base).rawdata(), np.ones((1, 10)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dat", "r.escope"]


def test_name_lock_is_reentrant_across_processes_in_turn(tmp_path):
    # A lock released by its holder is taken by the next one; its file is gone after.
    final = tmp_path / "x.escope"
    with name_lock(final):
        assert (tmp_path / ".x.escope.lock").exists()
    with name_lock(final):
        pass
    assert not (tmp_path / ".x.escope.lock").exists()


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_interrupted_at_each_rename_leaves_old_new_or_nothing(tmp_path, monkeypatch, fail_at):
    # Deterministic companion of the kill test: stop the commit at each rename.
    base = tmp_path / "r"
    old, new = np.full((2, 400_000), 1.0, np.float32), np.full((3, 300_000), 2.0, np.float32)
    escope.write(base, old, 1000, ["c0", "c1"], ["1 mV"] * 2)
    real_replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        escope.write(base, new, 1000, ["c0", "c1", "c2"], ["1 mV"] * 3, overwrite=True)
    monkeypatch.undo()
    assert _state(base) in ("whole", "none")
