"""``seqstudio backtest`` and ``seqstudio predict --intervals`` through the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from seqstudio.cli import main
from seqstudio.core.project import Project


@pytest.fixture
def trained_project(tmp_path, builtins):
    t = np.arange(60)
    y = 100 + 2.0 * t + 15 * np.sin(2 * np.pi * t / 12)
    csv = tmp_path / "toy.csv"
    pd.DataFrame({"month": pd.date_range("2000-01", periods=60, freq="MS").strftime("%Y-%m"),
                  "y": np.round(y, 3)}).to_csv(csv, index=False)
    project = Project(name="toy", source="csv-series",
                      data_options={"path": str(csv), "target": ["y"], "date_col": "month",
                                    "look_back": 2, "train_frac": 0.5},
                      model={"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 1}]},
                      train={"epochs": 1, "batch_size": 8, "seed": 0})
    data = project.prepare_data(builtins)
    torch.manual_seed(0)
    project.set_weights(project.build_model(data, builtins))
    return project.save(tmp_path / "toy.json")


def test_backtest_prints_verdicts_and_writes_metrics_forecasts_and_the_project(trained_project, tmp_path,
                                                                               capsys):
    metrics, forecasts = tmp_path / "m.json", tmp_path / "f.csv"
    rc = main(["backtest", "--project", str(trained_project), "--retrain", "never", "--horizon", "3",
               "--stats", "none", "-q", "--metrics-out", str(metrics), "--out", str(forecasts)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "seasonal naive on MASE in" in out and "80% interval" in out
    report = json.loads(metrics.read_text())
    assert set(report["scores"]) == {"model", "naive", "seasonal_naive", "drift", "mean"}
    assert report["intervals"]["coverage"]["80"]["n"] > 0
    frame = pd.read_csv(forecasts)
    assert {"fold", "origin", "step", "actual", "model", "seasonal_naive", "lower_80", "upper_95"} <= \
        set(frame.columns)
    assert len(frame) == 3 * len(report["origins"])
    saved = Project.load(trained_project)
    assert saved.results["backtest"]["plan"]["horizon"] == 3
    assert saved.runs[-1]["kind"] == "backtest"


@pytest.mark.parametrize("flags,words", [
    (["--retrain", "sometimes"], "--retrain"),
    (["--intervals", "80,120"], "--intervals"),
    (["--folds", "0"], "--folds"),
    (["--start", "2090-01"], "--start"),
    (["--stats", "prophet"], "--stats"),
    (["--folds", "500", "--retrain", "never"], "fewer folds"),
])
def test_backtest_user_errors_exit_2_naming_the_flag(trained_project, capsys, flags, words):
    rc = main(["backtest", "--project", str(trained_project), "--stats", "none", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err


def test_predict_with_intervals_adds_bands(trained_project, tmp_path, capsys):
    out = tmp_path / "future.csv"
    rc = main(["predict", "--project", str(trained_project), "--steps", "4", "--intervals", "80,95",
               "--out", str(out)])
    assert rc == 0
    assert "split-conformal" in capsys.readouterr().out
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time", "y", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert (frame["lower_80"] <= frame["y"]).all() and (frame["upper_95"] >= frame["upper_80"]).all()
    rc = main(["predict", "--project", str(trained_project), "--steps", "4", "--intervals", "x"])
    assert rc == 2
