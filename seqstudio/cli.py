"""The ``seqstudio`` command.

``seqstudio`` alone opens the window on the embedded default (Airline
Passengers with the lecture's LSTM). The subcommands drive the same headless
core: ``train``, ``summary``, ``predict``, ``export``, ``backtest``, ``inspect``, ``datasets``,
``layers``, ``presets``, ``plugins``, ``vocab``.

User errors print what / where / fix and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from seqstudio import __version__
from seqstudio.core.errors import SeqStudioError, TrainingError

EXIT_USER_ERROR = 2
#: ``predict --steps`` beyond this is refused (a recursive forecast of millions of steps runs for hours).
MAX_FORECAST_STEPS = 100_000


# --------------------------------------------------------------------------- parsing helpers
def parse_layers(text: str) -> list[dict[str, Any]]:
    """Parse a layer stack given on the command line.

    Accepts JSON (``[{"type": "LSTM", "units": 4}, ...]``) or a compact form
    written like Keras calls: ``"LSTM(4, return_sequences=True), Dense(1)"``.
    Positional arguments fill the layer's fields in order.

    >>> parse_layers("LSTM(4), Dense(1, activation='sigmoid')")
    [{'type': 'LSTM', 'units': 4}, {'type': 'Dense', 'units': 1, 'activation': 'sigmoid'}]
    """
    text = text.strip()
    if text.startswith("["):
        try:
            layers = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeqStudioError(f"--layers is not valid JSON: {exc.msg}", where=f"column {exc.colno}",
                                 fix='write e.g. [{"type": "LSTM", "units": 4}]') from None
        if not (isinstance(layers, list) and all(isinstance(d, dict) and "type" in d for d in layers)):
            raise SeqStudioError("--layers JSON must be a list of objects with a 'type'",
                                 fix='write e.g. [{"type": "LSTM", "units": 4}]')
        return layers
    from seqstudio.core.model.layers import LAYER_TYPES

    try:
        tree = ast.parse(f"[{text}]", mode="eval")
    except SyntaxError as exc:
        raise SeqStudioError(f"cannot read --layers {text!r}: {exc.msg}",
                             fix="write layers like: LSTM(4, return_sequences=True), Dense(1)") from None
    out = []
    for node in tree.body.elts:
        if isinstance(node, ast.Name):
            node = ast.Call(func=node, args=[], keywords=[])
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise SeqStudioError(f"cannot read layer {ast.unparse(node)!r} in --layers",
                                 fix="write each layer as Type(args), e.g. Dense(1)")
        name = node.func.id
        layer: dict[str, Any] = {"type": name}
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise SeqStudioError(f"layer {name}: arguments must be plain numbers, strings or booleans",
                                 fix="e.g. LSTM(4, dropout=0.2)") from None
        if args:
            cls = LAYER_TYPES.get(name)
            if cls is None:
                raise SeqStudioError(f"unknown layer type {name!r} in --layers",
                                     fix=f"choose one of: {', '.join(LAYER_TYPES)}")
            import dataclasses

            names = [f.name for f in dataclasses.fields(cls) if f.init]
            if len(args) > len(names):
                raise SeqStudioError(f"layer {name} takes at most {len(names)} positional arguments",
                                     fix=f"name them: {', '.join(names)}")
            layer.update(zip(names, args, strict=False))
        layer.update(kwargs)
        out.append(layer)
    return out


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# --------------------------------------------------------------------------- building a project
def _add_project_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("what to train (a project, a preset, or flags)")
    src.add_argument("--project", metavar="FILE", help="a saved project (.json)")
    src.add_argument("--preset", metavar="NAME", help="a named recipe (see `seqstudio presets list`)")
    src.add_argument("--refit", action="store_true",
                     help="with --project: fit the scaler / vocabulary again on the data as it is now "
                          "(default: use the fitted state saved in the project)")
    data = p.add_argument_group("time-series data")
    data.add_argument("--csv", metavar="PATH", help="CSV file with a time series")
    data.add_argument("--target", metavar="COL[,COL]", help="target column(s)")
    data.add_argument("--date-col", metavar="COL", help="time column ('none' for a plain index)")
    data.add_argument("--date-format", metavar="FMT", help="strftime format of the time column, e.g. %%Y-%%m")
    data.add_argument("--features", metavar="COL[,COL]", help="extra input columns")
    data.add_argument("--look-back", type=int, metavar="N", help="input window length")
    data.add_argument("--horizon", type=int, metavar="N", help="steps ahead to predict")
    data.add_argument("--stride", type=int, metavar="N", help="step between windows")
    data.add_argument("--scaling", choices=["minmax", "standard", "none"])
    data.add_argument("--log", action="store_true", default=None, help="log-transform the series")
    data.add_argument("--diff", type=int, metavar="LAG", help="difference the series (1, or 12 for monthly seasons)")
    data.add_argument("--missing", choices=["error", "drop", "ffill", "interpolate"])
    data.add_argument("--train-frac", type=float, metavar="F")
    data.add_argument("--val-frac", type=float, metavar="F")
    text = p.add_argument_group("text data")
    text.add_argument("--text-csv", metavar="PATH[,PATH]", help="CSV file(s) of labelled texts (train part)")
    text.add_argument("--test-csv", metavar="PATH", help="CSV of labelled texts kept for testing")
    text.add_argument("--text-col", metavar="COL")
    text.add_argument("--label-col", metavar="COL")
    text.add_argument("--num-words", type=int, metavar="N", help="vocabulary size")
    text.add_argument("--max-len", type=int, metavar="N", help="pad/truncate texts to N tokens")
    text.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                      help="any option of the data source (repeatable; JSON values allowed)")
    text.add_argument("--source", metavar="NAME", help="data source by name (see `seqstudio datasets list`)")
    model = p.add_argument_group("model")
    model.add_argument("--layers", metavar="STACK", help="e.g. \"LSTM(4), Dense(1)\" or JSON")
    model.add_argument("--cell", metavar="NAME", help="run every recurrent layer with this cell (e.g. a plugin's)")
    tr = p.add_argument_group("training")
    tr.add_argument("--epochs", type=int, metavar="N")
    tr.add_argument("--batch-size", type=int, metavar="N")
    tr.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop"])
    tr.add_argument("--lr", type=float, metavar="LR", help="learning rate")
    tr.add_argument("--loss", choices=["mse", "mae", "huber", "pinball", "bce", "cross_entropy"],
                    help="pinball: the model outputs quantiles, whose bands are its prediction intervals")
    tr.add_argument("--quantile-intervals", metavar="L[,L]", help="with --loss pinball: the intervals "
                    "(percent) whose quantiles the model learns (default 80,95)")
    tr.add_argument("--seed", type=int)
    tr.add_argument("--device", metavar="DEV", help="auto, cpu, cuda, cuda:N or mps")
    tr.add_argument("--patience", type=int, metavar="N", help="early stopping patience (0 = off)")
    tr.add_argument("--val-fraction", type=float, metavar="F",
                    help="hold out this last part of the training samples for validation")
    tr.add_argument("--grad-clip", type=float, metavar="NORM")
    tr.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: chosen by model size)")
    tr.add_argument("--bucketing", action=argparse.BooleanOptionalAction, default=None,
                    help="text: batch reviews of similar length, each padded only to its longest "
                         "(faster; Keras pads all to max_len)")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def project_from_args(args: argparse.Namespace):
    """Build a :class:`Project` from ``--project`` / ``--preset`` and the override flags."""
    from seqstudio.core.presets import DEFAULT_PRESET
    from seqstudio.core.project import Project

    if args.project:
        project = Project.load(args.project)
    elif args.preset:
        project = Project.from_preset(args.preset)
    elif args.text_csv:
        project = Project.from_preset("imdb-lstm")
    else:
        project = Project.from_preset(DEFAULT_PRESET)
    if args.csv and not args.preset and not args.project:
        # A user's own CSV: keep the lecture's model and training, drop the airline's columns.
        project.name = Path(args.csv).stem
        for key in ("target", "date_col"):
            project.data_options.pop(key, None)
    if args.source and args.source != project.source:
        # Another source takes other options: start from its defaults, not the preset's.
        project.source = args.source
        project.data_options = {}
    d = project.data_options
    if args.csv:
        d["path"] = str(Path(args.csv).resolve())
    if args.text_csv:
        project.source = project.source if project.source != "csv-series" else "text-csv"
        paths = [str(Path(p).resolve()) for p in _csv_list(args.text_csv)]
        d["path"] = paths[0] if len(paths) == 1 else paths
        if not args.preset and not args.project:
            project.name = Path(paths[0]).stem
    if args.test_csv:
        d["test_path"] = str(Path(args.test_csv).resolve())
    simple = {
        "target": _csv_list(args.target) if args.target else None,
        "date_col": (None if args.date_col.lower() == "none" else args.date_col) if args.date_col else None,
        "date_format": args.date_format,
        "features": _csv_list(args.features) if args.features else None,
        "look_back": args.look_back, "horizon": args.horizon, "stride": args.stride,
        "scaling": args.scaling, "log": args.log, "diff_lag": args.diff, "missing": args.missing,
        "train_frac": args.train_frac, "val_frac": args.val_frac,
        "text_col": args.text_col, "label_col": args.label_col, "num_words": args.num_words,
        "max_len": args.max_len,
    }
    if args.date_col and args.date_col.lower() == "none":
        d["date_col"] = None
    d.update({k: v for k, v in simple.items() if v is not None})
    texts = {}
    for item in args.data_option:
        if "=" not in item:
            raise SeqStudioError(f"--data-option {item!r} has no '='", fix="write KEY=VALUE, e.g. missing=interpolate")
        k, v = item.split("=", 1)
        d[k.strip()] = _parse_value(v)
        texts[k.strip()] = v
    args.data_option_texts = texts  # read again as the source declares them (check_data_options)
    if args.layers:
        project.model = {"layers": parse_layers(args.layers)}
    if args.cell:
        for layer in project.model.get("layers", []):
            if layer.get("type") in ("SimpleRNN", "LSTM", "GRU", "RNN"):
                layer["type"] = "RNN"
                layer["cell"] = args.cell
    t = project.train
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
        "learning_rate": args.lr, "loss": args.loss, "seed": args.seed, "device": args.device,
        "early_stopping_patience": args.patience, "validation_fraction": args.val_fraction,
        "grad_clip": args.grad_clip, "threads": args.threads, "bucketing": args.bucketing,
        "quantile_intervals": args.quantile_intervals,
    }
    t.update({k: v for k, v in overrides.items() if v is not None})
    if getattr(args, "quantile_intervals", None) and str(t.get("loss", "")).lower() != "pinball":
        raise SeqStudioError(f"--quantile-intervals applies to the pinball loss, but the loss is "
                             f"{t.get('loss', 'mse')}", fix="add --loss pinball, or drop --quantile-intervals")
    return project


def _registry():
    from seqstudio.pluginapi.manager import default_manager

    manager = default_manager()
    registry = manager.registry
    problem = getattr(manager.settings, "problem", None)
    if problem is not None and not getattr(manager, "_settings_warned", False):
        manager._settings_warned = True
        print(f"seqstudio: warning: {problem.what} ({problem.where}); no plugin is disabled "
              f"until it is fixed or deleted", file=sys.stderr)
    return registry


#: Source options that have their own flag; the others are set with --data-option NAME=VALUE.
OPTION_FLAGS = {
    "path": "--csv", "target": "--target", "date_col": "--date-col", "date_format": "--date-format",
    "features": "--features", "look_back": "--look-back", "horizon": "--horizon", "stride": "--stride",
    "scaling": "--scaling", "log": "--log", "diff_lag": "--diff", "missing": "--missing",
    "train_frac": "--train-frac", "val_frac": "--val-frac", "text_col": "--text-col",
    "label_col": "--label-col", "num_words": "--num-words", "max_len": "--max-len",
    "test_path": "--test-csv",
}


def _option_flag(name: str) -> str:
    return OPTION_FLAGS.get(name) or f"--data-option {name}=VALUE"


def check_data_options(project, registry, args: argparse.Namespace | None = None) -> None:
    """Check the project's data options against its source's declaration, in the words of the
    command line: unknown names (with a did-you-mean), types, choices and ranges. Values given
    with ``--data-option`` are read as the type the source declares."""
    from seqstudio.core.errors import DataError
    from seqstudio.core.options import parse_option_text

    source = project._source_type(registry)
    values = dict(project.data_options)
    specs = {o.name: o for o in source.options}
    for key, text in (getattr(args, "data_option_texts", None) or {}).items():
        if key in specs:
            values[key] = parse_option_text(specs[key], text)
    try:
        resolved = source.resolve_options(values, setting=_option_flag)
    except DataError as exc:
        raise DataError(exc.what.replace("option '", "data option '"), where=exc.where,
                        fix=exc.fix) from None
    for key in values:
        project.data_options[key] = resolved[key]


# --------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from seqstudio.core.session import TrainingSession
    from seqstudio.core.train.distributed import torchrun_env

    job = torchrun_env()  # started by torchrun: one process of a data-parallel job
    if job is not None:
        if not job.is_main:
            args.quiet = True
        if not args.save and not args.project:
            raise SeqStudioError("a distributed run saves its project, but no file was named",
                                 fix="give --save FILE (or train a saved project: --project FILE)")
    # every place something is written is checked before training, not after it
    save_path = _check_save_path(args.save or (args.project if job else None)) \
        if args.save or job else None
    if args.metrics_out:
        _check_output_path(args.metrics_out, "--metrics-out")
    project = project_from_args(args)
    if save_path is not None:
        project.name = Path(save_path).stem  # saved under a name of the user's own: that is its name
    registry = _registry()
    check_data_options(project, registry, args)
    _warn_changed_data(project, args)
    session = TrainingSession(project, registry, refit=bool(args.refit))
    data, summary = session.prepare()
    cfg = session.config
    if not args.quiet:
        print(f"{project.name}: {data.description or project.source}")
        print(summary.format())
        print(f"training {cfg.epochs} epoch{'' if cfg.epochs == 1 else 's'}, batch size {cfg.batch_size}, {cfg.optimizer} "
              f"lr {cfg.learning_rate}, loss {cfg.loss}")
    if job is None:
        return _train_and_save(args, session, save_path)
    from seqstudio.core.distributed import start_rank

    with start_rank(session, job, save_path) as (parallel, checkpoint):
        if not args.quiet:
            print(parallel.describe())
        code = _train_and_save(args, session, save_path, parallel=parallel, checkpoint=checkpoint)
    if not job.is_main:
        # the job is over and this rank saves nothing: leave without the interpreter's teardown,
        # where gloo's and the store's C++ objects can abort a finished rank at random
        # ("terminate called without an active exception"), which torchrun reports as a failure
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _train_and_save(args: argparse.Namespace, session, save_path: Path | None, *,
                    parallel=None, checkpoint: Path | None = None) -> int:
    from seqstudio.core.train.control import TrainControl
    from seqstudio.core.train.events import BatchEnded, EpochEnded, Finished, Stopped, ThreadsChosen

    project, registry, data, cfg = session.project, session.registry, session.data, session.config
    main = parallel is None or parallel.env.is_main
    control = TrainControl()
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        batches = -(-len(data.x_train) // cfg.batch_size)
        bar = tqdm(total=cfg.epochs * batches, unit="batch", dynamic_ncols=True, leave=False,
                   file=sys.stderr, mininterval=0.2)
    result = None
    threads_shown = None
    events = session.run(control, parallel=parallel, checkpoint=checkpoint)
    try:
        for ev in events:
            if bar is not None and session.resumed is not None and not bar.n:
                # a restarted job goes on from its checkpoint: fewer epochs are left
                bar.total = (cfg.epochs - session.resumed.epoch + session.epochs_done()) * batches
            if isinstance(ev, BatchEnded):
                if bar is not None:
                    bar.update(1)
            elif isinstance(ev, EpochEnded):
                if bar is not None:
                    bar.write(_epoch_line(ev))
                    bar.set_postfix(loss=f"{ev.train_loss:.4g}", threads=threads_shown, refresh=False)
            elif isinstance(ev, ThreadsChosen):
                if ev.threads != threads_shown and bar is not None:  # a change, not each re-check
                    bar.write(f"CPU threads: {ev.reason}")
                    bar.set_postfix(threads=ev.threads, refresh=False)
                threads_shown = ev.threads
            elif isinstance(ev, Stopped) and main:
                msg = f"stopped at epoch {ev.epoch}: {ev.message}"
                (bar.write if bar is not None else print)(msg)
            elif isinstance(ev, Finished):
                result = ev.result
    except KeyboardInterrupt:
        control.stop()
        for ev in events:  # let the engine finish cleanly and keep the last good weights
            if isinstance(ev, Finished):
                result = ev.result
    finally:
        if bar is not None:
            bar.close()
    if result is not None and result.stopped_reason == "error":
        # The run failed: nothing it produced is written, the saved project keeps its weights.
        raise training_failure(project, registry, result)
    if not main:
        return 0  # rank 0 reports and saves for the whole job
    if session.resumed is not None:  # said even when quiet: the run is not what it seems
        print(f"went on from the checkpoint of epoch {session.resumed.epoch}")
    report = session.metrics_report(result)
    print(format_metrics(report))
    if save_path is not None:  # first: the trained model is what must not be lost
        from seqstudio.core.project import weights_path

        path = _in_cli_words(project.save, "--save", save_path)
        print(f"project saved to {path} (weights: {weights_path(path).name})")
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)  # the project now holds all it held
    if args.metrics_out:
        _write_output(args.metrics_out, "--metrics-out",
                      json.dumps(report, indent=2, default=float) + "\n")
        print(f"metrics written to {args.metrics_out}")
    if result is None:
        raise TrainingError("training ended without a result", fix="run it again")
    if result.stopped_reason in ("nan", "error"):
        kept = " (the last good weights were saved)" if save_path is not None else ""
        raise TrainingError(f"training stopped at epoch {stopped_epoch(result)}: "
                            f"{result.stopped_message or result.stopped_reason}{kept}",
                            fix="lower --lr, add --grad-clip 1.0, or check the data for extreme values"
                            if result.stopped_reason == "nan" else "see the message above")
    return 0


def stopped_epoch(result) -> int:
    history = getattr(result, "history", None) or []
    return int(history[-1]["epoch"]) + 1 if history else 1


# --------------------------------------------------------------------------- output files
def _check_save_path(value: str) -> Path:
    """``--save``'s path, checked before training (the folder must exist: nothing is created)."""
    from seqstudio.core.project import check_save_path

    return _in_cli_words(check_save_path, "--save", value)


