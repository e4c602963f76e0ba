"""The one shape of data every model trains on, and the optional abilities some data has.

A data source (CSV series, text corpus, a plugin's generator) returns a
:class:`PreparedData`: tensors split chronologically into train / validation /
test, and the fitted state needed to undo its transforms (scaler, vocabulary).
The training engine only ever sees this object.

Some prepared data can do more: give the true targets in original units
(:class:`ActualTargets`), reference forecasts to beat (:class:`Baselines`),
forecast beyond its end (:class:`Forecaster`), or encode new text
(:class:`TextEncoding`). Callers ask with ``isinstance(data, Forecaster)``
(runtime-checkable protocols), so a plugin's own data class gains an ability by
having the method, without inheriting from the built-in classes.

>>> import torch
>>> empty = torch.zeros(0, 1), torch.zeros(0, 1)
>>> plain = PreparedData("regression", *empty, *empty, *empty, n_outputs=1)
>>> isinstance(plain, Forecaster), isinstance(plain, ActualTargets)
(False, False)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
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
        """Per-sample input shape, without the batch axis (read without making tensors)."""
        return tuple(self.__dict__["x_train"].shape[1:])

    def n_samples(self, name: Split) -> int:
        """How many samples one split holds (read without making tensors)."""
        if name not in SPLITS:
            raise KeyError(name)
        return len(self.__dict__[f"x_{name}"])

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
        if not isinstance(y, np.ndarray) and hasattr(y, "detach"):  # a tensor (torch imported already)
            y = y.detach().cpu()
        return np.asarray(y, dtype=np.float64)

    def use_fitted_state(self, state: dict[str, Any]) -> PreparedData:
        """Use the fitted transforms saved in a project (scaler, vocabulary) instead of the ones
        fitted on the data now; returns the data to use. The base class has none to replace."""
        return self

    def fitted_state(self) -> dict[str, Any]:
        """JSON-able fitted transforms (scaler parameters, vocabulary) for the project file."""
        return {}


class _SplitArray:
    """One of a PreparedData's ``x_*`` / ``y_*``: a tensor when read, whatever was stored.

    A source may store numpy arrays (the series source does): they become tensors
    sharing their memory (``torch.from_numpy``) the first time they are read. So
    preparing and showing data needs no torch, and the window can show a series
    before the training engine has loaded; shapes and counts are read with
    :attr:`PreparedData.input_shape` and :meth:`PreparedData.n_samples`.
    """

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name]
        if isinstance(value, np.ndarray):
            import torch

            value = obj.__dict__[self.name] = torch.from_numpy(value)
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value


# After the dataclass is made, so that the fields keep having no default value.
for _name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
    setattr(PreparedData, _name, _SplitArray(_name))


@runtime_checkable
class ActualTargets(Protocol):
    """Data that gives the true targets of a split in original units (``PreparedSeries``)."""

    def actual(self, split: Split) -> np.ndarray:
        """``(N, n_outputs)`` float64, aligned with ``to_original`` of that split's predictions."""
        ...


@runtime_checkable
class Baselines(Protocol):
    """Data that gives reference forecasts to compare a model with (naive, seasonal naive)."""

    def baselines(self, split: Split) -> dict[str, np.ndarray]:
        """Name -> forecasts in original units, shaped like the split's actual targets."""
        ...


@runtime_checkable
class Forecaster(Protocol):
    """Data that can forecast beyond its end with a model (``PreparedSeries``)."""

    target_columns: list[str]

    def forecast(self, predict_fn: Callable[[np.ndarray], Any],
                 steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The future times and ``(steps, n_targets)`` values in original units."""
        ...


@runtime_checkable
class TextEncoding(Protocol):
    """Data that turns new texts into model input as at training time (``PreparedText``)."""

    def encode_texts(self, texts: str | Iterable[str]) -> torch.Tensor:
        """``(N, max_len)`` int64 ids."""
        ...

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text (padding skipped)."""
        ...
