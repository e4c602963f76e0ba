"""Forecast errors per fold and per step ahead, scaled errors, spread over folds and verdicts.

Arrays are ``(K, H, T)``: K folds, H steps ahead, T target columns, in
original units. Per fold, each metric pools the fold's H steps (and T
targets); per step ahead, it pools the K folds.

- ``rmse``, ``mae``; ``mape`` = 100 mean |e / y| (zero actuals skipped);
- ``smape`` = 200 mean |e| / (|y| + |f|) (M4's definition, 0..200; terms with
  ``y = f = 0`` skipped);
- ``mase`` = mean |e| / s1 and ``rmsse`` = sqrt(mean e^2 / s2), where
  ``s1`` (``s2``) is the mean absolute (squared) error of the *in-sample*
  seasonal naive forecast on the fold's history, ``mean |y_t - y_{t-m}|``
  (Hyndman & Koehler 2006; RMSSE as in M5). Below 1: better than the
  seasonal naive forecast was on the history.

>>> a = np.array([[[10.0], [20.0]]]); f = np.array([[[12.0], [20.0]]])
>>> fold_metrics(a, f, np.array([[2.0]]), np.array([[4.0]]))["mase"]
[0.5]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

METRICS = ("rmse", "mae", "mape", "smape", "mase", "rmsse")
#: The metric verdicts compare on.
VERDICT_METRIC = "mase"


def in_sample_scale(history: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute and mean squared in-sample seasonal-naive errors per column, ``(T,)`` each.

    Falls back to lag 1 when the history is not longer than a season; NaN
    when it has a single value.

    >>> in_sample_scale(np.array([[1.0], [2.0], [4.0], [7.0]]), 2)
    (array([4.]), array([17.]))
    """
    m = season if len(history) > season else 1
    if len(history) <= m:
        nan = np.full(history.shape[1], np.nan)
        return nan, nan.copy()
    diffs = history[m:] - history[:-m]
    return np.abs(diffs).mean(axis=0), (diffs ** 2).mean(axis=0)


