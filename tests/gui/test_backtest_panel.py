"""The Backtest tab: runs ``seqstudio backtest`` in a child process, shows the result, keeps it."""

from __future__ import annotations

import pytest


@pytest.fixture
def quick_panel(window):
    panel = window.backtest_panel
    provider = panel._provider

    def one_epoch():  # a test hook: the window's project, trained for one epoch per fold
        project = provider()
        project.train["epochs"] = 1
        return project

    panel._provider = one_epoch
    panel.folds_spin.setValue(2)
    panel.horizon_spin.setValue(3)
    return panel


def test_backtest_runs_outside_the_window_and_lands_in_runs(window, quick_panel, qtbot):
    from PySide6.QtCore import Qt

    runs_before = len(window.project.runs)
    with qtbot.waitSignal(quick_panel.backtestFinished, timeout=300_000) as finished:
        qtbot.mouseClick(quick_panel.run_button, Qt.MouseButton.LeftButton)
        assert quick_panel.running and not quick_panel.run_button.isEnabled()
    stored, record = finished.args
    assert len(stored["origins"]) == 2 and stored["plan"]["horizon"] == 3
    assert window.project.results["backtest"]["origins"] == stored["origins"]
    assert len(window.project.runs) == runs_before + 1 and window.project.runs[-1]["kind"] == "backtest"
    assert quick_panel.fold_table.rowCount() == 2 + 2  # two folds, mean, std
    assert "seasonal naive on MASE" in quick_panel.verdict_label.text()
    assert window.isWindowModified()


def test_stop_kills_the_backtest_and_keeps_nothing(window, quick_panel, qtbot):
    from PySide6.QtCore import Qt

    quick_panel.folds_spin.setValue(20)
    runs_before = len(window.project.runs)
    qtbot.mouseClick(quick_panel.run_button, Qt.MouseButton.LeftButton)
    assert quick_panel.running
    qtbot.mouseClick(quick_panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not quick_panel.running, timeout=60_000)
    assert quick_panel.status.text() == "backtest stopped"
    assert len(window.project.runs) == runs_before
    assert quick_panel.run_button.isEnabled()
