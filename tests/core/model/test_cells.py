"""The recurrent wrapper and the built-in cells against torch's own RNN modules."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqstudio.core.model.cells import RecurrentLayer, conformance_check
from seqstudio.core.registry import CellType

TORCH_MODULES = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}



def _reference(name: str, input_size: int, units: int, bidirectional: bool) -> nn.RNNBase:
    torch.manual_seed(123)
    ref = TORCH_MODULES[name](input_size, units, batch_first=True, bidirectional=bidirectional)
    with torch.no_grad():
        for p in ref.parameters():  # default init is tiny; spread it so differences show
            p.uniform_(-0.6, 0.6)
    return ref


def _copy_weights(layer: RecurrentLayer, ref: nn.RNNBase, name: str) -> None:
    """Copy torch's weights into ours; LSTM/SimpleRNN keep one bias = b_ih + b_hh (Keras)."""
    suffixes = ["", "_reverse"] if ref.bidirectional else [""]
    with torch.no_grad():
        for d, suffix in enumerate(suffixes):
            w_ih = getattr(ref, f"weight_ih_l0{suffix}")
            w_hh = getattr(ref, f"weight_hh_l0{suffix}")
            b_ih = getattr(ref, f"bias_ih_l0{suffix}")
            b_hh = getattr(ref, f"bias_hh_l0{suffix}")
            if layer.uses_fused:
                getattr(layer.fused, f"weight_ih_l0{suffix}").copy_(w_ih)
                getattr(layer.fused, f"weight_hh_l0{suffix}").copy_(w_hh)
                if name == "gru":
                    getattr(layer.fused, f"bias_ih_l0{suffix}").copy_(b_ih)
                    getattr(layer.fused, f"bias_hh_l0{suffix}").copy_(b_hh)
                else:
                    getattr(layer.fused, f"bias_ih_l0{suffix}").copy_(b_ih + b_hh)
            else:
                step = layer.steps[d]
                step.weight_ih.copy_(w_ih)
                step.weight_hh.copy_(w_hh)
                if name == "gru":
                    step.bias_ih.copy_(b_ih)
                    step.bias_hh.copy_(b_hh)
                else:
                    step.bias.copy_(b_ih + b_hh)


def _expected(ref: nn.RNNBase, x: torch.Tensor, return_sequences: bool) -> torch.Tensor:
    out, h_n = ref(x)
    if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
        h_n = h_n[0]
    if return_sequences:
        return out
    # Keras: the last state of each direction (the backward one ends at t = 0), from h_n.
    return torch.cat(list(h_n), dim=1)


@pytest.mark.parametrize("name", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "step"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_builtin_cells_match_torch_modules(builtins, name, fused, bidirectional, return_sequences):
    cell = builtins.cell(name)
    ref = _reference(name, 3, 5, bidirectional)
    layer = RecurrentLayer(cell, 3, 5, return_sequences=return_sequences,
                           bidirectional=bidirectional, prefer_fused=fused)
    assert layer.uses_fused is fused
    _copy_weights(layer, ref, name)
    x = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(5))
    layer.eval()
    with torch.no_grad():
        got = layer(x)
        want = _expected(ref, x, return_sequences)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["auto", "script", "eager"])
def test_step_path_compile_modes_agree_in_values_and_gradients(builtins, mode):
    cell = builtins.cell("lstm")
    torch.manual_seed(0)
    eager = RecurrentLayer(cell, 3, 4, prefer_fused=False, compile_mode="eager")
    other = RecurrentLayer(cell, 3, 4, prefer_fused=False, compile_mode=mode)
    other.load_state_dict(eager.state_dict())
    x = torch.randn(2, 6, 3)
    y_eager, y_other = eager(x), other(x)
    torch.testing.assert_close(y_other, y_eager)
    y_eager.sum().backward()
    y_other.sum().backward()
    for (n, p), q in zip(eager.named_parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, msg=n)


def test_builtin_parameter_counts_match_keras(builtins):
    # Keras: LSTM 4*(u*(i+u)+u), GRU (reset_after) 3*(u*(i+u)+2u), SimpleRNN u*(i+u)+u.
    for name, keras in [("lstm", 96), ("gru", 84), ("simple_rnn", 24)]:
        for fused in (True, False):
            layer = RecurrentLayer(builtins.cell(name), 1, 4, prefer_fused=fused)
            assert sum(p.numel() for p in layer.parameters()) == keras, (name, fused)
    big = RecurrentLayer(builtins.cell("lstm"), 128, 128)
    assert sum(p.numel() for p in big.parameters()) == 131_584


