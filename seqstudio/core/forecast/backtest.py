"""Rolling-origin backtests of a project's model, beside baselines, with intervals.

:func:`run_backtest` is a generator (as training is): it yields
:class:`BacktestProgress` events and ends with :class:`BacktestFinished`
holding a :class:`BacktestResult`; :class:`~seqstudio.core.train.control.TrainControl`
stops it between folds (retraining workers are terminated at once).

How the model forecasts from an origin: see :mod:`.rollout`.

Retraining
----------
``retrain=0`` (never): the project's trained model and its fitted transforms
forecast every origin; the origins must lie after its training (and
validation) data. ``retrain=1`` (every fold) or ``K``: at the cutoff of every
K-th fold a fresh model (the project's layer stack, initialised with its
seed) is trained with the project's train settings on the rows before that
cutoff only (within the sliding window, when sliding), the data pipeline
(cleaning aside, which is per-row) re-run on those rows: log, differencing,
and the scaler are fitted there, never on later rows. Folds train in
parallel worker processes, one thread each, as many at once as there are
free cores (``workers``; :func:`~seqstudio.core.train.threads.parallel_plan`, the
rule every parallel job follows), so the machine never runs more busy threads
than cores.

The baselines (naive, seasonal naive, drift, mean) and, with statsmodels,
automatic ETS and ARIMA forecast the same folds from the same histories; see
:mod:`.scores` for the metrics and :mod:`.intervals` for the bands.

>>> from seqstudio.core.project import Project                          # doctest: +SKIP
>>> events = run_backtest(Project.from_preset("airline-lstm-seasonal"), registry,
...                       BacktestPlan(folds=5, horizon=12, retrain=1))  # doctest: +SKIP
>>> result = [e for e in events if isinstance(e, BacktestFinished)][0].result  # doctest: +SKIP
"""

from __future__ import annotations

import math
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch

from seqstudio.core.data.timeaxis import span_texts, time_text  # noqa: F401 (time_text: re-exported)
from seqstudio.core.errors import DataError, SeqStudioError, TrainingError
from seqstudio.core.forecast import baselines as B
from seqstudio.core.forecast import intervals as I
from seqstudio.core.forecast import quantiles as QF
from seqstudio.core.forecast import scores as S
from seqstudio.core.forecast.folds import BacktestPlan, Fold
from seqstudio.core.forecast.rollout import Transform, forecast_origins
from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.threads import parallel_plan


# --------------------------------------------------------------------------- events and result
@dataclass
class BacktestProgress:
    """``done`` of ``total`` units of work (trainings and statistical fits) are finished."""

    done: int
    total: int
    message: str = ""


@dataclass
class BacktestFinished:
    result: BacktestResult