def fold_scales(values: np.ndarray, starts, origins, season: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`in_sample_scale` of every fold's history ``values[starts[k]:origins[k]]``, ``(K, T)`` each."""
    starts, origins = np.asarray(starts, np.int64), np.asarray(origins, np.int64)
    n_cols = values.shape[1]
    lengths = origins - starts
    if len(lengths) and lengths.min() > season:  # (the usual case: every history is longer than a season)
        sums = _running_diff_sums(values, season)
        out = (sums[origins - season] - sums[starts]) / (lengths - season)[:, None]
        return out[:, :n_cols], out[:, n_cols:]
    out = np.full((len(origins), 2 * n_cols), np.nan)  # the absolute, then the squared means
    for lag in sorted({season, 1}):
        n = lengths - lag
        use = (n > 0) & ((lengths > season) if lag == season else (lengths <= season))
        if not use.any():
            continue
        sums = _running_diff_sums(values, lag)
        out[use] = (sums[origins[use] - lag] - sums[starts[use]]) / n[use, None]
    return out[:, :n_cols], out[:, n_cols:]


def _running_diff_sums(values: np.ndarray, lag: int) -> np.ndarray:
    """Running sums of ``|d|`` and ``d^2`` side by side (``(n - lag + 1, 2T)``, from a row of
    zeros), ``d`` the lag-``lag`` differences: row i sums the differences ending before row i + lag."""
    diffs = values[lag:] - values[:-lag]  # row i: values[i + lag] - values[i]
    n_cols = values.shape[1]
    sums = np.empty((len(diffs) + 1, 2 * n_cols))
    sums[0] = 0.0
    np.abs(diffs, out=sums[1:, :n_cols])
    np.multiply(diffs, diffs, out=sums[1:, n_cols:])
    np.cumsum(sums[1:], axis=0, out=sums[1:])
    return sums


#: The per-element term of each metric, in :data:`METRICS` order.
_TERMS = ("se", "ae", "ape", "sape", "ase", "sse")


def _term_stack(actual: np.ndarray, forecast: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """The per-element terms whose (nan-)means make each metric, stacked in :data:`_TERMS`
    order on a new first axis; NaN marks a skipped element. The arguments broadcast together."""
    e = actual - forecast
    out = np.empty((len(_TERMS), *e.shape))
    se, ae, ape, sape, ase, sse = out
    np.multiply(e, e, out=se)
    np.abs(e, out=ae)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(e, actual, out=ape)
        np.abs(ape, out=ape)
        ape *= 100.0
        denom = np.abs(actual) + np.abs(forecast)
        np.multiply(ae, 200.0, out=sape)
        sape /= denom
        np.divide(ae, np.where(s1 > 0, s1, np.nan), out=ase)
        np.divide(se, np.where(s2 > 0, s2, np.nan), out=sse)
    zero = actual == 0
    if zero.any():  # (rare: only then a term is skipped)
        ape[np.broadcast_to(zero, ape.shape)] = np.nan
        sape[denom == 0] = np.nan
    return out


def _terms(actual: np.ndarray, forecast: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`_term_stack` by name."""
    return dict(zip(_TERMS, _term_stack(actual, forecast, s1, s2), strict=True))


def _reduce(terms: dict[str, np.ndarray], axis: tuple[int, ...]) -> dict[str, np.ndarray]:
    reduced = _reduce_stacked(np.stack([terms[k] for k in _TERMS]), axis)
    return dict(zip(METRICS, reduced, strict=True))


def _reduce_stacked(terms: np.ndarray, *axes: tuple[int, ...]) -> np.ndarray | list[np.ndarray]:
    """Every metric at once from the terms stacked in :data:`_TERMS` order on axis 0, reduced
    over each of ``axes`` (counted without that axis); one array per axes, metrics first."""
    # a mean over the kept (non-NaN) terms; with none kept, NaN (reported as None)
    kept = ~np.isnan(terms)
    every = bool(kept.all())  # (the usual case: every count is the size of the axes)
    filled = terms if every else np.where(kept, terms, 0.0)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for axis in axes:
            shifted = tuple(a + 1 for a in axis)
            count = math.prod(terms.shape[a] for a in shifted) if every else _sum_over(kept, shifted)
            means = _sum_over(filled, shifted) / count
            np.sqrt(means[0], out=means[0])  # rmse
            np.sqrt(means[5], out=means[5])  # rmsse
            out.append(means)
    return out if len(out) > 1 else out[0]


def _fold_and_step_means(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`_reduce_stacked` of terms ``(M, F, K, H, T)`` over ``(K's H, T)`` and ``(K, T)``,
    and whether every term was finite (then so is every mean).

    Where no term is NaN or infinite (one sum tells), both come from products with vectors
    of ones on the array as it lies, without the masks and the transposed copy.
    """
    m, f, k, h, t = terms.shape
    if not np.isfinite(terms.sum()):
        fold, step = _reduce_stacked(terms, (2, 3), (1, 3))
        return fold, step, False
    # (every term is finite and none negative: no partial sum can be larger than the finite total)
    flat = terms.reshape(m * f, k, h * t)
    per_fold = (flat @ np.ones(h * t)).reshape(m, f, k) / (h * t)
    per_step = np.matmul(np.ones(k), flat).reshape(m, f, h, t)
    per_step = (per_step.sum(axis=3) if t > 1 else per_step[..., 0]) / (k * t)
    for means in (per_fold, per_step):
        np.sqrt(means[0], out=means[0])  # rmse
        np.sqrt(means[5], out=means[5])  # rmsse
    return per_fold, per_step, True


def _sum_over(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``a.sum(axis=axes)`` as a product with a vector of ones: numpy's reduction of many short
    rows costs ~6x more than the matrix product on arrays of this size (a backtest's terms)."""
    keep = [i for i in range(a.ndim) if i not in axes]
    moved = a.transpose(*keep, *axes).reshape(*(a.shape[i] for i in keep), -1)
    return moved.astype(float, copy=False) @ np.ones(moved.shape[-1])


def _listed(values: np.ndarray, finite: bool | None = None) -> list:
    """Nested lists of floats, None where a value is not finite (``finite``: known to be all)."""
    a = np.asarray(values, dtype=float)
    out = a.tolist()
    if not (finite if finite is not None else np.isfinite(a).all()):
        return _nones(out)
    return out


def _nones(nested):
    if isinstance(nested, list):
        return [_nones(v) for v in nested]
    return nested if math.isfinite(nested) else None


def fold_metrics(actual, forecast, s1, s2) -> dict[str, list[float | None]]:
    """Each metric per fold (a list of K values); ``s1`` / ``s2`` are ``(K, T)`` in-sample scales."""
    terms = _terms(np.asarray(actual, float), np.asarray(forecast, float),
                   np.asarray(s1, float)[:, None, :], np.asarray(s2, float)[:, None, :])
    return {k: _listed(v) for k, v in _reduce(terms, (1, 2)).items()}


def step_metrics(actual, forecast, s1, s2) -> dict[str, list[float | None]]:
    """Each metric per step ahead (a list of H values), pooling the folds."""
    terms = _terms(np.asarray(actual, float), np.asarray(forecast, float),
                   np.asarray(s1, float)[:, None, :], np.asarray(s2, float)[:, None, :])
    return {k: _listed(v) for k, v in _reduce(terms, (0, 2)).items()}


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Mean, standard deviation (n - 1), min and max of the finite values.

    >>> spread([1.0, 3.0, None])
    {'mean': 2.0, 'std': 1.4142135623730951, 'min': 1.0, 'max': 3.0, 'n': 2}
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": float(x.min()), "max": float(x.max()), "n": int(x.size)}


def score(actual, forecast, s1, s2) -> dict[str, Any]:
    """``per_fold``, ``per_step`` and ``summary`` (spread over folds) of one forecaster."""
    return score_all(actual, {"f": forecast}, s1, s2)["f"]


def score_all(actual, forecasts: dict[str, np.ndarray], s1, s2) -> dict[str, dict[str, Any]]:
    """:func:`score` of several forecasters of the same folds, in one vectorised pass."""
    return dict(Scores(*_means(actual, forecasts, s1, s2)))


def score_and_judge(actual, forecasts: dict[str, np.ndarray], s1, s2, labels: dict[str, str],
                    metric: str = VERDICT_METRIC) -> tuple[Scores, list[dict[str, Any]]]:
    """:func:`score_all` (as :class:`Scores`: its lists are made when first read), and the
    :func:`verdict` of the first forecaster against each other one, counted on the arrays."""
    scores = Scores(*_means(actual, forecasts, s1, s2))
    j = METRICS.index(metric)
    values = scores.per_fold[j]                                           # (F, K)
    both = np.isfinite(values[0]) & np.isfinite(values[1:])
    wins = ((values[0] < values[1:]) & both).sum(axis=1).tolist()
    folds = both.sum(axis=1).tolist()
    means, counts = scores.stats[0][j].tolist(), scores.stats[4][j].tolist()
    mean = [m if n else None for m, n in zip(means, counts, strict=True)]
    return scores, [_verdict(name, labels[name], metric, wins[i], folds[i], mean[0], mean[i + 1])
                    for i, name in enumerate(scores.names[1:])]


def _means(actual, forecasts: dict[str, np.ndarray], s1, s2
           ) -> tuple[list[str], np.ndarray, np.ndarray, bool]:
    """The forecasters' names, every metric per fold ``(M, F, K)`` and per step ``(M, F, H)``,
    and whether all of them are finite."""
    names = list(forecasts)
    stacked = np.stack([np.asarray(forecasts[n], float) for n in names])  # (F, K, H, T)
    terms = _term_stack(np.asarray(actual, float)[None], stacked,
                        np.asarray(s1, float)[None, :, None, :], np.asarray(s2, float)[None, :, None, :])
    return (names, *_fold_and_step_means(terms))


class Scores(Mapping):
    """:func:`score_all`'s dict, ``{forecaster: {"per_fold", "per_step", "summary"}}``, kept as
    arrays until first read: a backtest's lists and dicts of Python numbers cost more to make
    than its metrics, and a result is often judged and saved before they are shown. Compares
    equal to the dict; pickles as the dict.

    ``per_fold`` ``(M, F, K)`` and ``per_step`` ``(M, F, H)`` are the metrics in :data:`METRICS`
    order; ``stats`` the mean, std, min, max and count over the folds, each ``(M, F)``.
    """

    def __init__(self, names: list[str], per_fold: np.ndarray, per_step: np.ndarray,
                 finite: bool | None = None):
        self.names, self.per_fold, self.per_step = names, per_fold, per_step
        #: Every mean is finite (known when every term was); None: look.
        self.finite = finite
        self.stats = _spread_stats(per_fold, finite or None)
        self._dict: dict[str, dict[str, Any]] | None = None

    def _all(self) -> dict[str, dict[str, Any]]:
        if self._dict is None:
            known = self.finite or None
            fold_lists = _listed(self.per_fold.transpose(1, 0, 2), known)  # forecaster first: [f][m]
            step_lists = _listed(self.per_step.transpose(1, 0, 2), known)
            summaries = _spread_dicts(*(a.T for a in self.stats))
            self._dict = {name: {"per_fold": dict(zip(METRICS, fold_lists[i], strict=True)),
                                 "per_step": dict(zip(METRICS, step_lists[i], strict=True)),
                                 "summary": dict(zip(METRICS, summaries[i], strict=True))}
                          for i, name in enumerate(self.names)}
        return self._dict

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._all()[name]

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return repr(self._all())

    def __reduce__(self):
        return dict, (self._all(),)


def _spread_stats(values: np.ndarray, all_finite: bool | None = None) -> tuple[np.ndarray, ...]:
    """The mean, std, min, max and count of the finite values over the last axis of ``values``
    ``(A, B, K)`` (:func:`spread` of each row), ``(A, B)`` each (``all_finite``: known)."""
    ones = np.ones(values.shape[-1])
    if all_finite if all_finite is not None else np.isfinite(values).all():  # (the usual case)
        n = np.full(values.shape[:-1], values.shape[-1])
        mean = values @ ones / n
        dev = values - mean[..., None]
        std = np.sqrt((dev * dev) @ ones / (n - 1)) if values.shape[-1] > 1 else np.zeros(n.shape)
        return mean, std, values.min(axis=-1), values.max(axis=-1), n
    finite = np.isfinite(values)
    n = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, values, 0.0) @ ones / n
        dev = np.where(finite, values - mean[..., None], 0.0)
        std = np.where(n > 1, np.sqrt((dev * dev) @ ones / (n - 1)), 0.0)
    return (mean, std, np.where(finite, values, np.inf).min(axis=-1),
            np.where(finite, values, -np.inf).max(axis=-1), n)


def _spread_dicts(mean, std, low, high, n) -> list[list[dict[str, float | None]]]:
    empty = {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return [[{"mean": a, "std": b, "min": c, "max": d, "n": k} if k else dict(empty)
             for a, b, c, d, k in zip(*rows, strict=True)]
            for rows in zip(mean.tolist(), std.tolist(), low.tolist(), high.tolist(), n.tolist(), strict=True)]


def verdict(model: dict[str, Any], baseline: dict[str, Any], name: str, label: str,
            metric: str = VERDICT_METRIC) -> dict[str, Any]:
    """How often the model beats one baseline, fold by fold, and on the mean.

    >>> m = {"per_fold": {"mase": [0.5, 0.9]}, "summary": {"mase": {"mean": 0.7}}}
    >>> b = {"per_fold": {"mase": [1.0, 0.8]}, "summary": {"mase": {"mean": 0.9}}}
    >>> verdict(m, b, "naive", "naive")["text"]
    'beats naive on MASE in 1 of 2 folds (mean MASE 0.700 vs 0.900: better)'
    """
    ours, theirs = model["per_fold"][metric], baseline["per_fold"][metric]
    wins = folds = 0
    for a, b in zip(ours, theirs, strict=True):
        if a is not None and b is not None:
            folds += 1
            wins += a < b
    return _verdict(name, label, metric, wins, folds, model["summary"][metric]["mean"],
                    baseline["summary"][metric]["mean"])


def _verdict(name: str, label: str, metric: str, wins: int, folds: int, mean_ours, mean_theirs
             ) -> dict[str, Any]:
    better = mean_ours is not None and mean_theirs is not None and mean_ours < mean_theirs
    if mean_ours is None or mean_theirs is None:
        tail = "no mean to compare"
    else:
        tail = f"mean {metric.upper()} {mean_ours:.3f} vs {mean_theirs:.3f}: " \
               f"{'better' if better else 'not better'}"
    text = f"{'beats' if better else 'does not beat'} {label} on {metric.upper()} in " \
           f"{wins} of {folds} folds ({tail})"
    return {"baseline": name, "label": label, "metric": metric, "wins": wins, "folds": folds,
            "mean_model": mean_ours, "mean_baseline": mean_theirs, "beats_on_mean": bool(better),
            "text": text}
