"""The messages between a studio and its training process (:mod:`seqstudio.core.train.process`).

Each message is a small frozen dataclass, pickled and length-prefixed on the
child's standard input and output. A failure crosses as the exception itself
(:class:`Failed`, or ``Stopped.error``), so a :class:`~seqstudio.core.errors.SeqStudioError`
raised in the child arrives in the studio as the same class with its ``what``,
``where`` and ``fix``; :func:`portable_error` replaces an exception that pickle
cannot copy by a :class:`TrainingError` that says what it was.

>>> import pickle
>>> from seqstudio.core.errors import DataError
>>> sent = Failed(DataError("no rows", where="a.csv", fix="add rows"), weights=None)
>>> got = pickle.loads(pickle.dumps(sent))
>>> type(got.error).__name__, got.error.where, got.error.fix
('DataError', 'a.csv', 'add rows')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from seqstudio.core import pipes
from seqstudio.core.errors import TrainingError
from seqstudio.core.train.events import BatchEnded, Event, Stopped

Weights = dict[str, Any]


# --------------------------------------------------------------------------- studio -> child
@dataclass(frozen=True, slots=True)
class Control:
    """Stop, pause or resume the run under way, or end the child."""

    what: Literal["stop", "pause", "resume", "quit"]


@dataclass(frozen=True, slots=True)
class RunJob:
    """Train: ``payload`` is the pickled import path, file-only modules and job.

    ``start`` is how the run begins when the user already asked before it was
    sent: stopped, paused, or None to run.
    """

    payload: bytes
    start: Literal["stop", "pause"] | None = None


# --------------------------------------------------------------------------- child -> studio
@dataclass(frozen=True, slots=True)
class Ready:
    """The child has imported torch and waits for a job."""


@dataclass(frozen=True, slots=True)
class Batches:
    """Consecutive :class:`BatchEnded` events of one epoch, sent as one chunk of losses."""

    epoch: int
    first_step: int
    batches: int
    first_global_step: int
    losses: tuple[float, ...]

    def events(self) -> Iterator[BatchEnded]:
        for i, loss in enumerate(self.losses):
            yield BatchEnded(self.epoch, self.first_step + i, self.batches, loss,
                             self.first_global_step + i)


@dataclass(frozen=True, slots=True)
class EventMessage:
    """Any other event of the run, with the model's weights when they were due.

    ``keep_only``: the weights are sent for safety (a crash loses little), not
    because a forecast snapshot is due.
    """

    event: Event
    weights: Weights | None = None
    keep_only: bool = False


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The job cannot run in the child (e.g. a plugin class it cannot import): train in the studio."""

    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """``train()`` raised (before its first event, or past its own error handling)."""

    error: BaseException
    weights: Weights | None = None


ToChild = Control | RunJob
FromChild = Ready | Batches | EventMessage | Unavailable | Failed


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` itself when pickle can copy it (and read it back), else a :class:`TrainingError` naming it.

    >>> class Local(Exception):
    ...     def __reduce__(self): raise TypeError("no")
    >>> type(portable_error(Local("boom"))).__name__
    'TrainingError'
    """
    return pipes.portable_error(exc, lambda text, detail: TrainingError(f"{text}\n\n{detail}"))


def portable_event(event: Event) -> Event:
    """The event with a :class:`Stopped` event's ``error`` made portable."""
    if isinstance(event, Stopped) and event.error is not None:
        return replace(event, error=portable_error(event.error))
    return event
