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

import csv
import io
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seqstudio.core.data.prepared import SPLITS, PreparedData, Split
from seqstudio.core.errors import DataError
from seqstudio.core.registry import OptionSpec

MISSING_POLICIES = ("error", "drop", "ffill", "interpolate")
CATEGORICAL_POLICIES = ("error", "onehot", "drop")
SCALINGS = ("minmax", "standard", "none")

# Column names that say "this is the time" (auto-detection tries them first).
_TIME_NAME = re.compile(r"^(date|time|datetime|timestamp|month|year|day|period|week|quarter|ds|dt)"
                        r"|(date|time|stamp)$", re.IGNORECASE)
# Unambiguous formats tried in order by auto-detection (first that parses every value wins).
_AUTO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                 "%Y-%m-%d", "%Y-%m", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y/%m",
                 "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y", "ISO8601")
# Split-up time columns that can be assembled into one time stamp (pd.to_datetime on a frame).
_TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
_DELIMITERS = (",", ";", "\t", "|")
_SEASON_BY_STEP = {"monthly": 12, "daily": 7, "hourly": 24, "quarterly": 4}


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
               "or empty for a plain row index."),
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
@dataclass
class SeriesReport:
    """What reading found: file format, time step, duplicated time stamps, gaps, missing values."""

    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    n_rows: int = 0
    #: "minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular" or "index".
    step: str = "index"
    #: Time stamps that occur more than once (as text, first 20).
    duplicates: list[str] = field(default_factory=list)
    n_duplicates: int = 0
    #: Holes in a regular time grid: {"after": time, "missing": count} (first 20).
    gaps: list[dict[str, Any]] = field(default_factory=list)
    n_missing_steps: int = 0
    #: Missing values per column (only columns that have some).
    missing_values: dict[str, int] = field(default_factory=dict)
    was_sorted: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedSeries:
    """A CSV read into a time-indexed, time-sorted frame, with a :class:`SeriesReport`.

    ``frame`` is indexed by time (a ``DatetimeIndex``, or a ``RangeIndex``
    named ``"step"`` for a plain index); the time column(s) are removed from
    its columns. ``row_numbers[i]`` is the file line (header = line 1) of
    ``frame.iloc[i]``, for error messages.
    """

    frame: pd.DataFrame
    time_col: str | None
    numeric_columns: list[str]
    report: SeriesReport
    path: str = ""
    row_numbers: np.ndarray | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, name: str = "<frame>") -> LoadedSeries:
        """Wrap an in-memory frame (e.g. a plugin's generated series) for :func:`prepare_series`.

        The index is taken as the time axis (a ``DatetimeIndex`` or anything else as a plain index).

        >>> loaded = LoadedSeries.from_frame(pd.DataFrame({"y": [1.0, 2.0, 3.0]}))
        >>> loaded.numeric_columns, loaded.report.step
        (['y'], 'index')
        """
        frame = frame.copy()
        if not isinstance(frame.index, pd.DatetimeIndex):
            frame.index = pd.RangeIndex(len(frame), name="step")
        report = SeriesReport(n_rows=len(frame))
        rows = np.arange(len(frame)) + 2
        frame, rows = _sort_and_check_time(frame, rows, report)
        _count_missing(frame, report)
        time_col = frame.index.name or "time" if isinstance(frame.index, pd.DatetimeIndex) else None
        return cls(frame=frame, time_col=time_col, path=name, report=report, row_numbers=rows,
                   numeric_columns=[c for c in frame.columns if _is_numeric(frame[c])])


def _looks_like_data(fields: list[str], decimal: str) -> bool:
    """Whether a CSV's first row is data (numbers and time stamps) rather than column names.

    >>> _looks_like_data(["1949-01", "112"], "."), _looks_like_data(["Month", "Passengers"], ".")
    (True, False)
    """
    def number(text: str) -> bool:
        try:
            float(text.replace(",", ".") if decimal == "," else text)
        except ValueError:
            return False
        return True

    def time_stamp(text: str) -> bool:
        for fmt in _AUTO_FORMATS[:-1]:  # not ISO8601: it reads "112" as a year
            try:
                pd.to_datetime(text, format=fmt)
            except (ValueError, TypeError):
                continue
            return True
        return False

    cells = [f.strip() for f in fields]
    return (bool(cells) and any(number(c) for c in cells)
            and all(c and (number(c) or time_stamp(c)) for c in cells))


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _decode(raw: bytes, path: str) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 never fails.
        return raw.decode("latin-1"), "latin-1"


