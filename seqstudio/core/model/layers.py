"""Layer specs: validated arguments, output shapes, modules, JSON configs.

A layer spec is a small dataclass holding a layer's arguments, as in Keras.
It checks its arguments where it is made, infers its output shape from its
input shape (without the batch axis), builds the ``torch.nn.Module`` and
round-trips through JSON with :meth:`LayerSpec.get_config` /
:meth:`LayerSpec.from_config`.

Shapes follow Keras: a series sample is ``(time, features)``, a text sample
``(time,)`` of integer token ids (an :class:`Embedding` must come first),
``Dense`` works on the last axis.

Recurrent layers (:class:`SimpleRNN`, :class:`LSTM`, :class:`GRU`, and the
generic :class:`RNN` for any registered cell) find their cell in the
:class:`~seqstudio.core.registry.Registry` handed to ``output_shape`` /
``build``: the core itself imports no cell.

>>> spec = LSTM(128, dropout=0.2, recurrent_dropout=0.2)
>>> layer_to_dict(spec)["type"]
'LSTM'
>>> layer_from_dict(layer_to_dict(spec)) == spec
True
>>> Dense(1, activation="sigmoid").output_shape((128,), input_is_ids=False, index=2, registry=None)
(1,)
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from seqstudio.core.errors import ModelSpecError, PluginError
from seqstudio.core.registry import CellType, LayerType, Registry

if TYPE_CHECKING:
    from torch import nn

# The torch modules the layers build live in modules.py, imported when a layer is built:
# checking and summing up a stack of layer specs needs no torch (the window starts without it).
_MODULES = ("activation_module", "Conv1DModule", "MaxPool1DModule")


def __getattr__(name: str):
    if name in _MODULES:
        from seqstudio.core.model import modules

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ACTIVATIONS", "LAYER_TYPES", "LayerSpec", "Embedding", "Recurrent", "SimpleRNN", "LSTM", "GRU",
    "RNN", "Conv1D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
    "MaxPooling1D", "layer_to_dict", "layer_from_dict",
]

#: Activation names accepted by Dense / Conv1D (``None`` means "linear").
ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "tanh", "sigmoid", "softmax", "gelu", "elu",
                                "selu", "softplus")


def _err(layer: str, what: str, fix: str | None = None, index: int | None = None) -> ModelSpecError:
    # The messages already name the layer ("layer 2 (LSTM) ..."), so no separate ``where``.
    return ModelSpecError(what, fix=fix, layer_index=index)


def _check_positive_int(layer: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _err(layer, f"{layer} {name} must be a positive integer, got {value!r}",
                   fix=f"set {name} to a whole number of at least 1")


def _check_rate(layer: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise _err(layer, f"{layer} {name} must be a number in [0, 1), got {value!r}",
                   fix=f"set {name} to a fraction such as 0.2 (0 disables it)")


def _check_bool(layer: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _err(layer, f"{layer} {name} must be true or false, got {value!r}")


def _check_choice(layer: str, name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise _err(layer, f"{layer} {name} must be one of {', '.join(map(str, choices))}, got {value!r}",
                   fix=f"choose a {name} from the list")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@dataclass
class LayerSpec:
    """Base class of every layer spec.

    Subclasses are dataclasses whose fields are the layer's arguments; they set
    ``type_name`` (the JSON ``"type"``) and ``help`` (argument -> tooltip).
    ``input_ranks`` lists the ranks of ``(time, features)``-style sample shapes
    the layer accepts (``None``: any rank of at least 1).
    """

    type_name: ClassVar[str] = ""
    help: ClassVar[dict[str, str]] = {}
    input_ranks: ClassVar[tuple[int, ...] | None] = None
    #: Short description for menus and ``seqstudio layers``.
    description: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the arguments; raise :class:`ModelSpecError` naming the bad one."""

    # -- JSON -------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The arguments as a JSON-able dict (``from_config`` inverts it).

        >>> Dense(4, activation="relu").get_config()
        {'units': 4, 'activation': 'relu'}
        """
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LayerSpec:
        """Rebuild a spec from :meth:`get_config`'s dict; unknown or missing arguments raise.

        >>> Dense.from_config({"units": 4})
        Dense(units=4, activation='linear')
        """
        if not isinstance(config, dict):
            raise _err(cls.type_name, f"{cls.type_name} config must be a mapping, got {type(config).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        config = {cls._aliases().get(k, k): v for k, v in config.items() if k != "type"}
        unknown = sorted(set(config) - set(fields))
        if unknown:
            raise _err(cls.type_name, f"{cls.type_name} has no argument {unknown[0]!r}",
                       fix=f"use only: {', '.join(fields)}")
        required = [n for n, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in config]
        if missing:
            raise _err(cls.type_name, f"{cls.type_name} needs the argument {missing[0]!r}",
                       fix=f"give {missing[0]} a value")
        return cls(**config)

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    # -- shapes and modules -----------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...], *, input_is_ids: bool, index: int,
                     registry: Registry | None) -> tuple[int, ...]:
        """The output shape (without batch) for ``input_shape``; raise if this input cannot work.

        ``input_is_ids`` says the input holds integer token ids (only an
        :class:`Embedding` accepts them); ``index`` is the layer's position, used
        in messages.
        """
        self._check_input(input_shape, input_is_ids, index)
        return self._output_shape(tuple(input_shape), index, registry)

    def _output_shape(self, input_shape: tuple[int, ...], index: int,
                      registry: Registry | None) -> tuple[int, ...]:
        return input_shape

    def _check_input(self, input_shape: tuple[int, ...], input_is_ids: bool, index: int) -> None:
        name = self.type_name
        if input_is_ids:
            raise _err(name, f"layer {index + 1} ({name}) receives integer token ids, which only an "
                             "Embedding can read", index=index,
                       fix="put an Embedding(input_dim=<vocabulary size>, output_dim=...) first")
        if self.input_ranks is not None and len(input_shape) not in self.input_ranks:
            raise _err(name, f"layer {index + 1} ({name}) receives a {len(input_shape)}-D output "
                             f"{input_shape} but needs a sequence (time, features)", index=index,
                       fix="feed it a sequence: set return_sequences=True on the recurrent layer "
                           "before it, or remove the Flatten / global pooling before it")

    def build(self, input_shape: tuple[int, ...], registry: Registry | None) -> nn.Module:
        """The ``torch.nn.Module`` of this layer for inputs ``(batch, *input_shape)``."""
        raise NotImplementedError


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


# -- Embedding ----------------------------------------------------------------


@dataclass
class Embedding(LayerSpec):
    """Token ids -> trainable dense vectors: ``(time,) -> (time, output_dim)``."""

    input_dim: int
    output_dim: int

    type_name: ClassVar[str] = "Embedding"
    description: ClassVar[str] = "Turns integer token ids into trainable vectors (text input)."
    help: ClassVar[dict[str, str]] = {
        "input_dim": "Vocabulary size: token ids must be smaller than this (e.g. 10000 words kept).",
        "output_dim": "Length of the vector learned for each token (e.g. 128).",
    }

    def validate(self) -> None:
        _check_positive_int("Embedding", "input_dim", self.input_dim)
        _check_positive_int("Embedding", "output_dim", self.output_dim)

    def output_shape(self, input_shape, *, input_is_ids, index, registry):
        if not input_is_ids:
            raise _err("Embedding", f"layer {index + 1} (Embedding) is fed float values {tuple(input_shape)}, "
                                    "but it reads integer token ids", index=index,
                       fix="use an Embedding only on text data (token ids) and first in the stack; "
                           "for a numeric series start with a recurrent, Conv1D or Dense layer")
        return (*input_shape, self.output_dim)

    def build(self, input_shape, registry):
        from torch import nn

        return nn.Embedding(self.input_dim, self.output_dim)


# -- recurrent layers -----------------------------------------------------------

_RECURRENT_HELP = {
    "units": "Size of the hidden state (the layer's memory) per direction.",
    "return_sequences": "Output the hidden state at every time step (needed before another recurrent "
                        "or Conv1D layer) instead of only the last one.",
    "bidirectional": "Also read the sequence backwards and concatenate both directions "
                     "(doubles the output size).",
    "dropout": "Fraction of input features dropped during training (one mask per sequence).",
    "recurrent_dropout": "Fraction of recurrent connections dropped during training (weight-drop on "
                         "the hidden-to-hidden weights, same at every time step).",
}


@dataclass
class Recurrent(LayerSpec):
    """Shared arguments and behaviour of the recurrent layers."""

    units: int
    return_sequences: bool = False
    bidirectional: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0

    input_ranks: ClassVar[tuple[int, ...] | None] = (2,)
    #: Registry key of the cell this layer type uses ("" for RNN: its ``cell`` field).
    cell_name: ClassVar[str] = ""

    def validate(self) -> None:
        name = self.type_name
        _check_positive_int(name, "units", self.units)
        _check_bool(name, "return_sequences", self.return_sequences)
        _check_bool(name, "bidirectional", self.bidirectional)
        _check_rate(name, "dropout", self.dropout)
        _check_rate(name, "recurrent_dropout", self.recurrent_dropout)

    def cell_key(self) -> str:
        return self.cell_name

    def cell_params(self) -> dict[str, Any]:
        return {}

    def find_cell(self, registry: Registry | None, index: int | None = None) -> CellType:
        """The registered cell, or :class:`ModelSpecError` naming what to install."""
        name = self.type_name
        if registry is None:
            raise _err(name, f"{name} needs the cell registry to find cell {self.cell_key()!r}",
                       index=index, fix="pass registry= (seqstudio.pluginapi builds it from the plugins)")
        try:
            cell = registry.cell(self.cell_key())
        except PluginError as exc:
            raise _err(name, exc.what, fix=exc.fix, index=index) from exc
        if cell.disabled_reason:
            raise _err(name, f"cell {cell.key!r} is disabled: {cell.disabled_reason}", index=index,
                       fix="update or fix the plugin that provides it, or choose another cell")
        return cell

    def _output_shape(self, input_shape, index, registry):
        cell = self.find_cell(registry, index)
        try:  # the cell's declared options, checked where the stack is checked
            cell.resolve_params(self.cell_params())
        except ModelSpecError as exc:
            raise _err(self.type_name, exc.what, fix=exc.fix, index=index) from None
        out = self.units * (2 if self.bidirectional else 1)
        return (input_shape[0], out) if self.return_sequences else (out,)

    def build(self, input_shape, registry):
        from seqstudio.core.model.cells import RecurrentLayer

        return RecurrentLayer(self.find_cell(registry), int(input_shape[-1]), self.units,
                              return_sequences=self.return_sequences,
                              bidirectional=self.bidirectional, dropout=self.dropout,
                              recurrent_dropout=self.recurrent_dropout,
                              cell_params=self.cell_params())


@dataclass
class SimpleRNN(Recurrent):
    """Plain recurrent layer (``h_t = tanh(W x_t + U h_{t-1} + b)``)."""

    activation: str = "tanh"

    type_name: ClassVar[str] = "SimpleRNN"
    cell_name: ClassVar[str] = "simple_rnn"
    description: ClassVar[str] = "Plain recurrent layer; forgets quickly (vanishing gradients)."
    help: ClassVar[dict[str, str]] = {
        **_RECURRENT_HELP,
        "activation": "Non-linearity of the hidden state: tanh (usual) or relu.",
    }

    def validate(self) -> None:
        super().validate()
        _check_choice("SimpleRNN", "activation", self.activation, ("tanh", "relu"))

    def cell_params(self) -> dict[str, Any]:
        return {"activation": self.activation}


@dataclass
class LSTM(Recurrent):
    """Long short-term memory layer (gates and a cell state)."""

    type_name: ClassVar[str] = "LSTM"
    cell_name: ClassVar[str] = "lstm"
    description: ClassVar[str] = "Long short-term memory: gated, keeps information over long spans."
    help: ClassVar[dict[str, str]] = dict(_RECURRENT_HELP)


@dataclass
class GRU(Recurrent):
    """Gated recurrent unit layer (reset and update gates, fewer parameters than LSTM)."""

    type_name: ClassVar[str] = "GRU"
    cell_name: ClassVar[str] = "gru"
    description: ClassVar[str] = "Gated recurrent unit: like LSTM with fewer parameters."
    help: ClassVar[dict[str, str]] = dict(_RECURRENT_HELP)


@dataclass
class RNN(Recurrent):
    """A recurrent layer over any registered cell, e.g. ``RNN(16, cell="myplugin>mycell")``."""

    cell: str = "lstm"
    cell_options: dict[str, Any] = field(default_factory=dict)

    type_name: ClassVar[str] = "RNN"
    description: ClassVar[str] = "A recurrent layer over any cell a plugin registers."
    help: ClassVar[dict[str, str]] = {
        **_RECURRENT_HELP,
        "cell": "Which registered cell runs each time step ('plugin>name', or a unique name).",
        "cell_options": "Extra options of the chosen cell (see the cell's parameters).",
    }

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.cell, str) or not self.cell:
            raise _err("RNN", f"RNN cell must be a registered cell name, got {self.cell!r}",
                       fix="choose a cell, e.g. 'lstm' or 'myplugin>mycell'")
        if not isinstance(self.cell_options, dict):
            raise _err("RNN", f"RNN cell_options must be a mapping, got {self.cell_options!r}")

    def cell_key(self) -> str:
        return self.cell

    def cell_params(self) -> dict[str, Any]:
        return dict(self.cell_options)


# -- convolution and pooling ------------------------------------------------------


def _conv_length(layer: str, length: int, kernel: int, stride: int, padding: str, index: int) -> int:
    if padding == "same":
        return math.ceil(length / stride)
    if padding == "causal":
        return (length - 1) // stride + 1
    if length < kernel:
        raise _err(layer, f"layer {index + 1} ({layer}) window {kernel} is longer than the sequence "
                          f"({length} time steps)", index=index,
                   fix="reduce kernel_size / pool_size, or use padding='same'")
    return (length - kernel) // stride + 1


@dataclass
class Conv1D(LayerSpec):
    """1-D convolution over time: ``(time, features) -> (time', filters)``."""

    filters: int
    kernel_size: int
    stride: int = 1
    padding: str = "valid"
    activation: str = "linear"

    type_name: ClassVar[str] = "Conv1D"
    input_ranks: ClassVar[tuple[int, ...] | None] = (2,)
    description: ClassVar[str] = "1-D convolution: detects local patterns along time."
    help: ClassVar[dict[str, str]] = {
        "filters": "Number of patterns (output channels) learned.",
        "kernel_size": "Width of the window in time steps.",
        "stride": "Step between windows; >1 shortens the sequence.",
        "padding": "valid: no padding (shorter output); same: keep length; causal: pad the past only.",
        "activation": "Non-linearity applied to the output.",
    }

    def validate(self) -> None:
        _check_positive_int("Conv1D", "filters", self.filters)
        _check_positive_int("Conv1D", "kernel_size", self.kernel_size)
        _check_positive_int("Conv1D", "stride", self.stride)
        _check_choice("Conv1D", "padding", self.padding, ("valid", "same", "causal"))
        if self.activation is None:
            self.activation = "linear"
        _check_choice("Conv1D", "activation", self.activation, ACTIVATIONS)

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"strides": "stride"}  # Keras spells it "strides"

    def _output_shape(self, input_shape, index, registry):
        length = _conv_length("Conv1D", input_shape[0], self.kernel_size, self.stride, self.padding, index)
        return (length, self.filters)

    def build(self, input_shape, registry):
        from seqstudio.core.model.modules import Conv1DModule

        return Conv1DModule(int(input_shape[-1]), self.filters, self.kernel_size, self.stride,
                            self.padding, self.activation)


