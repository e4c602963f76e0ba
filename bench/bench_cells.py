"""Training-time benchmark of the recurrent paths on the lecture's IMDB model.

Embedding(10000, 128) -> recurrent(128) -> Dense(1, sigmoid), batch 32, length
200, BCE loss, Adam. Times a few optimizer steps per variant (after warm-up)
and extrapolates to an epoch of 25,000 reviews:

* ``fused``: the built-in LSTM (torch.nn.LSTM kernel);
* ``fused+rd0.2``: the same with recurrent_dropout=0.2 (weight-drop); target <= 1.10x;
* ``fused+d0.2+rd0.2``: the lecture's layer, dropout=0.2 and recurrent_dropout=0.2;
  target <= 1.10x of ``fused``;
* ``step-<mode>``: the built-in lecture-equation LSTM cell *without* its fused
  implementation, run by the step loop (``auto`` = TorchScript trace,
  ``compile`` = torch.compile, ``eager``); target <= 2.5x;
* ``nn.LSTMCell loop``: a hand-written per-step loop over torch's LSTMCell.

Writes a markdown report to ``bench/out/cells.md``.

    python bench/bench_cells.py                  # the real measurement
    python bench/bench_cells.py --tiny           # check it runs (seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from seqstudio_builtins.cells import BUILTIN_CELLS  # noqa: E402

from seqstudio.core.model.cells import RecurrentLayer  # noqa: E402
from seqstudio.core.registry import CellType  # noqa: E402

LSTM_CELL = next(c for c in BUILTIN_CELLS if c.name == "lstm")
STEP_ONLY = dataclasses.replace(LSTM_CELL, name="lecture_lstm", fused_factory=None)


class LSTMCellLoop(nn.Module):
    """The plain baseline as usually written: torch.nn.LSTMCell on x[:, t], once per time step."""

    def __init__(self, input_size: int, units: int):
        super().__init__()
        self.cell = nn.LSTMCell(input_size, units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.cell.hidden_size)
        c = torch.zeros_like(h)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return h


def make_model(variant: str, vocab: int, embed: int, units: int) -> nn.Module:
    if variant == "nn.LSTMCell loop":
        rec = LSTMCellLoop(embed, units)
    else:
        cell: CellType = LSTM_CELL if variant.startswith("fused") else STEP_ONLY
        mode = variant.split("-", 1)[1] if variant.startswith("step-") else "auto"
        rd = 0.2 if "rd0.2" in variant else 0.0
        d = 0.2 if "+d0.2" in variant else 0.0
        rec = RecurrentLayer(cell, embed, units, dropout=d, recurrent_dropout=rd, compile_mode=mode)
    return nn.Sequential(nn.Embedding(vocab, embed), rec, nn.Linear(units, 1), nn.Sigmoid())


def time_variant(variant: str, args) -> list[float]:
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = make_model(variant, args.vocab, args.embed, args.units).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters())
    loss_fn = nn.BCELoss()
    x = torch.randint(0, args.vocab, (args.batch_size, args.length), device=device)
    y = torch.randint(0, 2, (args.batch_size, 1), device=device).float()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.batches):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20, help="timed optimizer steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    parser.add_argument("--variants", default="fused,fused+rd0.2,fused+d0.2+rd0.2,step-auto,"
                                              "nn.LSTMCell loop,fused,fused+rd0.2,fused+d0.2+rd0.2,"
                                              "step-auto",
                        help="comma-separated; step-compile (torch.compile) is opt-in")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, just check it runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cells.md")
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch_size, args.length, args.vocab, args.embed, args.units = 4, 12, 50, 8, 8
        args.batches, args.warmup = 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    samples_per_epoch = 25000
    batches_per_epoch = -(-samples_per_epoch // args.batch_size)
    # A variant may be listed twice (interleaved rounds against drift); its timings pool.
    samples: dict[str, list[float]] = {}
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        times = time_variant(variant, args)
        samples.setdefault(variant, []).extend(times)
        print(f"{variant:>20}: {statistics.median(times) * 1e3:8.2f} ms/batch", flush=True)
    results = {variant: statistics.median(times) for variant, times in samples.items()}

    base = results.get("fused")
    lines = [
        "# Recurrent paths: training time per batch",
        "",
        f"Embedding({args.vocab}, {args.embed}) -> LSTM({args.units}) -> Dense(1, sigmoid); "
        f"batch {args.batch_size}, length {args.length}; median of {args.batches} Adam steps per round "
        f"after {args.warmup} warm-up; torch {torch.__version__}, device {args.device}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}.",
        "",
        "| variant | ms / batch | epoch of 25,000 (s, extrapolated) | x fused | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    targets = {"fused+rd0.2": "<= 1.10x", "fused+d0.2+rd0.2": "<= 1.10x", "step-auto": "<= 2.5x", "step-compile": "<= 2.5x"}
    for variant, sec in results.items():
        ratio = f"{sec / base:.2f}" if base else "-"
        lines.append(f"| {variant} | {sec * 1e3:.2f} | {sec * batches_per_epoch:.1f} | {ratio} | "
                     f"{targets.get(variant, '')} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
