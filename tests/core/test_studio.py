"""The studio document without a window: state, derived flags, events and use cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqstudio.core.errors import DataError
from seqstudio.core.project import Project
from seqstudio.core.studio import StudioDocument


def _document(registry, preset: str = "airline-lstm") -> tuple[StudioDocument, list]:
    """A document on ``preset`` with its data prepared, and a log of every event it emits."""
    doc = StudioDocument(registry, Project.from_preset(preset))
    log: list = []
    doc.events.connect(lambda info: log.append((info.signal.name, info.args)))
    _prepare(doc)
    return doc, log


def _prepare(doc: StudioDocument) -> None:
    """What the data panel does: prepare the data from the document's settings."""
    source = doc.registry.source(doc.source_key)
    options = dict(doc.data_options)
    from seqstudio.core.project import resolve_data_path

    options["path"] = resolve_data_path(options.get("path") or "")
    doc.set_data(source.load(options))


def _names(log) -> list[str]:
    return [name for name, _ in log]


def _train(doc: StudioDocument, *, continue_run: bool = False, epochs: int = 1):
    from seqstudio.core.train.events import Finished
    from seqstudio.core.train.loop import train

    doc.set_train_config({**doc.train, "epochs": epochs})
    plan = doc.start_run(continue_run)
    result = None
    for event in train(plan.model, plan.data, plan.config, start_epoch=plan.start_epoch,
                       optimizer_state=plan.optimizer_state):
        if isinstance(event, Finished):
            result = event.result
    doc.finish_run(result)
    doc.end_run()
    return result


def test_a_new_document_holds_the_project_unmodified_and_trainable_once_data_is_there(registry):
    doc = StudioDocument(registry, Project.from_preset("airline-lstm"))
    assert not doc.modified
    assert doc.trainable == (False, "load data first")
    _prepare(doc)
    assert doc.trainable == (True, "")
    assert doc.check.valid and doc.check.summary.total_params == 101   # the lecture's LSTM(4)


def test_every_status_follows_the_state_it_is_derived_from(registry):
    from seqstudio.core.model.layers import LSTM, Dense
    from seqstudio.core.model.spec import ModelSpec

    doc, log = _document(registry)
    doc.set_data_busy(True)
    assert doc.trainable == (False, "the data is still being prepared")
    doc.set_data(None, DataError("no such file", where="x.csv", fix="choose another file"))
    assert doc.trainable == (False, "no such file (at x.csv)")       # the first line of the error
    _prepare(doc)
    assert doc.trainable == (True, "")
    doc.set_model_spec(ModelSpec([LSTM(units=4, return_sequences=True), LSTM(units=4),
                                  Dense(units=1)]))
    assert doc.trainable[0] and doc.check.valid
    doc.set_model_spec(ModelSpec([LSTM(units=4), LSTM(units=4), Dense(units=1)]))
    assert not doc.trainable[0] and doc.check.error_index == 1       # the layer at fault
    doc.set_model_spec(ModelSpec([LSTM(units=4), Dense(units=1)]))
    assert doc.trainable == (True, "")                               # the old reason is gone
    assert ("trainable", (True, "")) in log


def test_the_modified_mark_compares_settings_with_the_saved_ones(registry, tmp_path):
    doc, log = _document(registry)
    original = dict(doc.train)
    doc.set_train_config({**original, "epochs": 7})
    assert doc.modified
    doc.set_train_config(original)                                    # edited back: nothing to save
    assert not doc.modified
    assert [a for n, a in log if n == "modified"] == [(True,), (False,)]
    doc.set_train_config({**original, "epochs": 7})
    doc.save(tmp_path / "mine.json")
    assert not doc.modified and doc.project.name == "mine"
    assert Project.load(tmp_path / "mine.json").train["epochs"] == 7


def test_a_finished_run_is_recorded_once_with_its_metrics_weights_and_epochs(registry, tmp_path):
    from seqstudio.core.session import metrics_report

    doc, log = _document(registry)
    result = _train(doc, epochs=2)
    assert doc.modified and doc.has_weights and doc.epochs_trained == 2
    [record] = doc.project.runs
    assert record["epochs_run"] == 2 and record["has_weights"]
    for name, value in doc.project.run_weights[record["id"]].items():
        assert torch.equal(value, doc.model.state_dict()[name])
    report = metrics_report(doc.model, doc.data, doc.train_config(), result)
    assert doc.project.results["splits"] == report["splits"]
    assert doc.project.results["epochs_total"] == 2
    assert {"running", "run_finished", "runs", "results"} <= set(_names(log))
    assert doc.results.predictions["test"][1].shape[0] == len(doc.data.split("test")[0])

    result = _train(doc, continue_run=True, epochs=1)                 # numbers on from the weights
    assert doc.epochs_trained == 3 and doc.project.runs[-1]["start_epoch"] == 2
    assert result.history[0]["epoch"] == 3


def test_continuing_a_run_takes_its_weights_and_the_epoch_it_ended_at(registry):
    doc, _ = _document(registry)
    _train(doc, epochs=2)
    first = doc.project.runs[0]
    kept = {k: v.clone() for k, v in doc.project.run_weights[first["id"]].items()}
    _train(doc, epochs=1)
    started: list = []
    assert doc.continue_from_run(first, start=lambda: started.append(doc.epochs_trained))
    assert started == [2]
    for name, value in doc.model.state_dict().items():
        assert torch.equal(value, kept[name])