@dataclass
class MaxPooling1D(LayerSpec):
    """Maximum over windows of time: ``(time, features) -> (time', features)``."""

    pool_size: int = 2
    stride: int | None = None
    padding: str = "valid"

    type_name: ClassVar[str] = "MaxPooling1D"
    input_ranks: ClassVar[tuple[int, ...] | None] = (2,)
    description: ClassVar[str] = "Keeps the largest value in each window of time steps."
    help: ClassVar[dict[str, str]] = {
        "pool_size": "Width of the window in time steps.",
        "stride": "Step between windows (empty: the pool size).",
        "padding": "valid: drop a partial last window; same: pad so the length is ceil(time / stride).",
    }

    def validate(self) -> None:
        _check_positive_int("MaxPooling1D", "pool_size", self.pool_size)
        if self.stride is not None:
            _check_positive_int("MaxPooling1D", "stride", self.stride)
        _check_choice("MaxPooling1D", "padding", self.padding, ("valid", "same"))

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"strides": "stride"}

    def _output_shape(self, input_shape, index, registry):
        stride = self.stride or self.pool_size
        length = _conv_length("MaxPooling1D", input_shape[0], self.pool_size, stride, self.padding, index)
        return (length, input_shape[1])

    def build(self, input_shape, registry):
        from seqstudio.core.model.modules import MaxPool1DModule

        return MaxPool1DModule(self.pool_size, self.stride or self.pool_size, self.padding)


