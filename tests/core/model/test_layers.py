"""Layer specs: argument checks, JSON round trip, shapes, parameter counts and numerics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

from seqstudio.core.errors import ModelSpecError
from seqstudio.core.model.layers import (
    GRU,
    LAYER_TYPES,
    LSTM,
    RNN,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    LayerSpec,
    MaxPooling1D,
    SimpleRNN,
    layer_from_dict,
    layer_to_dict,
)

# One non-default instance of every built-in layer type.
SAMPLES = [
    Embedding(10000, 128),
    SimpleRNN(8, return_sequences=True, bidirectional=True, dropout=0.1, recurrent_dropout=0.2,
              activation="relu"),
    LSTM(128, dropout=0.2, recurrent_dropout=0.2),
    GRU(16, return_sequences=True),
    RNN(5, cell="builtins>gru", cell_options={}, bidirectional=True),
    Conv1D(32, 5, stride=2, padding="same", activation="relu"),
    MaxPooling1D(3, stride=2, padding="same"),
    GlobalAveragePooling1D(),
    GlobalMaxPooling1D(),
    Dense(1, activation="sigmoid"),
    Dropout(0.5),
    Flatten(),
]


def test_samples_cover_every_layer_type():
    assert {type(s).type_name for s in SAMPLES} == set(LAYER_TYPES)


@pytest.mark.parametrize("spec", SAMPLES, ids=lambda s: s.type_name)
def test_every_spec_round_trips_through_json(spec):
    config = json.loads(json.dumps(spec.get_config()))
    assert type(spec).from_config(config) == spec
    assert layer_from_dict(json.loads(json.dumps(layer_to_dict(spec)))) == spec


@pytest.mark.parametrize("spec", SAMPLES, ids=lambda s: s.type_name)
def test_every_argument_has_a_tooltip(spec):
    assert set(type(spec).help) == set(spec.get_config())
    assert all(text.strip() for text in type(spec).help.values())


@pytest.mark.parametrize("make, message", [
    (lambda: LSTM(0), "LSTM units must be a positive integer, got 0"),
    (lambda: GRU(True), "GRU units must be a positive integer, got True"),
    (lambda: LSTM(4, dropout=1.0), "LSTM dropout must be a number in [0, 1), got 1.0"),
    (lambda: LSTM(4, return_sequences="yes"), "LSTM return_sequences must be true or false, got 'yes'"),
    (lambda: Dense(1, activation="swish"), "Dense activation must be one of"),
    (lambda: Conv1D(4, 3, padding="full"), "Conv1D padding must be one of valid, same, causal, got 'full'"),
    (lambda: Embedding(0, 8), "Embedding input_dim must be a positive integer, got 0"),
    (lambda: Dropout(-0.1), "Dropout rate must be a number in [0, 1), got -0.1"),
    (lambda: SimpleRNN(4, activation="sigmoid"), "SimpleRNN activation must be one of tanh, relu"),
    (lambda: RNN(4, cell=""), "RNN cell must be a registered cell name"),
])
def test_bad_arguments_name_the_argument_and_the_value(make, message):
    with pytest.raises(ModelSpecError) as info:
        make()
    assert message in str(info.value)


def test_from_config_names_unknown_and_missing_arguments():
    with pytest.raises(ModelSpecError, match="LSTM has no argument 'unit'"):
        LSTM.from_config({"unit": 4})
    with pytest.raises(ModelSpecError, match="Dense needs the argument 'units'"):
        Dense.from_config({"activation": "relu"})
    with pytest.raises(ModelSpecError, match="unknown layer type 'Transformer'"):
        layer_from_dict({"type": "Transformer"})
    # Keras spells Conv1D's stride "strides"; both load.
    assert Conv1D.from_config({"filters": 2, "kernel_size": 3, "strides": 2}).stride == 2


def test_none_activation_means_linear():
    assert Dense(3, activation=None).activation == "linear"


@dataclass
class Scale(LayerSpec):
    """A plugin's layer type (module level: dataclasses must see ``ClassVar`` there)."""

    factor: float = 2.0
    type_name: ClassVar[str] = "Scale"


