"""Tests of seqstudio.core.data.series against hand-computed values and numpy formulas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqstudio.core.data.series import (
    SERIES_OPTIONS,
    LoadedSeries,
    PreparedSeries,
    Scaler,
    SeriesOptions,
    make_windows,
    prepare_series,
    read_series_csv,
)
from seqstudio.core.errors import DataError

SIX_FILES = ["airline-passengers.csv", "daily-min-temperatures.csv", "monthly-sunspots.csv",
             "shampoo-sales.csv", "daily-total-female-births.csv", "beijing-pm25-hourly.csv"]


def write(tmp_path, text: str | bytes, name: str = "s.csv"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def monthly_csv(tmp_path, values, name="m.csv", column="Value"):
    times = pd.date_range("2000-01", periods=len(values), freq="MS").strftime("%Y-%m")
    lines = ["Month," + column] + [f"{t},{'' if v is None else v}" for t, v in zip(times, values, strict=True)]
    return write(tmp_path, "\n".join(lines) + "\n", name)


def lecture_create_dataset(part: np.ndarray, look_back: int):
    """The lecture's create_dataset, verbatim in numpy (it drops the last window)."""
    x, y = [], []
    for i in range(len(part) - look_back - 1):
        x.append(part[i:i + look_back])
        y.append(part[i + look_back])
    return np.array(x), np.array(y)


# ---------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------
def test_windows_match_a_hand_computed_example():
    # two columns: target 0..6 and a feature 10..16
    values = np.stack([np.arange(7), np.arange(10, 17)], axis=1).astype(np.float32)
    x, y = make_windows(values, look_back=2, horizon=2, stride=2, n_targets=1)
    # starts 0, 2 (4 would need values up to index 7)
    assert x.tolist() == [[[0, 10], [1, 11]], [[2, 12], [3, 13]]]
    assert y.tolist() == [[2, 3], [4, 5]]


def test_windows_are_views_not_copies():
    values = torch.arange(100, dtype=torch.float32)[:, None]
    x, y = make_windows(values, look_back=10)
    assert x.shape == (90, 10, 1)
    assert x.untyped_storage().data_ptr() == values.untyped_storage().data_ptr()
    assert y.untyped_storage().data_ptr() == values.untyped_storage().data_ptr()
    values[15, 0] = -1.0  # a change in the series shows through every window that covers it
    assert x[6, 9, 0] == -1.0 and x[15, 0, 0] == -1.0


def test_multi_target_y_is_horizon_major():
    values = np.stack([np.arange(6), 100 + np.arange(6)], axis=1).astype(np.float32)
    _, y = make_windows(values, look_back=1, horizon=2)
    assert y[0].tolist() == [1, 101, 2, 102]


@settings(max_examples=40, deadline=None)
@given(length=st.integers(0, 30), look_back=st.integers(1, 5), horizon=st.integers(1, 4),
       stride=st.integers(1, 4), columns=st.integers(1, 3))
def test_windows_match_a_plain_loop(length, look_back, horizon, stride, columns):
    values = np.arange(length * columns, dtype=np.float32).reshape(length, columns)
    x, y = make_windows(values, look_back, horizon, stride, n_targets=1)
    starts = range(0, length - look_back - horizon + 1, stride)
    expect_x = [values[s:s + look_back] for s in starts]
    expect_y = [values[s + look_back:s + look_back + horizon, 0] for s in starts]
    assert x.shape == (len(expect_x), look_back, columns)
    assert y.shape == (len(expect_y), horizon)
    if expect_x:
        np.testing.assert_array_equal(x.numpy(), np.array(expect_x))
        np.testing.assert_array_equal(y.numpy(), np.array(expect_y))