def _in_cli_words(func, flag: str, *args):
    """Call ``func``; a ProjectError it raises is told as a problem with ``flag``."""
    from seqstudio.core.errors import ProjectError

    try:
        return func(*args)
    except ProjectError as exc:
        raise SeqStudioError(f"{flag}: {exc.what}", where=exc.where,
                             fix=(exc.fix or "").replace("choose another place to save",
                                                         f"give {flag} another path")) from None


def _check_output_path(value: str, flag: str) -> Path:
    """A file the command will write, checked before the work: its folder exists, it is no folder."""
    path = Path(value)
    folder = path.parent
    if path.is_dir():
        raise SeqStudioError(f"{flag} {value!r} is a folder", fix=f"give {flag} a file name")
    if not folder.exists():
        raise SeqStudioError(f"{flag}: the folder {str(folder)!r} does not exist",
                             fix=f"create it first, or give {flag} a path in an existing folder")
    if not folder.is_dir():
        raise SeqStudioError(f"{flag}: {str(folder)!r} is a file, not a folder",
                             fix=f"give {flag} a path inside a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SeqStudioError(f"{flag}: cannot write to {value!r}",
                             fix=f"give {flag} a path you can write to")
    return path


def _write_output(value: str, flag: str, text: str) -> None:
    try:
        Path(value).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SeqStudioError(f"{flag}: cannot write {value!r}: {exc.strerror or exc}",
                             fix=f"give {flag} another path") from None


