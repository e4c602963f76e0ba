"""Where a backtest forecasts from: the plan (folds, horizon, stride, window, retraining) and its origins.

An *origin* is the series row of a fold's first forecast step: the fold's
history is rows ``[train_start, origin)`` and it forecasts rows
``origin .. origin + horizon - 1``. With ``folds`` the origins are the last
ones that still have ``horizon`` observed values after them, ``stride`` rows
apart (the last fold ends on the last row); with ``start`` they run from that
row on to the end.

An *expanding* window trains (and fits every transform) on all rows before
the origin; a *sliding* one on the ``window_size`` rows before it (by default
as many as the first fold has).

>>> plan = BacktestPlan(folds=3, horizon=2, stride=1)
>>> [f.origin for f in plan.folds_for(10)]
[6, 7, 8]
>>> plan = BacktestPlan(folds=2, horizon=2, stride=3, window="sliding")
>>> [(f.train_start, f.origin) for f in plan.folds_for(10)]
[(0, 5), (3, 8)]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from seqstudio.core.errors import DataError

WINDOWS = ("expanding", "sliding")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def parse_retrain(value: Any) -> int:
    """``"never"`` -> 0, ``"every"`` -> 1, ``K`` (or ``"K"``) -> K: retrain every K folds.

    >>> parse_retrain("never"), parse_retrain("every"), parse_retrain("3")
    (0, 1, 3)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("never", "no", "none"):
            return 0
        if text in ("every", "always", "each"):
            return 1
        if text.isdigit() and int(text) >= 1:
            return int(text)
    elif _is_int(value) and value >= 0:
        return int(value)
    raise DataError(f"retrain must be 'never', 'every' or a number of folds K >= 1, got {value!r}",
                    fix="use never (one trained model forecasts every fold), every (train each fold "
                        "from scratch) or K (retrain every K folds)")


@dataclass(slots=True)
class Fold:
    """One forecast origin: history rows ``[train_start, origin)``, forecast rows ``[origin, origin + horizon)``.

    (Not frozen: a never-retrain backtest makes one per test origin, and a frozen
    dataclass costs several times more to create.)
    """

    index: int
    train_start: int
    origin: int
    #: The fold whose cutoff trained the model used here (retraining every K folds); itself when K=1.
    trained_at: int


@dataclass
class BacktestPlan:
    """Folds, horizon, stride, training window and retraining of a rolling-origin backtest.

    Checked on creation; a bad value raises :class:`DataError` naming it.
    ``retrain``: 0 = never (the trained model forecasts from every origin),
    1 = every fold, K = every K folds.
    """

    folds: int | None = 5
    horizon: int = 12
    stride: int = 1
    #: First origin (series row, 0-based); when set, the folds run from it to the end. With neither
    #: ``folds`` nor ``start``, every origin from the earliest possible one.
    start: int | None = None
    retrain: int = 1
    window: str = "expanding"
    window_size: int | None = None

    def __post_init__(self) -> None:
        self.retrain = parse_retrain(self.retrain)
        for name, low in (("horizon", 1), ("stride", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise DataError(f"backtest {name} must be an integer >= {low}, got {value!r}",
                                fix=f"set {name} to a whole number of at least {low}")
        for name in ("folds", "start", "window_size"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < (0 if name == "start" else 1)):
                raise DataError(f"backtest {name} must be a positive integer, got {value!r}",
                                fix=f"set {name} to a whole number, or leave it empty")
        if self.window not in WINDOWS:
            raise DataError(f"backtest window must be one of {', '.join(WINDOWS)}, got {self.window!r}",
                            fix="expanding trains on all the past, sliding on a fixed number of rows")

    def to_dict(self) -> dict[str, Any]:
        # every field is a number, a string or None: no deep copy needed (asdict makes one)
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def folds_for(self, n_rows: int, *, earliest: int = 1) -> list[Fold]:
        """The folds of a series of ``n_rows`` rows; no origin before ``earliest``.

        Raises :class:`DataError` when no fold fits, saying how many rows the plan needs.
        """
        starts, origins = self.rows_for(n_rows, earliest=earliest)
        k_folds = len(origins)
        trained_at = ([-1] * k_folds if not self.retrain else list(range(k_folds)) if self.retrain == 1
                      else [(k // self.retrain) * self.retrain for k in range(k_folds)])
        return [Fold(k, start, origin, trained) for k, start, origin, trained
                in zip(range(k_folds), starts.tolist(), origins.tolist(), trained_at, strict=True)]

    def rows_for(self, n_rows: int, *, earliest: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`folds_for`'s history starts and origins alone, as int64 arrays ``(K,)`` each."""
        last = n_rows - self.horizon
        if self.start is not None:
            first = self.start
            if first > last:
                raise DataError(f"the backtest start row {first} leaves no room for a horizon of "
                                f"{self.horizon} in a series of {n_rows} rows",
                                fix=f"start at row {last} or earlier, or shorten the horizon")
            origins = list(range(first, last + 1, self.stride))
        elif self.folds is None:  # every origin that fits
            origins = list(range(max(earliest, 0), last + 1, self.stride))
            if not origins:
                raise DataError(f"no origin fits: forecasting needs {earliest} rows of history and "
                                f"{self.horizon} after, the series has {n_rows}",
                                fix="shorten the horizon or use a longer series")
        else:
            first = last - (self.folds - 1) * self.stride
            origins = [first + k * self.stride for k in range(self.folds)]
        if origins[0] < earliest:
            raise DataError(
                f"{len(origins)} folds with horizon {self.horizon} and stride {self.stride} start at "
                f"row {origins[0]}, but forecasting needs at least {earliest} rows of history "
                f"(the series has {n_rows})",
                fix="use fewer folds, a shorter horizon or stride, or a longer series")
        size = self.window_size or origins[0]
        rows = np.array(origins, dtype=np.int64)
        starts = np.zeros_like(rows) if self.window == "expanding" else np.maximum(rows - size, 0)
        return starts, rows
