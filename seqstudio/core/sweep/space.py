"""Search spaces: which project settings a sweep varies, over what ranges, and how.

A :class:`SearchSpace` is a list of :class:`Param` (a name from :data:`PARAMS`,
a kind, a range or choices, log scale); :class:`SweepSettings` adds the
objective, sampler, pruner, seed, trial count, study name and storage. Both are
plain JSON in the project file (``"sweep"``, with its own ``version``), so a
sweep is saved, shared and resumed with the project.

Parameter names say what they change:

- data: ``data.look_back``, ``data.log``, ``data.diff_lag``, ``data.scaling``;
- model: ``model.cell`` (``LSTM``, ``GRU``, ``SimpleRNN`` or an enabled plugin cell
  ``plugin>name``), ``model.units``, ``model.layers`` (recurrent layers stacked),
  ``model.dropout``, ``model.recurrent_dropout``, ``model.bidirectional``;
- training: ``train.learning_rate``, ``train.batch_size``, ``train.epochs``
  (with early stopping: ``train.early_stopping_patience`` is kept or set).

>>> space = SearchSpace([Param("model.units", "int", low=4, high=64, log=True),
...                      Param("model.cell", "choice", choices=["LSTM", "GRU"])])
>>> SearchSpace.from_dict(space.to_dict()) == space
True
>>> from seqstudio.core.project import Project
>>> p = apply_params(Project.from_preset("airline-lstm"), {"model.units": 8, "model.cell": "GRU"})
>>> p.model["layers"][0]
{'type': 'GRU', 'units': 8}
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import Project

#: Version of the ``"sweep"`` block of a project file (older blocks are migrated on read).
SWEEP_VERSION = 1
KINDS = ("int", "float", "choice", "bool")
#: Every parameter a sweep can vary, with what it changes.
PARAMS: dict[str, str] = {
    "data.look_back": "past steps each sample sees",
    "data.log": "take the logarithm of the targets first",
    "data.diff_lag": "difference the targets at this lag (0 = none)",
    "data.scaling": "minmax, standard or none",
    "model.cell": "the recurrent cell: LSTM, GRU, SimpleRNN or a plugin cell",
    "model.units": "units of each recurrent layer",
    "model.layers": "number of recurrent layers stacked",
    "model.dropout": "input dropout of the recurrent layers",
    "model.recurrent_dropout": "recurrent dropout of the recurrent layers",
    "model.bidirectional": "read the sequence both ways",
    "train.learning_rate": "the optimizer's learning rate",
    "train.batch_size": "samples per optimizer step",
    "train.epochs": "most epochs (early stopping may end sooner)",
}
#: Layer types of the built-in cells; any other ``model.cell`` value is a registered cell key.
BUILTIN_CELLS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
OBJECTIVES = ("val_loss", "val.<metric>", "backtest.<metric>")
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")
#: Metrics where larger is better (the default direction follows the objective's metric).
_MAXIMIZED = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")


def _err(what: str, fix: str, where: str = "the sweep's search space") -> SeqStudioError:
    return SeqStudioError(what, where=where, fix=fix)


@dataclass
class Param:
    """One searched setting: an ``int``/``float`` range (``log`` scale, ``step``), or ``choice``s.

    ``bool`` is a choice between False and True. Checked on creation; a bad
    value raises :class:`SeqStudioError` naming the parameter.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = f"search space parameter {self.name!r}"
        if self.name not in PARAMS:
            raise _err(f"unknown sweep parameter {self.name!r}", where=where,
                       fix=f"use one of: {', '.join(PARAMS)}")
        if self.kind not in KINDS:
            raise _err(f"{self.name} kind must be one of {', '.join(KINDS)}, got {self.kind!r}",
                       where=where, fix="int and float take low/high, choice takes choices")
        if self.kind == "bool":
            self.choices = [False, True]
        if self.kind == "choice":
            if not isinstance(self.choices, list) or not self.choices:
                raise _err(f"{self.name} needs at least one choice", where=where,
                           fix="list the values to try, e.g. LSTM, GRU")
            if not all(isinstance(c, str | int | float | bool) or c is None for c in self.choices):
                raise _err(f"{self.name} choices must be numbers, words or true/false", where=where,
                           fix="write each choice as a plain value")
            return
        if self.kind in ("int", "float"):
            for bound in ("low", "high"):
                v = getattr(self, bound)
                if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                    raise _err(f"{self.name} {bound} must be a number, got {v!r}", where=where,
                               fix=f"give {self.name} a low and a high value")
            assert self.low is not None and self.high is not None
            if self.kind == "int":
                if self.low != int(self.low) or self.high != int(self.high):
                    raise _err(f"{self.name} is a whole number: low and high must be integers, "
                               f"got {self.low} and {self.high}", where=where,
                               fix="round the bounds")
                self.low, self.high = int(self.low), int(self.high)
            if self.low > self.high:
                raise _err(f"{self.name} low {self.low} is above high {self.high}", where=where,
                           fix="swap the bounds")
            if self.log and self.low <= 0:
                raise _err(f"{self.name} on a log scale needs low > 0, got {self.low}",
                           where=where, fix="raise low above 0, or turn log off")
            if self.step is not None and (not isinstance(self.step, int | float) or self.step <= 0
                                          or self.log):
                raise _err(f"{self.name} step must be a positive number without log scale, "
                           f"got {self.step!r}", where=where, fix="clear the step or turn log off")

    # -- values -----------------------------------------------------------
    def grid_values(self) -> list[Any]:
        """The values a grid search tries: the choices, or the range stepped (5 points by default)."""
        if self.kind in ("choice", "bool"):
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.step:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            values = [self.low + i * self.step for i in range(n)]
        elif self.log:
            values = [math.exp(math.log(self.low) + i * (math.log(self.high) - math.log(self.low)) / 4)
                      for i in range(5)]
        else:
            values = [self.low + i * (self.high - self.low) / 4 for i in range(5)]
        if self.kind == "int":
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.6g}") for v in values]

    def suggest(self, trial) -> Any:
        """This parameter's value for an Optuna ``trial``."""
        if self.kind in ("choice", "bool"):
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),  # type: ignore[arg-type]
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),  # type: ignore[arg-type]
                                   step=self.step, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind in ("int", "float"):
            d.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                d["step"] = self.step
        elif self.kind == "choice":
            d["choices"] = list(self.choices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Param:
        if not isinstance(d, dict) or "name" not in d or "kind" not in d:
            raise _err(f"a search space parameter must have a name and a kind, got {d!r}",
                       fix="write each parameter as {\"name\": ..., \"kind\": ...}")
        known = {"name", "kind", "low", "high", "log", "step", "choices"}
        return cls(**{k: v for k, v in d.items() if k in known})

    def describe(self) -> str:
        """``units: int 4..64 (log)`` / ``cell: LSTM | GRU``."""
        if self.kind in ("choice", "bool"):
            return " | ".join(str(c) for c in self.choices)
        text = f"{self.low:g} .. {self.high:g}"
        if self.step:
            text += f" step {self.step:g}"
        return text + (" (log)" if self.log else "")


@dataclass
class SearchSpace:
    """The parameters a sweep varies (each name at most once)."""

    params: list[Param] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _err(f"the search space names {', '.join(dup)} more than once",
                       fix="keep one entry per parameter")

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def suggest(self, trial) -> dict[str, Any]:
        return {p.name: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        return {p.name: p.grid_values() for p in self.params}

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    @classmethod
    def from_dict(cls, items: list[dict[str, Any]]) -> SearchSpace:
        if not isinstance(items, list):
            raise _err("the search space must be a list of parameters", fix="re-create the space")
        return cls([Param.from_dict(d) for d in items])


@dataclass
class SweepSettings:
    """Everything about a sweep a project keeps: space, objective, sampler, pruner, budget, storage.

    ``objective``: ``val_loss``, ``val.<metric>`` (e.g. ``val.rmse`` in the
    data's own units) or ``backtest.<metric>`` (e.g. ``backtest.mase``: rolling
    origins within the training and validation rows). ``direction`` None follows
    the metric (accuracy-like ones are maximised). ``storage`` empty means the
    SQLite file beside the project; ``study`` empty means the project's name.
    """

    space: SearchSpace = field(default_factory=SearchSpace)
    objective: str = "val_loss"
    direction: str | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    trials: int = 20
    study: str = ""
    storage: str = ""
    #: Early stopping patience of each trial (0 = off; pruning still ends bad trials early).
    patience: int = 20
    #: Backtest folds and horizon for ``backtest.*`` objectives.
    backtest_folds: int = 3
    backtest_horizon: int = 12

    def __post_init__(self) -> None:
        check_objective(self.objective)
        for name, value, allowed in (("sampler", self.sampler, SAMPLERS),
                                     ("pruner", self.pruner, PRUNERS)):
            if value not in allowed:
                raise _err(f"sweep {name} must be one of {', '.join(allowed)}, got {value!r}",
                           where=f"sweep setting {name!r}", fix=f"choose {' / '.join(allowed)}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise _err(f"sweep direction must be minimize or maximize, got {self.direction!r}",
                       where="sweep setting 'direction'", fix="choose minimize or maximize")
        natural = default_direction(self.objective)
        if self.direction is not None and self.direction != natural:
            # every objective has one sensible direction: the other searches for the worst model
            raise _err(f"sweep direction {self.direction} would search for the worst {self.objective}",
                       where="sweep setting 'direction'",
                       fix=f"{natural} it, or leave the direction empty (it follows the objective)")
        for name in ("seed", "trials", "patience", "backtest_folds", "backtest_horizon"):
            value = getattr(self, name)
            low = 1 if name in ("trials", "backtest_folds", "backtest_horizon") else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise _err(f"sweep {name} must be a whole number >= {low}, got {value!r}",
                           where=f"sweep setting {name!r}", fix=f"set {name} to {max(low, 1)} or more")

    @property
    def resolved_direction(self) -> str:
        return self.direction or default_direction(self.objective)

    def to_dict(self) -> dict[str, Any]:
        return {"version": SWEEP_VERSION, "space": self.space.to_dict(), "objective": self.objective,
                "direction": self.direction, "sampler": self.sampler, "pruner": self.pruner,
                "seed": self.seed, "trials": self.trials, "study": self.study,
                "storage": self.storage, "patience": self.patience,
                "backtest_folds": self.backtest_folds, "backtest_horizon": self.backtest_horizon}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSettings:
        d = migrate_sweep(d)
        known = {"objective", "direction", "sampler", "pruner", "seed", "trials", "study", "storage",
                 "patience", "backtest_folds", "backtest_horizon"}
        return cls(space=SearchSpace.from_dict(d.get("space") or []),
                   **{k: v for k, v in d.items() if k in known})


def migrate_sweep(d: dict[str, Any]) -> dict[str, Any]:
    """A ``"sweep"`` block of any earlier version in the current form (a copy)."""
    if not isinstance(d, dict):
        raise _err("the project's sweep settings are not an object", where="project file, 'sweep'",
                   fix="remove the 'sweep' entry, or re-save the project")
    d = dict(d)
    version = d.get("version", 0)
    if not isinstance(version, int) or version > SWEEP_VERSION:
        raise _err(f"the project's sweep settings have version {version!r}; this seqstudio reads up "
                   f"to {SWEEP_VERSION}", where="project file, 'sweep'", fix="upgrade seqstudio")
    if version == 0:  # unversioned drafts kept the space under "params"
        if "space" not in d and "params" in d:
            d["space"] = d.pop("params")
        d["version"] = 1
    return d


def check_objective(objective: str) -> None:
    if not isinstance(objective, str) or not (
            objective == "val_loss"
            or (objective.startswith("val.") and len(objective) > 4)
            or (objective.startswith("backtest.") and len(objective) > 9)):
        raise _err(f"unknown sweep objective {objective!r}", where="sweep setting 'objective'",
                   fix="use val_loss, val.<metric> (e.g. val.rmse) or backtest.<metric> "
                       "(e.g. backtest.mase); the test part is never used")
    if objective.startswith("test"):
        raise _err("a sweep never selects on the test part", where="sweep setting 'objective'",
                   fix="use val_loss, val.<metric> or backtest.<metric>")


def default_direction(objective: str) -> str:
    """``maximize`` for accuracy-like metrics, else ``minimize``."""
    metric = objective.rsplit(".", 1)[-1]
    return "maximize" if metric in _MAXIMIZED else "minimize"


# --------------------------------------------------------------------------- defaults
def _is_series(project: Project) -> bool:
    return "look_back" in project.data_options


def plugin_cells(registry) -> list[str]:
    """Enabled cells from plugins other than the built-ins (``plugin>name``)."""
    if registry is None:
        return []
    out = []
    for key, cell in getattr(registry, "cells", {}).items():
        if key.split(">", 1)[0] != "builtins" and not getattr(cell, "disabled_reason", ""):
            out.append(key)
    return sorted(out)


def default_settings(project: Project, registry=None) -> SweepSettings:
    """A sensible sweep for ``project``: its preset's default space and objective.

    Series: validation RMSE in the data's units (comparable across log,
    differencing and scaling choices, unlike a loss on transformed targets).
    Text: the validation loss.
    """
    space = default_space(project, registry)
    objective = "val.rmse" if _is_series(project) else "val_loss"
    return SweepSettings(space=space, objective=objective, study=project.name or "study")


def default_space(project: Project, registry=None) -> SearchSpace:
    """The default search space of ``project`` (by its preset's name, else by its kind of data)."""
    cells = ["LSTM", "GRU", "SimpleRNN", *plugin_cells(registry)]
    name = project.name or ""
    if _is_series(project):
        seasonal = "seasonal" in name or "direct" in name or project.data_options.get("log")
        if seasonal:
            params = [
                # a year and a half at most: the validation part must hold a window and a target
                Param("data.look_back", "int", low=6, high=18),
                Param("data.diff_lag", "choice", choices=[1, 12]),
                Param("data.scaling", "choice", choices=["minmax", "standard"]),
                Param("model.cell", "choice", choices=["LSTM", "GRU", *plugin_cells(registry)]),
                Param("model.units", "int", low=8, high=48, log=True),
                Param("model.layers", "int", low=1, high=2),
                Param("model.dropout", "float", low=0.0, high=0.2),
                Param("train.learning_rate", "float", low=1e-3, high=2e-2, log=True),
                Param("train.batch_size", "choice", choices=[1, 4, 8]),
                Param("train.epochs", "int", low=50, high=150, step=50),
            ]
        else:
            params = [
                Param("data.look_back", "int", low=1, high=18),
                Param("data.log", "bool"),
                Param("data.diff_lag", "choice", choices=[0, 1, 12]),
                Param("data.scaling", "choice", choices=["minmax", "standard"]),
                Param("model.cell", "choice", choices=cells),
                Param("model.units", "int", low=4, high=64, log=True),
                Param("model.layers", "int", low=1, high=2),
                Param("model.dropout", "float", low=0.0, high=0.3),
                Param("model.recurrent_dropout", "float", low=0.0, high=0.3),
                Param("model.bidirectional", "bool"),
                Param("train.learning_rate", "float", low=1e-4, high=1e-2, log=True),
                Param("train.batch_size", "choice", choices=[1, 4, 16]),
                Param("train.epochs", "int", low=50, high=200, step=50),
            ]
    else:
        params = [
            Param("model.cell", "choice", choices=cells),
            Param("model.units", "int", low=32, high=256, log=True),
            Param("model.layers", "int", low=1, high=2),
            Param("model.dropout", "float", low=0.0, high=0.5),
            Param("model.recurrent_dropout", "float", low=0.0, high=0.5),
            Param("model.bidirectional", "bool"),
            Param("train.learning_rate", "float", low=1e-4, high=1e-2, log=True),
            Param("train.batch_size", "choice", choices=[32, 64, 128]),
            Param("train.epochs", "int", low=2, high=10),
        ]
    return SearchSpace(params)


# --------------------------------------------------------------------------- applying a trial
_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN")


def _recurrent_run(layers: list[dict[str, Any]]) -> tuple[int, int]:
    """(start, stop) of the first run of consecutive recurrent layers."""
    start = next((i for i, d in enumerate(layers) if d.get("type") in _RECURRENT), None)
    if start is None:
        return -1, -1
    stop = start
    while stop < len(layers) and layers[stop].get("type") in _RECURRENT:
        stop += 1
    return start, stop


def apply_params(project: Project, params: dict[str, Any]) -> Project:
    """A copy of ``project`` with a trial's parameters applied (weights and results dropped).

    Model parameters act on the first run of recurrent layers: it is rebuilt as
    ``model.layers`` copies of one recurrent layer (``return_sequences`` on all
    but the last), keeping the layers before and after it.
    """
    p = copy.deepcopy(project)
    p.weights, p.optimizer_state, p.results, p.fitted = None, None, {}, {}
    p.run_weights = {}
    for name, value in params.items():
        if name not in PARAMS:
            raise _err(f"unknown sweep parameter {name!r}", fix=f"use one of: {', '.join(PARAMS)}")
        group, key = name.split(".", 1)
        if group == "data":
            p.data_options[key] = value
        elif group == "train":
            p.train[key] = value
    model_params = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("model.")}
    if model_params:
        layers = [dict(d) for d in p.model.get("layers", [])]
        start, stop = _recurrent_run(layers)
        if start < 0:
            raise _err("the sweep varies the model, but the project has no recurrent layer",
                       where="the project's layer stack",
                       fix="add an LSTM, GRU or SimpleRNN layer, or remove the model.* parameters")
        base = dict(layers[start])
        for key in ("units", "dropout", "recurrent_dropout", "bidirectional"):
            if key in model_params:
                base[key] = model_params[key]
        if "cell" in model_params:
            cell = str(model_params["cell"])
            base.pop("cell", None)
            base.pop("cell_options", None)
            base.pop("activation", None)
            if cell in BUILTIN_CELLS:
                base["type"] = cell
            else:
                base["type"], base["cell"] = "RNN", cell
        count = int(model_params.get("layers", stop - start))
        if count < 1:
            raise _err(f"model.layers must be at least 1, got {count}", fix="raise its low bound")
        last_returns = bool(layers[stop - 1].get("return_sequences", False))
        stack = []
        for i in range(count):
            layer = dict(base)
            layer["return_sequences"] = True if i < count - 1 else last_returns
            if not layer["return_sequences"]:
                layer.pop("return_sequences")
            stack.append(layer)
        p.model = {**p.model, "layers": layers[:start] + stack + layers[stop:]}
    return p
