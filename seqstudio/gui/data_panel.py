"""The data panel: pick a source, set its options, see the table and the split.

Every registered data source (built-in or plugin) is offered in one combo
box; its declared options are rendered as a form. Each change re-prepares
the data (debounced), redraws the series plot with the train / validation /
test regions and one example window, and shows any :class:`SeqStudioError`
inline: the window stays usable whatever the file holds.

With ``set_undo_stack(stack)`` a source switch, an opened file and each
option edit are commands on that ``QUndoStack`` (see :mod:`seqstudio.gui.undo`);
``optionsChanged()`` fires after every change of the settings.

Small inputs (files under ``DataPanel.sync_load_bytes`` together) are prepared
at once on the GUI thread; larger ones (and folders) in a worker thread, while
the panel shows "Preparing the data…" and ``busy`` is True. A newer request
supersedes an older one: only the newest result is ever shown. Scripts that
need the data right after ``set_source`` / ``load_path`` call
``panel.wait_ready()``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QEventLoop, QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.data.loader import LatestLoader, LoadResult
from seqstudio.core.data.loadproc import load_job, loads_in_child, shared_load_process
from seqstudio.core.errors import SeqStudioError
from seqstudio.core.registry import Registry, SourceType
from seqstudio.core.studio import SeriesData, TextData, error_text

from .forms import OptionForm, PathEdit, chain_tab_order, describe_widgets
from .plots import (
    TEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    actual_color,
    make_plot_widget,
    series_style,
    set_time_axis,
    thin_long_curves,
    time_values,
)
from .settings import ask_open_path
from .table_model import DataFrameModel
from .undo import DataOptionCommand, DataSettingsCommand, changed_keys, is_recording

SPLIT_BRUSHES = {"train": (31, 119, 180, 28), "val": (255, 127, 14, 36), "test": (214, 39, 40, 28)}
SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


def resolve_data_path(path: str) -> str:
    """Turn an ``embedded:NAME`` path (files shipped with seqstudio) into a real file path."""
    from seqstudio.core.project import resolve_data_path as core_resolve

    return core_resolve(path) if path else path


def _short_list(values, keep: int = 24) -> str:
    values = list(np.asarray(values).tolist())
    if len(values) <= 2 * keep:
        return str(values)
    head = ", ".join(map(str, values[:keep]))
    tail = ", ".join(map(str, values[-keep:]))
    return f"[{head}, … {len(values) - 2 * keep} more …, {tail}]"


def format_text_example(example: dict[str, Any]) -> str:
    """The lecture's demo of one review: label, text, ids, padded model input, decoded back."""
    text = str(example.get("text", ""))
    if len(text) > 400:
        text = text[:400] + " …"
    ids = example.get("ids", [])
    padded = example.get("padded", [])
    return "\n".join([
        f"label: {example.get('label_name', example.get('label', '?'))}",
        f"text: {text}",
        f"encoded ({len(ids)} ids, 1 = start, 2 = out of vocabulary): {_short_list(ids)}",
        f"padded to max_len ({len(padded)}, 0 = padding): {_short_list(padded)}",
        f"decoded back ('?' = unknown word): {example.get('decoded', '')}",
    ])


def input_bytes(options: dict[str, Any]) -> float:
    """Bytes of the files the options point at (any option naming an existing file or folder).

    A folder counts as unbounded: reading it (e.g. the IMDB review folders) is never quick.

    >>> input_bytes({"path": "", "look_back": 3})
    0
    """
    total = 0
    for value in options.values():
        if not isinstance(value, str) or not value or len(value) > 4096:
            continue
        try:
            path = Path(value)
            if path.is_dir():
                return float("inf")
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # not a path at all (a date format, a URL): costs nothing to read
            continue
    return total


class _LoadSignals(QObject):
    """Carries a background load's outcome from the loader's thread to the GUI thread (queued)."""

    finished = Signal(object)


def _load_job(source: SourceType, options: dict[str, Any], want_preview: bool, owner=None):
    """What the loader runs off the GUI thread: the preview table and ``source.load``.

    In the child process of :func:`~seqstudio.core.data.loadproc.shared_load_process`
    when the source can go there (the GUI thread then never waits for pandas' hold of
    the interpreter lock), else here in the loader's thread. Touches no widget. Returns
    ``(preview frame or False, PreparedData or None, the exception or "")``.
    """
    if loads_in_child():
        outcome = shared_load_process().run(source, options, want_preview, owner=owner)
        if outcome is not None:
            return outcome
    return load_job(source, options, want_preview)


