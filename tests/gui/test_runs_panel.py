"""The Runs panel: comparing real training runs (the lecture's LSTM against GRU)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QPushButton,
    QTableView,
    QTableWidget,
    QWidget,
)

from seqstudio.core.project import Project
from seqstudio.core.session import TrainingSession
from seqstudio.gui.runs_panel import RUN_COLUMNS, RunsPanel

#: Keras's parameter counts for the airline models (look_back 1: one input feature, 4 units).
LSTM_PARAMS = 4 * (4 * (1 + 4) + 4) + (4 + 1)          # 4 gates x (W, U, b) + Dense(1) = 101
GRU_PARAMS = 3 * (4 * (1 + 4) + 2 * 4) + (4 + 1)       # reset_after=True: 2 biases per gate = 89


@pytest.fixture(scope="module")
def airline_runs():
    """LSTM seed 0, GRU seed 0, LSTM seed 1: two epochs each on the embedded airline data.

    The LSTM runs keep their weights, the GRU run does not.
    """
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()
    project = Project.from_preset("airline-lstm")
    project.train["epochs"] = 2
    for preset, seed in (("airline-lstm", 0), ("airline-gru", 0), ("airline-lstm", 1)):
        recipe = Project.from_preset(preset)
        project.model, project.train = recipe.model, {**recipe.train, "epochs": 2, "seed": seed}
        project.weights = None  # a fresh model each time
        for _event in TrainingSession(project, registry, keep_run_weights=(preset == "airline-lstm")).run():
            pass
    return project.runs


@pytest.fixture
def panel(qtbot):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _column(table: QTableWidget, header: str) -> list[str]:
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    c = headers.index(header)
    return [table.item(r, c).text() for r in range(table.rowCount())]


def _row(table: QTableWidget, label: str) -> list[str]:
    labels = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    r = labels.index(label)
    return [table.item(r, c).text() for c in range(table.columnCount())]


def test_child_widgets_have_the_agreed_names(panel):
    assert panel.objectName() == "runsPanel"
    for name in ("runsTable", "runsLossPlot", "runsMetricsTable", "exportRunsButton"):
        assert panel.findChild(QWidget, name) is not None, name


def _click_checkbox(qtbot, table: QTableView, row: int) -> None:
    """Click the checkbox of ``row`` as a user does (the check indicator at the cell's left)."""
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + 12, rect.center().y()))


def test_lstm_against_gru_overlays_curves_and_metrics(panel, qtbot, airline_runs):
    lstm, gru = airline_runs[0], airline_runs[1]
    panel.set_runs(airline_runs)
    table = panel.findChild(QTableView, "runsTable")
    model = table.model()
    assert model.rowCount() == 3
    params = RUN_COLUMNS.index("params")
    assert [model.index(r, params).data() for r in range(3)] == [str(LSTM_PARAMS), str(GRU_PARAMS),
                                                                 str(LSTM_PARAMS)]
    assert [model.index(r, RUN_COLUMNS.index("data")).data() for r in range(3)] == \
        ["airline-passengers.csv → Passengers"] * 3
    # tick LSTM and GRU by clicking their checkboxes like a user
    for row in (0, 1):
        if model.index(row, 0).data(Qt.ItemDataRole.CheckStateRole) != Qt.CheckState.Checked:
            _click_checkbox(qtbot, table, row)
    _click_checkbox(qtbot, table, 2)
    assert [r["id"] for r in panel.selected_runs()] == [lstm["id"], gru["id"]]

    curves = panel.curve_data()
    assert set(curves) == {(lstm["id"], "train"), (gru["id"], "train")}  # no validation split
    for run in (lstm, gru):
        epochs, losses = curves[(run["id"], "train")]
        np.testing.assert_array_equal(epochs, [1, 2])
        np.testing.assert_allclose(losses, [h["train_loss"] for h in run["history"]])
    plot_items = panel.findChild(QWidget, "runsLossPlot").getPlotItem().listDataItems()
    assert len(plot_items) == 2
    pens = {item.opts["pen"].color().name() for item in plot_items}
    assert len(pens) == 2  # one colour per run

    metrics = panel.findChild(QTableWidget, "runsMetricsTable")
    assert metrics.columnCount() == 2  # two different models: no seed group
    assert _row(metrics, "total params") == [str(LSTM_PARAMS), str(GRU_PARAMS)]
    rmse = _row(metrics, "test RMSE")
    assert rmse == [f"{lstm['metrics']['test']['rmse']:.4g}", f"{gru['metrics']['test']['rmse']:.4g}"]
    naive = lstm["metrics"]["test"]["baselines"]["naive"]["rmse"]
    assert _row(metrics, "test RMSE (naive baseline)")[0] == f"{naive:.4g}"


