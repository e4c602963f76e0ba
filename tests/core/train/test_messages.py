"""The training process's messages are typed, and failures cross it as exceptions, not strings."""

from __future__ import annotations

import pickle

import pytest
import torch

from seqstudio.core.errors import DataError, ModelSpecError, SeqStudioError, TrainingError
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.events import EpochEnded, Finished, Stopped
from seqstudio.core.train.loop import train
from seqstudio.core.train.messages import (
    Batches,
    Control,
    EventMessage,
    Failed,
    Ready,
    RunJob,
    Unavailable,
    portable_error,
    portable_event,
)
from seqstudio.core.train.process import TrainingProcess

from .test_training import TinyRegressor, series_data


class FailsInEpoch(TinyRegressor):
    """Raises a user-facing error on the first training forward pass of epoch 2."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == 5:  # 4 batches per epoch below: the first batch of epoch 2
                raise ModelSpecError("the cell cannot run", where="layer 2", fix="use LSTM",
                                     layer_index=2)
        return super().forward(x)


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle this")


class FailsUnpicklably(TinyRegressor):
    def forward(self, x):
        if self.training:
            raise Unpicklable("a plugin's own exception")
        return super().forward(x)


def config() -> TrainConfig:
    return TrainConfig(epochs=3, batch_size=4, learning_rate=0.05, seed=3)


@pytest.fixture(scope="module")
def process():
    proc = TrainingProcess()
    yield proc
    proc.close()


@pytest.mark.parametrize("message", [
    Control("pause"), RunJob(b"job", "stop"), Ready(), Batches(2, 1, 4, 5, (0.5, 0.25)),
    EventMessage(Stopped("user", "stopped", 1), {"w": torch.ones(2)}, keep_only=True),
    Unavailable("no such class"),
])
def test_every_message_survives_the_pipe(message):
    copy = pickle.loads(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(copy) is type(message)
    if isinstance(message, EventMessage):
        assert copy.event == message.event and torch.equal(copy.weights["w"], message.weights["w"])
    else:
        assert copy == message


def test_a_chunk_of_losses_becomes_the_batch_events_it_stands_for():
    events = list(Batches(epoch=2, first_step=3, batches=9, first_global_step=12,
                          losses=(0.5, 0.25)).events())
    assert [(e.epoch, e.step, e.batches, e.loss, e.global_step) for e in events] == \
        [(2, 3, 9, 0.5, 12), (2, 4, 9, 0.25, 13)]


def test_a_failure_crosses_as_its_own_class_with_where_and_fix():
    error = DataError("no rows", where="a.csv", fix="add rows")
    got = pickle.loads(pickle.dumps(Failed(portable_error(error))))
    assert type(got.error) is DataError
    assert (got.error.what, got.error.where, got.error.fix) == ("no rows", "a.csv", "add rows")


def test_an_exception_pickle_cannot_copy_becomes_a_training_error_naming_it():
    try:
        raise Unpicklable("boom")
    except Unpicklable as exc:
        portable = portable_error(exc)
    assert isinstance(portable, TrainingError)
    assert portable.what.startswith("Unpicklable: boom") and "raise Unpicklable" in portable.what
    stopped = portable_event(Stopped("error", "Unpicklable: boom", 1, error=Unpicklable("boom")))
    assert isinstance(stopped.error, TrainingError) and stopped.message == "Unpicklable: boom"
    pickle.dumps(stopped)


def test_an_error_stop_here_carries_the_exception():
    events = list(train(FailsInEpoch(), series_data(n=16, val=6), config()))
    stopped = next(e for e in events if isinstance(e, Stopped))
    assert stopped.reason == "error" and stopped.epoch == 2
    assert isinstance(stopped.error, ModelSpecError) and stopped.error.layer_index == 2
    assert stopped.message.startswith("ModelSpecError: the cell cannot run")


def test_an_error_stop_in_the_child_arrives_as_the_same_exception(process):
    events = list(process.run(FailsInEpoch(), series_data(n=16, val=6), config()))
    assert process.ran_in_child, process.fallback_reason
    stopped = next(e for e in events if isinstance(e, Stopped))
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1]
    assert isinstance(events[-1], Finished)
    error = stopped.error
    assert type(error) is ModelSpecError and isinstance(error, SeqStudioError)
    assert (error.what, error.where, error.fix, error.layer_index) == \
        ("the cell cannot run", "layer 2", "use LSTM", 2)


def test_an_exception_the_child_cannot_send_arrives_as_a_training_error(process):
    events = list(process.run(FailsUnpicklably(), series_data(n=16, val=6), config()))
    assert process.ran_in_child, process.fallback_reason
    stopped = next(e for e in events if isinstance(e, Stopped))
    assert type(stopped.error) is TrainingError
    assert stopped.error.what.startswith("Unpicklable: a plugin's own exception")