def test_plugin_layer_types_come_from_the_registry(registry):
    registry.add_layer("demo", Scale)
    assert layer_from_dict({"type": "Scale", "factor": 3.0}, registry) == Scale(3.0)
    assert layer_from_dict({"type": "demo>Scale"}, registry) == Scale()


# -- parameter counts -----------------------------------------------------------------


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("spec, input_shape, keras_params", [
    (LSTM(4), (1, 1), 96),                        # the lecture's airline model
    (Dense(1), (4,), 5),
    (Embedding(10000, 128), (200,), 1_280_000),   # the lecture's IMDB model
    (LSTM(128), (200, 128), 131_584),
    (Dense(1, activation="sigmoid"), (128,), 129),
    (GRU(4), (1, 1), 84),                         # Keras GRU (reset_after=True)
    (SimpleRNN(4), (1, 1), 24),
    (LSTM(4, bidirectional=True), (5, 1), 192),
    (RNN(4, cell="lstm"), (5, 1), 96),
    (Conv1D(8, 3), (10, 2), 56),
    (Dense(3), (7, 4), 15),
    (Dropout(0.3), (5, 2), 0),
    (Flatten(), (5, 2), 0),
    (MaxPooling1D(), (6, 2), 0),
])
def test_parameter_counts_equal_keras_and_the_built_module(builtins, spec, input_shape, keras_params):
    from seqstudio.core.model.spec import ModelSpec

    ids = isinstance(spec, Embedding)
    summary = ModelSpec([spec]).summary(input_shape, input_is_ids=ids, registry=builtins)
    assert summary.rows[0].params == keras_params
    assert _params(spec.build(input_shape, builtins)) == keras_params


# -- shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec, input_shape, expected", [
    (LSTM(4), (10, 3), (4,)),
    (LSTM(4, return_sequences=True), (10, 3), (10, 4)),
    (GRU(4, bidirectional=True), (10, 3), (8,)),
    (SimpleRNN(4, bidirectional=True, return_sequences=True), (10, 3), (10, 8)),
    (Conv1D(6, 3), (10, 2), (8, 6)),
    (Conv1D(6, 3, stride=2), (10, 2), (4, 6)),
    (Conv1D(6, 4, stride=3, padding="same"), (10, 2), (4, 6)),
    (Conv1D(6, 3, stride=2, padding="causal"), (10, 2), (5, 6)),
    (MaxPooling1D(2), (7, 3), (3, 3)),
    (MaxPooling1D(2, padding="same"), (7, 3), (4, 3)),
    (MaxPooling1D(3, stride=1), (7, 3), (5, 3)),
    (GlobalAveragePooling1D(), (7, 3), (3,)),
    (GlobalMaxPooling1D(), (7, 3), (3,)),
    (Dense(5), (7, 3), (7, 5)),
    (Flatten(), (7, 3), (21,)),
    (Dropout(0.1), (7, 3), (7, 3)),
])
def test_inferred_output_shape_equals_the_module_output(builtins, spec, input_shape, expected):
    assert spec.output_shape(input_shape, input_is_ids=False, index=0, registry=builtins) == expected
    module = spec.build(input_shape, builtins).eval()
    assert tuple(module(torch.randn(2, *input_shape)).shape[1:]) == expected


def test_embedding_shape_and_lookup():
    spec = Embedding(20, 4)
    assert spec.output_shape((6,), input_is_ids=True, index=0, registry=None) == (6, 4)
    module = spec.build((6,), None)
    ids = torch.tensor([[0, 3, 19, 3, 1, 2]])
    np.testing.assert_array_equal(module(ids)[0].detach().numpy(), module.weight.detach().numpy()[ids[0]])


def test_recurrent_layer_needs_the_registry_and_a_known_cell(builtins):
    with pytest.raises(ModelSpecError, match="needs the cell registry"):
        LSTM(4).output_shape((5, 1), input_is_ids=False, index=0, registry=None)
    with pytest.raises(ModelSpecError, match="needs plugin 'ghost', which is not installed") as info:
        RNN(4, cell="ghost>cell").output_shape((5, 1), input_is_ids=False, index=3, registry=builtins)
    assert info.value.layer_index == 3


