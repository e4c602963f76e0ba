"""IMDB epoch time and test accuracy with bucketing against Keras-style fixed padding.

The ``imdb-lstm`` preset (Embedding(10000, 128) -> LSTM(128, dropout 0.2,
recurrent_dropout 0.2) -> Dense(1, sigmoid), max_len 200, batch 32) on the first
``--reviews`` reviews of the shared IMDB training sample, tested on the first
``--test-reviews`` of the shared test sample. For each seed, the same initial
weights train with ``bucketing`` off (every review padded to 200) and on (each
batch padded to its longest review), in alternating order; seconds per epoch
(the training pass, as ``EpochEnded`` reports it) and test accuracy after the
last epoch.

    python bench/bench_bucketing.py                       # 3 seeds
    python bench/bench_bucketing.py --reviews 640 --epochs 2 --seeds 0   # a quick check
    python bench/bench_bucketing.py --max-len 500        # longer reviews kept: more padding saved

Bucketing can only save the padding there is: with reviews cut at 200 ids and most
IMDB reviews longer than that, the ceiling is ``1 - mean(length) / max_len`` of the
recurrent work (printed with the table).

Writes ``bench/out/bench_bucketing.md`` and prints it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

from seqstudio.core.train.threads import prepare_openmp_env  # noqa: E402

prepare_openmp_env()

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.train.config import TrainConfig  # noqa: E402
from seqstudio.core.train.evaluate import evaluate  # noqa: E402
from seqstudio.core.train.events import EpochEnded, Finished  # noqa: E402
from seqstudio.core.train.loop import train  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def prepare(reviews: int, test_reviews: int, tmp: Path, max_len: int | None = None):
    registry = builtin_registry()
    project = Project.from_preset("imdb-lstm")
    if max_len:
        project.data_options["max_len"] = max_len
    train_csv, test_csv = tmp / "train.csv", tmp / "test.csv"
    pd.read_csv(DATA / "imdb-reviews-train-part1.csv", nrows=reviews).to_csv(train_csv, index=False)
    pd.read_csv(DATA / "imdb-reviews-test.csv", nrows=test_reviews).to_csv(test_csv, index=False)
    project.data_options.update(path=str(train_csv), test_path=str(test_csv))
    return registry, project, project.prepare_data(registry)


def run(project, registry, data, *, seed: int, epochs: int, bucketing: bool, threads: int | None):
    torch.manual_seed(seed)
    model = project.build_model(data, registry)
    config = TrainConfig(**{**project.train_config().to_dict(), "epochs": epochs, "seed": seed,
                            "bucketing": bucketing, "threads": threads,
                            "early_stopping_patience": 0, "restore_best": False})
    seconds = []
    for event in train(model, data, config):
        if isinstance(event, EpochEnded):
            seconds.append(event.seconds)
        elif isinstance(event, Finished) and event.result.stopped_reason == "error":
            raise RuntimeError(event.result.stopped_message)
    return statistics.mean(seconds), evaluate(model, data, "test", config=config)["accuracy"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reviews", type=int, default=1250)
    parser.add_argument("--test-reviews", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-len", type=int, default=None,
                        help="pad / cut reviews to this many ids (default: the preset's 200)")
    parser.add_argument("--threads", type=int, default=None,
                        help="pin the threads (default: the tuner chooses, as in the app)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_bucketing.md")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: dict[tuple[str, int], tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        registry, project, data = prepare(args.reviews, args.test_reviews, Path(tmp), args.max_len)
        lengths = data.train_lengths.clip(max=data.x_train.shape[1])
        for i, seed in enumerate(seeds):
            for bucketing in ((False, True) if i % 2 == 0 else (True, False)):
                sec, acc = run(project, registry, data, seed=seed, epochs=args.epochs,
                               bucketing=bucketing, threads=args.threads)
                load = os.getloadavg()[0]
                rows[("bucketing" if bucketing else "fixed padding", seed)] = (sec, acc, load)
                print(f"seed {seed} {'bucketing' if bucketing else 'fixed'}: {sec:.2f} s/epoch, "
                      f"test accuracy {acc:.4f}, load {load:.1f}", flush=True)
    lines = [f"# bench_bucketing ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, torch "
             f"{torch.__version__}; {args.reviews} training reviews, {args.test_reviews} test reviews, "
             f"{args.epochs} epochs, seeds {args.seeds})", "",
             f"Review lengths in ids (cut at max_len {data.x_train.shape[1]}): mean {lengths.mean():.0f}, "
             f"median {statistics.median(lengths.tolist()):.0f}; the padding bucketing can skip is at most "
             f"{1 - lengths.mean() / data.x_train.shape[1]:.0%} of the recurrent work.", "",
             "| seed | fixed s/epoch | bucketing s/epoch | time saved | fixed accuracy | bucketing accuracy "
             "| load avg |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    saved, diffs = [], []
    for seed in seeds:
        f, b = rows[("fixed padding", seed)], rows[("bucketing", seed)]
        saved.append(1 - b[0] / f[0])
        diffs.append(100 * (b[1] - f[1]))
        lines.append(f"| {seed} | {f[0]:.2f} | {b[0]:.2f} | {saved[-1]:.0%} | {f[1]:.4f} | {b[1]:.4f} | "
                     f"{f[2]:.1f} / {b[2]:.1f} |")
    fixed_t = statistics.mean(rows[("fixed padding", s)][0] for s in seeds)
    bucket_t = statistics.mean(rows[("bucketing", s)][0] for s in seeds)
    fixed_a = statistics.mean(rows[("fixed padding", s)][1] for s in seeds)
    bucket_a = statistics.mean(rows[("bucketing", s)][1] for s in seeds)
    lines += ["", f"Mean over seeds: {fixed_t:.2f} -> {bucket_t:.2f} s/epoch ({1 - bucket_t / fixed_t:.0%} "
                  f"less; per seed {min(saved):.0%}..{max(saved):.0%}); test accuracy {fixed_a:.4f} -> "
                  f"{bucket_a:.4f} ({100 * (bucket_a - fixed_a):+.1f} points; per seed "
                  f"{min(diffs):+.1f}..{max(diffs):+.1f})."]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
