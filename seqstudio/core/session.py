"""One training session over a project: prepare, train, record.

The CLI and the window's worker both use :class:`TrainingSession` so that a
run behaves the same everywhere: the data is prepared through the project's
registered source, the stack is validated against it before any training,
the core's :func:`~seqstudio.core.train.loop.train` generator runs, and when it
finishes the project receives the weights, the fitted transforms, the final
metrics and a new entry in its run history.

>>> from seqstudio.core.project import Project
>>> from seqstudio.pluginapi.manager import builtin_registry
>>> s = TrainingSession(Project.from_preset("airline-lstm"), builtin_registry())
>>> data, summary = s.prepare()
>>> summary.total_params
101
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from seqstudio.core.data.identity import data_identity
from seqstudio.core.data.prepared import SPLITS, Forecaster
from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import Project
from seqstudio.core.train.runs import make_run_record, next_run_number

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from seqstudio.core.train.config import TrainConfig
    from seqstudio.core.train.distributed import Checkpoint, DataParallel
    from seqstudio.core.train.events import TrainResult


class TrainingSession:
    """Prepare a project's data and model, train it, and write the outcome back into it."""

    def __init__(self, project: Project, registry, *, data=None, keep_run_weights: bool = False,
                 refit: bool = False):
        self.project = project
        #: Fit the scaler / vocabulary again on the data as it is now, instead of the saved ones.
        self.refit = refit
        self.registry = registry
        self.data = data
        #: Also keep each run's final weights in ``project.run_weights`` (to continue from any run).
        self.keep_run_weights = keep_run_weights
        self.model: torch.nn.Module | None = None
        self.summary = None
        self.config: TrainConfig | None = None
        self.result: TrainResult | None = None
        #: The checkpoint a distributed run went on from (None: it started afresh).
        self.resumed: Checkpoint | None = None

    # -- preparing --------------------------------------------------------
    def prepare(self):
        """Load the data, validate the stack against it and build the model.

        Saved weights in the project are loaded, so training continues from
        them. Returns ``(data, summary)``; raises a SeqStudioError for bad
        data, an impossible stack or a missing plugin.
        """
        if self.data is None:
            self.data = self.project.prepare_data(self.registry, refit=self.refit)
        from seqstudio.core.model.quantiles import quantile_spec

        self.config = self.project.train_config()
        # the pinball loss widens the last Dense: the summary shows the model that is built
        spec = quantile_spec(self.project.model_spec(self.registry), self.config.quantiles())
        self.summary = spec.check_data(self.data, registry=self.registry)
        if self.model is None:
            from seqstudio.core.model.memory import estimate_training_memory

            # shown in the summary; build_model refuses what cannot fit before allocating
            self.summary.memory = estimate_training_memory(self.summary, self.config.batch_size)
            self.model = self.project.build_model(self.data, self.registry)
        return self.data, self.summary

    def epochs_done(self) -> int:
        """Epochs already trained into the current weights (for continued training)."""
        return int(self.project.results.get("epochs_total", 0)) if self.project.weights else 0

    # -- training ---------------------------------------------------------
    def run(self, control=None, *, config=None, parallel: DataParallel | None = None,
            checkpoint: Path | None = None) -> Iterator[Any]:
        """Iterate the core's training events; the project is updated on ``Finished``.

        With ``parallel`` (a started :class:`~seqstudio.core.train.distributed.DataParallel`)
        this process trains as one rank of a torchrun job; rank 0 alone writes epoch
        checkpoints to ``checkpoint`` (see :mod:`seqstudio.core.checkpoint`) and goes on from
        the one it finds there, and only rank 0's project receives the run.
        """
        from seqstudio.core.train.events import Finished
        from seqstudio.core.train.loop import train

        if self.model is None:
            self.prepare()
        if config is not None:
            self.config = config
        start_epoch = self.epochs_done()
        started = time.time()
        # Adam's moments go on where the saved run left them, as in the window's Continue
        optimizer_state = self.project.optimizer_state if start_epoch else None
        if self.model is None or self.config is None:
            raise SeqStudioError("the session has no model or training settings to train",
                                 fix="call prepare() before run()")
        options: dict[str, Any] = {}
        if parallel is not None:
            options = self._parallel_options(parallel, checkpoint, start_epoch)
        main = parallel is None or parallel.env.is_main
        for event in train(self.model, self.data, options.pop("config", self.config), control,
                           start_epoch=start_epoch, optimizer_state=optimizer_state, **options):
            if isinstance(event, Finished):
                self.result = event.result
                if self.resumed is not None:  # one run record: the epochs before the restart too
                    event.result.history[:0] = self.resumed.history
                    event.result.epochs_run = len(event.result.history)
                if parallel is not None:
                    parallel.trained = event.result.stopped_reason != "error"
                    event.result.device += f" x {parallel.world} processes ({parallel.backend})"
                # a failed run never replaces good weights; other ranks keep no record
                if event.result.stopped_reason != "error" and main:
                    self._record(event.result, started, start_epoch)
            yield event

    def _parallel_options(self, parallel: DataParallel, checkpoint: Path | None,
                          start_epoch: int) -> dict[str, Any]:
        """train()'s arguments for one rank: the checkpoint policy, and the checkpoint to go on from."""
        import dataclasses

        from seqstudio.core.checkpoint import job_key, read_checkpoint, write_checkpoint
        from seqstudio.core.train.distributed import EpochCheckpoint

        assert self.config is not None
        options: dict[str, Any] = {"parallel": parallel}
        if checkpoint is None:
            return options
        job = job_key(self.project, self.config)
        main = parallel.env.is_main
        # rank 0 reads it (the others may be on machines that cannot) and hands it to all
        self.resumed = parallel.broadcast(read_checkpoint(checkpoint, job) if main else None)
        if self.resumed is not None:
            options["resume"] = self.resumed
            done = self.resumed.epoch - start_epoch
            options["config"] = dataclasses.replace(self.config, epochs=self.config.epochs - done)
        options["policies"] = [EpochCheckpoint(lambda c: write_checkpoint(checkpoint, c, job),
                                               self.config.optimizer, main)]
        return options

    def _record(self, result, started: float, start_epoch: int) -> None:
        record_run(self.project, self.registry, model=self.model, data=self.data, config=self.config,
                   result=result, summary=self.summary, start_epoch=start_epoch, started_at=started,
                   keep_weights=self.keep_run_weights)

    def data_identity(self) -> dict:
        """What the data is (source, file, target, content hash), for the run record."""
        return run_data_identity(self.project, self.registry, self.data)

    def metrics_report(self, result=None) -> dict[str, Any]:
        """Final metrics of every non-empty split, with baselines, plus run facts."""
        return metrics_report(self.model, self.data, self.config,
                              result if result is not None else self.result)


