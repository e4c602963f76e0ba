"""Series sources from a DataFrame: the supported route for a plugin's time-series data.

A plugin that can produce a :class:`pandas.DataFrame` (generated, downloaded,
read from its own format) hands it to :func:`series_source`; seqstudio does
the rest exactly as for a CSV file: target and feature columns, missing
values, log / differencing, scaling fitted on the training part, windows,
the chronological train / validation / test split, the naive and seasonal
baselines, ``seqstudio predict`` (forecasting beyond the data),
``seqstudio backtest`` and the window's plots. The source's form shows the plugin's own options followed by
the window options (:data:`WINDOW_OPTIONS`).

>>> import numpy as np, pandas as pd
>>> def make_frame(options):
...     t = np.arange(options["length"])
...     return pd.DataFrame({"y": np.sin(t / 4.0)})
>>> source = series_source("wave", "A sine wave.", make_frame,
...                        options=(OptionSpec("length", "int", 120, minimum=20),),
...                        defaults={"look_back": 8})
>>> [o.name for o in source.options][:3]
['length', 'target', 'features']
>>> data = source.load({**source.defaults(), "length": 100})
>>> tuple(data.x_train.shape[1:]), data.task
((8, 1), 'regression')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from seqstudio.core.data.series import (
    SERIES_OPTIONS,
    LoadedSeries,
    PreparedSeries,
    SeriesOptions,
    prepare_series,
)
from seqstudio.core.errors import DataError
from seqstudio.core.options import OptionSpec, validate_options
from seqstudio.core.registry import SourceType

#: Options that read a file; a frame does not need them.
_FILE_OPTIONS = ("path", "date_col", "date_format")
#: The options every series source shares (columns, missing values, transforms, windows,
#: splits), as the built-in CSV source declares them.
WINDOW_OPTIONS: tuple[OptionSpec, ...] = tuple(o for o in SERIES_OPTIONS if o.name not in _FILE_OPTIONS)
WINDOW_OPTION_NAMES: frozenset[str] = frozenset(o.name for o in WINDOW_OPTIONS)


def prepare_frame(frame: Any, options: Mapping[str, Any] | None = None, *,
                  name: str = "<frame>") -> PreparedSeries:
    """Window a DataFrame into a :class:`~seqstudio.core.data.series.PreparedSeries`.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per time step, oldest first. A ``DatetimeIndex`` is the time axis (forecasts
        get dates); any other index is taken as a plain step count. Numeric columns can be
        targets or features.
    options : mapping, optional
        Any of :data:`WINDOW_OPTIONS` (``target``, ``features``, ``look_back``, ``horizon``,
        ``train_frac``, ``val_frac``, ``scaling``, ``missing``, ...); other keys are ignored,
        so a source may pass all its options. Missing ones take their defaults.
    name : str
        Shown in messages and in the data description.

    Raises
    ------
    DataError
        For a frame that cannot be windowed (too short, no numeric column, missing values
        with ``missing="error"``, ...), naming the column and the fix.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"prepare_frame needs a pandas DataFrame, got {type(frame).__name__}")
    given = {k: v for k, v in (options or {}).items() if k in WINDOW_OPTION_NAMES}
    values = validate_options(WINDOW_OPTIONS, given, owner=f"series {name!r}", error=DataError)
    loaded = LoadedSeries.from_frame(frame, name=name)
    return prepare_series(SeriesOptions.from_dict({**values, "path": ""}), loaded)


def series_source(name: str, description: str, make_frame: Callable[[Mapping[str, Any]], Any], *,
                  options: tuple[OptionSpec, ...] = (), defaults: Mapping[str, Any] | None = None,
                  ) -> SourceType:
    """A data source whose ``make_frame(options)`` returns a DataFrame; windows, splits,
    baselines and forecasting come from seqstudio.

    Parameters
    ----------
    name, description : str
        As for :class:`~seqstudio.core.registry.SourceType`.
    make_frame : callable
        Receives the source's own ``options`` (checked, defaults filled in) and returns a
        :class:`pandas.DataFrame` (see :func:`prepare_frame`). It is called again by
        ``seqstudio predict``, so it must give the same frame for the same options (seed any
        randomness from an option). Raise :class:`~seqstudio.core.errors.DataError` for bad input.
    options : tuple of OptionSpec
        The source's own options; their names must not be among :data:`WINDOW_OPTIONS`.
    defaults : mapping, optional
        New defaults for window options, e.g. ``{"look_back": 12, "train_frac": 0.8}``.

    Raises
    ------
    ValueError
        When an own option reuses a window option's name or ``defaults`` names an unknown one
        (a mistake in the plugin, reported when it loads).
    """
    own = tuple(options)
    clash = sorted({o.name for o in own} & WINDOW_OPTION_NAMES)
    if clash:
        raise ValueError(f"series_source {name!r}: option(s) {', '.join(clash)} are window options that "
                         "every series source already has; rename yours or set their defaults with "
                         "defaults={...}")
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - WINDOW_OPTION_NAMES)
    if unknown:
        raise ValueError(f"series_source {name!r}: defaults for unknown window option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(WINDOW_OPTION_NAMES))}")
    window = tuple(replace(o, default=defaults[o.name]) if o.name in defaults else o for o in WINDOW_OPTIONS)
    own_names = [o.name for o in own]

    def load(values: Mapping[str, Any]) -> PreparedSeries:
        frame = make_frame({k: values[k] for k in own_names if k in values})
        return prepare_frame(frame, values, name=name)

    load.__doc__ = f"Prepare the frame of series source {name!r}."
    return SourceType(name=name, description=description, load=load, options=own + window, kind="series")


__all__ = ["WINDOW_OPTIONS", "prepare_frame", "series_source"]
