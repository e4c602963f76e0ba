"""Prediction intervals from a model's own quantiles (a model trained with the pinball loss).

The default bands of a backtest are split-conformal (:mod:`.intervals`): they
need no assumption about the model, only many folds. A model trained with
``loss = "pinball"`` outputs quantiles of every value it forecasts (see
:mod:`seqstudio.core.model.quantiles`); its bands are then its own lower and
upper quantiles, and they adapt to each origin (wider where the model is less
sure), which a conformal band per step cannot.

From the model's outputs to bands in original units
---------------------------------------------------
Each output's quantiles are sorted (no crossing) and its median is the point
forecast (also the value fed back in a recursive forecast). The transforms are
undone as for the point forecast: the scaler and exp are monotone, so they map
quantiles to quantiles exactly. Differencing is not: the level ``h`` steps ahead
adds up the differences of steps ``h, h - lag, ...``. The median level chains
the median differences (as the point forecast does); each quantile's distance
from its median difference is added to it **in quadrature** along the chain,
``sqrt(sum of squares)``, as if the steps' errors were independent. Steps up to
the lag (step 1 of a lag-1 difference) are exact; later steps are that
approximation. A recursive model's quantiles at step ``h`` are those of its
output at that round, given the medians fed back before it: on a series
without differencing they ignore the uncertainty of the fed-back values, and
bands beyond the model's own horizon are too narrow. ``coverage[level]
["per_step"]`` shows how each step ahead actually did.

Coverage is measured on the backtest's folds: each fold is forecast by a
model trained before its origin (``retrain`` every fold or every K folds), or
by the project's model after its training and validation data (never
retrain), so every fold is held out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from seqstudio.core.errors import DataError
from seqstudio.core.forecast import intervals as I
from seqstudio.core.model.quantiles import (
    level_indices,
    levels_of,
    model_quantiles,
    quantile_spec,
    sorted_quantiles,
    train_quantiles,
)

__all__ = ["check_levels", "fold_spec", "point", "undone", "merge", "quantile_intervals",
           "fold_bands"]


def fold_spec(project, registry):
    """The project's stack as its folds build it: widened for quantile outputs under the pinball loss."""
    return quantile_spec(project.model_spec(registry), train_quantiles(project.train))


def check_levels(train: Mapping[str, Any], levels, flag: str = "--intervals") -> None:
    """Refuse, before any work, interval levels a quantile model has no quantiles for."""
    quantiles = train_quantiles(train)
    if not quantiles:
        return
    learned = levels_of(quantiles)
    missing = [float(level) for level in levels if level_indices(quantiles, level) is None]
    if missing:
        have = ",".join(f"{v:g}" for v in learned)
        both = ",".join(f"{v:g}" for v in sorted({*learned, *missing}))
        raise DataError(f"the model learned the quantiles of the {have} % intervals, not of "
                        f"{', '.join(f'{v:g}' for v in missing)} %", where=flag,
                        fix=f"ask for {flag} {have}, or train with quantile_intervals {both}")


def point(output: Any, model: Any, rounds: list | None) -> Any:
    """One round's point forecast ``(B, n_outputs)`` (numpy or torch): a quantile model's sorted
    median, its sorted quantiles ``(B, n_outputs, Q)`` appended to ``rounds``; else ``output``."""
    quantiles = model_quantiles(model)
    if not quantiles:
        return output
    full = sorted_quantiles(output, len(quantiles))
    if rounds is not None:
        rounds.append(full)
    return full[..., quantiles.index(0.5)]


def undone(transform, scaled: np.ndarray, values: np.ndarray, origins: np.ndarray, model: Any,
           rounds: list, bands: dict | None) -> np.ndarray:
    """``transform.undo`` of the point forecasts ``(B, H, T)``; with ``bands`` (a dict) and
    quantile ``rounds``, ``bands["values"]`` gets every quantile ``(B, H, T, Q)`` in original
    units (see the module docs) and ``bands["quantiles"]`` their levels."""
    median = transform.undo(scaled, values, origins)
    quantiles = model_quantiles(model)
    if bands is None or not quantiles or not rounds:
        return median
    batch, horizon, n_targets = scaled.shape
    full = np.concatenate([np.asarray(r.cpu() if hasattr(r, "cpu") else r, np.float64)
                           .reshape(batch, -1, n_targets, len(quantiles)) for r in rounds], axis=1)
    out = full[:, :horizon] * transform.scale[:, None] + transform.center[:, None]
    if transform.lag:
        offsets = out - out[..., [quantiles.index(0.5)]]
        side = np.sign(np.asarray(quantiles) - 0.5)
        added = np.empty_like(offsets)
        for first in range(min(transform.lag, horizon)):
            chain = offsets[:, first::transform.lag]
            added[:, first::transform.lag] = side * np.sqrt(np.cumsum(chain ** 2, axis=1))
        out = (np.log(median) if transform.log else median)[..., None] + added
    bands.update(quantiles=quantiles, values=np.exp(out) if transform.log else out)
    return median


