"""Running a recurrent cell over time.

A cell (see :class:`~seqstudio.core.registry.CellType`) computes one step,
``(x_t, state) -> (h_t, new_state)``, as in Keras. :class:`RecurrentLayer`
turns it into a layer over ``(batch, time, features)``:

* **fused path** - when the cell has a ``fused_factory`` (the built-in
  SimpleRNN / LSTM / GRU: ``torch.nn.RNN`` / ``LSTM`` / ``GRU``), the whole
  sequence runs in one oneDNN / cuDNN kernel call;
* **step path** - otherwise the one-step module is called once per time step.
  ``compile_mode="auto"`` runs it eagerly on CPU and traced with TorchScript on
  CUDA (where the trace fuses the elementwise gate math); ``"script"`` always
  traces, ``"compile"`` uses ``torch.compile``, ``"eager"`` never compiles. A
  trace is kept only when it reproduces the eager result, else eager it is.
  Measured on the IMDB model (batch 32, length 200, 2 threads, quiet 16-core
  machine): a lecture-equation LSTM cell on the step path trains at ~2.1-2.3x
  the fused LSTM on CPU, where a trace or ``torch.compile`` gained nothing.

Keras semantics kept by both paths:

* ``return_sequences=False`` returns the last hidden state; with
  ``bidirectional=True`` the backward direction contributes *its* final state
  (the one it reaches at time step 0), concatenated after the forward one.
* ``dropout`` (input dropout) draws one mask per sequence and feature, the same
  at every time step.

``recurrent_dropout`` (Keras: a per-sequence mask on ``h_{t-1}``) is, on the
fused path, **weight-drop** (DropConnect on the recurrent weights, Merity et
al. 2017, "AWD-LSTM"): at every training forward each entry of every
``weight_hh*`` matrix is zeroed with probability ``p`` and the rest scaled by
``1 / (1 - p)``; the mask is the same at every time step and for every sequence
of the batch, and is resampled at the next batch. In evaluation the weights
are used as they are. The fused kernel still runs, so the cost is one
elementwise mask per batch instead of a Python loop over time steps. On the
step path (cells without a fused implementation) it is Keras's variational
mask on ``h_{t-1}``: one mask per sequence, the same at every step.

>>> from seqstudio.core.faults import PluginCodeError, call_plugin, one_line
from seqstudio.core.options import spec_problems
from seqstudio.core.registry import CellType
>>> from torch import _VF, nn
>>> class Tiny(nn.Module):
...     def __init__(self, i, h):
...         super().__init__()
...         self.lin = nn.Linear(i + h, h)
...     def forward(self, x, state):
...         h = torch.tanh(self.lin(torch.cat([x, state[0]], 1)))
...         return h, (h,)
>>> layer = RecurrentLayer(CellType("tiny", "demo", Tiny), input_size=3, units=5,
...                        return_sequences=True, compile_mode="eager")
>>> layer(torch.zeros(2, 7, 3)).shape
torch.Size([2, 7, 5])
>>> conformance_check(CellType("tiny", "demo", Tiny)) is None
True
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeGuard

import torch
import torch.nn.functional as F
from torch import _VF, nn
from torch.func import functional_call

from seqstudio.core.faults import PluginCodeError, call_plugin, one_line
from seqstudio.core.options import spec_problems
from seqstudio.core.registry import CellType

CompileMode = Literal["auto", "script", "compile", "eager"]

# Weight-drop hands cuDNN a freshly masked W_hh that is, by design, not part of the
# module's flattened weight buffer; cuDNN then compacts the weights for that call and
# says so at every batch. Expected here, so silenced for calls from this module only.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous",
                        category=UserWarning, module=__name__)

__all__ = ["RecurrentLayer", "conformance_check", "CompileMode"]


def _input_mask(x: torch.Tensor, rate: float) -> torch.Tensor:
    """One dropout mask per sequence and feature, broadcast over time (Keras)."""
    keep = 1.0 - rate
    return torch.bernoulli(torch.full((x.shape[0], 1, x.shape[2]), keep, device=x.device,
                                      dtype=x.dtype)) / keep


class _StepRunner:
    """Calls a one-step module, compiled when possible, falling back to eager.

    ``"auto"``: eager on CPU, ``"script"`` on CUDA. ``"script"``: the step is
    traced with TorchScript on its first input and the trace is kept only if it
    reproduces the eager output. A trace
    can bake in shapes, devices and dtypes, so one trace is kept per
    ``(device, dtype, batch size)`` (a smaller last batch gets its own), and a trace
    that raises sends the cell back to eager for good. ``"compile"`` wraps the step
    in ``torch.compile``. Cells with dropout or batch norm inside run eagerly (a
    trace would freeze their train/eval behaviour). Any failure falls back to the
    eager module with a warning.
    """

    _MAX_TRACES = 8

    def __init__(self, step: nn.Module, mode: CompileMode):
        self.step = step
        self.mode = mode
        self._eager_only = mode == "eager" or _training_dependent(step)
        self._traces: dict[tuple, Callable | None] = {}
        self._compiled: Callable | None = None

    # Traces hold their own view of the parameters: a copy (deepcopy, pickle) of the
    # layer must trace its own step again, never reuse the original's traces.
    def __deepcopy__(self, memo: dict) -> _StepRunner:
        return _StepRunner(copy.deepcopy(self.step, memo), self.mode)

    def __getstate__(self) -> dict:
        return {"step": self.step, "mode": self.mode}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["step"], state["mode"])

    def _fail(self, exc: Exception) -> None:
        warnings.warn(f"running cell {type(self.step).__name__} eagerly: compiling failed ({exc})",
                      RuntimeWarning, stacklevel=4)
        self._eager_only = True

    def _trace(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> Callable | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(self.step, (x_t.detach(), tuple(s.detach() for s in state)),
                                     check_trace=False)
        with torch.no_grad():
            ref_h, ref_state = self.step(x_t, state)
            got_h, got_state = traced(x_t, tuple(state))
        same = torch.allclose(ref_h, got_h) and len(ref_state) == len(got_state) and all(
            torch.allclose(a, b) for a, b in zip(ref_state, got_state, strict=True))
        return traced if same else None

    def _compiled_for(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> Callable | None:
        if self.mode == "compile":
            if self._compiled is None:
                self._compiled = torch.compile(self.step, dynamic=True)
            return self._compiled
        if self.mode == "auto" and x_t.device.type == "cpu":
            # Measured (IMDB model, 2 threads): on CPU a trace runs no faster than eager
            # (TorchScript does not fuse on CPU) and torch.compile neither, so eager, which
            # cannot freeze a data-dependent branch. On CUDA the trace fuses the gate math:
            # 93 vs 132 ms a batch on an H100.
            return None
        key = (x_t.device, x_t.dtype, x_t.shape[0])
        if key not in self._traces:
            if len(self._traces) >= self._MAX_TRACES:
                return None
            self._traces[key] = self._trace(x_t, state)
        return self._traces[key]

    def __call__(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        if not self._eager_only:
            try:
                compiled = self._compiled_for(x_t, state)
                if compiled is not None:
                    return compiled(x_t, state)
            except Exception as exc:  # noqa: BLE001 - any compiler failure means "run eagerly"
                self._fail(exc)
        return self.step(x_t, state)


def _training_dependent(module: nn.Module) -> bool:
    """True if the step behaves differently in train/eval mode (a trace would freeze one)."""
    return any(isinstance(m, nn.modules.dropout._DropoutNd | nn.modules.batchnorm._BatchNorm)
               for m in module.modules())


def _direct_kernel_ok(module: nn.Module, x: torch.Tensor) -> TypeGuard[nn.RNNBase]:
    """True for a plain one-layer-type torch RNN that :func:`_rnn_kernel` can call directly."""
    return (type(module) in (nn.LSTM, nn.GRU, nn.RNN) and bool(module.batch_first)
            and getattr(module, "proj_size", 0) == 0 and x.dim() == 3)


def _rnn_kernel(rnn: nn.RNNBase, x: torch.Tensor, replaced: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Run torch's fused RNN kernel with some weights replaced (weight-drop).

    The same ``torch._VF`` call ``nn.LSTM.forward`` makes, with the weight list
    built here. Going through ``functional_call`` instead makes the module
    re-flatten its cuDNN weight buffer twice per batch (in with the dropped
    weights, out with the originals), which cost ~0.8 ms a batch on an H100
    (1.28x the fused step); here cuDNN just reads the weights as given.
    """
    weights = [replaced.get(name, getattr(rnn, name)) for name in rnn._flat_weights_names]
    directions = 2 if rnn.bidirectional else 1
    h0 = x.new_zeros(rnn.num_layers * directions, x.shape[0], rnn.hidden_size)
    args = (weights, rnn.bias, rnn.num_layers, float(rnn.dropout), rnn.training, rnn.bidirectional,
            rnn.batch_first)
    if isinstance(rnn, nn.LSTM):
        return _VF.lstm(x, (h0, h0), *args)[0]
    if isinstance(rnn, nn.GRU):
        return _VF.gru(x, h0, *args)[0]
    kernel = _VF.rnn_tanh if rnn.nonlinearity == "tanh" else _VF.rnn_relu
    return kernel(x, h0, *args)[0]


