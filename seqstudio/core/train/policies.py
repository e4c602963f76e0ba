"""Training policies: small pieces the loop calls at fixed points, as Keras calls its callbacks.

The loop in :mod:`seqstudio.core.train.loop` only trains; whether a run stops
(the user asked, the loss is NaN, the validation loss stopped improving) and
which weights it keeps (the last finite epoch's, the best epoch's) is decided
by :class:`Policy` objects sharing one :class:`RunState`:

- :class:`UserStop`: stop / pause from a :class:`TrainControl`, checked before
  every epoch and every batch;
- :class:`NanGuard`: a NaN or infinite loss ends the run and puts back the
  weights of the last finite epoch;
- :class:`BestCheckpoint`: remembers the epoch with the lowest validation loss
  (training loss without a validation split) and its weights;
- :class:`EarlyStopping`: stops when that loss has not improved for
  ``patience`` epochs.

A hook returns a :class:`Stopped` event to end the run, or None to go on.
Where it is returned decides what the run keeps: a stop at ``epoch_begin``,
``batch_begin``, ``batch_end`` or ``validated`` ends the run before the epoch
counts (no :class:`EpochEnded`); a stop at ``epoch_end`` comes after the
epoch was recorded and reported.

The per-batch hooks run once per optimizer step, so the loop calls only the
policies that override them (see :meth:`PolicySet.__init__`).

>>> import torch
>>> state = RunState(torch.nn.Linear(1, 1), start_epoch=0, last_epoch=10, has_val=True)
>>> stopper = EarlyStopping(patience=2)
>>> [stopper.epoch_end(state, epoch, 1.0, loss) for epoch, loss in [(1, 0.5), (2, 0.6)]]
[None, None]
>>> stopper.epoch_end(state, 3, 1.0, 0.7).reason
'early_stopping'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.events import Stopped


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's weights."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class RunState:
    """What the loop and its policies share during one run."""

    model: nn.Module
    start_epoch: int
    #: The number of the run's last epoch.
    last_epoch: int
    has_val: bool
    #: One dict per finished epoch (epoch, train_loss, val_loss, seconds, metrics).
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The weights at the end of the last finished epoch (at the start: the initial weights).
    last_good: dict[str, torch.Tensor] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int | None = None
    #: Seconds the epoch under way spent paused (not counted in its time).
    paused_seconds: float = 0.0
    #: The run's optimizer, once made (for policies that write checkpoints).
    optimizer: torch.optim.Optimizer | None = None


class Policy:
    """A training policy; every hook may return a :class:`Stopped` to end the run."""

    def resume(self, state: RunState, history: Sequence[dict[str, Any]]) -> None:
        """Before a run that goes on from a checkpoint: ``history`` holds its earlier epochs."""

    def epoch_begin(self, state: RunState, epoch: int) -> Stopped | None:
        """Before epoch ``epoch`` starts."""
        return None

    def batch_begin(self, state: RunState, epoch: int, step: int) -> Stopped | None:
        """Before batch ``step`` (from 0) of ``epoch``."""
        return None

    def batch_end(self, state: RunState, epoch: int, step: int, loss: float) -> Stopped | None:
        """After the optimizer step of batch ``step`` (from 0), with its loss."""
        return None

    def validated(self, state: RunState, epoch: int, val_loss: float) -> Stopped | None:
        """After the validation loss of ``epoch`` is known, before the epoch is recorded."""
        return None

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        """After ``epoch`` is recorded in ``state.history`` and ``state.last_good``."""
        return None


class UserStop(Policy):
    """Stop and pause from a :class:`TrainControl`, between batches."""

    def __init__(self, control: TrainControl) -> None:
        self.control = control

    def epoch_begin(self, state: RunState, epoch: int) -> Stopped | None:
        if self.control.stopped:
            return Stopped("user", "stopped by the user", epoch - 1)
        return None

    def batch_begin(self, state: RunState, epoch: int, step: int) -> Stopped | None:
        control = self.control
        if not control.stopped:
            state.paused_seconds += control.wait_while_paused()
            if not control.stopped:
                return None
        return Stopped("user", f"stopped by the user at batch {step} of epoch {epoch}", epoch)


class NanGuard(Policy):
    """A NaN or infinite loss ends the run with the weights of the last finite epoch."""

    def batch_end(self, state: RunState, epoch: int, step: int, loss: float) -> Stopped | None:
        if math.isfinite(loss):
            return None
        if state.last_good is not None:
            state.model.load_state_dict(state.last_good)
        return Stopped("nan", f"the loss became {loss} at batch {step + 1} of epoch {epoch}; "
                       f"the weights of epoch {epoch - 1} were kept (try a lower learning rate or "
                       "gradient clipping)", epoch)

    def validated(self, state: RunState, epoch: int, val_loss: float) -> Stopped | None:
        if math.isfinite(val_loss):
            return None
        if state.last_good is not None:
            state.model.load_state_dict(state.last_good)
        return Stopped("nan", f"the validation loss became {val_loss} at epoch {epoch}; "
                       f"the weights of epoch {epoch - 1} were kept", epoch)


def _watched_loss(train_loss: float, val_loss: float | None) -> float:
    return val_loss if val_loss is not None else train_loss


class BestCheckpoint(Policy):
    """Keep the epoch with the lowest validation loss (training loss without one) and its weights."""

    def __init__(self) -> None:
        self.best = math.inf

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        score = _watched_loss(train_loss, val_loss)
        if score < self.best:
            self.best, state.best_epoch, state.best_state = score, epoch, state.last_good
        return None


    def resume(self, state: RunState, history: Sequence[dict[str, Any]]) -> None:
        for row in history:
            score = _watched_loss(row["train_loss"], row.get("val_loss"))
            if score < self.best:
                self.best = score
                if state.best_epoch is None:  # the checkpoint did not say: its own best
                    state.best_epoch = row["epoch"]


class EarlyStopping(Policy):
    """Stop when the watched loss has not improved for ``patience`` epochs (not after the last)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = math.inf
        self.best_epoch: int | None = None
        self.since_best = 0

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        score = _watched_loss(train_loss, val_loss)
        if score < self.best:
            self.best, self.best_epoch, self.since_best = score, epoch, 0
            return None
        self.since_best += 1
        if self.since_best >= self.patience and epoch < state.last_epoch:
            watched = "validation" if state.has_val else "training"
            return Stopped("early_stopping", f"the {watched} loss did not improve for "
                           f"{self.patience} epochs; best epoch {self.best_epoch}", epoch)
        return None

    def resume(self, state: RunState, history: Sequence[dict[str, Any]]) -> None:
        for row in history:
            score = _watched_loss(row["train_loss"], row.get("val_loss"))
            if score < self.best:
                self.best, self.best_epoch, self.since_best = score, row["epoch"], 0
            else:
                self.since_best += 1


