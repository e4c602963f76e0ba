"""The three files a model can leave the studio as, and the runtime that reads each back.

===================  ==================  =============================================
format               file                runtime that loads it for the self-check
===================  ==================  =============================================
``onnx``             ``model.onnx``      onnxruntime (CPU), opset 17
``torchscript``      ``model.ts``        ``torch.jit.load``
``exported-program`` ``model.pt2``       ``torch.export.load(...).module()``
===================  ==================  =============================================

Each writer records the model on an example batch of two (never one: a tracer
may treat a size-one axis as a constant) with the batch axis declared dynamic,
so the file runs at any batch size. ONNX uses torch's TorchScript-based
exporter (``dynamo=False``): it maps ``nn.LSTM`` / ``GRU`` / ``RNN`` to ONNX's
own recurrent operators with a dynamic batch, and needs neither ``onnxscript``
nor a dynamo graph capture. The written graph then gets the exact clean-ups of
:mod:`~seqstudio.core.export.onnx_graph` (data movement around the recurrent
operators that onnxruntime would otherwise run on every call).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seqstudio.core.errors import SeqStudioError

__all__ = ["FORMATS", "MODEL_FILES", "INPUT_NAME", "OUTPUT_NAME", "ONNX_OPSET", "write_model",
           "tidy_onnx_file", "load_runner", "require_runtime"]

#: The formats, in the order menus show them.
FORMATS: tuple[str, ...] = ("onnx", "torchscript", "exported-program")
#: The model file each format writes, inside the bundle folder.
MODEL_FILES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.ts",
                               "exported-program": "model.pt2"}
INPUT_NAME = "input"
OUTPUT_NAME = "output"
ONNX_OPSET = 17

Runner = Callable[[np.ndarray], np.ndarray]


def require_runtime(fmt: str) -> None:
    """Raise a :class:`SeqStudioError` saying what to install when ``fmt`` cannot be checked here."""
    if fmt not in FORMATS:
        raise SeqStudioError(f"unknown export format {fmt!r}", fix=f"choose one of: {', '.join(FORMATS)}")
    if fmt == "onnx":
        missing = [name for name in ("onnx", "onnxruntime") if not _importable(name)]
        if missing:
            raise SeqStudioError(
                f"exporting to ONNX needs the {' and '.join(missing)} package(s), which are not installed",
                fix="pip install 'seqstudio[export]' (or: pip install onnx onnxruntime)")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def write_model(fmt: str, module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write ``module`` (in evaluation mode) to ``path`` in ``fmt``; exporter errors propagate."""
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter's deprecation notice and tracer warnings about Python values
        # are expected here; the self-check, not a warning, decides whether the file is right.
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(module, (example,), str(path), dynamo=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              opset_version=ONNX_OPSET, do_constant_folding=True)
            tidy_onnx_file(path)
        elif fmt == "torchscript":
            traced = torch.jit.trace(module, (example,), check_trace=False)
            torch.jit.save(traced, str(path))
        elif fmt == "exported-program":
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
            torch.export.save(program, str(path))
        else:  # pragma: no cover - callers check the format first
            raise ValueError(fmt)


def tidy_onnx_file(path: Path) -> list[str]:
    """Rewrite the ONNX file at ``path`` with the exact clean-ups of :mod:`.onnx_graph`.

    Returns what was rewritten. The file is left as the exporter wrote it when nothing
    matches, or when the clean-up fails or its graph does not pass ``onnx.checker``: the
    clean-ups only save time, so a graph they do not understand is exported as it is.
    """
    import onnx

    from seqstudio.core.export.onnx_graph import tidy_recurrent_graph

    model = onnx.load(str(path))
    try:
        done = tidy_recurrent_graph(model)
        if done:
            onnx.checker.check_model(model)
    except Exception:  # noqa: BLE001 - see above; the self-check then runs on the exporter's file
        return []
    if done:
        onnx.save(model, str(path))
    return done


def load_runner(fmt: str, path: Path) -> Runner:
    """Load the written file in its own runtime: a function from a numpy batch to numpy outputs."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
    if fmt == "torchscript":
        loaded = torch.jit.load(str(path), map_location="cpu")
        loaded.eval()
    else:
        loaded = torch.export.load(str(path)).module()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return loaded(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return run
