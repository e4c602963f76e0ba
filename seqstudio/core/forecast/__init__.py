"""Forecasting you can judge: rolling-origin backtests, baselines, scaled errors, intervals.

- :mod:`.folds`: the plan (folds, horizon, stride, window, retraining) and its origins;
- :mod:`.backtest`: :func:`run_backtest`, batched forecasts from many origins, fold retraining
  in worker processes, :class:`BacktestResult`;
- :mod:`.baselines`: FPP's naive, seasonal naive, drift and mean forecasts, season lengths;
- :mod:`.statistical`: automatic ETS and ARIMA (statsmodels, optional);
- :mod:`.scores`: RMSE, MAE, MAPE, sMAPE, MASE, RMSSE per fold and per step, verdicts;
- :mod:`.intervals`: split-conformal bands per step ahead and their held-out coverage.
"""

from seqstudio.core.forecast.backtest import (
    BacktestFinished,
    BacktestProgress,
    BacktestResult,
    forecast_origins,
    run_backtest,
)
from seqstudio.core.forecast.folds import BacktestPlan, Fold, parse_retrain
from seqstudio.core.forecast.intervals import parse_levels

__all__ = ["BacktestPlan", "Fold", "parse_retrain", "parse_levels", "run_backtest",
           "forecast_origins", "BacktestProgress", "BacktestFinished", "BacktestResult"]
