"""Sweeps on Optuna: spaces in the project file, seeded samplers, pruning, shared storages, dead workers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from seqstudio.core.errors import SeqStudioError  # noqa: E402
from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.projectfile import SCHEMA_VERSION  # noqa: E402
from seqstudio.core.sweep import study as S  # noqa: E402
from seqstudio.core.sweep.space import (  # noqa: E402
    Param,
    SearchSpace,
    SweepSettings,
    apply_params,
    default_settings,
)
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def tiny_project() -> Project:
    p = Project.from_preset("airline-lstm")
    p.train.update(epochs=3, batch_size=32)
    return p


def tiny_settings(**kw) -> SweepSettings:
    space = SearchSpace([Param("model.units", "int", low=2, high=5),
                         Param("train.learning_rate", "float", low=1e-3, high=1e-1, log=True),
                         Param("model.cell", "choice", choices=["LSTM", "GRU"])])
    base = dict(space=space, objective="val.rmse", trials=6, study="t", pruner="none", seed=3)
    base.update(kw)
    return SweepSettings(**base)


def test_sweep_settings_survive_the_project_file_and_old_files_migrate(tmp_path):
    p = tiny_project()
    settings = tiny_settings()
    p.sweep = settings.to_dict()
    p.save(tmp_path / "air.json")
    doc = json.loads((tmp_path / "air.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    loaded = Project.load(tmp_path / "air.json")
    assert SweepSettings.from_dict(loaded.sweep) == settings
    # a file written before sweeps existed (schema 1, no "sweep") opens, with no sweep
    doc["schema_version"] = 1
    del doc["sweep"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert Project.load(tmp_path / "old.json").sweep is None
    # a bad space is refused where it is read, naming the JSON path
    doc["schema_version"] = 2
    doc["sweep"] = {"version": 1, "space": [{"name": "model.units", "kind": "wide"}]}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(SeqStudioError, match=r"sweep\.space\[0\]\.kind"):
        Project.load(tmp_path / "bad.json")


def test_a_direction_against_the_objective_is_refused_with_the_sensible_one():
    """Maximising a loss or an error (or minimising accuracy) would search for the worst model."""
    for objective, wrong, right in (("val_loss", "maximize", "minimize"),
                                    ("val.rmse", "maximize", "minimize"),
                                    ("val.accuracy", "minimize", "maximize")):
        with pytest.raises(SeqStudioError) as err:
            tiny_settings(objective=objective, direction=wrong)
        assert f"would search for the worst {objective}" in err.value.what
        assert err.value.where == "sweep setting 'direction'" and err.value.fix.startswith(right)
        assert tiny_settings(objective=objective, direction=right).resolved_direction == right
        assert tiny_settings(objective=objective).resolved_direction == right


def test_params_are_checked_where_made():
    with pytest.raises(SeqStudioError, match="low 8 is above high 2"):
        Param("model.units", "int", low=8, high=2)
    with pytest.raises(SeqStudioError, match="log scale needs low > 0"):
        Param("train.learning_rate", "float", low=0.0, high=1.0, log=True)
    with pytest.raises(SeqStudioError, match="unknown sweep parameter"):
        Param("model.colour", "choice", choices=["red"])
    with pytest.raises(SeqStudioError, match="never selects on the test part|unknown sweep objective"):
        SweepSettings(objective="test.rmse")


def test_apply_params_rebuilds_the_recurrent_stack():
    p = Project.from_preset("imdb-lstm")
    q = apply_params(p, {"model.cell": "GRU", "model.layers": 2, "model.units": 32,
                         "model.bidirectional": True, "train.learning_rate": 0.01})
    layers = q.model["layers"]
    assert [d["type"] for d in layers] == ["Embedding", "GRU", "GRU", "Dense"]
    assert layers[1]["return_sequences"] is True and "return_sequences" not in layers[2]
    assert all(d["units"] == 32 and d["bidirectional"] and d["dropout"] == 0.2 for d in layers[1:3])
    assert q.train["learning_rate"] == 0.01 and p.train["learning_rate"] == 0.001  # a copy
    r = apply_params(p, {"model.cell": "myplugin>cell"})
    assert r.model["layers"][1]["type"] == "RNN" and r.model["layers"][1]["cell"] == "myplugin>cell"


def test_default_spaces_build_and_train_on_every_airline_preset():
    """Every preset's default space yields projects that pass the stack check (one sample each)."""
    registry = builtin_registry()
    for name in ("airline-lstm", "airline-lstm-seasonal", "imdb-lstm"):
        p = Project.from_preset(name)
        settings = default_settings(p, registry)
        assert settings.space.params
        if name.startswith("airline"):
            assert settings.objective == "val.rmse"
            trial = optuna.trial.FixedTrial({q.name: q.grid_values()[0] for q in settings.space.params})
            q = apply_params(p, settings.space.suggest(trial))
            data = q.prepare_data(registry)
            q.model_spec(registry).check_data(data, registry=registry)


