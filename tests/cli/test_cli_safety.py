"""The CLI under bad paths and hostile input: checked before training, nothing lost, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqstudio.cli import main
from seqstudio.core.project import Project, weights_path


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A one-epoch airline project, saved."""
    path = tmp_path_factory.mktemp("trained") / "air.json"
    assert main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--save", str(path)]) == 0
    return path


# --------------------------------------------------------------------------- output paths
@pytest.mark.parametrize("flag", ["--save", "--metrics-out"])
def test_a_bad_output_path_is_refused_before_training(tmp_path, capsys, monkeypatch, flag):
    import seqstudio.core.session as session

    monkeypatch.setattr(session.TrainingSession, "run",
                        lambda *a, **k: pytest.fail("trained although the output path is bad"))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "d.json").mkdir()
    for bad in (tmp_path / "no" / "dir" / "x.json", tmp_path / "afile" / "x.json", tmp_path / "d.json"):
        assert main(["train", "--preset", "airline-lstm", "-q", flag, str(bad)]) == 2
        err = _error(capsys)
        assert err.startswith("seqstudio: error:") and flag in err and "fix:" in err
    assert not (tmp_path / "no").exists()  # no folder tree created behind the user's back


def test_the_model_is_saved_before_the_metrics_are_written(tmp_path, capsys, monkeypatch):
    import seqstudio.cli as cli

    def full_disk(value, flag, text):
        raise cli.SeqStudioError(f"{flag}: cannot write {value!r}: No space left on device")

    monkeypatch.setattr(cli, "_write_output", full_disk)
    proj = tmp_path / "p.json"
    rc = main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--save", str(proj),
               "--metrics-out", str(tmp_path / "m.json")])
    assert rc == 2 and "--metrics-out" in _error(capsys)
    assert Project.load(proj).weights  # the trained model is not lost


def test_predict_out_into_a_missing_folder_is_a_message(trained, tmp_path, capsys):
    assert main(["predict", "--project", str(trained), "--out", str(tmp_path / "no" / "f.csv")]) == 2
    assert "--out" in _error(capsys)


# --------------------------------------------------------------------------- point 13
def test_a_nan_loss_exits_2_with_an_error_line_and_keeps_the_good_weights(tmp_path, capsys):
    csv = tmp_path / "huge.csv"
    csv.write_text("t,v\n" + "".join(f"{i},{(i % 7 + 1) * 1e200}\n" for i in range(40)))
    proj = tmp_path / "p.json"
    rc = main(["train", "--csv", str(csv), "--target", "v", "--date-col", "none", "--scaling", "none",
               "--epochs", "3", "-q", "--save", str(proj)])
    err = _error(capsys)
    assert rc == 2
    assert "seqstudio: error: training stopped at epoch 1" in err and "--lr" in err
    assert Project.load(proj).weights  # the last good (finite) weights were saved


def test_a_seed_out_of_range_names_the_flag(capsys):
    assert main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q",
                 "--seed", str(10 ** 23)]) == 2
    err = _error(capsys)
    assert "--seed" in err and "4294967295" in err


def test_predict_on_a_text_project_without_text_says_what_to_give(tmp_path, capsys):
    p = Project.from_preset("imdb-lstm")
    p.fitted = {"vocabulary": {}, "tokenizer": {}}
    path = p.save(tmp_path / "t.json")
    assert main(["predict", "--project", str(path)]) == 2
    assert "--text" in _error(capsys)


def test_predict_text_on_a_series_project_says_it_is_a_series(trained, capsys):
    assert main(["predict", "--project", str(trained), "--text", "hello"]) == 2
    err = _error(capsys)
    assert "time series" in err and "--steps" in err and "damaged" not in err


def test_predict_steps_is_bounded(trained, capsys):
    assert main(["predict", "--project", str(trained), "--steps", "100000000"]) == 2
    assert "--steps must be from 1 to" in _error(capsys)


@pytest.mark.parametrize("content", [b"\xff\xfe{\x00", b'{"plugins": 5', b'{"plugins": {"disabled": 5}}'])
def test_a_damaged_settings_file_does_not_stop_commands(tmp_path, monkeypatch, capsys, content):
    from seqstudio.pluginapi import manager

    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(manager, "_default", None)
    (tmp_path / "settings.json").write_bytes(content)
    assert main(["layers", "list"]) == 0
    _error(capsys)


# --------------------------------------------------------------------------- crafted projects
def test_crafted_projects_exit_2_through_every_command(trained, tmp_path, capsys):
    doc = json.loads(trained.read_text())
    doc["runs"] = ["x", 5]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    for argv in (["predict", "--project", str(bad)], ["train", "--project", str(bad), "-q"],
                 ["summary", "--project", str(bad)]):
        assert main(argv) == 2
        assert "runs[0]" in _error(capsys)


def test_a_dev_zero_data_path_is_refused(trained, tmp_path, capsys):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    doc = json.loads(trained.read_text())
    doc["data_options"]["path"] = "/dev/zero"
    bad = tmp_path / "zero.json"
    bad.write_text(json.dumps(doc))
    os.link(weights_path(trained), tmp_path / weights_path(trained).name)
    assert main(["predict", "--project", str(bad)]) == 2
    assert "not a regular file" in _error(capsys)


def test_crafted_project_in_a_real_process_has_no_traceback(trained, tmp_path):
    bad = tmp_path / "deep.json"
    bad.write_text(trained.read_text()[:-2] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    proc = subprocess.run([sys.executable, "-m", "seqstudio.cli", "predict", "--project", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "fix:" in proc.stderr


# --------------------------------------------------------------------------- point 5
def test_predict_uses_the_saved_scaling_not_one_refit_on_an_edited_file(tmp_path, capsys):
    """Editing one training value must not move the same model's forecast (the issue's case)."""
    import pandas as pd
    from seqstudio.resources import path as resource_path

    csv = tmp_path / "air.csv"
    csv.write_text(resource_path("airline-passengers.csv").read_text())
    proj = tmp_path / "p.json"
    assert main(["train", "--csv", str(csv), "--target", "Passengers", "--date-col", "Month",
                 "--epochs", "2", "-q", "--save", str(proj)]) == 0

    def forecast(*extra) -> pd.DataFrame:
        out = tmp_path / "f.csv"
        assert main(["predict", "--project", str(proj), "--steps", "3", "--out", str(out), *extra]) == 0
        return pd.read_csv(out)

    before = forecast()
    assert "warning" not in _error(capsys)
    frame = pd.read_csv(csv)
    frame.loc[2, "Passengers"] = 900  # 1949-03, in the training part: a new maximum
    frame.to_csv(csv, index=False)
    after = forecast()
    err = _error(capsys)
    assert "warning: the data file changed since the project was trained" in err and "--refit" in err
    assert after.equals(before)
    refit = forecast("--refit")
    assert not refit["Passengers"].round(2).equals(before["Passengers"].round(2))
