"""Split-conformal prediction intervals per step ahead, from backtest residuals.

For step ``h`` and level ``L`` (say 80 %), the band around a point forecast
``f`` is ``f +- q``, where ``q`` is the ``ceil((n + 1) L / 100)``-th smallest
of the ``n`` absolute residuals ``|y - f|`` at step ``h`` in the calibration
folds. If the residuals of the calibration folds and of the new forecast are
exchangeable, the band holds the truth with probability at least ``L``
(Vovk et al.; Lei et al. 2018, "split conformal"). With fewer than
``100 / (100 - L) - 1`` residuals (4 for 80 %, 19 for 95 %) no finite band can
promise ``L``: ``q`` is then infinite and the band says so.

Coverage is measured honestly, on folds the band did not calibrate on:
fold ``k``'s band at step ``h`` uses only residuals observed before fold
``k``'s origin (fold ``j``'s step-``h`` residual is known once row
``origin_j + h - 1`` has been seen), as a forecaster running the method live
would have had them.

>>> r = np.array([1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, 8.0, 9.0])
>>> conformal_quantile(r, 80.0)
8.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_LEVELS = (80.0, 95.0)


def parse_levels(text: str | list | tuple | None) -> tuple[float, ...]:
    """``"80,95"`` -> ``(80.0, 95.0)``; levels are percentages strictly between 0 and 100.

    >>> parse_levels("80, 95"), parse_levels([90])
    ((80.0, 95.0), (90.0,))
    """
    from seqstudio.core.errors import DataError

    if text is None:
        return DEFAULT_LEVELS
    items = [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text)
    levels = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            value = float("nan")
        if not (0.0 < value < 100.0):
            raise DataError(f"interval level {item!r} is not a percentage between 0 and 100",
                            fix="give levels such as 80,95")
        levels.append(value)
    if not levels:
        raise DataError("no interval level given", fix="give levels such as 80,95")
    return tuple(sorted(set(levels)))


def conformal_quantile(residuals: np.ndarray, level: float) -> float:
    """The split-conformal half-width for ``level`` percent from residuals (NaNs ignored); inf if too few."""
    r = np.abs(np.asarray(residuals, dtype=float).ravel())
    r = np.sort(r[np.isfinite(r)])
    n = r.size
    rank = math.ceil((n + 1) * level / 100.0)
    if n == 0 or rank > n:
        return math.inf
    return float(r[rank - 1])


def step_quantiles(residuals: np.ndarray, level: float) -> np.ndarray:
    """Half-widths ``(H, T)`` from residuals ``(K, H, T)``, each step and target on its own."""
    return _step_quantiles(np.abs(residuals), (level,))[level]


def _step_quantiles(absolute: np.ndarray, levels) -> dict[float, np.ndarray]:
    """:func:`step_quantiles` of absolute residuals for several levels, sorting them once."""
    finite = np.isfinite(absolute)
    ordered = np.sort(np.where(finite, absolute, np.inf), axis=0)
    n = finite.sum(axis=0)
    out = {}
    for level in levels:
        rank = np.ceil((n + 1) * level / 100.0).astype(np.int64)
        ok = (n > 0) & (rank <= n)
        picked = np.take_along_axis(ordered, np.minimum(np.maximum(rank - 1, 0), len(absolute) - 1)[None], axis=0)[0]
        out[level] = np.where(ok, picked, math.inf)
    return out


def held_out_quantiles(residuals: np.ndarray, origins: np.ndarray, level: float) -> np.ndarray:
    """Per-fold half-widths ``(K, H, T)``, each from residuals observed before that fold's origin."""
    return held_out_by_level(residuals, origins, (level,))[level]


def held_out_by_level(residuals: np.ndarray, origins: np.ndarray, levels) -> dict[float, np.ndarray]:
    """:func:`held_out_quantiles` for several levels at once (see :func:`_held_out_and_future`)."""
    return _held_out_and_future(residuals, origins, levels)[0]


