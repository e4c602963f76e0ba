"""The window in real use: what a user met in an hour with real data sets, each as a test."""

from __future__ import annotations

import pytest
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
        # what was drawn before the switch follows it: the actual series and the legend's text
        series = window.data_panel.series_plot.getPlotItem()
        actual = series.listDataItems()[0]
        assert actual.name() == "Passengers" and actual.opts["pen"].color().lightness() > 150
        sample, label = series.legend.items[0]
        assert pg.mkColor(label.opts["color"]).lightness() > 150
        assert pg.mkColor(label.opts["color"]).name() in label.item.toHtml()  # drawn, not only stored
    finally:
        window.set_theme("light")
    legend = window.train_panel.loss_plot.plot.getPlotItem().legend
    assert legend.opts["brush"].color().lightness() > 200


# ------------------------------------------------------------------ statuses derived from the state
def _train(qtbot, window, epochs: int = 1) -> None:
    panel = window.train_panel
    panel.form.set_values({"epochs": epochs})
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)


def _status(window) -> str:
    return window.train_panel.status_label.text()


def test_a_fresh_window_with_data_does_not_say_load_data_first(window):
    panel = window.train_panel
    assert window.data_panel.prepared is not None and panel.train_button.isEnabled()
    assert "Cannot train" not in _status(window)
    assert "load data first" not in panel.train_button.toolTip()


def test_a_fixed_stack_drops_the_old_reason(window):
    from seqstudio.core.model.layers import LSTM

    window.model_editor.insert_layer(LSTM(4), row=1)  # LSTM -> LSTM needs return_sequences
    assert not window.train_panel.train_button.isEnabled()
    assert "return_sequences" in _status(window)
    window.model_editor.remove_layer(1)
    assert window.train_panel.train_button.isEnabled()
    assert "return_sequences" not in _status(window) and "Cannot train" not in _status(window)


def test_text_data_ready_drops_the_still_being_prepared_reason(qtbot, window, data_dir):
    window.apply_preset("imdb-lstm")
    window.data_panel.set_source("text-csv", {
        **window.data_panel.options(), "path": str(data_dir / "imdb-reviews-train-part1.csv"),
        "max_len": 40})
    assert window.data_panel.wait_ready()
    assert window.data_panel.prepared is not None
    assert "being prepared" not in _status(window)
    assert "being prepared" not in window.train_panel.train_button.toolTip()


def test_other_data_or_preset_clears_the_previous_runs_curve_and_progress(qtbot, window):
    _train(qtbot, window, epochs=2)
    panel = window.train_panel
    assert panel.loss_plot.epoch_count == 2 and "2/2" in panel.progress_bar.format()
    window.apply_preset("airline-gru")  # another preset: that run's curve is not this model's
    assert panel.loss_plot.epoch_count == 0
    assert "2/2" not in panel.progress_bar.format() and not panel.progress_label.text()
    assert "Finished" not in _status(window)


def test_switching_to_a_text_preset_with_no_file_clears_the_preview(qtbot, window):
    assert window.data_panel.table_model.rowCount() > 0  # the airline preview
    window.apply_preset("imdb-lstm")  # no file chosen yet
    assert window.data_panel.table_model.rowCount() == 0


# ------------------------------------------------------------------ names
def test_the_name_follows_the_preset_until_saved_under_a_name_of_ones_own(qtbot, window, tmp_path,
                                                                         monkeypatch):
    window.apply_preset("imdb-lstm")
    assert window.windowTitle().startswith("imdb-lstm")
    suggested = []
    monkeypatch.setattr("seqstudio.gui.project_actions.ask_save_path",
                        lambda parent, kind, caption, name, flt: suggested.append(name) or "")
    window.save_as()
    assert suggested == ["imdb-lstm.json"]
    window.apply_preset("airline-gru")
    assert window.windowTitle().startswith("airline-gru")
    window.save_project(str(tmp_path / "my-study.json"))
    window.apply_preset("airline-lstm")
    assert window.windowTitle().startswith("my-study")  # the user's own name stays


def test_the_data_panel_clears_the_curve_after_an_option_change_too(qtbot, window):
    _train(qtbot, window, epochs=2)
    assert window.train_panel.loss_plot.epoch_count == 2
    window.data_panel.set_source(window.data_panel.source.key,
                                 {**window.data_panel.options(), "look_back": 3})
    assert window.data_panel.wait_ready()
    assert window.train_panel.loss_plot.epoch_count == 0


def test_cli_train_save_and_window_save_agree_on_the_name(qtbot, window, tmp_path):
    window.save_project(str(tmp_path / "mine.json"))
    assert window.windowTitle().startswith("mine")


