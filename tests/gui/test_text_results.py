"""The text Results page: curves, the threshold control, the confusion matrix, the worst mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from seqstudio.core.classify.report import ClassifierReport


@pytest.fixture
def report():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.uniform(0.0, 0.7, 300), 0.0, 1.0)
    texts = [f"review number {i} " + ("great" if y[i] else "awful") * 3 for i in range(300)]
    return ClassifierReport(y, np.stack([1 - p, p], axis=1), ["negative", "positive"], texts)


def _matrix(table) -> np.ndarray:
    return np.array([[int(table.item(r, c).text()) for c in range(table.columnCount())]
                     for r in range(table.rowCount())])


def _expected(report, t):
    y, p = report.y_true, report.probabilities[:, 1]
    guess = (p >= t).astype(int)
    return np.array([[np.sum((y == a) & (guess == b)) for b in (0, 1)] for a in (0, 1)])


def test_threshold_spin_slider_and_line_move_the_confusion_matrix(qtbot, report):
    from seqstudio.gui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_text(None, None, {"test": {"accuracy": 0.5}}, report=report)
    view = panel.classifier_view
    np.testing.assert_array_equal(_matrix(panel.confusion_table), _expected(report, 0.5))
    view.threshold_spin.setValue(0.3)
    np.testing.assert_array_equal(_matrix(panel.confusion_table), _expected(report, 0.3))
    assert view.threshold_slider.value() == 300
    view.threshold_slider.setValue(800)  # the slider drives the spin box
    assert view.threshold == pytest.approx(0.8)
    np.testing.assert_array_equal(_matrix(panel.confusion_table), _expected(report, 0.8))
    view._threshold_line.setValue(0.65)  # what dragging the line on the histogram does
    assert view.threshold == pytest.approx(0.65)
    # the value is in the histogram's title; no label on the line to sit under the legend
    assert "0.65" in view.hist_plot.getPlotItem().titleLabel.text
    assert getattr(view._threshold_line, "label", None) is None
    np.testing.assert_array_equal(_matrix(panel.confusion_table), _expected(report, 0.65))
    # the metrics at the threshold, by numpy here
    m = _expected(report, 0.65)
    precision = m[1, 1] / m[:, 1].sum()
    assert f"precision {precision:.3f}" in view.at_threshold_label.text()
    # the marked ROC point is the rates at that threshold
    x, y = view._roc_point.getData()
    assert x[0] == pytest.approx(m[0, 1] / m[0].sum()) and y[0] == pytest.approx(m[1, 1] / m[1].sum())


def test_the_metrics_heading_and_test_column_follow_the_threshold(qtbot, report):
    from seqstudio.gui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    trained = {"accuracy": 0.61, "precision": 0.6, "recall": 0.7, "f1": 0.65, "roc_auc": 0.8, "loss": 0.5}
    panel.show_text(None, None, {"train": dict(trained), "test": dict(trained)}, report=report)
    table, box = panel.text_metrics_table, panel.text_metrics_box
    assert box.title() == "Metrics (threshold 0.5)"

    def cell(name, split):
        rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
        columns = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
        return float(table.item(rows.index(name), columns.index(split)).text())

    assert cell("accuracy", "test") == pytest.approx(0.61)  # at 0.5: what training measured
    panel.classifier_view.threshold_spin.setValue(0.7)
    assert box.title() == "Metrics (test at threshold 0.7; train at 0.5)"
    m = _expected(report, 0.7)  # numpy here: accuracy, precision and recall of the positive class
    assert cell("accuracy", "test") == pytest.approx((m[0, 0] + m[1, 1]) / m.sum(), abs=5e-4)
    assert cell("precision", "test") == pytest.approx(m[1, 1] / m[:, 1].sum(), abs=5e-4)
    assert cell("recall", "test") == pytest.approx(m[1, 1] / m[1].sum(), abs=5e-4)
    assert cell("roc_auc", "test") == pytest.approx(0.8)  # not a threshold metric
    assert cell("accuracy", "train") == pytest.approx(0.61)  # no report of the train part
    panel.classifier_view.threshold_spin.setValue(0.5)
    assert box.title() == "Metrics (threshold 0.5)" and cell("accuracy", "test") == pytest.approx(0.61)


def test_curves_are_the_reports(qtbot, report):
    from seqstudio.core.classify.curves import roc_curve
    from seqstudio.gui.text_results import ClassifierView

    view = ClassifierView()
    qtbot.addWidget(view)
    view.set_report(report)
    fpr, tpr, _ = roc_curve(report.y_true, report.probabilities[:, 1])
    np.testing.assert_allclose(view._roc_curve.xData, fpr)
    np.testing.assert_allclose(view._roc_curve.yData, tpr)
    assert f"AUC {report.roc_auc():.3f}" in view.roc_plot.getPlotItem().titleLabel.text
    counts = {int(k): np.histogram(report.probabilities[report.y_true == k, 1],
                                   bins=np.linspace(0, 1, 26))[0] for k in (0, 1)}
    for k, curve in enumerate(view._hist_curves):
        np.testing.assert_array_equal(curve.yData, counts[k])


def test_clicking_a_confident_mistake_opens_it_in_the_review_box(qtbot, report):
    from seqstudio.gui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    panel.show_text(None, None, {}, report=report)
    table = panel.classifier_view.mistakes_table
    assert table.rowCount() > 3
    wrong = panel.classifier_view.mistakes()
    # surest first: the probability of the true class rises down the list
    true_prob = [report.probabilities[m.index, m.true_label] for m in wrong]
    assert true_prob == sorted(true_prob)
    assert all(report.predicted(0.5)[m.index] != report.y_true[m.index] for m in wrong)
    rect = table.visualItemRect(table.item(2, 2))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.review_edit.toPlainText() == wrong[2].text


def test_multiclass_has_no_threshold_but_curves_per_class(qtbot):
    from seqstudio.gui.text_results import ClassifierView

    y = np.array([0, 1, 2, 2, 1, 0])
    probs = np.array([[.7, .2, .1], [.1, .3, .6], [.2, .2, .6], [.5, .1, .4], [.1, .8, .1], [.3, .3, .4]])
    view = ClassifierView()
    qtbot.addWidget(view)
    view.show()
    view.set_report(ClassifierReport(y, probs, ["a", "b", "c"]))
    assert not view.threshold_spin.isEnabled() and view.class_combo.isVisible()
    np.testing.assert_array_equal(_matrix(view.confusion_table),
                                  [[1, 0, 1], [0, 1, 1], [1, 0, 1]])
    view.class_combo.setCurrentIndex(2)
    assert "c vs rest" in view.roc_plot.getPlotItem().titleLabel.text


def test_results_without_a_report_are_scored_in_the_background(qtbot, builtins):
    """An opened project has a model but no report yet: the page fills in without blocking."""
    import torch

    from seqstudio.core.data.text import LabelledTexts, TextOptions, prepare_text
    from seqstudio.core.model.layers import Dense, Embedding, GlobalAveragePooling1D
    from seqstudio.core.model.spec import ModelSpec
    from seqstudio.core.train.evaluate import predict
    from seqstudio.gui.results_panel import ResultsPanel

    texts = [("good fun great" if i % 2 else "bad dull awful") + f" {i}" for i in range(60)]
    data = prepare_text(TextOptions(max_len=6, val_frac=0.2, test_frac=0.3),
                        LabelledTexts(texts, ["pos" if i % 2 else "neg" for i in range(60)]))
    torch.manual_seed(0)
    model = ModelSpec([Embedding(data.vocab_size, 4), GlobalAveragePooling1D(),
                       Dense(1, activation="sigmoid")]).build(data.input_shape, registry=builtins)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show_text(model, data, {})
    qtbot.waitUntil(lambda: panel.classifier_view.report is not None, timeout=10_000)
    p = predict(model, data.x_test)[:, 0]
    np.testing.assert_allclose(panel.classifier_view.report.probabilities[:, 1], p, rtol=1e-6)
    assert panel.classifier_view.report.texts == data.texts["test"]