# -- numerics against numpy --------------------------------------------------------------


def _np_act(name: str, z: np.ndarray) -> np.ndarray:
    return {"linear": lambda a: a, "relu": lambda a: np.maximum(a, 0), "tanh": np.tanh,
            "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
            "softmax": lambda a: np.exp(a - a.max(-1, keepdims=True))
            / np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True)}[name](z)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softmax"])
def test_dense_acts_on_the_last_axis_like_numpy(activation):
    spec = Dense(3, activation=activation)
    module = spec.build((5, 4), None)
    linear = module if isinstance(module, torch.nn.Linear) else module[0]
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    W, b = linear.weight.detach().numpy(), linear.bias.detach().numpy()
    want = _np_act(activation, x @ W.T + b)
    got = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _np_conv1d(x, W, b, stride, pad_left, pad_right):
    """Keras Conv1D by hand: channels last, cross-correlation, zero padding."""
    xp = np.pad(x, ((0, 0), (pad_left, pad_right), (0, 0)))
    k = W.shape[2]
    out_len = (xp.shape[1] - k) // stride + 1
    out = np.zeros((x.shape[0], out_len, W.shape[0]), dtype=np.float64)
    for t in range(out_len):
        window = xp[:, t * stride:t * stride + k, :]            # (B, k, C)
        out[:, t, :] = np.einsum("bkc,fck->bf", window, W) + b
    return out


@pytest.mark.parametrize("kernel, stride, padding, pads", [
    (3, 1, "valid", (0, 0)),
    (3, 2, "valid", (0, 0)),
    (3, 1, "same", (1, 1)),
    (4, 1, "same", (1, 2)),       # even kernel: the extra zero goes on the right (TensorFlow)
    (4, 3, "same", (1, 2)),       # 10 steps, stride 3: out 4, total pad (4-1)*3+4-10 = 3
    (3, 2, "causal", (2, 0)),
])
def test_conv1d_matches_a_numpy_convolution(kernel, stride, padding, pads):
    spec = Conv1D(5, kernel, stride=stride, padding=padding, activation="relu")
    module = spec.build((10, 2), None)
    x = np.random.default_rng(1).standard_normal((3, 10, 2)).astype(np.float32)
    W, b = module.conv.weight.detach().numpy(), module.conv.bias.detach().numpy()
    want = np.maximum(_np_conv1d(x, W, b, stride, *pads), 0)
    got = module(torch.from_numpy(x)).detach().numpy()
    assert got.shape[1] == spec.output_shape((10, 2), input_is_ids=False, index=0, registry=None)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pooling_matches_numpy():
    x = np.random.default_rng(2).standard_normal((2, 7, 3)).astype(np.float32)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(GlobalAveragePooling1D().build((7, 3), None)(t).numpy(), x.mean(1), rtol=1e-6)
    np.testing.assert_allclose(GlobalMaxPooling1D().build((7, 3), None)(t).numpy(), x.max(1))
    valid = MaxPooling1D(2).build((7, 3), None)(t).numpy()
    np.testing.assert_allclose(valid, np.stack([x[:, 2 * i:2 * i + 2].max(1) for i in range(3)], 1))
    # 'same': 7 steps, pool 2 -> 4 windows; the last window holds step 6 alone.
    same = MaxPooling1D(2, padding="same").build((7, 3), None)(t).numpy()
    np.testing.assert_allclose(same, np.stack([x[:, 2 * i:2 * i + 2].max(1) for i in range(4)], 1))
    np.testing.assert_allclose(Flatten().build((7, 3), None)(t).numpy(), x.reshape(2, 21))


def test_dropout_scales_like_keras():
    module = Dropout(0.5).build((100,), None).train()
    torch.manual_seed(0)
    out = module(torch.ones(4, 100))
    assert set(torch.unique(out).tolist()) <= {0.0, 2.0}
    assert torch.equal(module.eval()(torch.ones(4, 100)), torch.ones(4, 100))