@dataclass
class GlobalAveragePooling1D(LayerSpec):
    """Mean over time: ``(time, features) -> (features,)``."""

    type_name: ClassVar[str] = "GlobalAveragePooling1D"
    input_ranks: ClassVar[tuple[int, ...] | None] = (2,)
    description: ClassVar[str] = "Averages every feature over all time steps."
    help: ClassVar[dict[str, str]] = {}

    def _output_shape(self, input_shape, index, registry):
        return (input_shape[1],)

    def build(self, input_shape, registry):
        from seqstudio.core.model.modules import ReduceOverTime

        return ReduceOverTime("mean")


@dataclass
class GlobalMaxPooling1D(LayerSpec):
    """Maximum over time: ``(time, features) -> (features,)``."""

    type_name: ClassVar[str] = "GlobalMaxPooling1D"
    input_ranks: ClassVar[tuple[int, ...] | None] = (2,)
    description: ClassVar[str] = "Keeps the largest value of every feature over all time steps."
    help: ClassVar[dict[str, str]] = {}

    def _output_shape(self, input_shape, index, registry):
        return (input_shape[1],)

    def build(self, input_shape, registry):
        from seqstudio.core.model.modules import ReduceOverTime

        return ReduceOverTime("max")


# -- dense, dropout, flatten ----------------------------------------------------------