def test_lstm_initialisation_follows_keras(builtins):
    layer = RecurrentLayer(builtins.cell("lstm"), 3, 4)
    bias = layer.fused.bias_ih_l0.detach()
    torch.testing.assert_close(bias[4:8], torch.ones(4))  # forget gate (i, f, g, o)
    torch.testing.assert_close(bias[:4], torch.zeros(4))
    w_hh = layer.fused.weight_hh_l0.detach()[:4]
    torch.testing.assert_close(w_hh @ w_hh.T, torch.eye(4), atol=1e-5, rtol=0)


class _SubclassedLSTM(nn.LSTM):
    """A fused module the direct kernel call does not know: weight-drop goes through functional_call."""


@pytest.mark.parametrize("name, bidirectional, subclass", [
    ("lstm", False, False), ("lstm", True, False), ("gru", True, False), ("simple_rnn", False, False),
    ("lstm", True, True),
])
def test_recurrent_dropout_is_weight_drop_on_the_fused_kernel(builtins, name, bidirectional, subclass):
    cell = builtins.cell(name)
    if subclass:
        cell = dataclasses.replace(cell, fused_factory=lambda i, h, bi: _SubclassedLSTM(
            i, h, batch_first=True, bidirectional=bi))
    layer = RecurrentLayer(cell, 3, 5, return_sequences=True, bidirectional=bidirectional,
                           recurrent_dropout=0.4)
    assert layer.uses_fused
    x = torch.randn(2, 6, 3)
    layer.train()
    torch.manual_seed(7)
    got = layer(x)
    # Reference: torch's own module with one dropout mask drawn on each W_hh (in parameter
    # order), the same for every time step and every sequence of the batch.
    ref = TORCH_MODULES[name](3, 5, batch_first=True, bidirectional=bidirectional)
    ours = dict(layer.fused.named_parameters())
    torch.manual_seed(7)
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            if pname not in ours:
                p.zero_()  # ours keeps Keras's single bias: b_hh is a constant zero
                continue
            source = ours[pname].detach()
            p.copy_(F.dropout(source, 0.4, True) if pname.startswith("weight_hh") else source)
        want = ref(x)[0]
    torch.testing.assert_close(got.detach(), want)
    got.sum().backward()
    for pname in layer._hh_names:
        grad = layer.fused.get_parameter(pname).grad
        assert grad is not None and torch.count_nonzero(grad) > 0
    # Eval uses the weights as they are; the module's weights were never overwritten.
    layer.eval()
    with torch.no_grad():
        for pname, p in ref.named_parameters():
            if pname in ours:
                p.copy_(ours[pname])
        torch.testing.assert_close(layer(x), ref(x)[0])


def test_input_dropout_uses_one_mask_per_sequence(builtins):
    # A linear "cell" without recurrence exposes the input mask: h_t = x_t * mask.
    class Identity(nn.Module):
        def __init__(self, i, h):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(h))

        def forward(self, x, state):
            h = x * self.scale
            return h, (h,)

    cell = CellType("identity", "test", Identity)
    layer = RecurrentLayer(cell, 6, 6, return_sequences=True, dropout=0.5, compile_mode="eager")
    layer.train()
    torch.manual_seed(0)
    out = layer(torch.ones(8, 5, 6))
    assert set(torch.unique(out).tolist()) <= {0.0, 2.0}
    # Same mask at every time step of a sequence, different across sequences.
    assert torch.equal(out, out[:, :1].expand_as(out))
    assert not torch.equal(out[0, 0], out[1, 0]) or not torch.equal(out[0, 0], out[2, 0])
    layer.eval()
    assert torch.equal(layer(torch.ones(2, 5, 6)), torch.ones(2, 5, 6))


def test_step_path_recurrent_dropout_masks_h_per_sequence(builtins):
    cell = dataclasses.replace(builtins.cell("simple_rnn"), fused_factory=None)
    layer = RecurrentLayer(cell, 2, 4, return_sequences=True, recurrent_dropout=0.5)
    assert not layer.uses_fused
    x = torch.randn(3, 5, 2)
    layer.eval()
    clean = layer(x)
    layer.train()
    torch.manual_seed(3)
    noisy = layer(x)
    torch.testing.assert_close(noisy[:, 0], clean[:, 0])  # h_0 = 0: nothing to drop at t = 0
    assert not torch.allclose(noisy, clean)


