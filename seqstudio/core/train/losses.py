"""Loss functions, and whether a model outputs probabilities or logits."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.train.config import LOSSES, TrainConfig

#: Probabilities are clipped to [eps, 1 - eps] before a log, as Keras does.
_PROB_EPS = 1e-7


def outputs_are_probabilities(model: nn.Module, config: TrainConfig | None) -> bool:
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


def pinball_loss(output: torch.Tensor, target: torch.Tensor, quantiles, reduction: str = "mean"
                 ) -> torch.Tensor:
    """The quantile (pinball) loss, averaged over the quantiles, the outputs and the samples.

    ``output`` is ``(N, n_outputs x Q)`` (quantile-minor, see :mod:`seqstudio.core.model.quantiles`),
    ``target`` ``(N, n_outputs)``. For quantile ``tau`` and error ``e = y - q`` the loss is
    ``max(tau e, (tau - 1) e)``: minimised by the ``tau``-quantile of ``y``. ``reduction="none"``:
    one mean per sample.

    >>> out = torch.tensor([[0.0, 1.0, 2.0]]); y = torch.tensor([[1.5]])
    >>> round(float(pinball_loss(out, y, (0.1, 0.5, 0.9))), 4)   # (0.15 + 0.25 + 0.05) / 3
    0.15
    """
    tau = torch.as_tensor(quantiles, dtype=output.dtype, device=output.device)
    error = target.reshape(len(target), -1, 1) - output.reshape(len(output), -1, len(tau))
    values = torch.maximum(tau * error, (tau - 1) * error)
    return values.reshape(len(values), -1).mean(dim=1) if reduction == "none" else values.mean()


def make_loss(name: str, probabilities: bool, reduction: str = "mean", quantiles=None
              ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A batch-mean loss ``f(output, target)`` (targets: floats, or class ids for cross_entropy).

    ``reduction="none"`` gives one loss per sample instead (the mean over its outputs), whose
    mean over the batch is the batch-mean loss: data-parallel runs weigh the samples with it.
    ``quantiles`` (``TrainConfig.quantiles()``) are the pinball loss's.
    """
    if name == "pinball":
        if not quantiles:
            raise TrainingError("the pinball loss needs quantiles", where="training setting 'loss'",
                                fix="set quantile_intervals, e.g. 80,95")
        return lambda output, target: pinball_loss(output, target, quantiles, reduction)
    if reduction == "none":
        return _per_sample_loss(name, probabilities)
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


def _per_sample_loss(name: str, probabilities: bool) -> Callable[[torch.Tensor, torch.Tensor],
                                                                   torch.Tensor]:
    if name not in LOSSES:
        raise TrainingError(f"unknown loss {name!r}", fix=f"use one of {', '.join(LOSSES)}")

    def per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if name == "mse":
            values = F.mse_loss(output, target, reduction="none")
        elif name == "mae":
            values = F.l1_loss(output, target, reduction="none")
        elif name == "huber":
            values = F.huber_loss(output, target, reduction="none")
        elif name == "bce":
            values = (F.binary_cross_entropy_with_logits(output, target, reduction="none")
                      if not probabilities else F.binary_cross_entropy(
                          output.clamp(_PROB_EPS, 1 - _PROB_EPS), target, reduction="none"))
        else:
            values = (F.cross_entropy(output, target, reduction="none") if not probabilities
                      else F.nll_loss(torch.log(output.clamp_min(_PROB_EPS)), target, reduction="none"))
        return values.reshape(len(values), -1).mean(dim=1)

    return per_sample


def check_loss_fits_task(loss: str, data: PreparedData) -> None:
    if loss == "bce" and data.task != "binary":
        raise TrainingError(f"loss 'bce' needs a binary task, but the data is {data.task}",
                            where="training setting 'loss'",
                            fix="use 'cross_entropy' for several classes, 'mse' for regression")
    if loss == "cross_entropy" and data.task != "multiclass":
        raise TrainingError(f"loss 'cross_entropy' needs a multiclass task, but the data is {data.task}",
                            where="training setting 'loss'",
                            fix="use 'bce' for two classes, 'mse' for regression")
    if loss == "pinball" and data.task != "regression":
        raise TrainingError(f"loss 'pinball' (quantiles of values) needs a regression task, but the "
                            f"data is {data.task}", where="training setting 'loss'",
                            fix="use 'bce' for two classes, 'cross_entropy' for several")
