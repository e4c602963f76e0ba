"""The window and the core used to keep their own copies of a few rules, and the copies drifted.

Each test drives the window (or the CLI's code path) and checks the outcome against the
core's own rule computed independently; each failed before the window was built on the
studio document.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from PySide6.QtCore import Qt

from seqstudio.core.project import Project

RUN_TIMEOUT_MS = 120_000


def _train_and_wait(qtbot, window, epochs: int = 1) -> None:
    window.train_panel.form.set_values({"epochs": epochs})
    window.train_panel.form.changed.emit(window.train_panel.form.values())
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.train_panel.train_button, Qt.MouseButton.LeftButton)


def test_a_window_trained_project_names_the_plugins_it_uses(qtbot, window, registry, tmp_path):
    """(a) The CLI noted the plugins a project uses; the window never did."""
    airline = registry.source("csv-series")
    registry.add_source("demo", replace(airline, name="airline-copy", key="", plugin=""))
    registry.distributions["demo"] = "seqstudio-demo"
    window.set_registry(registry)
    window.data_panel.set_source("demo>airline-copy", window.data_panel.options())
    assert window.data_panel.wait_ready() and window.data is not None
    _train_and_wait(qtbot, window)
    window.save_project(tmp_path / "p.json")
    assert Project.load(tmp_path / "p.json").plugins == {"demo": "seqstudio-demo"}


def test_a_run_without_final_metrics_gets_them_as_from_the_cli(qtbot, window, monkeypatch, tmp_path):
    """(b) One metrics report: the window skipped the splits a run did not report."""
    import seqstudio.core.train.events as events
    import seqstudio.core.train.loop as loop
    from seqstudio.core.train.evaluate import evaluate

    real = loop.train

    def without_metrics(*args, **kwargs):
        for event in real(*args, **kwargs):
            if isinstance(event, events.Finished):
                event.result.metrics = {}
            yield event

    monkeypatch.setattr(loop, "train", without_metrics)
    monkeypatch.setenv("SEQSTUDIO_TRAIN_IN_PROCESS", "1")  # the fake runs in this process
    _train_and_wait(qtbot, window)
    window.save_project(tmp_path / "p.json")
    splits = Project.load(tmp_path / "p.json").results["splits"]
    expected = evaluate(window.model, window.data, "test", config=window.train_panel.config())
    assert splits["test"]["rmse"] == pytest.approx(expected["rmse"])
    assert set(splits) == {"train", "test"}


def test_continuing_an_old_run_record_numbers_on_from_its_history():
    """(b) One epoch arithmetic: a record without epochs_run ended after its history."""
    project = Project.from_preset("airline-lstm")
    run = {"id": "r1", "start_epoch": 3, "history": [{"epoch": 4}, {"epoch": 5}], "model": project.model}
    project.run_weights["r1"] = {"w": torch.zeros(1)}
    project.restore_run(run, with_weights=True)
    assert project.results["epochs_total"] == 5


class _Reviews:
    """Just what the Results tab's review box needs of text data."""

    class_names = ["negative", "positive"]

    def encode_texts(self, texts):
        return torch.ones(len(texts), 3, dtype=torch.long)

    def length_histogram(self):
        return np.zeros(1), np.zeros(2)


def test_a_model_ending_in_softmax_is_not_given_a_second_one(qtbot):
    """(c) One rule from outputs to probabilities: the review box applied softmax to anything."""
    from seqstudio.gui.results_panel import ResultsPanel

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.Flatten(), torch.nn.Linear(12, 2),
                                torch.nn.Softmax(dim=-1))
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show_text(model, _Reviews(), {})
    panel.review_edit.setPlainText("a fine film")
    panel.score_review()
    with torch.no_grad():
        probs = model(torch.ones(1, 3, dtype=torch.long))[0].numpy()   # already probabilities
    best = int(probs.argmax())
    assert panel.review_result.text() == f"{_Reviews.class_names[best]}: {probs[best]:.3f}"


def test_predict_turns_a_logits_model_into_probabilities(registry, tmp_path):
    """(c) `seqstudio predict --text` reported a logits model's raw score as its probability."""
    from seqstudio.core.session import TrainingSession, predict_project

    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "lovely"], ["awful", "dull", "poor"]
    rows = [{"review": " ".join(rng.choice(good if i % 2 else bad, size=4)),
             "sentiment": "positive" if i % 2 else "negative"} for i in range(80)]
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    project = Project.from_preset("imdb-lstm")
    project.data_options = {**project.data_options, "path": str(tmp_path / "r.csv"), "max_len": 6,
                            "num_words": 30}
    project.model = {"layers": [{"type": "Embedding", "input_dim": 30, "output_dim": 4},
                                {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}]}
    project.train = {**project.train, "epochs": 2, "loss": "bce", "from_logits": True}
    session = TrainingSession(project, registry)
    for _ in session.run():
        pass
    frame = predict_project(project, registry, texts=["great fine film", "awful dull film"])
    x = session.data.encode_texts(["great fine film", "awful dull film"])
    with torch.no_grad():
        logits = session.model.eval()(x).reshape(-1).numpy()
    np.testing.assert_allclose(frame["probability"], np.round(1 / (1 + np.exp(-logits)), 4), atol=1e-4)


def test_every_value_the_train_form_allows_is_a_valid_setting(window):
    """(d) The form's limits came from a guess (momentum up to 1e6, learning rate down to 0)."""
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

    from seqstudio.core.train.config import LOSSES, OPTIMIZERS, TrainConfig

    form = window.train_panel.form
    for option in form.options:
        widget = form.widget(option.name)
        if isinstance(widget, QAbstractSpinBox):
            for value in (widget.minimum(), widget.maximum()):
                form.set_values({option.name: value})
                config = window.train_panel.config()          # raises if the form allowed a bad value
                assert isinstance(config, TrainConfig)
            form.set_values({option.name: TrainConfig().to_dict()[option.name]})
    assert form.widget("momentum").maximum() < 1 and form.widget("learning_rate").minimum() > 0
    combo = form.widget("optimizer")
    assert isinstance(combo, QComboBox)
    assert tuple(combo.itemData(i) for i in range(combo.count())) == OPTIMIZERS
    loss = form.widget("loss")
    assert tuple(loss.itemData(i) for i in range(loss.count())) == LOSSES


def test_the_train_status_follows_the_document_in_every_transition(qtbot, window, tmp_path):
    """The Train tab's reason is the document's, derived from the current state each time."""
    from seqstudio.core.model.layers import LSTM, Dense
    from seqstudio.core.model.spec import ModelSpec

    status, button = window.train_panel.status_label, window.train_panel.train_button
    assert button.isEnabled() and not status.text().startswith("Cannot train")
    window.model_editor.set_model_spec(ModelSpec([LSTM(units=4), LSTM(units=4), Dense(units=1)]))
    assert not button.isEnabled() and "return_sequences" in status.text()
    assert window.document.trainable == (False, window.model_editor.reason)
    window.model_editor.set_model_spec(ModelSpec([LSTM(units=4), Dense(units=1)]))
    assert button.isEnabled() and status.text() == ""                    # the old reason is gone
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n")
    window.open_data_file(str(bad))
    assert window.data_panel.wait_ready()
    assert not button.isEnabled() and status.text() == f"Cannot train: {window.document.trainable[1]}"
    assert window.document.trainable[1] == window.data_panel.error.splitlines()[0]
    window.undo_stack.undo()                                              # back to the airline file
    assert window.data_panel.wait_ready()
    qtbot.waitUntil(lambda: window.data is not None, timeout=10_000)
    assert button.isEnabled() and status.text() == ""
