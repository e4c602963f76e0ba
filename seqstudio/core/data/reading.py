"""Reading a CSV time series: encoding, delimiter, decimal mark, header, time column, report.

:func:`read_series_csv` turns a file into a :class:`LoadedSeries` (a time-sorted,
time-indexed frame) with a :class:`SeriesReport` of what it found; the time axis
itself is parsed by :mod:`seqstudio.core.data.timeaxis`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqstudio.core.data.sniff import SNIFF_BYTES, check_delimited_text, looks_like_utf16
from seqstudio.core.data.timeaxis import (
    AUTO_FORMATS,
    CHUNK_ROWS,
    PERIOD_FREQ,
    TIME_NAME,
    TIME_PARTS,
    assemble_time,
    classify_step,
    parse_times,
    period_index,
    time_format,
)
from seqstudio.core.errors import DataError

_DELIMITERS = (",", ";", "\t", "|")


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
        frame, rows = sort_and_check_time(frame, rows, report)
        count_missing(frame, report)
        time_col = frame.index.name or "time" if isinstance(frame.index, pd.DatetimeIndex) else None
        return cls(frame=frame, time_col=time_col, path=name, report=report, row_numbers=rows,
                   numeric_columns=[c for c in frame.columns if is_numeric(frame[c])])


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
        for fmt in AUTO_FORMATS[:-1]:  # not ISO8601: it reads "112" as a year
            try:
                pd.to_datetime(text, format=fmt)
            except (ValueError, TypeError):
                continue
            return True
        return False

    cells = [f.strip() for f in fields]
    return (bool(cells) and any(number(c) for c in cells)
            and all(c and (number(c) or time_stamp(c)) for c in cells))


def is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _decode(raw: bytes, path: str) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    utf16 = looks_like_utf16(raw)
    if utf16:  # with or without a byte order mark
        try:
            return raw.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
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


def sort_and_check_time(frame: pd.DataFrame, rows: np.ndarray,
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
    report.step = classify_step(index)
    if report.step in PERIOD_FREQ:
        ordinals = index.to_period(PERIOD_FREQ[report.step]).asi8
        jumps = np.diff(ordinals)
        holes = np.flatnonzero(jumps > 1)
        report.n_missing_steps = int((jumps[holes] - 1).sum())
        report.gaps = [{"after": str(index[i]), "missing": int(jumps[i] - 1)} for i in holes[:20]]
    return frame, rows


def count_missing(frame: pd.DataFrame, report: SeriesReport) -> None:
    counts = frame.isna().sum()
    report.missing_values = {str(c): int(n) for c, n in counts.items() if n}


def _read_frame(text: str, raw: bytes, encoding: str, **options) -> pd.DataFrame:
    """``pd.read_csv`` of ``text``; a long one in chunks of rows from its bytes.

    A load runs in a background thread, and pandas holds the interpreter lock for each
    call: one parse of 200,000 rows kept the window's GUI thread waiting. In chunks (and
    from the undecoded bytes, which costs no copy) the lock changes hands between them.
    Chunks are joined as one read would give them.
    """
    if text.count("\n", 0, 4 * 1024 * 1024) < 2 * CHUNK_ROWS:
        return pd.read_csv(io.StringIO(text), **options)
    parts = list(pd.read_csv(io.BytesIO(raw), encoding=encoding, chunksize=CHUNK_ROWS, **options))
    frame = pd.concat(parts, ignore_index=True)
    for column in frame.columns:  # a chunk of whole numbers beside one with decimals: floats
        kinds = {part[column].dtype.kind for part in parts}
        if kinds <= {"i", "u", "f"} and "f" in kinds:
            frame[column] = frame[column].astype(float)
    return frame


#: Files larger than this are never held whole in memory (neither bytes nor text): read in
#: chunks from disk, time columns turned into times chunk by chunk (a text time stamp as a
#: Python string costs ~70 bytes; as a time, 8). See docs/guarantees.md for the limits.
STREAM_BYTES = 32 * 1024 ** 2
#: The sample of a large file that is decoded at once to sniff its dialect.
STREAM_HEAD_BYTES = 1024 ** 2


def _stream_encoding(path: str, head: bytes) -> str:
    """The encoding of a large file, checked block by block (no copy of the whole file)."""
    import codecs

    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    utf16 = looks_like_utf16(head)
    if utf16:
        return utf16
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023 - fh is this loop's
                    decoder.decode(block)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


class _NotTimes(Exception):
    """A column that looked like time in the first chunk holds something else later."""


def _read_streamed(path: str, encoding: str, date_format: str | None, date_col, options) -> pd.DataFrame:
    """``pd.read_csv`` of a large file in chunks; time-like text columns become times per chunk.

    The time format of each text column is found on the first chunk (the same formats
    :func:`~seqstudio.core.data.timeaxis.parse_times` tries); a later chunk that does not
    fit it makes the whole file be read again with that column as text (the usual path).
    """
    keep_text: set[str] = set()
    if date_col is None or date_col == "":
        date_format = None
    while True:
        parts, formats = [], None
        try:
            for part in pd.read_csv(path, encoding=encoding, chunksize=CHUNK_ROWS * 5, **options):
                part.columns = [str(c).strip() for c in part.columns]
                if formats is None:
                    formats = {}
                    for col in part.columns:
                        if col in keep_text or is_numeric(part[col]) or part[col].dropna().empty:
                            continue
                        fmt = time_format(part[col], date_format)
                        if fmt:
                            formats[col] = fmt
                for col, fmt in formats.items():
                    text = part[col].astype(str).str.strip()
                    times = pd.to_datetime(text, format=fmt, errors="coerce")
                    if (times.isna() & part[col].notna()).any():
                        keep_text.add(col)
                        raise _NotTimes
                    part[col] = times.where(part[col].notna())
                parts.append(part)
        except _NotTimes:
            continue
        break
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for column in frame.columns:  # a chunk of whole numbers beside one with decimals: floats
        kinds = {part[column].dtype.kind for part in parts}
        if kinds <= {"i", "u", "f"} and "f" in kinds:
            frame[column] = frame[column].astype(float)
    return frame


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
    check_delimited_text(path)  # a JSON, binary or one-line file is refused from its first 64 KB
    frame, report, rows = _parse_csv(path, date_col, date_format)
    times, time_cols, time_name = _find_time(frame, date_col, date_format, path, report)
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
    frame, rows = sort_and_check_time(frame, rows, report)
    count_missing(frame, report)
    numeric = [c for c in frame.columns if is_numeric(frame[c])]
    return LoadedSeries(frame=frame, time_col=time_name, numeric_columns=numeric, report=report,
                        path=path, row_numbers=rows)


def _read_text(path: str) -> tuple[bytes, str, str, bool]:
    """The bytes of ``path``, their text, its encoding, and whether the file is read in chunks.

    A file over :data:`STREAM_BYTES` is never held whole in memory: the bytes and text
    are a sample of its start (whole lines), and the frame is read from disk in chunks.
    """
    try:
        streamed = os.path.getsize(path) > STREAM_BYTES
        if streamed:  # never the whole file in memory: a sample to sniff, the rest read in chunks
            with open(path, "rb") as fh:
                raw = fh.read(STREAM_HEAD_BYTES)
        else:
            raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}", fix="choose an existing CSV file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", fix="check the path and permissions") \
            from None
    if streamed:
        encoding = _stream_encoding(path, raw)
        text = raw.decode(encoding, errors="replace")
        text = text[: text.rfind("\n") + 1] or text  # whole lines only
    else:
        text, encoding = _decode(raw, path)
    return raw, text, encoding, streamed


def _parse_csv(path: str, date_col: str | None,
               date_format: str | None) -> tuple[pd.DataFrame, SeriesReport, np.ndarray]:
    """The file as a frame (dialect and header sniffed), a first report, and each row's file line."""
    raw, text, encoding, streamed = _read_text(path)
    head = text[:SNIFF_BYTES]  # splitting all of a 200,000-row text took ~0.1 s under the lock
    head_lines = head.splitlines()
    if len(head) < len(text) and len(head_lines) > 1:
        head_lines = head_lines[:-1]  # the last line of the head may be cut short
    sample = [line for line in head_lines[:50] if line.strip()]
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
            options = dict(sep=delimiter, decimal=decimal, skipinitialspace=True, index_col=False,
                           **names)
            if streamed:
                frame = _read_streamed(path, encoding, None if (date_format or "").startswith("period:")
                                       else date_format, date_col, options)
            else:
                frame = _read_frame(text, raw, encoding, **options)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
        raise DataError(f"cannot parse the CSV: {exc}", where=path,
                        fix="check that every row has the same number of fields") from None
    first_line = 1 if headerless else 2  # file line of the first data row
    frame.columns = [str(c).strip() for c in frame.columns]
    report_notes: list[str] = []
    _read_thousands_separators(frame, decimal, report_notes)
    if len(frame) == 0:
        raise DataError("the file has a header but no data rows", where=path,
                        fix="add data rows below the header")
    report = SeriesReport(encoding=encoding, delimiter=delimiter, decimal=decimal, n_rows=len(frame))
    report.notes.extend(report_notes)
    if headerless:
        report.notes.append(f"the first row holds data, not column names: the columns are called "
                            f"column1 to column{len(frame.columns)} (add a header row to name them)")
    return frame, report, np.arange(len(frame)) + first_line