def test_seed_group_gets_a_mean_column(panel, airline_runs):
    lstm0, gru, lstm1 = airline_runs
    panel.set_runs(airline_runs)
    panel.set_checked([lstm0["id"], gru["id"], lstm1["id"]])
    metrics = panel.findChild(QTableWidget, "runsMetricsTable")
    header = metrics.horizontalHeaderItem(3).text()
    assert metrics.columnCount() == 4 and header.endswith("mean ± std (n=2)") and header.startswith("LSTM(4)")
    values = np.array([lstm0["metrics"]["test"]["rmse"], lstm1["metrics"]["test"]["rmse"]])
    expected = f"{values.mean():.4g} ± {values.std(ddof=1):.4g}"
    assert _column(metrics, header)[_labels(metrics).index("test RMSE")] == expected
    assert _column(metrics, header)[_labels(metrics).index("total params")] == f"{LSTM_PARAMS} ± 0"


def _labels(table: QTableWidget) -> list[str]:
    return [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]


def test_buttons_emit_the_highlighted_run(panel, qtbot, airline_runs):
    panel.set_runs(airline_runs)
    table = panel.findChild(QTableView, "runsTable")
    restore = panel.findChild(QPushButton, "restoreRunButton")
    resume = panel.findChild(QPushButton, "continueRunButton")
    table.setCurrentIndex(table.model().index(1, 1))  # the GRU run kept no weights
    assert restore.isEnabled() and not resume.isEnabled()
    with qtbot.waitSignal(panel.restoreRequested) as signal:
        qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)
    assert signal.args[0]["id"] == airline_runs[1]["id"]
    table.setCurrentIndex(table.model().index(0, 1))
    assert resume.isEnabled()
    with qtbot.waitSignal(panel.continueRequested) as signal:
        qtbot.mouseClick(resume, Qt.MouseButton.LeftButton)
    assert signal.args[0]["id"] == airline_runs[0]["id"]


def test_export_and_delete(panel, qtbot, airline_runs, tmp_path):
    panel.set_runs(airline_runs)
    panel.set_checked([airline_runs[0]["id"], airline_runs[1]["id"]])
    path = tmp_path / "runs.csv"
    panel.export_csv(str(path))
    frame = pd.read_csv(path)
    assert frame["run_id"].unique().tolist() == [airline_runs[0]["id"], airline_runs[1]["id"]]
    assert frame.groupby("run_id", sort=False)["total_params"].first().tolist() == [LSTM_PARAMS, GRU_PARAMS]

    with qtbot.waitSignal(panel.runDeleted) as signal:
        panel.delete_run(airline_runs[1])
    assert signal.args[0]["id"] == airline_runs[1]["id"]
    assert [r["id"] for r in panel.runs()] == [airline_runs[0]["id"], airline_runs[2]["id"]]
    assert [r["id"] for r in panel.selected_runs()] == [airline_runs[0]["id"]]  # ticks survive
    assert list(panel.curve_data()) == [(airline_runs[0]["id"], "train")]


def test_new_runs_join_the_comparison(panel, airline_runs):
    panel.set_runs(airline_runs[:1])
    assert [r["id"] for r in panel.selected_runs()] == [airline_runs[0]["id"]]  # the newest
    panel.set_checked([])
    panel.set_runs(airline_runs[:2])  # a run was trained: it is ticked, the unticked stays so
    assert [r["id"] for r in panel.selected_runs()] == [airline_runs[1]["id"]]
    panel.set_runs([])
    panel.set_runs(airline_runs)  # a project opened: only its newest run
    assert [r["id"] for r in panel.selected_runs()] == [airline_runs[2]["id"]]


