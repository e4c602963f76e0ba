"""The Plugins dialog: every plugin with its status, why a broken one failed, enable / disable, install.

A broken plugin never stops the window; this is where its one-line reason and
traceback are shown (and copied, for a bug report). Installing runs the
plugin API's :func:`~seqstudio.pluginapi.install.pip_command` in a
``QProcess``: pip's output streams into a read-only view, Cancel kills it, and
:func:`~seqstudio.pluginapi.install.finish_install` then judges the result
against the snapshot taken before (a failed or cancelled install is rolled
back and changes nothing else). A successful install, uninstall, enable or
disable reloads the plugin manager and emits ``pluginsChanged(Registry)``, so
the window offers the new sources, cells and layers without a restart.

>>> dialog = PluginDialog(manager)                          # doctest: +SKIP
>>> dialog.install("plugins/seqstudio-example-plugin")      # doctest: +SKIP
>>> qtbot.waitSignal(dialog.installFinished)                # doctest: +SKIP
"""

from __future__ import annotations

import platform
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .data_panel import error_text
from .forms import chain_tab_order
from .settings import ask_folder, ask_open_path

COLUMNS = ("plugin", "version", "distribution", "from", "status", "problem")
STATUS_COLORS = {"active": "#1b7f3b", "disabled": "#777777", "broken": "#b00020"}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


