"""File > Export model...: write a self-checked bundle of the trained model.

The dialog is handed the project (with its trained weights) and the registry;
the export itself, self-check included, runs on a worker thread so the window
stays responsive, and its outcome (the files and the check's figures, or the
error naming the layer that does not export) is shown in the dialog. When the
optional ``netron`` package is installed, **Open in Netron** shows the exported
graph in the browser.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.errors import SeqStudioError

#: (format key, label) in the order shown.
FORMAT_CHOICES = (
    ("onnx", "ONNX (onnxruntime, any ONNX runtime)"),
    ("torchscript", "TorchScript (torch.jit.load)"),
    ("exported-program", "torch.export program (torch.export.load)"),
)


def netron_available() -> bool:
    """Whether the optional ``netron`` package is installed."""
    return importlib.util.find_spec("netron") is not None


class ExportThread(QThread):
    """Runs :func:`~seqstudio.core.export.export_project` off the GUI thread."""

    succeeded = Signal(object)   # ExportResult
    failed = Signal(object)      # the exception

    def __init__(self, project: Any, registry: Any, out_dir: Path, fmt: str, parent=None):
        super().__init__(parent)
        self.project, self.registry, self.out_dir, self.fmt = project, registry, out_dir, fmt

    def run(self) -> None:
        from seqstudio.core.export import export_project

        try:
            result = export_project(self.project, self.registry, self.out_dir, self.fmt)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a dead window
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)


class ExportDialog(QDialog):
    """Choose a format and a folder, export, and see the self-check's outcome."""

    exported = Signal(object)     # ExportResult, after a successful export
    exportFailed = Signal(str)    # the message shown

    def __init__(self, project: Any, registry: Any, parent: QWidget | None = None, *,
                 start_dir: str | Path | None = None):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export model")
        self.project, self.registry = project, registry
        self.result = None
        self._thread: ExportThread | None = None
        base = Path(start_dir) if start_dir else (Path(project.path).parent if project.path else Path.cwd())

        intro = QLabel("Writes the model file, preprocessing.json (how to feed it), a model card and "
                       "example inputs. The file is run in its own runtime and must give the "
                       "studio's outputs to 1e-5 at batch 1 and 256, or nothing is written.")
        intro.setWordWrap(True)
        self.format_combo = QComboBox(objectName="exportFormatCombo")
        for key, label in FORMAT_CHOICES:
            self.format_combo.addItem(label, key)
        self.folder_edit = QLineEdit(str(base / f"{_safe(project.name)}-bundle"),
                                     objectName="exportFolderEdit")
        self.folder_edit.setToolTip("A new or empty folder, or an earlier bundle (replaced once the "
                                    "new export passed its check).")
        browse = QPushButton("Choose…", objectName="exportBrowseButton")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("Folder:", folder_row)

        self.report_view = QPlainTextEdit(objectName="exportReport")
        self.report_view.setReadOnly(True)
        self.report_view.setPlaceholderText("The self-check's outcome appears here.")
        self.report_view.setMinimumHeight(160)

        buttons = QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setObjectName("exportRunButton")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.netron_button = buttons.addButton("Open in Netron", QDialogButtonBox.ButtonRole.ActionRole)
        self.netron_button.setObjectName("exportNetronButton")
        self.netron_button.setVisible(netron_available())
        self.netron_button.setEnabled(False)
        self.netron_button.clicked.connect(self._on_netron_clicked)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setObjectName("exportCloseButton")
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.report_view, 1)
        layout.addWidget(buttons)
        self.resize(620, 420)

    # -- reacting to the user ------------------------------------------------
    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the bundle", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _on_export_clicked(self) -> None:
        text = self.folder_edit.text().strip()
        if not text:
            self._show_error("Choose a folder for the bundle first.")
            return
        fmt = self.format_combo.currentData()
        self._set_busy(True)
        self.report_view.setPlainText(f"Exporting to {fmt} and checking it…")
        self._thread = ExportThread(self.project, self.registry, Path(text).expanduser(), fmt, self)
        self._thread.succeeded.connect(self._on_export_succeeded)
        self._thread.failed.connect(self._on_export_failed)
        self._thread.finished.connect(self._on_thread_finished)
        self._thread.start()

    def _on_export_succeeded(self, result) -> None:
        self.result = result
        lines = [f"Exported {self.project.name} as {result.format} to {result.directory}", ""]
        lines += [f"  {p.name}" for p in result.files]
        lines += ["", f"Self-check in {result.seconds:.1f} s (tolerance 1e-05): largest difference "
                      f"{result.max_abs_diff:.2g}"]
        lines += [f"  {c.name}: {c.rows} row{'s' if c.rows != 1 else ''} at batch {c.batch}, "
                  f"max |difference| {c.max_abs_diff:.2g}" for c in result.checks]
        self.report_view.setPlainText("\n".join(lines))
        self.netron_button.setEnabled(True)
        self.exported.emit(result)

    def _on_export_failed(self, exc: BaseException) -> None:
        if isinstance(exc, SeqStudioError):
            message = f"Export failed: {exc.what}"
            if exc.where:
                message += f"\nwhere: {exc.where}"
            if exc.fix:
                message += f"\nfix: {exc.fix}"
        else:
            message = f"Export failed: {type(exc).__name__}: {exc}"
        self._show_error(message)

    def _on_thread_finished(self) -> None:
        self._set_busy(False)
        self._thread = None

    def _on_netron_clicked(self) -> None:
        if self.result is None:
            return
        try:
            import netron

            netron.start(str(self.result.model_file))
        except Exception as exc:  # noqa: BLE001 - an optional viewer failing is only reported
            self.report_view.appendPlainText(f"\nNetron could not start: {exc}")

    # -- helpers ----------------------------------------------------------------
    def _show_error(self, message: str) -> None:
        self.report_view.setPlainText(message)
        self.exportFailed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.export_button, self.format_combo, self.folder_edit, self.close_button):
            widget.setEnabled(not busy)

    def reject(self) -> None:
        if self._thread is not None:  # the export finishes first: its folder is committed or not at all
            return
        super().reject()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in (name or "model")) or "model"


def open_export_dialog(parent: QWidget, project: Any, registry: Any) -> ExportDialog | None:
    """File > Export model...: the dialog on a snapshot of ``project``, or a message why not.

    The project is copied (shallow: the window replaces, never edits, its weights and
    settings), so a later edit in the window cannot change what is being exported.
    """
    import copy

    from PySide6.QtWidgets import QMessageBox

    if not project.weights:
        QMessageBox.information(parent, "Export model",
                                "There is no trained model to export yet: train it first (Run > Train), "
                                "or open a trained project.")
        return None
    dialog = ExportDialog(copy.copy(project), registry, parent)
    dialog.show()
    return dialog
