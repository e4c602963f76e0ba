"""Run > Run distributed...: the dialog's command trains the project; reopened, the run is there."""

from __future__ import annotations

import shlex
import subprocess
import sys

import torch
from PySide6.QtGui import QGuiApplication

from seqstudio.core.project import Project


def _saved_project(registry, path):
    p = Project.from_preset("airline-lstm")
    p.train.update(batch_size=2, shuffle=False, epochs=2)
    torch.manual_seed(0)
    p.set_weights(p.build_model(p.prepare_data(registry), registry))
    return p.save(path)


def test_an_unsaved_project_is_named_as_such(qtbot, window):
    dialog = window.show_distributed_dialog()
    qtbot.addWidget(dialog)
    assert "not saved yet" in dialog.project_label.text()
    assert not dialog.save_button.isHidden()
    assert "--project PROJECT.json" in dialog.command_edit.toPlainText()


def test_the_dialogs_command_trains_the_project_and_the_window_shows_the_run(qtbot, window, registry,
                                                                              tmp_path):
    path = _saved_project(registry, tmp_path / "air.json")
    assert window.open_project(path)
    action = window.findChild(type(window.save_action), "runDistributedAction")
    assert action is not None and action.text() == "Run &distributed…"
    action.trigger()
    from seqstudio.gui.distributed_dialog import DistributedDialog

    dialog = window.findChild(DistributedDialog, "distributedDialog")
    qtbot.addWidget(dialog)
    dialog.nproc_spin.setValue(2)
    command = dialog.command_edit.toPlainText()
    assert command == (f"torchrun --standalone --nproc-per-node 2 --max-restarts 3 "
                       f"-m seqstudio train --project {shlex.quote(str(path))}")
    assert "1 sample per process" in dialog.batch_label.text()
    assert dialog.copy_command() == command and QGuiApplication.clipboard().text() == command

    dialog.nproc_spin.setValue(3)  # batch 2 cannot be shared by 3: said before anything runs
    assert "does not divide among 3 processes" in dialog.batch_label.text()
    dialog.nnodes_spin.setValue(2)
    dialog.endpoint_edit.setText("gpu01:29400")
    assert "--nnodes 2 --nproc-per-node 3 --rdzv-backend c10d --rdzv-endpoint gpu01:29400" in \
        dialog.command_edit.toPlainText()
    script = dialog.save_script(tmp_path / "train.sbatch").read_text(encoding="utf-8")
    assert script.startswith("#!/bin/bash\n") and "#SBATCH --nodes=2" in script
    assert '--rdzv-endpoint "$HEAD:29400"' in script and "srun torchrun" in script
    dialog.nnodes_spin.setValue(1)
    dialog.nproc_spin.setValue(2)
    dialog.restarts_spin.setValue(0)

    # the command exactly as shown (torchrun is python -m torch.distributed.run)
    argv = shlex.split(dialog.command_edit.toPlainText())
    assert argv[0] == "torchrun"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", *argv[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert window.open_project(path)
    assert len(window.project.runs) == 1
    run = window.project.runs[0]
    assert [row["epoch"] for row in run["history"]] == [1, 2]
    assert window.epochs_trained == 2
    assert window.runs_panel.table_model.rowCount() == 1
