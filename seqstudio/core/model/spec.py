"""A model is an ordered list of layer specs, validated against the data before training.

:class:`ModelSpec` checks the whole stack for an input shape (each layer's
output shape and parameter count, impossible stacks rejected with a message
naming the layer and the fix), returns a :class:`ModelSummary` (data, not
text), builds the :class:`SequenceModel` and round-trips through JSON.

Parameter counts are those of the built module (``sum(p.numel())``, counted on
torch's "meta" device so nothing is allocated). The built-in LSTM and
SimpleRNN keep one bias vector, as Keras does, so the counts equal Keras's:
``LSTM(128)`` on 128 features has 131,584 parameters (torch's own
``nn.LSTM`` has a second, redundant bias: 132,096).

>>> from seqstudio.core.model.layers import LSTM, Dense
>>> spec = ModelSpec([LSTM(4), Dense(1)])
>>> spec.to_dict()["layers"][0]["type"]
'LSTM'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.engine import engine_deferred
from seqstudio.core.errors import ModelSpecError, SeqStudioError
from seqstudio.core.model.layers import (
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    LayerSpec,
    Recurrent,
    layer_from_dict,
    layer_to_dict,
)
from seqstudio.core.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from seqstudio.core.model.modules import SequenceModel


def __getattr__(name: str):
    if name == "SequenceModel":  # built models live in modules.py (torch), loaded when needed
        from seqstudio.core.model.modules import SequenceModel

        return SequenceModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["SummaryRow", "ModelSummary", "ModelSpec", "SequenceModel"]

#: Version of the dict written by :meth:`ModelSpec.to_dict`.
MODEL_FORMAT = 1


@dataclass
class SummaryRow:
    """One layer of a summary: Keras-like name, type, output shape (no batch axis), parameters."""

    index: int
    name: str
    type_name: str
    output_shape: tuple[int, ...]
    #: None while the training engine is still loading (the window's first second)
    params: int | None


@dataclass
class ModelSummary:
    """What :meth:`ModelSpec.summary` returns: one row per layer plus totals."""

    rows: list[SummaryRow]
    #: None while the training engine is still loading (:mod:`seqstudio.core.engine`)
    total_params: int | None
    trainable_params: int | None
    input_shape: tuple[int, ...] = ()
    #: The memory estimate to train it (:mod:`seqstudio.core.model.memory`), when known.
    memory: Any = field(default=None, compare=False)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Per-sample output shape of the whole model."""
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def format(self) -> str:
        """A Keras-like table (output shapes shown with ``None`` for the batch axis).

        >>> print(ModelSummary([SummaryRow(0, "dense", "Dense", (1,), 5)], 5, 5).format())
        Layer (type)     Output Shape    Param #
        ========================================
        dense (Dense)    (None, 1)             5
        ========================================
        Total params: 5
        Trainable params: 5
        Non-trainable params: 0
        """
        def count(n: int | None) -> str:
            return "…" if n is None else f"{n:,}"

        cells = [(f"{r.name} ({r.type_name})", str((None, *r.output_shape)), count(r.params))
                 for r in self.rows]
        w0 = max([len("Layer (type)"), *(len(c[0]) for c in cells)]) + 4
        w1 = max([len("Output Shape"), *(len(c[1]) for c in cells)]) + 4
        w2 = max([len("Param #"), *(len(c[2]) for c in cells)])
        rule = "=" * (w0 + w1 + w2)
        lines = [f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>{w2}}", rule]
        lines += [f"{a:<{w0}}{b:<{w1}}{c:>{w2}}" for a, b, c in cells]
        if self.total_params is None or self.trainable_params is None:
            lines += [rule, "Total params: … (the training engine is loading)"]
        else:
            lines += [rule, f"Total params: {self.total_params:,}",
                      f"Trainable params: {self.trainable_params:,}",
                      f"Non-trainable params: {self.total_params - self.trainable_params:,}"]
        if self.memory is not None:
            lines.append(self.memory.describe())
        return "\n".join(lines)


def _keras_name(type_name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type_name).lower()


def _reducer_fix(layers: list[LayerSpec], index: int) -> str | None:
    """The fix for a layer that needs a sequence but gets a vector: name the layer that reduced it."""
    for j in range(index - 1, -1, -1):
        prev = layers[j]
        if isinstance(prev, Recurrent) and not prev.return_sequences:
            return f"set return_sequences=True on layer {j + 1} ({prev.type_name})"
        if isinstance(prev, Flatten | GlobalAveragePooling1D | GlobalMaxPooling1D):
            return f"remove layer {j + 1} ({prev.type_name}) or move it after layer {index + 1}"
    return None


