"""The one shape of data every model trains on.

A data source (CSV series, text corpus, a plugin's generator) returns a
:class:`PreparedData`: tensors split chronologically into train / validation /
test, and the fitted state needed to undo its transforms (scaler, vocabulary).
The training engine only ever sees this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

Task = Literal["regression", "binary", "multiclass"]
Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass
class PreparedData:
    """Tensors ready for training plus what is needed to undo their transforms.

    Shapes: ``x`` is ``(N, *input_shape)``: float32 ``(N, look_back, features)``
    for series, int64 ``(N, max_len)`` token ids for text. ``y`` is float32
    ``(N, n_outputs)`` for regression and binary tasks, int64 ``(N,)`` for
    multiclass. ``x_val`` / ``x_test`` may be empty (0 rows) but never None.

    Subclasses (``PreparedSeries``, ``PreparedText``) add the inverse transforms;
    the base class is the identity.
    """

    task: Task
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_outputs: int
    #: True when x holds integer token ids (an Embedding must come first).
    input_is_ids: bool = False
    #: Number of distinct ids when ``input_is_ids`` (ids lie in [0, vocab_size)).
    vocab_size: int | None = None
    #: Class names for classification tasks, in label-id order.
    class_names: list[str] = field(default_factory=list)
    #: Free-form description shown to users ("airline-passengers.csv: 144 rows ...").
    description: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample input shape, without the batch axis."""
        return tuple(self.x_train.shape[1:])

    def split(self, name: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x, y)`` of one split: ``"train"``, ``"val"`` or ``"test"``."""
        return {
            "train": (self.x_train, self.y_train),
            "val": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }[name]

    def to_original(self, y: torch.Tensor | np.ndarray, split: Split) -> np.ndarray:
        """Undo the target transforms (scaling, differencing, log) for ``split``.

        ``y`` has the shape of that split's targets. The base class returns it
        unchanged, as float64 numpy.
        """
        return np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)

    def use_fitted_state(self, state: dict[str, Any]) -> PreparedData:
        """Use the fitted transforms saved in a project (scaler, vocabulary) instead of the ones
        fitted on the data now; returns the data to use. The base class has none to replace."""
        return self

    def fitted_state(self) -> dict[str, Any]:
        """JSON-able fitted transforms (scaler parameters, vocabulary) for the project file."""
        return {}
