"""The main window: Data / Model / Train / Results / Runs tabs over one project.

The window always holds a :class:`~seqstudio.core.project.Project`
(``window.project``; File > New is the ``airline-lstm`` preset, as at start-up)
and the objects the panels produce from it: the ``PreparedData`` (data panel),
the ``ModelSpec`` (layer editor), the ``TrainConfig`` (train panel) and the
trained ``nn.Module``. New data re-validates the stack; a valid stack with data
enables Train; a finished run fills the results and is recorded in the
project's run list. Dropping a file anywhere on the window opens it.

The shell around the panels: File (New, Open, Save, Save As, Recent), Edit
(Undo / Redo over one ``QUndoStack``), View (theme, autosave), Help (user
guide, About); the title ``NAME[*] — seqstudio`` marks unsaved changes; an
autosave copy (:mod:`seqstudio.gui.recovery`) survives a crash; geometry,
layout, last folders and theme persist in :mod:`seqstudio.gui.settings`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.presets import PRESETS
from seqstudio.core.registry import Registry
from seqstudio.core.train.runs import make_run_record, next_run_number

# PySide6 6.12 drops a reference to None on every void call; see protect_none_refcount.
from .app import protect_none_refcount
from .data_panel import DataPanel, error_text
from .model_editor import ModelEditor
from .recovery import Autosaver, RecoveryStore
from .results_panel import ResultsPanel
from .runs_panel import RunsPanel
from .settings import GuiSettings, apply_theme, ask_open_path, ask_save_path
from .train_panel import TrainPanel
from .worker import series_results

protect_none_refcount()
TAB_DATA, TAB_MODEL, TAB_TRAIN, TAB_RESULTS, TAB_RUNS = range(5)
PROJECT_FILTER = "seqstudio project (*.json)"
DATA_FILTER = "CSV files (*.csv *.tsv *.txt);;All files (*)"
#: Autosave intervals offered in View > Autosave (minutes; 0 = only after training runs).
AUTOSAVE_CHOICES = (1, 3, 5, 10, 0)

# Answers of :meth:`MainWindow.ask_save_changes`.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def _undo_macro(stack, text: str):
    """Group the changes made inside into one undo step (loading a preset is one step)."""
    from .undo import undo_macro

    return undo_macro(stack, text)


class MainWindow(QMainWindow):
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

    def __init__(self, registry: Registry, parent=None, *, plugin_manager=None,
                 settings: GuiSettings | None = None, recovery: RecoveryStore | None = None):
        super().__init__(parent)
        from seqstudio.core.presets import DEFAULT_PRESET
        from seqstudio.core.project import Project

        self.registry = registry
        self.plugin_manager = plugin_manager
        self.settings = settings if settings is not None else GuiSettings()
        self.recovery = recovery if recovery is not None else RecoveryStore()
        self.project = Project.from_preset(DEFAULT_PRESET)
        self.model = None            # the trained nn.Module (None until the first run)
        self.optimizer_state = None  # the optimizer state that goes with its weights
        self.model_signature = None  # (layers, input shape) the model was built for
        self.epochs_trained = 0
        self.last_result = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("undoStack")
        self._saved_state: str | None = None   # fingerprint of the editors at the last save / open
        self._unsaved_run = False              # a run finished (or a recovery was restored) since
        self._applying = 0                     # >0 while a project is being loaded into the panels
        self._run_context: dict | None = None  # what the run under way was started with
        self._after_data = None                # action waiting for data prepared in the background
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self.data_panel = DataPanel(registry, self)
        self.model_editor = ModelEditor(registry, self)
        self.train_panel = TrainPanel(self)
        self.results_panel = ResultsPanel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.setAccessibleName("Studio tabs")
        self.tabs.addTab(self.data_panel, "&Data")
        self.tabs.addTab(self.model_editor, "&Model")
        self.tabs.addTab(self.train_panel, "&Train")
        self.tabs.addTab(self.results_panel, "&Results")
        self.backtest_panel = self._make_backtest_panel()
        self.runs_panel = self._make_runs_panel()
        self.setCentralWidget(self.tabs)
        self.statusBar().setObjectName("statusBar")
        self._make_menus()

        self.data_panel.dataChanged.connect(self._on_data_changed)
        self.data_panel.busyChanged.connect(self._on_data_busy_changed)
        self.data_panel.optionsChanged.connect(self._drop_after_data)
        self.model_editor.specChanged.connect(self._drop_after_data)
        self.model_editor.validityChanged.connect(self._on_model_validity_changed)
        self.model_editor.specChanged.connect(self._on_model_spec_changed)
        self.model_editor.presetRequested.connect(self.apply_preset)
        self.train_panel.trainRequested.connect(self._on_train_requested)
        self.train_panel.snapshotReady.connect(self._on_snapshot_ready)
        self.tabs.currentChanged.connect(self._show_pending_snapshot)
        self.train_panel.runFinished.connect(self._on_run_finished)
        self.train_panel.runFailed.connect(self._on_run_failed)
        self.train_panel.runEnded.connect(self._on_run_ended)
        self.results_panel.futureStepsChanged.connect(self._on_future_steps_changed)
        self._connect_change_tracking()
        for panel in (self.model_editor, self.data_panel, self.train_panel):
            panel.set_undo_stack(self.undo_stack)

        self.autosaver = Autosaver(self.autosave, self.settings.autosave_minutes(), self)
        self._name_splitters()
        self.settings.restore_window(self)
        self.theme = apply_theme(self.settings.theme(), self)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._on_system_colour_scheme_changed)
        self._update_title()

    # -- menus ------------------------------------------------------------------
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
        menu_bar = self.menuBar()
        file_menu = menu_bar.addMenu("&File")
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
        self.export_action = self._action("&Export model…", self.show_export_dialog, name="exportModelAction",
                                          tip="Write the trained model with its preprocessing, self-checked")
        plugins_action = self._action("&Plugins…", self.show_plugin_dialog, name="pluginsAction")
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, name="quitAction")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.open_project_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("recentProjectsMenu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.addAction(self.open_data_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(plugins_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.fill_recent_menu()

        edit_menu = menu_bar.addMenu("&Edit")
        # Own actions rather than createUndoAction(): the stack would re-enable those
        # by itself, and an undo during a run would edit the data the run is using.
        self.undo_action = QAction("&Undo", self)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.undo_action.setObjectName("undoAction")
        self.undo_action.triggered.connect(self._on_undo)
        self.redo_action = QAction("&Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setObjectName("redoAction")
        self.redo_action.triggered.connect(self._on_redo)
        for sig in (self.undo_stack.canUndoChanged, self.undo_stack.canRedoChanged,
                    self.undo_stack.undoTextChanged, self.undo_stack.redoTextChanged):
            sig.connect(self._refresh_undo_actions)
        self._refresh_undo_actions()
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        view_menu = menu_bar.addMenu("&View")
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        current = self.settings.theme()
        for key, label in (("system", "Follow the &system"), ("light", "&Light"), ("dark", "&Dark")):
            action = self._action(label, lambda k=key: self.set_theme(k), name=f"theme_{key}")
            action.setCheckable(True)
            action.setChecked(key == current)
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[key] = action
        autosave_menu = view_menu.addMenu("&Autosave")
        autosave_group = QActionGroup(self)
        minutes_now = self.settings.autosave_minutes()
        for minutes in AUTOSAVE_CHOICES:
            label = f"every {minutes} min" if minutes else "only after training runs"
            action = self._action(label, lambda m=minutes: self.set_autosave_minutes(m),
                                  name=f"autosave_{minutes}")
            action.setCheckable(True)
            action.setChecked(abs(minutes - minutes_now) < 1e-9)
            autosave_group.addAction(action)
            autosave_menu.addAction(action)

        presets_menu = menu_bar.addMenu("&Presets")
        for name, preset in PRESETS.items():
            action = QAction(name, self)
            action.setToolTip(preset.description)
            action.triggered.connect(lambda _=False, n=name: self.apply_preset(n))
            presets_menu.addAction(action)

        run_menu = menu_bar.addMenu("&Run")
        self.train_action = self._action("&Train", self.request_train, ["Ctrl+Return", "Ctrl+Enter"],
                                         name="trainAction", tip="Train a fresh model")
        self.continue_action = self._action("&Continue training", self.request_continue,
                                            name="continueAction")
        self.stop_action = self._action("&Stop", self.request_stop, "Esc", name="stopAction",
                                        tip="Stop training after the current batch")
        for action in (self.train_action, self.continue_action, self.stop_action):
            run_menu.addAction(action)

        help_menu = menu_bar.addMenu("&Help")
        help_menu.addAction(self._action("&User guide", self.show_user_guide,
                                         QKeySequence.StandardKey.HelpContents, name="userGuideAction"))
        help_menu.addAction(self._action("&About seqstudio", self.show_about, name="aboutAction"))

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
            self.recent_menu.addAction(self._action("Clear the list", self._clear_recent))
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)
        return paths

    def _clear_recent(self) -> None:
        self.settings.clear_recent_projects()
        self.fill_recent_menu()

    def _make_runs_panel(self):
        panel = RunsPanel(self)
        self.tabs.addTab(panel, "R&uns")
        panel.restoreRequested.connect(self.restore_run)
        panel.continueRequested.connect(self.continue_run)
        panel.runDeleted.connect(self.delete_run)
        return panel

    def _name_splitters(self) -> None:
        """Give unnamed splitters stable names so their sizes can be remembered."""
        counts: dict[str, int] = {}
        panels = [self.data_panel, self.model_editor, self.train_panel, self.results_panel,
                  self.runs_panel]
        for splitter in self.findChildren(QSplitter):
            if splitter.objectName():
                continue
            owner = splitter.parent()
            while owner is not None and owner is not self and not any(owner is p for p in panels):
                owner = owner.parent()
            prefix = type(owner).__name__ if owner is not None else "window"
            counts[prefix] = counts.get(prefix, 0) + 1
            splitter.setObjectName(f"{prefix}Splitter{counts[prefix]}")

    # -- shortcuts (window level: they work whatever tab has the focus) ----------------
    def request_train(self) -> None:
        """Train a fresh model (Ctrl+Return): what the Train button does, if it is enabled."""
        if hasattr(self.train_panel, "request_train"):
            self.train_panel.request_train()
        elif self.train_panel.train_button.isEnabled():
            self.train_panel.train_button.click()

    def request_continue(self) -> None:
        if self.train_panel.continue_button.isEnabled():
            self.train_panel.continue_button.click()

    def request_stop(self) -> None:
        """Stop the run after the current batch (Esc); nothing when no run is under way."""
        if hasattr(self.train_panel, "request_stop"):
            self.train_panel.request_stop()
        elif self.train_panel.running:
            self.train_panel.stop()

    # -- public -----------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Load a preset's data options, layers and train settings into the current project (one undo step)."""
        from seqstudio.core.presets import get_preset

        preset = get_preset(name)
        with _undo_macro(self.undo_stack, f"Load preset {name}"):
            try:
                self.model_editor.set_model_spec(preset.model_spec(self.registry))
            except SeqStudioError as exc:
                self.statusBar().showMessage(error_text(exc))
            self.train_panel.set_config(preset.train)
            self.data_panel.set_source(preset.source, preset.data_options)
        self.statusBar().showMessage(f"preset {name}: {preset.description}", 8000)

    def apply_project(self, project) -> None:
        """Make ``project`` the window's project: its data, layers, settings, weights and runs.

        The undo history starts afresh and the project counts as saved.
        """
        self._applying += 1
        try:
            self.project = project
            self.model = None
            self.optimizer_state = None
            self.model_signature = None
            self.last_result = None
            self.epochs_trained = 0
            self.train_panel.loss_plot.clear()
            self._pending_snapshot = None
            self._after_data = None
            if hasattr(self.results_panel, "clear"):  # never show the previous project's results
                self.results_panel.clear()
            self.model_editor.set_model_spec(project.model_spec(self.registry))
            self.train_panel.set_config(dict(project.train))
            self.data_panel.set_source(project.source, self._panel_options(project))
            if project.weights:  # large data arrives later: the weights load when it does
                self._when_data_ready(lambda data, p=project: self._adopt_project_weights(p, data))
            self._update_continue()
            self._show_runs()
        finally:
            self._applying -= 1
        self.undo_stack.clear()
        self.mark_saved()

    def _adopt_project_weights(self, project, data) -> None:
        """Build the project's model on ``data``, load its weights and show its results."""
        try:
            module = project.build_model(data, self.registry)
        except SeqStudioError as exc:
            self.statusBar().showMessage(error_text(exc))
            return
        self._adopt_model(module, self.model_editor.model_spec(), data, project.optimizer_state)
        self.epochs_trained = int(project.results.get("epochs_total", 0) or 0)
        self.show_results()
        self._update_continue()

    def _when_data_ready(self, action) -> None:
        """Call ``action(data)`` now, or when the data being prepared in the background arrives.

        Dropped when the data options or the layers change first (the action was meant
        for these settings) or when the data fails to load.
        """
        if not self.data_panel.busy:
            self._after_data = None
            if self.data_panel.prepared is not None:
                action(self.data_panel.prepared)
            return
        self._after_data = action

    def _drop_after_data(self, *_args) -> None:
        if not self._applying:
            self._after_data = None

    def _panel_options(self, project) -> dict:
        """The project's data options for the data panel: defaults filled, relative paths made real."""
        from seqstudio.core.presets import EMBEDDED
        from seqstudio.core.project import PATH_OPTIONS

        options = project.resolved_data_options(self.registry)
        for key in PATH_OPTIONS:  # keep "embedded:NAME" so a re-save stays portable
            raw = project.data_options.get(key)
            if isinstance(raw, str) and raw.startswith(EMBEDDED):
                options[key] = raw
        return options

    def show_export_dialog(self):
        """File > Export model…: a self-checked bundle of the trained model (docs/export.md)."""
        from .export_dialog import open_export_dialog

        return open_export_dialog(self, self.sync_project(), self.registry)

    def show_plugin_dialog(self):
        """Open the Plugins dialog (status, errors, enable / disable, install)."""
        from .plugin_dialog import PluginDialog

        manager = self.plugin_manager
        if manager is None:
            from seqstudio.pluginapi.manager import default_manager

            manager = self.plugin_manager = default_manager()
        dialog = PluginDialog(manager, self)
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

    def set_registry(self, registry: Registry) -> None:
        """Use ``registry`` from now on (plugins were enabled, disabled or installed)."""
        self.registry = registry
        self.data_panel.set_registry(registry)
        self.model_editor.set_registry(registry)

    def set_theme(self, theme: str) -> str:
        """Switch to ``theme`` ("system", "light", "dark"), remember it; returns "light" or "dark"."""
        self.settings.set_theme(theme)
        if theme in getattr(self, "theme_actions", {}):
            self.theme_actions[theme].setChecked(True)
        self.theme = apply_theme(theme, self)
        return self.theme

    def _on_system_colour_scheme_changed(self, *_args) -> None:
        if self.settings.theme() == "system":
            self.theme = apply_theme("system", self)

    def set_autosave_minutes(self, minutes: float) -> None:
        self.settings.set_autosave_minutes(minutes)
        self.autosaver.set_interval(minutes)

    @property
    def data(self):
        return self.data_panel.prepared

    # -- unsaved changes ------------------------------------------------------------
    def _connect_change_tracking(self) -> None:
        """Every signal that may mean an edit re-checks the unsaved-changes mark."""
        self.undo_stack.cleanChanged.connect(self._refresh_modified)
        self.undo_stack.indexChanged.connect(self._refresh_modified)
        self.data_panel.dataChanged.connect(self._refresh_modified)
        self.model_editor.specChanged.connect(self._refresh_modified)
        self.train_panel.form.changed.connect(self._refresh_modified)
        self.data_panel.optionsChanged.connect(self._refresh_modified)
        self.train_panel.configChanged.connect(self._refresh_modified)

    def _editor_state(self) -> str:
        """What would be saved from the editors, as comparable text."""
        source = self.data_panel.source
        try:
            model = self.model_editor.model_spec().to_dict()
        except Exception:  # noqa: BLE001 - a half-edited stack still counts as a state
            model = repr(self.model_editor.specs())
        return json.dumps([source.key if source else "", self.data_panel.options(), model,
                           self.train_panel.form.values()], sort_keys=True, default=str)

    def _refresh_modified(self, *_args) -> None:
        """Mark unsaved changes: the editors differ from the saved state, or a run finished since."""
        if self._applying:
            return
        modified = self._unsaved_run or (self._saved_state is not None
                                          and self._editor_state() != self._saved_state)
        self.setWindowModified(modified)

    def mark_saved(self) -> None:
        """The editors now match the project on disk (after save or open)."""
        self._saved_state = self._editor_state()
        self._unsaved_run = False
        self.undo_stack.setClean()
        self.setWindowModified(False)
        self._update_title()

    def mark_modified(self) -> None:
        """Something not visible in the editors changed (a run, a restored recovery copy)."""
        self._unsaved_run = True
        self.setWindowModified(True)

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.project.name}[*] — seqstudio")

    def ask_save_changes(self) -> str:
        """Ask Save / Discard / Cancel for unsaved changes; returns SAVE, DISCARD or CANCEL.

        Tests replace this method (it opens a modal box).
        """
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.project.name!r}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: SAVE,
                QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def maybe_save(self) -> bool:
        """Before the project is replaced or the window closes: True when it is fine to go on."""
        if not self.isWindowModified():
            return True
        answer = self.ask_save_changes()
        if answer == SAVE:
            return self.save()
        return answer == DISCARD

    # -- projects ---------------------------------------------------------------------
    def sync_project(self):
        """Copy what the panels show into ``self.project`` and return it (nothing is written)."""
        if self.data_panel.busy:  # save what the options say, not the data they replaced
            self.data_panel.reload(background=False)
        p = self.project
        source = self.data_panel.source
        data = self.data_panel.prepared
        p.source = source.key if source else p.source
        p.data_options = self.data_panel.options()
        p.model = self.model_editor.model_spec().to_dict()
        p.train = self.train_panel.config().to_dict()
        if data is not None:
            p.fitted = data.fitted_state()
        if self._model_matches():
            p.set_weights(self.model, self.optimizer_state)
            if self.last_result is not None:
                p.results = {**(self.last_result_report() or {}), "epochs_total": self.epochs_trained}
            else:
                p.results = {**p.results, "epochs_total": self.epochs_trained}
        else:  # weights of another stack would not load into this one
            p.weights = p.optimizer_state = None
            p.results = {}
        return p

    def last_result_report(self) -> dict:
        r = self.last_result
        return {"splits": dict(getattr(r, "metrics", None) or {}),
                "epochs_run": int(getattr(r, "epochs_run", 0) or 0),
                "best_epoch": getattr(r, "best_epoch", None),
                "stopped_reason": getattr(r, "stopped_reason", None),
                "seconds": float(getattr(r, "seconds", 0.0) or 0.0),
                "device": str(getattr(r, "device", "cpu")),
                "history": list(getattr(r, "history", None) or [])}

    def new_project(self) -> bool:
        """File > New: the ``airline-lstm`` preset as a fresh, unsaved project (asks about unsaved changes)."""
        from seqstudio.core.presets import DEFAULT_PRESET
        from seqstudio.core.project import Project

        if not self.maybe_save():
            return False
        project = Project.from_preset(DEFAULT_PRESET)
        self.apply_project(project)
        return True

    def open_project(self, path) -> bool:
        """Open the project at ``path`` (asks about unsaved changes first); False when not opened."""
        from seqstudio.core.project import Project

        if not self.maybe_save():
            return False
        try:
            project = Project.load(path)
            self.apply_project(project)
        except Exception as exc:  # noqa: BLE001 - any failure is shown; the window stays usable
            self.show_error("Cannot open project", error_text(exc))
            return False
        self.settings.add_recent_project(path)
        self.settings.set_last_folder("project", path)
        self.fill_recent_menu()
        self.statusBar().showMessage(f"opened {path}", 5000)
        return True

    def open_project_dialog(self) -> bool:
        path = ask_open_path(self, "project", "Open project", PROJECT_FILTER)
        return self.open_project(path) if path else False

    def open_data_dialog(self) -> None:
        path = ask_open_path(self, "data", "Open data file", DATA_FILTER)
        if path:
            self.open_data_file(path)

    def save(self) -> bool:
        """File > Save: to the project's file, or Save As when it has none. True when saved."""
        if self.project.path is None:
            return self.save_as()
        return self._save_reporting(self.project.path)

    def save_as(self) -> bool:
        """File > Save As…: ask for a file and save there. True when saved."""
        if self.project.path is not None:
            path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(self.project.path),
                                                  PROJECT_FILTER)
        else:
            path = ask_save_path(self, "project", "Save project as", f"{self.project.name}.json",
                                 PROJECT_FILTER)
        return self._save_reporting(path) if path else False

    def _save_reporting(self, path) -> bool:
        try:
            written = self.save_project(path)
        except Exception as exc:  # noqa: BLE001 - report, keep the window and the old file
            self.show_error("Cannot save project", error_text(exc))
            return False
        self.statusBar().showMessage(f"saved {written}", 5000)
        return True

    def save_project(self, path) -> Path:
        """Save the project to ``path`` (JSON + safetensors, atomic); no dialogs. Returns the file.

        The project takes the file's name; it counts as saved, joins the recent
        list, and the autosave copy is no longer needed.
        """
        project = self.sync_project()
        project.name = Path(path).stem
        written = project.save(path)
        self.settings.add_recent_project(written)
        self.settings.set_last_folder("project", written)
        self.fill_recent_menu()
        self.recovery.discard()
        self.mark_saved()
        return written

    def show_error(self, title: str, text: str) -> None:
        """A warning box (tests replace it; it is modal)."""
        QMessageBox.warning(self, title, text)

    # -- autosave and recovery ----------------------------------------------------------
    def autosave(self) -> str | None:
        """Write the recovery copy now if there are unsaved changes; returns its path (None: nothing)."""
        if not self.isWindowModified() or self.train_panel.running or self.data_panel.busy:
            return None  # never during a run or a background load (the next one will do)
        try:
            project = self.sync_project()
            path = self.recovery.save(project, original_path=project.path)
        except Exception as exc:  # noqa: BLE001 - an autosave must never disturb the user
            self.statusBar().showMessage(f"autosave failed: {error_text(exc)}", 8000)
            return None
        self.statusBar().showMessage("autosaved", 3000)
        return str(path)

    def ask_restore_recovery(self, marker: dict) -> bool:
        """Ask whether to restore the autosave copy ``marker`` describes (tests replace this)."""
        original = marker.get("original_path") or "a project that was never saved"
        answer = QMessageBox.question(
            self, "Restore unsaved work?",
            f"seqstudio did not close normally. An autosave of {marker.get('name', 'a project')!r} "
            f"({original}) from {marker.get('saved_at', '?')} exists.\n\nRestore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def offer_recovery(self) -> bool:
        """If an earlier session left an autosave copy, offer to restore it; True when restored."""
        marker = self.recovery.pending()
        if marker is None:
            return False
        if not self.ask_restore_recovery(marker):
            self.recovery.discard(marker)
            return False
        try:
            project = self.recovery.load(marker)
            self.apply_project(project)
        except Exception as exc:  # noqa: BLE001 - keep the copy; the user may try again
            self.show_error("Cannot restore the autosave", error_text(exc))
            return False
        self.mark_modified()  # the restored work is not in the project file yet
        if self.autosave():  # now in this window's own slot: the crashed window's can go
            self.recovery.discard(marker)
        self.statusBar().showMessage("restored the autosaved project; save it to keep it", 10_000)
        return True

    # -- backtests --------------------------------------------------------------------
    def _make_backtest_panel(self):
        from .backtest_panel import BacktestPanel

        panel = BacktestPanel(self._project_for_backtest, self)
        panel.backtestFinished.connect(self._on_backtest_finished)
        self.tabs.addTab(panel, "Bac&ktest")
        return panel

    def _project_for_backtest(self):
        """A copy of the project as the panels show it (the backtest runs on a saved copy)."""
        import copy

        project = copy.deepcopy(self.sync_project())
        project.path = None
        return project

    def _on_backtest_finished(self, stored: dict, record: dict) -> None:
        """Keep the backtest in the project and list it in Runs."""
        self.project.results = {**(self.project.results or {}), "backtest": stored}
        self.project.add_run(record)
        self._show_runs()
        self._unsaved_run = True
        self._refresh_modified()
        data = self.data_panel.prepared
        if data is not None and hasattr(data, "series"):
            from seqstudio.core.forecast.backtest import BacktestResult, time_text

            target = stored["target_columns"][0]
            series = (time_text(data.series.index), data.series[target].to_numpy())
            self.backtest_panel.show_result(BacktestResult.from_dict(stored), series=series,
                                            future=self._future_with_bands(stored))

    def _future_with_bands(self, stored: dict):
        """The trained model's forecast beyond the data with the backtest's bands (None untrained)."""
        if not self.project.weights:
            return None
        try:
            from seqstudio.core.forecast.predict import add_intervals
            from seqstudio.core.session import predict_project

            table = predict_project(self.project, self.registry, steps=int(stored["plan"]["horizon"]))
            levels = stored.get("intervals", {}).get("levels") or [80.0]
            table, _ = add_intervals(self.project, self.registry, table, levels)
            return table
        except Exception:  # noqa: BLE001 - the backtest is shown without the future part
            return None

    # -- runs -------------------------------------------------------------------------
    def _show_runs(self) -> None:
        if self.runs_panel is not None:
            self.runs_panel.set_runs(list(self.project.runs))

    def _record_run(self, result) -> dict | None:
        """Append the finished run to ``project.runs`` (and keep its weights in ``run_weights``)."""
        context = self._run_context
        if context is None or self.model is None:
            return None
        weights = {k: v.detach().cpu().contiguous().clone() for k, v in self.model.state_dict().items()}
        record = make_run_record(**context, result=result, weights=weights,
                                 number=next_run_number(self.project.runs))
        self.project.add_run(record, weights)  # keeps the weights in project.run_weights
        self._show_runs()
        return record

    def delete_run(self, run: dict) -> None:
        """Forget a run and its kept weights (the Runs tab asked)."""
        self.project.remove_run(run.get("id"))
        self._show_runs()
        self.mark_modified()

    def restore_run(self, run: dict) -> None:
        """Put a run's data source, options, layers and train settings into the editors (one undo step)."""
        from seqstudio.core.model.spec import ModelSpec

        try:
            with _undo_macro(self.undo_stack, f"Restore {run.get('name', 'run')}"):
                self.model_editor.set_model_spec(ModelSpec.from_dict(run["model"], self.registry))
                self.train_panel.set_config(dict(run.get("train") or {}))
                self.data_panel.set_source(run["source"], dict(run.get("data_options") or {}))
        except (SeqStudioError, KeyError) as exc:
            self.statusBar().showMessage(f"cannot restore the run: {error_text(exc)}", 8000)
            return
        self.statusBar().showMessage(f"restored the settings of {run.get('name', 'the run')}", 5000)

    def continue_run(self, run: dict) -> bool:
        """Restore a run's settings and weights, then continue training it; False when impossible."""
        weights = (getattr(self.project, "run_weights", None) or {}).get(run.get("id"))
        if not weights:
            self.statusBar().showMessage("this run's weights were not kept; restore it and train afresh",
                                         8000)
            return False
        self.restore_run(run)
        if self.data_panel.busy:  # large data: continue once it is prepared
            self._when_data_ready(lambda data: self._continue_with(run, weights, data))
            return True
        data = self.data_panel.prepared
        if data is None:
            return False
        return self._continue_with(run, weights, data)

    def _continue_with(self, run: dict, weights: dict, data) -> bool:
        spec = self.model_editor.model_spec()
        try:
            module = spec.build(data.input_shape, registry=self.registry)
            module.load_state_dict(weights)
        except (SeqStudioError, RuntimeError) as exc:
            self.statusBar().showMessage(f"cannot continue the run: {error_text(exc)}", 8000)
            return False
        self._adopt_model(module, spec, data)
        self.epochs_trained = int(run.get("start_epoch", 0) or 0) + int(
            run.get("epochs_run", len(run.get("history") or [])) or 0)
        self._update_continue()
        self.tabs.setCurrentIndex(TAB_TRAIN)
        self._on_train_requested(True)
        return True

    # -- reacting ----------------------------------------------------------------
    def _on_data_changed(self, data) -> None:
        self.model_editor.set_data(data)
        action, self._after_data = self._after_data, None
        if action is not None and data is not None and not self.data_panel.busy:
            action(data)

    def _on_data_busy_changed(self, _busy: bool) -> None:
        self._on_model_validity_changed(self.model_editor.valid, self.model_editor.reason)

    def _on_model_validity_changed(self, valid: bool, reason: str) -> None:
        if self.data_panel.busy:
            valid, reason = False, "the data is still being prepared"
        elif self.data_panel.prepared is None:
            valid, reason = False, (self.data_panel.error or "load data first").splitlines()[0]
        self.train_panel.set_trainable(valid, reason)
        self._update_continue()

    def _on_model_spec_changed(self, _spec) -> None:
        self._update_continue()

    def _signature(self, spec, data) -> tuple:
        return (repr(spec.to_dict()), tuple(data.input_shape) if data is not None else None)

    def _model_matches(self) -> bool:
        """The trained model fits the stack and data the editors show now."""
        data = self.data_panel.prepared
        return (self.model is not None and data is not None
                and self.model_signature == self._signature(self.model_editor.model_spec(), data))

    def _update_continue(self) -> None:
        self.train_panel.set_has_weights(self._model_matches())

    def _adopt_model(self, module, spec, data, optimizer_state=None) -> None:
        self.model = module
        self.model_signature = self._signature(spec, data)
        #: the optimizer state that goes with these weights (Continue carries it on)
        self.optimizer_state = optimizer_state

    def _on_train_requested(self, continue_run: bool) -> None:
        data = self.data_panel.prepared
        if data is None:
            return
        spec = self.model_editor.model_spec()
        try:
            config = self.train_panel.config()
            if not continue_run or self.model is None:
                module = spec.build(data.input_shape, registry=self.registry)
                self._adopt_model(module, spec, data)
                self.epochs_trained = 0
        except SeqStudioError as exc:
            self.train_panel.status_label.setText(error_text(exc))
            return
        start = self.epochs_trained if continue_run else 0
        source = self.data_panel.source
        source_key = source.key if source else self.project.source
        self._run_context = {
            "source": source_key, "data": self._data_identity(source_key, data),
            "data_options": self.data_panel.options(), "model": spec.to_dict(),
            "train": config.to_dict(), "summary": self.model_editor.summary,
            "start_epoch": start, "started_at": time.time(),
        }
        # the run owns this data and stack until it ends: editing them mid-run would leave
        # results computed from a model that no longer matches what the panels show
        self.data_panel.setEnabled(False)
        self.model_editor.setEnabled(False)
        self._refresh_undo_actions(running=True)
        self.train_panel.start_run(self.model, data, config, start_epoch=start,
                                   optimizer_state=self.optimizer_state if continue_run else None,
                                   future_steps=self.results_panel.future_spin.value())

    def _data_identity(self, source_key: str, data) -> dict:
        """What the run trains on (source, file, target, content hash) for its run record."""
        from seqstudio.core.data.identity import data_identity
        from seqstudio.core.project import PATH_OPTIONS, resolve_data_path

        base = Path(self.project.path).parent if self.project.path else None
        options = {k: resolve_data_path(v, base) if k in PATH_OPTIONS and isinstance(v, str) else v
                   for k, v in self.data_panel.options().items()}
        return data_identity(source_key, options,
                             target=getattr(data, "target_columns", None) or None)

    def _on_snapshot_ready(self, results: dict) -> None:
        # Drawn only where it is seen: plotting on a hidden tab would take the GIL from the
        # training thread for nothing. The latest one is drawn when the Results tab opens.
        self._pending_snapshot = results
        if self.tabs.currentWidget() is self.results_panel:
            self._show_pending_snapshot()

    def _show_pending_snapshot(self, *_args) -> None:
        results, self._pending_snapshot = getattr(self, "_pending_snapshot", None), None
        data = self.data_panel.prepared
        if (results is not None and data is not None and hasattr(data, "series")
                and self.tabs.currentWidget() is self.results_panel):
            self.results_panel.show_series(data, results, None)

    def _on_run_finished(self, result) -> None:
        self._pending_snapshot = None  # the final results replace any mid-run forecast
        self.last_result = result
        self.optimizer_state = getattr(result, "optimizer_state", None)
        self.epochs_trained += int(getattr(result, "epochs_run", 0) or 0)
        self.train_panel.set_has_weights(True)
        thread = self.train_panel.thread
        self.show_results(thread.final_results if thread is not None else None)
        self._record_run(result)
        self.mark_modified()

    def show_results(self, results: dict | None = None) -> None:
        """Show the current model's predictions on the Results tab (computed here unless given)."""
        data, model = self.data_panel.prepared, self.model
        if data is None or model is None:
            return
        metrics = dict(getattr(self.last_result, "metrics", None) or {})
        if not metrics and self.last_result is None:
            metrics = dict(self.project.results.get("splits") or {})
        try:
            if hasattr(data, "series"):
                if results is None:
                    results = series_results(model, data,
                                             future_steps=self.results_panel.future_spin.value())
                self.results_panel.show_series(data, results, metrics)
            else:
                self.results_panel.show_text(model, data, metrics,
                                             report=(results or {}).get("classifier_report"))
        except Exception as exc:  # noqa: BLE001 - report, keep the window alive
            self.statusBar().showMessage(f"could not compute results: {error_text(exc)}")

    def _on_future_steps_changed(self, _steps: int) -> None:
        if self.model is not None and not self.train_panel.running:
            self.show_results()

    def _refresh_undo_actions(self, *_args, running: bool | None = None) -> None:
        """Undo / Redo follow the stack, and are off while a run owns the data and layers."""
        if running is None:
            running = bool(getattr(self.train_panel, "running", False))
        stack = self.undo_stack
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

    def _on_run_ended(self) -> None:
        self.data_panel.setEnabled(True)
        self.model_editor.setEnabled(True)
        self._refresh_undo_actions()
        self._run_context = None
        self.autosaver.save()  # after each run: at most the editing since is lost in a crash

    def _on_run_failed(self, message: str) -> None:
        self.optimizer_state = None  # its moments are from before the weights the run left
        self.statusBar().showMessage("training failed: " + message.splitlines()[0])

    # -- drag and drop ----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = urls[0].toLocalFile()
            if path.lower().endswith(".json"):
                self.open_project(path)
            else:
                self.open_data_file(path)
            event.acceptProposedAction()

    def open_data_file(self, path: str) -> None:
        """Open ``path`` in the data panel (what a drop or File > Open data does)."""
        self.tabs.setCurrentIndex(TAB_DATA)
        self.data_panel.load_path(str(Path(path)))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.maybe_save():
            event.ignore()
            return
        thread = self.train_panel.thread
        if thread is not None:
            thread.request_stop()
            thread.wait(5000)
        self.autosaver.timer.stop()
        try:
            self.settings.save_window(self)
        except Exception:  # noqa: BLE001, S110 - never block closing on a settings write
            pass
        self.recovery.close()  # a clean close: this window's copy only, nothing to recover
        super().closeEvent(event)