def merge(total: dict, part: dict, index: list[int], n_folds: int) -> None:
    """Put one fold group's ``bands`` (from :func:`undone`) at its folds' ``index`` in ``total``."""
    if not part:
        return
    if "values" not in total:
        shape = (n_folds, *part["values"].shape[1:])
        total.update(quantiles=part["quantiles"], values=np.full(shape, np.nan))
    total["values"][index] = part["values"]


def _coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, Any]:
    both = np.isfinite(actual) & np.isfinite(lower) & np.isfinite(upper)
    inside = (actual >= lower) & (actual <= upper) & both
    n, covered = int(both.sum()), int(inside.sum())
    per_n, per_in = both.sum(axis=(0, 2)), inside.sum(axis=(0, 2))
    return {"covered": covered, "n": n, "rate": covered / n if n else None,
            "folds": int(both.any(axis=(1, 2)).sum()),
            "per_step": [float(c / m) if m else None for c, m in zip(per_in, per_n, strict=True)]}


def quantile_intervals(actual: np.ndarray, forecast: np.ndarray, origins, levels,
                       bands: dict | None) -> dict[str, Any]:
    """The backtest's intervals: split-conformal without ``bands``; else the model's quantile
    bands per fold (``lower`` / ``upper``, ``(K, H, T)``) with their coverage, beside the
    coverage split-conformal bands of the same point forecasts reach (``conformal_coverage``)."""
    conformal = I.conformal_intervals(actual, forecast, origins, levels)
    if not bands:
        return conformal
    quantiles, values = bands["quantiles"], bands["values"]
    out: dict[str, Any] = {"method": "quantile", "levels": [float(v) for v in levels],
                           "model_quantiles": [float(q) for q in quantiles], "lower": {},
                           "upper": {}, "coverage": {},
                           "conformal_coverage": conformal["coverage"]}
    actual = np.asarray(actual, float)
    for level in levels:
        found = level_indices(quantiles, level)
        if found is None:  # check_levels refuses these before a backtest starts
            raise DataError(f"the model has no quantiles for the {level:g} % interval")
        key = f"{level:g}"
        out["lower"][key], out["upper"][key] = values[..., found[0]], values[..., found[1]]
        out["coverage"][key] = _coverage(actual, out["lower"][key], out["upper"][key])
    return out


def fold_bands(intervals: Mapping[str, Any], forecast: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level: (lower, upper)}`` ``(K, H, T)`` of each fold, for either method: the quantile
    bands, or the point forecast -+ the held-out conformal half-widths."""
    if intervals.get("method") == "quantile":
        return {k: (np.asarray(v, float), np.asarray(intervals["upper"][k], float))
                for k, v in (intervals.get("lower") or {}).items()}
    forecast = np.asarray(forecast, float)
    return {k: (forecast - np.asarray(q, float), forecast + np.asarray(q, float))
            for k, q in (intervals.get("held_out") or {}).items()}


def future_bands(project, registry, steps: int, levels) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{level: (lower, upper)}`` ``(steps, T)`` beyond the end of the data, from a trained
    quantile model's own quantiles (one batched forecast from the last origin)."""
    from seqstudio.core.forecast.backtest import _series_data, _target_values
    from seqstudio.core.forecast.rollout import Transform, forecast_origins

    check_levels(project.train, levels)
    data = _series_data(project, registry)
    model = project.build_model(data, registry)
    values = _target_values(data)
    bands: dict[str, Any] = {}
    forecast_origins(model, Transform.of(data.fitted_state(), values.shape[1]), values,
                     np.array([len(values)]), int(data.options.look_back), int(data.options.horizon),
                     steps, bands)
    out = {}
    for level in levels:
        low, high = level_indices(bands["quantiles"], level) or (0, 0)
        out[f"{level:g}"] = (bands["values"][0, ..., low], bands["values"][0, ..., high])
    return out
