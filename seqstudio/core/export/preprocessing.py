"""``preprocessing.json``: everything needed to feed an exported model and read its output.

A model is only as useful as the numbers it is fed: a series model expects
log-differenced, min-max-scaled windows, a text model ids from one particular
vocabulary, cut and padded on particular sides. This file writes those
transforms down as plain JSON, so that any runtime (the ``seqstudio-runtime``
package, or a few lines in another language) feeds the model exactly what it
was trained on.

``kind`` is ``"series"``, ``"text"`` or ``"tensor"`` (a plugin's data that is
neither: only the model's input and output are described). The series part
lists, in the order they are applied, ``log`` -> difference at ``diff_lag`` ->
``(value - center) / scale`` per input column, then windows of ``look_back``
steps; outputs are undone in reverse (``value * scale + center``, add the
value ``diff_lag`` steps earlier, ``exp``). The text part holds the tokenizer
settings, the vocabulary already cut at ``num_words`` as word -> id, the
reserved ids and the padding / truncating sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.data.text import INDEX_FROM, OOV_ID, PAD_ID, START_ID, PreparedText

__all__ = ["PREPROCESSING_FORMAT", "preprocessing_for"]

#: Version of the ``preprocessing.json`` layout.
PREPROCESSING_FORMAT = 1


def preprocessing_for(data: PreparedData, model_io: dict[str, Any],
                      fitted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``preprocessing.json`` content for a model trained on ``data``.

    ``model_io`` describes the model file (name, input / output names, shapes,
    dtypes); ``fitted`` is the project's saved fitted state (the vocabulary the
    model was trained with), preferred over ``data``'s own for text.
    """
    out: dict[str, Any] = {"format": PREPROCESSING_FORMAT, "task": data.task, "model": model_io,
                           "class_names": list(data.class_names)}
    if fitted and "vocabulary" in fitted:
        out["kind"] = "text"
        out["text"] = _text_part(fitted)
        out["class_names"] = out["text"]["class_names"] or out["class_names"]
    elif isinstance(data, PreparedText):
        out["kind"] = "text"
        out["text"] = _text_part(data.fitted_state())
    elif hasattr(data, "options") and hasattr(data, "target_columns") and hasattr(data, "fitted_state"):
        out["kind"] = "series"
        out["series"] = _series_part(data)
    else:
        out["kind"] = "tensor"
    return out


def _series_part(data: Any) -> dict[str, Any]:
    state = data.fitted_state()
    options = data.options
    index = data.series.index
    targets = list(data.target_columns)
    inputs = list(data.input_columns)
    last_time = index[-1] if len(index) else None
    if isinstance(last_time, pd.Timestamp):
        last_time = last_time.isoformat()
    elif isinstance(last_time, np.generic):
        last_time = last_time.item()
    forecastable = len(inputs) == len(targets)
    return {
        "target_columns": targets,
        "input_columns": inputs,
        "time_column": options.date_col if isinstance(options.date_col, str) else None,
        "time_step": state.get("step"),
        "last_time": last_time,
        "log": bool(options.log),
        "diff_lag": int(options.diff_lag),
        "scaler": dict(state["scaler"]),
        "look_back": int(options.look_back),
        "horizon": int(options.horizon),
        "stride": int(options.stride),
        "output_layout": "horizon-major: step 1 of every target, then step 2, ...",
        "history_needed": int(options.look_back + options.diff_lag),
        "recursive_forecast": forecastable,
        **({} if forecastable else {
            "recursive_forecast_note": "the model also reads feature columns "
                                       f"({', '.join(inputs[len(targets):])}) whose future is unknown"}),
        "categories": state.get("categories", {}),
        "season": state.get("season"),
    }


def _text_part(state: dict[str, Any]) -> dict[str, Any]:
    encoder = PreparedText.from_fitted_state(state)
    vocab = encoder.vocabulary
    # The vocabulary as the model sees it: only words whose id is below num_words, as ids.
    ids = {w: vocab.word_id(w) for w in vocab.word_index}
    ids = {w: i for w, i in sorted(ids.items(), key=lambda kv: kv[1]) if i != OOV_ID}
    return {
        "tokenizer": encoder.tokenizer.to_dict(),
        "tokenizer_rules": {
            "html_breaks": r"<\s*br\s*/?\s*>",
            "word": r"[^\W_]+(?:'[^\W_]+)*",
            "word_or_punctuation": r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_",
            "note": "Python `re` syntax, Unicode-aware; char level collapses runs of white space "
                    "to one space and strips the ends",
        },
        "vocabulary": ids,
        "num_words": vocab.num_words,
        "vocab_size": vocab.vocab_size,
        "index_from": getattr(vocab, "index_from", INDEX_FROM),
        "pad_id": PAD_ID,
        "start_id": START_ID,
        "oov_id": OOV_ID,
        "add_start": True,
        "max_len": int(encoder.max_len),
        "padding": encoder.padding,
        "truncating": encoder.truncating,
        "class_names": list(encoder.class_names),
        "task": encoder.task,
    }
