"""Benchmark: an exported model in onnxruntime against the same model in PyTorch eager.

Two measurements, each side by side in one process, rounds interleaved (the
order flips every round so that drift on a shared machine hits both alike):

- **IMDB**: Embedding(10000,128) -> LSTM(128, dropout 0.2, recurrent_dropout 0.2)
  -> Dense(1, sigmoid) on 200-token inputs, at batch 1 and batch 256.
  "torch eager" is the studio's model in evaluation mode under
  ``torch.inference_mode``; "onnxruntime" is the exported ``model.onnx`` in an
  ``InferenceSession`` (CPU). Target: onnxruntime at batch 1 at most 0.5x eager.
- **the exporter's graph** (IMDB): the same model written by torch's exporter
  without seqstudio's exact clean-ups (``core/export/onnx_graph.py``), in the
  same rounds: what the clean-ups save.
- **floor** (IMDB, batch 1): onnxruntime's ``LSTM`` kernel alone with the
  exported weights on a width-1 input, in the same rounds: the recurrence
  (200 dependent ``1x128 @ 128x512`` products and the gates) that any graph
  built on ONNX's ``LSTM`` operator pays, whatever surrounds it. Its ratio to
  eager bounds what graph or session changes can reach.
- **airline**: the seasonal recipe (log, difference, look_back 12, LSTM(16)),
  a 24-step recursive forecast from the whole series: the studio's
  ``PreparedSeries.forecast`` with the torch model against
  ``seqstudio_runtime.Predictor.forecast`` on the ONNX bundle (transforms
  applied and inverted on both sides).

Both libraries get the same thread count (``--threads``, default 1: on a
shared 2-core machine one thread is the steady choice). The weights are those
of a freshly built model: latency does not depend on their values. Reported:
median milliseconds per call and the interquartile range as the noise, plus
the ratio of medians and the ratio's spread over rounds.

Usage::

    python bench/bench_export.py                  # ~1-2 minutes
    python bench/bench_export.py --quick          # seconds: check that it works
    python bench/bench_export.py --threads 2 --rounds 40
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "runtime"))

from seqstudio.core.export import export_model  # noqa: E402 (after the path tweak)
from seqstudio.core.project import Project  # noqa: E402
from seqstudio.pluginapi.manager import builtin_registry  # noqa: E402

OUT = REPO / "bench" / "out"


def _timed(fn, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps * 1000.0


def side_by_side(a, b, rounds: int, reps: int, *others) -> dict[str, float]:
    """Median ms per call of ``a`` and ``b`` over interleaved rounds, IQRs, and the ratio b / a.

    ``others`` run in the same rounds; each gets ``c{i}_ms``, ``c{i}_iqr``, ``c{i}_ratio`` (to ``a``)
    and ``b_over_c{i}`` (the median of the per-round ratios b / c).
    """
    fns = [a, b, *others]
    for fn in fns:  # warm up: first-call allocations and lazy initialisation out of the figures
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            times[i].append(_timed(fns[i], reps))
    ta_, tb_ = np.asarray(times[0]), np.asarray(times[1])
    ratios = tb_ / ta_
    q = lambda v, p: float(np.percentile(v, p))  # noqa: E731
    result = {"a_ms": q(ta_, 50), "a_iqr": q(ta_, 75) - q(ta_, 25), "b_ms": q(tb_, 50),
              "b_iqr": q(tb_, 75) - q(tb_, 25), "ratio": q(tb_, 50) / q(ta_, 50),
              "ratio_p25": q(ratios, 25), "ratio_p75": q(ratios, 75), "rounds": rounds, "reps": reps}
    for i, t in enumerate(times[2:]):
        tc = np.asarray(t)
        result.update({f"c{i}_ms": q(tc, 50), f"c{i}_iqr": q(tc, 75) - q(tc, 25),
                       f"c{i}_ratio": q(tc, 50) / q(ta_, 50), f"b_over_c{i}": q(tb_ / tc, 50)})
    return result


def recurrence_only(model_path: Path, threads: int):
    """A run of onnxruntime's ``LSTM`` kernel with the exported weights on a width-1 input of zeros.

    Its cost is the recurrence alone (200 steps of ``h @ R^T`` and the gates; the input
    projection is 1 column instead of 128): what any graph built on ONNX's ``LSTM``
    operator must pay at batch 1, whatever surrounds it. Returns the callable.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = onnx.load(str(model_path)).graph
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    r, b = weights[lstm.input[2]], weights[lstm.input[3]]
    hidden = r.shape[-1]
    w = np.zeros((1, 4 * hidden, 1), np.float32)
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=hidden)
    probe = helper.make_graph([node], "recurrence", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                                      [200, 1, 1])],
                              [helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
                               numpy_helper.from_array(b, "B")])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(helper.make_model(probe, opset_imports=[helper.make_opsetid("", 17)])
                                   .SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = np.zeros((200, 1, 1), np.float32)
    return lambda: session.run(None, {"x": x})


def exporters_graph(model, example: torch.Tensor, path: Path) -> Path:
    """The ONNX file as torch's exporter writes it, without seqstudio's clean-ups (for comparison)."""
    from unittest import mock

    from seqstudio.core.export import formats
    from seqstudio.core.export.bundle import inference_copy

    with mock.patch.object(formats, "tidy_onnx_file", lambda path: []):
        formats.write_model("onnx", inference_copy(model), example, path)
    return path


def imdb_bench(registry, workdir: Path, rounds: int, quick: bool) -> dict[str, dict]:
    import onnxruntime as ort

    from seqstudio.core.data.prepared import PreparedData
    from seqstudio.core.model.spec import ModelSpec

    project = Project.from_preset("imdb-lstm")
    spec = ModelSpec.from_dict(project.model, registry)
    torch.manual_seed(0)
    model = spec.build((200,), registry=registry).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(3, 10000, (256, 200), generator=gen)
    y = torch.zeros(256, 1)
    data = PreparedData("binary", x, y, x[:0], y[:0], x, y, n_outputs=1, input_is_ids=True,
                        vocab_size=10000)
    export_model(model, data, workdir / "imdb", "onnx", max_check_rows=256)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(workdir / "imdb" / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    raw = ort.InferenceSession(str(exporters_graph(model, x[:2], workdir / "raw.onnx")), options,
                               providers=["CPUExecutionProvider"])
    results = {}
    for batch in (1, 256):
        xb = x[:batch]
        xn = xb.numpy()

        def eager(xb=xb):
            with torch.inference_mode():
                return model(xb)

        def onnx(xn=xn):
            return session.run(None, {"input": xn})

        def onnx_raw(xn=xn):
            return raw.run(None, {"input": xn})

        reps = (20 if batch == 1 else 2) if not quick else 1
        floor = [recurrence_only(workdir / "imdb" / "model.onnx", torch.get_num_threads())] if batch == 1 else []
        results[f"batch {batch}"] = side_by_side(eager, onnx, rounds, reps, onnx_raw, *floor)
    return results


def airline_bench(registry, workdir: Path, rounds: int, quick: bool) -> dict[str, float]:
    from seqstudio_runtime import Predictor

    from seqstudio.core.train.evaluate import predict

    project = Project.from_preset("airline-lstm-seasonal")
    data = project.prepare_data(registry)
    torch.manual_seed(0)
    model = project.build_model(data, registry).eval()
    export_model(model, data, workdir / "airline", "onnx")
    predictor = Predictor.from_bundle(workdir / "airline", threads=torch.get_num_threads())
    history = data.series["Passengers"].to_numpy()

    def studio():
        return data.forecast(lambda w: predict(model, torch.as_tensor(w)), 24)[1]

    def runtime():
        return predictor.forecast(history, 24)

    gap = float(np.max(np.abs(studio().ravel() - runtime().ravel()) / np.abs(studio().ravel())))
    result = side_by_side(studio, runtime, rounds, 1 if quick else 5)
    result["max_relative_difference"] = gap
    return result


def report(results: dict, threads: int) -> str:
    lines = ["# Export: onnxruntime against PyTorch eager", "",
             f"{platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
             f"onnxruntime {_ort_version()}, {threads} thread(s) each; medians of interleaved rounds, "
             "IQR as the noise.", "",
             "| measurement | torch eager ms (IQR) | onnxruntime ms (IQR) | ORT / eager (p25-p75) |",
             "| --- | ---: | ---: | ---: |"]
    for name, r in results["imdb"].items():
        lines.append(f"| IMDB LSTM, {name} | {r['a_ms']:.3f} ({r['a_iqr']:.3f}) | {r['b_ms']:.3f} "
                     f"({r['b_iqr']:.3f}) | {r['ratio']:.2f} ({r['ratio_p25']:.2f}-{r['ratio_p75']:.2f}) |")
        lines.append(f"| {name}: the exporter's graph without the clean-ups (cleaned / this, per round: "
                     f"{r['b_over_c0']:.3f}) | | {r['c0_ms']:.3f} ({r['c0_iqr']:.3f}) | {r['c0_ratio']:.2f} |")
        if "c1_ms" in r:
            lines.append(f"| {name}: onnxruntime's LSTM kernel alone (the floor, see the docstring) | | "
                         f"{r['c1_ms']:.3f} ({r['c1_iqr']:.3f}) | {r['c1_ratio']:.2f} |")
    a = results["airline"]
    lines.append(f"| airline 24-step forecast (studio vs runtime) | {a['a_ms']:.2f} ({a['a_iqr']:.2f}) | "
                 f"{a['b_ms']:.2f} ({a['b_iqr']:.2f}) | {a['ratio']:.2f} "
                 f"({a['ratio_p25']:.2f}-{a['ratio_p75']:.2f}) |")
    b1 = results["imdb"]["batch 1"]["ratio"]
    lines += ["", f"Target: onnxruntime at batch 1 at most 0.5x eager: {b1:.2f}x "
                  f"({'met' if b1 <= 0.5 else 'NOT met'}).",
              f"Airline forecasts agree to {a['max_relative_difference']:.1e} relative."]
    return "\n".join(lines) + "\n"


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 call: check that it runs")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    torch.set_num_threads(args.threads)
    registry = builtin_registry()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"imdb": imdb_bench(registry, Path(tmp), rounds, args.quick),
                   "airline": airline_bench(registry, Path(tmp), rounds, args.quick)}
    text = report(results, args.threads)
    OUT.mkdir(exist_ok=True)
    (OUT / "export.md").write_text(text)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
