"""The issue's claims on real series: verdicts on Airline Passengers and interval coverage.

Slow: full recipes. The figures are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import pytest

from seqstudio.cli import main
from seqstudio.core.forecast import BacktestFinished, BacktestPlan, run_backtest
from seqstudio.core.project import Project
from seqstudio.core.session import TrainingSession


def _verdict(capsys, preset: str) -> str:
    rc = main(["backtest", "--preset", preset, "--folds", "5", "--horizon", "12", "--retrain", "every",
               "--stats", "none", "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    line = next(x for x in out.splitlines() if "seasonal naive on MASE" in x)
    with capsys.disabled():  # shown in the test log, and not read back by the next backtest
        print(f"\n{preset}: {line}")
    return line


@pytest.mark.slow
def test_airline_seasonal_preset_beats_seasonal_naive_and_the_lecture_does_not(capsys):
    assert _verdict(capsys, "airline-lstm-seasonal").startswith("model beats seasonal naive")
    assert _verdict(capsys, "airline-lstm").startswith("model does not beat seasonal naive")


def _series_project(data_dir, name: str) -> Project:
    if name == "airline":
        return Project.from_preset("airline-lstm-seasonal")
    if name == "temperatures":
        return Project(name=name, source="csv-series",
                       data_options={"path": str(data_dir / "daily-min-temperatures.csv"),
                                     "target": ["Temp"], "date_col": "Date", "look_back": 30,
                                     "scaling": "standard", "train_frac": 0.7},
                       model={"layers": [{"type": "GRU", "units": 16}, {"type": "Dense", "units": 1}]},
                       train={"epochs": 10, "batch_size": 32, "seed": 0, "learning_rate": 0.005})
    return Project(name=name, source="csv-series",
                   data_options={"path": str(data_dir / "monthly-sunspots.csv"), "target": ["Sunspots"],
                                 "date_col": "Month", "look_back": 24, "scaling": "standard",
                                 "train_frac": 0.7},
                   model={"layers": [{"type": "GRU", "units": 16}, {"type": "Dense", "units": 1}]},
                   train={"epochs": 10, "batch_size": 32, "seed": 0, "learning_rate": 0.005})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["airline", "temperatures", "sunspots"])
def test_80_percent_conformal_intervals_cover_about_80_percent_of_held_out_folds(data_dir, builtins, name):
    project = _series_project(data_dir, name)
    session = TrainingSession(project, builtins)
    for _ in session.run():
        pass
    result = None
    for event in run_backtest(project, builtins, BacktestPlan(folds=None, horizon=12, retrain=0),
                              levels=(80.0, 95.0), data=session.data, model=session.model):
        if isinstance(event, BacktestFinished):
            result = event.result
    cov80, cov95 = result.intervals["coverage"]["80"], result.intervals["coverage"]["95"]
    print(f"{name}: {len(result.origins)} origins; 80% coverage {cov80['rate']:.3f} "
          f"({cov80['covered']}/{cov80['n']}), 95% coverage {cov95['rate']:.3f} "
          f"({cov95['covered']}/{cov95['n']})")
    assert 0.70 <= cov80["rate"] <= 0.90
