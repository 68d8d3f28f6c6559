"""A lab's data folder: scan, spikes over many recordings (serial, processes,
Dask), resuming, and the command line around them (run in subprocesses)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import Recording
from escope.batch import SPIKE_COLUMNS, SUMMARY_COLUMNS, detect_folder
from escope.folder import scan
from tests.makefiles import make_files

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def cli(*args, cwd=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "escope", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=ENV, timeout=timeout)


def _noise_with_spikes(rng, shape):
    x = rng.normal(0, 1.0, shape).astype(np.float32)
    flat = x.reshape(shape[0], -1)
    for c in range(shape[0]):
        idx = rng.choice(flat.shape[1] - 2, max(1, flat.shape[1] // 400), replace=False)
        flat[c, idx] += rng.choice([-1, 1], len(idx)) * 9
    return x


@pytest.fixture
def lab(tmp_path):
    """A folder with every layout, an interrupted recording and broken files."""
    rng = np.random.default_rng(3)
    d = tmp_path / "data"
    d.mkdir()
    escope.write(d / "20241007-120000", _noise_with_spikes(rng, (3, 20000)), 20000,
                 ["ai0", "ai1", "ai2"], ["1 uV", "2 uV", "10 pA"], rundate="20241007-120000")
    escope.write(d / "20241007-110000", _noise_with_spikes(rng, (2, 4, 3000)), 10000,
                 ["ai0", "ai5"], ["1 mV", "1 mV"], pretrigger_s=0.01, rundate="20241007-110000")
    make_files(d / "20241006-090000", _noise_with_spikes(rng, (2, 9000)).astype(np.float64),
               version="escope-3", rate_Hz=30000.0,
               sidecar_overrides={"rundate": "20241006-090000"})
    make_files(d / "20241007-120000-001", _noise_with_spikes(rng, (2, 2500)), rate_Hz=20000.0,
               sidecar_overrides={"rundate": "20241007-120000"})
    make_files(d / "20241008-080000", _noise_with_spikes(rng, (1, 6000)), extra_bytes=2,
               sidecar_overrides={"rundate": "20241008-080000"})  # interrupted: partial scan
    (d / "20241009-000000.escope").write_text("{not json")  # broken sidecar
    (d / "20241009-000000.dat").write_bytes(b"\0" * 64)
    (d / "20241009-010000.dat").write_bytes(b"\0" * 64)  # samples without a sidecar
    (d / "notes.txt").write_text("not a recording")
    return d


GOOD = ["20241006-090000", "20241007-110000", "20241007-120000", "20241007-120000-001",
        "20241008-080000"]
BROKEN = ["20241009-000000", "20241009-010000"]


# --------------------------------------------------------------------------- scan / ls
def test_scan_lists_every_layout_and_the_broken_ones(lab):
    listing = scan(lab)
    assert [r.name for r in listing] == GOOD + BROKEN  # by run date, broken last
    by_name = {r.name: r for r in listing}
    trig = by_name["20241007-110000"]
    assert (trig.layout, trig.n_sweeps, trig.n_scans, trig.rate_Hz) == ("triggered", 4, 3000,
                                                                        10000.0)
    assert trig.duration_s == pytest.approx(1.2) and trig.channels == ["ai0", "ai5"]
    assert by_name["20241007-120000"].units == ["uV", "uV", "pA"]
    assert by_name["20241007-120000-001"].layout == "sweep"
    assert by_name["20241006-090000"].version == "escope-3"
    assert by_name["20241006-090000"].size_bytes == sum(
        (lab / f"20241006-090000{e}").stat().st_size for e in (".escope", ".dat", ".config"))
    assert "dropped 1 partial scan" in by_name["20241008-080000"].warning
    assert "not valid JSON" in by_name["20241009-000000"].error
    assert "sidecar not found" in by_name["20241009-010000"].error
    assert [r.name for r in listing.broken] == BROKEN
    frame = listing.to_frame()
    assert list(frame["name"]) == GOOD + BROKEN and "error" in frame.columns


def test_scan_recursive_and_not_a_folder(lab, tmp_path):
    sub = lab / "day2"
    sub.mkdir()
    escope.write(sub / "20241010-000000", np.zeros((1, 100), np.float32), 1000, ["a"], ["1 mV"])
    assert "20241010-000000" not in [r.name for r in scan(lab)]
    assert "20241010-000000" in [r.name for r in scan(lab, recursive=True)]
    with pytest.raises(NotADirectoryError):
        scan(lab / "notes.txt")


def test_cli_ls(lab, tmp_path):
    proc = cli("ls", lab)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["name", "date", "layout", "channels"]
    assert [line.split()[0] for line in lines[1:]] == GOOD + BROKEN
    assert "ai0[µV] ai1[µV] ai2[pA]" in proc.stdout and "uV" not in proc.stdout
    assert "BROKEN" in lines[-1] and "sidecar not found" in lines[-1]
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("ls", empty)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no recordings" in proc.stderr and str(empty) in proc.stderr


# --------------------------------------------------------------------------- spikes
def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _expected(lab: Path, k: float = 5.0, polarity: int = 0):
    """What the Python functions give, recording by recording."""
    spikes, noise = {}, {}
    for name in GOOD:
        rec = Recording(lab / name)
        found = rec.detectspikes(k=k, polarity=polarity)
        for ch, idx in found.items():
            sweeps = idx if rec.triggered else [idx]
            spikes[(name, ch)] = [(n, int(i)) for n, s in enumerate(sweeps) for i in s]
            noise[(name, ch)] = found.noise[ch]
    return spikes, noise


def _check_tables(out: Path, lab: Path):
    spikes, noise = _expected(lab)
    rows = _read(out / "spikes.csv")
    assert list(rows[0]) == SPIKE_COLUMNS
    got: dict = {}
    for r in rows:
        got.setdefault((r["recording"], r["channel"]), []).append((int(r["sweep"]),
                                                                   int(r["sample"])))
        rec = Recording(lab / r["recording"])
        c = rec.channels.index(r["channel"])
        y = rec.data(c)[0]
        value = (y[int(r["sweep"])] if rec.triggered else y)[int(r["sample"])]
        assert float(r["amplitude"]) == float(value)
        assert float(r["time_s"]) == int(r["sample"]) / rec.rate
    assert {key: v for key, v in spikes.items() if v} == got
    summary = _read(out / "summary.csv")
    assert list(summary[0]) == SUMMARY_COLUMNS
    ok = [r for r in summary if r["status"] == "ok"]
    assert {(r["recording"], r["channel"]): float(r["noise"]) for r in ok} == noise
    for r in ok:
        assert int(r["n_spikes"]) == len(spikes[(r["recording"], r["channel"])])
    failed = [r for r in summary if r["status"] == "failed"]
    assert sorted(r["recording"] for r in failed) == BROKEN
    return summary


def test_spikes_equal_the_python_functions_serial_and_processes(lab, tmp_path):
    serial = detect_folder([lab], tmp_path / "serial", jobs=1, progress=False)
    assert sorted(Path(p).stem for p in serial.failed) == BROKEN
    _check_tables(tmp_path / "serial", lab)
    procs = detect_folder([lab], tmp_path / "procs", jobs=2, progress=False)
    assert len(procs.done) == len(GOOD)
    for table in ("spikes.csv", "summary.csv"):
        assert (tmp_path / "serial" / table).read_bytes() == (tmp_path / "procs" / table).read_bytes()


@pytest.mark.slow
def test_spikes_on_a_dask_local_cluster_are_identical(lab, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    detect_folder([lab], tmp_path / "serial", jobs=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            result = detect_folder([lab], tmp_path / "dask", scheduler=client, progress=False)
        assert len(result.done) == len(GOOD)
        proc = cli("spikes", lab, "-o", tmp_path / "dask-cli", "--scheduler",
                   cluster.scheduler_address)
        assert proc.returncode == 1, proc.stderr  # the broken recordings
    for table in ("spikes.csv", "summary.csv"):
        serial = (tmp_path / "serial" / table).read_bytes()
        assert serial == (tmp_path / "dask" / table).read_bytes()
        assert serial == (tmp_path / "dask-cli" / table).read_bytes()


def test_unreachable_scheduler_fails_fast_with_one_line(lab, tmp_path):
    pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed: nobody listens there
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.perf_counter()
    with pytest.raises(OSError, match=f"could not reach the Dask scheduler at {address}"):
        detect_folder([lab], tmp_path / "o", scheduler=address, connect_timeout=2,
                      progress=False)
    assert time.perf_counter() - t0 < 30
    proc = cli("spikes", lab / "20241007-120000", "-o", tmp_path / "o2", "--scheduler", address,
               timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert address in proc.stderr and "Traceback" not in proc.stderr


def test_rerun_skips_what_is_done_and_force_redoes(lab, tmp_path):
    out = tmp_path / "out"
    first = detect_folder([lab], out, jobs=1, progress=False)
    before = (out / "spikes.csv").read_bytes()
    again = detect_folder([lab], out, jobs=1, progress=False)
    assert again.done == [] and len(again.skipped) == len(GOOD)
    assert sorted(again.failed) == sorted(first.failed)  # broken ones are retried
    assert (out / "spikes.csv").read_bytes() == before
    forced = detect_folder([lab], out, jobs=1, force=True, progress=False)
    assert len(forced.done) == len(GOOD) and (out / "spikes.csv").read_bytes() == before
    other = detect_folder([lab], out, k=4, jobs=1, progress=False)  # other settings: not reused
    assert len(other.done) == len(GOOD)
    settings = sorted(json.loads(p.read_text())["k"] for p in out.glob("parts-*/settings.json"))
    assert settings == [4.0, 5.0]


def test_interrupted_run_leaves_outputs_whole(lab, tmp_path, monkeypatch):
    import escope.batch as batch

    out = tmp_path / "out"
    detect_folder([lab], out, jobs=1, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    from escope.atomic import replace_atomically

    monkeypatch.setattr(batch, "parquet", boom)  # after the CSV tables
    real_concatenate = batch.concatenate

    def half(target, header, sources):
        def body(f):
            f.write(b"recording,chan")  # a partial table...
            raise KeyboardInterrupt  # ...then the user presses Ctrl-C

        replace_atomically(target, body)

    monkeypatch.setattr(batch, "concatenate", half)
    with pytest.raises(KeyboardInterrupt):
        detect_folder([lab], out, jobs=1, force=True, progress=False)
    monkeypatch.setattr(batch, "concatenate", real_concatenate)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in out.rglob(".*")]  # no temporaries left


def test_no_recordings_and_bad_settings(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no recordings in"):
        detect_folder([empty], tmp_path / "o", progress=False)
    for kwargs, message in ((dict(k=0), "k must be a positive"), (dict(polarity=3), "polarity"),
                            (dict(jobs=0), "jobs must be a positive integer")):
        with pytest.raises(ValueError, match=message):
            detect_folder([empty], tmp_path / "o", progress=False, **kwargs)
    proc = cli("spikes", empty, "-o", tmp_path / "o")
    assert proc.returncode == 2 and "no recordings in" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_cli_spikes_reports_failures_and_writes_tables(lab, tmp_path):
    proc = cli("spikes", lab, "-o", tmp_path / "out", "--jobs", "1", "--channels", "ai0")
    assert proc.returncode == 1  # two broken recordings
    assert "5 analysed, 0 already done, 2 failed" in proc.stdout
    assert proc.stderr.count("failed:") == 2 and "Traceback" not in proc.stderr
    channels = {r["channel"] for r in _read(tmp_path / "out" / "summary.csv") if r["channel"]}
    assert channels == {"ai0"}


# --------------------------------------------------------------------------- command line polish
def test_version_and_help_show_defaults():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"escope-analysis {escope.__version__}"
    for command in ("spikes", "plot", "ls", "info", "demo"):
        proc = cli(command, "--help")
        assert proc.returncode == 0
        helped = [line for line in proc.stdout.splitlines() if line.startswith("  ")]
        assert helped, command
    spikes_help = cli("spikes", "--help").stdout
    assert "(default: 5.0)" in spikes_help and "--scheduler" in spikes_help


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "folder", "is a directory, not a recording"),
    (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt",
     "not an EScope recording"),
    (lambda d: (escope.write(d / "r", np.zeros((1, 10), "f4"), 1000, ["a"], ["1 mV"]),
                (d / "r.dat").unlink(), d / "r.escope")[-1], "sample file not found"),
    (lambda d: (d / "x.escope").write_text('{"hello": 1}') and d / "x.escope",
     "missing key 'version'"),
])
def test_one_clear_line_per_error(tmp_path, make, message):
    (tmp_path / "folder").mkdir()
    path = make(tmp_path)
    for command in ("info", "plot"):
        proc = cli(command, path, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        named = path.with_suffix(".dat") if "sample file" in message else path
        assert message in proc.stderr and str(named) in proc.stderr


def test_info_spells_micro_and_shows_readable_noise(tmp_path):
    rng = np.random.default_rng(0)
    escope.write(tmp_path / "r", (rng.normal(0, 0.0125, (2, 20000))).astype("f4"), 20000,
                 ["ai0", "ai1"], ["1 mV", "1 uV"])
    out = cli("info", tmp_path / "r").stdout
    assert "noise 12.5" in out and "µV" in out and "uV" not in out
    assert "0.0125 mV" not in out


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8"),
                                           (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_plot_honours_the_extension(tmp_path, suffix, magic):
    escope.write(tmp_path / "r", np.random.default_rng(0).normal(size=(1, 5000)).astype("f4"),
                 5000, ["a"], ["1 uV"])
    out = tmp_path / f"fig{suffix}"
    proc = cli("plot", tmp_path / "r", "-o", out, "--spikes")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[: len(magic)] == magic
    assert f"wrote {out} ({suffix[1:].upper()})" in proc.stdout


def test_demo_marks_spikes_and_thresholds(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from escope.synth import make_recording

    path, _ = make_recording(tmp_path / "r", duration_s=2.0)
    rec = Recording(path)
    spikes = rec.detectspikes(k=5, polarity=-1, units="uV")
    axes = rec.plot(spikes=spikes)
    for c, ax in enumerate(axes):
        name = rec.channels[c]
        levels = sorted(line.get_ydata()[0] for line in ax.get_lines()
                        if line.get_linestyle() == "--")
        thr = spikes.thresholds[name] / 1000 if rec.units[c] == "mV" else spikes.thresholds[name]
        assert levels == pytest.approx([-thr, thr])
        markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(markers) == 1 and len(markers[0].get_xdata()) == len(spikes[name])


# --------------------------------------------------------------------------- examples
@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("plot_*.py")))
def test_examples_run_when_downloaded_alone(tmp_path, example):
    (tmp_path / example).write_text((ROOT / "examples" / example).read_text())
    proc = subprocess.run([sys.executable, example], capture_output=True, text=True,
                          cwd=tmp_path, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list((tmp_path / "output").glob("*.png"))


def test_a_damaged_part_is_redone(lab, tmp_path):
    out = tmp_path / "out"
    detect_folder([lab], out, jobs=1, progress=False)
    before = (out / "spikes.csv").read_bytes()
    (part,) = [p for p in out.glob("parts-*/20241007-120000.*.spikes.csv")]
    part.write_bytes(b"")  # what a power cut can leave of a part never flushed
    again = detect_folder([lab], out, jobs=1, progress=False)
    assert [Path(p).stem for p in again.done] == ["20241007-120000"]
    assert (out / "spikes.csv").read_bytes() == before
