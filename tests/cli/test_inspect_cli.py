"""``seqstudio inspect``: arrays and pictures out, user errors as exit 2 with the flags named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqstudio import cli
from seqstudio.core.project import Project


@pytest.fixture(scope="module")
def airline_path(tmp_path_factory):
    from seqstudio.core.session import TrainingSession
    from seqstudio.pluginapi.manager import builtin_registry

    project = Project.from_preset("airline-lstm-seasonal")
    project.train["epochs"] = 1
    for _ in TrainingSession(project, builtin_registry()).run():
        pass
    return project.save(tmp_path_factory.mktemp("inspect") / "airline.json")


def test_window_to_npz_holds_every_gate_and_matches_the_model(airline_path, tmp_path, builtins, capsys):
    out = tmp_path / "gates.npz"
    assert cli.main(["inspect", "--project", str(airline_path), "--window", "2", "--layer", "1",
                     "--out", str(out)]) == 0
    assert "max |diff|" in capsys.readouterr().out
    arrays = np.load(out)
    assert {f"forward_{k}" for k in "ifgoch"} <= set(arrays.files)
    assert arrays["forward_f"].shape == (12, 16) and arrays["labels"].shape == (12,)
    project = Project.load(airline_path)
    data = project.prepare_data(builtins)
    model = project.build_model(data, builtins).eval()
    with torch.no_grad():
        last_h = model.layers[0](data.split("test")[0][2:3])[0].numpy()
    np.testing.assert_allclose(arrays["forward_h"][-1], last_h, atol=1e-6)
    assert float(arrays["max_abs_diff"]) <= 1e-6


def test_text_to_png(tmp_path, builtins, monkeypatch, capsys):
    from seqstudio.core.session import TrainingSession
    from tests.core.inspect.test_attribution import _tiny_text_project

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    project = _tiny_text_project(tmp_path)
    for _ in TrainingSession(project, builtins).run():
        pass
    path = project.save(tmp_path / "tiny.json")
    out = tmp_path / "gates.png"
    assert cli.main(["inspect", "--project", str(path), "--text", "wonderful superb film", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "P(positive) after the last token" in printed and "integrated gradients" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["--text", "a review"], ["--text is for text projects", "--window N"]),
    (["--window", "2", "--layer", "2"], ["--layer 2: layer 2 is not a recurrent layer", "--layer 1 (lstm)"]),
    (["--window", "2", "--layer", "9"], ["--layer 9: the model has 2 layers"]),
    (["--window", "999"], ["--window 999: the test set has", "pass --window from 0 to"]),
    ([], ["inspect needs an input", "--text", "--window N"]),
    (["--window", "1", "--out", "gates.txt"], ["--out 'gates.txt' must end in .npz", ".png"]),
])
def test_user_errors_exit_2_naming_the_flags(airline_path, tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["inspect", "--project", str(airline_path), *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "fix:" in err
    for word in words:
        assert word in err


def test_a_missing_project_and_both_inputs_are_refused(tmp_path, capsys):
    assert cli.main(["inspect", "--project", str(tmp_path / "none.json"), "--window", "1"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse: --text and --window exclude each other
        cli.main(["inspect", "--project", "p.json", "--text", "x", "--window", "1"])
    assert info.value.code == 2
