"""The training thread: iterates the core's ``train()`` generator and reports back.

The worker only forwards what the core yields. Per-batch numbers never become
one Qt signal each (a batch-size-1 run makes thousands per second): they go
into a lock-protected :class:`TrainingFeed` that the window drains on its own
200 ms timer. Signals are kept for the rare events: a forecast snapshot every
few epochs, the stop reason, the end of the run, a crash.

The run itself goes to the warm child process of
:func:`seqstudio.core.train.process.shared_training_process`, so that the GUI's
Python never competes with the training loop for the interpreter lock; the
thread only waits on its messages. A model that cannot go there (or
``SEQSTUDIO_TRAIN_IN_PROCESS=1``) trains in this thread instead, with the same
events. Stop and pause go through the run's ``TrainControl``: stop takes
effect at the next batch boundary, pause blocks the run on an Event (no CPU
burnt).

>>> feed = TrainingFeed()
>>> feed.add_batch(epoch=1, step=1, batches=4, loss=0.5)
>>> feed.drain().batch_losses
[0.5]
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QThread, Signal

from seqstudio.core.studio import is_series, series_predictions, text_predictions

#: Forecast snapshots come at most this often: replotting costs the GUI thread ~20 ms.
SNAPSHOT_MIN_SECONDS = 1.0
#: Set to 1 to train in the window's own process (a thread) instead of the training process.
IN_PROCESS_ENV = "SEQSTUDIO_TRAIN_IN_PROCESS"


def trains_in_child() -> bool:
    """Whether runs go to the training process (``SEQSTUDIO_TRAIN_IN_PROCESS`` unset or 0)."""
    return os.environ.get(IN_PROCESS_ENV, "") in ("", "0")


@dataclass
class FeedSnapshot:
    """What arrived since the last drain, plus the latest position in the run."""

    batch_x: list[float] = field(default_factory=list)     # fractional epochs
    batch_losses: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float | None] = field(default_factory=list)
    epoch: int = 0
    epochs_total: int = 0
    step: int = 0
    batches: int = 0
    started_at: float = 0.0
    first_epoch: int = 1


class TrainingFeed:
    """Thread-safe mailbox from the training thread to the window's redraw timer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = FeedSnapshot(started_at=time.perf_counter())

    def start(self, first_epoch: int, epochs_total: int) -> None:
        with self._lock:
            self._pending = FeedSnapshot(started_at=time.perf_counter(), first_epoch=first_epoch,
                                         epochs_total=epochs_total, epoch=first_epoch - 1)

    def add_batch(self, *, epoch: int, step: int, batches: int, loss: float) -> None:
        with self._lock:
            p = self._pending
            p.batch_x.append(epoch - 1 + step / max(batches, 1))
            p.batch_losses.append(loss)
            p.epoch, p.step, p.batches = epoch, step, batches

    def set_position(self, *, epoch: int, epochs_total: int, step: int, batches: int) -> None:
        with self._lock:
            p = self._pending
            p.epoch, p.epochs_total, p.step, p.batches = epoch, epochs_total, step, batches

    def add_epoch(self, *, epoch: int, train_loss: float, val_loss: float | None) -> None:
        with self._lock:
            p = self._pending
            p.epochs.append(epoch)
            p.train_losses.append(train_loss)
            p.val_losses.append(val_loss)

    def drain(self) -> FeedSnapshot:
        """Take the pending numbers; the position fields carry over to the next snapshot."""
        with self._lock:
            taken = self._pending
            self._pending = FeedSnapshot(epoch=taken.epoch, epochs_total=taken.epochs_total,
                                         step=taken.step, batches=taken.batches,
                                         started_at=taken.started_at, first_epoch=taken.first_epoch)
            return taken


def series_results(model, data, *, future_steps: int = 24) -> dict[str, Any]:
    """Predictions of a series model in original units (:func:`seqstudio.core.studio.series_predictions`)."""
    return series_predictions(model, data, future_steps=future_steps)


def text_results(model, data, config=None) -> dict[str, Any]:
    """``{"classifier_report": ClassifierReport}`` of the test part (:func:`seqstudio.core.studio.text_predictions`)."""
    return text_predictions(model, data, config)


