"""Export a trained model as a self-checked bundle folder.

A bundle holds:

* the model file (``model.onnx``, ``model.ts`` or ``model.pt2``, see
  :mod:`~seqstudio.core.export.formats`), with a dynamic batch axis;
* ``preprocessing.json`` (:mod:`~seqstudio.core.export.preprocessing`): how to
  turn raw values or texts into the model's input and its output back;
* ``model-card.md``: the data, the layer stack, the metrics beside the
  baselines, the versions, the date and the self-check's figures;
* ``examples.npz`` (model-level ``input`` / ``output`` arrays) and
  ``examples.json`` (user-level: a history and its forecast, or texts and
  their probabilities), which a runtime can replay to prove it is fed right.

The self-check loads the written file in its own runtime and compares it with
the studio's model (PyTorch, evaluation mode) on the example inputs and the
test windows, at batch 1 and at batch 256: every output must agree to
``1e-5``. If the whole model fails, each layer is exported and checked alone,
and the error names the first layer (and cell) that does not export.

The folder is written beside its destination and moved into place only when
the check passed, so a failed export leaves no half-written bundle and an
earlier bundle in the same folder stays intact until the new one replaces it.

>>> result = export_project(project, registry, "airline-bundle", "onnx")  # doctest: +SKIP
>>> result.checks[-1].max_abs_diff < 1e-5  # doctest: +SKIP
True
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.data.series import PreparedSeries
from seqstudio.core.data.text import PreparedText
from seqstudio.core.errors import SeqStudioError
from seqstudio.core.export.formats import (
    INPUT_NAME,
    MODEL_FILES,
    ONNX_OPSET,
    OUTPUT_NAME,
    load_runner,
    require_runtime,
    write_model,
)
from seqstudio.core.export.preprocessing import preprocessing_for
from seqstudio.core.model.cells import RecurrentLayer

if TYPE_CHECKING:
    from seqstudio.core.model.spec import ModelSummary
    from seqstudio.core.registry import Registry

__all__ = ["ExportError", "ExportCheck", "ExportResult", "TOLERANCE", "export_model",
           "export_project", "BUNDLE_MARKER"]

#: Largest absolute difference allowed between the exported model's outputs and the studio's.
TOLERANCE = 1e-5
#: The batch sizes every export is checked at (the dynamic batch axis must work for both).
CHECK_BATCHES = (1, 256)
#: The file whose presence marks a folder as a bundle (so re-exporting may replace it).
BUNDLE_MARKER = "preprocessing.json"
#: How many test windows are checked at most (in batches of 256); the card says how many were.
DEFAULT_MAX_CHECK_ROWS = 4096
_EXAMPLES = 8


class ExportError(SeqStudioError):
    """An export that failed; ``layer_index`` is the 0-based layer that does not export, if known."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 layer_index: int | None = None):
        super().__init__(what, where=where, fix=fix)
        self.layer_index = layer_index


@dataclass
class ExportCheck:
    """One comparison of the exported model with the studio's: which inputs, how far apart."""

    name: str
    rows: int
    batch: int
    max_abs_diff: float

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff) and self.max_abs_diff <= TOLERANCE)


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how the self-check went."""

    directory: Path
    format: str
    model_file: Path
    files: list[Path] = field(default_factory=list)
    checks: list[ExportCheck] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.checks), default=0.0)


# --------------------------------------------------------------------------- helpers
def inference_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose recurrent steps run uncompiled.

    Evaluation mode is inference: dropout, input dropout and recurrent dropout
    (weight-drop on the fused path, a mask on ``h`` on the step path) are all off,
    so the exported graph holds only the deterministic computation.
    """
    clone = copy.deepcopy(model).cpu().float().eval()
    for module in clone.modules():
        if isinstance(module, RecurrentLayer):
            module.run_steps_eagerly()
    return clone


def _studio_outputs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([model(x[i:i + 256]) for i in range(0, len(x), 256)]).float().numpy()


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    same_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(same_nan, 0.0, np.abs(a - b))
    return float(np.nan_to_num(diff, nan=np.inf).max())


