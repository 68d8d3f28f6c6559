"""NWB in one step: write_nwb / 'escope-analysis nwb' and the neuroconv interface.
The files are validated with pynwb's validator and read back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import escope
from tests.makefiles import make_files

pynwb = pytest.importorskip("pynwb", reason="the [nwb] extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(31)


def _validate(path):
    from escope_neo.nwb import _validate

    return _validate(pynwb, path)


def test_continuous_volts_and_amperes(tmp_path, monkeypatch):
    from escope_neo import write_nwb

    monkeypatch.setenv("ESCOPE_TIMEZONE", "Europe/Berlin")
    raw = RNG.normal(size=(3, 3000)).astype(np.float32)
    path = escope.write(tmp_path / "r", raw, 20000, ["ai0", "ai1", "ai2"],
                        ["1 uV", "-2 mV", "10 pA"], rundate="20240707-123412")
    out = write_nwb(path)
    assert out == tmp_path / "r.nwb" and _validate(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time.isoformat() == "2024-07-07T12:34:12+02:00"
        es = nwb.acquisition["ElectricalSeries"]
        assert es.unit == "volts" and es.rate == 20000.0
        assert list(nwb.electrodes["channel_name"][:]) == ["ai0", "ai1"]
        volts = es.data[:] * es.channel_conversion[:][None, :] * es.conversion
        np.testing.assert_allclose(volts, (raw[:2] * np.array([[1e-6], [-2e-3]])).T, rtol=1e-6)
        current = nwb.acquisition["ai2"]
        assert type(current).__name__ == "TimeSeries" and current.unit == "amperes"
        np.testing.assert_allclose(current.data[:, 0] * current.conversion, raw[2] * 1e-11,
                                   rtol=1e-6)
    with pytest.raises(FileExistsError, match="NWB file exists"):
        write_nwb(path)
    assert write_nwb(path, tmp_path / "again.nwb", overwrite=True).is_file()


def test_triggered_sweeps_keep_order_and_trigger_time(tmp_path):
    from escope_neo import write_nwb

    raw = RNG.normal(size=(2, 3, 400)).astype(np.float32)
    base = make_files(tmp_path / "t", raw, triggered=True, rate_Hz=2000.0, s_div=0.01,
                      delay_div=2, scale=["1 uV", "1 uV"])
    out = write_nwb(base, tmp_path / "t.nwb")
    assert _validate(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        for n in range(3):
            es = nwb.acquisition[f"ElectricalSeries_sweep{n:03d}"]
            assert es.starting_time == pytest.approx(n * 0.2)
            np.testing.assert_array_equal(es.data[:], raw[:, n].T)
        trials = nwb.trials.to_dataframe()
        assert trials["start_time"].tolist() == pytest.approx([0.0, 0.2, 0.4])
        assert trials["trigger_time"].tolist() == pytest.approx([0.02, 0.22, 0.42])


def test_command_line(tmp_path):
    raw = RNG.normal(size=(1, 1000)).astype(np.float32)
    escope.write(tmp_path / "c", raw, 1000, ["ai0"], ["1 mV"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "escope", "nwb", str(tmp_path / "c.escope"),
                           str(tmp_path / "out.nwb"), "--timezone", "UTC"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and _validate(tmp_path / "out.nwb") == []
    proc = subprocess.run([sys.executable, "-m", "escope", "nwb", str(tmp_path / "c.escope"),
                           str(tmp_path / "out.nwb")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "exists" in proc.stderr


def test_neuroconv_interface_in_a_converter(tmp_path):
    pytest.importorskip("neuroconv", reason="the [nwb] extra is not installed")
    from neuroconv import NWBConverter

    from escope_neo import EScopeRecordingInterface

    raw = RNG.normal(size=(3, 2000)).astype(np.float32)
    path = escope.write(tmp_path / "r", raw, 20000, ["ai0", "ai1", "ai2"],
                        ["1 uV", "2 mV", "10 pA"], rundate="20240707-123412")

    class Converter(NWBConverter):
        data_interface_classes = dict(EScope=EScopeRecordingInterface)

    converter = Converter(source_data=dict(EScope=dict(file_path=str(path), timezone="UTC")))
    metadata = converter.get_metadata()
    assert metadata["NWBFile"]["session_start_time"].isoformat() == "2024-07-07T12:34:12+00:00"
    out = tmp_path / "c.nwb"
    converter.run_conversion(nwbfile_path=str(out), metadata=metadata)
    assert _validate(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        es = nwb.acquisition["ElectricalSeries"]
        assert es.data.shape == (2000, 2) and len(nwb.electrodes) == 2  # voltages only
        gains = es.channel_conversion[:] if es.channel_conversion is not None else 1.0
        volts = es.data[:] * gains * es.conversion
        np.testing.assert_allclose(volts, (raw[:2] * np.array([[1e-6], [2e-3]])).T, rtol=1e-5)
