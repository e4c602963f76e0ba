"""A synthetic data source: a mixture of sines with trend and noise, ready for forecasting.

Useful to try a model on a series whose structure is known: with the noise
at 0 a good model should reach an error near 0, and the seasonal periods are
the ones you chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seqstudio.core.data.series import Scaler, make_windows
from seqstudio.pluginapi import DataError, OptionSpec, PreparedData, SourceType


@dataclass
class SineMixtureSeries(PreparedData):
    """Windowed, min-max-scaled synthetic series; :meth:`to_original` undoes the scaling."""

    scaler: Scaler | None = None
    #: The generated series in original units (for plotting the whole thing).
    values: np.ndarray | None = None

    def to_original(self, y, split):
        y = super().to_original(y, split)
        return self.scaler.inverse(y) if self.scaler is not None else y

    def fitted_state(self) -> dict[str, Any]:
        return {"scaler": asdict(self.scaler)} if self.scaler is not None else {}


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


def load_sine_mixture(options: Mapping[str, Any]) -> SineMixtureSeries:
    """Generate the series, window it with ``look_back`` steps, split it in time order, scale it."""
    length, look_back = int(options["length"]), int(options["look_back"])
    val_fraction, test_fraction = float(options["val_fraction"]), float(options["test_fraction"])
    if look_back < 1 or length < look_back + 10:
        raise DataError(f"length {length} is too short for look_back {look_back}",
                        where="options 'length' / 'look_back'",
                        fix="make length at least look_back + 10")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 0.9):
        raise DataError(f"val_fraction {val_fraction} + test_fraction {test_fraction} leave no training data",
                        where="options 'val_fraction' / 'test_fraction'", fix="keep their sum below 0.9")
    values = generate(length, _parse_periods(options["periods"]), float(options["noise"]),
                      float(options["trend"]), int(options["seed"]))

    n = length - look_back  # windows: inputs t..t+look_back-1, target t+look_back
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    n_train = n - n_val - n_test
    # Fit the scaler on what the training windows can see, so no future value leaks into it.
    scaler = Scaler.fit(values[: n_train + look_back, None], "minmax")
    x, y = make_windows(scaler.transform(values[:, None]).astype(np.float32), look_back)
    cuts = [0, n_train, n_train + n_val, n]
    parts = [(x[a:b].contiguous(), y[a:b].contiguous()) for a, b in zip(cuts, cuts[1:], strict=False)]
    return SineMixtureSeries(
        task="regression",
        x_train=parts[0][0], y_train=parts[0][1],
        x_val=parts[1][0], y_val=parts[1][1],
        x_test=parts[2][0], y_test=parts[2][1],
        n_outputs=1,
        description=f"sine mixture: {length} steps, periods {options['periods']}, noise {options['noise']}",
        scaler=scaler, values=values,
    )


SOURCES: list[SourceType] = [
    SourceType(
        name="sine_mixture",
        description="Synthetic series: a sum of sines with a trend and Gaussian noise, windowed for forecasting.",
        load=load_sine_mixture,
        kind="series",
        options=(
            OptionSpec("length", "int", 600, minimum=20, help="Number of time steps to generate."),
            OptionSpec("periods", "str", "24, 7",
                       help="Seasonal periods in steps, comma-separated; the k-th sine has amplitude 1/k."),
            OptionSpec("noise", "float", 0.1, minimum=0.0, help="Standard deviation of the Gaussian noise."),
            OptionSpec("trend", "float", 0.0, help="Linear trend added per step."),
            OptionSpec("look_back", "int", 12, minimum=1, help="Past steps the model sees to predict the next one."),
            OptionSpec("val_fraction", "float", 0.1, minimum=0.0, maximum=0.5,
                       help="Share of the windows kept for validation (after the training part)."),
            OptionSpec("test_fraction", "float", 0.2, minimum=0.0, maximum=0.5,
                       help="Share of the windows kept for testing (the end of the series)."),
            OptionSpec("seed", "int", 0, help="Random seed of the noise, for repeatable data."),
        ),
    ),
]
