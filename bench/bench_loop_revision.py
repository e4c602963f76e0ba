"""The training loop of this checkout against the loop of an earlier git revision, side by side.

A refactor of :mod:`seqstudio.core.train.loop` must not slow the loop down. This
script loads ``seqstudio/core/train/loop.py`` as it was at ``--rev`` (from git)
next to the current one and times both on the batch-size-1 airline recipe
(LSTM(4) -> Dense(1), 96 samples, Adam, MSE, validation every epoch: the case
where per-step overhead is everything), interleaved round by round with the
order flipped every round, so machine drift hits both alike. The old loop runs
on today's config, events, devices and optimizers modules: only the loop differs.

Usage::

    python bench/bench_loop_revision.py --rev HEAD~1
    python bench/bench_loop_revision.py --rev main --quick

It writes ``bench/out/bench_loop_revision.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_training import AirlineLSTM, airline_data  # noqa: E402

from seqstudio.core.train import loop as current_loop  # noqa: E402
from seqstudio.core.train.config import TrainConfig  # noqa: E402
from seqstudio.core.train.events import EpochEnded, EpochStarted  # noqa: E402


def loop_at(rev: str) -> ModuleType:
    """``seqstudio/core/train/loop.py`` as it was at git revision ``rev``, imported under a private name."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:seqstudio/core/train/loop.py"],
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("_bench_loop_at_rev", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev}:loop.py", "exec"), module.__dict__)
    return module


def epoch_seconds(train_fn, epochs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds per epoch (the first epoch, which warms up, left out).

    The recipe trains on one thread, so the CPU time of this process is the
    steadier figure on a shared machine, where the wall clock also counts the
    time other processes held the core.
    """
    torch.manual_seed(0)
    # One pinned thread: this times the loop, not the thread tuner's choice (which follows the load).
    config = TrainConfig(epochs=epochs, batch_size=1, loss="mse", learning_rate=1e-3,
                         early_stopping_patience=epochs, device="cpu", threads=1)
    wall, cpu, started, started_cpu = [], [], 0.0, 0.0
    for event in train_fn(AirlineLSTM(), airline_data(), config):
        if isinstance(event, EpochStarted):
            started, started_cpu = time.perf_counter(), time.process_time()
        elif isinstance(event, EpochEnded):
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default="HEAD~1", help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it works")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_loop_revision.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs = 2, 3
    old = loop_at(args.rev)
    rows: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for r in range(args.rounds):
        order = [("old", old.train), ("new", current_loop.train)]
        for name, fn in order if r % 2 == 0 else reversed(order):
            rows[name].append(epoch_seconds(fn, args.epochs))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    lines = []
    for i, clock in enumerate(("wall-clock", "CPU")):
        old_s = statistics.median(t[i] for t in rows["old"])
        new_s = statistics.median(t[i] for t in rows["new"])
        per_round = ", ".join(f"{n[i] / o[i]:.3f}" for n, o in zip(rows["new"], rows["old"], strict=True))
        lines.append(f"| {clock} | {old_s:.4f} | {new_s:.4f} | **{new_s / old_s:.3f}** | {per_round} |")
    text = (f"# Training loop: this checkout against {args.rev}\n\n"
            f"Airline recipe, batch size 1, 96 steps + validation per epoch; medians over "
            f"{args.rounds} interleaved rounds of {args.epochs} epochs, torch {torch.__version__}.\n\n"
            f"| clock | {args.rev} s / epoch | this checkout s / epoch | new / old | per round |\n"
            f"| --- | --- | --- | --- | --- |\n" + "\n".join(lines) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
