"""File > Export model...: the dialog exports on a thread, shows the self-check, names failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from seqstudio.core.project import Project
from seqstudio.core.session import TrainingSession

pytest.importorskip("onnxruntime")


@pytest.fixture
def trained(registry):
    project = Project.from_preset("airline-lstm")
    project.train.update({"epochs": 1, "batch_size": 16})
    for _ in TrainingSession(project, registry).run():
        pass
    return project


def test_export_writes_the_bundle_and_shows_the_check(qtbot, trained, registry, tmp_path):
    from seqstudio.gui.export_dialog import ExportDialog

    dialog = ExportDialog(trained, registry, start_dir=tmp_path)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.folder_edit.text() == str(tmp_path / "airline-lstm-bundle")
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("torchscript"))
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    result = signal.args[0]
    out = tmp_path / "airline-lstm-bundle"
    assert result.directory == out and (out / "model.ts").is_file()
    assert json.loads((out / "preprocessing.json").read_text())["model"]["format"] == "torchscript"
    text = dialog.report_view.toPlainText()
    assert "batch 256" in text and "tolerance 1e-05" in text and "model.ts" in text
    assert all(c.max_abs_diff <= 1e-5 for c in result.checks)
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled())
    assert np.load(out / "examples.npz")["input"].shape[1:] == (1, 1)


def test_an_export_failure_is_shown_and_the_dialog_stays_usable(qtbot, trained, registry, tmp_path):
    from seqstudio.gui.export_dialog import ExportDialog

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    dialog = ExportDialog(trained, registry)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.folder_edit.setText(str(taken))
    with qtbot.waitSignal(dialog.exportFailed, timeout=60_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "not empty" in signal.args[0] and "fix:" in signal.args[0]
    assert "not empty" in dialog.report_view.toPlainText()
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled())
    assert (taken / "mine.txt").read_text() == "keep"
    assert not dialog.netron_button.isEnabled()


def test_file_export_model_exports_the_windows_trained_model(qtbot, window, trained, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *args: told.append(args[2]))
    action = window.findChild(type(window.save_action), "exportModelAction")
    assert action is not None and action in window.menuBar().actions()[0].menu().actions()
    assert window.show_export_dialog() is None and "train it first" in told[0]  # nothing trained yet

    trained.save(tmp_path / "trained.json")
    assert window.open_project(tmp_path / "trained.json")
    qtbot.waitUntil(lambda: window.model is not None, timeout=30_000)
    dialog = window.show_export_dialog()
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "out" / "model.onnx").is_file()
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled())


def _fake_netron(monkeypatch):
    """A stand-in ``netron`` module (the real one starts a web server and a browser): it records its calls."""
    import importlib.machinery
    import sys
    import types

    calls: list[tuple] = []
    module = types.ModuleType("netron")
    module.__spec__ = importlib.machinery.ModuleSpec("netron", None)
    module.start = lambda file=None, address=None, browse=True: calls.append(("start", file)) or ("localhost", 1)
    module.wait = lambda: calls.append(("wait",))
    monkeypatch.setitem(sys.modules, "netron", module)
    return module, calls


def test_open_in_netron_is_offered_only_when_netron_is_installed(qtbot, trained, registry, monkeypatch):
    import sys

    from seqstudio.gui.export_dialog import ExportDialog

    monkeypatch.setitem(sys.modules, "netron", None)  # not importable, whatever this machine has
    without = ExportDialog(trained, registry)
    qtbot.addWidget(without)
    without.show()
    assert not without.netron_button.isVisible()

    _fake_netron(monkeypatch)
    with_netron = ExportDialog(trained, registry)
    qtbot.addWidget(with_netron)
    with_netron.show()
    assert with_netron.netron_button.isVisible() and not with_netron.netron_button.isEnabled()


def test_open_in_netron_opens_the_exported_file(qtbot, trained, registry, tmp_path, monkeypatch):
    from seqstudio.gui.export_dialog import ExportDialog

    module, calls = _fake_netron(monkeypatch)
    dialog = ExportDialog(trained, registry, start_dir=tmp_path)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled())  # the export thread has finished
    assert dialog.netron_button.isEnabled()
    qtbot.mouseClick(dialog.netron_button, Qt.MouseButton.LeftButton)
    assert calls == [("start", str(tmp_path / "airline-lstm-bundle" / "model.onnx"))]

    def refuse(file=None, address=None, browse=True):
        raise OSError("address already in use")

    module.start = refuse  # a viewer that fails is reported; the dialog stays usable
    qtbot.mouseClick(dialog.netron_button, Qt.MouseButton.LeftButton)
    assert "Netron could not start: address already in use" in dialog.report_view.toPlainText()
    assert dialog.export_button.isEnabled()
