"""How to train: :class:`TrainConfig`, the loss and optimizer names, the usual loss of a task."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqstudio.core.errors import TrainingError
from seqstudio.core.options import OptionSpec, validate_options

LOSSES: tuple[str, ...] = ("mse", "mae", "huber", "pinball", "bce", "cross_entropy")
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
#: The devices a form offers; ``cuda:N`` is accepted too (DEVICE_PATTERN).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

#: The largest seed (the random generators take 32-bit seeds everywhere alike).
SEED_MAX = 2 ** 32 - 1

#: Every setting's declaration: type, default, help, limits and choices. validate() checks
#: against it and the window's Train form is rendered from it, so the two cannot disagree.
SCHEMA: tuple[OptionSpec, ...] = (
    OptionSpec("epochs", "int", 100, "How many passes over the training samples.", minimum=1),
    OptionSpec("batch_size", "int", 32,
               "Samples per optimizer step (the lecture's airline model uses 1).", minimum=1),
    OptionSpec("optimizer", "choice", "adam",
               "The update rule: Adam is a safe default; SGD uses the momentum below.",
               choices=OPTIMIZERS),
    OptionSpec("learning_rate", "float", 1e-3,
               "Step size of the optimizer (Adam's usual value is 0.001).",
               minimum=0.0, min_exclusive=True),
    OptionSpec("momentum", "float", 0.9, "Momentum of SGD (ignored by the other optimizers).",
               minimum=0.0, maximum=1.0, max_exclusive=True),
    OptionSpec("weight_decay", "float", 0.0, "L2 penalty on the weights (0 = none).", minimum=0.0),
    OptionSpec("loss", "choice", "mse",
               "What training minimises: mse/mae/huber for values, pinball for quantiles of values "
               "(prediction intervals), bce for yes/no, cross_entropy for classes.", choices=LOSSES),
    OptionSpec("quantile_intervals", "str", "80,95",
               "With loss pinball: the central intervals (percent) whose quantiles the model outputs "
               "beside the median (80,95: 0.025, 0.1, 0.5, 0.9, 0.975)."),
    OptionSpec("validation_fraction", "float", 0.0,
               "Last part of the training samples held out to watch over-fitting "
               "(used only when the data has no validation split).",
               minimum=0.0, maximum=1.0, max_exclusive=True),
    OptionSpec("shuffle", "bool", True, "Shuffle the training samples every epoch."),
    OptionSpec("seed", "int", 0, "Random seed: the same seed on CPU gives the same losses.",
               minimum=0, maximum=SEED_MAX),
    OptionSpec("device", "str", "auto",
               "Where to train: auto picks a GPU when there is one (also cuda:N).", choices=DEVICES),
    OptionSpec("grad_clip", "float", None,
               "Clip the gradient norm to this value (empty = no clipping).",
               minimum=0.0, min_exclusive=True),
    OptionSpec("early_stopping_patience", "int", 0,
               "Stop after this many epochs without a better validation loss (0 = off).", minimum=0),
    OptionSpec("restore_best", "bool", True, "At the end keep the weights of the best validation epoch."),
    OptionSpec("keep_best_checkpoint", "bool", True, "Keep a copy of the best weights while training."),
    OptionSpec("threads", "int", None, "CPU threads for torch (auto = chosen by model size).",
               minimum=1),
    OptionSpec("from_logits", "choice", None,
               "Whether the model's last layer outputs raw scores rather than probabilities "
               "(auto = read it from the model).", choices=(None, True, False)),
    OptionSpec("bucketing", "bool", False,
               "Text only: batch texts of similar length and pad each batch only to its longest "
               "text, not all to max_len (faster; departs from Keras's fixed-length padding)."),
)

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
        ``"mse"``, ``"mae"``, ``"huber"`` (delta 1), ``"pinball"`` (the mean
        quantile loss over ``quantile_intervals``' quantiles), ``"bce"`` (binary
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
    bucketing
        Text (token ids) only: training batches group texts of similar length and keep
        only the columns their texts use (:mod:`~seqstudio.core.train.buckets`); off
        by default, as Keras pads every text to ``max_len``.
    quantile_intervals
        With ``loss="pinball"``: interval levels in percent, ``"80,95"``; the model outputs
        their quantiles and the median (:mod:`~seqstudio.core.model.quantiles`).
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
    quantile_intervals: str = "80,95"
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
    bucketing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    @staticmethod
    def schema() -> tuple[OptionSpec, ...]:
        """Every setting's declaration (type, default, help, limits, choices): :data:`SCHEMA`.

        >>> {o.name: o.minimum for o in TrainConfig.schema()}["epochs"]
        1
        """
        return SCHEMA

    def validate(self) -> None:
        """Check every field against :meth:`schema`; normalise names (lower case, Keras loss aliases)."""
        for name in ("optimizer", "loss", "device"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, value.lower())
        if isinstance(self.loss, str):
            self.loss = _LOSS_ALIASES.get(self.loss, self.loss)
        for name, value in self.to_dict().items():  # numpy numbers are numbers here
            if isinstance(value, np.integer):
                setattr(self, name, int(value))
            elif isinstance(value, np.floating):
                setattr(self, name, float(value))
        checked = validate_options(SCHEMA, self.to_dict(), owner="the training settings",
                                   error=TrainingError, setting=lambda n: f"training setting '{n}'")
        if not DEVICE_PATTERN.match(checked["device"]):
            raise TrainingError(f"option 'device' must be one of auto, cpu, cuda, cuda:N, mps, "
                                f"got {self.device!r}", where="the training settings",
                                fix="set training setting 'device' to auto, cpu, cuda, cuda:N or mps")
        for name, value in checked.items():
            setattr(self, name, value)
        from seqstudio.core.model.quantiles import interval_levels

        self.quantile_intervals = ",".join(f"{v:g}" for v in interval_levels(self.quantile_intervals))

    def quantiles(self) -> tuple[float, ...] | None:
        """The quantiles a pinball-trained model outputs (ascending, with 0.5), or None for other losses.

        >>> TrainConfig(loss="pinball", quantile_intervals="90").quantiles()
        (0.05, 0.5, 0.95)
        """
        from seqstudio.core.model.quantiles import train_quantiles

        return train_quantiles(self.to_dict())

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