class TrainingThread(QThread):
    """Runs ``core.training.train`` on a model in place; see the module docstring.

    The final predictions (a series: :func:`series_results` with
    ``future_steps``; a classifier: :func:`text_results`) are computed on this
    thread into ``final_results`` before ``runFinished``. Signals (all queued to the GUI thread): ``snapshotReady(dict)`` with
    :func:`series_results` every ``snapshot_every`` epochs (series only),
    ``runStopped(object)`` with the core's ``Stopped`` event,
    ``runFinished(object)`` with the ``TrainResult``, ``runFailed(object)``
    with the exception itself when the generator raises (the model keeps its
    last good weights): the GUI thread decides how to show it.
    """

    snapshotReady = Signal(dict)
    runStopped = Signal(object)
    runFinished = Signal(object)
    runFailed = Signal(object)
    #: the thread tuner's decision (a ThreadsChosen event): how many CPU threads and why
    threadsChosen = Signal(object)

    def __init__(self, model, data, config, *, start_epoch: int = 0, optimizer_state=None,
                 snapshot_every: int = 10, future_steps: int = 0, feed: TrainingFeed | None = None,
                 parent=None):
        super().__init__(parent)
        from seqstudio.core.train.process import ProcessTrainControl

        self.model = model
        self.data = data
        self.config = config
        self.start_epoch = start_epoch
        self.optimizer_state = optimizer_state
        self.snapshot_every = max(0, int(snapshot_every))
        self.control = ProcessTrainControl()
        self.feed = feed or TrainingFeed()
        self.result = None
        self.stopped_event = None
        self.future_steps = future_steps
        #: series_results() of the trained model, computed here so the GUI thread only plots
        self.final_results: dict[str, Any] | None = None

    # -- control from the GUI thread -------------------------------------------
    def request_stop(self) -> None:
        self.control.stop()
        if self.control.paused:
            self.control.resume()  # a paused thread must wake up to see the stop

    def request_pause(self) -> None:
        self.control.pause()

    def request_resume(self) -> None:
        self.control.resume()

    # -- the thread --------------------------------------------------------------
    def run(self) -> None:  # runs in the training thread
        from seqstudio.core.train.events import (
            BatchEnded,
            EpochEnded,
            EpochStarted,
            Finished,
            Stopped,
            ThreadsChosen,
        )
        from seqstudio.core.train.process import shared_training_process

        self.feed.start(self.start_epoch + 1, self.start_epoch + self.config.epochs)
        series = is_series(self.data)
        runner = shared_training_process()
        self.runner = runner
        try:
            for event in runner.run(self.model, self.data, self.config, self.control,
                                    start_epoch=self.start_epoch,
                                    optimizer_state=self.optimizer_state,
                                    weights_every=self.snapshot_every if series else 0,
                                    weights_min_seconds=SNAPSHOT_MIN_SECONDS,
                                    in_child=trains_in_child()):
                if isinstance(event, BatchEnded):
                    self.feed.add_batch(epoch=event.epoch, step=event.step, batches=event.batches,
                                        loss=float(event.loss))
                elif isinstance(event, EpochStarted):
                    self.feed.set_position(epoch=event.epoch, epochs_total=event.epochs, step=0,
                                           batches=event.batches)
                elif isinstance(event, EpochEnded):
                    self.feed.add_epoch(epoch=event.epoch, train_loss=float(event.train_loss),
                                        val_loss=None if event.val_loss is None
                                        else float(event.val_loss))
                    if runner.fresh_weights:  # a snapshot is due and the model is that epoch's
                        self.snapshotReady.emit(series_results(self.model, self.data,
                                                               future_steps=0))
                elif isinstance(event, ThreadsChosen):
                    self.threadsChosen.emit(event)
                elif isinstance(event, Stopped):
                    self.stopped_event = event
                    self.runStopped.emit(event)
                elif isinstance(event, Finished):
                    self.result = event.result
                    try:
                        self.final_results = (
                            series_results(self.model, self.data, future_steps=self.future_steps)
                            if series else text_results(self.model, self.data, self.config))
                    except Exception:  # noqa: BLE001 - the window recomputes and reports it
                        self.final_results = None
                    self.runFinished.emit(event.result)
        except Exception as exc:  # noqa: BLE001 - the window must survive anything the run raises
            self.runFailed.emit(exc)
