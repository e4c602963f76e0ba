"""The tab constants that screenshots and tests use name the tabs they say."""

from __future__ import annotations

from seqstudio.gui import main_window as mw


def test_each_tab_constant_points_at_its_tab(window):
    labels = {mw.TAB_DATA: "Data", mw.TAB_MODEL: "Model", mw.TAB_TRAIN: "Train",
              mw.TAB_RESULTS: "Results", mw.TAB_RUNS: "Runs", mw.TAB_EXPERIMENTS: "Experiments",
              mw.TAB_INSPECT: "Inspect"}
    assert window.tabs.count() == len(labels)
    for index, label in labels.items():
        assert window.tabs.tabText(index).replace("&", "") == label


def test_the_backtest_is_a_view_inside_results(window):
    views = window.results_views
    assert window.tabs.widget(mw.TAB_RESULTS) is views
    assert views.widget(mw.RESULTS_FORECAST) is window.results_panel
    assert views.widget(mw.RESULTS_BACKTEST) is window.backtest_panel
    window.show_backtest()
    assert window.tabs.currentIndex() == mw.TAB_RESULTS
    assert views.currentWidget() is window.backtest_panel


def test_text_data_hides_the_backtest_and_names_the_view_predictions(window, data_dir):
    views = window.results_views
    window.show_backtest()
    window.apply_preset("imdb-lstm")
    window.data_panel.set_source("text-csv", {
        **window.data_panel.options(), "path": str(data_dir / "imdb-reviews-train-part1.csv"),
        "max_len": 40})
    assert window.data_panel.wait_ready()
    assert not views.isTabVisible(mw.RESULTS_BACKTEST)
    assert views.currentIndex() == mw.RESULTS_FORECAST
    assert views.tabText(mw.RESULTS_FORECAST) == "Predictions"
    window.apply_preset("airline-lstm")
    assert window.data_panel.wait_ready()
    assert views.isTabVisible(mw.RESULTS_BACKTEST)
    assert views.tabText(mw.RESULTS_FORECAST) == "Forecast"
