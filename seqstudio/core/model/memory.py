"""How much memory a layer stack needs to train, estimated before anything is built.

A stack such as ``LSTM(100000)`` asks for 160 GB of weights; building it
fails deep inside PyTorch after minutes, or the system kills the program.
:func:`estimate_training_memory` works from the summary (parameter counts
come from the meta device, so nothing is allocated) and the batch size;
:func:`check_fits` refuses a stack that cannot fit in the memory available now.

The estimate counts float32 parameters six times (the weights, their
gradients, Adam's two moments, and the two copies training keeps: the last
good weights for a NaN loss and the best epoch's for early stopping) plus the
activations of one batch kept for the backward pass (a recurrent layer keeps
its gates and states at every time step).

>>> from seqstudio.core.model.spec import ModelSpec
>>> spec = ModelSpec.from_dict({"layers": [{"type": "Dense", "units": 1}]})
>>> est = estimate_training_memory(spec.summary((3,), registry=None), batch_size=1)
>>> est.params, est.parameter_bytes
(4, 96)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqstudio.core.errors import ModelSpecError

#: Bytes of one float32 value.
FLOAT_BYTES = 4
#: Copies of the parameters alive while training (weights, gradients, 2 optimizer moments,
#: last good weights, best checkpoint).
PARAMETER_COPIES = 6
#: Per time step, a recurrent layer keeps this many vectors of ``units`` for the backward pass
#: (gates, states and the fused kernel's workspace: measured with autograd's saved tensors).
_RECURRENT_VECTORS = {"LSTM": 9, "GRU": 7, "SimpleRNN": 3, "RNN": 9}
#: Only this share of the available memory may be planned for (the rest: Python, data, the OS).
USABLE_SHARE = 0.8


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated memory of training one stack: parameters and one batch's activations."""

    params: int
    parameter_bytes: int
    activation_bytes: int
    batch_size: int
    #: Index and bytes (parameters and activations) of the layer that needs the most.
    largest_layer: int = 0
    largest_layer_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes

    def describe(self) -> str:
        """One line for the summary: ``Estimated memory to train: 1.2 MiB (...)``."""
        return (f"Estimated memory to train: {format_bytes(self.total_bytes)} "
                f"(weights, gradients and optimizer state {format_bytes(self.parameter_bytes)}; "
                f"activations of a batch of {self.batch_size}: {format_bytes(self.activation_bytes)})")


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def estimate_training_memory(summary, batch_size: int) -> MemoryEstimate:
    """The memory to train the stack ``summary`` describes (see the module docstring)."""
    batch_size = max(1, int(batch_size))
    shape = tuple(summary.input_shape)
    activations = math.prod(shape) if shape else 1  # the input batch itself
    largest, largest_bytes = 0, -1
    for row in summary.rows:
        out = tuple(row.output_shape)
        vectors = _RECURRENT_VECTORS.get(row.type_name)
        if vectors is not None and len(shape) == 2:
            elements = shape[0] * out[-1] * vectors
        else:
            elements = math.prod(out) * 2  # the output and what the activation keeps
        activations += elements
        layer_bytes = (row.params * PARAMETER_COPIES + elements * batch_size * 2) * FLOAT_BYTES
        if layer_bytes > largest_bytes:
            largest, largest_bytes = row.index, layer_bytes
        shape = out
    return MemoryEstimate(
        params=int(summary.total_params),
        parameter_bytes=int(summary.total_params) * PARAMETER_COPIES * FLOAT_BYTES,
        # the forward values and their gradients in the backward pass
        activation_bytes=int(activations) * batch_size * 2 * FLOAT_BYTES,
        batch_size=batch_size, largest_layer=largest, largest_layer_bytes=max(largest_bytes, 0))


def available_memory(device: str = "cpu") -> int:
    """Bytes that can be allocated now: free RAM, or free memory of a CUDA device."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
            return int(torch.cuda.mem_get_info(index)[0])
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(estimate: MemoryEstimate, summary, *, available: int | None = None,
               device: str = "cpu") -> None:
    """Raise :class:`ModelSpecError` when ``estimate`` cannot fit in the memory available now."""
    available = available_memory(device) if available is None else available
    if estimate.total_bytes <= available * USABLE_SHARE:
        return
    row = next((r for r in summary.rows if r.index == estimate.largest_layer), None)
    where = f"layer {row.index + 1} ({row.type_name}), {row.params:,} parameters" if row else None
    too_big_batch = estimate.activation_bytes > estimate.parameter_bytes
    fix = ("use a smaller batch size, or fewer units or a shorter look-back" if too_big_batch
           else "use fewer units (memory grows with the square of a recurrent layer's units)")
    raise ModelSpecError(
        f"the model needs about {format_bytes(estimate.total_bytes)} of memory to train, but only "
        f"{format_bytes(available)} is available", where=where, fix=fix + ", or close other programs",
        layer_index=row.index if row else None)
