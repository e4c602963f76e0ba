"""Window polish: data prepared off the GUI thread, Results cleared on New, remembered folders.

References are independent of the panel: the core loader called directly, the
thread a loader ran on, what a monkeypatched file dialog was asked.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.registry import OptionSpec, SourceType

CSV_KEY = "builtins>csv-series"


def _big_series_csv(path, rows: int = 200_000):
    """~7 MB of hourly values: well over the panel's synchronous limit; ~0.3 s to prepare."""
    pd.DataFrame({"date": pd.date_range("2000-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M"),
                  "value": np.sin(np.arange(rows) / 50.0) * 100}).to_csv(path, index=False)
    return path


def _train_one_epoch(qtbot, window):
    window.train_panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=60_000):
        window.train_panel.train_button.click()


# ------------------------------------------------------------------ data off the GUI thread
def test_a_large_csv_is_prepared_in_a_worker_while_the_gui_keeps_ticking(qtbot, registry, tmp_path):
    from seqstudio.gui.app import create_window

    big = _big_series_csv(tmp_path / "big.csv")
    original = registry.sources[CSV_KEY]
    load_threads: list[int] = []

    def recording_load(options):
        load_threads.append(threading.get_ident())
        return original.load(options)

    registry.sources[CSV_KEY] = dataclasses.replace(original, load=recording_load)
    window = create_window(registry=registry)
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    QApplication.processEvents()                                   # the first paint is not the load's
    panel = window.data_panel
    assert panel.prepared is not None and not panel.busy           # the airline file: at once
    load_threads.clear()

    ticks: list[float] = []
    delivered: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    panel.dataChanged.connect(lambda _data: delivered.append(time.perf_counter()))
    timer.start()
    with qtbot.waitSignal(panel.dataChanged, timeout=30_000):
        started = time.perf_counter()
        window.open_data_file(str(big))
        assert panel.busy and panel.busy_bar.isVisibleTo(window)
        assert not window.train_panel.train_button.isEnabled()
        assert "being prepared" in window.train_panel.train_button.toolTip()
    timer.stop()

    assert load_threads and threading.get_ident() not in load_threads  # source.load ran elsewhere
    while_busy = [started] + [t for t in ticks if t <= delivered[0]]
    assert len(while_busy) > 3                                     # the timer fired during the load
    # How long the GUI may stall is a timing: bench/bench_gui.py measures it side by side
    # (a bound here failed on a loaded machine while proving nothing more than the above).
    # the delivered data is the core's own preparation of the same options
    reference = original.load({**panel.options(), "path": str(big)})
    assert torch.equal(panel.prepared.x_train, reference.x_train)
    assert torch.equal(panel.prepared.y_test, reference.y_test)
    assert not panel.busy and not panel.busy_bar.isVisibleTo(window) and panel.error == ""
    assert window.train_panel.train_button.isEnabled()
    assert panel.table_model.rowCount() == 200_000
    assert panel.series_plot.getPlotItem().listDataItems()
    # undo brings the airline file back (small: prepared at once)
    window.undo_stack.undo()
    assert panel.wait_ready(10_000)
    assert panel.options()["path"].endswith("airline-passengers.csv") and len(panel.prepared.series) == 144


def _slow_source(gate: threading.Event, started: threading.Event, calls: list[int]) -> SourceType:
    def load(options):
        n = options["n"]
        calls.append(n)
        started.set()
        if n >= 4:  # small requests answer at once
            gate.wait(10)
        x = torch.arange(n * 2, dtype=torch.float32).reshape(n, 2, 1)
        return PreparedData(task="regression", x_train=x, y_train=x[:, -1], x_val=x[:0], y_val=x[:0, -1],
                            x_test=x[:0], y_test=x[:0, -1], n_outputs=1)

    return SourceType(name="slow", description="waits for the test", load=load, kind="other",
                      options=(OptionSpec("n", "int", 3, minimum=1),))


