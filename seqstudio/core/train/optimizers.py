"""Optimizers, and their state flattened to tensors so that a continued run goes on where it was."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seqstudio.core.train.config import TrainConfig


def make_optimizer(params: list[nn.Parameter], config: TrainConfig,
                    device: torch.device) -> torch.optim.Optimizer:
    name, lr, wd = config.optimizer, config.learning_rate, config.weight_decay
    if name == "rmsprop":  # no fused kernel in torch; foreach batches the per-tensor ops
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, foreach=True)
    kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": wd}
    if name == "sgd":
        kwargs["momentum"] = config.momentum
    try:
        # One fused kernel per step instead of ~10 small ops per tensor: on the
        # batch-1 recipe this is the largest single saving (see bench/README.md).
        return kinds[name](params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # a device or dtype without the fused kernel
        return kinds[name](params, foreach=device.type != "cpu", **kwargs)


def optimizer_state_dict(optimizer: torch.optim.Optimizer, name: str) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat CPU tensors: ``"<name>.<param index>.<key>"``.

    Flat and tensors only, so that it goes into a ``.safetensors`` file as it is
    (e.g. ``adam.0.exp_avg``, ``adam.0.step``). The hyperparameters are not
    kept: a continued run takes them from its own config.
    """
    flat = {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                flat[f"{name}.{index}.{key}"] = value.detach().cpu().clone()
    return flat


def load_optimizer_state(optimizer: torch.optim.Optimizer, flat: dict[str, torch.Tensor],
                         name: str) -> bool:
    """Load :func:`optimizer_state_dict`'s output into a fresh ``optimizer`` named ``name``.

    Returns False (and changes nothing) when the state is another optimizer's
    or its tensors do not fit the parameters.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        prefix, _, rest = key.partition(".")
        index, _, field_name = rest.partition(".")
        if prefix != name or not index.isdigit() or not field_name:
            return False
        i = int(index)
        if i >= len(params) or (value.dim() > 0 and tuple(value.shape) != tuple(params[i].shape)):
            return False
        state.setdefault(i, {})[field_name] = value
    if not state:
        return False
    full = optimizer.state_dict()
    full["state"] = state
    optimizer.load_state_dict(full)
    return True
