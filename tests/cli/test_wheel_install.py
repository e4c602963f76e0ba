"""A plain (non-editable) install finds its embedded data from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_resources_and_builtins_and_trains_from_another_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(REPO)], check=True, timeout=300)
    (wheel,) = wheels.glob("seqstudio-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "seqstudio/resources/airline-passengers.csv" in names
    assert "seqstudio_builtins/cells.py" in names
    eps = next(n for n in names if n.endswith("entry_points.txt"))
    assert "seqstudio_builtins" in zipfile.ZipFile(wheel).read(eps).decode()

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import sys, seqstudio; from seqstudio.cli import main; "
            "print(seqstudio.__file__, file=sys.stderr); "
            "sys.exit(main(['train', '--preset', 'airline-lstm', '--epochs', '2', '-q', "
            "'--metrics-out', 'm.json']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert str(site) in proc.stderr  # the installed copy ran, not the checkout
    report = json.loads((elsewhere / "m.json").read_text())
    assert report["epochs_run"] == 2 and "naive" in report["splits"]["test"]["baselines"]
