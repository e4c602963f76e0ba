"""Memory estimates before building: parameters exact, activations near autograd's own count."""

from __future__ import annotations

import pytest
import torch

from seqstudio.core.errors import ModelSpecError
from seqstudio.core.model import memory
from seqstudio.core.model.memory import check_fits, estimate_training_memory
from seqstudio.core.model.spec import ModelSpec

STACKS = [
    ([{"type": "LSTM", "units": 64}, {"type": "Dense", "units": 1}], (24, 3)),
    ([{"type": "GRU", "units": 32, "return_sequences": True}, {"type": "LSTM", "units": 16},
      {"type": "Dense", "units": 1}], (50, 1)),
    ([{"type": "SimpleRNN", "units": 40}, {"type": "Dense", "units": 2}], (30, 2)),
]


@pytest.mark.parametrize("layers, shape", STACKS)
def test_the_estimate_counts_the_built_models_parameters_and_its_saved_activations(
        builtins, layers, shape):
    spec = ModelSpec.from_dict({"layers": layers})
    est = estimate_training_memory(spec.summary(shape, registry=builtins), batch_size=32)
    model = spec.build(shape, registry=builtins)
    n = sum(p.numel() for p in model.parameters())
    assert est.params == n and est.parameter_bytes == n * 4 * 6
    saved: list[int] = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(32, *shape)).sum()
    # what autograd keeps for the backward pass (the reference) is covered, not overstated 3x
    assert sum(saved) * 0.9 <= est.activation_bytes <= sum(saved) * 3


def test_a_stack_too_large_for_memory_is_refused_before_it_is_built(builtins, monkeypatch):
    spec = ModelSpec.from_dict({"layers": [{"type": "LSTM", "units": 20000}, {"type": "Dense", "units": 1}]})
    summary = spec.summary((1, 1), registry=builtins)
    est = estimate_training_memory(summary, batch_size=1)
    assert est.params == 4 * 20000 * (1 + 20000 + 1) + 20001  # Keras's count, by hand
    with pytest.raises(ModelSpecError) as err:
        check_fits(est, summary, available=16 * 1024 ** 3)
    assert "GiB of memory to train" in err.value.what and "fewer units" in err.value.fix
    assert err.value.layer_index == 0
    check_fits(estimate_training_memory(ModelSpec.from_dict(
        {"layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}]}).summary(
        (1, 1), registry=builtins), batch_size=1), summary, available=16 * 1024 ** 3)


def test_the_cli_refuses_a_huge_layer_at_once_and_shows_the_estimate(capsys, monkeypatch):
    from seqstudio.cli import main
    from seqstudio.core.model.spec import ModelSpec as Spec

    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 8 * 1024 ** 3)
    monkeypatch.setattr(Spec, "build", lambda *a, **k: pytest.fail("built a model that cannot fit"))
    assert main(["train", "--preset", "airline-lstm", "--layers", "LSTM(100000), Dense(1)", "-q"]) == 2
    err = capsys.readouterr().err
    assert "memory to train" in err and "Traceback" not in err
    monkeypatch.undo()
    assert main(["summary", "--preset", "airline-lstm"]) == 0
    assert "Estimated memory to train:" in capsys.readouterr().out
