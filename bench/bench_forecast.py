"""What a backtest costs: batched origins against evaluate(), parallel folds against sequential.

(a) never retrain: the airline model (the lecture's ``airline-lstm``, its
    weights as built: the time does not depend on their values) forecasts 12
    steps ahead from every origin of the test part, against ONE
    ``evaluate(model, data, "test")`` over the test windows. Two backtest
    figures: the model's forecasts alone (``forecast_origins``: 12 batched
    forward passes), and the whole ``run_backtest`` (forecasts, the four
    baselines, six metrics per fold and per step with their spread and the
    verdicts, conformal bands and their held-out coverage). Target: the whole
    backtest at most 1.5x one evaluate(). A fresh result keeps its scores as
    arrays and its time stamps unwritten until first read (``Scores``,
    ``Texts``); ``backtest_read`` is the backtest followed by reading all of
    them, what showing or saving it adds.
    How it is timed: rounds; in each, every item runs a block of calls (the
    first, right after the previous item, left out) and its block median is
    divided by evaluate()'s in the same round; the medians of those ratios are
    reported. One call at a time, interleaved, a call right after evaluate()
    ran beside torch's still spin-waiting OpenMP workers (the single-threaded
    backtest then showed more CPU time than wall time), and the machine's
    speed drifts between rounds: ratios within a round cancel that.
    evaluate() runs with torch's default threads; the backtest's forecasts use
    one thread for a tiny model, so evaluate() with one thread is timed too,
    for a like-with-like ratio. ``12_forwards`` is 12 calls of the torch model
    over every origin alone, and ``12_plain_forwards`` the same 12 passes in
    the numpy copy of the model the backtest uses for a model this small
    (``seqstudio.core.forecast.plain``): the 12 rounds depend on each other,
    so they are the floor of the backtest.
(b) retrain every fold: 4 folds of ``airline-lstm-seasonal`` trained from
    scratch in 2 worker processes (``workers=2``) against the same 4 fold
    trainings one after another in this process (``train()`` with one thread,
    as each worker uses). Target: at most 0.6x. Side by side in one run; the
    machine's load average is printed before and after, as the figures depend
    on it.

Usage::

    python bench/bench_forecast.py                  # full recipe for (b): 150 epochs per fold
    python bench/bench_forecast.py --epochs 30      # shorter folds (start-up weighs more)
    python bench/bench_forecast.py --quick          # seconds: check that it works
    python bench/bench_forecast.py --skip-retrain   # part (a) alone

It writes ``bench/out/bench_forecast.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

from seqstudio.core.forecast import BacktestFinished, BacktestPlan, run_backtest  # noqa: E402
from seqstudio.core.forecast.backtest import (  # noqa: E402
    _series_data,
    _train_fold,
    fold_data,
)
from seqstudio.core.forecast.plain import plain_forward  # noqa: E402
from seqstudio.core.forecast.rollout import Transform, forecast_origins  # noqa: E402
from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.train.evaluate import evaluate  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402


def finish(events):
    for event in events:
        if isinstance(event, BacktestFinished):
            return event.result
    raise RuntimeError("the backtest did not finish")


ITEMS = ("evaluate", "evaluate_1_thread", "forecasts", "backtest", "backtest_read", "12_forwards",
         "12_plain_forwards")


def bench_never(registry, rounds: int, block: int) -> dict:
    project = Project.from_preset("airline-lstm")
    data = _series_data(project, registry)
    model = project.build_model(data, registry)
    project.set_weights(model)
    config = project.train_config()
    bounds = data.fitted_state()["bounds"]
    values = data.series[data.target_columns].to_numpy()
    origins = list(range(int(bounds["val"][1]), len(values) - 12 + 1))
    transform = Transform.of(data.fitted_state(), 1)
    plan = BacktestPlan(folds=None, horizon=12, retrain=0)
    import numpy as np

    window = transform.inputs(values)[torch.from_numpy(np.array(origins)[:, None] - 1)]  # look_back 1

    def once(name: str) -> tuple[float, float]:
        """One call of ``name``: its wall and CPU seconds."""
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "evaluate":
            evaluate(model, data, "test", config=config)
        elif name == "evaluate_1_thread":  # the thread setting the backtest picks for tiny models
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                evaluate(model, data, "test", config=config)
            finally:
                torch.set_num_threads(threads)
        elif name == "12_forwards":  # the torch model's calls alone
            t0, c0 = twelve_forwards(model, window)
        elif name == "12_plain_forwards":  # the numpy passes the forecasts make, alone
            forward = plain_forward(model)
            plain_window = window.numpy()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(12):
                forward(plain_window)
        elif name == "forecasts":
            forecast_origins(model, transform, values, np.array(origins), 1, 1, 12)
        else:
            once.result = finish(run_backtest(project, registry, plan, data=data, model=model))
            if name == "backtest_read":  # the lists and texts a result makes when first read
                for scores in once.result.scores.values():
                    scores["summary"]
                list(once.result.times), list(once.result.origin_times)
        return time.perf_counter() - t0, time.process_time() - c0

    # per round and item: the median of a block of calls (the first of each block, right after
    # the previous item, left out); the ratios are taken within a round, so a machine that speeds
    # up or slows down between rounds moves both sides of a ratio alike
    wall: dict[str, list[float]] = {k: [] for k in ITEMS}
    cpu: dict[str, list[float]] = {k: [] for k in ITEMS}
    for r in range(rounds + 1):
        order = list(ITEMS) if r % 2 == 0 else list(reversed(ITEMS))
        for name in order:
            calls = [once(name) for _ in range(block + 1)][1:]
            if r:  # the first round warms up
                wall[name].append(statistics.median(c[0] for c in calls))
                cpu[name].append(statistics.median(c[1] for c in calls))
    ratio = {k: [w / e for w, e in zip(wall[k], wall["evaluate"], strict=True)] for k in ITEMS}
    cpu_ratio = {k: [w / e for w, e in zip(cpu[k], cpu["evaluate"], strict=True)] for k in ITEMS}
    return {"origins": len(once.result.origins), "test_windows": len(data.x_test),
            "ms": {k: 1000 * statistics.median(v) for k, v in wall.items()},
            "cpu_ms": {k: 1000 * statistics.median(v) for k, v in cpu.items()},
            "ratio": {k: statistics.median(v) for k, v in ratio.items()},
            "ratio_range": {k: (min(v), max(v)) for k, v in ratio.items()},
            "cpu_ratio": {k: statistics.median(v) for k, v in cpu_ratio.items()}}


def twelve_forwards(model, window) -> tuple[float, float]:
    """12 forward passes over every origin as forecast_origins makes them (1 thread, no oneDNN, eval
    mode, inference mode), the model calls alone: the settings are switched and one pass warms up
    outside the time. Returns the start of the timed part."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    model.eval()
    try:
        with torch.inference_mode():
            model(window)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(12):
                model(window)
            return t0, c0
    finally:
        model.train()
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn


