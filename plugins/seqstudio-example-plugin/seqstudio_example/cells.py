"""Two recurrent cells: the lecture's LSTM, gate by gate, and an IndRNN.

A cell is a one-step module: ``forward(x_t, state) -> (h_t, new_state)`` with
``x_t`` of shape ``(B, input_size)`` and ``state`` a tuple of
``(B, hidden_size)`` tensors in the order ``state_layout`` names. seqstudio's
wrapper runs it over time, so a cell never loops itself.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqstudio.pluginapi import CellType, OptionSpec

_GATES = ("i", "f", "c", "o")


class LectureLSTMStep(nn.Module):
    """The LSTM of the lecture, one equation per line (Hochreiter & Schmidhuber 1997).

    Parameters are named as in the equations: ``W_xi`` (input -> input gate),
    ``W_hi`` (hidden -> input gate), ``b_i``, and likewise for the forget gate
    ``f``, the candidate ``c`` and the output gate ``o``. Initialisation is
    torch's: uniform in ``[-1/sqrt(hidden), 1/sqrt(hidden)]``.

    >>> step = LectureLSTMStep(input_size=3, hidden_size=2)
    >>> h, (h2, c) = step(torch.zeros(5, 3), (torch.zeros(5, 2), torch.zeros(5, 2)))
    >>> tuple(h.shape), bool((h == h2).all())
    ((5, 2), True)
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for gate in _GATES:
            self.register_parameter(f"W_x{gate}", nn.Parameter(
                torch.empty(hidden_size, input_size).uniform_(-bound, bound)))
            self.register_parameter(f"W_h{gate}", nn.Parameter(
                torch.empty(hidden_size, hidden_size).uniform_(-bound, bound)))
            self.register_parameter(f"b_{gate}", nn.Parameter(
                torch.empty(hidden_size).uniform_(-bound, bound)))

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        h_prev, c_prev = state
        i_t = torch.sigmoid(x_t @ self.W_xi.T + h_prev @ self.W_hi.T + self.b_i)
        f_t = torch.sigmoid(x_t @ self.W_xf.T + h_prev @ self.W_hf.T + self.b_f)
        c_t = f_t * c_prev + i_t * torch.tanh(x_t @ self.W_xc.T + h_prev @ self.W_hc.T + self.b_c)
        o_t = torch.sigmoid(x_t @ self.W_xo.T + h_prev @ self.W_ho.T + self.b_o)
        h_t = o_t * torch.tanh(c_t)
        return h_t, (h_t, c_t)

    @torch.no_grad()
    def copy_from_torch_lstm(self, lstm: nn.LSTM) -> LectureLSTMStep:
        """Take the weights of a one-layer, one-direction ``torch.nn.LSTM``.

        torch stacks the gates as ``(i, f, g, o)`` (its ``g`` is the lecture's
        candidate ``c``) and keeps two biases whose sum is the lecture's ``b``.
        """
        hidden = self.hidden_size
        w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
        bias = torch.zeros_like(w_ih[:, 0])
        for name in ("bias_ih_l0", "bias_hh_l0"):
            if getattr(lstm, name, None) is not None:
                bias += getattr(lstm, name)
        for k, gate in enumerate(_GATES):
            rows = slice(k * hidden, (k + 1) * hidden)
            getattr(self, f"W_x{gate}").copy_(w_ih[rows])
            getattr(self, f"W_h{gate}").copy_(w_hh[rows])
            getattr(self, f"b_{gate}").copy_(bias[rows])
        return self


class IndRNNStep(nn.Module):
    """Independently recurrent cell (Li et al. 2018): ``h_t = act(W x_t + u * h_{t-1} + b)``.

    Each unit sees only its own previous value (``u`` is a vector, not a
    matrix), which lets ReLU cells run over long sequences without exploding
    as long as ``|u| <= 1``; ``u`` starts uniform in ``[0, 1]``.

    >>> step = IndRNNStep(2, 3)
    >>> tuple(step.u.shape)
    (3,)
    """

    def __init__(self, input_size: int, hidden_size: int, activation: str = "relu"):
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"IndRNN activation must be 'relu' or 'tanh', got {activation!r}")
        self.activation = activation
        bound = 1.0 / math.sqrt(input_size)
        self.W = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.u = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, 1.0))
        self.b = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        pre = x_t @ self.W.T + self.u * state[0] + self.b
        h_t = torch.relu(pre) if self.activation == "relu" else torch.tanh(pre)
        return h_t, (h_t,)


CELLS: list[CellType] = [
    CellType(
        name="lecture_lstm",
        description="The lecture's LSTM written out gate by gate (i, f, o gates, c_t, h_t); "
                    "equal to torch.nn.LSTM given the same weights, but slower (no fused kernel).",
        step_factory=LectureLSTMStep,
        state_layout=("h", "c"),
    ),
    CellType(
        name="indrnn",
        description="IndRNN (Li et al. 2018): each unit recurs only on itself, h_t = act(W x_t + u*h_{t-1} + b).",
        step_factory=IndRNNStep,
        state_layout=("h",),
        parameters=(OptionSpec("activation", "choice", "relu", choices=("relu", "tanh"),
                               help="Non-linearity of the new hidden state."),),
    ),
]
