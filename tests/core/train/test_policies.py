"""Training policies alone (hand-made states and losses) and composed into train()."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.events import BatchEnded, EpochEnded, Finished, Stopped
from seqstudio.core.train.loop import train
from seqstudio.core.train.policies import (
    BestCheckpoint,
    EarlyStopping,
    NanGuard,
    Policy,
    PolicySet,
    RunState,
    UserStop,
    default_policies,
    snapshot,
)


def state(last_epoch: int = 10, has_val: bool = True) -> RunState:
    model = nn.Linear(2, 1)
    return RunState(model, start_epoch=0, last_epoch=last_epoch, has_val=has_val,
                    last_good=snapshot(model))


def feed(policy: Policy, run: RunState, losses: list[float]) -> list[Stopped | None]:
    """epoch_end for epochs 1, 2, ... with these validation losses."""
    return [policy.epoch_end(run, epoch, 99.0, loss) for epoch, loss in enumerate(losses, 1)]


def test_nan_guard_puts_back_the_last_good_weights_and_names_the_batch():
    run = state()
    good = {k: v.clone() for k, v in run.last_good.items()}
    with torch.no_grad():
        run.model.weight.fill_(123.0)
    assert NanGuard().batch_end(run, 3, 4, 0.25) is None
    assert run.model.weight[0, 0].item() == 123.0                  # finite: nothing touched
    stopped = NanGuard().batch_end(run, 3, 4, math.nan)
    assert (stopped.reason, stopped.epoch) == ("nan", 3)
    assert "batch 5 of epoch 3" in stopped.message and "weights of epoch 2" in stopped.message
    assert torch.equal(run.model.weight, good["weight"])
    assert NanGuard().validated(run, 3, math.inf).reason == "nan"


def test_best_checkpoint_keeps_the_first_lowest_loss_and_its_weights():
    run, best = state(), BestCheckpoint()
    weights = {}
    for epoch, loss in enumerate([0.5, 0.3, 0.3, 0.4], 1):
        run.last_good = {"w": torch.tensor(float(epoch))}
        weights[epoch] = run.last_good
        assert best.epoch_end(run, epoch, 9.0, loss) is None
    assert run.best_epoch == 2 and run.best_state is weights[2]


def test_best_checkpoint_watches_the_training_loss_without_a_validation_split():
    run, best = state(has_val=False), BestCheckpoint()
    for epoch, train_loss in enumerate([0.5, 0.2, 0.4], 1):
        best.epoch_end(run, epoch, train_loss, None)
    assert run.best_epoch == 2


def test_early_stopping_counts_epochs_without_improvement():
    results = feed(EarlyStopping(patience=2), state(), [0.5, 0.4, 0.45, 0.41])
    assert results[:3] == [None, None, None]
    assert results[3].reason == "early_stopping" and results[3].epoch == 4
    assert "validation loss did not improve for 2 epochs; best epoch 2" in results[3].message


def test_early_stopping_never_stops_the_last_epoch():
    assert feed(EarlyStopping(patience=1), state(last_epoch=2), [0.5, 0.6]) == [None, None]


class FakeControl(TrainControl):
    """A control whose pause lasted a known time and which the 'user' stops during it."""

    def __init__(self, paused_for: float, stop_while_paused: bool) -> None:
        super().__init__()
        self.paused_for, self.stop_while_paused = paused_for, stop_while_paused

    def wait_while_paused(self) -> float:
        if self.stop_while_paused:
            self.stop()
        return self.paused_for


def test_user_stop_adds_the_pause_and_stops_when_stopped_during_it():
    run = state()
    assert UserStop(FakeControl(0.25, False)).batch_begin(run, 1, 0) is None
    assert run.paused_seconds == 0.25
    stopped = UserStop(FakeControl(0.5, True)).batch_begin(run, 2, 7)
    assert (stopped.reason, stopped.epoch) == ("user", 2) and "batch 7 of epoch 2" in stopped.message
    control = TrainControl()
    control.stop()
    assert UserStop(control).epoch_begin(run, 4) == Stopped("user", "stopped by the user", 3)


class CountingEpochs(Policy):
    def __init__(self) -> None:
        self.epochs: list[int] = []

    def epoch_end(self, state, epoch, train_loss, val_loss):
        self.epochs.append(epoch)


def test_a_policy_set_calls_per_batch_only_the_policies_that_watch_batches():
    counter = CountingEpochs()
    policies = PolicySet([*default_policies(TrainControl(), patience=0), counter])
    assert [type(h.__self__).__name__ for h in policies.batch_begin] == ["UserStop"]
    assert [type(h.__self__).__name__ for h in policies.batch_end] == ["NanGuard"]
    run = state()
    assert policies.epoch_end(run, 1, 0.5, 0.5) is None and counter.epochs == [1]


def test_every_policy_sees_the_epoch_an_earlier_one_stops():
    counter = CountingEpochs()
    policies = PolicySet([EarlyStopping(patience=1), counter])
    run = state()
    policies.epoch_end(run, 1, 0.5, 0.5)
    assert policies.epoch_end(run, 2, 0.5, 0.6).reason == "early_stopping"
    assert counter.epochs == [1, 2]


# ----------------------------------------------------------------------------- composed in train()
def tiny_data() -> PreparedData:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, 1, generator=gen)
    y = x[:, -1] * 2.0
    return PreparedData("regression", x[:16], y[:16], x[16:20], y[16:20], x[20:], y[20:], n_outputs=1)


class RecordLosses(Policy):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def batch_end(self, state, epoch, step, loss):
        self.losses.append(loss)


class StopAfter(Policy):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_end(self, state, epoch, train_loss, val_loss):
        if epoch == self.epoch:
            return Stopped("early_stopping", f"enough after epoch {epoch}", epoch)
        return None


def test_extra_policies_see_every_batch_and_can_end_the_run_after_an_epoch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 1))
    recorder = RecordLosses()
    events = list(train(model, tiny_data(), TrainConfig(epochs=5, batch_size=4),
                        policies=[recorder, StopAfter(2)]))
    batch_losses = [e.loss for e in events if isinstance(e, BatchEnded)]
    assert recorder.losses == batch_losses and len(batch_losses) == 2 * 4
    kinds = [type(e).__name__ for e in events]
    assert kinds[-3:] == ["EpochEnded", "Stopped", "Finished"]
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1, 2]
    result = events[-1].result
    assert isinstance(events[-1], Finished)
    assert result.epochs_run == 2 and result.stopped_message == "enough after epoch 2"


@pytest.mark.parametrize("patience", [0, 2])
def test_the_loop_with_policies_matches_a_hand_written_loop(patience):
    """Same seed: the engine's losses equal a plain PyTorch loop's (no shuffle, SGD)."""
    data = tiny_data()
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 1))
    reference = nn.Sequential(nn.Flatten(), nn.Linear(3, 1))
    reference.load_state_dict(model.state_dict())
    config = TrainConfig(epochs=3, batch_size=4, optimizer="sgd", learning_rate=0.05, shuffle=False,
                         momentum=0.9, early_stopping_patience=patience)
    losses = [e.loss for e in train(model, data, config) if isinstance(e, BatchEnded)]
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    expected = []
    for _ in range(3):
        for start in range(0, 16, 4):
            loss = nn.functional.mse_loss(reference(data.x_train[start:start + 4]),
                                          data.y_train[start:start + 4])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            expected.append(loss.item())
    assert losses == pytest.approx(expected, rel=1e-5, abs=1e-6)  # fused vs plain SGD kernels
