"""The columns a series model uses: targets, features, text features one-hot, bad values.

Steps of :func:`~seqstudio.core.data.series.prepare_series` between reading the
file and transforming the targets: which columns are in use (and numeric),
refusing infinite values, the missing-value policy, and the input blocks in
``x`` order (targets first, then features, text features one-hot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from seqstudio.core.data.reading import LoadedSeries, is_numeric, require_columns
from seqstudio.core.errors import DataError

if TYPE_CHECKING:  # the options type only: series.py imports this module
    from seqstudio.core.data.series import SeriesOptions


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
    if is_numeric(values):
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


def used_columns(options: SeriesOptions, loaded: LoadedSeries,
                  notes: list[str]) -> tuple[list[str], list[str], pd.DataFrame]:
    """The targets, the text features to one-hot, and the frame of the columns in use (targets first)."""
    frame, path = loaded.frame, loaded.path
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
    require_columns(frame, targets, path, "target")
    features = [c for c in dict.fromkeys(options.features) if c not in targets]
    require_columns(frame, features, path, "features")
    if loaded.report.n_duplicates:
        raise DataError(f"{loaded.report.n_duplicates} time stamps occur more than once, e.g. "
                        f"{loaded.report.duplicates[0]}", where=path,
                        fix="remove or merge the duplicated rows (e.g. average them): a series needs "
                            "one row per time")
    columns: dict[str, pd.Series] = {c: _numeric_column(loaded, frame, c, "target") for c in targets}
    for col in targets:
        if columns[col].notna().sum() == 0:
            raise DataError(f"target column {col!r} holds no values at all (every row is empty)",
                            where=path, fix="choose a target column that holds numbers")
    categorical: list[str] = []
    for col in features:
        if is_numeric(frame[col]) or pd.to_numeric(frame[col], errors="coerce").notna().sum() \
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
    return targets, categorical, pd.DataFrame(columns, index=frame.index)


def refuse_infinite(loaded: LoadedSeries, used: pd.DataFrame, categorical: list[str]) -> None:
    """inf / -inf ("inf", "1e999" in the file) are errors naming the file lines, not values."""
    for col in used.columns:
        if col in categorical:
            continue
        infinite = np.isinf(used[col].to_numpy(dtype=np.float64, na_value=np.nan))
        if infinite.any():
            raise DataError(f"column {col!r} holds {int(infinite.sum())} infinite value"
                            f"{'s' if infinite.sum() > 1 else ''} (inf or -inf)",
                            where=f"{loaded.path}: {_describe_rows(loaded, used, infinite)}",
                            fix="correct or delete those rows (an infinite value makes every loss NaN)")


def handle_missing(options: SeriesOptions, loaded: LoadedSeries, used: pd.DataFrame,
                    categorical: list[str], notes: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Apply the missing-value policy: the rows kept, their file lines, and which were filled."""
    row_numbers = loaded.row_numbers if loaded.row_numbers is not None else np.arange(len(loaded.frame)) + 2
    nan_mask = used.isna().to_numpy()
    filled_positions = np.zeros(len(used), dtype=bool)
    if not nan_mask.any():
        return used, row_numbers, filled_positions
    per_column = nan_mask.sum(axis=0)
    if options.missing == "error":
        col_i = int(np.flatnonzero(per_column)[0])
        col = used.columns[col_i]
        raise DataError(f"column {col!r} has {per_column[col_i]} missing values",
                        where=f"{loaded.path}: {_describe_rows(loaded, used, nan_mask[:, col_i])}",
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
    return used[keep], row_numbers[keep], filled_positions[keep]


def input_blocks(used: pd.DataFrame, targets: list[str],
                  categorical: list[str]) -> tuple[list[np.ndarray], list[str], dict[str, list[str]]]:
    """The input columns as float blocks (targets first, text features one-hot), their names, the categories."""
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
    return blocks, input_names, categories
