"""CSV time series: read, validate, clean, transform, scale, window and split.

The pipeline, in order (each step is undone in reverse for every reported
metric, baseline, plot and forecast)::

    CSV --read_series_csv--> LoadedSeries (time-sorted frame + report)
        --missing policy--> cleaned series (original units, kept for plots)
        --log--> --difference (lag d)--> transformed series (first d rows gone)
        --chronological split by fractions--> train | val | test parts
        --scaler fitted on the train part only--> scaled parts
        --windows made inside each part--> x (N, look_back, n_inputs), y (N, horizon * n_targets)

What a split means
------------------
The transformed series (``n`` values: the cleaned rows minus the first
``diff_lag`` lost to differencing) is cut chronologically FIRST:
train = the first ``int(n * train_frac)`` values, validation = the next
``int(n * val_frac)``, test = the rest. Windows are then made *within* each
part, exactly like the lecture's ``create_dataset`` applied to ``train`` and
``test`` separately: sample ``j`` of a part starting at value ``a`` reads the
inputs ``a + j*stride ... a + j*stride + look_back - 1`` and predicts the
``horizon`` values that follow. So no window ever reads into a later split,
and the first ``look_back`` values of each part are inputs only (a part of
``m`` values gives ``(m - look_back - horizon) // stride + 1`` samples).

One deliberate difference from the lecture: its ``create_dataset`` loops over
``range(len(part) - look_back - 1)`` and so drops the last possible window of
each part (94 train and 46 test samples for airline, look_back 1, 67 %); here
every window that fits is kept (95 and 47). On the airline test part the
persistence (naive) forecast then scores RMSE 48.53 and the seasonal-naive
(lag 12) forecast 42.05 passengers, the issue's reference figures 48.5 and
42.0 (the lecture's 46 samples would give 48.66 and 42.32).

Because windows stay inside their part, ``window_leak`` only reports a
leak that comes from elsewhere: ``missing="interpolate"`` filling the last
values of a part from the first observed value of the next part. Gaps in the
time grid (missing rows, e.g. two days of daily-min-temperatures) are
reported in :class:`SeriesReport`, not filled: windows run across them.

Scaling (min-max to [0, 1] or standardisation) is fitted on the train part
only, per input column, so validation and test values may fall outside
[0, 1]. ``log`` and differencing apply to the target columns; extra feature
columns are only scaled. Differencing is inverted one step ahead with the
true previous values (``value_t = diff_t + true_value_{t-lag}``), which is
what every metric and plot of a split uses; :meth:`PreparedSeries.forecast`
beyond the data instead chains its own predictions.

Layout of ``y``: ``(N, horizon * n_targets)`` horizon-major, i.e. the columns
are step 1 of every target, then step 2, ... (``y.reshape(N, horizon, n_targets)``).
Inputs are the target columns first, then the features (one-hot columns
expanded in place), so ``x[..., :n_targets]`` are the targets.

>>> opts = SeriesOptions(path="airline-passengers.csv", look_back=1)   # doctest: +SKIP
>>> data = prepare_series(opts)                                          # doctest: +SKIP
>>> data.x_train.shape, data.y_train.shape                               # doctest: +SKIP
(torch.Size([95, 1, 1]), torch.Size([95, 1]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqstudio.core.data.columns import handle_missing, input_blocks, refuse_infinite, used_columns
from seqstudio.core.data.prepared import SPLITS, PreparedData, Split
from seqstudio.core.data.reading import (
    LoadedSeries,
    SeriesReport,
    read_series_csv,
)
from seqstudio.core.data.timeaxis import SEASON_BY_STEP, step_offset, time_text
from seqstudio.core.data.windows import Scaler, make_windows, window_arrays
from seqstudio.core.errors import DataError
from seqstudio.core.registry import OptionSpec

# The reading and windowing names stay importable from here, where they used to live.
__all__ = [
    "MISSING_POLICIES", "CATEGORICAL_POLICIES", "SCALINGS", "SERIES_OPTIONS",
    "SeriesOptions", "PreparedSeries", "prepare_series",
    "LoadedSeries", "SeriesReport", "read_series_csv", "Scaler", "make_windows",
]

MISSING_POLICIES = ("error", "drop", "ffill", "interpolate")
CATEGORICAL_POLICIES = ("error", "onehot", "drop")
SCALINGS = ("minmax", "standard", "none")


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------
def _as_column_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value):
        return list(value)
    raise DataError(f"option {name!r} must be a column name or a list of column names, got {value!r}",
                    fix=f"give {name} as a list such as ['Passengers']")


@dataclass
class SeriesOptions:
    """Everything that turns a CSV time series into windows; JSON-able.

    Checked on creation: a bad value raises :class:`DataError` naming the
    option, what was expected and what was given.

    >>> opts = SeriesOptions(path="air.csv", look_back=3, scaling="standard")
    >>> SeriesOptions.from_dict(opts.to_dict()) == opts
    True
    >>> SeriesOptions.from_dict({"lookback": 3})
    Traceback (most recent call last):
    ...
    seqstudio.core.errors.DataError: unknown series option 'lookback'
      fix: use only: path, target, date_col, date_format, features, missing, categorical, log, diff_lag, scaling, look_back, horizon, stride, train_frac, val_frac, season
    """

    #: The CSV file.
    path: str = ""
    #: Target column(s); empty means the last numeric column.
    target: list[str] = field(default_factory=list)
    #: "auto", a column name, a "year,month,day,hour"-style list of columns, or None for a plain index.
    date_col: str | None = "auto"
    #: A strftime format such as "%Y-%m", or "period:START[:FREQ]" (e.g. "period:1991-01") to
    #: replace the time column by a regular range starting at START (shampoo's "1-01" dates).
    date_format: str | None = None
    #: Extra input columns (the targets are always inputs too).
    features: list[str] = field(default_factory=list)
    missing: str = "error"
    categorical: str = "error"
    log: bool = False
    diff_lag: int = 0
    scaling: str = "minmax"
    look_back: int = 1
    horizon: int = 1
    stride: int = 1
    train_frac: float = 0.67
    val_frac: float = 0.0
    #: Seasonal-naive lag; None infers it from the time step (monthly 12, daily 7, hourly 24, else 1).
    season: int | None = None

    def __post_init__(self) -> None:
        self.path = "" if self.path is None else str(self.path)
        self.target = _as_column_list(self.target, "target")
        self.features = _as_column_list(self.features, "features")
        for name, allowed in (("missing", MISSING_POLICIES), ("categorical", CATEGORICAL_POLICIES),
                              ("scaling", SCALINGS)):
            value = getattr(self, name)
            if value not in allowed:
                raise DataError(f"series option {name!r} must be one of {', '.join(allowed)}, got {value!r}",
                                fix=f"set {name} to one of: {', '.join(allowed)}")
        for name, low in (("look_back", 1), ("horizon", 1), ("stride", 1), ("diff_lag", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise DataError(f"series option {name!r} must be an integer >= {low}, got {value!r}",
                                fix=f"set {name} to a whole number of at least {low}")
            setattr(self, name, int(value))
        if self.season is not None:
            if isinstance(self.season, bool) or not isinstance(self.season, (int, np.integer)) \
                    or self.season < 1:
                raise DataError(f"series option 'season' must be a positive integer or None, got {self.season!r}",
                                fix="set season to e.g. 12 for monthly data, or None to infer it")
            self.season = int(self.season)
        for name in ("train_frac", "val_frac"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DataError(f"series option {name!r} must be a number, got {value!r}")
            setattr(self, name, float(value))
        if not 0.0 < self.train_frac <= 1.0:
            raise DataError(f"train_frac must be in (0, 1], got {self.train_frac}",
                            fix="use e.g. train_frac=0.67 (the first 67% of the series trains)")
        if not 0.0 <= self.val_frac < 1.0:
            raise DataError(f"val_frac must be in [0, 1), got {self.val_frac}",
                            fix="use e.g. val_frac=0.1, or 0 for no validation part")
        if self.train_frac + self.val_frac > 1.0 + 1e-9:
            raise DataError(f"train_frac + val_frac must be at most 1, got {self.train_frac} + "
                            f"{self.val_frac} = {self.train_frac + self.val_frac:g}",
                            fix="lower one of them; the test part is what remains")
        self.log = bool(self.log)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy of the options."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeriesOptions:
        """Build options from a mapping; an unknown key raises :class:`DataError` naming it."""
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise DataError(f"unknown series option {key!r}", fix=f"use only: {', '.join(known)}")
        return cls(**dict(data))


SERIES_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("path", "path", "", "The CSV file holding the time series.", required=True),
    OptionSpec("target", "columns", [], "Column(s) to forecast; empty = the last numeric column."),
    OptionSpec("date_col", "str", "auto",
               "Time column: 'auto', a column name, 'year,month,day,hour' to assemble split columns, "
               "or empty for a plain row index.", nullable=True),
    OptionSpec("date_format", "str", None,
               "Date format such as %Y-%m; 'period:1991-01' replaces odd dates (shampoo's 1-01) "
               "by a monthly range starting 1991-01."),
    OptionSpec("features", "columns", [], "Extra input columns (the targets are always inputs)."),
    OptionSpec("missing", "choice", "error", "What to do with missing values: stop with an error, "
               "drop those rows, carry the last value forward, or interpolate linearly.",
               choices=MISSING_POLICIES),
    OptionSpec("categorical", "choice", "error",
               "Text feature columns (like a wind direction): stop, one-hot encode, or drop them.",
               choices=CATEGORICAL_POLICIES),
    OptionSpec("log", "bool", False, "Take the logarithm of the targets first (values must be > 0)."),
    OptionSpec("diff_lag", "int", 0, "Difference the targets at this lag (1, or 12 for monthly "
               "seasonality); 0 = none. The first diff_lag values are lost.", minimum=0),
    OptionSpec("scaling", "choice", "minmax", "Scale inputs to [0, 1] (minmax) or to mean 0, std 1 "
               "(standard), fitted on the training part only.", choices=SCALINGS),
    OptionSpec("look_back", "int", 1, "How many past steps each sample sees.", minimum=1),
    OptionSpec("horizon", "int", 1, "How many steps ahead each sample predicts.", minimum=1),
    OptionSpec("stride", "int", 1, "Step between the starts of consecutive windows.", minimum=1),
    OptionSpec("train_frac", "float", 0.67, "Fraction of the series (from the start) used for training.",
               minimum=0.0, maximum=1.0),
    OptionSpec("val_frac", "float", 0.0, "Fraction after the training part used for validation; "
               "the test part is the rest.", minimum=0.0, maximum=1.0),
    OptionSpec("season", "int", None, "Seasonal-naive lag; empty = infer from the time step "
               "(monthly 12, daily 7, hourly 24).", minimum=1),
)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Prepared data
# ---------------------------------------------------------------------------
@dataclass
class _SeriesInternals:
    original: np.ndarray          # (n, T) cleaned targets, original units
    level: np.ndarray             # (n, T) log(original) or original: what differencing acts on
    scaled: np.ndarray            # (n - diff_lag, C) float32 scaled transformed inputs (all parts)
    scaler: Scaler
    target_pos: dict[str, np.ndarray]   # series position of each sample's first target step
    bounds: dict[str, tuple[int, int]]  # series positions [start, stop) of each part
    step: str
    categories: dict[str, list[str]]


@dataclass(eq=False)
class PreparedSeries(PreparedData):
    """Windows of a time series split chronologically, plus every inverse transform.

    ``x_*`` are float32 ``(N, look_back, n_inputs)`` (views into one scaled
    tensor), ``y_*`` float32 ``(N, horizon * n_targets)`` (horizon-major). See
    the module docstring for the definition of the splits.

    >>> data = prepare_series(SeriesOptions(path="airline-passengers.csv"))  # doctest: +SKIP
    >>> rmse = np.sqrt(np.mean((data.baselines("test")["naive"] - data.actual("test")) ** 2))  # doctest: +SKIP
    """

    options: SeriesOptions = field(default_factory=SeriesOptions)
    #: The cleaned series in original units (targets then raw feature columns), time-indexed.
    series: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: First and last time of each non-empty split (of the transformed series).
    split_times: dict[str, tuple] = field(default_factory=dict)
    #: Warning text when some window or fill of one split reads values of a later split, else None.
    window_leak: str | None = None
    target_columns: list[str] = field(default_factory=list)
    #: Input column names in x order (targets first; one-hot columns as "col=value").
    input_columns: list[str] = field(default_factory=list)
    #: The seasonal-naive lag in use.
    season: int = 1
    report: SeriesReport = field(default_factory=SeriesReport)
    _internals: _SeriesInternals | None = field(default=None, repr=False)

    @property
    def _fitted(self) -> _SeriesInternals:
        """The fitted transforms; only :func:`prepare_series` makes a PreparedSeries that has them."""
        if self._internals is None:
            raise DataError("this PreparedSeries holds no fitted transforms",
                            fix="make it with prepare_series()")
        return self._internals

    @property
    def target_names(self) -> list[str]:
        """Alias of ``target_columns`` (the resolved targets, also when the option was empty)."""
        return list(self.target_columns)

    # -- shapes -----------------------------------------------------------
    def _positions(self, split: Split) -> np.ndarray:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}", fix=f"use one of: {', '.join(SPLITS)}")
        return self._fitted.target_pos[split]

    def _target_block(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``values[pos + h]`` for each sample and horizon step, as (N, horizon * T)."""
        steps = positions[:, None] + np.arange(self.options.horizon)
        return values[steps].reshape(len(positions), self.n_outputs)

    def to_original(self, y: Any, split: Split) -> np.ndarray:
        """Undo scaling, differencing and log: model outputs of ``split`` in original units.

        ``y`` is ``(N, horizon * n_targets)`` (or ``(N,)`` for one output) for the
        ``N`` samples of that split; differencing is undone with the true
        previous values (one step ahead). Returns float64 of the same 2-D shape.
        """
        y = super().to_original(y, split)
        positions = self._positions(split)
        n_targets, horizon = len(self.target_columns), self.options.horizon
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != (len(positions), horizon * n_targets):
            raise DataError(f"predictions for the {split} split have shape {tuple(y.shape)}, expected "
                            f"{(len(positions), horizon * n_targets)}",
                            fix="pass one row per sample of that split, as the model outputs them")
        state = self._fitted
        values = state.scaler.inverse(y.reshape(-1, horizon, n_targets), slice(0, n_targets))
        lag = self.options.diff_lag
        if lag:
            steps = positions[:, None] + np.arange(horizon) - lag
            values = values + state.level[steps]
        if self.options.log:
            values = np.exp(values)
        return values.reshape(len(positions), horizon * n_targets)

    def actual(self, split: Split) -> np.ndarray:
        """The true targets of ``split`` in original units, ``(N, horizon * n_targets)`` float64."""
        return self._target_block(self._fitted.original, self._positions(split))

    def target_times(self, split: Split) -> np.ndarray:
        """The time stamp of the first target step of each sample of ``split``."""
        return self.series.index.to_numpy()[self._positions(split)]

    def baselines(self, split: Split) -> dict[str, np.ndarray]:
        """Reference forecasts in original units, shaped like :meth:`actual`.

        ``naive``: persistence, the last observed value before the target,
        repeated over the horizon. ``seasonal_naive``: the value one season
        earlier (for horizon step ``h`` beyond a season, the same season's
        latest observed value); omitted when ``season`` is 1 or the series has
        less than a season of history before some sample.
        """
        positions = self._positions(split)
        original, horizon = self._fitted.original, self.options.horizon
        naive = np.repeat(original[positions - 1][:, None, :], horizon, axis=1)
        result = {"naive": naive.reshape(len(positions), self.n_outputs)}
        m = self.season
        h = np.arange(horizon)
        seasonal_steps = positions[:, None] + h - m * (h // m + 1)
        if m > 1 and (len(positions) == 0 or seasonal_steps.min() >= 0):
            result["seasonal_naive"] = original[seasonal_steps].reshape(len(positions), self.n_outputs)
        return result

    def time_texts(self) -> list[str]:
        """The series' time stamps as text (:func:`.timeaxis.time_text`), written once: the
        series' index does not change (a replaced one is written again)."""
        index = self.series.index
        cached = self.__dict__.get("_time_texts")
        if cached is None or cached[0] is not index:
            cached = self.__dict__["_time_texts"] = (index, time_text(index))
        return cached[1]

    def target_values(self) -> np.ndarray:
        """The target columns of the cleaned series in original units, ``(n, T)`` float64
        (read-only: a view of what the windows were made from)."""
        values = self._fitted.original.view()
        values.flags.writeable = False
        return values

    def fitted_state(self) -> dict[str, Any]:
        """JSON-able fitted transforms: scaler, log/diff settings, columns, categories, season."""
        state = self._fitted
        scaler = state.scaler  # (its fields by hand: asdict's deep copy costs more than the rest)
        return {
            "scaler": {"method": scaler.method, "center": list(scaler.center), "scale": list(scaler.scale)},
            "log": self.options.log,
            "diff_lag": self.options.diff_lag,
            "target_columns": list(self.target_columns),
            "input_columns": list(self.input_columns),
            "categories": {k: list(v) for k, v in state.categories.items()},
            "season": self.season,
            "step": state.step,
            "bounds": {k: list(v) for k, v in state.bounds.items()},
        }

    def use_fitted_state(self, state: Mapping[str, Any]) -> PreparedSeries:
        """Scale with the scaler saved in a project instead of the one fitted on the file now.

        A trained model only makes sense with the scaling it was trained with:
        refitting on an edited file moves every forecast. The columns, log and
        differencing must match the saved state (else a DataError says to
        retrain or refit). Returns ``self``, rescaled in place.
        """
        saved = state.get("scaler") if isinstance(state, Mapping) else None
        if not isinstance(saved, Mapping):
            return self
        where = "the project's fitted state"
        for key, mine in (("target_columns", list(self.target_columns)),
                          ("input_columns", list(self.input_columns)),
                          ("log", bool(self.options.log)), ("diff_lag", int(self.options.diff_lag))):
            theirs = state.get(key, mine)
            if (list(theirs) if isinstance(theirs, list | tuple) else theirs) != mine:
                raise DataError(f"the data no longer matches the trained project: {key} was "
                                f"{theirs!r}, the data now gives {mine!r}", where=where,
                                fix="retrain the project on this data, or refit the scaling "
                                    "(refit, --refit in the CLI)")
        n_inputs = len(self.input_columns)
        try:
            new = Scaler(str(saved["method"]), [float(v) for v in saved["center"]],
                         [float(v) for v in saved["scale"]])
        except (KeyError, TypeError, ValueError):
            raise DataError("the project's saved scaler is damaged", where=where,
                            fix="refit it (--refit), or retrain") from None
        if len(new.center) != n_inputs or len(new.scale) != n_inputs \
                or not all(math.isfinite(v) for v in new.center + new.scale) \
                or any(v == 0 for v in new.scale):
            raise DataError("the project's saved scaler does not fit the data's columns", where=where,
                            fix="refit it (--refit), or retrain")
        state_ = self._fitted
        if (new.method, new.center, new.scale) == (state_.scaler.method, state_.scaler.center,
                                                   state_.scaler.scale):
            return self
        # the scaled values back to model inputs (float64), then scaled the saved way
        values = state_.scaler.inverse(state_.scaled)
        scaled = new.transform(values).astype(np.float32)
        lag, o = self.options.diff_lag, self.options
        for split in SPLITS:
            a, b = state_.bounds[split]
            x, y = window_arrays(scaled[a - lag:b - lag], o.look_back, o.horizon, o.stride,
                                len(self.target_columns))
            setattr(self, f"x_{split}", x)
            setattr(self, f"y_{split}", y)
        state_.scaled, state_.scaler = scaled, new
        self.report.notes.append("scaling as saved in the project (not fitted again on this file)")
        return self

    def forecast(self, predict_fn: Callable[[np.ndarray], Any], steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Forecast ``steps`` values beyond the end of the data, recursively one step ahead.

        ``predict_fn`` maps a scaled window ``(1, look_back, n_inputs)`` float32
        to the model output ``(1, n_outputs)`` (scaled); the first step of each
        prediction is fed back as the next input. Returns the future times and
        the values in original units, ``(steps, n_targets)``.

        >>> times, values = data.forecast(lambda x: x[:, -1, :1], steps=12)  # doctest: +SKIP
        """
        if len(self.input_columns) > len(self.target_columns):
            extra = ", ".join(self.input_columns[len(self.target_columns):])
            raise DataError(f"cannot forecast beyond the data: the model also needs future values of "
                            f"{extra}", fix="train without extra feature columns to forecast recursively, "
                                            "or predict on rows whose features are known")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise DataError(f"forecast steps must be a positive integer, got {steps!r}")
        state, n_targets = self._fitted, len(self.target_columns)
        look_back, lag = self.options.look_back, self.options.diff_lag
        window = state.scaled[-look_back:].astype(np.float32).copy()
        predicted = np.empty((steps, n_targets))
        for k in range(steps):
            out = predict_fn(window[None])
            if not isinstance(out, np.ndarray) and hasattr(out, "detach"):  # a tensor
                out = out.detach().cpu().numpy()
            step = np.asarray(out, dtype=np.float64).reshape(-1)[:n_targets]
            predicted[k] = step
            window = np.concatenate([window[1:], step[None].astype(np.float32)])
        values = state.scaler.inverse(predicted, slice(0, n_targets))
        if lag:
            levels = list(state.level)
            for k in range(steps):
                levels.append(values[k] + levels[-lag])
            values = np.asarray(levels[-steps:])
        if self.options.log:
            values = np.exp(values)
        return self._future_times(steps), values

    def _future_times(self, steps: int) -> np.ndarray:
        index = self.series.index
        offset = step_offset(self._fitted.step, index)
        if isinstance(index, pd.DatetimeIndex):
            last = index[-1]
            return pd.DatetimeIndex([last + offset * k for k in range(1, steps + 1)]).to_numpy()
        return np.arange(1, steps + 1) + int(index[-1])


def prepare_series(options: SeriesOptions, loaded: LoadedSeries | None = None) -> PreparedSeries:
    """Turn a CSV time series into scaled windows split chronologically (see the module docstring).

    ``loaded`` reuses a :class:`LoadedSeries` already read (its own time
    options then apply); otherwise ``options.path`` is read with
    ``options.date_col`` / ``options.date_format``.

    >>> data = prepare_series(SeriesOptions(path="airline-passengers.csv", look_back=3))  # doctest: +SKIP
    >>> data.x_train.shape                                                                 # doctest: +SKIP
    torch.Size([93, 3, 1])
    """
    if loaded is None:
        if not options.path:
            raise DataError("no CSV file chosen", fix="set the series option 'path' to a CSV file")
        loaded = read_series_csv(options.path, date_col=options.date_col, date_format=options.date_format)
    path = loaded.path
    notes = list(loaded.report.notes)
    targets, categorical, used = used_columns(options, loaded, notes)
    refuse_infinite(loaded, used, categorical)
    used, row_numbers, filled_positions = handle_missing(options, loaded, used, categorical, notes)
    blocks, input_names, categories = input_blocks(used, targets, categorical)

    n_rows, n_targets, lag = len(used), len(targets), options.diff_lag
    original = blocks[0]
    level = _target_level(options, original, targets, row_numbers, used, path)
    if lag and lag >= n_rows - 1:
        raise DataError(f"diff_lag {lag} leaves no data: the series has only {n_rows} rows",
                        where=path, fix="use a smaller diff_lag (1, or the season length)"
                        if lag > 1 else "use a longer series, or no differencing")
    transformed = level[lag:] - level[:-lag] if lag else level
    inputs = np.concatenate([transformed] + [b[lag:] for b in blocks[1:]], axis=1)
    bounds_local = _split_bounds(options, len(inputs), path)

    # scaling fitted on the train part only
    scaler = Scaler.fit(inputs[:bounds_local["train"][1]], options.scaling)
    # numpy until a model reads them: PreparedData makes tensors then (sharing the memory)
    scaled = scaler.transform(inputs).astype(np.float32)
    tensors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    target_pos: dict[str, np.ndarray] = {}
    for split, (a, b) in bounds_local.items():
        tensors[split] = window_arrays(scaled[a:b], options.look_back, options.horizon, options.stride,
                                      n_targets)
        count = len(tensors[split][0])
        target_pos[split] = lag + a + np.arange(count) * options.stride + options.look_back

    series = used.copy()
    index = series.index
    bounds = {k: (a + lag, b + lag) for k, (a, b) in bounds_local.items()}
    split_times = {k: (index[a], index[b - 1]) for k, (a, b) in bounds.items() if b > a}
    leak = _find_leaks(bounds, target_pos, options, filled_positions, used, categorical)
    step = loaded.report.step
    season = options.season or SEASON_BY_STEP.get(step, 1)
    report = SeriesReport(**{**loaded.report.to_dict(), "notes": notes})
    counts = "/".join(str(len(tensors[s][0])) for s in SPLITS)
    description = (f"{Path(path).name if path else 'series'}: {n_rows} rows ({step}), target "
                   f"{', '.join(targets)}, {len(input_names)} input(s), look_back {options.look_back}, "
                   f"horizon {options.horizon}; train/val/test windows {counts}")
    description += "".join(f"\nnote: {note}" for note in notes)  # what reading changed or guessed
    # numpy arrays where the fields say tensors: PreparedData makes the tensors when read
    arrays: dict[str, Any] = {f"{xy}_{split}": tensors[split][i] for split in SPLITS
                              for i, xy in enumerate("xy")}
    return PreparedSeries(
        task="regression", **arrays,
        n_outputs=options.horizon * n_targets, input_is_ids=False, description=description,
        options=options, series=series, split_times=split_times, window_leak=leak,
        target_columns=targets, input_columns=input_names, season=season, report=report,
        _internals=_SeriesInternals(original=original, level=level, scaled=scaled, scaler=scaler,
                                    target_pos=target_pos, bounds=bounds, step=step,
                                    categories=categories),
    )


def _target_level(options: SeriesOptions, original: np.ndarray, targets: list[str],
                  row_numbers: np.ndarray, used: pd.DataFrame, path: str) -> np.ndarray:
    """What differencing acts on: log(targets) with ``log``, else the targets themselves."""
    if not options.log:
        return original
    bad = original <= 0
    if bad.any():
        row_i, col_i = np.argwhere(bad)[0]
        raise DataError(f"log needs positive values, but column {targets[col_i]!r} holds "
                        f"{original[row_i, col_i]:g}",
                        where=f"{path}: file line {row_numbers[row_i]}, time {used.index[row_i]}",
                        fix="turn off log, or shift the data to be positive")
    return np.log(original)


def _split_bounds(options: SeriesOptions, n: int, path: str) -> dict[str, tuple[int, int]]:
    """Positions [start, stop) of each part in the ``n`` transformed values; too-short parts raise."""
    lag = options.diff_lag
    n_train, n_val = int(n * options.train_frac), int(n * options.val_frac)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
    need = options.look_back + options.horizon
    for split, (a, b) in bounds.items():
        size = b - a
        wanted = split == "train" or (split == "val" and options.val_frac > 0) or \
            (split == "test" and options.train_frac + options.val_frac < 1.0 - 1e-9)
        if (wanted or size) and size < need:
            raise DataError(
                f"the {split} part has {size} values but look_back {options.look_back} + horizon "
                f"{options.horizon} needs at least {need}", where=f"{path}: {n} values after cleaning"
                + (f" and differencing (lag {lag})" if lag else ""),
                fix=(("use a longer series (look_back and horizon are already 1)"
                      + ("" if split == "train" else ", or give that part a larger fraction"))
                     if options.look_back == 1 and options.horizon == 1
                     else "lower look_back or horizon, or give that part a larger fraction")
                    if size or split == "train" else
                    "raise its fraction, or set train_frac + val_frac to 1 to have no test part")
    return bounds


def _find_leaks(bounds: dict[str, tuple[int, int]], target_pos: dict[str, np.ndarray],
                options: SeriesOptions, filled: np.ndarray, used: pd.DataFrame,
                categorical: list[str]) -> str | None:
    """Say where a split reads values of a later split (windows, or filled missing values)."""
    problems = []
    for split in SPLITS:
        positions, (_, stop) = target_pos[split], bounds[split]
        if len(positions) and positions[-1] + options.horizon > stop:
            problems.append(f"windows of the {split} part read values of the next part")
    if options.missing == "interpolate" and filled.any():
        # Interpolation uses the next observed value; where that lies in a later part, it leaks.
        next_observed = np.full(len(filled), len(filled))
        upcoming = len(filled)
        for i in range(len(filled) - 1, -1, -1):
            next_observed[i] = upcoming
            if not filled[i]:
                upcoming = i
        for split in SPLITS[:-1]:
            start, stop = bounds[split]
            inside = np.flatnonzero(filled[start:stop]) + start
            if len(inside) and (next_observed[inside] >= stop).any():
                problems.append(f"values missing at the end of the {split} part were interpolated "
                                "from values of the next part")
    return "; ".join(problems) if problems else None
