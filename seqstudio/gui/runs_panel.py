"""Runs: the project's training history, compared side by side.

A table lists every run (name, layers, parameters, epochs, seconds, device,
its headline metric, why it stopped) with a checkbox each. The checked runs'
loss curves are overlaid in one plot (one colour per run: training solid,
validation dashed) and their final metrics stand in columns beside each
other; checked runs that differ only in their seed also get a
"mean ± std (n)" column, so the lecture's LSTM-against-GRU comparison can be
told apart from the luck of one initialisation.

The panel only shows runs and asks for actions: the window owns the project,
listens to ``restoreRequested`` / ``continueRequested`` / ``runDeleted`` and
calls :meth:`RunsPanel.set_runs` after each training.

>>> panel = RunsPanel()                         # doctest: +SKIP
>>> panel.set_runs(project.runs)                # doctest: +SKIP
>>> panel.set_checked([r["id"] for r in project.runs[-2:]])   # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.train.runs import (
    aggregate,
    flatten_metrics,
    headline_metric,
    model_label,
    runs_to_csv,
    seed_groups,
)

from .data_panel import error_text
from .plots import make_plot_widget
from .settings import ask_save_path

#: One colour per checked run (matplotlib's tab10, as the other plots use).
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
RUN_COLUMNS = ("run", "layers", "params", "epochs", "seconds", "device", "result", "stopped")
#: Rows of the metrics table before the per-split metrics: (label, record key).
_FACT_ROWS = (("total params", "total_params"), ("epochs", "epochs_run"), ("seconds", "seconds"))
#: Where the run's record sits on the first cell of its row.
_RUN_ID_ROLE = Qt.ItemDataRole.UserRole


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _item(text: str, *, align_right: bool = False, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tooltip:
        item.setToolTip(tooltip)
    return item


class RunsPanel(QWidget):
    """The run history with checkable rows, overlaid loss curves and side-by-side metrics.

    Signals
    -------
    restoreRequested(dict)
        The user wants this run's data, layers and train settings in the editors.
    continueRequested(dict)
        The user wants to train on from the weights this run ended with.
    runDeleted(dict)
        The user removed this run from the list (the window drops it from the project).
    """

    restoreRequested = Signal(dict)
    continueRequested = Signal(dict)
    runDeleted = Signal(dict)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self._runs: list[dict] = []
        #: (run id, "train" | "val") -> the curve drawn for it now
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}

        self.runs_table = QTableWidget(0, len(RUN_COLUMNS), self)
        self.runs_table.setObjectName("runsTable")
        self.runs_table.setAccessibleName("Training runs")
        self.runs_table.setToolTip("Every training run of this project. Tick runs to compare them.")
        self.runs_table.setHorizontalHeaderLabels(list(RUN_COLUMNS))
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.verticalHeader().setVisible(False)
        header = self.runs_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.runs_table.itemChanged.connect(self._on_run_item_changed)
        self.runs_table.currentCellChanged.connect(self._on_current_run_changed)

        self.loss_plot = make_plot_widget("Loss per epoch (solid: training, dashed: validation)",
                                          "epoch", "loss", object_name="runsLossPlot",
                                          legend_offset=(-10, 10))  # top right: losses fall
        self.loss_plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)

        self.metrics_table = QTableWidget(0, 0, self)
        self.metrics_table.setObjectName("runsMetricsTable")
        self.metrics_table.setAccessibleName("Final metrics of the ticked runs")
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setWordWrap(False)  # numbers on one line; the table scrolls sideways
        self.metrics_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.metrics_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        self.restore_button = self._button("Restore config", "restoreRunButton",
                                           "Put this run's data settings, layers and training settings "
                                           "into the editors.", self._on_restore_clicked)
        self.continue_button = self._button("Continue from weights", "continueRunButton",
                                            "Train on from the weights this run ended with "
                                            "(only runs that kept their weights).",
                                            self._on_continue_clicked)
        self.export_button = self._button("Export CSV…", "exportRunsButton",
                                          "Write the ticked runs' loss curves and final metrics "
                                          "(all runs when none is ticked) to a CSV file.",
                                          self._on_export_clicked)
        self.delete_button = self._button("Delete run", "deleteRunButton",
                                          "Remove this run and its saved weights from the project.",
                                          self._on_delete_clicked)
        self.note_label = QLabel("Train a model: each run appears here.", self)
        self.note_label.setObjectName("runsNote")
        self.note_label.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.restore_button, self.continue_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.runs_table, 1)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.note_label)
        metrics_box = QGroupBox("Final metrics (original units)", self)
        QVBoxLayout(metrics_box).addWidget(self.metrics_table)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.loss_plot)
        lower.addWidget(metrics_box)
        lower.setSizes([540, 620])
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(lower)
        split.setSizes([180, 520])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self._update_buttons()

    def _button(self, text: str, name: str, tooltip: str, slot) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tooltip)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    # -- the runs ------------------------------------------------------------------
    def set_runs(self, runs: list[dict]) -> None:
        """Show ``runs`` (run records, oldest first); ticks survive for runs still present.

        Runs new since the last call are ticked too (a run just trained joins the
        comparison); when no run ends up ticked, the newest one is, so a freshly
        opened history shows a curve.
        """
        checked = {r["id"] for r in self.selected_runs()}
        known = {r.get("id") for r in self._runs}
        self._runs = list(runs)
        ids = {r.get("id") for r in self._runs}
        checked &= ids
        if known:
            checked |= ids - known
        if not checked and self._runs:
            checked = {self._runs[-1].get("id")}
        with QSignalBlocker(self.runs_table):
            self.runs_table.setRowCount(len(self._runs))
            for row, run in enumerate(self._runs):
                self._fill_row(row, run, run.get("id") in checked)
        self.note_label.setVisible(not self._runs)
        self._refresh_comparison()
        self._update_buttons()

    def runs(self) -> list[dict]:
        """Every run shown, in table order."""
        return list(self._runs)

    def selected_runs(self) -> list[dict]:
        """The ticked runs, in table order."""
        return [run for row, run in enumerate(self._runs)
                if (item := self.runs_table.item(row, 0)) is not None
                and item.checkState() == Qt.CheckState.Checked]

    def set_checked(self, run_ids) -> None:
        """Tick exactly the runs whose ids are in ``run_ids``."""
        wanted = set(run_ids)
        with QSignalBlocker(self.runs_table):
            for row, run in enumerate(self._runs):
                state = Qt.CheckState.Checked if run.get("id") in wanted else Qt.CheckState.Unchecked
                self.runs_table.item(row, 0).setCheckState(state)
        self._refresh_comparison()

    def current_run(self) -> dict | None:
        """The run the buttons act on: the highlighted row, else the only ticked run."""
        row = self.runs_table.currentRow()
        if 0 <= row < len(self._runs):
            return self._runs[row]
        selected = self.selected_runs()
        return selected[0] if len(selected) == 1 else None

    def _fill_row(self, row: int, run: dict, checked: bool) -> None:
        name = run.get("name") or run.get("id", "")
        first = QTableWidgetItem(name)
        first.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                       | Qt.ItemFlag.ItemIsUserCheckable)
        first.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        first.setData(_RUN_ID_ROLE, run.get("id"))
        first.setToolTip(f"started {run.get('started_at', '?')}; "
                         f"{'weights kept' if run.get('has_weights') else 'no weights kept'}")
        label, value = headline_metric(run)
        stopped = run.get("stopped_reason") or "completed"
        cells = [
            first,
            _item(model_label(run.get("model") or {}, full=True)),
            _item(_format(run.get("total_params")), align_right=True),
            _item(_format(run.get("epochs_run", len(run.get("history") or []))), align_right=True),
            _item(f"{run['seconds']:.1f}" if isinstance(run.get("seconds"), int | float) else "",
                  align_right=True),
            _item(str(run.get("device") or "")),
            _item(f"{label} {_format(value)}" if label else ""),
            _item(stopped, tooltip=run.get("stopped_message") or ""),
        ]
        for column, item in enumerate(cells):
            self.runs_table.setItem(row, column, item)

    # -- comparison ----------------------------------------------------------------
    def curve_data(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """The plotted curves: ``(run id, "train" | "val") -> (epochs, losses)`` (tests read this)."""
        return {key: (np.asarray(curve.xData), np.asarray(curve.yData)) for key, curve in self._curves.items()}

    def _refresh_comparison(self) -> None:
        selected = self.selected_runs()
        self._plot_curves(selected)
        self._fill_metrics(selected)

    def _plot_curves(self, runs: list[dict]) -> None:
        item = self.loss_plot.getPlotItem()
        item.clear()  # also empties the legend
        self._curves = {}
        for index, run in enumerate(runs):
            color = RUN_COLORS[index % len(RUN_COLORS)]
            history = run.get("history") or []
            epochs = np.array([h.get("epoch", i + 1) for i, h in enumerate(history)], dtype=np.float64)
            name = run.get("name") or run.get("id", "")
            for key, style, suffix in (("train", Qt.PenStyle.SolidLine, "train"),
                                       ("val", Qt.PenStyle.DashLine, "val")):
                losses = np.array([np.nan if h.get(f"{key}_loss") is None else h[f"{key}_loss"]
                                   for h in history], dtype=np.float64)
                if not np.isfinite(losses).any():
                    continue  # no validation split: no empty legend entry
                curve = item.plot(epochs, losses, pen=pg.mkPen(color, width=2, style=style),
                                  name=f"{name} {suffix}", connect="finite")
                curve.setSkipFiniteCheck(False)  # a run stopped by NaN has gaps
                self._curves[(run.get("id"), key)] = curve

    def _fill_metrics(self, runs: list[dict]) -> None:
        table = self.metrics_table
        table.clear()
        flats = [flatten_metrics(r.get("metrics") or {}) for r in runs]
        keys: list[str] = []
        for flat in flats:
            keys += [k for k in flat if k not in keys]
        rows = [(label, key) for label, key in _FACT_ROWS] + [(_metric_label(k), k) for k in keys]
        groups = seed_groups(runs)
        headers = [(r.get("name") or r.get("id", "")).replace(": ", "\n", 1) for r in runs]
        headers += [f"{model_label(g[0].get('model') or {})}, {len(g)} seeds\nmean ± std (n={len(g)})"
                    for g in groups]
        table.setRowCount(len(rows))
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setVerticalHeaderLabels([label for label, _ in rows])
        for r, (_label, key) in enumerate(rows):
            for c, (run, flat) in enumerate(zip(runs, flats, strict=True)):
                value = run.get(key) if key in dict(_FACT_ROWS).values() else flat.get(key)
                table.setItem(r, c, _item(_format(value), align_right=True))
            for g, group in enumerate(groups):
                stats = aggregate(group, key)
                text = "" if stats["n"] == 0 else f"{_format(stats['mean'])} ± {_format(stats['std'])}"
                if 0 < stats["n"] < len(group):  # some runs lack this number
                    text += f" (n={stats['n']})"
                tip = "" if stats["n"] == 0 else \
                    f"min {_format(stats['min'])}, max {_format(stats['max'])} over {stats['n']} seeds"
                table.setItem(r, len(runs) + g, _item(text, align_right=True, tooltip=tip))

    # -- actions -------------------------------------------------------------------
    def export_csv(self, path: str, runs: list[dict] | None = None) -> None:
        """Write ``runs`` (default: the ticked ones, or all when none is ticked) as CSV to ``path``.

        The layout is :func:`seqstudio.core.train.runs.runs_to_csv`'s: one row per
        (run, epoch) with the run's facts and final metrics as columns.
        """
        runs_to_csv(runs if runs is not None else (self.selected_runs() or self._runs), path)

    def delete_run(self, run: dict) -> None:
        """Remove ``run`` from the list and tell the window (``runDeleted``); no question asked."""
        remaining = [r for r in self._runs if r.get("id") != run.get("id")]
        if len(remaining) == len(self._runs):
            return
        self.set_runs(remaining)
        self.runDeleted.emit(run)

    def _on_export_clicked(self) -> None:
        path = ask_save_path(self, "export", "Export runs as CSV", "runs.csv", "CSV file (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot export runs", error_text(exc))

    def _on_restore_clicked(self) -> None:
        run = self.current_run()
        if run is not None:
            self.restoreRequested.emit(run)

    def _on_continue_clicked(self) -> None:
        run = self.current_run()
        if run is not None and run.get("has_weights"):
            self.continueRequested.emit(run)

    def _on_delete_clicked(self) -> None:
        run = self.current_run()
        if run is None:
            return
        answer = QMessageBox.question(self, "Delete run",
                                      f"Delete {run.get('name') or run.get('id')} and its saved weights?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_run(run)

    def _on_run_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0:
            self._refresh_comparison()
            self._update_buttons()

    def _on_current_run_changed(self, *_args) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        run = self.current_run()
        self.restore_button.setEnabled(run is not None)
        self.delete_button.setEnabled(run is not None)
        self.continue_button.setEnabled(bool(run and run.get("has_weights")))
        self.export_button.setEnabled(bool(self._runs))


def _metric_label(key: str) -> str:
    """``test.rmse`` -> ``test RMSE``; ``test.baseline.naive.rmse`` -> ``test RMSE (naive baseline)``."""
    parts = key.split(".")
    names = {"rmse": "RMSE", "mae": "MAE", "mape": "MAPE (%)", "f1": "F1", "roc_auc": "ROC AUC"}
    metric = names.get(parts[-1], parts[-1].replace("_", " "))
    if len(parts) == 4 and parts[1] == "baseline":
        return f"{parts[0]} {metric} ({parts[2].replace('_', ' ')} baseline)"
    return f"{parts[0]} {metric}"
