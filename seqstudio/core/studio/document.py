"""The :class:`StudioDocument` and its change events (see :mod:`seqstudio.core.studio`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from psygnal import Signal, SignalGroup

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import Project
from seqstudio.core.session import metrics_report, record_run
from seqstudio.core.studio.parts import (
    ErrorReport,
    ModelCheck,
    Results,
    RunPlan,
    check_model,
    error_text,
    is_series,
    panel_options,
    series_predictions,
)
from seqstudio.core.train.runs import run_end_epoch


class StudioEvents(SignalGroup):
    """Every change of a :class:`StudioDocument` (see the module docstring)."""

    project = Signal(object)
    name = Signal(str)
    data_settings = Signal(str, dict)
    data = Signal(object)
    model_spec = Signal(object)
    check = Signal(object)
    train_config = Signal(dict)
    trainable = Signal(bool, str)
    weights = Signal(bool)
    running = Signal(bool)
    run_finished = Signal(object)
    runs = Signal(list)
    results = Signal(object)
    snapshot = Signal(dict)
    modified = Signal(bool)
    error = Signal(object)



class StudioDocument:
    """The window's state and use cases, without Qt (see the module docstring).

    Parameters
    ----------
    registry : Registry
        Sources, cells and layers (replace it with :meth:`set_registry`).
    project : Project, optional
        The project to start with (default: the ``airline-lstm`` preset).
    """

    def __init__(self, registry, project: Project | None = None):
        from seqstudio.core.presets import DEFAULT_PRESET

        self.events = StudioEvents()
        self.registry = registry
        self.project: Project = Project.from_preset(DEFAULT_PRESET)
        self.source_key = ""
        self.data_options: dict[str, Any] = {}
        self.model_spec = None
        self.train: dict[str, Any] = {}
        self.data = None
        self.data_error = ""
        self.data_busy = False
        self.check = ModelCheck(False, "no layers yet")
        self.model = None            # the trained nn.Module (None until a run or saved weights)
        self.optimizer_state: dict[str, Any] | None = None
        self.epochs_trained = 0
        self.last_result = None
        self.results = Results()
        self.future_steps = 24
        self.running = False
        self._signature: tuple | None = None
        self._run: dict[str, Any] | None = None
        self._after_data: Callable[[Any], None] | None = None
        self._adopting = 0
        self._saved_fingerprint = ""
        self._unsaved_run = False
        self._modified = False
        self._trainable: tuple[bool, str] = (False, "load data first")
        self._has_weights = False
        self.adopt_project(project if project is not None else self.project)

    # -- derived state ---------------------------------------------------------------
    @property
    def modified(self) -> bool:
        """Unsaved changes: the settings differ from the saved ones, or a run finished since."""
        return self._modified

    @property
    def trainable(self) -> tuple[bool, str]:
        """``(True, "")`` when Train can start, else ``(False, the reason)``."""
        return self._trainable

    @property
    def has_weights(self) -> bool:
        """Trained weights that fit the current stack and data (Continue can use them)."""
        return self._has_weights

    def _fingerprint(self) -> str:
        model = self.model_spec.to_dict() if self.model_spec is not None else None
        return json.dumps([self.source_key, self.data_options, model, self.train],
                          sort_keys=True, default=str)

    def _derive(self) -> None:
        """Recompute the derived state and announce what changed (the one place it is decided)."""
        if self.data_busy:
            trainable = (False, "the data is still being prepared")
        elif self.data is None:
            trainable = (False, (self.data_error or "load data first").splitlines()[0])
        elif not self.check.valid:
            trainable = (False, self.check.reason)
        else:
            trainable = (True, "")
        if trainable != self._trainable:
            self._trainable = trainable
            self.events.trainable.emit(*trainable)
        has = self._weights_fit()
        if has != self._has_weights:
            self._has_weights = has
            self.events.weights.emit(has)
        if self._adopting:
            return
        modified = self._unsaved_run or self._fingerprint() != self._saved_fingerprint
        if modified != self._modified:
            self._modified = modified
            self.events.modified.emit(modified)

    def _signature_of(self, spec, data) -> tuple:
        from seqstudio.core.model.quantiles import train_quantiles

        return (repr(spec.to_dict()) if spec is not None else None,
                tuple(data.input_shape) if data is not None else None,
                _quiet(train_quantiles, self.train))  # pinball outputs widen the last layer

    def _weights_fit(self) -> bool:
        return (self.model is not None and self.data is not None
                and self._signature == self._signature_of(self.model_spec, self.data))

    # -- intents: settings ----------------------------------------------------------------
    def set_data_settings(self, source_key: str, options: dict[str, Any], *,
                          prepare: bool = False) -> None:
        """The data source and its options (as the data form shows them).

        ``prepare``: announce them even when unchanged, so that the data is prepared
        afresh (opening a project, a preset or a run: the file may have changed).
        """
        options = dict(options)
        try:  # the full "plugin>name" key, as the project file keeps it
            source_key = self.registry.source(source_key).key or source_key
        except SeqStudioError:
            pass  # a missing plugin: the data panel says so when it tries to show it
        self.project.source, self.project.data_options = source_key, dict(options)
        if (source_key, options) == (self.source_key, self.data_options) and not prepare:
            return
        self.source_key, self.data_options = source_key, options
        if not self._adopting:
            self._after_data = None  # an action waiting for data was meant for other settings
        self.events.data_settings.emit(source_key, dict(options))
        self._derive()

    def set_data_busy(self, busy: bool) -> None:
        """Data is being prepared in the background (the previous data is still held)."""
        if busy == self.data_busy:
            return
        self.data_busy = bool(busy)
        self.events.data.emit(self.data)
        self._derive()

    def set_data(self, data, error: str | BaseException = "") -> None:
        """The data prepared from the current settings (None with the reason when it failed)."""
        self.data_busy = False
        self.data = data
        self.data_error = error_text(error) if isinstance(error, BaseException) else str(error or "")
        if data is None and not self.data_error:
            self.data_error = "the data source returned nothing"
        self.check = self._check_model()
        self.events.data.emit(data)
        self.events.check.emit(self.check)
        self._derive()
        action, self._after_data = self._after_data, None
        if action is not None and data is not None:
            action(data)

    def set_model_spec(self, spec) -> None:
        """The layer stack (a ``ModelSpec``)."""
        self.project.model = spec.to_dict()
        if self.model_spec is not None and spec.to_dict() == self.model_spec.to_dict():
            return
        self.model_spec = spec
        if not self._adopting:
            self._after_data = None
        self.check = self._check_model()
        self.events.model_spec.emit(spec)
        self.events.check.emit(self.check)
        self._derive()

    def set_train_config(self, config) -> None:
        """The training settings: a ``TrainConfig`` or its dict (validated here)."""
        from seqstudio.core.train.config import TrainConfig

        values = config.to_dict() if isinstance(config, TrainConfig) else \
            TrainConfig.from_dict(dict(config)).to_dict()
        self.project.train = dict(values)
        if values == self.train:
            return
        pinball = {str(d.get("loss")) == "pinball" and d.get("quantile_intervals")
                   for d in (self.train, values)}
        self.train = values
        self.events.train_config.emit(dict(values))
        if len(pinball) > 1:  # quantile outputs came, went or changed: the built stack did
            self.recheck_model()
            return
        self._derive()

    def train_config(self):
        """The current settings as a ``TrainConfig``."""
        from seqstudio.core.train.config import TrainConfig

        return TrainConfig.from_dict(self.train)

    def set_registry(self, registry) -> None:
        """Use ``registry`` from now on (plugins changed) and re-check the stack."""
        self.registry = registry
        self.check = self._check_model()
        self.events.check.emit(self.check)
        self._derive()

    def recheck_model(self) -> None:
        """Check the stack again: the training engine has loaded, the summary can count parameters."""
        self.check = self._check_model()
        self.events.check.emit(self.check)
        self._derive()

    def set_future_steps(self, steps: int) -> None:
        """How many steps the forecast goes beyond the data; recomputes the results."""
        self.future_steps = max(0, int(steps))
        if self.model is not None and not self.running:
            self.show_results()

    def _check_model(self) -> ModelCheck:
        from seqstudio.core.model.quantiles import quantile_spec, train_quantiles

        quantiles = _quiet(train_quantiles, self.train)  # the pinball loss widens the last Dense
        spec = quantile_spec(self.model_spec, quantiles) if self.model_spec is not None else None
        return check_model(spec, self.data, self.registry)

    # -- use cases: projects -----------------------------------------------------------------
    def adopt_project(self, project: Project) -> None:
        """Make ``project`` the document's: its settings, saved weights (once data is there), runs.

        It counts as saved afterwards. Views show the settings as the events arrive;
        the saved weights load when the data is prepared.
        """
        self._adopting += 1
        try:
            self.project = project
            self.model = self.optimizer_state = self.last_result = None
            self._signature = None
            self.epochs_trained = 0
            self._after_data = None
            self.results = Results()
            self.events.project.emit(project)
            self.events.name.emit(project.name)
            self.events.results.emit(self.results)
            self.set_model_spec(project.model_spec(self.registry))
            self.set_train_config(project.train)
            self.set_data_settings(project.source, panel_options(project, self.registry), prepare=True)
            if project.weights:  # large data arrives later: the weights load when it does
                self.when_data_ready(partial(self._adopt_project_weights, project))
            self.events.runs.emit(list(project.runs))
        finally:
            self._adopting -= 1
        self.mark_saved()

    def _adopt_project_weights(self, project: Project, data) -> None:
        try:
            module = project.build_model(data, self.registry)
        except SeqStudioError as exc:
            self.report("loading the saved weights", exc)
            return
        self._adopt_model(module, project.optimizer_state)
        self.epochs_trained = int(project.results.get("epochs_total", 0) or 0)
        self.show_results()
        self._derive()

    def when_data_ready(self, action: Callable[[Any], None]) -> None:
        """Call ``action(data)`` now, or when the data being prepared arrives.

        Dropped when the data settings or the layers change first (the action was
        meant for these settings) or when the data fails to load.
        """
        self._after_data = None
        if not self.data_busy:
            if self.data is not None:
                action(self.data)
            return
        self._after_data = action

    def apply_preset(self, name: str) -> None:
        """Load a preset's layers, train settings and data settings into the current project."""
        from seqstudio.core.presets import get_preset

        preset = get_preset(name)
        try:
            self.set_model_spec(preset.model_spec(self.registry))
        except SeqStudioError as exc:
            self.report(f"loading preset {name}", exc)
        self.set_train_config(preset.train)
        self.set_data_settings(preset.source, {**self._source_defaults(preset.source),
                                               **preset.data_options}, prepare=True)
        if self.project.path is None and self.project.name != name:
            # not yet saved under a name of the user's own: the project is called what it holds
            self.project.name = name
            self.events.name.emit(name)

    def _source_defaults(self, source: str) -> dict[str, Any]:
        try:
            return self.registry.source(source).defaults()
        except SeqStudioError:
            return {}

    def project_for_saving(self) -> Project:
        """The project with what is not edited in place: fitted transforms, fitting weights, results.

        Weights of another stack would not load into this one, so they are dropped
        when the trained model no longer fits the settings.
        """
        p = self.project
        if self.data is not None:
            p.fitted = self.data.fitted_state()
        if self._weights_fit():
            p.set_weights(self.model, self.optimizer_state)
            p.results = {**p.results, "epochs_total": self.epochs_trained}
        else:  # the training results go with the weights; a backtest stands on its own
            p.weights = p.optimizer_state = None
            p.results = {k: v for k, v in (p.results or {}).items() if k == "backtest"}
        return p

    def save(self, path) -> Path:
        """Save to ``path`` (JSON + safetensors, atomic); the project takes the file's name."""
        project = self.project_for_saving()
        project.name = Path(path).stem
        written = project.save(path)
        self.events.name.emit(project.name)
        self.mark_saved()
        return written

    def autosave(self, store) -> Path | None:
        """Write a recovery copy into ``store`` (``save(project, original_path=)``) when it is worth it.

        Nothing is written without unsaved changes, during a run or while data is
        prepared in the background (the next autosave will do). Failures are reported
        on ``events.error`` and return None: an autosave must never disturb the user.
        """
        if not self.modified or self.running or self.data_busy:
            return None
        try:
            project = self.project_for_saving()
            return store.save(project, original_path=project.path)
        except Exception as exc:  # noqa: BLE001
            self.report("autosaving", exc)
            return None

    def mark_saved(self) -> None:
        """The settings now match the project on disk (after save or open)."""
        self._saved_fingerprint = self._fingerprint()
        self._unsaved_run = False
        self._derive()

    def mark_modified(self) -> None:
        """Something that is not a setting changed (a run, a deleted run, a restored copy)."""
        self._unsaved_run = True
        self._derive()

    def report(self, doing: str, exc: BaseException) -> None:
        """Announce a failure on ``events.error`` (the window shows it)."""
        self.events.error.emit(ErrorReport(doing, exc))

    # -- use cases: training -----------------------------------------------------------------
    def _adopt_model(self, module, optimizer_state=None) -> None:
        self.model = module
        self._signature = self._signature_of(self.model_spec, self.data)
        self.optimizer_state = optimizer_state

    def _spec(self):
        """The stack to build: the edited one, its last Dense widened for the pinball loss."""
        from seqstudio.core.model.quantiles import quantile_spec, train_quantiles

        if self.model_spec is None:
            raise SeqStudioError("the model has no layers", fix="add layers in the Model tab")
        return quantile_spec(self.model_spec, train_quantiles(self.train))

    def start_run(self, continue_run: bool = False) -> RunPlan:
        """Build (or keep, to continue) the model and say what the run starts with.

        Raises SeqStudioError when the settings cannot train; the document counts as
        running until :meth:`end_run`.
        """
        data = self.data
        if data is None or self.running:
            raise SeqStudioError("cannot train now: " + (self.trainable[1] or "a run is under way"))
        config = self.train_config()
        if not continue_run or self.model is None:
            module = self._spec().build(data.input_shape, registry=self.registry)
            self._adopt_model(module)
            self.epochs_trained = 0
        start = self.epochs_trained if continue_run else 0
        self._run = {"start_epoch": start, "started_at": time.time(), "config": config,
                     "summary": self.check.summary}
        self.running = True
        self.events.running.emit(True)
        self._derive()
        return RunPlan(self.model, data, config, start, self.optimizer_state if continue_run else None)

    def show_snapshot(self, predictions: dict[str, Any]) -> None:
        """Predictions of the model mid-run (series): views show them where they are seen."""
        self.events.snapshot.emit(predictions)

    def finish_run(self, result, predictions: dict[str, Any] | None = None) -> dict | None:
        """Record the finished run (weights, metrics, plugins, history) and show its results.

        ``predictions`` are the final :func:`series_predictions`, when the training
        thread computed them already. Returns the run record.
        """
        self.last_result = result
        self.optimizer_state = getattr(result, "optimizer_state", None)
        self.epochs_trained += int(getattr(result, "epochs_run", 0) or 0)
        record = None
        run = self._run
        if run is not None and self.model is not None:
            record = record_run(self.project, self.registry, model=self.model, data=self.data,
                                config=run["config"], result=result, summary=run["summary"],
                                start_epoch=run["start_epoch"], started_at=run["started_at"],
                                keep_weights=True)
            self.events.runs.emit(list(self.project.runs))
        self.mark_modified()  # before the views draw: a view's failure must not lose the mark
        self.events.run_finished.emit(result)
        self.show_results(predictions)
        return record

    def fail_run(self, exc: BaseException) -> None:
        """The run raised: the model keeps its last good weights, the optimizer state is stale."""
        self.optimizer_state = None  # its moments are from before the weights the run left
        self.report("training", exc)

    def end_run(self) -> None:
        """The run is over (finished, stopped or failed): the settings can be edited again."""
        self._run = None
        if self.running:
            self.running = False
            self.events.running.emit(False)
        self._derive()

    def metrics_report(self) -> dict[str, Any]:
        """The last run's final metrics and facts (:func:`~seqstudio.core.session.metrics_report`)."""
        return metrics_report(self.model, self.data, self.train_config(), self.last_result)

    def show_results(self, predictions: dict[str, Any] | None = None) -> None:
        """Compute (unless given) and announce the current model's results on the current data."""
        data, model = self.data, self.model
        if data is None or model is None:
            return
        metrics = dict(getattr(self.last_result, "metrics", None) or {})
        if not metrics and self.last_result is None:
            metrics = dict(self.project.results.get("splits") or {})
        try:
            if is_series(data) and predictions is None:
                predictions = series_predictions(model, data, future_steps=self.future_steps)
        except Exception as exc:  # noqa: BLE001 - report, keep the studio going
            self.report("computing the results", exc)
            return
        self.results = Results(model, data, metrics, predictions, self.train_config())
        self.events.results.emit(self.results)

    # -- use cases: backtests ------------------------------------------------------------------
    def project_snapshot(self) -> Project:
        """A copy of the project as it is now, not tied to its file (a backtest, an export)."""
        import copy

        project = copy.deepcopy(self.project_for_saving())
        project.path = None
        return project

    def record_backtest(self, stored: dict, record: dict) -> None:
        """Keep a finished backtest in the project's results and list its record with the runs."""
        self.project.results = {**(self.project.results or {}), "backtest": stored}
        self.project.add_run(record)
        self.events.runs.emit(list(self.project.runs))
        self.mark_modified()

    def backtest_future(self, stored: dict):
        """The trained model's forecast beyond the data with the backtest's bands (None: untrained)."""
        project = self.project
        if not project.weights:
            return None
        try:
            from seqstudio.core.forecast.predict import add_intervals
            from seqstudio.core.session import predict_project

            table = predict_project(project, self.registry, steps=int(stored["plan"]["horizon"]))
            levels = stored.get("intervals", {}).get("levels") or [80.0]
            table, _ = add_intervals(project, self.registry, table, levels)
            return table
        except Exception:  # noqa: BLE001 - the backtest is shown without the future part
            return None

    # -- use cases: the run history ----------------------------------------------------------
    def delete_run(self, run: dict) -> None:
        """Forget a run and its kept weights."""
        self.project.remove_run(str(run.get("id")))
        self.events.runs.emit(list(self.project.runs))
        self.mark_modified()

    def restore_run(self, run: dict) -> bool:
        """Make a run's data settings, layers and train settings the current ones."""
        from seqstudio.core.model.spec import ModelSpec

        try:
            spec = ModelSpec.from_dict(run["model"], self.registry)
            self.set_model_spec(spec)
            self.set_train_config(dict(run.get("train") or {}))
            source = run["source"]
            self.set_data_settings(source, {**self._source_defaults(source),
                                            **dict(run.get("data_options") or {})}, prepare=True)
        except (SeqStudioError, KeyError) as exc:
            self.report("restoring the run", exc)
            return False
        return True

    def continue_from_run(self, run: dict, *, restore: Callable[[dict], bool] | None = None,
                          start: Callable[[], None] | None = None) -> bool:
        """Restore a run's settings and the weights it ended with, then ask ``start()`` to train on.

        ``restore`` replaces :meth:`restore_run` (the window records it as one undo
        step); ``start`` is called once the model is ready, when the data is (at once,
        or after a background load). False when the run kept no weights or cannot go on.
        """
        try:
            weights = self.project.run_weights_of(str(run.get("id")))
        except SeqStudioError as exc:
            self.report("continuing the run", exc)
            return False
        if not (restore or self.restore_run)(run):
            return False

        def go_on(data) -> None:
            try:
                module = self._spec().build(data.input_shape, registry=self.registry)
                module.load_state_dict(weights)
            except (SeqStudioError, RuntimeError) as exc:
                self.report("continuing the run", exc)
                return
            self._adopt_model(module)
            self.epochs_trained = run_end_epoch(run)
            self._derive()
            if start is not None:
                start()

        if not self.data_busy and self.data is None:
            return False
        self.when_data_ready(go_on)
        return True


def _quiet(function, *args):
    """``function(*args)``, or None when the settings it reads are not valid (yet)."""
    try:
        return function(*args)
    except SeqStudioError:
        return None
