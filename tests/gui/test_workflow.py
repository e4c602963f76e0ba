"""The window as a tool kept open all day: projects, unsaved mark, autosave, settings, help, shortcuts.

References are independent of the window: the core's ``Project.load`` and
``TrainingSession`` (what the CLI runs), torch state dicts compared tensor by
tensor, the libraries' own version strings, the palette's colours. The
``isolated_user_state`` fixture (tests/gui/conftest.py) keeps settings and
autosave copies in a temporary folder and answers the window's questions.
"""

from __future__ import annotations

import platform

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QSpinBox

from seqstudio.core.project import Project

RUN_TIMEOUT_MS = 60_000


def _train(qtbot, window, *, epochs: int = 1, continue_run: bool = False):
    window.train_panel.form.set_values({"epochs": epochs})
    button = window.train_panel.continue_button if continue_run else window.train_panel.train_button
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        button.click()
    return window.last_result


def _user_sets_epochs(window, epochs: int) -> None:
    """Change a train setting the way a user does (the widget emits its signals)."""
    spin = window.train_panel.form.findChild(QSpinBox, "option_epochs")
    spin.setValue(epochs)


def _new_window(qtbot, registry, project=None, **kwargs):
    from seqstudio.gui.app import create_window

    win = create_window(project, registry=registry, **kwargs)
    qtbot.addWidget(win)
    return win


def again_default_size():
    from PySide6.QtCore import QSize

    return QSize(1280, 800)                            # MainWindow's own start size


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key].cpu(), b[key].cpu()), key


# ------------------------------------------------------------------------------- projects
def test_new_window_holds_an_unmodified_project_named_in_the_title(window):
    assert isinstance(window.project, Project)
    assert window.project.name == "airline-lstm"
    assert window.windowTitle() == "airline-lstm[*] — seqstudio"
    assert not window.isWindowModified()
    assert window.undo_stack.isClean()


def test_title_mark_follows_edits_undo_and_save(qtbot, window, tmp_path):
    from seqstudio.core.model.layers import Dense

    _user_sets_epochs(window, 7)
    assert window.isWindowModified()
    window.save_project(tmp_path / "airline.json")
    assert not window.isWindowModified()
    assert window.windowTitle() == "airline[*] — seqstudio"
    assert window.project.path == tmp_path / "airline.json"

    window.model_editor.insert_layer(Dense(units=3), 1)              # a layer change
    assert window.isWindowModified()
    assert window.undo_stack.count() >= 1                           # undoable: back to the saved stack
    window.undo_stack.undo()
    assert not window.isWindowModified()
    window.undo_stack.redo()
    assert window.isWindowModified()


def test_save_then_reopen_gives_identical_config_weights_and_runs(qtbot, window, registry, tmp_path):
    result = _train(qtbot, window, epochs=1)
    assert window.isWindowModified()                               # a finished run is unsaved work
    assert len(window.project.runs) == 1
    record = window.project.runs[0]
    assert [h["train_loss"] for h in record["history"]] == [h["train_loss"] for h in result.history]

    path = tmp_path / "saved.json"
    window.save_project(path)
    assert not window.isWindowModified()

    loaded = Project.load(path)                                    # the core's reader, not the window
    assert loaded.model == window.model_editor.model_spec().to_dict()
    assert loaded.train == window.train_panel.config().to_dict()
    assert loaded.source == window.data_panel.source.key
    _assert_same_state(loaded.weights, window.model.state_dict())
    assert loaded.runs[0]["id"] == record["id"]
    assert loaded.runs[0]["history"] == record["history"]
    if getattr(loaded, "run_weights", None) is not None:
        _assert_same_state(loaded.run_weights[record["id"]], window.model.state_dict())

    reopened = _new_window(qtbot, registry, path)
    assert reopened.project.path == path
    assert reopened.windowTitle() == "saved[*] — seqstudio"
    assert not reopened.isWindowModified()
    assert reopened.model_editor.model_spec().to_dict() == window.model_editor.model_spec().to_dict()
    assert reopened.train_panel.config() == window.train_panel.config()
    _assert_same_state(reopened.model.state_dict(), window.model.state_dict())
    assert reopened.epochs_trained == 1
    assert reopened.train_panel.continue_button.isEnabled()