def test_split_first_then_windows_like_the_lecture(data_dir):
    data = prepare_series(SeriesOptions(path=str(data_dir / "airline-passengers.csv"), look_back=1))
    raw = pd.read_csv(data_dir / "airline-passengers.csv")["Passengers"].to_numpy(float)
    train_size = int(len(raw) * 0.67)
    assert train_size == 96
    for split, part in (("train", raw[:train_size]), ("test", raw[train_size:])):
        lx, ly = lecture_create_dataset(part, 1)
        actual = data.actual(split)[:, 0]
        # the lecture's loop drops the last window; every other sample is identical
        assert len(actual) == len(ly) + 1
        np.testing.assert_array_equal(actual[:-1], ly)
        assert actual[-1] == part[-1]
        inputs = data.to_original(data.split(split)[0][:, :, 0], split)[:, 0]
        np.testing.assert_allclose(inputs[:-1], lx[:, 0], rtol=1e-6)
    assert data.x_train.shape == (95, 1, 1) and data.y_test.shape == (47, 1)
    assert data.x_val.shape == (0, 1, 1) and data.y_val.shape == (0, 1)


# ---------------------------------------------------------------------------
# Baselines: the reference figures
# ---------------------------------------------------------------------------
def test_airline_baselines_reproduce_the_reference_rmse(data_dir):
    data = prepare_series(SeriesOptions(path=str(data_dir / "airline-passengers.csv"), look_back=1,
                                        train_frac=0.67, scaling="minmax"))
    raw = pd.read_csv(data_dir / "airline-passengers.csv")["Passengers"].to_numpy(float)
    # by hand: test part = raw[96:], samples predict raw[97:] from raw[96:-1]
    targets = raw[97:]
    naive_by_hand = np.sqrt(np.mean((targets - raw[96:-1]) ** 2))
    seasonal_by_hand = np.sqrt(np.mean((targets - raw[97 - 12:-12]) ** 2))
    actual = data.actual("test")[:, 0]
    np.testing.assert_array_equal(actual, targets)
    base = data.baselines("test")
    assert data.season == 12
    naive = np.sqrt(np.mean((base["naive"][:, 0] - actual) ** 2))
    seasonal = np.sqrt(np.mean((base["seasonal_naive"][:, 0] - actual) ** 2))
    assert naive == pytest.approx(naive_by_hand, abs=1e-9)
    assert seasonal == pytest.approx(seasonal_by_hand, abs=1e-9)
    assert naive == pytest.approx(48.5, abs=0.05)      # 48.53
    assert seasonal == pytest.approx(42.0, abs=0.06)   # 42.05


def test_seasonal_naive_over_a_long_horizon_uses_the_last_observed_season(tmp_path):
    values = np.arange(1, 41, dtype=float)
    path = monthly_csv(tmp_path, values)
    data = prepare_series(SeriesOptions(path=str(path), look_back=2, horizon=5, season=3,
                                        train_frac=0.5))
    pos = 20 + 2  # first test sample: inputs rows 20, 21, targets rows 22..26
    base = data.baselines("test")
    assert base["naive"][0].tolist() == [values[pos - 1]] * 5
    # step h (0-based) uses row pos + h - 3 * (h // 3 + 1): 19, 20, 21, 19, 20
    assert base["seasonal_naive"][0].tolist() == [values[i] for i in (19, 20, 21, 19, 20)]


def test_seasonal_naive_is_omitted_without_enough_history(tmp_path):
    path = monthly_csv(tmp_path, np.arange(1, 41, dtype=float))
    data = prepare_series(SeriesOptions(path=str(path), look_back=1, season=12, train_frac=0.5))
    assert set(data.baselines("train")) == {"naive"}
    assert set(data.baselines("test")) == {"naive", "seasonal_naive"}


