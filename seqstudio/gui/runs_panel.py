"""Runs: the project's training history, compared side by side.

A table lists every run (name, the data it trained on, layers, parameters,
epochs, seconds, device, its headline metric, why it stopped) with a checkbox
each. The checked runs' loss curves are overlaid (one colour per run:
training solid, validation dashed) and their final metrics stand in columns
beside each other; checked runs that differ only in their seed also get a
"mean ± std (n)" column, so the lecture's LSTM-against-GRU comparison can be
told apart from the luck of one initialisation.

Runs know their data (:mod:`seqstudio.core.data.identity`): the table can be
filtered to one data set and grouped by it, runs minimising different losses
never share a loss axis (each loss gets its own plot), and comparing runs on
different data says so above the metrics. The table is a model / view pair,
so a project with hundreds of runs opens and scrolls at once; curves are
drawn only for the ticked runs.

The panel only shows runs and asks for actions: the window owns the project,
listens to ``restoreRequested`` / ``continueRequested`` / ``runDeleted`` and
calls :meth:`RunsPanel.set_runs` after each training.

>>> panel = RunsPanel()                         # doctest: +SKIP
>>> panel.set_runs(project.runs)                # doctest: +SKIP
>>> panel.set_checked([r["id"] for r in project.runs[-2:]])   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QSignalBlocker,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.data.identity import data_key, run_data_label
from seqstudio.core.studio import ErrorReport
from seqstudio.core.train.runs import (
    aggregate,
    flatten_metrics,
    headline_metric,
    model_label,
    runs_to_csv,
    seed_groups,
)

from .plots import line_width, make_plot_widget
from .settings import ask_save_path

#: One colour per checked run (matplotlib's tab10, as the other plots use).
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
RUN_COLUMNS = ("run", "data", "layers", "params", "epochs", "seconds", "device", "result", "stopped")
#: Columns holding numbers: sorted by value, not by text.
_NUMERIC_COLUMNS = {"params": "total_params", "epochs": "epochs_run", "seconds": "seconds"}
#: The ticked runs' curves are drawn 2 pixels wide up to this many points in all, 1 pixel above.
THICK_CURVE_POINTS = 800
#: Up to this many ticked runs the legend shows their full names, above it "run N".
LEGEND_FULL_NAMES = 3
#: Curves kept for re-use after they leave the plots (see ``RunsPanel._spare_curves``).
SPARE_CURVES = 40
#: Rows of the metrics table before the per-split metrics: (label, record key).
_FACT_ROWS = (("total params", "total_params"), ("epochs", "epochs_run"), ("seconds", "seconds"))
#: The run record behind a row.
RUN_ROLE = Qt.ItemDataRole.UserRole
_ALL_DATA = ""


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


def run_loss(run: dict) -> str:
    """The loss a run minimised (``train.loss``), "" when the record does not say."""
    return str((run.get("train") or {}).get("loss") or "")


_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_CHECK_STATE = Qt.ItemDataRole.CheckStateRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_ROLES_ANSWERED = frozenset({_DISPLAY, _CHECK_STATE, _ALIGNMENT, _TOOLTIP, RUN_ROLE.value})
_CHECKED, _UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_NUMERIC_COLUMN_INDICES = frozenset(RUN_COLUMNS.index(name) for name in _NUMERIC_COLUMNS)
_PLAIN_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_CHECKABLE_FLAGS = _PLAIN_FLAGS | Qt.ItemFlag.ItemIsUserCheckable


class RunsTableModel(QAbstractTableModel):
    """Run records as rows, the first column checkable; ``checkedChanged()`` after a tick."""

    checkedChanged = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._runs: list[dict] = []
        self._order: list[int] = []
        self._keys: list[str] = []
        self._checked: set[str] = set()
        self._cells: dict[int, tuple[list[str], str]] = {}  # row -> (texts, tooltip), on demand
        self._sorted_by: tuple[int, Qt.SortOrder] | None = None  # (column, order); None: training order

    # -- contents ------------------------------------------------------------------
    def set_runs(self, runs: list[dict], checked: set[str]) -> None:
        """Show ``runs`` (training order) with ``checked`` ticked.

        Runs appended to the history become inserted rows and deleted runs removed rows
        (``beginInsertRows`` / ``beginRemoveRows``), so the view keeps its scroll
        position, current row and sort, and re-reads only what it shows; anything else
        (another project) resets the model.
        """
        runs = list(runs)
        self._checked = set(checked)
        old_ids = [run.get("id") for run in self._training_order()]
        new_ids = [run.get("id") for run in runs]
        if not old_ids or not self._incremental(old_ids, new_ids, runs):
            self.beginResetModel()
            self._runs = runs
            self._order = list(range(len(runs)))  # training order, kept for "unsorted"
            self._keys = [data_key(run) for run in runs]
            self._cells = {}
            self._sorted_by = None
            self.endResetModel()

    def _training_order(self) -> list[dict]:
        if self._sorted_by is None:  # unsorted rows are in training order
            return list(self._runs)
        return [run for _, run in sorted(zip(self._order, self._runs, strict=True), key=lambda p: p[0])]

    def _incremental(self, old_ids: list, new_ids: list, runs: list[dict]) -> bool:
        """Apply runs appended or deleted as row inserts / removals; False when it is neither."""
        new_set = set(new_ids)
        kept = [i for i in old_ids if i in new_set]
        if None in new_set or len(new_set) != len(new_ids) or new_ids[:len(kept)] != kept:
            return False  # not "the old history minus some runs, plus new ones at the end"
        removed = len(old_ids) - len(kept)
        if removed > 20:
            return False  # a reset is cheaper than many single removals
        by_id = {run.get("id"): run for run in runs}
        for row in range(len(self._runs) - 1, -1, -1):  # removals first, bottom up
            if self._runs[row].get("id") not in new_set:
                self.beginRemoveRows(QModelIndex(), row, row)
                gone = self._order[row]
                del self._runs[row], self._order[row], self._keys[row]
                self._order = [o - 1 if o > gone else o for o in self._order]
                self._cells = {(r - 1 if r > row else r): c for r, c in self._cells.items() if r != row}
                self.endRemoveRows()
        replaced = []
        for row, run in enumerate(self._runs):  # the same runs may come as new records
            fresh = by_id[run.get("id")]
            if fresh is not run:
                self._runs[row] = fresh
                self._keys[row] = data_key(fresh)
                self._cells.pop(row, None)
                replaced.append(row)
        if replaced:
            self.dataChanged.emit(self.index(replaced[0], 0),
                                  self.index(replaced[-1], len(RUN_COLUMNS) - 1))
        added = runs[len(kept):]
        if added:
            first = len(self._runs)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._order += list(range(len(kept), len(kept) + len(added)))
            self._runs += added
            self._keys += [data_key(run) for run in added]
            self.endInsertRows()
            if self._sorted_by is not None:
                self.sort(*self._sorted_by)  # the new rows go where the sort puts them
        return True

    def data_sets(self) -> list[tuple[str, str, int]]:
        """``(key, label, number of runs)`` of each data set, first trained on first."""
        first: dict[str, int] = {}
        counts: dict[str, int] = {}
        for row, (key, order) in enumerate(zip(self._keys, self._order, strict=True)):
            counts[key] = counts.get(key, 0) + 1
            if key not in first or order < self._order[first[key]]:
                first[key] = row
        keys = sorted(first, key=lambda k: self._order[first[k]])
        return [(key, run_data_label(self._runs[first[key]]), counts[key]) for key in keys]

    def data_key_of(self, row: int) -> str:
        return self._keys[row]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows in place by ``column`` (-1: the order they were trained in).

        One Python ``sorted`` over precomputed keys: a proxy sorting through ``data()``
        made ~20,000 Python calls for 500 runs.
        """
        self._sorted_by = None if column < 0 else (column, order)
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        rows = list(range(len(self._runs)))
        if column < 0:
            rows.sort(key=lambda r: self._order[r])
        else:
            keys = [self._sort_key(r, column) for r in rows]
            rows.sort(key=lambda r: (keys[r], self._order[r]),
                      reverse=order == Qt.SortOrder.DescendingOrder)
        self._runs = [self._runs[r] for r in rows]
        self._order = [self._order[r] for r in rows]
        self._keys = [self._keys[r] for r in rows]
        self._cells = {new: self._cells[old] for new, old in enumerate(rows) if old in self._cells}
        position = {old: new for new, old in enumerate(rows)}
        self.changePersistentIndexList(
            persistent, [self.index(position[p.row()], p.column()) for p in persistent])
        self.layoutChanged.emit()

    def _sort_key(self, row: int, column: int):
        run = self._runs[row]
        name = RUN_COLUMNS[column]
        if name in _NUMERIC_COLUMNS:
            value = run.get(_NUMERIC_COLUMNS[name])
            return float(value) if isinstance(value, int | float) else -math.inf
        if name == "run":
            number = run.get("number")
            return float(number) if isinstance(number, int) else float(self._order[row])
        return self._row_cells(row)[0][column].lower()

    def runs(self) -> list[dict]:
        """Every run in training order (whatever the rows' sort)."""
        return self._training_order()

    def run(self, row: int) -> dict:
        return self._runs[row]

    def checked_ids(self) -> set[str]:
        return set(self._checked)

    def set_checked_ids(self, ids) -> None:
        self._checked = {i for i in ids if i is not None}
        if self._runs:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._runs) - 1, 0),
                                  [Qt.ItemDataRole.CheckStateRole])

    def _row_cells(self, row: int) -> tuple[list[str], str]:
        cached = self._cells.get(row)
        if cached is None:
            run = self._runs[row]
            label, value = headline_metric(run)
            cached = ([
                run.get("name") or run.get("id", ""),
                run_data_label(run),
                model_label(run.get("model") or {}, full=True),
                _format(run.get("total_params")),
                _format(run.get("epochs_run", len(run.get("history") or []))),
                f"{run['seconds']:.1f}" if isinstance(run.get("seconds"), int | float) else "",
                str(run.get("device") or ""),
                f"{label} {_format(value)}" if label else "",
                run.get("stopped_reason") or "completed",
            ], run.get("stopped_message") or "")
            self._cells[row] = cached
        return cached

    # -- the Qt model ----------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(RUN_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return RUN_COLUMNS[section]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        return _CHECKABLE_FLAGS if index.column() == 0 else _PLAIN_FLAGS

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        # Called ~10 times per visible cell on each repaint: the common roles first, as plain
        # ints (an enum attribute lookup per call was a third of a repaint of the table).
        if role not in _ROLES_ANSWERED or not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == _DISPLAY:
            return self._row_cells(row)[0][column]
        run = self._runs[row]
        if role == _CHECK_STATE:
            if column != 0:
                return None
            return _CHECKED if run.get("id") in self._checked else _UNCHECKED
        if role == _ALIGNMENT:
            return _RIGHT if column in _NUMERIC_COLUMN_INDICES else None
        if role == RUN_ROLE:
            return run
        if role == _TOOLTIP:
            if column == 0:
                return (f"started {run.get('started_at', '?')}; "
                        f"{'weights kept' if run.get('has_weights') else 'no weights kept'}")
            if RUN_COLUMNS[column] == "data":
                ident = run.get("data") or {}
                return (f"source {ident.get('source') or run.get('source') or '?'}; "
                        f"content hash {ident.get('hash') or 'not recorded'}")
            if RUN_COLUMNS[column] == "stopped":
                return self._row_cells(row)[1] or None
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or index.column() != 0 or role != Qt.ItemDataRole.CheckStateRole:
            return False
        run_id = self._runs[index.row()].get("id")
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self._checked.add(run_id)
        else:
            self._checked.discard(run_id)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checkedChanged.emit()
        return True