def _warn_changed_data(project, args) -> None:
    """Say when a saved project's data file changed since it was trained."""
    if not getattr(args, "project", None):
        return
    changed = project.changed_data_files()
    if not changed:
        return
    what = "fitted again on it (--refit)" if getattr(args, "refit", False) else \
        "the scaling and vocabulary saved in the project are used; pass --refit to fit them again"
    for item in changed:
        print(f"seqstudio: warning: the data file changed since the project was trained: {item}; "
              f"{what}", file=sys.stderr)


def training_failure(project, registry, result) -> SeqStudioError:
    """The user error for a run that stopped on an exception: the plugin that failed when its
    code is in the traceback, the traceback itself in a log file either way."""
    from seqstudio.core.errors import TrainingError
    from seqstudio.core.faults import attribute, write_log

    def item(plugin: str) -> str:
        cells = [layer.get("cell") for layer in project.model.get("layers", [])
                 if isinstance(layer.get("cell"), str) and layer["cell"].startswith(plugin + ">")]
        keys = list(dict.fromkeys(cells))
        if keys:
            return ", ".join(f"cell {k!r}" for k in keys)
        if str(project.source).startswith(plugin + ">"):
            return f"data source {project.source!r}"
        return "its code"

    err = attribute(None, registry.plugin_files, tb_text=result.stopped_traceback, item=item,
                    stage=f"training (epoch {len(result.history) + 1})")
    if err is not None:
        err.what += "\n  nothing was saved: the project keeps its last good weights"
        return err
    path = write_log(result.stopped_traceback or result.stopped_message, prefix="training-error")
    return TrainingError(f"training failed: {result.stopped_message}"
                         + (f"\n  full traceback: {path}" if path else "")
                         + "\n  nothing was saved: the project keeps its last good weights",
                         fix="check the model and the data; the log file shows where it failed")