def test_a_superseded_request_is_dropped_and_queued_ones_coalesce(qtbot, registry):
    from seqstudio.gui.data_panel import DataPanel

    gate, started, calls = threading.Event(), threading.Event(), []
    registry.add_source("demo", _slow_source(gate, started, calls))
    panel = DataPanel(registry)
    qtbot.addWidget(panel)
    panel.sync_load_bytes = 0          # everything in the worker, even a source without files
    shown: list = []
    panel.dataChanged.connect(shown.append)
    try:
        panel.set_source("demo>slow", {"n": 5})
        qtbot.waitUntil(started.is_set, timeout=10_000)
        panel.set_source("demo>slow", {"n": 7})      # waits behind n=5 ...
        panel.set_source("demo>slow", {"n": 9})      # ... and is replaced by n=9
        assert panel.busy and shown == []
    finally:
        gate.set()
    assert panel.wait_ready(10_000)
    assert calls == [5, 9]                           # n=7 never loaded; n=5's result never shown
    assert [len(d.x_train) for d in shown] == [9] and len(panel.prepared.x_train) == 9


def test_a_synchronous_reload_wins_over_a_background_one(qtbot, registry):
    from seqstudio.gui.data_panel import DataPanel

    gate, started, calls = threading.Event(), threading.Event(), []
    registry.add_source("demo", _slow_source(gate, started, calls))
    panel = DataPanel(registry)
    qtbot.addWidget(panel)
    panel.sync_load_bytes = 0
    shown: list = []
    try:
        panel.set_source("demo>slow", {"n": 5})
        qtbot.waitUntil(started.is_set, timeout=10_000)
        panel.dataChanged.connect(shown.append)
        panel._form.set_values({"n": 3})
        panel.reload(background=False)               # n=3 answers at once, on this thread
        assert not panel.busy and len(panel.prepared.x_train) == 3
    finally:
        gate.set()
    # the n=5 result comes back through the queue after this; it must not replace n=3
    qtbot.waitUntil(lambda: not panel._loader.busy, timeout=10_000)
    assert calls == [5, 3]
    assert [len(d.x_train) for d in shown] == [3] and len(panel.prepared.x_train) == 3


def test_an_opened_project_gets_its_weights_once_background_data_arrives(qtbot, window, tmp_path):
    _train_one_epoch(qtbot, window)
    expected = {k: v.clone() for k, v in window.model.state_dict().items()}
    window.save_project(tmp_path / "trained.json")
    assert window.new_project() and window.model is None
    window.data_panel.sync_load_bytes = 0          # make the airline file a background load
    assert window.open_project(tmp_path / "trained.json")
    assert window.data_panel.busy and window.model is None
    assert window.data_panel.wait_ready(10_000)
    assert window.model is not None
    for name, tensor in window.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    assert window.results_panel.results and window.train_panel.continue_button.isEnabled()


def test_continuing_a_run_waits_for_background_data(qtbot, window):
    import copy

    from seqstudio.core.train.config import TrainConfig
    from seqstudio.core.train.loop import train

    _train_one_epoch(qtbot, window)
    first = window.project.runs[0]
    # reference: the core trains a copy of the run's weights one more epoch
    module = copy.deepcopy(window.model)
    events = list(train(module, window.data, TrainConfig.from_dict(first["train"]), start_epoch=1))
    reference = events[-1].result.history
    window.data_panel.sync_load_bytes = 0          # the run's data comes back in the worker
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=60_000):
        assert window.continue_run(first)
        assert window.data_panel.busy and not window.train_panel.running
    assert [h["epoch"] for h in window.last_result.history] == [2]
    assert window.last_result.history[0]["train_loss"] == pytest.approx(reference[0]["train_loss"],
                                                                        rel=1e-5)
    assert window.project.runs[-1]["start_epoch"] == 1 and window.epochs_trained == 2


