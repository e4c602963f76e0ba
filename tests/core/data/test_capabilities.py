"""The optional abilities of prepared data are runtime-checkable protocols, not attribute probes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqstudio.core.data.prepared import (
    ActualTargets,
    Baselines,
    Forecaster,
    PreparedData,
    TextEncoding,
)
from seqstudio.core.data.series import LoadedSeries, SeriesOptions, prepare_series
from seqstudio.core.data.text import LabelledTexts, TextOptions, prepare_text
from seqstudio.core.errors import SeqStudioError
from seqstudio.core.project import Project
from seqstudio.core.session import predict_project
from seqstudio.core.train.evaluate import evaluate


def plain_data() -> PreparedData:
    x = torch.arange(8, dtype=torch.float32).reshape(8, 1)
    y = 2.0 * x
    empty = torch.zeros(0, 1), torch.zeros(0, 1)
    return PreparedData("regression", x, y, *empty, x, y, n_outputs=1)


def test_each_built_in_data_kind_has_exactly_its_abilities():
    frame = pd.DataFrame({"y": np.arange(40, dtype=float)},
                         index=pd.date_range("2000-01", periods=40, freq="MS"))
    series = prepare_series(SeriesOptions(look_back=2), LoadedSeries.from_frame(frame))
    texts = LabelledTexts(["good film", "bad film", "good plot", "bad plot"] * 3, [1, 0, 1, 0] * 3)
    text = prepare_text(TextOptions(max_len=4, val_frac=0.0, test_frac=0.25), train=texts)
    kinds = (ActualTargets, Baselines, Forecaster, TextEncoding)
    assert [isinstance(series, k) for k in kinds] == [True, True, True, False]
    assert [isinstance(text, k) for k in kinds] == [False, False, False, True]
    assert [isinstance(plain_data(), k) for k in kinds] == [False, False, False, False]


@dataclasses.dataclass(eq=False)
class PluginSeries(PreparedData):
    """A plugin's data class: not a PreparedSeries, but it knows a baseline."""

    def baselines(self, split):
        _, y = self.split(split)
        return {"zero": np.zeros(tuple(y.shape))}


def test_evaluate_scores_the_baselines_of_any_data_that_has_them():
    base = plain_data()
    data = PluginSeries(**{f.name: getattr(base, f.name) for f in dataclasses.fields(PreparedData)})
    assert isinstance(data, Baselines) and not isinstance(data, ActualTargets)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.bias.fill_(1.0)                       # always 1 too high
    result = evaluate(model, data, "test")
    assert result["rmse"] == pytest.approx(1.0)
    targets = 2.0 * np.arange(8)                    # the zero forecast misses each target fully
    assert result["baselines"]["zero"]["rmse"] == pytest.approx(np.sqrt(np.mean(targets ** 2)))
    assert "baselines" not in evaluate(model, base, "test")


def test_forecasting_with_data_that_cannot_forecast_says_so(monkeypatch):
    project = Project(source="demo>plain", weights={"w": torch.zeros(1)},
                      model={"layers": [{"type": "Dense", "units": 1}]})
    monkeypatch.setattr(Project, "prepare_data", lambda self, registry=None, **_: plain_data())
    with pytest.raises(SeqStudioError, match="cannot forecast") as caught:
        predict_project(project, None, steps=3)
    assert "demo>plain" in str(caught.value)
