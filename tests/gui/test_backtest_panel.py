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
    assert quick_panel.status.text().startswith("done: 2 folds in ")
    assert quick_panel.progress.value() == quick_panel.progress.maximum()  # a full bar when done
    assert window.isWindowModified()


def test_a_backtest_duration_reads_in_the_unit_it_needs():
    from seqstudio.gui.backtest_panel import _duration

    assert (_duration(0.00093), _duration(0.25), _duration(12.34)) == ("0.9 ms", "0.2 s", "12.3 s")


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


def test_a_long_series_under_the_folds_is_drawn_with_the_long_series_pens(qtbot):
    import numpy as np
    import pandas as pd

    from seqstudio.core.forecast.backtest import BacktestResult
    from seqstudio.core.forecast.scores import METRICS
    from seqstudio.gui import plots
    from seqstudio.gui.backtest_panel import BacktestPanel

    panel = BacktestPanel(lambda: None)
    qtbot.addWidget(panel)
    times = pd.date_range("2000-01-01", periods=5000, freq="D").strftime("%Y-%m-%d").tolist()
    values = np.sin(np.arange(5000) / 30.0)
    folds = [(4900, 4903), (4950, 4953)]
    per_fold = {m: [0.5, 0.6] for m in METRICS}
    summary = {m: {"mean": 0.55, "std": 0.05} for m in METRICS}
    result = BacktestResult(
        plan={"horizon": 3, "stride": 1}, season=7, strategy="recursive", model_horizon=1,
        target_columns=["y"], origins=[a for a, _ in folds], origin_times=[times[a] for a, _ in folds],
        times=[times[a:b] for a, b in folds], actual=np.stack([values[a:b, None] for a, b in folds]),
        forecasts={"model": np.stack([values[a:b, None] + 0.1 for a, b in folds])},
        scale=np.ones(1), scale2=np.ones(1),
        scores={"model": {"per_step": {"mase": [0.4, 0.5, 0.6]}, "per_fold": per_fold, "summary": summary}})
    panel.show_result(result, series=(times, values))
    curves = {c.name(): c for c in panel.series_plot.getPlotItem().listDataItems() if c.name()}
    series, forecast = curves["series"], curves["model forecast"]
    # the long series: one pixel, peak-downsampled, clipped to the view, as in the other plots
    assert series.opts["pen"].widthF() <= 1 and series.opts["autoDownsample"]
    assert series.opts["downsampleMethod"] == "peak" and series.opts["clipToView"]
    assert series.opts["autoDownsampleFactor"] == plots.DOWNSAMPLE_FACTOR
    assert forecast.opts["pen"].widthF() == 2  # three points: the wide pen stays


def test_a_project_opened_with_a_kept_backtest_shows_it_and_another_project_clears_it(
        window, registry, qtbot, tmp_path):
    """The Backtest view follows the project: its kept backtest is drawn when it opens (not an
    empty view), and a project without one leaves no stale folds behind."""
    from seqstudio.core.forecast import BacktestFinished, BacktestPlan, run_backtest
    from seqstudio.core.forecast.backtest import record_in_project
    from seqstudio.core.project import Project

    project = Project.from_preset("airline-lstm")
    data = project.prepare_data(registry)
    project.set_weights(project.build_model(data, registry))
    result = [e for e in run_backtest(project, registry, BacktestPlan(folds=3, horizon=4, retrain=0))
              if isinstance(e, BacktestFinished)][0].result
    record_in_project(project, result)
    project.save(tmp_path / "kept.json")
    Project.from_preset("airline-lstm").save(tmp_path / "plain.json")

    assert window.open_project(tmp_path / "kept.json")
    panel = window.backtest_panel
    qtbot.waitUntil(lambda: panel.result is not None, timeout=30_000)
    assert panel.result.origins == result.origins
    assert panel.fold_table.rowCount() == 3 + 2  # three folds, mean, std
    assert "seasonal naive on MASE" in panel.verdict_label.text()
    drawn = panel.series_plot.getPlotItem().listDataItems()
    assert len(drawn) == 1 + 2 * 3  # the series, then each fold's actual values and forecast

    assert window.open_project(tmp_path / "plain.json")
    qtbot.waitUntil(lambda: window.data is not None, timeout=30_000)
    assert panel.result is None and panel.fold_table.rowCount() == 0
    assert panel.verdict_label.text() == "" and not panel.series_plot.getPlotItem().listDataItems()