def test_window_project_trains_the_same_from_the_cli_and_back(qtbot, window, registry, tmp_path):
    from seqstudio import cli
    from seqstudio.core.session import TrainingSession

    _train(qtbot, window, epochs=1)
    path = tmp_path / "win.json"
    window.save_project(path)
    assert cli.main(["train", "--project", str(path), "--epochs", "1", "-q"]) == 0

    # what `seqstudio train --project` does, step by step, to read the losses
    session = TrainingSession(Project.load(path), registry)
    session.prepare()
    cli_losses = []
    for event in session.run(config=session.project.train_config(epochs=1)):
        if type(event).__name__ == "Finished":
            cli_losses = [h["train_loss"] for h in event.result.history]
    # the window's next 1-epoch run continues from the same weights and epoch count
    continued = _train(qtbot, window, epochs=1, continue_run=True)
    assert [h["epoch"] for h in continued.history] == [2]
    assert [h["train_loss"] for h in continued.history] == pytest.approx(cli_losses, rel=1e-5)

    # and a project the CLI trained and saved opens in the window with weights and results
    cli_path = tmp_path / "cli.json"
    assert cli.main(["train", "--preset", "airline-lstm", "--epochs", "1", "--save", str(cli_path),
                     "-q"]) == 0
    saved = Project.load(cli_path)
    opened = _new_window(qtbot, registry, cli_path)
    _assert_same_state(opened.model.state_dict(), saved.weights)
    assert opened.epochs_trained == saved.results["epochs_total"] == 1
    assert len(opened.project.runs) == 1
    shown = opened.results_panel.metrics
    assert shown and shown.get("test", {}).get("rmse") == pytest.approx(saved.results["splits"]["test"]["rmse"])


def test_close_asks_about_unsaved_changes(qtbot, registry, tmp_path, monkeypatch):
    from seqstudio.gui import main_window as mw

    win = _new_window(qtbot, registry)
    win.show()
    answers = []
    monkeypatch.setattr(mw.MainWindow, "ask_save_changes", lambda self: answers.pop(0))

    assert win.close()                                  # nothing changed: no question
    win.show()
    _user_sets_epochs(win, 5)
    answers.append(mw.CANCEL)
    assert not win.close() and win.isVisible()
    win.project.path = tmp_path / "kept.json"
    answers.append(mw.SAVE)
    assert win.close()
    assert Project.load(tmp_path / "kept.json").train["epochs"] == 5
    win.show()
    _user_sets_epochs(win, 6)
    answers.append(mw.DISCARD)
    assert win.close()
    assert Project.load(tmp_path / "kept.json").train["epochs"] == 5
    assert answers == []


def test_new_and_open_replace_the_project(qtbot, window, tmp_path):
    _user_sets_epochs(window, 9)
    window.save_project(tmp_path / "nine.json")
    assert window.new_project()
    assert window.project.path is None and window.train_panel.config().epochs != 9
    assert window.open_project(tmp_path / "nine.json")
    assert window.train_panel.config().epochs == 9
    assert not window.open_project(tmp_path / "missing.json")
    assert "does not exist" in window.shown_errors[-1][1]
    assert window.train_panel.config().epochs == 9                    # the open project stays


def test_recent_projects_newest_first_capped_and_pruned(window, tmp_path):
    from seqstudio.gui.settings import MAX_RECENT

    paths = []
    for i in range(MAX_RECENT + 2):
        paths.append(window.save_project(tmp_path / f"p{i}.json").resolve())
    recent = window.fill_recent_menu()
    assert recent == [str(p) for p in reversed(paths)][:MAX_RECENT]
    paths[-1].unlink()
    assert window.fill_recent_menu()[0] == str(paths[-2])
    labels = [a.data() for a in window.recent_menu.actions() if a.data()]
    assert labels == window.settings.recent_projects()


