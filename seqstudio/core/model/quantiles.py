"""Quantile outputs: a stack whose last Dense gives one value per quantile of each target value.

A model trained with the pinball loss (training setting ``loss = "pinball"``)
predicts, for every value the data asks for (``horizon x targets``), several
quantiles of it instead of one number: with the intervals 80 % and 95 % the
quantiles 0.025, 0.1, 0.5, 0.9 and 0.975 (:func:`quantiles_for_levels`). The
stack a user writes stays as written (``LSTM(4), Dense(1)``: one output per
target value); :class:`QuantileSpec` builds it with that last Dense widened
``len(quantiles)`` times, as Darts' ``QuantileRegression`` or Nixtla's
``MQLoss`` widen their output layers, and the built module remembers its
quantiles (``model.quantiles``).

Layout of the output: ``(N, n_outputs x Q)``, quantile-minor: the ``Q`` values
of output ``j`` are columns ``j*Q .. j*Q+Q-1``. Quantiles trained separately can
cross; every reader sorts them per output first (the *rearrangement* of
Chernozhukov, Fernandez-Val and Galichon 2010, which never makes a quantile
worse), and the point forecast is the sorted median.

>>> quantiles_for_levels((80, 95))
(0.025, 0.1, 0.5, 0.9, 0.975)
>>> import numpy as np
>>> out = np.array([[3.0, 1.0, 2.0, 9.0, 7.0, 8.0]])      # two outputs, three quantiles, crossed
>>> point_of(out, (0.1, 0.5, 0.9)).tolist()
[[2.0, 8.0]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqstudio.core.errors import ModelSpecError, TrainingError
from seqstudio.core.model.layers import Dense
from seqstudio.core.model.spec import ModelSpec


def quantiles_for_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The median and the two ends of each central interval (levels in percent), ascending."""
    found = {0.5}
    for level in levels:
        tail = round((100.0 - float(level)) / 200.0, 10)
        found.update((tail, round(1.0 - tail, 10)))
    return tuple(sorted(found))


def interval_levels(text: Any) -> tuple[float, ...]:
    """``"80, 95"`` -> ``(80.0, 95.0)``: the training setting ``quantile_intervals``, checked.

    >>> interval_levels("95,80")
    (80.0, 95.0)
    """
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    levels = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            value = float("nan")
        if not 0.0 < value < 100.0:
            raise TrainingError(f"quantile interval {item!r} is not a percentage between 0 and 100",
                                where="training setting 'quantile_intervals'",
                                fix="give interval levels such as 80,95")
        levels.append(value)
    if not levels:
        raise TrainingError("no quantile interval given", where="training setting 'quantile_intervals'",
                            fix="give interval levels such as 80,95")
    return tuple(sorted(set(levels)))


def train_quantiles(train: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The quantiles of a project's training settings (a dict): None unless the loss is pinball.

    >>> train_quantiles({"loss": "pinball", "quantile_intervals": "80"}), train_quantiles({})
    ((0.1, 0.5, 0.9), None)
    """
    if str(train.get("loss", "")).lower() != "pinball":
        return None
    return quantiles_for_levels(interval_levels(train.get("quantile_intervals", "80,95")))


def level_indices(quantiles: Sequence[float], level: float) -> tuple[int, int] | None:
    """Positions of the ``level`` % interval's lower and upper quantiles, or None if absent."""
    tail = (100.0 - float(level)) / 200.0
    q = np.asarray(quantiles, float)
    low, high = np.flatnonzero(np.isclose(q, tail)), np.flatnonzero(np.isclose(q, 1.0 - tail))
    return (int(low[0]), int(high[0])) if len(low) and len(high) else None


def levels_of(quantiles: Sequence[float]) -> tuple[float, ...]:
    """The interval levels (percent) a set of quantiles bounds: the inverse of :func:`quantiles_for_levels`."""
    return tuple(sorted(round(100.0 * (1.0 - 2.0 * q), 6) for q in quantiles if q < 0.5))


def model_quantiles(model: Any) -> tuple[float, ...] | None:
    """The quantiles a built model outputs (:class:`QuantileSpec`), or None for a point model."""
    found = getattr(model, "quantiles", None)
    return tuple(found) if found else None


def sorted_quantiles(output: Any, n_quantiles: int) -> Any:
    """``(N, n_outputs x Q)`` -> ``(N, n_outputs, Q)`` sorted along the quantiles (numpy or torch)."""
    wide = output.reshape(output.shape[0], -1, n_quantiles)
    if isinstance(wide, np.ndarray):
        return np.sort(wide, axis=-1)
    return wide.sort(dim=-1).values


def point_of(output: Any, quantiles: Sequence[float] | None) -> Any:
    """The point forecast ``(N, n_outputs)``: the sorted median, or ``output`` itself without quantiles."""
    if not quantiles:
        return output
    return sorted_quantiles(output, len(quantiles))[..., list(quantiles).index(0.5)]


@dataclass
class QuantileSpec(ModelSpec):
    """A :class:`ModelSpec` that builds its last Dense ``len(quantiles)`` times wider.

    ``layers`` are the stack as written (checked against the data as usual, and
    what :meth:`to_dict` keeps); :meth:`build` widens the last Dense and sets
    ``model.quantiles``; :meth:`summary` shows the widened stack.
    """

    quantiles: tuple[float, ...] = ()

    def widened(self) -> ModelSpec:
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, Dense):
            name = last.type_name if last is not None else "nothing"
            raise ModelSpecError(
                f"the pinball loss gives the last Dense layer one output per quantile, but the "
                f"stack ends in {name}", where=f"layer {len(self.layers)}",
                layer_index=max(0, len(self.layers) - 1),
                fix="end the stack with Dense(horizon x targets), e.g. Dense(1), or use another loss")
        return ModelSpec([*self.layers[:-1], dataclasses.replace(last, units=last.units * len(self.quantiles))])

    def summary(self, input_shape, *, input_is_ids=False, n_outputs=None, registry):
        super().summary(input_shape, input_is_ids=input_is_ids, n_outputs=n_outputs, registry=registry)
        return self.widened().summary(input_shape, input_is_ids=input_is_ids, registry=registry)

    def build(self, input_shape, *, registry, seed=None):
        model = self.widened().build(input_shape, registry=registry, seed=seed)
        model.quantiles = tuple(self.quantiles)
        return model


def quantile_spec(spec: ModelSpec, quantiles: Sequence[float] | None) -> ModelSpec:
    """``spec`` built with quantile outputs when ``quantiles`` is given, else ``spec`` itself."""
    if not quantiles:
        return spec
    return QuantileSpec(list(spec.layers), tuple(quantiles))
