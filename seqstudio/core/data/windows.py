"""Sliding windows over a series and per-column scaling (public helpers, also for plugin sources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def window_arrays(values: np.ndarray, look_back: int, horizon: int = 1, stride: int = 1,
                  n_targets: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`make_windows` in numpy: ``x`` is a view of ``values``, ``y`` a copy; no torch.

    >>> x, y = window_arrays(np.arange(5, dtype=np.float32), look_back=2)
    >>> x[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]], [[2.0], [3.0], [4.0]])
    """
    series = np.asarray(values)
    if series.ndim == 1:
        series = series[:, None]
    n_targets = series.shape[1] if n_targets is None else n_targets
    if len(series) < look_back + horizon:
        return (np.zeros((0, look_back, series.shape[1]), series.dtype),
                np.zeros((0, horizon * n_targets), series.dtype))
    # (N, C, look_back + horizon) views; writeable as the views of Tensor.unfold are
    windows = np.lib.stride_tricks.sliding_window_view(series, look_back + horizon, axis=0,
                                                       writeable=True)[::stride]
    x = windows[:, :, :look_back].transpose(0, 2, 1)
    y = windows[:, :n_targets, look_back:].transpose(0, 2, 1).reshape(len(windows), horizon * n_targets)
    return x, np.ascontiguousarray(y)


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
    import torch

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
