"""The main window: Data / Model / Train / Results tabs over one set of core objects.

The window holds the current ``PreparedData`` (from the data panel), the
``ModelSpec`` (from the layer editor), the trained ``nn.Module`` and the
``TrainConfig`` (from the train panel), and wires them together: new data
re-validates the stack; a valid stack with data enables Train; a finished run
fills the results. Dropping a file anywhere on the window opens it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.registry import Registry

from .data_panel import DataPanel, error_text
from .model_editor import ModelEditor
from .results_panel import ResultsPanel
from .train_panel import TrainPanel
from .worker import series_results

TAB_DATA, TAB_MODEL, TAB_TRAIN, TAB_RESULTS = range(4)


class MainWindow(QMainWindow):
    """The studio window; build it with :func:`seqstudio.gui.app.create_window`."""

    def __init__(self, registry: Registry, parent=None, *, plugin_manager=None):
        super().__init__(parent)
        self.registry = registry
        self.plugin_manager = plugin_manager
        self.model = None            # the trained nn.Module (None until the first run)
        self.model_signature = None  # (layers, input shape) the model was built for
        self.epochs_trained = 0
        self.last_result = None
        self.setWindowTitle("seqstudio")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self.data_panel = DataPanel(registry, self)
        self.model_editor = ModelEditor(registry, self)
        self.train_panel = TrainPanel(self)
        self.results_panel = ResultsPanel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.data_panel, "Data")
        self.tabs.addTab(self.model_editor, "Model")
        self.tabs.addTab(self.train_panel, "Train")
        self.tabs.addTab(self.results_panel, "Results")
        self.setCentralWidget(self.tabs)
        self.statusBar().setObjectName("statusBar")
        self._make_menus()

        self.data_panel.dataChanged.connect(self._on_data_changed)
        self.model_editor.validityChanged.connect(self._on_model_validity_changed)
        self.model_editor.specChanged.connect(self._on_model_spec_changed)
        self.model_editor.presetRequested.connect(self.apply_preset)
        self.train_panel.trainRequested.connect(self._on_train_requested)
        self.train_panel.snapshotReady.connect(self._on_snapshot_ready)
        self.train_panel.runFinished.connect(self._on_run_finished)
        self.train_panel.runFailed.connect(self._on_run_failed)
        self.train_panel.runEnded.connect(self._on_run_ended)
        self.results_panel.futureStepsChanged.connect(self._on_future_steps_changed)

    # -- menus ------------------------------------------------------------------
    def _make_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("Open data…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.data_panel._on_open_clicked)
        file_menu.addAction(open_action)
        open_project = QAction("Open project…", self)
        open_project.triggered.connect(self._on_open_project)
        file_menu.addAction(open_project)
        save_project = QAction("Save project…", self)
        save_project.setShortcut(QKeySequence.StandardKey.Save)
        save_project.triggered.connect(self._on_save_project)
        file_menu.addAction(save_project)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        plugins_action = QAction("Plugins…", self)
        plugins_action.setObjectName("pluginsAction")
        plugins_action.triggered.connect(self.show_plugin_dialog)
        file_menu.insertAction(quit_action, plugins_action)
        presets_menu = self.menuBar().addMenu("&Presets")
        try:
            from seqstudio.core.presets import PRESETS

            for name, preset in PRESETS.items():
                action = QAction(name, self)
                action.setToolTip(preset.description)
                action.triggered.connect(lambda _=False, n=name: self.apply_preset(n))
                presets_menu.addAction(action)
        except ImportError:
            pass

    # -- public -----------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Load a preset's data options, layers and train settings."""
        from seqstudio.core.presets import get_preset

        preset = get_preset(name)
        try:
            self.model_editor.set_model_spec(preset.model_spec(self.registry))
        except SeqStudioError as exc:
            self.statusBar().showMessage(error_text(exc))
        self.train_panel.set_config(preset.train)
        self.data_panel.set_source(preset.source, preset.data_options)
        self.statusBar().showMessage(f"preset {name}: {preset.description}", 8000)

    def apply_project(self, project) -> None:
        """Show a loaded ``Project``: its data, layers, settings and saved weights."""
        self.project = project
        self.model_editor.set_model_spec(project.model_spec(self.registry))
        self.train_panel.set_config(dict(project.train))
        self.data_panel.set_source(project.source, project.resolved_data_options(self.registry))
        data = self.data_panel.prepared
        if project.weights and data is not None:
            try:
                module = project.build_model(data, self.registry)
            except SeqStudioError as exc:
                self.statusBar().showMessage(error_text(exc))
                return
            self._adopt_model(module, self.model_editor.model_spec(), data)
            self.epochs_trained = int(project.results.get("epochs_total", 0) or 0)
            self.train_panel.set_has_weights(True)
            self.show_results()

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

    def set_registry(self, registry: Registry) -> None:
        """Use ``registry`` from now on (plugins were enabled, disabled or installed)."""
        self.registry = registry
        self.data_panel.set_registry(registry)
        self.model_editor.set_registry(registry)

    @property
    def data(self):
        return self.data_panel.prepared

    # -- reacting ----------------------------------------------------------------
    def _on_data_changed(self, data) -> None:
        self.model_editor.set_data(data)

    def _on_model_validity_changed(self, valid: bool, reason: str) -> None:
        if self.data_panel.prepared is None:
            valid, reason = False, (self.data_panel.error or "load data first").splitlines()[0]
        self.train_panel.set_trainable(valid, reason)
        self._update_continue()

    def _on_model_spec_changed(self, _spec) -> None:
        self._update_continue()

    def _signature(self, spec, data) -> tuple:
        return (repr(spec.to_dict()), tuple(data.input_shape) if data is not None else None)

    def _update_continue(self) -> None:
        data = self.data_panel.prepared
        same = (self.model is not None and data is not None
                and self.model_signature == self._signature(self.model_editor.model_spec(), data))
        self.train_panel.set_has_weights(same)

    def _adopt_model(self, module, spec, data) -> None:
        self.model = module
        self.model_signature = self._signature(spec, data)

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
        # the run owns this data and stack until it ends: editing them mid-run would leave
        # results computed from a model that no longer matches what the panels show
        self.data_panel.setEnabled(False)
        self.model_editor.setEnabled(False)
        self.train_panel.start_run(self.model, data, config, start_epoch=start,
                                   future_steps=self.results_panel.future_spin.value())

    def _on_snapshot_ready(self, results: dict) -> None:
        data = self.data_panel.prepared
        if data is not None and hasattr(data, "series"):
            self.results_panel.show_series(data, results, None)

    def _on_run_finished(self, result) -> None:
        self.last_result = result
        self.epochs_trained += int(getattr(result, "epochs_run", 0) or 0)
        self.train_panel.set_has_weights(True)
        thread = self.train_panel.thread
        self.show_results(thread.final_results if thread is not None else None)

    def show_results(self, results: dict | None = None) -> None:
        """Show the current model's predictions on the Results tab (computed here unless given)."""
        data, model = self.data_panel.prepared, self.model
        if data is None or model is None:
            return
        metrics = dict(getattr(self.last_result, "metrics", None) or {})
        try:
            if hasattr(data, "series"):
                if results is None:
                    results = series_results(model, data,
                                             future_steps=self.results_panel.future_spin.value())
                self.results_panel.show_series(data, results, metrics)
            else:
                self.results_panel.show_text(model, data, metrics)
        except Exception as exc:  # noqa: BLE001 - report, keep the window alive
            self.statusBar().showMessage(f"could not compute results: {error_text(exc)}")

    def _on_future_steps_changed(self, _steps: int) -> None:
        if self.model is not None and not self.train_panel.running:
            self.show_results()

    def _on_run_ended(self) -> None:
        self.data_panel.setEnabled(True)
        self.model_editor.setEnabled(True)

    def _on_run_failed(self, message: str) -> None:
        self.statusBar().showMessage("training failed: " + message.splitlines()[0])

    # -- projects ---------------------------------------------------------------------
    def _on_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "seqstudio project (*.json)")
        if not path:
            return
        try:
            from seqstudio.core.project import Project

            self.apply_project(Project.load(path))
        except Exception as exc:  # noqa: BLE001
            QMessageBox.warning(self, "Cannot open project", error_text(exc))

    def _on_save_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save project", "project.json",
                                              "seqstudio project (*.json)")
        if not path:
            return
        try:
            self.save_project(path)
            self.statusBar().showMessage(f"saved {path}", 5000)
        except Exception as exc:  # noqa: BLE001
            QMessageBox.warning(self, "Cannot save project", error_text(exc))

    def save_project(self, path: str) -> None:
        """Save data options, layers, settings, fitted transforms and weights to ``path``."""
        from seqstudio.core.project import Project

        source = self.data_panel.source
        data = self.data_panel.prepared
        project = Project(
            name=Path(path).stem,
            source=source.key if source else "",
            data_options=self.data_panel.options(),
            model=self.model_editor.model_spec().to_dict(),
            train=self.train_panel.config().to_dict(),
            fitted=data.fitted_state() if data is not None else {},
            results={"splits": dict(getattr(self.last_result, "metrics", None) or {}),
                     "epochs_total": self.epochs_trained},
            runs=list(getattr(getattr(self, "project", None), "runs", []) or []),
        )
        if self.model is not None:
            project.set_weights(self.model)
        project.save(path)

    # -- drag and drop ----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_data_file(urls[0].toLocalFile())
            event.acceptProposedAction()

    def open_data_file(self, path: str) -> None:
        """Open ``path`` in the data panel (what a drop or File > Open does)."""
        self.tabs.setCurrentIndex(TAB_DATA)
        self.data_panel.load_path(str(Path(path)))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        thread = self.train_panel.thread
        if thread is not None:
            thread.request_stop()
            thread.wait(5000)
        super().closeEvent(event)
