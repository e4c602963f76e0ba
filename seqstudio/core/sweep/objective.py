"""One trial of a sweep: train the project with the trial's parameters and score it.

The test part is never used to choose: a series project without a validation
part gets one carved from the end of its training part (the test part keeps its
place; rounding may move one row from training to test, never the other way),
other projects hold out ``validation_fraction`` of their training samples.
Per-epoch validation values go to the Optuna trial (``trial.report``); when its
pruner says so, the run stops cleanly after that epoch
(``stopped_reason == "pruned"``) and is recorded like any stopped run.

The objective is one of:

- ``val_loss``: the best epoch's validation loss;
- ``val.<metric>``: a validation metric of the final (best-epoch) model, e.g.
  ``val.rmse`` in the data's own units, ``val.accuracy``;
- ``backtest.<metric>``: the mean over rolling-origin folds (every fold
  retrained) laid within the training and validation rows only, e.g.
  ``backtest.mase``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqstudio.core.errors import SeqStudioError, TrainingError
from seqstudio.core.project import Project
from seqstudio.core.sweep.space import SweepSettings, apply_params, check_objective
from seqstudio.core.train.events import Finished, Stopped
from seqstudio.core.train.policies import Policy, RunState

#: Fraction of the series carved out for validation when a series project has none.
CARVED_VAL_FRAC = 0.2
#: Fraction of training samples held out when another project has no validation part.
HELD_OUT_FRAC = 0.2
#: Called as ``hook(trial, epoch)`` at the end of every epoch of a trial (tests inject kills here);
#: None in normal use.
_epoch_hook: Callable[[Any, int], None] | None = None


@dataclass
class TrialOutcome:
    """What a trial gave: the objective's value, the run record, and why it stopped."""

    value: float | None
    record: dict[str, Any]
    stopped_reason: str | None
    epochs: int


def trial_project(project: Project, settings: SweepSettings, params: dict[str, Any], *,
                  threads: int | None = None) -> Project:
    """``project`` with ``params`` applied, a validation part, early stopping and pinned threads."""
    p = apply_params(project, params)
    if "look_back" in p.data_options:  # a series: validation rows before the unchanged test part
        val = float(p.data_options.get("val_frac", 0.0) or 0.0)
        train = float(p.data_options.get("train_frac", 0.67))
        if val <= 0:
            if train - CARVED_VAL_FRAC < 0.2:
                raise SeqStudioError(
                    f"the training part ({train:.0%} of the series) is too short to carve a "
                    "validation part from", where="data option 'train_frac'",
                    fix="raise train_frac, or set val_frac so the project has its own validation part")
            p.data_options["train_frac"] = round(train - CARVED_VAL_FRAC, 6)
            p.data_options["val_frac"] = CARVED_VAL_FRAC
    elif not p.train.get("validation_fraction"):
        p.train["validation_fraction"] = HELD_OUT_FRAC
    if settings.patience and not p.train.get("early_stopping_patience"):
        p.train["early_stopping_patience"] = settings.patience
    p.train["restore_best"] = True
    if threads:
        p.train["threads"] = int(threads)
    return p


class TrialReporter(Policy):
    """Reports each epoch's best validation value so far to an Optuna trial; stops the run when
    it is pruned.

    The value reported at epoch ``e`` is the best of epochs 1..e (in the study's direction),
    not epoch ``e``'s own: the trial keeps its best epoch's weights (early stopping restores
    them), so this is what the trial would score if it stopped at ``e``. The curve never gets
    worse, its last point is the trial's final value, and a pruner comparing two trials at one
    epoch compares what each would deliver there, not one noisy epoch against another.
    """

    def __init__(self, trial, value_of: Callable[[RunState, float | None, float], float | None],
                 direction: str = "minimize"):
        self.trial = trial
        self.value_of = value_of
        self.better = (lambda a, b: a > b) if direction == "maximize" else (lambda a, b: a < b)
        self.best: float | None = None
        # without a pruner, asking it each epoch is a storage read for nothing
        pruner = getattr(getattr(trial, "study", None), "pruner", None)
        self.judged = pruner is not None and type(pruner).__name__ != "NopPruner"

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        if _epoch_hook is not None:
            _epoch_hook(self.trial, epoch)
        if self.trial is None:
            return None
        value = self.value_of(state, val_loss, train_loss)
        if value is not None and math.isfinite(value) and (self.best is None
                                                           or self.better(value, self.best)):
            self.best = float(value)
        if self.best is None:
            return None
        self.trial.report(self.best, epoch)
        if self.judged and self.trial.should_prune():
            return Stopped("pruned", f"pruned after epoch {epoch}: its best validation value "
                           f"{self.best:.4g} was worse than other trials' by that epoch", epoch)
        return None


