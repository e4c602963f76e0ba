"""Forecasting you can judge: rolling-origin backtests, baselines, scaled errors, intervals.

- :mod:`.folds`: the plan (folds, horizon, stride, window, retraining) and its origins;
- :mod:`.backtest`: :func:`run_backtest`, fold retraining in worker processes,
  :class:`BacktestResult`;
- :mod:`.rollout`: the model's batched forecasts from many origins; :mod:`.plain`: a small
  model's forward pass in numpy for them;
- :mod:`.baselines`: FPP's naive, seasonal naive, drift and mean forecasts, season lengths;
- :mod:`.statistical`: automatic ETS and ARIMA (statsmodels, optional);
- :mod:`.scores`: RMSE, MAE, MAPE, sMAPE, MASE, RMSSE per fold and per step, verdicts;
- :mod:`.intervals`: split-conformal bands per step ahead and their held-out coverage.
"""

from typing import TYPE_CHECKING

from seqstudio.core.forecast.folds import BacktestPlan, Fold, parse_retrain
from seqstudio.core.forecast.intervals import parse_levels

if TYPE_CHECKING:
    from seqstudio.core.forecast.backtest import (
        BacktestFinished,
        BacktestProgress,
        BacktestResult,
        forecast_origins,
        run_backtest,
    )

_FROM_BACKTEST = ("BacktestFinished", "BacktestProgress", "BacktestResult", "forecast_origins",
                  "run_backtest")


def __getattr__(name: str):
    # backtest.py needs torch; imported when first used, so that the window's scores and
    # plans (and anything else in this package) load without it
    if name in _FROM_BACKTEST:
        from seqstudio.core.forecast import backtest

        return getattr(backtest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BacktestPlan", "Fold", "parse_retrain", "parse_levels", "run_backtest",
           "forecast_origins", "BacktestProgress", "BacktestFinished", "BacktestResult"]