# ---------------------------------------------------------------------------
# Scaling, transforms and their inverses
# ---------------------------------------------------------------------------
def test_minmax_scaling_is_fitted_on_the_train_part_only(data_dir):
    data = prepare_series(SeriesOptions(path=str(data_dir / "airline-passengers.csv"), look_back=1))
    raw = pd.read_csv(data_dir / "airline-passengers.csv")["Passengers"].to_numpy(float)
    low, high = raw[:96].min(), raw[:96].max()
    assert (low, high) == (104.0, 413.0)
    np.testing.assert_allclose(data.y_test.numpy()[:, 0], (raw[97:] - low) / (high - low), rtol=1e-6)
    assert data.x_train.min() == 0.0 and data.x_train.max() <= 1.0
    assert data.y_test.max() > 1.0  # test values beyond the train range stay beyond it: no leakage
    assert data.fitted_state()["scaler"] == {"method": "minmax", "center": [104.0], "scale": [309.0]}


def test_standard_scaling_matches_the_formula(tmp_path):
    values = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8])
    path = monthly_csv(tmp_path, values)
    data = prepare_series(SeriesOptions(path=str(path), scaling="standard", train_frac=0.5))
    mean, std = values[:6].mean(), values[:6].std()  # population std, as sklearn
    np.testing.assert_allclose(data.y_test.numpy()[:, 0], (values[7:] - mean) / std, rtol=1e-6)


def test_scaler_guards_constant_columns():
    scaler = Scaler.fit(np.array([[5.0, 1.0], [5.0, 3.0]]), "minmax")
    assert scaler.scale == [1.0, 2.0]
    np.testing.assert_allclose(scaler.inverse(scaler.transform([[7.0, 2.0]])), [[7.0, 2.0]])


def test_log_then_diff_then_scale_matches_numpy(data_dir):
    opts = SeriesOptions(path=str(data_dir / "airline-passengers.csv"), log=True, diff_lag=12,
                         scaling="none", look_back=1)
    data = prepare_series(opts)
    raw = pd.read_csv(data_dir / "airline-passengers.csv")["Passengers"].to_numpy(float)
    transformed = np.log(raw[12:]) - np.log(raw[:-12])
    n_train = int(len(transformed) * 0.67)  # the first 12 values are gone before the split
    np.testing.assert_allclose(data.y_train.numpy()[:, 0], transformed[1:n_train], rtol=1e-5)
    np.testing.assert_allclose(data.y_test.numpy()[:, 0], transformed[n_train + 1:], rtol=1e-5)
    # split times count from the first value that survives differencing
    assert str(data.split_times["train"][0])[:7] == "1950-01"


@pytest.mark.parametrize("changes", [
    {}, {"log": True}, {"diff_lag": 1}, {"diff_lag": 12}, {"log": True, "diff_lag": 12},
    {"scaling": "standard", "diff_lag": 1}, {"horizon": 3, "stride": 2, "look_back": 4, "log": True},
    {"val_frac": 0.15, "diff_lag": 2, "scaling": "none"},
])
def test_inverse_transforms_round_trip(data_dir, changes):
    data = prepare_series(SeriesOptions(path=str(data_dir / "airline-passengers.csv"), **changes))
    for split in ("train", "val", "test"):
        y = data.split(split)[1]
        np.testing.assert_allclose(data.to_original(y, split), data.actual(split), rtol=1e-4)


def test_diff_inverse_uses_the_true_previous_value(tmp_path):
    values = np.array([10.0, 12, 15, 11, 20, 26, 30, 29, 35, 40])
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, values)), diff_lag=1,
                                        scaling="none", train_frac=0.6))
    # a predicted difference of +1 for every test sample -> previous true value + 1
    positions = data.target_times("test")
    predicted = data.to_original(np.ones((len(positions), 1)), "test")[:, 0]
    first_target = len(values) - len(positions)
    np.testing.assert_allclose(predicted, values[first_target - 1:-1] + 1.0)


def test_multiple_targets_and_features(tmp_path):
    n = 30
    lines = ["Date,a,b,f"] + [f"2001-01-{i + 1:02d},{i},{100 + 2 * i},{i % 3}" for i in range(n)]
    path = write(tmp_path, "\n".join(lines))
    data = prepare_series(SeriesOptions(path=str(path), target=["a", "b"], features=["f"],
                                        look_back=3, horizon=2, scaling="none"))
    assert data.input_columns == ["a", "b", "f"] and data.n_outputs == 4
    assert data.x_train.shape == (int(n * 0.67) - 4, 3, 3)
    assert data.y_train[0].tolist() == [3, 106, 4, 108]
    np.testing.assert_allclose(data.to_original(data.y_test, "test"), data.actual("test"))
    assert data.season == 7 and data.report.step == "daily"


