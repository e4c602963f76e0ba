"""Running a project as a torchrun job: starting one rank, and the commands that launch a job.

:func:`start_rank` is what ``seqstudio train`` does in each process torchrun
starts: the CPU threads this rank may use (the machine's free cores shared
among its local ranks, unless ``threads`` is set), the process group (gloo
or NCCL), SIGINT / SIGTERM turned into a stop that all ranks agree on, and
where the epoch checkpoints go. :func:`torchrun_command` and
:func:`slurm_script` write the commands that start such a job for a saved
project (the window's "Run distributed..." dialog shows them).

>>> print(torchrun_command("air.json", nproc_per_node=2))
torchrun --standalone --nproc-per-node 2 --max-restarts 3 -m seqstudio train --project air.json
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seqstudio.core.checkpoint import checkpoint_path
from seqstudio.core.errors import SeqStudioError
from seqstudio.core.train.devices import resolve_device
from seqstudio.core.train.distributed import DataParallel, TorchrunEnv, threads_per_rank

if TYPE_CHECKING:
    from seqstudio.core.session import TrainingSession


@contextmanager
def start_rank(session: TrainingSession, job: TorchrunEnv,
               save_path: Path | None) -> Iterator[tuple[DataParallel, Path | None]]:
    """Join the job as one rank of ``session``'s run; yields ``(parallel, checkpoint path)``.

    The batch size must divide among the ranks (a :class:`TrainingError` otherwise,
    raised before any process waits for another).
    """
    config = session.config
    if config is None:
        raise SeqStudioError("the session has no training settings", fix="call prepare() first")
    device = resolve_device(config.device)
    parallel = DataParallel(job, config.batch_size, shuffle=config.shuffle, seed=config.seed)
    if config.threads is None and device.type == "cpu":
        session.config = config = dataclasses.replace(
            config, threads=threads_per_rank(job.local_world_size))
    parallel.threads = config.threads
    with parallel.start(device):
        yield parallel, (checkpoint_path(save_path) if save_path is not None else None)


# --------------------------------------------------------------------------- launch commands
@dataclass(frozen=True)
class LaunchPlan:
    """How to launch a project's training over several processes and machines."""

    project: str
    nproc_per_node: int = 1
    nnodes: int = 1
    #: ``HOST:PORT`` of the rendezvous (any one of the machines) when ``nnodes > 1``.
    endpoint: str = "HOST:29400"
    max_restarts: int = 3
    job_id: str = "seqstudio"
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("nproc_per_node", "nnodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SeqStudioError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise SeqStudioError(f"max_restarts must be 0 or more, got {self.max_restarts!r}")

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


def torchrun_command(project: str, *, nproc_per_node: int = 1, nnodes: int = 1,
                     endpoint: str = "HOST:29400", max_restarts: int = 3, job_id: str = "seqstudio",
                     extra: tuple[str, ...] = ()) -> str:
    """The ``torchrun`` command that trains ``project`` (one line, shell-quoted).

    On several machines the same command runs on each of them (c10d rendezvous at
    ``endpoint``, one of the machines).

    >>> print(torchrun_command("my runs/air.json", nproc_per_node=4, nnodes=2,
    ...                        endpoint="node1:29400", max_restarts=0))
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint node1:29400 --rdzv-id seqstudio -m seqstudio train --project 'my runs/air.json'
    """
    plan = LaunchPlan(project, nproc_per_node, nnodes, endpoint, max_restarts, job_id, extra)
    parts = ["torchrun"]
    if plan.nnodes > 1:
        parts += ["--nnodes", str(plan.nnodes)]
    else:  # one machine: a local rendezvous on a free port, so two jobs never clash
        parts += ["--standalone"]
    parts += ["--nproc-per-node", str(plan.nproc_per_node)]
    if plan.nnodes > 1:
        parts += ["--rdzv-backend", "c10d", "--rdzv-endpoint", plan.endpoint,
                  "--rdzv-id", plan.job_id]
    if plan.max_restarts:
        parts += ["--max-restarts", str(plan.max_restarts)]
    parts += ["-m", "seqstudio", "train", "--project", plan.project, *plan.extra]
    return shlex.join(parts)


def slurm_script(project: str, *, nproc_per_node: int = 1, nnodes: int = 1, max_restarts: int = 3,
                 gpus: bool = False, time: str = "02:00:00", job_name: str = "seqstudio") -> str:
    """A SLURM batch script that runs the same torchrun command on ``nnodes`` machines.

    The first machine SLURM gives the job hosts the rendezvous; ``srun`` starts
    one torchrun per machine, which starts ``nproc_per_node`` processes.
    """
    plan = LaunchPlan(project, nproc_per_node, nnodes, max_restarts=max_restarts)
    command = torchrun_command(
        project, nproc_per_node=nproc_per_node, nnodes=nnodes, endpoint="$HEAD:29400",
        max_restarts=max_restarts, job_id="$SLURM_JOB_ID")
    if plan.nnodes == 1:  # one machine: no rendezvous to find
        command = torchrun_command(project, nproc_per_node=nproc_per_node, max_restarts=max_restarts)
    # shlex quotes the $ words; the script wants the shell to expand them
    command = command.replace("'$HEAD:29400'", '"$HEAD:29400"').replace(
        "'$SLURM_JOB_ID'", '"$SLURM_JOB_ID"')
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={plan.nnodes}",
        "#SBATCH --ntasks-per-node=1           # one torchrun per machine; it starts the processes",
        f"#SBATCH --cpus-per-task={max(1, nproc_per_node)}",
    ]
    if gpus:
        lines.append(f"#SBATCH --gpus-per-node={nproc_per_node}")
    lines += [
        f"#SBATCH --time={time}",
        "",
        "# the project, its data files and its folder must be on a file system every machine sees",
        "HEAD=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)",
        f"srun {command}",
        "",
    ]
    return "\n".join(lines)