def test_empty_history(panel):
    panel.set_runs([])
    assert panel.selected_runs() == [] and panel.curve_data() == {}
    assert not panel.findChild(QPushButton, "exportRunsButton").isEnabled()
    assert not panel.findChild(QPushButton, "continueRunButton").isEnabled()


def test_validation_curve_is_dashed_in_the_runs_colour(panel):
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.5 / e} for e in (1, 2, 3)]
    runs = [{"id": rid, "name": rid, "history": history, "metrics": {}} for rid in ("a", "b")]
    panel.set_runs(runs)
    panel.set_checked(["a", "b"])
    curves = panel._curves
    assert set(curves) == {("a", "train"), ("a", "val"), ("b", "train"), ("b", "val")}
    for rid in ("a", "b"):
        train_pen, val_pen = curves[(rid, "train")].opts["pen"], curves[(rid, "val")].opts["pen"]
        assert train_pen.color() == val_pen.color()
        assert train_pen.style() == Qt.PenStyle.SolidLine and val_pen.style() == Qt.PenStyle.DashLine
    assert curves[("a", "train")].opts["pen"].color() != curves[("b", "train")].opts["pen"].color()
    np.testing.assert_allclose(panel.curve_data()[("b", "val")][1], [1.5, 0.75, 0.5])
    legend = panel.loss_plot.getPlotItem().legend  # one entry per run; the title says dashed is validation
    assert sorted(label.text for _sample, label in legend.items) == ["a", "b"]


def _fake_run(rid: str, *, data: str, loss: str, number: int, metric: dict | None = None) -> dict:
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": None} for e in (1, 2)]
    return {"id": rid, "number": number, "name": f"run {number}: {rid}", "source": "csv-series",
            "data_options": {"path": f"{data}.csv"}, "history": history,
            "data": {"source": "csv-series", "file": f"{data}.csv", "target": "y", "hash": data},
            "model": {"layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}]},
            "train": {"loss": loss, "seed": 0}, "metrics": {"test": metric or {"rmse": 1.0}}}


def test_runs_on_other_data_are_filtered_grouped_and_flagged(panel, qtbot):
    runs = [_fake_run("a1", data="airline", loss="mse", number=1),
            _fake_run("i1", data="imdb", loss="bce", number=2, metric={"accuracy": 0.8}),
            _fake_run("s1", data="shampoo", loss="mse", number=3),
            _fake_run("a2", data="airline", loss="mse", number=4)]
    panel.set_runs(runs)
    combo = panel.findChild(QComboBox, "runsDataFilter")
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "all data (4 runs)", "airline.csv → y (2 runs)", "imdb.csv → y (1 run)", "shampoo.csv → y (1 run)"]
    # grouping: the data column sorts the airline runs together
    panel.findChild(QCheckBox, "runsGroupByData").setChecked(True)
    assert [r["id"] for r in panel.shown_runs()] == ["a1", "a2", "i1", "s1"]
    panel.findChild(QCheckBox, "runsGroupByData").setChecked(False)
    assert [r["id"] for r in panel.shown_runs()] == ["a1", "i1", "s1", "a2"]

    # airline (MSE) and IMDB (BCE) ticked: never one loss axis, and the note says why
    panel.set_checked(["a1", "i1"])
    axes = panel.loss_axes()
    assert set(axes) == {"mse", "bce"} and axes["mse"] is not axes["bce"]
    assert axes["bce"].isVisible()
    on_mse = {id(c) for c in axes["mse"].getPlotItem().listDataItems()}
    assert id(panel._curves[("a1", "train")]) in on_mse and id(panel._curves[("i1", "train")]) not in on_mse
    note = panel.findChild(QLabel, "runsComparisonNote")
    assert note.isVisible() and "different data" in note.text() and "different losses" in note.text()
    metrics = panel.findChild(QTableWidget, "runsMetricsTable")
    assert _row(metrics, "data") == ["airline.csv → y", "imdb.csv → y"]

    # choose airline only: the IMDB run leaves the comparison and the table
    combo.setCurrentIndex(1)
    assert [r["id"] for r in panel.shown_runs()] == ["a1", "a2"]
    assert [r["id"] for r in panel.selected_runs()] == ["a1"]
    assert set(panel.loss_axes()) == {"mse"} and not note.isVisible()
    assert not panel.findChild(QWidget, "runsLossPlot2").isVisible()