# ---------------------------------------------------------------------------
# Forecast beyond the data
# ---------------------------------------------------------------------------
def test_forecast_with_persistence_repeats_the_last_value(data_dir):
    data = prepare_series(SeriesOptions(path=str(data_dir / "airline-passengers.csv"), look_back=3))
    times, values = data.forecast(lambda x: x[:, -1, :1], steps=4)
    np.testing.assert_allclose(values[:, 0], [432.0] * 4, rtol=1e-5)
    assert [str(t)[:7] for t in times] == ["1961-01", "1961-02", "1961-03", "1961-04"]


def test_forecast_chains_predictions_through_the_differencing(tmp_path):
    values = np.array([1.0, 2, 4, 7, 11, 16, 22, 29, 37, 46])
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, values)), diff_lag=1,
                                        look_back=2, scaling="minmax", train_frac=0.7))
    seen = []

    def predict(x):
        seen.append(x.copy())
        return torch.tensor([[x[0, -1, 0] + (x[0, -1, 0] - x[0, -2, 0])]])  # linear extrapolation

    _, forecast = data.forecast(predict, steps=3)
    assert seen[0].shape == (1, 2, 1) and seen[0].dtype == np.float32
    # differences 8, 9 continue as 10, 11, 12 -> levels 56, 67, 79
    np.testing.assert_allclose(forecast[:, 0], [56.0, 67.0, 79.0], rtol=1e-5)


def test_forecast_refuses_extra_features(tmp_path):
    lines = ["Date,y,x"] + [f"2001-01-{i + 1:02d},{i},{i * 2}" for i in range(20)]
    data = prepare_series(SeriesOptions(path=str(write(tmp_path, "\n".join(lines))), target=["y"],
                                        features=["x"]))
    with pytest.raises(DataError, match="future values of x") as err:
        data.forecast(lambda x: x[:, -1, :1], steps=2)
    assert "without extra feature" in err.value.fix


# ---------------------------------------------------------------------------
# Reading: formats, encodings, time columns
# ---------------------------------------------------------------------------
def test_semicolon_and_decimal_comma(tmp_path):
    path = write(tmp_path, "Datum;Wert\n2020-01-01;3,14\n2020-01-02;2,5\n2020-01-03;-1,25\n")
    loaded = read_series_csv(path)
    assert (loaded.report.delimiter, loaded.report.decimal) == (";", ",")
    assert loaded.frame["Wert"].tolist() == [3.14, 2.5, -1.25]
    assert loaded.time_col == "Datum"