#: Values of the work arrays per chunk of folds in :func:`_held_out_and_future`.
_HELD_OUT_CHUNK = 1 << 20


def _held_out_and_future(residuals: np.ndarray, origins: np.ndarray, levels
                         ) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray] | None, np.ndarray]:
    """:func:`held_out_by_level`, and where every residual is finite also the bands for the
    future (:func:`_step_quantiles`, from the same sort); then the held-out bands of every
    level in one array ``(levels, K, H, T)`` (the dict's arrays are views of it).

    The residuals fold ``k`` may use at step ``h`` are those of the folds whose
    origin is before ``origin_k - h``: in origin order, the first ``c`` of them.
    Each step's residuals are sorted once; among them, the ``r``-th smallest of
    the first ``c`` is the one where the running count of sorted residuals from
    the first ``c`` reaches ``r``. So every fold, step, target and level is
    answered by one comparison, one running sum and one count over a
    ``(K, H T, K)`` array of small integers (in chunks of folds near a million values).
    """
    k_folds, horizon, n_targets = residuals.shape
    origins = np.asarray(origins)
    order = np.argsort(origins, kind="stable")
    # count[h, k]: folds whose step-h residual (row origin_j + h) was observed before origin_k
    count = np.searchsorted(origins[order], origins[None, :] - np.arange(horizon)[:, None], side="left")
    absolute = np.abs(residuals[order]).reshape(k_folds, horizon * n_targets)  # [j, s], origin order
    all_finite = bool(np.isfinite(absolute).all())
    if not all_finite:
        absolute = np.where(np.isfinite(absolute), absolute, np.inf)    # a non-finite one still counts
    small = np.dtype(np.uint8 if k_folds < 255 else np.int32)  # (counts up to k_folds, compared fast)
    position = np.argsort(absolute, axis=0, kind="stable").astype(small)  # [g, s]: the g-th smallest's fold
    ordered = np.sort(absolute, axis=0)                                  # [g, s] ascending
    known = np.repeat(count, n_targets, axis=0)                          # [s, k]: fold k's prefix size
    # the rank r of the band from c residuals, for every c at once: ceil((c + 1) level / 100)
    ranks = np.ceil((known + 1) * np.asarray(levels, float)[:, None, None] / 100.0)  # [level, s, k]
    ok = (known > 0) & (ranks <= known)
    ranks = np.minimum(ranks, k_folds + 1).astype(small)
    found = np.empty(ranks.shape, small)
    small_known = known.astype(small)
    chunk = max(1, _HELD_OUT_CHUNK // max(1, k_folds * known.shape[0] * len(levels)))
    for k0 in range(0, k_folds, chunk):
        part = slice(k0, k0 + chunk)
        # seen[g, s, k]: how many of the g + 1 smallest step residuals fold k may use
        seen = np.add.accumulate(position[:, :, None] < small_known[None, :, part], axis=0, dtype=small)
        # the r-th smallest usable residual is the (number of g where seen < r)-th smallest
        below = seen[:, None] < ranks[None, :, :, part]
        found[:, :, part] = below.view(np.uint8).sum(axis=0, dtype=small)
    picked = ordered[np.minimum(found, k_folds - 1), np.arange(known.shape[0])[:, None]]  # [level, s, k]
    bands = np.where(ok, picked, math.inf).reshape(len(levels), horizon, n_targets, k_folds)
    out = {level: bands[i].transpose(2, 0, 1) for i, level in enumerate(levels)}
    future = None
    if all_finite:  # every fold's residual: the r-th smallest of all of them
        future = {}
        for level in levels:
            rank_all = math.ceil((k_folds + 1) * level / 100.0)
            future[level] = ordered[rank_all - 1].reshape(horizon, n_targets) if rank_all <= k_folds \
                else np.full((horizon, n_targets), math.inf)
    return out, future, bands.transpose(0, 3, 1, 2)


def coverage(actual: np.ndarray, forecast: np.ndarray, half_width: np.ndarray) -> dict[str, Any]:
    """Share of actual values inside ``forecast +- half_width`` where the band is finite."""
    return _coverage(np.abs(actual - forecast), np.isfinite(actual) & np.isfinite(forecast), half_width)


def _coverage(distance: np.ndarray, both: np.ndarray, half_width: np.ndarray) -> dict[str, Any]:
    """:func:`coverage` from ``|actual - forecast|`` and where both are finite."""
    finite = np.isfinite(half_width) & both
    covered = int(((distance <= half_width) & finite).sum())
    n = int(finite.sum())
    return {"covered": covered, "n": n, "rate": covered / n if n else None,
            "folds": int(finite.any(axis=(1, 2)).sum())}


def conformal_intervals(actual: np.ndarray, forecast: np.ndarray, origins, levels=DEFAULT_LEVELS
                        ) -> dict[str, Any]:
    """Bands for the future (calibrated on every fold) and their held-out coverage, per level.

    ``quantiles[level]`` ``(H, T)`` and ``held_out[level]`` ``(K, H, T)`` are arrays
    (infinity where no finite band exists); :func:`to_json` makes the dict JSON-able.
    """
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    residuals = actual - forecast
    absolute = np.abs(residuals)
    out: dict[str, Any] = {"method": "split-conformal", "levels": [float(v) for v in levels],
                           "calibration_folds": int(residuals.shape[0]), "quantiles": {},
                           "held_out": {}, "coverage": {}}
    held_all, future, bands = _held_out_and_future(residuals, np.asarray(origins), levels)
    if future is None:  # (non-finite residuals: those are left out of the future's bands)
        future = _step_quantiles(absolute, levels)
    # the coverage of every level at once, from the bands (levels, K, H, T)
    finite = np.isfinite(bands)
    if not np.isfinite(absolute).all():  # (a finite distance means both values are finite)
        finite &= np.isfinite(actual) & np.isfinite(forecast)
    covered = ((absolute <= bands) & finite).sum(axis=(1, 2, 3)).tolist()
    counts = finite.sum(axis=(1, 2, 3)).tolist()
    folds = finite.any(axis=(2, 3)).sum(axis=1).tolist()
    for i, level in enumerate(levels):
        key = f"{level:g}"
        out["quantiles"][key] = future[level]
        out["held_out"][key] = held_all[level]
        n = counts[i]
        out["coverage"][key] = {"covered": covered[i], "n": n, "rate": covered[i] / n if n else None,
                                "folds": folds[i]}
    return out


def to_json(intervals: dict[str, Any]) -> dict[str, Any]:
    """:func:`conformal_intervals`'s dict with nested lists (None for infinity)."""
    out = dict(intervals)
    for part in ("quantiles", "held_out", "lower", "upper"):  # lower / upper: .quantiles
        out[part] = {k: _plain(np.asarray(v, float)) for k, v in intervals.get(part, {}).items()}
    return out


def from_json(intervals: dict[str, Any]) -> dict[str, Any]:
    """Back from :func:`to_json`."""
    out = dict(intervals)
    for part in ("quantiles", "held_out", "lower", "upper"):  # lower / upper: .quantiles
        out[part] = {k: as_array(v) for k, v in intervals.get(part, {}).items()}
    return out


def _plain(a: np.ndarray) -> list:
    """Nested lists with infinity as None (JSON has no infinity)."""
    if a.ndim > 1:
        return [_plain(x) for x in a]
    return [float(v) if math.isfinite(v) else None for v in a]


def as_array(nested) -> np.ndarray:
    """Back from the JSON form: None (no finite band) becomes infinity."""
    a = np.array(nested, dtype=object)
    return np.where(a == None, math.inf, a).astype(float)  # noqa: E711 - elementwise
