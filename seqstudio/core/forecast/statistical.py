"""Automatic ETS and ARIMA as strong baselines, from statsmodels (the optional ``forecast`` extra).

A forecaster who does not reach for a network would fit one of these, so a
backtest puts them in the same folds:

- ``ets``: exponential smoothing state-space models (statsmodels ``ETSModel``),
  additive errors, trend none / additive / damped, season none / additive /
  multiplicative (multiplicative only for positive data), the one with the
  lowest AICc wins (FPP 8.6's automatic selection, restricted to additive errors);
- ``arima``: differences chosen as Hyndman & Khandakar (2008) choose them
  (``d`` from repeated KPSS tests, ``D = 1`` when the seasonal strength of an
  STL decomposition exceeds 0.64, as R's ``nsdiffs``), then the lowest AICc of
  four small orders: (0,d,1)(0,D,1) (the airline model), (1,d,0)(1,D,0),
  (1,d,1)(0,D,1) and (2,d,0). A full stepwise search costs ten times more
  fits for little gain on the series tried.

A model is *fitted* (orders and parameters chosen) on the history before a
fold's training cutoff; later origins of the same training group reuse those
parameters, only filtering the newer data through them, exactly as the
network is retrained (or not). Long histories are fitted on their last
:data:`MAX_FIT_ROWS` rows to bound the cost.

statsmodels was chosen over statsforecast because it installs here with scipy
alone; statsforecast pulls pyarrow and fugue and pins pandas below 3.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

STATISTICAL = ("ets", "arima")
MAX_FIT_ROWS = 400


def unavailable_reason() -> str | None:
    """None when statsmodels can be imported, else what to install."""
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        return "ETS and ARIMA need statsmodels: pip install 'seqstudio[forecast]'"
    return None


def _aicc(res) -> float:
    value = getattr(res, "aicc", None)
    if value is None or not np.isfinite(value):
        value = getattr(res, "aic", math.inf)
    return float(value) if value is not None and np.isfinite(value) else math.inf


class _Fitted:
    """A selected model: ``forecast(history, horizon)`` with the fitted parameters kept fixed."""

    def __init__(self, kind: str, spec: dict[str, Any], params: np.ndarray, label: str):
        self.kind, self.spec, self.params, self.label = kind, spec, params, label

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        y = np.asarray(history, dtype=float)[-MAX_FIT_ROWS:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.kind == "ets":
                from statsmodels.tsa.exponential_smoothing.ets import ETSModel

                res = ETSModel(y, **self.spec).smooth(self.params)
            else:
                from statsmodels.tsa.statespace.sarimax import SARIMAX

                res = SARIMAX(y, **self.spec).filter(self.params)
            return np.asarray(res.forecast(horizon), dtype=float)


def fit_ets(y: np.ndarray, season: int) -> _Fitted:
    """The automatic ETS model of one column, fitted on ``y``."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = np.asarray(y, dtype=float)[-MAX_FIT_ROWS:]
    seasons: list[str | None] = [None]
    if season > 1 and len(y) >= 2 * season + 2:
        seasons += ["add"] + (["mul"] if (y > 0).all() else [])
    best: tuple[float, _Fitted] | None = None
    for trend, damped in ((None, False), ("add", False), ("add", True)):
        for seasonal in seasons:
            spec = {"error": "add", "trend": trend, "damped_trend": damped, "seasonal": seasonal,
                    "seasonal_periods": season if seasonal else None}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = ETSModel(y, **spec).fit(disp=False)
            except Exception:  # noqa: BLE001 - a configuration that cannot fit this series is skipped
                continue
            label = f"ETS(A,{'N' if not trend else ('Ad' if damped else 'A')}," \
                    f"{ {None: 'N', 'add': 'A', 'mul': 'M'}[seasonal]})"
            score = _aicc(res)
            if best is None or score < best[0]:
                best = (score, _Fitted("ets", spec, np.asarray(res.params), label))
    if best is None:
        raise ValueError("no ETS model could be fitted")
    return best[1]


def _ndiffs(y: np.ndarray, max_d: int = 2) -> int:
    from statsmodels.tsa.stattools import kpss

    d = 0
    x = y
    while d < max_d and len(x) > 10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, p_value, *_ = kpss(x, regression="c", nlags="auto")
        if p_value >= 0.05:
            break
        x = np.diff(x)
        d += 1
    return d


def _nsdiffs(y: np.ndarray, season: int) -> int:
    if season <= 1 or len(y) < 2 * season + 2:
        return 0
    from statsmodels.tsa.seasonal import STL

    res = STL(y, period=season, robust=True).fit()
    rest = res.resid
    strength = max(0.0, 1.0 - np.var(rest) / max(np.var(res.seasonal + rest), 1e-12))
    return int(strength > 0.64)


def fit_arima(y: np.ndarray, season: int) -> _Fitted:
    """The automatic (seasonal) ARIMA model of one column, fitted on ``y``."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.asarray(y, dtype=float)[-MAX_FIT_ROWS:]
    m = season if season > 1 else 0
    big_d = _nsdiffs(y, season) if m else 0
    x = y[m * big_d:] - y[:-m * big_d] if big_d else y
    d = _ndiffs(x, 2 - big_d if big_d else 2)
    seasonal = (1 if m else 0)
    candidates = [(0, 1, 0, seasonal), (1, 0, seasonal, 0), (1, 1, 0, seasonal), (2, 0, 0, 0)]
    best: tuple[float, _Fitted] | None = None
    for p, q, sp, sq in dict.fromkeys(candidates):
        spec = {"order": (p, d, q), "seasonal_order": (sp, big_d, sq, m) if m else (0, 0, 0, 0),
                "trend": "c" if d + big_d == 0 else "n"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # estimated on the differenced series (several times faster), then forecast by the
                # full state-space model with the same parameters, which undoes the differencing
                res = SARIMAX(y, simple_differencing=True, **spec).fit(disp=False, maxiter=50)
        except Exception:  # noqa: BLE001 - an order that cannot fit is skipped
            continue
        score = _aicc(res)
        if best is None or score < best[0]:
            label = f"ARIMA({p},{d},{q})" + (f"({sp},{big_d},{sq})[{m}]" if m else "")
            best = (score, _Fitted("arima", spec, np.asarray(res.params), label))
    if best is None:
        raise ValueError("no ARIMA model could be fitted")
    return best[1]


FITTERS = {"ets": fit_ets, "arima": fit_arima}


def fit_and_forecast(kind: str, history: np.ndarray, forecast_from: list[np.ndarray], horizon: int,
                     season: int) -> tuple[list[np.ndarray], list[str]]:
    """Fit ``kind`` per column on ``history`` ``(n, T)``; forecast from each history in
    ``forecast_from`` (each ``(n_i, T)``, extending it). Returns ``(H, T)`` arrays and the labels."""
    n_targets = history.shape[1]
    fitted = [FITTERS[kind](history[:, t], season) for t in range(n_targets)]
    out = []
    for h in forecast_from:
        out.append(np.stack([fitted[t].forecast(h[:, t], horizon) for t in range(n_targets)], axis=1))
    return out, [f.label for f in fitted]
