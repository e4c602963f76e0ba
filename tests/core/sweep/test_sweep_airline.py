"""The issue's acceptance sweep: 12 seeded TPE trials over the seasonal airline preset's default space."""

from __future__ import annotations

import pytest
import torch

optuna = pytest.importorskip("optuna")

from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.session import TrainingSession  # noqa: E402
from seqstudio.core.sweep import study as S  # noqa: E402
from seqstudio.core.sweep.space import default_settings  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402


@pytest.mark.slow
def test_a_seeded_tpe_sweep_of_the_seasonal_preset_finds_test_rmse_at_most_30(tmp_path, capsys):
    registry = builtin_registry()
    project = Project.from_preset("airline-lstm-seasonal")
    settings = default_settings(project, registry)
    settings.trials, settings.seed = 12, 0
    url = f"sqlite:///{tmp_path / 'air.db'}"
    counts = S.run_worker(project, registry, settings, url)
    assert counts.done == 12
    study = optuna.load_study(study_name=settings.study, storage=url)
    # chosen on validation only; trained again as the sweep trained it, and judged on the
    # project's test part (which no trial's score looked at)
    best = S.apply_trial(project, study, settings=settings)
    torch.manual_seed(best.train["seed"])
    for _ in TrainingSession(best, registry).run():
        pass
    rmse = best.results["splits"]["test"]["rmse"]
    found = study.best_trial.user_attrs["run"]["metrics"]["test"]["rmse"]
    with capsys.disabled():
        print(f"\nbest trial {study.best_trial.number}: val RMSE {study.best_value:.2f}, "
              f"params {study.best_params}; its test RMSE {found:.2f}, trained again {rmse:.2f}")
    assert rmse == pytest.approx(found, rel=1e-3)   # the same seed gives the trial's model
    assert rmse <= 30
