"""Data-parallel training speed: the IMDB model in 1 process against 2 torchrun processes.

The ``imdb-lstm`` preset (Embedding(10000,128) -> LSTM(128) -> Dense(1), batch 32,
texts padded to 200) on the first ``--reviews`` reviews of the shared IMDB sample,
saved once as a project with fixed starting weights, then trained by the real
commands, interleaved round by round (the order rotates every round):

- ``1 proc x 1 thread``:  ``seqstudio train --project P --threads 1``
- ``1 proc x 2 threads``: ``seqstudio train --project P --threads 2``
- ``2 procs x 1 thread``: ``torchrun --standalone --nproc-per-node 2 -m seqstudio train
  --project P --threads 1`` (global batch 32 = 16 per process)

Samples per second come from the epoch times the run records in the project
(process start, data preparation and final metrics excluded), median over the
epochs after the first and over rounds. Scaling efficiency = rate of 2 processes /
(2 x rate of 1 process with 1 thread); against the best single process too. The
machine's load (``uptime``) is printed with every measurement: on a shared box it
decides the figures.

    python bench/bench_distributed.py                # minutes
    python bench/bench_distributed.py --quick        # a check that it runs

Writes ``bench/out/bench_distributed.md`` and prints it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from seqstudio.core.project import Project  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402

DATA = REPO.parent / "shared" / "data"

SETTINGS = {
    "1 proc x 1 thread": ([], ["--threads", "1"]),
    "1 proc x 2 threads": ([], ["--threads", "2"]),
    "2 procs x 1 thread": (["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
                           ["--threads", "1"]),
}


def make_project(folder: Path, reviews: int, epochs: int) -> tuple[Path, int]:
    subset = folder / "imdb-subset.csv"
    pd.read_csv(DATA / "imdb-reviews-train-part1.csv", nrows=reviews).to_csv(subset, index=False)
    registry = builtin_registry()
    project = Project.from_preset("imdb-lstm")
    project.data_options.update(path=str(subset), test_path=None)
    project.train.update(epochs=epochs, early_stopping_patience=0)
    data = project.prepare_data(registry)
    torch.manual_seed(0)
    project.set_weights(project.build_model(data, registry))
    return project.save(folder / "imdb.json"), len(data.x_train)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load: unknown"


def load_average() -> float:
    return os.getloadavg()[0]


def run(setting: str, project: Path, save: Path) -> tuple[list[float], str]:
    launcher, extra = SETTINGS[setting]
    cmd = [sys.executable, *launcher, "-m", "seqstudio", "train", "--project", str(project),
           "--save", str(save), "-q", *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    proc = subprocess.run(cmd, cwd=project.parent, env=env, capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{setting} failed:\n{proc.stderr[-3000:]}")
    history = Project.load(save).results["history"]
    return [row["seconds"] for row in history], uptime()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reviews", type=int, default=960)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_distributed.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.reviews, args.epochs = 1, 128, 2
    if not DATA.is_dir():
        raise SystemExit(f"the shared data sets are not in {DATA}")
    lines = [f"# bench_distributed: imdb-lstm, {args.reviews} reviews, {args.epochs} epochs, "
             f"{args.rounds} rounds", "", f"cores: {os.cpu_count()}; GPUs: "
             f"{torch.cuda.device_count() if torch.cuda.is_available() else 'none'}", "",
             "| round | setting | s/epoch (each) | load before -> after |", "| --- | --- | --- | --- |"]
    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        project, n_train = make_project(Path(tmp), args.reviews, args.epochs)
        names = list(SETTINGS)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                before = load_average()
                seconds, after = run(name, project, Path(tmp) / "out.json")
                timed = seconds[1:] or seconds  # the first epoch warms up
                rates[name] += [n_train / s for s in timed]
                lines.append(f"| {r + 1} | {name} | {', '.join(f'{s:.2f}' for s in seconds)} | "
                             f"{before:.1f} -> {after.split('load average:')[-1].strip()} |")
                print(lines[-1], flush=True)
    median = {name: statistics.median(v) for name, v in rates.items()}
    one, two_threads, two_procs = (median[n] for n in names)
    lines += ["", f"training samples: {n_train}", "",
              "| setting | samples/s (median) |", "| --- | ---: |"]
    lines += [f"| {name} | {median[name]:.1f} |" for name in names]
    lines += ["", f"- scaling efficiency, 2 processes vs 1 process x 1 thread: "
                  f"{two_procs / (2 * one):.0%} (speed-up {two_procs / one:.2f}x)",
              f"- 2 processes vs 1 process x 2 threads: {two_procs / two_threads:.2f}x",
              f"- {uptime()}"]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
