"""What a classifier did on the test part: curves, probabilities, the threshold, its worst mistakes.

:class:`ClassifierView` renders a :class:`~seqstudio.core.classify.report.ClassifierReport`:
the ROC and precision-recall curves of the positive class (one-vs-rest for
several classes) with the current threshold marked on both, the distribution
of the predicted probability for each true class with the threshold as a line
that can be dragged, the confusion matrix and its metrics at that threshold,
and the most confidently wrong reviews. Clicking one emits
``reviewChosen(str)`` with its full text (the Results page opens it in the
try-a-review box). Everything is computed once from the report: moving the
threshold never runs the model again.

>>> view = ClassifierView(); view.set_report(report)    # doctest: +SKIP
>>> view.set_threshold(0.7)                              # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.classify.report import ClassifierReport

from .plots import TEST_COLOR, TRAIN_COLOR, make_plot_widget

#: One colour per true class in the probability histogram (negative, positive, then more).
CLASS_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
#: How many confidently wrong samples are listed.
MISTAKES_SHOWN = 25
_SLIDER_STEPS = 1000


def _cell(text: str, *, right: bool = False, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tooltip:
        item.setToolTip(tooltip)
    return item


def _snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ClassifierView(QWidget):
    """Curves, threshold, confusion matrix and worst mistakes of one :class:`ClassifierReport`."""

    reviewChosen = Signal(str)
    thresholdChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report: ClassifierReport | None = None
        self._mistakes: list = []
        self._moving_line = False

        self._make_controls()
        self._make_plots()
        self._make_confusion()
        self._make_mistakes()
        self._lay_out()
        self.threshold_spin.valueChanged.connect(self._on_spin_changed)
        self.threshold_slider.valueChanged.connect(
            lambda v: self.threshold_spin.setValue(v / _SLIDER_STEPS))
        self._threshold_line.sigPositionChanged.connect(self._on_line_moved)
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        self.clear()

    def _make_controls(self) -> None:
        """The threshold spin box and slider, the class choice, the metrics line."""
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setObjectName("thresholdSpin")
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(0.5)
        self.threshold_spin.setAccessibleName("Decision threshold")
        self.threshold_spin.setToolTip("A review counts as positive when the model's probability is at "
                                       "least this. Lower it to catch more positives (recall), raise "
                                       "it to be surer of those caught (precision).")
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold_slider.setObjectName("thresholdSlider")
        self.threshold_slider.setRange(0, _SLIDER_STEPS)
        self.threshold_slider.setValue(_SLIDER_STEPS // 2)
        self.threshold_slider.setAccessibleName("Decision threshold")
        self.threshold_slider.setToolTip(self.threshold_spin.toolTip())
        self.class_combo = QComboBox(self)
        self.class_combo.setObjectName("positiveClassCombo")
        self.class_combo.setAccessibleName("Class the curves are drawn for")
        self.class_combo.setToolTip("The class whose ROC and precision-recall curves are drawn "
                                    "(against all the others).")
        self.at_threshold_label = QLabel("", self)
        self.at_threshold_label.setObjectName("thresholdMetrics")
        self.at_threshold_label.setWordWrap(True)

    def _make_plots(self) -> None:
        """ROC, precision-recall and probability plots with their markers."""
        self.roc_plot = make_plot_widget("ROC curve", "false positive rate", "true positive rate",
                                         object_name="rocPlot", legend_offset=(-10, -10))
        self.pr_plot = make_plot_widget("Precision-recall", "recall", "precision",
                                        object_name="prPlot", legend_offset=(10, -10))
        self.hist_plot = make_plot_widget("Predicted probability by true class", "P(positive)",
                                          "reviews", object_name="probabilityPlot",
                                          legend_offset=(-10, 10))
        for plot in (self.roc_plot, self.pr_plot, self.hist_plot):
            plot.setMinimumHeight(180)
            plot.getPlotItem().setMenuEnabled(False)
        for plot in (self.roc_plot, self.pr_plot):
            item = plot.getPlotItem()
            item.setXRange(0, 1, padding=0.02)
            item.setYRange(0, 1, padding=0.02)
            item.setAspectLocked(False)
        self._roc_curve = self.roc_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), name="model")
        self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine),
                           name="chance")
        self._roc_point = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(TEST_COLOR), pen=pg.mkPen("w"))
        self.roc_plot.addItem(self._roc_point)
        self._pr_curve = self.pr_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), name="model")
        self._pr_base = pg.InfiniteLine(angle=0, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
        self.pr_plot.addItem(self._pr_base)
        self._pr_point = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(TEST_COLOR), pen=pg.mkPen("w"))
        self.pr_plot.addItem(self._pr_point)
        self._hist_curves: list[pg.PlotDataItem] = []
        # the value is in the plot's title, not on the line: a label at the line's top sat
        # under the legend whenever the threshold was above ~0.6
        self._threshold_line = pg.InfiniteLine(pos=0.5, angle=90, movable=True,
                                               pen=pg.mkPen(TEST_COLOR, width=2),
                                               hoverPen=pg.mkPen(TEST_COLOR, width=4))
        self._threshold_line.setToolTip("The decision threshold: drag it")
        self._threshold_line.setBounds((0.0, 1.0))
        self.hist_plot.addItem(self._threshold_line)

    def _make_confusion(self) -> None:
        """The confusion matrix at the threshold, in its box."""
        self.confusion_table = QTableWidget(0, 0, self)
        self.confusion_table.setObjectName("confusionMatrix")
        self.confusion_table.setAccessibleName("Confusion matrix at the threshold")
        self.confusion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.confusion_box = QGroupBox("Confusion matrix (rows: true, columns: predicted)", self)
        confusion_layout = QVBoxLayout(self.confusion_box)
        confusion_layout.addWidget(self.confusion_table)
        confusion_layout.addWidget(self.at_threshold_label)
        hint = QLabel("Lower the threshold to catch more of the positive class (recall), raise it "
                      "to be surer of what is caught (precision); drag the red line on the "
                      "probability plot or use the slider above.", self)
        hint.setWordWrap(True)
        hint.setObjectName("thresholdHint")
        confusion_layout.addWidget(hint)
        confusion_layout.addStretch(1)

    def _make_mistakes(self) -> None:
        """The table of the most confidently wrong samples, in its box."""
        self.mistakes_table = QTableWidget(0, 3, self)
        self.mistakes_table.setObjectName("mistakesTable")
        self.mistakes_table.setAccessibleName("Most confidently wrong reviews")
        self.mistakes_table.setToolTip("The reviews the model got wrong while most sure of itself. "
                                       "Click one to open it in the try-a-review box.")
        self.mistakes_table.setHorizontalHeaderLabels(["true", "model said", "review"])
        self.mistakes_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.mistakes_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.mistakes_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.mistakes_table.setWordWrap(False)
        self.mistakes_table.verticalHeader().setVisible(False)
        header = self.mistakes_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.mistakes_table.cellClicked.connect(self._on_mistake_clicked)
        self.mistakes_table.currentCellChanged.connect(
            lambda row, _col, _prow, _pcol: self._on_mistake_clicked(row, 0))
        self.mistakes_box = QGroupBox("Most confidently wrong (click to try it)", self)
        QVBoxLayout(self.mistakes_box).addWidget(self.mistakes_table)

    def _lay_out(self) -> None:
        """Controls on top; curves, histogram and confusion matrix in a grid."""
        controls = QHBoxLayout()
        controls.addWidget(QLabel("decision threshold", self))
        controls.addWidget(self.threshold_spin)
        controls.addWidget(self.threshold_slider, 1)
        self.class_label = QLabel("curves for class", self)
        controls.addWidget(self.class_label)
        controls.addWidget(self.class_combo)
        grid = QGridLayout()
        grid.addWidget(self.roc_plot, 0, 0)
        grid.addWidget(self.pr_plot, 0, 1)
        grid.addWidget(self.hist_plot, 1, 0)
        grid.addWidget(self.confusion_box, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(grid, 1)

    # -- state -----------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.threshold_spin.value())

    @property
    def positive(self) -> int:
        return max(0, self.class_combo.currentIndex())

    def clear(self) -> None:
        """Show nothing (no trained classifier)."""
        self.report = None
        self._mistakes = []
        for curve in (self._roc_curve, self._pr_curve):
            curve.setData([], [])
        for point in (self._roc_point, self._pr_point):
            point.setData([], [])
        self._set_histograms({}, np.linspace(0, 1, 2))
        self.confusion_table.clear()
        self.confusion_table.setRowCount(0)
        self.confusion_table.setColumnCount(0)
        self.mistakes_table.setRowCount(0)
        self.at_threshold_label.setText("")
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
        self._set_controls_enabled(False)

    def set_report(self, report: ClassifierReport | None) -> None:
        """Show ``report`` (None: clear); the threshold is kept, the curves' class reset to the positive."""
        if report is None or len(report) == 0:
            self.clear()
            return
        self.report = report
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItems([str(c) for c in report.class_names])
            self.class_combo.setCurrentIndex(1 if report.binary else 0)
        self._set_controls_enabled(True)
        self._draw_curves()
        self._draw_histograms()
        self._apply_threshold()

    def set_threshold(self, value: float) -> None:
        """Move the decision threshold (what the spin box, the slider and the line do)."""
        self.threshold_spin.setValue(float(value))

    def mistakes(self) -> list:
        """The listed mistakes (:class:`~seqstudio.core.classify.report.Mistake`), surest first."""
        return list(self._mistakes)

    def _set_controls_enabled(self, on: bool) -> None:
        binary = bool(self.report is not None and self.report.binary)
        for widget in (self.threshold_spin, self.threshold_slider):
            widget.setEnabled(on and binary)
            widget.setToolTip(self.threshold_spin.toolTip() if binary or not on else
                              "With several classes the likeliest class is predicted: "
                              "there is no threshold to move.")
        self._threshold_line.setVisible(on and binary)
        multi = on and not binary
        self.class_label.setVisible(multi)
        self.class_combo.setVisible(multi)

    # -- drawing ---------------------------------------------------------------------
    def _class_name(self, k: int) -> str:
        names = list(self.report.class_names) if self.report is not None else []
        return str(names[k]) if 0 <= k < len(names) else str(k)

    def _draw_curves(self) -> None:
        report, k = self.report, self.positive
        fpr, tpr, _ = report.roc(k)
        recall, precision, _ = report.precision_recall(k)
        self._roc_curve.setData(fpr, tpr, connect="finite")
        self._pr_curve.setData(recall, precision, connect="finite")
        share = float(np.mean(report.y_true == k))
        self._pr_base.setPos(share)
        who = f" ({self._class_name(k)} vs rest)" if not report.binary else ""
        self.roc_plot.getPlotItem().setTitle(f"ROC curve{who}: AUC {report.roc_auc(k):.3f}", size="11pt")
        self.pr_plot.getPlotItem().setTitle(
            f"Precision-recall{who}: AP {report.average_precision(k):.3f} "
            f"(chance {share:.2f})", size="11pt")

    def _draw_histograms(self) -> None:
        report = self.report
        k = self.positive
        edges, counts = report.histograms(bins=25, positive=k)
        self.hist_plot.getPlotItem().setLabel("bottom", f"P({self._class_name(k)})")
        self._set_histograms(counts, edges)

    def _set_histograms(self, counts: dict[int, np.ndarray], edges: np.ndarray) -> None:
        item = self.hist_plot.getPlotItem()
        for curve in self._hist_curves:
            item.removeItem(curve)
        self._hist_curves = []
        for k, values in sorted(counts.items()):
            color = CLASS_COLORS[k % len(CLASS_COLORS)]
            fill = pg.mkColor(color)
            fill.setAlpha(70)
            curve = item.plot(edges, values, stepMode="center", fillLevel=0, brush=fill,
                              pen=pg.mkPen(color, width=1.5), name=f"true {self._class_name(k)}")
            self._hist_curves.append(curve)

    def _apply_threshold(self) -> None:
        report = self.report
        if report is None:
            return
        t, k = self.threshold, self.positive
        if abs(float(self._threshold_line.value()) - t) > 1e-9:
            self._moving_line = True  # the line's own signal would set the spin box back
            try:
                self._threshold_line.setValue(t)
            finally:
                self._moving_line = False
        self.hist_plot.getPlotItem().setTitle(
            f"Probability by true class, threshold <span style='color:{TEST_COLOR}'>{t:.2f}</span>"
            if report.binary else "Probability by true class", size="11pt")
        rates = report.rates_at(t, k) if report.binary else None
        if rates is not None:
            self._roc_point.setData([rates["fpr"]], [rates["tpr"]])
            self._pr_point.setData([rates["recall"]], [rates["precision"]])
        else:
            self._roc_point.setData([], [])
            self._pr_point.setData([], [])
        matrix = report.confusion(t)
        names = [self._class_name(i) for i in range(report.n_classes)]
        table = self.confusion_table
        table.setRowCount(len(names))
        table.setColumnCount(len(names))
        table.setHorizontalHeaderLabels([f"predicted {n}" for n in names])
        table.setVerticalHeaderLabels([f"true {n}" for n in names])
        for r in range(len(names)):
            for c in range(len(names)):
                table.setItem(r, c, _cell(str(int(matrix[r, c])), right=True))
        table.resizeRowsToContents()
        table.setFixedHeight(table.horizontalHeader().sizeHint().height()
                             + sum(table.rowHeight(r) for r in range(len(names)))
                             + 2 * table.frameWidth() + 2)
        m = report.metrics_at(t)
        where = f"at threshold {t:.2f}" if report.binary else "likeliest class"
        averaged = "" if report.binary else " (macro averages)"
        self.confusion_box.setTitle(f"Confusion matrix, {report.split} part, {where}")
        self.at_threshold_label.setText(
            f"{where}: accuracy {m['accuracy']:.3f}, precision {m['precision']:.3f}, "
            f"recall {m['recall']:.3f}, F1 {m['f1']:.3f}{averaged}")
        self._fill_mistakes(t)

    def _fill_mistakes(self, threshold: float) -> None:
        report = self.report
        self._mistakes = report.mistakes(threshold, MISTAKES_SHOWN)
        table = self.mistakes_table
        with QSignalBlocker(table):
            table.clearSelection()
            table.setRowCount(len(self._mistakes))
            for row, m in enumerate(self._mistakes):
                table.setItem(row, 0, _cell(self._class_name(m.true_label)))
                table.setItem(row, 1, _cell(f"{self._class_name(m.predicted_label)} "
                                            f"{m.confidence:.0%}", right=True))
                text = m.text or f"(sample {m.index} of the {report.split} part)"
                table.setItem(row, 2, _cell(_snippet(text), tooltip=_snippet(text, 600)))
        self.mistakes_box.setTitle(f"Most confidently wrong, {len(self._mistakes)} shown "
                                   "(click one to try it)" if self._mistakes
                                   else "No wrong predictions at this threshold")

    # -- reacting --------------------------------------------------------------------
    def _on_spin_changed(self, value: float) -> None:
        with QSignalBlocker(self.threshold_slider):
            self.threshold_slider.setValue(int(round(value * _SLIDER_STEPS)))
        self._apply_threshold()
        self.thresholdChanged.emit(float(value))

    def _on_line_moved(self, line) -> None:
        if not self._moving_line:
            self.threshold_spin.setValue(float(line.value()))

    def _on_class_changed(self, _index: int) -> None:
        if self.report is not None:
            self._draw_curves()
            self._draw_histograms()
            self._apply_threshold()

    def _on_mistake_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._mistakes) and self._mistakes[row].text:
            self.reviewChosen.emit(self._mistakes[row].text)
