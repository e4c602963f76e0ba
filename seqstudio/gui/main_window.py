"""The main window: menus and the Data / Model / Train / Results / Runs / Experiments tabs over one document.

Everything the window shows lives in a Qt-free
:class:`~seqstudio.core.studio.StudioDocument` (``window.document``): the
project (``window.project``; File > New is the ``airline-lstm`` preset, as at
start-up), the data, the layer stack, the train settings, the trained model,
the runs and the results. Each panel is handed the document, renders its
events and sends it what the user does; the window only adds the shell:
File (New, Open, Save, Save As, Recent), Edit (Undo / Redo over one
``QUndoStack``), View (theme, autosave), Presets, Run, Help; the title
``NAME[*] — seqstudio`` follows the document's modified mark; an autosave copy
(:mod:`seqstudio.gui.recovery`) survives a crash; geometry, layout, last
folders and theme persist in :mod:`seqstudio.gui.settings`. Dropping a file on
the window opens it. Failures go through one route (:mod:`seqstudio.gui.errors`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMainWindow, QTabWidget

from seqstudio.core.presets import PRESETS
from seqstudio.core.registry import Registry
from seqstudio.core.studio import StudioDocument, is_series

# PySide6 6.12 drops a reference to None on every void call; see protect_none_refcount.
from .app import protect_none_refcount
from .backtest_panel import BacktestPanel
from .data_panel import DataPanel
from .errors import ErrorRoute
from .experiments_panel import ExperimentsPanel
from .inspect_panel import InspectPanel
from .model_editor import ModelEditor
from .project_actions import CANCEL, DATA_FILTER, DISCARD, PROJECT_FILTER, SAVE, ProjectActions
from .recovery import Autosaver, RecoveryStore
from .results_panel import ResultsPanel
from .runs_panel import RunsPanel
from .settings import GuiSettings, apply_theme, name_splitters
from .train_panel import TrainPanel
from .undo import undo_macro

protect_none_refcount()
TAB_DATA, TAB_MODEL, TAB_TRAIN, TAB_RESULTS, TAB_RUNS, TAB_EXPERIMENTS, TAB_INSPECT = range(7)
#: the views inside the Results tab (``window.results_views``)
RESULTS_FORECAST, RESULTS_BACKTEST = range(2)
#: Autosave intervals offered in View > Autosave (minutes; 0 = only after training runs).
AUTOSAVE_CHOICES = (1, 3, 5, 10, 0)

__all__ = ["CANCEL", "DATA_FILTER", "DISCARD", "PROJECT_FILTER", "SAVE", "MainWindow"]


class MainWindow(ProjectActions, QMainWindow):
    """The studio window; build it with :func:`seqstudio.gui.app.create_window`.

    Parameters
    ----------
    registry : Registry
        Sources, cells and layers to offer.
    plugin_manager : PluginManager, optional
        For the Plugins dialog (the default manager when None).
    settings : GuiSettings, optional
        Where geometry, recent projects and the theme persist.
    recovery : RecoveryStore, optional
        Where the autosave copy lives.
    """

    #: The training engine (torch) has loaded in the background (:meth:`start_engine_loader`).
    engineReady = Signal()

    def __init__(self, registry: Registry, parent=None, *, plugin_manager=None,
                 settings: GuiSettings | None = None, recovery: RecoveryStore | None = None):
        super().__init__(parent)
        self.plugin_manager = plugin_manager
        self.settings = settings if settings is not None else GuiSettings()
        self.recovery = recovery if recovery is not None else RecoveryStore()
        self.document = StudioDocument(registry)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("undoStack")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self._make_tabs()
        self.statusBar().setObjectName("statusBar")
        self.errors = ErrorRoute(self, layer_view=self.model_editor, run_view=self.train_panel)
        self._make_menus()
        self._observe_document()
        self.autosaver = Autosaver(self.autosave, self.settings.autosave_minutes(), self)
        name_splitters(self, [self.data_panel, self.model_editor, self.train_panel,
                              self.results_panel, self.backtest_panel, self.runs_panel,
                              self.experiments_panel, self.inspect_panel])
        self.settings.restore_window(self)
        self.theme = apply_theme(self.settings.theme(), self)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):  # Qt >= 6.5
            hints.colorSchemeChanged.connect(self._on_system_colour_scheme_changed)
        self._update_title()

    # -- the document's state, as the window's attributes (docs/automation.md) ------------
    registry = property(lambda self: self.document.registry, doc="Sources, cells and layers offered.")
    project = property(lambda self: self.document.project, doc="The project being edited.")
    data = property(lambda self: self.document.data, doc="The PreparedData (None: an error).")
    model = property(lambda self: self.document.model, doc="The trained nn.Module (None before).")
    last_result = property(lambda self: self.document.last_result, doc="The last run's TrainResult.")
    epochs_trained = property(lambda self: self.document.epochs_trained,
                              doc="Epochs in the current weights (Continue numbers on from here).")

    # -- layout ---------------------------------------------------------------------------
    def _make_tabs(self) -> None:
        doc = self.document
        self.data_panel = DataPanel(doc.registry, self, document=doc)
        self.model_editor = ModelEditor(doc.registry, self, document=doc)
        self.train_panel = TrainPanel(self, document=doc)
        self.results_panel = ResultsPanel(self, document=doc)
        self.backtest_panel = BacktestPanel(doc.project_snapshot, self)
        self.backtest_panel.backtestFinished.connect(self._on_backtest_finished)
        self.runs_panel = RunsPanel(self)
        self.experiments_panel = ExperimentsPanel(doc, self)
        self.inspect_panel = InspectPanel(self, document=doc)
        # Results holds what the trained model does: its forecast (or predictions) and, for a
        # series, the backtest that judges it over many forecast origins.
        self.results_views = QTabWidget(self)
        self.results_views.setObjectName("resultsViews")
        self.results_views.setAccessibleName("Results views")
        self.results_views.setDocumentMode(True)
        self.results_views.addTab(self.results_panel, "Forecast")
        self.results_views.addTab(self.backtest_panel, "Bac&ktest")
        self.results_views.setTabToolTip(RESULTS_BACKTEST, "Judge the model over many forecast "
                                         "origins, beside the baselines, with intervals")
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.setAccessibleName("Studio tabs")
        for panel, label in ((self.data_panel, "&Data"), (self.model_editor, "&Model"),
                             (self.train_panel, "&Train"), (self.results_views, "&Results"),
                             (self.runs_panel, "R&uns"), (self.experiments_panel, "E&xperiments"),
                             (self.inspect_panel, "&Inspect")):
            self.tabs.addTab(panel, label)
        self.setCentralWidget(self.tabs)
        self.runs_panel.restoreRequested.connect(self.restore_run)
        self.runs_panel.continueRequested.connect(self.continue_run)
        self.runs_panel.runDeleted.connect(self.delete_run)
        self.runs_panel.failed.connect(
            lambda report: self.errors.report(report, modal=True, title="Cannot export runs"))
        self.model_editor.presetRequested.connect(self.apply_preset)
        self.experiments_panel.applyRequested.connect(self.restore_run)
        self.experiments_panel.trainBestRequested.connect(self.train_trial)
        for panel in (self.model_editor, self.data_panel, self.train_panel):
            panel.set_undo_stack(self.undo_stack)

    def _observe_document(self) -> None:
        events = self.document.events
        events.modified.connect(lambda modified: self.setWindowModified(modified))
        events.name.connect(self._update_title)
        events.runs.connect(self.runs_panel.set_runs)
        events.running.connect(self._on_running_changed)
        events.error.connect(self.errors)
        events.data.connect(self._on_data_kind)
        events.data.connect(self._show_saved_backtest)
        events.project.connect(lambda _project: self.backtest_panel.clear())
        self.runs_panel.set_runs(list(self.project.runs))

    def _show_saved_backtest(self, data) -> None:
        """The project's kept backtest, drawn on its series once the data is ready (a project
        opened with one shows it; the future forecast is drawn when a backtest is run here)."""
        stored = (self.project.results or {}).get("backtest")
        if data is None or not is_series(data) or not stored or self.backtest_panel.running:
            return
        if self.backtest_panel.result is not None:
            return  # already showing one for this project (the project event clears it)
        from seqstudio.core.forecast.backtest import BacktestResult, time_text

        target = stored["target_columns"][0]
        if target not in data.series:
            return
        self.backtest_panel.show_result(BacktestResult.from_dict(stored),
                                        series=(time_text(data.series.index), data.series[target].to_numpy()))

    def _on_data_kind(self, data) -> None:
        """A backtest judges forecasts: offered for a series, hidden for text predictions."""
        if data is None:
            return  # an error or a load in progress: keep the views the last data chose
        series = is_series(data)
        self.results_views.setTabText(RESULTS_FORECAST, "Forecast" if series else "Predictions")
        self.results_views.setTabVisible(RESULTS_BACKTEST, series)
        if not series:
            self.results_views.setCurrentIndex(RESULTS_FORECAST)

    def show_backtest(self) -> None:
        """Bring the Backtest view (inside Results) to the front."""
        self.tabs.setCurrentIndex(TAB_RESULTS)
        self.results_views.setCurrentIndex(RESULTS_BACKTEST)

    # -- menus ---------------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, *, name: str = "", tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if name:
            action.setObjectName(name)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _make_menus(self) -> None:
        self._make_file_menu()
        self._make_edit_menu()
        self._make_view_menu()
        presets_menu = self.menuBar().addMenu("&Presets")
        for name, preset in PRESETS.items():
            action = self._action(name, lambda n=name: self.apply_preset(n))
            action.setToolTip(preset.description)
            presets_menu.addAction(action)
        run_menu = self.menuBar().addMenu("&Run")
        self.train_action = self._action("&Train", self.request_train, ["Ctrl+Return", "Ctrl+Enter"],
                                         name="trainAction", tip="Train a fresh model")
        self.continue_action = self._action("&Continue training", self.request_continue,
                                            name="continueAction")
        self.stop_action = self._action("&Stop", self.request_stop, "Esc", name="stopAction",
                                        tip="Stop training after the current batch")
        for action in (self.train_action, self.continue_action, self.stop_action):
            run_menu.addAction(action)
        run_menu.addSeparator()
        self.distributed_action = self._action(
            "Run &distributed…", self.show_distributed_dialog, name="runDistributedAction",
            tip="The torchrun command (and a SLURM script) that trains this project in several processes")
        run_menu.addAction(self.distributed_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&User guide", self.show_user_guide,
                                         QKeySequence.StandardKey.HelpContents, name="userGuideAction"))
        help_menu.addAction(self._action("&About seqstudio", self.show_about, name="aboutAction"))

    def _make_file_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.new_action = self._action("&New project", self.new_project, QKeySequence.StandardKey.New,
                                       name="newProjectAction", tip="Start again from the Airline LSTM")
        self.open_project_action = self._action("&Open project…", self.open_project_dialog,
                                                QKeySequence.StandardKey.Open, name="openProjectAction")
        self.open_data_action = self._action("Open &data…", self.open_data_dialog, "Ctrl+Shift+O",
                                             name="openDataAction", tip="Open a CSV file in the Data tab")
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save,
                                        name="saveAction")
        self.save_as_action = self._action("Save &as…", self.save_as, "Ctrl+Shift+S",
                                           name="saveAsAction")
        menu.addAction(self.new_action)
        menu.addAction(self.open_project_action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("recentProjectsMenu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        menu.addAction(self.open_data_action)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addAction(self.save_as_action)
        self.export_action = self._action("&Export model…", self.show_export_dialog, name="exportModelAction",
                                          tip="Write the trained model with its preprocessing, self-checked")
        menu.addAction(self.export_action)
        menu.addSeparator()
        menu.addAction(self._action("&Plugins…", self.show_plugin_dialog, name="pluginsAction"))
        menu.addSeparator()
        menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, name="quitAction"))
        self.fill_recent_menu()

    def _make_edit_menu(self) -> None:
        menu = self.menuBar().addMenu("&Edit")
        # Own actions rather than createUndoAction(): the stack would re-enable those
        # by itself, and an undo during a run would edit the data the run is using.
        self.undo_action = self._action("&Undo", self._on_undo, "Ctrl+Z", name="undoAction")
        self.redo_action = self._action("&Redo", self._on_redo, ["Ctrl+Shift+Z", "Ctrl+Y"],
                                        name="redoAction")
        for sig in (self.undo_stack.canUndoChanged, self.undo_stack.canRedoChanged,
                    self.undo_stack.undoTextChanged, self.undo_stack.redoTextChanged):
            sig.connect(self._refresh_undo_actions)
        self._refresh_undo_actions()
        menu.addAction(self.undo_action)
        menu.addAction(self.redo_action)

    def _make_view_menu(self) -> None:
        view_menu = self.menuBar().addMenu("&View")
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        group, current = QActionGroup(self), self.settings.theme()
        for key, label in (("system", "Follow the &system"), ("light", "&Light"), ("dark", "&Dark")):
            action = self._action(label, lambda k=key: self.set_theme(k), name=f"theme_{key}")
            action.setCheckable(True)
            action.setChecked(key == current)
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[key] = action
        autosave_menu = view_menu.addMenu("&Autosave")
        group, minutes_now = QActionGroup(self), self.settings.autosave_minutes()
        for minutes in AUTOSAVE_CHOICES:
            label = f"every {minutes} min" if minutes else "only after training runs"
            action = self._action(label, lambda m=minutes: self.set_autosave_minutes(m),
                                  name=f"autosave_{minutes}")
            action.setCheckable(True)
            action.setChecked(abs(minutes - minutes_now) < 1e-9)
            group.addAction(action)
            autosave_menu.addAction(action)

    def fill_recent_menu(self) -> list[str]:
        """Rebuild File > Open recent from the settings (missing files pruned); returns the paths."""
        self.recent_menu.clear()
        paths = self.settings.recent_projects()
        for i, path in enumerate(paths, start=1):
            action = self._action(f"&{i} {Path(path).name}", lambda p=path: self.open_project(p))
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setData(path)
            self.recent_menu.addAction(action)
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction(self._action("Clear the list", lambda: (
                self.settings.clear_recent_projects(), self.fill_recent_menu())))
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)
        return paths

    # -- Edit and Run ------------------------------------------------------------------------
    def _refresh_undo_actions(self, *_args) -> None:
        """Undo / Redo follow the stack, and are off while a run owns the data and layers."""
        running, stack = self.document.running, self.undo_stack
        self.undo_action.setEnabled(not running and stack.canUndo())
        self.redo_action.setEnabled(not running and stack.canRedo())
        self.undo_action.setText(f"&Undo {stack.undoText()}".rstrip())
        self.redo_action.setText(f"&Redo {stack.redoText()}".rstrip())

    def _on_undo(self) -> None:
        if self.undo_action.isEnabled():
            self.undo_stack.undo()

    def _on_redo(self) -> None:
        if self.redo_action.isEnabled():
            self.undo_stack.redo()

    def _on_running_changed(self, running: bool) -> None:
        self._refresh_undo_actions()
        if not running:
            self.autosaver.save()  # after each run: at most the editing since is lost in a crash

    def request_train(self) -> None:
        """Train a fresh model (Ctrl+Return): what the Train button does, if it is enabled."""
        self.train_panel.request_train()

    def request_continue(self) -> None:
        if self.train_panel.continue_button.isEnabled():
            self.train_panel.continue_button.click()

    def request_stop(self) -> None:
        """Stop the run after the current batch (Esc); nothing when no run is under way."""
        self.train_panel.request_stop()

    # -- intents that are one undo step -------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Load a preset's data options, layers and train settings (one undo step)."""
        with undo_macro(self.undo_stack, f"Load preset {name}"):
            self.document.apply_preset(name)
        self.statusBar().showMessage(f"preset {name}: {PRESETS[name].description}", 8000)

    def restore_run(self, run: dict) -> bool:
        """Put a run's data source, options, layers and train settings into the editors (one undo step)."""
        with undo_macro(self.undo_stack, f"Restore {run.get('name', 'run')}"):
            restored = self.document.restore_run(run)
        if restored:
            self.statusBar().showMessage(f"restored the settings of {run.get('name', 'the run')}", 5000)
        return restored

    def train_trial(self, run: dict) -> bool:
        """Apply a sweep trial's settings, then train them on the project's own split (into Runs)."""
        if not self.restore_run(run):
            return False

        def start(_data) -> None:
            self.tabs.setCurrentIndex(TAB_TRAIN)
            self.train_panel.start_from_document()

        self.document.when_data_ready(start)
        return True

    def continue_run(self, run: dict) -> bool:
        """Restore a run's settings and weights, then continue training it; False when impossible."""
        def start() -> None:
            self.tabs.setCurrentIndex(TAB_TRAIN)
            self.train_panel.start_from_document(continue_run=True)

        return self.document.continue_from_run(run, restore=self.restore_run, start=start)

    def _on_backtest_finished(self, stored: dict, record: dict) -> None:
        """Keep the backtest in the project, list it in Runs, and show it with the forecast."""
        from seqstudio.core.forecast.backtest import BacktestResult, time_text

        self.document.record_backtest(stored, record)
        data = self.data
        if is_series(data):
            target = stored["target_columns"][0]
            series = (time_text(data.series.index), data.series[target].to_numpy())
            self.backtest_panel.show_result(BacktestResult.from_dict(stored), series=series,
                                            future=self.document.backtest_future(stored))

    def delete_run(self, run: dict) -> None:
        """Forget a run and its kept weights (the Runs tab asked)."""
        self.document.delete_run(run)

    def set_registry(self, registry: Registry) -> None:
        """Use ``registry`` from now on (plugins were enabled, disabled or installed)."""
        self.document.set_registry(registry)
        self.data_panel.set_registry(registry)
        self.model_editor.set_registry(registry)

    # -- the training engine, loaded after the window shows -------------------------------------
    def start_engine_loader(self) -> None:
        """Import torch in the background; Train stays off ("loading the training engine…") until
        then. The window must have been built after :func:`seqstudio.core.engine.defer_engine`."""
        from .engine_loader import EngineLoader

        self.engine_loader = EngineLoader(self)
        self.engine_loader.ready.connect(self._on_engine_ready)
        self.engine_loader.failed.connect(self._on_engine_failed)
        self.train_panel.set_engine_loading(True)
        self.engine_loader.start()

    def _on_engine_ready(self) -> None:
        self.document.recheck_model()  # the summary's parameter counts need torch
        self.train_panel.set_engine_loading(False)
        self.engineReady.emit()

    def _on_engine_failed(self, reason: str) -> None:
        self.train_panel.set_engine_loading(False, reason)
        self.statusBar().showMessage(reason)

    # -- dialogs, theme -----------------------------------------------------------------------
    def show_export_dialog(self):
        """File > Export model…: a self-checked bundle of the trained model (docs/export.md)."""
        from .export_dialog import open_export_dialog

        return open_export_dialog(self, self.document.project_for_saving(), self.registry)

    def show_distributed_dialog(self):
        """Run > Run distributed…: the commands that train the project with torchrun (docs/scale-out.md)."""
        from .distributed_dialog import open_distributed_dialog

        return open_distributed_dialog(self)

    def show_plugin_dialog(self):
        """Open the Plugins dialog (status, errors, enable / disable, install)."""
        from .plugin_dialog import PluginDialog

        if self.plugin_manager is None:
            from seqstudio.pluginapi.manager import default_manager

            self.plugin_manager = default_manager()
        dialog = PluginDialog(self.plugin_manager, self)
        dialog.pluginsChanged.connect(self.set_registry)
        dialog.show()
        return dialog

    def show_user_guide(self):
        """Help > User guide: the guide in a non-modal dialog (returned)."""
        from .help import show_user_guide

        return show_user_guide(self)

    def show_about(self):
        """Help > About: versions of seqstudio, torch, Qt, pyqtgraph, Python and the device (returned)."""
        from .help import show_about

        return show_about(self)

    def set_theme(self, theme: str) -> str:
        """Switch to ``theme`` ("system", "light", "dark"), remember it; returns "light" or "dark"."""
        self.settings.set_theme(theme)
        if theme in self.theme_actions:
            self.theme_actions[theme].setChecked(True)
        self.theme = apply_theme(theme, self)
        return self.theme

    def _on_system_colour_scheme_changed(self, *_args) -> None:
        if self.settings.theme() == "system":
            self.theme = apply_theme("system", self)

    def set_autosave_minutes(self, minutes: float) -> None:
        self.settings.set_autosave_minutes(minutes)
        self.autosaver.set_interval(minutes)

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.maybe_save():
            event.ignore()
            return
        self.train_panel.stop_and_wait(5000)
        self.experiments_panel.shutdown()  # the study stays in its storage: reopening resumes it
        self.autosaver.timer.stop()
        self.inspect_panel.close_workers()
        try:
            self.settings.save_window(self)
        except Exception:  # noqa: BLE001, S110 - never block closing on a settings write
            pass
        self.recovery.close()  # a clean close: this window's copy only, nothing to recover
        super().closeEvent(event)
