"""The training engine: a generator of events that the CLI and the window both drive.

:func:`train` trains a model in place on a :class:`~seqstudio.core.data.prepared.PreparedData`
and yields typed events (:class:`EpochStarted`, :class:`BatchEnded`,
:class:`EpochEnded`, :class:`Stopped`, :class:`Finished`). Whoever iterates it
decides what to do with them: the CLI draws a progress bar, the window's worker
thread forwards them as Qt signals. A :class:`TrainControl` lets another thread
stop or pause the run between batches.

Guarantees
----------
- Every run ends with exactly one :class:`Finished` (after one :class:`Stopped`
  when the run did not complete all its epochs), unless the caller closes the
  generator early.
- A NaN or infinite loss stops the run (``Stopped(reason="nan")``) and the model
  gets back the weights it had at the end of the last finite epoch.
- Any exception inside a run (out of memory, a plugin cell raising) becomes
  ``Stopped(reason="error")`` and the last good weights are kept.
- The model ends on the device it started on. Its weights are the best epoch's
  (lowest validation loss) when ``restore_best`` is set and there is a
  validation split, else the last good ones.
- Same config and seed on the CPU give identical losses.

Speed
-----
The batch-size-1 lecture recipe is dominated by per-step dispatch overhead, not
arithmetic, so the loop avoids per-step work a hand-written loop usually does:
the data is moved to the device once and shuffled once per epoch into
contiguous tensors (a batch is then a view, not a gather), optimizers use their
fused (single-kernel) step where torch has one, evaluation runs under
``torch.inference_mode``. Thread count and oneDNN are chosen by model size
(measured on 2 cores: tiny models run fastest on one thread with oneDNN off;
Embedding-LSTM(128) wants every thread and oneDNN) and restored afterwards.
Those are process-wide torch settings, held for the life of the run.

>>> import torch
>>> from torch import nn
>>> from seqstudio.core.data.prepared import PreparedData
>>> x = torch.linspace(0, 1, 32).reshape(32, 1, 1); y = 2 * x[:, 0]
>>> empty = torch.zeros(0, 1, 1), torch.zeros(0, 1)
>>> data = PreparedData("regression", x, y, *empty, *empty, n_outputs=1)
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(1, 1))
>>> events = list(train(model, data, TrainConfig(epochs=3, batch_size=8)))
>>> [type(e).__name__ for e in events][:3]
['EpochStarted', 'BatchEnded', 'BatchEnded']
>>> events[-1].result.epochs_run
3
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.train import metrics as M

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "TrainConfig",
    "TrainControl",
    "EpochStarted",
    "BatchEnded",
    "EpochEnded",
    "Stopped",
    "Finished",
    "TrainResult",
    "Event",
    "train",
    "evaluate",
    "predict",
    "resolve_device",
    "default_loss",
]

#: Loss names, with the Keras spellings users type accepted as aliases.
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
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

#: Probabilities are clipped to [eps, 1 - eps] before a log, as Keras does.
_PROB_EPS = 1e-7

#: Below this many multiply-adds per step (dense parameters x batch size), the
#: step is dispatch-bound: one thread and no oneDNN is fastest (see module doc).
_SMALL_STEP_WORK = 1_000_000


# --------------------------------------------------------------------------- config
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
        if not is_int(self.seed) or self.seed < 0:
            raise bad("seed", "a non-negative integer")
        if not isinstance(self.device, str) or not _DEVICE_PATTERN.match(self.device.lower()):
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


# --------------------------------------------------------------------------- control
class TrainControl:
    """Thread-safe stop / pause for a running :func:`train`, checked between batches.

    ``pause()`` makes the training thread block (on a ``threading.Event``,
    no busy loop) before its next batch until ``resume()`` or ``stop()``.

    Examples
    --------
    >>> control = TrainControl()
    >>> control.pause(); control.paused
    True
    >>> control.stop(); control.stopped, control.paused
    (True, False)
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()

    def reset(self) -> None:
        """Clear stop and pause, for a new run."""
        self._stop.clear()
        self._running.set()

    def stop(self) -> None:
        """Ask the run to stop before its next batch (also wakes a paused run)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Ask the run to wait before its next batch."""
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting (0.0 when not paused)."""
        if self._running.is_set():
            return 0.0
        started = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - started


# --------------------------------------------------------------------------- events
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
    """The run stopped before its last epoch: ``"user"``, ``"nan"``, ``"early_stopping"`` or ``"error"``."""

    reason: Literal["user", "nan", "early_stopping", "error"]
    message: str
    epoch: int


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
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    #: The optimizer's state after the last epoch (see :func:`optimizer_state_dict`), for
    #: continuing this run; None when the final weights are not the last epoch's (best
    #: epoch restored, NaN or error reverted), since its moments would not fit them.
    optimizer_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    #: Whether the run started from a given optimizer state (continued training).
    optimizer_resumed: bool = False


@dataclass(slots=True)
class Finished:
    """The run is over (always the last event)."""

    result: TrainResult


Event = EpochStarted | BatchEnded | EpochEnded | Stopped | Finished


# --------------------------------------------------------------------------- devices
def resolve_device(name: str) -> torch.device:
    """Turn a device name into a usable :class:`torch.device`.

    ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. An explicit device
    that is not available raises :class:`TrainingError`.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    key = str(name).lower()
    if not _DEVICE_PATTERN.match(key):
        raise TrainingError(f"unknown device {name!r}", fix="use auto, cpu, cuda, cuda:N or mps")
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if key.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name!r} was asked for but CUDA is not available here",
                                fix="use device 'auto' or 'cpu'")
        index = int(key.split(":")[1]) if ":" in key else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s)",
                                fix="use 'cuda' or a lower index")
    if key == "mps" and not _mps_available():
        raise TrainingError("device 'mps' was asked for but Apple MPS is not available here",
                            fix="use device 'auto' or 'cpu'")
    return torch.device(key)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


