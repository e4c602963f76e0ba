"""The window's building blocks on their own: table model, loss plot, feed, forms, exports, text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from seqstudio.core.registry import OptionSpec
from seqstudio.gui.forms import OptionForm
from seqstudio.gui.plots import LossPlot, smooth_ema
from seqstudio.gui.table_model import DataFrameModel
from seqstudio.gui.worker import TrainingFeed


def test_table_model_serves_a_million_rows_lazily(qtbot):
    n = 1_000_000
    frame = pd.DataFrame({"value": np.arange(n, dtype=np.float64) * 0.5,
                          "label": np.where(np.arange(n) % 2 == 0, "even", "odd")})
    frame.loc[7, "value"] = np.nan
    model = DataFrameModel(frame)
    assert (model.rowCount(), model.columnCount()) == (n, 2)
    last = model.index(n - 1, 0)
    assert model.data(last) == f"{(n - 1) * 0.5:.6g}"
    assert model.data(model.index(n - 1, 1)) == "odd"
    assert model.data(model.index(7, 0)) == "NA"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "label"
    assert model.headerData(n - 1, Qt.Orientation.Vertical) == str(n - 1)


def test_loss_plot_redraws_on_its_timer_not_per_append(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.show()
    qtbot.waitExposed(plot)
    before = plot.redraw_count
    for i in range(2000):                        # like a batch-size-1 run feeding every batch
        plot.append_batches([i / 100], [1.0 / (i + 1)])
    assert plot.redraw_count == before           # no redraw without the event loop
    qtbot.waitUntil(lambda: plot.redraw_count > before, timeout=2_000)
    assert plot.redraw_count - before <= 2
    np.testing.assert_allclose(plot.curve_data()["batch_loss"], 1.0 / (np.arange(2000) + 1))


def test_hidden_loss_plot_waits_and_catches_up_when_shown(qtbot):
    from PySide6.QtCore import QTimer

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append_batches([0.1, 0.2], [1.0, 0.5])
    # Hidden (another tab in front): its timer fires but nothing is drawn.
    with qtbot.waitSignal(plot._timer.timeout, timeout=2_000):
        pass
    assert plot.redraw_count == 0
    QTimer.singleShot(0, plot.show)
    qtbot.waitUntil(lambda: plot.redraw_count == 1, timeout=2_000)
    x, y = plot._batch_curve.getOriginalDataset()
    np.testing.assert_allclose(x, [0.1, 0.2])


def test_loss_plot_keeps_nan_and_log_scale(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.append_epochs([1, 2, 3], [0.5, float("nan"), 0.25], [None, 0.4, None])
    plot.log_check.setChecked(True)
    plot.redraw()
    data = plot.curve_data()
    assert np.isnan(data["train_loss"][1]) and np.isnan(data["val_loss"][0])
    x, y = plot._train_curve.getData()
    assert list(x) == [1, 2, 3]


def test_smoothing_is_an_exponential_moving_average():
    values = np.array([1.0, 3.0, np.nan, 5.0])
    smoothed = smooth_ema(values, 0.5)
    # by hand: 1, 0.5*1+0.5*3 = 2, NaN carries 2, 0.5*2+0.5*5 = 3.5
    np.testing.assert_allclose(smoothed, [1.0, 2.0, 2.0, 3.5])
    np.testing.assert_array_equal(smooth_ema(values, 0.0), values)


def test_feed_drains_what_arrived_and_keeps_the_position():
    feed = TrainingFeed()
    feed.start(first_epoch=1, epochs_total=2)
    feed.add_batch(epoch=1, step=1, batches=4, loss=0.5)
    feed.add_batch(epoch=1, step=2, batches=4, loss=0.25)
    feed.add_epoch(epoch=1, train_loss=0.4, val_loss=None)
    snap = feed.drain()
    assert snap.batch_losses == [0.5, 0.25] and snap.batch_x == [0.25, 0.5]
    assert snap.epochs == [1] and snap.val_losses == [None]
    again = feed.drain()
    assert again.batch_losses == [] and (again.epoch, again.step, again.batches) == (1, 2, 4)


def test_option_form_round_trips_every_type(qtbot):
    options = (
        OptionSpec("path", "path", ""), OptionSpec("n", "int", 3, minimum=1),
        OptionSpec("season", "int", None, minimum=1), OptionSpec("rate", "float", 0.25),
        OptionSpec("flag", "bool", True), OptionSpec("mode", "choice", "b", choices=("a", "b")),
        OptionSpec("col", "column", "y"), OptionSpec("cols", "columns", []),
        OptionSpec("name", "str", "x", help="a name"),
    )
    form = OptionForm(options)
    qtbot.addWidget(form)
    form.set_columns(["t", "y", "z"])
    values = {"path": "/tmp/a.csv", "n": 7, "season": None, "rate": 0.001, "flag": False,
              "mode": "a", "col": "z", "cols": ["y", "z"], "name": "hello"}
    form.set_values(values)
    assert form.values() == values
    form.set_values({"season": 12})
    assert form.values()["season"] == 12
    assert form.widget("name").toolTip() == "a name"
    with qtbot.waitSignal(form.changed) as blocker:
        form.widget("n").setValue(9)
    assert blocker.args[0]["n"] == 9


def test_exports_write_png_and_predictions_csv(qtbot, window, tmp_path):
    from seqstudio.core.train.evaluate import predict
    from seqstudio.gui.plots import export_plot_png

    window.train_panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=60_000):
        window.train_panel.train_button.click()
    png = tmp_path / "forecast.png"
    export_plot_png(window.results_panel.forecast_plot, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = tmp_path / "pred.csv"
    window.results_panel.export_predictions_csv(str(csv))
    frame = pd.read_csv(csv)
    test = frame[frame["split"] == "test"]
    data = window.data
    expected = data.to_original(predict(window.model, data.x_test), "test")[:, 0]
    np.testing.assert_allclose(test["predicted"].to_numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(test["actual"].to_numpy(), data.actual("test")[:, 0])
    assert (frame["split"] == "future").sum() == window.results_panel.future_spin.value()


def test_project_saved_from_the_window_reopens_with_its_weights(qtbot, window, tmp_path, registry):
    from seqstudio.core.project import Project
    from seqstudio.gui.app import create_window

    window.train_panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=60_000):
        window.train_panel.train_button.click()
    path = tmp_path / "airline.json"
    window.save_project(str(path))
    reopened = create_window(Project.load(path), registry=registry)
    qtbot.addWidget(reopened)
    assert reopened.model is not None
    for key, value in window.model.state_dict().items():
        np.testing.assert_array_equal(reopened.model.state_dict()[key].numpy(), value.numpy())
    assert reopened.train_panel.continue_button.isEnabled()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_text_data_trains_and_scores_a_typed_review(qtbot, window, data_dir):
    from seqstudio.core.model.layers import Dense, Embedding, GlobalAveragePooling1D
    from seqstudio.core.model.spec import ModelSpec
    from seqstudio.core.train.evaluate import predict

    window.apply_preset("imdb-lstm")
    assert window.data_panel.error                    # no file chosen yet: said inline
    assert not window.train_panel.train_button.isEnabled()
    window.data_panel.set_source("text-csv", {
        **window.data_panel.options(), "path": str(data_dir / "imdb-reviews-train-part1.csv"),
        "test_path": str(data_dir / "imdb-reviews-test.csv"), "max_len": 40})
    assert window.data_panel.wait_ready()             # 6.7 MB of reviews: prepared in the background
    data = window.data
    assert window.data_panel.error == "" and data.input_shape == (40,)
    assert "decoded back" in window.data_panel.example_text.toPlainText()
    window.model_editor.set_model_spec(ModelSpec([Embedding(10000, 8), GlobalAveragePooling1D(),
                                                  Dense(1, activation="sigmoid")]))
    window.train_panel.form.set_values({"epochs": 1, "batch_size": 64})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=60_000):
        window.train_panel.train_button.click()
    panel = window.results_panel
    matrix = np.array([[int(panel.confusion_table.item(r, c).text()) for c in range(2)]
                       for r in range(2)])
    # the confusion matrix counts the test reviews, by numpy on the model's own predictions
    probs = predict(window.model, data.x_test)[:, 0]
    truth = data.y_test.numpy()[:, 0].astype(int)
    guess = (probs >= 0.5).astype(int)
    expected = np.array([[np.sum((truth == t) & (guess == g)) for g in (0, 1)] for t in (0, 1)])
    np.testing.assert_array_equal(matrix, expected)
    review = "a wonderful film, the best acting"
    panel.review_edit.setPlainText(review)
    qtbot.waitUntil(lambda: panel.review_result.text().startswith("P("), timeout=5_000)
    p = float(predict(window.model, data.encode_texts([review]))[0, 0])
    assert panel.review_result.text() == f"P(positive) = {p:.3f}"


def test_worker_failure_is_reported_and_the_window_survives(qtbot, window, monkeypatch):
    import seqstudio.core.train.loop as training

    def broken_train(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")
        yield  # pragma: no cover - makes this a generator

    monkeypatch.setattr(training, "train", broken_train)
    monkeypatch.setenv("SEQSTUDIO_TRAIN_IN_PROCESS", "1")  # the fake runs in this process
    window.train_panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=10_000):
        window.train_panel.train_button.click()
    assert "out of memory (simulated)" in window.train_panel.status_label.text()
    assert window.train_panel.train_button.isEnabled()
