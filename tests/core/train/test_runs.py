"""Run records, CSV export, seed groups and run weights in project files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from seqstudio.core.project import Project, weights_path
from seqstudio.core.session import TrainingSession
from seqstudio.core.train.events import Finished, TrainResult
from seqstudio.core.train.runs import (
    aggregate,
    flatten_metrics,
    headline_metric,
    make_run_record,
    metric_value,
    model_label,
    next_run_number,
    runs_to_csv,
    seed_groups,
)


def _train(project: Project, registry, *, keep_run_weights: bool = False) -> TrainingSession:
    session = TrainingSession(project, registry, keep_run_weights=keep_run_weights)
    events = list(session.run())
    assert isinstance(events[-1], Finished)
    return session


@pytest.fixture(scope="module")
def trained():
    """Three 2-epoch airline runs in one project: LSTM seed 0, LSTM seed 1, GRU seed 0."""
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()
    project = Project.from_preset("airline-lstm")
    project.train["epochs"] = 2
    results = []
    for seed in (0, 1):
        project.train["seed"] = seed
        project.weights = None  # a fresh model, not a continuation
        results.append(_train(project, registry, keep_run_weights=True).result)
    gru = Project.from_preset("airline-gru")
    gru.train["epochs"] = 2
    results.append(_train(gru, registry).result)
    project.runs.append(gru.runs[0])
    return project, results


def test_record_describes_the_run(trained):
    project, results = trained
    run, result = project.runs[0], results[0]
    assert run["total_params"] == 101  # LSTM(4): 4*4*(1+4+1) = 96, Dense(1): 5
    assert run["name"] == "run 1: LSTM(4) seed 0"
    assert project.runs[1]["name"] == "run 2: LSTM(4) seed 1"
    assert run["source"] == "csv-series" and run["model"] == project.model
    assert run["train"]["seed"] == 0 and run["train"]["epochs"] == 2
    assert [h["epoch"] for h in run["history"]] == [1, 2]
    assert [h["train_loss"] for h in run["history"]] == [h["train_loss"] for h in result.history]
    assert run["metrics"]["test"]["rmse"] == pytest.approx(result.metrics["test"]["rmse"])
    assert run["epochs_run"] == 2 and run["stopped_reason"] is None
    assert run["device"] == "cpu" and run["seconds"] == pytest.approx(result.seconds)
    assert run["has_weights"] is True and len(run["id"]) == 12
    assert len({r["id"] for r in project.runs}) == 3
    # JSON-able as it is: no numpy scalars, tensors or NaN
    assert json.loads(json.dumps(run, allow_nan=False)) == run


def test_gru_record_counts_keras_parameters(trained):
    project, _ = trained
    gru = project.runs[2]
    # Keras GRU (reset_after=True): 3 gates x (input 1 x 4 + 4 x 4 recurrent + 2 x 4 biases) = 84
    assert gru["total_params"] == 3 * (1 * 4 + 4 * 4 + 2 * 4) + (4 * 1 + 1)
    assert gru["has_weights"] is False


def test_kept_run_weights_are_the_runs_final_weights(trained):
    project, _ = trained
    last = project.runs[1]
    assert set(project.run_weights) == {project.runs[0]["id"], last["id"]}
    for key, value in project.weights.items():
        assert torch.equal(project.run_weights[last["id"]][key], value)
        assert project.run_weights[last["id"]][key].data_ptr() != value.data_ptr()  # a copy


def test_record_without_summary_counts_weight_elements():
    result = TrainResult(history=[{"epoch": 1, "train_loss": float("nan"), "val_loss": None}],
                         epochs_run=1, best_epoch=1, stopped_reason="nan", seconds=0.5, device="cpu",
                         threads=1, metrics={"test": {"rmse": np.float32(2.5), "loss": float("inf")}})
    weights = {"a": torch.zeros(3, 4), "b": torch.zeros(5)}
    run = make_run_record(source="s", data_options={"look_back": np.int64(3)},
                          model={"layers": [{"type": "GRU", "units": 8}, {"type": "Dense", "units": 1}]},
                          train={"seed": 7}, result=result, weights=weights, started_at=0.0)
    assert run["total_params"] == 17 and run["has_weights"] is True
    assert run["name"] == "GRU(8) seed 7"
    assert run["history"][0]["train_loss"] is None and run["metrics"]["test"]["loss"] is None
    assert run["metrics"]["test"]["rmse"] == 2.5 and type(run["data_options"]["look_back"]) is int
    assert run["stopped_reason"] == "nan"


def test_model_label_and_run_numbers():
    stack = {"layers": [{"type": "Conv1D", "filters": 8, "kernel_size": 3}, {"type": "Dropout", "rate": 0.2},
                        {"type": "RNN", "cell": "demo>mgu", "units": 5}, {"type": "Dense", "units": 1}]}
    assert model_label(stack) == "Conv1D(8,3) → RNN[demo>mgu](5)"
    assert model_label(stack, full=True).endswith("Dropout(0.2) → RNN[demo>mgu](5) → Dense(1)")
    assert model_label({"layers": [{"type": "Dense", "units": 1}]}) == "Dense(1)"
    assert next_run_number([]) == 1
    assert next_run_number([{"number": 2}, {"number": 7}, {}]) == 8


def test_flatten_metrics_orders_splits_and_keeps_baselines():
    metrics = {"test": {"mae": 2.0, "rmse": 3.0, "loss": 0.1, "confusion_matrix": [[1, 0], [0, 1]],
                        "baselines": {"naive": {"rmse": 4.0, "mae": 3.5}}},
               "train": {"loss": 0.05, "error": "ValueError: x"}}
    assert list(flatten_metrics(metrics)) == ["train.loss", "test.loss", "test.rmse", "test.mae",
                                              "test.baseline.naive.rmse", "test.baseline.naive.mae"]
    run = {"metrics": metrics, "seconds": 1.5}
    assert metric_value(run, "test.baseline.naive.mae") == 3.5
    assert metric_value(run, "seconds") == 1.5
    assert metric_value(run, "val.loss") is None
    assert headline_metric(run) == ("test RMSE", 3.0)
    assert headline_metric({"metrics": {"val": {"accuracy": 0.8, "loss": 0.4}}}) == ("val accuracy", 0.8)


def test_csv_holds_every_epoch_and_the_final_metrics(trained, tmp_path):
    project, _ = trained
    path = tmp_path / "out" / "runs.csv"
    runs_to_csv(project.runs, path)
    frame = pd.read_csv(path)
    assert len(frame) == 2 * 3  # (run, epoch) rows
    assert list(frame.columns[:4]) == ["run_id", "run_name", "started_at", "source"]
    for run in project.runs:
        rows = frame[frame["run_id"] == run["id"]]
        assert rows["epoch"].tolist() == [1, 2]
        np.testing.assert_allclose(rows["train_loss"], [h["train_loss"] for h in run["history"]], rtol=1e-12)
        assert rows["val_loss"].isna().all()  # the lecture's split has no validation part
        assert (rows["test.rmse"] == run["metrics"]["test"]["rmse"]).all()
        assert (rows["test.baseline.naive.rmse"] == run["metrics"]["test"]["baselines"]["naive"]["rmse"]).all()
        assert (rows["total_params"] == run["total_params"]).all()
        assert (rows["seed"] == run["train"]["seed"]).all()
        assert (rows["stopped_reason"] == "completed").all()
    assert frame["model"].iloc[0] == "LSTM(4) → Dense(1)"


def test_csv_of_a_run_without_epochs_has_one_row(tmp_path):
    run = {"id": "x", "name": "empty", "history": [], "metrics": {"test": {"accuracy": 0.5}}}
    runs_to_csv([run], tmp_path / "r.csv")
    frame = pd.read_csv(tmp_path / "r.csv")
    assert len(frame) == 1 and pd.isna(frame["epoch"].iloc[0]) and frame["test.accuracy"].iloc[0] == 0.5


def test_seed_groups_and_aggregate(trained):
    project, _ = trained
    groups = seed_groups(project.runs)
    assert [[r["id"] for r in g] for g in groups] == [[project.runs[0]["id"], project.runs[1]["id"]]]
    values = np.array([r["metrics"]["test"]["rmse"] for r in groups[0]])
    stats = aggregate(groups[0], "test.rmse")
    assert stats["n"] == 2
    assert stats["mean"] == pytest.approx(values.mean())
    assert stats["std"] == pytest.approx(values.std(ddof=1))
    assert (stats["min"], stats["max"]) == (values.min(), values.max())
    assert aggregate(groups[0], "total_params") == {"mean": 101.0, "std": 0.0, "min": 101.0, "max": 101.0,
                                                    "n": 2}


def test_seed_groups_need_everything_else_equal():
    base = {"source": "s", "data_options": {"look_back": 1}, "model": {"layers": [{"type": "LSTM", "units": 4}]},
            "train": {"epochs": 5, "seed": 0}, "start_epoch": 0}
    other_seed = {**base, "train": {"epochs": 5, "seed": 3}}
    other_lr = {**base, "train": {"epochs": 5, "seed": 1, "learning_rate": 0.01}}
    continued = {**base, "train": {"epochs": 5, "seed": 2}, "start_epoch": 5}
    other_data = {**base, "data_options": {"look_back": 3}, "train": {"epochs": 5, "seed": 4}}
    groups = seed_groups([base, other_lr, continued, other_data, other_seed])
    assert groups == [[base, other_seed]]
    stats = aggregate([{"metrics": {"test": {"rmse": v}}} for v in (1.0, 4.0, None)])
    assert stats["n"] == 2 and stats["std"] == pytest.approx(np.std([1.0, 4.0], ddof=1))
    assert np.isnan(aggregate([], "test.rmse")["mean"])


def test_project_save_load_keeps_run_weights_identical(trained, tmp_path):
    project, _ = trained
    path = project.save(tmp_path / "p.json")
    loaded = Project.load(path)
    assert [r["id"] for r in loaded.runs] == [r["id"] for r in project.runs]
    assert loaded.runs == json.loads(json.dumps(project.runs))
    assert set(loaded.run_weights) == set(project.run_weights)
    for run_id, state in project.run_weights.items():
        assert set(loaded.run_weights[run_id]) == set(state)
        for key, value in state.items():
            assert torch.equal(loaded.run_weights[run_id][key], value)
    assert set(loaded.weights) == set(project.weights)  # the model's own weights are not mixed in
    from safetensors.torch import load_file

    keys = set(load_file(weights_path(path)))
    assert {f"run.{project.runs[0]['id']}.{k}" for k in project.weights} <= keys


def test_deleted_run_drops_its_weights_and_restore_continues_it(trained, tmp_path):
    from seqstudio.pluginapi.manager import builtin_registry

    project, _ = trained
    copy = Project.load(project.save(tmp_path / "p.json"))
    first, second = copy.runs[0], copy.runs[1]
    copy.remove_run(second["id"])
    assert len(copy.runs) == 2 and second["id"] not in {r["id"] for r in copy.runs}
    again = Project.load(copy.save(tmp_path / "q.json"))
    assert set(again.run_weights) == {first["id"]}

    again.restore_run(first, with_weights=True)
    assert again.train["seed"] == 0 and again.results["epochs_total"] == 2
    for key, value in project.run_weights[first["id"]].items():
        assert torch.equal(again.weights[key], value)
    session = _train(again, builtin_registry())
    assert again.runs[-1]["start_epoch"] == 2
    assert [h["epoch"] for h in again.runs[-1]["history"]] == [3, 4]
    assert session.result.epochs_run == 2

    gru = again.runs[1]
    with pytest.raises(Exception, match="no saved weights"):
        again.restore_run(gru, with_weights=True)
    again.restore_run(gru)
    assert again.weights is None and again.model == gru["model"]


def test_project_with_only_run_weights_has_no_model_weights(tmp_path):
    p = Project.from_preset("airline-lstm")
    p.add_run({"id": "abc", "name": "r"}, {"w": torch.ones(2)})
    loaded = Project.load(p.save(tmp_path / "p.json"))
    assert loaded.weights is None
    assert torch.equal(loaded.run_weights["abc"]["w"], torch.ones(2))
    assert loaded.runs[0]["has_weights"] is True
