"""Studies on Optuna: storages, samplers, pruners, the worker loop, parallel workers, summaries.

Storage
-------
By default a study lives in a SQLite file beside the project
(``NAME.sweep.db``), so a sweep survives a crash or a closed window and goes
on where it was. Any Optuna storage URL works too: ``postgresql://...`` or
``mysql://...`` for several machines on one study, or ``journal:PATH`` for
Optuna's journal file (a shared folder, no database server).

Stale trials
------------
SQL storages record a heartbeat of every running trial
(``heartbeat_interval``); a trial whose worker died (SIGKILL, power loss) goes
stale after ``grace_period`` seconds, is failed by the next worker that looks,
and :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` queues it again
with the same parameters. Journal files have no heartbeat in Optuna: a killed
worker's trial stays "running" there (see docs/sweeps.md).

Budget
------
``settings.trials`` is the study's total, whichever workers and machines run
it: a worker starts a trial only while finished + running trials are fewer,
and otherwise waits for the running ones (failing them when they go stale).
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import Project
from seqstudio.core.sweep.objective import run_trial
from seqstudio.core.sweep.space import SweepSettings

#: Seconds between heartbeats of a running trial, and after which a silent one is stale.
HEARTBEAT_S = 10
GRACE_S = 30
#: How often a stale trial is queued again (then it stays failed).
MAX_RETRY = 2
#: Trials with these user attributes failed on their own (bad parameters), not by a dead worker.
ERROR_ATTR = "error"
#: Complete trials the median pruner waits for before it judges (Optuna's default is 5; with
#: 12-20 trials, 3 already give a median and leave more of the budget to prune).
MEDIAN_STARTUP_TRIALS = 3
RUN_ATTR = "run"


def _optuna():
    try:
        import optuna
    except ImportError:
        raise SeqStudioError("sweeps need Optuna, which is not installed",
                             fix="pip install 'seqstudio[sweep]' (or: pip install optuna)") from None
    import warnings

    # trial failures are shown by seqstudio with their reason; heartbeats are "experimental"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# --------------------------------------------------------------------------- storage
def default_storage_url(project_path: str | Path) -> str:
    """The SQLite file beside the project: ``air.json`` -> ``sqlite:///.../air.sweep.db``."""
    path = Path(project_path).resolve()
    return f"sqlite:///{path.with_name(path.stem + '.sweep.db')}"


def open_storage(url: str, *, heartbeat: int | None = HEARTBEAT_S, grace: int | None = GRACE_S,
                 max_retry: int | None = MAX_RETRY):
    """An Optuna storage for ``url`` (SQL URL with heartbeats, or ``journal:PATH``)."""
    optuna = _optuna()
    if not isinstance(url, str) or not url.strip():
        raise SeqStudioError("no storage given", where="--storage",
                             fix="give an Optuna storage URL (sqlite:///FILE.db, postgresql://...) "
                                 "or journal:FILE, or leave it out for the file beside the project")
    url = url.strip()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:"):]).expanduser()
        if not path.parent.is_dir():
            raise SeqStudioError(f"the folder of the journal file {str(path)!r} does not exist",
                                 where="--storage", fix="create the folder, or choose another path")
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme or not scheme.replace("+", "").isalnum():
        raise SeqStudioError(f"{url!r} is not a storage URL", where="--storage",
                             fix="use sqlite:///FILE.db, postgresql://USER@HOST/DB, mysql://... or "
                                 "journal:FILE")
    if scheme == "sqlite":
        db = url[len("sqlite:///"):]
        if db and db != ":memory:" and not Path(db).expanduser().parent.is_dir():
            raise SeqStudioError(f"the folder of the SQLite file {db!r} does not exist",
                                 where="--storage", fix="create the folder, or choose another path")
    callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry) \
        if heartbeat else None
    engine = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else None
    db = url[len("sqlite:///"):] if scheme == "sqlite" else ""
    wal = bool(db) and db != ":memory:" and sqlite_wal_ok(db)
    try:
        if wal:
            _use_wal(db)
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                                             grace_period=grace,
                                             heartbeat_stale_trial_callback=callback)
    except Exception as exc:  # a driver missing, a server unreachable, a bad URL
        raise SeqStudioError(f"cannot open the storage {url!r}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}", where="--storage",
                             fix="check the URL, the server and its Python driver "
                                 "(psycopg2 for PostgreSQL, PyMySQL for MySQL)") from None
    if wal:
        _sync_normal(storage.engine)
    return storage