# ------------------------------------------------------------------ small things
def test_layer_help_shows_no_restructuredtext(window):
    from PySide6.QtWidgets import QLabel, QListWidget

    editor = window.model_editor
    editor.stack_list.setCurrentRow(editor.stack_list.count() - 1)  # the Dense output layer
    help_label = editor.findChild(QLabel, "layerHelp")
    assert help_label is not None and "(..., in)" in help_label.text()
    assert "``" not in help_label.text()
    palette = editor.findChild(QListWidget, "layerPalette")
    tips = [palette.item(i).toolTip() for i in range(palette.count())]
    assert tips and not any("``" in t or ":class:" in t for t in tips)


def test_activation_list_has_linear_once_and_no_none(window):
    from PySide6.QtWidgets import QComboBox

    editor = window.model_editor
    editor.stack_list.setCurrentRow(editor.stack_list.count() - 1)
    combo = editor.findChild(QComboBox, "option_activation")
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items.count("linear") == 1 and "(none)" not in items


def test_momentum_is_editable_with_sgd_only(window):
    from PySide6.QtWidgets import QComboBox

    form = window.train_panel.form
    optimizer = form.findChild(QComboBox, "option_optimizer")
    optimizer.setCurrentIndex(optimizer.findText("adam"))
    assert not form.widget("momentum").isEnabled()
    assert "Only SGD" in form.widget("momentum").toolTip()
    optimizer.setCurrentIndex(optimizer.findText("sgd"))
    assert form.widget("momentum").isEnabled()


# ------------------------------------------------------------------ data panel and forecast
def test_the_automatic_target_is_ticked_and_stays_automatic(qtbot, window, data_dir):
    panel = window.data_panel
    window.open_data_file(str(data_dir / "shampoo-sales.csv"))
    assert panel.wait_ready() and panel.prepared is not None
    target = panel._form.widget("target")
    ticked = [target.item(i).text() for i in range(target.count())
              if target.item(i).checkState() == Qt.CheckState.Checked]
    assert ticked == list(panel.prepared.target_columns) == ["Sales"]
    assert panel.options()["target"] == []  # still the automatic choice: another file chooses afresh


def test_a_plain_row_index_is_not_drawn_as_clock_times(qtbot, window, tmp_path):
    import pyqtgraph as pg

    path = tmp_path / "values.csv"
    path.write_text("value\n" + "".join(f"{i % 13 + i * 0.1:.2f}\n" for i in range(120)))
    window.open_data_file(str(path))
    assert window.data_panel.wait_ready() and window.data_panel.prepared is not None
    axis = window.data_panel.series_plot.getPlotItem().getAxis("bottom")
    assert not isinstance(axis, pg.DateAxisItem)
    assert axis.tickStrings([0.0, 5.0, 50.0], 1.0, 5.0) == ["0", "5", "50"]  # not 00:00:05
    assert axis.labelText == "row"


def test_a_long_series_is_shown_whole_at_once_and_repaints_do_not_move_it(qtbot, window, tmp_path):
    import numpy as np
    import pandas as pd
    from PySide6.QtWidgets import QApplication

    rows = 20_000
    values = np.round(100 + 10 * np.sin(np.arange(rows) / 24 * 2 * np.pi), 3)
    times = pd.date_range("2001-01-01", periods=rows, freq="h")
    pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M"), "load": values}).to_csv(
        tmp_path / "hourly.csv", index=False)
    window.open_data_file(str(tmp_path / "hourly.csv"))
    panel = window.data_panel
    assert panel.wait_ready() and panel.prepared is not None
    view = panel.series_plot.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = view.viewRange()
    first, last = times[0].timestamp(), times[-1].timestamp()
    assert x0 <= first < last <= x1 and x1 - x0 < 1.1 * (last - first)  # the whole series, snugly
    assert y0 <= values.min() < values.max() <= y1
    moved: list = []
    view.sigRangeChanged.connect(lambda *args: moved.append(args))
    for _ in range(3):  # clipped, downsampled curves once re-fitted the range at every repaint
        panel.series_plot.repaint()
        QApplication.processEvents()
    assert moved == []


def test_a_long_daily_series_opens_zoomed_to_its_forecast(qtbot, window, data_dir):
    window.open_data_file(str(data_dir / "daily-min-temperatures.csv"))
    assert window.data_panel.wait_ready() and window.data_panel.prepared is not None
    _train(qtbot, window, epochs=1)
    results = window.results_panel
    window.tabs.setCurrentWidget(results)
    assert results.zoom_check.isChecked()  # 3,650 days: the 24-step forecast would be a speck
    (x0, x1), _ = results.forecast_plot.getPlotItem().viewRange()
    future = results.results["future"][0]
    span_days = (x1 - x0) / 86400
    assert span_days < 200  # weeks of history and the forecast, not ten years
    last = pd_timestamp(future[-1])
    assert x0 < last <= x1 + 86400
    results.zoom_check.setChecked(False)
    (x0, x1), _ = results.forecast_plot.getPlotItem().viewRange()
    assert (x1 - x0) / 86400 > 3000


