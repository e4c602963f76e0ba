"""Plain-numpy metrics for forecasts and classifiers.

Everything here takes array-likes (numpy arrays, lists, CPU tensors) and
returns Python floats or numpy arrays, so the CLI, the window and the project
file can use the results directly. No Qt, no torch graph.

Regression: :func:`rmse`, :func:`mae`, :func:`mape` (in whatever units the
arrays are in; the training engine passes original units).

Classification: :func:`accuracy`, :func:`precision_recall_f1` (binary or
macro-averaged multiclass), :func:`confusion_matrix`, :func:`roc_auc`
(binary, rank based, ties averaged).

>>> rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
1.1547005383792515
>>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
[[1, 0], [1, 1]]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "rmse",
    "mae",
    "mape",
    "accuracy",
    "precision_recall_f1",
    "confusion_matrix",
    "roc_auc",
]


def _as_float_pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    a = _to_numpy(actual).astype(np.float64, copy=False)
    p = _to_numpy(predicted).astype(np.float64, copy=False)
    if a.shape != p.shape:
        # A (N, 1) target against (N,) predictions is a common harmless mismatch.
        if a.size == p.size:
            a, p = a.reshape(-1), p.reshape(-1)
        else:
            raise ValueError(f"actual and predicted must have the same shape, got {a.shape} and {p.shape}")
    return a, p


def _to_numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def rmse(actual, predicted) -> float:
    """Root mean squared error over every element.

    Examples
    --------
    >>> rmse([0.0, 0.0], [3.0, 4.0])
    3.5355339059327378
    """
    a, p = _as_float_pair(actual, predicted)
    if a.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((a - p) ** 2)))


def mae(actual, predicted) -> float:
    """Mean absolute error over every element.

    Examples
    --------
    >>> mae([1.0, 2.0], [2.0, 4.0])
    1.5
    """
    a, p = _as_float_pair(actual, predicted)
    if a.size == 0:
        return float("nan")
    return float(np.mean(np.abs(a - p)))


def mape(actual, predicted) -> float:
    """Mean absolute percentage error, in percent.

    Elements whose actual value is exactly zero are skipped, because their
    percentage error is undefined (division by zero); the mean is taken over
    the remaining elements. When every actual value is zero the result is NaN.

    Examples
    --------
    >>> mape([100.0, 200.0], [110.0, 180.0])
    10.0
    >>> mape([0.0, 50.0], [5.0, 40.0])   # the zero actual is skipped
    20.0
    """
    a, p = _as_float_pair(actual, predicted)
    nonzero = a != 0
    if not np.any(nonzero):
        return float("nan")
    return float(np.mean(np.abs((a[nonzero] - p[nonzero]) / a[nonzero])) * 100.0)


def _labels(values) -> np.ndarray:
    arr = _to_numpy(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def accuracy(y_true, y_pred) -> float:
    """Fraction of predicted labels equal to the true labels.

    Examples
    --------
    >>> accuracy([0, 1, 1, 0], [0, 1, 0, 0])
    0.75
    """
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape} and {p.shape}")
    if t.size == 0:
        return float("nan")
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts of (true label, predicted label): rows are true, columns predicted.

    ``n_classes`` defaults to one more than the largest label seen, so labels
    are expected to be ids ``0 .. n_classes - 1``.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2]).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape} and {p.shape}")
    if n_classes is None:
        n_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
        n_classes = max(n_classes, 2)
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values outside")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def precision_recall_f1(
    y_true,
    y_pred,
    *,
    average: Literal["binary", "macro"] = "binary",
    positive_label: int = 1,
    n_classes: int | None = None,
) -> tuple[float, float, float]:
    """Precision, recall and F1.

    ``average="binary"`` scores the ``positive_label`` class only;
    ``average="macro"`` scores every class and takes the unweighted mean (as
    scikit-learn's ``average="macro"``). A ratio with a zero denominator (no
    predicted positives, no actual positives) counts as 0.0, as scikit-learn's
    default does.

    Examples
    --------
    >>> precision_recall_f1([1, 1, 0, 0], [1, 0, 1, 0])
    (0.5, 0.5, 0.5)
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    true_pos = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(actual > 0, true_pos / actual, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    if average == "binary":
        if not 0 <= positive_label < cm.shape[0]:
            raise ValueError(f"positive_label must be a class id below {cm.shape[0]}, got {positive_label}")
        k = positive_label
        return float(precision[k]), float(recall[k]), float(f1[k])
    if average == "macro":
        return float(precision.mean()), float(recall.mean()), float(f1.mean())
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values, and the run each element falls in.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], sorted_values.size]
    run_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    run_of_element = np.repeat(np.arange(starts.size), ends - starts)
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = run_rank[run_of_element]
    return ranks


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve of a binary classifier.

    Computed exactly from ranks (the Mann-Whitney U statistic): the
    probability that a random positive scores higher than a random negative,
    ties counting one half. NaN when only one class is present.

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    t = _labels(y_true)
    s = _to_numpy(scores).astype(np.float64, copy=False).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length, got {t.shape} and {s.shape}")
    positives = t == 1
    n_pos = int(positives.sum())
    n_neg = int(t.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