def _cycle(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``rows`` samples taken from ``x`` in order, starting again when it runs out."""
    reps = -(-rows // len(x))
    return x.repeat(reps, *([1] * (x.dim() - 1)))[:rows]


def _check_inputs(data: PreparedData, max_rows: int) -> list[tuple[str, torch.Tensor]]:
    """Named input batches for the self-check: examples, batch 1, batch 256, the test windows."""
    x = data.x_test if len(data.x_test) else data.x_val if len(data.x_val) else data.x_train
    split = "test" if len(data.x_test) else "validation" if len(data.x_val) else "training"
    x = x[:max_rows] if max_rows else x
    if len(x) == 0:
        raise ExportError("the data has no samples to check the exported model on",
                          fix="prepare data with at least one window or text")
    batches = [("examples", x[:_EXAMPLES]), ("batch 1", x[:1]),
               (f"batch {CHECK_BATCHES[1]} ({split} windows, repeated as needed)", _cycle(x, CHECK_BATCHES[1]))]
    batches.append((f"{len(x)} {split} windows", x))
    return batches


def _run_checks(runner, reference: nn.Module, inputs: list[tuple[str, torch.Tensor]]) -> list[ExportCheck]:
    checks = []
    for name, x in inputs:
        expected = _studio_outputs(reference, x)
        batch = min(len(x), CHECK_BATCHES[1])
        got = np.concatenate([runner(x[i:i + batch].numpy()) for i in range(0, len(x), batch)])
        checks.append(ExportCheck(name, len(x), batch, _max_diff(got, expected)))
    return checks


def _describe_layer(index: int, module: nn.Module, layer_types: list[str] | None) -> str:
    type_name = layer_types[index] if layer_types and index < len(layer_types) else type(module).__name__
    text = f"layer {index + 1} ({type_name}"
    if isinstance(module, RecurrentLayer):
        text += f", cell {module.cell_key!r}, {'fused' if module.uses_fused else 'step'} module"
    return text + ")"


class _Single(nn.Module):
    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def _blame(fmt: str, model: nn.Module, x: torch.Tensor, layer_types: list[str] | None,
           workdir: Path) -> tuple[int, str] | None:
    """The first layer that fails to export or to match on its own: ``(index, reason)``."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        return None
    h = x
    for i, layer in enumerate(layers):
        single = _Single(layer).eval()
        path = workdir / f"layer{i}{Path(MODEL_FILES[fmt]).suffix}"
        try:
            write_model(fmt, single, h[:2], path)
            runner = load_runner(fmt, path)
            checks = _run_checks(runner, single, [("batch 1", h[:1]), ("batch 256", _cycle(h, 256))])
        except Exception as exc:  # noqa: BLE001 - any exporter failure is the layer's reason
            return i, f"{type(exc).__name__}: {_first_line(exc)}"
        finally:
            path.unlink(missing_ok=True)
        bad = [c for c in checks if not c.passed]
        if bad:
            return i, (f"its exported outputs differ from the studio's by {bad[0].max_abs_diff:.3g} "
                       f"at {bad[0].name} (tolerance {TOLERANCE:g})")
        with torch.inference_mode():
            h = layer(h)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# --------------------------------------------------------------------------- the bundle
def export_model(model: nn.Module, data: PreparedData, out_dir: str | Path, fmt: str = "onnx", *,
                 fitted: dict[str, Any] | None = None, layer_types: list[str] | None = None,
                 card: dict[str, Any] | None = None, forecast_steps: int = 12,
                 max_check_rows: int = DEFAULT_MAX_CHECK_ROWS) -> ExportResult:
    """Write ``model`` as a bundle in ``out_dir`` and prove that the file computes what the studio does.

    Parameters
    ----------
    model
        The trained model (a :class:`~seqstudio.core.model.spec.SequenceModel`).
    data
        The prepared data it was trained on: its transforms go to ``preprocessing.json``,
        its test windows feed the self-check.
    out_dir
        A new or empty folder, or an earlier bundle (replaced only once the new one passed).
    fmt
        ``"onnx"``, ``"torchscript"`` or ``"exported-program"``.
    fitted
        The project's saved fitted state (vocabulary), preferred over ``data``'s for text.
    layer_types
        The stack's layer type names, to name a layer that does not export.
    card
        Facts for ``model-card.md``: ``name``, ``source``, ``data_options``, ``summary``
        (a :class:`ModelSummary`), ``metrics`` (the project's results), ``train``, ``plugins``.
    forecast_steps
        Length of the example forecast written to ``examples.json`` (series).
    max_check_rows
        At most this many test windows are compared (0: all).

    Raises
    ------
    ExportError
        When a layer does not export or its outputs differ; nothing is left in ``out_dir``.
    """
    require_runtime(fmt)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_destination(out_dir)
    reference = inference_copy(model)
    inputs = _check_inputs(data, max_check_rows)
    example = _cycle(inputs[0][1], 2)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".export", dir=out_dir.parent))
    try:
        model_path = staging / MODEL_FILES[fmt]
        try:
            write_model(fmt, inference_copy(model), example, model_path)
            runner = load_runner(fmt, model_path)
            checks = _run_checks(runner, reference, inputs)
            failure = next((f"outputs differ by {c.max_abs_diff:.3g} on {c.name} (tolerance "
                            f"{TOLERANCE:g})" for c in checks if not c.passed), None)
        except Exception as exc:  # noqa: BLE001 - reported with the layer that causes it below
            checks, failure = [], f"{type(exc).__name__}: {_first_line(exc)}"
        if failure is not None:
            model_path.unlink(missing_ok=True)
            raise _export_error(fmt, reference, inputs[0][1], layer_types, staging, failure)
        examples_x = inputs[0][1]
        examples_y = _studio_outputs(reference, examples_x)
        np.savez(staging / "examples.npz", input=examples_x.numpy(), output=examples_y)
        model_io = _model_io(fmt, reference, examples_x, examples_y)
        prep = preprocessing_for(data, model_io, fitted)
        _write_json(staging / "preprocessing.json", prep)
        _write_json(staging / "examples.json",
                    _user_examples(data, reference, prep, forecast_steps, fitted))
        result = ExportResult(out_dir, fmt, out_dir / MODEL_FILES[fmt], checks=checks)
        result.seconds = time.perf_counter() - started
        (staging / "model-card.md").write_text(
            model_card(card or {}, prep, result, data), encoding="utf-8")
        result.files = sorted(out_dir / p.name for p in staging.iterdir())
        _commit(staging, out_dir)
        return result
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _export_error(fmt: str, reference: nn.Module, x: torch.Tensor, layer_types: list[str] | None,
                  workdir: Path, failure: str) -> ExportError:
    blamed = _blame(fmt, reference, x, layer_types, workdir)
    if blamed is None:
        return ExportError(f"the model does not export to {fmt}: {failure}",
                           fix="try another --format, or report the model's layer stack")
    index, reason = blamed
    layer = cast(nn.ModuleList, reference.layers)[index]  # _blame names an index only in a ModuleList
    what = f"{_describe_layer(index, layer, layer_types)} does not export to {fmt}: {reason}"
    if isinstance(layer, RecurrentLayer) and "builtins>" not in layer.cell_key:
        fix = (f"cell {layer.cell_key!r} comes from a plugin: ask its author for a step or fused module "
               "that the exporter can trace, try another --format, or train with a built-in cell")
    else:
        fix = "try another --format, or replace that layer"
    return ExportError(what, fix=fix, layer_index=index)


