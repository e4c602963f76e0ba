"""Where a run trains: device names, and the CPU threads and oneDNN chosen by model size."""

from __future__ import annotations

import torch
from torch import nn

from seqstudio.core.errors import TrainingError
from seqstudio.core.train.config import DEVICE_PATTERN, TrainConfig
from seqstudio.core.train.threads import SMALL_STEP_WORK


def resolve_device(name: str) -> torch.device:
    """Turn a device name into a usable :class:`torch.device`.

    ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. An explicit device
    that is not available raises :class:`TrainingError`.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    key = str(name).lower()
    if not DEVICE_PATTERN.match(key):
        raise TrainingError(f"unknown device {name!r}", fix="use auto, cpu, cuda, cuda:N or mps")
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if key.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name!r} was asked for but CUDA is not available here",
                                fix="use device 'auto' or 'cpu'")
        index = int(key.split(":")[1]) if ":" in key else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s)",
                                fix="use 'cuda' or a lower index")
    if key == "mps" and not _mps_available():
        raise TrainingError("device 'mps' was asked for but Apple MPS is not available here",
                            fix="use device 'auto' or 'cpu'")
    return torch.device(key)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


#: Below this many multiply-adds per step (dense parameters x batch size), the
#: step is dispatch-bound: one thread and no oneDNN is fastest (see module doc).
_SMALL_STEP_WORK = SMALL_STEP_WORK


def dense_parameter_count(model: nn.Module) -> int:
    """Parameters that cost arithmetic per sample (an embedding lookup costs almost none)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Embedding | nn.EmbeddingBag):
            continue
        total += sum(p.numel() for p in module.parameters(recurse=False))
    return total


def step_work(model: nn.Module, batch_size: int) -> int:
    """Multiply-adds per optimizer step, roughly: dense parameters x batch size."""
    return dense_parameter_count(model) * batch_size


def choose_cpu_settings(model: nn.Module, config: TrainConfig) -> tuple[int, bool]:
    """(threads, oneDNN on) for a CPU run, from the work per optimizer step."""
    small = step_work(model, config.batch_size) < _SMALL_STEP_WORK
    if config.threads is not None:
        return config.threads, not small
    return (1, False) if small else (torch.get_num_threads(), True)


class TorchSettings:
    """Process-wide torch settings a run changes, captured to restore them after."""

    def __init__(self) -> None:
        self.threads = torch.get_num_threads()
        self.onednn = torch.backends.mkldnn.enabled

    def restore(self) -> None:
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.backends.mkldnn.enabled = self.onednn
