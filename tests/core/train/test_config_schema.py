"""TrainConfig's one schema: validate() and the window's form both derive from it."""

from __future__ import annotations

import dataclasses

import pytest

from seqstudio.core.errors import TrainingError
from seqstudio.core.options import spec_problems
from seqstudio.core.train.config import LOSSES, OPTIMIZERS, TrainConfig


def test_the_schema_declares_every_field_with_its_default_and_a_help_sentence():
    schema = {o.name: o for o in TrainConfig.schema()}
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert list(schema) == list(fields)
    assert {name: o.default for name, o in schema.items()} == fields
    assert all(o.help for o in schema.values())
    assert spec_problems(TrainConfig.schema()) == []
    assert schema["optimizer"].choices == OPTIMIZERS and schema["loss"].choices == LOSSES


# Hand-written from what each setting means (not read from the schema): (field, rejected, accepted).
@pytest.mark.parametrize("field, rejected, accepted", [
    ("epochs", 0, 1), ("batch_size", 0, 1), ("learning_rate", 0.0, 1e-9),
    ("momentum", 1.0, 0.999), ("momentum", -0.1, 0.0), ("weight_decay", -1e-9, 0.0),
    ("validation_fraction", 1.0, 0.99), ("seed", -1, 0), ("grad_clip", 0.0, 1e-6),
    ("early_stopping_patience", -1, 0), ("threads", 0, 1),
])
def test_validate_takes_its_limits_from_the_schema(field, rejected, accepted):
    with pytest.raises(TrainingError) as info:
        TrainConfig(**{field: rejected})
    assert field in str(info.value) and info.value.fix
    assert getattr(TrainConfig(**{field: accepted}), field) == accepted


def test_cuda_with_an_index_and_numpy_numbers_are_accepted():
    import numpy as np

    cfg = TrainConfig(device="CUDA:1", epochs=np.int64(3), learning_rate=np.float32(0.5))
    assert (cfg.device, cfg.epochs, cfg.learning_rate) == ("cuda:1", 3, 0.5)
    assert type(cfg.epochs) is int and type(cfg.learning_rate) is float