def _sniff_delimiter(lines: list[str]) -> str:
    unquoted = [re.sub(r'"[^"]*"', '""', line) for line in lines]
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        counts = {line.count(delimiter) for line in unquoted}
        if len(counts) != 1:
            continue
        count = counts.pop()
        if count > best_count:
            best, best_count = delimiter, count
        elif (count and count == best_count and best == "," and delimiter == ";"
              and _sniff_decimal(["", *lines], ";") == ","):
            best = ";"  # "2000-01;1,5" on every line: the commas are decimal commas
    if best_count == 0:  # ragged sample: take the delimiter of the header line
        header_counts = [(unquoted[0].count(d), d) for d in _DELIMITERS]
        count, delimiter = max(header_counts)
        best = delimiter if count else ","
    return best


def _sniff_decimal(lines: list[str], delimiter: str) -> str:
    if delimiter == ",":
        return "."
    fields_ = [f.strip().strip('"') for line in lines[1:] for f in line.split(delimiter)]
    if any(re.fullmatch(r"[-+]?\d*,\d+([eE][-+]?\d+)?", f) for f in fields_):
        return ","
    return "."


def _parse_times(values: pd.Series, date_format: str | None) -> pd.DatetimeIndex | None:
    """Parse a column as times with ``date_format`` or the auto formats; None when nothing fits."""
    present = values.dropna()
    if len(present) == 0:
        return None
    if pd.api.types.is_integer_dtype(values):
        text = values.astype("Int64").astype(str)
        formats = [date_format] if date_format else (["%Y"] if present.between(1000, 2999).all() else [])
    else:
        text = values.astype(str).str.strip()
        formats = [date_format] if date_format else list(_AUTO_FORMATS)
    head = text[values.notna()].iloc[:200]
    for fmt in formats:
        try:
            # a cheap look at the first values rules most formats out before the full parse
            if pd.to_datetime(head, format=fmt, errors="coerce").isna().any():
                continue
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except (ValueError, TypeError):
            continue
        if parsed[values.notna()].notna().all():
            return pd.DatetimeIndex(parsed)
    return None


def _period_index(spec: str, n: int) -> pd.DatetimeIndex:
    parts = spec.split(":")
    start = parts[1].strip() if len(parts) > 1 else ""
    freq = parts[2].strip() if len(parts) > 2 else None
    if freq is None:
        freq = {4: "YS", 7: "MS", 10: "D"}.get(len(start), "h")
    try:
        return pd.date_range(start=start, periods=n, freq=freq)
    except (ValueError, TypeError) as exc:
        raise DataError(f"date_format {spec!r} is not a valid period", where=str(exc),
                        fix="write period:START[:FREQ], e.g. period:1991-01 (monthly) or "
                            "period:2020-01-01:h (hourly)") from None


def _assemble_time(frame: pd.DataFrame, columns: list[str], path: str) -> pd.DatetimeIndex:
    parts = {}
    for col in columns:
        key = col.strip().lower()
        if key not in _TIME_PARTS:
            raise DataError(f"column {col!r} is not a time part", where=path,
                            fix=f"name only columns meaning {', '.join(_TIME_PARTS)} in date_col")
        parts[key] = pd.to_numeric(frame[col], errors="coerce")
    if "day" not in parts:
        parts["day"] = 1
    try:
        times = pd.to_datetime(pd.DataFrame(parts), errors="coerce")
    except (ValueError, TypeError) as exc:
        raise DataError(f"columns {', '.join(columns)} do not make dates", where=f"{path}: {exc}",
                        fix="check the values of the year/month/day/hour columns") from None
    if times.isna().any():
        bad = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(f"columns {', '.join(columns)} do not form a valid date on line {bad + 2}",
                        where=path, fix="fix that row or use date_col=None for a plain index")
    return pd.DatetimeIndex(times)


