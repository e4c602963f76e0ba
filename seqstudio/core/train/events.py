"""The typed events :func:`~seqstudio.core.train.loop.train` yields, and the run's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch


@dataclass(slots=True)
class EpochStarted:
    """An epoch begins. ``epochs`` is the number of the last epoch of this run."""

    epoch: int
    epochs: int
    batches: int


@dataclass(slots=True)
class BatchEnded:
    """One optimizer step is done; ``step`` counts from 1 within the epoch."""

    epoch: int
    step: int
    batches: int
    loss: float
    global_step: int


@dataclass(slots=True)
class EpochEnded:
    """An epoch is done: mean training loss, validation loss (None without a split), metrics."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    metrics: dict[str, float]
    seconds: float


@dataclass(slots=True)
class Stopped:
    """The run stopped before its last epoch: ``"user"``, ``"nan"``, ``"early_stopping"``, ``"error"``
    or ``"pruned"`` (a sweep's pruner ended an unpromising trial after an epoch).

    ``error`` is the exception behind an ``"error"`` stop (a plugin cell raising,
    out of memory), so that a view can show a :class:`~seqstudio.core.errors.SeqStudioError`'s
    ``where`` and ``fix``; ``message`` is its one-line text.
    """

    reason: Literal["user", "nan", "early_stopping", "error", "pruned"]
    message: str
    epoch: int
    #: For ``"error"``: the full traceback as text (it names the plugin file that failed, if any).
    traceback: str = ""
    #: For ``"error"``: the exception itself (a SeqStudioError keeps its ``where`` and ``fix``).
    error: BaseException | None = field(default=None, compare=False)


@dataclass(slots=True)
class ThreadsChosen:
    """The CPU thread count from batch ``step`` of ``epoch`` on, and why (measured times).

    Yielded after each timed comparison of thread counts (at the start of a
    run, and again when the machine's load changes); not yielded when the
    count is pinned by the ``threads`` setting.
    """

    threads: int
    reason: str
    epoch: int
    step: int


@dataclass
class TrainResult:
    """What a run did: per-epoch history, where it stopped, final metrics per split.

    ``metrics`` maps each non-empty split to :func:`evaluate`'s dictionary.
    ``best_state`` is a CPU copy of the best epoch's weights when
    ``keep_best_checkpoint`` was set.
    """

    history: list[dict[str, Any]]
    epochs_run: int
    best_epoch: int | None
    stopped_reason: str | None
    seconds: float
    device: str
    threads: int
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped_message: str = ""
    #: The traceback of an ``"error"`` stop, as text.
    stopped_traceback: str = ""
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    #: The optimizer's state after the last epoch (see :func:`optimizer_state_dict`), for
    #: continuing this run; None when the final weights are not the last epoch's (best
    #: epoch restored, NaN or error reverted), since its moments would not fit them.
    optimizer_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    #: Whether the run started from a given optimizer state (continued training).
    optimizer_resumed: bool = False
    #: Why ``threads`` (the count in force at the end) was chosen, with the times measured.
    threads_reason: str = ""


@dataclass(slots=True)
class Finished:
    """The run is over (always the last event)."""

    result: TrainResult


Event = EpochStarted | BatchEnded | EpochEnded | ThreadsChosen | Stopped | Finished
