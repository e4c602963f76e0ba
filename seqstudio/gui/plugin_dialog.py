"""The Plugins dialog: every plugin with its status, why a broken one failed, enable / disable, install.

A broken plugin never stops the window; this is where its one-line reason and
traceback are shown. Installing runs pip in a subprocess (the plugin API's
``install()``) on a thread, with pip's output streamed into the dialog.
Changes refill the plugin manager's registry; ``pluginsChanged(Registry)``
tells the window to offer the new sources, cells and layers.
"""

from __future__ import annotations

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .data_panel import error_text

COLUMNS = ("plugin", "version", "distribution", "from", "status", "problem")
STATUS_COLORS = {"active": "#1b7f3b", "disabled": "#777777", "error": "#b00020"}


class _InstallThread(QThread):
    output = Signal(str)
    done = Signal(object)

    def __init__(self, source: str, parent=None):
        super().__init__(parent)
        self.source = source

    def run(self) -> None:  # in the thread: pip can take a minute
        from seqstudio.pluginapi.install import install

        try:
            result = install(self.source, on_output=self.output.emit)
        except Exception as exc:  # a bad source is a PluginError; show any failure
            self.done.emit(exc)
            return
        self.done.emit(result)


class PluginDialog(QDialog):
    """Lists ``manager.plugins()``; see the module docstring."""

    pluginsChanged = Signal(object)

    def __init__(self, manager, parent=None):
        super().__init__(parent)
        self.manager = manager
        self.setWindowTitle("Plugins")
        self.setObjectName("pluginDialog")
        self.resize(900, 520)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("pluginTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("pluginDetails")
        self.details.setReadOnly(True)
        self.enable_button = QPushButton("Enable", self)
        self.enable_button.setObjectName("pluginEnableButton")
        self.disable_button = QPushButton("Disable", self)
        self.disable_button.setObjectName("pluginDisableButton")
        self.install_file_button = QPushButton("Install from file…", self)
        self.install_file_button.setObjectName("pluginInstallFileButton")
        self.install_name_button = QPushButton("Install by name…", self)
        self.install_name_button.setObjectName("pluginInstallNameButton")
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("pluginStatus")
        self.status_label.setWordWrap(True)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)

        buttons = QHBoxLayout()
        for b in (self.enable_button, self.disable_button, self.install_file_button,
                  self.install_name_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        splitter = QSplitter(self)
        splitter.setOrientation(splitter.orientation().Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setSizes([300, 200])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)

        self.table.currentCellChanged.connect(self._on_current_changed)
        self.enable_button.clicked.connect(lambda: self._set_enabled(True))
        self.disable_button.clicked.connect(lambda: self._set_enabled(False))
        self.install_file_button.clicked.connect(self._on_install_file_clicked)
        self.install_name_button.clicked.connect(self._on_install_name_clicked)
        self._install_thread: _InstallThread | None = None
        self.refresh()

    # -- listing ----------------------------------------------------------------
    def refresh(self) -> None:
        from PySide6.QtGui import QColor

        self._infos = self.manager.plugins()
        self.table.setRowCount(len(self._infos))
        for r, info in enumerate(self._infos):
            cells = (info.name, info.version, info.distribution, info.source, info.status,
                     info.error or "; ".join(info.warnings))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text or ""))
                if c == 4:
                    item.setForeground(QColor(STATUS_COLORS.get(info.status, "#000")))
                self.table.setItem(r, c, item)
        if self._infos:
            self.table.setCurrentCell(0, 0)
        self._on_current_changed(self.table.currentRow())

    def selected(self):
        row = self.table.currentRow()
        return self._infos[row] if 0 <= row < len(self._infos) else None

    def _on_current_changed(self, *_args) -> None:
        info = self.selected()
        if info is None:
            self.details.setPlainText("")
            self.enable_button.setEnabled(False)
            self.disable_button.setEnabled(False)
            return
        lines = [f"{info.name} {info.version}  ({info.distribution or 'no distribution'}, "
                 f"from {info.source})", f"status: {info.status}"]
        if info.error:
            lines.append(f"error: {info.error}")
        lines += [f"warning: {w}" for w in info.warnings]
        provided = [*info.sources, *info.cells, *info.layers]
        if provided:
            lines.append(f"provides ({info.summary()}): " + ", ".join(provided))
        if info.traceback:
            lines += ["", info.traceback]
        self.details.setPlainText("\n".join(lines))
        self.enable_button.setEnabled(info.status == "disabled")
        self.disable_button.setEnabled(info.status != "disabled" and info.source != "builtin")

    # -- changing ----------------------------------------------------------------
    def _set_enabled(self, enabled: bool) -> None:
        info = self.selected()
        if info is None:
            return
        try:
            self.manager.set_enabled(info.name, enabled)
        except Exception as exc:  # noqa: BLE001 - say why, keep the dialog open
            self.status_label.setText(error_text(exc))
            return
        self.status_label.setText(f"{info.name} {'enabled' if enabled else 'disabled'}.")
        self.refresh()
        self.pluginsChanged.emit(self.manager.registry)

    def _on_install_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Install a plugin", "",
                                              "Python packages (*.whl *.tar.gz *.zip);;All files (*)")
        if path:
            self.install(path)

    def _on_install_name_clicked(self) -> None:
        name, ok = QInputDialog.getText(self, "Install a plugin", "Package name (as on PyPI):")
        if ok and name.strip():
            self.install(name.strip())

    def install(self, source: str) -> _InstallThread:
        """Install ``source`` with pip on a thread; the output streams into the details pane."""
        self.details.setPlainText(f"installing {source} …\n")
        self.install_file_button.setEnabled(False)
        self.install_name_button.setEnabled(False)
        thread = _InstallThread(source, self)
        thread.output.connect(self.details.appendPlainText)
        thread.done.connect(self._on_install_done)
        self._install_thread = thread
        thread.start()
        return thread

    def _on_install_done(self, result) -> None:
        self.install_file_button.setEnabled(True)
        self.install_name_button.setEnabled(True)
        if isinstance(result, Exception):
            self.status_label.setText(error_text(result))
            return
        self.status_label.setText(result.message or ("installed" if result.ok else "install failed"))
        if result.ok:
            self.manager.reload()
            self.refresh()
            self.pluginsChanged.emit(self.manager.registry)