def _epoch_line(ev) -> str:
    parts = [f"epoch {ev.epoch}/{ev.epochs}", f"loss {ev.train_loss:.5g}"]
    if ev.val_loss is not None:
        parts.append(f"val_loss {ev.val_loss:.5g}")
    for k, v in (ev.metrics or {}).items():
        if isinstance(v, int | float):
            parts.append(f"{k} {v:.4g}")
    parts.append(f"{ev.seconds:.2f}s")
    return "  ".join(parts)


def format_metrics(report: dict) -> str:
    """The final metrics as a small table: one row per split, baselines beside the model."""
    lines = []
    splits = report.get("splits", {})
    keys = ["loss", "rmse", "mae", "mape", "accuracy", "precision", "recall", "f1", "roc_auc"]
    shown = [k for k in keys if any(isinstance(m.get(k), int | float) for m in splits.values())]
    lines.append("split".ljust(16) + "".join(k.rjust(12) for k in shown))
    for split, m in splits.items():
        lines.append(split.ljust(16) + "".join(_num(m.get(k)).rjust(12) for k in shown))
        for name, b in (m.get("baselines") or {}).items():
            lines.append(f"  {name}".ljust(16) + "".join(_num(b.get(k)).rjust(12) for k in shown))
    lines.append(f"epochs run: {report.get('epochs_run')}   seconds: {report.get('seconds', 0):.2f}"
                 f"   device: {report.get('device')}")
    if report.get("threads_reason"):
        lines.append(f"CPU threads: {report['threads_reason']}")
    return "\n".join(lines)


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) else "-"


def cmd_summary(args: argparse.Namespace) -> int:
    project = project_from_args(args)
    registry = _registry()
    check_data_options(project, registry, args)
    data = project.prepare_data(registry)
    from seqstudio.core.forecast.quantiles import fold_spec

    summary = fold_spec(project, registry).check_data(data, registry=registry)  # pinball: wider Dense
    from seqstudio.core.model.memory import estimate_training_memory

    summary.memory = estimate_training_memory(summary, project.train_config().batch_size)
    print(f"Model: {project.name}   input {tuple(data.input_shape)}"
          f"{' (token ids)' if data.input_is_ids else ''}   outputs {data.n_outputs}")
    print(summary.format())
    return 0