class RecurrentLayer(nn.Module):
    """A recurrent layer over ``(batch, time, features)`` built from a registered cell.

    Parameters
    ----------
    cell : CellType
        The cell; its ``fused_factory`` is used when present and ``prefer_fused``.
    input_size, units : int
        Features per time step in, hidden units out (per direction).
    return_sequences : bool
        Return ``(B, T, units * directions)`` instead of the last state ``(B, units * directions)``.
    bidirectional : bool
        Add a backward direction; its output is concatenated after the forward one.
    dropout, recurrent_dropout : float
        Input dropout (one mask per sequence) and recurrent dropout (weight-drop on the
        fused path, a per-sequence mask on ``h`` on the step path); see the module docs.
    cell_params : mapping, optional
        Extra keyword arguments for the cell factories (e.g. ``activation``).
    prefer_fused : bool
        Use the fused implementation when the cell has one.
    compile_mode : {"auto", "script", "compile", "eager"}
        How the step path runs the one-step module.

    Examples
    --------
    >>> from seqstudio_builtins.cells import BUILTIN_CELLS  # doctest: +SKIP
    >>> layer = RecurrentLayer(BUILTIN_CELLS[1], 8, 16, bidirectional=True)  # doctest: +SKIP
    >>> layer(torch.randn(4, 10, 8)).shape  # doctest: +SKIP
    torch.Size([4, 32])
    """

    def __init__(self, cell: CellType, input_size: int, units: int, *,
                 return_sequences: bool = False, bidirectional: bool = False,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 cell_params: Mapping[str, Any] | None = None, prefer_fused: bool = True,
                 compile_mode: CompileMode = "auto"):
        super().__init__()
        # the declared parameters, checked and completed exactly as in the conformance check
        params = cell.resolve_params(cell_params)
        self.cell_key = cell.key or cell.name
        self.units = units
        self.return_sequences = return_sequences
        self.directions = 2 if bidirectional else 1
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.n_states = len(cell.state_layout)
        #: the names of the state tensors (``("h", "c")`` for an LSTM), for the gate inspector
        self.state_layout = tuple(cell.state_layout)
        self.fused: nn.Module | None = None
        self.steps: nn.ModuleList | None = None
        self._hh_names: list[str] = []
        if cell.fused_factory is not None and prefer_fused:
            fused = call_plugin(cell.fused_factory, input_size, units, bidirectional, **params,
                                plugin=cell.plugin or "?", item=cell.label, stage="building the model")
            hh_names = [n for n, _ in fused.named_parameters() if n.rsplit(".", 1)[-1].startswith("weight_hh")]
            # A fused module without recurrent weights we can find cannot do weight-drop;
            # then the step path (with its per-sequence mask on h) is the honest choice.
            if not self.recurrent_dropout or hh_names:
                self.fused = fused
                self._hh_names = hh_names
        if self.fused is None:
            self.steps = nn.ModuleList(
                call_plugin(cell.step_factory, input_size, units, **params, plugin=cell.plugin or "?",
                            item=cell.label, stage="building the model")
                for _ in range(self.directions))
            self._runners = [_StepRunner(step, compile_mode) for step in self.steps]

    def run_steps_eagerly(self) -> None:
        """Call the one-step modules as they are, never a trace or a compiled copy.

        An exporter (TorchScript trace, ONNX, ``torch.export``) then records the
        cell's own operations, and nothing baked in for one batch size.
        """
        if self.steps is not None:
            self._runners = [_StepRunner(step, "eager") for step in self.steps]

    @property
    def uses_fused(self) -> bool:
        """True when the whole sequence runs in the cell's fused implementation."""
        return self.fused is not None

    def extra_repr(self) -> str:
        return (f"cell={self.cell_key!r}, units={self.units}, directions={self.directions}, "
                f"return_sequences={self.return_sequences}, dropout={self.dropout}, "
                f"recurrent_dropout={self.recurrent_dropout}, fused={self.uses_fused}")

    # -- running ----------------------------------------------------------
    def _run_fused(self, x: torch.Tensor) -> torch.Tensor:
        assert self.fused is not None
        if self.training and self.recurrent_dropout > 0:
            dropped = {name: F.dropout(self.fused.get_parameter(name), self.recurrent_dropout, True)
                       for name in self._hh_names}
            if _direct_kernel_ok(self.fused, x):
                out = _rnn_kernel(self.fused, x, dropped)
            else:
                out = functional_call(self.fused, dropped, (x,), strict=False)
        else:
            out = self.fused(x)
        return out[0] if isinstance(out, tuple) else out

    def _run_steps(self, x: torch.Tensor, direction: int, keep_all: bool) -> torch.Tensor:
        """Run direction ``direction`` over time; all hidden states, or only the final one.

        ``unbind`` splits the sequence in one operation whose backward is one ``stack``
        (indexing ``x[:, t]`` 200 times would build 200 full-size zero gradients), and
        states that nobody reads are never stacked.
        """
        batch = x.shape[0]
        inputs = x.unbind(1)
        if direction == 1:
            inputs = inputs[::-1]
        state = tuple(x.new_zeros(batch, self.units) for _ in range(self.n_states))
        h_mask = None
        if self.training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            h_mask = torch.bernoulli(x.new_full((batch, self.units), keep)) / keep
        run = self._runners[direction]
        outputs: list[torch.Tensor] = []
        h = state[0]
        for x_t in inputs:
            if h_mask is not None:
                state = (state[0] * h_mask, *state[1:])
            h, state = run(x_t, state)
            if keep_all:
                outputs.append(h)
        if not keep_all:
            return h
        if direction == 1:
            outputs.reverse()
        return torch.stack(outputs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout > 0:
            x = x * _input_mask(x, self.dropout)
        if self.fused is None:
            keep_all = self.return_sequences
            outs = [self._run_steps(x, d, keep_all) for d in range(self.directions)]
            # Either (B, T, H * dirs) or, per direction, its final state: the backward
            # direction ends at time step 0 (Keras's Bidirectional).
            return outs[0] if self.directions == 1 else torch.cat(outs, dim=-1)
        out = self._run_fused(x)
        if self.return_sequences:
            return out
        if self.directions == 1:
            return out[:, -1]
        return torch.cat([out[:, -1, :self.units], out[:, 0, self.units:]], dim=1)


# -- conformance ------------------------------------------------------------


def conformance_check(cell: CellType, *, input_size: int = 3, hidden_size: int = 4,
                      batch: int = 3, steps: int = 5) -> str | None:
    """Check that a cell keeps the one-step contract; ``None`` if it does, else the reason.

    On a tiny random input it checks: the step returns ``h`` of shape
    ``(B, hidden)`` and a state tuple laid out as ``cell.state_layout`` says, each
    ``(B, hidden)``; gradients reach every parameter; sample ``i`` of a batch does
    not depend on the other samples; two evaluations give the same result; and,
    when the cell has a fused implementation, it maps ``(B, T, in)`` to
    ``(B, T, hidden * directions)`` for one and two directions.

    >>> from torch import nn
    >>> class NoState(nn.Module):
    ...     def __init__(self, i, h):
    ...         super().__init__()
    ...         self.lin = nn.Linear(i, h)
    ...     def forward(self, x, state):
    ...         return self.lin(x), ()
    >>> conformance_check(CellType("bad", "demo", NoState))
    "the step returned 0 state tensors but state_layout ('h',) names 1"
    """
    declared = spec_problems(cell.parameters)
    if declared:
        return "its parameters are declared wrongly: " + "; ".join(declared)
    try:
        return _conformance(cell, input_size, hidden_size, batch, steps)
    except KeyboardInterrupt:
        raise
    except PluginCodeError as exc:  # a factory failed: name the exception, not our wrapper
        return f"the cell raised {exc.exception}"
    except BaseException as exc:  # noqa: BLE001 - a crashing cell (even sys.exit) fails the check
        return f"the cell raised {one_line(exc)}"


def _conformance(cell: CellType, input_size: int, hidden_size: int, batch: int,
                 steps: int) -> str | None:
    defaults = cell.resolve_params({})  # exactly what real use passes when no option is set
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, steps, input_size, generator=generator)
    layout = tuple(cell.state_layout)
    if not layout:
        return "state_layout is empty; it must name at least the hidden state 'h'"
    torch.manual_seed(0)
    step = cell.step_factory(input_size, hidden_size, **defaults)
    if not isinstance(step, nn.Module):
        return f"step_factory returned {type(step).__name__}, not a torch.nn.Module"
    step.eval()

    def run(inputs: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        state = tuple(inputs.new_zeros(inputs.shape[0], hidden_size) for _ in layout)
        hs = []
        for t in range(inputs.shape[1]):
            out = step(inputs[:, t], state)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise _Fail("the step must return (h_t, new_state)")
            h, state = out
            if not isinstance(state, tuple | list):
                raise _Fail(f"the new state must be a tuple of tensors, got {type(state).__name__}")
            state = tuple(state)
            if len(state) != len(layout):
                raise _Fail(f"the step returned {len(state)} state tensors but state_layout "
                            f"{layout} names {len(layout)}")
            expected = (inputs.shape[0], hidden_size)
            if tuple(h.shape) != expected:
                raise _Fail(f"h_t has shape {tuple(h.shape)}, expected (batch, hidden) = {expected}")
            for name, s in zip(layout, state, strict=True):
                if tuple(s.shape) != expected:
                    raise _Fail(f"state {name!r} has shape {tuple(s.shape)}, expected {expected}")
            hs.append(h)
        return torch.stack(hs, 1), state

    try:
        h_all, state = run(x)
        params = [(n, p) for n, p in step.named_parameters() if p.requires_grad]
        loss = h_all.square().sum() + sum(s.square().sum() for s in state)
        grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True) if params else []
        for (name, _), grad in zip(params, grads, strict=True):
            if grad is None or not torch.any(grad != 0):
                return f"parameter {name!r} receives no gradient"
            if not torch.isfinite(grad).all():
                return f"parameter {name!r} receives a non-finite gradient"
        with torch.no_grad():
            alone, _ = run(x[:1])
            again, _ = run(x)
        if not torch.equal(again, h_all.detach()):
            return "determinism: two evaluations of the same input differ"
        if not torch.allclose(alone[0], h_all[0].detach(), atol=1e-5, rtol=1e-4):
            return "batch independence: sample 0 gives a different output when run alone"
    except _Fail as fail:
        return str(fail)

    if cell.fused_factory is not None:
        for bidirectional in (False, True):
            fused = cell.fused_factory(input_size, hidden_size, bidirectional, **defaults)
            out = fused(x)
            out = out[0] if isinstance(out, tuple) else out
            expected = (batch, steps, hidden_size * (2 if bidirectional else 1))
            if tuple(out.shape) != expected:
                return (f"fused implementation (bidirectional={bidirectional}) returned shape "
                        f"{tuple(out.shape)}, expected {expected}")
    return None


class _Fail(Exception):
    pass