def bench_retrain(registry, epochs: int, pairs: int) -> dict:
    project = Project.from_preset("airline-lstm-seasonal")
    project.train["epochs"] = epochs
    data = _series_data(project, registry)
    plan = BacktestPlan(folds=4, horizon=12, stride=3, retrain=1)
    load_before = os.getloadavg()
    spec, config = project.model_spec(registry), project.train_config(threads=1, keep_best_checkpoint=False)

    def sequential() -> float:
        """The 4 fold trainings, one after another, here, one thread each."""
        t0 = time.perf_counter()
        for fold in plan.folds_for(len(data.series), earliest=14):
            fd = fold_data(data, fold.train_start, fold.origin)
            torch.manual_seed(config.seed)
            _train_fold(pickle.dumps((spec.build(fd.input_shape, registry=registry), fd, config)))
        return time.perf_counter() - t0

    def parallel() -> tuple[float, object]:
        t0 = time.perf_counter()
        result = finish(run_backtest(project, registry, plan, baselines=(), workers=2, data=data))
        return time.perf_counter() - t0, result

    # pairs in alternating order (sequential first, then parallel first...): the machine's speed
    # drifts over minutes, and the ratio of the totals weighs both orders alike
    seq_times, par_times, in_workers = [], [], []
    for p in range(pairs):
        if p % 2 == 0:
            seq_times.append(sequential())
            seconds, result = parallel()
        else:
            seconds, result = parallel()
            seq_times.append(sequential())
        par_times.append(seconds)
        in_workers.append(result.train_seconds)
    return {"epochs": epochs, "sequential": seq_times, "parallel": par_times,
            "ratio": sum(par_times) / sum(seq_times), "fold_seconds_in_workers": in_workers,
            "load_before": load_before, "load_after": os.getloadavg(), "workers": result.workers}