def test_utf8_bom(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfMonth,Value\r\n2000-01,1\r\n2000-02,2\r\n")
    loaded = read_series_csv(path)
    assert loaded.report.encoding == "utf-8-sig"
    assert loaded.time_col == "Month" and loaded.numeric_columns == ["Value"]


def test_cp1252_file(tmp_path):
    text = "Date,Température,Vent\n2020-01-01,1.5,Nord-Est\n2020-01-02,2.5,Süd\n"
    path = write(tmp_path, text.encode("cp1252"))
    loaded = read_series_csv(path)
    assert loaded.report.encoding == "cp1252"
    assert loaded.numeric_columns == ["Température"]
    assert loaded.frame["Vent"].tolist() == ["Nord-Est", "Süd"]


def test_crlf_without_final_newline(tmp_path):
    path = write(tmp_path, b'"Month","Sales"\r\n"1-01",266.0\r\n"1-02",145.9\r\n"1-03",183.1')
    loaded = read_series_csv(path, date_format="period:1991-01")
    assert loaded.frame["Sales"].tolist() == [266.0, 145.9, 183.1]
    assert [str(t)[:7] for t in loaded.frame.index] == ["1991-01", "1991-02", "1991-03"]
    assert loaded.report.step == "monthly"


def test_shampoo_dates_without_format_fall_back_to_a_plain_index(tmp_path):
    path = write(tmp_path, b'"Month","Sales"\r\n"1-01",266.0\r\n"1-02",145.9')
    loaded = read_series_csv(path)
    assert loaded.time_col is None and loaded.report.step == "index"
    assert "period:1991-01" in loaded.report.notes[0]


def test_explicit_format_and_explicit_bad_format(tmp_path):
    path = write(tmp_path, "when,v\n01.02.2020,1\n02.02.2020,2\n03.02.2020,3\n")
    loaded = read_series_csv(path, date_col="when", date_format="%d.%m.%Y")
    assert str(loaded.frame.index[0])[:10] == "2020-02-01"
    with pytest.raises(DataError, match="'when' does not match format '%Y-%m'") as err:
        read_series_csv(path, date_col="when", date_format="%Y-%m")
    assert "date_format" in err.value.fix


def test_split_time_columns_are_assembled(tmp_path):
    lines = ["No,year,month,day,hour,v"] + [f"{i + 1},2010,1,{1 + i // 24},{i % 24},{i}" for i in range(48)]
    path = write(tmp_path, "\n".join(lines))
    for date_col in ("auto", "year,month,day,hour"):
        loaded = read_series_csv(path, date_col=date_col)
        assert loaded.time_col == "year,month,day,hour"
        assert str(loaded.frame.index[25]) == "2010-01-02 01:00:00"
        assert loaded.report.step == "hourly"
        assert list(loaded.frame.columns) == ["No", "v"]


def test_unsorted_rows_are_sorted_and_gaps_and_duplicates_reported(tmp_path):
    path = write(tmp_path, "Date,v\n2020-01-03,3\n2020-01-01,1\n2020-01-02,2\n2020-01-06,6\n2020-01-06,7\n")
    loaded = read_series_csv(path)
    assert loaded.frame["v"].tolist() == [1, 2, 3, 6, 7]
    assert loaded.row_numbers.tolist() == [3, 4, 2, 5, 6]
    assert not loaded.report.was_sorted
    assert loaded.report.gaps == [{"after": "2020-01-03 00:00:00", "missing": 2}]
    assert loaded.report.n_duplicates == 1
    with pytest.raises(DataError, match="occur more than once"):
        prepare_series(SeriesOptions(look_back=1, train_frac=0.5), loaded=loaded)


def test_plain_index_option(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,4\n5,6\n7,8\n")
    loaded = read_series_csv(path, date_col=None)
    assert loaded.time_col is None and loaded.numeric_columns == ["a", "b"]
    data = prepare_series(SeriesOptions(path=str(path), date_col=None, train_frac=0.5))
    assert data.target_columns == ["b"] and data.season == 1
    assert set(data.baselines("test")) == {"naive"}
    times, _ = data.forecast(lambda x: x[:, -1, :1], steps=2)
    assert times.tolist() == [4, 5]


def test_from_frame_for_generated_series():
    frame = pd.DataFrame({"y": np.sin(np.arange(50) / 3)},
                         index=pd.date_range("2020-01-01", periods=50, freq="h"))
    data = prepare_series(SeriesOptions(look_back=5), loaded=LoadedSeries.from_frame(frame))
    assert data.season == 24 and data.x_train.shape == (int(50 * 0.67) - 5, 5, 1)


# ---------------------------------------------------------------------------
# Missing values
# ---------------------------------------------------------------------------
MISSING = [1.0, None, 3.0, 4.0, None, None, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]


def test_missing_values_error_names_column_and_lines(tmp_path):
    path = monthly_csv(tmp_path, MISSING, column="Sales")
    with pytest.raises(DataError, match="column 'Sales' has 3 missing values") as err:
        prepare_series(SeriesOptions(path=str(path)))
    assert "file lines 3, 6, 7" in err.value.where and "2000-02-01" in err.value.where
    assert "interpolate" in err.value.fix


def test_missing_values_drop(tmp_path):
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, MISSING)), missing="drop",
                                        scaling="none"))
    assert data.series["Value"].tolist() == [v for v in MISSING if v is not None]
    assert "3 rows with missing values dropped" in data.report.notes