def test_five_hundred_runs_draw_curves_only_for_ticked_ones(panel):
    runs = [_fake_run(f"r{i}", data=("airline", "shampoo")[i % 2], loss="mse", number=i + 1)
            for i in range(500)]
    panel.set_runs(runs)
    assert panel.findChild(QTableView, "runsTable").model().rowCount() == 500
    assert list(panel.curve_data()) == [("r499", "train")]  # the newest only
    panel.set_checked(["r1", "r3", "r5"])
    assert len(panel.curve_data()) == 3
    panel.set_data_filter("airline")
    assert len(panel.shown_runs()) == 250 and panel.curve_data() == {}  # the ticked were shampoo runs


def test_a_new_run_is_an_inserted_row_and_a_deleted_one_a_removed_row(panel, qtbot):
    """With hundreds of runs a reset re-reads the whole table and loses the view's place."""
    runs = [_fake_run(f"r{i}", data=("airline", "shampoo")[i % 2], loss="mse", number=i + 1)
            for i in range(300)]
    panel.set_runs(runs)
    model = panel.table_model
    table = panel.findChild(QTableView, "runsTable")
    table.sortByColumn(RUN_COLUMNS.index("run"), Qt.SortOrder.DescendingOrder)  # newest on top
    panel.set_current_run("r150")
    events: list[str] = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.rowsInserted.connect(lambda _parent, first, last: events.append(f"inserted {first}-{last}"))
    model.rowsRemoved.connect(lambda _parent, first, last: events.append(f"removed {first}-{last}"))

    fresh = _fake_run("r300", data="airline", loss="mse", number=301)
    panel.set_runs([*runs, fresh])
    assert events == ["inserted 300-300"]
    assert [r["id"] for r in panel.shown_runs()][:2] == ["r300", "r299"]  # the sort still holds
    assert panel.current_run()["id"] == "r150"  # and the highlighted row
    assert fresh["id"] in {r["id"] for r in panel.selected_runs()}  # a new run joins the comparison

    events.clear()
    panel.delete_run(runs[10])
    assert events == [f"removed {300 - 10}-{300 - 10}"]  # row of r10 when newest is first
    assert "r10" not in [r["id"] for r in panel.runs()] and panel.current_run()["id"] == "r150"
    combo = panel.findChild(QComboBox, "runsDataFilter")
    assert combo.itemText(0) == "all data (300 runs)"  # the counts follow, the box is not refilled

    events.clear()
    panel.set_runs(runs[:5])  # another project: a reset
    assert events == ["reset"]


def test_the_legend_of_many_ticked_runs_stays_inside_the_plot(panel, qtbot):
    """Twenty curves' names ran off the bottom of the plot: the legend spreads over columns."""
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.5 / e} for e in range(1, 21)]
    runs = [{"id": f"r{i}", "name": f"run {i}: LSTM(4) seed {i}", "history": history, "metrics": {}}
            for i in range(10)]
    panel.resize(1280, 760)
    panel.set_runs(runs)
    panel.set_checked([r["id"] for r in runs])
    qtbot.waitUntil(lambda: panel.loss_plot.isVisible())
    item = panel.loss_plot.getPlotItem()
    legend = item.legend
    assert sorted(label.text for _sample, label in legend.items) == sorted(f"run {i}" for i in range(10))
    assert legend.columnCount > 1
    qtbot.waitUntil(lambda: item.vb.sceneBoundingRect().contains(legend.sceneBoundingRect()), timeout=2_000)
