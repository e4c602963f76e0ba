"""The built-in CSV time-series source ("csv-series"), registered like any plugin's source."""

from __future__ import annotations

from seqstudio.core.data.series import SERIES_OPTIONS, SeriesOptions, prepare_series
from seqstudio.core.registry import SourceType


def load_series(opts):
    """The source's ``load``: a module-level function, so that pickle can name it (the window
    prepares large files in a child process that imports it from here)."""
    return prepare_series(SeriesOptions.from_dict(dict(opts)))


SOURCES = [
    SourceType(
        name="csv-series",
        description="A time series from a CSV file: a time column (or a plain row index), one or more "
                    "target columns and optional extra input columns; windows split chronologically "
                    "into train / validation / test.",
        load=load_series,
        options=SERIES_OPTIONS,
        kind="series",
    )
]