#: File systems SQLite's write-ahead log must not be used on: its index is shared memory,
#: which processes on different machines (or a network file system's client) do not share.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smbfs", "smb2", "smb3", "9p", "afs", "ncpfs", "coda", "ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "beegfs", "fuse.sshfs", "sshfs",
    "fuse.davfs2", "davfs", "webdav", "fuse.rclone", "fuse.s3fs", "afpfs", "fuse.cephfs"})


def filesystem_of(path: str | Path) -> str:
    """The type of the file system ``path`` lies on (``ext4``, ``nfs4``, ``NTFS``...); ``""``
    when it cannot be told."""
    import psutil

    target = os.path.realpath(os.path.expanduser(str(path)))
    if target.startswith("\\\\"):  # a Windows UNC path: a network share
        return "smbfs"
    best, kind = "", ""
    try:
        partitions = psutil.disk_partitions(all=True)
    except (OSError, RuntimeError):
        return ""
    for part in partitions:
        mount = part.mountpoint
        inside = target == mount or target.startswith(mount.rstrip("/\\") + os.sep)
        if inside and len(mount) > len(best):
            best, kind = mount, part.fstype
    return kind.lower()


def sqlite_wal_ok(db_path: str | Path) -> bool:
    """Whether a SQLite study file may use the write-ahead log: a local file system."""
    return filesystem_of(Path(db_path).expanduser().parent) not in NETWORK_FILESYSTEMS


