"""Prediction intervals on a future forecast, from the project's backtest residuals.

The bands come from the backtest kept in the project when it reaches far
enough ahead and has the levels asked for; otherwise a never-retrain
backtest of the project's trained model over every origin of its test part
calibrates them (quick: one batched pass per step ahead).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.forecast.backtest import BacktestFinished, run_backtest
from seqstudio.core.forecast.folds import BacktestPlan
from seqstudio.core.forecast.intervals import as_array
from seqstudio.core.forecast.quantiles import future_bands
from seqstudio.core.model.quantiles import train_quantiles


def _stored_quantiles(project, steps: int, levels) -> dict[str, np.ndarray] | None:
    stored = (project.results or {}).get("backtest")
    if not stored or stored.get("plan", {}).get("horizon", 0) < steps:
        return None
    quantiles = stored.get("intervals", {}).get("quantiles", {})
    keys = [f"{level:g}" for level in levels]
    if not all(k in quantiles for k in keys):
        return None
    return {k: as_array(quantiles[k])[:steps] for k in keys}


def interval_quantiles(project, registry, steps: int, levels) -> tuple[dict[str, np.ndarray], str]:
    """Half-widths ``{level: (steps, T)}`` and a sentence saying where they come from."""
    found = _stored_quantiles(project, steps, levels)
    if found is not None:
        n = project.results["backtest"]["intervals"].get("calibration_folds")
        return found, f"intervals: split-conformal from the project's backtest ({n} folds)"
    result = None
    try:
        for event in run_backtest(project, registry, BacktestPlan(folds=None, horizon=steps, retrain=0),
                                  levels=levels, baselines=()):
            if isinstance(event, BacktestFinished):
                result = event.result
    except SeqStudioError as exc:
        raise SeqStudioError(f"cannot calibrate intervals {steps} steps ahead: {exc.what}",
                             where=exc.where,
                             fix="forecast fewer steps, or run seqstudio backtest --project FILE "
                                 f"--horizon {steps} first (its result is kept in the project)") from None
    assert result is not None
    out = {f"{level:g}": np.asarray(result.intervals["quantiles"][f"{level:g}"], float) for level in levels}
    return out, (f"intervals: split-conformal from a never-retrain backtest over {len(result.origins)} "
                 "origins of the test part")


def add_intervals(project, registry, table, levels) -> tuple[Any, str]:
    """``table`` (``predict_project``'s forecast) with ``lower_L`` / ``upper_L`` columns per target."""
    targets = [c for c in table.columns if c != "time"]
    table = table.copy()
    if train_quantiles(project.train):  # a pinball-trained model: its own quantiles
        for key, (low, high) in future_bands(project, registry, len(table), levels).items():
            for t, name in enumerate(targets):
                prefix = "" if len(targets) == 1 else f"{name}_"
                table[f"{prefix}lower_{key}"], table[f"{prefix}upper_{key}"] = low[:, t], high[:, t]
        learned = ", ".join(f"{q:g}" for q in train_quantiles(project.train) or ())
        return table, f"intervals: the model's own quantiles ({learned}; pinball loss)"
    quantiles, how = interval_quantiles(project, registry, len(table), levels)
    for key, q in quantiles.items():
        for t, name in enumerate(targets):
            prefix = "" if len(targets) == 1 else f"{name}_"
            width = q[:, t] if q.ndim == 2 else q
            table[f"{prefix}lower_{key}"] = table[name].to_numpy() - width
            table[f"{prefix}upper_{key}"] = table[name].to_numpy() + width
    return table, how
