"""ModelSpec: validation before training, summaries, building, data checks, JSON."""

from __future__ import annotations

import json

import pytest
import torch

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import ModelSpecError
from seqstudio.core.model.layers import (
    GRU,
    LSTM,
    RNN,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    MaxPooling1D,
)
from seqstudio.core.model.spec import ModelSpec, SequenceModel


def imdb_spec() -> ModelSpec:
    return ModelSpec([Embedding(10000, 128), LSTM(128, dropout=0.2, recurrent_dropout=0.2),
                      Dense(1, activation="sigmoid")])


def _data(x: torch.Tensor, y: torch.Tensor, *, task="regression", n_outputs=1, ids=False,
          vocab=None) -> PreparedData:
    return PreparedData(task=task, x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], x_test=x[:1],
                        y_test=y[:1], n_outputs=n_outputs, input_is_ids=ids, vocab_size=vocab)


def test_imdb_summary_matches_the_keras_summary(builtins):
    summary = imdb_spec().summary((200,), input_is_ids=True, n_outputs=1, registry=builtins)
    assert [(r.name, r.type_name, r.output_shape, r.params) for r in summary.rows] == [
        ("embedding", "Embedding", (200, 128), 1_280_000),
        ("lstm", "LSTM", (128,), 131_584),
        ("dense", "Dense", (1,), 129),
    ]
    assert summary.total_params == summary.trainable_params == 1_411_713
    text = summary.format()
    assert "lstm (LSTM)" in text and "(None, 200, 128)" in text
    assert "Total params: 1,411,713" in text and "Non-trainable params: 0" in text


def test_summary_equals_the_built_module(builtins):
    spec = ModelSpec([Conv1D(8, 3, padding="causal", activation="relu"), MaxPooling1D(2),
                      GRU(6, return_sequences=True, bidirectional=True), LSTM(5), Dropout(0.1),
                      Dense(2, activation="softmax")])
    summary = spec.summary((12, 3), n_outputs=2, registry=builtins)
    model = spec.build((12, 3), registry=builtins)
    assert isinstance(model, SequenceModel)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    for row, layer in zip(summary.rows, model.layers, strict=True):
        assert row.params == sum(p.numel() for p in layer.parameters())
    out = model.eval()(torch.randn(4, 12, 3))
    assert out.shape == (4, 2)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(4))
    assert model.output_activation == "softmax"
    assert [r.name for r in summary.rows][2:4] == ["gru", "lstm"]


def test_repeated_types_get_keras_like_names(builtins):
    spec = ModelSpec([LSTM(4, return_sequences=True), LSTM(4), Dense(1)])
    rows = spec.summary((5, 1), registry=builtins).rows
    assert [r.name for r in rows] == ["lstm", "lstm_1", "dense"]


def test_airline_model_builds_and_trains(builtins):
    spec = ModelSpec([LSTM(4), Dense(1)])
    assert spec.summary((1, 1), n_outputs=1, registry=builtins).total_params == 101
    torch.manual_seed(0)
    model = spec.build((1, 1), registry=builtins)
    x = torch.rand(32, 1, 1)
    y = 0.5 * x[:, 0] + 0.2
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 10


@pytest.mark.parametrize("layers, input_shape, ids, n_outputs, index, words", [
    # a second LSTM after one without return_sequences
    ([LSTM(4), LSTM(4), Dense(1)], (5, 1), False, 1, 1,
     ["layer 2 (LSTM)", "set return_sequences=True on layer 1 (LSTM)"]),
    # a Dense whose output does not match the target
    ([LSTM(4), Dense(3)], (5, 1), False, 1, 1, ["layer 2 (Dense) outputs 3", "set units=1 on layer 2"]),
    # Embedding fed a float series
    ([Embedding(100, 8), LSTM(4), Dense(1)], (5, 1), False, 1, 0, ["layer 1 (Embedding)", "float"]),
    # token ids straight into an LSTM
    ([LSTM(4), Dense(1)], (200,), True, 1, 0, ["layer 1 (LSTM)", "token ids", "Embedding"]),
    # sequence output where one value per sample is expected
    ([LSTM(4, return_sequences=True), Dense(1)], (5, 1), False, 1, 1,
     ["outputs a sequence", "return_sequences=False on layer 1 (LSTM)"]),
    # Conv1D window longer than the sequence
    ([Conv1D(4, 7), Flatten(), Dense(1)], (5, 1), False, 1, 0, ["layer 1 (Conv1D)", "window 7"]),
    # a Conv1D after a Flatten
    ([Flatten(), Conv1D(4, 2), Dense(1)], (5, 2), False, 1, 1, ["layer 2 (Conv1D)", "layer 1 (Flatten)"]),
    # pooling after the last recurrent state
    ([GRU(4), GlobalAveragePooling1D(), Dense(1)], (5, 2), False, 1, 1,
     ["layer 2 (GlobalAveragePooling1D)", "return_sequences=True on layer 1 (GRU)"]),
    # a cell from a plugin that is not installed
    ([RNN(4, cell="ghost>cell"), Dense(1)], (5, 1), False, 1, 0, ["ghost", "not installed"]),
    # the last layer is not a Dense and gives the wrong size
    ([LSTM(4)], (5, 1), False, 1, 0, ["outputs 4", "add Dense(1)"]),
])
def test_impossible_stacks_name_the_layer_and_the_fix(builtins, layers, input_shape, ids, n_outputs,
                                                       index, words):
    with pytest.raises(ModelSpecError) as info:
        ModelSpec(layers).summary(input_shape, input_is_ids=ids, n_outputs=n_outputs, registry=builtins)
    assert info.value.layer_index == index
    text = str(info.value)
    for word in words:
        assert word in text, (word, text)