# --------------------------------------------------------------------------- losses
def _outputs_are_probabilities(model: nn.Module, config: TrainConfig | None) -> bool:
    if config is not None and config.from_logits is not None:
        return not config.from_logits
    declared = getattr(model, "output_activation", None)
    if isinstance(declared, str):
        return declared.lower() in ("sigmoid", "softmax")
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    if leaves:
        last = leaves[-1]
        if isinstance(last, nn.Sigmoid | nn.Softmax):
            return True
        activation = getattr(last, "activation", None)
        if isinstance(activation, str):
            return activation.lower() in ("sigmoid", "softmax")
        if isinstance(last, nn.Linear | nn.Identity | nn.Conv1d | nn.RNNBase):
            return False  # a linear output: scores (logits), not probabilities
    return True  # Keras's convention: Dense(1, activation="sigmoid") feeds binary_crossentropy


def _make_loss(name: str, probabilities: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A batch-mean loss ``f(output, target)`` (targets: floats, or class ids for cross_entropy)."""
    if name == "mse":
        return F.mse_loss
    if name == "mae":
        return F.l1_loss
    if name == "huber":
        return F.huber_loss
    if name == "bce":
        if not probabilities:
            return F.binary_cross_entropy_with_logits

        def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy(output.clamp(_PROB_EPS, 1 - _PROB_EPS), target)

        return bce
    if name == "cross_entropy":
        if not probabilities:
            return F.cross_entropy

        def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.nll_loss(torch.log(output.clamp_min(_PROB_EPS)), target)

        return cross_entropy
    raise TrainingError(f"unknown loss {name!r}", fix=f"use one of {', '.join(LOSSES)}")


def _check_loss_fits_task(loss: str, data: PreparedData) -> None:
    if loss == "bce" and data.task != "binary":
        raise TrainingError(f"loss 'bce' needs a binary task, but the data is {data.task}",
                            where="training setting 'loss'",
                            fix="use 'cross_entropy' for several classes, 'mse' for regression")
    if loss == "cross_entropy" and data.task != "multiclass":
        raise TrainingError(f"loss 'cross_entropy' needs a multiclass task, but the data is {data.task}",
                            where="training setting 'loss'",
                            fix="use 'bce' for two classes, 'mse' for regression")


# --------------------------------------------------------------------------- optimizers
def _make_optimizer(params: list[nn.Parameter], config: TrainConfig,
                    device: torch.device) -> torch.optim.Optimizer:
    name, lr, wd = config.optimizer, config.learning_rate, config.weight_decay
    if name == "rmsprop":  # no fused kernel in torch; foreach batches the per-tensor ops
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, foreach=True)
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": wd}
    if name == "sgd":
        kwargs["momentum"] = config.momentum
    try:
        # One fused kernel per step instead of ~10 small ops per tensor: on the
        # batch-1 recipe this is the largest single saving (see bench/README.md).
        return kinds[name](params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # a device or dtype without the fused kernel
        return kinds[name](params, foreach=device.type != "cpu", **kwargs)


# --------------------------------------------------------------------------- settings
def _dense_parameter_count(model: nn.Module) -> int:
    """Parameters that cost arithmetic per sample (an embedding lookup costs almost none)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Embedding | nn.EmbeddingBag):
            continue
        total += sum(p.numel() for p in module.parameters(recurse=False))
    return total