@dataclass
class Dense(LayerSpec):
    """Fully connected layer on the last axis: ``(..., in) -> (..., units)``."""

    units: int
    activation: str = "linear"

    type_name: ClassVar[str] = "Dense"
    description: ClassVar[str] = "Fully connected layer (on the last axis)."
    help: ClassVar[dict[str, str]] = {
        "units": "Number of outputs (1 for a single forecast or a binary label).",
        "activation": "Non-linearity: linear for regression, sigmoid for a binary label, "
                      "softmax for classes.",
    }

    def validate(self) -> None:
        _check_positive_int("Dense", "units", self.units)
        if self.activation is None:
            self.activation = "linear"
        _check_choice("Dense", "activation", self.activation, ACTIVATIONS)

    def _output_shape(self, input_shape, index, registry):
        return (*input_shape[:-1], self.units)

    def build(self, input_shape, registry):
        from torch import nn

        from seqstudio.core.model.modules import activation_module

        linear = nn.Linear(int(input_shape[-1]), self.units)
        # Keras initialises Dense kernels with Glorot-uniform and biases with zeros.
        if not linear.weight.is_meta:
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
        if self.activation == "linear":
            return linear
        return nn.Sequential(linear, activation_module(self.activation))


@dataclass
class Dropout(LayerSpec):
    """Randomly zero a fraction of values during training (scaled, as in Keras)."""

    rate: float

    type_name: ClassVar[str] = "Dropout"
    description: ClassVar[str] = "Randomly drops values during training to reduce overfitting."
    help: ClassVar[dict[str, str]] = {"rate": "Fraction of values set to zero during training."}

    def validate(self) -> None:
        _check_rate("Dropout", "rate", self.rate)

    def build(self, input_shape, registry):
        from torch import nn

        return nn.Dropout(self.rate)


