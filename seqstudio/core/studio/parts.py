"""The studio document's parts: what it reports and the Qt-free helpers the views share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import PATH_OPTIONS, Project


@dataclass(frozen=True)
class ModelCheck:
    """The layer stack checked against the data: valid, or why not and which layer."""

    valid: bool
    reason: str = ""
    summary: Any = None            # ModelSummary when the stack builds
    error_index: int | None = None  # the layer at fault (ModelSpecError.layer_index)


@dataclass(frozen=True)
class ErrorReport:
    """A failure to show: what was being done (``doing``) and the exception itself.

    ``text`` keeps the core's *what*, *where* and *fix*; ``layer_index`` names the
    layer at fault when the error has one.
    """

    doing: str
    error: BaseException

    @property
    def text(self) -> str:
        return error_text(self.error)

    @property
    def layer_index(self) -> int | None:
        return getattr(self.error, "layer_index", None)


@dataclass(frozen=True)
class Results:
    """What the Results tab shows: a model's predictions and metrics on the current data."""

    model: Any = None
    data: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: :func:`series_predictions` for a series; for a classifier :func:`text_predictions`
    #: when computed already (None: the view computes the report itself, off its thread)
    predictions: dict[str, Any] | None = None
    config: Any = None


@dataclass(frozen=True)
class RunPlan:
    """What a run starts with (:meth:`StudioDocument.start_run`)."""

    model: Any
    data: Any
    config: Any
    start_epoch: int
    optimizer_state: dict[str, Any] | None


def error_text(exc: BaseException) -> str:
    """The core's message for user errors (what, where, fix), the type and message for others."""
    if isinstance(exc, SeqStudioError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def series_predictions(model, data, *, future_steps: int = 24) -> dict[str, Any]:
    """Predictions of a series model in original units, for the forecast plot.

    Returns ``{"train": (times, predicted), "val": ..., "test": ..., "future": (times, values)}``;
    entries are left out when a split is empty or a forecast is impossible (``future_error``
    then says why).
    """
    import torch

    from seqstudio.core.train.evaluate import predict

    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        x, _y = data.split(split)
        if len(x) == 0:
            continue
        predicted = data.to_original(predict(model, x), split)
        out[split] = (np.asarray(data.target_times(split)), predicted)
    if future_steps > 0 and isinstance(data, SeriesData):
        def predict_fn(x_scaled: np.ndarray) -> np.ndarray:
            return predict(model, torch.as_tensor(x_scaled, dtype=torch.float32))

        try:
            out["future"] = data.forecast(predict_fn, future_steps)
        except Exception as exc:  # noqa: BLE001 - a recursive forecast is impossible with extra inputs
            out["future_error"] = str(exc)
    return out


def text_predictions(model, data, config=None) -> dict[str, Any]:
    """``{"classifier_report": ClassifierReport}`` of the test part, for the text Results page.

    Empty when the data has no test part.
    """
    from seqstudio.core.classify.report import classifier_report

    x_test, _ = data.split("test")
    if len(x_test) == 0:
        return {}
    return {"classifier_report": classifier_report(model, data, "test", config=config)}


def check_model(spec, data, registry) -> ModelCheck:
    """Check a layer stack against ``data`` (or shapes alone before data is there).

    >>> from seqstudio.core.model.spec import ModelSpec
    >>> check_model(ModelSpec([]), None, None).reason
    'the model has no layers'
    """
    if spec is None or not spec.layers:
        return ModelCheck(False, "the model has no layers")
    try:
        if data is not None:
            summary = spec.check_data(data, registry=registry)
        else:
            summary = spec.summary((1, 1), registry=registry)
    except SeqStudioError as exc:
        return ModelCheck(False, error_text(exc), None, getattr(exc, "layer_index", None))
    except Exception as exc:  # noqa: BLE001 - a bug in a plugin layer must not stop the studio
        return ModelCheck(False, error_text(exc))
    if data is None:
        return ModelCheck(False, "load data first", summary)
    return ModelCheck(True, "", summary)


@runtime_checkable
class SeriesData(Protocol):
    """Prepared data of a time series: what the forecast views need (``PreparedSeries`` is one)."""

    series: Any

    def target_times(self, split: str) -> Any: ...

    def actual(self, split: str) -> Any: ...

    def forecast(self, predict_fn: Callable[[np.ndarray], Any], steps: int) -> Any: ...


@runtime_checkable
class TextData(Protocol):
    """Prepared text: what the text views need (``PreparedText`` is one)."""

    def encode_texts(self, texts: Any) -> Any: ...

    def length_histogram(self) -> Any: ...


def is_series(data) -> bool:
    """Whether ``data`` is a time series (it has times to plot predictions against)."""
    return isinstance(data, SeriesData)


def panel_options(project: Project, registry) -> dict[str, Any]:
    """The project's data options as a form shows them: defaults filled, relative paths made real.

    ``embedded:NAME`` paths stay as they are, so that a re-save stays portable.
    """
    from seqstudio.core.presets import EMBEDDED

    options = project.resolved_data_options(registry)
    for key in PATH_OPTIONS:
        raw = project.data_options.get(key)
        if isinstance(raw, str) and raw.startswith(EMBEDDED):
            options[key] = raw
    return options