def _count_params(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


@dataclass
class ModelSpec:
    """An ordered stack of layer specs.

    >>> from seqstudio.core.model.layers import Embedding, LSTM, Dense
    >>> spec = ModelSpec([Embedding(10000, 128), LSTM(128, dropout=0.2, recurrent_dropout=0.2),
    ...                   Dense(1, activation="sigmoid")])
    >>> s = spec.summary((200,), input_is_ids=True, n_outputs=1, registry=registry)  # doctest: +SKIP
    >>> s.total_params  # doctest: +SKIP
    1411713
    """

    layers: list[LayerSpec] = field(default_factory=list)

    # -- validation ---------------------------------------------------------
    def summary(self, input_shape: tuple[int, ...], *, input_is_ids: bool = False,
                n_outputs: int | None = None, registry: Registry | None) -> ModelSummary:
        """Validate the stack for per-sample ``input_shape`` and return its summary.

        Raises :class:`ModelSpecError` with ``layer_index`` set when a layer cannot
        take its input, or when the output does not match ``n_outputs`` values per
        sample (when given).
        """
        if not self.layers:
            raise ModelSpecError("the model has no layers",
                                 fix="add layers, e.g. LSTM(4) then Dense(1)")
        shape = tuple(int(d) for d in input_shape)
        ids = bool(input_is_ids)
        rows: list[SummaryRow] = []
        total: int | None = 0
        trainable: int | None = 0
        counted = not engine_deferred()  # counting builds torch modules
        seen: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if (layer.input_ranks is not None and not ids and len(shape) not in layer.input_ranks
                    and len(shape) == 1):
                fix = _reducer_fix(self.layers, i)
                if fix:
                    raise ModelSpecError(
                        f"layer {i + 1} ({layer.type_name}) receives a 1-D output {shape} but needs a "
                        "sequence (time, features)", fix=fix, layer_index=i)
            try:
                out = tuple(layer.output_shape(shape, input_is_ids=ids, index=i, registry=registry))
                n_total, n_trainable = self._layer_params(layer, shape, registry) if counted \
                    else (None, None)
            except SeqStudioError as exc:
                raise self._at_layer(exc, i) from exc
            except (ValueError, TypeError, RuntimeError) as exc:
                raise ModelSpecError(f"layer {i + 1} ({layer.type_name}) cannot be built: {exc}",
                                     layer_index=i,
                                     fix="check the layer's arguments") from exc
            base = _keras_name(layer.type_name)
            count = seen.get(base, 0)
            seen[base] = count + 1
            rows.append(SummaryRow(i, base if count == 0 else f"{base}_{count}", layer.type_name,
                                   out, n_total))
            total = None if total is None or n_total is None else total + n_total
            trainable = None if trainable is None or n_trainable is None else trainable + n_trainable
            shape, ids = out, False
        if n_outputs is not None:
            self._check_outputs(shape, n_outputs)
        return ModelSummary(rows, total, trainable, tuple(int(d) for d in input_shape))

    @staticmethod
    def _at_layer(exc: SeqStudioError, index: int) -> ModelSpecError:
        if isinstance(exc, ModelSpecError) and exc.layer_index is not None:
            return exc
        return ModelSpecError(exc.what, where=exc.where or f"layer {index + 1}", fix=exc.fix,
                              layer_index=index)

    @staticmethod
    def _layer_params(layer: LayerSpec, shape: tuple[int, ...], registry) -> tuple[int, int]:
        # Built on the meta device: exact counts of the real module without allocating
        # (an Embedding(10000, 128) costs nothing). A plugin module that cannot be made
        # on meta is built for real.
        import torch

        try:
            with torch.device("meta"):
                return _count_params(layer.build(shape, registry))
        except SeqStudioError:
            raise
        except Exception:  # noqa: BLE001 - retry off the meta device
            return _count_params(layer.build(shape, registry))

    def _check_outputs(self, shape: tuple[int, ...], n_outputs: int) -> None:
        last = len(self.layers) - 1
        layer = self.layers[last]
        where = f"layer {last + 1} ({layer.type_name})"
        if len(shape) != 1:
            fix = _sequence_output_fix(self.layers)
            raise ModelSpecError(
                f"the model outputs a sequence {shape} per sample but the target has {n_outputs} "
                "value(s) per sample", where=where, fix=fix, layer_index=last)
        if shape[0] != n_outputs:
            if isinstance(layer, Dense):
                fix = f"set units={n_outputs} on layer {last + 1} (Dense)"
            else:
                fix = f"add Dense({n_outputs}) at the end"
            raise ModelSpecError(
                f"{where} outputs {shape[0]} value(s) per sample but the data has {n_outputs} "
                "target value(s)", fix=fix, layer_index=last)

    def check_data(self, data: PreparedData, *, registry: Registry | None) -> ModelSummary:
        """Validate the stack against real data: shapes, targets, token id range, task.

        On top of :meth:`summary`: every token id must be below the Embedding's
        ``input_dim``; float series cannot feed an Embedding; the output must have
        ``data.n_outputs`` values (the class count for multiclass); a binary task
        cannot end in a one-unit softmax (always 1).
        """
        ids = bool(data.input_is_ids) and not data.x_train.is_floating_point()
        summary = self.summary(data.input_shape, input_is_ids=ids, n_outputs=data.n_outputs,
                               registry=registry)
        first = self.layers[0]
        if isinstance(first, Embedding) and ids:
            splits = [t for t in (data.x_train, data.x_val, data.x_test) if t.numel()]
            low = min(int(t.min()) for t in splits)
            high = max(int(t.max()) for t in splits)
            if low < 0:
                raise ModelSpecError(f"the data holds a negative token id ({low})",
                                     where="layer 0 (Embedding)", layer_index=0,
                                     fix="rebuild the vocabulary: ids must be 0 (padding) or more")
            if high >= first.input_dim:
                raise ModelSpecError(
                    f"token ids reach {high} but layer 0 (Embedding) has input_dim={first.input_dim}",
                    layer_index=0,
                    fix=f"set input_dim to at least {max(high + 1, data.vocab_size or 0)} "
                        "(the vocabulary size), or keep fewer words in the vocabulary")
        last = self.layers[-1]
        if data.task == "binary" and isinstance(last, Dense) and last.activation == "softmax" \
                and last.units == 1:
            index = len(self.layers) - 1
            raise ModelSpecError(f"layer {index + 1} (Dense) applies softmax to one unit, which is always 1",
                                 layer_index=index,
                                 fix="use activation='sigmoid' for a binary label")
        return summary

    # -- building -----------------------------------------------------------
    def build(self, input_shape: tuple[int, ...], *, registry: Registry | None,
              seed: Any = None) -> SequenceModel:
        """Validate, then build the :class:`SequenceModel` for samples of ``input_shape``.

        An :class:`~seqstudio.core.model.layers.Embedding` first means the input holds token ids.
        ``seed``: draw the initial weights from it (the run's ``seed`` setting promises the same
        losses for the same seed, whatever drew random numbers before), leaving the process's
        own generator as it was; None draws them from that generator. A seed that is not an
        integer (a hand-edited project; training refuses it by name) counts as 0.
        """
        if seed is not None:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed if type(seed) is int else 0)
                return self.build(input_shape, registry=registry)
        ids = bool(self.layers) and isinstance(self.layers[0], Embedding)
        summary = self.summary(input_shape, input_is_ids=ids, registry=registry)
        modules = []
        shape = tuple(int(d) for d in input_shape)
        for layer, row in zip(self.layers, summary.rows, strict=True):
            modules.append(layer.build(shape, registry))
            shape = row.output_shape
        last = self.layers[-1]
        activation = getattr(last, "activation", "linear") if isinstance(last, Dense) else "linear"
        from seqstudio.core.model.modules import SequenceModel

        return SequenceModel(modules, input_shape=summary.input_shape, output_shape=shape,
                             output_activation=activation, names=[r.name for r in summary.rows])

    # -- JSON ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"format": 1, "layers": [{"type": ..., **config}, ...]}``."""
        return {"format": MODEL_FORMAT, "layers": [layer_to_dict(s) for s in self.layers]}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | list, registry: Registry | None = None) -> ModelSpec:
        """Inverse of :meth:`to_dict` (a bare list of layer dicts is accepted too)."""
        layers = d if isinstance(d, list) else d.get("layers") if isinstance(d, dict) else None
        if not isinstance(layers, list):
            raise ModelSpecError("a model must hold a list of layers",
                                 fix="write the model as {\"layers\": [{\"type\": \"LSTM\", ...}]}")
        specs = []
        for i, item in enumerate(layers):
            try:
                specs.append(layer_from_dict(item, registry))
            except ModelSpecError as exc:
                raise ModelSpecError(exc.what, where=f"layer {i + 1}", fix=exc.fix, layer_index=i) from exc
        return cls(specs)


def _sequence_output_fix(layers: list[LayerSpec]) -> str:
    for j in range(len(layers) - 1, -1, -1):
        layer = layers[j]
        if isinstance(layer, Recurrent) and layer.return_sequences:
            return (f"set return_sequences=False on layer {j + 1} ({layer.type_name}), or add "
                    "Flatten / GlobalAveragePooling1D before the last Dense")
    return "add Flatten or GlobalAveragePooling1D before the last Dense"