def project_is_text(project) -> bool:
    """Whether a saved project classifies texts (its fitted state is a vocabulary)."""
    fitted = project.fitted or {}
    if "vocabulary" in fitted:
        return True
    if "scaler" in fitted:
        return False
    try:
        return _registry().source(project.source).kind == "text"
    except SeqStudioError:
        return False


def cmd_predict(args: argparse.Namespace) -> int:
    from seqstudio.core.session import predict_project

    if not args.project:
        raise SeqStudioError("predict needs a trained project", fix="pass --project FILE (saved with --save)")
    from seqstudio.core.project import Project

    if args.out:
        _check_output_path(args.out, "--out")
    if not 1 <= args.steps <= MAX_FORECAST_STEPS:
        raise SeqStudioError(f"--steps must be from 1 to {MAX_FORECAST_STEPS}, got {args.steps}",
                             fix="forecast fewer steps, e.g. --steps 24 (a recursive forecast "
                                 "grows less reliable with every step)")
    project = Project.load(args.project)
    is_text = project_is_text(project)
    texts = None
    if args.text is not None and args.file:
        raise SeqStudioError("--text and --file both give texts to classify",
                             fix="use one of them: --text (repeatable) or --file FILE.txt")
    if args.text is not None:
        texts = list(args.text)
    elif args.file:
        path = Path(args.file)
        if not path.is_file():
            raise SeqStudioError(f"--file {args.file!r} does not exist", fix="check the path")
        texts = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if is_text and texts is None:
        raise SeqStudioError("this project classifies texts; give it something to classify",
                             where=args.project, fix='pass --text "some text" or --file FILE.txt')
    if not is_text and texts is not None:
        raise SeqStudioError("this project forecasts a time series; --text and --file are for "
                             "text projects", where=args.project, fix="forecast with --steps N instead")
    if not is_text:
        _warn_changed_data(project, args)
    levels = None
    if args.intervals is not None:
        from seqstudio.core.forecast import parse_levels

        if texts is not None:
            raise SeqStudioError("--intervals applies to series forecasts, not to texts",
                                 fix="drop --intervals, or forecast a series project")
        try:
            levels = parse_levels(args.intervals)
        except SeqStudioError as exc:
            raise SeqStudioError(f"--intervals: {exc.what}", fix="e.g. --intervals 80,95") from None
    table = predict_project(project, _registry(), steps=args.steps, texts=texts, refit=bool(args.refit))
    if levels is not None:
        from seqstudio.core.forecast.predict import add_intervals

        table, how = add_intervals(project, _registry(), table, levels)
        print(how)
    if args.out:
        _write_output(args.out, "--out", table.to_csv(index=False))
        print(f"wrote {len(table)} rows to {args.out}")
    else:  # on screen, 6 significant digits; the CSV keeps every digit the model gave
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from seqstudio.core.export import export_project
    from seqstudio.core.project import Project

    if not args.project:
        raise SeqStudioError("export needs a trained project", fix="pass --project FILE (saved with --save)")
    if not args.out:
        raise SeqStudioError("export needs a folder to write the bundle into", fix="pass --out DIR")
    netron = _netron() if args.netron else None  # before exporting: a missing viewer is said at once
    project = Project.load(args.project)
    result = export_project(project, _registry(), args.out, args.format,
                            max_check_rows=args.check_rows)
    print(f"exported {project.name} as {result.format} to {result.directory}")
    for path in result.files:
        print(f"  {path.name}")
    worst = max(result.checks, key=lambda c: c.max_abs_diff)
    print(f"self-check: {len(result.checks)} comparisons at batch 1 and 256, largest difference "
          f"{worst.max_abs_diff:.2g} (tolerance 1e-05), in {result.seconds:.1f} s")
    if netron is not None:
        netron.start(str(result.model_file))
        print("Netron shows the model in your browser; press Ctrl+C to stop it")
        netron.wait()
    return 0


def _netron():
    try:
        import netron
    except ImportError:
        raise SeqStudioError("--netron needs the netron package", where="--netron",
                             fix="pip install netron (or leave out --netron)") from None
    return netron


def _project_for(args: argparse.Namespace):
    """The project of a command that takes only --project / --preset and a few overrides."""
    base = argparse.ArgumentParser(add_help=False)
    _add_project_args(base)
    ns = base.parse_args([])
    for key in ("project", "preset", "epochs", "seed", "device", "loss", "quantile_intervals"):
        setattr(ns, key, getattr(args, key, None))
    return project_from_args(ns)


def _backtest_plan(args: argparse.Namespace, data):
    from seqstudio.core.errors import DataError
    from seqstudio.core.forecast import BacktestPlan, parse_retrain

    try:
        retrain = parse_retrain(args.retrain)
    except DataError:
        raise SeqStudioError(f"--retrain {args.retrain!r} is not never, every or a number of folds",
                             fix="use --retrain every (each fold from scratch), --retrain never "
                                 "(the project's trained model) or --retrain 3 (every 3 folds)") from None
    start = None
    if args.start is not None:
        text = args.start.strip()
        if text.isdigit():
            start = int(text)
        else:
            import pandas as pd

            index = data.series.index
            try:
                when = pd.Timestamp(text)
            except (ValueError, TypeError):
                raise SeqStudioError(f"--start {text!r} is neither a row number nor a time",
                                     fix="give a row (e.g. --start 96) or a time (e.g. --start 1957-01)") from None
            if not isinstance(index, pd.DatetimeIndex) or when > index[-1]:
                raise SeqStudioError(f"--start {text} is not within the series' times",
                                     fix=f"give a row number below {len(index)}")
            start = int(index.searchsorted(when))
    folds = args.folds
    if folds is None and start is None and retrain != 0:
        folds = 5  # never-retrain without --folds / --start forecasts from every test origin
    for flag, value in (("--folds", folds), ("--horizon", args.horizon), ("--stride", args.stride)):
        if value is not None and value < 1:
            raise SeqStudioError(f"{flag} must be at least 1, got {value}", fix=f"e.g. {flag} 5")
    return BacktestPlan(folds=folds, horizon=args.horizon, stride=args.stride, start=start,
                        retrain=retrain, window=args.window, window_size=args.window_size)