class PluginDialog(QDialog):
    """Lists ``manager.plugins()``; enable / disable, install and uninstall (see the module docstring).

    Parameters
    ----------
    manager
        The :class:`~seqstudio.pluginapi.manager.PluginManager` to show and change.
    python
        The interpreter pip runs under (default: the one running seqstudio).
        Tests point it at a throw-away venv so the real environment never changes.
    environment
        Extra environment variables for pip (e.g. ``{"PIP_NO_INDEX": "1"}``).
    build_isolation
        False adds ``--no-build-isolation`` (offline installs of folders and sdists).

    Signals: ``pluginsChanged(Registry)`` after a change took effect,
    ``installFinished(object)`` with the :class:`~seqstudio.pluginapi.install.InstallResult`
    of every install or uninstall (also a failed or cancelled one).
    """

    pluginsChanged = Signal(object)
    installFinished = Signal(object)

    def __init__(self, manager, parent=None, *, python: str | None = None,
                 environment: Mapping[str, str] | None = None, build_isolation: bool = True):
        super().__init__(parent)
        self.manager = manager
        self.python = python or sys.executable
        self.environment = dict(environment or {})
        self.build_isolation = build_isolation
        self.process: QProcess | None = None
        self._output_parts: list[str] = []
        self._pending = ""
        self._cancelled = False
        self._infos: list = []
        self.setWindowTitle("Plugins")
        self.setObjectName("pluginDialog")
        self.resize(960, 620)

        self._make_views()
        self._make_buttons()
        self._make_layout()
        self._connect()
        self.refresh()
        self._update_buttons()

    def _make_views(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("pluginTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the buttons
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("pluginDetails")
        self.details.setReadOnly(True)
        self.output = QPlainTextEdit(self)
        self.output.setObjectName("pluginOutput")
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("pip's output appears here while installing or uninstalling.")
        self.output.setMaximumBlockCount(20_000)


    def _make_buttons(self) -> None:
        self.enable_button = self._button("Enable", "pluginEnableButton", "Enable the selected plugin")
        self.disable_button = self._button("Disable", "pluginDisableButton", "Disable the selected plugin "
                                           "(remembered; its sources and cells disappear)")
        self.copy_report_button = self._button("Copy report", "pluginCopyReportButton",
                                               "Copy the selected plugin's status, error and traceback")
        self.uninstall_button = self._button("Uninstall", "pluginUninstallButton",
                                             "Uninstall the selected plugin's distribution with pip")
        self.install_file_button = self._button("Install wheel / sdist…", "pluginInstallFileButton",
                                                "Install a plugin from a .whl or .tar.gz / .zip file")
        self.install_folder_button = self._button("Install folder…", "pluginInstallFolderButton",
                                                  "Install a plugin project folder (with pyproject.toml)")
        self.package_edit = QLineEdit(self)
        self.package_edit.setObjectName("pluginPackageEdit")
        self.package_edit.setPlaceholderText("package name, e.g. seqstudio-example-plugin")
        self.package_edit.setAccessibleName("Package name to install")
        self.install_name_button = self._button("Install package", "pluginInstallNameButton",
                                                "Install the named package from the package index")
        self.cancel_button = self._button("Cancel install", "pluginCancelButton", "Stop pip and roll back")
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("pluginStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setAccessibleName("Plugin status message")
        self.close_button = self._button("Close", "pluginCloseButton", "Close this dialog")
        self.close_button.clicked.connect(self.accept)
        self.table.setAccessibleName("Plugins")
        self.details.setAccessibleName("Selected plugin details")
        self.output.setAccessibleName("pip output")


    def _make_layout(self) -> None:
        row1 = QHBoxLayout()
        for b in (self.enable_button, self.disable_button, self.uninstall_button, self.copy_report_button):
            row1.addWidget(b)
        row1.addStretch(1)
        row2 = QHBoxLayout()
        for w in (self.install_file_button, self.install_folder_button, self.package_edit,
                  self.install_name_button, self.cancel_button):
            row2.addWidget(w, 1 if w is self.package_edit else 0)
        row2.addWidget(self.close_button)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.addWidget(self.output)
        splitter.setSizes([260, 160, 160])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(row1)
        layout.addLayout(row2)
        chain_tab_order(self.table, self.enable_button, self.disable_button, self.uninstall_button,
                 self.copy_report_button, self.install_file_button, self.install_folder_button,
                 self.package_edit, self.install_name_button, self.cancel_button, self.close_button,
                 self.details, self.output)


    def _connect(self) -> None:
        self.table.currentCellChanged.connect(self._on_current_changed)
        self.enable_button.clicked.connect(lambda: self._set_enabled(True))
        self.disable_button.clicked.connect(lambda: self._set_enabled(False))
        self.copy_report_button.clicked.connect(self.copy_report)
        self.uninstall_button.clicked.connect(lambda: self.uninstall())
        self.install_file_button.clicked.connect(self._on_install_file_clicked)
        self.install_folder_button.clicked.connect(self._on_install_folder_clicked)
        self.install_name_button.clicked.connect(self._on_install_name_clicked)
        self.package_edit.returnPressed.connect(self._on_install_name_clicked)
        self.cancel_button.clicked.connect(self.cancel)

    def _button(self, text: str, name: str, description: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(description)
        button.setAccessibleName(text.rstrip("…"))
        button.setAccessibleDescription(description)
        button.setAutoDefault(False)  # Return in the package field installs, it does not close
        return button

    # -- listing ----------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the plugin list from the manager (keeps the selected plugin selected)."""
        current = self.selected()
        self._infos = self.manager.plugins()
        self.table.setRowCount(len(self._infos))
        for r, info in enumerate(self._infos):
            cells = (info.name, info.version, info.distribution, info.source, info.status,
                     info.error or "; ".join(info.warnings))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text or ""))
                if c == COLUMNS.index("status"):
                    item.setForeground(QColor(STATUS_COLORS.get(info.status, "#000")))
                if info.error:
                    item.setToolTip(info.error)
                self.table.setItem(r, c, item)
        names = [i.name for i in self._infos]
        if current is not None and current.name in names:
            self.table.setCurrentCell(names.index(current.name), 0)
        elif self._infos:
            self.table.setCurrentCell(0, 0)
        self._on_current_changed()

    def selected(self):
        """The :class:`PluginInfo` of the selected row (None when nothing is selected)."""
        row = self.table.currentRow()
        return self._infos[row] if 0 <= row < len(self._infos) else None

    def select(self, name: str) -> None:
        """Select the row of plugin ``name``."""
        row = next(r for r, info in enumerate(self._infos) if info.name == name)
        self.table.setCurrentCell(row, 0)

    def report(self, info=None) -> str:
        """A plain-text report of ``info`` (default: the selected plugin) for a bug report."""
        info = info if info is not None else self.selected()
        if info is None:
            return ""
        from seqstudio import __version__ as seqstudio_version

        lines = [f"plugin: {info.name} {info.version}",
                 f"distribution: {info.distribution or '-'}",
                 f"from: {info.source}",
                 f"status: {info.status}"]
        if info.error:
            lines.append(f"error: {info.error}")
        lines += [f"warning: {w}" for w in info.warnings]
        provided = [*info.sources, *info.cells, *info.layers]
        if provided:
            lines.append(f"provides ({info.summary()}): " + ", ".join(provided))
        lines.append(f"seqstudio {seqstudio_version}, Python {platform.python_version()}, "
                     f"{platform.platform()}")
        if info.traceback:
            lines += ["", info.traceback.rstrip()]
        return "\n".join(lines)

    def copy_report(self) -> str:
        """Copy :meth:`report` of the selected plugin to the clipboard; returns the text."""
        text = self.report()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.status_label.setText("Report copied to the clipboard.")
        return text

    def _on_current_changed(self, *_args) -> None:
        info = self.selected()
        self.details.setPlainText(self.report(info) if info is not None else "")
        self._update_buttons()

    def _update_buttons(self) -> None:
        info = self.selected()
        busy = self.running
        self.enable_button.setEnabled(not busy and info is not None and info.status == "disabled")
        self.disable_button.setEnabled(not busy and info is not None and info.status != "disabled"
                                       and info.source != "builtin")
        self.copy_report_button.setEnabled(info is not None)
        self.uninstall_button.setEnabled(not busy and info is not None and self._uninstall_reason(info) == "")
        for b in (self.install_file_button, self.install_folder_button, self.install_name_button):
            b.setEnabled(not busy)
        self.package_edit.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    @staticmethod
    def _uninstall_reason(info) -> str:
        from seqstudio.pluginapi.install import PROTECTED

        if info.source == "builtin" or _canonical(info.distribution or "") in PROTECTED:
            return "the built-in plugin is part of seqstudio"
        if not info.distribution or info.source != "entry point":
            return (f"{info.name} is not an installed distribution ({info.source}); "
                    "remove its file from the plugin folder instead")
        return ""

    # -- enable / disable ------------------------------------------------------------
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

    # -- install / uninstall ------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether pip is running."""
        return self.process is not None

    def _on_install_file_clicked(self) -> None:
        path = ask_open_path(self, "plugin", "Install a plugin",
                             "Python packages (*.whl *.tar.gz *.zip *.tgz *.tar.bz2);;All files (*)")
        if path:
            self.install(path)

    def _on_install_folder_clicked(self) -> None:
        path = ask_folder(self, "plugin-project", "Install a plugin project folder")
        if path:
            self.install(path)

    def _on_install_name_clicked(self) -> None:
        name = self.package_edit.text().strip()
        if name:
            self.install(name)

    def install_command(self, source: str, *, dry_run_report: Path | None = None) -> list[str]:
        """The pip command installing ``source`` with seqstudio, torch, Qt, numpy and pandas pinned
        at their running versions (raises ``PluginError`` for a bad source)."""
        from seqstudio.pluginapi.install import constraints_file, pip_command

        return [self.python, *pip_command(source, build_isolation=self.build_isolation,
                                          constraints=constraints_file(),
                                          dry_run_report=dry_run_report)[1:]]

    def install(self, source: str, *, command: list[str] | None = None) -> bool:
        """Install ``source`` (wheel, sdist, folder or package name) with pip in a QProcess.

        ``command`` replaces the pip command (tests run a stand-in). Returns False
        (and says why in the status line) when nothing was started.
        """
        if self.running:
            self.status_label.setText("pip is already running; wait for it or cancel it.")
            return False
        given = command is not None
        try:
            command = command or self.install_command(source)
            report = Path(tempfile.mkdtemp(prefix="seqstudio-dry-run-")) / "report.json"
            dry = None if given else self.install_command(source, dry_run_report=report)
        except Exception as exc:  # noqa: BLE001 - a bad source is a PluginError: say why
            self.status_label.setText(error_text(exc))
            return False
        from seqstudio.pluginapi.install import (
            InstallResult,
            finish_install,
            judge_dry_run,
            snapshot_distributions,
        )

        def start_install(*, clear: bool = False) -> None:
            before = snapshot_distributions()

            def judge(returncode: int, output: str):
                return finish_install(before, command, returncode, output, on_output=self._append_output)

            self._start(command, f"Installing {source} …", judge, clear=clear)

        if dry is None:
            start_install(clear=True)
            return True

        def judge_dry(returncode: int, output: str):
            # first what it would change; a plugin that needs other versions of what the
            # studio runs on is refused here, before anything is touched
            check = judge_dry_run(report, returncode, output)
            if not check.ok:  # the refusal is shown once, as the result
                return InstallResult(ok=False, command=dry, returncode=returncode or 1, output=output,
                                     message=check.message)
            self._append_output(check.message)
            return start_install

        self._start(dry, f"Checking what installing {source} would change …", judge_dry)
        return True

    def uninstall(self, name: str | None = None) -> bool:
        """Uninstall the distribution of plugin ``name`` (default: the selected one) with pip."""
        from seqstudio.pluginapi.install import InstallResult

        info = self.manager.plugin(name) if name else self.selected()
        if info is None or self.running:
            return False
        reason = self._uninstall_reason(info)
        if reason:
            self.status_label.setText(f"cannot uninstall {info.name}: {reason}")
            return False
        command = [self.python, "-m", "pip", "uninstall", "--yes", info.distribution]

        def judge(returncode: int, output: str):
            ok = returncode == 0
            message = (f"uninstalled {info.distribution} (plugin {info.name})" if ok
                       else f"pip uninstall failed (exit status {returncode})")
            return InstallResult(ok=ok, command=command, returncode=returncode, output=output,
                                 message=message, plugins=[info.name])

        self._start(command, f"Uninstalling {info.distribution} …", judge)
        return True

    def cancel(self) -> None:
        """Kill the running pip; the install is then rolled back."""
        if self.process is not None:
            self._cancelled = True
            self._append_output("cancelling: stopping pip …")
            self.process.kill()

    def _start(self, command: list[str], title: str, judge: Callable[[int, str], object], *,
               clear: bool = True) -> None:
        process = QProcess(self)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        env = QProcessEnvironment.systemEnvironment()
        # unbuffered: pip's lines arrive as it prints them, not in one block at the end
        for key, value in {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1",
                           "PIP_NO_INPUT": "1", **self.environment}.items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._on_process_output)
        process.finished.connect(self._on_process_finished)
        process.errorOccurred.connect(self._on_process_error)
        self.process = process
        self._judge = judge
        self._output_parts = []
        self._pending = ""
        self._cancelled = False
        if clear:  # a step after a dry run keeps the dry run's lines above its own
            self.output.clear()
        self._append_output("$ " + " ".join(command))
        self.status_label.setText(title)
        self._update_buttons()
        process.start()

    def _append_output(self, line: str) -> None:
        self.output.appendPlainText(line)

    def _on_process_output(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", errors="replace")
        self._output_parts.append(text)
        lines = (self._pending + text).replace("\r\n", "\n").split("\n")
        self._pending = lines.pop()  # a partial last line waits for its end
        for line in lines:
            self._append_output(line)

    def _on_process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            # finished() never comes for a program that did not start
            self._finish(127, f"could not start {self.process.program() if self.process else 'pip'}: "
                              f"{self.process.errorString() if self.process else error}")

    def _on_process_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_process_output()
        if self._pending:
            self._append_output(self._pending)
            self._pending = ""
        crashed = exit_status == QProcess.ExitStatus.CrashExit  # killed by Cancel, or pip crashed
        self._finish(-9 if crashed else exit_code, "")

    def _finish(self, returncode: int, extra: str) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if extra:
            self._append_output(extra)
        output = "".join(self._output_parts) + (extra + "\n" if extra else "")
        cancelled = self._cancelled
        try:
            result = self._judge(returncode, output)
        except Exception as exc:  # noqa: BLE001 - show it; the dialog stays usable
            result = exc
        process.deleteLater()
        self._update_buttons()
        if callable(result) and not isinstance(result, Exception):
            if not cancelled:
                result()  # the next step (the install after its dry run)
                return
            from seqstudio.pluginapi.install import InstallResult

            result = InstallResult(ok=False, command=[], returncode=returncode, message="")
            returncode = returncode or -9
        if isinstance(result, Exception):
            self.status_label.setText(error_text(result))
            self.installFinished.emit(result)
            return
        if cancelled and returncode != 0:  # pip may have finished before the kill landed
            result.ok = False
            result.message = "cancelled" + (f"; {result.message}" if result.message else "")
        self._append_output(result.message)
        self.status_label.setText(result.message)
        if result.ok:
            self.manager.reload()
            self.refresh()
            self.pluginsChanged.emit(self.manager.registry)
        self.installFinished.emit(result)

    def done(self, code: int) -> None:  # noqa: D401 - Qt override
        """Closing the dialog kills a running pip (it is rolled back like a cancel)."""
        if self.process is not None:
            self.cancel()
            self.process.waitForFinished(5_000)
        super().done(code)
