"""NWB ready to publish: metadata checked before writing, the NWB Inspector's
verdict, sweeps and spikes in the file, compression, whole folders, and the
samples read back identically by pynwb, SpikeInterface and pynapple."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import escope
from escope import Recording
from tests.makefiles import make_files

pynwb = pytest.importorskip("pynwb", reason="the [nwb] extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
COMPLETE = """\
NWBFile:
  session_description: Dummy nerve recording from EScope's simulator
  experiment_description: Spontaneous activity, two electrodes
  experimenter: ["Doe, Jane"]
  institution: University of Somewhere
  lab: Nerve lab
  keywords: [nerve, extracellular, EScope]
  session_id: "2023-10-30-a"
Subject:
  subject_id: rat-17
  species: Rattus norvegicus
  sex: M
  age: P90D
  description: adult male, anaesthetized
"""


def _nwb(*args, **kw):
    return subprocess.run([sys.executable, "-m", "escope", "nwb", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=300, cwd=ROOT, **kw)


def test_complete_metadata_passes_the_inspector(real_recording, tmp_path):
    pytest.importorskip("nwbinspector", reason="the [nwb] extra is not installed")
    from escope_neo import write_nwb

    meta = tmp_path / "meta.yaml"
    meta.write_text(COMPLETE)
    report = []
    out = write_nwb(real_recording, tmp_path / "ex.nwb", metadata=meta, report=report,
                    timezone="Europe/Berlin", spikes=True)
    kinds = {m.importance for m in report}
    assert "CRITICAL" not in kinds and "BEST_PRACTICE_VIOLATION" not in kinds, report
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.subject.species == "Rattus norvegicus" and nwb.subject.age == "P90D"
        assert list(nwb.experimenter) == ["Doe, Jane"] and "EScope" in list(nwb.keywords)
        assert nwb.session_description.startswith("Dummy nerve")
    # and on the command line, which prints the verdict
    proc = _nwb(real_recording.with_suffix(".escope"), tmp_path / "cli.nwb", "--metadata",
                meta, "--require-dandi", "--timezone", "UTC")
    assert proc.returncode == 0, proc.stderr
    assert "NWB Inspector" in proc.stdout and "CRITICAL" not in proc.stdout


def test_require_dandi_refuses_without_a_subject_and_leaves_nothing(real_recording, tmp_path):
    pytest.importorskip("nwbinspector", reason="the [nwb] extra is not installed")
    proc = _nwb(real_recording.with_suffix(".escope"), tmp_path / "x.nwb", "--require-dandi")
    assert proc.returncode == 2
    assert "CRITICAL" in proc.stderr and "Subject is missing" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left behind, no temporary either
    plain = _nwb(real_recording.with_suffix(".escope"), tmp_path / "y.nwb")
    assert plain.returncode == 0 and "CRITICAL: Subject is missing" in plain.stdout
    lines = [line for line in plain.stdout.splitlines() if line.startswith("  ")]
    assert lines[0].lstrip().startswith("CRITICAL")  # most important first


BAD_METADATA = [
    ("not: [yaml", "not YAML"),
    ("Nwbfile:\n  lab: x\n", "Nwbfile: unknown section"),
    ("NWBFile:\n  keywords: 5\n", "NWBFile.keywords must be a list of strings, not 5"),
    ("NWBFile:\n  labb: x\n", "NWBFile.labb: unknown key"),
    ("Subject:\n  species: rat\n", "Subject.species must be a Latin binomial"),
    ("Subject:\n  age: 90 days\n", "Subject.age must be an ISO 8601 duration"),
    ("Subject:\n  sex: male\n", "Subject.sex must be one of NWB's codes"),
    ("NWBFile:\n  session_start_time: 2024-10-07T12:00:00\n", "must say its time zone"),
]


@pytest.mark.parametrize("text, message", BAD_METADATA, ids=[m[1] for m in BAD_METADATA])
def test_bad_metadata_names_file_key_and_value_and_writes_nothing(tmp_path, text, message):
    from escope_neo import write_nwb
    from escope_neo.nwb_metadata import MetadataError

    path = escope.write(tmp_path / "r", np.zeros((1, 100), np.float32), 1000, ["ai0"],
                        ["1 mV"], rundate="20240707-123412")
    meta = tmp_path / "meta.yaml"
    meta.write_text(text)
    with pytest.raises(MetadataError, match=message) as err:
        write_nwb(path, tmp_path / "o.nwb", metadata=meta)
    assert str(meta) in str(err.value) and isinstance(err.value, ValueError)
    assert not (tmp_path / "o.nwb").exists()
    proc = _nwb(path, tmp_path / "o.nwb", "--metadata", meta)
    assert proc.returncode == 2 and str(meta) in proc.stderr
    assert not (tmp_path / "o.nwb").exists()


def test_sweeps_spikes_and_compression_round_trip(tmp_path):
    from escope.synth import make_evoked_recording
    from escope_neo import write_nwb

    path, _ = make_evoked_recording(tmp_path / "20241007-123412", n_sweeps=5)
    rec = Recording(path)
    out = write_nwb(path, tmp_path / "ev.nwb", spikes=True, k=5, timezone="UTC")
    spikes = rec.detectspikes(k=5)
    import h5py

    with h5py.File(out, "r") as f:
        data = f["acquisition/ElectricalSeries_sweep000/data"]
        assert data.compression == "gzip" and data.chunks is not None
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        trials = nwb.trials.to_dataframe()
        assert trials["trigger_time"].tolist() == pytest.approx(
            [n * 0.2 + rec.pretrigger_s for n in range(5)])
        module = nwb.processing["ecephys"]
        for name in ("ai0", "ai1"):
            for n in range(5):
                ev = module[f"EventDetection_{name}_sweep{n:03d}"]
                np.testing.assert_array_equal(ev.source_idx[:], spikes[name][n])
                np.testing.assert_allclose(ev.times[:], spikes[name][n] / rec.rate + n * 0.2)
                assert ev.source_electricalseries.name == f"ElectricalSeries_sweep{n:03d}"
                assert f"k = 5 × noise {spikes.noise[name]:.6g}" in ev.detection_method
            np.testing.assert_array_equal(
                nwb.acquisition["ElectricalSeries_sweep002"].data[:], rec.rawdata()[:, 2].T)
    plain = write_nwb(path, tmp_path / "plain.nwb", compress=False, timezone="UTC")
    with h5py.File(plain, "r") as f:
        assert f["acquisition/ElectricalSeries_sweep000/data"].compression is None
    # pynapple reads the sweeps as intervals
    nap = pytest.importorskip("pynapple")
    data = nap.load_file(str(out))
    intervals = data["trials"]
    np.testing.assert_allclose(intervals.start, np.arange(5) * 0.2)


def test_samples_read_back_identically_everywhere(tmp_path):
    from escope_neo import write_nwb

    raw = np.random.default_rng(8).normal(size=(2, 5000)).astype(np.float32)
    path = escope.write(tmp_path / "20241007-123412", raw, 20000, ["ai0", "ai1"],
                        ["1 uV", "1 uV"], rundate="20241007-123412")
    out = write_nwb(path, tmp_path / "r.nwb", timezone="UTC")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ElectricalSeries"].data[:], raw.T)
    se = pytest.importorskip("spikeinterface.extractors")
    si_rec = se.read_nwb_recording(str(out), electrical_series_path="acquisition/ElectricalSeries")
    np.testing.assert_array_equal(si_rec.get_traces(), raw.T)
    nap = pytest.importorskip("pynapple")
    series = nap.load_file(str(out))["ElectricalSeries"]
    np.testing.assert_array_equal(np.asarray(series.values), raw.T)


def test_a_folder_in_parallel_resumable_with_a_broken_recording(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        escope.write(data / f"20241007-12000{i}", np.random.default_rng(i).normal(
            size=(2, 4000)).astype(np.float32), 20000, ["ai0", "ai1"], ["1 uV"] * 2,
            rundate=f"20241007-12000{i}")
    (data / "20241007-130000.escope").write_text("{ broken")
    (data / "20241007-130000.dat").write_bytes(b"")
    out = tmp_path / "nwb"
    proc = _nwb(data, "-o", out, "--jobs", "2", "--timezone", "UTC")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("wrote    ") for line in lines) == 3
    assert any(line.startswith("failed   20241007-130000.escope: ") and "not valid JSON" in line
               for line in lines)
    assert sorted(p.name for p in out.iterdir()) == [f"20241007-12000{i}.nwb" for i in range(3)]
    again = _nwb(data, "-o", out, "--jobs", "1", "--timezone", "UTC")
    assert sum(line.startswith("skipped  ") for line in again.stdout.splitlines()) == 3
    forced = _nwb(data, "-o", out, "--force", "--jobs", "1", "--timezone", "UTC")
    assert sum(line.startswith("wrote    ") for line in forced.stdout.splitlines()) == 3
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    bad = _nwb(data, "-o", a_file)
    assert bad.returncode == 2 and "the output folder is a file" in bad.stderr
    assert a_file.read_text() == "x"


def test_an_existing_output_is_not_overwritten(tmp_path):
    path = escope.write(tmp_path / "r", np.zeros((1, 100), np.float32), 1000, ["ai0"],
                        ["1 mV"], rundate="20240707-123412")
    (tmp_path / "o.nwb").write_text("precious")
    proc = _nwb(path, tmp_path / "o.nwb")
    assert proc.returncode == 2 and "exists" in proc.stderr
    assert (tmp_path / "o.nwb").read_text() == "precious"


def test_interface_metadata_is_write_nwbs(tmp_path):
    pytest.importorskip("neuroconv", reason="the [nwb] extra is not installed")
    from escope_neo import EScopeRecordingInterface
    from escope_neo.nwb import recording_metadata

    path = escope.write(tmp_path / "r", np.zeros((2, 100), np.float32), 1000, ["ai0", "ai1"],
                        ["1 mV"] * 2, rundate="20240707-123412")
    meta = EScopeRecordingInterface(path, timezone="UTC").get_metadata()
    ours = recording_metadata(Recording(path), "UTC")["NWBFile"]
    for key in ("session_description", "identifier", "session_start_time"):
        assert meta["NWBFile"][key] == ours[key]
