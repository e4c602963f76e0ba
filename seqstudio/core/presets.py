"""Named recipes: a data source with its options, a layer stack and a train config.

``airline-lstm`` is the lecture's Airline Passengers model exactly as taught
(min-max scaling, look_back 1, LSTM(4) -> Dense(1), MSE, Adam 0.001, 100
epochs, batch size 1, 67 % / 33 % chronological split). It does *not* beat the
naive baselines on the test part, which is why seqstudio reports them beside
it. ``airline-lstm-seasonal`` does: it models log-differences over a year of
history.

>>> p = get_preset("airline-lstm")
>>> [layer["type"] for layer in p.layers]
['LSTM', 'Dense']
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from seqstudio.core.errors import SeqStudioError

#: Data paths starting with this prefix name a file shipped inside seqstudio.
EMBEDDED = "embedded:"
AIRLINE = EMBEDDED + "airline-passengers.csv"


@dataclass(frozen=True)
class Preset:
    """A complete recipe: what data, which layers, how to train."""

    name: str
    description: str
    source: str
    data_options: dict[str, Any]
    layers: list[dict[str, Any]]
    train: dict[str, Any] = field(default_factory=dict)

    def model_spec(self, registry=None):
        """The layer stack as a :class:`~seqstudio.core.model.spec.ModelSpec`."""
        from seqstudio.core.model.layers import layer_from_dict
        from seqstudio.core.model.spec import ModelSpec

        return ModelSpec([layer_from_dict(dict(d), registry) for d in self.layers])

    def train_config(self, **overrides):
        """The train settings as a :class:`~seqstudio.core.train.config.TrainConfig`."""
        from seqstudio.core.train.config import TrainConfig

        return TrainConfig.from_dict({**self.train, **overrides})


_AIRLINE_DATA = {
    "path": AIRLINE,
    "target": ["Passengers"],
    "date_col": "Month",
    "scaling": "minmax",
    "look_back": 1,
    "horizon": 1,
    "train_frac": 0.67,
    "val_frac": 0.0,
}
_LECTURE_TRAIN = {
    "epochs": 100,
    "batch_size": 1,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "loss": "mse",
    "shuffle": True,
    "seed": 0,
}
_IMDB_DATA = {
    "path": "",
    "text_col": "review",
    "label_col": "sentiment",
    "num_words": 10000,
    "max_len": 200,
}
_IMDB_TRAIN = {
    "epochs": 8,
    "batch_size": 32,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "loss": "bce",
    "shuffle": True,
    "seed": 0,
}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="airline-lstm",
            description="The lecture's Airline Passengers model: LSTM(4) -> Dense(1), look_back 1, "
            "min-max scaling, 100 epochs at batch size 1.",
            source="csv-series",
            data_options=_AIRLINE_DATA,
            layers=[{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}],
            train=_LECTURE_TRAIN,
        ),
        Preset(
            name="airline-gru",
            description="The lecture's recipe with a GRU(4) cell: fewer parameters, similar quality.",
            source="csv-series",
            data_options=_AIRLINE_DATA,
            layers=[{"type": "GRU", "units": 4}, {"type": "Dense", "units": 1}],
            train=_LECTURE_TRAIN,
        ),
        Preset(
            name="airline-lstm-seasonal",
            description="Log transform + differencing, a year of history (look_back 12) and LSTM(16): "
            "beats the naive and seasonal-naive baselines.",
            source="csv-series",
            data_options={**_AIRLINE_DATA, "log": True, "diff_lag": 1, "look_back": 12},
            layers=[{"type": "LSTM", "units": 16}, {"type": "Dense", "units": 1}],
            train={**_LECTURE_TRAIN, "epochs": 150},
        ),
        Preset(
            name="airline-lstm-direct",
            description="The seasonal recipe as a direct (multi-output) forecaster: one pass "
            "predicts the next 12 months (horizon 12, Dense(12)) instead of rolling one step forward.",
            source="csv-series",
            data_options={**_AIRLINE_DATA, "log": True, "diff_lag": 1, "look_back": 12, "horizon": 12},
            layers=[{"type": "LSTM", "units": 16}, {"type": "Dense", "units": 12}],
            train={**_LECTURE_TRAIN, "epochs": 150},
        ),
        Preset(
            name="imdb-lstm",
            description="The lecture's IMDB sentiment model: Embedding(10000,128) -> "
            "LSTM(128, dropout 0.2, recurrent_dropout 0.2) -> Dense(1, sigmoid), max_len 200.",
            source="text-csv",
            data_options=_IMDB_DATA,
            layers=[
                {"type": "Embedding", "input_dim": 10000, "output_dim": 128},
                {"type": "LSTM", "units": 128, "dropout": 0.2, "recurrent_dropout": 0.2},
                {"type": "Dense", "units": 1, "activation": "sigmoid"},
            ],
            train=_IMDB_TRAIN,
        ),
        Preset(
            name="imdb-gru",
            description="The IMDB model with a GRU(128): about 3/4 of the recurrent parameters.",
            source="text-csv",
            data_options=_IMDB_DATA,
            layers=[
                {"type": "Embedding", "input_dim": 10000, "output_dim": 128},
                {"type": "GRU", "units": 128, "dropout": 0.2, "recurrent_dropout": 0.2},
                {"type": "Dense", "units": 1, "activation": "sigmoid"},
            ],
            train=_IMDB_TRAIN,
        ),
    ]
}

DEFAULT_PRESET = "airline-lstm"


def get_preset(name: str) -> Preset:
    """Return a deep copy of the preset called ``name`` (callers may edit it freely)."""
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise SeqStudioError(
            f"unknown preset {name!r}",
            fix=f"choose one of: {', '.join(PRESETS)}",
        ) from None
