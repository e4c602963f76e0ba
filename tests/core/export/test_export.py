"""Export bundles: every built-in layer and cell, the example plugin's cells, and the self-check.

Each model is trained for one epoch (tiny data for text), exported, and the
file is then read back *independently of the exporter's own check*: onnxruntime
/ torch.jit / torch.export run it here on fresh random inputs at batch 1 and
256 and are compared with the studio's model in evaluation mode.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.export import FORMATS, ExportError, export_project
from seqstudio.core.project import Project
from seqstudio.core.session import TrainingSession

pytest.importorskip("onnxruntime")

POSITIVE = ["a wonderful film, truly great", "great acting and a lovely story", "i loved it",
            "brilliant, moving and funny", "the best film of the year<br /><br />superb"]
NEGATIVE = ["a terrible waste of time", "boring, dull and far too long", "i hated it",
            "awful acting; the plot makes no sense", "the worst film i have seen"]


def _text_csv(tmp_path, rows: int = 40):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment"])
        for i in range(rows):
            pool, label = (POSITIVE, "positive") if i % 2 == 0 else (NEGATIVE, "negative")
            w.writerow([f"{pool[i % len(pool)]} {i}", label])
    return path


def _trained(project: Project, registry) -> Project:
    project.train.update({"epochs": 1, "batch_size": 16})
    for _ in TrainingSession(project, registry).run():
        pass
    assert project.weights
    return project


def _airline(registry, layers=None, **data) -> Project:
    project = Project.from_preset("airline-lstm")
    project.data_options.update(data)
    if layers is not None:
        project.model = {"layers": layers}
    return _trained(project, registry)


def _imdb(registry, tmp_path, layers=None, **data) -> Project:
    project = Project.from_preset("imdb-lstm")
    project.data_options.update({"path": str(_text_csv(tmp_path)), "max_len": 24, "test_frac": 0.25,
                                 **data})
    if layers is not None:
        project.model = {"layers": layers}
    return _trained(project, registry)


def _runner(fmt: str, path):
    """Load the exported file in its runtime, with no help from seqstudio."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]
    module = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()
    return lambda x: module(torch.from_numpy(x)).detach().numpy()


def _assert_reproduces(project: Project, registry, out, fmt: str) -> None:
    data = project.prepare_data(registry)
    model = project.build_model(data, registry).eval()
    run = _runner(fmt, out / json.loads((out / "preprocessing.json").read_text())["model"]["file"])
    gen = torch.Generator().manual_seed(1)
    for batch in (1, 256):
        if data.input_is_ids:
            x = torch.randint(0, 40, (batch, *data.input_shape), generator=gen)
        else:
            x = torch.rand((batch, *data.input_shape), generator=gen)
        with torch.no_grad():
            expected = model(x).numpy()
        np.testing.assert_allclose(run(x.numpy()), expected, rtol=0, atol=1e-5)
    # The bundle's own examples replay to the outputs it lists.
    ex = np.load(out / "examples.npz")
    np.testing.assert_allclose(run(ex["input"]), ex["output"], rtol=0, atol=1e-5)


BIDI = [{"type": "LSTM", "units": 4, "bidirectional": True, "return_sequences": True},
        {"type": "LSTM", "units": 3, "bidirectional": True}, {"type": "Dense", "units": 1}]
CONV = [{"type": "Conv1D", "filters": 4, "kernel_size": 3, "padding": "causal", "activation": "relu"},
        {"type": "MaxPooling1D", "pool_size": 2, "padding": "same"},
        {"type": "Conv1D", "filters": 3, "kernel_size": 2, "padding": "same"},
        {"type": "GlobalAveragePooling1D"}, {"type": "Dropout", "rate": 0.3}, {"type": "Dense", "units": 1}]
OTHERS = [{"type": "SimpleRNN", "units": 5, "return_sequences": True, "dropout": 0.1,
           "recurrent_dropout": 0.2},
          {"type": "GlobalMaxPooling1D"}, {"type": "Dense", "units": 4, "activation": "tanh"},
          {"type": "Dense", "units": 1}]

