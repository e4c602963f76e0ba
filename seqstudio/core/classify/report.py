"""A classifier's predictions on one split, and everything read from them at any threshold.

:func:`classifier_report` runs a trained model over a split once;
the :class:`ClassifierReport` it returns holds the true labels and the
predicted probability of every class, so moving the decision threshold,
drawing the ROC or precision-recall curve of a class, or listing the most
confidently wrong reviews costs no further pass through the model.

>>> report = ClassifierReport(np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]),
...                           ["neg", "pos"])
>>> report.confusion(0.5).tolist()
[[1, 0], [1, 1]]
>>> report.confusion(0.3).tolist()
[[1, 0], [0, 2]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqstudio.core.classify import curves as C

__all__ = ["ClassifierReport", "Mistake", "classifier_report", "output_probabilities"]


def output_probabilities(outputs, *, are_probabilities: bool) -> np.ndarray:
    """``(N, classes)`` probabilities from a model's raw outputs.

    One output per sample is the positive class's probability (a sigmoid is
    applied when the outputs are logits); several outputs are the classes'
    probabilities (a softmax is applied when they are logits, never twice).

    >>> output_probabilities(np.array([[0.0], [2.0]]), are_probabilities=False).round(3).tolist()
    [[0.5, 0.5], [0.119, 0.881]]
    """
    from seqstudio.core.train.evaluate import to_probabilities  # torch: loaded when first used

    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        p = to_probabilities(out.reshape(-1), are_probabilities=are_probabilities)
        return np.stack([1.0 - p, p], axis=1)
    if out.ndim != 2:
        raise ValueError(f"classifier outputs must be (N,) or (N, classes), got shape {out.shape}")
    return to_probabilities(out, are_probabilities=are_probabilities)  # the core's one rule


@dataclass(frozen=True)
class Mistake:
    """One wrongly predicted sample: where it is, what it is, what the model said."""

    index: int
    true_label: int
    predicted_label: int
    #: the probability the model gave the class it predicted
    confidence: float
    text: str = ""


@dataclass
class ClassifierReport:
    """True labels and predicted class probabilities of one split.

    ``probabilities`` is ``(N, classes)`` with rows summing to one; for a
    binary task column 1 is the positive class. ``texts`` (optional) are the
    split's raw samples, in the same order.
    """

    y_true: np.ndarray
    probabilities: np.ndarray
    class_names: Sequence[str] = ()
    texts: Sequence[str] = field(default_factory=list)
    split: str = "test"

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true).reshape(-1).astype(np.int64)
        self.probabilities = np.asarray(self.probabilities, dtype=np.float64)
        if self.probabilities.ndim != 2 or self.probabilities.shape[0] != self.y_true.size:
            raise ValueError(f"need (N, classes) probabilities for {self.y_true.size} labels, "
                             f"got shape {self.probabilities.shape}")
        if not self.class_names:
            self.class_names = [str(i) for i in range(self.n_classes)]

    @property
    def n_classes(self) -> int:
        return int(self.probabilities.shape[1])

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    def __len__(self) -> int:
        return int(self.y_true.size)

    def scores(self, positive: int = 1) -> np.ndarray:
        """Predicted probability of class ``positive`` for every sample."""
        return self.probabilities[:, positive]

    def one_vs_rest(self, positive: int = 1) -> np.ndarray:
        """1 where the true class is ``positive``, else 0."""
        return (self.y_true == positive).astype(np.int64)

    def predicted(self, threshold: float = 0.5) -> np.ndarray:
        """Predicted labels: binary at ``P(positive) >= threshold``, otherwise the likeliest class."""
        if self.binary:
            return (self.scores(1) >= threshold).astype(np.int64)
        return self.probabilities.argmax(axis=1)

    def confusion(self, threshold: float = 0.5) -> np.ndarray:
        """Counts of (true, predicted) labels at ``threshold`` (ignored for several classes)."""
        k = self.n_classes
        flat = np.bincount(self.y_true * k + self.predicted(threshold), minlength=k * k)
        return flat.reshape(k, k)

    def metrics_at(self, threshold: float = 0.5) -> dict[str, float]:
        """Accuracy, and precision / recall / F1 of the positive class (binary) at ``threshold``.

        With several classes precision, recall and F1 are macro averages.
        """
        matrix = self.confusion(threshold)
        if self.binary:
            return C.threshold_metrics(matrix)
        tp = np.diag(matrix).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(matrix.sum(0) > 0, tp / matrix.sum(0), 0.0)
            recall = np.where(matrix.sum(1) > 0, tp / matrix.sum(1), 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        total = matrix.sum()
        return {"accuracy": float(tp.sum() / total) if total else float("nan"),
                "precision": float(precision.mean()), "recall": float(recall.mean()),
                "f1": float(f1.mean())}

    def roc(self, positive: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` of class ``positive`` against the rest."""
        return C.roc_curve(self.one_vs_rest(positive), self.scores(positive))

    def roc_auc(self, positive: int = 1) -> float:
        fpr, tpr, _ = self.roc(positive)
        return C.curve_area(fpr, tpr)

    def precision_recall(self, positive: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(recall, precision, thresholds)`` of class ``positive`` against the rest."""
        return C.precision_recall_curve(self.one_vs_rest(positive), self.scores(positive))

    def average_precision(self, positive: int = 1) -> float:
        return C.average_precision(self.one_vs_rest(positive), self.scores(positive))

    def rates_at(self, threshold: float, positive: int = 1) -> dict[str, float]:
        """The ROC and precision-recall point of ``threshold`` (where to mark it on the curves)."""
        matrix = C.confusion_at_threshold(self.one_vs_rest(positive), self.scores(positive), threshold)
        (tn, fp), (fn, tp) = matrix
        nan = float("nan")
        return {"fpr": fp / (fp + tn) if fp + tn else nan, "tpr": tp / (tp + fn) if tp + fn else nan,
                "recall": tp / (tp + fn) if tp + fn else nan,
                "precision": tp / (tp + fp) if tp + fp else 1.0}

    def histograms(self, bins: int = 20, positive: int = 1) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Histogram of ``P(positive)`` per true class: ``(edges, {class id: counts})``."""
        return C.probability_histograms(self.y_true, self.scores(positive), bins)

    def mistakes(self, threshold: float = 0.5, k: int = 20) -> list[Mistake]:
        """The ``k`` most confidently wrong samples at ``threshold``, surest first."""
        predicted = self.predicted(threshold)
        rows = C.confident_mistakes(self.y_true, self.probabilities, predicted, k)
        texts = list(self.texts)
        return [Mistake(int(i), int(self.y_true[i]), int(predicted[i]),
                        float(self.probabilities[i, predicted[i]]),
                        texts[i] if i < len(texts) else "") for i in rows]


def classifier_report(model, data, split: str = "test", *, config=None) -> ClassifierReport:
    """Run ``model`` over ``split`` of a classification ``data`` once and keep what it said.

    Logits or probabilities are read as :func:`~seqstudio.core.train.evaluate.evaluate`
    reads them (``config.from_logits``, else the model's last layer).

    >>> report = classifier_report(model, data)          # doctest: +SKIP
    >>> report.roc_auc(), report.mistakes(k=1)[0].text   # doctest: +SKIP
    """
    from seqstudio.core.train.evaluate import predict
    from seqstudio.core.train.losses import outputs_are_probabilities

    if data.task == "regression":
        raise ValueError("a classifier report needs a classification task, the data is regression")
    x, y = data.split(split)
    outputs = predict(model, x)
    probabilities = output_probabilities(outputs, are_probabilities=outputs_are_probabilities(model, config))
    y_true = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
    if y_true.dtype.kind == "f":
        y_true = (y_true >= 0.5).astype(np.int64)
    texts: Any = (getattr(data, "texts", None) or {}).get(split, [])
    return ClassifierReport(y_true, probabilities, list(getattr(data, "class_names", []) or []),
                            list(texts), split)