# ------------------------------------------------------------------------------ recovery
def test_crash_leaves_a_recovery_file_that_the_next_start_restores(qtbot, window, registry, tmp_path,
                                                                   monkeypatch):
    from seqstudio.gui import main_window as mw
    from seqstudio.gui.recovery import RecoveryStore

    window.save_project(tmp_path / "mine.json")
    assert window.autosave() is None                 # nothing unsaved: nothing to autosave
    _user_sets_epochs(window, 11)
    written = window.autosave()
    assert written and RecoveryStore().pending() is None             # its window is still open
    # the window is never closed: as after kill -9, the copy stays behind and no open window
    # holds its slot any more
    monkeypatch.setattr(RecoveryStore, "_live", set())
    assert RecoveryStore().pending()["original_path"] == str(tmp_path / "mine.json")

    offered = []
    monkeypatch.setattr(mw.MainWindow, "ask_restore_recovery",
                        lambda self, marker: offered.append(marker) or True)
    restored = _new_window(qtbot, registry)
    assert len(offered) == 1
    assert restored.train_panel.config().epochs == 11
    assert restored.project.path == tmp_path / "mine.json"            # Save goes back there
    assert restored.isWindowModified()
    assert restored.save()
    assert Project.load(tmp_path / "mine.json").train["epochs"] == 11
    assert RecoveryStore().pending() is None                           # saved: the copy is gone


def test_declined_recovery_is_deleted_and_clean_close_leaves_none(qtbot, window, registry,
                                                                  monkeypatch):
    from seqstudio.gui.recovery import RecoveryStore

    _user_sets_epochs(window, 12)
    window.autosave()
    monkeypatch.setattr(RecoveryStore, "_live", set())  # as if that window had crashed
    fresh = _new_window(qtbot, registry)               # the fixture answers "don't restore"
    assert fresh.train_panel.config().epochs != 12
    assert RecoveryStore().pending() is None
    assert not window.recovery.folder.exists()         # declined: deleted
    _user_sets_epochs(window, 13)
    window.autosave()
    assert window.recovery.project_path.is_file()
    assert window.close()                               # a clean close deletes its own copy
    assert not window.recovery.folder.exists()


def test_each_window_has_its_own_recovery_copy(qtbot, window, registry, monkeypatch):
    from seqstudio.gui import main_window as mw

    offered = []
    monkeypatch.setattr(mw.MainWindow, "ask_restore_recovery",
                        lambda self, marker: offered.append(marker) or True)
    _user_sets_epochs(window, 21)
    assert window.autosave()
    second = _new_window(qtbot, registry)
    assert offered == []                                # the first window is open: not a crash
    _user_sets_epochs(second, 22)
    assert second.autosave()
    assert window.recovery.folder != second.recovery.folder
    assert window.recovery.load().train["epochs"] == 21  # not overwritten by the second
    assert second.close()
    assert not second.recovery.folder.exists()
    assert window.recovery.load().train["epochs"] == 21  # the first's copy survives


def test_a_copy_whose_process_is_alive_is_not_offered_and_a_dead_ones_is(tmp_path):
    import json
    import subprocess
    import sys

    from seqstudio.gui.recovery import RecoveryStore, _process_started

    mine = RecoveryStore(tmp_path)
    other = RecoveryStore(tmp_path)
    other.save(Project.from_preset("airline-lstm"))
    marker = json.loads(other.marker_path.read_text())
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        marker.update(pid=live.pid, process_started=_process_started(live.pid))
        other.marker_path.write_text(json.dumps(marker))
        assert mine.pending() is None                    # another process, still running
        mine.discard(marker)
        assert other.project_path.is_file()              # and never deleted by another window
        marker["process_started"] -= 100                  # the same id, another process: reused
        other.marker_path.write_text(json.dumps(marker))
        assert mine.pending()["slot"] == other.slot
    finally:
        live.communicate(b"")
    marker.update(process_started=None)
    other.marker_path.write_text(json.dumps(marker))
    assert mine.pending()["slot"] == other.slot            # that process has ended