def test_missing_values_ffill_and_leading_rows(tmp_path):
    values = [None] + MISSING
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, values)), missing="ffill"))
    assert data.series["Value"].tolist() == [1, 1, 3, 4, 4, 4, 7, 8, 9, 10, 11, 12]


def test_missing_values_interpolate_linearly(tmp_path):
    values = [1.0, None, 3.0, 4.0, None, None, 7.0] + [8.0] * 5
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, values)), missing="interpolate"))
    got = data.series["Value"].to_numpy()
    # time-weighted: months have different lengths, so compare with numpy interp over the real dates
    days = (data.series.index - data.series.index[0]).days.to_numpy()
    known = ~np.isnan(np.array(values, dtype=float))
    expect = np.interp(days, days[known], np.array(values, dtype=float)[known])
    np.testing.assert_allclose(got, expect)
    assert got[1] == pytest.approx(2.0, abs=0.05)
    assert data.window_leak is None


def test_interpolation_across_the_split_is_reported_as_a_leak(tmp_path):
    values = [float(i) for i in range(20)]
    values[12] = None  # train part is rows 0..12 (int(20 * 0.67) = 13): its last value is missing
    data = prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, values)), missing="interpolate"))
    assert "interpolated from values of the next part" in data.window_leak


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
def test_missing_column_names_the_choices(tmp_path):
    path = monthly_csv(tmp_path, range(1, 20))
    with pytest.raises(DataError, match="column 'Sales' \\(target\\) is not in the file") as err:
        prepare_series(SeriesOptions(path=str(path), target=["Sales"]))
    assert "Value" in err.value.fix
    with pytest.raises(DataError, match="'Nope' \\(features\\)"):
        prepare_series(SeriesOptions(path=str(path), features=["Nope"]))


def test_non_numeric_target(tmp_path):
    path = write(tmp_path, "Date,v,w\n2020-01-01,1,a\n2020-01-02,2,b\n2020-01-03,3,c\n")
    with pytest.raises(DataError, match="target column 'w' is not numeric: it holds values such as 'a'"):
        prepare_series(SeriesOptions(path=str(path), target=["w"]))


def test_categorical_feature_policies(tmp_path):
    winds = ["NE", "NW", "cv", "NE"] * 5
    lines = ["Date,v,wind"] + [f"2020-01-{i + 1:02d},{i},{w}" for i, w in enumerate(winds)]
    path = str(write(tmp_path, "\n".join(lines)))
    with pytest.raises(DataError, match="feature column 'wind' is not numeric") as err:
        prepare_series(SeriesOptions(path=path, target=["v"], features=["wind"]))
    assert "onehot" in err.value.fix
    dropped = prepare_series(SeriesOptions(path=path, target=["v"], features=["wind"], categorical="drop"))
    assert dropped.input_columns == ["v"]
    onehot = prepare_series(SeriesOptions(path=path, target=["v"], features=["wind"], categorical="onehot",
                                          look_back=1))
    assert onehot.input_columns == ["v", "wind=NE", "wind=NW", "wind=cv"]
    assert onehot.x_train[0, 0, 1:].tolist() == [1.0, 0.0, 0.0]
    assert onehot.x_train[2, 0, 1:].tolist() == [0.0, 0.0, 1.0]
    assert onehot.fitted_state()["categories"] == {"wind": ["NE", "NW", "cv"]}