# What the time column search found: the times (None: a plain index), the columns they
# came from (removed from the frame) and the index's name.
_TimeFound = tuple[pd.DatetimeIndex | None, list[str], str | None]


def _find_time(frame: pd.DataFrame, date_col: str | None, date_format: str | None, path: str,
               report: SeriesReport) -> _TimeFound:
    """The time axis that ``date_col`` / ``date_format`` choose in ``frame``."""
    period = date_format if date_format and date_format.startswith("period:") else None
    strf = None if period else date_format
    found: _TimeFound = (None, [], None)
    if date_col is None or date_col == "":
        return found
    if date_col == "auto":
        found = _auto_time(frame, strf, period, path, report)
    elif "," in date_col:
        time_cols = [c.strip() for c in date_col.split(",") if c.strip()]
        require_columns(frame, time_cols, path, "date_col")
        found = (assemble_time(frame, time_cols, path), time_cols, ",".join(time_cols))
    else:
        require_columns(frame, [date_col], path, "date_col")
        times = None if period else _named_time(frame, date_col, strf, path)
        found = (times, [date_col], date_col)
    if period:
        _, time_cols, time_name = found
        report.notes.append(f"time replaced by a regular range from {period[7:]}")
        found = (period_index(period, len(frame)), time_cols, time_name or "time")
    return found


