"""The ``seqstudio`` command: real runs through the CLI, and user errors as exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seqstudio import __version__
from seqstudio.cli import main, parse_layers
from seqstudio.core.project import weights_path


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_parse_layers_compact_and_json():
    assert parse_layers("LSTM(4, return_sequences=True), Dense(1)") == [
        {"type": "LSTM", "units": 4, "return_sequences": True},
        {"type": "Dense", "units": 1},
    ]
    assert parse_layers('[{"type": "GRU", "units": 8}]') == [{"type": "GRU", "units": 8}]


def test_train_two_epochs_writes_metrics_with_baselines(tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["train", "--preset", "airline-lstm", "--epochs", "2", "-q", "--metrics-out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    test = report["splits"]["test"]
    assert report["epochs_run"] == 2
    assert {"rmse", "mae", "mape", "loss"} <= set(test)
    assert {"naive", "seasonal_naive"} <= set(test["baselines"])
    # The naive baseline is independent of the model: the last observed value.
    assert test["baselines"]["naive"]["rmse"] == pytest.approx(48.5, abs=0.6)


def test_summary_prints_keras_like_table(capsys):
    assert main(["summary", "--preset", "airline-lstm"]) == 0
    out = capsys.readouterr().out
    assert "LSTM" in out and "Dense" in out
    # Keras's counts, by hand: LSTM(4) on 1 feature 4*4*(1+4+1) = 96, Dense(1) on 4: 5.
    assert "96" in out and "Total params: 101" in out


def test_save_then_predict_future_steps(tmp_path, capsys):
    proj = tmp_path / "air.json"
    assert main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--save", str(proj)]) == 0
    assert proj.is_file() and weights_path(proj).is_file()
    capsys.readouterr()
    csv = tmp_path / "f.csv"
    assert main(["predict", "--project", str(proj), "--steps", "3", "--out", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert len(frame) == 3
    assert list(frame["time"].astype(str).str[:7]) == ["1961-01", "1961-02", "1961-03"]
    assert np.isfinite(frame.iloc[:, 1]).all()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--csv", "no/such/file.csv"], ["no/such/file.csv"]),
        (["train", "--preset", "nope"], ["unknown preset", "airline-lstm"]),
        (["train", "--preset", "airline-lstm", "--layers", "LSTM(4), LSTM(4), Dense(1)"], ["return_sequences"]),
        (["train", "--preset", "airline-lstm", "--layers", "LSTM(4), Dense(3)"], ["Dense"]),
        (["predict", "--project", "missing.json"], ["does not exist"]),
    ],
)
def test_user_errors_exit_2_with_a_message(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqstudio: error:")
    for w in words:
        assert w in err
    assert "Traceback" not in err


def test_bad_csv_in_a_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,Passengers\n1949-01,112\n1949-02,abc\n1949-03,\n")
    proc = subprocess.run(
        [sys.executable, "-m", "seqstudio.cli", "train", "--csv", str(bad), "--target", "Passengers",
         "--date-col", "Month", "--epochs", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Passengers" in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_acceptance_lecture_recipe_and_seasonal_preset(tmp_path):
    """The issue's acceptance figures, through the CLI exactly as a user runs it."""
    out = tmp_path / "lecture.json"
    assert main(["train", "--preset", "airline-lstm", "-q", "--metrics-out", str(out)]) == 0
    m = json.loads(out.read_text())["splits"]
    assert m["train"]["rmse"] <= 26 and m["test"]["rmse"] <= 65
    assert {"naive", "seasonal_naive"} <= set(m["test"]["baselines"])
    out2 = tmp_path / "seasonal.json"
    assert main(["train", "--preset", "airline-lstm-seasonal", "-q", "--metrics-out", str(out2)]) == 0
    m2 = json.loads(out2.read_text())["splits"]["test"]
    assert m2["rmse"] <= 30
    assert m2["rmse"] < m2["baselines"]["naive"]["rmse"]
    assert m2["rmse"] < m2["baselines"]["seasonal_naive"]["rmse"]


def test_predict_keeps_every_digit_of_a_small_valued_series(tmp_path, capsys):
    """A series measured in millionths must not be written as 0.0001 steps (no rounding on save)."""
    from seqstudio.core.project import Project
    from seqstudio.core.session import predict_project
    from seqstudio.pluginapi.manager import default_manager

    rng = np.random.default_rng(0)
    values = 1e-6 * (100 + np.arange(60) + 10 * np.sin(np.arange(60)) + rng.normal(0, 1, 60))
    source = tmp_path / "tiny.csv"
    pd.DataFrame({"Month": pd.date_range("2000-01", periods=60, freq="MS").strftime("%Y-%m"),
                  "Passengers": values}).to_csv(source, index=False)
    proj = tmp_path / "tiny.json"
    assert main(["train", "--preset", "airline-lstm", "--csv", str(source), "--epochs", "1", "-q",
                 "--save", str(proj)]) == 0
    csv = tmp_path / "f.csv"
    assert main(["predict", "--project", str(proj), "--steps", "3", "--out", str(csv)]) == 0
    written = pd.read_csv(csv)["Passengers"].to_numpy()
    assert np.all(np.abs(written) < 1e-3)  # the series' own scale...
    assert not np.allclose(written, np.round(written, 4))  # ...not rounded onto a 1e-4 grid
    again = predict_project(Project.load(proj), default_manager().registry, steps=3)["Passengers"].to_numpy()
    np.testing.assert_allclose(written, again, rtol=1e-12)
    capsys.readouterr()
    assert main(["predict", "--project", str(proj), "--steps", "3"]) == 0
    shown = capsys.readouterr().out
    assert f"{written[0]:.6g}" in shown  # the screen shows 6 significant digits
