"""The model's forecasts from many origins at once: the transforms, the batched rounds.

How the model forecasts from an origin
--------------------------------------
The history before the origin goes through the transforms the model was
trained with (log, differencing at lag d, the scaler), the last ``look_back``
rows make the input window, and the model's outputs are undone (scaler,
then the differences chained onto the last known levels, then exp). A model
with ``horizon`` outputs per target forecasts that many steps at once
(*direct*, multi-output); to go further its outputs are fed back as inputs,
``horizon`` steps per round (*recursive*; a one-output model is the classic
recursive forecaster). All origins that share a model are stacked into one
batch, so a backtest costs ``ceil(H / horizon)`` forward passes per trained
model, not one per origin and step.

>>> import numpy as np
>>> t = Transform(log=False, lag=1, center=np.zeros(1), scale=np.ones(1))
>>> t.scaled(np.array([[1.0], [3.0], [6.0]]))[:, 0].tolist()
[2.0, 3.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqstudio.core.errors import DataError
from seqstudio.core.forecast import quantiles as QF
from seqstudio.core.forecast.plain import plain_forward
from seqstudio.core.train.devices import _SMALL_STEP_WORK as SMALL_STEP_WORK
from seqstudio.core.train.devices import TorchSettings, dense_parameter_count

__all__ = ["Transform", "forecast_origins"]


@dataclass
class Transform:
    """The fitted target transforms of one trained model (from ``fitted_state()``)."""

    log: bool
    lag: int
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, fitted: dict[str, Any], n_targets: int) -> Transform:
        scaler = fitted["scaler"]
        return cls(bool(fitted.get("log")), int(fitted.get("diff_lag") or 0),
                   np.asarray(scaler["center"], float)[:n_targets],
                   np.asarray(scaler["scale"], float)[:n_targets])

    def levels(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.log else values

    def inputs(self, values: np.ndarray) -> torch.Tensor:
        """Scaled model inputs of the whole series ``(n - lag, T)``; row i is series row i + lag."""
        return torch.from_numpy(self.scaled(values))

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """:meth:`inputs` as a float32 numpy array."""
        level = self.levels(values)
        x = level[self.lag:] - level[:-self.lag] if self.lag else level
        return ((x - self.center) / self.scale).astype(np.float32)

    def undo(self, scaled: np.ndarray, values: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Scaled outputs ``(B, H, T)`` from ``origins`` back to original units."""
        out = scaled.astype(np.float64) * self.scale + self.center
        if self.lag:
            # step h adds the level of step h - lag (a known level before the origin for h < lag):
            # one running sum per residue of h modulo the lag, started at that known level
            level = self.levels(values)
            for first in range(min(self.lag, out.shape[1])):
                chain = np.concatenate([level[origins + first - self.lag][:, None],
                                        out[:, first::self.lag]], axis=1)
                out[:, first::self.lag] = np.cumsum(chain, axis=1)[:, 1:]
        return np.exp(out) if self.log else out


def forecast_origins(model: torch.nn.Module, transform: Transform, values: np.ndarray,
                     origins: np.ndarray, look_back: int, model_horizon: int, horizon: int,
                     bands: dict | None = None) -> np.ndarray:
    """Forecasts ``(B, horizon, T)`` in original units from every origin at once.

    ``values`` is the whole series ``(n, T)`` in original units; only rows
    before each origin are read. Each round is ONE forward pass over all
    origins; ``ceil(horizon / model_horizon)`` rounds. A quantile model's point
    forecast is its median; ``bands`` (a dict) receives its quantiles (:func:`.quantiles.undone`).
    """
    origins = np.asarray(origins, dtype=np.int64)
    n_targets = values.shape[1]
    ends = origins - transform.lag  # exclusive end of each window in input rows
    if (ends - look_back < 0).any():
        raise DataError(f"an origin at row {int(origins.min())} has fewer than look_back "
                        f"{look_back} (+ diff lag {transform.lag}) rows before it",
                        fix="start the backtest later or use fewer folds")
    rows = ends[:, None] - look_back + np.arange(look_back)
    rounds, quantile_rounds = -(-horizon // model_horizon), list[Any]()
    forward = plain_forward(model)
    # (a model plain_forward covers has no embedding: all its parameters are dense)
    tiny = (forward.n_parameters if forward is not None else dense_parameter_count(model)) \
        * len(origins) < SMALL_STEP_WORK
    if forward is not None and tiny:
        # a tiny model's pass is nearly all dispatch: the same arithmetic in numpy (see .plain)
        window_np = transform.scaled(values)[rows]
        # every round's outputs written into one array; the next window is a view of it
        scaled_np = np.empty((len(origins), rounds * model_horizon, n_targets), np.float32)
        flat = scaled_np.reshape(len(origins), -1)  # (a view: each round's outputs are columns of it)
        width = model_horizon * n_targets
        quantiles = QF.model_quantiles(model)
        for r in range(rounds):
            end = (r + 1) * model_horizon
            out_np = scaled_np[:, end - model_horizon:end]
            if quantiles:
                out_np[...] = QF.point(forward(window_np), model, quantile_rounds).reshape(out_np.shape)
            else:  # the model's last layer writes its outputs in place
                forward(window_np, out=flat[:, r * width:(r + 1) * width])
            if r + 1 < rounds:
                window_np = scaled_np[:, end - look_back:end] if look_back <= model_horizon else \
                    np.concatenate([window_np[:, model_horizon:], out_np], axis=1)
        return QF.undone(transform, scaled_np[:, :horizon], values, origins, model, quantile_rounds, bands)
    window = transform.inputs(values)[torch.from_numpy(rows)]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    modes = [(m, m.training) for m in model.modules()]
    training = any(mode for _, mode in modes)
    if training:
        model.eval()
    settings = TorchSettings()
    if tiny:
        # a tiny model's pass is dispatch-bound: one thread (no OpenMP spin-waits under load), no oneDNN
        torch.set_num_threads(1)
        # torch types the module-level flag as its ContextProp descriptor, not the bool it holds
        torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    try:
        with torch.inference_mode():
            window = window.to(device)
            outputs = []
            for r in range(rounds):
                out = QF.point(model(window).float(), model, quantile_rounds).reshape(
                    len(origins), model_horizon, n_targets)
                outputs.append(out)
                if r + 1 < rounds:
                    # a slice of the concatenation, not a packed copy: the model's kernels may
                    # round the two layouts differently (by a float32 unit)
                    window = torch.cat([window, out], dim=1)[:, -look_back:]
            scaled = torch.cat(outputs, dim=1)[:, :horizon] if rounds > 1 else outputs[0][:, :horizon]
    finally:
        if training:  # each module back in its own mode
            model.train(modes[0][1])
            for m, mode in modes:
                if m.training != mode:
                    m.train(mode)
        settings.restore()
    return QF.undone(transform, scaled.cpu().numpy(), values, origins, model, quantile_rounds, bands)