def _auto_time(frame: pd.DataFrame, strf: str | None, period: str | None, path: str,
               report: SeriesReport) -> _TimeFound:
    """``date_col="auto"``: year/month/... columns, else the first time-like column that parses."""
    lower = {c.lower(): c for c in frame.columns}
    quarters = quarter_times(frame, lower)
    if quarters is not None:
        time_cols = [lower["year"], lower["quarter"]]
        return quarters, time_cols, ",".join(time_cols)
    if "year" in lower and "month" in lower and \
            all(pd.api.types.is_integer_dtype(frame[lower[p]]) for p in TIME_PARTS if p in lower):
        time_cols = [lower[p] for p in TIME_PARTS if p in lower]
        return assemble_time(frame, time_cols, path), time_cols, ",".join(time_cols)
    candidates = [c for c in frame.columns if TIME_NAME.search(c)]
    candidates += [c for c in frame.columns if c not in candidates and not is_numeric(frame[c])]
    if period:
        return (None, [candidates[0]], candidates[0]) if candidates else (None, [], None)
    for col in candidates:
        parsed = parse_times(frame[col], strf)
        if parsed is not None:
            return parsed, [col], col
    if strf:
        raise DataError(f"no column matches the date format {strf!r}", where=path,
                        fix="correct date_format (e.g. '%Y-%m' for 1949-01), or name the "
                            "time column with date_col")
    named = [c for c in candidates if TIME_NAME.search(c)]
    if named:
        example = frame[named[0]].dropna().astype(str).iloc[0]
        report.notes.append(
            f"column {named[0]!r} looks like time but values such as {example!r} have no "
            "known date format; using a plain row index (give date_format, e.g. "
            "'period:1991-01', to get dates)")
    return None, [], None


def _named_time(frame: pd.DataFrame, date_col: str, strf: str | None, path: str) -> pd.DatetimeIndex:
    """The column ``date_col`` parsed as times; a DataError quoting the first value that does not fit."""
    times = parse_times(frame[date_col], strf)
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
    return times


_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$|^[-+]?\d+(\.\d+)?$")


def _read_thousands_separators(frame: pd.DataFrame, decimal: str, notes: list[str]) -> None:
    """Columns of numbers written with thousands separators ("1,112") become numbers."""
    if decimal != ".":
        return
    for col in frame.columns:
        values = frame[col]
        if is_numeric(values) or values.dropna().empty:
            continue
        head = values.dropna().iloc[:200].astype(str).str.strip()
        if not head.str.match(_THOUSANDS).all():  # a cheap look first: most text columns end here
            continue
        text = values.dropna().astype(str).str.strip()
        if not text.str.contains(",", regex=False).any() or not text.str.match(_THOUSANDS).all():
            continue
        frame[col] = pd.to_numeric(values.astype(str).str.replace(",", "", regex=False).str.strip()
                                   .where(values.notna()), errors="coerce")
        notes.append(f"column {col!r} holds numbers with thousands separators (1,112): read as numbers")


def quarter_times(frame: pd.DataFrame, lower: dict[str, str]) -> pd.DatetimeIndex | None:
    """A year column and a quarter column (1-4 or Q1-Q4) as the start of each quarter."""
    if "year" not in lower or "quarter" not in lower:
        return None
    year = pd.to_numeric(frame[lower["year"]], errors="coerce")
    quarter = frame[lower["quarter"]].astype(str).str.strip().str.upper().str.lstrip("Q")
    quarter = pd.to_numeric(quarter, errors="coerce")
    if year.isna().any() or quarter.isna().any() or not quarter.isin([1, 2, 3, 4]).all() \
            or (year % 1 != 0).any():
        return None
    return pd.DatetimeIndex(pd.to_datetime(pd.DataFrame({"year": year.astype(int),
                                                         "month": (quarter.astype(int) - 1) * 3 + 1,
                                                         "day": 1})))


def require_columns(frame: pd.DataFrame, columns: list[str], path: str, option: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"column {missing[0]!r} ({option}) is not in the file", where=path,
                        fix=f"choose among: {', '.join(map(str, frame.columns))}")
