"""The exact clean-ups of the exporter's ONNX graph (``seqstudio.core.export.onnx_graph``).

Each model is written twice: as torch's exporter leaves it (the clean-up
switched off) and as seqstudio writes it. onnxruntime must give bit-for-bit the
same outputs for both at batch 1 and 256, and both must equal PyTorch's own
module to 1e-5; the graph's shape says which rewrites were made, and graphs
where a rewrite would not be exact (bidirectional, whole sequences,
``sequence_lens``, non-zero initial states) keep their structure.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqstudio.core.export import formats
from seqstudio.core.export.bundle import inference_copy
from seqstudio.core.export.formats import write_model
from seqstudio.core.export.onnx_graph import tidy_recurrent_graph
from seqstudio.core.model.spec import ModelSpec

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402 - after the skip

EMB = {"type": "Embedding", "input_dim": 60, "output_dim": 8}
MODELS = {
    "embedding-lstm-sigmoid": ([EMB, {"type": "LSTM", "units": 6, "recurrent_dropout": 0.2},
                                {"type": "Dense", "units": 1, "activation": "sigmoid"}], True),
    "embedding-gru": ([EMB, {"type": "GRU", "units": 5}, {"type": "Dense", "units": 2}], True),
    "simple-rnn": ([{"type": "SimpleRNN", "units": 4}, {"type": "Dense", "units": 1}], False),
    "stacked-lstm": ([{"type": "LSTM", "units": 4, "return_sequences": True}, {"type": "LSTM", "units": 3},
                      {"type": "Dense", "units": 1}], False),
    "bidirectional-lstm": ([{"type": "LSTM", "units": 3, "bidirectional": True},
                            {"type": "Dense", "units": 1}], False),
    "embedding-bidirectional-gru": ([EMB, {"type": "GRU", "units": 3, "bidirectional": True},
                                     {"type": "Dense", "units": 1}], True),
    "sequences-flatten": ([{"type": "GRU", "units": 4, "return_sequences": True}, {"type": "Flatten"},
                           {"type": "Dense", "units": 1}], False),
    "conv1d": ([{"type": "Conv1D", "filters": 3, "kernel_size": 2, "padding": "causal"},
                {"type": "GlobalMaxPooling1D"}, {"type": "Dense", "units": 1}], False),
}
STEPS = 7


def _model(builtins, name):
    layers, ids = MODELS[name]
    torch.manual_seed(0)
    model = ModelSpec.from_dict({"layers": layers}, builtins).build((STEPS,) if ids else (STEPS, 2),
                                                                     registry=builtins)
    return inference_copy(model), ids


def _inputs(ids: bool, batch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(batch)
    if ids:
        return torch.randint(0, 60, (batch, STEPS), generator=gen)
    return torch.randn(batch, STEPS, 2, generator=gen)


def _write_both(model, ids, tmp_path, monkeypatch):
    tidy = tmp_path / "tidy.onnx"
    write_model("onnx", model, _inputs(ids, 2), tidy)
    raw = tmp_path / "raw.onnx"
    with monkeypatch.context() as m:
        m.setattr(formats, "tidy_onnx_file", lambda path: [])
        write_model("onnx", model, _inputs(ids, 2), raw)
    return onnx.load(str(raw)), onnx.load(str(tidy))


def _run(model_proto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _ops(model_proto) -> list[str]:
    return [n.op_type for n in model_proto.graph.node if n.op_type != "Constant"]


def _recurrent(model_proto):
    return [n for n in model_proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN")]


@pytest.mark.parametrize("name", list(MODELS))
def test_the_written_graph_computes_bit_for_bit_what_the_exporters_does(name, builtins, tmp_path,
                                                                         monkeypatch):
    model, ids = _model(builtins, name)
    raw, tidy = _write_both(model, ids, tmp_path, monkeypatch)
    onnx.checker.check_model(tidy)
    for batch in (1, 256):
        x = _inputs(ids, batch)
        got = _run(tidy, x.numpy())
        np.testing.assert_array_equal(got, _run(raw, x.numpy()))
        with torch.inference_mode():
            np.testing.assert_allclose(got, model(x).numpy(), rtol=0, atol=1e-5)
    # No recurrent layer's zero initial state is built at run time any more.
    assert all(len(n.input) <= 4 for n in _recurrent(tidy))


def test_embedding_into_lstm_becomes_the_lean_graph(builtins, tmp_path, monkeypatch):
    model, ids = _model(builtins, "embedding-lstm-sigmoid")
    raw, tidy = _write_both(model, ids, tmp_path, monkeypatch)
    assert len(_ops(raw)) > 10
    assert _ops(tidy) == ["Transpose", "Gather", "LSTM", "Squeeze", "Gemm", "Sigmoid"]
    transpose, gather, lstm, squeeze = tidy.graph.node[:4]
    # Integer ids are transposed to time-major, not the gathered floats.
    assert transpose.input[0] == "input" and gather.input[1] == transpose.output[0]
    assert lstm.input[0] == gather.output[0]
    # The head reads the operator's final state, and the sequence output Y is not produced.
    assert lstm.output[0] == "" and squeeze.input[0] == lstm.output[1]


@pytest.mark.parametrize("name", ["bidirectional-lstm", "embedding-bidirectional-gru", "sequences-flatten"])
def test_layers_whose_sequence_output_is_read_keep_it(name, builtins, tmp_path, monkeypatch):
    model, ids = _model(builtins, name)
    _, tidy = _write_both(model, ids, tmp_path, monkeypatch)
    assert all(n.output[0] for n in _recurrent(tidy))


def test_a_model_without_recurrent_layers_is_written_as_the_exporter_wrote_it(builtins, tmp_path,
                                                                            monkeypatch):
    model, ids = _model(builtins, "conv1d")
    raw, tidy = _write_both(model, ids, tmp_path, monkeypatch)
    assert raw.graph == tidy.graph


def _lstm_graph(*, sequence_lens: bool = False, fill: float = 0.0):
    """A hand-built graph in the exporter's shape: zero states from ConstantOfShape, last step via Gather."""
    rng = np.random.default_rng(0)
    w, r, b = (rng.standard_normal(s).astype(np.float32) * 0.3 for s in ((1, 12, 2), (1, 12, 3), (1, 24)))
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int64), "state_shape"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array(-1, np.int64), "last"),
             numpy_helper.from_array(np.array([4, 2], np.int32), "lens")]
    nodes = [helper.make_node("ConstantOfShape", ["state_shape"], ["zeros"],
                              value=numpy_helper.from_array(np.array([fill], np.float32))),
             helper.make_node("Transpose", ["input"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R", "B", "lens" if sequence_lens else "", "zeros", "zeros"],
                              ["y", "y_h"], hidden_size=3),
             helper.make_node("Squeeze", ["y", "axis1"], ["ys"]),
             helper.make_node("Transpose", ["ys"], ["yb"], perm=[1, 0, 2]),
             helper.make_node("Gather", ["yb", "last"], ["output"], axis=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 4, 2])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_rewrites_apply_to_the_exporters_pattern_and_are_exact():
    x = np.random.default_rng(1).standard_normal((2, 4, 2)).astype(np.float32)
    model = _lstm_graph()
    expected = _run(model, x)
    made = tidy_recurrent_graph(model)
    assert len(made) == 2 and "initial states" in made[0] and "Y_h" in made[1]
    assert _ops(model) == ["Transpose", "LSTM", "Squeeze"]
    np.testing.assert_array_equal(_run(model, x), expected)


def test_sequence_lens_keeps_the_last_step_gather():
    """With ``sequence_lens`` Y_h is each sample's own last valid step, not the last column of Y."""
    x = np.random.default_rng(1).standard_normal((2, 4, 2)).astype(np.float32)
    model = _lstm_graph(sequence_lens=True)
    expected = _run(model, x)
    made = tidy_recurrent_graph(model)
    assert not any("Y_h" in m for m in made)
    assert "Gather" in _ops(model) and _recurrent(model)[0].output[0] == "y"
    np.testing.assert_array_equal(_run(model, x), expected)


def test_a_non_zero_initial_state_is_kept():
    x = np.random.default_rng(1).standard_normal((2, 4, 2)).astype(np.float32)
    model = _lstm_graph(fill=0.5)
    expected = _run(model, x)
    made = tidy_recurrent_graph(model)
    assert not any("initial states" in m for m in made)
    assert list(_recurrent(model)[0].input[5:]) == ["zeros", "zeros"]
    np.testing.assert_array_equal(_run(model, x), expected)


def test_a_failing_clean_up_leaves_the_exporters_file(builtins, tmp_path, monkeypatch):
    from seqstudio.core.export import onnx_graph

    model, ids = _model(builtins, "embedding-gru")
    raw, _ = _write_both(model, ids, tmp_path, monkeypatch)

    def broken(model_proto):
        del model_proto.graph.node[0]  # half-done when it fails
        raise RuntimeError("a pattern it did not expect")

    monkeypatch.setattr(onnx_graph, "tidy_recurrent_graph", broken)
    path = tmp_path / "fallback.onnx"
    write_model("onnx", model, _inputs(ids, 2), path)
    assert onnx.load(str(path)).graph == raw.graph
