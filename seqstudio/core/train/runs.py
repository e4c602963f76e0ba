"""Run history: one JSON-able record per training run, CSV export, seed groups.

A *run record* is what a project keeps of each training run (``Project.runs``):
its data source and options, layer stack, train config, parameter count,
per-epoch curves, final metrics per split, duration, device, CPU threads (and
why that many: the batch times measured) and why it stopped. The CLI (through :class:`~seqstudio.core.session.TrainingSession`)
and the window both make records with :func:`make_run_record`, so a run looks
the same wherever it was trained. A run's weights, when kept, live in
``Project.run_weights[record["id"]]`` (saved in the project's ``.safetensors``
file), and ``record["has_weights"]`` says so.

A record's keys: ``id`` (12 hex digits), ``number``, ``name``, ``started_at``
(local time, ISO 8601), ``source``, ``data_options``, ``data`` (the data's
identity, see :mod:`seqstudio.core.data.identity`), ``model``, ``train``,
``total_params``, ``start_epoch``, ``history`` (one dict per epoch: ``epoch``,
``train_loss``, ``val_loss``, ``seconds`` and accuracies for classifiers),
``metrics`` (split -> name -> value, as
:func:`~seqstudio.core.train.evaluate.evaluate` returns them), ``epochs_run``,
``best_epoch``, ``seconds``, ``device``, ``stopped_reason`` (None when every
epoch ran), ``stopped_message``, ``has_weights``. Infinite or NaN numbers
become None (JSON has no NaN), so a record compares equal to itself after a
project save and load.

Runs that differ only in ``train.seed`` form a *seed group*
(:func:`seed_groups`); :func:`aggregate` gives the mean and spread of a final
metric over such a group, which is how one tells a real difference between two
models (the lecture's LSTM against GRU) from the luck of an initialisation.

>>> runs = [{"id": "a", "metrics": {"test": {"rmse": 2.0}}},
...         {"id": "b", "metrics": {"test": {"rmse": 4.0}}}]
>>> aggregate(runs, "test.rmse")["mean"]
3.0
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seqstudio.core.data.identity import data_identity_without_files, data_key, run_data_label
from seqstudio.core.model.spec import ModelSummary
from seqstudio.core.train.events import TrainResult

__all__ = [
    "make_run_record",
    "model_label",
    "next_run_number",
    "run_end_epoch",
    "flatten_metrics",
    "metric_value",
    "headline_metric",
    "runs_to_frame",
    "runs_to_csv",
    "seed_groups",
    "aggregate",
    "SPLIT_ORDER",
]

#: Splits in the order they are shown and exported.
SPLIT_ORDER = ("train", "val", "test")
#: Per-split metrics in the order they are shown (others follow alphabetically).
_METRIC_ORDER = ("loss", "rmse", "mae", "mape", "accuracy", "precision", "recall", "f1", "roc_auc")
#: Layers left out of a model label: they change no shape worth naming.
_QUIET_LAYERS = ("Dropout", "Flatten")


# --------------------------------------------------------------------------- records
def make_run_record(*, source: str, data_options: Mapping[str, Any], model: Mapping[str, Any],
                    train: Mapping[str, Any], result: TrainResult | Any, summary: ModelSummary | None = None,
                    start_epoch: int = 0, started_at: float | None = None,
                    weights: Mapping[str, Any] | None = None,
                    number: int | None = None, metrics: Mapping[str, Any] | None = None,
                    data: Mapping[str, Any] | None = None) -> dict:
    """Describe one finished training run as a JSON-able dict.

    Parameters
    ----------
    source, data_options, model, train
        The project's data source key, data options, layer stack
        (``ModelSpec.to_dict()``) and train config (``TrainConfig.to_dict()``)
        as they were for this run; they are deep-copied.
    result
        The run's :class:`~seqstudio.core.train.events.TrainResult`, or an object
        with some of its attributes (a backtest's); missing ones are recorded empty.
    summary
        The model's :class:`~seqstudio.core.model.spec.ModelSummary` (for
        ``total_params``); without it the parameter count is the number of
        elements in ``weights`` when given, else None.
    start_epoch
        Epochs already trained into the weights the run started from (a
        continued run's history starts at ``start_epoch + 1``).
    started_at
        Wall-clock start (``time.time()``); default: now minus the run's seconds.
    weights
        The weights the run ended with, when the caller keeps them in
        ``Project.run_weights`` (only ``has_weights`` is recorded here).
    number
        The run's number in its project (see :func:`next_run_number`), shown
        in its name ("run 3: LSTM(4) seed 0").
    metrics
        Final metrics per split, when they differ from ``result.metrics``.
    data
        What the run trained on (:func:`~seqstudio.core.data.identity.data_identity`:
        source, file, target, hash); default: named from ``source`` and
        ``data_options`` without reading the files.

    Returns the run record (its keys are listed in the module docstring).

    >>> from seqstudio.core.train.loop import TrainResult
    >>> result = TrainResult(history=[{"epoch": 1, "train_loss": 0.5, "val_loss": None}],
    ...                      epochs_run=1, best_epoch=1, stopped_reason=None, seconds=0.1,
    ...                      device="cpu", threads=1, metrics={"test": {"rmse": 3.0}})
    >>> run = make_run_record(source="csv-series", data_options={},
    ...                       model={"layers": [{"type": "LSTM", "units": 4},
    ...                                         {"type": "Dense", "units": 1}]},
    ...                       train={"seed": 0}, result=result, number=3)
    >>> run["name"], run["metrics"]["test"]["rmse"], run["has_weights"]
    ('run 3: LSTM(4) seed 0', 3.0, False)
    """
    seconds = float(getattr(result, "seconds", 0.0) or 0.0)
    if started_at is None:
        started_at = time.time() - seconds
    model, train = _plain(model), _plain(train)
    return _plain({
        "id": uuid.uuid4().hex[:12],
        "number": number,
        "name": _run_name(model, train, number),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started_at)),
        "source": source,
        "data_options": data_options,
        "data": dict(data) if data is not None else data_identity_without_files(source, data_options),
        "model": model,
        "train": train,
        "total_params": _parameter_count(summary, weights),
        "start_epoch": int(start_epoch),
        "history": list(getattr(result, "history", None) or []),
        "metrics": metrics if metrics is not None else (getattr(result, "metrics", None) or {}),
        "epochs_run": int(getattr(result, "epochs_run", 0) or 0),
        "best_epoch": getattr(result, "best_epoch", None),
        "seconds": seconds,
        "device": str(getattr(result, "device", "cpu")),
        "threads": getattr(result, "threads", None),
        "threads_reason": getattr(result, "threads_reason", "") or "",
        "stopped_reason": getattr(result, "stopped_reason", None),
        "stopped_message": getattr(result, "stopped_message", "") or "",
        "has_weights": bool(weights),
    })


def _parameter_count(summary: ModelSummary | None, weights: Mapping[str, Any] | None) -> int | None:
    """The summary's parameter count, else the number of elements in ``weights``, else None."""
    if summary is not None and summary.total_params is not None:  # None: counted before torch loaded
        return int(summary.total_params)
    if weights:
        return int(sum(int(np.prod(tuple(v.shape))) for v in weights.values()))
    return None


def _run_name(model: Mapping[str, Any], train: Mapping[str, Any], number: int | None) -> str:
    """``"run 3: LSTM(4) seed 0"``: the number, the model's label and the seed, where known."""
    seed = train.get("seed")
    name = model_label(model) + (f" seed {seed}" if seed is not None else "")
    return f"run {number}: {name}" if number is not None else name


def next_run_number(runs: Iterable[Mapping[str, Any]]) -> int:
    """One more than the highest run number so far (numbers are never reused after a delete).

    >>> next_run_number([{"number": 1}, {"number": 4}])
    5
    """
    numbers = [r.get("number") for r in runs]
    return 1 + max([n for n in numbers if isinstance(n, int)], default=len(numbers))


def run_end_epoch(run: Mapping[str, Any]) -> int:
    """The epoch a run's weights ended at: where continuing it numbers on from.

    A continued run started at ``start_epoch``; it ran ``epochs_run`` epochs (older
    records without that count have one history entry per epoch).

    >>> run_end_epoch({"start_epoch": 5, "epochs_run": 3})
    8
    >>> run_end_epoch({"history": [{}, {}]})
    2
    """
    ran = run.get("epochs_run")
    if ran is None:
        ran = len(run.get("history") or [])
    return int(run.get("start_epoch") or 0) + int(ran or 0)


def model_label(model: Mapping[str, Any], *, full: bool = False) -> str:
    """A short name for a layer stack: ``"LSTM(4)"``, or with ``full`` ``"LSTM(4) → Dense(1)"``.

    The short form leaves out the output layer (the last one, when there are
    several) and Dropout / Flatten, so it names what was compared: the cell
    and its size.

    >>> stack = {"layers": [{"type": "Embedding", "input_dim": 10000, "output_dim": 128},
    ...                     {"type": "LSTM", "units": 128}, {"type": "Dense", "units": 1}]}
    >>> model_label(stack)
    'Embedding(10000,128) → LSTM(128)'
    >>> model_label(stack, full=True)
    'Embedding(10000,128) → LSTM(128) → Dense(1)'
    """
    layers = [d for d in (model.get("layers") or []) if isinstance(d, Mapping)]
    if not full:
        if len(layers) > 1:
            layers = layers[:-1]
        layers = [d for d in layers if d.get("type") not in _QUIET_LAYERS] or layers
    return " → ".join(_layer_label(d) for d in layers) or "(no layers)"


def _layer_label(layer: Mapping[str, Any]) -> str:
    kind = str(layer.get("type", "?"))
    if kind == "Embedding":
        args = [layer.get("input_dim"), layer.get("output_dim")]
    elif kind == "Conv1D":
        args = [layer.get("filters"), layer.get("kernel_size")]
    elif kind == "Dropout":
        args = [layer.get("rate")]
    elif kind == "RNN":
        kind = f"RNN[{layer.get('cell', '?')}]"
        args = [layer.get("units")]
    else:
        args = [layer.get("units")]
    if layer.get("bidirectional"):
        kind = f"Bidirectional {kind}"
    shown = [str(a) for a in args if a is not None]
    return f"{kind}({','.join(shown)})" if shown else kind


# --------------------------------------------------------------------------- metrics
def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Final metrics as ``{"split.metric": value}``, baselines as ``"split.baseline.name.metric"``.

    Splits come in train, val, test order, metrics in the usual order (loss,
    rmse, mae, mape, accuracy, precision, recall, f1, roc_auc, then others);
    non-numeric entries (the confusion matrix, an ``error`` message) are left
    out.

    >>> flatten_metrics({"test": {"rmse": 1.5, "loss": 0.1,
    ...                           "baselines": {"naive": {"rmse": 2.0}}}})
    {'test.loss': 0.1, 'test.rmse': 1.5, 'test.baseline.naive.rmse': 2.0}
    """
    flat: dict[str, float | None] = {}
    splits = [s for s in SPLIT_ORDER if s in metrics] + sorted(s for s in metrics if s not in SPLIT_ORDER)
    for split in splits:
        values = metrics.get(split)
        if not isinstance(values, Mapping):
            continue
        for name in _ordered(values):
            value = values[name]
            if _is_number(value):
                flat[f"{split}.{name}"] = _number(value)
        for baseline, numbers in (values.get("baselines") or {}).items():
            if isinstance(numbers, Mapping):
                for name in _ordered(numbers):
                    if _is_number(numbers[name]):
                        flat[f"{split}.baseline.{baseline}.{name}"] = _number(numbers[name])
    return flat


def metric_value(run: Mapping[str, Any], metric: str) -> float | None:
    """One number of a run by its dotted name, or None when the run does not have it.

    ``metric`` is a key of :func:`flatten_metrics` (``"test.rmse"``,
    ``"test.baseline.naive.rmse"``) or a top-level number of the record
    (``"total_params"``, ``"seconds"``, ``"epochs_run"``).

    >>> metric_value({"seconds": 2.5, "metrics": {"val": {"loss": 0.25}}}, "val.loss")
    0.25
    """
    if metric in run and "." not in metric:
        value = run[metric]
        return _number(value) if _is_number(value) else None
    value = flatten_metrics(run.get("metrics") or {}).get(metric)
    return value if value is not None and math.isfinite(value) else None


def headline_metric(run: Mapping[str, Any]) -> tuple[str, float | None]:
    """The number a run is judged by: test RMSE for series, test accuracy for classifiers.

    Falls back to the validation, then the training split when there is no
    test split. Returns ``(label, value)``, e.g. ``("test RMSE", 48.2)``.
    """
    metrics = run.get("metrics") or {}
    for split in ("test", "val", "train"):
        values = metrics.get(split)
        if not isinstance(values, Mapping):
            continue
        for name, label in (("rmse", "RMSE"), ("accuracy", "accuracy"), ("loss", "loss")):
            if _is_number(values.get(name)):
                return f"{split} {label}", _number(values[name])
    return "", None


# --------------------------------------------------------------------------- export
_RUN_COLUMNS = ("run_id", "run_name", "started_at", "source", "data", "model", "seed", "total_params",
                "epochs_run", "seconds", "device", "stopped_reason")
_CURVE_COLUMNS = ("epoch", "train_loss", "val_loss", "epoch_seconds")


def runs_to_frame(runs: Iterable[Mapping[str, Any]]):
    """The table :func:`runs_to_csv` writes, as a :class:`pandas.DataFrame`."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    extra_curves: list[str] = []
    metric_columns: list[str] = []
    for run in runs:
        flat = flatten_metrics(run.get("metrics") or {})
        metric_columns += [k for k in flat if k not in metric_columns]
        facts = {
            "run_id": run.get("id"),
            "run_name": run.get("name"),
            "started_at": run.get("started_at"),
            "source": run.get("source"),
            "data": run_data_label(run),
            "model": model_label(run.get("model") or {}, full=True),
            "seed": (run.get("train") or {}).get("seed"),
            "total_params": run.get("total_params"),
            "epochs_run": run.get("epochs_run", len(run.get("history") or [])),
            "seconds": run.get("seconds"),
            "device": run.get("device"),
            "stopped_reason": run.get("stopped_reason") or "completed",
            **flat,
        }
        history = run.get("history") or [{}]  # a run without epochs still gets its metrics row
        for epoch in history:
            row = dict(facts)
            row["epoch"] = epoch.get("epoch")
            row["train_loss"] = epoch.get("train_loss")
            row["val_loss"] = epoch.get("val_loss")
            row["epoch_seconds"] = epoch.get("seconds")
            for key, value in epoch.items():
                if key not in ("epoch", "train_loss", "val_loss", "seconds"):
                    row[key] = value
                    if key not in extra_curves:
                        extra_curves.append(key)
            rows.append(row)
    columns = [*_RUN_COLUMNS, *_CURVE_COLUMNS, *extra_curves, *metric_columns]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("epoch", "total_params", "epochs_run", "seed"):
        frame[column] = frame[column].astype("Int64")
    return frame


def runs_to_csv(runs: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Write runs' curves and final metrics to one CSV file (UTF-8, comma-separated, header row).

    Layout: one row per (run, epoch), in the order of ``runs`` and of their
    epochs; a run without any epoch gets one row with an empty ``epoch``.
    Columns, left to right:

    - run facts, repeated on each of the run's rows: ``run_id``, ``run_name``,
      ``started_at``, ``source``, ``model`` (the full stack, e.g.
      ``LSTM(4) → Dense(1)``), ``seed``, ``total_params``, ``epochs_run``,
      ``seconds`` (the whole run), ``device``, ``stopped_reason``
      (``completed`` when every epoch ran);
    - the curve: ``epoch`` (counting from 1, continued runs go on from where
      they started), ``train_loss``, ``val_loss`` (empty without a validation
      split), ``epoch_seconds``, then any other per-epoch numbers such as
      ``accuracy`` and ``val_accuracy``;
    - the final metrics, repeated on each of the run's rows: one column per
      ``split.metric`` (``train.loss``, ``test.rmse``, ``test.mape``,
      ``test.accuracy``, ``test.roc_auc``...) and per baseline
      (``test.baseline.naive.rmse``), the union over all runs; empty where a
      run lacks one.

    Missing numbers are empty cells. Read it back with
    ``pandas.read_csv(path)``; ``df.groupby("run_id").first()`` gives one
    metrics row per run.
    """
    frame = runs_to_frame(runs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8")


# --------------------------------------------------------------------------- seeds
def _without_seed(run: Mapping[str, Any]) -> str:
    train = {k: v for k, v in (run.get("train") or {}).items() if k != "seed"}
    key = [run.get("source"), run.get("data_options"), data_key(run), run.get("model"), train,
           run.get("start_epoch", 0)]
    return json.dumps(_plain(key), sort_keys=True, default=str)


def seed_groups(runs: Iterable[Mapping[str, Any]]) -> list[list[dict]]:
    """Groups of two or more runs equal in everything but ``train.seed``.

    "Everything" is the data source and options, the layer stack, the rest of
    the train config and the epoch the run started from. Groups come in the
    order of their first run; runs keep their order inside a group; a run
    alone in its group is left out.

    >>> a = {"id": "a", "model": {"layers": []}, "train": {"epochs": 2, "seed": 0}}
    >>> b = {"id": "b", "model": {"layers": []}, "train": {"epochs": 2, "seed": 1}}
    >>> c = {"id": "c", "model": {"layers": []}, "train": {"epochs": 3, "seed": 0}}
    >>> [[r["id"] for r in g] for g in seed_groups([a, b, c])]
    [['a', 'b']]
    """
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(_without_seed(run), []).append(run)  # type: ignore[arg-type]
    return [g for g in groups.values() if len(g) >= 2]


def aggregate(runs: Iterable[Mapping[str, Any]], metric: str = "test.rmse") -> dict[str, float | int]:
    """Mean and spread of one final number over runs (typically a seed group).

    ``metric`` is named as in :func:`metric_value`. Runs without it are
    skipped; ``n`` counts the runs used. ``std`` is the sample standard
    deviation (``ddof=1``, as pandas and most papers report it), 0.0 for a
    single run; with no run at all every number is NaN.

    >>> runs = [{"metrics": {"test": {"rmse": v}}} for v in (1.0, 2.0, 3.0)]
    >>> aggregate(runs)
    {'mean': 2.0, 'std': 1.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    """
    values = np.array([v for v in (metric_value(r, metric) for r in runs) if v is not None],
                      dtype=np.float64)
    n = int(values.size)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if n > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()), "n": n}


# --------------------------------------------------------------------------- helpers
def _ordered(values: Mapping[str, Any]) -> list[str]:
    known = [k for k in _METRIC_ORDER if k in values]
    return known + sorted(k for k in values if k not in _METRIC_ORDER and k != "baselines")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return float(value)


def _plain(obj: Any) -> Any:
    """A JSON-able deep copy: numpy scalars and arrays become Python, NaN and infinity None."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, int):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # a 0-d tensor
        return _plain(obj.item())
    return str(obj)