def _params_of(url: str, settings: SweepSettings) -> list[dict]:
    S.run_worker(tiny_project(), builtin_registry(), settings, url)
    study = optuna.load_study(study_name=settings.study, storage=url)
    return [t.params for t in study.get_trials()]


def test_same_seed_same_trial_parameters(tmp_path):
    settings = tiny_settings(trials=6)   # 4 random start-up trials, then 2 from TPE's model
    first = _params_of(f"sqlite:///{tmp_path / 'a.db'}", settings)
    again = _params_of(f"sqlite:///{tmp_path / 'b.db'}", settings)
    other = _params_of(f"sqlite:///{tmp_path / 'c.db'}", tiny_settings(trials=6, seed=4))
    assert len(first) == 6 and first == again
    assert other != first


def test_a_pruned_trial_is_a_clean_stopped_run(tmp_path, monkeypatch):
    # a pruner that prunes every trial at its first report: the exact instant pruning happens
    monkeypatch.setattr(S, "make_pruner", lambda settings, project: optuna.pruners.ThresholdPruner(
        upper=-1.0))
    url = f"sqlite:///{tmp_path / 's.db'}"
    settings = tiny_settings(trials=2, pruner="median")
    project = tiny_project()
    counts = S.run_worker(project, builtin_registry(), settings, url)
    assert counts.pruned == 2 and counts.failed == 0 and counts.done == 2
    study = optuna.load_study(study_name="t", storage=url)
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.PRUNED
        assert list(t.intermediate_values) == [1]
        run = t.user_attrs["run"]
        assert run["stopped_reason"] == "pruned" and run["epochs_run"] == 1
        assert len(run["history"]) == 1 and run["metrics"]["val"]["rmse"] > 0
    project.save(tmp_path / "p.json")
    added = S.add_study_runs(project, study)
    assert [r["sweep"]["trial"] for r in added] == [0, 1]
    assert S.add_study_runs(project, study) == []  # nothing twice
    project.save(tmp_path / "p.json")
    runs = Project.load(tmp_path / "p.json").runs
    assert [r["stopped_reason"] for r in runs] == ["pruned", "pruned"]
    assert "t trial 0" in runs[0]["name"]