def _use_wal(db_path: str) -> None:
    """Put the SQLite file in write-ahead-log mode (kept in the file, for every later opener).

    Readers (the window's study view, a worker counting trials or loading the study)
    then never block a writer, nor a writer them, and a commit appends to one log
    instead of rewriting pages through a rollback journal: with two workers reporting
    every epoch this halved the storage's share of an epoch (bench/bench_sweep.py).
    """
    import sqlite3

    con = sqlite3.connect(str(Path(db_path).expanduser()), timeout=60)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _sync_normal(engine) -> None:
    """Every connection of ``engine`` syncs the log at checkpoints, not at every commit.

    In WAL mode the file stays consistent after a power cut; the last commits may be
    lost, which for a sweep is at most a trial's last reports (that trial is then stale,
    failed and run again).
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # the connection Optuna opened to create its tables gets the setting too


# --------------------------------------------------------------------------- samplers and pruners
def make_sampler(settings: SweepSettings, worker: int = 0):
    """The sampler of ``settings``; worker ``k`` of a parallel sweep seeds it with ``seed + k``
    (same seeds in every worker would propose the same trials twice)."""
    optuna = _optuna()
    seed = settings.seed + worker
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "grid":
        if not settings.space.params:
            raise SeqStudioError("a grid search needs at least one parameter", where="--sampler grid",
                                 fix="add parameters to the search space")
        return optuna.samplers.GridSampler(settings.space.grid(), seed=seed)
    # a third of the budget (4 to 10 trials) explores at random before TPE models the results
    startup = max(4, min(10, settings.trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def max_epochs(settings: SweepSettings, project: Project) -> int:
    """The most epochs any trial of ``settings`` may train (the space's, else the project's)."""
    p = settings.space.get("train.epochs")
    if p is not None:
        return int(max(p.choices) if p.kind == "choice" else p.high)  # type: ignore[arg-type]
    return int(project.train.get("epochs", 100))


def warmup_epochs(settings: SweepSettings, project: Project) -> int:
    """Epochs every trial trains before a pruner may judge it.

    A quarter of the early-stopping patience (5 epochs for the default 20): a trial
    that has not matched the others by then is judged on a fair start, and one that
    is still improving is not stopped for a slow first few epochs. Without early
    stopping, a twentieth of the epoch budget. Never more than half the budget.
    """
    top = max_epochs(settings, project)
    warm = settings.patience // 4 if settings.patience else top // 20
    return max(1, min(max(2, warm), top // 2))


def make_pruner(settings: SweepSettings, project: Project):
    """The pruner of ``settings``, fed each epoch with the trial's best validation value so far.

    - ``median`` (default): after 3 complete trials, a trial whose best value by
      epoch ``e`` (from :func:`warmup_epochs` on) is worse than the median of the
      complete trials' best values by epoch ``e`` stops (Optuna's ``MedianPruner``).
    - ``hyperband``: Optuna's ``HyperbandPruner``, from ``min_resource`` = the warm-up
      epochs to ``max_resource`` = the largest epoch budget of the space, reduction
      factor 3 (brackets of successive halving; pruned trials count as competitors,
      so it also works on a small budget).
    - ``none``: every trial runs until its epochs end or early stopping ends it.
    """
    optuna = _optuna()
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    warmup = warmup_epochs(settings, project)
    if settings.pruner == "hyperband":
        top = max(warmup * 3, max_epochs(settings, project))
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=top,
                                              reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                       n_warmup_steps=warmup, interval_steps=1)


def study_name(settings: SweepSettings, project: Project) -> str:
    return settings.study or project.name or "study"


def open_study(settings: SweepSettings, project: Project, storage, *, create: bool = True,
               worker: int = 0):
    """The study named by ``settings`` in ``storage``, created when missing (``create``)."""
    optuna = _optuna()
    name = study_name(settings, project)
    if not create:
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
            raise SeqStudioError(f"the storage holds no study {name!r}", where="--study",
                                 fix=f"choose one of: {', '.join(names) or 'none yet'}") from None
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True,
                                direction=settings.resolved_direction,
                                sampler=make_sampler(settings, worker), pruner=make_pruner(settings, project))
    if study.direction.name.lower() != settings.resolved_direction:
        raise SeqStudioError(f"the study {name!r} already exists and {study.direction.name.lower()}s "
                             f"its objective, not {settings.resolved_direction}", where="--study",
                             fix="give a new study name, or the study's own direction")
    known = study.user_attrs.get("objective")
    if known is None:
        study.set_user_attr("objective", settings.objective)
        study.set_user_attr("settings", settings.to_dict())
    elif known != settings.objective:
        raise SeqStudioError(f"the study {name!r} optimises {known}, not {settings.objective}",
                             where="--study", fix=f"give a new study name, or --objective {known}")
    return study


# --------------------------------------------------------------------------- counting
@dataclass
class Counts:
    """Trials of a study by what they mean for the budget."""

    done: int = 0       # complete, pruned, or failed on their own (bad parameters)
    complete: int = 0
    pruned: int = 0
    failed: int = 0     # every failed trial, stale ones included
    running: int = 0
    waiting: int = 0    # queued again after going stale


def count_trials(study) -> Counts:
    from optuna.trial import TrialState

    c = Counts()
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL:
            c.failed += 1
            if ERROR_ATTR in t.user_attrs:
                c.done += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
        elif t.state == TrialState.WAITING:
            c.waiting += 1
    c.done += c.complete + c.pruned
    return c


def _grid_exhausted(study) -> bool:
    sampler = study.sampler
    check = getattr(sampler, "is_exhausted", None)
    return bool(check and check(study))


# --------------------------------------------------------------------------- the worker
def make_objective(project: Project, registry, settings: SweepSettings, *,
                   threads: int | None = None) -> Callable[[Any], float]:
    """The function Optuna calls per trial: train, record the run in the trial, return the value."""
    optuna = _optuna()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    study = study_name(settings, project)

    def objective(trial) -> float:
        params = settings.space.suggest(trial)
        trial.set_user_attr("worker", worker)
        try:
            out = run_trial(project, registry, settings, params, trial=trial, threads=threads)
        except SeqStudioError as exc:
            trial.set_user_attr(ERROR_ATTR, exc.what)
            raise
        record = out.record
        record["sweep"] = {"study": study, "trial": trial.number, "params": params,
                           "objective": settings.objective, "value": out.value}
        trial.set_user_attr(RUN_ATTR, record)
        trial.set_user_attr("epochs", out.epochs)
        if out.stopped_reason == "pruned":
            raise optuna.TrialPruned(f"pruned after epoch {out.epochs}")
        if out.value is None:
            trial.set_user_attr(ERROR_ATTR, f"the objective {settings.objective} has no finite value")
            raise SeqStudioError(f"trial {trial.number}: the objective {settings.objective} has no "
                                 "finite value (the run diverged?)")
        return out.value

    return objective


def run_worker(project: Project, registry, settings: SweepSettings, storage, *,
               threads: int | None = None, should_stop: Callable[[], bool] | None = None,
               poll_s: float = 0.5, worker: int = 0) -> Counts:
    """Run trials of the study until it has ``settings.trials`` done (all workers together).

    ``storage`` is a URL or an Optuna storage. Returns the study's counts at the end.
    """
    optuna = _optuna()
    if isinstance(storage, str):
        storage = open_storage(storage)
    study = open_study(settings, project, storage, worker=worker)
    objective = make_objective(project, registry, settings, threads=threads)
    while should_stop is None or not should_stop():
        c = count_trials(study)
        if c.done >= settings.trials or _grid_exhausted(study):
            return c
        if c.done + c.running >= settings.trials and not c.waiting:
            # the last trials are running elsewhere: wait for them, or fail them when they go stale
            optuna.storages.fail_stale_trials(study)
            time.sleep(poll_s)
            continue
        study.optimize(objective, n_trials=1, catch=(SeqStudioError,), gc_after_trial=False)
    return count_trials(study)


def _worker_main(project: Project, registry_factory, settings_dict: dict, url: str,
                 threads: int, worker: int) -> None:
    """Entry point of a worker process (spawned: a fresh interpreter)."""
    import torch

    from seqstudio.core.forecast.backtest import _die_with_parent

    _die_with_parent()  # a killed sweep (Stop in the window) leaves no worker behind
    torch.set_num_threads(max(1, threads))
    try:  # torch.optim imports torch._dynamo at the first optimizer (seconds): once per worker,
        import torch._dynamo  # noqa: F401  before its first trial, not inside that trial's time
    except ImportError:  # pragma: no cover - a torch without dynamo
        pass
    # one thread is pinned; more are a ceiling the training loop's tuner chooses under (a small
    # model runs fastest on one thread, and two threads on a busy machine can be 5x slower)
    run_worker(project, registry_factory(), SweepSettings.from_dict(settings_dict), url,
               threads=1 if threads == 1 else None, worker=worker)


# --------------------------------------------------------------------------- several workers
@dataclass
class SweepProgress:
    """The study now: trials done of the budget, the best value so far, workers alive."""

    done: int
    total: int
    best: float | None
    running: int
    workers: int


@dataclass
class SweepFinished:
    """The sweep is over (budget reached, or every worker ended): its counts and exit codes."""

    counts: Counts
    exit_codes: list[int | None] = field(default_factory=list)
    workers: int = 0
    threads: int = 1


def run_sweep(project: Project, registry_factory: Callable[[], Any], settings: SweepSettings,
              url: str, *, jobs: int = 1, poll_s: float = 1.0,
              should_stop: Callable[[], bool] | None = None) -> Iterator[SweepProgress | SweepFinished]:
    """Run the study in ``jobs`` worker processes (threads divided, never more busy threads than
    cores); a generator of :class:`SweepProgress`, ending with :class:`SweepFinished`.

    ``registry_factory`` builds the plugin registry in each worker (a module-level
    function: workers are fresh interpreters). Stopping (``should_stop``) terminates the
    workers; their running trials then go stale and are run again on resume.
    """
    import multiprocessing as mp

    from seqstudio.core.train.threads import parallel_plan

    if not isinstance(jobs, int) or jobs < 1:
        raise SeqStudioError(f"--jobs must be a whole number of at least 1, got {jobs!r}", where="--jobs",
                             fix="e.g. --jobs 2 (one worker process per core)")
    storage = open_storage(url)
    study = open_study(settings, project, storage)  # created once here, so workers only load it
    plan = parallel_plan(jobs, busy=0)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, daemon=True,
                         args=(project, registry_factory, settings.to_dict(), url, plan.threads, k))
             for k in range(plan.workers)]
    for proc in procs:
        proc.start()
    host = socket.gethostname()
    try:
        while True:
            alive = sum(p.is_alive() for p in procs)
            c = count_trials(study)
            yield SweepProgress(c.done, settings.trials, best_value(study), c.running, alive)
            if not alive or (should_stop is not None and should_stop()):
                break
            if c.done >= settings.trials and not c.running and not c.waiting:
                # the budget is spent and no trial runs: the workers have nothing left to do, so
                # their interpreters' shutdown (a second or more with torch loaded) is not waited for
                break
            for proc in procs:
                proc.join(timeout=poll_s / max(1, len(procs)))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
        requeue_trials_of(study, {f"{host}:{proc.pid}" for proc in procs if proc.exitcode is not None})
    yield SweepFinished(count_trials(study), [p.exitcode for p in procs], plan.workers, plan.threads)


def requeue_trials_of(study, workers: set[str], max_retry: int | None = MAX_RETRY) -> list[int]:
    """Fail the running trials of ``workers`` (ended processes, ``host:pid``) and queue each
    again with the same parameters, at once rather than after the heartbeat's grace period.

    Returns the numbers of the trials failed.
    """
    optuna = _optuna()
    from optuna.trial import TrialState

    storage = study._storage
    get_callback = getattr(storage, "get_heartbeat_stale_trial_callback", None)
    retry = (get_callback() if get_callback else None) or \
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker") not in workers:
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
                retry(study, storage.get_trial(t._trial_id))
        except optuna.exceptions.UpdateFinishedTrialError:  # it finished (or another failed it)
            pass
    return failed


# --------------------------------------------------------------------------- reading a study
def best_value(study) -> float | None:
    try:
        value = study.best_value
    except ValueError:  # no complete trial yet
        return None
    return float(value) if value is not None and math.isfinite(value) else None


def trial_rows(study) -> list[dict[str, Any]]:
    """One plain dict per trial: number, state, value, params, seconds, epochs, worker, error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = ((t.datetime_complete - t.datetime_start).total_seconds()
                   if t.datetime_complete and t.datetime_start else None)
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                     "params": dict(t.params), "seconds": seconds,
                     "epochs": t.user_attrs.get("epochs"), "worker": t.user_attrs.get("worker", ""),
                     "error": t.user_attrs.get(ERROR_ATTR, ""),
                     "retry_of": t.system_attrs.get("failed_trial"),
                     "started": t.datetime_start.isoformat(timespec="seconds")
                     if t.datetime_start else None})
    return rows