def pd_timestamp(value) -> float:
    import pandas as pd

    return pd.Timestamp(value).value / 1e9


# ------------------------------------------------------------------ a wrong file, a load cancelled
def test_a_one_line_json_is_refused_within_a_second(qtbot, window, data_dir):
    """The Keras word index (1.6 MB on one line) froze the window for minutes; now it is refused.

    The bound is the test harness's event loop waiting for the message, not a sleep.
    """
    from PySide6.QtCore import QElapsedTimer, QTimer

    panel = window.data_panel
    before = panel.prepared
    # the GUI thread's own clock: a 20 ms timer notes when the event loop gets to it
    clock, turns = QElapsedTimer(), []
    probe = QTimer(window)
    probe.timeout.connect(lambda: turns.append(clock.elapsed()))
    clock.start()
    probe.start(20)
    window.open_data_file(str(data_dir / "imdb_word_index.json"))
    qtbot.waitUntil(lambda: "looks like JSON" in panel.error, timeout=1_000)
    probe.stop()
    gaps = [b - a for a, b in zip([0, *turns], [*turns, clock.elapsed()], strict=True)]
    assert max(gaps) < 1_000  # the window never stopped answering for a second (it froze minutes)
    assert not panel.busy and "CSV" in panel.error
    assert panel.prepared is None and not window.train_panel.train_button.isEnabled()
    assert before is not None  # the window had data, and stays usable: open the airline file again
    window.apply_preset("airline-lstm")
    qtbot.waitUntil(lambda: panel.prepared is not None and not panel.error, timeout=5_000)


def test_a_slow_load_can_be_cancelled_and_its_outcome_is_dropped(qtbot, window, tmp_path, monkeypatch):
    import threading

    from PySide6.QtWidgets import QApplication

    from seqstudio.gui import data_panel as dp

    release = threading.Event()
    started = threading.Event()
    real_job = dp._load_job

    def held_job(*args, **kwargs):
        started.set()
        release.wait(30)  # the load is under way, and stays so until the test lets it go
        return real_job(*args, **kwargs)

    monkeypatch.setattr(dp, "_load_job", held_job)
    panel = window.data_panel
    airline = panel.prepared
    big = tmp_path / "big.csv"
    big.write_text("t,v\n" + "".join(f"{i},{i % 17}\n" for i in range(150_000)))  # > 1 MB: background
    window.open_data_file(str(big))
    assert panel.busy and panel.cancel_button.isVisible()
    assert not window.train_panel.train_button.isEnabled()
    qtbot.waitUntil(started.is_set, timeout=5_000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert not panel.busy and not panel.cancel_button.isVisible()
    assert panel.prepared is airline and "airline" in str(panel.options()["path"])
    assert window.train_panel.train_button.isEnabled()
    assert "cancelled" in panel.summary_label.text()
    release.set()  # the cancelled load ends now: its outcome must not replace the airline data
    assert panel._loader.wait_idle(30)
    QApplication.processEvents()  # deliver the queued outcome, which must be dropped
    assert panel.prepared is airline and "airline" in str(panel.options()["path"])


# ------------------------------------------------------------------ one route for errors
def test_a_failed_runs_export_goes_through_the_windows_error_route(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from seqstudio.gui import runs_panel

    _train(qtbot, window, epochs=1)
    target = tmp_path / "taken" / "runs.csv"
    target.mkdir(parents=True)  # a folder of that name: the file cannot be written
    monkeypatch.setattr(runs_panel, "ask_save_path", lambda *args: str(target))
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: pytest.fail("a box of its own"))
    window.tabs.setCurrentWidget(window.runs_panel)
    qtbot.mouseClick(window.runs_panel.export_button, Qt.MouseButton.LeftButton)
    report = window.errors.reports[-1]
    assert report.doing == "exporting the runs" and isinstance(report.error, OSError)
    title, text = window.shown_errors[-1]
    assert title == "Cannot export runs" and "runs.csv" in text  # what failed, and where
    assert "exporting the runs failed" in window.statusBar().currentMessage()
    assert target.is_dir() and not any(target.iterdir())


# ------------------------------------------------------------------ small things seen
def test_the_user_guide_lists_every_tab_of_the_window_in_order(window):
    """The guide said "four tabs" with five in the window: its list now follows the window's."""
    import re
    from pathlib import Path

    import seqstudio.gui

    guide = Path(seqstudio.gui.__file__).with_name("user_guide.md").read_text(encoding="utf-8")
    section = guide.split("## The tabs", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. \*\*([^*]+)\*\*", section, flags=re.MULTILINE)
    shown = [window.tabs.tabText(i).replace("&", "") for i in range(window.tabs.count())]
    assert listed == shown
    assert not re.search(r"\b(two|three|four|five|six|seven|eight) tabs\b", guide, flags=re.IGNORECASE)