SERIES_CASES = {
    "airline-lstm": ({}, None),
    "airline-lstm-seasonal": ({"log": True, "diff_lag": 1, "look_back": 12},
                              [{"type": "LSTM", "units": 16}, {"type": "Dense", "units": 1}]),
    "gru": ({"look_back": 4}, [{"type": "GRU", "units": 4, "recurrent_dropout": 0.2,
                                "return_sequences": True},
                               {"type": "Flatten"}, {"type": "Dense", "units": 1}]),
    "bidirectional-lstm": ({"look_back": 6}, BIDI),
    "conv1d": ({"look_back": 12}, CONV),
    "simple-rnn-pooling": ({"look_back": 6}, OTHERS),
}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("case", list(SERIES_CASES))
def test_series_models_export_and_pass_the_self_check(case, fmt, builtins, tmp_path):
    data_options, layers = SERIES_CASES[case]
    project = _airline(builtins, layers, **data_options)
    result = export_project(project, builtins, tmp_path / "bundle", fmt)
    assert result.checks and all(c.passed for c in result.checks)
    assert {c.batch for c in result.checks} >= {1, 256}
    names = {p.name for p in result.files}
    assert {"preprocessing.json", "model-card.md", "examples.npz", "examples.json"} <= names
    _assert_reproduces(project, builtins, tmp_path / "bundle", fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_imdb_lstm_with_recurrent_dropout_exports(fmt, builtins, tmp_path):
    project = _imdb(builtins, tmp_path)
    assert project.model["layers"][1]["recurrent_dropout"] == 0.2
    result = export_project(project, builtins, tmp_path / "bundle", fmt)
    assert all(c.passed for c in result.checks)
    _assert_reproduces(project, builtins, tmp_path / "bundle", fmt)
    prep = json.loads((tmp_path / "bundle" / "preprocessing.json").read_text())
    assert prep["model"]["input_dtype"] == "int64"


def test_exported_program_of_a_series_model(builtins, tmp_path):
    project = _airline(builtins, BIDI, look_back=6)
    export_project(project, builtins, tmp_path / "bundle", "exported-program")
    _assert_reproduces(project, builtins, tmp_path / "bundle", "exported-program")


# -- plugin cells ----------------------------------------------------------------


@pytest.fixture
def example_registry(monkeypatch):
    from seqstudio.pluginapi.manager import PluginManager, _NoSettings

    from ...plugins.conftest import EXAMPLE_PROJECT

    monkeypatch.syspath_prepend(str(EXAMPLE_PROJECT))
    import seqstudio_example

    pm = PluginManager(autoload=False, plugin_paths=[], settings=_NoSettings())
    pm.add_plugin(seqstudio_example, "example", version=seqstudio_example.__version__)
    pm.load()
    return pm.registry


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("cell", ["example>lecture_lstm", "example>indrnn"])
def test_the_example_plugins_cells_export_through_their_step(cell, fmt, example_registry, tmp_path):
    layers = [{"type": "RNN", "units": 5, "cell": cell, "recurrent_dropout": 0.2,
               "bidirectional": True}, {"type": "Dense", "units": 1}]
    project = _airline(example_registry, layers, look_back=5)
    result = export_project(project, example_registry, tmp_path / "bundle", fmt)
    assert all(c.passed for c in result.checks)
    _assert_reproduces(project, example_registry, tmp_path / "bundle", fmt)


BAD_CELL = '''
import torch
from torch import nn
from seqstudio.pluginapi import CellType, hookimpl

class Step(nn.Module):
    """Copies its input through Python lists: eager it is fine, a trace freezes the values."""
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
    def forward(self, x_t, state):
        x_t = torch.tensor(x_t.tolist(), dtype=x_t.dtype)
        h = torch.tanh(self.lin(torch.cat([x_t, state[0]], dim=1)))
        return h, (h,)

@hookimpl
def seqstudio_api_version():
    return 1

@hookimpl
def seqstudio_cells():
    return [CellType(name="frozen", description="not exportable", step_factory=Step)]
'''


@pytest.fixture
def bad_registry(tmp_path):
    from seqstudio.pluginapi.manager import PluginManager, _NoSettings

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "frozenplug.py").write_text(BAD_CELL)
    pm = PluginManager(autoload=False, plugin_paths=[folder], settings=_NoSettings())
    pm.load()
    assert "frozenplug>frozen" in pm.registry.cells
    return pm.registry


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_cell_that_does_not_export_is_refused_by_name(fmt, bad_registry, tmp_path):
    layers = [{"type": "Dense", "units": 3}, {"type": "RNN", "units": 4, "cell": "frozenplug>frozen"},
              {"type": "Dense", "units": 1}]
    project = _airline(bad_registry, layers, look_back=3)
    out = tmp_path / "bundle"
    with pytest.raises(ExportError) as info:
        export_project(project, bad_registry, out, fmt)
    err = info.value
    assert err.layer_index == 1
    assert "layer 2 (RNN, cell 'frozenplug>frozen'" in err.what
    assert "plugin" in (err.fix or "")
    assert not out.exists()
    assert not list(tmp_path.glob(".bundle.*"))  # no staging folder left behind


# -- the bundle as a folder ---------------------------------------------------------


