"""Benchmark: tokenize and encode 25,000 IMDB reviews (the budget is 3 s on the reference machine).

The 5,000 training reviews of the sample (``imdb-reviews-train-part{1,2}.csv``)
are replicated to ``--reviews`` texts (25,000 = the size of the real IMDB
train split). Stages are timed separately, best of ``--repeats`` runs:

- ``tokenize``: :meth:`Tokenizer.tokenize_many` (lower-case, ``<br />`` out, regex findall);
- ``fit``: :meth:`Vocabulary.fit_tokens` with ``num_words=10000``;
- ``encode``: tokens -> ids (start id first, OOV for the rest);
- ``pad``: :func:`pad_sequences` to ``max_len=200``;
- ``encode_texts``: the predict path, text -> padded tensor with a fitted vocabulary.

The budgeted figure is tokenize + fit + encode + pad (what ``prepare_text`` does).

Usage::

    python bench/bench_text.py                      # 25,000 reviews, 3 repeats
    python bench/bench_text.py --reviews 2000 --repeats 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seqstudio.core.data.text import (  # noqa: E402 (after the path tweak, to run from a checkout)
    PreparedText,
    TextOptions,
)
from seqstudio.core.data.tokens import Tokenizer, Vocabulary, pad_sequences  # noqa: E402

BUDGET_S = 3.0


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("SEQSTUDIO_TEST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_reviews(data_dir: Path, n: int) -> list[str]:
    """The sample's training reviews, repeated until there are ``n``."""
    frames = [pd.read_csv(data_dir / f"imdb-reviews-train-part{i}.csv") for i in (1, 2)]
    base = pd.concat(frames)["review"].tolist()
    return (base * (n // len(base) + 1))[:n]


def run_once(texts: list[str], num_words: int, max_len: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tokenizer = Tokenizer()
    tokens = tokenizer.tokenize_many(texts)
    t1 = time.perf_counter()
    vocab = Vocabulary.fit_tokens(tokens, tokenizer, num_words)
    t2 = time.perf_counter()
    ids = vocab.encode_tokens(tokens)
    t3 = time.perf_counter()
    padded = pad_sequences(ids, maxlen=max_len, dtype="int64")
    t4 = time.perf_counter()
    timings.update(tokenize=t1 - t0, fit=t2 - t1, encode=t3 - t2, pad=t4 - t3)
    timings["total"] = t4 - t0
    # Predict path: a reopened project's encoder on the same texts.
    state = {"vocabulary": vocab.to_dict(), "max_len": max_len, "class_names": ["negative", "positive"]}
    encoder = PreparedText.from_fitted_state(state)
    t5 = time.perf_counter()
    x = encoder.encode_texts(texts)
    timings["encode_texts"] = time.perf_counter() - t5
    assert torch.equal(x, torch.from_numpy(padded)), "predict path encodes differently"
    timings["tokens"] = float(sum(map(len, tokens)))
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-words", type=int, default=10_000)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)

    texts = load_reviews(_data_dir(args.data_dir), args.reviews)
    TextOptions(num_words=args.num_words, max_len=args.max_len)  # validate the settings
    runs = [run_once(texts, args.num_words, args.max_len) for _ in range(max(1, args.repeats))]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    chars = sum(map(len, texts))
    print(f"{len(texts)} reviews, {chars / 1e6:.1f} M characters, {int(best['tokens']):,} tokens; "
          f"best of {len(runs)} (torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs)")
    for stage in ("tokenize", "fit", "encode", "pad", "total", "encode_texts"):
        print(f"  {stage:<13} {best[stage]:7.3f} s")
    scaled = best["total"] * 25_000 / len(texts)
    verdict = "within" if scaled <= BUDGET_S else "OVER"
    print(f"tokenize+fit+encode+pad, scaled to 25,000 reviews: {scaled:.2f} s ({verdict} the "
          f"{BUDGET_S:.0f} s budget)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "reviews": len(texts), "characters": chars, "repeats": len(runs),
            "best_s": best, "runs_s": runs, "budget_s": BUDGET_S, "scaled_total_s": scaled,
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
        }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
