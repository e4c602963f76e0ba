"""``seqstudio export``: a bundle from a saved project, and user errors as exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqstudio.cli import main

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One trained project for every test here (they only read it)."""
    path = tmp_path_factory.mktemp("project") / "air.json"
    assert main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--save", str(path)]) == 0
    return path


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_writes_a_checked_bundle(saved, tmp_path, capsys, fmt):
    capsys.readouterr()
    out = tmp_path / "bundle"
    assert main(["export", "--project", str(saved), "--format", fmt, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "self-check" in text and "tolerance 1e-05" in text
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["model"]["format"] == fmt and (out / prep["model"]["file"]).is_file()
    examples = np.load(out / "examples.npz")
    assert examples["input"].shape[1:] == (1, 1) and examples["output"].shape[1:] == (1,)


@pytest.mark.parametrize(("argv", "words"), [
    (["export", "--out", "x"], "--project"),
    (["export", "--project", "{saved}"], "--out"),
    (["export", "--project", "{missing}", "--out", "x"], "missing.json"),
    (["export", "--project", "{untrained}", "--out", "{tmp}/b"], "no trained weights"),
    (["export", "--project", "{saved}", "--out", "{saved}"], "not a folder"),
])
def test_export_user_errors_exit_2_without_traceback(argv, words, saved, tmp_path, capsys):
    from seqstudio.core.project import Project

    untrained = tmp_path / "untrained.json"
    Project.from_preset("airline-lstm").save(untrained)
    values = {"saved": saved, "missing": tmp_path / "missing.json", "untrained": untrained, "tmp": tmp_path}
    capsys.readouterr()
    assert main([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_layer_that_does_not_export_is_named_on_the_command_line(tmp_path, capsys, monkeypatch,
                                                                  request):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    from ..core.export.test_export import BAD_CELL

    (plugins / "frozenplug.py").write_text(BAD_CELL)
    monkeypatch.setenv("SEQSTUDIO_PLUGIN_PATH", str(plugins))
    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    from seqstudio.pluginapi.manager import reset_default_manager

    reset_default_manager()
    request.addfinalizer(reset_default_manager)
    project = tmp_path / "p.json"
    rc = main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--look-back", "3",
               "--layers", "RNN(4, cell='frozenplug>frozen'), Dense(1)", "--save", str(project)])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["export", "--project", str(project), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "layer 1 (RNN, cell 'frozenplug>frozen'" in err and "does not export to onnx" in err
    assert "Traceback" not in err and not (tmp_path / "b").exists()


def test_netron_opens_the_exported_model(saved, tmp_path, capsys, monkeypatch):
    import importlib.machinery
    import sys
    import types

    calls: list[tuple] = []
    netron = types.ModuleType("netron")  # the real one serves the file and opens a browser
    netron.__spec__ = importlib.machinery.ModuleSpec("netron", None)
    netron.start = lambda file=None, address=None, browse=True: calls.append(("start", file))
    netron.wait = lambda: calls.append(("wait",))
    monkeypatch.setitem(sys.modules, "netron", netron)
    out = tmp_path / "bundle"
    assert main(["export", "--project", str(saved), "--out", str(out), "--netron"]) == 0
    assert calls == [("start", str(out / "model.onnx")), ("wait",)]
    assert "Netron shows the model" in capsys.readouterr().out


def test_netron_missing_is_said_before_exporting(saved, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "netron", None)  # not importable
    capsys.readouterr()
    out = tmp_path / "bundle"
    assert main(["export", "--project", str(saved), "--out", str(out), "--netron"]) == 2
    err = capsys.readouterr().err
    assert "--netron needs the netron package" in err and "pip install netron" in err
    assert "Traceback" not in err and not out.exists()
