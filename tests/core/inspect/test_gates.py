"""The step form of a recurrent layer against PyTorch's own recurrent modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqstudio.core.inspect import InspectError, equations, trace_layer
from seqstudio.core.inspect import gates as gates_module
from seqstudio.core.model.spec import ModelSpec
from seqstudio.core.registry import CellType


def _model(builtins, layers, input_shape):
    torch.manual_seed(0)
    return ModelSpec.from_dict(layers).build(input_shape, registry=builtins)


def _randomise(model):
    """Trained-looking weights: every parameter random, biases far from their zero start."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def _torch_reference(kind, layer_module, bidirectional):
    """An independent torch.nn.LSTM / GRU with the layer's weights (bias_hh zero where Keras has one bias)."""
    fused = layer_module.fused
    cls = nn.LSTM if kind == "lstm" else nn.GRU
    ref = cls(fused.input_size, fused.hidden_size, batch_first=True, bidirectional=bidirectional)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(getattr(fused, name))
    return ref


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gates_reproduce_torch_lstm_and_gru(builtins, kind, bidirectional):
    layer_type = {"lstm": "LSTM", "gru": "GRU"}[kind]
    model = _randomise(_model(builtins, [{"type": layer_type, "units": 5, "bidirectional": bidirectional},
                                         {"type": "Dense", "units": 1}], (30, 3)))
    x = torch.randn(30, 3)
    trace = trace_layer(model, 0, x, check=True)
    ref = _torch_reference(kind, model.layers[0], bidirectional)
    with torch.no_grad():
        out, state = ref(x.unsqueeze(0))
    ours = np.concatenate([d.values["h"] for d in trace.directions], axis=1)
    assert np.abs(ours - out[0].numpy()).max() <= 1e-6
    assert trace.max_abs_diff <= 1e-6
    if kind == "lstm":
        c_n = state[1][:, 0].numpy()
        assert np.abs(trace.directions[0].values["c"][-1] - c_n[0]).max() <= 1e-6
        if bidirectional:  # the backward direction ends at the first time step
            assert np.abs(trace.directions[1].values["c"][0] - c_n[1]).max() <= 1e-6
    # one step of the gates by hand, in numpy, from the reference's weights
    w_ih, w_hh = ref.weight_ih_l0.detach().double().numpy(), ref.weight_hh_l0.detach().double().numpy()
    b_ih, b_hh = ref.bias_ih_l0.detach().double().numpy(), ref.bias_hh_l0.detach().double().numpy()
    t, d = 7, trace.directions[0]
    xt, h_prev = x[t].double().numpy(), d.values["h"][t - 1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gi, gh = w_ih @ xt + b_ih, w_hh @ h_prev + b_hh
    if kind == "lstm":
        i, f, g, o = np.split(gi + gh, 4)
        np.testing.assert_allclose(d.values["f"][t], sig(f), atol=1e-9)
        np.testing.assert_allclose(d.values["i"][t], sig(i), atol=1e-9)
        np.testing.assert_allclose(d.values["g"][t], np.tanh(g), atol=1e-9)
        np.testing.assert_allclose(d.values["o"][t], sig(o), atol=1e-9)
    else:
        (xr, xz, xn), (hr, hz, hn) = np.split(gi, 3), np.split(gh, 3)
        r = sig(xr + hr)
        np.testing.assert_allclose(d.values["r"][t], r, atol=1e-9)
        np.testing.assert_allclose(d.values["z"][t], sig(xz + hz), atol=1e-9)
        np.testing.assert_allclose(d.values["n"][t], np.tanh(xn + r * hn), atol=1e-9)


def test_stacked_layers_each_reproduce_their_own_torch_module(builtins):
    model = _randomise(_model(builtins, [{"type": "LSTM", "units": 4, "return_sequences": True},
                                         {"type": "GRU", "units": 3}, {"type": "Dense", "units": 1}], (12, 2)))
    x = torch.randn(12, 2)
    first = trace_layer(model, 0, x, check=True)
    second = trace_layer(model, 1, x, check=True)
    np.testing.assert_allclose(second.inputs, first.directions[0].values["h"], atol=1e-6)
    ref = _torch_reference("gru", model.layers[1], False)
    with torch.no_grad():
        out, _ = ref(torch.as_tensor(first.directions[0].values["h"], dtype=torch.float32).unsqueeze(0))
    assert np.abs(second.directions[0].values["h"] - out[0].numpy()).max() <= 1e-6
    assert [second.kind, second.names] == ["gru", ["r", "z", "n", "h"]]


def test_simple_rnn_shows_its_pre_activation(builtins):
    model = _randomise(_model(builtins, [{"type": "SimpleRNN", "units": 3, "activation": "relu"},
                                         {"type": "Dense", "units": 1}], (6, 2)))
    trace = trace_layer(model, 0, torch.randn(6, 2), check=True)
    d = trace.directions[0]
    np.testing.assert_allclose(d.values["h"], np.maximum(d.values["a"], 0))
    assert equations(trace, 0, 1, 2)[2:4] == ["h_t = relu(a)",
                                              f"  = relu({d.values['a'][2, 1]:.3f}) = {d.values['h'][2, 1]:.3f}"]


def test_large_forget_bias_keeps_f_near_one_and_carries_the_cell_state(builtins):
    """One unit: the input gate opens at the first step only, the forget gate stays open."""
    model = _model(builtins, [{"type": "LSTM", "units": 1}, {"type": "Dense", "units": 1}], (25, 1))
    lstm = model.layers[0].fused
    with torch.no_grad():
        lstm.weight_hh_l0.zero_()
        # rows in torch's order i, f, g, o
        lstm.weight_ih_l0.copy_(torch.tensor([[20.0], [0.0], [3.0], [0.0]]))
        lstm.bias_ih_l0.copy_(torch.tensor([-10.0, 12.0, 0.0, 10.0]))
    x = torch.zeros(25, 1)
    x[0, 0] = 1.0  # one pulse at the first step; nothing after it
    trace = trace_layer(model, 0, x, check=True)
    d = trace.directions[0].values
    assert d["f"].min() > 0.9999  # sigmoid(12)
    assert d["i"][0, 0] > 0.99 and d["i"][1:].max() < 1e-4  # written once
    stored = np.tanh(3.0) * d["i"][0, 0]
    assert d["c"][0, 0] == pytest.approx(stored, abs=1e-6)
    assert d["c"][-1, 0] == pytest.approx(stored, rel=1e-3)  # carried across 24 steps
    assert d["h"][-1, 0] == pytest.approx(np.tanh(d["c"][-1, 0]) * d["o"][-1, 0], abs=1e-9)
    assert equations(trace, 0, 0, 10)[8:10] == ["c_t = f·c_t-1 + i·g", "  = 1.000·0.995 + 0.000·0.000 = 0.995"]


def test_a_wrong_step_form_is_caught_by_the_check(builtins, monkeypatch):
    model = _randomise(_model(builtins, [{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 1}], (8, 2)))
    real = gates_module._lstm_direction

    def swapped(xs, w_ih, w_hh, b_ih, b_hh):  # forget and input gates confused
        n = w_hh.shape[1]
        order = torch.cat([torch.arange(n, 2 * n), torch.arange(n), torch.arange(2 * n, 4 * n)])
        return real(xs, w_ih[order], w_hh[order], None if b_ih is None else b_ih[order], b_hh)

    monkeypatch.setattr(gates_module, "_lstm_direction", swapped)
    with pytest.raises(InspectError, match="differs from the layer's own output"):
        trace_layer(model, 0, torch.randn(8, 2), check=True)
    assert trace_layer(model, 0, torch.randn(8, 2), check=False).max_abs_diff > 1e-3


class _GatedStep(nn.Module):
    """A plugin-style cell with a named gate, exposed through ``internals``."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lin = nn.Linear(input_size + hidden_size, 2 * hidden_size)

    def _parts(self, x_t, state):
        gate, cand = self.lin(torch.cat([x_t, state[0]], 1)).chunk(2, 1)
        return torch.sigmoid(gate), torch.tanh(cand)

    def internals(self, x_t, state):
        gate, cand = self._parts(x_t, state)
        return {"gate": gate, "candidate": cand}

    def forward(self, x_t, state):
        gate, cand = self._parts(x_t, state)
        h = gate * cand + (1 - gate) * state[0]
        return h, (h,)


class _PlainStep(_GatedStep):
    internals = None  # type: ignore[assignment]


@pytest.mark.parametrize("step, names", [(_GatedStep, ["gate", "candidate", "h"]), (_PlainStep, ["h"])])
def test_plugin_cells_show_their_named_internals_or_h(registry, step, names):
    from seqstudio.core.model.cells import RecurrentLayer
    from seqstudio.core.model.spec import SequenceModel

    torch.manual_seed(1)
    layer = RecurrentLayer(CellType("gated", "demo", step), 2, 3, bidirectional=True, compile_mode="eager")
    model = SequenceModel([layer, nn.Linear(6, 1)], input_shape=(9, 2), output_shape=(1,))
    x = torch.randn(9, 2)
    trace = trace_layer(model, 0, x, check=True)
    assert trace.kind == "cell" and trace.names == names
    with torch.no_grad():
        layer.return_sequences = True
        own = layer(x.unsqueeze(0))[0].numpy()
    ours = np.concatenate([d.values["h"] for d in trace.directions], axis=1)
    np.testing.assert_allclose(ours, own, atol=1e-6)


def test_a_layer_that_is_not_recurrent_is_refused_with_the_choices(builtins):
    model = _model(builtins, [{"type": "Dense", "units": 4}, {"type": "LSTM", "units": 2},
                              {"type": "Dense", "units": 1}], (5, 2))
    with pytest.raises(InspectError) as info:
        trace_layer(model, 0, torch.randn(5, 2))
    assert "layer 1 is not a recurrent layer" in info.value.what and "2 (lstm)" in info.value.fix
    with pytest.raises(InspectError, match="does not exist: the model has 3 layers"):
        trace_layer(model, 7, torch.randn(5, 2))


def test_the_step_loop_runs_on_one_thread_and_gives_the_threads_back(builtins, monkeypatch):
    model = _model(builtins, [{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 1}], (6, 2))
    seen = []
    real = gates_module._lstm_direction

    def spy(*args):
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(gates_module, "_lstm_direction", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trace_layer(model, 0, torch.randn(6, 2))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