def test_generic_registered_cell_runs_bidirectional(registry):
    class Elman(nn.Module):
        def __init__(self, i, h):
            super().__init__()
            self.lin = nn.Linear(i + h, h)

        def forward(self, x, state):
            h = torch.tanh(self.lin(torch.cat([x, state[0]], 1)))
            return h, (h,)

    registry.add_cell("demo", CellType("elman", "test", Elman))
    layer = RecurrentLayer(registry.cell("demo>elman"), 3, 4, bidirectional=True)
    assert layer(torch.randn(2, 6, 3)).shape == (2, 8)
    # Backward direction = the forward cell run on the time-reversed sequence.
    x = torch.randn(2, 6, 3)
    seq = RecurrentLayer(registry.cell("demo>elman"), 3, 4, bidirectional=True, return_sequences=True,
                         compile_mode="eager")
    with torch.no_grad():
        out = seq(x)
        h = torch.zeros(2, 4)
        for t in reversed(range(6)):
            h, _ = seq.steps[1](x[:, t], (h,))
        torch.testing.assert_close(out[:, 0, 4:], h)


# -- conformance -----------------------------------------------------------------


def test_builtin_cells_pass_conformance(builtins):
    for key, cell in builtins.cells.items():
        assert conformance_check(cell) is None, key


class _WrongStateShape(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.lin = nn.Linear(i, h)

    def forward(self, x, state):
        h = torch.tanh(self.lin(x) + state[0])
        return h, (h[:, :-1],)


class _DeadParameter(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.lin = nn.Linear(i + h, h)
        self.unused = nn.Parameter(torch.ones(h))

    def forward(self, x, state):
        h = torch.tanh(self.lin(torch.cat([x, state[0]], 1)))
        return h, (h,)


class _BatchMixing(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.lin = nn.Linear(i + h, h)

    def forward(self, x, state):
        h = torch.tanh(self.lin(torch.cat([x, state[0]], 1)))
        h = h - h.mean(dim=0, keepdim=True)  # batch statistics leak across samples
        return h, (h,)


class _Random(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.lin = nn.Linear(i + h, h)

    def forward(self, x, state):
        h = torch.tanh(self.lin(torch.cat([x, state[0]], 1))) + torch.rand(1)
        return h, (h,)


class _Crashes(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.lin = nn.Linear(i, h)

    def forward(self, x, state):
        raise RuntimeError("boom")


@pytest.mark.parametrize("factory, layout, reason", [
    (_WrongStateShape, ("h",), "state 'h' has shape"),
    (_DeadParameter, ("h",), "parameter 'unused' receives no gradient"),
    (_BatchMixing, ("h",), "batch independence"),
    (_Random, ("h",), "determinism"),
    (_Crashes, ("h",), "RuntimeError: boom"),
    (_DeadParameter, ("h", "c"), "state tensors but state_layout"),
])
def test_conformance_rejects_broken_cells_with_reason(factory, layout, reason):
    result = conformance_check(CellType("broken", "test", factory, state_layout=layout))
    assert result is not None and reason in result


def test_conformance_checks_fused_shape(builtins):
    good = builtins.cell("gru")
    bad = dataclasses.replace(good, fused_factory=lambda i, h, bidirectional: nn.GRU(i, h, batch_first=True))
    assert "fused implementation (bidirectional=True)" in conformance_check(bad)


def test_traced_step_follows_a_smaller_last_batch():
    class ShapeBaking(nn.Module):
        """Uses the batch size as a Python int, which a trace turns into a constant."""

        def __init__(self, i, h):
            super().__init__()
            self.lin = nn.Linear(i + h, h)

        def forward(self, x, state):
            bias = torch.ones(int(x.shape[0]), 1)
            h = torch.tanh(self.lin(torch.cat([x, state[0]], 1)) + bias)
            return h, (h,)

    cell = CellType("baking", "test", ShapeBaking)
    torch.manual_seed(0)
    traced = RecurrentLayer(cell, 2, 3, compile_mode="script")
    eager = RecurrentLayer(cell, 2, 3, compile_mode="eager")
    eager.load_state_dict(traced.state_dict())
    for batch in (4, 3, 4):
        x = torch.randn(batch, 5, 2)
        torch.testing.assert_close(traced(x), eager(x))


def test_copies_of_a_step_layer_use_their_own_weights(builtins):
    import copy
    import pickle

    cell = dataclasses.replace(builtins.cell("lstm"), fused_factory=None)
    layer = RecurrentLayer(cell, 3, 4, compile_mode="script")
    x = torch.randn(2, 5, 3)
    before = layer(x)  # traces the step
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        with torch.no_grad():
            clone.steps[0].weight_hh.zero_()
            clone.steps[0].weight_ih.zero_()
        assert not torch.allclose(clone(x), before)
        torch.testing.assert_close(layer(x), before)