def _choose_cpu_settings(model: nn.Module, config: TrainConfig) -> tuple[int, bool]:
    """(threads, oneDNN on) for a CPU run, from the work per optimizer step."""
    small = _dense_parameter_count(model) * config.batch_size < _SMALL_STEP_WORK
    if config.threads is not None:
        return config.threads, not small
    return (1, False) if small else (torch.get_num_threads(), True)


class _TorchSettings:
    """Process-wide torch settings a run changes, captured to restore them after."""

    def __init__(self) -> None:
        self.threads = torch.get_num_threads()
        self.onednn = torch.backends.mkldnn.enabled

    def restore(self) -> None:
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.backends.mkldnn.enabled = self.onednn


# --------------------------------------------------------------------------- train
def train(model: nn.Module, data: PreparedData, config: TrainConfig,
          control: TrainControl | None = None, *, start_epoch: int = 0,
          optimizer_state: dict[str, torch.Tensor] | None = None) -> Iterator[Event]:
    """Train ``model`` in place on ``data``; a generator of events.

    Settings that cannot work (a loss that does not fit the task, a model whose
    output shape does not match the targets, an unavailable device, no training
    samples) raise :class:`TrainingError` right here, before the generator is
    returned. Anything failing later becomes a ``Stopped(reason="error")`` event.

    Parameters
    ----------
    model
        Any ``nn.Module`` mapping a batch of ``x`` to outputs shaped like ``y``
        (``(B, n_classes)`` for multiclass ids).
    data
        The prepared splits; the validation split (or ``validation_fraction``
        of the training split) gives the validation loss.
    config
        How to train.
    control
        Stop / pause from another thread; None makes a private one.
    start_epoch
        Epochs already trained (continue training): epochs are numbered from
        ``start_epoch + 1`` to ``start_epoch + config.epochs``.
    optimizer_state
        ``TrainResult.optimizer_state`` of the run this one continues: Adam's
        moments (or SGD's momentum) go on where they were, as in Keras's
        repeated ``fit()``. Ignored, and the optimizer starts fresh, when it is
        another optimizer's or does not fit the model's parameters.

    Yields
    ------
    EpochStarted, BatchEnded, EpochEnded, Stopped, Finished

    Examples
    --------
    >>> control = TrainControl()
    >>> for event in train(model, data, TrainConfig(epochs=50), control):  # doctest: +SKIP
    ...     if isinstance(event, EpochEnded) and event.train_loss < 1e-3:
    ...         control.stop()
    """
    if not isinstance(config, TrainConfig):
        raise TrainingError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(start_epoch, int) or start_epoch < 0:
        raise TrainingError(f"start_epoch must be a non-negative integer, got {start_epoch!r}")
    if len(data.x_train) == 0:
        raise TrainingError("the training split has no samples",
                            fix="use more data or a larger training fraction")
    _check_loss_fits_task(config.loss, data)
    device = resolve_device(config.device)
    x_train, y_train, x_val, y_val = _train_val_tensors(data, config)
    run = _Run(model, data, config, control or TrainControl(), start_epoch, device,
               x_train, y_train, x_val, y_val, optimizer_state)
    run.check_output_shape()
    return run.events()


def _train_val_tensors(data: PreparedData, config: TrainConfig):
    x_train, y_train = data.x_train, data.y_train
    x_val, y_val = data.x_val, data.y_val
    if len(x_val) == 0 and config.validation_fraction > 0:
        n = len(x_train)
        n_val = max(1, round(n * config.validation_fraction))
        if n_val >= n:
            raise TrainingError(
                f"validation_fraction {config.validation_fraction} leaves no training samples "
                f"out of {n}", where="training setting 'validation_fraction'",
                fix="lower it or use more data")
        # Chronological: the last part is held out, as a forecast would be judged.
        x_train, y_train, x_val, y_val = x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:]
    return x_train, y_train, x_val, y_val


