"""The torch modules of the built-in recurrent cells (``cells.py`` registers them).

Each cell has

* a one-step module written from the lecture's equations (``step_factory``),
  used when a layer cannot take the fused path and as the reference that
  plugin authors copy, and
* a fused whole-sequence module (``fused_factory``): ``torch.nn.RNN`` /
  ``LSTM`` / ``GRU`` with ``batch_first=True``, which runs the oneDNN / cuDNN
  kernels.

Parameter layout and counts follow Keras, so that a summary of the lecture's
models shows the numbers the lecture shows:

* LSTM and SimpleRNN keep **one** bias vector (Keras) instead of torch's two
  (``b_ih + b_hh`` is redundant: only their sum enters the equations). The
  fused module keeps ``bias_hh_*`` as a constant zero buffer, so
  ``LSTM(128)`` on 128 features has 131,584 parameters, as in Keras (torch's
  own ``nn.LSTM`` has 132,096).
* GRU keeps both biases: torch's GRU is Keras's ``reset_after=True`` GRU (the
  default), whose second bias sits inside the reset gate and is not redundant.
* Initialisation is Keras's: Glorot-uniform input weights, orthogonal
  recurrent weights, zero biases, and a forget-gate bias of 1 for the LSTM.

Gate order is torch's: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``.

>>> lstm = fused_lstm(1, 4, False)
>>> sum(p.numel() for p in lstm.parameters())  # Keras: LSTM(4) on 1 feature
96
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def _keras_init(weight_ih: torch.Tensor, weight_hh: torch.Tensor, biases: list[torch.Tensor],
                n_gates: int, forget_gate: int | None) -> None:
    """Keras's default initialisation, one gate block at a time.

    Keras initialises the kernel (all gates together) with Glorot-uniform and
    the recurrent kernel with an orthogonal matrix; we do the same per gate
    block, which is what an orthogonal recurrent matrix per gate means.
    Meta tensors (used to count parameters without allocating) are skipped.
    """
    if weight_ih.is_meta:
        return
    with torch.no_grad():
        hidden = weight_hh.shape[1]
        fan_in, fan_out = weight_ih.shape[1], weight_ih.shape[0]
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        weight_ih.uniform_(-bound, bound)
        for g in range(n_gates):
            nn.init.orthogonal_(weight_hh[g * hidden:(g + 1) * hidden])
        for b in biases:
            b.zero_()
        if forget_gate is not None and biases:
            biases[0][forget_gate * hidden:(forget_gate + 1) * hidden].fill_(1.0)


def _single_bias(rnn: nn.RNNBase) -> nn.RNNBase:
    """Turn torch's ``bias_hh_*`` parameters into constant zero buffers (Keras's one bias)."""
    for name in list(rnn._flat_weights_names):
        if name.startswith("bias_hh"):
            template = getattr(rnn, name)
            delattr(rnn, name)
            # Not persistent: it is always zero, so it stays out of saved weights.
            # torch.zeros, not zeros_like: on the meta device (model summaries) zeros_like
            # goes through torch's Python reference kernels and imports sympy (~0.5 s, once)
            rnn.register_buffer(name, torch.zeros(template.shape, dtype=template.dtype,
                                                  device=template.device), persistent=False)
    rnn._init_flat_weights()
    return rnn


def _init_fused(rnn: nn.RNNBase, n_gates: int, forget_gate: int | None) -> None:
    for suffix in ("", "_reverse") if rnn.bidirectional else ("",):
        biases = [getattr(rnn, f"bias_ih_l0{suffix}")]
        bias_hh = getattr(rnn, f"bias_hh_l0{suffix}")
        if isinstance(bias_hh, nn.Parameter):
            biases.append(bias_hh)
        _keras_init(getattr(rnn, f"weight_ih_l0{suffix}"), getattr(rnn, f"weight_hh_l0{suffix}"),
                    biases, n_gates, forget_gate)


# -- one-step modules -------------------------------------------------------


class SimpleRNNStep(nn.Module):
    """``h_t = act(W_ih x_t + W_hh h_{t-1} + b)``; state ``(h,)``."""

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"SimpleRNN activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        _keras_init(self.weight_ih, self.weight_hh, [self.bias], 1, None)

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        pre = F.linear(x_t, self.weight_ih, self.bias) + F.linear(state[0], self.weight_hh)
        h = torch.relu(pre) if self.activation == "relu" else torch.tanh(pre)
        return h, (h,)


class LSTMStep(nn.Module):
    """The lecture's LSTM equations, gates stacked in torch's order ``(i, f, g, o)``.

    ``i, f, o = sigmoid(W_x x_t + W_h h_{t-1} + b)``, ``g = tanh(...)``,
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``; state ``(h, c)``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        _keras_init(self.weight_ih, self.weight_hh, [self.bias], 4, forget_gate=1)

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        h_prev, c_prev = state[0], state[1]
        gates = F.linear(x_t, self.weight_ih, self.bias) + F.linear(h_prev, self.weight_hh)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class GRUStep(nn.Module):
    """GRU with the reset gate applied after the recurrent product (torch = Keras ``reset_after``).

    ``r, z = sigmoid(W_x x + b_x + W_h h + b_h)``,
    ``n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        _keras_init(self.weight_ih, self.weight_hh, [self.bias_ih, self.bias_hh], 3, None)

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        h_prev = state[0]
        gi = F.linear(x_t, self.weight_ih, self.bias_ih)
        gh = F.linear(h_prev, self.weight_hh, self.bias_hh)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h_prev
        return h, (h,)


# -- fused whole-sequence modules ------------------------------------------


def fused_simple_rnn(input_size: int, hidden_size: int, bidirectional: bool = False,
                     activation: str = "tanh") -> nn.RNN:
    """``torch.nn.RNN`` (batch first) with one bias vector and Keras's initialisation."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"SimpleRNN activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    rnn = nn.RNN(input_size, hidden_size, nonlinearity=activation, batch_first=True,
                 bidirectional=bidirectional)
    _single_bias(rnn)
    _init_fused(rnn, 1, None)
    return rnn


def fused_lstm(input_size: int, hidden_size: int, bidirectional: bool = False) -> nn.LSTM:
    """``torch.nn.LSTM`` (batch first) with one bias vector and Keras's initialisation."""
    rnn = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
    _single_bias(rnn)
    _init_fused(rnn, 4, forget_gate=1)
    return rnn


def fused_gru(input_size: int, hidden_size: int, bidirectional: bool = False) -> nn.GRU:
    """``torch.nn.GRU`` (batch first), Keras's ``reset_after`` GRU, Keras's initialisation."""
    rnn = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
    _init_fused(rnn, 3, None)
    return rnn