@dataclass
class Flatten(LayerSpec):
    """Flatten everything but the batch axis: ``(time, features) -> (time * features,)``."""

    type_name: ClassVar[str] = "Flatten"
    description: ClassVar[str] = "Joins all time steps into one vector."
    help: ClassVar[dict[str, str]] = {}

    def _output_shape(self, input_shape, index, registry):
        return (math.prod(input_shape),)

    def build(self, input_shape, registry):
        from torch import nn

        return nn.Flatten()


#: Built-in layer types by ``type_name``; plugins add theirs to the registry.
LAYER_TYPES: dict[str, type[LayerSpec]] = {
    cls.type_name: cls
    for cls in (Embedding, SimpleRNN, LSTM, GRU, RNN, Conv1D, MaxPooling1D, GlobalAveragePooling1D,
                GlobalMaxPooling1D, Dense, Dropout, Flatten)
}


def layer_to_dict(spec: LayerSpec) -> dict[str, Any]:
    """``{"type": type_name, **config}``, the form stored in project files.

    >>> layer_to_dict(Dropout(0.2))
    {'type': 'Dropout', 'rate': 0.2}
    """
    return {"type": spec.type_name, **spec.get_config()}


def layer_from_dict(d: dict[str, Any], registry: Registry | None = None) -> LayerSpec:
    """Rebuild a spec from :func:`layer_to_dict`; plugin layer types come from ``registry``.

    >>> layer_from_dict({"type": "Dense", "units": 1, "activation": "sigmoid"})
    Dense(units=1, activation='sigmoid')
    """
    if not isinstance(d, dict) or "type" not in d:
        raise ModelSpecError(f"a layer must be a mapping with a 'type', got {d!r}",
                             fix="write layers as {\"type\": \"LSTM\", \"units\": 4, ...}")
    type_name = d["type"]
    cls: type[LayerSpec] | type[LayerType] | None = LAYER_TYPES.get(type_name)
    if cls is None and registry is not None:
        try:
            cls = registry.layer(type_name)
        except PluginError as exc:
            if ">" in str(type_name):  # a plugin's layer: the registry names the plugin to install
                raise ModelSpecError(exc.what, fix=exc.fix) from exc
            known = [*LAYER_TYPES, *sorted(getattr(registry, "layers", {}) or {})]
            raise ModelSpecError(f"unknown layer type {type_name!r}",
                                 fix=f"use one of: {', '.join(known)} (or install the plugin "
                                     "providing it)") from exc
    if cls is None:
        raise ModelSpecError(f"unknown layer type {type_name!r}",
                             fix=f"use one of: {', '.join(LAYER_TYPES)} (or install the plugin providing it)")
    return cls.from_config({k: v for k, v in d.items() if k != "type"})