# --------------------------------------------------------------------------- recording a run
def plugins_used(project: Project, registry) -> dict[str, str]:
    """The plugins (other than the built-ins) the project's source and cells come from.

    Returns plugin name -> the distribution that provides it (the plugin's name when
    unknown), which is what a project keeps in ``Project.plugins`` to name what to
    install when one goes missing.
    """
    used = []
    try:
        used.append(registry.source(project.source).plugin)
    except SeqStudioError:
        pass
    for layer in project.model.get("layers", []):
        cell = layer.get("cell")
        if cell:
            try:
                used.append(registry.cell(cell).plugin)
            except SeqStudioError:
                pass
    return {name: registry.distributions.get(name) or name
            for name in used if name and name != "builtins"}


def run_data_identity(project: Project, registry, data) -> dict:
    """What a run's data is (source, file, target, content hash), for its record."""
    options = project.resolved_data_options(registry)
    return data_identity(project.source, options,
                         target=getattr(data, "target_columns", None) or None)


def metrics_report(model, data, config, result) -> dict[str, Any]:
    """Final metrics of every non-empty split (evaluated when the run did not), plus run facts.

    This is what ``Project.results`` holds after a run, from the CLI and the window alike.
    """
    from seqstudio.core.train.evaluate import evaluate

    splits: dict[str, Any] = {}
    metrics = getattr(result, "metrics", None) or {}
    for split in SPLITS:
        x, _ = data.split(split)
        if len(x) == 0:
            continue
        splits[split] = metrics.get(split) or evaluate(model, data, split, config=config)
    return {
        "splits": splits,
        "epochs_run": int(getattr(result, "epochs_run", 0) or 0),
        "best_epoch": getattr(result, "best_epoch", None),
        "stopped_reason": getattr(result, "stopped_reason", None),
        "seconds": float(getattr(result, "seconds", 0.0) or 0.0),
        "device": str(getattr(result, "device", "cpu")),
        "threads": getattr(result, "threads", None),
        "threads_reason": getattr(result, "threads_reason", "") or "",
        "history": list(getattr(result, "history", None) or []),
    }


