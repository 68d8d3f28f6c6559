"""The command line: info, plot, demo, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import escope
from escope.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_info(tmp_path, capsys):
    rng = np.random.default_rng(0)
    escope.write(tmp_path / "r", rng.normal(0, 2, (2, 3, 1000)).astype("f4"), 10000,
                 ["ai0", "ai5"], ["1 uV", "0.1 V"], pretrigger_s=0.01)
    assert main(["info", str(tmp_path / "r.escope")]) == 0
    out = capsys.readouterr().out
    assert "escope-3.3" in out and "triggered" in out and "10000 Hz" in out
    assert "3 sweeps of 1000 scans, trigger at scan 100" in out
    assert "ai0    µV  (scale 1 µV), noise 2" in out  # noise ≈ 2 in raw units
    assert "ai5    V   (scale 0.1 V), noise 20" in out and " mV" in out  # 0.2 V shown in mV


def test_plot(tmp_path, capsys):
    escope.write(tmp_path / "r", np.zeros((1, 100), "f4"), 1000, ["a"], ["1 mV"])
    out = tmp_path / "fig.png"
    assert main(["plot", str(tmp_path / "r"), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line_and_status_2(tmp_path):
    (tmp_path / "bad.escope").write_text("{not json")
    (tmp_path / "bad.dat").write_bytes(b"")
    for args in (["info", str(tmp_path / "bad.escope")], ["info", str(tmp_path / "none")]):
        proc = subprocess.run([sys.executable, "-m", "escope", *args], capture_output=True,
                              text=True, cwd=ROOT)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert args[1].rsplit("/", 1)[-1] in proc.stderr


def test_demo_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "escope", "demo", str(tmp_path / "d")],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert "ai0: 70 spikes below" in proc.stdout and "70 of the 70 spikes" in proc.stdout
    assert (tmp_path / "d" / "20241007-123412.png").is_file()
    assert escope.Recording(tmp_path / "d" / "20241007-123412").n_scans == 200_000
