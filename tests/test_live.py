"""Following a capture while it is written (escope.follow, Recording.refresh),
against a writer process that behaves like the acquisition program."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import FormatError, PartialDataWarning, Recording
from tests.livewriter import samples

ROOT = Path(__file__).resolve().parents[1]
WRITER = str(ROOT / "tests" / "livewriter.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _start_writer(folder: Path, rundate: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, WRITER, str(folder), rundate, *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (folder / f"{rundate}.escope").exists():  # the sidecar comes first
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the writer never wrote its sidecar"
        time.sleep(0.01)
    return proc


def _collect(updates) -> tuple[list, dict, dict]:
    seen, spikes, sweeps = [], {}, {}
    for u in updates:
        seen.append(u)
        for name, idx in u.spikes.items():
            spikes.setdefault(name, []).extend(idx.tolist())
            if u.sweeps is not None:
                sweeps.setdefault(name, []).extend(u.sweeps[name].tolist())
    return seen, spikes, sweeps


def _finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "done" in out, err


@pytest.mark.parametrize("given", [True, False], ids=["thresholds given", "k × noise"])
def test_follow_continuous_is_exact_against_the_finished_file(tmp_path, given):
    proc = _start_writer(tmp_path, "20241007-120000", "--seconds", "1.5", "--pause", "0.3",
                         "--pause-chance", "0.03", "--seed", "3")
    kw = dict(threshold=5.0) if given else dict(k=5, noise_s=0.4)
    updates, spikes, _ = _collect(escope.follow(tmp_path / "20241007-120000.escope",
                                                poll_s=0.02, idle_timeout_s=1.5, **kw))
    _finish(proc)
    last = updates[-1]
    assert last.ended == "idle"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the finished file holds whole scans only
        rec = Recording(tmp_path / "20241007-120000")
    assert last.scans == rec.n_scans == 30000  # no spurious end during the pauses
    offline = rec.detectspikes(threshold=last.thresholds)
    for name in rec.channels:
        assert spikes[name] == offline[name].tolist()  # identical: no gap, no repeat
        assert last.total[name] == len(offline[name]) > 20
    if not given:  # k × the noise of the first noise_s seconds
        first = rec.rmsnoise(stop=0.4)
        assert last.noise == pytest.approx(first, rel=1e-6)
        assert last.thresholds == pytest.approx({n: 5 * v for n, v in first.items()})
        assert all(u.thresholds is None for u in updates if u.scans < 8000)
    assert len(updates) > 5  # it reported while the capture ran


def test_follow_triggered_with_a_long_empty_start(tmp_path):
    proc = _start_writer(tmp_path, "20241007-120000", "--kind", "triggered", "--seconds", "1.2",
                         "--sweep-scans", "2000", "--empty-start", "0.6", "--seed", "5")
    updates, spikes, sweeps = _collect(escope.follow(tmp_path / "20241007-120000.escope",
                                                     k=5, noise_s=0.2, poll_s=0.02,
                                                     idle_timeout_s=1.5))
    _finish(proc)
    rec = Recording(tmp_path / "20241007-120000")
    assert rec.triggered and updates[-1].scans == rec.n_sweeps == 12
    assert updates[0].scans == 0  # opened before its first sweep was whole
    offline = rec.detectspikes(threshold=updates[-1].thresholds)
    for name in rec.channels:
        want = [(n, int(i)) for n, idx in enumerate(offline[name]) for i in idx]
        assert list(zip(sweeps[name], spikes[name])) == want


def test_follow_ends_when_a_newer_recording_starts(tmp_path):
    proc = _start_writer(tmp_path, "20241007-120000", "--seconds", "1.0", "--seed", "7",
                         "--then", "20241007-120003")
    updates, spikes, _ = _collect(escope.follow(tmp_path / "20241007-120000.escope",
                                                threshold=5.0, poll_s=0.02))
    last = updates[-1]
    assert last.ended == "newer recording"
    assert last.newer == tmp_path / "20241007-120003.escope"
    _finish(proc)
    offline = Recording(tmp_path / "20241007-120000").detectspikes(threshold=5.0)
    for name in offline:
        assert spikes[name] == offline[name].tolist()


def _grown(tmp_path, scans=4000):
    x = samples("continuous", 2, 20000, scans / 20000, 2000, 11)
    path = escope.write(tmp_path / "20241007-120000", x.T, 20000, ["ai0", "ai1"],
                        ["1 uV"] * 2)
    return path, x


def test_refresh_takes_in_whole_scans_only(tmp_path):
    path, x = _grown(tmp_path)
    rec = Recording(path)
    more = samples("continuous", 2, 20000, 0.05, 2000, 12)
    with open(rec.header.dat_path, "ab") as f:
        f.write(more.tobytes()[:-5])  # the last scan cut inside a sample
    assert rec.refresh() == len(more) - 1
    assert rec.n_scans == 4000 + len(more) - 1
    np.testing.assert_array_equal(rec.rawdata()[:, 4000:], more[:-1].T)
    with open(rec.header.dat_path, "ab") as f:
        f.write(more.tobytes()[-5:])
    assert rec.refresh() == 1 and rec.refresh() == 0


@pytest.mark.parametrize("fault, message", [
    ("truncate", "shrank from"),
    ("replace", "was replaced"),
    ("sidecar", "changed while the recording was being followed"),
    ("delete", "vanished"),
])
def test_faults_under_a_follower_are_named(tmp_path, fault, message):
    path, _ = _grown(tmp_path)
    dat = path.with_suffix(".dat")
    follower = escope.follow(path, threshold=5.0, poll_s=0.01)
    first = next(follower)
    assert first.scans == 4000
    if fault == "truncate":
        os.truncate(dat, dat.stat().st_size - 8)
    elif fault == "replace":
        tmp = dat.with_name("x.dat")
        tmp.write_bytes(dat.read_bytes() + bytes(64))
        os.replace(tmp, dat)
    elif fault == "sidecar":
        time.sleep(0.01)
        path.write_text(path.read_text().replace('"rate_Hz": 20000', '"rate_Hz": 20000.0'))
        with open(dat, "ab") as f:
            f.write(bytes(64))
    else:
        dat.unlink()
    with pytest.raises(FormatError, match=message) as err:
        for _ in range(50):
            next(follower)
    assert str(dat) in str(err.value) or str(path) in str(err.value)


def test_follow_waits_for_the_sample_file_and_ends_on_idle(tmp_path):
    path, x = _grown(tmp_path)
    dat = path.with_suffix(".dat")
    content = dat.read_bytes()
    dat.unlink()  # the sidecar is there, the samples not yet

    def later():
        time.sleep(0.3)
        dat.write_bytes(content)

    import threading

    t = threading.Thread(target=later)
    t.start()
    updates, spikes, _ = _collect(escope.follow(path, threshold=5.0, poll_s=0.02,
                                                idle_timeout_s=0.5))
    t.join()
    assert updates[-1].ended == "idle" and updates[-1].scans == 4000
    offline = Recording(path).detectspikes(threshold=5.0)
    assert spikes["ai0"] == offline["ai0"].tolist()


@pytest.mark.parametrize("bad, message", [
    (dict(poll_s=0), "poll_s must be a positive number of seconds"),
    (dict(idle_timeout_s=-1), "idle_timeout_s must be a non-negative number"),
    (dict(noise_s="x"), "noise_s must be a non-negative number"),
    (dict(k=0), "k must be a positive finite number"),
    (dict(channels=["nope"]), "no channel named 'nope'"),
    (dict(polarity=3), "polarity must be -1, 0 or 1"),
])
def test_bad_arguments(tmp_path, bad, message):
    path, _ = _grown(tmp_path)
    with pytest.raises(ValueError, match=message):
        next(escope.follow(path, **bad))


def test_an_empty_triggered_capture_opens_everywhere(tmp_path):
    side = __import__("tests.livewriter", fromlist=["sidecar"]).sidecar(
        "triggered", 2, 20000, 2000, "20241007-120000")
    import json

    (tmp_path / "20241007-120000.escope").write_text(json.dumps(side))
    (tmp_path / "20241007-120000.dat").write_bytes(bytes(8 * 1000 + 3))  # half a sweep
    with pytest.warns(PartialDataWarning):
        rec = Recording(tmp_path / "20241007-120000")
    assert rec.n_sweeps == 0 and rec.rawdata().shape == (2, 0, 2000)
    assert rec.detectspikes(k=5).counts() == {"ai0": 0, "ai1": 0}
    listing = escope.scan(tmp_path)
    assert listing[0].n_sweeps == 0 and listing[0].error is None
    from escope_neo import EScopeIO, read_escope

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialDataWarning)
        block = EScopeIO(tmp_path / "20241007-120000.escope").read_block()
        assert block.segments[0].analogsignals[0].shape == (0, 2)
        assert read_escope(tmp_path / "20241007-120000.escope").get_num_samples() == 0
    out = subprocess.run([sys.executable, "-m", "escope", "ls", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0
    row = [line for line in out.stdout.splitlines() if line.startswith("20241007")][0]
    assert " triggered " in row and " 0 " in row
