"""``--loss pinball``: training a quantile model, and its own bands in backtest and predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seqstudio.cli import main
from seqstudio.core.project import Project


@pytest.fixture
def toy_csv(tmp_path):
    t = np.arange(60)
    y = 100 + 2.0 * t + 15 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 2, 60)
    csv = tmp_path / "toy.csv"
    pd.DataFrame({"month": pd.date_range("2000-01", periods=60, freq="MS").strftime("%Y-%m"),
                  "y": np.round(y, 3)}).to_csv(csv, index=False)
    return csv


def train_args(csv, *extra):
    return ["train", "--csv", str(csv), "--target", "y", "--date-col", "month", "--look-back", "2",
            "--layers", "Flatten(), Dense(1)", "--epochs", "3", "--batch-size", "8", "-q", *extra]


@pytest.mark.parametrize("value", ["120", "eighty", "80,-1"])
def test_a_bad_quantile_interval_exits_2_naming_the_flag(toy_csv, capsys, value):
    rc = main(train_args(toy_csv, "--loss", "pinball", "--quantile-intervals", value))
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "--quantile-intervals" in err and "percentage between 0 and 100" in err  # what, where
    assert "80,95" in err                                                            # how to fix


def test_quantile_intervals_without_the_pinball_loss_exit_2(toy_csv, capsys):
    rc = main(train_args(toy_csv, "--quantile-intervals", "80"))
    err = capsys.readouterr().err
    assert rc == 2 and "--quantile-intervals applies to the pinball loss" in err and "--loss pinball" in err


def test_pinball_training_predict_and_backtest_use_the_models_quantiles(toy_csv, tmp_path, capsys):
    saved = tmp_path / "q.json"
    rc = main(train_args(toy_csv, "--loss", "pinball", "--quantile-intervals", "80,95",
                         "--save", str(saved)))
    assert rc == 0
    project = Project.load(saved)
    assert project.train["loss"] == "pinball" and project.train["quantile_intervals"] == "80,95"
    assert project.weights["layers.1.weight"].shape == (5, 2)  # Dense(1) x 5 quantiles
    capsys.readouterr()

    out = tmp_path / "future.csv"
    assert main(["predict", "--project", str(saved), "--steps", "4", "--out", str(out)]) == 0
    plain = pd.read_csv(out)
    assert main(["predict", "--project", str(saved), "--steps", "4", "--intervals", "80,95",
                 "--out", str(out)]) == 0
    assert "the model's own quantiles" in capsys.readouterr().out
    banded = pd.read_csv(out)
    np.testing.assert_allclose(banded["y"], plain["y"])  # the point forecast: the median
    assert (banded["lower_95"] <= banded["lower_80"]).all()
    assert (banded["lower_80"] <= banded["y"] + 1e-6).all() and (banded["y"] <= banded["upper_80"] + 1e-6).all()
    assert (banded["upper_80"] <= banded["upper_95"]).all()

    metrics = tmp_path / "m.json"
    rc = main(["backtest", "--project", str(saved), "--retrain", "never", "--horizon", "3",
               "--stats", "none", "-q", "--metrics-out", str(metrics), "--save", str(tmp_path / "b.json")])
    printed = capsys.readouterr().out
    assert rc == 0 and "80% quantile band (the model's own)" in printed
    assert "split-conformal on the same folds" in printed
    report = json.loads(metrics.read_text())
    assert report["intervals"]["method"] == "quantile"
    assert report["intervals"]["coverage"]["80"]["n"] == 3 * len(report["origins"])
    kept = Project.load(tmp_path / "b.json").results["backtest"]["intervals"]
    assert kept["method"] == "quantile" and len(kept["lower"]["80"]) == len(report["origins"])

    rc = main(["backtest", "--project", str(saved), "--retrain", "never", "--horizon", "3",
               "--stats", "none", "-q", "--intervals", "90"])
    err = capsys.readouterr().err
    assert rc == 2 and "--intervals" in err and "80,95 % intervals" in err and "Traceback" not in err


def test_backtest_takes_the_loss_for_a_preset(capsys):
    rc = main(["backtest", "--preset", "airline-lstm", "--loss", "pinball", "--quantile-intervals", "80",
               "--folds", "1", "--horizon", "2", "--epochs", "1", "--stats", "none", "-q",
               "--intervals", "80", "--workers", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "80% quantile band" in out


def test_export_refuses_a_quantile_model_saying_why(toy_csv, tmp_path, capsys):
    saved = tmp_path / "q.json"
    assert main(train_args(toy_csv, "--loss", "pinball", "--save", str(saved))) == 0
    rc = main(["export", "--project", str(saved), "--out", str(tmp_path / "bundle")])
    err = capsys.readouterr().err
    assert rc == 2 and "quantile (pinball-loss) model" in err and "--loss mse" in err
    assert not (tmp_path / "bundle").exists()