def test_no_autosave_while_data_is_prepared_in_the_background(qtbot, window):
    window.data_panel.sync_load_bytes = 0
    window.data_panel._form.widget("look_back").setValue(2)
    window.data_panel.reload()
    assert window.data_panel.busy and window.isWindowModified()
    assert window.autosave() is None               # an autosave never waits for the data
    assert window.data_panel.wait_ready(10_000) and window.data.input_shape == (2, 1)
    assert window.autosave() is not None


# ------------------------------------------------------------------ Results cleared on New
def test_new_project_clears_the_previous_results(qtbot, window):
    _train_one_epoch(qtbot, window)
    panel = window.results_panel
    assert panel.results and panel.metrics and panel.metrics_table.rowCount() > 0
    assert panel.forecast_plot.getPlotItem().listDataItems()
    assert window.new_project()
    assert panel.results == {} and panel.metrics == {} and panel.model is None and panel.data is None
    assert panel.metrics_table.rowCount() == 0
    assert panel.forecast_plot.getPlotItem().listDataItems() == []
    assert panel.residual_plot.getPlotItem().listDataItems() == []
    assert panel.note_label.text() == "Train a model to see its forecast."


# ------------------------------------------------------------------ remembered folders
@pytest.fixture
def fake_dialogs(monkeypatch):
    """QFileDialog's static functions replaced: record the start path, answer from a queue."""
    from PySide6.QtWidgets import QFileDialog

    asked: list[str] = []
    answers: list[str] = []

    def answer(_parent, _caption, start, _filter, *args, **kwargs):
        asked.append(start)
        return (answers.pop(0) if answers else "", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(answer))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer))
    return asked, answers


def test_open_csv_and_browse_start_in_the_last_data_folder(qtbot, window, data_dir, tmp_path, fake_dialogs):
    asked, answers = fake_dialogs
    births = data_dir / "daily-total-female-births.csv"
    answers.append(str(births))
    window.data_panel.open_button.click()
    assert window.data_panel.options()["path"] == str(births) and window.data_panel.error == ""
    window.data_panel.open_button.click()                          # cancelled: nothing changes
    assert asked[1] == str(data_dir)
    # a form's Browse… starts there too, and what it picks becomes the path
    other = tmp_path / "other" / "airline.csv"
    other.parent.mkdir()
    other.write_bytes((data_dir / "airline-passengers.csv").read_bytes())
    answers.append(str(other))
    window.data_panel._form.widget("path").browse.click()
    assert asked[2] == str(data_dir)
    assert window.data_panel.options()["path"] == str(other)
    assert window.data_panel.wait_ready(10_000) and window.data_panel.error == ""
    assert len(window.data_panel.prepared.series) == 144            # the copied airline file
    window.data_panel.open_button.click()
    assert asked[3] == str(other.parent)


def test_results_export_remembers_its_folder(qtbot, window, tmp_path, fake_dialogs):
    asked, answers = fake_dialogs
    target = tmp_path / "exports" / "mine.csv"
    target.parent.mkdir()
    answers.append(str(target))
    window.results_panel.export_csv_button.click()
    assert asked[0] == "predictions.csv" and target.is_file()      # nothing remembered yet
    window.results_panel.export_plot_button.click()                # cancelled
    assert asked[1] == str(target.parent / "forecast.png")


def test_plot_time_values_of_dates_outside_the_nanosecond_range():
    import pandas as pd

    from seqstudio.gui.plots import time_values

    x, is_date = time_values(pd.DatetimeIndex(pd.to_datetime(["1500-01-01", "2900-01-01"])))
    assert is_date
    # the reference: seconds since 1970 computed by the standard library
    import datetime as dt

    epoch = dt.datetime(1970, 1, 1)
    assert x.tolist() == [(dt.datetime(1500, 1, 1) - epoch).total_seconds(),
                          (dt.datetime(2900, 1, 1) - epoch).total_seconds()]