def _classify_step(index: pd.Index) -> str:
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return "index"
    deltas = np.diff(index.as_unit("ns").asi8)
    deltas = deltas[deltas > 0]
    if len(deltas) == 0:
        return "irregular"
    days = float(np.median(deltas)) / 86400e9
    for name, low, high in (("minutely", 1 / 1440 - 1e-9, 1 / 1440 + 1e-9), ("hourly", 1 / 24 - 1e-9, 1 / 24 + 1e-9), ("daily", 1 - 1e-9, 1 + 1e-9),
                            ("weekly", 7 - 1e-9, 7 + 1e-9), ("monthly", 28, 31),
                            ("quarterly", 89, 92), ("yearly", 365, 366)):
        if low <= days <= high:
            return name
    return "irregular"


_PERIOD_FREQ = {"minutely": "min", "hourly": "h", "daily": "D", "weekly": "W", "monthly": "M", "quarterly": "Q",
                "yearly": "Y"}


def _step_offset(step: str, index: pd.Index) -> pd.DateOffset | pd.Timedelta | int:
    if step == "index" or not isinstance(index, pd.DatetimeIndex):
        return 1
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}.get(step)
    if months:
        return pd.DateOffset(months=months)
    return pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")


def _sort_and_check_time(frame: pd.DataFrame, rows: np.ndarray,
                         report: SeriesReport) -> tuple[pd.DataFrame, np.ndarray]:
    """Sort by time (stable), then record duplicated time stamps and gaps in ``report``."""
    index = frame.index
    if not index.is_monotonic_increasing:
        order = np.argsort(index.to_numpy(), kind="stable")
        frame, rows = frame.iloc[order], rows[order]
        report.was_sorted = False
        report.notes.append("rows were not in time order; sorted by time")
    index = frame.index
    dup_mask = index.duplicated(keep="first")
    report.n_duplicates = int(dup_mask.sum())
    report.duplicates = [str(t) for t in pd.unique(index[dup_mask])[:20]]
    report.step = _classify_step(index)
    if report.step in _PERIOD_FREQ:
        ordinals = index.to_period(_PERIOD_FREQ[report.step]).asi8
        jumps = np.diff(ordinals)
        holes = np.flatnonzero(jumps > 1)
        report.n_missing_steps = int((jumps[holes] - 1).sum())
        report.gaps = [{"after": str(index[i]), "missing": int(jumps[i] - 1)} for i in holes[:20]]
    return frame, rows


def _count_missing(frame: pd.DataFrame, report: SeriesReport) -> None:
    counts = frame.isna().sum()
    report.missing_values = {str(c): int(n) for c, n in counts.items() if n}


