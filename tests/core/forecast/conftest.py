"""Shared fixtures of the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def series_csv(tmp_path, request):
    """A monthly toy series (trend, a 12-month season and a faster wiggle) of the test module's
    ``N_ROWS`` rows, as a CSV file."""
    n_rows = getattr(request.module, "N_ROWS", 48)
    t = np.arange(n_rows)
    y = 100 + 2.0 * t + 15 * np.sin(2 * np.pi * t / 12) + 3 * np.cos(t * 1.7)
    path = tmp_path / "toy.csv"
    pd.DataFrame({"month": pd.date_range("2000-01", periods=n_rows, freq="MS").strftime("%Y-%m"),
                  "y": np.round(y, 3)}).to_csv(path, index=False)
    return path
