"""The time axis of a series: parsing time stamps, regular periods, and the step between rows.

Used by :mod:`seqstudio.core.data.reading` to turn a CSV's time column(s) into a
``DatetimeIndex`` and to classify its step (``"monthly"``, ``"hourly"``...), and by
:mod:`seqstudio.core.data.series` for the seasonal lag and the times of a forecast.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from seqstudio.core.errors import DataError

# Column names that say "this is the time" (auto-detection tries them first).
TIME_NAME = re.compile(r"^(date|time|datetime|timestamp|month|year|day|period|week|quarter|ds|dt)"
                       r"|(date|time|stamp)$", re.IGNORECASE)
# Unambiguous formats tried in order by auto-detection (first that parses every value wins).
AUTO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d", "%Y-%m", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y/%m",
                "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y", "ISO8601")
# Split-up time columns that can be assembled into one time stamp (pd.to_datetime on a frame).
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
SEASON_BY_STEP = {"monthly": 12, "daily": 7, "hourly": 24, "quarterly": 4}


#: Rows handled per call in long columns. pandas holds the interpreter lock for a whole call:
#: parsing 200,000 time stamps at once kept a window's GUI thread waiting ~0.1-0.2 s while
#: the data loaded in the background; in chunks the lock changes hands between them.
CHUNK_ROWS = 20_000


def in_chunks(values: pd.Series, fn, chunk: int = CHUNK_ROWS) -> pd.Series:
    """``fn(values)`` computed on slices of ``chunk`` rows and joined (the same result, in pieces).

    >>> in_chunks(pd.Series(range(5)), lambda s: s * 2, chunk=2).tolist()
    [0, 2, 4, 6, 8]
    """
    if len(values) <= chunk:
        return fn(values)
    return pd.concat([fn(values.iloc[i:i + chunk]) for i in range(0, len(values), chunk)])


def time_format(values: pd.Series, date_format: str | None) -> str | None:
    """The format (``date_format`` or one of the auto formats) every value of a text column has.

    >>> time_format(pd.Series(["1949-01", "1949-02"]), None)
    '%Y-%m'
    """
    text = values.dropna().astype(str).str.strip()
    if text.empty:
        return None
    for fmt in [date_format] if date_format else AUTO_FORMATS:
        try:
            if pd.to_datetime(text.iloc[:200], format=fmt, errors="coerce").isna().any():
                continue
            if pd.to_datetime(text, format=fmt, errors="coerce").notna().all():
                return fmt
        except (ValueError, TypeError):
            continue
    return None


def parse_times(values: pd.Series, date_format: str | None) -> pd.DatetimeIndex | None:
    """Parse a column as times with ``date_format`` or the auto formats; None when nothing fits."""
    present = values.dropna()
    if len(present) == 0:
        return None
    if pd.api.types.is_datetime64_any_dtype(values):  # read as times already (a large file)
        return pd.DatetimeIndex(values)
    if pd.api.types.is_float_dtype(values) and (present % 1 == 0).all():
        values = values.astype("Int64")  # 1700.0: a year written as a float
    if pd.api.types.is_integer_dtype(values):
        text = in_chunks(values, lambda part: part.astype("Int64").astype(str))
        formats = [date_format] if date_format else (["%Y"] if present.between(1000, 2999).all() else [])
    else:
        text = in_chunks(values, lambda part: part.astype(str).str.strip())
        formats = [date_format] if date_format else list(AUTO_FORMATS)
    head = text[values.notna()].iloc[:200]
    for fmt in formats:
        try:
            # a cheap look at the first values rules most formats out before the full parse
            if pd.to_datetime(head, format=fmt, errors="coerce").isna().any():
                continue
            parsed = in_chunks(text, lambda part, f=fmt: pd.to_datetime(part, format=f, errors="coerce"))
        except (ValueError, TypeError):
            continue
        if parsed[values.notna()].notna().all():
            return pd.DatetimeIndex(parsed)
    return None


def period_index(spec: str, n: int) -> pd.DatetimeIndex:
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


def assemble_time(frame: pd.DataFrame, columns: list[str], path: str) -> pd.DatetimeIndex:
    parts = {}
    for col in columns:
        key = col.strip().lower()
        if key not in TIME_PARTS:
            raise DataError(f"column {col!r} is not a time part", where=path,
                            fix=f"name only columns meaning {', '.join(TIME_PARTS)} in date_col")
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


def classify_step(index: pd.Index) -> str:
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return "index"
    # microseconds, not nanoseconds: years before 1677 or after 2262 do not fit in ns
    deltas = np.diff(index.as_unit("us").asi8)
    deltas = deltas[deltas > 0]
    if len(deltas) == 0:
        return "irregular"
    days = float(np.median(deltas)) / 86400e6
    for name, low, high in (("minutely", 1 / 1440 - 1e-9, 1 / 1440 + 1e-9), ("hourly", 1 / 24 - 1e-9, 1 / 24 + 1e-9), ("daily", 1 - 1e-9, 1 + 1e-9),
                            ("weekly", 7 - 1e-9, 7 + 1e-9), ("monthly", 28, 31),
                            ("quarterly", 89, 92), ("yearly", 365, 366)):
        if low <= days <= high:
            return name
    return "irregular"


PERIOD_FREQ = {"minutely": "min", "hourly": "h", "daily": "D", "weekly": "W", "monthly": "M", "quarterly": "Q",
               "yearly": "Y"}


def step_offset(step: str, index: pd.Index) -> pd.DateOffset | pd.Timedelta | int:
    if step == "index" or not isinstance(index, pd.DatetimeIndex):
        return 1
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}.get(step)
    if months:
        return pd.DateOffset(months=months)
    return pd.Timedelta(int(np.median(np.diff(index.as_unit("us").asi8))), unit="us")


def time_text(values) -> list[str]:
    """Time stamps as short text: dates alone when every stamp is midnight.

    >>> import pandas as pd
    >>> time_text(pd.DatetimeIndex(["2000-01-01", "2000-02-01"]))
    ['2000-01-01', '2000-02-01']
    >>> time_text(pd.DatetimeIndex(["2000-01-01 06:30"])), time_text([3, 4])
    (['2000-01-01 06:30'], ['3', '4'])
    """
    index = pd.Index(values)
    return span_texts(index, 0, len(index))


def span_texts(index, low: int, high: int) -> list[str]:
    """:func:`time_text` of the whole ``index``, rows ``low`` to ``high - 1`` (the format is
    the whole index's: dates alone only when every stamp is midnight)."""
    if not isinstance(index, pd.DatetimeIndex):
        return [str(v) for v in index[low:high]]
    if index.tz is None and index.unit in _PER_DAY:
        ticks = index.asi8  # the stamps as integers in the index's unit, without a copy
        span = ticks[low:high]
        if not (ticks == _NAT).any() and (span.size == 0 or (_YEAR_1000 <= span.min() / _PER_DAY[index.unit]
                                                            and span.max() / _PER_DAY[index.unit] < _YEAR_9999)):
            # numpy writes these stamps exactly as strftime would, without a call per stamp
            midnight = not (ticks % _PER_DAY[index.unit]).any()
            text = np.datetime_as_string(span.view(f"M8[{index.unit}]"), unit="D" if midnight else "m")
            if not midnight:
                text = np.char.replace(text, "T", " ")
            return text.tolist()
    fmt = "%Y-%m-%d" if (index == index.normalize()).all() else "%Y-%m-%d %H:%M"
    return list(index[low:high].strftime(fmt))


_NAT = np.iinfo(np.int64).min
#: Ticks per day of each unit a pandas DatetimeIndex may hold.
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
#: Days from 1970-01-01 to 1000-01-01 and to 9999-01-01 (numpy's text for years outside this
#: range is not strftime's).
_YEAR_1000 = int(np.datetime64("1000-01-01", "D").astype(np.int64))
_YEAR_9999 = int(np.datetime64("9999-01-01", "D").astype(np.int64))
