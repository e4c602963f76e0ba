"""Inspecting a trained model on a real input: a typed review or a test window of the series.

:class:`Inspector` holds a trained model with what reads its inputs (the
prepared data, or for text just the saved encoder) and answers
:class:`Inspection`\\ s: the layer's :class:`~seqstudio.core.inspect.gates.LayerTrace`
with a label for every time step (the tokens, or the dates and values of the
window), and for text the prediction after each token and the integrated-gradient
attribution of each token. The command line and the window's Inspect tab both use it.

>>> from seqstudio.core.project import Project                      # doctest: +SKIP
>>> inspector = Inspector.from_project(Project.load("imdb.json"), registry)  # doctest: +SKIP
>>> inspector.text("a wonderful film", layer=1).predictions[-1]     # doctest: +SKIP
0.93
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.inspect.attribution import (
    Attribution,
    predictions_after_each_token,
    score_function,
    token_attributions,
)
from seqstudio.core.inspect.gates import (
    InspectError,
    LayerTrace,
    model_device,
    recurrent_layers,
    trace_layer,
)

__all__ = ["Inspection", "Inspector", "Mistake"]

PAD, START, OOV = 0, 1, 2


@dataclass
class Inspection:
    """One inspected input: the layer's trace and what labels its time axis."""

    trace: LayerTrace
    #: a label per time step: the token, or the time stamp of a series step
    labels: list[str]
    #: the steps worth showing, ``[first, stop)``: a text's padding is left out
    first: int
    stop: int
    title: str = ""
    #: series: the target's value at each step, in original units
    values: np.ndarray | None = None
    #: text: the model's probability after each token (``prediction_name`` of it)
    predictions: np.ndarray | None = None
    prediction_name: str = ""
    attribution: Attribution | None = None
    notes: list[str] = field(default_factory=list)
    #: text: the token ids as the model read them, and the class the prediction is of
    ids: torch.Tensor | None = None
    target: int = 1

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name (``forward_f``, ``backward_h``, ``labels``...), for ``.npz`` files."""
        out: dict[str, np.ndarray] = {}
        for d in self.trace.directions:
            for name, arr in d.values.items():
                out[f"{d.name}_{name}"] = arr
            for name, arr in d.pre.items():
                out[f"{d.name}_pre_{name}"] = arr
        out["labels"] = np.array(self.labels, dtype=str)
        out["shown_steps"] = np.array([self.first, self.stop])
        out["max_abs_diff"] = np.array(self.trace.max_abs_diff)
        out["layer_input"] = self.trace.inputs
        if self.ids is not None:
            out["input_ids"] = self.ids.cpu().numpy()
        if self.values is not None:
            out["values"] = np.asarray(self.values, dtype=np.float64)
        if self.predictions is not None:
            out["predictions"] = self.predictions
        if self.attribution is not None:
            out["attributions"] = self.attribution.per_token
            out["attribution_scores"] = np.array([self.attribution.score, self.attribution.baseline_score])
        return out


@dataclass(frozen=True)
class Mistake:
    """A test sample the model got wrong, and how sure it was."""

    index: int
    true_label: str
    predicted_label: str
    confidence: float
    text: str


class Inspector:
    """A trained model and what reads its inputs.

    ``data`` is the prepared data (needed for test windows and test reviews);
    ``encoder`` encodes new text (a text project's saved
    :class:`~seqstudio.core.data.text.TextEncoder`; ``data`` serves when it can
    encode). ``outputs_are_probabilities`` says how to read a classifier's outputs
    (default: from the model's last layer, as evaluation reads them).
    """

    def __init__(self, model: nn.Module, *, data: Any = None, encoder: Any = None,
                 outputs_are_probabilities: bool | None = None, pad_id: int = PAD):
        self.model = model
        self.data = data
        self.encoder = encoder if encoder is not None else _encoder_of(data)
        if outputs_are_probabilities is None:
            from seqstudio.core.train.losses import outputs_are_probabilities as read

            outputs_are_probabilities = read(model, None)
        self.outputs_are_probabilities = outputs_are_probabilities
        self.pad_id = pad_id

    @classmethod
    def from_project(cls, project: Any, registry: Any, *, with_data: bool = False) -> Inspector:
        """The inspector of a trained project; text projects need their data only for test reviews."""
        if not project.weights:
            raise InspectError("the project has no trained weights", where=str(project.path or ""),
                               fix="train it first and save it")
        fitted = project.fitted or {}
        config = project.train_config()
        if "vocabulary" in fitted and not with_data:
            from seqstudio.core.data.text import PreparedText

            encoder = PreparedText.from_fitted_state(fitted)
            model = project.model_spec(registry).build((encoder.max_len,), registry=registry)
            model.load_state_dict(project.weights)
            inspector = cls(model, encoder=encoder)
        else:
            data = project.prepare_data(registry)
            inspector = cls(project.build_model(data, registry), data=data)
        if config.from_logits is not None:
            inspector.outputs_are_probabilities = not config.from_logits
        return inspector

    # -- what can be inspected -------------------------------------------------
    @property
    def is_text(self) -> bool:
        return self.encoder is not None or bool(getattr(self.data, "input_is_ids", False))

    def layers(self) -> list[tuple[int, str]]:
        """The recurrent layers: ``(position from 1, name)``."""
        names = getattr(self.model, "layer_names", [])
        return [(i + 1, names[i] if i < len(names) else f"layer {i + 1}") for i in recurrent_layers(self.model)]

    def test_size(self) -> int:
        return 0 if self.data is None else len(self.data.split("test")[0])

    def _layer_index(self, layer: int | None) -> int:
        found = self.layers()
        if not found:
            raise InspectError("this model has no recurrent layer to inspect",
                               fix="add an LSTM, GRU or SimpleRNN layer and train again")
        return (found[0][0] if layer is None else layer) - 1

    # -- inspecting ---------------------------------------------------------------
    def text(self, text: str, layer: int | None = None, *, attributions: bool = True) -> Inspection:
        """Inspect a typed or pasted text with layer ``layer`` (position from 1; default the first)."""
        if self.encoder is None:
            raise InspectError("this model reads a series, not text", fix="inspect a test window instead")
        if not isinstance(text, str) or not text.strip():
            raise InspectError("the text to inspect is empty", fix="type or paste a review")
        ids = self.encoder.encode_texts([text])[0]
        return self._text_ids(ids, self._token_labels(text, ids), layer, attributions, title=text)

    def test_item(self, index: int, layer: int | None = None, *, attributions: bool = True) -> Inspection:
        """Inspect test sample ``index`` (a window of the series, or a review)."""
        if self.data is None:
            raise InspectError("the test set is not loaded", fix="open the project with its data")
        x, _ = self.data.split("test")
        if not 0 <= index < len(x):
            raise InspectError(f"test window {index} does not exist: the test set has {len(x)}",
                               fix=f"choose a window from 0 to {len(x) - 1}" if len(x) else
                               "the project's data has no test part")
        if self.is_text:
            texts = (getattr(self.data, "texts", None) or {}).get("test") or []
            text = texts[index] if index < len(texts) else ""
            labels = self._token_labels(text, x[index]) if text else self._id_labels(x[index])
            return self._text_ids(x[index], labels, layer, attributions, title=text or f"test review {index}")
        return self._window(index, layer)

    def _text_ids(self, ids: torch.Tensor, labels: list[str], layer: int | None, attributions: bool,
                  title: str) -> Inspection:
        trace = trace_layer(self.model, self._layer_index(layer), ids)
        real = np.flatnonzero(ids.cpu().numpy() != self.pad_id)
        first, stop = (int(real[0]), int(real[-1]) + 1) if len(real) else (0, len(ids))
        names = list(getattr(self.encoder, "class_names", []) or getattr(self.data, "class_names", []) or [])
        # one output: P(positive); several: the probability of the class the model predicts
        was_training = self.model.training
        with torch.no_grad():
            out = self.model.eval()(ids.to(model_device(self.model)).unsqueeze(0)).reshape(1, -1)
        self.model.train(was_training)
        target = int(out.argmax(1)) if out.shape[1] > 1 else 1
        prob = score_function(self.outputs_are_probabilities, target)
        preds = predictions_after_each_token(self.model, ids, prob)
        notes = [f"{first} padding steps before the text are run but not shown"] if first else []
        name = names[target] if target < len(names) else "positive" if out.shape[1] == 1 else f"class {target}"
        found = Inspection(trace, labels, first, stop, title=title, predictions=preds,
                           prediction_name=f"P({name})", notes=notes, ids=ids, target=target)
        if attributions:
            found.attribution = self.attributions(found)
        return found

    def attributions(self, found: Inspection) -> Attribution:
        """The integrated-gradient attributions of an inspected text (the slow part: the window
        shows the gates first and adds these when they are ready)."""
        if found.ids is None:
            raise InspectError("attributions are for texts", fix="inspect a text or a test review")
        prob = score_function(self.outputs_are_probabilities, found.target)
        return token_attributions(self.model, found.ids, prob, pad_id=self.pad_id)

    def _token_labels(self, text: str, ids: torch.Tensor) -> list[str]:
        """The word at each position of ``ids`` (padding ``""``, start ``<start>``, cut words kept)."""
        vocab = getattr(self.encoder, "vocabulary", None)
        tokenize = getattr(getattr(vocab, "tokenizer", None), "tokenize", None)
        if tokenize is None:
            return self._id_labels(ids)
        words = ["<start>", *tokenize(text)]
        row = ids.tolist()
        real = [i for i, v in enumerate(row) if v != self.pad_id]
        if len(words) > len(real):  # truncated: keep the side the encoder kept
            side = getattr(self.encoder, "truncating", "pre")
            words = words[len(words) - len(real):] if side == "pre" else words[:len(real)]
        labels = [""] * len(row)
        for pos, word in zip(real, words, strict=False):
            labels[pos] = f"{word}?" if row[pos] == OOV else word
        return labels

    def _id_labels(self, ids: torch.Tensor) -> list[str]:
        decode = getattr(self.encoder, "decode", None)
        out = []
        for v in ids.tolist():
            out.append("" if v == self.pad_id else "<start>" if v == START else
                       (decode([v]) if decode else str(v)) or "?")
        return out

    def _window(self, index: int, layer: int | None) -> Inspection:
        x, _ = self.data.split("test")
        trace = trace_layer(self.model, self._layer_index(layer), x[index])
        steps = x.shape[1]
        labels, values = [f"t-{steps - k}" for k in range(steps)], None
        series = getattr(self.data, "series", None)
        target_times = getattr(self.data, "target_times", None)
        if series is not None and target_times is not None and len(series.columns):
            # the window is the look-back rows just before its first target's time
            pos = int(series.index.get_loc(target_times("test")[index]))
            rows = np.arange(pos - steps, pos)
            if rows[0] >= 0:  # the window's own rows of the series: its dates and values
                labels = [str(v) for v in series.index[rows].astype(str)]
                if all(re.fullmatch(r"\d{4}-\d\d-01", v) for v in labels):  # monthly: 1957-04
                    labels = [v[:7] for v in labels]
                values = series.iloc[rows, 0].to_numpy(dtype=np.float64)
        return Inspection(trace, labels, 0, steps, title=f"test window {index}", values=values)

    # -- picking ---------------------------------------------------------------------
    def confident_mistakes(self, k: int = 20) -> list[Mistake]:
        """The ``k`` test reviews the model got wrong with the highest confidence, surest first."""
        from seqstudio.core.train.evaluate import predict, to_probabilities

        if self.data is None or getattr(self.data, "task", "") not in ("binary", "multiclass"):
            return []
        x, y = self.data.split("test")
        if not len(x):
            return []
        p = to_probabilities(predict(self.model, x), are_probabilities=self.outputs_are_probabilities)
        p = np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p
        truth = np.asarray(y).reshape(len(x), -1)[:, 0]
        truth = (truth >= 0.5).astype(int) if truth.dtype.kind == "f" else truth.astype(int)
        guess = p.argmax(1)
        wrong = np.flatnonzero(guess != truth)
        wrong = wrong[np.argsort(-p[wrong, guess[wrong]], kind="stable")][:k]
        names = list(getattr(self.data, "class_names", []) or [])
        texts = (getattr(self.data, "texts", None) or {}).get("test") or []

        def name(c: int) -> str:
            return names[c] if c < len(names) else str(c)
        return [Mistake(int(i), name(int(truth[i])), name(int(guess[i])), float(p[i, guess[i]]),
                        texts[i] if i < len(texts) else "") for i in wrong]


def _encoder_of(data: Any) -> Any:
    """What encodes new text for ``data``: its TextEncoder when it has one, else itself if it can."""
    if data is None or not hasattr(data, "encode_texts"):
        return None
    try:
        return getattr(data, "encoder", data)
    except SeqStudioError:  # a PreparedText without a vocabulary
        return data
