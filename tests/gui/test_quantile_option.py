"""The pinball loss in the window: chosen in the Train tab, it trains a quantile model whose
median is the forecast shown and whose Backtest bands are the model's own quantiles."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QComboBox

RUN_TIMEOUT_MS = 60_000


def test_the_pinball_loss_trains_a_quantile_model_from_the_train_tab(qtbot, window):
    form = window.train_panel.form
    loss = form.findChild(QComboBox, "option_loss")
    assert loss.findText("pinball") >= 0
    assert not form.widget("quantile_intervals").isEnabled()      # the pinball loss's alone
    loss.setCurrentIndex(loss.findText("pinball"))
    assert form.widget("quantile_intervals").isEnabled()
    assert window.document.train["loss"] == "pinball"
    form.set_values({"epochs": 2})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        window.train_panel.train_button.click()
    model = window.document.model
    assert model.quantiles == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert window.project.weights["layers.1.weight"].shape[0] == 5   # Dense(1) x 5 quantiles
    assert window.project.model["layers"][-1]["units"] == 1          # the stack as written
    # the forecast the Results show is the median of the sorted quantiles
    from seqstudio.core.train.evaluate import predict

    data = window.document.data
    x, _ = data.split("test")
    wide = predict(model, x, all_quantiles=True).reshape(len(x), 1, 5)
    np.testing.assert_allclose(predict(model, x), np.sort(wide, axis=-1)[:, :, 2])


def test_the_backtest_view_draws_the_quantile_bands(qtbot, window):
    from seqstudio.core.forecast.backtest import BacktestResult

    k, h = 3, 2
    actual = np.arange(k * h, dtype=float).reshape(k, h, 1) + 10
    lower, upper = actual - 1, actual + 2
    result = BacktestResult(
        plan={"horizon": h, "stride": 1, "retrain": 0, "window": "expanding"}, season=12,
        strategy="recursive", model_horizon=1, target_columns=["y"], origins=[5, 6, 7],
        origin_times=["2000-06-01", "2000-07-01", "2000-08-01"],
        times=[["2000-06-01", "2000-07-01"], ["2000-07-01", "2000-08-01"], ["2000-08-01", "2000-09-01"]],
        actual=actual, forecasts={"model": actual + 0.5}, scale=np.ones(k), scale2=np.ones(k),
        scores={"model": {"per_fold": {m: [1.0] * k for m in ("rmse", "mae", "mape", "smape", "mase",
                                                                 "rmsse")},
                          "summary": {m: {"mean": 1.0, "std": 0.0} for m in ("rmse", "mae", "mape",
                                                                                "smape", "mase", "rmsse")},
                          "per_step": {"mase": [1.0] * h}}},
        intervals={"method": "quantile", "levels": [80.0], "lower": {"80": lower}, "upper": {"80": upper},
                   "coverage": {"80": {"covered": 6, "n": 6, "rate": 1.0, "folds": 3}},
                   "conformal_coverage": {"80": {"covered": 0, "n": 0, "rate": None, "folds": 0}}})
    panel = window.backtest_panel
    panel.show_result(result)
    fills = [item for item in panel.series_plot.getPlotItem().items
             if type(item).__name__ == "FillBetweenItem"]
    assert len(fills) == k
    assert "the model's own quantiles" in panel.verdict_label.text()


def test_the_pinball_loss_needs_a_dense_at_the_end_and_train_says_so(qtbot, window):
    from seqstudio.core.model.layers import LSTM

    window.train_panel.form.set_values({"loss": "pinball"})
    assert window.document.train["loss"] == "pinball"
    check = window.document.check
    assert check.valid and check.summary.rows[-1].output_shape == (5,)  # the model that is built
    window.document.set_model_spec(type(window.document.model_spec)([LSTM(1)]))  # 1 output, no Dense
    assert not window.document.check.valid and "ends in LSTM" in window.document.check.reason
    assert not window.train_panel.train_button.isEnabled()
    window.train_panel.form.set_values({"loss": "mse"})
    assert "ends in LSTM" not in (window.document.check.reason or "")