class RunsFilterModel(QSortFilterProxyModel):
    """Shows the runs of one data set (``set_data_key``; "" = all); sorting is the source's."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._key = _ALL_DATA
        self.setDynamicSortFilter(False)

    @property
    def data_key(self) -> str:
        return self._key

    def set_data_key(self, key: str) -> None:
        if (key or _ALL_DATA) == self._key:
            return
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 deprecates invalidateRowsFilter()
            self.beginFilterChange()
            self._key = key or _ALL_DATA
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._key = key or _ALL_DATA
            self.invalidateRowsFilter()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)  # the proxy keeps the source's row order

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        return not self._key or self.sourceModel().data_key_of(source_row) == self._key


class RunsPanel(QWidget):
    """The run history with checkable rows, loss curves per loss and side-by-side metrics.

    Signals
    -------
    restoreRequested(dict)
        The user wants this run's data, layers and train settings in the editors.
    continueRequested(dict)
        The user wants to train on from the weights this run ended with.
    runDeleted(dict)
        The user removed this run from the list (the window drops it from the project).
    failed(ErrorReport)
        An action failed (exporting the CSV); the window shows it through its error route.
    """

    restoreRequested = Signal(dict)
    continueRequested = Signal(dict)
    runDeleted = Signal(dict)
    failed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        #: (run id, "train" | "val") -> the curve drawn for it now
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        #: (run id, "train" | "val") -> the plot that curve is on
        self._curve_plots: dict[tuple[str, str], pg.PlotWidget] = {}
        #: curves taken off the plots, oldest first: a run filtered out and back, or unticked
        #: and ticked again, gets its curve back instead of a new one (~3 ms a curve)
        self._spare_curves: OrderedDict[tuple[str, str], tuple[list, pg.PlotDataItem]] = OrderedDict()
        #: (run id, "train" | "val") -> the history list a shown curve was drawn from
        self._curve_sources: dict[tuple[str, str], list] = {}

        self._make_table()
        self._make_filters()
        self._make_plots()
        self._make_metrics()
        self._make_buttons()
        self._lay_out()
        self._update_buttons()

    def _make_table(self) -> None:
        """The runs table: the model, the data filter proxy, the view."""
        self.table_model = RunsTableModel(self)
        self.proxy = RunsFilterModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.runs_table = QTableView(self)
        self.runs_table.setObjectName("runsTable")
        self.runs_table.setAccessibleName("Training runs")
        self.runs_table.setToolTip("Every training run of this project. Tick runs to compare them; "
                                   "click a column header to sort by it.")
        self.runs_table.setModel(self.proxy)
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.verticalHeader().setDefaultSectionSize(24)
        header = self.runs_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((180, 250, 170, 60, 60, 70, 60, 130)):
            self.runs_table.setColumnWidth(column, width)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the order they were trained in
        self.runs_table.setSortingEnabled(True)
        self.table_model.checkedChanged.connect(self._on_checked_changed)
        self.runs_table.selectionModel().currentRowChanged.connect(self._on_current_run_changed)

    def _make_filters(self) -> None:
        """The data filter and the group-by-data box."""
        self.data_filter = QComboBox(self)
        self.data_filter.setObjectName("runsDataFilter")
        self.data_filter.setAccessibleName("Show the runs of")
        self.data_filter.setToolTip("Show only the runs trained on one data set.")
        self.data_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.data_filter.currentIndexChanged.connect(self._on_data_filter_changed)
        self.group_check = QCheckBox("group by data", self)
        self.group_check.setObjectName("runsGroupByData")
        self.group_check.setToolTip("Sort the runs by the data they were trained on, so each data "
                                    "set's runs stand together.")
        self.group_check.toggled.connect(self._on_group_toggled)

    def _make_plots(self) -> None:
        """The loss plot (one more per further loss, made when needed)."""
        self.loss_plot = self._make_loss_plot("runsLossPlot")
        #: loss name -> its plot; the first loss uses ``loss_plot``, others get their own axis
        self._loss_plots: dict[str, pg.PlotWidget] = {}
        self._extra_plots: list[pg.PlotWidget] = []
        self._titles: dict[str, tuple[str, str]] = {}  # plot name -> (title, y label) shown
        self.plots_box = QWidget(self)
        self._plots_layout = QVBoxLayout(self.plots_box)
        self._plots_layout.setContentsMargins(0, 0, 0, 0)
        self._plots_layout.addWidget(self.loss_plot)

    def _make_metrics(self) -> None:
        """The metrics table and the note on what differs between the ticked runs."""
        self.metrics_table = QTableWidget(0, 0, self)
        self.metrics_table.setObjectName("runsMetricsTable")
        self.metrics_table.setAccessibleName("Final metrics of the ticked runs")
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setWordWrap(False)  # numbers on one line; the table scrolls sideways
        # sized to the contents once per fill (resizeColumnsToContents): in ResizeToContents mode
        # every header label and cell set re-measured the whole table (~5 ms a fill)
        self.metrics_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.metrics_table.verticalHeader().setDefaultSectionSize(
            self.metrics_table.fontMetrics().height() + 6)  # one line of text, as before
        self.comparison_note = QLabel("", self)
        self.comparison_note.setObjectName("runsComparisonNote")
        self.comparison_note.setWordWrap(True)
        self.comparison_note.setStyleSheet("color: #b35900;")
        self.comparison_note.setVisible(False)

    def _make_buttons(self) -> None:
        """Restore, continue, delete and export, and the note of an empty history."""
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

    def _lay_out(self) -> None:
        """Filters, table and buttons on top; plots beside the metrics below."""
        filters = QHBoxLayout()
        filters.addWidget(QLabel("show runs on", self))
        filters.addWidget(self.data_filter)
        filters.addWidget(self.group_check)
        filters.addStretch(1)
        buttons = QHBoxLayout()
        for button in (self.restore_button, self.continue_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(filters)
        top_layout.addWidget(self.runs_table, 1)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.note_label)
        self.metrics_box = QGroupBox("Final metrics (original units)", self)
        metrics_layout = QVBoxLayout(self.metrics_box)
        metrics_layout.addWidget(self.comparison_note)
        metrics_layout.addWidget(self.metrics_table, 1)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.plots_box)
        lower.addWidget(self.metrics_box)
        lower.setSizes([540, 620])
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(lower)
        split.setSizes([230, 470])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    def _make_loss_plot(self, name: str) -> pg.PlotWidget:
        plot = make_plot_widget("Loss per epoch (solid: training, dashed: validation)",
                                "epoch", "loss", object_name=name,
                                legend_offset=(-10, 10))  # top right: losses fall
        plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        plot.setMinimumHeight(160)
        return plot

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
        old = self.table_model.runs()
        checked = self.table_model.checked_ids()
        known = {r.get("id") for r in old}
        ids = {r.get("id") for r in runs}
        checked &= ids
        if known:
            checked |= ids - known
        if not checked and runs:
            checked = {runs[-1].get("id")}
        self.table_model.set_runs(list(runs), checked)
        self._fill_data_filter()
        self.note_label.setVisible(not runs)
        self._refresh_comparison()
        self._update_buttons()

    def runs(self) -> list[dict]:
        """Every run, in the order they were trained."""
        return self.table_model.runs()

    def shown_runs(self) -> list[dict]:
        """The runs the table shows now (after the data filter), in table order."""
        return [self.proxy.index(r, 0).data(RUN_ROLE) for r in range(self.proxy.rowCount())]

    def selected_runs(self) -> list[dict]:
        """The ticked runs the table shows (the data filter hides the others), in training order."""
        checked = self.table_model.checked_ids()
        key = self.proxy.data_key
        return [run for run in self.table_model.runs() if run.get("id") in checked
                and (not key or data_key(run) == key)]

    def set_checked(self, run_ids) -> None:
        """Tick exactly the runs whose ids are in ``run_ids``."""
        self.table_model.set_checked_ids(run_ids)
        self._refresh_comparison()

    def set_run_checked(self, run_id: str, checked: bool) -> None:
        """Tick or untick one run, as clicking its checkbox does."""
        for row, run in enumerate(self.table_model.runs()):
            if run.get("id") == run_id:
                state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
                self.table_model.setData(self.table_model.index(row, 0), state.value, Qt.ItemDataRole.CheckStateRole)
                return

    def current_run(self) -> dict | None:
        """The run the buttons act on: the highlighted row, else the only ticked run."""
        index = self.runs_table.currentIndex()
        if index.isValid():
            return self.proxy.data(index.siblingAtColumn(0), RUN_ROLE)
        selected = self.selected_runs()
        return selected[0] if len(selected) == 1 else None

    def set_current_run(self, run_id: str) -> None:
        """Highlight a run's row (what clicking it does)."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(RUN_ROLE).get("id") == run_id:
                self.runs_table.setCurrentIndex(self.proxy.index(row, 1))
                return

    # -- data filter and grouping -------------------------------------------------------
    def data_sets(self) -> list[tuple[str, str, int]]:
        """``(key, label, number of runs)`` of each data set in the history, first seen first."""
        return self.table_model.data_sets()

    def set_data_filter(self, key: str) -> None:
        """Show only the runs of data ``key`` (:func:`~seqstudio.core.data.identity.data_key`; "" = all)."""
        index = self.data_filter.findData(key or _ALL_DATA)
        self.data_filter.setCurrentIndex(max(0, index))

    def _fill_data_filter(self) -> None:
        current = self.proxy.data_key
        sets = self.data_sets()
        texts = [f"all data ({len(self.table_model.runs())} runs)"] + \
            [f"{label} ({n} run{'' if n == 1 else 's'})" for _key, label, n in sets]
        keys = [_ALL_DATA] + [key for key, _label, _n in sets]
        if keys == [self.data_filter.itemData(i) for i in range(self.data_filter.count())]:
            # the same data sets: only the counts change (refilling the box re-lays out the tab)
            for i, text in enumerate(texts):
                if self.data_filter.itemText(i) != text:
                    self.data_filter.setItemText(i, text)
            return
        with QSignalBlocker(self.data_filter):
            self.data_filter.clear()
            for text, key in zip(texts, keys, strict=True):
                self.data_filter.addItem(text, key)
            index = self.data_filter.findData(current)
            self.data_filter.setCurrentIndex(max(0, index))
        self.proxy.set_data_key(self.data_filter.currentData() or _ALL_DATA)
        self.data_filter.setEnabled(len(sets) > 1)
        self.group_check.setEnabled(len(sets) > 1)

    def _on_data_filter_changed(self, _index: int) -> None:
        self.proxy.set_data_key(self.data_filter.currentData() or _ALL_DATA)
        self._refresh_comparison()
        self._update_buttons()

    def _on_group_toggled(self, on: bool) -> None:
        if on:
            self.runs_table.sortByColumn(RUN_COLUMNS.index("data"), Qt.SortOrder.AscendingOrder)
        else:
            self.runs_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            self.proxy.sort(-1)

    # -- comparison ----------------------------------------------------------------
    def curve_data(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """The plotted curves: ``(run id, "train" | "val") -> (epochs, losses)`` (tests read this)."""
        return {key: (np.asarray(curve.xData), np.asarray(curve.yData)) for key, curve in self._curves.items()}

    def loss_axes(self) -> dict[str, pg.PlotWidget]:
        """Loss name -> the plot its curves are on (one axis per loss)."""
        return dict(self._loss_plots)

    def _refresh_comparison(self) -> None:
        selected = self.selected_runs()
        self._plot_curves(selected)
        self._fill_metrics(selected)
        self._say_what_differs(selected)

    def _plots_for(self, losses: list[str]) -> list[pg.PlotWidget]:
        while len(self._extra_plots) < len(losses) - 1:
            plot = self._make_loss_plot(f"runsLossPlot{len(self._extra_plots) + 2}")
            self._extra_plots.append(plot)
            self._plots_layout.addWidget(plot)
        for i, plot in enumerate(self._extra_plots):
            plot.setVisible(i < len(losses) - 1)
        return [self.loss_plot, *self._extra_plots][:max(1, len(losses))]

    def _plot_curves(self, runs: list[dict]) -> None:
        """Curves of the ticked runs, one axis per loss; only curves that changed are touched.

        Ticking one run among hundreds adds its two curves and recolours the others:
        rebuilding every curve (and its legend entry) cost ~10 ms a curve.
        """
        losses: list[str] = []
        for run in runs:
            if run_loss(run) not in losses:
                losses.append(run_loss(run))
        plots = self._plots_for(losses)
        self._loss_plots = dict(zip(losses, plots, strict=False))
        several = len(losses) > 1
        for loss, plot in self._loss_plots.items():
            name = loss or "loss"
            title = (f"{name} per epoch" if several else "Loss per epoch") + \
                " (solid: training, dashed: validation)"
            self._set_titles(plot, title, name)
        wanted: dict[tuple[str, str], tuple[dict, pg.PlotWidget, int]] = {}
        for index, run in enumerate(runs):
            for key in ("train", "val"):
                wanted[(run.get("id"), key)] = (run, self._loss_plots[run_loss(run)], index)
        for key, curve in list(self._curves.items()):
            run_plot = wanted.get(key)
            if run_plot is None or self._curve_plots.get(key) is not run_plot[1]:
                self._curve_plots.pop(key).getPlotItem().removeItem(curve)  # its legend entry too
                del self._curves[key]
                self._spare_curves[key] = (self._curve_sources.pop(key), curve)  # back soon, maybe
                self._spare_curves.move_to_end(key)
                while len(self._spare_curves) > SPARE_CURVES:
                    self._spare_curves.popitem(last=False)
        # 2-pixel lines while few points are drawn; Qt strokes wide antialiased lines slowly
        # (10 runs of 100 epochs: 12 ms a repaint at 2 pixels, 1.4 ms at 1)
        width = line_width(2 * sum(len(run.get("history") or []) for run in runs), 2, THICK_CURVE_POINTS)
        for key, (run, plot, index) in wanted.items():
            color = RUN_COLORS[index % len(RUN_COLORS)]
            style = Qt.PenStyle.SolidLine if key[1] == "train" else Qt.PenStyle.DashLine
            pen = pg.mkPen(color, width=width, style=style)
            if key in self._curves:
                if self._curves[key].opts["pen"] != pen:  # a recolour redraws the curve and its sample
                    self._curves[key].setPen(pen)
                continue
            history = run.get("history") or []
            source, spare = self._spare_curves.pop(key, (None, None))
            if spare is not None and source is history:
                spare.setPen(pen)  # a curve made before: re-adding it skips building a new item
                plot.getPlotItem().addItem(spare)  # and its legend entry
                self._curves[key], self._curve_plots[key], self._curve_sources[key] = spare, plot, history
                continue
            losses_y = np.array([np.nan if h.get(f"{key[1]}_loss") is None else h[f"{key[1]}_loss"]
                                 for h in history], dtype=np.float64)
            if not np.isfinite(losses_y).any():
                continue  # no validation split: no empty legend entry
            epochs = np.array([h.get("epoch", i + 1) for i, h in enumerate(history)], dtype=np.float64)
            # one legend entry per run, on its training curve: the title says dashed is validation
            name = (run.get("name") or run.get("id", "")) if key[1] == "train" else None
            curve = plot.getPlotItem().plot(epochs, losses_y, pen=pen, name=name, connect="finite")
            curve.setSkipFiniteCheck(False)  # a run stopped by NaN has gaps
            self._curve_sources[key] = history  # the record it was drawn from
            self._curves[key] = curve
            self._curve_plots[key] = plot
        self._label_legends(runs)

    def _label_legends(self, runs: list[dict]) -> None:
        """Full run names for a few runs, "run N" for many, over as many columns as needed.

        Ten runs' full names ("run 9: LSTM(4) seed 9") in three columns were wider than the
        plot, and the legend ran off its left edge.
        """
        short = len(runs) > LEGEND_FULL_NAMES
        relabelled = set()
        for run in runs:
            curve = self._curves.get((run.get("id"), "train"))
            plot = self._curve_plots.get((run.get("id"), "train"))
            legend = plot.getPlotItem().legend if plot is not None else None
            if curve is None or legend is None:
                continue
            full = run.get("name") or run.get("id", "")
            text = full.split(":", 1)[0] if short else full
            label = legend.getLabel(curve)
            if label is not None and label.text != text:
                label.setText(text)
                relabelled.add(id(legend))
        for plot in self._loss_plots.values():
            legend = plot.getPlotItem().legend
            if legend is None:
                continue
            # more than ~8 entries run off the plot: spread them over columns
            columns = max(1, math.ceil(len(legend.items) / 8))
            if columns != legend.columnCount or id(legend) in relabelled:
                legend.columnCount = 0  # re-lay out the entries even when the count stays
                legend.setColumnCount(columns)

    def _set_titles(self, plot: pg.PlotWidget, title: str, y_label: str) -> None:
        """Set a loss plot's title and y label when they differ: each set re-lays out the plot."""
        if self._titles.get(plot.objectName()) != (title, y_label):
            plot.getPlotItem().setTitle(title, size="11pt")
            plot.getPlotItem().setLabel("left", y_label)
            self._titles[plot.objectName()] = (title, y_label)

    def _say_what_differs(self, runs: list[dict]) -> None:
        notes = []
        labels: list[str] = []
        keys: list[str] = []
        for run in runs:
            if data_key(run) not in keys:
                keys.append(data_key(run))
                labels.append(run_data_label(run))
        if len(keys) > 1:
            notes.append(f"These runs were trained on different data ({'; '.join(labels)}): "
                         "their losses and metrics are not comparable. Choose one data set above "
                         "to compare like with like.")
        losses = [loss for loss in self._loss_plots if loss]
        if len(losses) > 1:
            notes.append(f"They minimise different losses ({', '.join(losses)}): "
                         "each loss has its own axis.")
        self.comparison_note.setText(" ".join(notes))
        self.comparison_note.setVisible(bool(notes))
        self.metrics_box.setTitle("Final metrics (original units of each run's data)" if len(keys) > 1
                                  else "Final metrics (original units)")

    def _fill_metrics(self, runs: list[dict]) -> None:
        table = self.metrics_table
        table.setUpdatesEnabled(False)  # one repaint when filled, not one per cell
        try:
            self._fill_metrics_cells(runs)
        finally:
            table.resizeColumnsToContents()
            table.setUpdatesEnabled(True)

    def _fill_metrics_cells(self, runs: list[dict]) -> None:
        table = self.metrics_table
        table.clear()
        flats = [flatten_metrics(r.get("metrics") or {}) for r in runs]
        keys: list[str] = []
        for flat in flats:
            keys += [k for k in flat if k not in keys]
        same_data = len({data_key(r) for r in runs}) <= 1
        rows = ([] if same_data else [("data", "data")]) + list(_FACT_ROWS) + \
            [(_metric_label(k), k) for k in keys]
        groups = seed_groups(runs)
        headers = [(r.get("name") or r.get("id", "")).replace(": ", "\n", 1) for r in runs]
        headers += [f"{model_label(g[0].get('model') or {})}, {len(g)} seeds\nmean ± std (n={len(g)})"
                    for g in groups]
        table.setRowCount(len(rows))
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setVerticalHeaderLabels([label for label, _ in rows])
        fact_keys = dict(_FACT_ROWS).values()
        for r, (_label, key) in enumerate(rows):
            for c, (run, flat) in enumerate(zip(runs, flats, strict=True)):
                if key == "data":
                    table.setItem(r, c, _item(run_data_label(run)))
                    continue
                value = run.get(key) if key in fact_keys else flat.get(key)
                table.setItem(r, c, _item(_format(value), align_right=True))
            for g, group in enumerate(groups):
                if key == "data":
                    table.setItem(r, len(runs) + g, _item(run_data_label(group[0])))
                    continue
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
        runs_to_csv(runs if runs is not None else (self.selected_runs() or self.table_model.runs()), path)

    def delete_run(self, run: dict) -> None:
        """Remove ``run`` from the list and tell the window (``runDeleted``); no question asked."""
        before = self.table_model.runs()
        remaining = [r for r in before if r.get("id") != run.get("id")]
        if len(remaining) == len(before):
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
            self.failed.emit(ErrorReport("exporting the runs", exc))

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

    def _on_checked_changed(self) -> None:
        self._refresh_comparison()
        self._update_buttons()

    def _on_current_run_changed(self, *_args) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        run = self.current_run()
        self.restore_button.setEnabled(run is not None)
        self.delete_button.setEnabled(run is not None)
        self.continue_button.setEnabled(bool(run and run.get("has_weights")))
        self.export_button.setEnabled(bool(self.table_model.runs()))


def _metric_label(key: str) -> str:
    """``test.rmse`` -> ``test RMSE``; ``test.baseline.naive.rmse`` -> ``test RMSE (naive baseline)``."""
    parts = key.split(".")
    names = {"rmse": "RMSE", "mae": "MAE", "mape": "MAPE (%)", "f1": "F1", "roc_auc": "ROC AUC"}
    metric = names.get(parts[-1], parts[-1].replace("_", " "))
    if len(parts) == 4 and parts[1] == "baseline":
        return f"{parts[0]} {metric} ({parts[2].replace('_', ' ')} baseline)"
    return f"{parts[0]} {metric}"
