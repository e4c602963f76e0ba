"""The built-in recurrent cells: SimpleRNN, LSTM and GRU.

They register through the same ``seqstudio_cells`` hook as a community cell,
so the core never imports them. Each cell has a one-step module written from
the lecture's equations and a fused whole-sequence module (torch's own RNN
kernels); both live in ``cell_modules.py``, with the parameter layout and the
initialisation (Keras's) explained there. This module only declares the cells:
registering them needs no torch, so the window can start before torch loads,
and the factories import the modules when a layer is built.

>>> lstm = BUILTIN_CELLS[1].fused_factory(1, 4, False)
>>> sum(p.numel() for p in lstm.parameters())  # Keras: LSTM(4) on 1 feature
96
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqstudio.core.registry import CellType, OptionSpec

if TYPE_CHECKING:
    from torch import nn


def simple_rnn_step(input_size: int, hidden_size: int, activation: str = "tanh") -> nn.Module:
    """The SimpleRNN one-step module (``cell_modules.SimpleRNNStep``)."""
    from .cell_modules import SimpleRNNStep

    return SimpleRNNStep(input_size, hidden_size, activation)


def lstm_step(input_size: int, hidden_size: int) -> nn.Module:
    """The LSTM one-step module (``cell_modules.LSTMStep``)."""
    from .cell_modules import LSTMStep

    return LSTMStep(input_size, hidden_size)


def gru_step(input_size: int, hidden_size: int) -> nn.Module:
    """The GRU one-step module (``cell_modules.GRUStep``)."""
    from .cell_modules import GRUStep

    return GRUStep(input_size, hidden_size)


def fused_simple_rnn(input_size: int, hidden_size: int, bidirectional: bool = False,
                     activation: str = "tanh") -> nn.Module:
    """``torch.nn.RNN`` (batch first) with one bias vector and Keras's initialisation."""
    from . import cell_modules

    return cell_modules.fused_simple_rnn(input_size, hidden_size, bidirectional, activation)


def fused_lstm(input_size: int, hidden_size: int, bidirectional: bool = False) -> nn.Module:
    """``torch.nn.LSTM`` (batch first) with one bias vector and Keras's initialisation."""
    from . import cell_modules

    return cell_modules.fused_lstm(input_size, hidden_size, bidirectional)


def fused_gru(input_size: int, hidden_size: int, bidirectional: bool = False) -> nn.Module:
    """``torch.nn.GRU`` (batch first), Keras's ``reset_after`` GRU, Keras's initialisation."""
    from . import cell_modules

    return cell_modules.fused_gru(input_size, hidden_size, bidirectional)


BUILTIN_CELLS: list[CellType] = [
    CellType(
        name="simple_rnn",
        description="Plain recurrent cell: h_t = tanh(W x_t + U h_{t-1} + b) (Keras SimpleRNN).",
        step_factory=simple_rnn_step,
        state_layout=("h",),
        parameters=(OptionSpec("activation", "choice", "tanh", choices=("tanh", "relu"),
                               help="Non-linearity applied to the new hidden state."),),
        fused_factory=fused_simple_rnn,
    ),
    CellType(
        name="lstm",
        description="Long short-term memory (Hochreiter & Schmidhuber 1997): input, forget and "
                    "output gates and a cell state c_t (Keras LSTM).",
        step_factory=lstm_step,
        state_layout=("h", "c"),
        fused_factory=fused_lstm,
    ),
    CellType(
        name="gru",
        description="Gated recurrent unit (Cho et al. 2014): reset and update gates, no separate "
                    "cell state (Keras GRU, reset_after=True).",
        step_factory=gru_step,
        state_layout=("h",),
        fused_factory=fused_gru,
    ),
]