def test_too_short_series_for_look_back(tmp_path):
    path = monthly_csv(tmp_path, range(1, 13))
    with pytest.raises(DataError, match="train part has 8 values but look_back 8 \\+ horizon 1"):
        prepare_series(SeriesOptions(path=str(path), look_back=8))
    with pytest.raises(DataError, match="test part has 4 values but look_back 4 \\+ horizon 1") as err:
        prepare_series(SeriesOptions(path=str(path), look_back=4))
    assert "lower look_back" in err.value.fix


@pytest.mark.parametrize("bad, message", [
    ({"train_frac": 0.0}, "train_frac must be in \\(0, 1\\]"),
    ({"train_frac": 1.5}, "train_frac must be in"),
    ({"val_frac": -0.1}, "val_frac must be in"),
    ({"train_frac": 0.8, "val_frac": 0.3}, "train_frac \\+ val_frac must be at most 1"),
    ({"look_back": 0}, "'look_back' must be an integer >= 1, got 0"),
    ({"diff_lag": -1}, "'diff_lag' must be an integer >= 0"),
    ({"missing": "zero"}, "'missing' must be one of error, drop, ffill, interpolate, got 'zero'"),
    ({"scaling": "robust"}, "'scaling' must be one of"),
    ({"season": 0}, "'season' must be a positive integer"),
])
def test_bad_options_name_the_problem(bad, message):
    with pytest.raises(DataError, match=message):
        SeriesOptions(**bad)


def test_options_json_round_trip_and_unknown_keys():
    opts = SeriesOptions(path="x.csv", target="a, b", features=["f"], log=True, diff_lag=12,
                         val_frac=0.1, season=12)
    assert opts.target == ["a", "b"]
    assert SeriesOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    with pytest.raises(DataError, match="unknown series option 'lookback'"):
        SeriesOptions.from_dict({"lookback": 3})


def test_option_specs_describe_every_option():
    defaults = SeriesOptions().to_dict()
    assert [o.name for o in SERIES_OPTIONS] == list(defaults)
    assert {o.name: o.default for o in SERIES_OPTIONS} == defaults


def test_log_of_non_positive_values(tmp_path):
    path = monthly_csv(tmp_path, [1.0, 2.0, 0.0] + [5.0] * 10)
    with pytest.raises(DataError, match="log needs positive values, but column 'Value' holds 0") as err:
        prepare_series(SeriesOptions(path=str(path), log=True))
    assert "file line 4" in err.value.where


def test_diff_lag_longer_than_the_series(tmp_path):
    with pytest.raises(DataError, match="diff_lag 12 leaves no data"):
        prepare_series(SeriesOptions(path=str(monthly_csv(tmp_path, range(1, 13))), diff_lag=12))


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_series_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="empty"):
        read_series_csv(write(tmp_path, ""))
    with pytest.raises(DataError, match="no data rows"):
        read_series_csv(write(tmp_path, "a,b\n"))
    with pytest.raises(DataError, match="no CSV file chosen"):
        prepare_series(SeriesOptions())


def test_a_file_without_a_header_row_keeps_its_first_row(data_dir, tmp_path):
    lines = (data_dir / "airline-passengers.csv").read_text().splitlines()
    headerless = read_series_csv(write(tmp_path, "\n".join(lines[1:]) + "\n"))
    reference = read_series_csv(data_dir / "airline-passengers.csv")
    assert headerless.time_col == "column1" and list(headerless.frame.columns) == ["column2"]
    assert len(headerless.frame) == len(reference.frame) == 144     # 1949-01 is not lost
    np.testing.assert_array_equal(headerless.frame["column2"].to_numpy(),
                                  reference.frame["Passengers"].to_numpy())
    assert headerless.report.step == "monthly"
    assert any("first row holds data" in note for note in headerless.report.notes)
    assert headerless.row_numbers[0] == 1                            # file lines count from the data
    values = read_series_csv(write(tmp_path, "1,5\n2,3\n3,9\n4,6\n", name="plain.csv"), date_col=None)
    assert list(values.frame.columns) == ["column1", "column2"] and len(values.frame) == 4
    rows = "".join(f"2000-0{m};{m},5\n" for m in range(1, 7))      # decimal commas, ';' between
    decimal_comma = read_series_csv(write(tmp_path, rows, name="dc.csv"))
    assert decimal_comma.frame["column2"].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]


