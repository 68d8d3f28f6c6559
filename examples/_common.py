"""Shared by the examples: where figures go, and the real recording if present."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "output"
OUTPUT.mkdir(exist_ok=True)
REAL = HERE.parent.parent / "shared" / "data" / "20231030-154906.escope"