def cmd_backtest(args: argparse.Namespace) -> int:
    from seqstudio.core.forecast import (
        BacktestFinished,
        BacktestProgress,
        parse_levels,
        run_backtest,
    )
    from seqstudio.core.forecast.backtest import record_in_project
    from seqstudio.core.forecast.statistical import STATISTICAL, unavailable_reason
    from seqstudio.core.train.control import TrainControl

    project = _project_for(args)
    registry = _registry()
    try:
        levels = parse_levels(args.intervals)
    except SeqStudioError as exc:
        raise SeqStudioError(f"--intervals: {exc.what}", fix="e.g. --intervals 80,95") from None
    if args.stats is None:
        stats = STATISTICAL
    else:
        stats = () if args.stats.strip().lower() in ("none", "") else tuple(_csv_list(args.stats.lower()))
    unknown = [s for s in stats if s not in STATISTICAL]
    if unknown:
        raise SeqStudioError(f"--stats {unknown[0]!r} is not a statistical model",
                             fix=f"choose among {', '.join(STATISTICAL)}, or none")
    if stats and unavailable_reason():
        if args.stats is not None:
            raise SeqStudioError(unavailable_reason(), fix="install it, or pass --stats none")
        print(f"note: {unavailable_reason()}; comparing with the four baselines only")
        stats = ()
    if args.season is not None and args.season < 1:
        raise SeqStudioError(f"--season must be at least 1, got {args.season}", fix="e.g. --season 12")
    if args.workers is not None and args.workers < 1:
        raise SeqStudioError(f"--workers must be at least 1, got {args.workers}", fix="e.g. --workers 2")
    from seqstudio.core.forecast.backtest import _series_data

    data = _series_data(project, registry)
    plan = _backtest_plan(args, data)
    control = TrainControl()
    result = None
    events = run_backtest(project, registry, plan, levels=levels, statistical=stats,
                          season=args.season, workers=args.workers, control=control, data=data)
    try:
        for ev in events:
            if isinstance(ev, BacktestProgress) and not args.quiet:
                print(f"[{ev.done}/{ev.total}] {ev.message}", file=sys.stderr)
            elif isinstance(ev, BacktestFinished):
                result = ev.result
    except KeyboardInterrupt:
        control.stop()
        events.close()
        print("seqstudio: backtest stopped", file=sys.stderr)
        return 130
    print(format_backtest(result, project.name))
    if args.metrics_out:
        report = {k: v for k, v in result.to_dict().items() if k not in ("actual", "forecasts")}
        Path(args.metrics_out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"metrics written to {args.metrics_out}")
    if args.out:
        result.forecasts_frame().to_csv(args.out, index=False)
        print(f"forecasts written to {args.out}")
    target = args.save or args.project
    if target:
        record_in_project(project, result)
        path = project.save(target)
        print(f"backtest kept in {path} (see Runs in the window)")
    return 0


def format_backtest(result, name: str = "") -> str:
    """What a backtest found, as the CLI prints it."""
    plan = result.plan
    retrain = {0: "never retrained", 1: "retrained every fold"}.get(
        plan["retrain"], f"retrained every {plan['retrain']} folds")
    lines = [f"{name}: {len(result.origins)} folds from {result.origin_times[0]} to "
             f"{result.origin_times[-1]}, horizon {plan['horizon']}, stride {plan['stride']}, "
             f"{plan['window']} window, {retrain}; {result.strategy} forecasts "
             f"({result.model_horizon} step(s) per model output), season {result.season}",
             "", "mean +- std over folds:", result.summary_table(), "",
             "MASE per step ahead:", result.step_table("mase"), ""]
    lines += [f"model {v['text']}" for v in result.verdicts]
    iv = result.intervals
    if iv.get("method") == "quantile":
        lines += ["", *_quantile_lines(result)]
    elif iv:
        lines.append("")
        for level in iv["levels"]:
            key = f"{level:g}"
            cov = iv["coverage"][key]
            q = iv["quantiles"][key][:, 0]
            width = ", ".join(f"{v:.3g}" for v in q)
            held = (f"held-out coverage {cov['rate']:.2f} ({cov['covered']}/{cov['n']} values, "
                    f"{cov['folds']} folds)") if cov["n"] else \
                "no held-out coverage (no fold has earlier residuals at its steps; use more folds)"
            lines.append(f"{key}% interval half-width per step: {width}; {held}")
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"{result.seconds:.1f} s" + (f", {result.workers} worker(s)" if result.workers else ""))
    return "\n".join(lines)


def _quantile_lines(result) -> list[str]:
    """The quantile bands of a backtest: mean width per step, coverage beside conformal's."""
    import numpy as np

    iv, lines = result.intervals, []
    for level in iv["levels"]:
        key = f"{level:g}"
        cov, conf = iv["coverage"][key], iv["conformal_coverage"][key]
        width = np.nanmean(np.asarray(iv["upper"][key], float) - np.asarray(iv["lower"][key], float),
                           axis=0)[:, 0]
        held = f"coverage {cov['rate']:.2f} ({cov['covered']}/{cov['n']} values, {cov['folds']} folds)" \
            if cov["n"] else "no coverage (no fold with actual values)"
        other = f"{conf['rate']:.2f} ({conf['covered']}/{conf['n']})" if conf["n"] else "none yet"
        lines.append(f"{key}% quantile band (the model's own) mean width per step: "
                     f"{', '.join(f'{v:.3g}' for v in width)}; {held}; split-conformal on the same "
                     f"folds: {other}")
        steps = ", ".join("-" if v is None else f"{v:.2f}" for v in cov.get("per_step", []))
        lines.append(f"  {key}% quantile band coverage per step ahead: {steps}")
    return lines


