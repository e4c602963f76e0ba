"""Integrated gradients, the prediction after each token, and inspecting texts and windows."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from seqstudio.core.inspect import (
    InspectError,
    Inspector,
    integrated_gradients,
    predictions_after_each_token,
    score_function,
    token_attributions,
)
from seqstudio.core.model.spec import ModelSpec


def test_integrated_gradients_of_a_linear_score_are_weight_times_distance():
    """Hand-computed: for F(x) = w·x, IG_i = w_i (x_i - x'_i) exactly, with any number of steps."""
    w = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    x = torch.tensor([[1.0, 2.0], [4.0, -1.0]])
    base = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    ig, diff = integrated_gradients(lambda b: (b * w).sum(dim=(1, 2)), x, base, steps=3)
    assert ig.tolist() == [[2.0, -1.0], [2.0, -3.0]]
    assert diff == pytest.approx(0.0)  # 2 - 1 + 2 - 3


def test_integrated_gradients_of_a_product_split_it_evenly():
    """F(x) = x0 * x1 from 0 to (a, b): each feature gets a*b/2 (the integral of 2 α a b... by hand)."""
    x = torch.tensor([3.0, 4.0])
    ig, diff = integrated_gradients(lambda b: b[:, 0] * b[:, 1], x, torch.zeros(2), steps=2)
    np.testing.assert_allclose(ig.numpy(), [6.0, 6.0], atol=1e-5)
    assert diff == pytest.approx(12.0)


def _text_model(builtins, layers, max_len=12, vocab=30):
    torch.manual_seed(3)
    model = ModelSpec.from_dict([{"type": "Embedding", "input_dim": vocab, "output_dim": 8}, *layers,
                                 {"type": "Dense", "units": 1, "activation": "sigmoid"}]
                                ).build((max_len,), registry=builtins)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.8)
    return model


def test_token_attributions_are_complete_within_one_percent(builtins):
    model = _text_model(builtins, [{"type": "LSTM", "units": 6}])
    ids = torch.tensor([0, 0, 0, 1, 5, 9, 2, 17, 4, 22, 8, 3])
    att = token_attributions(model, ids, score_function(True))
    with torch.no_grad():
        p = float(model(ids.unsqueeze(0))[0, 0])
        p0 = float(model(torch.zeros(1, 12, dtype=torch.long))[0, 0])
    assert att.score == pytest.approx(p, abs=1e-6) and att.baseline_score == pytest.approx(p0, abs=1e-6)
    assert abs(att.per_token.sum() - (p - p0)) <= 0.01 * abs(p - p0)
    assert att.relative_gap <= 0.01
    assert np.all(att.per_token[:3] == 0)  # padding positions equal the baseline: nothing to attribute


def test_a_model_in_training_mode_is_inspected_as_evaluated_and_left_training(builtins):
    """Dropout must play no part: every number comes from the evaluated model."""
    model = _text_model(builtins, [{"type": "LSTM", "units": 6, "dropout": 0.5, "recurrent_dropout": 0.5},
                                   {"type": "Dropout", "rate": 0.5}])
    ids = torch.tensor([0, 1, 5, 9, 2, 17, 4, 22, 8, 3, 6, 7])
    model.train()
    found = Inspector(model)._text_ids(ids, [""] * 12, None, True, "ids")
    assert model.training
    model.eval()
    with torch.no_grad():
        p = float(model(ids.unsqueeze(0))[0, 0])
    assert found.attribution.score == pytest.approx(p, abs=1e-6)
    assert found.predictions[-1] == pytest.approx(p, abs=1e-6)


def test_prediction_after_each_token_is_the_model_on_each_prefix(builtins):
    stacked = [{"type": "GRU", "units": 5, "return_sequences": True}, {"type": "Dropout", "rate": 0.3},
               {"type": "LSTM", "units": 4}]
    ids = torch.tensor([0, 0, 1, 5, 9, 2, 17, 4, 22, 8, 3, 11])
    for layers in (stacked, [{"type": "LSTM", "units": 4, "bidirectional": True}]):
        model = _text_model(builtins, layers)
        got = predictions_after_each_token(model, ids, score_function(True))
        model.eval()
        with torch.no_grad():
            want = [float(model(ids[:t + 1].unsqueeze(0))[0, 0]) for t in range(len(ids))]
        np.testing.assert_allclose(got, want, atol=1e-6)


