"""The torch-free runtime (``runtime/seqstudio_runtime``) against seqstudio itself.

The runtime shares no code with seqstudio: its tokenizer, padding, scaling and
differencing are written again from ``preprocessing.json``. These tests hold it
to seqstudio's own tokenizer and vocabulary, to the studio's forecasts, and to
the studio's text predictions; one runs it in a process where importing torch
fails.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqstudio.core.data.text import TextEncoder as StudioEncoder
from seqstudio.core.data.text import Tokenizer, Vocabulary
from seqstudio.core.export import export_project
from seqstudio.core.export.preprocessing import _text_part
from seqstudio.core.train.evaluate import predict

from ...conftest import REPO
from .test_export import _airline, _imdb

pytest.importorskip("onnxruntime")
RUNTIME = REPO / "runtime"


@pytest.fixture(scope="module")
def rt():
    sys.path.insert(0, str(RUNTIME))
    try:
        import seqstudio_runtime

        yield seqstudio_runtime
    finally:
        sys.path.remove(str(RUNTIME))


# -- text: the same ids as seqstudio's tokenizer and vocabulary ------------------------

TRICKY = ["It's GREAT,really.", "A great film!<br /><br />Loved it.", "don't__stop 'quoted' o'neil's",
          "  spaces\tand\nnewlines  ", "Ünïcödé ÇAFÉ naïve — dash…", "<BR/>x<br>y< br / >z", "",
          "emoji 🙂🙂 and 数字 123,456.78", "under_score _lead trail_", "rock'n'roll ''double''"]
_alphabet = st.sampled_from(list("aBz09 '_-,.!?<>/\t\nÉéß数🙂") + ["<br />", "<BR>", "n't", "'s"])
texts = st.lists(_alphabet, max_size=40).map("".join)


def _settings():
    for level in ("word", "char"):
        for punctuation in ("split", "drop"):
            for lowercase in (True, False):
                for strip_html in (True, False):
                    yield Tokenizer(level=level, lowercase=lowercase, strip_html=strip_html,
                                    punctuation=punctuation)


@settings(max_examples=60, deadline=None)
@given(text=texts)
def test_runtime_tokenizer_equals_seqstudios_on_any_text(rt, text):
    for tokenizer in _settings():
        spec = {"tokenizer": tokenizer.to_dict(), "vocabulary": {}, "max_len": 5}
        assert rt.TextEncoder(spec).tokenize(text) == tokenizer.tokenize(text)


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("max_len", [0, 1, 4, 30])
@pytest.mark.parametrize("level", ["word", "char"])
def test_runtime_ids_equal_seqstudios_encoder(rt, padding, truncating, max_len, level):
    tokenizer = Tokenizer(level=level)
    vocab = Vocabulary.fit(TRICKY[:6], tokenizer, num_words=12)
    studio = StudioEncoder(vocab, max_len, padding, truncating, ["negative", "positive"])
    spec = _text_part(studio.fitted_state())
    got = rt.TextEncoder(json.loads(json.dumps(spec))).encode(TRICKY)
    np.testing.assert_array_equal(got, studio.encode_texts(TRICKY).numpy())


# -- series: the studio's forecast, transforms inverted ---------------------------------


@pytest.mark.parametrize("data_options", [{}, {"log": True, "diff_lag": 1, "look_back": 12},
                                          {"diff_lag": 12, "look_back": 3, "scaling": "standard"}])
def test_forecast_equals_the_studios_with_transforms_inverted(rt, builtins, tmp_path, data_options):
    project = _airline(builtins, [{"type": "LSTM", "units": 8}, {"type": "Dense", "units": 1}],
                       **data_options)
    export_project(project, builtins, tmp_path / "b", "onnx")
    data = project.prepare_data(builtins)
    model = project.build_model(data, builtins)
    _, expected = data.forecast(lambda x: predict(model, torch.as_tensor(x)), 24)
    history = data.series["Passengers"].to_numpy()
    predictor = rt.Predictor.from_bundle(tmp_path / "b")
    got = predictor.forecast(history, 24)
    assert got.shape == (24, 1)
    # float32 kernels of two libraries sum in different orders: agree to 1e-5 relative
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0)
    # the first steps need only the last look_back + diff_lag values
    s = predictor.preprocessing["series"]
    short = predictor.forecast(history[-s["history_needed"]:], 24)
    np.testing.assert_allclose(short, got, rtol=1e-12)
    examples = json.loads((tmp_path / "b" / "examples.json").read_text())
    np.testing.assert_allclose(predictor.forecast(examples["history"], examples["steps"]),
                               examples["forecast"], rtol=1e-5)


def test_forecast_refuses_bad_history_with_the_reason(rt, builtins, tmp_path):
    project = _airline(builtins, None, log=True, diff_lag=1, look_back=3)
    export_project(project, builtins, tmp_path / "b", "onnx")
    p = rt.Predictor.from_bundle(tmp_path / "b")
    with pytest.raises(rt.BundleError, match="at least 4"):
        p.forecast([100.0, 110.0, 120.0], 2)
    with pytest.raises(rt.BundleError, match="positive"):
        p.forecast([100.0, -1.0, 120.0, 130.0], 2)
    with pytest.raises(rt.BundleError, match="text needs a text model"):
        p.predict_text(["hello"])


def test_only_onnx_bundles_run_and_other_folders_are_named(rt, builtins, tmp_path):
    project = _airline(builtins)
    export_project(project, builtins, tmp_path / "ts", "torchscript")
    with pytest.raises(rt.BundleError, match="--format onnx"):
        rt.Predictor.from_bundle(tmp_path / "ts")
    with pytest.raises(rt.BundleError, match="not a seqstudio export"):
        rt.Predictor.from_bundle(tmp_path)


# -- text: the studio's labels and probabilities -------------------------------------------


def test_predict_text_equals_the_studio(rt, builtins, tmp_path):
    project = _imdb(builtins, tmp_path)
    export_project(project, builtins, tmp_path / "b", "onnx")
    reviews = TRICKY + ["a wonderful film, truly great", "the worst film i have seen " * 10]
    from seqstudio.core.data.text import PreparedText

    encoder = PreparedText.from_fitted_state(project.fitted)
    data = project.prepare_data(builtins)
    model = project.build_model(data, builtins)
    expected = predict(model, encoder.encode_texts(reviews))[:, 0]
    got = rt.Predictor.from_bundle(tmp_path / "b").predict_text(reviews)
    np.testing.assert_allclose(got.probabilities, expected, rtol=0, atol=1e-5)
    assert got.labels == [["negative", "positive"][int(p >= 0.5)] for p in expected]


def test_the_runtime_runs_where_torch_cannot_be_imported(builtins, tmp_path):
    project = _airline(builtins)
    export_project(project, builtins, tmp_path / "b", "onnx")
    script = (
        "import sys, json\n"
        "sys.modules['torch'] = None; sys.modules['seqstudio'] = None\n"
        f"sys.path.insert(0, {str(RUNTIME)!r})\n"
        "from seqstudio_runtime import Predictor\n"
        f"p = Predictor.from_bundle({str(tmp_path / 'b')!r})\n"
        f"ex = json.load(open({str(tmp_path / 'b' / 'examples.json')!r}))\n"
        "print(json.dumps(p.forecast(ex['history'], 3).ravel().tolist()))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    examples = json.loads((tmp_path / "b" / "examples.json").read_text())
    np.testing.assert_allclose(json.loads(out.stdout), np.ravel(examples["forecast"])[:3], rtol=1e-5)
