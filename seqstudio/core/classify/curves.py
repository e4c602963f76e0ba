"""ROC and precision-recall curves, thresholds, probability histograms, confident mistakes.

Plain numpy on array-likes; a sample is predicted positive when its score is
**at least** the threshold (``score >= t``), the convention of scikit-learn's
curves, so the points here are the points scikit-learn draws.

>>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> fpr.tolist(), tpr.tolist()
([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
>>> confusion_at_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.3).tolist()
[[1, 1], [0, 2]]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "roc_curve",
    "precision_recall_curve",
    "average_precision",
    "curve_area",
    "confusion_at_threshold",
    "threshold_metrics",
    "probability_histograms",
    "confident_mistakes",
]


def _binary_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length, got {t.size} and {s.size}")
    if t.size and not np.isin(t, (0, 1)).all():
        raise ValueError("y_true must hold 0 (negative) and 1 (positive) only")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers (a NaN output cannot be ranked)")
    return t.astype(np.int64), s


def _counts_by_threshold(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when every distinct score in turn is the threshold.

    Returns ``(thresholds, tp, fp)`` with thresholds falling; ``tp[i]`` counts
    positives with a score >= ``thresholds[i]``.
    """
    t, s = _binary_inputs(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    # the last index of each run of equal scores: all tied samples switch together
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1] if s.size else np.zeros(0, np.int64)
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    return s[last], tp, fp


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates as the threshold falls through every score.

    Returns ``(fpr, tpr, thresholds)``: the first point is (0, 0) at threshold
    ``+inf`` (nothing predicted positive), the last (1, 1). A rate is NaN when
    its class is absent.

    >>> roc_curve([0, 1], [0.2, 0.9])[2].tolist()
    [inf, 0.9, 0.2]
    """
    thresholds, tp, fp = _counts_by_threshold(y_true, scores)
    n_pos, n_neg = (tp[-1], fp[-1]) if tp.size else (0, 0)
    tp, fp = np.r_[0, tp], np.r_[0, fp]
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = tp / n_pos if n_pos else np.full(tp.shape, np.nan)
        fpr = fp / n_neg if n_neg else np.full(fp.shape, np.nan)
    return fpr.astype(np.float64), tpr.astype(np.float64), np.r_[np.inf, thresholds]


def precision_recall_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall as the threshold falls through every score.

    Returns ``(recall, precision, thresholds)`` in order of rising recall; the
    first point is recall 0, precision 1 at threshold ``+inf`` (scikit-learn's
    end point, listed first here because the threshold falls).

    >>> r, p, _ = precision_recall_curve([0, 1, 1], [0.5, 0.9, 0.4])
    >>> r.tolist(), p.tolist()
    ([0.0, 0.5, 0.5, 1.0], [1.0, 1.0, 0.5, 0.6666666666666666])
    """
    thresholds, tp, fp = _counts_by_threshold(y_true, scores)
    n_pos = tp[-1] if tp.size else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / (tp + fp)
        recall = tp / n_pos if n_pos else np.full(tp.shape, np.nan)
    return np.r_[0.0, recall], np.r_[1.0, precision], np.r_[np.inf, thresholds]


def average_precision(y_true, scores) -> float:
    """The area under the step precision-recall curve: sum of (R_n - R_{n-1}) * P_n.

    This is scikit-learn's ``average_precision_score`` (no interpolation); NaN
    without positives.

    >>> average_precision([0, 1, 1], [0.5, 0.9, 0.4])
    0.8333333333333333
    """
    recall, precision, _ = precision_recall_curve(y_true, scores)
    if recall.size < 2 or not np.isfinite(recall).all():
        return float("nan")
    return float(np.sum(np.diff(recall) * precision[1:]))


def curve_area(x, y) -> float:
    """Trapezoid area under a curve given by points (the ROC AUC from :func:`roc_curve`).

    >>> curve_area([0.0, 0.0, 1.0], [0.0, 1.0, 1.0])
    1.0
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def confusion_at_threshold(y_true, scores, threshold: float) -> np.ndarray:
    """2x2 counts, rows true (negative, positive), columns predicted, at ``score >= threshold``.

    >>> confusion_at_threshold([1, 1, 0], [0.9, 0.2, 0.6], 0.5).tolist()
    [[0, 1], [1, 1]]
    """
    t, s = _binary_inputs(y_true, scores)
    p = (s >= threshold).astype(np.int64)
    return np.bincount(t * 2 + p, minlength=4).reshape(2, 2)


def threshold_metrics(matrix) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class from a 2x2 confusion matrix.

    A ratio with a zero denominator counts as 0.0 (scikit-learn's default).

    >>> threshold_metrics([[3, 1], [2, 4]])["precision"]
    0.8
    """
    (tn, fp), (fn, tp) = np.asarray(matrix, dtype=np.float64)
    total = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((tp + tn) / total) if total else float("nan"),
            "precision": float(precision), "recall": float(recall), "f1": float(f1)}


def probability_histograms(y_true, scores, bins: int = 20) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Counts of predicted probabilities in ``bins`` equal bins of [0, 1], per true class.

    Returns ``(edges, {class id: counts})``; a probability of exactly 1 falls
    in the last bin (numpy's convention).

    >>> edges, counts = probability_histograms([0, 0, 1], [0.1, 0.2, 0.9], bins=2)
    >>> edges.tolist(), counts[0].tolist(), counts[1].tolist()
    ([0.0, 0.5, 1.0], [2, 0], [0, 1])
    """
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length, got {t.size} and {s.size}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    return edges, {int(k): np.histogram(s[t == k], bins=edges)[0] for k in np.unique(t)}


def confident_mistakes(y_true, probabilities, predicted, k: int = 20) -> np.ndarray:
    """Indices of the ``k`` wrongly predicted samples the model was surest of, surest first.

    ``probabilities`` is ``(N, classes)``; a mistake is a sample whose
    ``predicted`` label differs from ``y_true``, and the surer the model, the
    lower the probability it gave the true class. Ties keep sample order.

    >>> probs = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]]
    >>> confident_mistakes([1, 0, 0, 1], probs, [0, 1, 1, 0]).tolist()
    [0, 1, 3, 2]
    """
    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    p = np.asarray(predicted).reshape(-1).astype(np.int64)
    if probs.ndim != 2 or probs.shape[0] != t.size or p.size != t.size:
        raise ValueError(f"need (N, classes) probabilities and N labels, got {probs.shape}, "
                         f"{t.size} true and {p.size} predicted labels")
    wrong = np.flatnonzero(t != p)
    true_prob = probs[wrong, t[wrong]]
    return wrong[np.argsort(true_prob, kind="mergesort")][: max(0, int(k))]
