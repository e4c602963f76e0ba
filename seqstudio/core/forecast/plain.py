"""A small model's forward pass in plain numpy, for the rolled-forward forecasts of a backtest.

A backtest without retraining calls the trained model once per round of its
recursive forecast, on a batch of a few dozen origins. For the models a
series project builds (an LSTM or GRU of a few units and a Dense head), each
such call is almost all dispatch: ``nn.LSTM.forward``'s Python checks, the
module wrappers and the operator's set-up cost ~75 µs on a batch whose
arithmetic takes ~1 µs. :func:`plain_forward` copies the weights of such a
model once into numpy arrays and returns a function doing the same
arithmetic in float32, with ~10 numpy calls per time step.

It covers the built-in fused recurrent layers (LSTM, GRU, SimpleRNN; one or
two directions; the last state or the whole sequence), Dense with a linear,
ReLU, tanh or sigmoid activation, and Dropout (a no-op at inference). For
anything else (convolutions, pooling, plugin cells, other activations) it
returns ``None`` and the caller uses the model itself. The arithmetic is
torch's (gate order i, f, g, o for LSTM; r, z, n with the reset gate applied
after the recurrent product for GRU); results agree with the model to float32
rounding (see ``tests/core/forecast/test_plain.py``).

>>> import torch
>>> from torch import nn
>>> from seqstudio.core.model.modules import SequenceModel
>>> model = SequenceModel([nn.Sequential(nn.Linear(3, 2), nn.Tanh())], input_shape=(3,),
...                       output_shape=(2,)).eval()
>>> x = torch.randn(5, 3)
>>> bool(abs(plain_forward(model)(x.numpy()) - model(x).detach().numpy()).max() < 1e-6)
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np
import torch
from torch import nn

__all__ = ["PlainForward", "plain_forward"]

#: One layer's pass (a last Dense also takes ``out``).
Step = Callable[..., np.ndarray]


class PlainForward:
    """The numpy pass: call it on a float32 batch; ``n_parameters`` is the model's count.

    ``out`` (an array of the output's shape, possibly a strided view) receives the output: a
    last Dense layer writes its product there directly, without a new array and a copy.
    """

    def __init__(self, steps: list[Step], n_parameters: int):
        self.steps, self.n_parameters = steps, n_parameters
        self._head, self._last = steps[:-1], steps[-1]
        self._last_writes = getattr(self._last, "writes_out", False)

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        for step in self._head:
            x = step(x)
        if out is None:
            return self._last(x)
        if self._last_writes:
            return self._last(x, out)
        out[...] = self._last(x).reshape(out.shape)
        return out


def plain_forward(model: nn.Module) -> PlainForward | None:
    """A numpy function computing ``model``'s eval-mode output, or ``None`` if it has a part
    this module does not cover (see the module docs). The weights are copied now: a later
    change to the model is not seen."""
    from seqstudio.core.model.cells import RecurrentLayer
    from seqstudio.core.model.modules import SequenceModel

    if not isinstance(model, SequenceModel):
        return None
    # (each builder reads its layer's tensors directly: model.parameters() walks the module
    # tree through generators, which costs more than the whole copy for a model this small)
    weights = _Weights()
    steps: list[Step] = []
    for layer in model.layers:
        if isinstance(layer, RecurrentLayer):
            step = _recurrent(layer, weights)
        elif type(layer) is nn.Linear:
            step = _dense(layer, nn.Identity, weights)
        elif type(layer) is nn.Sequential and len(layer) == 2 and type(layer[0]) is nn.Linear:
            step = _dense(layer[0], type(layer[1]), weights)
        elif isinstance(layer, (nn.Dropout, nn.Identity)):
            continue
        else:
            step = None
        if step is None:
            return None
        steps.append(step)
    return PlainForward(steps, weights.n_parameters)


class _Weights:
    """Reads a model's tensors as numpy views (the builders copy what they keep: the weights
    transposed or scaled, the biases) and counts its parameters."""

    def __init__(self) -> None:
        self.n_parameters = 0

    def read(self, tensors: list[torch.Tensor]) -> list[np.ndarray] | None:
        """The tensors' values, or None at one off the CPU or not float32 (such a model is left
        to torch: the numpy pass is float32 arithmetic)."""
        arrays = []
        for t in tensors:
            try:
                a = t.data.numpy()
            except (TypeError, RuntimeError, NotImplementedError):  # off the CPU, or no storage
                return None
            if a.dtype != np.float32:
                return None
            if isinstance(t, nn.Parameter):  # (a fixed zero recurrent bias is a buffer, not counted)
                self.n_parameters += a.size
            arrays.append(a)
        return arrays


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exact in float32 and free of overflow warnings, unlike 1 / (1 + exp(-x))
    return np.tanh(x * np.float32(0.5)) * np.float32(0.5) + np.float32(0.5)


_ACTIVATIONS: dict[type, Callable[[np.ndarray], np.ndarray] | None] = {
    nn.Identity: None,
    nn.ReLU: lambda x: np.maximum(x, np.float32(0)),
    nn.Tanh: np.tanh,
    nn.Sigmoid: _sigmoid,
}


def _dense(linear: nn.Linear, activation: type, weights: _Weights) -> Step | None:
    if activation not in _ACTIVATIONS:
        return None
    bias_t = linear.bias
    arrays = weights.read([linear.weight] if bias_t is None else [linear.weight, bias_t])
    if arrays is None:
        return None
    weight_t = arrays[0].T.copy()  # (C order, whatever the shape)
    bias = arrays[1].copy() if bias_t is not None else None
    act = _ACTIVATIONS[activation]

    def dense(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        y = np.matmul(x, weight_t, out=out)
        if bias is not None:
            y += bias
        if act is None:
            return y
        if out is None:
            return act(y)
        out[...] = act(y)
        return out

    dense.writes_out = True  # type: ignore[attr-defined]
    return dense


def _recurrent(layer, weights: _Weights) -> Step | None:
    fused = layer.fused
    kinds = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}
    kind = kinds.get(type(fused)) if fused is not None else None
    if kind is None or fused.num_layers != 1 or not fused.batch_first or getattr(fused, "proj_size", 0):
        return None
    if kind == "rnn" and fused.nonlinearity not in ("tanh", "relu"):
        return None
    units = layer.units
    # sigmoid(x) = tanh(x / 2) / 2 + 1 / 2: the sigmoid gates' weights are halved once here
    # (exact in binary floating point), so one tanh call serves every gate of a step, and one
    # multiply-add per step (``scale``, ``shift``) turns the gates' tanh into sigmoids
    half, shift = _gate_scales(kind, units)
    # torch's own flat list: weight_ih, weight_hh[, bias_ih, bias_hh] per direction
    per = 4 if fused.bias else 2
    flat = weights.read(list(fused._flat_weights))
    if flat is None or len(flat) != per * layer.directions:
        return None
    directions = []
    zero = np.zeros(len(half), np.float32)
    for d in range(layer.directions):
        w_ih, w_hh, *biases = flat[d * per:(d + 1) * per]
        b_ih, b_hh = (b * half for b in biases) if biases else (zero, zero)
        # LSTM and SimpleRNN add both biases to the input part at once; GRU keeps b_hh apart
        # (its reset gate scales the recurrent part with its bias)
        directions.append((np.ascontiguousarray((w_ih * half[:, None]).T),
                           np.ascontiguousarray((w_hh * half[:, None]).T),
                           b_ih if kind == "gru" else b_ih + b_hh, b_hh, half, shift))
    keep_all = layer.return_sequences
    cell = {"lstm": _lstm_run, "gru": _gru_run, "rnn": _rnn_run}[kind]
    relu = kind == "rnn" and fused.nonlinearity == "relu"
    if len(directions) == 1:  # (a partial: no Python frame of its own per call)
        return partial(cell, weights=directions[0], units=units, keep_all=keep_all, relu=relu)

    def recurrent(x: np.ndarray) -> np.ndarray:
        outs = []
        for d, direction in enumerate(directions):
            seq = x[:, ::-1] if d else x
            out = cell(seq, direction, units, keep_all, relu)
            outs.append(out[:, ::-1] if d and keep_all else out)
        return np.concatenate(outs, axis=-1)

    return recurrent


@lru_cache(maxsize=64)
def _gate_scales(kind: str, units: int) -> tuple[np.ndarray, np.ndarray]:
    """Per gate column: 1/2 for a sigmoid gate (1 for a tanh one), and the shift after the tanh
    (1/2, or 0); read-only, shared by every model with these gates."""
    pattern = {"lstm": [0.5, 0.5, 1.0, 0.5], "gru": [0.5, 0.5, 1.0], "rnn": [1.0]}[kind]
    half = np.repeat(np.array(pattern, np.float32), units)
    shift = np.where(half == 1.0, np.float32(0), np.float32(0.5)).astype(np.float32)
    half.flags.writeable = shift.flags.writeable = False
    return half, shift


def _projected(x: np.ndarray, w_ih_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The input part of every time step's gates at once, ``(T, B, G)``: a new array, so each
    step's gates can be worked on in place."""
    if x.shape[1] == 1:
        # (one input column: the product is a broadcast multiply, the same single products)
        gates = x[:, 0] * w_ih_t[0] if len(w_ih_t) == 1 else x[:, 0] @ w_ih_t
        gates += bias
        return gates[None]
    gates = np.ascontiguousarray((x @ w_ih_t).transpose(1, 0, 2))
    gates += bias
    return gates


