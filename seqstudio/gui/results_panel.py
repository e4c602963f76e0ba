"""Results: the lecture's forecast plot, metrics against baselines, residuals; text metrics.

For a series the forecast plot shows the actual series, the prediction on the
training part and on the test part in original units with the split marked,
plus N future steps; the metrics table puts RMSE / MAE / MAPE of the model
beside the naive and seasonal-naive baselines. For text it shows the metrics,
the confusion matrix and a box that scores a review live as you type.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.studio import TextData, error_text, is_series

from .plots import (
    FUTURE_COLOR,
    TEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    actual_color,
    export_plot_png,
    make_plot_widget,
    series_style,
    set_time_axis,
    thin_long_curves,
    time_values,
)
from .settings import ask_save_path
from .text_results import ClassifierView

#: Series longer than this open zoomed to the forecast (see ``zoomForecast``).
LONG_SERIES = 600
SPLIT_COLORS = {"train": TRAIN_COLOR, "val": VAL_COLOR, "test": TEST_COLOR}
SPLIT_NAMES = {"train": "training part", "val": "validation part", "test": "test part"}
NO_RESULTS_NOTE = "Train a model to see its forecast."


def _table(parent: QWidget, object_name: str) -> QTableWidget:
    table = QTableWidget(0, 0, parent)
    table.setObjectName(object_name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


_SPLIT_WORDS = {"train": "train", "val": "validation"}


def _fill_table(table: QTableWidget, rows: list[str], columns: list[str],
                values: list[list[Any]]) -> None:
    table.clear()
    table.setRowCount(len(rows))
    table.setColumnCount(len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setVerticalHeaderLabels(rows)
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)


class _ReportJob(QObject):
    """Runs the model over a test part off the GUI thread; ``done(job, report, error)`` when it ends."""

    done = Signal(object, object, object)

    def __init__(self, model, data, parent: QObject | None = None, *, config=None):
        super().__init__(parent)
        self._model, self._data, self._config = model, data, config

    def start(self) -> None:
        threading.Thread(target=self._run, name="classifier-report", daemon=True).start()

    def _run(self) -> None:
        from seqstudio.core.classify.report import classifier_report  # needs torch

        try:
            report, error = classifier_report(self._model, self._data, "test",
                                              config=self._config), None
        except Exception as exc:  # noqa: BLE001 - said on the page, never raised into Qt
            report, error = None, error_text(exc)
        self.done.emit(self, report, error)


class ResultsPanel(QWidget):
    """Shows what a trained model does; ``futureStepsChanged(int)`` asks for a new forecast."""

    futureStepsChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, document=None):
        super().__init__(parent)
        self.model = None
        self.data = None
        self.results: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.config = None  # the training settings: whether the model outputs logits
        #: split -> (prediction curve, residual curve) of the plot now shown
        self._prediction_curves: dict[str, tuple] = {}
        self._pending_snapshot: dict[str, Any] | None = None
        self.document = document

        series_page = self._make_series_page()
        text_page = self._make_text_page()
        self.pages = QStackedWidget(self)
        self.pages.addWidget(series_page)
        self.pages.addWidget(text_page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

        if document is not None:
            self._bind(document)

    def _make_series_page(self) -> QWidget:
        self.forecast_plot = make_plot_widget("Forecast", "time", "value", date_axis=True,
                                              object_name="forecastPlot")
        self.residual_plot = make_plot_widget("Residuals (actual − predicted)", "time", "residual",
                                              date_axis=True, object_name="residualPlot")
        for plot in (self.forecast_plot, self.residual_plot):
            thin_long_curves(plot)  # long series: peak-downsampled, clipped to the zoomed span
        self.residual_plot.setMinimumHeight(150)
        self.metrics_table = _table(self, "metricsTable")
        self.future_spin = QSpinBox(self)
        self.future_spin.setObjectName("futureSteps")
        self.future_spin.setRange(0, 10_000)
        self.future_spin.setValue(24)
        self.future_spin.setToolTip("How many steps beyond the end of the data to forecast "
                                    "(each step feeds the previous prediction back in).")
        self.future_spin.setKeyboardTracking(False)
        self.future_spin.valueChanged.connect(self.futureStepsChanged)
        self.export_plot_button = QPushButton("Export plot…", self)
        self.export_plot_button.setObjectName("exportPlotButton")
        self.export_plot_button.clicked.connect(self._on_export_plot_clicked)
        self.export_csv_button = QPushButton("Export predictions…", self)
        self.export_csv_button.setObjectName("exportCsvButton")
        self.export_csv_button.clicked.connect(self._on_export_csv_clicked)
        self.note_label = QLabel(NO_RESULTS_NOTE, self)
        self.note_label.setObjectName("resultsNote")
        self.note_label.setWordWrap(True)

        self.zoom_check = QCheckBox("zoom to the forecast", self)
        self.zoom_check.setObjectName("zoomForecast")
        self.zoom_check.setToolTip("Show the last stretch of the data and the forecast beyond it "
                                   "(on by default for long series, where the forecast is tiny).")
        self.zoom_check.toggled.connect(self._on_zoom_toggled)
        self._zoom_chosen = False
        self._forecast_span = None

        controls = QHBoxLayout()
        controls.addWidget(QLabel("future steps", self))
        controls.addWidget(self.future_spin)
        controls.addWidget(self.zoom_check)
        controls.addStretch(1)
        controls.addWidget(self.export_plot_button)
        controls.addWidget(self.export_csv_button)
        metrics_box = QGroupBox("Metrics (original units)", self)
        metrics_layout = QVBoxLayout(metrics_box)
        metrics_layout.addWidget(self.metrics_table)
        metrics_layout.addWidget(self.note_label)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(metrics_box)
        lower.addWidget(self.residual_plot)
        lower.setSizes([560, 600])
        series_split = QSplitter(Qt.Orientation.Vertical, self)
        series_split.addWidget(self.forecast_plot)
        series_split.addWidget(lower)
        series_split.setSizes([460, 260])
        series_page = QWidget(self)
        series_layout = QVBoxLayout(series_page)
        series_layout.setContentsMargins(0, 0, 0, 0)
        series_layout.addLayout(controls)
        series_layout.addWidget(series_split, 1)

        return series_page

    def _make_text_page(self) -> QWidget:
        self.text_metrics_table = _table(self, "textMetricsTable")
        self.text_metrics_table.setMinimumHeight(120)
        self.classifier_view = ClassifierView(self)
        self.classifier_view.reviewChosen.connect(self._on_review_chosen)
        #: the confusion matrix at the threshold (kept as an attribute for scripts and tests)
        self.confusion_table = self.classifier_view.confusion_table
        self.review_edit = QPlainTextEdit(self)
        self.review_edit.setObjectName("tryReviewEdit")
        self.review_edit.setPlaceholderText("Type a review here; the model scores it as you type.")
        self.review_result = QLabel("", self)
        self.review_result.setObjectName("tryReviewResult")
        self.review_result.setStyleSheet("font-size: 14pt;")
        self.report_note = QLabel("", self)
        self.report_note.setObjectName("classifierNote")
        self.report_note.setWordWrap(True)
        self._review_timer = QTimer(self)
        self._review_timer.setSingleShot(True)
        self._review_timer.setInterval(120)
        self._review_timer.timeout.connect(self.score_review)
        self.review_edit.textChanged.connect(self._review_timer.start)
        self._report_job: _ReportJob | None = None
        box = QGroupBox("Metrics (threshold 0.5)", self)
        box.setObjectName("textMetricsBox")
        self.text_metrics_box = box
        self._text_metrics: tuple[list[str], list[str], list[list[Any]]] = ([], [], [])
        self.classifier_view.thresholdChanged.connect(lambda _t: self._fill_text_metrics())
        QVBoxLayout(box).addWidget(self.text_metrics_table)
        review_box = QGroupBox("Try a review", self)
        review_layout = QVBoxLayout(review_box)
        review_layout.addWidget(self.review_edit, 1)
        review_layout.addWidget(self.review_result)
        side = QSplitter(Qt.Orientation.Vertical, self)
        side.setObjectName("textResultsSide")
        side.addWidget(box)
        side.addWidget(review_box)
        side.addWidget(self.classifier_view.mistakes_box)
        side.setSizes([200, 170, 330])
        centre = QWidget(self)
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.classifier_view, 1)
        centre_layout.addWidget(self.report_note)
        text_page = QSplitter(Qt.Orientation.Horizontal, self)
        text_page.setObjectName("textResultsSplit")
        text_page.addWidget(centre)
        text_page.addWidget(side)
        text_page.setStretchFactor(0, 3)
        text_page.setStretchFactor(1, 2)
        text_page.setSizes([760, 480])

        return text_page

    # -- the document ------------------------------------------------------------------
    def _bind(self, document) -> None:
        """Show the document's results; a mid-run snapshot is drawn only where it is seen."""
        events = document.events
        events.results.connect(self._on_results)
        events.snapshot.connect(self._on_snapshot)
        events.project.connect(lambda _project: self.clear())
        self.futureStepsChanged.connect(document.set_future_steps)
        document.set_future_steps(self.future_spin.value())

    def _on_results(self, results) -> None:
        self._pending_snapshot = None  # the final results replace any mid-run forecast
        if results.model is None or results.data is None:
            self.clear()
        elif is_series(results.data):
            self.show_series(results.data, results.predictions or {}, results.metrics)
        else:
            report = (results.predictions or {}).get("classifier_report")
            self.show_text(results.model, results.data, results.metrics, report=report,
                           config=results.config)

    def _on_snapshot(self, predictions: dict[str, Any]) -> None:
        # Drawn only where it is seen: plotting on a hidden tab would take the GIL from the
        # training thread for nothing. The latest one is drawn when the tab is shown.
        self._pending_snapshot = predictions
        if self.isVisible():
            self._show_pending_snapshot()

    def _show_pending_snapshot(self) -> None:
        predictions, self._pending_snapshot = self._pending_snapshot, None
        data = self.document.data if self.document is not None else None
        if predictions is not None and is_series(data):
            self.show_series(data, predictions, None)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._pending_snapshot is not None:
            self._show_pending_snapshot()

    def clear(self) -> None:
        """Forget the shown model, forecast and metrics (File > New, another project opened).

        >>> window.results_panel.clear()   # doctest: +SKIP
        """
        self._review_timer.stop()
        self.model = None
        self.data = None
        self.results = {}
        self.metrics = {}
        self._prediction_curves = {}
        self.config = None
        self._pending_snapshot = None
        for plot in (self.forecast_plot, self.residual_plot):
            item = plot.getPlotItem()
            item.clear()  # removes each curve's legend entry too
        for table in (self.metrics_table, self.text_metrics_table):
            table.clear()
            table.setRowCount(0)
            table.setColumnCount(0)
        self._report_job = None  # a report still being computed is dropped when it arrives
        self._text_metrics = ([], [], [])
        self.text_metrics_box.setTitle("Metrics (threshold 0.5)")
        self.classifier_view.clear()
        self.report_note.setText("")
        self.note_label.setText(NO_RESULTS_NOTE)
        self.review_result.setText("")
        self.pages.setCurrentIndex(0)

    # -- series ------------------------------------------------------------------
    def show_series(self, data, results: dict[str, Any], metrics: dict[str, Any] | None = None) -> None:
        """Plot ``results`` (see :func:`~seqstudio.gui.worker.series_results`) and the metrics.

        A snapshot during training (same data, no metrics, no future) only moves the
        prediction curves: rebuilding the plot would hold the GUI thread ~20 ms.
        """
        splits = [s for s in ("train", "val", "test") if s in results]
        if (data is self.data and metrics is None and "future" not in results
                and splits and sorted(splits) == sorted(self._prediction_curves)):
            self.results = results
            for split in splits:
                px, py, residual = self._prediction_xy(data, split, results[split])
                curve, residual_curve = self._prediction_curves[split]
                curve.setData(px, py)
                if residual_curve is not None and residual is not None:
                    residual_curve.setData(px, residual)
            return
        self._prediction_curves = {}
        self.pages.setCurrentIndex(0)
        self.data, self.results = data, results
        if metrics is not None:
            self.metrics = metrics
        item = self.forecast_plot.getPlotItem()
        item.clear()  # removes each curve's legend entry too
        series: pd.DataFrame = data.series
        x, is_date = time_values(series.index)
        for plot in (self.forecast_plot, self.residual_plot):
            set_time_axis(plot, is_date)  # a plain row index is no clock time
            plot.getPlotItem().setLabel("bottom", "time" if is_date else "row")
        targets = list(data.target_columns)  # resolved by the core, also when the option was empty
        column = targets[0] if targets[0] in series.columns else series.columns[-1]
        item.setLabel("left", str(column))
        item.plot(x, series[column].to_numpy(dtype=float), **series_style(actual_color(), len(x)),
                  name="actual")
        residual_item = self.residual_plot.getPlotItem()
        residual_item.clear()
        if residual_item.legend is not None:
            residual_item.legend.clear()
        residual_item.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#999")))
        for split in ("train", "val", "test"):
            if split not in results:
                continue
            px, py, residual = self._prediction_xy(data, split, results[split])
            curve = item.plot(px, py, **series_style(SPLIT_COLORS[split], len(px), width=2),
                              name=f"prediction, {SPLIT_NAMES[split]}")
            residual_curve = None
            if residual is not None:
                residual_curve = residual_item.plot(px, residual, pen=None, symbol="o", symbolSize=5,
                                                    symbolBrush=SPLIT_COLORS[split], symbolPen=None,
                                                    name=split)
            self._prediction_curves[split] = (curve, residual_curve)
        if "future" in results:
            ftimes, fvalues = results["future"]
            fx, _ = time_values(pd.Index(ftimes))
            fy = np.asarray(fvalues, dtype=float).reshape(len(fx), -1)[:, 0]
            item.plot(fx, fy, pen=pg.mkPen(FUTURE_COLOR, width=2, style=Qt.PenStyle.DashLine),
                      name=f"forecast, {len(fx)} future steps")
            self._set_forecast_span(x, fx)
        else:
            self._forecast_span = None
            self._apply_zoom()
        split_times = getattr(data, "split_times", {}) or {}
        for split in ("val", "test"):
            if split in split_times and split_times[split][0] is not None:
                (sx,), _ = time_values(pd.Index([split_times[split][0]]))
                line = pg.InfiniteLine(pos=sx, angle=90, pen=pg.mkPen("#777", style=Qt.PenStyle.DotLine),
                                       label=f"{SPLIT_NAMES[split]} →",
                                       labelOpts={"position": 0.95, "color": actual_color()})
                item.addItem(line)
        note = results.get("future_error")
        self._fill_series_metrics(note)

    def _set_forecast_span(self, x: np.ndarray, fx: np.ndarray) -> None:
        """Where "zoom to the forecast" looks: the last stretch of the data and the forecast.

        A 24-step forecast after 3,650 daily values is a few pixels wide; zoomed, the
        forecast and three times its length of history before it fill the plot. On a
        long series the zoom is on by default.
        """
        if len(fx) == 0 or len(x) == 0:
            self._forecast_span = None
        else:
            history = max(3 * len(fx), 24)
            self._forecast_span = (float(x[max(0, len(x) - history)]), float(fx[-1]))
            if len(x) > LONG_SERIES and not self._zoom_chosen:
                with QSignalBlocker(self.zoom_check):
                    self.zoom_check.setChecked(True)
        self._apply_zoom()

    def _apply_zoom(self, *_args) -> None:
        span = getattr(self, "_forecast_span", None)
        self.zoom_check.setEnabled(span is not None)
        item = self.forecast_plot.getPlotItem()
        if span is not None and self.zoom_check.isChecked():
            item.setXRange(*span, padding=0.02)
            item.enableAutoRange(y=True)
            item.setAutoVisible(y=True)  # the y range follows what is in view
        else:
            item.setAutoVisible(y=False)
            item.enableAutoRange()
            for curve in item.listDataItems():  # clipped to the zoomed view: re-read the whole series
                curve.viewRangeChanged()
            item.autoRange()  # now, not at the next paint

    def _on_zoom_toggled(self, _checked: bool) -> None:
        self._zoom_chosen = True  # the user's choice wins over the long-series default
        self._apply_zoom()

    @staticmethod
    def _prediction_xy(data, split: str, times_and_values):
        """Plot x, the first predicted step, and actual − predicted (None when unavailable)."""
        times, predicted = times_and_values
        px, _ = time_values(pd.Index(times))
        py = np.asarray(predicted, dtype=float).reshape(len(px), -1)[:, 0]
        try:
            actual = np.asarray(data.actual(split), dtype=float).reshape(len(px), -1)[:, 0]
            residual = actual - py
        except Exception:  # noqa: BLE001 - residuals are optional decoration
            residual = None
        return px, py, residual

    def _fill_series_metrics(self, note: str | None = None) -> None:
        metrics = self.metrics or {}
        splits = [s for s in ("train", "test") if isinstance(metrics.get(s), dict)]
        if not splits:
            self.metrics_table.setRowCount(0)
            self.note_label.setText(note or "Metrics appear when training finishes.")
            return
        names = ("rmse", "mae", "mape")
        columns = [f"{n.upper()} {s}" for n in names for s in splits]
        rows = ["model"]
        baseline_names: list[str] = []
        for s in splits:
            for b in (metrics[s].get("baselines") or {}):
                if b not in baseline_names:
                    baseline_names.append(b)
        rows += [f"{b.replace('_', '-')} baseline" for b in baseline_names]
        values = []
        for row_name in ["model", *baseline_names]:
            row = []
            for n in names:
                for s in splits:
                    source = metrics[s] if row_name == "model" else \
                        (metrics[s].get("baselines") or {}).get(row_name, {})
                    value = source.get(n)
                    row.append(None if value is None else float(value))
            values.append(row)
        _fill_table(self.metrics_table, rows, columns, values)
        text = "MAPE in percent. A model worth keeping beats the baselines on the test part."
        self.note_label.setText(f"{text}\n{note}" if note else text)

    def _on_export_csv_clicked(self) -> None:
        path = ask_save_path(self, "export", "Export predictions as CSV", "predictions.csv", "CSV (*.csv)")
        if path:
            self.export_predictions_csv(path)

    def _on_export_plot_clicked(self) -> None:
        path = ask_save_path(self, "export", "Export plot as PNG", "forecast.png", "PNG image (*.png)")
        if path:
            export_plot_png(self.forecast_plot, path)

    def export_predictions_csv(self, path: str) -> None:
        """Write the predictions (series: time, split, actual, predicted) to ``path``."""
        frames = []
        for split in ("train", "val", "test", "future"):
            if split not in self.results:
                continue
            times, predicted = self.results[split]
            predicted = np.asarray(predicted, dtype=float).reshape(len(times), -1)
            frame = pd.DataFrame({"time": list(times), "split": split})
            if split != "future" and self.data is not None:
                actual = np.asarray(self.data.actual(split), dtype=float).reshape(len(times), -1)
                for j in range(actual.shape[1]):
                    frame[f"actual_{j}" if actual.shape[1] > 1 else "actual"] = actual[:, j]
            for j in range(predicted.shape[1]):
                frame[f"predicted_{j}" if predicted.shape[1] > 1 else "predicted"] = predicted[:, j]
            frames.append(frame)
        if "text_test" in self.results:
            frames.append(pd.DataFrame(self.results["text_test"]))
        if not frames:  # nothing trained yet: the header alone rather than an error
            frames.append(pd.DataFrame(columns=["time", "split", "actual", "predicted"]))
        pd.concat(frames, ignore_index=True).to_csv(path, index=False)

    # -- text ------------------------------------------------------------------------
    def show_text(self, model, data, metrics: dict[str, Any], report=None, *, config=None) -> None:
        """Show classification metrics, the curves, threshold and mistakes; enable the review box.

        ``report`` is the :class:`~seqstudio.core.classify.report.ClassifierReport` of the
        test part (the training thread computes it after a run); without it the model is run
        over the test part in a background thread and the page fills in when that ends.
        ``config`` (the ``TrainConfig``) says whether the model outputs logits.
        """
        self.pages.setCurrentIndex(1)
        self.model, self.data, self.metrics, self.config = model, data, metrics or {}, config
        splits = [s for s in ("train", "val", "test") if isinstance(self.metrics.get(s), dict)]
        names = ("accuracy", "precision", "recall", "f1", "roc_auc", "loss")
        values = [[self.metrics[s].get(n) for s in splits] for n in names]
        values = [[None if v is None else float(v) for v in row] for row in values]
        self._text_metrics = (list(names), splits, values)
        self._fill_text_metrics()
        if report is not None:
            self._report_job = None
            self._show_report(report)
        elif model is not None and data is not None:
            self.report_note.setText("Scoring the test part…")
            self._report_job = _ReportJob(model, data, self, config=config)
            self._report_job.done.connect(self._on_report_done)
            self._report_job.start()
        self.score_review()

    def _on_report_done(self, job, report, error) -> None:
        if job is not self._report_job:  # another model or data came since: not this one's turn
            return
        self._report_job = None
        if error is not None:
            self.classifier_view.clear()
            self.report_note.setText(f"Could not score the test part: {error}")
            return
        self._show_report(report)

    def _fill_text_metrics(self) -> None:
        """The metrics table and its heading at the threshold the control shows.

        Training measured every split at 0.5. The test part's accuracy, precision, recall
        and F1 follow the threshold (from its report; ROC AUC and the loss do not depend
        on it), and the heading says which threshold each column was measured at.
        """
        names, splits, values = self._text_metrics
        values = [list(row) for row in values]
        report, threshold = self.classifier_view.report, self.classifier_view.threshold
        if report is not None and not report.binary:
            title = "Metrics (the likeliest class)"
        elif report is not None and "test" in splits and abs(threshold - 0.5) > 1e-9:
            at = report.metrics_at(threshold)
            column = splits.index("test")
            for row, name in enumerate(names):
                if name in at:
                    values[row][column] = float(at[name])
            others = [s for s in splits if s != "test"]
            title = (f"Metrics (test at threshold {threshold:.3g}; "
                     f"{' and '.join(_SPLIT_WORDS.get(s, s) for s in others)} at 0.5)") if others \
                else f"Metrics (threshold {threshold:.3g})"
        else:
            title = "Metrics (threshold 0.5)"
        self.text_metrics_box.setTitle(title)
        _fill_table(self.text_metrics_table, names, splits, values)

    def _show_report(self, report) -> None:
        self.classifier_view.set_report(report)
        self._fill_text_metrics()
        self.report_note.setText("" if report is not None and len(report) else
                                 "The test part is empty: no curves to draw.")

    def _on_review_chosen(self, text: str) -> None:
        self.review_edit.setPlainText(text)
        self.score_review()

    def score_review(self) -> None:
        """Score the text in the review box with the current model (probability of each class)."""
        text = self.review_edit.toPlainText().strip()
        if not text or self.model is None or not isinstance(self.data, TextData):
            self.review_result.setText("")
            return
        try:
            from seqstudio.core.train.evaluate import predict_probabilities

            probs = predict_probabilities(self.model, self.data.encode_texts([text]), self.config)[0]
            classes = list(getattr(self.data, "class_names", []) or [])
            if probs.size == 1:
                positive = classes[1] if len(classes) > 1 else "positive"
                self.review_result.setText(f"P({positive}) = {float(probs.reshape(-1)[0]):.3f}")
            else:
                best = int(probs.argmax())
                name = classes[best] if best < len(classes) else str(best)
                self.review_result.setText(f"{name}: {probs[best]:.3f}")
        except Exception as exc:  # noqa: BLE001 - say why instead of breaking the box
            self.review_result.setText(error_text(exc))
