"""``seqstudio sweep``: hyperparameter and architecture sweeps of a project, and ``sweep show``.

::

    seqstudio sweep --project air.json --trials 50 --jobs 2
    seqstudio sweep --project air.json --storage postgresql://me@db/sweeps --study air
    seqstudio sweep show --project air.json

The sweep settings (search space, objective, sampler, pruner, seed, budget)
come from the project's ``sweep`` block, else from its preset's defaults; the
flags here override them. By default the study lives in ``NAME.sweep.db``
beside the project and the project file receives every finished trial as a
run when the sweep ends.
"""

from __future__ import annotations

import argparse
import json
import sys

from seqstudio.core.errors import SeqStudioError


def add_parser(sub) -> None:
    """Add ``sweep`` (and ``sweep show``) to the CLI's subcommands."""
    p = sub.add_parser("sweep", help="search hyperparameters and architectures (Optuna); "
                                     "`sweep show` prints a study's best trials")
    p.add_argument("action", nargs="?", choices=["run", "show"], default="run",
                   help="run (the default) or show a study's best trials and importances")
    p.add_argument("--project", metavar="FILE", help="the project to sweep (.json)")
    p.add_argument("--preset", metavar="NAME", help="sweep a preset (then --storage is needed)")
    p.add_argument("--trials", type=int, metavar="N", help="trials in the study, all workers together")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="worker processes on this machine (threads divided among them)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage: sqlite:///FILE.db, postgresql://..., mysql://... or "
                        "journal:FILE (default: NAME.sweep.db beside the project)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the project's name)")
    p.add_argument("--objective", metavar="WHAT",
                   help="val_loss, val.<metric> (e.g. val.rmse) or backtest.<metric> (e.g. backtest.mase)")
    p.add_argument("--direction", choices=["minimize", "maximize"],
                   help="default: maximize accuracy-like metrics, minimize the others")
    p.add_argument("--sampler", choices=["tpe", "random", "grid"])
    p.add_argument("--pruner", choices=["median", "hyperband", "none"])
    p.add_argument("--seed", type=int, metavar="N", help="sampler seed (same seed, same trials)")
    p.add_argument("--top", type=int, default=5, metavar="N", help="show: how many best trials")
    p.add_argument("--no-save", action="store_true",
                   help="do not add the trials' runs to the project file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _settings(args, project, registry):
    from seqstudio.core.sweep.space import SweepSettings, default_settings

    settings = (SweepSettings.from_dict(project.sweep) if project.sweep
                else default_settings(project, registry))
    if settings.storage and args.storage is None:
        # nothing a project file holds makes seqstudio connect anywhere: a stored URL is only a hint
        raise SeqStudioError(f"the project's sweep names the storage {settings.storage!r}, which is "
                             "used only when you pass it", where="--storage",
                             fix=f"pass --storage {settings.storage} (or --storage with another URL)")
    for flag, key in (("trials", "trials"), ("study", "study"), ("objective", "objective"),
                      ("direction", "direction"), ("sampler", "sampler"), ("pruner", "pruner"),
                      ("seed", "seed"), ("storage", "storage")):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(settings, key, value)
    if args.trials is not None and args.trials < 1:
        raise SeqStudioError(f"--trials must be at least 1, got {args.trials}", where="--trials",
                             fix="e.g. --trials 20")
    if args.seed is not None and args.seed < 0:
        raise SeqStudioError(f"--seed must be 0 or more, got {args.seed}", where="--seed", fix="e.g. --seed 0")
    if settings.direction is not None:
        from seqstudio.core.sweep.space import default_direction

        natural = default_direction(settings.objective)
        if settings.direction != natural:
            flag = "--direction" if args.direction is not None else "the project's sweep direction"
            raise SeqStudioError(f"{flag} {settings.direction} would search for the worst "
                                 f"{settings.objective}", where=flag,
                                 fix=f"use --direction {natural}, or leave it out (it follows --objective)")
    return SweepSettings.from_dict(settings.to_dict())  # checked again as a whole


def _project(args):
    from seqstudio.core.project import Project

    if args.project and args.preset:
        raise SeqStudioError("--project and --preset both name what to sweep", where="--preset",
                             fix="give one of them")
    if args.project:
        return Project.load(args.project)
    if args.preset:
        return Project.from_preset(args.preset)
    raise SeqStudioError("sweep needs a project", where="--project",
                         fix="pass --project FILE.json (or --preset NAME with --storage URL)")


def _url(args, project, settings) -> str:
    from seqstudio.core.sweep.study import default_storage_url

    if settings.storage:
        return settings.storage
    if project.path is None:
        raise SeqStudioError("a preset has no folder for the study's file", where="--storage",
                             fix="pass --storage sqlite:///sweep.db (or sweep a saved --project)")
    return default_storage_url(project.path)


def run(args: argparse.Namespace) -> int:
    from seqstudio.cli import _registry

    project = _project(args)
    registry = _registry()
    settings = _settings(args, project, registry)
    url = _url(args, project, settings)
    if args.action == "show":
        return _show(args, project, settings, url)
    if args.jobs is None or args.jobs < 1:
        raise SeqStudioError(f"--jobs must be at least 1, got {args.jobs}", where="--jobs",
                             fix="e.g. --jobs 2 (one worker process per core)")
    from seqstudio.core.sweep.study import (
        SweepFinished,
        SweepProgress,
        add_study_runs,
        open_storage,
        open_study,
        run_sweep,
        study_summary,
    )

    open_study(settings, project, open_storage(url))  # a bad URL or study fails before the bar
    import signal

    def stop(signum, frame):  # Stop in the window: end the workers, queue their trials again
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    bar = None
    finished = None
    if not args.quiet and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=settings.trials, unit="trial", desc=f"sweep {settings.study or project.name}",
                   file=sys.stderr, dynamic_ncols=True)
    try:
        for event in run_sweep(project, _registry, settings, url, jobs=args.jobs):
            if isinstance(event, SweepProgress) and bar is not None:
                bar.n = min(event.done, settings.trials)
                bar.set_postfix(best=f"{event.best:.4g}" if event.best is not None else "-",
                                running=event.running, workers=event.workers)
                bar.refresh()
            elif isinstance(event, SweepFinished):
                finished = event
    finally:
        if bar is not None:
            bar.close()
    study = open_study(settings, project, open_storage(url), create=False)
    summary = study_summary(study, args.top)
    added = []
    if project.path is not None and not args.no_save:
        added = add_study_runs(project, study)
        project.sweep = settings.to_dict()
        project.save(project.path)
    summary.update(storage=url, workers=finished.workers if finished else 0,
                   threads_per_worker=finished.threads if finished else 0,
                   runs_added=len(added))
    if finished is not None and finished.counts.done < settings.trials:
        codes = ", ".join(str(c) for c in finished.exit_codes)
        print(f"seqstudio: warning: the workers ended with {finished.counts.done} of "
              f"{settings.trials} trials done (exit codes {codes}); run the same command again "
              "to resume", file=sys.stderr)
    _print_summary(summary, args.json)
    return 0


def _show(args, project, settings, url) -> int:
    from seqstudio.core.sweep.study import open_storage, open_study, study_summary

    study = open_study(settings, project, open_storage(url), create=False)
    summary = study_summary(study, args.top)
    summary["storage"] = url
    _print_summary(summary, args.json)
    return 0


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    t = summary["trials"]
    print(f"study {summary['study']}: {summary['direction']} {summary.get('objective')}; "
          f"{t['complete']} complete, {t['pruned']} pruned, {t['failed']} failed, "
          f"{t['running']} running ({summary.get('storage', '')})")
    if summary.get("workers"):
        print(f"workers: {summary['workers']} x {summary['threads_per_worker']} thread(s); "
              f"{summary.get('runs_added', 0)} run(s) added to the project")
    if not summary["best"]:
        print("no complete trial yet")
    for rank, row in enumerate(summary["best"], 1):
        params = ", ".join(f"{k.split('.', 1)[1]}={_short(v)}" for k, v in row["params"].items())
        print(f"{rank}. trial {row['number']}: {row['value']:.5g}  ({params})")
    if summary["importances"]:
        print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["importances"].items()))


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