def record_run(project: Project, registry, *, model, data, config, result, summary=None,
               start_epoch: int = 0, started_at: float | None = None,
               keep_weights: bool = False) -> dict[str, Any]:
    """Write a finished run into ``project``: weights, fitted transforms, results, plugins, record.

    The one way a run is recorded, by :class:`TrainingSession` (CLI) and by the
    window's :class:`~seqstudio.core.studio.StudioDocument`. With ``keep_weights``
    the run's weights are also kept in ``project.run_weights`` (to continue from
    it later). Returns the new run record.
    """
    p = project
    p.set_weights(model, getattr(result, "optimizer_state", None))
    p.fitted = data.fitted_state()
    try:
        p.record_data_files()
    except OSError:  # the file went away during the run: nothing to compare with later
        p.data_files = {}
    report = metrics_report(model, data, config, result)
    report["epochs_total"] = int(start_epoch) + report["epochs_run"]
    p.results = report
    p.plugins.update(plugins_used(p, registry))
    record = make_run_record(
        source=p.source, data_options=p.data_options, data=run_data_identity(p, registry, data),
        model=p.model, train=config.to_dict(),
        result=result, summary=summary, start_epoch=start_epoch, started_at=started_at,
        weights=p.weights if keep_weights else None, number=next_run_number(p.runs),
        metrics=report["splits"])
    return p.add_run(record, p.weights if keep_weights else None)


# --------------------------------------------------------------------------- using a trained project
def _text_encoder(project: Project):
    from seqstudio.core.data.text import PreparedText

    if not project.fitted:
        raise SeqStudioError("the project holds no fitted vocabulary", fix="train it first, then save it")
    return PreparedText.from_fitted_state(project.fitted)


def vocabulary_of(project: Project):
    """The fitted vocabulary of a text project."""
    return _text_encoder(project).vocabulary


def predict_project(project: Project, registry, *, steps: int = 12, texts: list[str] | None = None,
                    refit: bool = False):
    """Forecast ``steps`` future values (series) or classify ``texts`` with a trained project.

    The fitted state saved in the project (scaler, vocabulary) is used, not
    one fitted again on the data file as it is now, unless ``refit``.
    Returns a :class:`pandas.DataFrame`.
    """
    import pandas as pd

    from seqstudio.core.train.evaluate import predict, predict_probabilities

    if not project.weights:
        raise SeqStudioError("the project has no trained weights", where=str(project.path or ""),
                             fix="train it first: seqstudio train --project FILE --save FILE")
    spec = project.model_spec(registry)
    if texts is not None:
        enc = _text_encoder(project)
        x = enc.encode_texts(texts)
        model = spec.build(tuple(x.shape[1:]), registry=registry)
        model.load_state_dict(project.weights)
        out = predict_probabilities(model, x, project.train_config())
        names = list(enc.class_names) or ["negative", "positive"]
        if out.ndim == 2 and out.shape[1] == 1:
            prob = out[:, 0]
            labels = [names[int(p >= 0.5)] if len(names) == 2 else str(int(p >= 0.5)) for p in prob]
            return pd.DataFrame({"probability": prob, "label": labels,
                                 "text": [t[:60] for t in texts]})
        idx = out.argmax(axis=1)
        return pd.DataFrame({"label": [names[i] if i < len(names) else str(i) for i in idx],
                             "probability": out.max(axis=1), "text": [t[:60] for t in texts]})
    if steps < 1:
        raise SeqStudioError(f"--steps must be at least 1, got {steps}", fix="e.g. --steps 12")
    data = project.prepare_data(registry, refit=refit)
    if not isinstance(data, Forecaster):
        kind = data.input_is_ids
        raise SeqStudioError(
            f"the data source {project.source!r} gives {type(data).__name__}, which cannot forecast "
            "beyond its data",
            fix=("classify texts instead: seqstudio predict --project FILE --text \"...\" (or --file)"
                 if kind else "forecasting needs a series source: a plugin builds one from a DataFrame "
                 "with seqstudio.pluginapi.series_source (see docs/plugins.md)"))
    model = project.build_model(data, registry)

    import torch

    def predict_fn(x: np.ndarray) -> np.ndarray:
        return predict(model, torch.as_tensor(x, dtype=torch.float32))

    times, values = data.forecast(predict_fn, steps)
    values = np.asarray(values)
    targets = list(data.target_columns) or ["value"]
    if values.ndim == 1:
        values = values[:, None]
    frame = pd.DataFrame({"time": times})
    for i in range(values.shape[1]):
        frame[targets[i] if i < len(targets) else f"value_{i}"] = values[:, i]
    return frame
