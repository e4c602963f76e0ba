"""The window in real use: what a user met in an hour with real data sets, each as a test."""

from __future__ import annotations

from PySide6.QtCore import Qt

RUN_TIMEOUT_MS = 120_000


def test_a_window_run_records_the_data_it_trained_on(qtbot, window):
    panel = window.train_panel
    panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    data = window.project.runs[-1]["data"]
    assert data["source"].endswith("csv-series")
    assert (data["file"], data["target"]) == ("airline-passengers.csv", "Passengers")
    # the same data as the CLI's session names it: one data set in the Runs tab, not two
    from seqstudio.core.session import TrainingSession

    session = TrainingSession(window.project, window.registry)
    session.prepare()
    assert session.data_identity()["hash"] == data["hash"]
    table = window.runs_panel.runs_table
    assert table.model().index(0, 1).data() == "airline-passengers.csv → Passengers"
