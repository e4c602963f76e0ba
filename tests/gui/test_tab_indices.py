"""The tab constants that screenshots and tests use name the tabs they say."""

from __future__ import annotations

from seqstudio.gui import main_window as mw


def test_each_tab_constant_points_at_its_tab(window):
    labels = {mw.TAB_DATA: "Data", mw.TAB_MODEL: "Model", mw.TAB_TRAIN: "Train",
              mw.TAB_RESULTS: "Results", mw.TAB_BACKTEST: "Backtest", mw.TAB_RUNS: "Runs"}
    assert window.tabs.count() == len(labels)
    for index, label in labels.items():
        assert window.tabs.tabText(index).replace("&", "") == label