def best_trials(study, top: int = 5) -> list[dict[str, Any]]:
    """The ``top`` complete trials, best first."""
    rows = [r for r in trial_rows(study) if r["state"] == "complete" and r["value"] is not None]
    reverse = study.direction.name.lower() == "maximize"
    return sorted(rows, key=lambda r: r["value"], reverse=reverse)[:top]


def importances(study) -> dict[str, float]:
    """Parameter importances (Optuna's ``get_param_importances``); empty when too few trials."""
    optuna = _optuna()
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 2:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError, ZeroDivisionError):  # one distinct value, a degenerate space
        return {}


def study_summary(study, top: int = 5) -> dict[str, Any]:
    """What ``seqstudio sweep show`` prints: counts, best trials, importances."""
    c = count_trials(study)
    return {"study": study.study_name, "direction": study.direction.name.lower(),
            "objective": study.user_attrs.get("objective"),
            "trials": {"done": c.done, "complete": c.complete, "pruned": c.pruned,
                       "failed": c.failed, "running": c.running, "waiting": c.waiting},
            "best": best_trials(study, top), "importances": importances(study)}


def study_runs(study) -> list[dict[str, Any]]:
    """The run records of the study's finished trials (complete and pruned), in trial order."""
    out = []
    for t in study.get_trials(deepcopy=False):
        record = t.user_attrs.get(RUN_ATTR)
        if isinstance(record, dict) and t.state.name in ("COMPLETE", "PRUNED"):
            out.append(record)
    return out