def test_a_run_without_kept_weights_reports_why_it_cannot_continue(registry):
    doc, log = _document(registry)
    assert not doc.continue_from_run({"id": "nope", "model": {}, "source": "csv-series"})
    [(name, (report,))] = [(n, a) for n, a in log if n == "error"]
    assert "has no saved weights" in report.text and report.error.fix


def test_changing_the_stack_after_training_drops_the_weights_from_the_save(registry, tmp_path):
    from seqstudio.core.model.layers import GRU, Dense
    from seqstudio.core.model.spec import ModelSpec

    doc, _ = _document(registry)
    _train(doc)
    doc.set_model_spec(ModelSpec([GRU(units=3), Dense(units=1)]))
    assert not doc.has_weights
    doc.save(tmp_path / "p.json")
    assert Project.load(tmp_path / "p.json").weights is None


def test_an_opened_project_gets_its_weights_when_its_data_arrives(registry, tmp_path):
    doc, _ = _document(registry)
    _train(doc)
    doc.save(tmp_path / "p.json")
    other = StudioDocument(registry, Project.from_preset("airline-lstm"))
    other.set_data_busy(True)                                          # a background load
    other.adopt_project(Project.load(tmp_path / "p.json"))
    assert other.model is None
    _prepare(other)
    assert other.has_weights and other.epochs_trained == 1 and not other.modified
    for name, value in other.model.state_dict().items():
        assert torch.equal(value, doc.model.state_dict()[name])


def test_an_action_waiting_for_data_is_dropped_when_the_settings_change(registry):
    doc, _ = _document(registry)
    called: list = []
    doc.set_data_busy(True)
    doc.when_data_ready(called.append)
    doc.set_data_settings(doc.source_key, {**doc.data_options, "look_back": 3})
    _prepare(doc)
    assert called == []


def test_autosave_only_with_unsaved_changes_and_never_during_a_run(registry):
    class Store:
        def __init__(self):
            self.saved = []

        def save(self, project, original_path=None):
            self.saved.append(project.train["epochs"])
            return "copy"

    doc, _ = _document(registry)
    store = Store()
    assert doc.autosave(store) is None                                 # nothing to save
    doc.set_train_config({**doc.train, "epochs": 9})
    doc.start_run()
    assert doc.autosave(store) is None                                 # a run owns the state
    doc.end_run()
    assert doc.autosave(store) == "copy" and store.saved == [9]


def test_a_failed_autosave_is_reported_not_raised(registry):
    class Broken:
        def save(self, project, original_path=None):
            raise OSError("disk full")

    doc, log = _document(registry)
    doc.set_train_config({**doc.train, "epochs": 9})
    assert doc.autosave(Broken()) is None
    [report] = [a[0] for n, a in log if n == "error"]
    assert report.doing == "autosaving" and isinstance(report.error, OSError)


def test_a_preset_replaces_layers_settings_and_data_source(registry):
    doc, log = _document(registry)
    doc.apply_preset("airline-lstm-seasonal")
    assert doc.data_options["look_back"] == 12
    assert "model_spec" in _names(log) and "data_settings" in _names(log)
    assert doc.project.data_options["look_back"] == 12                # the project is the document's


def _review_csv(path) -> str:
    import pandas as pd

    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "lovely", "superb"], ["awful", "dull", "poor", "bad"]
    rows = []
    for i in range(120):
        positive = i % 2
        words = rng.choice(good if positive else bad, size=5).tolist() + ["film"]
        rows.append({"review": " ".join(words), "sentiment": "positive" if positive else "negative"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_text_results_carry_the_config_for_probabilities(registry, tmp_path):
    from seqstudio.core.model.layers import Dense, Embedding, GlobalAveragePooling1D
    from seqstudio.core.model.spec import ModelSpec

    doc = StudioDocument(registry, Project.from_preset("imdb-lstm"))
    doc.set_data_settings("builtins>text-csv", {**doc.data_options, "max_len": 8, "num_words": 50,
                                                "path": _review_csv(tmp_path / "reviews.csv")})
    _prepare(doc)
    doc.set_model_spec(ModelSpec([Embedding(input_dim=50, output_dim=4), GlobalAveragePooling1D(),
                                  Dense(units=1, activation="sigmoid")]))
    assert doc.trainable == (True, "")
    _train(doc)
    assert doc.results.predictions is None and doc.results.config == doc.train_config()
    assert np.isfinite(doc.results.metrics["train"]["accuracy"])   # (no test file given)


def test_events_are_plain_callbacks_without_qt():
    import sys

    assert not any(name.startswith("PySide6") for name in sys.modules if "studio" in name)
    from seqstudio.core import studio

    assert "PySide6" not in studio.__dict__


@pytest.mark.parametrize("busy", [True, False])
def test_set_data_busy_is_announced_on_the_data_event(registry, busy):
    doc, log = _document(registry)
    log.clear()
    doc.set_data_busy(busy)
    assert (_names(log)[:1] == ["data"]) is busy