def _tiny_text_project(tmp_path):
    from seqstudio.core.project import Project

    rows = ["review,sentiment"]
    good, bad = ["great", "wonderful", "fine", "superb"], ["awful", "boring", "bad", "dull"]
    rng = np.random.default_rng(0)
    for k in range(80):
        words = rng.choice(good if k % 2 else bad, 4).tolist() + ["film", "the"]
        rows.append(f"{' '.join(rng.permutation(words))},{'positive' if k % 2 else 'negative'}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Project(name="tiny", source="text-csv",
                   data_options={"path": str(path), "text_col": "review", "label_col": "sentiment",
                                 "num_words": 40, "max_len": 10, "test_frac": 0.25},
                   model={"layers": [{"type": "Embedding", "input_dim": 40, "output_dim": 8},
                                     {"type": "LSTM", "units": 6},
                                     {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                   train={"epochs": 3, "batch_size": 16, "seed": 0, "loss": "binary_crossentropy"})


def test_inspector_on_a_trained_text_project(builtins, tmp_path):
    from seqstudio.core.session import TrainingSession

    project = _tiny_text_project(tmp_path)
    for _ in TrainingSession(project, builtins).run():
        pass
    inspector = Inspector.from_project(project, builtins)
    found = inspector.text("a wonderful superb film", layer=2)
    assert found.labels[found.first:] == ["<start>", "a?", "wonderful", "superb", "film"]
    assert found.stop == 10 and found.first == 5
    assert found.predictions is not None and len(found.predictions) == 10
    assert found.attribution is not None and found.attribution.relative_gap <= 0.01
    arrays = found.arrays()
    assert {"forward_f", "forward_c", "forward_h", "predictions", "attributions", "labels"} <= set(arrays)
    with pytest.raises(InspectError, match="not a recurrent layer"):
        inspector.text("fine", layer=1)

    with_data = Inspector.from_project(project, builtins, with_data=True)
    mistakes = with_data.confident_mistakes(k=5)
    confidences = [m.confidence for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(m.true_label != m.predicted_label for m in mistakes)
    review = with_data.test_item(0)
    assert review.title == with_data.data.texts["test"][0]


def test_inspector_on_a_series_window_labels_steps_with_dates_and_values(builtins):
    from seqstudio.core.project import Project

    project = Project.from_preset("airline-lstm-seasonal")
    data = project.prepare_data(builtins)
    inspector = Inspector(project.build_model(data, builtins), data=data)
    found = inspector.test_item(2)
    assert len(found.labels) == 12 and found.labels[0][:4].isdigit()
    # the window's values are the passenger counts of those months
    series = data.series.iloc[:, 0]
    assert re.fullmatch(r"\d{4}-\d\d", found.labels[0]), found.labels  # monthly: 1957-04
    np.testing.assert_allclose(found.values, series.loc[found.labels[0]:found.labels[-1]].to_numpy())
    with pytest.raises(InspectError, match="test window 999 does not exist"):
        inspector.test_item(999)


def test_a_multiclass_text_model_follows_its_predicted_class(builtins):
    torch.manual_seed(5)
    model = ModelSpec.from_dict([{"type": "Embedding", "input_dim": 30, "output_dim": 8},
                                 {"type": "GRU", "units": 5, "bidirectional": True},
                                 {"type": "Dense", "units": 3, "activation": "softmax"}]).build((8,), registry=builtins)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1.0)
    ids = torch.tensor([0, 0, 1, 4, 9, 12, 7, 3])
    found = Inspector(model)._text_ids(ids, [str(int(i)) for i in ids], None, True, "ids")
    with torch.no_grad():
        probs = model(ids.unsqueeze(0))[0]
    target = int(probs.argmax())
    assert found.prediction_name == f"P(class {target})"
    assert found.predictions[-1] == pytest.approx(float(probs[target]), abs=1e-6)
    assert found.attribution.relative_gap <= 0.01
    assert len(found.trace.directions) == 2
