"""The window driven through its real widgets (pytest-qt, offscreen).

Each test checks what a user would see against an independent reference:
numpy for the metrics, the core called directly for the error messages.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from seqstudio.core.errors import SeqStudioError

RUN_TIMEOUT_MS = 60_000


def _set_train(window, **values):
    form = window.train_panel.form
    form.set_values(values)


def _train_and_wait(qtbot, window, button=None):
    panel = window.train_panel
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(button or panel.train_button, Qt.MouseButton.LeftButton)


def test_default_start_shows_airline_and_the_lecture_model(window):
    data = window.data_panel.prepared
    assert window.data_panel.error == ""
    assert window.data_panel.table_model.rowCount() == 144           # the whole airline file
    assert window.data_panel.table_model.data(window.data_panel.table_model.index(0, 0)) == "112"
    assert data.input_shape == (1, 1)                                 # look_back 1, one feature
    assert [window.model_editor.stack_list.item(i).data(Qt.ItemDataRole.UserRole).type_name
            for i in range(window.model_editor.stack_list.count())] == ["LSTM", "Dense"]
    # Keras counts LSTM(4) on 1 feature as 96 and Dense(1) on 4 as 5; torch's LSTM has a
    # second bias vector (+16). The summary must equal the built module's parameters.
    module = window.model_editor.model_spec().build(data.input_shape, registry=window.registry)
    total = sum(p.numel() for p in module.parameters())
    assert window.model_editor.summary.total_params == total
    assert window.model_editor.summary_table.item(2, 2).text() == f"{total:,}"
    assert window.train_panel.train_button.isEnabled()
    assert window.data_panel.series_plot.getPlotItem().listDataItems()    # series drawn


def test_the_summary_estimates_the_memory_to_train_at_the_train_tabs_batch_size(window):
    from seqstudio.core.model.memory import estimate_training_memory, format_bytes

    table = window.model_editor.summary_table
    summary = window.model_editor.summary
    for batch in (1, 512):
        _set_train(window, batch_size=batch)
        assert window.document.train["batch_size"] == batch
        estimate = estimate_training_memory(summary, batch)
        # by hand: 101 parameters x 6 copies x 4 bytes, and the LSTM's 9 vectors of 4 units plus
        # Dense's output (x2) and the input, twice (values and gradients), per sample
        assert estimate.parameter_bytes == 101 * 6 * 4
        assert estimate.activation_bytes == (1 + 9 * 4 + 2) * batch * 2 * 4
        assert table.item(4, 0).text() == f"Memory to train (batch {batch})"
        assert table.item(4, 2).text() == format_bytes(estimate.total_bytes)
        assert table.item(4, 2).toolTip() == estimate.describe()


def test_train_two_epochs_fills_loss_plot_forecast_and_metrics(qtbot, window):
    _set_train(window, epochs=2)
    _train_and_wait(qtbot, window)
    result = window.last_result
    assert result is not None and result.epochs_run == 2
    curves = window.train_panel.loss_plot.curve_data()
    np.testing.assert_allclose(curves["epoch"], [1, 2])
    np.testing.assert_allclose(curves["train_loss"], [h["train_loss"] for h in result.history])
    # batch size 1 on 95 training windows: every batch loss reached the buffer
    assert curves["batch_loss"].size == 2 * len(window.data.x_train)

    names = [item.name() for item in window.results_panel.forecast_plot.getPlotItem().listDataItems()]
    assert "actual" in names
    assert any("training part" in n for n in names) and any("test part" in n for n in names)
    assert any("future" in n for n in names)

    # the metrics table's RMSE on the test part equals numpy's on the plotted predictions
    table = window.results_panel.metrics_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert rows[0] == "model" and "naive baseline" in rows
    times, predicted = window.results_panel.results["test"]
    actual = window.data.actual("test")
    rmse = float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))
    shown = float(table.item(0, headers.index("RMSE test")).text())
    assert shown == pytest.approx(rmse, rel=1e-3)
    assert window.train_panel.continue_button.isEnabled()


def test_continue_training_numbers_epochs_on(qtbot, window):
    _set_train(window, epochs=1)
    _train_and_wait(qtbot, window)
    first_weights = {k: v.clone() for k, v in window.model.state_dict().items()}
    model_before = window.model
    _train_and_wait(qtbot, window, window.train_panel.continue_button)
    assert window.model is model_before                       # same module, trained further
    assert window.epochs_trained == 2
    assert window.last_result.optimizer_resumed                # Adam went on, as a repeated fit()
    assert "optimizer went on" in window.train_panel.status_label.text()
    np.testing.assert_allclose(window.train_panel.loss_plot.curve_data()["epoch"], [1, 2])
    changed = any(not np.allclose(first_weights[k], v) for k, v in window.model.state_dict().items())
    assert changed


def test_stop_mid_run_keeps_the_window_usable(qtbot, window):
    _set_train(window, epochs=500)
    panel = window.train_panel
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.loss_plot.curve_data()["batch_loss"].size > 0,
                        timeout=RUN_TIMEOUT_MS)
        assert not panel.train_button.isEnabled() and panel.stop_button.isEnabled()
        assert not window.data_panel.isEnabled() and not window.model_editor.isEnabled()
        # Undo would edit the data and layers the run is using: off while it runs.
        assert not window.undo_action.isEnabled() and not window.redo_action.isEnabled()
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    result = window.last_result
    assert result.stopped_reason == "user"
    assert result.epochs_run < 500
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert window.data_panel.isEnabled() and window.model_editor.isEnabled()
    assert window.undo_action.isEnabled() == window.undo_stack.canUndo()
    assert "Stopped by you" in panel.status_label.text()


def test_pause_blocks_then_resume_finishes(qtbot, window):
    _set_train(window, epochs=3)
    panel = window.train_panel
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
        assert panel.thread.control.paused
        assert panel.pause_button.text() == "Resume"
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
        assert not panel.thread.control.paused
    assert window.last_result.epochs_run == 3


def test_impossible_stack_disables_train_with_the_core_message(qtbot, window):
    from seqstudio.core.model.layers import LSTM
    from seqstudio.core.model.spec import ModelSpec

    editor = window.model_editor
    editor.insert_layer(LSTM(4), row=1)     # LSTM -> LSTM without return_sequences -> Dense
    spec = ModelSpec([LSTM(4), LSTM(4), *editor.model_spec().layers[2:]])
    with pytest.raises(SeqStudioError) as info:
        spec.check_data(window.data, registry=window.registry)
    expected = str(info.value)
    assert not window.train_panel.train_button.isEnabled()
    assert expected in window.train_panel.train_button.toolTip()
    assert editor.error_label.text() == expected
    assert editor.error_index == getattr(info.value, "layer_index", None)
    if editor.error_index is not None:
        assert editor.stack_list.item(editor.error_index).background().color().name() == "#fdecea"
    # fixing it (remove the extra layer) enables Train again
    editor.stack_list.setCurrentRow(1)
    qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton)
    assert window.train_panel.train_button.isEnabled()


def test_editing_a_layer_argument_updates_the_summary(qtbot, window):
    editor = window.model_editor
    editor.stack_list.setCurrentRow(0)
    units = editor._form.widget("units")
    units.setValue(8)
    lstm = editor.model_spec().layers[0]
    assert lstm.units == 8
    # LSTM(8) on 1 feature in torch: 4 gates * (8*1 + 8*8 + 2*8) = 352; Dense(1) on 8: 9
    module = editor.model_spec().build(window.data.input_shape, registry=window.registry)
    assert editor.summary.total_params == sum(p.numel() for p in module.parameters())
    assert units.toolTip()      # every argument explains itself


def test_bad_csv_shows_the_core_error_and_the_window_recovers(qtbot, window, tmp_path, data_dir):
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,Passengers\n1949-01,112\n1949-02,abc\n1949-03,x\n")
    source = window.data_panel.source
    options = {**window.data_panel.options(), "path": str(bad), "target": [], "date_col": "auto"}
    with pytest.raises(SeqStudioError) as info:
        source.load(options)
    window.open_data_file(str(bad))
    assert window.data_panel.error == str(info.value)
    assert window.data_panel.error_label.isVisibleTo(window)
    assert not window.train_panel.train_button.isEnabled()
    # the window stays usable: a good file loads and Train comes back
    window.open_data_file(str(data_dir / "airline-passengers.csv"))
    assert window.data_panel.error == ""
    assert not window.data_panel.error_label.isVisibleTo(window)
    assert window.train_panel.train_button.isEnabled()


def test_changing_look_back_reshapes_the_data_live(qtbot, window):
    form = window.data_panel._form
    with qtbot.waitSignal(window.data_panel.dataChanged, timeout=5_000):
        form.widget("look_back").setValue(3)
    assert window.data.input_shape == (3, 1)
    assert window.model_editor.valid


def test_every_documented_object_name_exists(window):
    from PySide6.QtWidgets import QWidget

    names = ["dataSourceCombo", "dataTable", "seriesPlot", "layerList", "layerPalette",
             "summaryTable", "trainButton", "pauseButton", "stopButton", "progressBar", "lossPlot",
             "forecastPlot", "metricsTable"]
    for name in names:
        assert window.findChild(QWidget, name) is not None, name


def test_dropping_a_csv_on_the_window_opens_it(qtbot, window, data_dir):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data_dir / "daily-total-female-births.csv"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.data_panel.error == ""
    assert window.data_panel.table_model.rowCount() == 365          # the births file, per SOURCES.md
    assert window.data_panel.options()["target"] in ([], ["Births"])
    assert window.train_panel.train_button.isEnabled()


def test_dragging_a_layer_reorders_the_stack(qtbot, window):
    from PySide6.QtCore import QModelIndex

    editor = window.model_editor
    types = lambda: [s.type_name for s in editor.model_spec().layers]  # noqa: E731
    assert types() == ["LSTM", "Dense"]
    # what an internal drag-and-drop does to the list's model: move row 1 above row 0
    with qtbot.waitSignal(editor.specChanged):
        assert editor.stack_list.model().moveRow(QModelIndex(), 1, QModelIndex(), 0)
    assert types() == ["Dense", "LSTM"]
    assert not window.train_panel.train_button.isEnabled()   # Dense(1) then LSTM cannot work
    with qtbot.waitSignal(editor.specChanged):
        editor.stack_list.model().moveRow(QModelIndex(), 1, QModelIndex(), 0)
    assert types() == ["LSTM", "Dense"] and window.train_panel.train_button.isEnabled()


def test_nan_loss_is_explained_and_the_weights_are_kept(qtbot, window, monkeypatch):
    import seqstudio.core.train.events as events
    import seqstudio.core.train.loop as training

    def nan_run(model, data, config, control=None, *, start_epoch=0, optimizer_state=None):
        yield events.EpochStarted(epoch=1, epochs=1, batches=1)
        yield events.BatchEnded(epoch=1, step=1, batches=1, loss=float("nan"), global_step=1)
        yield events.Stopped(reason="nan", message="the loss became nan at batch 1", epoch=1)
        yield events.Finished(events.TrainResult(history=[], epochs_run=0, best_epoch=None,
                                                     stopped_reason="nan", seconds=0.0,
                                                     device="cpu", threads=1))

    monkeypatch.setattr(training, "train", nan_run)
    monkeypatch.setenv("SEQSTUDIO_TRAIN_IN_PROCESS", "1")  # the fake runs in this process
    _set_train(window, epochs=1)
    _train_and_wait(qtbot, window)
    text = window.train_panel.status_label.text()
    assert "NaN" in text and "last good weights are kept" in text
    assert window.train_panel.train_button.isEnabled()


def test_a_training_process_that_dies_is_explained_and_the_window_goes_on(qtbot, window):
    import torch

    from seqstudio.core.train.process import shared_training_process

    _set_train(window, epochs=100_000)
    window.train_panel.snapshot_spin.setValue(1)
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        window.train_panel.train_button.click()
        qtbot.waitUntil(lambda: window.train_panel.epochs_done >= 3, timeout=RUN_TIMEOUT_MS)
        runner = window.train_panel.thread.runner
        assert runner.ran_in_child
        shared_training_process()._process.kill()     # what the system does when memory runs out
    text = window.train_panel.status_label.text()
    assert "training process ended unexpectedly" in text and "last good weights are kept" in text
    assert window.train_panel.train_button.isEnabled()
    weights = {k: v.clone() for k, v in window.model.state_dict().items()}
    assert any(torch.any(v != 0) for v in weights.values())
    _set_train(window, epochs=1)                      # the next run starts a fresh process
    _train_and_wait(qtbot, window)
    assert window.last_result.epochs_run == 1 and shared_training_process().ran_in_child


def test_a_leak_into_the_test_part_is_warned_about(qtbot, window, tmp_path):
    values = np.arange(1, 31, dtype=float)
    values[19] = np.nan                      # the last training value: interpolated from the test part
    path = tmp_path / "leaky.csv"
    pd.DataFrame({"t": pd.date_range("2000-01-01", periods=30, freq="D").strftime("%Y-%m-%d"),
                  "y": values}).to_csv(path, index=False)
    window.open_data_file(str(path))
    assert "missing" in window.data_panel.error      # the default policy refuses NaNs
    with qtbot.waitSignal(window.data_panel.dataChanged, timeout=5_000):
        window.data_panel._form.widget("missing").setCurrentText("interpolate")
    leak = window.data.window_leak
    assert leak and window.data_panel.leak_label.text() == f"Leak: {leak}"
    assert window.data_panel.leak_label.isVisibleTo(window)


def test_plugin_source_renders_its_options_and_disabled_cells_are_greyed(qtbot, registry):
    import torch

    from seqstudio.core.data.prepared import PreparedData
    from seqstudio.core.errors import DataError
    from seqstudio.core.registry import CellType, OptionSpec, SourceType
    from seqstudio.gui.app import create_window

    def load(options):
        if options["length"] < 10:
            raise DataError(f"length must be at least 10, got {options['length']}",
                            fix="choose a longer series")
        n = options["length"] - 3
        x = torch.linspace(0, 1, n * 3).reshape(n, 3, 1)
        return PreparedData(task="regression", x_train=x, y_train=x[:, -1], x_val=x[:0],
                            y_val=x[:0, -1], x_test=x[:0], y_test=x[:0, -1], n_outputs=1)

    registry.add_source("demo", SourceType(
        name="ramp", description="a ramp", load=load, kind="other",
        options=(OptionSpec("length", "int", 50, help="How many steps.", minimum=1),
                 OptionSpec("shape", "choice", "linear", choices=("linear", "saw")))))
    registry.add_cell("demo", CellType(name="broken", description="fails its check",
                                       step_factory=lambda i, h: None))
    key = "demo>broken"
    registry.cells[key] = dataclasses.replace(registry.cells[key],
                                              disabled_reason="state has the wrong shape")
    window = create_window(registry=registry)
    qtbot.addWidget(window)
    combo = window.data_panel.source_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert "ramp  [demo]" in labels
    window.data_panel.set_source("demo>ramp", {"length": 50})
    form = window.data_panel._form
    assert form.widget("length").toolTip() == "How many steps."
    assert window.data.input_shape == (3, 1) and window.data_panel.error == ""
    form.widget("length").setValue(5)
    window.data_panel.reload()
    assert window.data_panel.error.startswith("length must be at least 10, got 5")
    palette = window.model_editor.palette_list
    item = next(palette.item(i) for i in range(palette.count()) if palette.item(i).text().startswith("broken"))
    assert "[demo]" in item.text()
    assert not item.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "state has the wrong shape" in item.toolTip()


def test_startup_time_opens_a_usable_window_reports_and_closes(qtbot, monkeypatch, registry, capsys):
    import seqstudio.gui.app as app

    monkeypatch.setattr(app, "_default_manager", lambda: _FixedManager(registry))
    assert app.main(["--startup-time", "--preset", "airline-gru"]) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    numbers = [float(w) for w in line.replace(",", " ").split() if w.replace(".", "").isdigit()]
    splash, shown, usable, engine, cpu = numbers
    assert 0 < splash <= shown <= usable <= engine and cpu > 0
    assert "training engine ready" in line and "(not loaded)" not in line
    assert "(from process start" in line


def test_the_cli_flag_reaches_the_window(monkeypatch):
    import seqstudio.gui.app as app
    from seqstudio import cli

    seen = []
    monkeypatch.setattr(app, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["--startup-time"]) == 0
    assert cli.main(["gui", "--startup-time", "--preset", "airline-gru"]) == 0
    assert seen == [["--startup-time"], ["--startup-time", "--preset", "airline-gru"]]


def test_process_age_counts_from_the_process_start():
    import subprocess
    import sys

    code = ("import time; time.sleep(0.3); from seqstudio.gui.app import process_age; "
            "print(process_age())")
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=120).stdout)
    assert age >= 0.29


class _FixedManager:
    def __init__(self, registry):
        self.registry = registry

    def ensure_loaded(self):
        pass


def test_forecast_updates_during_training(qtbot, window, monkeypatch):
    import seqstudio.gui.worker as worker

    monkeypatch.setattr(worker, "SNAPSHOT_MIN_SECONDS", 0.0)
    window.train_panel.snapshot_spin.setValue(1)
    _set_train(window, epochs=3)
    snapshots = []
    window.train_panel.snapshotReady.connect(snapshots.append)
    _train_and_wait(qtbot, window)
    assert len(snapshots) == 2                   # after epochs 1 and 2; the end brings the final one
    assert {"train", "test"} <= set(snapshots[0])
    times, predicted = snapshots[0]["test"]
    assert len(times) == len(window.data.x_test) == len(predicted)


def test_the_status_line_says_how_many_cpu_threads_and_why(qtbot, window, monkeypatch):
    import seqstudio.core.train.loop as loop
    from seqstudio.core.train.threads import cpu_count

    # The airline model is too small for threads to matter (it stays on one thread unprobed);
    # probe it anyway, in this process, to see the choices reach the status line.
    monkeypatch.setenv("SEQSTUDIO_TRAIN_IN_PROCESS", "1")
    monkeypatch.setattr(loop, "too_small_to_split", lambda work: None)
    monkeypatch.setattr(loop, "free_cores", cpu_count)  # every core free, whatever else runs now
    _set_train(window, epochs=3)
    panel = window.train_panel
    chosen, shown = [], []
    real = panel._on_threads_chosen

    def on_threads_chosen(event):  # what the status line said while the run went on
        real(event)
        chosen.append(event)
        shown.append(panel.status_label.text())

    monkeypatch.setattr(panel, "_on_threads_chosen", on_threads_chosen)
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    result = window.last_result
    text = panel.status_label.text()
    assert f"CPU threads: {result.threads_reason}" in text
    assert "OpenMP wait" in result.threads_reason
    if cpu_count() > 1:  # more than one count to compare: the run measured them
        assert chosen and chosen[-1].threads == result.threads
        assert shown[0] == f"Training…\nCPU threads: {chosen[0].reason}"
        assert "a batch against" in text
    run = window.project.runs[-1]
    assert run["threads"] == result.threads and run["threads_reason"] == result.threads_reason


def test_the_train_tab_offers_bucketing_off_by_default(window, qtbot):
    form = window.train_panel.form
    box = form.widget("bucketing")
    assert box.isChecked() is False and "max_len" in box.toolTip()
    box.setChecked(True)
    qtbot.waitUntil(lambda: window.document.train.get("bucketing") is True)
    assert window.train_panel.config().bucketing is True