@dataclass
class BacktestResult:
    """Everything a backtest found; :meth:`to_dict` is what a project keeps.

    Arrays are ``(K, H, T)`` (folds, steps ahead, targets) in original units.
    ``forecasts`` maps ``"model"``, the baselines and ``"ets"`` / ``"arima"`` to
    their forecasts; ``scores`` each of them to :func:`.scores.score`'s dict.
    """

    plan: dict[str, Any]
    season: int
    strategy: str
    model_horizon: int
    target_columns: list[str]
    origins: list[int]
    #: Each origin's time stamp, and each fold's forecast rows' (nested ``(K, H)``), as text: a
    #: fresh backtest's are written on first read (:class:`Texts`), a loaded one's are lists.
    origin_times: Sequence[str]
    times: Sequence[list[str]]
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    scale: np.ndarray
    scale2: np.ndarray
    #: (a fresh backtest's is :class:`.scores.Scores`: its lists are made when first read)
    scores: Mapping[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    intervals: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    train_seconds: list[float] = field(default_factory=list)
    workers: int = 0
    #: Per trained fold, the weights it ended with (kept in memory only, for inspection and tests).
    fold_states: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (NaN and infinity become None)."""
        def plain(a: np.ndarray) -> list:
            return _nested(np.asarray(a, dtype=float))

        return {
            "plan": dict(self.plan), "season": self.season, "strategy": self.strategy,
            "model_horizon": self.model_horizon, "target_columns": list(self.target_columns),
            "origins": list(self.origins), "origin_times": list(self.origin_times),
            "times": list(self.times), "actual": plain(self.actual),
            "forecasts": {k: plain(v) for k, v in self.forecasts.items()},
            "scale": plain(self.scale), "scale2": plain(self.scale2), "scores": dict(self.scores),
            "verdicts": self.verdicts, "intervals": I.to_json(self.intervals), "labels": dict(self.labels),
            "notes": list(self.notes), "seconds": self.seconds,
            "train_seconds": list(self.train_seconds), "workers": self.workers,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BacktestResult:
        def arr(x) -> np.ndarray:
            return np.array(x, dtype=object).astype(float) if x is not None else np.zeros(0)

        return cls(plan=d["plan"], season=d["season"], strategy=d["strategy"],
                   model_horizon=d["model_horizon"], target_columns=d["target_columns"],
                   origins=d["origins"], origin_times=d["origin_times"], times=d["times"],
                   actual=arr(d["actual"]), forecasts={k: arr(v) for k, v in d["forecasts"].items()},
                   scale=arr(d["scale"]), scale2=arr(d["scale2"]), scores=d.get("scores", {}),
                   verdicts=d.get("verdicts", []), intervals=I.from_json(d.get("intervals", {})),
                   labels=d.get("labels", {}), notes=d.get("notes", []),
                   seconds=d.get("seconds", 0.0), train_seconds=d.get("train_seconds", []),
                   workers=d.get("workers", 0))

    def summary_table(self, metrics=S.METRICS) -> str:
        """Mean +- std over folds of each metric, one row per forecaster."""
        lines = ["forecaster".ljust(26) + "".join(m.upper().rjust(18) for m in metrics)]
        for name, sc in self.scores.items():
            cells = []
            for m in metrics:
                s = sc["summary"][m]
                cells.append("-" if s["mean"] is None else f"{s['mean']:.4g} +- {s['std']:.2g}")
            lines.append(self.labels.get(name, name).ljust(26) + "".join(c.rjust(18) for c in cells))
        return "\n".join(lines)

    def step_table(self, metric: str = "mase") -> str:
        """``metric`` per step ahead, one column per forecaster."""
        names = list(self.scores)
        lines = ["step".ljust(6) + "".join(self.labels.get(n, n)[:14].rjust(16) for n in names)]
        for h in range(len(self.times[0]) if self.times else 0):
            row = [self.scores[n]["per_step"][metric][h] for n in names]
            lines.append(str(h + 1).ljust(6) + "".join(("-" if v is None else f"{v:.4g}").rjust(16)
                                                        for v in row))
        return "\n".join(lines)

    def forecasts_frame(self):
        """Long table: fold, origin, step, time, target, actual, every forecaster, held-out bands."""
        import pandas as pd

        k_folds, horizon, n_targets = self.actual.shape
        rows: dict[str, list] = {"fold": [], "origin": [], "step": [], "time": [], "target": [],
                                 "actual": []}
        for k in range(k_folds):
            for h in range(horizon):
                for t in range(n_targets):
                    rows["fold"].append(k + 1)
                    rows["origin"].append(self.origin_times[k])
                    rows["step"].append(h + 1)
                    rows["time"].append(self.times[k][h])
                    rows["target"].append(self.target_columns[t])
                    rows["actual"].append(self.actual[k, h, t])
        frame = pd.DataFrame(rows)
        for name, values in self.forecasts.items():
            frame[name] = values.reshape(-1)
        for level, (low, high) in QF.fold_bands(self.intervals, self.forecasts["model"]).items():
            frame[f"lower_{level}"], frame[f"upper_{level}"] = low.reshape(-1), high.reshape(-1)
        return frame


def _nested(a: np.ndarray) -> list:
    if a.ndim > 1:
        return [_nested(x) for x in a]
    return [float(v) if math.isfinite(v) else None for v in a]


# --------------------------------------------------------------------------- one fold's training
def fold_data(data, train_start: int, cutoff: int):
    """The project's data pipeline re-run on rows ``[train_start, cutoff)`` only.

    Every transform (log, differencing, the scaler) is fitted on those rows;
    the project's validation fraction, if any, stays the last part of them.
    """
    from seqstudio.core.data.series import LoadedSeries, prepare_series

    options = data.options
    frame = data.series.iloc[train_start:cutoff]
    loaded = LoadedSeries.from_frame(frame, name=f"rows {train_start}-{cutoff - 1}")
    loaded.report.step = data.report.step  # a short slice is classified like the whole series
    fold_options = replace(options, path="", train_frac=1.0 - options.val_frac, season=data.season)
    try:
        return prepare_series(fold_options, loaded)
    except DataError as exc:
        raise DataError(f"the fold ending at row {cutoff} cannot be prepared: {exc.what}",
                        where=exc.where, fix="use fewer folds or a shorter horizon, so that every "
                                             "fold has more history") from None


def _train_fold(job: bytes) -> tuple[dict[str, torch.Tensor], float, str | None]:
    """In a worker (or here): train a fresh model on one fold; its weights, seconds, stop reason."""
    from seqstudio.core.train.events import Finished
    from seqstudio.core.train.loop import train

    model, data, config = pickle.loads(job)
    started = time.perf_counter()
    result = None
    for event in train(model, data, config):
        if isinstance(event, Finished):
            result = event.result
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return state, time.perf_counter() - started, getattr(result, "stopped_reason", None)


def _stat_fold(args: tuple) -> tuple[list[np.ndarray], list[str]] | str:
    """In a worker (or here): fit ETS or ARIMA on one training group, forecast its origins."""
    from seqstudio.core.forecast.statistical import fit_and_forecast

    kind, history, histories, horizon, season = args
    try:
        return fit_and_forecast(kind, history, histories, horizon, season)
    except Exception as exc:  # noqa: BLE001 - a model that cannot fit is reported, not fatal
        return f"{type(exc).__name__}: {exc}"


def _init_worker(path: list[str], file_modules: dict) -> None:
    _die_with_parent()
    torch.set_num_threads(1)
    for entry in path:
        if entry not in sys.path:
            sys.path.append(entry)
    from seqstudio.core.train.process import _FileModuleFinder

    _FileModuleFinder.known.update(file_modules)
    if _FileModuleFinder not in sys.meta_path:
        sys.meta_path.append(_FileModuleFinder)


def _die_with_parent() -> None:
    """Linux: end this worker when the backtest process dies, even killed (Stop in the window)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------- the backtest
def _series_data(project, registry):
    data = project.prepare_data(registry)
    if not hasattr(data, "series") or not hasattr(data, "options") or data.task != "regression":
        raise DataError("backtests need a time series project", where=project.source,
                        fix="choose a time-series data source (e.g. csv-series)")
    if len(data.input_columns) > len(data.target_columns):
        extra = ", ".join(data.input_columns[len(data.target_columns):])
        raise DataError(f"backtests forecast from the target columns alone, but the model also reads "
                        f"{extra}", fix="remove the feature columns to backtest this model")
    return data


def run_backtest(project, registry, plan: BacktestPlan, *, levels=I.DEFAULT_LEVELS,
                 baselines: tuple[str, ...] = tuple(B.BASELINES), statistical: tuple[str, ...] = (),
                 season: int | None = None, workers: int | None = None,
                 control: TrainControl | None = None, data=None, model=None) -> Iterator[Any]:
    """Backtest the project's model over ``plan``'s folds (see the module docstring).

    ``season`` overrides the season length inferred from the time step;
    ``statistical`` names ETS / ARIMA to fit (needs statsmodels);
    ``workers`` caps the parallel trainings (default: the free cores);
    ``data`` (the project's prepared data) and ``model`` (its trained model,
    for ``retrain=0``) save preparing and building them again.
    Yields :class:`BacktestProgress`, then :class:`BacktestFinished`; stops
    early (yielding nothing more) when ``control`` is stopped.
    """
    started, bands = time.perf_counter(), dict[str, Any]()
    QF.check_levels(project.train, levels)
    data = data if data is not None else _series_data(project, registry)
    values = _target_values(data)
    n_targets = values.shape[1]
    m = int(season or data.season or B.season_for_step(data.report.step))
    model_h, look_back = int(data.options.horizon), int(data.options.look_back)
    notes: list[str] = []
    fitted = data.fitted_state() if plan.retrain == 0 else {}
    starts, origins = _plan_folds(project, data, plan, values, fitted)
    horizon = plan.horizon
    actual = values[origins[:, None] + np.arange(horizon)]

    # -- baselines, straight from each fold's history (all folds at once)
    baseline_forecasts = B.fold_baselines(values, starts, origins, horizon, m, baselines)
    scale, scale2 = S.fold_scales(values, starts, origins, m)

    # -- the work: trainings and statistical fits (in workers when several cores are free)
    groups: dict[int, list[Fold]] = {}
    if plan.retrain or statistical:  # (never retraining: one model, no group, no fold objects)
        for f in plan.folds_for(len(values), earliest=int(origins[0])):
            groups.setdefault(f.trained_at, []).append(f)
    spec = QF.fold_spec(project, registry) if plan.retrain else None  # pinball: quantile outputs
    jobs, fold_datas = _fold_jobs(data, registry, spec, project.train_config() if plan.retrain else None,
                                  plan, groups, statistical, values, m)
    # workers x one thread each never exceeds the free cores (the shared rule for parallel jobs)
    n_workers = (max(1, min(workers, len(jobs) or 1)) if workers
                 else parallel_plan(len(jobs)).workers if jobs else 1)
    results: dict[Any, Any] = {}
    total = len(jobs) + 1
    yield BacktestProgress(0, total, f"{len(origins)} folds, {len(jobs)} fits, {n_workers} worker(s)")
    for i, (key, value) in enumerate(_run_jobs(jobs, n_workers, control or TrainControl()) if jobs else ()):
        results[key] = value
        yield BacktestProgress(i + 1, total, _job_message(key, value))
    if control is not None and control.stopped:
        return

    # -- the model's forecasts, one batched pass per trained model
    fold_states: dict[int, dict[str, torch.Tensor]] = {}
    train_seconds: list[float] = []
    if plan.retrain == 0:
        model = model if model is not None else project.build_model(data, registry)
        transform = Transform.of(fitted, n_targets)
        model_forecast = forecast_origins(model, transform, values, origins, look_back, model_h,
                                          horizon, bands)
    else:
        model_forecast = np.full(actual.shape, np.nan)
        fold_states, train_seconds = _retrained_forecasts(
            model_forecast, results, groups, fold_datas, spec, registry, values, origins,
            (look_back, model_h, horizon), notes, bands)
    forecasts: dict[str, np.ndarray] = {"model": model_forecast, **baseline_forecasts}
    labels = {name: B.LABELS.get(name, name) for name in forecasts}
    _statistical_forecasts(forecasts, labels, notes, results, groups, statistical, actual.shape)
    result = _assemble_result(
        plan, data, m, origins, actual, forecasts, (scale, scale2), labels, levels, notes,
        started=started, train_seconds=train_seconds, workers=n_workers if jobs else 0,
        fold_states=fold_states, bands=bands)
    yield BacktestProgress(total, total, "done")
    yield BacktestFinished(result)


def _target_values(data) -> np.ndarray:
    """The target columns of the cleaned series, ``(n, T)`` float64 (a column lookup of the frame
    costs more than a never-retrain forecast of a small series: skipped when it holds them alone)."""
    if hasattr(data, "target_values"):  # (a series source's own array, no frame lookups)
        return data.target_values()
    columns = list(data.target_columns)
    if list(data.series.columns) == columns:
        return data.series.to_numpy(np.float64, copy=True)
    return np.stack([data.series[c].to_numpy(np.float64) for c in columns], axis=1)


def _plan_folds(project, data, plan: BacktestPlan, values: np.ndarray, fitted: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The folds' history starts and origins (:meth:`.BacktestPlan.rows_for`): after the trained
    model's data (never retrain), else after one input window."""
    model_h, look_back = int(data.options.horizon), int(data.options.look_back)
    lag = int(data.options.diff_lag)
    if plan.retrain == 0:
        if not project.weights:
            raise TrainingError("retrain never needs a trained model, and the project has none",
                                fix="train it first (seqstudio train ... --save P.json), "
                                    "or retrain every fold (--retrain every)")
        # the model has seen the train and validation rows: origins start after them
        bounds = fitted.get("bounds", {})
        seen = int(bounds["val"][1]) if "val" in bounds else int(bounds.get("train", (0, 0))[1])
        return plan.rows_for(len(values), earliest=max(seen, lag + look_back))
    return plan.rows_for(len(values), earliest=lag + look_back + model_h + 1)


def _fold_jobs(data, registry, spec, config, plan: BacktestPlan, groups: dict[int, list[Fold]],
               statistical: tuple[str, ...], values: np.ndarray, m: int
               ) -> tuple[list[tuple[str, Any, Any]], dict[int, Any]]:
    """The jobs ``(kind, key, payload)`` (fold trainings, then statistical fits) and each
    retrained group's prepared data.

    Each kind's jobs come longest history first: a pool hands jobs out in this order, and
    with an expanding window the later folds train on more rows, so starting them first
    leaves the short ones to fill in at the end (the longest-first rule for scheduling)."""
    jobs: list[tuple[str, Any, Any]] = []
    fold_datas: dict[int, Any] = {}
    longest_first = sorted(groups.items(), key=lambda item: item[1][0].train_start - item[1][0].origin)
    if plan.retrain:
        for k, members in longest_first:
            first = members[0]
            fd = fold_data(data, first.train_start, first.origin)
            fold_datas[k] = fd
            torch.manual_seed(config.seed)  # from scratch, the same start for every fold
            fold_model = spec.build(fd.input_shape, registry=registry)
            fold_config = replace(config, threads=1, keep_best_checkpoint=False)
            jobs.append(("train", k, pickle.dumps((fold_model, fd, fold_config),
                                                  protocol=pickle.HIGHEST_PROTOCOL)))
    for kind in statistical:
        for k, members in longest_first:
            first = members[0]
            jobs.append(("stat", (kind, k), (kind, values[first.train_start:first.origin],
                                             [values[f.train_start:f.origin] for f in members],
                                             plan.horizon, m)))
    return jobs, fold_datas


def _retrained_forecasts(out: np.ndarray, results: dict[Any, Any], groups: dict[int, list[Fold]],
                         fold_datas: dict[int, Any], spec, registry, values: np.ndarray,
                         origins: np.ndarray, windows: tuple[int, int, int], notes: list[str],
                         bands: dict) -> tuple[dict[int, dict[str, torch.Tensor]], list[float]]:
    """Fill ``out`` with each retrained model's forecasts of its folds; the weights and seconds.

    ``windows`` is ``(look_back, model horizon, backtest horizon)``.
    """
    fold_states: dict[int, dict[str, torch.Tensor]] = {}
    train_seconds: list[float] = []
    n_targets = values.shape[1]
    for k, members in groups.items():
        state, seconds, reason = results[("train", k)]
        train_seconds.append(seconds)
        if reason in ("nan", "error"):
            notes.append(f"fold {k + 1}'s training stopped ({reason}); its forecasts are its last weights'")
        fold_states[k] = state
        fd = fold_datas[k]
        model = spec.build(fd.input_shape, registry=registry)
        model.load_state_dict(state)
        transform = Transform.of(fd.fitted_state(), n_targets)
        idx, part = [f.index for f in members], dict[str, Any]()
        out[idx] = forecast_origins(model, transform, values, origins[idx], *windows, part)
        QF.merge(bands, part, idx, len(origins))
    return fold_states, train_seconds


def _statistical_forecasts(forecasts: dict[str, np.ndarray], labels: dict[str, str],
                           notes: list[str], results: dict[Any, Any],
                           groups: dict[int, list[Fold]], statistical: tuple[str, ...],
                           shape: tuple[int, ...]) -> None:
    """Add each statistical model's forecasts (and its most chosen variant to its label)."""
    for kind in statistical:
        out = np.full(shape, np.nan)
        chosen: list[str] = []
        for k, members in groups.items():
            got = results[("stat", (kind, k))]
            if isinstance(got, str):
                notes.append(f"{B.LABELS[kind]} could not be fitted at fold {k + 1}: {got}")
                continue
            paths, names = got
            chosen += names
            out[[f.index for f in members]] = np.stack(paths)
        forecasts[kind] = out
        if chosen:
            labels[kind] = f"{B.LABELS[kind]}: {max(set(chosen), key=chosen.count)}"


def _assemble_result(plan: BacktestPlan, data, m: int, origins: np.ndarray, actual: np.ndarray,
                     forecasts: dict[str, np.ndarray], scales: tuple[np.ndarray, np.ndarray],
                     labels: dict[str, str], levels, notes: list[str], *, started: float,
                     train_seconds: list[float], workers: int,
                     fold_states: dict[int, dict[str, torch.Tensor]], bands=None) -> BacktestResult:
    """Score the forecasts, compare the model with each baseline, add the intervals.

    The result's ``seconds`` run from ``started`` (``time.perf_counter()``) to now.
    """
    model_h, horizon = int(data.options.horizon), plan.horizon
    scores, verdicts = S.score_and_judge(actual, forecasts, *scales, labels)  # the model first
    intervals = QF.quantile_intervals(actual, forecasts["model"], origins, levels, bands)
    texts = Texts(partial(_fold_texts, data, origins, horizon), len(origins))  # (K, H)
    return BacktestResult(
        plan=plan.to_dict(), season=m,
        strategy=("recursive" if model_h == 1 else
                  "direct" if horizon <= model_h else "direct + recursive"),
        model_horizon=model_h, target_columns=list(data.target_columns),
        origins=origins.tolist(), origin_times=Texts(partial(_firsts, texts), len(origins)), times=texts,
        actual=actual, forecasts=forecasts, scale=scales[0], scale2=scales[1], scores=scores,
        verdicts=verdicts, intervals=intervals, labels=labels, notes=notes,
        seconds=time.perf_counter() - started, train_seconds=train_seconds, workers=workers,
        fold_states=fold_states)


def _job_message(key, value) -> str:
    if key[0] == "train":
        return f"fold {key[1] + 1} trained in {value[1]:.1f} s"
    kind, k = key[1]
    return f"{B.LABELS[kind]} fitted at fold {k + 1}"


def _run_jobs(jobs: list[tuple[str, Any, Any]], n_workers: int, control: TrainControl):
    """Run the jobs here (one worker) or in a pool of ``n_workers`` spawned processes."""
    def call(kind, payload):
        return _train_fold(payload) if kind == "train" else _stat_fold(payload)

    if n_workers <= 1 or len(jobs) <= 1:
        for kind, key, payload in jobs:
            if control.stopped:
                return
            yield (kind, key), call(kind, payload)
        return
    import multiprocessing

    from seqstudio.core.train.process import _file_only_modules

    context = multiprocessing.get_context("spawn")
    pool = context.Pool(n_workers, initializer=_init_worker,
                        initargs=(list(sys.path), _file_only_modules()))
    try:
        pending = [((kind, key), pool.apply_async(_train_fold if kind == "train" else _stat_fold,
                                                  (payload,)))
                   for kind, key, payload in jobs]
        while pending:
            if control.stopped:
                return
            done = [p for p in pending if p[1].ready()]
            for item in done:
                pending.remove(item)
                key, async_result = item
                try:
                    value = async_result.get()
                except SeqStudioError:
                    raise
                except Exception as exc:
                    raise TrainingError(f"a backtest worker failed: {type(exc).__name__}: {exc}",
                                        fix="run with one worker (--workers 1) to see the full error") from exc
                yield key, value
            if not done:
                pending[0][1].wait(0.1)
    finally:
        pool.terminate()
        pool.join()


# --------------------------------------------------------------------------- keeping the result
def record_in_project(project, result: BacktestResult) -> dict[str, Any]:
    """Keep ``result`` in ``project.results["backtest"]`` and add a run record of kind ``backtest``.

    The record's metrics are ``{"backtest": {metric: mean over folds, "baselines":
    {name: {metric: mean}}}}``, so the Runs table lists it beside training runs.
    """
    from types import SimpleNamespace

    from seqstudio.core.train.runs import make_run_record, next_run_number

    project.results = {**(project.results or {}), "backtest": result.to_dict()}
    means = {name: {m: sc["summary"][m]["mean"] for m in S.METRICS}
             for name, sc in result.scores.items()}
    metrics = {"backtest": {**means.pop("model"), "baselines": means}}
    plan = result.plan
    record = make_run_record(
        source=project.source, data_options=project.data_options, model=project.model,
        train=project.train, result=SimpleNamespace(seconds=result.seconds, epochs_run=0),
        number=next_run_number(project.runs), metrics=metrics)
    retrain = {0: "never retrained", 1: "retrained every fold"}.get(
        plan["retrain"], f"retrained every {plan['retrain']} folds")
    record["name"] = record["name"].replace("run ", "backtest ", 1) + \
        f", {len(result.origins)} folds h{plan['horizon']} {retrain}"
    record["kind"] = "backtest"
    record["verdicts"] = [v["text"] for v in result.verdicts]
    return project.add_run(record)


class Texts(Sequence):
    """A list of texts written when first read: a backtest's time stamps cost more to format
    than the rest of its bookkeeping, and a result is often scored and saved before they are
    shown. Compares equal to the list; pickles as the list."""

    __slots__ = ("_make", "_items", "_n")

    def __init__(self, make: Callable[[], list], n: int):
        self._make: Callable[[], list] | None = make
        self._items: list | None = None
        self._n = n

    def _all(self) -> list:
        if self._items is None:
            assert self._make is not None
            self._items, self._make = self._make(), None
        return self._items

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        return self._all()[i]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other) -> bool:
        return list(self._all()) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (a mutable-looking sequence, as list)

    def __repr__(self) -> str:
        return repr(self._all())

    def __reduce__(self):
        return list, (self._all(),)


def _firsts(rows: Sequence[list[str]]) -> list[str]:
    return [row[0] for row in rows]


def _fold_texts(data, origins: np.ndarray, horizon: int) -> list[list[str]]:
    """The time stamps (as text) of the rows ``origin .. origin + horizon - 1`` of each origin,
    nested lists ``(K, horizon)``: slices of the series' own texts, written once per series."""
    if hasattr(data, "time_texts"):
        texts = data.time_texts()
        return [texts[o:o + horizon] for o in origins.tolist()]
    if not len(origins):
        return []
    low = int(origins.min())
    texts = span_texts(data.series.index, low, int(origins.max()) + horizon)
    return [texts[o:o + horizon] for o in (origins - low).tolist()]