def read_series_csv(path: str | Path, *, date_col: str | None = "auto",
                    date_format: str | None = None) -> LoadedSeries:
    """Read a CSV time series into a time-sorted frame and report what was found.

    Detects the encoding (UTF-8, UTF-8 with BOM, cp1252), the delimiter
    (``,`` ``;`` tab ``|``) and a decimal comma (``3,14`` beside ``;``);
    CRLF line ends and a missing final newline are fine.

    Parameters
    ----------
    path
        The CSV file.
    date_col
        ``"auto"`` (assemble ``year,month[,day[,hour]]`` columns if present,
        else the first time-like column that parses completely; a plain
        index when none does, with a note in the report), a column name, a
        comma-separated list of time-part columns (``"year,month,day,hour"``),
        or None for a plain row index.
    date_format
        A ``strftime`` format for the time column, or ``"period:START[:FREQ]"``
        to replace it by a regular range (``"period:1991-01"`` for the
        shampoo file's ``1-01`` dates).

    >>> loaded = read_series_csv("airline-passengers.csv")   # doctest: +SKIP
    >>> loaded.time_col, loaded.report.step, len(loaded.frame)  # doctest: +SKIP
    ('Month', 'monthly', 144)
    """
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}", fix="choose an existing CSV file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", fix="check the path and permissions") \
            from None
    text, encoding = _decode(raw, path)
    sample = [line for line in text.splitlines()[:50] if line.strip()]
    if not sample:
        raise DataError("the file is empty", where=path, fix="choose a CSV with a header row and data")
    delimiter = _sniff_delimiter(sample)
    decimal = _sniff_decimal(sample, delimiter)
    header = next(csv.reader([sample[0]], delimiter=delimiter))
    headerless = _looks_like_data(header, decimal)
    # a first row of data is kept as data, and the columns get names
    names = {"header": None, "names": [f"column{i + 1}" for i in range(len(header))]} \
        if headerless else {}
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with more fields than the header is an error, not a silent index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, decimal=decimal, skipinitialspace=True,
                                index_col=False, **names)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
        raise DataError(f"cannot parse the CSV: {exc}", where=path,
                        fix="check that every row has the same number of fields") from None
    first_line = 1 if headerless else 2  # file line of the first data row
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise DataError("the file has a header but no data rows", where=path,
                        fix="add data rows below the header")
    report = SeriesReport(encoding=encoding, delimiter=delimiter, decimal=decimal, n_rows=len(frame))
    if headerless:
        report.notes.append(f"the first row holds data, not column names: the columns are called "
                            f"column1 to column{len(frame.columns)} (add a header row to name them)")
    rows = np.arange(len(frame)) + first_line  # file line numbers

    period = date_format if date_format and date_format.startswith("period:") else None
    strf = None if period else date_format
    time_cols: list[str] = []
    times: pd.DatetimeIndex | None = None
    time_name: str | None = None
    if date_col is None or date_col == "":
        pass
    elif date_col == "auto":
        lower = {c.lower(): c for c in frame.columns}
        if "year" in lower and "month" in lower and \
                all(pd.api.types.is_integer_dtype(frame[lower[p]]) for p in _TIME_PARTS if p in lower):
            time_cols = [lower[p] for p in _TIME_PARTS if p in lower]
            times = _assemble_time(frame, time_cols, path)
            time_name = ",".join(time_cols)
        else:
            candidates = [c for c in frame.columns if _TIME_NAME.search(c)]
            candidates += [c for c in frame.columns if c not in candidates and not _is_numeric(frame[c])]
            if period and candidates:
                time_cols, time_name = [candidates[0]], candidates[0]
            for col in candidates if not period else []:
                parsed = _parse_times(frame[col], strf)
                if parsed is not None:
                    times, time_cols, time_name = parsed, [col], col
                    break
            if times is None and not period:
                named = [c for c in candidates if _TIME_NAME.search(c)]
                if named:
                    example = frame[named[0]].dropna().astype(str).iloc[0]
                    report.notes.append(
                        f"column {named[0]!r} looks like time but values such as {example!r} have no "
                        "known date format; using a plain row index (give date_format, e.g. "
                        "'period:1991-01', to get dates)")
    elif "," in date_col:
        time_cols = [c.strip() for c in date_col.split(",") if c.strip()]
        _require_columns(frame, time_cols, path, "date_col")
        times = _assemble_time(frame, time_cols, path)
        time_name = ",".join(time_cols)
    else:
        _require_columns(frame, [date_col], path, "date_col")
        time_cols, time_name = [date_col], date_col
        if not period:
            times = _parse_times(frame[date_col], strf)
            if times is None:
                values = frame[date_col].dropna().astype(str)
                fmt_text = f"format {strf!r}" if strf else "any known date format"
                bad = values.iloc[0]
                if strf:
                    parsed = pd.to_datetime(values.str.strip(), format=strf, errors="coerce")
                    bad = values[parsed.isna()].iloc[0]
                raise DataError(f"column {date_col!r} does not match {fmt_text}: {bad!r}", where=path,
                                fix="give date_format (e.g. '%Y-%m'), 'period:1991-01' for a regular "
                                    "range, or date_col=None for a plain index")

    if period and date_col not in (None, ""):
        times = _period_index(period, len(frame))
        time_name = time_name or "time"
        report.notes.append(f"time replaced by a regular range from {date_format[7:]}")
    if times is not None:
        if times.isna().any():
            bad = int(np.flatnonzero(times.isna())[0])
            raise DataError(f"the time column has an empty value on line {bad + 2}", where=path,
                            fix="fill or remove that row")
        frame = frame.drop(columns=time_cols)
        frame.index = pd.DatetimeIndex(times, name=time_name)
    else:
        frame.index = pd.RangeIndex(len(frame), name="step")
        time_name = None
    frame, rows = _sort_and_check_time(frame, rows, report)
    _count_missing(frame, report)
    numeric = [c for c in frame.columns if _is_numeric(frame[c])]
    return LoadedSeries(frame=frame, time_col=time_name, numeric_columns=numeric, report=report,
                        path=path, row_numbers=rows)


