"""The four benchmark forecasts of FPP (Hyndman & Athanasopoulos, *Forecasting: Principles
and Practice*, section 5.2) and the season length they use.

Each takes the history ``y`` of one fold (rows before the origin, ``(n, T)``
in original units) and returns the next ``horizon`` values ``(horizon, T)``:

- ``naive``: the last value, ``y_T``;
- ``seasonal_naive``: the value one season earlier, ``y_{T+h-m(k+1)}`` with
  ``k = (h-1) // m``;
- ``drift``: the line through the first and last values,
  ``y_T + h (y_T - y_1) / (T - 1)``;
- ``mean``: the mean of the history.

>>> y = np.array([[1.0], [2.0], [4.0]])
>>> naive(y, 2).ravel().tolist(), drift(y, 2).ravel().tolist(), mean(y, 1).ravel().tolist()
([4.0, 4.0], [5.5, 7.0], [2.3333333333333335])
>>> seasonal_naive(np.arange(6.0)[:, None], 4, season=3).ravel().tolist()
[3.0, 4.0, 5.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Season length by the time step a series was read with (FPP's usual choices).
SEASON_BY_STEP = {"monthly": 12, "quarterly": 4, "weekly": 52, "daily": 7, "hourly": 24,
                  "minutely": 60}


def season_for_step(step: str | None) -> int:
    """The usual season length of a time step; 1 (no season) when unknown.

    >>> season_for_step("monthly"), season_for_step("weekly"), season_for_step("index")
    (12, 52, 1)
    """
    return SEASON_BY_STEP.get(step or "", 1)


def naive(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    return np.repeat(y[-1:], horizon, axis=0)


def seasonal_naive(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    m = max(1, int(season))
    if len(y) < m:
        return np.full((horizon, y.shape[1]), np.nan)
    h = np.arange(1, horizon + 1)
    return y[len(y) + h - 1 - m * ((h - 1) // m + 1)]


def drift(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    if len(y) < 2:
        return naive(y, horizon)
    slope = (y[-1] - y[0]) / (len(y) - 1)
    return y[-1] + np.arange(1, horizon + 1)[:, None] * slope


def mean(y: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    return np.repeat(y.mean(axis=0, keepdims=True), horizon, axis=0)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "naive": naive, "seasonal_naive": seasonal_naive, "drift": drift, "mean": mean}
#: How each forecaster is named to users.
LABELS = {"model": "model", "naive": "naive", "seasonal_naive": "seasonal naive", "drift": "drift",
          "mean": "mean", "ets": "ETS (auto)", "arima": "ARIMA (auto)"}


def fold_baselines(values: np.ndarray, starts: np.ndarray, origins: np.ndarray, horizon: int,
                   season: int, names=tuple(BASELINES)) -> dict[str, np.ndarray]:
    """Every fold's baseline forecasts at once, ``(K, horizon, T)`` each.

    Fold ``k``'s history is ``values[starts[k]:origins[k]]``; the result equals
    calling the functions above on each history (cumulative sums instead of a
    loop over folds).
    """
    starts, origins = np.asarray(starts, np.int64), np.asarray(origins, np.int64)
    lengths = origins - starts
    h = np.arange(1, horizon + 1)
    last = values[origins - 1]                                        # (K, T)
    out: dict[str, np.ndarray] = {}
    if "naive" in names:
        out["naive"] = np.repeat(last[:, None], horizon, axis=1)
    if "seasonal_naive" in names:
        m = max(1, int(season))
        rows = origins[:, None] + (h - 1 - m * ((h - 1) // m + 1))        # (K, H)
        short = lengths < m  # (a history shorter than a season has no seasonal naive forecast)
        if short.any():
            snaive = values[np.maximum(rows, 0)]
            snaive[short] = np.nan
        else:
            snaive = values[rows]
        out["seasonal_naive"] = snaive
    if "drift" in names:
        slope = (last - values[starts]) / np.maximum(lengths - 1, 1)[:, None]
        out["drift"] = last[:, None] + h[None, :, None] * slope[:, None]
    if "mean" in names:
        sums = np.empty((len(values) + 1, values.shape[1]))
        sums[0] = 0.0
        np.cumsum(values, axis=0, out=sums[1:])
        means = (sums[origins] - sums[starts]) / lengths[:, None]
        out["mean"] = np.repeat(means[:, None], horizon, axis=1)
    return out
