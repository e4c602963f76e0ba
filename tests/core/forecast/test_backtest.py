"""Backtests against an independent reference: a plain numpy loop over origins.

The reference re-derives everything itself: it differences the log series,
fits the min-max scaler on the right rows (the model's training part, or each
fold's own past when retraining), rolls the model's weights forward as plain
matrix products, undoes the transforms, and computes every metric by hand.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from seqstudio.core.errors import DataError, TrainingError
from seqstudio.core.forecast import BacktestFinished, BacktestPlan, BacktestProgress, run_backtest
from seqstudio.core.project import Project
from seqstudio.core.train.control import TrainControl

from .conftest import set_fixed_weights

N_ROWS, LOOK_BACK, LAG, SEASON = 48, 3, 1, 12


def make_project(path, horizon=1, epochs=2, lag=LAG) -> Project:
    return Project(name="toy", source="csv-series",
                   data_options={"path": str(path), "target": ["y"], "date_col": "month", "log": True,
                                 "diff_lag": lag, "look_back": LOOK_BACK, "scaling": "minmax",
                                 "horizon": horizon, "train_frac": 0.6},
                   model={"layers": [{"type": "Flatten"}, {"type": "Dense", "units": horizon}]},
                   train={"epochs": epochs, "batch_size": 8, "seed": 0, "learning_rate": 0.01})


def finish(events):
    result = None
    for event in events:
        if isinstance(event, BacktestFinished):
            result = event.result
    assert result is not None
    return result


def values_of(path) -> np.ndarray:
    return pd.read_csv(path)["y"].to_numpy(np.float64)


# --------------------------------------------------------------------------- the reference
def reference_forecast(y, origin, fit_rows, weight, bias, horizon, model_h, lag=LAG):
    """One origin, the plain way: log, difference, scale on ``fit_rows`` of the differences, roll."""
    level = np.log(y)
    diffs = level[lag:] - level[:-lag]
    lo, hi = diffs[fit_rows].min(), diffs[fit_rows].max()
    scaled = list((diffs - lo) / (hi - lo))[: origin - lag]
    levels = list(level[:origin])
    out = []
    while len(out) < horizon:
        z = weight @ np.array(scaled[-LOOK_BACK:]) + bias  # model_h outputs
        for value in z:
            scaled.append(value)
            levels.append(levels[-lag] + value * (hi - lo) + lo)
            out.append(math.exp(levels[-1]))
    return np.array(out[:horizon])


def reference_metrics(actual, forecast, history):
    e = actual - forecast
    season_diffs = history[SEASON:] - history[:-SEASON]
    return {"rmse": math.sqrt(np.mean(e ** 2)), "mae": np.mean(np.abs(e)),
            "mape": 100 * np.mean(np.abs(e / actual)),
            "smape": 200 * np.mean(np.abs(e) / (np.abs(actual) + np.abs(forecast))),
            "mase": np.mean(np.abs(e)) / np.mean(np.abs(season_diffs)),
            "rmsse": math.sqrt(np.mean(e ** 2) / np.mean(season_diffs ** 2))}


# --------------------------------------------------------------------------- never retrain
@pytest.mark.parametrize("model_h,horizon", [(1, 5), (2, 5), (3, 3)])
def test_never_retrain_equals_the_numpy_loop(series_csv, builtins, model_h, horizon):
    project = make_project(series_csv, horizon=model_h)
    weight, bias = set_fixed_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=horizon, retrain=0)))

    y = values_of(series_csv)
    n_train = int((N_ROWS - LAG) * 0.6)  # the model's training part, in differenced rows
    first = n_train + LAG                # the first row the model never saw
    assert result.origins == list(range(first, N_ROWS - horizon + 1))
    assert result.strategy == {1: "recursive", 2: "direct + recursive", 3: "direct"}[model_h]
    for k, origin in enumerate(result.origins):
        expected = reference_forecast(y, origin, slice(0, n_train), weight, bias, horizon, model_h)
        np.testing.assert_allclose(result.forecasts["model"][k, :, 0], expected, rtol=2e-5)
        np.testing.assert_array_equal(result.actual[k, :, 0], y[origin:origin + horizon])
        want = reference_metrics(y[origin:origin + horizon], expected, y[:origin])
        for name, value in want.items():
            assert result.scores["model"]["per_fold"][name][k] == pytest.approx(value, rel=1e-4), name
        # seasonal naive by hand: the same month a year before the forecast step
        snaive = [y[origin + h - SEASON] for h in range(horizon)]
        np.testing.assert_allclose(result.forecasts["seasonal_naive"][k, :, 0], snaive)
    per_step_mae = np.mean(np.abs(result.actual - result.forecasts["model"]), axis=(0, 2))
    np.testing.assert_allclose(result.scores["model"]["per_step"]["mae"], per_step_mae)


@pytest.mark.parametrize("model_h,horizon", [(1, 7), (2, 7), (4, 4)])
def test_never_retrain_undoes_a_seasonal_difference_step_by_step(series_csv, builtins, model_h, horizon):
    # differences at lag 3: step h adds the level of step h - 3 (a known level for the first 3)
    lag = 3
    project = make_project(series_csv, horizon=model_h, lag=lag)
    weight, bias = set_fixed_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=4, horizon=horizon, retrain=0)))
    n_train = int((N_ROWS - lag) * 0.6)
    for k, origin in enumerate(result.origins):
        expected = reference_forecast(values_of(series_csv), origin, slice(0, n_train), weight, bias,
                                      horizon, model_h, lag=lag)
        np.testing.assert_allclose(result.forecasts["model"][k, :, 0], expected, rtol=2e-5)


def test_origins_inside_the_training_data_are_refused_without_retraining(series_csv, builtins):
    project = make_project(series_csv)
    set_fixed_weights(project, builtins)
    with pytest.raises(DataError, match="rows of history"):
        list(run_backtest(project, builtins, BacktestPlan(folds=30, horizon=3, retrain=0)))


def test_never_retrain_needs_a_trained_model(series_csv, builtins):
    with pytest.raises(TrainingError, match="trained model"):
        list(run_backtest(make_project(series_csv), builtins, BacktestPlan(folds=2, retrain=0)))


def test_backtest_forecasts_in_one_batched_pass_per_round(series_csv, builtins, monkeypatch):
    project = make_project(series_csv, horizon=2)
    set_fixed_weights(project, builtins)
    calls = []
    original = torch.nn.Linear.forward

    def counting(self, x):
        calls.append(x.shape[0])
        return original(self, x)

    monkeypatch.setattr(torch.nn.Linear, "forward", counting)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=5, retrain=0)))
    # 5 steps from a 2-output model: 3 rounds, each over every origin at once
    assert calls == [len(result.origins)] * 3


# --------------------------------------------------------------------------- retraining
def test_retraining_fits_every_transform_on_the_fold_past(series_csv, builtins):
    from seqstudio.core.data.prepared import PreparedData
    from seqstudio.core.train.events import Finished
    from seqstudio.core.train.loop import train

    project = make_project(series_csv)
    plan = BacktestPlan(folds=3, horizon=4, stride=2, retrain="every")
    result = finish(run_backtest(project, builtins, plan, workers=1))
    y = values_of(series_csv)
    assert result.origins == [N_ROWS - 4 - 4, N_ROWS - 4 - 2, N_ROWS - 4]
    spec = project.model_spec(builtins)
    config = project.train_config(threads=1, keep_best_checkpoint=False)
    for k, origin in enumerate(result.origins):
        # the reference's own fold: windows of the scaled differences of rows before the origin
        level = np.log(y[:origin])
        diffs = level[LAG:] - level[:-LAG]
        lo, hi = diffs.min(), diffs.max()
        scaled = ((diffs - lo) / (hi - lo)).astype(np.float32)
        x = np.stack([scaled[i:i + LOOK_BACK] for i in range(len(scaled) - LOOK_BACK)])[:, :, None]
        t = scaled[LOOK_BACK:][:, None]
        empty = torch.zeros(0, LOOK_BACK, 1), torch.zeros(0, 1)
        fold = PreparedData("regression", torch.from_numpy(x), torch.from_numpy(t), *empty, *empty,
                            n_outputs=1)
        torch.manual_seed(0)
        model = spec.build(fold.input_shape, registry=builtins)
        events = list(train(model, fold, config))
        assert isinstance(events[-1], Finished)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(result.fold_states[k][name], value)
        dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][0]
        weight, bias = dense.weight.detach().double().numpy(), dense.bias.detach().double().numpy()
        expected = reference_forecast(y, origin, slice(0, origin - LAG), weight, bias, 4, 1)
        np.testing.assert_allclose(result.forecasts["model"][k, :, 0], expected, rtol=2e-5)


def test_retrain_every_k_folds_reuses_the_group_model(series_csv, builtins):
    project = make_project(series_csv, epochs=1)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=4, horizon=2, retrain=2),
                                 workers=1))
    assert sorted(result.fold_states) == [0, 2]
    assert len(result.train_seconds) == 2


def test_fold_trainings_start_longest_history_first(series_csv, builtins, monkeypatch):
    # a pool hands jobs out in order: with an expanding window the last fold trains on the most
    # rows, so it starts first (and each fold still gets its own model: the test above)
    from seqstudio.core.forecast import backtest as BT

    seen = []
    real = BT._run_jobs

    def spy(jobs, n_workers, control):
        seen.extend(key for _, key, _ in jobs)
        return real(jobs, n_workers, control)

    monkeypatch.setattr(BT, "_run_jobs", spy)
    project = make_project(series_csv, epochs=1)
    finish(run_backtest(project, builtins, BacktestPlan(folds=3, horizon=2, retrain=1), workers=1))
    assert seen == [2, 1, 0]


def test_stop_ends_the_backtest_without_a_result(series_csv, builtins):
    control = TrainControl()
    events = []
    for event in run_backtest(make_project(series_csv), builtins,
                              BacktestPlan(folds=3, horizon=2, retrain=1), workers=1, control=control):
        events.append(event)
        if isinstance(event, BacktestProgress) and event.done == 1:
            control.stop()  # after the first fold has trained
    assert not any(isinstance(e, BacktestFinished) for e in events)
    assert [e.done for e in events] == [0, 1]


@pytest.mark.slow
def test_folds_train_in_parallel_workers_with_the_same_result(series_csv, builtins):
    project = make_project(series_csv)
    plan = BacktestPlan(folds=3, horizon=3, retrain=1)
    here = finish(run_backtest(project, builtins, plan, workers=1))
    pool = finish(run_backtest(project, builtins, plan, workers=2))
    assert pool.workers == 2
    np.testing.assert_allclose(pool.forecasts["model"], here.forecasts["model"], rtol=1e-6)


def test_result_survives_json_and_the_project_keeps_it(series_csv, builtins, tmp_path):
    import json

    from seqstudio.core.forecast import BacktestResult
    from seqstudio.core.forecast.backtest import record_in_project

    project = make_project(series_csv)
    set_fixed_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=2, retrain=0)))
    back = BacktestResult.from_dict(json.loads(json.dumps(result.to_dict())))
    np.testing.assert_allclose(back.forecasts["model"], result.forecasts["model"])
    record = record_in_project(project, result)
    assert record["kind"] == "backtest" and record["metrics"]["backtest"]["mase"] == \
        result.scores["model"]["summary"]["mase"]["mean"]
    saved = project.save(tmp_path / "p.json")
    loaded = Project.load(saved)
    assert loaded.results["backtest"]["origins"] == result.origins
    assert loaded.runs[-1]["verdicts"] == [v["text"] for v in result.verdicts]


def test_a_fresh_result_reads_saves_and_pickles_as_plain_lists_and_dicts(series_csv, builtins):
    # a fresh result keeps its scores as arrays and its time stamps unwritten until first read
    # (Scores, Texts); every way of reading it must see what the plain lists and dicts hold
    import json
    import pickle

    from seqstudio.core.forecast import scores as S
    from seqstudio.core.forecast.backtest import Texts

    project = make_project(series_csv)
    set_fixed_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=None, horizon=2, retrain=0)))
    assert isinstance(result.scores, S.Scores) and isinstance(result.times, Texts)
    assert len(result.scores) == 5 and list(result.scores)[0] == "model"   # without making the dicts
    assert len(result.times) == len(result.origins)
    plain_scores = S.score_all(result.actual, result.forecasts, result.scale, result.scale2)
    assert result.scores == plain_scores and dict(result.scores) == plain_scores
    assert result.origin_times == [row[0] for row in result.times]
    again = pickle.loads(pickle.dumps(result))
    assert type(again.scores) is dict and type(again.times) is list and again.scores == plain_scores
    saved = json.loads(json.dumps(result.to_dict()))
    assert saved["scores"] == plain_scores and saved["times"] == list(result.times)
    # the verdicts were counted on the arrays: the same as from the lists
    labels = result.labels
    assert result.verdicts == [S.verdict(plain_scores["model"], plain_scores[n], n, labels[n])
                               for n in result.forecasts if n != "model"]


def test_statistical_baselines_forecast_the_same_folds(series_csv, builtins):
    pytest.importorskip("statsmodels")
    project = make_project(series_csv)
    set_fixed_weights(project, builtins)
    result = finish(run_backtest(project, builtins, BacktestPlan(folds=2, horizon=3, stride=3, retrain=0),
                                 statistical=("ets", "arima")))
    for kind in ("ets", "arima"):
        assert np.isfinite(result.forecasts[kind]).all(), result.notes
        assert result.labels[kind].startswith(("ETS", "ARIMA"))
        assert any(v["baseline"] == kind for v in result.verdicts)


@pytest.mark.parametrize("index", [
    pd.date_range("1949-01", periods=30, freq="MS"),
    pd.date_range("2000-01-01 06:30:59", periods=30, freq="h"),
    pd.date_range("2000-03-25", periods=30, freq="D", tz="Europe/Berlin"),
    pd.DatetimeIndex(["2000-01-01", None, "2000-01-03"]),
    pd.date_range("2000-01-01 06:30", periods=30, freq="h").as_unit("s"),
    pd.DatetimeIndex(np.array(["0900-01-01", "0900-02-01", "0900-03-01"], dtype="M8[s]")),
    pd.RangeIndex(30),
], ids=["monthly", "hourly", "tz-aware", "missing", "seconds", "year-900", "numbers"])
def test_time_stamps_read_as_strftime_writes_them(index):
    from seqstudio.core.forecast.backtest import _fold_texts, time_text

    if isinstance(index, pd.DatetimeIndex):
        fmt = "%Y-%m-%d" if (index == index.normalize()).all() else "%Y-%m-%d %H:%M"
        want = list(index.strftime(fmt))
    else:
        want = [str(v) for v in index]
    assert time_text(index) == want
    origins = np.array([0, 1, len(index) - 2])  # each fold's rows, origin .. origin + 1
    series = SimpleNamespace(series=pd.DataFrame(index=index))  # (data without its own texts)
    assert _fold_texts(series, origins, 2) == [want[o:o + 2] for o in origins]
    assert _fold_texts(series, origins[:0], 2) == []
