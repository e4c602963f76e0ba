"""Epoch time of seqstudio's measured thread choice against fixed thread counts, idle and loaded.

For each recipe, in one run and interleaved round by round (the order of the
settings rotates every round, so drift hits them alike):

- **seqstudio**: ``train()`` with no ``threads`` setting: the
  :class:`~seqstudio.core.train.threads.ThreadTuner` probes and re-chooses;
- **1 thread** and **all threads**: ``train()`` with ``threads`` pinned (the
  "best fixed setting" is the faster of the two in that round's median);
- **hand loop**: a plain PyTorch loop with torch's defaults (all threads,
  ``torch.optim.Adam``), the way a user writes it;

each under two machine states that the bench makes itself: **idle** (nothing
started) and **one busy** (one ``while True: pass`` process, unpinned, started
before and stopped after). The machine's own background load (other users)
is not controlled: its load average is printed with each figure.

Recipes: the ``imdb-lstm`` preset on the first ``--imdb-reviews`` reviews of
the shared IMDB sample (real text, tokenized as the app does; Embedding(10000,128)
-> LSTM(128, dropout 0.2, recurrent_dropout 0.2) -> Dense(1), batch 32, length
200) and the lecture's ``airline-lstm`` preset (LSTM(4) -> Dense(1), batch 1)
on the real airline series. Seconds per epoch, every epoch of a run counted
(the tuner's probes included), median over rounds.

    python bench/bench_threads.py                 # minutes
    python bench/bench_threads.py --quick         # a check that it runs

Writes ``bench/out/bench_threads.md`` and prints it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

from seqstudio.core.train.threads import prepare_openmp_env  # noqa: E402

prepare_openmp_env()  # as the CLI does, before torch starts OpenMP

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.train.config import TrainConfig  # noqa: E402
from seqstudio.core.train.events import EpochEnded, EpochStarted, Finished  # noqa: E402
from seqstudio.core.train.loop import train  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402

DATA = REPO.parent / "shared" / "data"
ALL = torch.get_num_threads()


def recipe(name: str, reviews: int, tmp: Path):
    registry = builtin_registry()
    project = Project.from_preset(name)
    if name.startswith("imdb"):
        subset = tmp / "imdb-subset.csv"
        pd.read_csv(DATA / "imdb-reviews-train-part1.csv", nrows=reviews).to_csv(subset, index=False)
        project.data_options.update(path=str(subset), test_path=None)
    else:
        project.data_options["path"] = str(DATA / "airline-passengers.csv")
    data = project.prepare_data(registry)
    config = project.train_config()
    return registry, project, data, config


def engine(project, registry, data, config, epochs: int, threads: int | None):
    model = project.build_model(data, registry)
    cfg = TrainConfig(**{**config.to_dict(), "epochs": epochs, "threads": threads,
                         "early_stopping_patience": 0})
    times, started, chosen = [], 0.0, ""
    for event in train(model, data, cfg):
        if isinstance(event, EpochStarted):
            started = time.perf_counter()
        elif isinstance(event, EpochEnded):
            times.append(time.perf_counter() - started)
        elif isinstance(event, Finished):
            chosen = f"{event.result.threads}"
    return sum(times) / len(times), chosen


def hand(project, registry, data, config, epochs: int):
    """torch's defaults: every thread, a plain loop (as in bench_training.py)."""
    torch.set_num_threads(ALL)
    model = project.build_model(data, registry)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.BCELoss() if data.task == "binary" else torch.nn.MSELoss()
    x, y = data.x_train, data.y_train
    n, bs, times = len(x), config.batch_size, []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            loss.item()
        times.append(time.perf_counter() - started)
    return sum(times) / len(times), str(ALL)


def busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--imdb-reviews", type=int, default=640)
    parser.add_argument("--imdb-epochs", type=int, default=2)
    parser.add_argument("--airline-epochs", type=int, default=12)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--states", default="idle,one-busy")
    parser.add_argument("--recipes", default="imdb-lstm,airline-lstm")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_threads.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.imdb_reviews, args.imdb_epochs, args.airline_epochs = 1, 96, 1, 2
    settings = ["seqstudio", "1 thread", f"all ({ALL}) threads", "hand loop"]
    rows: dict[tuple[str, str, str], list[float]] = {}
    chosen: dict[tuple[str, str], list[str]] = {}
    loads: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.recipes.split(","):
            registry, project, data, config = recipe(name, args.imdb_reviews, Path(tmp))
            epochs = args.imdb_epochs if name.startswith("imdb") else args.airline_epochs
            for state in args.states.split(","):
                load = busy_process() if state == "one-busy" else None
                try:
                    for r in range(args.rounds):
                        order = settings[r % len(settings):] + settings[:r % len(settings)]
                        for setting in order:
                            if setting == "hand loop":
                                sec, used = hand(project, registry, data, config, epochs)
                            else:
                                threads = None if setting == "seqstudio" else (1 if setting == "1 thread" else ALL)
                                sec, used = engine(project, registry, data, config, epochs, threads)
                            rows.setdefault((name, state, setting), []).append(sec)
                            if setting == "seqstudio":
                                chosen.setdefault((name, state), []).append(used)
                            loads.setdefault((name, state), []).append(os.getloadavg()[0])
                            print(f"{name} {state} round {r + 1} {setting}: {sec:.3f} s/epoch "
                                  f"(threads {used}, load {os.getloadavg()[0]:.1f})", flush=True)
                finally:
                    if load is not None:
                        load.kill()
                        load.wait()
    text = report(rows, chosen, loads, args, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


def report(rows, chosen, loads, args, settings) -> str:
    lines = [f"# bench_threads ({time.strftime('%Y-%m-%d %H:%M')}, {ALL} cores, torch {torch.__version__}, "
             f"{args.rounds} rounds)", "",
             "| recipe | machine | seqstudio | 1 thread | all threads | hand loop | seqstudio / best fixed "
             "| hand / seqstudio | seqstudio chose | load avg |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for (name, state) in dict.fromkeys((k[0], k[1]) for k in rows):
        med = {s: statistics.median(rows[(name, state, s)]) for s in settings if (name, state, s) in rows}
        ours, one, every, hand_ = (med.get(s) for s in settings)
        best = min(one, every)
        spread = max(rows[(name, state, "seqstudio")]) / min(rows[(name, state, "seqstudio")])
        lines.append(f"| {name} | {state} | {ours:.3f} | {one:.3f} | {every:.3f} | {hand_:.3f} | "
                     f"{ours / best:.2f}x | {hand_ / ours:.2f}x | {', '.join(chosen[(name, state)])} | "
                     f"{statistics.median(loads[(name, state)]):.1f} |")
        lines.append(f"|  | (seqstudio max/min over rounds: {spread:.2f}) | | | | | | | | |")
    lines += ["", "Seconds per epoch (median over rounds; every epoch of a run, probing included)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
