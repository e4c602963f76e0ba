"""How long the Inspect tab takes on a 200-token review with the lecture's IMDB model.

The model is the ``imdb-lstm`` preset's stack, Embedding(10000, 128) ->
LSTM(128) -> Dense(1, sigmoid), with ``--project`` a trained one (the timings do
not depend on the weights, so by default the stack is built untrained). The
review is the first test review of the IMDB sample with at least 200 words
(``--data-dir``, default ``../shared/data``), cut to 200 tokens, encoded with the
Keras word index; without the sample, 200 random word ids.

Per round, side by side (median over ``--rounds``):

* **gates**: the step form of the layer with its fused-kernel check, and the
  prediction after each token (``Inspector.text(..., attributions=False)``);
* **attributions**: integrated gradients to 1 % completeness;
* **draw**: ``InspectView.set_inspection`` until the window is painted (a grab);
  the very first draw, which also makes the plots, is reported once;
* one fused forward of the model on the review, as the yardstick.

Target: the draw at most 300 ms, and gates + draw (what the tab shows before the
attributions arrive) too. Writes ``bench/out/inspect.md``.

    QT_QPA_PLATFORM=offscreen python bench/bench_inspect.py --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def _review(data_dir: Path, length: int) -> str | None:
    import pandas as pd

    path = data_dir / "imdb-reviews-test.csv"
    if not path.is_file():
        return None
    for text in pd.read_csv(path)["review"]:
        words = str(text).replace("<br />", " ").split()
        if len(words) >= length:
            return " ".join(words[:length])
    return None


def _inspector(args):
    import torch

    from seqstudio.core.data.text import TextEncoder
    from seqstudio.core.data.tokens import Vocabulary
    from seqstudio.core.inspect import Inspector
    from seqstudio.core.model.spec import ModelSpec
    from seqstudio.core.project import Project
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()
    if args.project:
        return Inspector.from_project(Project.load(args.project), registry), None
    project = Project.from_preset("imdb-lstm")
    torch.manual_seed(0)
    model = ModelSpec.from_dict(project.model, registry).build((200,), registry=registry)
    index = Path(args.data_dir) / "imdb_word_index.json"
    if index.is_file():
        encoder = TextEncoder(Vocabulary.from_keras_word_index(index, num_words=10000), 200)
        return Inspector(model, encoder=encoder), None
    ids = torch.randint(3, 10000, (200,), generator=torch.Generator().manual_seed(0))
    return Inspector(model), ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--project", help="a trained IMDB project (default: the preset's stack, untrained)")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args(argv)

    import torch
    from PySide6.QtWidgets import QApplication

    from seqstudio.gui.inspect_view import InspectView

    app = QApplication.instance() or QApplication([])
    inspector, ids = _inspector(args)
    text = _review(Path(args.data_dir), 200) if ids is None else None
    if ids is None and text is None:
        ids = torch.randint(3, 10000, (200,), generator=torch.Generator().manual_seed(0))
        inspector.encoder = None
    view = InspectView()
    view.resize(1280, 760)
    view.show()

    def inspect(attributions: bool):
        if text is not None:
            return inspector.text(text, attributions=attributions)
        return inspector._text_ids(ids, [str(int(v)) for v in ids], None, attributions, "random ids")

    times: dict[str, list[float]] = {"forward": [], "gates": [], "attributions": [], "draw": []}
    found = inspect(True)  # warm-up: first calls allocate and load kernels
    t0 = time.perf_counter()
    view.set_inspection(found)  # the first draw also makes the plots
    app.processEvents()
    view.grab()
    first_draw = (time.perf_counter() - t0) * 1000
    x = (inspector.encoder.encode_texts([text])[0] if text is not None else ids).unsqueeze(0)
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        with torch.no_grad():
            inspector.model.eval()(x)
        t1 = time.perf_counter()
        found = inspect(False)
        t2 = time.perf_counter()
        with_ig = inspect(True)
        t3 = time.perf_counter()
        view.set_inspection(with_ig)
        app.processEvents()
        view.grab()  # a full paint of the maps
        t4 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            times[key].append(dt * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    shown = found.stop - found.first
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# bench_inspect", "",
        f"`uptime`: {uptime}", "",
        f"IMDB stack Embedding(10000,128) -> LSTM(128) -> Dense(1); {'trained' if args.project else 'untrained'}; "
        f"{shown} tokens shown of {found.trace.steps}; torch threads {torch.get_num_threads()}; "
        f"median of {args.rounds} rounds, ms", "",
        "| step | median ms | min ms | x one forward |", "| --- | --- | --- | --- |",
    ]
    for key, vals in times.items():
        lines.append(f"| {key} | {med[key]:.1f} | {min(vals):.1f} | {med[key] / med['forward']:.1f} |")
    lines += ["", f"first draw in a new view (makes the plots): {first_draw:.0f} ms", "",
              f"gates + draw (shown before the attributions): {med['gates'] + med['draw']:.0f} ms "
              f"(target <= 300); draw alone {med['draw']:.0f} ms (target <= 300); "
              f"IG used {with_ig.attribution.steps if with_ig.attribution else 0} points, "
              f"completeness gap {with_ig.attribution.relative_gap:.3%}" if with_ig.attribution else ""]
    report = "\n".join(lines) + "\n"
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "inspect.md").write_text(report, encoding="utf-8")
    print(report)
    view.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
