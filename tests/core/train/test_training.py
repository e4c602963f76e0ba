"""The training engine: events, determinism, NaN, stop/pause, early stopping, losses, metrics.

Models here are tiny modules of our own (the model builder is tested elsewhere);
data is a hand-made PreparedData. References are torch.nn.functional and numpy.
"""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.train import metrics
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.devices import resolve_device
from seqstudio.core.train.evaluate import evaluate, predict
from seqstudio.core.train.events import BatchEnded, EpochEnded, EpochStarted, Finished, Stopped
from seqstudio.core.train.loop import train


# --------------------------------------------------------------------------- helpers
def _empty(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:0], y[:0]


def series_data(n: int = 24, *, val: int = 0, test: int = 0, seed: int = 0) -> PreparedData:
    """y = 0.5 * x1 - 0.25 * x2 + 0.1 on inputs shaped (N, look_back=2, features=1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n + val + test, 2, 1, generator=g)
    y = 0.5 * x[:, 0] - 0.25 * x[:, 1] + 0.1
    parts = [(x[:n], y[:n]), (x[n:n + val], y[n:n + val]), (x[n + val:], y[n + val:])]
    return PreparedData("regression", *parts[0], *parts[1], *parts[2], n_outputs=1)


class TinyRegressor(nn.Module):
    """(B, T, F) -> (B, 1): a flattened linear layer, optionally with dropout."""

    def __init__(self, look_back: int = 2, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(look_back, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.flatten(1)))


class NanAfter(nn.Module):
    """Returns NaN once it has run ``good_steps`` training batches."""

    def __init__(self, good_steps: int):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.good_steps = good_steps
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls > self.good_steps:
                return out * float("nan")
        return out


def run_all(model, data, config, control=None, **kw):
    return list(train(model, data, config, control, **kw))


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(model: nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert got.keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0)


# --------------------------------------------------------------------------- config
def test_config_round_trips_and_normalises_names():
    cfg = TrainConfig(epochs=3, batch_size=4, optimizer="AdamW", loss="binary_crossentropy",
                      grad_clip=1.0, early_stopping_patience=2, threads=1, device="CPU")
    assert (cfg.optimizer, cfg.loss, cfg.device) == ("adamw", "bce", "cpu")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_config_unknown_key_is_named():
    with pytest.raises(TrainingError, match="unknown training setting: lerning_rate"):
        TrainConfig.from_dict({"epochs": 2, "lerning_rate": 0.1})


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("batch_size", -1), ("optimizer", "adagrad"), ("loss", "hinge"),
    ("learning_rate", 0.0), ("validation_fraction", 1.0), ("device", "tpu"), ("grad_clip", -1.0),
    ("early_stopping_patience", -1), ("threads", 0), ("epochs", True), ("shuffle", "yes"),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(TrainingError) as info:
        TrainConfig(**{field: value})
    assert field in str(info.value)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(TrainingError, match="CUDA is not available"):
            resolve_device("cuda:0")
    else:
        assert resolve_device("auto").type == "cuda"
    with pytest.raises(TrainingError):
        resolve_device("gpu")


# --------------------------------------------------------------------------- events
def test_event_sequence_and_numbering_when_continuing():
    data = series_data(10, val=4)
    model = TinyRegressor()
    events = run_all(model, data, TrainConfig(epochs=2, batch_size=4, device="cpu"), start_epoch=5)
    # ThreadsChosen comes whenever the thread tuner decides: timing-dependent, not counted here
    kinds = [type(e).__name__ for e in events if type(e).__name__ != "ThreadsChosen"]
    epoch_block = ["EpochStarted"] + ["BatchEnded"] * 3 + ["EpochEnded"]
    assert kinds == epoch_block * 2 + ["Finished"]
    starts = [e for e in events if isinstance(e, EpochStarted)]
    assert [(e.epoch, e.epochs, e.batches) for e in starts] == [(6, 7, 3), (7, 7, 3)]
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert [(e.epoch, e.step, e.global_step) for e in batches[:4]] == [(6, 1, 1), (6, 2, 2), (6, 3, 3), (7, 1, 4)]
    ends = [e for e in events if isinstance(e, EpochEnded)]
    assert all(e.val_loss is not None and e.seconds >= 0 for e in ends)
    result = events[-1].result
    assert result.epochs_run == 2 and result.stopped_reason is None
    assert [h["epoch"] for h in result.history] == [6, 7]
    assert set(result.metrics) == {"train", "val"}
    # the epoch's train loss is the sample-weighted mean of its batch losses (4, 4, 2 samples)
    first = [b.loss for b in batches[:3]]
    assert ends[0].train_loss == pytest.approx((4 * first[0] + 4 * first[1] + 2 * first[2]) / 10)


def test_same_seed_gives_identical_losses_and_weights():
    data = series_data(20)
    config = TrainConfig(epochs=3, batch_size=3, seed=7, device="cpu", shuffle=True)

    def losses():
        torch.manual_seed(123)  # same initial weights
        model = TinyRegressor(dropout=0.3)
        torch.manual_seed(999)  # global RNG in a different state: train() must seed it
        events = run_all(model, data, config)
        return [e.loss for e in events if isinstance(e, BatchEnded)], state_of(model)

    (a, wa), (b, wb) = losses(), losses()
    assert a == b
    for k in wa:
        assert torch.equal(wa[k], wb[k])
    other = TrainConfig.from_dict({**config.to_dict(), "seed": 8})
    torch.manual_seed(123)
    c = [e.loss for e in run_all(TinyRegressor(dropout=0.3), data, other) if isinstance(e, BatchEnded)]
    assert c != a


# --------------------------------------------------------------------------- NaN and errors
def test_nan_loss_stops_and_keeps_the_last_good_epoch_weights():
    data = series_data(8)
    model = NanAfter(good_steps=4 + 2)  # epoch 1 = 4 batches fine, epoch 2 goes NaN at batch 3
    saved = {}
    events = []
    for event in train(model, data, TrainConfig(epochs=5, batch_size=2, device="cpu")):
        events.append(event)
        if isinstance(event, EpochEnded):
            saved[event.epoch] = state_of(model)
    stops = [e for e in events if isinstance(e, Stopped)]
    assert len(stops) == 1 and stops[0].reason == "nan" and stops[0].epoch == 2
    assert isinstance(events[-1], Finished) and events[-2] is stops[0]
    assert events[-1].result.stopped_reason == "nan"
    assert events[-1].result.epochs_run == 1
    assert_same_state(model, saved[1])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_huge_learning_rate_is_caught_as_nan():
    data = series_data(16)
    model = TinyRegressor()
    before = state_of(model)
    events = run_all(model, data, TrainConfig(epochs=3, batch_size=1, optimizer="sgd",
                                              learning_rate=1e30, device="cpu"))
    stop = next(e for e in events if isinstance(e, Stopped))
    assert stop.reason == "nan" and stop.epoch == 1
    assert_same_state(model, before)  # nothing good after the start: the initial weights


class ExplodesAtEpoch2(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("CUDA out of memory (simulated)")
        return self.fc(x.flatten(1))


def test_exception_inside_becomes_stopped_error_then_finished():
    data = series_data(4)
    model = ExplodesAtEpoch2()
    saved = {}
    events = []
    for event in train(model, data, TrainConfig(epochs=3, batch_size=2, device="cpu")):
        events.append(event)
        if isinstance(event, EpochEnded):
            saved[event.epoch] = state_of(model)
    assert [type(e).__name__ for e in events[-2:]] == ["Stopped", "Finished"]
    assert events[-2].reason == "error" and "out of memory" in events[-2].message
    assert_same_state(model, saved[1])


def test_mismatched_output_shape_is_rejected_before_training():
    data = series_data(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    with pytest.raises(TrainingError, match=r"outputs shape \(2, 3\)"):
        train(model, data, TrainConfig(epochs=1, device="cpu"))


def test_loss_that_does_not_fit_the_task_is_rejected():
    with pytest.raises(TrainingError, match="needs a binary task"):
        train(TinyRegressor(), series_data(4), TrainConfig(loss="bce", device="cpu"))


# --------------------------------------------------------------------------- control
def test_stop_after_n_batches_takes_effect_before_the_next_batch():
    data = series_data(20)
    control = TrainControl()
    events = []
    for event in train(TinyRegressor(), data, TrainConfig(epochs=4, batch_size=2, device="cpu"), control):
        events.append(event)
        if isinstance(event, BatchEnded) and event.global_step == 13:
            control.stop()
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert batches[-1].global_step == 13
    assert [type(e).__name__ for e in events[-2:]] == ["Stopped", "Finished"]
    assert events[-2].reason == "user" and events[-2].epoch == 2
    assert events[-1].result.epochs_run == 1


def test_pause_blocks_between_batches_until_resume_from_another_thread():
    data = series_data(12)
    control = TrainControl()
    events: list = []
    at_step_2, paused_by_main = threading.Event(), threading.Event()

    def consume():
        for event in train(TinyRegressor(), data, TrainConfig(epochs=2, batch_size=2, device="cpu"), control):
            events.append(event)
            if isinstance(event, BatchEnded) and event.global_step == 2:
                at_step_2.set()
                paused_by_main.wait()

    worker = threading.Thread(target=consume)
    worker.start()
    assert at_step_2.wait(timeout=30)
    control.pause()
    paused_by_main.set()
    # The run must now be blocked before batch 3: it neither finishes nor produces events.
    worker.join(timeout=0.3)
    assert worker.is_alive() and control.paused
    assert len(events) == 3  # EpochStarted + 2 BatchEnded
    control.resume()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(events[-1], Finished) and events[-1].result.stopped_reason is None
    assert sum(isinstance(e, BatchEnded) for e in events) == 12


def test_stop_wakes_a_paused_run():
    data = series_data(8)
    control = TrainControl()
    events: list = []
    at_step_1, paused_by_main = threading.Event(), threading.Event()

    def consume():
        for event in train(TinyRegressor(), data, TrainConfig(epochs=2, batch_size=2, device="cpu"), control):
            events.append(event)
            if isinstance(event, BatchEnded) and event.global_step == 1:
                at_step_1.set()
                paused_by_main.wait()

    worker = threading.Thread(target=consume)
    worker.start()
    assert at_step_1.wait(timeout=30)
    control.pause()
    paused_by_main.set()
    control.stop()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [type(e).__name__ for e in events[-2:]] == ["Stopped", "Finished"]
    assert sum(isinstance(e, BatchEnded) for e in events) == 1


# --------------------------------------------------------------------------- early stopping
def conflicting_data() -> PreparedData:
    """Training targets +x, validation targets -x: every training epoch worsens validation."""
    x = torch.linspace(0.1, 1.0, 20).reshape(10, 2, 1)
    y = x.sum(dim=1)
    return PreparedData("regression", x, y, x, -y, *_empty(x, y), n_outputs=1)


def zero_regressor() -> TinyRegressor:
    model = TinyRegressor()
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
    return model


def test_early_stopping_restores_the_best_epochs_weights():
    data = conflicting_data()
    model = zero_regressor()
    saved = {}
    events = []
    config = TrainConfig(epochs=20, batch_size=2, learning_rate=0.05, early_stopping_patience=2,
                         device="cpu", shuffle=False)
    for event in train(model, data, config):
        events.append(event)
        if isinstance(event, EpochEnded):
            saved[event.epoch] = state_of(model)
    ends = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in ends] == [1, 2, 3]
    assert ends[0].val_loss < ends[1].val_loss < ends[2].val_loss
    stop = events[-2]
    assert isinstance(stop, Stopped) and stop.reason == "early_stopping" and stop.epoch == 3
    result = events[-1].result
    assert result.best_epoch == 1 and result.stopped_reason == "early_stopping"
    assert_same_state(model, saved[1])
    for k, v in result.best_state.items():
        assert torch.equal(v, saved[1][k])


def test_without_restore_best_the_last_weights_stay():
    data = conflicting_data()
    model = zero_regressor()
    saved = {}
    config = TrainConfig(epochs=3, batch_size=2, learning_rate=0.05, restore_best=False,
                         keep_best_checkpoint=False, device="cpu", shuffle=False)
    for event in train(model, data, config):
        if isinstance(event, EpochEnded):
            saved[event.epoch] = state_of(model)
        if isinstance(event, Finished):
            assert event.result.best_state is None and event.result.best_epoch == 1
    assert_same_state(model, saved[3])


def test_validation_fraction_holds_out_the_last_training_samples():
    data = series_data(10)
    model = zero_regressor()
    events = run_all(model, data, TrainConfig(epochs=1, batch_size=10, validation_fraction=0.3,
                                              learning_rate=1e-9, device="cpu"))
    (batch,) = [e for e in events if isinstance(e, BatchEnded)]
    (end,) = [e for e in events if isinstance(e, EpochEnded)]
    y = data.y_train
    zeros = torch.zeros_like(y)
    # a zero model: train loss over the first 7 samples, validation over the last 3
    assert batch.loss == pytest.approx(F.mse_loss(zeros[:7], y[:7]).item(), rel=1e-5)
    assert end.val_loss == pytest.approx(F.mse_loss(zeros[7:], y[7:]).item(), rel=1e-4)


# --------------------------------------------------------------------------- optimizers and losses
def binary_data(n: int = 40) -> PreparedData:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 2, 1, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).float()
    return PreparedData("binary", x, y, *_empty(x, y), *_empty(x, y), n_outputs=1)


def multiclass_data(n: int = 45) -> PreparedData:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 2, 1, generator=g)
    y = (x[:, 0, 0] > 0).long() + (x[:, 1, 0] > 0.5).long()
    return PreparedData("multiclass", x, y, *_empty(x, y), *_empty(x, y), n_outputs=3)


def model_for(loss: str, *, logits: bool = False) -> nn.Module:
    torch.manual_seed(0)
    if loss == "bce":
        layers = [nn.Flatten(), nn.Linear(2, 1)] + ([] if logits else [nn.Sigmoid()])
    elif loss == "cross_entropy":
        layers = [nn.Flatten(), nn.Linear(2, 3)] + ([] if logits else [nn.Softmax(dim=-1)])
    else:
        layers = [nn.Flatten(), nn.Linear(2, 1)]
    return nn.Sequential(*layers)


def data_for(loss: str) -> PreparedData:
    return {"bce": binary_data, "cross_entropy": multiclass_data}.get(loss, series_data)()


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_each_optimizer_reduces_the_loss(optimizer):
    data = series_data(32)
    model = model_for("mse")
    config = TrainConfig(epochs=15, batch_size=8, optimizer=optimizer, learning_rate=0.05, device="cpu")
    history = run_all(model, data, config)[-1].result.history
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]


@pytest.mark.parametrize("loss, logits", [("mse", False), ("mae", False), ("huber", False),
                                          ("bce", False), ("bce", True),
                                          ("cross_entropy", False), ("cross_entropy", True)])
def test_each_loss_reduces_and_matches_torch_functional(loss, logits):
    data = data_for(loss)
    model = model_for(loss, logits=logits)
    x, y = data.x_train, data.y_train
    with torch.no_grad():
        out = model(x)
    reference = {
        "mse": lambda: F.mse_loss(out, y),
        "mae": lambda: F.l1_loss(out, y),
        "huber": lambda: F.huber_loss(out, y, delta=1.0),
        "bce": lambda: (F.binary_cross_entropy_with_logits(out, y) if logits
                        else F.binary_cross_entropy(out, y)),
        "cross_entropy": lambda: (F.cross_entropy(out, y) if logits
                                  else F.nll_loss(torch.log(out), y)),
    }[loss]().item()
    config = TrainConfig(epochs=20, batch_size=len(x), loss=loss, learning_rate=0.05,
                         shuffle=False, device="cpu")
    events = run_all(model, data, config)
    batch_losses = [e.loss for e in events if isinstance(e, BatchEnded)]
    # one batch = the whole set, so the first step's loss is the loss of the initial model
    assert batch_losses[0] == pytest.approx(reference, rel=1e-5)
    assert batch_losses[-1] < batch_losses[0]
    if loss in ("bce", "cross_entropy"):
        assert "accuracy" in events[-2].metrics


def test_logits_are_detected_from_the_models_declared_activation():
    data = binary_data()

    class Declared(nn.Module):
        output_activation = "linear"

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(x.flatten(1)) * 10  # far outside [0, 1]: BCE on probabilities would fail

    events = run_all(Declared(), data, TrainConfig(epochs=1, batch_size=40, loss="bce", device="cpu"))
    assert events[-1].result.stopped_reason is None


def test_grad_clip_limits_the_first_sgd_step():
    data = series_data(8)
    torch.manual_seed(0)
    model = TinyRegressor()
    with torch.no_grad():
        model.fc.weight.fill_(50.0)  # a large loss, so a large gradient
    before = state_of(model)
    run_all(model, data, TrainConfig(epochs=1, batch_size=8, optimizer="sgd", momentum=0.0,
                                     learning_rate=1.0, grad_clip=0.5, device="cpu"))
    step = torch.cat([(model.state_dict()[k] - before[k]).flatten() for k in before])
    assert step.norm().item() == pytest.approx(0.5, rel=1e-4)


# --------------------------------------------------------------------------- devices and settings
def test_model_stays_on_its_device_and_global_settings_are_restored():
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    model = TinyRegressor()
    events = run_all(model, series_data(8), TrainConfig(epochs=1, batch_size=4, device="cpu"))
    result = events[-1].result
    assert result.threads >= 1 and result.threads_reason  # measured: see test_threads.py
    assert torch.get_num_threads() == threads and torch.backends.mkldnn.enabled == onednn
    assert next(model.parameters()).device == torch.device("cpu")


def test_closing_the_generator_early_restores_settings():
    threads = torch.get_num_threads()
    run = train(TinyRegressor(), series_data(8), TrainConfig(epochs=3, batch_size=2, threads=1))
    next(run), next(run)
    run.close()
    assert torch.get_num_threads() == threads


# --------------------------------------------------------------------------- predict and evaluate
def test_predict_matches_the_module_and_restores_training_mode():
    model = TinyRegressor(dropout=0.5)
    model.train()
    x = torch.rand(300, 2, 1)
    out = predict(model, x, batch_size=64)
    assert model.training
    model.eval()
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # float64 numpy input is cast to the weights' dtype
    np.testing.assert_allclose(predict(model, x.double().numpy()), expected, rtol=1e-6)


class ScaledSeries(PreparedData):
    """Targets scaled by 1/100, with persistence baselines, like a PreparedSeries."""

    def to_original(self, y, split):
        return super().to_original(y, split) * 100.0

    def actual(self, split):
        return self.to_original(self.split(split)[1], split)

    def baselines(self, split):
        x = self.split(split)[0]
        return {"naive": x[:, -1, :].numpy().astype(np.float64) * 100.0}


def test_evaluate_regression_in_original_units_with_baselines():
    base = series_data(12, test=6)
    data = ScaledSeries(**{f.name: getattr(base, f.name) for f in base.__dataclass_fields__.values()})
    model = TinyRegressor()
    metrics_out = evaluate(model, data, "test")
    with torch.no_grad():
        predicted = model(data.x_test).numpy() * 100.0
    actual = data.y_test.numpy() * 100.0
    assert metrics_out["loss"] == pytest.approx(F.mse_loss(model(data.x_test), data.y_test).item(), rel=1e-5)
    assert metrics_out["rmse"] == pytest.approx(np.sqrt(((actual - predicted) ** 2).mean()), rel=1e-5)
    assert metrics_out["mae"] == pytest.approx(np.abs(actual - predicted).mean(), rel=1e-5)
    assert metrics_out["mape"] == pytest.approx(100 * np.abs((actual - predicted) / actual).mean(), rel=1e-5)
    naive = data.x_test[:, -1, :].numpy() * 100.0
    assert metrics_out["baselines"]["naive"]["rmse"] == pytest.approx(
        np.sqrt(((actual - naive) ** 2).mean()), rel=1e-5)


def test_evaluate_binary_classification_against_metric_functions():
    data = binary_data()
    data.x_test, data.y_test = data.x_train, data.y_train
    model = model_for("bce")
    got = evaluate(model, data, "test")
    with torch.no_grad():
        prob = model(data.x_test).numpy().reshape(-1)
    y = data.y_test.numpy().reshape(-1).astype(int)
    pred = (prob >= 0.5).astype(int)
    assert got["loss"] == pytest.approx(F.binary_cross_entropy(torch.tensor(prob), torch.tensor(y).float()).item(), rel=1e-5)
    assert got["accuracy"] == pytest.approx(np.mean(pred == y))
    assert got["confusion_matrix"] == metrics.confusion_matrix(y, pred, 2).tolist()
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc(y, prob))
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(metrics.precision_recall_f1(y, pred))


def test_evaluate_multiclass_uses_macro_averages():
    data = multiclass_data()
    data.x_val, data.y_val = data.x_train, data.y_train
    model = model_for("cross_entropy", logits=True)
    got = evaluate(model, data, "val", config=TrainConfig(loss="cross_entropy", from_logits=True))
    with torch.no_grad():
        logits = model(data.x_val)
    pred = logits.argmax(1).numpy()
    y = data.y_val.numpy()
    assert got["loss"] == pytest.approx(F.cross_entropy(logits, data.y_val).item(), rel=1e-5)
    assert got["precision"] == pytest.approx(metrics.precision_recall_f1(y, pred, average="macro", n_classes=3)[0])
    assert np.array(got["confusion_matrix"]).shape == (3, 3) and "roc_auc" not in got


def test_final_metrics_cover_each_non_empty_split():
    data = series_data(12, val=4, test=4)
    model = TinyRegressor()
    result = run_all(model, data, TrainConfig(epochs=2, batch_size=4, device="cpu"))[-1].result
    assert set(result.metrics) == {"train", "val", "test"}
    assert all(math.isfinite(m["rmse"]) for m in result.metrics.values())
    # The reported final metrics are those of the weights the model ends with.
    assert evaluate(model, data, "test")["loss"] == pytest.approx(result.metrics["test"]["loss"])


def test_probabilities_outside_unit_interval_are_rejected_before_training():
    class Custom(nn.Module):  # no structural clue: probabilities are assumed, as in Keras
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(5.0))

        def forward(self, x):
            return x.flatten(1)[:, :1] * self.w + 2.0

    with pytest.raises(TrainingError, match="from_logits=True"):
        train(Custom(), binary_data(), TrainConfig(loss="bce", device="cpu"))


# --------------------------------------------------------------------------- CUDA (where present)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_training_on_cuda_returns_the_model_to_its_device():
    data = series_data(16, val=4, test=4)
    model = TinyRegressor()
    events = run_all(model, data, TrainConfig(epochs=3, batch_size=4, device="cuda"))
    result = events[-1].result
    assert result.device.startswith("cuda") and result.stopped_reason is None
    assert next(model.parameters()).device.type == "cpu"
    assert set(result.metrics) == {"train", "val", "test"}
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert evaluate(model, data, "test")["loss"] == pytest.approx(result.metrics["test"]["loss"], rel=1e-4)


@needs_cuda
def test_nan_on_cuda_keeps_the_last_good_weights():
    data = series_data(8)
    model = NanAfter(good_steps=4 + 1)
    saved = {}
    events = []
    for event in train(model, data, TrainConfig(epochs=4, batch_size=2, device="cuda")):
        events.append(event)
        if isinstance(event, EpochEnded):
            saved[event.epoch] = {k: v.cpu() for k, v in state_of(model).items()}
    assert events[-2].reason == "nan"
    assert next(model.parameters()).device.type == "cpu"
    assert_same_state(model, saved[1])


@needs_cuda
def test_predict_on_cuda_matches_cpu():
    model = TinyRegressor()
    x = torch.rand(50, 2, 1)
    np.testing.assert_allclose(predict(model, x, device="cuda"), predict(model, x), rtol=1e-5, atol=1e-6)
    assert next(model.parameters()).device.type == "cpu"


def test_ctrl_c_inside_a_batch_ends_like_a_user_stop():
    class Interrupted(ExplodesAtEpoch2):
        def forward(self, x):
            if self.training and self.calls == 2:
                raise KeyboardInterrupt
            return super().forward(x)

    events = run_all(Interrupted(), series_data(4), TrainConfig(epochs=3, batch_size=2, device="cpu"))
    assert [type(e).__name__ for e in events[-2:]] == ["Stopped", "Finished"]
    assert events[-2].reason == "user" and events[-1].result.stopped_reason == "user"


# --------------------------------------------------------------------------- continuing a run
def _no_shuffle(**kw) -> TrainConfig:
    return TrainConfig(**{"batch_size": 4, "learning_rate": 0.05, "shuffle": False, "device": "cpu",
                          **kw})


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_continuing_with_the_optimizer_state_equals_one_uninterrupted_run(optimizer):
    data = series_data(12)
    torch.manual_seed(5)
    whole = TinyRegressor()
    parts = copy.deepcopy(whole)
    once = [e.train_loss for e in run_all(whole, data, _no_shuffle(epochs=4, optimizer=optimizer))
            if isinstance(e, EpochEnded)]
    first = run_all(parts, data, _no_shuffle(epochs=2, optimizer=optimizer))
    state = first[-1].result.optimizer_state
    second = run_all(parts, data, _no_shuffle(epochs=2, optimizer=optimizer), start_epoch=2,
                     optimizer_state=state)
    assert second[-1].result.optimizer_resumed
    losses = [e.train_loss for e in first + second if isinstance(e, EpochEnded)]
    np.testing.assert_allclose(losses, once, rtol=1e-6)
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(parts.state_dict()[name], value)


def test_continuing_without_the_state_restarts_adam():
    data = series_data(12)
    torch.manual_seed(5)
    a = TinyRegressor()
    b = TinyRegressor()
    b.load_state_dict(a.state_dict())
    run_all(a, data, _no_shuffle(epochs=2))
    run_all(b, data, _no_shuffle(epochs=2))
    fresh = run_all(a, data, _no_shuffle(epochs=1), start_epoch=2)
    assert not fresh[-1].result.optimizer_resumed
    resumed = run_all(b, data, _no_shuffle(epochs=1), start_epoch=2,
                      optimizer_state=fresh[-1].result.optimizer_state)  # any adam state fits
    assert resumed[-1].result.optimizer_resumed
    assert fresh[-1].result.history[0]["train_loss"] != resumed[-1].result.history[0]["train_loss"]


def test_the_optimizer_state_is_torchs_adam_state_flattened():
    data = series_data(12)
    model = TinyRegressor()
    reference = copy.deepcopy(model)
    flat = run_all(model, data, _no_shuffle(epochs=2))[-1].result.optimizer_state
    # the reference: a plain torch.optim.Adam loop over the same batches from the same start
    adam = torch.optim.Adam(reference.parameters(), lr=0.05)
    for _epoch in range(2):
        for start in range(0, 12, 4):
            adam.zero_grad()
            F.mse_loss(reference(data.x_train[start:start + 4]), data.y_train[start:start + 4]).backward()
            adam.step()
    assert set(flat) == {f"adam.{i}.{k}" for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq")}
    for i, param in enumerate(reference.parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(flat[f"adam.{i}.{key}"], adam.state[param][key])
        assert float(flat[f"adam.{i}.step"]) == float(adam.state[param]["step"]) == 6


@pytest.mark.parametrize("other", [
    {"sgd.0.momentum_buffer": torch.zeros(1, 2)},          # another optimizer's
    {"adam.0.exp_avg": torch.zeros(3, 3)},                 # does not fit the weights
    {"adam.7.exp_avg": torch.zeros(1, 2)},                 # no such parameter
])
def test_an_optimizer_state_that_does_not_fit_is_ignored(other):
    events = run_all(TinyRegressor(), series_data(12), _no_shuffle(epochs=1), optimizer_state=other)
    assert not events[-1].result.optimizer_resumed
    assert events[-1].result.optimizer_state is not None


def test_no_optimizer_state_when_the_final_weights_are_not_the_last_epochs():
    data = series_data(12)
    nan = run_all(NanAfter(good_steps=4), data, _no_shuffle(epochs=3))
    assert nan[-2].reason == "nan" and nan[-1].result.optimizer_state is None
    stopped_early = run_all(TinyRegressor(), series_data(12, val=4),
                            _no_shuffle(epochs=50, learning_rate=1.0, early_stopping_patience=1))
    result = stopped_early[-1].result
    if result.best_epoch != result.history[-1]["epoch"]:   # the best epoch's weights came back
        assert result.optimizer_state is None
