"""The torch modules that layer specs build (:mod:`seqstudio.core.model.layers`) and the model.

Kept apart from the specs so that checking a stack of layers and showing its
shapes needs no torch: this module is imported when a model is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Conv1DModule", "MaxPool1DModule", "ReduceOverTime", "SequenceModel", "activation_module"]


def activation_module(name: str | None) -> nn.Module:
    """The module for an activation name; ``softmax`` acts on the last axis (Keras).

    >>> activation_module("relu")
    ReLU()
    """
    factories: dict[str | None, Callable[[], nn.Module]] = {
        None: nn.Identity, "linear": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid, "softmax": lambda: nn.Softmax(dim=-1), "gelu": nn.GELU,
        "elu": nn.ELU, "selu": nn.SELU, "softplus": nn.Softplus,
    }
    return factories[name]()


def _same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding: extra padding goes on the right."""
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class Conv1DModule(nn.Module):
    """Channels-last 1-D convolution with Keras padding (valid / same / causal)."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, stride: int, padding: str,
                 activation: str):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.conv = nn.Conv1d(in_channels, filters, kernel_size, stride=stride)
        self.activation = activation_module(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        if self.padding == "same":
            x = F.pad(x, _same_padding(x.shape[-1], self.kernel_size, self.stride))
        elif self.padding == "causal":
            x = F.pad(x, (self.kernel_size - 1, 0))
        return self.activation(self.conv(x).transpose(1, 2))


class MaxPool1DModule(nn.Module):
    def __init__(self, pool_size: int, stride: int, padding: str):
        super().__init__()
        self.pool_size, self.stride, self.padding = pool_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        if self.padding == "same":
            x = F.pad(x, _same_padding(x.shape[-1], self.pool_size, self.stride), value=float("-inf"))
        return F.max_pool1d(x, self.pool_size, self.stride).transpose(1, 2)


class ReduceOverTime(nn.Module):
    """Mean or maximum over the time axis: ``(B, time, features) -> (B, features)``."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1) if self.how == "mean" else x.amax(dim=1)

    def extra_repr(self) -> str:
        return self.how


class SequenceModel(nn.Module):
    """The built model: the layers' modules applied in order.

    ``x`` is ``(B, *input_shape)``; the output is ``(B, *output_shape)``, normally
    ``(B, n_outputs)``. ``output_activation`` is the last Dense's activation
    (``"sigmoid"``: the model outputs probabilities, as Keras's binary models do).
    """

    #: The quantiles a quantile model outputs (set by :class:`.quantiles.QuantileSpec`); a class
    #: default, so reading it on a point model is a plain lookup, not ``nn.Module``'s slow miss.
    quantiles: tuple[float, ...] | None = None

    def __init__(self, layers: list[nn.Module], *, input_shape: tuple[int, ...],
                 output_shape: tuple[int, ...], output_activation: str = "linear",
                 names: list[str] | None = None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)
        self.output_activation = output_activation
        self.layer_names = list(names or [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