def test_empty_model_is_rejected(builtins):
    with pytest.raises(ModelSpecError, match="no layers"):
        ModelSpec([]).summary((5, 1), registry=builtins)


def test_build_outputs_sequences_when_the_last_layer_does(builtins):
    model = ModelSpec([GRU(3, return_sequences=True), Dense(2)]).build((6, 1), registry=builtins)
    assert model(torch.randn(2, 6, 1)).shape == (2, 6, 2)
    assert model.output_shape == (6, 2)


# -- check_data ----------------------------------------------------------------------


def test_check_data_accepts_matching_text_data(builtins):
    x = torch.randint(0, 50, (8, 20))
    data = _data(x, torch.randint(0, 2, (8, 1)).float(), task="binary", ids=True, vocab=50)
    spec = ModelSpec([Embedding(50, 4), LSTM(3), Dense(1, activation="sigmoid")])
    assert spec.check_data(data, registry=builtins).output_shape == (1,)
    model = spec.build(data.input_shape, registry=builtins)
    assert model.output_activation == "sigmoid"
    out = model(x)
    assert out.shape == (8, 1) and bool(((out > 0) & (out < 1)).all())


def test_check_data_rejects_ids_beyond_the_embedding(builtins):
    x = torch.randint(0, 50, (8, 20))
    x[3, 4] = 60
    data = _data(x, torch.zeros(8, 1), task="binary", ids=True, vocab=61)
    spec = ModelSpec([Embedding(50, 4), LSTM(3), Dense(1, activation="sigmoid")])
    with pytest.raises(ModelSpecError) as info:
        spec.check_data(data, registry=builtins)
    assert info.value.layer_index == 0
    assert "token ids reach 60" in str(info.value) and "input_dim to at least 61" in str(info.value)


def test_check_data_rejects_a_float_series_into_an_embedding(builtins):
    data = _data(torch.rand(8, 5, 1), torch.rand(8, 1))
    with pytest.raises(ModelSpecError, match="layer 1 \\(Embedding\\) is fed float"):
        ModelSpec([Embedding(50, 4), LSTM(3), Dense(1)]).check_data(data, registry=builtins)


def test_check_data_rejects_a_class_count_mismatch(builtins):
    data = _data(torch.rand(8, 5, 2), torch.randint(0, 3, (8,)), task="multiclass", n_outputs=3)
    with pytest.raises(ModelSpecError, match="set units=3 on layer 2") as info:
        ModelSpec([LSTM(4), Dense(2, activation="softmax")]).check_data(data, registry=builtins)
    assert info.value.layer_index == 1
    ModelSpec([LSTM(4), Dense(3, activation="softmax")]).check_data(data, registry=builtins)


def test_check_data_rejects_a_one_unit_softmax_for_a_binary_task(builtins):
    data = _data(torch.rand(8, 5, 1), torch.zeros(8, 1), task="binary")
    with pytest.raises(ModelSpecError, match="sigmoid"):
        ModelSpec([LSTM(4), Dense(1, activation="softmax")]).check_data(data, registry=builtins)


# -- JSON ------------------------------------------------------------------------------


def test_model_spec_round_trips_through_json(builtins):
    spec = ModelSpec([Embedding(100, 8), Conv1D(4, 3, padding="same"), GRU(5, bidirectional=True),
                      Dense(1, activation="sigmoid")])
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())), builtins)
    assert again == spec


def test_from_dict_points_at_the_bad_layer():
    with pytest.raises(ModelSpecError) as info:
        ModelSpec.from_dict({"layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 0}]})
    assert info.value.layer_index == 1
    assert "Dense units must be a positive integer, got 0" in str(info.value)
    with pytest.raises(ModelSpecError, match="list of layers"):
        ModelSpec.from_dict({"layer": []})
