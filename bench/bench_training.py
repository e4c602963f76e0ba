"""Per-epoch speed of seqstudio's training engine against a hand-written PyTorch loop.

Two recipes, interleaved in one run (hand, seqstudio, hand, seqstudio, ... with
the order flipped every round, so that machine drift hits both alike):

(a) the lecture's airline recipe: LSTM(4) -> Dense(1), look_back 1, 96 training
    samples, batch size 1, Adam lr 1e-3, MSE, with the 46 test samples
    evaluated after every epoch;
(b) the IMDB recipe: Embedding(10000, 128) -> LSTM(128) -> Dense(1, sigmoid),
    batch 32, sequences of length 200, binary cross-entropy; timed on a subset
    of the 25,000 sequences and extrapolated to a full epoch.

The hand loop is what a PyTorch user writes: ``torch.optim.Adam`` with its
defaults, a shuffled index per epoch, ``model.train()``, zero_grad / backward /
step, evaluation under ``torch.no_grad()``, torch's default thread settings.
seqstudio runs :func:`seqstudio.core.train.loop.train` on the same plain module
("engine") and, when the model builder is importable, on the module built from
the layer specs ("full stack"). Timings are wall-clock seconds per epoch,
median over rounds. The data is random with the recipes' shapes: the time per
step does not depend on the values.

Usage::

    python bench/bench_training.py                 # the real measurement (minutes)
    python bench/bench_training.py --quick         # a seconds-long check that it works

It writes ``bench/out/bench_training.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

from seqstudio.core.data.prepared import PreparedData  # noqa: E402
from seqstudio.core.train.config import TrainConfig  # noqa: E402
from seqstudio.core.train.events import EpochEnded, EpochStarted  # noqa: E402
from seqstudio.core.train.loop import train  # noqa: E402

IMDB_FULL_SEQUENCES = 25_000


# --------------------------------------------------------------------------- models
class AirlineLSTM(nn.Module):
    """LSTM(4) -> Dense(1) on (batch, look_back, 1), as a PyTorch user writes it."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 4, batch_first=True)
        self.dense = nn.Linear(4, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.dense(out[:, -1])


class ImdbLSTM(nn.Module):
    """Embedding(10000, 128) -> LSTM(128) -> Dense(1, sigmoid)."""

    def __init__(self, vocab: int = 10_000, dim: int = 128, units: int = 128):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, units, batch_first=True)
        self.dense = nn.Linear(units, 1)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return torch.sigmoid(self.dense(out[:, -1]))


def built_model(kind: str, input_shape: tuple[int, ...]) -> nn.Module | None:
    """The same recipe built from seqstudio's layer specs, or None when not importable."""
    try:
        from seqstudio.core.model.layers import layer_from_dict
        from seqstudio.core.model.spec import ModelSpec
        from seqstudio.pluginapi.manager import builtin_registry

        registry = builtin_registry()
        if kind == "airline":
            layers = [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}]
        else:
            layers = [{"type": "Embedding", "input_dim": 10_000, "output_dim": 128},
                      {"type": "LSTM", "units": 128},
                      {"type": "Dense", "units": 1, "activation": "sigmoid"}]
        spec = ModelSpec([layer_from_dict(d, registry) for d in layers])
        return spec.build(input_shape, registry=registry)
    except Exception as exc:  # the builder is optional for this bench
        print(f"(full-stack model unavailable: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- data
def airline_data(seed: int = 0) -> PreparedData:
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = torch.rand(96, 1, 1, generator=g), torch.rand(96, 1, generator=g)
    x_test, y_test = torch.rand(46, 1, 1, generator=g), torch.rand(46, 1, generator=g)
    # The test part doubles as the per-epoch validation set, evaluated by both loops.
    return PreparedData("regression", x_train, y_train, x_test, y_test, x_test, y_test, n_outputs=1)


def imdb_data(n: int, length: int, seed: int = 0) -> PreparedData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 10_000, (n, length), generator=g)
    y = torch.randint(0, 2, (n, 1), generator=g).float()
    empty_x, empty_y = x[:0], y[:0]
    return PreparedData("binary", x, y, empty_x, empty_y, empty_x, empty_y, n_outputs=1,
                        input_is_ids=True, vocab_size=10_000)


# --------------------------------------------------------------------------- loops
def hand_loop(model: nn.Module, data: PreparedData, *, epochs: int, batch_size: int,
              loss_fn: Callable, device: str = "cpu") -> list[float]:
    """A plain PyTorch training loop; returns seconds per epoch."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    n = len(x)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss.item()  # what a user logs
        if len(x_val):
            model.eval()
            with torch.no_grad():
                loss_fn(model(x_val), y_val).item()
        times.append(time.perf_counter() - started)
    return times


def engine_loop(model: nn.Module, data: PreparedData, *, epochs: int, batch_size: int,
                loss: str, device: str = "cpu") -> tuple[list[float], int]:
    """seqstudio's train(), consumed like the CLI does; returns seconds per epoch and threads."""
    config = TrainConfig(epochs=epochs, batch_size=batch_size, loss=loss, device=device,
                         learning_rate=1e-3, keep_best_checkpoint=False, restore_best=False)
    times, started, threads = [], 0.0, 0
    for event in train(model, data, config):
        if isinstance(event, EpochStarted):
            started = time.perf_counter()
        elif isinstance(event, EpochEnded):
            times.append(time.perf_counter() - started)
        elif hasattr(event, "result"):
            threads = event.result.threads
    return times, threads