class PolicySet:
    """Policies called in order; the first :class:`Stopped` returned wins.

    Each hook list holds only the policies that override that hook, so a
    policy costs the per-batch loop nothing unless it watches batches.
    """

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = list(policies)

        def overriding(name: str) -> list[Any]:
            return [getattr(p, name) for p in self.policies
                    if getattr(type(p), name) is not getattr(Policy, name)]

        self._epoch_begin = overriding("epoch_begin")
        self.batch_begin = overriding("batch_begin")
        self.batch_end = overriding("batch_end")
        self._validated = overriding("validated")
        self._epoch_end = overriding("epoch_end")

    def resume(self, state: RunState, history: Sequence[dict[str, Any]]) -> None:
        for policy in self.policies:
            policy.resume(state, history)

    def epoch_begin(self, state: RunState, epoch: int) -> Stopped | None:
        for hook in self._epoch_begin:
            if (stopped := hook(state, epoch)) is not None:
                return stopped
        return None

    def validated(self, state: RunState, epoch: int, val_loss: float) -> Stopped | None:
        for hook in self._validated:
            if (stopped := hook(state, epoch, val_loss)) is not None:
                return stopped
        return None

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        """Every policy sees the epoch (a checkpoint after an early stop still counts it)."""
        first = None
        for hook in self._epoch_end:
            stopped = hook(state, epoch, train_loss, val_loss)
            first = first or stopped
        return first


def default_policies(control: TrainControl, patience: int) -> list[Policy]:
    """The policies every run has: user stop, NaN guard, best checkpoint, early stopping if asked."""
    policies: list[Policy] = [UserStop(control), NanGuard(), BestCheckpoint()]
    if patience:
        policies.append(EarlyStopping(patience))
    return policies