def _check_destination(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file, not a folder", fix="give a folder to write the bundle into")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / BUNDLE_MARKER).is_file():
        raise ExportError(f"the folder {out_dir} is not empty and holds no earlier export",
                          fix="choose a new or empty folder (an earlier bundle there would be replaced)")


def _commit(staging: Path, out_dir: Path) -> None:
    """Move the checked bundle into place: one rename, the old bundle removed only afterwards."""
    old = None
    if out_dir.is_dir():
        if any(out_dir.iterdir()):
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            out_dir.rename(old)
        else:
            out_dir.rmdir()
    try:
        staging.rename(out_dir)
    except OSError:
        if old is not None:
            old.rename(out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False, default=_json_default) + "\n",
                    encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _model_io(fmt: str, model: nn.Module, x: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
    return {
        "file": MODEL_FILES[fmt],
        "format": fmt,
        **({"opset": ONNX_OPSET} if fmt == "onnx" else {}),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_shape": [None, *x.shape[1:]],
        "input_dtype": str(x.numpy().dtype),
        "output_shape": [None, *y.shape[1:]],
        "output_dtype": str(y.dtype),
        "output_activation": getattr(model, "output_activation", "linear"),
        "batch_axis": "dynamic (axis 0)",
    }


def _user_examples(data: PreparedData, model: nn.Module, prep: dict[str, Any],
                   steps: int, fitted: dict[str, Any] | None) -> dict[str, Any]:
    """Raw inputs and what the studio answers for them, for a runtime to replay."""
    if prep["kind"] == "series" and prep["series"]["recursive_forecast"]:
        targets = prep["series"]["target_columns"]
        series = cast(PreparedSeries, data)  # preprocessing_for says "series" only for series data
        history = np.asarray(series.series[targets].to_numpy(np.float64))

        def predict_fn(window: np.ndarray) -> np.ndarray:
            return _studio_outputs(model, torch.as_tensor(window, dtype=torch.float32))

        times, values = series.forecast(predict_fn, steps)
        return {"history": history.tolist(), "steps": steps,
                "forecast_times": [str(t) for t in np.asarray(times)],
                "forecast": np.asarray(values, dtype=np.float64).tolist()}
    if prep["kind"] == "text":
        texts = (getattr(data, "texts", {}) or {}).get("test") or \
            (getattr(data, "texts", {}) or {}).get("train") or []
        texts = list(texts[:_EXAMPLES])
        if not texts:
            return {}
        if fitted and "vocabulary" in fitted:
            encode = PreparedText.from_fitted_state(fitted).encode_texts
        elif isinstance(data, PreparedText):
            encode = data.encode_texts
        else:
            return {}
        out = _studio_outputs(model, encode(texts))
        return {"texts": texts, "output": out.tolist()}
    return {}


# --------------------------------------------------------------------------- the model card
def model_card(facts: dict[str, Any], prep: dict[str, Any], result: ExportResult,
               data: PreparedData) -> str:
    """``model-card.md``: what the model is, what it was trained on, how good it is, how to run it."""
    name = facts.get("name") or "model"
    lines = [f"# {name}", "",
             f"Exported by seqstudio on {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} "
             f"as `{prep['model']['file']}` ({result.format}).", ""]
    lines += ["## Data", ""]
    if facts.get("source"):
        lines.append(f"- source: `{facts['source']}`")
    if data.description:
        for i, line in enumerate(data.description.splitlines()):
            lines.append(f"- {line}" if i == 0 else f"  {line}")
    options = facts.get("data_options") or {}
    if options:
        shown = {k: v for k, v in options.items() if k not in ("path", "test_path")}
        lines.append(f"- options: `{json.dumps(shown, default=str)}`")
    lines.append(f"- task: {data.task}; input per sample {list(data.input_shape)}"
                 f"{' (token ids)' if data.input_is_ids else ''}; outputs {data.n_outputs}")
    lines += ["", "## Model", ""]
    summary: ModelSummary | None = facts.get("summary")
    if summary is not None:
        lines += ["```", summary.format(), "```"]
    train = facts.get("train") or {}
    if train:
        lines.append(f"\nTraining: `{json.dumps(train, default=str)}`")
    lines += ["", "## Metrics", ""]
    lines += _metrics_table((facts.get("metrics") or {}).get("splits") or {})
    backtests = (facts.get("metrics") or {}).get("backtest") or (facts.get("metrics") or {}).get("backtests")
    if backtests:
        lines += ["", "Backtests:", "", "```", json.dumps(backtests, indent=1, default=str)[:4000], "```"]
    lines += ["", "## Self-check", "",
              f"The exported file was loaded in its own runtime and compared with the studio's model "
              f"(PyTorch, evaluation mode); every output agrees to {TOLERANCE:g}.", "",
              "| inputs | rows | batch | max abs difference |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {c.name} | {c.rows} | {c.batch} | {c.max_abs_diff:.3g} |" for c in result.checks]
    lines += ["", "## Feeding the model", "",
              f"`preprocessing.json` (kind `{prep['kind']}`) holds every transform; "
              "`examples.npz` / `examples.json` hold inputs and the outputs the studio computed for them."]
    if prep["kind"] == "series":
        s = prep["series"]
        lines.append(f"Inputs: windows of {s['look_back']} steps of {', '.join(s['input_columns'])}; "
                     f"log {s['log']}, difference lag {s['diff_lag']}, scaling {s['scaler']['method']}.")
    elif prep["kind"] == "text":
        t = prep["text"]
        lines.append(f"Inputs: {t['max_len']} token ids ({t['tokenizer']['level']} level, "
                     f"{len(t['vocabulary'])} words, padding {t['padding']}, truncating {t['truncating']}).")
    if result.format == "onnx":
        lines += ["", "Without PyTorch: `pip install ./runtime` (numpy + onnxruntime), then", "",
                  "```python", "from seqstudio_runtime import Predictor",
                  "p = Predictor.from_bundle('THIS_FOLDER')",
                  ("p.forecast(history, steps=12)" if prep["kind"] == "series"
                   else "p.predict_text(['a wonderful film'])" if prep["kind"] == "text"
                   else "p.run(x)"), "```"]
    lines += ["", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in _versions(result.format).items()]
    plugins = facts.get("plugins") or {}
    if plugins:
        lines.append(f"- plugins: {', '.join(f'{k} ({v})' for k, v in plugins.items())}")
    return "\n".join(lines) + "\n"


def _metrics_table(splits: dict[str, Any]) -> list[str]:
    if not splits:
        return ["No metrics recorded (the project was not evaluated)."]
    keys = [k for k in ("loss", "rmse", "mae", "mape", "accuracy", "precision", "recall", "f1", "roc_auc")
            if any(isinstance(m.get(k), int | float) for m in splits.values())]
    lines = ["| split | " + " | ".join(keys) + " |", "| --- |" + " ---: |" * len(keys)]
    for split, m in splits.items():
        lines.append(f"| {split} | " + " | ".join(_num(m.get(k)) for k in keys) + " |")
        for base, b in (m.get("baselines") or {}).items():
            lines.append(f"| {split}: {base} baseline | " + " | ".join(_num(b.get(k)) for k in keys) + " |")
    return lines


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def _versions(fmt: str) -> dict[str, str]:
    from seqstudio import __version__

    versions = {"seqstudio": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__}
    if fmt == "onnx":
        import onnxruntime

        versions["onnxruntime (self-check)"] = onnxruntime.__version__
        versions["ONNX opset"] = str(ONNX_OPSET)
    return versions


# --------------------------------------------------------------------------- projects
def export_project(project: Any, registry: Registry, out_dir: str | Path, fmt: str = "onnx",
                   **kwargs: Any) -> ExportResult:
    """Export a trained project (its data prepared again, its saved weights loaded).

    ``project`` is a :class:`~seqstudio.core.project.Project`; keyword arguments go
    to :func:`export_model`.
    """
    require_runtime(fmt)
    if not project.weights:
        raise ExportError("the project has no trained weights to export",
                          where=str(project.path or project.name),
                          fix="train it first (seqstudio train --project FILE --save FILE)")
    if str(project.train.get("loss", "")).lower() == "pinball":  # the runtime reads one value per output
        raise ExportError("a quantile (pinball-loss) model cannot be exported yet: a bundle's runtime "
                          "reads one value per forecast step, not several quantiles",
                          where=str(project.path or project.name),
                          fix="train it with another loss (e.g. --loss mse) to export it")
    data = project.prepare_data(registry)
    spec = project.model_spec(registry)
    summary = spec.check_data(data, registry=registry)
    model = project.build_model(data, registry)
    card = {"name": project.name, "source": project.source, "data_options": project.data_options,
            "summary": summary, "metrics": project.results, "train": project.train,
            "plugins": project.plugins}
    return export_model(model, data, out_dir, fmt, fitted=project.fitted,
                        layer_types=[layer.type_name for layer in spec.layers], card=card, **kwargs)
