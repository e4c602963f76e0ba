"""A trained project's fitted state (scaler, vocabulary) is applied to the data as it is now."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqstudio.core.data.series import SeriesOptions, prepare_series
from seqstudio.core.data.text import PreparedText, TextOptions, prepare_text
from seqstudio.core.errors import DataError


def _series_csv(path, values):
    path.write_text("t,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    return path


def test_a_saved_scaler_replaces_the_one_fitted_on_an_edited_file(tmp_path):
    values = [float(10 + (i * 7) % 13) for i in range(40)]
    first = prepare_series(SeriesOptions(path=str(_series_csv(tmp_path / "a.csv", values)),
                                         date_col=None, look_back=3))
    state = first.fitted_state()
    edited = list(values)
    edited[2] = 500.0  # a training value: the min-max scaler fitted again would change
    again = prepare_series(SeriesOptions(path=str(_series_csv(tmp_path / "b.csv", edited)),
                                         date_col=None, look_back=3))
    assert again.fitted_state()["scaler"] != state["scaler"]
    again.use_fitted_state(state)
    assert again.fitted_state()["scaler"] == state["scaler"]
    # the reference: numpy scaling of the edited values with the saved min and range
    lo, rng = state["scaler"]["center"][0], state["scaler"]["scale"][0]
    expected = (np.array(edited) - lo) / rng
    np.testing.assert_allclose(again.x_train[:, :, 0].numpy(),
                               np.stack([expected[i:i + 3] for i in range(len(again.x_train))]),
                               rtol=1e-6, atol=1e-6)
    # the untouched tail gives the same test windows as the first preparation
    torch.testing.assert_close(again.x_test, first.x_test)


def test_a_saved_scaler_for_other_columns_is_refused(tmp_path):
    data = prepare_series(SeriesOptions(path=str(_series_csv(tmp_path / "a.csv", range(1, 41))),
                                        date_col=None, look_back=3))
    state = data.fitted_state()
    state["target_columns"] = ["other"]
    with pytest.raises(DataError, match="no longer matches") as err:
        data.use_fitted_state(state)
    assert "refit" in err.value.fix


def test_a_saved_vocabulary_keeps_the_word_ids(tmp_path):
    def csv(path, rows):
        path.write_text("review,sentiment\n" + "".join(f"{t},{s}\n" for t, s in rows))
        return str(path)

    rows = [("good film", "positive"), ("bad film", "negative"), ("good good acting", "positive"),
            ("bad plot", "negative")] * 3
    first = prepare_text(TextOptions(path=csv(tmp_path / "a.csv", rows), max_len=5))
    state = first.fitted_state()
    # new frequent words would get low ids in a vocabulary built again
    changed = [("zebra zebra zebra " + t, s) for t, s in rows]
    again = prepare_text(TextOptions(path=csv(tmp_path / "b.csv", changed), max_len=5))
    again.use_fitted_state(state)
    reference = PreparedText.from_fitted_state(state).encode_texts(again.texts["train"])
    torch.testing.assert_close(again.x_train, reference)
    assert again.vocabulary.to_dict() == first.vocabulary.to_dict()


@pytest.mark.parametrize("bad", ["inf", "-inf", "1e999", "-Infinity"])
def test_infinite_values_are_a_data_error_naming_the_rows(tmp_path, bad):
    path = tmp_path / "s.csv"
    lines = [f"{i},{10 + i}" for i in range(30)]
    lines[4] = f"4,{bad}"
    lines[17] = f"17,{bad}"
    path.write_text("t,v\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match="2 infinite values") as err:
        prepare_series(SeriesOptions(path=str(path), date_col=None, look_back=2))
    assert "lines 6, 19" in err.value.where  # file lines: the header is line 1


@pytest.mark.parametrize("times, step, future", [
    ([f"{1500 + i // 12}-{i % 12 + 1:02d}" for i in range(40)], "monthly", "1503-05-01"),
    ([str(1500 + i) for i in range(40)], "yearly", "1540-01-01"),
    ([f"{2900 + i // 12}-{i % 12 + 1:02d}" for i in range(40)], "monthly", "2903-05-01"),
])
def test_dates_outside_the_nanosecond_range_load_and_forecast(tmp_path, times, step, future):
    path = tmp_path / "old.csv"
    path.write_text("year,v\n" + "".join(f"{t},{10 + i % 5}\n" for i, t in enumerate(times)))
    data = prepare_series(SeriesOptions(path=str(path), look_back=2))
    assert data.report.step == step
    assert str(data.series.index[0])[:4] == times[0][:4]
    when, values = data.forecast(lambda x: x[:, -1, :1], steps=1)
    assert str(when[0])[:10] == future and np.isfinite(values).all()


def test_the_saved_scaler_holds_every_field_and_the_targets_are_the_cleaned_columns(tmp_path):
    # fitted_state writes the scaler's fields by hand (asdict's deep copy cost more than the rest):
    # a field added to Scaler must reach the project file too
    from dataclasses import asdict

    values = [float(10 + (i * 7) % 13) for i in range(40)]
    data = prepare_series(SeriesOptions(path=str(_series_csv(tmp_path / "a.csv", values)),
                                        date_col=None, look_back=3))
    assert data.fitted_state()["scaler"] == asdict(data._fitted.scaler)
    targets = data.target_values()
    np.testing.assert_array_equal(targets, data.series[data.target_columns].to_numpy(np.float64))
    assert targets.dtype == np.float64 and not targets.flags.writeable


def test_the_time_stamps_are_written_once_per_index(tmp_path):
    import pandas as pd

    from seqstudio.core.data.timeaxis import time_text

    path = tmp_path / "m.csv"
    path.write_text("month,v\n" + "".join(f"2000-{m:02d},{m}\n" for m in range(1, 13)))
    data = prepare_series(SeriesOptions(path=str(path), look_back=2))
    texts = data.time_texts()
    assert texts == time_text(data.series.index) and texts[0] == "2000-01-01"
    assert data.time_texts() is texts  # written once
    data.series = data.series.set_axis(pd.date_range("2001-01-01", periods=12, freq="MS"))
    assert data.time_texts()[0] == "2001-01-01"  # a replaced index is written again