def test_each_training_run_is_autosaved(qtbot, window):
    from seqstudio.gui.recovery import RecoveryStore

    _train(qtbot, window, epochs=1)
    assert RecoveryStore().pending() is None            # the window is open: not a crash
    recovered = window.recovery.load()
    _assert_same_state(recovered.weights, window.model.state_dict())
    assert len(recovered.runs) == 1


def test_autosave_timer_interval_is_a_setting(window):
    assert window.autosaver.timer.interval() == 3 * 60_000
    window.set_autosave_minutes(1)
    assert window.autosaver.timer.isActive() and window.autosaver.timer.interval() == 60_000
    assert window.settings.autosave_minutes() == 1
    window.set_autosave_minutes(0)
    assert not window.autosaver.timer.isActive()


# ------------------------------------------------------------------------------ settings
def test_geometry_and_last_folders_persist(qtbot, registry, tmp_path):
    from seqstudio.gui.settings import GuiSettings

    win = _new_window(qtbot, registry)
    win.resize(700, 500)  # within the offscreen screen (800x600)
    win.show()
    size = win.size()                                  # the layout's minimum width may win
    assert size != again_default_size()
    assert win.close()
    again = _new_window(qtbot, registry)
    assert again.size() == size

    GuiSettings().set_last_folder("data", tmp_path / "x.csv")
    assert GuiSettings().last_folder("data") == str(tmp_path)
    assert GuiSettings().last_folder("never-used") == ""


def test_theme_switches_palette_and_plots_and_is_remembered(window):
    import pyqtgraph as pg

    from seqstudio.gui.settings import GuiSettings

    plot = window.findChild(pg.PlotWidget)
    try:
        assert window.set_theme("dark") == "dark"
        assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 100
        assert plot.backgroundBrush().color().lightness() < 100
        assert GuiSettings().theme() == "dark"
        assert window.theme_actions["dark"].isChecked()
    finally:
        assert window.set_theme("light") == "light"
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 150
    assert plot.backgroundBrush().color().lightness() > 200


# ------------------------------------------------------------------------------ help
def test_about_names_the_versions_and_the_device(window):
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    import seqstudio
    from seqstudio.core.train.devices import resolve_device

    text = window.show_about().browser.toPlainText()
    for version in (seqstudio.__version__, torch.__version__, qVersion(), PySide6.__version__,
                    pyqtgraph.__version__, platform.python_version()):
        assert version in text
    assert str(resolve_device("auto")) in text


def test_user_guide_opens_from_the_package(window):
    from pathlib import Path

    import seqstudio.gui

    guide = Path(seqstudio.gui.__file__).with_name("user_guide.md")
    dialog = window.show_user_guide()
    text = dialog.browser.toPlainText()
    assert "Keyboard shortcuts" in text and "Autosave and recovery" in text
    assert guide.read_text(encoding="utf-8").splitlines()[0].lstrip("# ") in text


# ------------------------------------------------------------------------------ shortcuts
def test_shortcuts_train_and_stop(qtbot, window):
    assert QKeySequence("Ctrl+Return") in window.train_action.shortcuts()
    assert window.stop_action.shortcut() == QKeySequence(Qt.Key.Key_Escape)
    assert window.save_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    assert window.open_project_action.shortcut() == QKeySequence("Ctrl+O")
    assert window.open_data_action.shortcut() == QKeySequence("Ctrl+Shift+O")
    assert window.undo_action.shortcut() == QKeySequence("Ctrl+Z")
    assert window.redo_action.shortcut() == QKeySequence("Ctrl+Shift+Z")

    window.train_panel.form.set_values({"epochs": 500})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        window.train_action.trigger()
        assert window.train_panel.running
        window.stop_action.trigger()
    assert window.last_result.epochs_run < 500
    assert window.last_result.stopped_reason == "user"


