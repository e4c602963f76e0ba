"""Metrics against hand-computed values, numpy formulas and brute-force counts."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqstudio.core.train import metrics


def test_regression_metrics_hand_computed():
    actual = [100.0, 200.0, 300.0, 400.0]
    predicted = [110.0, 190.0, 330.0, 400.0]
    # errors: -10, 10, -30, 0 -> squares 100, 100, 900, 0
    assert metrics.rmse(actual, predicted) == pytest.approx(np.sqrt(1100 / 4))
    assert metrics.mae(actual, predicted) == pytest.approx(50 / 4)
    # percentage errors: 10%, 5%, 10%, 0%
    assert metrics.mape(actual, predicted) == pytest.approx(25 / 4)


def test_regression_metrics_match_numpy_formulas_on_random_data():
    rng = np.random.default_rng(1)
    a = rng.uniform(1, 10, size=(50, 3))
    p = a + rng.normal(size=(50, 3))
    assert metrics.rmse(a, p) == pytest.approx(np.sqrt(((a - p) ** 2).mean()))
    assert metrics.mae(a, p) == pytest.approx(np.abs(a - p).mean())
    assert metrics.mape(a, p) == pytest.approx(100 * np.abs((a - p) / a).mean())
    # tensors and (N, 1) vs (N,) shapes are accepted
    assert metrics.rmse(torch.tensor(a[:, :1]), p[:, 0]) == pytest.approx(
        np.sqrt(((a[:, 0] - p[:, 0]) ** 2).mean())
    )


def test_mape_skips_zero_actuals_and_is_nan_when_all_zero():
    assert metrics.mape([0.0, 50.0, 100.0], [7.0, 40.0, 110.0]) == pytest.approx(15.0)
    assert np.isnan(metrics.mape([0.0, 0.0], [1.0, 2.0]))


def test_regression_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        metrics.rmse([1.0, 2.0], [1.0, 2.0, 3.0])


def test_accuracy_and_confusion_matrix_hand_computed():
    y_true = [0, 1, 2, 2, 1, 0]
    y_pred = [0, 2, 2, 2, 1, 1]
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert metrics.confusion_matrix(y_true, y_pred).tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert metrics.confusion_matrix([0, 0], [0, 0], n_classes=2).tolist() == [[2, 0], [0, 0]]


def test_precision_recall_f1_binary_hand_computed():
    # tp=2, fp=1, fn=2
    y_true = [1, 1, 1, 1, 0, 0]
    y_pred = [1, 1, 0, 0, 1, 0]
    p, r, f = metrics.precision_recall_f1(y_true, y_pred)
    assert (p, r) == pytest.approx((2 / 3, 2 / 4))
    assert f == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_precision_recall_f1_macro_and_zero_division():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 0]
    # class 0: p=1/3 r=1/2; class 1: p=2/3 r=1; class 2: never predicted -> p=0 r=0 f=0
    p, r, f = metrics.precision_recall_f1(y_true, y_pred, average="macro")
    f0 = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    f1 = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert p == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert r == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert f == pytest.approx((f0 + f1 + 0) / 3)
    assert metrics.precision_recall_f1([0, 0], [0, 0]) == (0.0, 0.0, 0.0)


def test_precision_recall_match_keras(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 40)
    y_pred = rng.integers(0, 2, 40)
    kp, kr = keras.metrics.Precision(), keras.metrics.Recall()
    kp.update_state(y_true, y_pred)
    kr.update_state(y_true, y_pred)
    p, r, _ = metrics.precision_recall_f1(y_true, y_pred)
    assert p == pytest.approx(float(kp.result()), abs=1e-6)
    assert r == pytest.approx(float(kr.result()), abs=1e-6)


def _auc_brute_force(y_true, scores) -> float:
    pos = [s for y, s in zip(y_true, scores, strict=True) if y == 1]
    neg = [s for y, s in zip(y_true, scores, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_hand_computed_and_degenerate():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert metrics.roc_auc([0, 1, 1], [0.9, 0.1, 0.2]) == 0.0
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.3]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0])),
        min_size=2,
        max_size=30,
    )
)
def test_roc_auc_equals_brute_force_pair_count_with_ties(pairs):
    y_true = [y for y, _ in pairs]
    scores = [s for _, s in pairs]
    expected = _auc_brute_force(y_true, scores) if 0 < sum(y_true) < len(y_true) else np.nan
    np.testing.assert_allclose(metrics.roc_auc(y_true, scores), expected, equal_nan=True)