# --------------------------------------------------------------------------- bench
def run(args: argparse.Namespace) -> str:
    torch.manual_seed(0)
    dev = args.device
    airline = airline_data()
    imdb = imdb_data(args.imdb_sequences, args.imdb_length)
    imdb_scale = IMDB_FULL_SEQUENCES / args.imdb_sequences
    rows: dict[str, list[float]] = {}
    threads_seen: dict[str, int] = {}

    def record(name: str, seconds: list[float], scale: float = 1.0, skip_first: bool = True) -> None:
        kept = seconds[1:] if skip_first and len(seconds) > 1 else seconds
        rows.setdefault(name, []).append(statistics.median(kept) * scale)

    def airline_hand():
        record("a hand loop", hand_loop(AirlineLSTM(), airline, epochs=args.airline_epochs,
                                        batch_size=1, loss_fn=F.mse_loss, device=dev))

    def airline_engine():
        times, threads_seen["a"] = engine_loop(AirlineLSTM(), airline, epochs=args.airline_epochs,
                                               batch_size=1, loss="mse", device=dev)
        record("a seqstudio engine", times)
        model = built_model("airline", (1, 1))
        if model is not None:
            record("a seqstudio full stack", engine_loop(model, airline, epochs=args.airline_epochs,
                                                         batch_size=1, loss="mse", device=dev)[0])

    def imdb_hand():
        record("b hand loop", hand_loop(ImdbLSTM(), imdb, epochs=args.imdb_epochs, batch_size=32,
                                        loss_fn=F.binary_cross_entropy, device=dev),
               imdb_scale, skip_first=args.imdb_epochs > 1)

    def imdb_engine():
        times, threads_seen["b"] = engine_loop(ImdbLSTM(), imdb, epochs=args.imdb_epochs,
                                               batch_size=32, loss="bce", device=dev)
        record("b seqstudio engine", times, imdb_scale, skip_first=args.imdb_epochs > 1)
        if args.full_stack_imdb:
            model = built_model("imdb", (args.imdb_length,))
            if model is not None:
                times = engine_loop(model, imdb, epochs=args.imdb_epochs, batch_size=32, loss="bce", device=dev)[0]
                record("b seqstudio full stack", times, imdb_scale, skip_first=args.imdb_epochs > 1)

    for r in range(args.rounds):
        order = [airline_hand, airline_engine, imdb_hand, imdb_engine]
        if r % 2:  # flip who goes first, so drift does not favour one side
            order = [airline_engine, airline_hand, imdb_engine, imdb_hand]
        for job in order:
            job()
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        # Written after every round, so a run cut short still leaves its numbers.
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report(rows, threads_seen, args))
    return report(rows, threads_seen, args)


def report(rows: dict[str, list[float]], threads: dict[str, int], args: argparse.Namespace) -> str:
    med = {k: statistics.median(v) for k, v in rows.items()}
    lines = [
        "# seqstudio training engine vs a hand-written PyTorch loop",
        "",
        f"- machine: {platform.machine()}, {torch.get_num_threads()} torch threads by default, "
        f"torch {torch.__version__}, Python {platform.python_version()}",
        f"- rounds: {args.rounds} (interleaved); airline {args.airline_epochs} epochs per run "
        f"(first dropped); IMDB {args.imdb_sequences} sequences of length {args.imdb_length} x "
        f"{args.imdb_epochs} epoch(s) per run, extrapolated to {IMDB_FULL_SEQUENCES:,}",
        f"- device: {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""),
        f"- seqstudio chose {threads.get('a', '?')} thread(s) for (a), {threads.get('b', '?')} for (b)",
        "",
        "| recipe | loop | s/epoch (median) | rounds | vs hand loop | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for key in sorted(med):
        recipe, loop = key.split(" ", 1)
        hand = med.get(f"{recipe} hand loop")
        ratio = med[key] / hand if hand else float("nan")
        target = "" if loop == "hand loop" else ("<= 1.05x, aim < 1x" if recipe == "a" else "<= 1.05x")
        label = {"a": "(a) airline LSTM(4), batch 1", "b": "(b) IMDB Emb-LSTM(128), batch 32"}[recipe]
        lines.append(f"| {label} | {loop} | {med[key]:.4f} | {len(rows[key])} | {ratio:.3f}x | {target} |")
    lines += ["", "Raw per-round medians (s/epoch):", ""]
    for key in sorted(rows):
        lines.append(f"- {key}: " + ", ".join(f"{v:.4f}" for v in rows[key]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--airline-epochs", type=int, default=11)
    parser.add_argument("--imdb-sequences", type=int, default=640, help="subset timed (20 batches)")
    parser.add_argument("--imdb-length", type=int, default=200)
    parser.add_argument("--imdb-epochs", type=int, default=1)
    parser.add_argument("--full-stack-imdb", action="store_true",
                        help="also time the IMDB model built from seqstudio's layer specs")
    parser.add_argument("--device", default="cpu", help="cpu (the target) or cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it works")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_training.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.airline_epochs, args.imdb_sequences, args.imdb_length = 2, 3, 64, 20
    text = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
