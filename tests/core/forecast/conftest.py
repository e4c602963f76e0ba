"""Shared fixtures of the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch


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


def set_fixed_weights(project, registry, seed=3, dense=0):
    """Give the project's model seeded random weights in [-0.3, 0.3); the ``dense``-th Linear's
    weight and bias as float64 arrays, for a reference computed by hand."""
    data = project.prepare_data(registry)
    model = project.build_model(data, registry)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=generator) * 0.6 - 0.3)
    project.set_weights(model)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][dense]
    return linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()
