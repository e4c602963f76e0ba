"""Epoch checkpoints of a distributed run: one ``.safetensors`` file beside the project.

While a torchrun job trains, rank 0 writes ``NAME.checkpoint.safetensors`` next
to the project it will save (``NAME.json``) at the end of every epoch but the
last: the weights, the optimizer's state, the epoch (which is also the
sampler's epoch) and the history so far, in one file written atomically by
the project's own writer (a temporary file, then one rename). A job that
torchrun restarts after a process died (``--max-restarts``), or that is
started again by hand, finds it and goes on from that epoch. A checkpoint is
used only by the job it belongs to: its key is a hash of what the run starts
from (data source and options, layer stack, training settings, epochs
already trained and the starting weights), so a changed project starts
afresh. When the project is saved at the end, the checkpoint is removed.

>>> checkpoint_path("runs/air.json").name
'air.checkpoint.safetensors'
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from seqstudio.core.errors import ProjectError
from seqstudio.core.project import Project, _atomic_write_bytes, project_json_path
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.distributed import Checkpoint

CHECKPOINT_SUFFIX = ".checkpoint.safetensors"


def checkpoint_path(project_path: str | Path) -> Path:
    """Where the checkpoints of a run that saves to ``project_path`` go."""
    path = project_json_path(project_path)
    return path.with_name(path.stem + CHECKPOINT_SUFFIX)


def job_key(project: Project, config: TrainConfig) -> str:
    """What a run starts from, hashed: a checkpoint with another key is another job's."""
    settings = {k: v for k, v in config.to_dict().items() if k != "threads"}  # chosen per machine
    digest = hashlib.sha256(json.dumps(
        {"source": project.source, "data_options": project.data_options, "model": project.model,
         "train": settings, "epochs": (project.results or {}).get("epochs_total", 0)},
        sort_keys=True, default=str).encode("utf-8"))
    weights = project.weights or {}
    for name in sorted(weights):
        tensor: Any = weights[name]
        digest.update(name.encode("utf-8"))
        digest.update(torch.as_tensor(tensor).detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_checkpoint(path: Path, checkpoint: Checkpoint, job: str) -> None:
    """Write ``checkpoint`` to ``path`` atomically (the old one stays whole until the rename)."""
    from safetensors.torch import save as st_save

    tensors, meta = checkpoint.to_tensors()
    meta["job"] = job
    _atomic_write_bytes(path, st_save(tensors, metadata=meta), "checkpoint")


def read_checkpoint(path: Path, job: str) -> Checkpoint | None:
    """The checkpoint at ``path`` when it belongs to ``job``; None when there is none or it is
    another job's. A file that cannot be read raises :class:`ProjectError`."""
    if not path.exists():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("job") != job:
                return None
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        return Checkpoint.from_tensors(tensors, meta)
    except Exception as exc:  # safetensors' own errors, bad metadata, an unreadable file
        raise ProjectError(f"the checkpoint cannot be read: {type(exc).__name__}: {exc}",
                           where=str(path),
                           fix="delete it to train from the project's own weights") from None


def remove_checkpoint(path: Path) -> None:
    """Remove a checkpoint that the saved project has made useless."""
    path.unlink(missing_ok=True)
