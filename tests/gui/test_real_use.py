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


def test_legends_have_a_background_and_titles_follow_the_theme(window):
    import pyqtgraph as pg

    plots = window.findChildren(pg.PlotWidget)
    try:
        window.set_theme("dark")
        for plot in plots:
            item = plot.getPlotItem()
            if item.legend is not None:
                brush = item.legend.opts["brush"].color()
                assert brush.alpha() > 150 and brush.lightness() < 100  # a dark panel behind the text
            if item.titleLabel.text:
                assert pg.mkColor(item.titleLabel.opts["color"]).lightness() > 150
    finally:
        window.set_theme("light")
    legend = window.train_panel.loss_plot.plot.getPlotItem().legend
    assert legend.opts["brush"].color().lightness() > 200