def trial_params(study, number: int | None = None) -> dict[str, Any]:
    """The parameters of trial ``number`` (default: the best trial)."""
    if number is None:
        try:
            return dict(study.best_trial.params)
        except ValueError:
            raise SeqStudioError(f"the study {study.study_name!r} has no complete trial yet",
                                 fix="let the sweep finish at least one trial") from None
    for t in study.get_trials(deepcopy=False):
        if t.number == number:
            return dict(t.params)
    raise SeqStudioError(f"the study {study.study_name!r} has no trial {number}",
                         fix="choose a trial from the trial table")


def apply_trial(project: Project, study, number: int | None = None,
                settings: SweepSettings | None = None) -> Project:
    """A copy of ``project`` with trial ``number``'s (default: the best trial's) parameters,
    ready to train (weights dropped).

    With ``settings``, exactly as the sweep trained the trial (its validation part carved
    from the training part, early stopping, the best epoch kept), so that training it again
    with the same seed gives the trial's model; the test part is the project's own.
    """
    from seqstudio.core.sweep.objective import trial_project
    from seqstudio.core.sweep.space import apply_params

    params = trial_params(study, number)
    if settings is not None:
        return trial_project(project, settings, params)
    return apply_params(project, params)


def add_study_runs(project: Project, study) -> list[dict[str, Any]]:
    """Add the study's trial runs the project does not hold yet; returns the new records."""
    return add_trial_runs(project, study_runs(study), study.study_name)


def add_trial_runs(project: Project, records: list[dict[str, Any]],
                   study: str = "") -> list[dict[str, Any]]:
    """Add trial run records (:func:`study_runs`) the project does not hold yet.

    Each is named ``run N: <study> trial <n>: <model>`` and numbered after the
    project's runs. Returns the new records.
    """
    import copy

    from seqstudio.core.train.runs import model_label, next_run_number

    have = {r.get("id") for r in project.runs}
    added = []
    for record in records:
        if record.get("id") in have:
            continue
        r = copy.deepcopy(record)
        info = r.get("sweep") or {}
        r["number"] = next_run_number(project.runs)
        r["name"] = (f"run {r['number']}: {info.get('study', study)} trial "
                     f"{info.get('trial')}: {model_label(r.get('model') or {})}")
        project.add_run(r)
        added.append(r)
    return added
