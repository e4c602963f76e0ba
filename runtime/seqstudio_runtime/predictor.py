"""Load an exported bundle and predict with it: forecasts, text labels, or raw model outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqstudio_runtime.text import TextEncoder

__all__ = ["Predictor", "TextPredictions", "BundleError"]

#: The preprocessing.json layouts this runtime understands.
SUPPORTED_FORMATS = (1,)


class BundleError(ValueError):
    """A folder that is not a bundle this runtime can run, or input it cannot take."""


@dataclass
class TextPredictions:
    """What :meth:`Predictor.predict_text` returns, one entry per text."""

    labels: list[str]
    #: Binary: the probability of the positive class; multiclass: that of the chosen class.
    probabilities: np.ndarray
    #: The model's outputs as they came (``(N, n_outputs)``).
    outputs: np.ndarray
    label_ids: np.ndarray


class Predictor:
    """An exported seqstudio model with its preprocessing, run by onnxruntime.

    >>> p = Predictor.from_bundle("airline-bundle")          # doctest: +SKIP
    >>> p.forecast(passengers, steps=24).shape               # doctest: +SKIP
    (24, 1)
    """

    def __init__(self, directory: Path, preprocessing: dict[str, Any], session: Any):
        self.directory = directory
        self.preprocessing = preprocessing
        self.kind: str = preprocessing.get("kind", "tensor")
        self._session = session
        model = preprocessing["model"]
        self._input = model.get("input_name", "input")
        self._output = model.get("output_name", "output")
        self._input_dtype = np.dtype(model.get("input_dtype", "float32"))
        self._activation = model.get("output_activation", "linear")
        self.text_encoder = TextEncoder(preprocessing["text"]) if self.kind == "text" else None

    @classmethod
    def from_bundle(cls, directory: str | Path, *, threads: int | None = None) -> Predictor:
        """Open the bundle folder written by ``seqstudio export --format onnx``.

        ``threads`` caps onnxruntime's intra-op threads (default: its own choice).
        """
        import onnxruntime as ort

        directory = Path(directory)
        prep_path = directory / "preprocessing.json"
        if not prep_path.is_file():
            raise BundleError(f"{directory} holds no preprocessing.json: it is not a seqstudio export "
                              "(export with: seqstudio export --project P.json --format onnx --out DIR)")
        prep = json.loads(prep_path.read_text(encoding="utf-8"))
        if prep.get("format") not in SUPPORTED_FORMATS:
            raise BundleError(f"{prep_path} has layout version {prep.get('format')!r}; this runtime reads "
                              f"{SUPPORTED_FORMATS}: update seqstudio-runtime")
        model = prep.get("model", {})
        if model.get("format") != "onnx":
            raise BundleError(f"{directory} holds a {model.get('format')} model ({model.get('file')}); "
                              "this runtime runs ONNX bundles: export again with --format onnx")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        session = ort.InferenceSession(str(directory / model["file"]), options,
                                       providers=["CPUExecutionProvider"])
        return cls(directory, prep, session)

    # -- the model itself ---------------------------------------------------
    def run(self, x: np.ndarray) -> np.ndarray:
        """The model's raw outputs for a batch of inputs shaped as ``preprocessing.json`` says."""
        x = np.ascontiguousarray(np.asarray(x), dtype=self._input_dtype)
        return np.asarray(self._session.run([self._output], {self._input: x})[0])

    # -- series -------------------------------------------------------------
    def forecast(self, history: Iterable[float] | np.ndarray, steps: int) -> np.ndarray:
        """Forecast ``steps`` values after ``history``, recursively one step ahead.

        ``history`` is the target series in original units, oldest first, ``(T,)``
        or ``(T, n_targets)``, at least ``history_needed`` values long (``look_back``
        plus ``diff_lag``). The transforms are applied (log, difference, scale) and
        undone on the way out exactly as seqstudio does; the result is
        ``(steps, n_targets)`` in original units.
        """
        s = self._series()
        if not s.get("recursive_forecast", True):
            raise BundleError(f"this model cannot forecast recursively: {s.get('recursive_forecast_note')}")
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise BundleError(f"steps must be a positive integer, got {steps!r}")
        n_targets = len(s["target_columns"])
        values = np.asarray(history, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[1] != n_targets:
            raise BundleError(f"history must be (T,) or (T, {n_targets}) values of "
                              f"{', '.join(s['target_columns'])}, got shape {values.shape}")
        look_back, lag = int(s["look_back"]), int(s["diff_lag"])
        if len(values) < look_back + lag:
            raise BundleError(f"history has {len(values)} values; the model needs at least "
                              f"{look_back + lag} (look_back {look_back} + difference lag {lag})")
        if not np.isfinite(values).all():
            raise BundleError("history holds missing or infinite values; fill them first")
        if s["log"] and (values <= 0).any():
            raise BundleError("the model takes the log of the series, so history must be positive")
        level = np.log(values) if s["log"] else values
        transformed = level[lag:] - level[:-lag] if lag else level
        center = np.asarray(s["scaler"]["center"])[:n_targets]
        scale = np.asarray(s["scaler"]["scale"])[:n_targets]
        window = ((transformed - center) / scale).astype(np.float32)[-look_back:].copy()
        predicted = np.empty((steps, n_targets))
        for k in range(steps):
            out = self.run(window[None])
            step = np.asarray(out, dtype=np.float64).reshape(-1)[:n_targets]
            predicted[k] = step
            window = np.concatenate([window[1:], step[None].astype(np.float32)])
        result = predicted * scale + center
        if lag:
            levels = list(level)
            for k in range(steps):
                levels.append(result[k] + levels[-lag])
            result = np.asarray(levels[-steps:])
        if s["log"]:
            result = np.exp(result)
        return result

    def _series(self) -> dict[str, Any]:
        if self.kind != "series":
            raise BundleError(f"this bundle holds a {self.kind} model; forecast() needs a series model")
        return self.preprocessing["series"]

    # -- text ---------------------------------------------------------------
    def encode_texts(self, texts: str | Iterable[str]) -> np.ndarray:
        """``(N, max_len)`` int64 token ids, exactly as at training time."""
        if self.text_encoder is None:
            raise BundleError(f"this bundle holds a {self.kind} model; text needs a text model")
        return self.text_encoder.encode(texts)

    def predict_text(self, texts: str | Iterable[str], *, batch_size: int = 256) -> TextPredictions:
        """Labels and probabilities of ``texts`` (one string counts as one text)."""
        ids = self.encode_texts(texts)
        outputs = [self.run(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]
        out = np.concatenate(outputs) if outputs else np.zeros((0, 1), dtype=np.float32)
        names = list(self.preprocessing.get("class_names") or []) or ["negative", "positive"]
        if out.ndim == 2 and out.shape[1] == 1:
            prob = out[:, 0].astype(np.float64)
            if self._activation != "sigmoid":
                prob = 1.0 / (1.0 + np.exp(-prob))
            ids_ = (prob >= 0.5).astype(np.int64)
            labels = [names[i] if len(names) == 2 else str(i) for i in ids_]
            return TextPredictions(labels, prob, out, ids_)
        scores = out.astype(np.float64)
        if self._activation != "softmax":
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        ids_ = scores.argmax(axis=1)
        labels = [names[i] if i < len(names) else str(i) for i in ids_]
        return TextPredictions(labels, scores.max(axis=1), out, ids_)
