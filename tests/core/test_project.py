"""Project files: JSON + safetensors, atomic saves, clear messages for damaged files."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from seqstudio.core.errors import PluginError, ProjectError
from seqstudio.core.project import SCHEMA_VERSION, Project, resolve_data_path, weights_path
from seqstudio.core.registry import Registry


def _project_with_weights() -> Project:
    p = Project.from_preset("airline-lstm")
    g = torch.Generator().manual_seed(0)
    p.weights = {"0.w": torch.randn(16, 1, generator=g), "1.b": torch.randn(1, generator=g)}
    p.results = {"splits": {"test": {"rmse": 55.1, "loss": float("nan")}}}
    return p


def test_save_load_round_trip_keeps_config_and_weights(tmp_path):
    p = _project_with_weights()
    path = p.save(tmp_path / "air.json")
    assert path == tmp_path / "air.json"
    assert weights_path(path).is_file()
    q = Project.load(path)
    assert q.model == p.model and q.train == p.train and q.data_options == p.data_options
    assert set(q.weights) == set(p.weights)
    for k in p.weights:
        assert torch.equal(q.weights[k], p.weights[k])
    # NaN is not JSON: it is stored as null, and the file is strict JSON.
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["results"]["splits"]["test"]["loss"] is None


def test_the_optimizer_state_is_saved_beside_the_weights_and_loaded_back(tmp_path):
    from safetensors.torch import load_file

    p = _project_with_weights()
    p.optimizer_state = {"adam.0.exp_avg": torch.ones(16, 1), "adam.0.step": torch.tensor(7.0)}
    path = p.save(tmp_path / "air.json")
    assert set(load_file(weights_path(path))) == {"0.w", "1.b", "optimizer.adam.0.exp_avg",
                                                  "optimizer.adam.0.step"}
    q = Project.load(path)
    assert set(q.weights) == {"0.w", "1.b"}                  # the model's weights stay apart
    assert set(q.optimizer_state) == set(p.optimizer_state)
    for k, v in p.optimizer_state.items():
        assert torch.equal(q.optimizer_state[k], v)
    # without weights there is nothing for an optimizer state to go with
    q.weights = None
    q.save(tmp_path / "bare.json")
    assert Project.load(tmp_path / "bare.json").optimizer_state is None


def test_a_session_continued_from_a_saved_project_equals_one_longer_run(tmp_path):
    from seqstudio.core.session import TrainingSession
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()

    def project(epochs):
        p = Project.from_preset("airline-lstm")
        p.train = {**p.train, "epochs": epochs, "shuffle": False}
        return p

    torch.manual_seed(0)                                      # the same initial weights
    whole = TrainingSession(project(4), registry)
    once = [e.train_loss for e in whole.run() if type(e).__name__ == "EpochEnded"]
    torch.manual_seed(0)
    first = TrainingSession(project(2), registry)
    losses = [e.train_loss for e in first.run() if type(e).__name__ == "EpochEnded"]
    first.project.save(tmp_path / "half.json")
    second = TrainingSession(Project.load(tmp_path / "half.json"), registry)   # what `--project` does
    losses += [e.train_loss for e in second.run() if type(e).__name__ == "EpochEnded"]
    assert second.result.optimizer_resumed
    assert losses == pytest.approx(once, rel=1e-6)


def test_the_seed_setting_gives_the_same_initial_weights_and_losses_whatever_ran_before():
    from seqstudio.core.session import TrainingSession
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()

    def run(seed, noise):
        torch.rand(noise)  # other code drew random numbers before, as a window or a sweep does
        p = Project.from_preset("airline-lstm")
        p.train = {**p.train, "epochs": 2, "seed": seed}
        session = TrainingSession(p, registry)
        session.prepare()
        start = {k: v.clone() for k, v in session.model.state_dict().items()}
        losses = [e.train_loss for e in session.run() if type(e).__name__ == "EpochEnded"]
        return start, losses

    start_a, losses_a = run(0, 3)
    start_b, losses_b = run(0, 17)
    start_c, _ = run(1, 3)
    assert start_a.keys() == start_b.keys()
    assert all(torch.equal(start_a[k], start_b[k]) for k in start_a)
    assert losses_a == losses_b  # bit for bit on the CPU, as the seed option promises
    assert not all(torch.equal(start_a[k], start_c[k]) for k in start_a)
    # the caller's own generator is left where it was
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    Project.from_preset("airline-lstm").build_model(
        Project.from_preset("airline-lstm").prepare_data(registry), registry)
    assert torch.equal(torch.rand(3), expected)


def test_weights_are_safetensors_not_pickle(tmp_path):
    path = _project_with_weights().save(tmp_path / "p.json")
    blob = weights_path(path).read_bytes()
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + header_len])
    assert "0.w" in header and header["0.w"]["dtype"] == "F32"
    assert b"\x80\x04" not in blob[:2]  # no pickle protocol marker at the start


def test_failed_save_leaves_previous_project_intact(tmp_path, monkeypatch):
    p = _project_with_weights()
    path = p.save(tmp_path / "p.json")
    before = path.read_bytes(), weights_path(path).read_bytes()
    p.name = "changed"
    p.weights = {k: v + 1 for k, v in p.weights.items()}

    def boom(src, dst):
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ProjectError, match="cannot save the project: input/output error"):
        p.save(path)
    monkeypatch.undo()
    assert (path.read_bytes(), weights_path(path).read_bytes()) == before
    assert [f.name for f in tmp_path.iterdir() if f.suffix == ".tmp"] == []
    assert Project.load(path).name == "airline-lstm"


def test_damaged_json_names_line_and_fix(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "seqstudio-project",\n "schema_version": 1,\n oops}')
    with pytest.raises(ProjectError) as err:
        Project.load(path)
    assert "damaged" in str(err.value) and "line 3" in str(err.value)


def test_future_schema_version_asks_to_upgrade(tmp_path):
    path = _project_with_weights().save(tmp_path / "p.json")
    doc = json.loads(path.read_text())
    doc["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="newer seqstudio"):
        Project.load(path)


def test_not_a_project_and_missing_file(tmp_path):
    other = tmp_path / "x.json"
    other.write_text("[1, 2]")
    with pytest.raises(ProjectError, match="not a seqstudio project"):
        Project.load(other)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "nope.json")


def test_weights_checksum_mismatch_and_missing_weights(tmp_path):
    path = _project_with_weights().save(tmp_path / "p.json")
    other = _project_with_weights()
    other.weights = {k: v * 2 for k, v in other.weights.items()}
    other.save(tmp_path / "q.json")
    mine = weights_path(path)
    os.replace(weights_path(tmp_path / "q.json"), mine)
    with pytest.raises(ProjectError, match="does not belong"):
        Project.load(path)
    mine.unlink()
    with pytest.raises(ProjectError, match=f"weights file '{mine.name}' is missing"):
        Project.load(path)


def test_data_paths_are_stored_relative_and_resolved(tmp_path):
    csv = tmp_path / "data" / "s.csv"
    csv.parent.mkdir()
    csv.write_text("t,v\n1,2\n")
    (tmp_path / "proj").mkdir()
    p = Project.from_preset("airline-lstm")
    p.data_options["path"] = str(csv)
    path = p.save(tmp_path / "proj" / "p.json")
    assert json.loads(path.read_text())["data_options"]["path"] == os.path.join("..", "data", "s.csv")
    q = Project.load(path)
    assert os.path.samefile(q.resolved_data_options()["path"], csv)


def test_embedded_path_resolves_to_the_shipped_series():
    real = resolve_data_path("embedded:airline-passengers.csv")
    with open(real, encoding="utf-8") as fh:
        assert fh.readline().strip() == '"Month","Passengers"'


def test_missing_plugin_names_the_distribution():
    p = Project.from_preset("airline-lstm")
    p.source = "sines>mackey-glass"
    p.plugins = {"sines": "seqstudio-sines"}
    with pytest.raises(PluginError) as err:
        p.prepare_data(Registry())
    assert "seqstudio-sines" in str(err.value) and "install" in str(err.value)