_HALF = np.float32(0.5)


def _lstm_run(x, weights, units, keep_all, relu):
    w_ih_t, w_hh_t, bias, _, scale, shift = weights
    h = c = None
    outs = []
    for g in _projected(x, w_ih_t, bias):
        if h is not None:
            g += h @ w_hh_t
        np.tanh(g, out=g)
        g *= scale
        g += shift  # the sigmoids of the halved gates i, f, o; the candidate's tanh
        cand = g[:, 2 * units:3 * units]
        if c is None:
            c = g[:, :units] * cand
        else:
            c = g[:, units:2 * units] * c
            c += g[:, :units] * cand
        h = np.tanh(c)
        h *= g[:, 3 * units:]
        if keep_all:
            outs.append(h)
    return np.stack(outs, axis=1) if keep_all else h


def _gru_run(x, weights, units, keep_all, relu):
    w_ih_t, w_hh_t, b_ih, b_hh, _, _ = weights
    h = np.zeros((x.shape[0], units), np.float32)
    outs = []
    for g in _projected(x, w_ih_t, b_ih):
        gh = h @ w_hh_t
        gh += b_hh
        s = np.tanh(g[:, :2 * units] + gh[:, :2 * units]) * _HALF + _HALF  # r, z
        n = np.tanh(g[:, 2 * units:] + s[:, :units] * gh[:, 2 * units:])
        h = n + s[:, units:] * (h - n)
        if keep_all:
            outs.append(h)
    return np.stack(outs, axis=1) if keep_all else h


def _rnn_run(x, weights, units, keep_all, relu):
    w_ih_t, w_hh_t, bias, _, _, _ = weights
    h = None
    outs = []
    for g in _projected(x, w_ih_t, bias):
        if h is not None:
            g += h @ w_hh_t
        h = np.maximum(g, np.float32(0), out=g) if relu else np.tanh(g, out=g)
        if keep_all:
            outs.append(h)
    return np.stack(outs, axis=1) if keep_all else h
