"""Run > Run distributed...: the torchrun command (and a SLURM script) that trains this project.

The window does not start the job itself: a distributed run belongs on the
machines that will do the work, often a cluster the window cannot reach. The
dialog writes the exact command for the saved project file, for one machine
or several, and a SLURM batch script that runs it; **Copy command** puts the
command on the clipboard and **Save script...** writes the script. When the
job has finished, opening the project (File > Open) shows its run like any
other. The commands come from :mod:`seqstudio.core.distributed`
(``torchrun_command``, ``slurm_script``), so the CLI docs and the dialog agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.distributed import slurm_script, torchrun_command
from seqstudio.core.errors import SeqStudioError

#: What the command names when the project has not been saved yet.
UNSAVED = "PROJECT.json"


class DistributedDialog(QDialog):
    """Choose processes and machines; read, copy or save the commands that train the project.

    Parameters
    ----------
    project_path
        The saved project file the job trains (None: not saved yet; the dialog says so).
    batch_size
        The project's batch size: the global batch, shared among the processes.
    save_project
        Called by **Save project first** (the window's File > Save); returns the path saved
        to, or None when the user cancelled.
    """

    def __init__(self, project_path: str | Path | None, batch_size: int, *,
                 modified: bool = False, save_project: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("distributedDialog")
        self.setWindowTitle("Run distributed")
        self.project_path = Path(project_path) if project_path else None
        self.batch_size = int(batch_size)
        self.modified = modified
        self._save_project = save_project
        self._build()
        self.refresh()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Train this project in several processes at once with PyTorch's DistributedDataParallel: "
            "run the command below on the machine (or on every machine) that should do the work. "
            "Afterwards open the project to see the run.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.project_label = QLabel()
        self.project_label.setWordWrap(True)
        self.save_button = QPushButton("Save project first")
        self.save_button.clicked.connect(self._on_save_clicked)
        row = QHBoxLayout()
        row.addWidget(self.project_label, 1)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        form = QFormLayout()
        self.nproc_spin = QSpinBox(minimum=1, maximum=1024, value=2)
        self.nproc_spin.setToolTip("Processes on each machine: CPU processes, or one per GPU.")
        self.nnodes_spin = QSpinBox(minimum=1, maximum=4096, value=1)
        self.endpoint_edit = QLineEdit("node1:29400")
        self.endpoint_edit.setToolTip("HOST:PORT of one of the machines, reachable from all of them.")
        self.restarts_spin = QSpinBox(minimum=0, maximum=100, value=3)
        self.restarts_spin.setToolTip("How often torchrun restarts the job from its last epoch "
                                      "checkpoint when a process dies.")
        self.gpus_check = QCheckBox("one GPU per process (NCCL)")
        form.addRow("processes per machine", self.nproc_spin)
        form.addRow("machines", self.nnodes_spin)
        form.addRow("rendezvous (HOST:PORT)", self.endpoint_edit)
        form.addRow("restarts after a failure", self.restarts_spin)
        form.addRow("GPUs (SLURM script)", self.gpus_check)
        layout.addLayout(form)
        self.batch_label = QLabel()
        self.batch_label.setObjectName("batchNote")
        self.batch_label.setWordWrap(True)
        layout.addWidget(self.batch_label)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        layout.addWidget(QLabel("Command (on every machine):"))
        self.command_edit = QPlainTextEdit(readOnly=True)
        self.command_edit.setObjectName("torchrunCommand")
        self.command_edit.setFont(mono)
        self.command_edit.setMaximumHeight(80)
        layout.addWidget(self.command_edit)
        layout.addWidget(QLabel("SLURM batch script (sbatch FILE):"))
        self.script_edit = QPlainTextEdit(readOnly=True)
        self.script_edit.setObjectName("slurmScript")
        self.script_edit.setFont(mono)
        layout.addWidget(self.script_edit, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy command", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_script_button = buttons.addButton("Save script…",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_command)
        self.save_script_button.clicked.connect(self._on_save_script_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for spin in (self.nproc_spin, self.nnodes_spin, self.restarts_spin):
            spin.valueChanged.connect(self.refresh)
        self.endpoint_edit.textChanged.connect(self.refresh)
        self.gpus_check.toggled.connect(self.refresh)
        self.resize(760, 560)

    # -- what is shown ---------------------------------------------------------------------
    def project_argument(self) -> str:
        return str(self.project_path) if self.project_path is not None else UNSAVED

    def command(self) -> str:
        """The torchrun command as shown."""
        return torchrun_command(self.project_argument(), nproc_per_node=self.nproc_spin.value(),
                                nnodes=self.nnodes_spin.value(),
                                endpoint=self.endpoint_edit.text().strip() or "HOST:29400",
                                max_restarts=self.restarts_spin.value())

    def script(self) -> str:
        """The SLURM batch script as shown."""
        return slurm_script(self.project_argument(), nproc_per_node=self.nproc_spin.value(),
                            nnodes=self.nnodes_spin.value(), max_restarts=self.restarts_spin.value(),
                            gpus=self.gpus_check.isChecked())

    def refresh(self) -> None:
        """Render the commands and the notes for the current choices."""
        several = self.nnodes_spin.value() > 1
        self.endpoint_edit.setEnabled(several)
        if self.project_path is None:
            self.project_label.setText("<b>The project is not saved yet.</b> The job trains a saved "
                                       "project file: save it first.")
        elif self.modified:
            self.project_label.setText(f"Project: {self.project_path}<br><b>It has unsaved changes</b>: "
                                       "the job trains the file as saved.")
        else:
            self.project_label.setText(f"Project: {self.project_path}")
        self.save_button.setVisible(self.project_path is None or self.modified)
        self.batch_label.setText(self._batch_note())
        self.command_edit.setPlainText(self.command())
        self.script_edit.setPlainText(self.script())

    def _batch_note(self) -> str:
        world = self.nproc_spin.value() * self.nnodes_spin.value()
        batch = self.batch_size
        if batch % world:
            return (f"<span style='color:#c0392b'><b>The batch size {batch} does not divide among "
                    f"{world} processes</b>: the job would stop at once. Use a batch size that is a "
                    f"multiple of {world} (Train tab), or another number of processes.</span>")
        return (f"{world} process{'es' if world != 1 else ''}: the batch size {batch} stays the "
                f"global batch, {batch // world} sample{'s' if batch // world != 1 else ''} per process "
                "and step, so the run trains as one process would (same learning rate). "
                "To go faster with more processes, raise the batch size and, as a rule of thumb, "
                "the learning rate with it.")

    # -- actions ---------------------------------------------------------------------------
    def copy_command(self) -> str:
        """Put the command on the clipboard (returned)."""
        text = self.command()
        QGuiApplication.clipboard().setText(text)
        return text

    def save_script(self, path: str | Path) -> Path:
        """Write the SLURM script to ``path`` (raises :class:`SeqStudioError` when it cannot)."""
        path = Path(path)
        try:
            path.write_text(self.script(), encoding="utf-8")
        except OSError as exc:
            raise SeqStudioError(f"cannot write the script {str(path)!r}: {exc.strerror or exc}",
                                 fix="choose another place") from None
        return path

    def _on_save_script_clicked(self) -> None:
        start = (self.project_path.with_suffix(".sbatch") if self.project_path is not None
                 else Path("train.sbatch"))
        path, _ = QFileDialog.getSaveFileName(self, "Save SLURM script", str(start),
                                              "SLURM scripts (*.sbatch *.sh);;All files (*)")
        if not path:
            return
        try:
            self.save_script(path)
        except SeqStudioError as exc:
            self.batch_label.setText(f"<span style='color:#c0392b'>{exc.what}</span>")

    def _on_save_clicked(self) -> None:
        if self._save_project is None:
            return
        saved = self._save_project()
        if saved:
            self.project_path, self.modified = Path(saved), False
            self.refresh()


def open_distributed_dialog(window) -> DistributedDialog:
    """Run > Run distributed… for ``window``'s project (non-modal; returned)."""
    document = window.document
    project = document.project

    def save() -> Path | None:
        return project.path if window.save() else None

    try:
        batch = document.train_config().batch_size  # the settings as edited in the Train tab
    except SeqStudioError:
        batch = int(project.train.get("batch_size", 32))
    dialog = DistributedDialog(project.path, batch, modified=document.modified,
                               save_project=save, parent=window)
    dialog.show()
    return dialog