def _position_of(index: pd.Index, label):
    """``index.get_loc(label)``, by binary search on a sorted index.

    ``get_loc`` first builds a hash table of the whole index (~10 ms for 200,000
    time stamps, on the GUI thread); a time index is sorted, and a bisection is not.
    """
    if index.is_monotonic_increasing:
        position = int(index.searchsorted(label))
        if position < len(index) and index[position] == label:
            return position
    return index.get_loc(label)


def _rename(plot: pg.PlotItem, item, name: str) -> None:
    """Give a plotted item a new legend text, in place (its entry keeps its position)."""
    if item.opts.get("name") == name:
        return
    item.opts["name"] = name
    legend = plot.legend
    label = legend.getLabel(item) if legend is not None else None
    if label is not None:
        label.setText(name)


class DataPanel(QWidget):
    """Source, options, preview and plots; emits ``dataChanged(PreparedData | None)``.

    ``prepared`` is the last successfully prepared data, ``error`` the last
    error text (empty when the current options load cleanly).
    ``optionsChanged()`` fires whenever the source or an option changes (the
    user, undo / redo, ``set_source``, ``load_path``), before the data reloads.
    ``busy`` is True while a large input is prepared in the background
    (``busyChanged(bool)``); ``prepared`` then still holds the previous data,
    and ``wait_ready()`` waits for the new one.

    >>> panel = DataPanel(builtin_registry())      # doctest: +SKIP
    >>> panel.set_undo_stack(QUndoStack())         # doctest: +SKIP
    """

    dataChanged = Signal(object)
    optionsChanged = Signal()
    busyChanged = Signal(bool)

    #: Inputs smaller than this (bytes of every file the options name) are prepared at once on
    #: the GUI thread: the airline file takes ~10 ms, a 2 MB series ~50 ms, 3 MB of reviews ~0.3 s.
    sync_load_bytes: float = 1_000_000

    def __init__(self, registry: Registry, parent: QWidget | None = None, *, document=None):
        super().__init__(parent)
        self.registry = registry
        self.prepared = None
        self.error = ""
        self._source: SourceType | None = None
        self._form: OptionForm | None = None
        self._preview_key: tuple | None = None
        self._undo_stack: QUndoStack | None = None
        self._state: tuple[str, dict[str, Any]] | None = None  # "before" of the next command
        self._applying = False
        # background loads: the core's loader runs one at a time and drops any outcome a newer
        # request superseded; its outcome comes back to this thread through a queued signal
        self._busy = False
        self._loaded_state: tuple[str, dict[str, Any]] | None = None
        self._load_signals = _LoadSignals(self)
        self._load_signals.finished.connect(self._on_load_finished)
        self._loader = LatestLoader(self._load_signals.finished.emit, name="seqstudio-data")
        self._background: dict[int, tuple[SourceType, tuple]] = {}
        self._pending_plot = None  # a background load's series, plotted on the next turn
        self._pushing = False
        #: the exception of the last failed load (None: it loaded, or the error is only text)
        self.load_error: BaseException | None = None
        loader = self._loader  # close() waits for a load under way: never on the GUI thread
        self.destroyed.connect(lambda *_: threading.Thread(target=loader.close, daemon=True,
                                                           name="seqstudio-data-close").start())
        self.document = document

        layout = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._make_left())
        splitter.addWidget(self._make_right())
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)  # coalesce a burst of spin-box steps into one reload
        self._reload_timer.timeout.connect(self.reload)
        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self._set_accessibility()
        if document is not None:
            self._bind(document)
        elif self.source_combo.count():
            self._on_source_changed()

    def _make_left(self) -> QWidget:
        self.source_combo = QComboBox(self)
        self.source_combo.setObjectName("dataSourceCombo")
        self.source_combo.setToolTip("Where the data comes from: built-in readers and plugin sources.")
        self._fill_source_combo()
        self.open_button = QPushButton("Open CSV…", self)
        self.open_button.setObjectName("openDataButton")
        self.open_button.setToolTip("Choose a CSV file (you can also drop a file on the window).")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.description_label = QLabel(self)
        self.description_label.setWordWrap(True)
        # muted, in the palette's own muted colour (a fixed grey vanished in the dark theme)
        self.description_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.form_area = QScrollArea(self)
        self.form_area.setWidgetResizable(True)
        self.form_area.setFrameShape(QScrollArea.Shape.NoFrame)

        self.error_label = QLabel(self)
        self.error_label.setObjectName("dataError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #b00020; background: #fdecea; padding: 6px;"
                                       " border-radius: 3px;")
        self.error_label.hide()
        self.leak_label = QLabel(self)
        self.leak_label.setObjectName("leakWarning")
        self.leak_label.setWordWrap(True)
        self.leak_label.setStyleSheet("color: #8a5a00; background: #fff4d6; padding: 6px;"
                                      " border-radius: 3px;")
        self.leak_label.hide()
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("dataSummary")
        self.summary_label.setWordWrap(True)
        self.busy_label = QLabel("Preparing the data…", self)
        self.busy_label.setObjectName("dataBusy")
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setObjectName("dataBusyBar")
        self.busy_bar.setRange(0, 0)  # indeterminate: source.load reports no progress
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(10)
        self.busy_label.hide()
        self.busy_bar.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("dataCancelButton")
        self.cancel_button.setToolTip("Stop preparing this data and go back to the data shown before.")
        self.cancel_button.clicked.connect(self.cancel_load)
        self.cancel_button.hide()

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        row = QHBoxLayout()
        row.addWidget(QLabel("Source", left))
        row.addWidget(self.source_combo, 1)
        left_layout.addLayout(row)
        left_layout.addWidget(self.open_button)
        left_layout.addWidget(self.description_label)
        options_box = QGroupBox("Options", left)
        box_layout = QVBoxLayout(options_box)
        box_layout.addWidget(self.form_area)
        left_layout.addWidget(options_box, 1)
        busy_row = QHBoxLayout()
        busy_row.addWidget(self.busy_label, 1)
        busy_row.addWidget(self.cancel_button)
        left_layout.addLayout(busy_row)
        left_layout.addWidget(self.busy_bar)
        left_layout.addWidget(self.error_label)
        left_layout.addWidget(self.leak_label)
        left_layout.addWidget(self.summary_label)
        left.setMinimumWidth(330)
        left.setMaximumWidth(440)

        return left

    def _make_right(self) -> QWidget:
        self.table_model = DataFrameModel(parent=self)
        self.table = QTableView(self)
        self.table.setObjectName("dataTable")
        self.table.setModel(self.table_model)
        # fixed row heights: the view never measures a million rows
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setDefaultSectionSize(110)
        self.table.setAlternatingRowColors(True)

        # legend bottom right: a growing series leaves that corner empty
        self.series_plot = make_plot_widget("Series and split", "time", "value", date_axis=True,
                                            object_name="seriesPlot", legend_offset=(-10, -10))
        thin_long_curves(self.series_plot)  # a 200,000-row file must not freeze the repaint
        self.length_plot = make_plot_widget("Review lengths (tokens)", "tokens", "reviews",
                                            object_name="lengthHistogram", legend=False)
        self.example_text = QPlainTextEdit(self)
        self.example_text.setObjectName("textExample")
        self.example_text.setReadOnly(True)
        text_view = QSplitter(Qt.Orientation.Vertical, self)
        text_view.addWidget(self.length_plot)
        text_view.addWidget(self.example_text)
        self.plot_stack = QStackedWidget(self)
        self.plot_stack.addWidget(self.series_plot)
        self.plot_stack.addWidget(text_view)

        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.plot_stack)
        right.addWidget(self.table)
        right.setSizes([470, 230])

        return right

    # -- the document ------------------------------------------------------------------
    def _bind(self, document) -> None:
        """Show the document's data settings, load them, and hand it the outcome."""
        events = document.events
        events.data_settings.connect(self._on_document_settings)
        events.running.connect(lambda running: self.setEnabled(not running))
        self.optionsChanged.connect(self._push_settings)
        self.dataChanged.connect(lambda data: document.set_data(data, self.load_error or self.error))
        self.busyChanged.connect(lambda busy: busy and document.set_data_busy(True))
        if document.source_key:
            self._on_document_settings(document.source_key, document.data_options)

    def _push_settings(self) -> None:
        state = self.settings_state()
        if state is None:
            return
        self._pushing = True  # the document's echo of this edit needs no answer
        try:
            self.document.set_data_settings(*state)
        finally:
            self._pushing = False

    def _on_document_settings(self, source_key: str, options: dict) -> None:
        if self._pushing:
            return
        if self.settings_state() == (source_key, options):
            self.reload()  # asked again (a project, a preset, a run): prepare afresh
            return
        try:
            self.set_source(source_key, options)
        except SeqStudioError as exc:  # a plugin source no longer there: say which
            self._show_error(error_text(exc))
            self.prepared = None
            self.document.set_data(None, exc)

    def _set_accessibility(self) -> None:
        describe_widgets((
                (self.source_combo, "Data source", "Where the data comes from"),
                (self.open_button, "Open data file", "Choose a CSV file"),
                (self.form_area, "Data options", "Options of the selected source"),
                (self.error_label, "Data error", "Why the data cannot be prepared"),
                (self.leak_label, "Leak warning", ""),
                (self.summary_label, "Data summary", "What was prepared"),
                (self.busy_bar, "Preparing the data", "The data is being prepared in the background"),
                (self.table, "Data preview table", "The file's rows"),
                (self.series_plot, "Series plot", "The series with its train, validation and test parts"),
                (self.length_plot, "Review length histogram", ""),
                (self.example_text, "Example review", "One review encoded, padded and decoded")))
        chain_tab_order(self.source_combo, self.open_button, self.form_area, self.table)

    # -- undo -------------------------------------------------------------------
    def set_undo_stack(self, stack: QUndoStack | None) -> None:
        """Record every later change of the data settings on ``stack`` (None: record nothing)."""
        self._undo_stack = stack

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self._undo_stack

    def settings_state(self) -> tuple[str, dict[str, Any]] | None:
        """``(source key, options)`` as shown now."""
        return (self._source.key, self.options()) if self._source is not None else None

    def apply_data_state(self, source_key: str, options: dict[str, Any]) -> None:
        """Show ``source_key`` with ``options`` and reload soon, recording nothing (undo / redo use it)."""
        source = self.registry.sources.get(source_key)
        if source is None:  # a plugin was disabled since: say so rather than fail
            self._show_error(f"data source {source_key!r} is no longer available "
                             "(its plugin was disabled or uninstalled)")
            return
        self._applying = True
        try:
            if self._source is not None and self._source.key == source_key and self._form is not None:
                self._form.set_values(options)  # same source: keep the form (and the focused field)
                self._state = (source_key, self._form.values())
            else:
                with QSignalBlocker(self.source_combo):
                    self.source_combo.setCurrentIndex(self.source_combo.findData(source_key))
                self._build_form(source, options)
            self.optionsChanged.emit()
            self._schedule_reload()
        finally:
            self._applying = False

    def _record(self, command_type: type[DataSettingsCommand], text: str,
                before: tuple[str, dict[str, Any]] | None, *, programmatic: bool = False) -> None:
        stack, after = self._undo_stack, self._state
        if (stack is None or self._applying or before is None or after is None or before == after
                or (programmatic and not is_recording(stack))):
            return
        stack.push(command_type(self, text, before, after, applied=True))

    def _fill_source_combo(self) -> None:
        with QSignalBlocker(self.source_combo):
            self.source_combo.clear()
            for key, source in sorted(self.registry.sources.items()):
                label = source.name if source.plugin in ("", "builtins") else \
                    f"{source.name}  [{source.plugin}]"
                self.source_combo.addItem(label, key)
                self.source_combo.setItemData(self.source_combo.count() - 1, source.description,
                                              Qt.ItemDataRole.ToolTipRole)

    # -- public -----------------------------------------------------------------
    def set_registry(self, registry: Registry) -> None:
        """Offer the sources of ``registry`` (after plugins changed), keeping the current choice."""
        current, options = (self._source.key if self._source else None), self.options()
        self.registry = registry
        self._fill_source_combo()
        if current in registry.sources:
            self.set_source(current, options)
        elif self.source_combo.count():
            self.source_combo.setCurrentIndex(0)
            self._on_source_changed()

    @property
    def source(self) -> SourceType | None:
        return self._source

    def options(self) -> dict[str, Any]:
        """The current option values of the selected source."""
        return self._form.values() if self._form else {}

    def set_source(self, name: str, options: dict[str, Any] | None = None, *, reload: bool = True) -> None:
        """Select source ``name`` (key or short name) and show ``options``; reloads now.

        Large inputs are prepared in the background: call ``wait_ready()`` before
        reading ``prepared`` when the next line needs the data.
        """
        source = self.registry.source(name)
        index = self.source_combo.findData(source.key)
        before = self._state
        with QSignalBlocker(self.source_combo):
            self.source_combo.setCurrentIndex(index)
        self._build_form(source, options)
        self._record(DataSettingsCommand, f"Data source {source.name}", before, programmatic=True)
        if self._state != before:  # e.g. set_registry re-showing the same settings is no edit
            self.optionsChanged.emit()
        if reload:
            self.reload()

    def load_path(self, path: str) -> None:
        """Open ``path`` with the selected source, guessing column choices afresh (see ``wait_ready``)."""
        source = self._source
        if source is None:
            return
        values = self.options()
        values["path"] = path
        for name, fresh in (("target", []), ("features", []), ("date_col", "auto"),
                            ("text_col", None), ("label_col", None)):
            if name in values and name in {o.name for o in source.options}:
                default = next(o.default for o in source.options if o.name == name)
                values[name] = default if default is not None else fresh
        before = self._state
        self._build_form(source, values)
        self._record(DataSettingsCommand, f"Open {Path(path).name}", before)
        self.optionsChanged.emit()
        self.reload()

    def reload(self, *, background: bool | None = None) -> None:
        """Prepare the data from the current options; show the result or the error inline.

        Parameters
        ----------
        background : bool, optional
            True: in the worker thread (``busy`` until ``dataChanged``); False: here and
            now; None (default): here when the input is under ``sync_load_bytes``.
            Either way the newest request wins: an older background result is dropped.
        """
        self._reload_timer.stop()
        source = self._source
        if source is None:
            return
        options = self.options()
        if "path" in options:
            options["path"] = resolve_data_path(options["path"])
        if background is None:
            background = input_bytes(options) >= self.sync_load_bytes
        preview_key = self._preview_key_for(source, options)
        want_preview = preview_key != self._preview_key
        if not background:
            self._loader.supersede()  # a background load still under way is older than this
            frame, prepared, error = load_job(source, options, want_preview)
            self._deliver(source, preview_key, frame, prepared, error)
            return
        owner = self._loader
        generation = self._loader.submit(lambda: _load_job(source, options, want_preview, owner))
        self._background = {generation: (source, preview_key)}
        self._set_busy(True)

    @property
    def busy(self) -> bool:
        """True while the newest request is being prepared in the background."""
        return self._busy

    def wait_ready(self, timeout_ms: int = 60_000) -> bool:
        """Prepare any pending request and wait (events keep flowing) until its result is shown.

        Returns True when the panel shows the newest settings' outcome (data or
        error), False on timeout. For scripts and tests that use the data right
        after ``set_source`` / ``load_path``.

        >>> panel.set_source("text-csv", {"path": "reviews.csv"})   # doctest: +SKIP
        >>> panel.wait_ready() and panel.prepared                   # doctest: +SKIP
        """
        if self._reload_timer.isActive():
            self.reload()
        if not self._busy:
            self._draw_pending_plot()
            return True
        loop = QEventLoop()
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(loop.quit)
        self.busyChanged.connect(loop.quit)
        deadline.start(max(0, int(timeout_ms)))
        try:
            while self._busy and deadline.isActive():
                loop.exec()
        finally:
            self.busyChanged.disconnect(loop.quit)
            deadline.stop()
        if not self._busy:
            self._draw_pending_plot()
        return not self._busy

    def _on_load_finished(self, outcome: LoadResult) -> None:
        """A background load ended (GUI thread): show it if it is still the newest request."""
        request = self._background.pop(outcome.request, None)
        if request is None or not self._loader.is_current(outcome.request):
            return
        source, preview_key = request
        if outcome.error is not None:  # the job catches the source's errors; this is a bug
            frame, prepared, error = False, None, outcome.error
        else:
            frame, prepared, error = outcome.value
        self._deliver(source, preview_key, frame, prepared, error, defer_plot=True)

    def cancel_load(self) -> bool:
        """Stop waiting for the background load; show the settings and data of before again.

        The data shown before was never replaced (a load replaces it only when it ends),
        so nothing is prepared again; the load's outcome, whenever it comes, is dropped.
        Returns False when no load was under way.
        """
        if not self._busy:
            return False
        self._loader.supersede()
        shared_load_process().cancel(self._loader)  # stop the child's work on it at once
        self._background = {}
        self._reload_timer.stop()
        before = self._loaded_state
        if before is not None and before[0] in self.registry.sources:
            key, options = before
            self._applying = True
            try:
                if self._source is not None and self._source.key == key and self._form is not None:
                    self._form.set_values(options)
                else:
                    with QSignalBlocker(self.source_combo):
                        self.source_combo.setCurrentIndex(self.source_combo.findData(key))
                    self._build_form(self.registry.sources[key], options)
                self._state = (key, self._form.values())
            finally:
                self._applying = False
        self._set_busy(False)
        self.optionsChanged.emit()  # the document takes the settings of before back
        if self.document is not None:
            self.document.set_data_busy(False)
        self._show_error("" if self.prepared is not None else self.error)
        self.summary_label.setText("Loading cancelled; the data prepared before is kept.\n"
                                   + self.summary_label.text())
        return True

    def _set_busy(self, busy: bool) -> None:
        self.busy_label.setVisible(busy)
        self.busy_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    def _deliver(self, source: SourceType, preview_key: tuple, frame, prepared,
                 error: BaseException | str, *, defer_plot: bool = False) -> None:
        """Show one request's outcome: preview (``False``: unchanged), data or error, then signal.

        ``defer_plot`` (a background load's outcome): the series is plotted on the next turn
        of the event loop, so that the window repaints the rest in between (a 200,000-row
        file's table, plot and their repaint in one turn stalled it ~90 ms).
        """
        self._pending_plot = None
        if frame is not False and preview_key != self._preview_key:
            self._show_preview(preview_key, frame)
        self._set_busy(False)  # before dataChanged: listeners see the panel ready
        self.load_error = error if isinstance(error, BaseException) else None
        if error or prepared is None:
            text = error_text(error) if isinstance(error, BaseException) else error
            self._show_error(text or "the data source returned nothing")
            self.prepared = None
            self.dataChanged.emit(None)
            return
        self._show_error("")
        self.prepared = prepared
        self._loaded_state = self.settings_state()  # what a cancelled load goes back to
        self._show_prepared(prepared, defer_plot=defer_plot)
        self.dataChanged.emit(prepared)

    # -- building the form ---------------------------------------------------------
    def _on_source_changed(self, *_args) -> None:
        key = self.source_combo.currentData()
        source = self.registry.sources.get(key)
        if source is None:
            return
        carried = {}
        if self._form is not None and "path" in self.options():
            carried["path"] = self.options()["path"]
        before = self._state
        self._build_form(source, carried)
        self._record(DataSettingsCommand, f"Data source {source.name}", before)
        self.optionsChanged.emit()
        self._schedule_reload()

    def _build_form(self, source: SourceType, values: dict[str, Any] | None) -> None:
        self._source = source
        self.description_label.setText(source.description)
        self.plot_stack.setCurrentIndex(1 if source.kind == "text" else 0)
        form = OptionForm(source.options, values or {})
        form.setObjectName("sourceOptions")
        form.changed.connect(self._on_options_edited)
        self._form = form
        self._preview_key = None
        self._remember_browse_folders(form)
        self.form_area.setWidget(form)
        self._state = (source.key, form.values())

    def _on_options_edited(self, values: dict) -> None:
        before = self._state
        if self._source is not None:
            self._state = (self._source.key, dict(values))
            same_source = before is not None and before[0] == self._source.key
            keys = changed_keys(before[1], values) if same_source else frozenset(values)
            if same_source and not keys:  # editingFinished without an edit: nothing to record
                self._schedule_reload()
                return
            if same_source:
                self._record(DataOptionCommand, f"Edit {', '.join(sorted(keys))}", before)
        self.optionsChanged.emit()
        self._schedule_reload()

    def _schedule_reload(self) -> None:
        self._reload_timer.start()

    def _on_open_clicked(self) -> None:
        path = ask_open_path(self, "data", "Open data file",
                             "CSV files (*.csv *.tsv *.txt);;All files (*)")
        if path:
            self.load_path(path)

    def _remember_browse_folders(self, form: OptionForm) -> None:
        """Path fields' Browse… start in the last data folder (and remember the one chosen)."""
        for option in form.options:
            widget = form.widget(option.name)
            if option.type != "path" or not isinstance(widget, PathEdit):
                continue
            widget.browse.clicked.disconnect()
            widget.browse.clicked.connect(lambda _=False, w=widget: self._browse_path(w))

    def _browse_path(self, widget) -> None:
        path = ask_open_path(widget, "data", "Open data file",
                             "Data (*.csv *.txt *.tsv *.gz);;All files (*)")
        if path:
            widget.line.setText(path)
            widget.editingFinished.emit()

    # -- preview table -----------------------------------------------------------------
    @staticmethod
    def _preview_key_for(source: SourceType, options: dict[str, Any]) -> tuple:
        return (source.key, options.get("path") or "", options.get("date_col"), options.get("date_format"))

    def _show_preview(self, key: tuple, frame: pd.DataFrame | None) -> None:
        self._preview_key = key
        if frame is None or not key[1] or not Path(key[1]).is_file():
            # no file (a text preset before its file is chosen): never the previous file's rows
            self.table_model.set_frame(pd.DataFrame())
            return
        self.table_model.set_frame(frame)
        self._size_columns()
        if self._form is not None:
            self._form.set_columns([str(c) for c in frame.columns])

    def _size_columns(self, rows: int = 30) -> None:
        """Each column as wide as its name and its first ``rows`` cells (80-360 pixels).

        Measured here from the cells' text: the view's ``resizeColumnsToContents`` asks the
        model for every role of every measured cell (~1,400 calls into Python, ~10 ms).
        """
        model, header = self.table_model, self.table.horizontalHeader()
        cells, names = self.table.fontMetrics(), header.fontMetrics()
        shown = min(model.rowCount(), rows)
        for column in range(model.columnCount()):
            name = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
            width = names.horizontalAdvance(name) + 28  # padding and the sort arrow
            for row in range(shown):
                text = model.data(model.index(row, column))
                width = max(width, cells.horizontalAdvance(str(text or "")) + 16)
            header.resizeSection(column, min(max(width, 80), 360))

    # -- plots -----------------------------------------------------------------------
    def _show_error(self, text: str) -> None:
        self.error = text
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
        if text:
            # never leave the previous file's plot up as if it belonged to the failed one
            self.leak_label.hide()
            self.summary_label.setText("")
            self._clear_series_plot()
            self.length_plot.getPlotItem().clear()
            self.example_text.setPlainText("")

    def _draw_pending_plot(self) -> None:
        """Plot the series a background load left for the next turn (now, if still pending)."""
        pending, self._pending_plot = self._pending_plot, None
        if pending is not None and pending is self.prepared:
            self._plot_series(pending)

    def _show_prepared(self, data, *, defer_plot: bool = False) -> None:
        counts = ", ".join(f"{SPLIT_LABELS[s]} {data.n_samples(s)}" for s in ("train", "val", "test"))
        self.summary_label.setText(f"{data.description}\nsamples: {counts}; input shape "
                                   f"{data.input_shape}; outputs {data.n_outputs} ({data.task})")
        if isinstance(data, SeriesData):
            self._tick_resolved_targets(list(data.target_columns))
            if defer_plot:
                self._pending_plot = data
                QTimer.singleShot(0, self._draw_pending_plot)
            else:
                self._plot_series(data)
        elif isinstance(data, TextData):
            self._plot_text(data)
        leak = getattr(data, "window_leak", None)
        self.leak_label.setText(f"Leak: {leak}" if leak else "")
        self.leak_label.setVisible(bool(leak))

    def _tick_resolved_targets(self, targets: list[str]) -> None:
        """Tick the target the core chose when the option was left empty (the summary names it)."""
        if self._form is not None and targets and "target" in {o.name for o in self._form.options}:
            self._form.show_automatic("target", targets)

    def _clear_series_plot(self) -> None:
        self.series_plot.getPlotItem().clear()  # removes each curve's legend entry too
        self._fitted_extent = None
        self._series_items: dict[str, Any] = {"curves": [], "splits": {}, "example": None}

    def _plot_series(self, data) -> None:
        """Draw the series, its split regions and one example window.

        The items of the previous data are reused (new numbers, pens and legend texts):
        making a curve, a scatter or a legend entry costs the GUI thread ~3 ms each, and
        a 200,000-row file's outcome must fit in a turn of the event loop well under 50 ms.
        """
        item = self.series_plot.getPlotItem()
        items = getattr(self, "_series_items", None) or {"curves": [], "splits": {}, "example": None}
        self._series_items = items
        series: pd.DataFrame = data.series
        x, is_date = time_values(series.index)
        set_time_axis(self.series_plot, is_date)  # a plain row index is no clock time
        item.setLabel("bottom", "time" if is_date else "row")
        targets = list(data.target_columns)  # resolved by the core, also when the option was empty
        colors = [actual_color(), "#8c564b", "#9467bd", "#17becf"]
        columns = [c for c in targets if c in series.columns][:4]
        curves: list = items["curves"]
        for curve in curves[len(columns):]:
            item.removeItem(curve)
        del curves[len(columns):]
        for i, column in enumerate(columns):
            style = series_style(colors[i], len(x))
            y = series[column].to_numpy(dtype=float)
            if i < len(curves):
                curves[i].setData(x, y)
                curves[i].setPen(style["pen"])
                _rename(item, curves[i], str(column))
            else:
                curves.append(item.plot(x, y, **style, name=str(column)))
        top = float(np.nanmax(series.to_numpy(dtype=float, na_value=np.nan))) if len(series) else 0.0
        self._fit_view(x, [series[c].to_numpy(dtype=float) for c in columns])
        splits = getattr(data, "split_times", {}) or {}
        for split in SPLIT_BRUSHES:
            first, last = splits.get(split, (None, None))
            shown = items["splits"].get(split)
            if first is None:
                if shown is not None:
                    for part in shown:
                        part.hide()
                continue
            (x0, x1), _ = time_values(pd.Index([first, last]))
            if shown is None:
                region = pg.LinearRegionItem((x0, x1), movable=False, brush=SPLIT_BRUSHES[split],
                                             pen=pg.mkPen(None))
                region.setZValue(-10)
                item.addItem(region)
                label = pg.TextItem(SPLIT_LABELS[split], color=actual_color(), anchor=(0, 0))
                item.addItem(label, ignoreBounds=True)  # pixel-sized: never part of the auto range
                shown = items["splits"][split] = (region, label)
            region, label = shown
            region.setRegion((x0, x1))
            label.setColor(actual_color())
            label.setPos(x0, top)
            region.show()
            label.show()
        self._plot_example_window(data, series, x, targets)

    def _fit_view(self, x: np.ndarray, ys: list[np.ndarray]) -> None:
        """Show the whole of a new series at once, and keep that view (the A button re-fits).

        The curves are clipped to the view and peak-downsampled (``thin_long_curves``),
        so pyqtgraph's automatic range sees only the points drawn for the current view:
        after a new file it widened step by step, and then kept moving by a bucket's
        width as the buckets moved with it, each step a repaint of the whole plot (three
        to six back to back on a 200,000-row file). A view the user zoomed is kept while
        the data's extent stays the same (another look-back, another split).
        """
        finite = [v[np.isfinite(v)] for v in ys]
        finite = [v for v in finite if len(v)]
        if not len(x) or not finite:
            return
        extent = (float(np.nanmin(x)), float(np.nanmax(x)),
                  min(float(v.min()) for v in finite), max(float(v.max()) for v in finite))
        if extent == getattr(self, "_fitted_extent", None):
            return
        self._fitted_extent = extent
        self.series_plot.getPlotItem().getViewBox().setRange(xRange=extent[:2], yRange=extent[2:])

    def _plot_example_window(self, data, series: pd.DataFrame, x: np.ndarray, targets) -> None:
        """Mark one sample: its input window and the steps it must predict (first test window)."""
        item = self.series_plot.getPlotItem()
        markers = self._series_items["example"]
        if markers is None:
            # markers only: scatter items skip the downsampling set up for long curves, which
            # re-made a marker curve's points once per setting (~10 ms on a 200,000-row file)
            markers = self._series_items["example"] = (
                pg.ScatterPlotItem([], [], symbol="s", size=8, brush=TRAIN_COLOR, pen=None,
                                   name="example input"),
                pg.ScatterPlotItem([], [], symbol="t", size=10, brush=TEST_COLOR, pen=None,
                                   name="its horizon"))
            for marker in markers:
                item.addItem(marker)
        inputs, horizon = markers
        split = "test" if data.n_samples("test") else "train"
        try:
            first_target = data.target_times(split)[0]
            position = _position_of(series.index, first_target)
        except Exception:  # noqa: BLE001 - the example is decoration; never break the panel for it
            position = None
        if not isinstance(position, int | np.integer):
            inputs.setData([], [])
            horizon.setData([], [])
            return
        options = data.options
        column = targets[0] if targets and targets[0] in series.columns else series.columns[-1]
        y = series[column].to_numpy(dtype=float)
        start = max(0, position - int(options.look_back))
        stop = min(len(y), position + int(options.horizon))
        inputs.setData(x[start:position], y[start:position])
        horizon.setData(x[position:stop], y[position:stop])
        _rename(item, inputs, f"example input ({options.look_back} steps)")
        _rename(item, horizon, f"its horizon ({options.horizon})")

    def _plot_text(self, data) -> None:
        item = self.length_plot.getPlotItem()
        item.clear()
        try:
            counts, edges = data.length_histogram()
            counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
            bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=TRAIN_COLOR,
                                   pen=pg.mkPen("w"))
            item.addItem(bars)
            max_len = getattr(getattr(data, "options", None), "max_len", None)
            if max_len:
                line = pg.InfiniteLine(pos=max_len, angle=90, pen=pg.mkPen(VAL_COLOR, width=2),
                                       label=f"max_len {max_len}", labelOpts={"color": VAL_COLOR})
                item.addItem(line)
        except Exception as exc:  # noqa: BLE001 - keep the panel alive, say why the plot is empty
            item.setTitle(f"no length histogram: {exc}")
        try:
            coverage = data.coverage()
            item.setTitle(f"Review lengths (tokens): {coverage:.0%} fit in max_len uncut", size="11pt")
        except Exception:  # noqa: BLE001 - the title is a hint only
            item.setTitle("Review lengths (tokens)", size="11pt")
        try:
            self.example_text.setPlainText(format_text_example(data.example(0)))
        except Exception as exc:  # noqa: BLE001
            self.example_text.setPlainText(f"no example: {exc}")
