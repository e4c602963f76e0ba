"""The numpy forward pass of small models equals the model's own (PyTorch's modules) output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqstudio.core.forecast.plain import plain_forward
from seqstudio.core.model.spec import ModelSpec

STACKS = [
    ([{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}], (1, 1)),
    ([{"type": "LSTM", "units": 6}, {"type": "Dense", "units": 3}], (12, 2)),
    ([{"type": "GRU", "units": 5}, {"type": "Dense", "units": 1}], (7, 1)),
    ([{"type": "SimpleRNN", "units": 5}, {"type": "Dense", "units": 2, "activation": "tanh"}], (9, 1)),
    ([{"type": "SimpleRNN", "units": 3, "activation": "relu"}, {"type": "Dense", "units": 1}], (6, 2)),
    ([{"type": "LSTM", "units": 8, "return_sequences": True, "bidirectional": True},
      {"type": "Dropout", "rate": 0.3}, {"type": "GRU", "units": 4, "bidirectional": True},
      {"type": "Dense", "units": 5, "activation": "relu"}, {"type": "Dense", "units": 1,
                                                              "activation": "sigmoid"}], (10, 1)),
    ([{"type": "GRU", "units": 4, "return_sequences": True},
      {"type": "SimpleRNN", "units": 3, "return_sequences": True, "bidirectional": True},
      {"type": "LSTM", "units": 2}, {"type": "Dense", "units": 12}], (15, 1)),
]


@pytest.mark.parametrize("layers, shape", STACKS)
def test_the_numpy_pass_equals_the_models_own(builtins, layers, shape):
    torch.manual_seed(0)
    model = ModelSpec.from_dict({"layers": layers}).build(shape, registry=builtins)
    with torch.no_grad():  # trained-looking weights: biases away from Keras's zeros
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    model.eval()
    forward = plain_forward(model)
    assert forward is not None
    x = torch.randn(37, *shape) * 2
    with torch.inference_mode():
        expected = model(x).numpy()
    got = forward(x.numpy())
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # written into columns of a wider array (as a backtest's rounds are): the same numbers,
    # the columns beside them untouched
    wide = np.full((37, got.shape[1] + 2), 7.0, np.float32)
    forward(x.numpy(), out=wide[:, 1:-1])
    np.testing.assert_array_equal(wide[:, 1:-1], got)
    assert (wide[:, [0, -1]] == 7.0).all()


def test_the_weights_are_copied_when_the_pass_is_made(builtins):
    model = ModelSpec.from_dict({"layers": [{"type": "Dense", "units": 1}]}).build((2,), registry=builtins)
    forward = plain_forward(model)
    x = np.ones((1, 2), np.float32)
    before = forward(x).copy()
    with torch.no_grad():
        model.layers[0].weight.add_(1.0)
    np.testing.assert_array_equal(forward(x), before)


@pytest.mark.parametrize("layers, shape", [
    ([{"type": "Conv1D", "filters": 2, "kernel_size": 3}, {"type": "Flatten"},
      {"type": "Dense", "units": 1}], (6, 1)),
    ([{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 2, "activation": "softmax"}], (4, 1)),
])
def test_a_model_with_a_part_it_does_not_cover_gets_none(builtins, layers, shape):
    model = ModelSpec.from_dict({"layers": layers}).build(shape, registry=builtins)
    assert plain_forward(model) is None


def test_a_cell_run_step_by_step_gets_none(builtins):
    """A plugin cell without a fused module (here a built-in one made to run its steps)."""
    from seqstudio.core.model.cells import RecurrentLayer
    from seqstudio.core.model.modules import SequenceModel

    layer = RecurrentLayer(builtins.cell("lstm"), 1, 3, prefer_fused=False)
    model = SequenceModel([layer, torch.nn.Linear(3, 1)], input_shape=(4, 1), output_shape=(1,))
    assert plain_forward(model) is None


def test_a_model_in_double_precision_gets_none(builtins):
    """The numpy pass is float32 arithmetic; another precision is left to the model itself."""
    model = ModelSpec.from_dict({"layers": [{"type": "LSTM", "units": 2}, {"type": "Dense", "units": 1}]}
                                ).build((3, 1), registry=builtins)
    assert plain_forward(model) is not None and plain_forward(model).n_parameters == 4 * 2 * (1 + 2 + 1) + 3
    assert plain_forward(model.double()) is None


@pytest.mark.parametrize("where", ["meta", "bfloat16"])
def test_a_model_whose_tensors_numpy_cannot_read_gets_none(builtins, where):
    """Off the CPU (here the meta device, as a GPU's tensors are) or in a type numpy lacks."""
    model = ModelSpec.from_dict({"layers": [{"type": "LSTM", "units": 2}, {"type": "Dense", "units": 1}]}
                                ).build((3, 1), registry=builtins)
    model = model.to("meta") if where == "meta" else model.to(torch.bfloat16)
    assert plain_forward(model) is None

