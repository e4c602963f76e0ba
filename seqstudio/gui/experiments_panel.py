"""Experiments: sweeps of the project's settings on Optuna, run outside the window.

Left: the search space (parameter, kind, range or choices, log scale) and the
sweep settings (objective, sampler, pruner, trials, worker processes, seed,
study, storage). Start saves the project (the sweep reads it from its file)
and runs ``seqstudio sweep`` in a separate process; Stop ends it (its running
trials are queued again); Resume goes on with the same study. Right: every
trial in a sortable, filterable table (state, value, parameters, duration),
the best value so far, a parallel-coordinates plot of the complete trials and
the parameters' importances (Optuna's ``get_param_importances``).

The study is read from its storage on a worker thread once a second, so the
window never waits on the database; finished trials arrive in Runs as runs of
their study. A study outlives the window: reopening the project shows every
earlier trial, and Resume continues it.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QProcess,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.sweep.space import (
    KINDS,
    PARAMS,
    PRUNERS,
    SAMPLERS,
    Param,
    SearchSpace,
    SweepSettings,
    apply_params,
    default_settings,
)

OBJECTIVE_CHOICES = ("val.rmse", "val.mae", "val_loss", "backtest.mase", "val.accuracy")
SPACE_COLUMNS = ("Parameter", "Kind", "Range or choices", "Log")
FIXED_COLUMNS = ("Trial", "State", "Value", "Seconds", "Epochs")


def _value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def _parse_choice(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


class TrialTableModel(QAbstractTableModel):
    """The trials of a study: fixed columns, then one per parameter (sorts numbers as numbers)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self.params: list[str] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> bool:
        """Show ``rows``; True when the columns changed (the view may fit them to their contents)."""
        params = sorted({k for r in rows for k in r["params"]})
        if params != self.params or len(rows) != len(self.rows):
            columns_changed = params != self.params or not self.rows
            self.beginResetModel()
            self.rows, self.params = list(rows), params
            self.endResetModel()
            return columns_changed
        self.rows = list(rows)
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, self.columnCount() - 1))
        return False

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(FIXED_COLUMNS) + len(self.params)

    def _raw(self, row: dict[str, Any], column: int):
        if column < len(FIXED_COLUMNS):
            key = ("number", "state", "value", "seconds", "epochs")[column]
            return row.get(key)
        return row["params"].get(self.params[column - len(FIXED_COLUMNS)])

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        value = self._raw(row, index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 3 and isinstance(value, float):
                return f"{value:.1f}"
            return _value_text(value)
        if role == Qt.ItemDataRole.UserRole:  # sort key: numbers as numbers, missing last
            if isinstance(value, bool) or value is None:
                return str(value)
            return value if isinstance(value, int | float) else str(value)
        if role == Qt.ItemDataRole.ToolTipRole and row.get("error"):
            return row["error"]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        if section < len(FIXED_COLUMNS):
            return FIXED_COLUMNS[section]
        return self.params[section - len(FIXED_COLUMNS)].split(".", 1)[1]


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a = left.data(Qt.ItemDataRole.UserRole)
        b = right.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return a < b
        if isinstance(a, int | float) != isinstance(b, int | float):
            return isinstance(a, int | float)  # numbers before missing values
        return str(a) < str(b)


class _StudyReader(QObject):
    """Reads a study on a worker thread; ``read`` emits the snapshot (or the error) when done."""

    read = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="study-reader")
        self._lock = threading.Lock()
        self._busy = False
        #: a request that came while a read was going: served right after it, never dropped
        #: (the read after a sweep's end must happen, or the table keeps a stale count)
        self._pending: tuple[str, str, bool] | None = None
        self._storage: tuple[str, Any] | None = None

    def request(self, url: str, name: str, with_importances: bool) -> None:
        with self._lock:
            if self._busy:  # one read at a time; the newest request waits for it
                old = self._pending
                self._pending = (url, name, with_importances or bool(old and old[2]))
                return
            self._busy = True
        self._pool.submit(self._serve, url, name, with_importances)

    def _serve(self, url: str, name: str, with_importances: bool) -> None:
        while True:
            self.read.emit(self._work(url, name, with_importances))
            with self._lock:
                if self._pending is None:
                    self._busy = False
                    return
                (url, name, with_importances), self._pending = self._pending, None

    def _work(self, url: str, name: str, with_importances: bool) -> Any:
        from seqstudio.core.sweep import study as S

        try:
            if self._storage is None or self._storage[0] != url:
                self._storage = (url, S.open_storage(url, heartbeat=None))
            import optuna

            try:
                study = optuna.load_study(study_name=name, storage=self._storage[1])
            except KeyError:
                snapshot: Any = {"rows": [], "records": [], "importances": None, "direction": None}
            else:
                snapshot = {"rows": S.trial_rows(study), "records": S.study_runs(study),
                            "importances": S.importances(study) if with_importances else None,
                            "direction": study.direction.name.lower()}
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into Qt
            snapshot = exc
        return snapshot

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ExperimentsPanel(QWidget):
    """The Experiments tab; handed the window's :class:`StudioDocument`.

    Emits ``applyRequested(run_like)`` ("apply this trial") and
    ``trainBestRequested(run_like)`` with a dict of ``source``, ``data_options``,
    ``model`` and ``train``, which the window restores (and trains).
    """

    applyRequested = Signal(dict)
    trainBestRequested = Signal(dict)
    #: (done, total) whenever the study was read
    studyRead = Signal(int, int)

    def __init__(self, document, parent: QWidget | None = None, *, poll_ms: int = 1000):
        super().__init__(parent)
        self.setObjectName("experimentsPanel")
        self.document = document
        self.process: QProcess | None = None
        self.snapshot: dict[str, Any] = {"rows": [], "records": [], "importances": None}
        self._complete_seen = -1
        self._importances: dict[str, float] = {}
        self._url = ""
        self._study = ""
        self._total = 0
        self.reader = _StudyReader(self)
        self.reader.read.connect(self._on_study_read)
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)
        self._build()
        document.events.project.connect(self._on_project)
        self._on_project(document.project)

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget(self)
        lv = QVBoxLayout(left)
        space_box = QGroupBox("Search space", left)
        sv = QVBoxLayout(space_box)
        self.space_table = QTableWidget(0, len(SPACE_COLUMNS), space_box)
        self.space_table.setObjectName("spaceTable")
        self.space_table.setHorizontalHeaderLabels(SPACE_COLUMNS)
        header = self.space_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.space_table.verticalHeader().setVisible(False)
        sv.addWidget(self.space_table)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add", space_box)
        self.remove_button = QPushButton("Remove", space_box)
        self.defaults_button = QPushButton("Defaults", space_box)
        self.defaults_button.setToolTip("The default space of the project's preset")
        for b in (self.add_button, self.remove_button, self.defaults_button):
            row.addWidget(b)
        row.addStretch(1)
        sv.addLayout(row)
        self.add_button.clicked.connect(lambda: self._add_space_row(Param("model.units", "int", low=4,
                                                                          high=64, log=True)))
        self.remove_button.clicked.connect(self._remove_space_row)
        self.defaults_button.clicked.connect(self._on_defaults)
        lv.addWidget(space_box, 3)

        settings_box = QGroupBox("Sweep", left)
        form = QFormLayout(settings_box)
        self.objective_combo = QComboBox(settings_box)
        self.objective_combo.setEditable(True)
        self.objective_combo.addItems(OBJECTIVE_CHOICES)
        self.objective_combo.setToolTip("val_loss, val.<metric> or backtest.<metric>; the test part "
                                        "is never used to choose")
        self.direction_combo = QComboBox(settings_box)
        self.direction_combo.addItems(["auto", "minimize", "maximize"])
        self.sampler_combo = QComboBox(settings_box)
        self.sampler_combo.addItems(SAMPLERS)
        self.pruner_combo = QComboBox(settings_box)
        self.pruner_combo.addItems(PRUNERS)
        self.trials_spin = QSpinBox(settings_box)
        self.trials_spin.setRange(1, 100_000)
        self.jobs_spin = QSpinBox(settings_box)
        self.jobs_spin.setRange(1, 256)
        self.jobs_spin.setToolTip("Worker processes on this machine (threads are divided among them)")
        self.seed_spin = QSpinBox(settings_box)
        self.seed_spin.setRange(0, 2 ** 31 - 1)
        self.study_edit = QLineEdit(settings_box)
        self.storage_edit = QLineEdit(settings_box)
        self.storage_edit.setPlaceholderText("a SQLite file beside the project")
        self.storage_edit.setToolTip("Any Optuna storage URL (postgresql://..., sqlite:///...) or "
                                     "journal:FILE, to share the study with other machines")
        for label, widget in (("Objective", self.objective_combo), ("Direction", self.direction_combo),
                              ("Sampler", self.sampler_combo), ("Pruner", self.pruner_combo),
                              ("Trials", self.trials_spin), ("Worker processes", self.jobs_spin),
                              ("Seed", self.seed_spin), ("Study", self.study_edit),
                              ("Storage", self.storage_edit)):
            form.addRow(label, widget)
        lv.addWidget(settings_box, 2)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start", left)
        self.stop_button = QPushButton("Stop", left)
        self.resume_button = QPushButton("Resume", left)
        for b in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(b)
        for b, name in ((self.start_button, "sweepStartButton"), (self.stop_button, "sweepStopButton"),
                        (self.resume_button, "sweepResumeButton")):
            b.setObjectName(name)
        self.start_button.clicked.connect(self.start)
        self.trials_spin.valueChanged.connect(lambda _v: self._update_buttons())
        self.resume_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        lv.addLayout(buttons)
        self.status_label = QLabel("", left)
        self.status_label.setObjectName("sweepStatus")
        self.status_label.setWordWrap(True)
        lv.addWidget(self.status_label)
        self._done = 0

        right = QWidget(self)
        rv = QVBoxLayout(right)
        top = QHBoxLayout()
        self.filter_edit = QLineEdit(right)
        self.filter_edit.setPlaceholderText("Filter trials (state, value, parameter...)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setObjectName("trialFilter")
        top.addWidget(self.filter_edit, 1)
        self.apply_button = QPushButton("Apply trial to project", right)
        self.apply_button.setToolTip("Put the selected trial's settings into Data, Model and Train")
        self.train_best_button = QPushButton("Train best", right)
        self.train_best_button.setToolTip("Apply the best trial and train it on the project's own "
                                          "split; the run lands in Runs")
        self.apply_button.setObjectName("applyTrialButton")
        self.train_best_button.setObjectName("trainBestButton")
        top.addWidget(self.apply_button)
        top.addWidget(self.train_best_button)
        rv.addLayout(top)
        self.trial_model = TrialTableModel(self)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.trial_model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.trial_view = QTableView(right)
        self.trial_view.setObjectName("trialTable")
        self.trial_view.setModel(self.proxy)
        self.trial_view.setSortingEnabled(True)
        # the columns are sized from the first rows' text, not every trial's (a 50-trial study
        # cost ~20 ms of the GUI thread a resize)
        self.trial_view.horizontalHeader().setResizeContentsPrecision(12)
        self.trial_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.trial_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.trial_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.trial_view.verticalHeader().setVisible(False)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.apply_button.clicked.connect(self.apply_selected)
        self.train_best_button.clicked.connect(self.train_best)

        self.plots = QTabWidget(right)
        self.plots.setObjectName("sweepPlots")
        self.plots.setDocumentMode(True)
        self.best_plot = pg.PlotWidget(title="Best value so far")
        self.best_plot.setLabel("bottom", "trial")
        self.best_plot.showGrid(x=True, y=True, alpha=0.3)
        self.trial_points = self.best_plot.plot([], [], pen=None, symbol="o", symbolSize=6,
                                                symbolBrush=(120, 120, 120, 160), name="trial")
        self.best_curve = self.best_plot.plot([], [], pen=pg.mkPen((31, 119, 180), width=2),
                                              stepMode=None, name="best so far")
        self.parallel_plot = pg.PlotWidget(title="Parallel coordinates (complete trials; dark = better)")
        self.parallel_plot.hideAxis("left")
        # one curve per shade of grey-blue (trials separated by NaN breaks), made once
        self._parallel_curves = [
            self.parallel_plot.plot([], [], connect="finite", pen=pg.mkPen(
                (210 - 45 * band, 210 - 45 * band, min(255, 270 - 45 * band)), width=1.5))
            for band in range(5)]
        self.importance_plot = pg.PlotWidget(title="Parameter importances")
        self.importance_plot.setLabel("bottom", "importance (the parameters' shares add to 1)")
        self.importance_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.importance_plot.getAxis("left").setWidth(130)
        self.plots.addTab(self.best_plot, "Best so far")
        self.plots.addTab(self.parallel_plot, "Parallel coordinates")
        self.plots.addTab(self.importance_plot, "Importances")
        split = QSplitter(Qt.Orientation.Vertical, right)
        split.addWidget(self.trial_view)
        split.addWidget(self.plots)
        split.setSizes([320, 300])
        rv.addWidget(split, 1)

        outer = QSplitter(Qt.Orientation.Horizontal, self)
        outer.setObjectName("experimentsSplitter")
        outer.addWidget(left)
        outer.addWidget(right)
        outer.setSizes([480, 800])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(outer)
        self._update_buttons()

    # -- the space editor ------------------------------------------------------------------
    def _add_space_row(self, param: Param) -> None:
        r = self.space_table.rowCount()
        self.space_table.insertRow(r)
        name = QComboBox(self.space_table)
        name.addItems(list(PARAMS))
        name.setCurrentText(param.name)
        for i, key in enumerate(PARAMS):
            name.setItemData(i, PARAMS[key], Qt.ItemDataRole.ToolTipRole)
        kind = QComboBox(self.space_table)
        kind.addItems(KINDS)
        kind.setCurrentText(param.kind)
        self.space_table.setCellWidget(r, 0, name)
        self.space_table.setCellWidget(r, 1, kind)
        text = (", ".join(str(c) for c in param.choices) if param.kind in ("choice", "bool")
                else f"{param.low:g} .. {param.high:g}" + (f" step {param.step:g}" if param.step else ""))
        self.space_table.setItem(r, 2, QTableWidgetItem(text))
        log = QCheckBox(self.space_table)
        log.setChecked(bool(param.log))
        self.space_table.setCellWidget(r, 3, log)

    def _remove_space_row(self) -> None:
        r = self.space_table.currentRow()
        self.space_table.removeRow(r if r >= 0 else self.space_table.rowCount() - 1)

    def set_space(self, space: SearchSpace) -> None:
        self.space_table.setRowCount(0)
        for p in space.params:
            self._add_space_row(p)

    def space(self) -> SearchSpace:
        """The space as edited (raises SeqStudioError naming the bad row)."""
        params = []
        for r in range(self.space_table.rowCount()):
            name = self.space_table.cellWidget(r, 0).currentText()
            kind = self.space_table.cellWidget(r, 1).currentText()
            item = self.space_table.item(r, 2)
            text = item.text() if item is not None else ""
            log = self.space_table.cellWidget(r, 3).isChecked()
            if kind in ("choice", "bool"):
                choices = [_parse_choice(t) for t in text.split(",") if t.strip()]
                params.append(Param(name, kind, choices=choices))
                continue
            body, _, step = text.partition("step")
            low, sep, high = body.partition("..")
            try:
                lo, hi = float(low), float(high)
                st = float(step) if step.strip() else None
            except ValueError:
                raise SeqStudioError(f"{name}: {text!r} is not a range", where=f"search space row {r + 1}",
                                     fix="write it as LOW .. HIGH, e.g. 4 .. 64 (or 0 .. 1 step 0.25)") from None
            if kind == "int":
                lo, hi = (int(v) if float(v).is_integer() else v for v in (lo, hi))
            params.append(Param(name, kind, low=lo, high=hi, log=log, step=st))
        return SearchSpace(params)

    def settings(self) -> SweepSettings:
        """The sweep as edited (raises SeqStudioError saying what to fix)."""
        direction = self.direction_combo.currentText()
        return SweepSettings(space=self.space(), objective=self.objective_combo.currentText().strip(),
                             direction=None if direction == "auto" else direction,
                             sampler=self.sampler_combo.currentText(),
                             pruner=self.pruner_combo.currentText(), seed=self.seed_spin.value(),
                             trials=self.trials_spin.value(),
                             study=self.study_edit.text().strip() or self.document.project.name,
                             storage=self.storage_edit.text().strip())

    def set_settings(self, settings: SweepSettings) -> None:
        self.set_space(settings.space)
        self.objective_combo.setCurrentText(settings.objective)
        self.direction_combo.setCurrentText(settings.direction or "auto")
        self.sampler_combo.setCurrentText(settings.sampler)
        self.pruner_combo.setCurrentText(settings.pruner)
        self.seed_spin.setValue(settings.seed)
        self.trials_spin.setValue(settings.trials)
        self.study_edit.setText(settings.study)
        self.storage_edit.setText(settings.storage)

    def _on_defaults(self) -> None:
        self.set_space(default_settings(self.document.project, self.document.registry).space)

    def _on_project(self, project) -> None:
        """Another project: its sweep settings (or its preset's defaults) and its study, if any."""
        if self.running:
            return
        try:
            settings = (SweepSettings.from_dict(project.sweep) if project.sweep
                        else default_settings(project, self.document.registry))
        except SeqStudioError as exc:
            self.status_label.setText(f"The project's sweep settings were not usable: {exc.what}")
            settings = default_settings(project, self.document.registry)
        self.set_settings(settings)
        self.snapshot = {"rows": [], "records": [], "importances": None}
        self._complete_seen = -1
        self._show_snapshot()
        self._url, self._study, self._total = "", "", settings.trials
        if project.path is not None and project.sweep and not settings.storage:
            # the study's file beside the project, if there is one; a URL stored in a project is
            # never opened by itself (Resume opens it: nothing a project holds makes us connect)
            from seqstudio.core.sweep.study import default_storage_url

            url = default_storage_url(project.path)
            if Path(url[len("sqlite:///"):]).is_file():
                self._url, self._study = url, settings.study or project.name
                self.poll()  # show the earlier trials of this project's study
        elif project.path is not None and settings.storage:
            self._url, self._study = "", settings.study or project.name
            self.status_label.setText(f"the study is in {settings.storage}: Resume connects to it")
        self._update_buttons()

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _storage_url(self, settings: SweepSettings) -> str:
        from seqstudio.core.sweep.study import default_storage_url

        return settings.storage or default_storage_url(self.document.project.path)

    def start(self) -> bool:
        """Save the sweep into the project, then run ``seqstudio sweep`` in another process."""
        if self.running:
            return False
        doc = self.document
        try:
            settings = self.settings()
            if doc.project.path is None:
                raise SeqStudioError("the project is not saved yet", where="Experiments",
                                     fix="save it (File > Save As...): the study's file goes beside it")
            from seqstudio.core.sweep.study import _optuna

            _optuna()
            doc.project.sweep = settings.to_dict()
            doc.save(doc.project.path)
        except SeqStudioError as exc:
            doc.report("starting the sweep", exc)
            self.status_label.setText(f"{exc.what}" + (f"\nfix: {exc.fix}" if exc.fix else ""))
            return False
        self._url, self._study, self._total = (self._storage_url(settings), settings.study,
                                               settings.trials)
        args = ["-c", "import sys; from seqstudio.cli import main; sys.exit(main())", "sweep",
                "--project", str(doc.project.path), "--jobs", str(self.jobs_spin.value()),
                "--storage", self._url, "--study", settings.study, "--no-save", "-q", "--json"]
        self.process = QProcess(self)
        self.process.setProgram(sys.executable)
        self.process.setArguments(args)
        self.process.finished.connect(self._on_process_finished)
        self.process.start()
        self.status_label.setText(f"sweep {settings.study}: starting {self.jobs_spin.value()} worker "
                                  f"process(es)...")
        self.timer.start()
        self._update_buttons()
        return True

    def stop(self) -> None:
        """End the sweep process; its running trials are queued again for Resume."""
        if self.running and self.process is not None:
            self.status_label.setText("stopping the sweep...")
            self.process.terminate()

    def shutdown(self, wait_ms: int = 20_000) -> None:
        """Stop the sweep and wait for it (the window is closing); the study stays for Resume."""
        if self.running and self.process is not None:
            self.process.terminate()
            if not self.process.waitForFinished(wait_ms):
                self.process.kill()
                self.process.waitForFinished(2000)
        self.timer.stop()
        self.reader.close()

    def _on_process_finished(self, code: int, status) -> None:
        err = bytes(self.process.readAllStandardError()).decode(errors="replace") if self.process else ""
        if code not in (0, 130) and err.strip():
            lines = [ln for ln in err.strip().splitlines() if ln.startswith("seqstudio:")]
            self.status_label.setText("\n".join(lines[-2:]) or err.strip().splitlines()[-1])
        elif code == 130 or status == QProcess.ExitStatus.CrashExit:
            self.status_label.setText("sweep stopped: Resume goes on with the same study")
        self.timer.stop()
        self.poll()
        self._update_buttons()

    # -- reading the study -------------------------------------------------------------------
    def poll(self) -> None:
        if self._url and self._study:
            complete = sum(1 for r in self.snapshot["rows"] if r["state"] == "complete")
            self.reader.request(self._url, self._study, complete != self._complete_seen)

    def _on_study_read(self, snapshot) -> None:
        if isinstance(snapshot, Exception):
            self.status_label.setText(f"cannot read the study: {snapshot}")
            return
        if snapshot["importances"] is not None:
            self._importances = snapshot["importances"]
            self._complete_seen = sum(1 for r in snapshot["rows"] if r["state"] == "complete")
        self.snapshot = snapshot
        self._add_runs(snapshot["records"])
        self._show_snapshot()
        done = sum(1 for r in snapshot["rows"] if r["state"] in ("complete", "pruned")
                   or (r["state"] == "fail" and r["error"]))
        if self.running:
            running = sum(1 for r in snapshot["rows"] if r["state"] == "running")
            self.status_label.setText(f"sweep {self._study}: {done} of {self._total} trials done, "
                                      f"{running} running")
        elif snapshot["rows"] and not self.status_label.text().startswith(("seqstudio:", "sweep stopped")):
            self.status_label.setText(f"study {self._study}: {done} of {self._total} trials done")
        self._done = done
        self._update_buttons()
        self.studyRead.emit(done, self._total)

    def _add_runs(self, records: list[dict[str, Any]]) -> None:
        from seqstudio.core.sweep.study import add_trial_runs

        added = add_trial_runs(self.document.project, records, self._study)
        if added:
            self.document.events.runs.emit(list(self.document.project.runs))
            self.document.mark_modified()

    def _show_snapshot(self) -> None:
        rows = self.snapshot["rows"]
        # most reads find nothing new: then nothing is redrawn (the GUI thread stays free)
        signature = (tuple((r["number"], r["state"], r["value"]) for r in rows),
                     tuple(sorted(self._importances.items())))
        if signature == getattr(self, "_shown", None):
            return
        self._shown = signature
        if self.trial_model.set_rows(rows):
            self.trial_view.resizeColumnsToContents()
        complete = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
        maximize = self.snapshot.get("direction") == "maximize"
        xs = np.array([r["number"] for r in complete], float)
        ys = np.array([r["value"] for r in complete], float)
        self.trial_points.setData(xs, ys)
        best = (np.maximum.accumulate(ys) if maximize else np.minimum.accumulate(ys)) if len(ys) else ys
        self.best_curve.setData(xs, best)
        self._draw_parallel(complete, maximize)
        self._draw_importances()

    def _draw_parallel(self, complete: list[dict[str, Any]], maximize: bool) -> None:
        plot = self.parallel_plot
        params = sorted({k for r in complete for k in r["params"]})
        if not complete or not params:
            for curve in self._parallel_curves:
                curve.setData([], [])
            return
        axes = [*params, "value"]
        columns = []
        try:
            space = self.space()
        except SeqStudioError:
            space = SearchSpace()
        for name in axes:
            values = [r["value"] if name == "value" else r["params"].get(name) for r in complete]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                v = np.array(values, float)
                spec = space.get(name)
                if spec is not None and spec.log and (v > 0).all():
                    v = np.log(v)
                lo, hi = float(v.min()), float(v.max())
                columns.append((v - lo) / (hi - lo) if hi > lo else np.full(len(v), 0.5))
            else:
                levels = sorted({str(x) for x in values})
                idx = np.array([levels.index(str(x)) for x in values], float)
                columns.append(idx / (len(levels) - 1) if len(levels) > 1 else np.full(len(idx), 0.5))
        grid = np.stack(columns, axis=1)
        rank = grid[:, -1] if maximize else 1.0 - grid[:, -1]   # 1 = the best trial
        x = np.arange(len(axes), dtype=float)
        # one curve per shade (NaN breaks between trials), not one per trial: cheap to redraw
        bands = np.minimum((rank * 5).astype(int), 4)
        for band, curve in enumerate(self._parallel_curves):  # the best band is drawn last, on top
            members = grid[bands == band]
            if not len(members):
                curve.setData([], [])
                continue
            xs = np.concatenate([np.append(x, np.nan) for _ in members])
            ys = np.concatenate([np.append(m, np.nan) for m in members])
            curve.setData(xs, ys, connect="finite")
        ticks = [(float(i), name.split(".", 1)[1] if "." in name else name) for i, name in enumerate(axes)]
        plot.getAxis("bottom").setTicks([ticks])
        plot.setXRange(-0.5, len(axes) - 0.5, padding=0)

    def _draw_importances(self) -> None:
        plot = self.importance_plot
        plot.clear()
        items = sorted(self._importances.items(), key=lambda kv: kv[1])
        if not items:
            return
        y = np.arange(len(items), dtype=float)
        widths = np.array([v for _, v in items], float)
        plot.addItem(pg.BarGraphItem(x0=np.zeros(len(items)), y=y, height=0.6, width=widths,
                                     brush=(31, 119, 180)))
        plot.getAxis("left").setTicks([[(float(i), k.split(".", 1)[1]) for i, (k, _) in enumerate(items)]])

    # -- using a trial -----------------------------------------------------------------------
    def _done_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.snapshot["rows"] if r["state"] == "complete" and r["value"] is not None]

    def best_row(self) -> dict[str, Any] | None:
        rows = self._done_rows()
        if not rows:
            return None
        pick = max if self.snapshot.get("direction") == "maximize" else min
        return pick(rows, key=lambda r: r["value"])

    def selected_row(self) -> dict[str, Any] | None:
        indexes = self.trial_view.selectionModel().selectedRows()
        if not indexes:
            return None
        return self.trial_model.rows[self.proxy.mapToSource(indexes[0]).row()]

    def _run_like(self, row: dict[str, Any]) -> dict[str, Any]:
        from seqstudio.core.sweep.objective import trial_project

        try:  # as the sweep trained it: its validation part, early stopping, best epoch kept
            p = trial_project(self.document.project, self.settings(), row["params"])
        except SeqStudioError:
            p = apply_params(self.document.project, row["params"])
        return {"name": f"{self._study} trial {row['number']}", "source": p.source,
                "data_options": p.data_options, "model": p.model, "train": p.train}

    def apply_selected(self) -> None:
        row = self.selected_row() or self.best_row()
        if row is not None:
            self.applyRequested.emit(self._run_like(row))

    def train_best(self) -> None:
        row = self.best_row()
        if row is not None:
            self.trainBestRequested.emit(self._run_like(row))

    def _update_buttons(self) -> None:
        running = self.running
        rows = self.snapshot["rows"]
        done = self._done
        self.start_button.setEnabled(not running)
        stored_elsewhere = not rows and bool(self.storage_edit.text().strip()) and \
            self.document.project.path is not None
        self.resume_button.setEnabled(not running and (stored_elsewhere or (
            bool(rows) and done < self.trials_spin.value())))
        self.stop_button.setEnabled(running)
        has_best = bool(self._done_rows())
        self.apply_button.setEnabled(has_best)
        self.train_best_button.setEnabled(has_best)
        for w in (self.space_table, self.add_button, self.remove_button, self.defaults_button):
            w.setEnabled(not running)