def cmd_datasets(args: argparse.Namespace) -> int:
    from seqstudio.pluginapi.catalog import listing

    rows = listing()["sources"]  # remembered while no plugin changed: no plugin or torch import
    if args.json:
        print(json.dumps([{**r, "options": [{k: v for k, v in o.items() if k != "default_repr"}
                                             for o in r["options"]]} for r in rows], indent=2))
        return 0
    for r in rows:
        print(f"{r['key']}  [{r['kind']}]  {r['description']}")
        if args.verbose:
            for o in r["options"]:
                print(f"    {o['name']} ({o['type']}, default {o['default_repr']}): {o['help']}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from seqstudio.pluginapi.catalog import listing

    found = listing()  # remembered while no plugin changed: no plugin or torch import
    print("Layers:")
    for layer in found["layers"]:
        print(f"  {layer['name']}({', '.join(layer['fields'])})")
    for layer in found["plugin_layers"]:
        print(f"  {layer['key']}  (plugin layer {layer['class']})")
    print("Cells (use with RNN(cell=...) or --cell):")
    for cell in found["cells"]:
        state = f"  DISABLED: {cell['disabled_reason']}" if cell["disabled_reason"] else ""
        print(f"  {cell['key']}: {cell['description']}{state}")
        for o in cell["parameters"]:
            choices = f", one of {o['choices']}" if o["choices"] else ""
            print(f"      cell_options {o['name']!r}: {o['type']}, default {o['default_repr']}{choices}"
                  f"{': ' + o['help'] if o['help'] else ''}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from seqstudio.core.presets import PRESETS

    for p in PRESETS.values():
        print(f"{p.name}: {p.description}")
    return 0


def cmd_vocab(args: argparse.Namespace) -> int:
    from seqstudio.core.project import Project
    from seqstudio.core.session import vocabulary_of

    project = Project.load(args.project)
    vocab = vocabulary_of(project)
    if args.word:
        for w in args.word:
            rank = vocab.rank(w)
            print(f"{w}\t{rank if rank is not None else 'not in the vocabulary'}")
    else:
        items = sorted(vocab.word_index.items(), key=lambda kv: kv[1])[: args.top]
        for w, r in items:
            print(f"{r}\t{w}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from seqstudio.gui.app import main as gui_main
    except ImportError as exc:
        raise SeqStudioError(f"the window cannot start: {exc}",
                             fix="install the Qt libraries (pip install PySide6-Essentials pyqtgraph), "
                                 "or use the headless commands: seqstudio train --preset airline-lstm") from None
    argv = ["--startup-time"] if getattr(args, "startup_time", False) else []
    if getattr(args, "project", None):
        argv += ["--project", args.project]
    if getattr(args, "preset", None):
        argv += ["--preset", args.preset]
    return gui_main(argv)


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqstudio",
        description="A studio for sequence models. Without a command, opens the window.")
    parser.add_argument("--version", action="version", version=_version_text())
    startup_help = ("open the window, print the seconds from process start to the window shown "
                    "and usable (data plotted, model editor filled), then close")
    parser.add_argument("--startup-time", action="store_true", help=startup_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", help="open the window (the default)")
    p.add_argument("--project", metavar="FILE")
    p.add_argument("--preset", metavar="NAME")
    p.add_argument("--startup-time", action="store_true", help=startup_help)
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("train", help="train a model headless, with a progress bar")
    _add_project_args(p)
    p.add_argument("--metrics-out", metavar="FILE.json", help="write the final metrics as JSON")
    p.add_argument("--save", metavar="FILE", help="save the trained project (JSON + .safetensors)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the final metrics")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("summary", help="print the layer stack as a Keras-like table")
    _add_project_args(p)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("predict", help="forecast the next steps, or classify texts, with a trained project")
    p.add_argument("--project", metavar="FILE", required=False)
    p.add_argument("--steps", type=int, default=12, metavar="N", help="future steps to forecast (series)")
    p.add_argument("--text", metavar="TEXT", action="append",
                   help="classify this text (repeat --text to classify several)")
    p.add_argument("--file", metavar="FILE", help="classify every line of a text file")
    p.add_argument("--out", metavar="FILE.csv", help="write the predictions as CSV")
    p.add_argument("--refit", action="store_true",
                   help="fit the scaler again on the data as it is now (default: the project's saved one)")
    p.add_argument("--intervals", metavar="L[,L]", help="prediction intervals at these levels in "
                   "percent, e.g. 80,95 (split-conformal, from the project's backtest)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a trained model with its preprocessing, self-checked")
    p.add_argument("--project", metavar="FILE", help="a trained project (.json)")
    p.add_argument("--format", choices=["onnx", "torchscript", "exported-program"], default="onnx",
                   help="model file format (default: onnx)")
    p.add_argument("--out", metavar="DIR", help="folder for the bundle (new, empty, or an earlier bundle)")
    p.add_argument("--check-rows", type=int, default=4096, metavar="N",
                   help="compare at most N test windows in the self-check (0: all; default 4096)")
    p.add_argument("--netron", action="store_true", help="open the model in Netron afterwards (if installed)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("backtest", help="judge a model over many forecast origins, beside baselines")
    src = p.add_argument_group("what to backtest")
    src.add_argument("--project", metavar="FILE", help="a saved project (.json); the result is kept in it")
    src.add_argument("--preset", metavar="NAME", help="a named recipe (see `seqstudio presets list`)")
    src.add_argument("--epochs", type=int, metavar="N", help="override the training epochs")
    src.add_argument("--seed", type=int, help="override the training seed")
    src.add_argument("--device", metavar="DEV", help="auto, cpu, cuda, cuda:N or mps")
    src.add_argument("--loss", metavar="LOSS", help="override the training loss (pinball: the model's "
                     "own quantiles give the intervals)")
    src.add_argument("--quantile-intervals", metavar="L[,L]", help="with --loss pinball: the intervals "
                     "whose quantiles the model learns")
    bt = p.add_argument_group("folds")
    bt.add_argument("--folds", type=int, metavar="N", help="number of forecast origins (default 5; "
                    "with --retrain never: every origin after the training data)")
    bt.add_argument("--start", metavar="ROW|TIME", help="first origin instead of --folds (e.g. 96 or 1957-01)")
    bt.add_argument("--horizon", type=int, default=12, metavar="H", help="steps ahead (default 12)")
    bt.add_argument("--stride", type=int, default=1, metavar="S", help="rows between origins (default 1)")
    bt.add_argument("--retrain", default="every", metavar="every|never|K",
                    help="train each fold from scratch (every), use the project's trained model "
                    "(never), or retrain every K folds")
    bt.add_argument("--window", choices=["expanding", "sliding"], default="expanding",
                    help="train on all the past (expanding) or a fixed number of rows (sliding)")
    bt.add_argument("--window-size", type=int, metavar="ROWS", help="rows of a sliding window "
                    "(default: the first fold's history)")
    bt.add_argument("--season", type=int, metavar="M", help="season length (default: from the time step)")
    bt.add_argument("--stats", metavar="ets,arima|none", help="statistical baselines (default: "
                    "ets,arima when statsmodels is installed)")
    bt.add_argument("--workers", type=int, metavar="N", help="parallel fold trainings (default: free cores)")
    out = p.add_argument_group("output")
    out.add_argument("--intervals", default="80,95", metavar="L[,L]", help="interval levels in percent")
    out.add_argument("--metrics-out", metavar="FILE.json", help="write every metric as JSON")
    out.add_argument("--out", metavar="FILE.csv", help="write every fold's forecasts and bands as CSV")
    out.add_argument("--save", metavar="FILE", help="save the project with the backtest in it "
                     "(default: back into --project)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("datasets", help="data sources")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    q = dsub.add_parser("list", help="list registered data sources")
    q.add_argument("--json", action="store_true")
    q.add_argument("-v", "--verbose", action="store_true", help="show each source's options")
    q.set_defaults(func=cmd_datasets)

    p = sub.add_parser("layers", help="layer types and cells")
    lsub = p.add_subparsers(dest="layers_command", metavar="ACTION", required=True)
    lsub.add_parser("list", help="list layer types and registered cells").set_defaults(func=cmd_layers)

    p = sub.add_parser("presets", help="named recipes")
    psub = p.add_subparsers(dest="presets_command", metavar="ACTION", required=True)
    psub.add_parser("list", help="list presets").set_defaults(func=cmd_presets)

    p = sub.add_parser("vocab", help="inspect a text project's vocabulary")
    p.add_argument("--project", metavar="FILE", required=True)
    p.add_argument("--word", action="append", metavar="WORD", help="show this word's rank (repeatable)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="show the N most frequent words")
    p.set_defaults(func=cmd_vocab)

    from seqstudio.cli_sweep import add_parser as add_sweep_parser

    add_sweep_parser(sub)  # `seqstudio sweep`: its own module

    from seqstudio import cli_inspect

    cli_inspect.add_parser(sub)

    from seqstudio.pluginapi.commands import add_plugin_commands

    add_plugin_commands(sub)
    return parser


#: Option and setting names -> the flag that sets them, for messages shown by the CLI.
FLAGS = {
    "epochs": "--epochs", "batch_size": "--batch-size", "optimizer": "--optimizer",
    "learning_rate": "--lr", "loss": "--loss", "seed": "--seed", "device": "--device",
    "early_stopping_patience": "--patience", "validation_fraction": "--val-fraction",
    "grad_clip": "--grad-clip", "threads": "--threads", "bucketing": "--bucketing",
    "quantile_intervals": "--quantile-intervals", "target": "--target", "date_col": "--date-col", "date_format": "--date-format",
    "features": "--features", "look_back": "--look-back", "horizon": "--horizon",
    "stride": "--stride", "scaling": "--scaling", "log": "--log", "diff_lag": "--diff",
    "missing": "--missing", "train_frac": "--train-frac", "val_frac": "--val-frac",
    "text_col": "--text-col", "label_col": "--label-col", "num_words": "--num-words",
    "max_len": "--max-len",
}
_SETTING = re.compile(r"(?:training setting|data option|the series option|series option|option) "
                      r"'(\w+)'")
#: Option names with an underscore standing alone in a message ("lower look_back").
_BARE_NAME = re.compile(r"(?<![\w'\"-])(" + "|".join(k for k in FLAGS if "_" in k) + r")(?![\w'\"=])")
_ASSIGNMENT = re.compile(r"\b([a-z_]+)\s*=\s*('[^']*'|\"[^\"]*\"|[\w.:%/+-]+)")


def _flag_words(text: str) -> str:
    """``date_col=None`` -> ``--date-col none``; ``training setting 'seed'`` -> ``--seed``."""
    def setting(m: re.Match) -> str:
        flag = FLAGS.get(m.group(1))
        return flag if flag else f"--data-option {m.group(1)}"

    def assignment(m: re.Match) -> str:
        name, value = m.group(1), m.group(2).strip("'\"")
        flag = FLAGS.get(name)
        if flag is None:
            return f"--data-option {name}={value}" if name in _DATA_OPTION_WORDS else m.group(0)
        if value in ("True", "true") and flag == "--log":
            return flag
        return f"{flag} {'none' if value == 'None' else value}"

    text = _ASSIGNMENT.sub(assignment, _SETTING.sub(setting, text))
    # A "use one of: ..." list names what --data-option takes, so its names stay as they are.
    head, sep, choices = text.partition("use one of:")
    return _BARE_NAME.sub(lambda m: FLAGS[m.group(1)], head) + sep + choices


#: Data options without a flag of their own, written as --data-option NAME=VALUE.
_DATA_OPTION_WORDS = {"categorical", "period", "season", "encoding", "delimiter", "decimal"}


def in_cli_words(exc: SeqStudioError) -> str:
    """The error as the CLI shows it: option syntax from the core replaced by the flags."""
    what, where, fix = (_flag_words(v) if v else v for v in (exc.what, exc.where, exc.fix))
    text = what
    if where:
        text += f" (at {where})"
    if fix:
        text += f"\n  fix: {fix}"
    return text


def _version_text() -> str:
    return f"seqstudio {__version__}"


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(_version_text())  # before the parser, whose plugin commands cost imports
        raise SystemExit(0)  # as argparse's --version does
    from seqstudio.core.train.threads import prepare_openmp_env

    prepare_openmp_env()  # before anything imports torch and starts OpenMP
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
        if func is None:
            return cmd_gui(args)
        return int(func(args) or 0)
    except SeqStudioError as exc:
        print(f"seqstudio: error: {in_cli_words(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        from seqstudio.pluginapi.manager import attribute_to_plugin

        err = attribute_to_plugin(exc)  # a plugin's code failed: name it, log the traceback
        if err is None:
            raise
        print(f"seqstudio: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("seqstudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