def _require_columns(frame: pd.DataFrame, columns: list[str], path: str, option: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"column {missing[0]!r} ({option}) is not in the file", where=path,
                        fix=f"choose among: {', '.join(map(str, frame.columns))}")


# ---------------------------------------------------------------------------
# Windows and scaling (public helpers, also for plugin sources)
# ---------------------------------------------------------------------------
def make_windows(values: torch.Tensor | np.ndarray, look_back: int, horizon: int = 1,
                 stride: int = 1, n_targets: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sliding windows over a ``(T, C)`` series as views (``Tensor.unfold``), not copies.

    Returns ``x`` of shape ``(N, look_back, C)`` and ``y`` of shape
    ``(N, horizon * n_targets)`` (horizon-major), with
    ``N = (T - look_back - horizon) // stride + 1`` (0 when the series is too
    short). The targets are the first ``n_targets`` columns (default: all).
    ``x`` shares memory with ``values`` (a float32 numpy array is shared too).

    >>> x, y = make_windows(np.arange(5, dtype=np.float32), look_back=2)
    >>> x[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]], [[2.0], [3.0], [4.0]])
    """
    series = torch.as_tensor(values)
    if series.ndim == 1:
        series = series[:, None]
    n_targets = series.shape[1] if n_targets is None else n_targets
    if len(series) < look_back + horizon:
        return (series.new_zeros((0, look_back, series.shape[1])),
                series.new_zeros((0, horizon * n_targets)))
    windows = series.unfold(0, look_back + horizon, stride)  # (N, C, look_back + horizon), a view
    x = windows[:, :, :look_back].transpose(1, 2)
    y = windows[:, :n_targets, look_back:].transpose(1, 2).reshape(len(windows), horizon * n_targets)
    return x, y


@dataclass
class Scaler:
    """Per-column affine scaling ``scaled = (value - center) / scale``, JSON-able.

    ``minmax`` maps the fitted data to [0, 1] (center = min, scale = max - min);
    ``standard`` to mean 0, std 1 (population std); ``none`` is the identity. A
    constant column gets scale 1 so it never divides by zero.

    >>> s = Scaler.fit(np.array([[1.0], [3.0]]), "minmax")
    >>> s.transform(np.array([[2.0], [5.0]])).ravel().tolist()
    [0.5, 2.0]
    """

    method: str
    center: list[float]
    scale: list[float]

    @classmethod
    def fit(cls, values: np.ndarray, method: str) -> Scaler:
        values = np.asarray(values, dtype=np.float64)
        n_cols = values.shape[1]
        if method == "minmax":
            center, scale = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        elif method == "standard":
            center, scale = values.mean(axis=0), values.std(axis=0)
        else:
            center, scale = np.zeros(n_cols), np.ones(n_cols)
        scale = np.where(scale > 0, scale, 1.0)
        return cls(method, [float(c) for c in center], [float(s) for s in scale])

    def transform(self, values: np.ndarray, columns: slice | None = None) -> np.ndarray:
        sel = columns or slice(None)
        return (np.asarray(values, dtype=np.float64) - np.asarray(self.center)[sel]) \
            / np.asarray(self.scale)[sel]

    def inverse(self, values: np.ndarray, columns: slice | None = None) -> np.ndarray:
        sel = columns or slice(None)
        return np.asarray(values, dtype=np.float64) * np.asarray(self.scale)[sel] \
            + np.asarray(self.center)[sel]


# ---------------------------------------------------------------------------
# Prepared data
# ---------------------------------------------------------------------------
@dataclass
class _SeriesInternals:
    original: np.ndarray          # (n, T) cleaned targets, original units
    level: np.ndarray             # (n, T) log(original) or original: what differencing acts on
    scaled: torch.Tensor          # (n - diff_lag, C) scaled transformed inputs (all parts)
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
    def target_names(self) -> list[str]:
        """Alias of ``target_columns`` (the resolved targets, also when the option was empty)."""
        return list(self.target_columns)

    # -- shapes -----------------------------------------------------------
    def _positions(self, split: Split) -> np.ndarray:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}", fix=f"use one of: {', '.join(SPLITS)}")
        return self._internals.target_pos[split]

    def _target_block(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``values[pos + h]`` for each sample and horizon step, as (N, horizon * T)."""
        steps = positions[:, None] + np.arange(self.options.horizon)
        return values[steps].reshape(len(positions), self.n_outputs)

    def to_original(self, y: torch.Tensor | np.ndarray, split: Split) -> np.ndarray:
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
        state = self._internals
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
        return self._target_block(self._internals.original, self._positions(split))

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
        original, horizon = self._internals.original, self.options.horizon
        naive = np.repeat(original[positions - 1][:, None, :], horizon, axis=1)
        result = {"naive": naive.reshape(len(positions), self.n_outputs)}
        m = self.season
        h = np.arange(horizon)
        seasonal_steps = positions[:, None] + h - m * (h // m + 1)
        if m > 1 and (len(positions) == 0 or seasonal_steps.min() >= 0):
            result["seasonal_naive"] = original[seasonal_steps].reshape(len(positions), self.n_outputs)
        return result

    def fitted_state(self) -> dict[str, Any]:
        """JSON-able fitted transforms: scaler, log/diff settings, columns, categories, season."""
        state = self._internals
        return {
            "scaler": asdict(state.scaler),
            "log": self.options.log,
            "diff_lag": self.options.diff_lag,
            "target_columns": list(self.target_columns),
            "input_columns": list(self.input_columns),
            "categories": {k: list(v) for k, v in state.categories.items()},
            "season": self.season,
            "step": state.step,
            "bounds": {k: list(v) for k, v in state.bounds.items()},
        }

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
        state, n_targets = self._internals, len(self.target_columns)
        look_back, lag = self.options.look_back, self.options.diff_lag
        window = state.scaled[-look_back:].numpy().astype(np.float32).copy()
        predicted = np.empty((steps, n_targets))
        for k in range(steps):
            out = predict_fn(window[None])
            if isinstance(out, torch.Tensor):
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
        offset = _step_offset(self._internals.step, index)
        if isinstance(index, pd.DatetimeIndex):
            last = index[-1]
            return pd.DatetimeIndex([last + offset * k for k in range(1, steps + 1)]).to_numpy()
        return np.arange(1, steps + 1) + int(index[-1])


def _describe_rows(loaded: LoadedSeries, frame: pd.DataFrame, mask: np.ndarray) -> str:
    where = np.flatnonzero(mask)
    positions = frame.index
    rows = loaded.row_numbers
    lines = [str(int(rows[i])) if rows is not None else str(i) for i in where[:5]]
    more = f" and {len(where) - 5} more" if len(where) > 5 else ""
    first = f"; first at {positions[where[0]]}" if isinstance(positions, pd.DatetimeIndex) else ""
    return f"file line{'s' if len(where) > 1 else ''} {', '.join(lines)}{more}{first}"


def _numeric_column(loaded: LoadedSeries, frame: pd.DataFrame, col: str, role: str) -> pd.Series:
    values = frame[col]
    if _is_numeric(values):
        return values.astype(np.float64)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        example = values[bad].iloc[0]
        raise DataError(f"{role} column {col!r} is not numeric: it holds values such as {example!r}",
                        where=f"{loaded.path}: {_describe_rows(loaded, frame, bad.to_numpy())}",
                        fix=f"choose a numeric {role} column"
                            + (" or set categorical='onehot' / 'drop' for text features"
                               if role == "feature" else ""))
    return converted.astype(np.float64)


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
    frame, path = loaded.frame, loaded.path
    notes = list(loaded.report.notes)

    # -- columns ---------------------------------------------------------
    targets = list(options.target)
    if not targets and loaded.numeric_columns:
        targets = [loaded.numeric_columns[-1]]
    elif not targets:
        # A column of mostly numbers with some text gets the precise "not numeric" error below.
        almost = [c for c in frame.columns
                  if pd.to_numeric(frame[c], errors="coerce").notna().sum() >= 0.5 * frame[c].notna().sum() > 0]
        if not almost:
            raise DataError("the file has no numeric column to forecast", where=path,
                            fix="choose a file with numbers, or check the delimiter and decimal mark")
        targets = [almost[-1]]
    _require_columns(frame, targets, path, "target")
    features = [c for c in dict.fromkeys(options.features) if c not in targets]
    _require_columns(frame, features, path, "features")
    if loaded.report.n_duplicates:
        raise DataError(f"{loaded.report.n_duplicates} time stamps occur more than once, e.g. "
                        f"{loaded.report.duplicates[0]}", where=path,
                        fix="remove the duplicated rows, or set date_col=None to use the row order")
    columns: dict[str, pd.Series] = {c: _numeric_column(loaded, frame, c, "target") for c in targets}
    categorical: list[str] = []
    for col in features:
        if _is_numeric(frame[col]) or pd.to_numeric(frame[col], errors="coerce").notna().sum() \
                == frame[col].notna().sum():
            columns[col] = _numeric_column(loaded, frame, col, "feature")
        elif options.categorical == "error":
            example = frame[col].dropna().iloc[0]
            raise DataError(f"feature column {col!r} is not numeric (values such as {example!r})",
                            where=path, fix="set categorical='onehot' to encode it, or 'drop' to leave it out")
        elif options.categorical == "drop":
            notes.append(f"text feature column {col!r} dropped")
        else:
            categorical.append(col)
            columns[col] = frame[col]
    used = pd.DataFrame(columns, index=frame.index)

    # -- missing values --------------------------------------------------
    row_numbers = loaded.row_numbers if loaded.row_numbers is not None else np.arange(len(frame)) + 2
    nan_mask = used.isna().to_numpy()
    filled_positions = np.zeros(len(used), dtype=bool)
    if nan_mask.any():
        per_column = nan_mask.sum(axis=0)
        if options.missing == "error":
            col_i = int(np.flatnonzero(per_column)[0])
            col = used.columns[col_i]
            raise DataError(f"column {col!r} has {per_column[col_i]} missing values",
                            where=f"{path}: {_describe_rows(loaded, used, nan_mask[:, col_i])}",
                            fix="choose missing='drop', 'ffill' or 'interpolate', or clean the file")
        numeric_cols = [c for c in used.columns if c not in categorical]
        if options.missing == "drop":
            keep = ~nan_mask.any(axis=1)
            notes.append(f"{int((~keep).sum())} rows with missing values dropped")
        else:
            filled_positions = used[numeric_cols].isna().any(axis=1).to_numpy().copy()
            if options.missing == "ffill":
                used[numeric_cols] = used[numeric_cols].ffill()
            else:
                method = "time" if isinstance(used.index, pd.DatetimeIndex) else "linear"
                used[numeric_cols] = used[numeric_cols].interpolate(method=method, limit_area="inside")
            keep = used[numeric_cols].notna().all(axis=1).to_numpy()
            filled_positions &= keep
            notes.append(f"{int(filled_positions.sum())} rows with missing values filled ({options.missing})"
                         + (f"; {int((~keep).sum())} leading/trailing rows that cannot be filled dropped"
                            if (~keep).any() else ""))
        used, row_numbers = used[keep], row_numbers[keep]
        filled_positions = filled_positions[keep]

    # -- one-hot ----------------------------------------------------------
    categories: dict[str, list[str]] = {}
    input_names: list[str] = list(targets)
    blocks = [used[targets].to_numpy(np.float64)]
    for col in used.columns[len(targets):]:
        if col in categorical:
            cats = sorted(used[col].dropna().astype(str).unique())
            categories[col] = cats
            text = used[col].astype(str).to_numpy()
            blocks.append(np.stack([(text == c) for c in cats], axis=1).astype(np.float64))
            input_names += [f"{col}={c}" for c in cats]
        else:
            blocks.append(used[[col]].to_numpy(np.float64))
            input_names.append(col)

    n_rows, n_targets, lag = len(used), len(targets), options.diff_lag
    original = blocks[0]
    # -- log and differencing (targets only) ------------------------------
    level = original
    if options.log:
        bad = original <= 0
        if bad.any():
            row_i, col_i = np.argwhere(bad)[0]
            raise DataError(f"log needs positive values, but column {targets[col_i]!r} holds "
                            f"{original[row_i, col_i]:g}",
                            where=f"{path}: file line {row_numbers[row_i]}, time {used.index[row_i]}",
                            fix="turn off log, or shift the data to be positive")
        level = np.log(original)
    if lag >= n_rows - 1:
        raise DataError(f"diff_lag {lag} leaves no data: the series has only {n_rows} rows",
                        where=path, fix="use a smaller diff_lag (1, or the season length)")
    transformed = level[lag:] - level[:-lag] if lag else level
    inputs = np.concatenate([transformed] + [b[lag:] for b in blocks[1:]], axis=1)

    # -- chronological split ----------------------------------------------
    n = len(inputs)
    n_train, n_val = int(n * options.train_frac), int(n * options.val_frac)
    bounds_local = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                    "test": (n_train + n_val, n)}
    need = options.look_back + options.horizon
    for split, (a, b) in bounds_local.items():
        size = b - a
        wanted = split == "train" or (split == "val" and options.val_frac > 0) or \
            (split == "test" and options.train_frac + options.val_frac < 1.0 - 1e-9)
        if (wanted or size) and size < need:
            raise DataError(
                f"the {split} part has {size} values but look_back {options.look_back} + horizon "
                f"{options.horizon} needs at least {need}", where=f"{path}: {n} values after cleaning"
                + (f" and differencing (lag {lag})" if lag else ""),
                fix="lower look_back or horizon, or give that part a larger fraction"
                    if size or split == "train" else
                    "raise its fraction, or set train_frac + val_frac to 1 to have no test part")

    # -- scaling fitted on the train part only ----------------------------
    scaler = Scaler.fit(inputs[:n_train], options.scaling)
    scaled = torch.from_numpy(scaler.transform(inputs).astype(np.float32))

    tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    target_pos: dict[str, np.ndarray] = {}
    for split, (a, b) in bounds_local.items():
        tensors[split] = make_windows(scaled[a:b], options.look_back, options.horizon, options.stride,
                                      n_targets)
        count = len(tensors[split][0])
        target_pos[split] = lag + a + np.arange(count) * options.stride + options.look_back

    series = used.copy()
    index = series.index
    bounds = {k: (a + lag, b + lag) for k, (a, b) in bounds_local.items()}
    split_times = {k: (index[a], index[b - 1]) for k, (a, b) in bounds.items() if b > a}
    leak = _find_leaks(bounds, target_pos, options, filled_positions, used, categorical)

    step = loaded.report.step
    season = options.season or _SEASON_BY_STEP.get(step, 1)
    report = SeriesReport(**{**loaded.report.to_dict(), "notes": notes})
    name = Path(path).name if path else "series"
    counts = "/".join(str(len(tensors[s][0])) for s in SPLITS)
    description = (f"{name}: {n_rows} rows ({step}), target {', '.join(targets)}, "
                   f"{len(input_names)} input(s), look_back {options.look_back}, horizon "
                   f"{options.horizon}; train/val/test windows {counts}")
    description += "".join(f"\nnote: {note}" for note in notes)  # what reading changed or guessed
    return PreparedSeries(
        task="regression",
        x_train=tensors["train"][0], y_train=tensors["train"][1],
        x_val=tensors["val"][0], y_val=tensors["val"][1],
        x_test=tensors["test"][0], y_test=tensors["test"][1],
        n_outputs=options.horizon * n_targets, input_is_ids=False, description=description,
        options=options, series=series, split_times=split_times, window_leak=leak,
        target_columns=targets, input_columns=input_names, season=season, report=report,
        _internals=_SeriesInternals(original=original, level=level, scaled=scaled, scaler=scaler,
                                    target_pos=target_pos, bounds=bounds, step=step,
                                    categories=categories),
    )


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