def test_a_folder_with_other_files_is_refused_and_a_bundle_is_replaced(builtins, tmp_path):
    project = _airline(builtins)
    other = tmp_path / "taken"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SeqStudioError, match="not empty"):
        export_project(project, builtins, other, "onnx")
    assert (other / "notes.txt").read_text() == "mine"

    out = tmp_path / "bundle"
    export_project(project, builtins, out, "onnx")
    export_project(project, builtins, out, "torchscript")
    assert (out / "model.ts").is_file() and not (out / "model.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "taken"]


def test_a_failed_export_leaves_the_earlier_bundle_intact(builtins, tmp_path, monkeypatch):
    from seqstudio.core.export import bundle

    project = _airline(builtins)
    out = tmp_path / "bundle"
    export_project(project, builtins, out, "onnx")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):  # the runtime answers something else than the studio
        return lambda x: np.zeros((len(x), 1), dtype=np.float32) + 7.0

    monkeypatch.setattr(bundle, "load_runner", broken)
    with pytest.raises(ExportError, match="differ"):
        export_project(project, builtins, out, "onnx")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_export_needs_trained_weights(builtins, tmp_path):
    with pytest.raises(ExportError, match="no trained weights"):
        export_project(Project.from_preset("airline-lstm"), builtins, tmp_path / "b", "onnx")


# -- preprocessing.json against hand-computed values ---------------------------------


def test_series_preprocessing_holds_the_fitted_scaler_and_transforms(builtins, tmp_path):
    import pandas as pd

    from ...conftest import REPO

    project = _airline(builtins, [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}],
                       log=True, diff_lag=1, look_back=12)
    export_project(project, builtins, tmp_path / "b", "onnx")
    prep = json.loads((tmp_path / "b" / "preprocessing.json").read_text())
    s = prep["series"]
    assert prep["kind"] == "series"
    assert (s["log"], s["diff_lag"], s["look_back"], s["horizon"]) == (True, 1, 12, 1)
    assert s["target_columns"] == ["Passengers"] and s["time_step"] == "monthly"
    # The scaler by hand: min-max of the log-differences of the first int(143 * 0.67) values.
    values = pd.read_csv(REPO / "resources" / "airline-passengers.csv")["Passengers"].to_numpy(np.float64)
    diffs = np.diff(np.log(values))
    train = diffs[: int(len(diffs) * 0.67)]
    assert s["scaler"]["method"] == "minmax"
    assert s["scaler"]["center"] == pytest.approx([train.min()], abs=1e-15)
    assert s["scaler"]["scale"] == pytest.approx([train.max() - train.min()], abs=1e-15)
    assert s["last_time"].startswith("1960-12")
    ex = json.loads((tmp_path / "b" / "examples.json").read_text())
    assert np.asarray(ex["history"]).ravel() == pytest.approx(values)
    assert len(ex["forecast"]) == ex["steps"] == 12
    card = (tmp_path / "b" / "model-card.md").read_text()
    for part in ("## Data", "## Model", "## Metrics", "naive baseline", "## Self-check",
                 "## Versions", "torch", "onnxruntime"):
        assert part in card


def test_text_preprocessing_holds_the_vocabulary_cut_at_num_words(builtins, tmp_path):
    from seqstudio.core.data.text import Tokenizer

    project = _imdb(builtins, tmp_path, num_words=12)  # ids 4..11 (rank + 3): the 8 most frequent words
    export_project(project, builtins, tmp_path / "b", "onnx")
    t = json.loads((tmp_path / "b" / "preprocessing.json").read_text())["text"]
    # Word counts by hand over the training texts (those not held out: match the studio's split).
    data = project.prepare_data(builtins)
    counts: dict[str, int] = {}
    for text in data.texts["train"]:
        for token in Tokenizer().tokenize(text):
            counts[token] = counts.get(token, 0) + 1
    top = sorted(counts.values(), reverse=True)
    assert sorted(t["vocabulary"].values()) == list(range(4, 12))
    assert sorted(counts[w] for w in t["vocabulary"]) == sorted(top[:8])
    assert (t["pad_id"], t["start_id"], t["oov_id"], t["max_len"]) == (0, 1, 2, 24)
    assert (t["padding"], t["truncating"]) == ("pre", "pre")
    assert t["class_names"] == ["negative", "positive"]


def test_onnx_without_onnxruntime_says_what_to_install(builtins, tmp_path, monkeypatch):
    from seqstudio.core.export import formats

    monkeypatch.setattr(formats, "_importable", lambda name: name != "onnxruntime")
    project = _airline(builtins)
    with pytest.raises(SeqStudioError, match="onnxruntime") as info:
        export_project(project, builtins, tmp_path / "b", "onnx")
    assert "seqstudio[export]" in info.value.fix
    assert not (tmp_path / "b").exists()
    export_project(project, builtins, tmp_path / "b", "torchscript")  # needs torch only
