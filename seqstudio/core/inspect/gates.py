"""A recurrent layer's gates and states, step by step, from the layer's own weights.

:func:`trace_layer` runs one input through a trained model up to a chosen
recurrent layer, then recomputes that layer one time step at a time from its
weights, keeping what the lecture's equations name:

* LSTM (torch gate order): ``i, f, g, o`` after their non-linearity, the cell
  state ``c`` and the hidden state ``h``;
* GRU (torch's convention, Keras ``reset_after=True``): ``r, z, n`` and ``h``,
  with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``;
* SimpleRNN: the pre-activation ``a = W x + U h + b`` and ``h = act(a)``;
* a plugin cell running on its one-step module: the named values its
  ``internals(x_t, state)`` method returns (optional), else ``h`` and the state.

The step form is checked against the layer's fused output (and final cell
state), both computed in float64 from the trained weights: the largest absolute difference is kept in
:attr:`LayerTrace.max_abs_diff` and, in debug mode (Python without ``-O``, the
default) or when ``check=True``, a difference above :data:`TOLERANCE` raises.

Dropout plays no part: the model is evaluated (``eval()``), where input dropout
and weight-drop are off, so the weights used are exactly the trained ones.

>>> import torch
>>> from seqstudio.pluginapi.manager import builtin_registry
>>> from seqstudio.core.model.spec import ModelSpec
>>> spec = ModelSpec.from_dict([{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 1}])
>>> model = spec.build((5, 2), registry=builtin_registry())
>>> trace = trace_layer(model, 0, torch.randn(5, 2))
>>> trace.kind, list(trace.directions[0].values), trace.directions[0].values["f"].shape
('lstm', ['i', 'f', 'g', 'o', 'c', 'h'], (5, 3))
>>> trace.max_abs_diff <= TOLERANCE
True
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.model.cells import RecurrentLayer

__all__ = ["TOLERANCE", "CellInternals", "DirectionTrace", "InspectError", "LayerTrace", "Kind",
           "equations", "recurrent_layers", "trace_layer"]

#: Largest absolute difference allowed between the step form and the fused layer.
TOLERANCE = 1e-6

Kind = Literal["lstm", "gru", "simple_rnn", "cell"]

#: The values each kind shows, in the order of its equations.
GATE_NAMES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "simple_rnn": ("a",), "cell": (),
}


class InspectError(SeqStudioError):
    """The input or the layer chosen cannot be inspected, or the step form disagrees."""


@runtime_checkable
class CellInternals(Protocol):
    """A plugin cell's one-step module that names what it computes inside a step.

    ``internals(x_t, state)`` takes what ``forward`` takes and returns a dict of
    ``(B, hidden)`` tensors, e.g. ``{"gate": ..., "candidate": ...}``; the Inspect
    tab and ``seqstudio inspect`` show each as a heatmap beside ``h`` and the state.
    """

    def internals(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        ...


@dataclass
class DirectionTrace:
    """One direction of a layer over time; every array is ``(time, units)`` in input order."""

    name: str
    #: gates (after their non-linearity), then the states ``c`` (LSTM) and ``h``
    values: dict[str, np.ndarray]
    #: pre-activations behind the equations (``i``, ``f``... for LSTM; ``r``, ``z``, ``n_x``,
    #: ``n_h`` for GRU; ``a`` for SimpleRNN)
    pre: dict[str, np.ndarray] = field(default_factory=dict)

    def previous(self, name: str, step: int) -> float | np.ndarray:
        """The state ``name`` one step earlier in this direction's reading order (0 before the first)."""
        prev = step - 1 if self.name == "forward" else step + 1
        arr = self.values[name]
        if not 0 <= prev < len(arr):
            return np.zeros(arr.shape[1:], dtype=arr.dtype)
        return arr[prev]