def optimizer_state_dict(optimizer: torch.optim.Optimizer, name: str) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat CPU tensors: ``"<name>.<param index>.<key>"``.

    Flat and tensors only, so that it goes into a ``.safetensors`` file as it is
    (e.g. ``adam.0.exp_avg``, ``adam.0.step``). The hyperparameters are not
    kept: a continued run takes them from its own config.
    """
    flat = {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                flat[f"{name}.{index}.{key}"] = value.detach().cpu().clone()
    return flat


def load_optimizer_state(optimizer: torch.optim.Optimizer, flat: dict[str, torch.Tensor],
                         name: str) -> bool:
    """Load :func:`optimizer_state_dict`'s output into a fresh ``optimizer`` named ``name``.

    Returns False (and changes nothing) when the state is another optimizer's
    or its tensors do not fit the parameters.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        prefix, _, rest = key.partition(".")
        index, _, field_name = rest.partition(".")
        if prefix != name or not index.isdigit() or not field_name:
            return False
        i = int(index)
        if i >= len(params) or (value.dim() > 0 and tuple(value.shape) != tuple(params[i].shape)):
            return False
        state.setdefault(i, {})[field_name] = value
    if not state:
        return False
    full = optimizer.state_dict()
    full["state"] = state
    optimizer.load_state_dict(full)
    return True


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Run:
    """State of one call to :func:`train` (the generator is :meth:`events`)."""

    def __init__(self, model, data, config, control, start_epoch, device, x_train, y_train, x_val, y_val,
                 optimizer_state=None):
        self.model = model
        self.optimizer_state_in = optimizer_state
        self.optimizer: torch.optim.Optimizer | None = None
        self.optimizer_resumed = False
        self.data = data
        self.config = config
        self.control = control
        self.start_epoch = start_epoch
        self.device = device
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.has_val = len(x_val) > 0
        self._epoch = start_epoch  # the epoch under way, for Stopped events
        self.probabilities = _outputs_are_probabilities(model, config)
        self.loss_fn = _make_loss(config.loss, self.probabilities)

    def check_output_shape(self) -> None:
        """One forward pass on two samples, to reject a model/target mismatch before training."""
        x, y = self.x_train[:2], self.y_train[:2]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.inference_mode():
                out = self.model(x.to(_model_device(self.model)))
        except Exception as exc:
            raise TrainingError(f"the model cannot run on this data: {type(exc).__name__}: {exc}",
                                fix="check the model's input layer against the data's input shape "
                                    f"{tuple(self.x_train.shape[1:])}") from exc
        finally:
            self.model.train(was_training)
        if self.config.loss == "cross_entropy":
            ok = out.dim() == 2 and y.dim() == 1 and out.shape[1] == self.data.n_outputs
            expected = f"(batch, {self.data.n_outputs}) class scores"
        else:
            ok = tuple(out.shape) == tuple(y.shape)
            expected = f"(batch, {', '.join(str(s) for s in y.shape[1:])})"
        if not ok:
            raise TrainingError(
                f"the model outputs shape {tuple(out.shape)} for {len(x)} samples but the loss "
                f"'{self.config.loss}' needs {expected}",
                fix=f"make the last layer output {self.data.n_outputs} value(s) per sample")
        if self.config.loss in ("bce", "cross_entropy") and self.probabilities:
            if bool(((out < 0) | (out > 1)).any()):
                raise TrainingError(
                    f"the loss '{self.config.loss}' expects probabilities but the model outputs "
                    f"values outside [0, 1] (e.g. {out.flatten()[0].item():.4g})",
                    fix="end the model with a sigmoid (binary) or softmax (classes) activation, "
                        "or set from_logits=True")

    # -- the generator -----------------------------------------------------------
    def events(self) -> Iterator[Event]:
        config, model = self.config, self.model
        started = time.perf_counter()
        settings = _TorchSettings()
        original_device = _model_device(model)
        self.history: list[dict[str, Any]] = []
        self.last_good: dict[str, torch.Tensor] | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: int | None = None
        stopped: Stopped | None = None
        threads = settings.threads
        try:
            if self.device.type == "cpu":
                threads, onednn = _choose_cpu_settings(model, config)
                torch.set_num_threads(threads)
                torch.backends.mkldnn.enabled = onednn
            try:
                model.to(self.device)
                self.last_good = _snapshot(model)
                stopped = yield from self._epochs()
            except Exception as exc:  # out of memory, a plugin cell raising...
                message = f"{type(exc).__name__}: {exc}".strip()
                stopped = Stopped("error", message, self._epoch)
                if self.last_good is not None:
                    model.load_state_dict(self.last_good)
            except KeyboardInterrupt:  # Ctrl+C in the CLI lands here: stop like the user asked
                stopped = Stopped("user", "interrupted", self._epoch)
            if stopped is not None:
                yield stopped
            optimizer_state = None
            if stopped is None or stopped.reason in ("user", "early_stopping"):
                optimizer_state = (optimizer_state_dict(self.optimizer, config.optimizer)
                                   if self.optimizer is not None else None)
            if config.restore_best and self.has_val and self.best_state is not None:
                last_epoch = self.history[-1]["epoch"] if self.history else None
                if stopped is not None or self.best_epoch != last_epoch:
                    optimizer_state = None  # its moments belong to the weights being replaced
                model.load_state_dict(self.best_state)
            final_metrics = self._final_metrics()
        finally:
            # Also runs when the caller closes the generator: never leave the
            # model on another device or the process with our thread settings.
            model.to(original_device)
            settings.restore()
        result = TrainResult(
            history=self.history,
            epochs_run=len(self.history),
            best_epoch=self.best_epoch,
            stopped_reason=stopped.reason if stopped else None,
            stopped_message=stopped.message if stopped else "",
            seconds=time.perf_counter() - started,
            device=str(self.device),
            threads=threads,
            metrics=final_metrics,
            best_state=({k: v.cpu() for k, v in self.best_state.items()}
                        if config.keep_best_checkpoint and self.best_state is not None else None),
            optimizer_state=optimizer_state,
            optimizer_resumed=self.optimizer_resumed,
        )
        yield Finished(result)

    def _epochs(self) -> Iterator[Event]:
        """Yield the epochs' events; return the Stopped event (or None when all epochs ran)."""
        config, model, control, device = self.config, self.model, self.control, self.device
        loss_fn = self.loss_fn
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = _make_optimizer(params, config, device)
        self.optimizer = optimizer
        if self.optimizer_state_in:
            self.optimizer_resumed = load_optimizer_state(optimizer, self.optimizer_state_in,
                                                          config.optimizer)
        clip = config.grad_clip
        torch.manual_seed(config.seed + self.start_epoch)  # dropout masks
        shuffler = torch.Generator().manual_seed(config.seed + self.start_epoch)
        x_all = self.x_train.to(device)
        y_all = self.y_train.to(device)
        x_val = self.x_val.to(device)
        y_val = self.y_val.to(device)
        n = len(x_all)
        bs = config.batch_size
        batches = -(-n // bs)
        last_epoch = self.start_epoch + config.epochs
        classification = self.data.task != "regression"
        patience, since_best = config.early_stopping_patience, 0
        best_score = math.inf
        global_step = 0
        self._epoch = self.start_epoch
        for epoch in range(self.start_epoch + 1, last_epoch + 1):
            self._epoch = epoch
            if control.stopped:
                return Stopped("user", "stopped by the user", epoch - 1)
            yield EpochStarted(epoch, last_epoch, batches)
            epoch_started = time.perf_counter()
            paused_seconds = 0.0
            model.train()
            if config.shuffle:
                order = torch.randperm(n, generator=shuffler).to(device)
                xs, ys = x_all[order], y_all[order]
            else:
                xs, ys = x_all, y_all
            loss_sum = 0.0
            correct = torch.zeros((), dtype=torch.int64, device=device) if classification else None
            for step in range(batches):
                if control.stopped:
                    return Stopped("user", f"stopped by the user at batch {step} of epoch {epoch}", epoch)
                paused_seconds += control.wait_while_paused()
                if control.stopped:
                    return Stopped("user", f"stopped by the user at batch {step} of epoch {epoch}", epoch)
                start = step * bs
                xb, yb = xs[start:start + bs], ys[start:start + bs]
                output = model(xb)
                loss = loss_fn(output, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    model.load_state_dict(self.last_good)
                    return Stopped(
                        "nan", f"the loss became {loss_value} at batch {step + 1} of epoch {epoch}; "
                        f"the weights of epoch {epoch - 1} were kept (try a lower learning rate or "
                        "gradient clipping)", epoch)
                if correct is not None:
                    correct += self._correct(output.detach(), yb)
                loss_sum += loss_value * len(xb)
                global_step += 1
                yield BatchEnded(epoch, step + 1, batches, loss_value, global_step)
            train_loss = loss_sum / n
            epoch_metrics: dict[str, float] = {}
            if correct is not None:
                epoch_metrics["accuracy"] = correct.item() / n
            val_loss = None
            if self.has_val:
                val_loss, val_correct = self._validate(x_val, y_val)
                if not math.isfinite(val_loss):
                    model.load_state_dict(self.last_good)
                    return Stopped("nan", f"the validation loss became {val_loss} at epoch {epoch}; "
                                   f"the weights of epoch {epoch - 1} were kept", epoch)
                if val_correct is not None:
                    epoch_metrics["val_accuracy"] = val_correct
            seconds = time.perf_counter() - epoch_started - paused_seconds
            self.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                 "seconds": seconds, **epoch_metrics})
            self.last_good = _snapshot(model)
            score = val_loss if val_loss is not None else train_loss
            if score < best_score:
                best_score, self.best_epoch, since_best = score, epoch, 0
                self.best_state = self.last_good
            else:
                since_best += 1
            yield EpochEnded(epoch, last_epoch, train_loss, val_loss, epoch_metrics, seconds)
            if patience and since_best >= patience and epoch < last_epoch:
                watched = "validation" if self.has_val else "training"
                return Stopped("early_stopping",
                               f"the {watched} loss did not improve for {patience} epochs; "
                               f"best epoch {self.best_epoch}", epoch)
        return None

    def _correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "cross_entropy" or target.dim() == 1:
            return (output.argmax(dim=-1) == target).sum()
        threshold = 0.5 if self.probabilities else 0.0
        return ((output >= threshold) == (target >= 0.5)).sum()

    def _validate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
        model = self.model
        model.eval()
        total, correct = 0.0, 0
        classification = self.data.task != "regression"
        step = max(self.config.batch_size, 256)
        with torch.inference_mode():
            for start in range(0, len(x), step):
                xb, yb = x[start:start + step], y[start:start + step]
                out = model(xb)
                total += self.loss_fn(out, yb).item() * len(xb)
                if classification:
                    correct += int(self._correct(out, yb))
        model.train()
        return total / len(x), (correct / len(x) if classification else None)

    def _final_metrics(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        for split in ("train", "val", "test"):
            x, _ = self.data.split(split)
            if len(x) == 0:
                continue
            try:
                results[split] = evaluate(self.model, self.data, split, config=self.config)
            except Exception as exc:  # a metric failing must not lose the trained model
                results[split] = {"error": f"{type(exc).__name__}: {exc}"}
        return results


# --------------------------------------------------------------------------- inference
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256,
            device: torch.device | str | None = None) -> np.ndarray:
    """The model's outputs for ``x`` as a numpy array, in evaluation mode.

    Runs under ``torch.inference_mode`` in batches of ``batch_size``, on
    ``device`` (default: where the model is). The model's training flag and
    device are restored afterwards, so this is safe between training batches.

    Examples
    --------
    >>> model = nn.Linear(2, 1)
    >>> predict(model, torch.zeros(5, 2)).shape
    (5, 1)
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise TrainingError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = torch.as_tensor(x)
    home = _model_device(model)
    weights_dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if x.is_floating_point() and weights_dtype is not None and x.dtype != weights_dtype:
        x = x.to(weights_dtype)  # e.g. a float64 numpy window fed to a float32 model
    target = resolve_device(device) if isinstance(device, str) else (device or home)
    was_training = model.training
    if target != home:
        model.to(target)
    try:
        model.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                outputs.append(model(x[start:start + batch_size].to(target)).float().cpu())
        if not outputs:
            with torch.inference_mode():
                shape = model(x[:1].to(target)).shape[1:] if len(x.shape) > 1 else ()
            return np.zeros((0, *shape), dtype=np.float32)
        return torch.cat(outputs).numpy()
    finally:
        model.train(was_training)
        if target != home:
            model.to(home)


def evaluate(model: nn.Module, data: PreparedData, split: str = "test", *,
             config: TrainConfig | None = None) -> dict[str, Any]:
    """Loss and task metrics of ``model`` on one split.

    Regression: ``loss`` (in the scaled units the model trains on) and
    ``rmse``, ``mae``, ``mape`` in original units (``data.actual(split)`` when
    the data has it, else ``data.to_original(y, split)``), plus
    ``"baselines": {"naive": {"rmse", "mae", "mape"}, "seasonal_naive": ...}``
    when the data offers ``baselines(split)``, so a user sees whether the model
    beats persistence.

    Classification: ``loss``, ``accuracy``, ``precision``, ``recall``, ``f1``
    (binary: of the positive class; multiclass: macro averages),
    ``confusion_matrix`` (list of lists, rows = true labels) and, for binary
    tasks, ``roc_auc``.

    Examples
    --------
    >>> x = torch.linspace(0, 1, 8).reshape(8, 1); y = 3 * x
    >>> empty = torch.zeros(0, 1), torch.zeros(0, 1)
    >>> data = PreparedData("regression", x, y, *empty, x, y, n_outputs=1)
    >>> model = nn.Linear(1, 1)
    >>> with torch.no_grad(): _ = model.weight.fill_(3.0), model.bias.zero_()
    >>> evaluate(model, data, "test")["rmse"]
    0.0
    """
    if split not in ("train", "val", "test"):
        raise TrainingError(f"unknown split {split!r}", fix="use 'train', 'val' or 'test'")
    x, y = data.split(split)  # type: ignore[arg-type]
    if len(x) == 0:
        raise TrainingError(f"the {split} split has no samples", fix="evaluate another split")
    loss_name = config.loss if config is not None else default_loss(data.task)
    probabilities = _outputs_are_probabilities(model, config)
    output = torch.from_numpy(predict(model, x))
    loss_fn = _make_loss(loss_name, probabilities)
    loss = float(loss_fn(output, y.to(output.device) if loss_name == "cross_entropy" else y.float()))
    result: dict[str, Any] = {"loss": loss}
    if data.task == "regression":
        predicted = data.to_original(output.numpy(), split)  # type: ignore[arg-type]
        actual = (np.asarray(data.actual(split), dtype=np.float64) if hasattr(data, "actual")
                  else data.to_original(y, split))  # type: ignore[arg-type]
        result.update(_regression_metrics(actual, predicted))
        if hasattr(data, "baselines"):
            baselines = data.baselines(split)
            result["baselines"] = {name: _regression_metrics(actual, np.asarray(values, dtype=np.float64))
                                   for name, values in baselines.items()}
        return result
    out = output.numpy()
    if out.ndim == 2 and out.shape[1] >= 2:  # one score per class
        predicted_ids = out.argmax(axis=1)
        positive_scores = out[:, 1]
        n_classes = out.shape[1]
    else:
        scores = out.reshape(-1)
        if not probabilities:
            scores = 1.0 / (1.0 + np.exp(-scores))
        predicted_ids = (scores >= 0.5).astype(np.int64)
        positive_scores = scores
        n_classes = 2
    true_ids = y.detach().cpu().numpy().reshape(-1)
    true_ids = (true_ids >= 0.5).astype(np.int64) if data.task == "binary" and true_ids.dtype.kind == "f" \
        else true_ids.astype(np.int64)
    binary = n_classes == 2
    precision, recall, f1 = M.precision_recall_f1(true_ids, predicted_ids,
                                                  average="binary" if binary else "macro",
                                                  n_classes=n_classes)
    result.update({
        "accuracy": M.accuracy(true_ids, predicted_ids),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion_matrix": M.confusion_matrix(true_ids, predicted_ids, n_classes).tolist(),
    })
    if binary:
        result["roc_auc"] = M.roc_auc(true_ids, positive_scores)
    return result


def _regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"rmse": M.rmse(actual, predicted), "mae": M.mae(actual, predicted),
            "mape": M.mape(actual, predicted)}
