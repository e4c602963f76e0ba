"""Classifier curves against brute-force references written here, and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from seqstudio.core.classify import curves as C
from seqstudio.core.classify.report import ClassifierReport, output_probabilities


def _brute_force_points(y, s):
    """Every threshold in turn, counting by hand: (threshold, tp, fp, tn, fn), threshold falling."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    points = []
    for t in [np.inf, *sorted(set(s.tolist()), reverse=True)]:
        pred = s >= t
        points.append((t, int(np.sum(pred & (y == 1))), int(np.sum(pred & (y == 0))),
                       int(np.sum(~pred & (y == 0))), int(np.sum(~pred & (y == 1)))))
    return points


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    # rounded so that ties occur and must switch together
    s = np.round(np.clip(0.35 * y + rng.normal(0.35, 0.2, 200), 0, 1), 2)
    return y, s


def test_roc_curve_matches_counting_at_every_threshold(scored):
    y, s = scored
    fpr, tpr, thresholds = C.roc_curve(y, s)
    ref = _brute_force_points(y, s)
    assert thresholds.tolist() == [p[0] for p in ref]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    np.testing.assert_allclose(tpr, [p[1] / n_pos for p in ref])
    np.testing.assert_allclose(fpr, [p[2] / n_neg for p in ref])


def test_roc_area_is_the_rank_probability(scored):
    """The trapezoid area equals P(score of a positive > score of a negative) + 1/2 P(tie)."""
    y, s = scored
    fpr, tpr, _ = C.roc_curve(y, s)
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    expected = float(np.mean((pos > neg) + 0.5 * (pos == neg)))
    assert C.curve_area(fpr, tpr) == pytest.approx(expected)


def test_precision_recall_curve_and_average_precision_match_counting(scored):
    y, s = scored
    recall, precision, thresholds = C.precision_recall_curve(y, s)
    ref = _brute_force_points(y, s)
    n_pos = int((y == 1).sum())
    assert thresholds.tolist() == [p[0] for p in ref]
    np.testing.assert_allclose(recall, [p[1] / n_pos for p in ref])
    np.testing.assert_allclose(precision[1:], [p[1] / (p[1] + p[2]) for p in ref[1:]])
    assert precision[0] == 1.0
    # average precision: the mean over positives of the precision at the rank where each is found
    ap = sum((ref[i][1] - ref[i - 1][1]) / n_pos * ref[i][1] / (ref[i][1] + ref[i][2])
             for i in range(1, len(ref)))
    assert C.average_precision(y, s) == pytest.approx(ap)


def test_hand_computed_small_case():
    # scores 0.9 (pos), 0.6 (neg), 0.4 (pos), 0.2 (neg)
    y, s = [1, 0, 1, 0], [0.9, 0.6, 0.4, 0.2]
    fpr, tpr, _ = C.roc_curve(y, s)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1]
    assert tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert C.curve_area(fpr, tpr) == 0.75
    assert C.average_precision(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert C.confusion_at_threshold(y, s, 0.5).tolist() == [[1, 1], [1, 1]]
    assert C.confusion_at_threshold(y, s, 0.3).tolist() == [[1, 1], [0, 2]]
    assert C.threshold_metrics([[1, 1], [0, 2]]) == pytest.approx(
        {"accuracy": 0.75, "precision": 2 / 3, "recall": 1.0, "f1": 0.8})


def test_one_class_only_gives_nan_rates_not_an_error():
    fpr, tpr, _ = C.roc_curve([1, 1], [0.3, 0.7])
    assert np.isnan(fpr).all() and tpr.tolist() == [0, 0.5, 1]
    assert np.isnan(C.curve_area(fpr, tpr))
    assert np.isnan(C.average_precision([0, 0], [0.3, 0.7]))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="same length"):
        C.roc_curve([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 .negative. and 1"):
        C.roc_curve([0, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="finite"):
        C.roc_curve([0, 1], [0.5, np.nan])


def test_probability_histograms_count_each_class_separately():
    y = [0, 0, 0, 1, 1]
    s = [0.05, 0.3, 0.99, 0.51, 1.0]
    edges, counts = C.probability_histograms(y, s, bins=4)
    assert edges.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert counts[0].tolist() == [1, 1, 0, 1]
    assert counts[1].tolist() == [0, 0, 1, 1]  # 1.0 falls in the last bin


def test_confident_mistakes_surest_first_and_only_wrong_ones():
    y = np.array([0, 1, 0, 1, 0])
    probs = np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.95, 0.05], [0.45, 0.55]])
    predicted = (probs[:, 1] >= 0.5).astype(int)
    # wrong: 0 (true prob 0.1), 1 (0.4), 3 (0.05), 4 (0.45)
    assert C.confident_mistakes(y, probs, predicted).tolist() == [3, 0, 1, 4]
    assert C.confident_mistakes(y, probs, predicted, k=2).tolist() == [3, 0]


def test_output_probabilities_apply_sigmoid_or_softmax_once():
    logits = np.array([[1.0, 2.0, 0.5]])
    e = np.exp(logits[0])
    np.testing.assert_allclose(output_probabilities(logits, are_probabilities=False)[0], e / e.sum())
    probs = np.array([[0.2, 0.5, 0.3]])  # a softmax model: kept as it is, not squashed again
    np.testing.assert_allclose(output_probabilities(probs, are_probabilities=True), probs)
    np.testing.assert_allclose(output_probabilities(np.array([0.7]), are_probabilities=True), [[0.3, 0.7]])
    np.testing.assert_allclose(output_probabilities(np.array([[0.0]]), are_probabilities=False), [[0.5, 0.5]])


def test_report_moves_the_threshold_without_the_model():
    y = np.array([0, 0, 1, 1, 1])
    p1 = np.array([0.2, 0.75, 0.65, 0.9, 0.3])
    report = ClassifierReport(y, np.stack([1 - p1, p1], 1), ["neg", "pos"],
                              ["a", "b", "c", "d", "e"])
    assert report.confusion(0.5).tolist() == [[1, 1], [1, 2]]
    assert report.confusion(0.68).tolist() == [[1, 1], [2, 1]]
    assert report.metrics_at(0.5) == pytest.approx(
        {"accuracy": 0.6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    wrong = report.mistakes(0.5)
    assert [(m.index, m.text, m.true_label, m.predicted_label) for m in wrong] == \
        [(1, "b", 0, 1), (4, "e", 1, 0)]
    assert wrong[0].confidence == pytest.approx(0.75)
    assert report.rates_at(0.5) == pytest.approx({"fpr": 0.5, "tpr": 2 / 3, "recall": 2 / 3,
                                                  "precision": 2 / 3})
    assert report.roc_auc() == pytest.approx(4 / 6)  # pairs (pos > neg): 0.65>0.2, 0.9>both, 0.3>0.2


def test_report_multiclass_uses_argmax_and_one_vs_rest_curves():
    y = np.array([0, 1, 2, 2])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.5, 0.1, 0.4]])
    report = ClassifierReport(y, probs)
    assert report.class_names == ["0", "1", "2"]
    assert report.confusion(0.99).tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]
    fpr, tpr, _ = report.roc(positive=2)
    ref_fpr, ref_tpr, _ = C.roc_curve([0, 0, 1, 1], probs[:, 2])
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    assert report.metrics_at()["accuracy"] == 0.5