def run_trial(project: Project, registry, settings: SweepSettings, params: dict[str, Any], *,
              trial=None, threads: int | None = None, control=None) -> TrialOutcome:
    """Train ``project`` with ``params`` and score it by ``settings.objective``.

    ``trial`` (an Optuna trial, optional) receives the per-epoch values and
    decides pruning. Raises :class:`SeqStudioError` when the parameters make an
    impossible project (the trial then fails with that message).
    """
    from seqstudio.core.session import record_run
    from seqstudio.core.train.evaluate import evaluate
    from seqstudio.core.train.loop import train

    objective = settings.objective
    check_objective(objective)
    p = trial_project(project, settings, params, threads=threads)
    data = p.prepare_data(registry)
    config = p.train_config()
    spec = p.model_spec(registry)
    summary = spec.check_data(data, registry=registry)
    import torch

    # the initial weights come from the trial's seed, not from whatever ran before in this
    # process: the same parameters train the same model in any worker
    torch.manual_seed(int(config.seed))
    model = p.build_model(data, registry)
    has_val_split = len(data.split("val")[0]) > 0
    if objective.startswith("val.") and not has_val_split:
        raise SeqStudioError(f"the objective {objective} needs a validation part in the data",
                             where="sweep setting 'objective'",
                             fix="use val_loss (held-out training samples), or give the data a "
                                 "validation part")
    sign = -1.0 if settings.resolved_direction == "maximize" else 1.0
    metric = objective.split(".", 1)[1] if "." in objective else ""
    per_epoch_metric = metric if objective.startswith("val.") else ("rmse" if has_val_split and
                                                                   data.task == "regression" else "")

    def value_of(state: RunState, val_loss: float | None, train_loss: float) -> float | None:
        # what the pruner compares across trials at one epoch: in the objective's own units when
        # the data allows (a loss on log/differenced/scaled targets differs from trial to trial)
        if per_epoch_metric:
            m = evaluate(state.model, data, "val", config=config).get(per_epoch_metric)
            return float(m) if isinstance(m, int | float) else None
        if val_loss is None:
            return None
        return val_loss if sign > 0 else -val_loss

    policies = ([TrialReporter(trial, value_of, settings.resolved_direction)]
                if trial is not None else [])
    started = time.time()
    result = None
    for event in train(model, data, config, control, policies=policies):
        if isinstance(event, Finished):
            result = event.result
    if result is None:  # pragma: no cover - train always ends with Finished
        raise TrainingError("the trial's training ended without a result")
    if result.stopped_reason == "error":
        raise TrainingError(f"the trial's training failed: {result.stopped_message}",
                            fix="see the trial's parameters; this combination may not fit the data")
    record = record_run(p, registry, model=model, data=data, config=config, result=result,
                        summary=summary, started_at=started)
    p.runs = [record]
    value: float | None
    if objective == "val_loss":
        losses = [float(h["val_loss"]) for h in result.history if h.get("val_loss") is not None]
        value = min(losses) if losses else None
    elif objective.startswith("val."):
        value = (record.get("metrics") or {}).get("val", {}).get(metric)
    else:
        value = None if result.stopped_reason == "pruned" else backtest_value(
            p, registry, data, settings, metric, epochs=result.best_epoch or result.epochs_run)
    if isinstance(value, int | float) and not math.isfinite(value):
        value = None
    return TrialOutcome(value=None if value is None else float(value), record=record,
                        stopped_reason=result.stopped_reason, epochs=result.epochs_run)


def backtest_value(project: Project, registry, data, settings: SweepSettings, metric: str, *,
                   epochs: int | None = None) -> float:
    """The mean ``metric`` of a rolling-origin backtest within the training and validation rows.

    Every fold trains a fresh model (the trial's layers and settings) on the
    rows before its origin; the last fold ends on the last validation row, so
    the test part is never seen. A fold has no validation part to stop early on,
    so with ``epochs`` (the trial's best epoch, found by early stopping on the
    validation part) each fold trains that many epochs: the folds judge the
    model as the trial trained it, not one trained for the whole epoch budget.
    """
    from dataclasses import replace

    from seqstudio.core.data.series import LoadedSeries, prepare_series
    from seqstudio.core.forecast.backtest import BacktestFinished, run_backtest
    from seqstudio.core.forecast.folds import BacktestPlan

    bounds = data.fitted_state().get("bounds", {})
    test_start = int(bounds.get("test", (len(data.series), 0))[0])
    # the rows before the test part, as one series whose folds train on all their history
    loaded = LoadedSeries.from_frame(data.series.iloc[:test_start], name="training and validation rows")
    loaded.report.step = data.report.step
    seen = prepare_series(replace(data.options, path="", train_frac=1.0, val_frac=0.0,
                                  season=data.season), loaded)
    if epochs:
        project = copy.deepcopy(project)
        project.train["epochs"] = max(1, int(epochs))
        project.train["early_stopping_patience"] = 0
    plan = BacktestPlan(folds=settings.backtest_folds, horizon=settings.backtest_horizon, retrain=1)
    result = None
    for event in run_backtest(project, registry, plan, data=seen, workers=1, baselines=("naive",)):
        if isinstance(event, BacktestFinished):
            result = event.result
    if result is None:
        raise TrainingError("the trial's backtest was stopped")
    summary = result.scores["model"]["summary"]
    if metric not in summary:
        raise SeqStudioError(f"backtests report no metric {metric!r}", where="sweep setting 'objective'",
                             fix=f"use one of: {', '.join('backtest.' + m for m in summary)}")
    return float(summary[metric]["mean"])
