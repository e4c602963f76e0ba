"""``seqstudio sweep`` and ``seqstudio sweep show`` through the command line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("optuna")

from seqstudio.cli import main  # noqa: E402
from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.sweep.space import Param, SearchSpace, SweepSettings  # noqa: E402


@pytest.fixture
def project_file(tmp_path):
    p = Project.from_preset("airline-lstm")
    p.train.update(epochs=2, batch_size=32)
    p.sweep = SweepSettings(space=SearchSpace([Param("model.units", "int", low=2, high=4)]),
                            objective="val.rmse", trials=2, pruner="none").to_dict()
    return p.save(tmp_path / "air.json")


def test_sweep_runs_the_study_beside_the_project_and_adds_its_runs(project_file, capsys):
    rc = main(["sweep", "--project", str(project_file), "--jobs", "1", "--seed", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["trials"]["complete"] == 2 and out["runs_added"] == 2
    assert out["storage"].endswith("air.sweep.db") and (project_file.parent / "air.sweep.db").exists()
    assert out["best"][0]["value"] == min(b["value"] for b in out["best"])
    project = Project.load(project_file)
    assert [r["sweep"]["trial"] for r in project.runs] == [0, 1]
    assert project.sweep["seed"] == 2
    # show reads the same study (named after the project by default)
    assert main(["sweep", "show", "--project", str(project_file)]) == 0
    shown = capsys.readouterr().out
    assert "study airline-lstm: minimize val.rmse; 2 complete" in shown and "1. trial" in shown


@pytest.mark.parametrize("argv, words", [
    (["--storage", "nonsense"], "is not a storage URL"),
    (["--storage", "sqlite:////no/such/folder/x.db"], "does not exist"),
    (["--objective", "test.rmse"], "test part"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--objective", "val_loss", "--direction", "maximize"],
     "--direction maximize would search for the worst val_loss"),
])
def test_user_errors_exit_2_with_what_where_and_fix(project_file, capsys, argv, words):
    rc = main(["sweep", "--project", str(project_file), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert words in err and "fix:" in err and "Traceback" not in err


def test_show_names_the_studies_there_are(project_file, capsys):
    rc = main(["sweep", "show", "--project", str(project_file), "--study", "nope"])
    err = capsys.readouterr().err
    assert rc == 2 and "no study 'nope'" in err


def test_a_storage_url_saved_in_the_project_is_not_opened_by_itself(project_file, capsys):
    project = Project.load(project_file)
    project.sweep = {**project.sweep, "storage": "postgresql://someone@elsewhere/db"}
    project.save(project_file)
    rc = main(["sweep", "--project", str(project_file)])
    err = capsys.readouterr().err
    assert rc == 2 and "used only when you pass it" in err
    assert "--storage postgresql://someone@elsewhere/db" in err
