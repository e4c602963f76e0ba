"""Folds, baselines, scores and conformal bands against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqstudio.core.errors import DataError
from seqstudio.core.forecast import baselines as B
from seqstudio.core.forecast import intervals as I
from seqstudio.core.forecast import scores as S
from seqstudio.core.forecast.folds import BacktestPlan, parse_retrain


def test_folds_end_on_the_last_full_horizon_and_step_by_stride():
    plan = BacktestPlan(folds=3, horizon=4, stride=2)
    folds = plan.folds_for(20)
    assert [f.origin for f in folds] == [12, 14, 16]  # the last fold forecasts rows 16..19
    assert all(f.train_start == 0 for f in folds)
    assert [f.trained_at for f in folds] == [0, 1, 2]


def test_start_runs_to_the_end_and_sliding_windows_keep_their_size():
    plan = BacktestPlan(folds=None, start=10, horizon=3, stride=3, window="sliding", window_size=6)
    folds = plan.folds_for(20)
    assert [(f.train_start, f.origin) for f in folds] == [(4, 10), (7, 13), (10, 16)]


def test_retrain_every_k_folds_groups_the_folds():
    folds = BacktestPlan(folds=5, horizon=1, retrain=2).folds_for(30)
    assert [f.trained_at for f in folds] == [0, 0, 2, 2, 4]
    assert [f.trained_at for f in BacktestPlan(folds=2, horizon=1, retrain="never").folds_for(9)] == [-1, -1]
    assert parse_retrain("every") == 1 and parse_retrain("never") == 0 and parse_retrain("3") == 3


@pytest.mark.parametrize("kwargs", [{"horizon": 0}, {"stride": -1}, {"folds": 0}, {"window": "rolling"},
                                    {"retrain": "sometimes"}, {"retrain": -2}])
def test_bad_plans_say_which_setting(kwargs):
    with pytest.raises(DataError) as exc:
        BacktestPlan(**kwargs)
    assert next(iter(kwargs)) in str(exc.value)


def test_too_many_folds_for_the_series_is_a_user_error():
    with pytest.raises(DataError, match="fewer folds"):
        BacktestPlan(folds=10, horizon=5).folds_for(12, earliest=3)


def test_fpp_baselines_by_hand():
    y = np.array([[10.0, 1.0], [12.0, 2.0], [11.0, 4.0], [15.0, 3.0], [14.0, 5.0]])
    assert B.naive(y, 3).tolist() == [[14.0, 5.0]] * 3
    assert B.mean(y, 2).tolist() == [[12.4, 3.0]] * 2
    # drift: y_T + h (y_T - y_1) / (T - 1) = 14 + h * 1, 5 + h * 1
    assert B.drift(y, 2).tolist() == [[15.0, 6.0], [16.0, 7.0]]
    # seasonal naive with m = 2: steps 1, 2, 3, 4 -> y[3], y[4], y[3], y[4]
    assert B.seasonal_naive(y, 4, 2)[:, 0].tolist() == [15.0, 14.0, 15.0, 14.0]
    assert B.season_for_step("quarterly") == 4 and B.season_for_step("hourly") == 24


def test_mase_smape_rmsse_by_hand():
    history = np.array([1.0, 3.0, 2.0, 6.0, 5.0])[:, None]
    s1, s2 = S.in_sample_scale(history, 2)
    # seasonal diffs at lag 2: 2-1, 6-3, 5-2 = 1, 3, 3
    assert s1.tolist() == [7 / 3] and s2.tolist() == [19 / 3]
    actual = np.array([[[4.0], [8.0]]])
    forecast = np.array([[[5.0], [6.0]]])
    got = S.fold_metrics(actual, forecast, s1[None], s2[None])
    assert got["mae"] == [pytest.approx(1.5)]
    assert got["rmse"] == [pytest.approx(math.sqrt((1 + 4) / 2))]
    assert got["mape"] == [pytest.approx(100 * (1 / 4 + 2 / 8) / 2)]
    assert got["smape"] == [pytest.approx(200 * (1 / 9 + 2 / 14) / 2)]
    assert got["mase"] == [pytest.approx(1.5 / (7 / 3))]
    assert got["rmsse"] == [pytest.approx(math.sqrt(2.5 / (19 / 3)))]


def test_per_step_pools_folds_and_verdict_counts_folds():
    actual = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    model = actual + np.array([[[1.0], [0.0]], [[1.0], [2.0]]])
    naive = actual + 2.0
    scale = np.ones((2, 1))
    m = S.score(actual, model, scale, scale)
    n = S.score(actual, naive, scale, scale)
    assert m["per_step"]["mae"] == [1.0, 1.0]
    assert m["per_fold"]["mase"] == [0.5, 1.5]
    assert m["summary"]["mase"]["mean"] == 1.0 and m["summary"]["mase"]["std"] == pytest.approx(math.sqrt(0.5))
    v = S.verdict(m, n, "naive", "naive")
    assert (v["wins"], v["folds"], v["beats_on_mean"]) == (2, 2, True)
    assert v["text"].startswith("beats naive on MASE in 2 of 2 folds")


def test_conformal_quantile_rank_and_too_few_residuals():
    r = np.arange(1.0, 10.0)  # 9 residuals: 80 % takes the ceil(10 * 0.8) = 8th smallest
    assert I.conformal_quantile(r, 80) == 8.0
    assert I.conformal_quantile(r, 95) == math.inf  # needs 19
    assert I.conformal_quantile(np.arange(1.0, 20.0), 95) == 19.0


def test_held_out_bands_use_only_residuals_seen_before_the_origin():
    residuals = np.arange(1.0, 7.0).reshape(6, 1, 1)  # one step ahead, folds at origins 10..15
    origins = np.arange(10, 16)
    q = I.held_out_quantiles(residuals, origins, 50.0)
    # fold 3 (origin 13) knows folds 0, 1, 2: ceil(4 * 0.5) = 2nd smallest of 1, 2, 3
    assert q[3, 0, 0] == 2.0
    assert q[0, 0, 0] == math.inf  # nothing seen yet
    two_steps = I.held_out_quantiles(np.ones((3, 2, 1)), np.array([0, 1, 2]), 50.0)
    # at step 2 the residual of origin j is known at row j + 1: origin 2 knows only origin 0's
    assert math.isinf(two_steps[1, 1, 0]) and two_steps[2, 1, 0] == 1.0


def test_coverage_counts_finite_bands_only():
    actual = np.zeros((2, 2, 1))
    forecast = np.array([[[0.5], [2.0]], [[0.1], [0.0]]])
    q = np.array([[[1.0], [1.0]], [[math.inf], [math.inf]]])
    got = I.coverage(actual, forecast, q)
    assert (got["covered"], got["n"], got["rate"]) == (1, 2, 0.5)


def test_levels_parse_and_refuse_nonsense():
    assert I.parse_levels("95,80") == (80.0, 95.0)
    with pytest.raises(DataError, match="between 0 and 100"):
        I.parse_levels("80,120")


@pytest.mark.parametrize("season", [1, 3, 12])
def test_all_folds_at_once_equal_one_fold_at_a_time(season):
    rng = np.random.default_rng(0)
    values = rng.uniform(1, 9, size=(40, 2))
    starts, origins = np.array([0, 0, 5, 20]), np.array([10, 25, 30, 30])
    together = B.fold_baselines(values, starts, origins, 7, season)
    s1, s2 = S.fold_scales(values, starts, origins, season)
    for k, (a, b) in enumerate(zip(starts, origins, strict=True)):
        history = values[a:b]
        for name, fn in B.BASELINES.items():
            np.testing.assert_allclose(together[name][k], fn(history, 7, season), err_msg=name)
        one1, one2 = S.in_sample_scale(history, season)
        np.testing.assert_allclose([s1[k], s2[k]], [one1, one2])


@pytest.mark.parametrize(("chunk", "n_folds"), [(1, 9), (7, 9), (1 << 20, 9), (1 << 20, 300), (900, 300)])
def test_held_out_bands_equal_a_loop_over_folds(monkeypatch, chunk, n_folds):
    # the bands come from each step's residuals sorted once and running counts over the folds in
    # origin order, a few folds at a time (counts in one byte under 255 folds, four bytes above);
    # the reference sorts each fold's known residuals itself (a non-finite one counts, as infinity)
    monkeypatch.setattr(I, "_HELD_OUT_CHUNK", chunk)
    rng = np.random.default_rng(1)
    shape = (9, 4, 2) if n_folds == 9 else (n_folds, 2, 1)
    residuals = rng.normal(size=shape) if n_folds == 9 else np.round(rng.normal(size=shape), 1)  # ties
    residuals[rng.random(residuals.shape) < 0.1] = np.nan
    residuals[0, 1, shape[2] - 1] = -np.inf
    origins = np.array([30, 12, 14, 14, 20, 25, 26, 27, 29]) if n_folds == 9 \
        else rng.permutation(n_folds) // 2 * 3  # unsorted, one origin twice
    levels = (50.0, 80.0, 95.0)
    got = I.held_out_by_level(residuals, origins, levels)
    for level in levels:
        for k, h, t in np.ndindex(residuals.shape):
            known = [abs(residuals[j, h, t]) for j in range(len(origins)) if origins[j] + h < origins[k]]
            known = sorted(v if math.isfinite(v) else math.inf for v in known)
            rank = math.ceil((len(known) + 1) * level / 100.0)
            want = known[rank - 1] if known and rank <= len(known) else math.inf
            assert got[level][k, h, t] == want, (level, k, h, t)


@pytest.mark.parametrize("with_nan", [False, True])
def test_scores_of_several_forecasters_equal_plain_means(with_nan):
    rng = np.random.default_rng(2)
    actual = rng.uniform(1, 9, size=(5, 3, 2))
    forecasts = {"a": actual + rng.normal(size=actual.shape), "b": actual * 1.1}
    if with_nan:
        forecasts["a"][0] = np.nan         # a fold with no forecast at all
        forecasts["a"][1, 2, 0] = np.nan
    s1, s2 = rng.uniform(1, 2, size=(5, 2)), rng.uniform(1, 4, size=(5, 2))
    got = S.score_all(actual, forecasts, s1, s2)
    for name, f in forecasts.items():
        e = actual - f
        with np.errstate(invalid="ignore"):
            mase_fold = [np.nanmean(np.abs(e[k]) / s1[k]) if np.isfinite(e[k]).any() else None
                         for k in range(5)]
        rmse_step = [math.sqrt(np.nanmean(e[:, h] ** 2)) for h in range(3)]
        assert got[name]["per_fold"]["mase"] == pytest.approx(mase_fold)
        assert got[name]["per_step"]["rmse"] == pytest.approx(rmse_step)
        kept = np.array([v for v in mase_fold if v is not None])
        summary = got[name]["summary"]["mase"]
        assert summary["n"] == len(kept)
        assert summary["mean"] == pytest.approx(kept.mean()) and summary["min"] == pytest.approx(kept.min())
        assert summary["std"] == pytest.approx(kept.std(ddof=1)) and summary["max"] == pytest.approx(kept.max())
        assert summary["min"] == min(v for v in got[name]["per_fold"]["mase"] if v is not None)


def test_a_step_with_only_zero_actuals_has_no_mape_and_the_scores_stay_json():
    # MAPE skips zero actuals: a step where every fold's actual is 0 has no MAPE (None), while
    # every fold still has one; the lazily listed scores must say None there, not NaN
    import json

    rng = np.random.default_rng(0)
    actual = rng.uniform(1, 9, size=(4, 3, 1))
    actual[:, 1, 0] = 0.0
    forecasts = {"model": actual + 1.0, "naive": actual * 1.1}
    scores, _ = S.score_and_judge(actual, forecasts, np.ones((4, 1)), np.ones((4, 1)),
                                  {"model": "model", "naive": "naive"})
    plain = json.loads(json.dumps(dict(scores), allow_nan=False))
    assert plain["model"]["per_step"]["mape"][1] is None
    assert all(v is not None for v in plain["model"]["per_fold"]["mape"])
    want = 100 * np.mean(np.abs(1.0 / actual[:, 0, 0]))  # step 1: |e| = 1 everywhere
    assert plain["model"]["per_step"]["mape"][0] == pytest.approx(want)