@pytest.mark.parametrize("first_row", ["Month,Passengers", "t,2019", "date,value", "x,1e5"])
def test_a_header_row_with_a_name_is_still_a_header(tmp_path, first_row):
    loaded = read_series_csv(write(tmp_path, first_row + "\n2000-01,1\n2000-02,2\n"))
    assert len(loaded.frame) == 2 and not any("first row" in n for n in loaded.report.notes)


# ---------------------------------------------------------------------------
# The six real files and the registered source
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", SIX_FILES)
def test_all_real_files_load(data_dir, name):
    data = prepare_series(SeriesOptions(path=str(data_dir / name), look_back=3))
    assert isinstance(data, PreparedSeries) and data.task == "regression"
    assert data.x_train.dtype == torch.float32 and len(data.x_train) > 0
    np.testing.assert_allclose(data.to_original(data.y_test, "test"), data.actual("test"), rtol=1e-4,
                               atol=1e-4)
    json.dumps(data.fitted_state())
    assert data.window_leak is None


def test_real_file_reports(data_dir):
    temps = read_series_csv(data_dir / "daily-min-temperatures.csv")
    assert temps.report.step == "daily" and temps.report.n_missing_steps == 2
    assert [g["after"][:10] for g in temps.report.gaps] == ["1984-12-30", "1988-12-30"]
    beijing = read_series_csv(data_dir / "beijing-pm25-hourly.csv")
    assert beijing.time_col == "year,month,day,hour" and beijing.report.missing_values == {"pm2.5": 2067}
    shampoo = prepare_series(SeriesOptions(path=str(data_dir / "shampoo-sales.csv"),
                                           date_format="period:1991-01"))
    assert shampoo.season == 12 and str(shampoo.series.index[-1])[:7] == "1993-12"


def test_beijing_pollution_with_features(data_dir):
    opts = dict(path=str(data_dir / "beijing-pm25-hourly.csv"), target=["pm2.5"],
                features=["DEWP", "TEMP", "cbwd"], look_back=24, val_frac=0.1)
    with pytest.raises(DataError, match="'cbwd' is not numeric"):
        prepare_series(SeriesOptions(**opts, missing="interpolate"))
    with pytest.raises(DataError, match="'pm2.5' has 2067 missing values") as err:
        prepare_series(SeriesOptions(**opts, categorical="onehot"))
    assert "file lines 2, 3, 4, 5, 6 and 2062 more" in err.value.where
    data = prepare_series(SeriesOptions(**opts, missing="interpolate", categorical="onehot"))
    assert data.input_columns[:3] == ["pm2.5", "DEWP", "TEMP"] and len(data.input_columns) == 7
    assert data.season == 24 and not torch.isnan(data.x_train).any()
    assert data.x_val.shape[1:] == (24, 7)


def test_registered_source_loads_with_form_defaults(registry, data_dir):
    source = registry.source("csv-series")
    assert source.kind == "series"
    data = source.load({**source.defaults(), "path": str(data_dir / "airline-passengers.csv")})
    assert data.x_train.shape == (95, 1, 1)


def test_ragged_rows_and_text_in_a_number_column(tmp_path):
    with pytest.raises(DataError, match="cannot parse the CSV") as err:
        read_series_csv(write(tmp_path, "a,b\n1,2,3\n4,5\n", "ragged.csv"))
    assert "same number of fields" in err.value.fix
    path = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,x\n2020-01-03,3\n", "text.csv")
    with pytest.raises(DataError, match="target column 'v' is not numeric: it holds values such as 'x'") \
            as err:
        prepare_series(SeriesOptions(path=str(path)))
    assert "file line 3" in err.value.where