def test_runs_tab_lists_each_run_and_restores_its_settings(qtbot, window):
    if window.runs_panel is None:
        pytest.skip("RunsPanel not available")
    _train(qtbot, window, epochs=1)
    _train(qtbot, window, epochs=2)
    assert [len(r["history"]) for r in window.project.runs] == [1, 2]
    first = window.project.runs[0]
    window.restore_run(first)
    assert window.train_panel.config().epochs == 1


def test_none_survives_pyside_void_calls(window):
    # PySide6 6.12 returns None from void methods without a reference; on CPython 3.11
    # enough calls make the interpreter abort ("none_dealloc"). The window guards None.
    import sys

    before = sys.getrefcount(None)
    for _ in range(2000):
        window.setWindowTitle(window.windowTitle())
    assert sys.getrefcount(None) > 2000 or sys.version_info >= (3, 12)
    assert sys.getrefcount(None) >= before - 2000


def test_continue_a_run_from_its_kept_weights_and_delete_one(qtbot, window, tmp_path):
    from seqstudio.core.train.config import TrainConfig
    from seqstudio.core.train.loop import train

    _train(qtbot, window, epochs=1)
    first = window.project.runs[0]
    kept = {k: v.clone() for k, v in window.model.state_dict().items()}
    window.train_panel.form.set_values({"epochs": 1, "learning_rate": 0.05})
    _train(qtbot, window, epochs=1)                                   # a different second run
    first_config = TrainConfig.from_dict(first["train"])

    # reference: the core trains a copy of the first run's weights one more epoch
    import copy

    module = copy.deepcopy(window.model)
    module.load_state_dict(kept)
    events = list(train(module, window.data, first_config, start_epoch=1))
    reference = events[-1].result.history

    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        assert window.continue_run(first)
    assert window.train_panel.config() == first_config
    assert [h["epoch"] for h in window.last_result.history] == [2]
    assert window.last_result.history[0]["train_loss"] == pytest.approx(reference[0]["train_loss"],
                                                                        rel=1e-5)
    assert len(window.project.runs) == 3 and window.project.runs[-1]["start_epoch"] == 1

    window.save_project(tmp_path / "p.json")
    window.delete_run(first)
    assert [r["id"] for r in window.project.runs].count(first["id"]) == 0
    assert window.isWindowModified()


CHILD_THAT_CRASHES = """
import os, signal
from PySide6.QtWidgets import QApplication, QSpinBox
app = QApplication([])
from seqstudio.gui.app import create_window
from seqstudio.pluginapi.manager import builtin_registry
window = create_window(registry=builtin_registry(), offer_recovery=False)
window.train_panel.form.findChild(QSpinBox, "option_epochs").setValue(17)
assert window.autosave()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs POSIX kill -9")
def test_kill_9_then_the_next_start_offers_the_autosave(qtbot, registry, isolated_user_state,
                                                        monkeypatch):
    import os
    import subprocess
    import sys

    from seqstudio.gui import main_window as mw

    env = {**os.environ, "SEQSTUDIO_CONFIG_DIR": str(isolated_user_state), "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.run([sys.executable, "-c", CHILD_THAT_CRASHES], env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    monkeypatch.setattr(mw.MainWindow, "ask_restore_recovery", lambda self, marker: True)
    restored = _new_window(qtbot, registry)
    assert restored.train_panel.config().epochs == 17
    assert restored.isWindowModified() and restored.project.path is None


def test_save_as_starts_in_the_last_project_folder_and_save_reuses_the_path(window, tmp_path,
                                                                             monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def fake_dialog(parent, caption, start, file_filter):
        asked.append(start)
        return str(tmp_path / "chosen.json"), file_filter

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    _user_sets_epochs(window, 4)
    assert window.save()                                   # no path yet: Save As
    assert asked == ["airline-lstm.json"] and window.project.path == tmp_path / "chosen.json"
    _user_sets_epochs(window, 5)
    assert window.save() and len(asked) == 1               # has a path: no dialog
    assert Project.load(tmp_path / "chosen.json").train["epochs"] == 5
    assert window.new_project()
    assert window.save_as()
    assert asked[-1] == str(tmp_path / "airline-lstm.json")  # the folder used last time