def test_an_impossible_trial_fails_with_its_reason_and_counts(tmp_path):
    space = SearchSpace([Param("data.look_back", "choice", choices=[500])])
    settings = SweepSettings(space=space, objective="val.rmse", trials=1, study="x", pruner="none")
    counts = S.run_worker(tiny_project(), builtin_registry(), settings, f"sqlite:///{tmp_path / 'x.db'}")
    assert counts.done == 1 and counts.failed == 1
    study = optuna.load_study(study_name="x", storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert "look_back" in study.trials[0].user_attrs["error"]


WORKER = textwrap.dedent("""
    import json, os, signal, sys
    from seqstudio.core.project import Project
    from seqstudio.core.sweep import objective, study as S
    from seqstudio.core.sweep.space import SweepSettings
    from seqstudio.pluginapi.manager import builtin_registry

    url, settings_file, kill = sys.argv[1], sys.argv[2], sys.argv[3] == "kill"
    settings = SweepSettings.from_dict(json.load(open(settings_file)))
    project = Project.from_preset("airline-lstm")
    project.train.update(epochs=3, batch_size=32)
    if kill:
        def die(trial, epoch):  # the dangerous instant: inside a trial, between two epochs
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        objective._epoch_hook = die
    storage = url if url.startswith("journal:") else S.open_storage(url, heartbeat=1, grace=2)
    S.run_worker(project, builtin_registry(), settings, storage, worker=int(sys.argv[4]),
                 poll_s=0.2)
""")


def _workers(tmp_path, url, kill_first: bool):
    settings = tiny_settings(trials=10, sampler="random", study="shared")
    (tmp_path / "settings.json").write_text(json.dumps(settings.to_dict()))
    # the study exists before the workers start, as `seqstudio sweep` makes it
    S.open_study(settings, tiny_project(), S.open_storage(url))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(tmp_path / "settings.json"),
                               "kill" if (k == 0 and kill_first) else "no", str(k)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    codes = [p.wait(timeout=600) for p in procs]
    return codes, [p.stderr.read() for p in procs], optuna.load_study(
        study_name="shared", storage=S.open_storage(url))


def _check_no_trial_lost_or_duplicated(study, done: int = 10):
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 10 <= len(finished) <= 11  # two workers may both start the 10th trial at one instant
    ids = [t.user_attrs["run"]["id"] for t in finished]
    assert len(set(ids)) == len(ids)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both workers did trials


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_worker_processes_share_one_study(tmp_path, kind):
    url = (f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite"
           else f"journal:{tmp_path / 'study.log'}")
    codes, errors, study = _workers(tmp_path, url, kill_first=False)
    assert codes == [0, 0], errors
    _check_no_trial_lost_or_duplicated(study)


def test_a_killed_worker_s_trial_is_failed_and_retried_and_the_other_goes_on(tmp_path):
    codes, errors, study = _workers(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", kill_first=True)
    assert codes[0] == -signal.SIGKILL and codes[1] == 0, errors
    trials = study.get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and "error" not in failed[0].user_attrs   # failed as stale, not by itself
    dead = failed[0]
    assert list(dead.intermediate_values) == [1]    # killed during its second epoch
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == dead.params
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 10 <= len(finished) <= 11
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    survivor = retry.user_attrs["worker"]
    assert survivor != dead.user_attrs["worker"]


def test_the_backtest_objective_never_sees_the_test_part(monkeypatch):
    from seqstudio.core.forecast import backtest as B
    from seqstudio.core.sweep import objective

    seen = {}
    real = B.run_backtest

    def spy(project, registry, plan, **kw):
        seen["rows"] = len(kw["data"].series)
        seen["epochs"] = project.train["epochs"]
        yield from real(project, registry, plan, **kw)

    monkeypatch.setattr(B, "run_backtest", spy)
    settings = SweepSettings(space=SearchSpace([]), objective="backtest.mase", trials=1,
                             backtest_folds=2, backtest_horizon=3)
    project = tiny_project()
    out = objective.run_trial(project, builtin_registry(), settings, {})
    def test_start(p):
        return int(p.prepare_data(builtin_registry()).fitted_state()["bounds"]["test"][0])

    # the trial's own test part starts where the backtest's rows end; carving the validation
    # part may round one row from training into test, never the other way
    trial_test = test_start(objective.trial_project(project, settings, {}))
    assert seen["rows"] == trial_test and 95 <= trial_test <= test_start(project) == 96
    assert out.value is not None and out.value > 0
    # the folds have no validation part to stop early on: they train the epochs the trial's own
    # early stopping chose, not the whole budget
    assert seen["epochs"] == out.record["best_epoch"] <= project.train["epochs"]


@pytest.mark.parametrize("direction, values, reported", [
    ("minimize", [5.0, 3.0, float("nan"), 4.0, 2.0], [5.0, 3.0, 3.0, 3.0, 2.0]),
    ("maximize", [0.5, 0.7, 0.6, float("inf"), 0.8], [0.5, 0.7, 0.7, 0.7, 0.8]),
])
def test_the_pruner_sees_each_trial_s_best_value_so_far(direction, values, reported):
    """What a trial would score if it stopped at epoch e (it keeps its best epoch's weights)."""
    from seqstudio.core.sweep.objective import TrialReporter

    study = optuna.create_study(direction=direction, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    feed = iter(values)
    reporter = TrialReporter(trial, lambda state, val_loss, train_loss: next(feed), direction)
    for epoch in range(1, len(values) + 1):
        assert reporter.epoch_end(None, epoch, 1.0, 1.0) is None
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == dict(
        enumerate(reported, start=1))


def _finished(study, curves):
    for curve in curves:
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=curve[-1],
            intermediate_values=dict(enumerate(curve, start=1)),
            distributions={}, params={}))


def test_the_median_pruner_judges_from_a_quarter_of_the_patience_after_three_trials():
    project = Project.from_preset("airline-lstm-seasonal")
    settings = default_settings(project, builtin_registry())
    assert settings.pruner == "median" and settings.patience == 20
    assert S.warmup_epochs(settings, project) == 5
    study = optuna.create_study(pruner=S.make_pruner(settings, project))
    _finished(study, [[9.0] * 8, [8.0] * 8])       # two complete trials: not enough to judge
    trial = study.ask()
    for epoch in range(1, 7):
        trial.report(20.0, epoch)
        assert not trial.should_prune()
    _finished(study, [[7.0] * 8])                   # the third: median of the best-so-far is 8
    judged = study.ask()
    verdicts = []
    for epoch in range(1, 8):
        judged.report(8.5, epoch)                   # worse than the median at every epoch
        verdicts.append(judged.should_prune())
    assert verdicts == [False] * 4 + [True] * 3     # judged from epoch 5 (the warm-up) on
    level = study.ask()
    for epoch in range(1, 8):
        level.report(8.0, epoch)                    # as good as the median: goes on
        assert not level.should_prune()


def test_hyperband_spans_the_trials_epoch_budget():
    project = Project.from_preset("airline-lstm-seasonal")
    settings = default_settings(project, builtin_registry())
    settings.pruner = "hyperband"
    pruner = S.make_pruner(settings, project)
    # the space's train.epochs runs to 150; a trial may be judged after the 5-epoch warm-up
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (5, 150, 3)
    settings.space = SearchSpace([p for p in settings.space.params if p.name != "train.epochs"])
    settings.patience = 0
    project.train["epochs"] = 40                    # no epochs in the space: the project's own
    pruner = S.make_pruner(settings, project)
    assert (pruner._min_resource, pruner._max_resource) == (2, 40)


def _registry_that_hangs_at_exit():
    """A worker's registry factory (it runs in the worker) after which that worker's
    interpreter never finishes shutting down: the dangerous instant is after its last trial."""
    import atexit
    import threading

    atexit.register(threading.Event().wait)
    return builtin_registry()


def test_a_sweep_whose_budget_is_spent_does_not_wait_for_its_workers_to_exit(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    events = list(S.run_sweep(tiny_project(), _registry_that_hangs_at_exit, tiny_settings(trials=2),
                              url, jobs=1, poll_s=0.2))
    finished = events[-1]
    assert isinstance(finished, S.SweepFinished)
    assert (finished.counts.done, finished.counts.complete, finished.counts.running) == (2, 2, 0)
    assert finished.exit_codes == [-signal.SIGTERM]  # ended by the sweep, not by itself
    study = optuna.load_study(study_name="t", storage=url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2


def _journal_mode(db) -> str:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()


def test_a_local_sqlite_study_uses_the_write_ahead_log_and_a_network_one_does_not(tmp_path,
                                                                                  monkeypatch):
    import psutil

    local = tmp_path / "local.db"
    S.open_storage(f"sqlite:///{local}")
    assert _journal_mode(local) == "wal"  # readers (the window, other workers) never block a writer
    # the same folder seen as an NFS mount: SQLite's log index is shared memory, unsafe there
    real = psutil.disk_partitions
    nfs = real(True)[0]._replace(device="server:/export", mountpoint=str(tmp_path), fstype="nfs4")
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [*real(all), nfs])
    assert S.filesystem_of(tmp_path / "shared.db") == "nfs4"
    S.open_storage(f"sqlite:///{tmp_path / 'shared.db'}")
    assert _journal_mode(tmp_path / "shared.db") == "delete"
    study = S.open_study(tiny_settings(trials=1), tiny_project(),
                         S.open_storage(f"sqlite:///{tmp_path / 'shared.db'}"))
    assert study.study_name == "t"