@dataclass
class LayerTrace:
    """What :func:`trace_layer` found for one layer and one input."""

    layer_index: int
    layer_name: str
    kind: Kind
    cell: str
    units: int
    directions: list[DirectionTrace]
    #: largest absolute difference between the step form and the layer's own output
    max_abs_diff: float
    #: the layer's input, ``(time, features)``
    inputs: np.ndarray
    activation: str = "tanh"

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def names(self) -> list[str]:
        """The value names of each direction (gates, then states)."""
        return list(self.directions[0].values)


def recurrent_layers(model: nn.Module) -> list[int]:
    """Positions (0-based) of the recurrent layers in ``model.layers``.

    >>> recurrent_layers(nn.Module())
    []
    """
    return [i for i, m in enumerate(model_layers(model)) if isinstance(m, RecurrentLayer)]


def model_layers(model: nn.Module) -> list[nn.Module]:
    """The layer modules of a :class:`~seqstudio.core.model.spec.SequenceModel`, in order."""
    layers = getattr(model, "layers", None)
    return list(layers) if isinstance(layers, nn.ModuleList) else []


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights are (its inputs go there too)."""
    return next(iter(model.parameters()), torch.zeros(0)).device


def _layer_input(model: nn.Module, index: int, x: torch.Tensor) -> torch.Tensor:
    """``(T, features)`` of the input ``x`` as layer ``index`` receives it."""
    h = x.to(model_device(model)).unsqueeze(0)
    for layer in model_layers(model)[:index]:
        h = layer(h)
    return h[0]


def _check_index(model: nn.Module, index: int) -> RecurrentLayer:
    found = recurrent_layers(model)
    n = len(model_layers(model))
    if index not in found:
        names = getattr(model, "layer_names", [])
        listed = ", ".join(f"{i + 1} ({names[i] if i < len(names) else 'recurrent'})" for i in found)
        what = (f"layer {index + 1} is not a recurrent layer" if 0 <= index < n
                else f"layer {index + 1} does not exist: the model has {n} layers")
        raise InspectError(what, fix=f"choose a recurrent layer: {listed}" if listed else
                           "this model has no recurrent layer to inspect")
    layer = model_layers(model)[index]
    assert isinstance(layer, RecurrentLayer)
    return layer


def trace_layer(model: nn.Module, index: int, x: torch.Tensor, *, check: bool | None = None) -> LayerTrace:
    """Gates and states of recurrent layer ``index`` (0-based) for one input sample ``x``.

    ``x`` is one sample as the model takes it: ``(time,)`` token ids or
    ``(time, features)``. The model is put in evaluation mode for the call and
    left as it was. ``check`` (default: ``__debug__``) raises :class:`InspectError`
    when the step form differs from the layer's output by more than :data:`TOLERANCE`.
    """
    layer = _check_index(model, index)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs = _layer_input(model, index, x)
            trace = _trace(layer, inputs)
    finally:
        model.train(was_training)
    names = getattr(model, "layer_names", [])
    trace.layer_index = index
    trace.layer_name = names[index] if index < len(names) else f"layer {index + 1}"
    if (__debug__ if check is None else check) and not trace.max_abs_diff <= TOLERANCE:
        raise InspectError(f"the step form of layer {index + 1} differs from the layer's own output by "
                           f"{trace.max_abs_diff:.3g} (more than {TOLERANCE:g})",
                           fix="report this with the project: the layer runs differently from its "
                               "equations")
    return trace


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """One intra-op thread for a loop of tiny per-step operations on the CPU.

    Each step is a few 128-wide operations: a second thread only spin-waits, and
    when other programs keep the cores busy it waits long. Measured on the IMDB
    LSTM(128), 200 steps, 2 cores at a load average of 6.6: 56 ms on one thread,
    800-1050 ms on two.
    """
    before = torch.get_num_threads()
    if device.type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _trace(layer: RecurrentLayer, inputs: torch.Tensor) -> LayerTrace:
    with _one_cpu_thread(inputs.device):
        return _trace_any(layer, inputs)


def _trace_any(layer: RecurrentLayer, inputs: torch.Tensor) -> LayerTrace:
    fused = layer.fused
    if isinstance(fused, nn.RNNBase) and type(fused) in (nn.LSTM, nn.GRU, nn.RNN) and fused.num_layers == 1 \
            and fused.batch_first and getattr(fused, "proj_size", 0) == 0:
        return _trace_torch_rnn(layer, fused, inputs)
    if fused is not None:  # a plugin's own fused module: its output is all there is to show
        out = fused(inputs.unsqueeze(0))
        out = (out[0] if isinstance(out, tuple) else out)[0]
        dirs = [DirectionTrace(name, {"h": _np(out[:, d * layer.units:(d + 1) * layer.units])})
                for d, name in enumerate(_direction_names(layer.directions))]
        return LayerTrace(0, "", "cell", layer.cell_key, layer.units, dirs, 0.0, _np(inputs))
    return _trace_steps(layer, inputs)


def _direction_names(n: int) -> list[str]:
    return ["forward", "backward"][:n]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _weights(rnn: nn.RNNBase, suffix: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                                                      torch.Tensor | None]:
    w_ih = getattr(rnn, f"weight_ih_l0{suffix}")
    w_hh = getattr(rnn, f"weight_hh_l0{suffix}")
    # Built-in LSTM / SimpleRNN keep bias_hh as a zero buffer (Keras's single bias): read as it is.
    b_ih = getattr(rnn, f"bias_ih_l0{suffix}", None) if rnn.bias else None
    b_hh = getattr(rnn, f"bias_hh_l0{suffix}", None) if rnn.bias else None
    return w_ih, w_hh, b_ih, b_hh


def _trace_torch_rnn(layer: RecurrentLayer, rnn: nn.RNNBase, inputs: torch.Tensor) -> LayerTrace:
    if isinstance(rnn, nn.LSTM):
        kind: Kind = "lstm"
    elif isinstance(rnn, nn.GRU):
        kind = "gru"
    else:
        kind = "simple_rnn"
    activation = getattr(rnn, "nonlinearity", "tanh")
    step = {"lstm": _lstm_direction, "gru": _gru_direction,
            "simple_rnn": lambda *a: _rnn_direction(*a, activation=activation)}[kind]
    # In float64: the check then measures the equations, not float32 rounding (the weights are
    # the trained float32 ones, exactly representable); the values differ from a float32 run by
    # ~1e-7, far below what a heatmap or three decimals show.
    rnn = copy.deepcopy(rnn).double()
    inputs = inputs.double()
    dirs = []
    for d, name in enumerate(_direction_names(layer.directions)):
        xs = inputs if d == 0 else inputs.flip(0)
        values, pre = step(xs, *_weights(rnn, "_reverse" if d else ""))
        if d:
            values = {k: v.flip(0) for k, v in values.items()}
            pre = {k: v.flip(0) for k, v in pre.items()}
        dirs.append((name, values, pre))
    # the layer's own fused kernel on the same weights, for the check
    out = rnn(inputs.unsqueeze(0))
    fused_h = out[0][0]
    ours_h = torch.cat([v["h"] for _, v, _ in dirs], dim=1)
    diff = float((fused_h - ours_h).abs().max()) if ours_h.numel() else 0.0
    if kind == "lstm":  # the final cell state of each direction, which the fused layer also returns
        c_n = out[1][1][:, 0]
        for d, (_, v, _) in enumerate(dirs):
            last_c = v["c"][-1] if d == 0 else v["c"][0]
            diff = max(diff, float((c_n[d] - last_c).abs().max()))
    traces = [DirectionTrace(n, {k: _np(t) for k, t in v.items()}, {k: _np(t) for k, t in p.items()})
              for n, v, p in dirs]
    return LayerTrace(0, "", kind, layer.cell_key, layer.units, traces, diff, _np(inputs), activation)


def _in_proj(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return F.linear(x, w, b)


def _lstm_direction(xs, w_ih, w_hh, b_ih, b_hh):
    hidden = w_hh.shape[1]
    xw = _in_proj(xs, w_ih, b_ih)  # every step's input part at once, as the fused kernel does
    h = xs.new_zeros(hidden)
    c = xs.new_zeros(hidden)
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("i", "f", "g", "o", "c", "h", "pi", "pf", "pg", "po")}
    for t in range(xs.shape[0]):
        gates = xw[t] + F.linear(h, w_hh, b_hh)
        pi, pf, pg, po = gates.chunk(4)
        i, f, g, o = torch.sigmoid(pi), torch.sigmoid(pf), torch.tanh(pg), torch.sigmoid(po)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for k, v in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h),
                     ("pi", pi), ("pf", pf), ("pg", pg), ("po", po)):
            rows[k].append(v)
    stacked = {k: _stack(v, xs, hidden) for k, v in rows.items()}
    values = {k: stacked[k] for k in ("i", "f", "g", "o", "c", "h")}
    return values, {k: stacked["p" + k] for k in ("i", "f", "g", "o")}


def _gru_direction(xs, w_ih, w_hh, b_ih, b_hh):
    hidden = w_hh.shape[1]
    xw = _in_proj(xs, w_ih, b_ih)
    h = xs.new_zeros(hidden)
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("r", "z", "n", "h", "pr", "pz", "n_x", "n_h")}
    for t in range(xs.shape[0]):
        gh = F.linear(h, w_hh, b_hh)
        x_r, x_z, x_n = xw[t].chunk(3)
        h_r, h_z, h_n = gh.chunk(3)
        pr, pz = x_r + h_r, x_z + h_z
        r, z = torch.sigmoid(pr), torch.sigmoid(pz)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        for k, v in (("r", r), ("z", z), ("n", n), ("h", h), ("pr", pr), ("pz", pz),
                     ("n_x", x_n), ("n_h", h_n)):
            rows[k].append(v)
    stacked = {k: _stack(v, xs, hidden) for k, v in rows.items()}
    return ({k: stacked[k] for k in ("r", "z", "n", "h")},
            {"r": stacked["pr"], "z": stacked["pz"], "n_x": stacked["n_x"], "n_h": stacked["n_h"]})


def _rnn_direction(xs, w_ih, w_hh, b_ih, b_hh, *, activation: str):
    hidden = w_hh.shape[1]
    xw = _in_proj(xs, w_ih, b_ih)
    act: Callable[[torch.Tensor], torch.Tensor] = torch.relu if activation == "relu" else torch.tanh
    h = xs.new_zeros(hidden)
    pres, hs = [], []
    for t in range(xs.shape[0]):
        a = xw[t] + F.linear(h, w_hh, b_hh)
        h = act(a)
        pres.append(a)
        hs.append(h)
    a_all = _stack(pres, xs, hidden)
    return {"a": a_all, "h": _stack(hs, xs, hidden)}, {"a": a_all}


def _stack(rows: list[torch.Tensor], like: torch.Tensor, hidden: int) -> torch.Tensor:
    return torch.stack(rows) if rows else like.new_zeros(0, hidden)


def _trace_steps(layer: RecurrentLayer, inputs: torch.Tensor) -> LayerTrace:
    """A cell without a fused module: call its one-step module, and its ``internals`` if any."""
    assert layer.steps is not None
    dirs, diff = [], 0.0
    batch = inputs.unsqueeze(0)
    for d, name in enumerate(_direction_names(layer.directions)):
        step = layer.steps[d]
        order = range(inputs.shape[0]) if d == 0 else range(inputs.shape[0] - 1, -1, -1)
        state = tuple(inputs.new_zeros(1, layer.units) for _ in range(layer.n_states))
        rows: dict[str, list[torch.Tensor]] = {}
        for t in order:
            x_t = batch[:, t]
            named = step.internals(x_t, state) if isinstance(step, CellInternals) else {}
            h, state = step(x_t, state)
            layout = getattr(layer, "state_layout", None) or [f"state{k}" for k in range(len(state))]
            values = {**{str(k): v for k, v in named.items()},
                      **{n: s for n, s in zip(layout, state, strict=False) if n != "h"}, "h": h}
            for k, v in values.items():
                rows.setdefault(k, []).append(v[0])
        stacked = {k: torch.stack(v if d == 0 else v[::-1]) for k, v in rows.items()}
        own = layer._run_steps(batch, d, True)[0]  # the layer's own run of the same cell
        diff = max(diff, float((own - stacked["h"]).abs().max()) if own.numel() else 0.0)
        dirs.append(DirectionTrace(name, {k: _np(v) for k, v in stacked.items()}))
    return LayerTrace(0, "", "cell", layer.cell_key, layer.units, dirs, diff, _np(inputs))


# -- the equations, filled in ------------------------------------------------------


def _f(v: float) -> str:
    return f"{v:.3f}"


def _p(v: float) -> str:
    """A factor of a product: negative numbers in parentheses (``0.8·(-0.3)``)."""
    return f"({v:.3f})" if v < 0 else f"{v:.3f}"


def equations(trace: LayerTrace, direction: int, unit: int, step: int) -> list[str]:
    """The equations of ``trace``'s cell, filled with the numbers of one unit at one step.

    Each equation is a line with its symbols, then a line ``  = ...`` with the numbers.

    >>> import torch
    >>> from seqstudio.pluginapi.manager import builtin_registry
    >>> from seqstudio.core.model.spec import ModelSpec
    >>> model = ModelSpec.from_dict([{"type": "GRU", "units": 2}, {"type": "Dense", "units": 1}]
    ...                             ).build((3, 1), registry=builtin_registry())
    >>> equations(trace_layer(model, 0, torch.ones(3, 1)), 0, 1, 2)[:1]
    ['r = σ(W_r·x_t + b_ir + U_r·h_t-1 + b_hr)']
    """
    d = trace.directions[direction]
    v = {k: float(a[step, unit]) for k, a in d.values.items()}
    p = {k: float(a[step, unit]) for k, a in d.pre.items()}

    def prev(name: str) -> float:
        return float(np.asarray(d.previous(name, step))[unit])

    if trace.kind == "lstm":
        return [
            "i = σ(W_i·x_t + U_i·h_t-1 + b_i)", f"  = σ({_f(p['i'])}) = {_f(v['i'])}",
            "f = σ(W_f·x_t + U_f·h_t-1 + b_f)", f"  = σ({_f(p['f'])}) = {_f(v['f'])}",
            "g = tanh(W_g·x_t + U_g·h_t-1 + b_g)", f"  = tanh({_f(p['g'])}) = {_f(v['g'])}",
            "o = σ(W_o·x_t + U_o·h_t-1 + b_o)", f"  = σ({_f(p['o'])}) = {_f(v['o'])}",
            "c_t = f·c_t-1 + i·g",
            f"  = {_p(v['f'])}·{_p(prev('c'))} + {_p(v['i'])}·{_p(v['g'])} = {_f(v['c'])}",
            "h_t = o·tanh(c_t)", f"  = {_p(v['o'])}·tanh({_f(v['c'])}) = {_f(v['h'])}",
        ]
    if trace.kind == "gru":
        return [
            "r = σ(W_r·x_t + b_ir + U_r·h_t-1 + b_hr)", f"  = σ({_f(p['r'])}) = {_f(v['r'])}",
            "z = σ(W_z·x_t + b_iz + U_z·h_t-1 + b_hz)", f"  = σ({_f(p['z'])}) = {_f(v['z'])}",
            "n = tanh(W_n·x_t + b_in + r·(U_n·h_t-1 + b_hn))",
            f"  = tanh({_f(p['n_x'])} + {_p(v['r'])}·{_p(p['n_h'])}) = {_f(v['n'])}",
            "h_t = (1 − z)·n + z·h_t-1",
            f"  = (1 − {_f(v['z'])})·{_p(v['n'])} + {_p(v['z'])}·{_p(prev('h'))} = {_f(v['h'])}",
        ]
    if trace.kind == "simple_rnn":
        return ["a = W·x_t + U·h_t-1 + b", f"  = {_f(v['a'])}",
                f"h_t = {trace.activation}(a)", f"  = {trace.activation}({_f(v['a'])}) = {_f(v['h'])}"]
    return [f"{k} = {_f(val)}" for k, val in v.items()]
