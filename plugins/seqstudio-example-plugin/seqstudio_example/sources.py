"""A synthetic data source: a mixture of sines with trend and noise, ready for forecasting.

Useful to try a model on a series whose structure is known: with the noise
at 0 a good model should reach an error near 0, and the seasonal periods are
the ones you chose. The plugin only makes the numbers (a DataFrame);
``series_source`` gives it windows, splits, scaling, baselines and
``seqstudio predict`` exactly as for a CSV file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from seqstudio.pluginapi import DataError, OptionSpec, SourceType, series_source


def _parse_periods(text: str) -> list[float]:
    try:
        periods = [float(p) for p in str(text).replace(";", ",").split(",") if p.strip()]
    except ValueError:
        raise DataError(f"periods must be numbers separated by commas, got {text!r}",
                        where="option 'periods'", fix="write e.g. '24, 7'") from None
    if not periods or any(p <= 1 for p in periods):
        raise DataError(f"periods must be one or more numbers above 1 (in steps), got {text!r}",
                        where="option 'periods'", fix="write e.g. '24, 7'")
    return periods


def generate(length: int, periods: list[float], noise: float, trend: float, seed: int) -> np.ndarray:
    """The raw series: ``sum_k sin(2 pi t / p_k) / k + trend * t + noise * N(0, 1)``.

    >>> generate(4, [4.0], 0.0, 0.0, 0).round(6).tolist()
    [0.0, 1.0, 0.0, -1.0]
    """
    t = np.arange(length, dtype=np.float64)
    rng = np.random.default_rng(seed)
    series = sum(np.sin(2 * np.pi * t / p) / (k + 1) for k, p in enumerate(periods))
    return series + trend * t + noise * rng.standard_normal(length)


def sine_mixture_frame(options: Mapping[str, Any]) -> pd.DataFrame:
    """The generated series as a one-column frame (a plain step index)."""
    values = generate(options["length"], _parse_periods(options["periods"]), options["noise"],
                      options["trend"], options["seed"])
    return pd.DataFrame({"value": values})


SOURCES: list[SourceType] = [
    series_source(
        "sine_mixture",
        "Synthetic series: a sum of sines with a trend and Gaussian noise, windowed for forecasting.",
        sine_mixture_frame,
        options=(
            OptionSpec("length", "int", 600, minimum=20, maximum=1_000_000,
                       help="Number of time steps to generate."),
            OptionSpec("periods", "str", "24, 7",
                       help="Seasonal periods in steps, comma-separated; the k-th sine has amplitude 1/k."),
            OptionSpec("noise", "float", 0.1, minimum=0.0, help="Standard deviation of the Gaussian noise."),
            OptionSpec("trend", "float", 0.0, help="Linear trend added per step."),
            OptionSpec("seed", "int", 0, help="Random seed of the noise, for repeatable data."),
        ),
        defaults={"look_back": 12, "train_frac": 0.7, "val_frac": 0.1, "season": 24},
    ),
]