def never_lines(registry, args) -> list[str]:
    """Part (a), measured, as the report's lines."""
    never = bench_never(registry, 3 if args.quick else args.rounds, 3 if args.quick else args.block)
    lines = ["", f"## (a) never retrain: {never['origins']} origins x 12 steps vs evaluate() over "
             f"{never['test_windows']} test windows", "",
             f"{3 if args.quick else args.rounds} rounds; in each, every item runs a block of "
             f"{3 if args.quick else args.block} calls (after one left out) and its block median is "
             "divided by evaluate()'s of the same round. The table gives the medians over the "
             "rounds.", "",
             "| what | wall ms | x evaluate | x evaluate, min-max over rounds | CPU ms | x evaluate (CPU) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key in ITEMS:
        lo, hi = never["ratio_range"][key]
        lines.append(f"| {key} | {never['ms'][key]:.2f} | {never['ratio'][key]:.2f} | "
                     f"{lo:.2f}-{hi:.2f} | {never['cpu_ms'][key]:.2f} | {never['cpu_ratio'][key]:.2f} |")
    floor, torch_floor = never["ms"]["12_plain_forwards"], never["ms"]["12_forwards"]
    lines += ["", f"The 12 rounds of the recursion depend on each other: 12 forward passes "
              f"({never['origins']} origins each) in the numpy copy of the model take "
              f"{floor:.2f} ms = {never['ratio']['12_plain_forwards']:.2f}x evaluate() before any "
              f"bookkeeping ({floor / 12:.3f} ms each; the torch model's own calls "
              f"{torch_floor / 12:.3f} ms each).",
              "", "CPU time (this process, all its threads) is what to read on a loaded machine: "
              "wall time there mostly measures waiting for a core."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=8, help="calls per item and round in (a)")
    parser.add_argument("--pairs", type=int, default=1, help="sequential/parallel pairs in (b), order alternating")
    parser.add_argument("--skip-never", action="store_true", help="part (b) alone")
    parser.add_argument("--skip-retrain", action="store_true")
    args = parser.parse_args()
    registry = builtin_registry()
    lines = ["# bench_forecast", "",
             f"cpus: {os.cpu_count()}, torch {torch.__version__}, load average before: "
             f"{os.getloadavg()[0]:.1f}"]
    if not args.skip_never:
        lines += never_lines(registry, args)
    if not args.skip_retrain:
        retrain = bench_retrain(registry, 2 if args.quick else args.epochs, args.pairs)
        lines += ["", f"## (b) retrain every fold: 4 folds, {retrain['epochs']} epochs each, "
                  f"{retrain['workers']} workers, {args.pairs} pair(s) in alternating order", "",
                  f"- four sequential trainings: {', '.join(f'{t:.1f}' for t in retrain['sequential'])} s",
                  f"- backtest with 2 workers: {', '.join(f'{t:.1f}' for t in retrain['parallel'])} s "
                  f"(fold trainings inside the workers: "
                  + "; ".join(", ".join(f"{t:.1f}" for t in run) for run in retrain["fold_seconds_in_workers"])
                  + " s)",
                  f"- ratio of the totals: **{retrain['ratio']:.2f}** (target at most 0.6)",
                  f"- load average before / after: {retrain['load_before'][0]:.1f} / "
                  f"{retrain['load_after'][0]:.1f}"]
    text = "\n".join(lines) + "\n"
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bench_forecast.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
