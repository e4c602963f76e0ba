"""Take a trained model out of the studio: a self-checked bundle (ONNX, TorchScript, torch.export).

:func:`export_project` / :func:`export_model` write the model file, its
``preprocessing.json``, a ``model-card.md`` and example inputs with their
expected outputs, after checking the file in its own runtime against the
studio's model (see :mod:`seqstudio.core.export.bundle`).
"""

from seqstudio.core.export.bundle import (
    TOLERANCE,
    ExportCheck,
    ExportError,
    ExportResult,
    export_model,
    export_project,
)
from seqstudio.core.export.formats import FORMATS, MODEL_FILES

__all__ = ["FORMATS", "MODEL_FILES", "TOLERANCE", "ExportCheck", "ExportError", "ExportResult",
           "export_model", "export_project"]
