"""Quantile (pinball-loss) outputs: the loss, the widened model, medians and bands in backtests.

References are written here: the pinball loss as a numpy formula and by hand, and a plain
numpy loop that rolls a quantile model's median forward and undoes the transforms.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from seqstudio.core.errors import DataError, ModelSpecError, TrainingError
from seqstudio.core.forecast import BacktestFinished, BacktestPlan, run_backtest
from seqstudio.core.forecast.backtest import BacktestResult
from seqstudio.core.model.quantiles import (
    QuantileSpec,
    interval_levels,
    level_indices,
    point_of,
    quantile_spec,
    quantiles_for_levels,
    train_quantiles,
)
from seqstudio.core.model.spec import ModelSpec
from seqstudio.core.project import Project
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.losses import make_loss, pinball_loss

from .conftest import set_fixed_weights

N_ROWS, LOOK_BACK, LAG = 48, 3, 1


def finish(events):
    return [e for e in events if isinstance(e, BacktestFinished)][0].result


# --------------------------------------------------------------------------- the loss
def numpy_pinball(output: np.ndarray, target: np.ndarray, taus) -> float:
    """Mean over samples, outputs and quantiles of max(tau e, (tau - 1) e), e = y - q."""
    total, count = 0.0, 0
    n_q = len(taus)
    for i in range(output.shape[0]):
        for j in range(target.shape[1]):
            for k, tau in enumerate(taus):
                e = target[i, j] - output[i, j * n_q + k]
                total += tau * e if e >= 0 else (tau - 1) * e
                count += 1
    return total / count


def test_pinball_loss_equals_the_numpy_formula():
    rng = np.random.default_rng(0)
    taus = (0.025, 0.1, 0.5, 0.9, 0.975)
    output, target = rng.normal(size=(7, 3 * 5)), rng.normal(size=(7, 3))
    got = pinball_loss(torch.from_numpy(output), torch.from_numpy(target), taus)
    assert float(got) == pytest.approx(numpy_pinball(output, target, taus), rel=1e-12)
    per_sample = pinball_loss(torch.from_numpy(output), torch.from_numpy(target), taus, "none")
    want = [numpy_pinball(output[i:i + 1], target[i:i + 1], taus) for i in range(7)]
    np.testing.assert_allclose(per_sample.numpy(), want, rtol=1e-12)
    assert float(make_loss("pinball", False, quantiles=taus)(torch.from_numpy(output),
                                                              torch.from_numpy(target))) == float(got)


def test_pinball_loss_by_hand():
    # y = 1.5; quantiles 0.1, 0.5, 0.9 at 0, 1, 2: 0.1*1.5, 0.5*0.5, (0.9-1)*(-0.5) -> mean 0.15
    out, y = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[1.5]])
    assert float(pinball_loss(out, y, (0.1, 0.5, 0.9))) == pytest.approx(0.15)
    # at the median alone the pinball loss is half the absolute error
    assert float(pinball_loss(torch.tensor([[4.0]]), torch.tensor([[1.0]]), (0.5,))) == 1.5


def test_the_loss_needs_its_quantiles_and_a_regression_task():
    with pytest.raises(TrainingError, match="quantiles"):
        make_loss("pinball", False)
    from seqstudio.core.data.prepared import PreparedData
    from seqstudio.core.train.losses import check_loss_fits_task

    empty = torch.zeros(0, 1), torch.zeros(0, 1)
    data = PreparedData("binary", torch.zeros(2, 1), torch.zeros(2, 1), *empty, *empty, n_outputs=1)
    with pytest.raises(TrainingError, match="regression"):
        check_loss_fits_task("pinball", data)


# --------------------------------------------------------------------------- levels, settings
def test_interval_levels_give_the_median_and_both_ends():
    assert quantiles_for_levels((80, 95)) == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert quantiles_for_levels((50,)) == (0.25, 0.5, 0.75)
    assert level_indices((0.025, 0.1, 0.5, 0.9, 0.975), 80) == (1, 3)
    assert level_indices((0.1, 0.5, 0.9), 95) is None
    assert train_quantiles({"loss": "mse"}) is None
    assert train_quantiles({"loss": "pinball"}) == (0.025, 0.1, 0.5, 0.9, 0.975)  # old: default 80,95


def test_train_config_takes_the_pinball_loss_and_checks_its_intervals():
    config = TrainConfig(loss="pinball", quantile_intervals=" 95, 80 ")
    assert config.quantile_intervals == "80,95"
    assert config.quantiles() == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert TrainConfig(loss="mse").quantiles() is None
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for bad in ("100", "abc", "", "80,-5"):
        with pytest.raises(TrainingError) as info:
            interval_levels(bad)
        assert info.value.where == "training setting 'quantile_intervals'"
        assert "80,95" in info.value.fix
    # a project saved before the setting existed still loads
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "quantile_intervals"}
    assert TrainConfig.from_dict(old).quantile_intervals == "80,95"


# --------------------------------------------------------------------------- the model
def test_quantile_spec_widens_the_last_dense_and_keeps_the_stack_as_written(builtins):
    spec = ModelSpec.from_dict([{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 2}])
    wide = quantile_spec(spec, (0.1, 0.5, 0.9))
    assert isinstance(wide, QuantileSpec) and quantile_spec(spec, None) is spec
    assert wide.to_dict() == spec.to_dict()
    model = wide.build((4, 1), registry=builtins)
    assert model(torch.zeros(5, 4, 1)).shape == (5, 6) and model.quantiles == (0.1, 0.5, 0.9)
    summary = wide.summary((4, 1), n_outputs=2, registry=builtins)
    assert summary.rows[-1].output_shape == (6,)
    with pytest.raises(ModelSpecError, match="value"):  # checked as written: 2 outputs per sample
        wide.summary((4, 1), n_outputs=3, registry=builtins)
    with pytest.raises(ModelSpecError, match="ends in LSTM") as info:
        quantile_spec(ModelSpec.from_dict([{"type": "LSTM", "units": 3}]), (0.1, 0.5, 0.9)).build(
            (4, 1), registry=builtins)
    assert "Dense" in info.value.fix


def test_the_point_forecast_is_the_median_of_the_sorted_quantiles():
    crossed = np.array([[3.0, 1.0, 2.0, 9.0, 7.0, 8.0], [0.0, 5.0, -1.0, 1.0, 1.0, 1.0]])
    assert point_of(crossed, (0.1, 0.5, 0.9)).tolist() == [[2.0, 8.0], [0.0, 1.0]]
    assert point_of(torch.from_numpy(crossed), (0.1, 0.5, 0.9)).tolist() == [[2.0, 8.0], [0.0, 1.0]]
    assert point_of(crossed, None) is crossed


# --------------------------------------------------------------------------- backtests: the reference
def quantile_project(path, layers=None, model_h=1) -> Project:
    return Project(name="toy", source="csv-series",
                   data_options={"path": str(path), "target": ["y"], "date_col": "month", "log": True,
                                 "diff_lag": LAG, "look_back": LOOK_BACK, "scaling": "minmax",
                                 "horizon": model_h, "train_frac": 0.6},
                   model={"layers": layers or [{"type": "Flatten"}, {"type": "Dense", "units": model_h}]},
                   train={"epochs": 2, "batch_size": 8, "seed": 0, "learning_rate": 0.01,
                          "loss": "pinball", "quantile_intervals": "80"})


def random_weights(project, registry, seed=3):
    return set_fixed_weights(project, registry, seed, dense=-1)


def reference(y, origin, n_fit, weight, bias, horizon, model_h=1):
    """Median rolled forward, and 10 % / 90 % bands: the offsets of each step's quantiles from its
    median difference, added in quadrature along the difference chain, then exp."""
    level = np.log(y)
    diffs = level[LAG:] - level[:-LAG]
    lo, hi = diffs[:n_fit].min(), diffs[:n_fit].max()
    scaled = list((diffs - lo) / (hi - lo))[: origin - LAG]
    levels, median, low, high = list(level[:origin]), [], [], []
    squares, crossed = np.zeros(3), False
    while len(median) < horizon:
        raw = (weight @ np.array(scaled[-LOOK_BACK:]) + bias).reshape(model_h, 3)  # 0.1, 0.5, 0.9
        crossed |= bool((np.diff(raw, axis=1) < 0).any())
        for q in np.sort(raw, axis=1):
            scaled.append(q[1])
            levels.append(levels[-LAG] + q[1] * (hi - lo) + lo)
            squares += ((q - q[1]) * (hi - lo)) ** 2
            median.append(math.exp(levels[-1]))
            low.append(math.exp(levels[-1] - math.sqrt(squares[0])))
            high.append(math.exp(levels[-1] + math.sqrt(squares[2])))
    return np.array(median[:horizon]), np.array(low[:horizon]), np.array(high[:horizon]), crossed


@pytest.mark.parametrize("model_h", [1, 2])  # recursive; direct + recursive (2 steps a round)
def test_a_backtest_forecasts_the_median_and_bands_like_the_numpy_loop(series_csv, builtins, model_h):
    project = quantile_project(series_csv, model_h=model_h)
    weight, bias = random_weights(project, builtins)
    assert weight.shape == (3 * model_h, LOOK_BACK)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=5, retrain=0),
                                 levels=(80,)))
    y = pd.read_csv(series_csv)["y"].to_numpy(np.float64)
    n_fit = int((N_ROWS - LAG) * 0.6)
    iv = result.intervals
    assert iv["method"] == "quantile" and iv["model_quantiles"] == [0.1, 0.5, 0.9]
    crossed = 0
    for k, origin in enumerate(result.origins):
        median, low, high, was_crossed = reference(y, origin, n_fit, weight, bias, 5, model_h)
        np.testing.assert_allclose(result.forecasts["model"][k, :, 0], median, rtol=2e-5)
        np.testing.assert_allclose(iv["lower"]["80"][k, :, 0], low, rtol=2e-5)
        np.testing.assert_allclose(iv["upper"]["80"][k, :, 0], high, rtol=2e-5)
        crossed += was_crossed
    assert crossed  # random weights cross their quantiles: the sorting is exercised
    actual = result.actual
    inside = (actual >= iv["lower"]["80"]) & (actual <= iv["upper"]["80"])
    assert iv["coverage"]["80"]["covered"] == int(inside.sum())
    assert iv["coverage"]["80"]["n"] == actual.size
    assert iv["coverage"]["80"]["per_step"] == pytest.approx(list(inside.mean(axis=(0, 2))))
    # the split-conformal coverage of the same medians is kept beside, for comparison
    assert set(iv["conformal_coverage"]) == {"80"}
    # the CSV's bands are the quantile bands
    frame = result.forecasts_frame()
    np.testing.assert_allclose(frame["lower_80"], iv["lower"]["80"].reshape(-1))
    # and the result survives JSON (a project keeps it)
    back = BacktestResult.from_dict(json.loads(json.dumps(result.to_dict())))
    np.testing.assert_allclose(back.intervals["upper"]["80"], iv["upper"]["80"])
    assert back.intervals["coverage"] == iv["coverage"]


def test_the_numpy_and_torch_rounds_take_the_same_median(series_csv, builtins, monkeypatch):
    from seqstudio.core.forecast import rollout

    project = quantile_project(series_csv, [{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 1}])
    random_weights(project, builtins)
    plan = BacktestPlan(folds=None, horizon=5, retrain=0)
    fast = finish(run_backtest(project, builtins, plan, levels=(80,)))
    monkeypatch.setattr(rollout, "plain_forward", lambda model: None)
    slow = finish(run_backtest(project, builtins, plan, levels=(80,)))
    np.testing.assert_allclose(fast.forecasts["model"], slow.forecasts["model"], rtol=1e-5)
    np.testing.assert_allclose(fast.intervals["lower"]["80"], slow.intervals["lower"]["80"], rtol=1e-5)


def test_training_refuses_a_model_not_widened_for_the_quantiles(builtins):
    from seqstudio.core.data.prepared import PreparedData
    from seqstudio.core.train.loop import train

    empty = torch.zeros(0, 3, 1), torch.zeros(0, 1)
    data = PreparedData("regression", torch.zeros(8, 3, 1), torch.zeros(8, 1), *empty, *empty,
                        n_outputs=1)
    model = ModelSpec.from_dict([{"type": "Flatten"}, {"type": "Dense", "units": 1}]).build(
        (3, 1), registry=builtins)
    with pytest.raises(TrainingError) as info:
        list(train(model, data, TrainConfig(epochs=1, loss="pinball", quantile_intervals="80")))
    assert "(batch, 3)" in info.value.what and "3 value(s) per sample (1 x 3 quantiles)" in info.value.fix


def test_levels_the_model_did_not_learn_are_refused_before_any_work(series_csv, builtins):
    project = quantile_project(series_csv)
    with pytest.raises(DataError) as info:
        list(run_backtest(project, builtins, BacktestPlan(folds=2, horizon=2, retrain=1), levels=(90,)))
    assert "80 %" in info.value.what and "--intervals 80" in info.value.fix


def test_retrained_folds_train_quantile_models_and_report_their_bands(series_csv, builtins):
    project = quantile_project(series_csv)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=2, horizon=3, retrain=1),
                                 levels=(80,), workers=1))
    assert all(state["layers.1.weight"].shape == (3, LOOK_BACK) for state in result.fold_states.values())
    low, high = result.intervals["lower"]["80"], result.intervals["upper"]["80"]
    assert low.shape == (2, 3, 1) and (low <= result.forecasts["model"]).all()
    assert (result.forecasts["model"] <= high).all()


# --------------------------------------------------------------------------- calibration
def test_a_quantile_model_covers_held_out_data_near_the_nominal_level(tmp_path, builtins):
    # a season plus Gaussian noise of known spread: the 10 % / 90 % quantiles of the next value
    # given the last 12 are learnable by a linear model; coverage is measured on the test part
    rng = np.random.default_rng(7)
    t = np.arange(600)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2.0, len(t))
    path = tmp_path / "noisy.csv"
    pd.DataFrame({"t": t, "y": y}).to_csv(path, index=False)
    project = Project(name="noisy", source="csv-series",
                      data_options={"path": str(path), "target": ["y"], "date_col": None,
                                    "look_back": 12, "scaling": "standard", "train_frac": 0.6},
                      model={"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 1}]},
                      train={"epochs": 30, "batch_size": 16, "seed": 0, "learning_rate": 0.02,
                             "loss": "pinball", "quantile_intervals": "80,95"})
    from seqstudio.core.session import TrainingSession

    for _ in TrainingSession(project, builtins).run():
        pass
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=1, retrain=0)))
    coverage = result.intervals["coverage"]
    assert coverage["80"]["n"] > 200
    assert 0.72 <= coverage["80"]["rate"] <= 0.88
    assert 0.90 <= coverage["95"]["rate"] <= 0.99
    # evaluate() scores the median, and the forecast is near the truth (noise 2.0, season 7)
    from seqstudio.core.train.evaluate import predict

    data = project.prepare_data(builtins)
    model = project.build_model(data, builtins)
    x, _ = data.split("test")
    wide = predict(model, x, all_quantiles=True)
    median = np.sort(wide.reshape(len(wide), 1, 5), axis=-1)[:, :, 2]
    np.testing.assert_allclose(predict(model, x), median)
    error = data.to_original(median, "test") - data.actual("test")
    assert project.results["splits"]["test"]["rmse"] == pytest.approx(np.sqrt(np.mean(error ** 2)))
    assert project.results["splits"]["test"]["rmse"] < 3.0


# --------------------------------------------------------------------------- projects
def test_a_quantile_project_round_trips_through_save_and_load(series_csv, builtins, tmp_path):
    from seqstudio.core.session import TrainingSession, predict_project

    project = quantile_project(series_csv)
    session = TrainingSession(project, builtins)
    _, summary = session.prepare()
    assert summary.rows[-1].output_shape == (3,)  # the summary shows the model that is built
    for _ in session.run():
        pass
    before = predict_project(project, builtins, steps=3)
    path = project.save(tmp_path / "q.json")
    loaded = Project.load(path)
    assert loaded.train["loss"] == "pinball" and loaded.train["quantile_intervals"] == "80"
    assert loaded.weights["layers.1.weight"].shape == (3, LOOK_BACK)
    model = loaded.build_model(loaded.prepare_data(builtins), builtins)
    assert model.quantiles == (0.1, 0.5, 0.9)
    pd.testing.assert_frame_equal(predict_project(loaded, builtins, steps=3), before)


def test_a_project_saved_before_quantile_outputs_loads_and_keeps_conformal_bands(series_csv, builtins,
                                                                                 tmp_path):
    project = quantile_project(series_csv)
    project.train = {k: v for k, v in project.train.items()
                     if k not in ("loss", "quantile_intervals")}  # as an older version wrote it
    random_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=2, retrain=0)))
    assert result.intervals["method"] == "split-conformal" and "lower" not in result.intervals
    path = project.save(tmp_path / "old.json")
    text = json.loads(path.read_text())
    assert "quantile_intervals" not in text["train"]
    loaded = Project.load(path)
    assert loaded.train_config().quantiles() is None
    back = BacktestResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.intervals["method"] == "split-conformal"
