"""Inference and metrics: :func:`predict`, :func:`probabilities` and :func:`evaluate`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqstudio.core.data.prepared import SPLITS, ActualTargets, Baselines, PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.model.quantiles import model_quantiles, point_of
from seqstudio.core.train import metrics as M
from seqstudio.core.train.config import TrainConfig, default_loss
from seqstudio.core.train.devices import model_device, resolve_device
from seqstudio.core.train.losses import make_loss, outputs_are_probabilities


def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256,
            device: torch.device | str | None = None, all_quantiles: bool = False) -> np.ndarray:
    """The model's outputs for ``x`` as a numpy array, in evaluation mode.

    A model with quantile outputs (trained with the pinball loss) gives its point
    forecast, the median (:func:`~seqstudio.core.model.quantiles.point_of`), unless
    ``all_quantiles``.

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
    home = model_device(model)
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
        found = torch.cat(outputs).numpy()
        return found if all_quantiles else point_of(found, model_quantiles(model))
    finally:
        model.train(was_training)
        if target != home:
            model.to(home)


def probabilities(output: np.ndarray, model: nn.Module, config: TrainConfig | None = None) -> np.ndarray:
    """A classifier's raw outputs as probabilities: the one place that decides.

    Whether ``output`` already holds probabilities is read exactly as training
    reads it (:func:`~seqstudio.core.train.losses.outputs_are_probabilities`:
    ``config.from_logits`` when set, else the model's last layer). Logits get a
    sigmoid (one column: P(positive)) or a softmax over the classes (several
    columns); probabilities are returned as they are, so a model that ends in a
    softmax never gets a second one.

    Examples
    --------
    >>> logits = nn.Linear(1, 1)                      # a linear last layer: logits
    >>> probabilities(np.array([[0.0]]), logits).tolist()
    [[0.5]]
    >>> probs = nn.Sequential(nn.Linear(1, 2), nn.Softmax(dim=-1))
    >>> probabilities(np.array([[0.25, 0.75]]), probs).tolist()
    [[0.25, 0.75]]
    """
    return to_probabilities(output, are_probabilities=outputs_are_probabilities(model, config))


def to_probabilities(output: np.ndarray, *, are_probabilities: bool) -> np.ndarray:
    """The transform of :func:`probabilities` once it is known whether ``output`` holds logits.

    >>> to_probabilities(np.array([[0.0, 0.0]]), are_probabilities=False).tolist()
    [[0.5, 0.5]]
    """
    out = np.asarray(output, dtype=np.float64)
    if are_probabilities:
        return out
    if out.ndim == 2 and out.shape[1] >= 2:
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-out))


def predict_probabilities(model: nn.Module, x: torch.Tensor, config: TrainConfig | None = None) -> np.ndarray:
    """:func:`predict`, then :func:`probabilities`: what a classifier says about ``x``."""
    return probabilities(predict(model, x), model, config)


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
    if split not in SPLITS:
        raise TrainingError(f"unknown split {split!r}", fix="use 'train', 'val' or 'test'")
    x, y = data.split(split)
    if len(x) == 0:
        raise TrainingError(f"the {split} split has no samples", fix="evaluate another split")
    quantiles = config.quantiles() if config is not None else model_quantiles(model)
    loss_name = config.loss if config is not None else "pinball" if quantiles else default_loss(data.task)
    output = torch.from_numpy(predict(model, x, all_quantiles=True))
    loss_fn = make_loss(loss_name, outputs_are_probabilities(model, config), quantiles=quantiles)
    loss = float(loss_fn(output, y.to(output.device) if loss_name == "cross_entropy" else y.float()))
    result: dict[str, Any] = {"loss": loss}
    if data.task == "regression":  # the point forecast: a quantile model's median
        predicted = data.to_original(point_of(output.numpy(), model_quantiles(model)), split)
        actual = (np.asarray(data.actual(split), dtype=np.float64) if isinstance(data, ActualTargets)
                  else data.to_original(y, split))
        result.update(_regression_metrics(actual, predicted))
        if isinstance(data, Baselines):
            baselines = data.baselines(split)
            result["baselines"] = {name: _regression_metrics(actual, np.asarray(values, dtype=np.float64))
                                   for name, values in baselines.items()}
        return result
    out = probabilities(output.numpy(), model, config)
    if out.ndim == 2 and out.shape[1] >= 2:  # one probability per class
        predicted_ids = out.argmax(axis=1)
        positive_scores = out[:, 1]
        n_classes = out.shape[1]
    else:
        scores = out.reshape(-1)
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
