"""How to train: :class:`TrainConfig`, the loss and optimizer names, the usual loss of a task."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqstudio.core.errors import TrainingError

LOSSES: tuple[str, ...] = ("mse", "mae", "huber", "bce", "cross_entropy")
_LOSS_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "binary_crossentropy": "bce",
    "binary_cross_entropy": "bce",
    "crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
}
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd", "rmsprop")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

#: The largest seed (the random generators take 32-bit seeds everywhere alike).
SEED_MAX = 2 ** 32 - 1


@dataclass
class TrainConfig:
    """How to train: epochs, batches, optimizer, loss, validation, device, stopping.

    Validated on creation: a bad value raises
    :class:`~seqstudio.core.errors.TrainingError` naming the field, what was
    expected and what was given.

    Parameters
    ----------
    epochs, batch_size
        Passes over the training split, and samples per optimizer step.
    optimizer
        ``"adam"``, ``"adamw"``, ``"sgd"`` (with ``momentum``) or ``"rmsprop"``.
    learning_rate, momentum, weight_decay
        Optimizer settings; ``momentum`` is used by SGD only.
    loss
        ``"mse"``, ``"mae"``, ``"huber"`` (delta 1), ``"bce"`` (binary
        cross-entropy) or ``"cross_entropy"`` (class ids as targets). Keras
        names (``"binary_crossentropy"``...) are accepted and normalised.
    validation_fraction
        Used only when the data has no validation split: the last part of the
        training split (chronological, never shuffled) is held out.
    shuffle, seed
        Shuffle the training samples every epoch; the seed fixes shuffling,
        dropout masks and so the losses.
    device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    grad_clip
        Clip the global gradient norm to this value (None = off).
    early_stopping_patience
        Stop after this many epochs without a lower validation loss (training
        loss when there is no validation split); 0 = off.
    restore_best
        End with the weights of the best epoch when there is a validation split.
    keep_best_checkpoint
        Return a copy of the best epoch's weights in ``TrainResult.best_state``.
    threads
        CPU threads; None chooses by model size (see the module docstring).
    from_logits
        Whether ``bce`` / ``cross_entropy`` receive logits. None looks at the
        model: an ``output_activation`` attribute, else a last ``nn.Sigmoid`` /
        ``nn.Softmax`` module or a last module whose ``activation`` attribute
        is ``"sigmoid"`` / ``"softmax"`` means probabilities, a last
        ``nn.Linear`` (or Identity, Conv1d, RNN) means logits; with no clue,
        probabilities (Keras's convention). Probabilities outside [0, 1] on a
        first trial batch are rejected before training.

    Examples
    --------
    >>> cfg = TrainConfig(epochs=5, batch_size=1, loss="mean_squared_error")
    >>> cfg.loss
    'mse'
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    epochs: int = 100
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    loss: str = "mse"
    validation_fraction: float = 0.0
    shuffle: bool = True
    seed: int = 0
    device: str = "auto"
    grad_clip: float | None = None
    early_stopping_patience: int = 0
    restore_best: bool = True
    keep_best_checkpoint: bool = True
    threads: int | None = None
    from_logits: bool | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; normalise names (lower case, Keras loss aliases)."""

        def bad(name: str, expected: str, fix: str | None = None) -> TrainingError:
            return TrainingError(
                f"{name} must be {expected}, got {getattr(self, name)!r}",
                where=f"training setting '{name}'",
                fix=fix,
            )

        def is_int(v: Any) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        def is_real(v: Any) -> bool:
            return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)

        if not is_int(self.epochs) or self.epochs < 1:
            raise bad("epochs", "a positive integer", "e.g. epochs=100")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise bad("batch_size", "a positive integer", "e.g. batch_size=32")
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}")
        self.optimizer = self.optimizer.lower()
        if not isinstance(self.loss, str):
            raise bad("loss", f"one of {', '.join(LOSSES)}")
        loss = _LOSS_ALIASES.get(self.loss.lower(), self.loss.lower())
        if loss not in LOSSES:
            raise bad("loss", f"one of {', '.join(LOSSES)}")
        self.loss = loss
        if not is_real(self.learning_rate) or not 0 < self.learning_rate < math.inf:
            raise bad("learning_rate", "a positive number", "e.g. learning_rate=0.001")
        if not is_real(self.momentum) or not 0 <= self.momentum < 1:
            raise bad("momentum", "a number in [0, 1)")
        if not is_real(self.weight_decay) or not 0 <= self.weight_decay < math.inf:
            raise bad("weight_decay", "a non-negative number")
        if not is_real(self.validation_fraction) or not 0 <= self.validation_fraction < 1:
            raise bad("validation_fraction", "a number in [0, 1)", "e.g. 0.2 holds out the last 20%")
        if not isinstance(self.shuffle, bool):
            raise bad("shuffle", "true or false")
        if not is_int(self.seed) or not 0 <= self.seed <= SEED_MAX:
            raise bad("seed", f"an integer from 0 to {SEED_MAX}", "e.g. seed=0")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device.lower()):
            raise bad("device", "one of auto, cpu, cuda, cuda:N, mps")
        self.device = self.device.lower()
        if self.grad_clip is not None and (not is_real(self.grad_clip) or not 0 < self.grad_clip < math.inf):
            raise bad("grad_clip", "a positive number or None (off)")
        if not is_int(self.early_stopping_patience) or self.early_stopping_patience < 0:
            raise bad("early_stopping_patience", "a non-negative integer (0 = off)")
        for name in ("restore_best", "keep_best_checkpoint"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "true or false")
        if self.threads is not None and (not is_int(self.threads) or self.threads < 1):
            raise bad("threads", "a positive integer or None (choose by model size)")
        if self.from_logits is not None and not isinstance(self.from_logits, bool):
            raise bad("from_logits", "true, false or None (look at the model)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (the project file and the run history store this)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Settings from :meth:`to_dict`; an unknown key raises TrainingError naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(
                f"unknown training setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                fix=f"known settings: {', '.join(sorted(known))}",
            )
        return cls(**values)


def default_loss(task: str) -> str:
    """The usual loss of a task: mse (regression), bce (binary), cross_entropy (multiclass)."""
    return {"regression": "mse", "binary": "bce", "multiclass": "cross_entropy"}.get(task, "mse")
