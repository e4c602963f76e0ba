"""Data-parallel training over several processes: PyTorch's DistributedDataParallel under torchrun.

``torchrun --nproc-per-node N -m seqstudio train --project P.json`` starts N
processes (on each of ``--nnodes`` machines) with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``... in their environment. :func:`torchrun_env`
reads them; :meth:`DataParallel.start` joins the process group (gloo on the
CPU, NCCL on CUDA, one GPU per local rank) and the training loop, handed the
:class:`DataParallel`, trains the same model in every process:

- every process sees its share of each epoch's samples from torch's own
  :class:`~torch.utils.data.distributed.DistributedSampler`, re-seeded per
  epoch (``set_epoch``), so a resumed run sees the same order;
- the project's batch size is the **global** batch: each of the ``W``
  processes takes ``batch_size / W`` samples per step (:func:`per_rank_batch`
  refuses a batch that does not divide). Each process's loss is scaled so that
  DDP's gradient average is exactly the gradient of the mean loss over the
  global batch, also for a last, short batch and for the few samples the
  sampler repeats to even out the shares (those count zero);
- one small all-reduce per step gives every process the global batch loss,
  the correct predictions and whether any process was asked to stop (SIGINT /
  SIGTERM), so the NaN guard, early stopping and a stop are decided on the same
  numbers at the same step and no process waits for another forever;
- the validation split is shared out in contiguous parts and its loss reduced.

Nothing here knows about projects or files: the session above writes the
checkpoints (:class:`EpochCheckpoint` hands them over) and the project, in
the process of rank 0 only.

>>> per_rank_batch(32, 4)
8
>>> env = torchrun_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1",
...                     "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"})
>>> env.rank, env.world_size, env.is_main
(1, 2, False)
"""

from __future__ import annotations

import json
import math
import os
import signal
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn

from seqstudio.core.errors import TrainingError
from seqstudio.core.train.events import Stopped
from seqstudio.core.train.optimizers import optimizer_state_dict
from seqstudio.core.train.policies import Policy, RunState
from seqstudio.core.train.threads import free_cores

#: torchrun's variables that say a process is one rank of a job.
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

#: How long a process waits for the others in one collective call before it fails.
PROCESS_GROUP_TIMEOUT = timedelta(minutes=10)
#: The store key naming the current attempt of a job (see DataParallel._attempt_store).
_ATTEMPT_KEY = "seqstudio/attempt"

#: A fault-injection hook for tests: ``ACTION:RANK:EPOCH:STEP`` makes rank RANK, on the
#: job's first attempt only, at the end of step STEP (from 1) of epoch EPOCH, either
#: SIGKILL itself (``kill``), send SIGTERM to its torchrun agent (``term``), or see a
#: NaN loss that no other rank sees (``nan``).
FAULT_ENV = "SEQSTUDIO_TEST_DISTRIBUTED_FAULT"


@dataclass(frozen=True)
class TorchrunEnv:
    """What torchrun tells one process about the job it belongs to."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    master_addr: str
    master_port: int
    #: How many times torchrun restarted the job's processes (0 on the first attempt).
    restart_count: int = 0
    run_id: str = ""

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, writes checkpoints and saves the project."""
        return self.rank == 0


def torchrun_env(env: Mapping[str, str] | None = None) -> TorchrunEnv | None:
    """This process's place in a torchrun job, or None when it was not started by torchrun.

    Raises :class:`TrainingError` when the variables are there but unreadable.
    """
    env = os.environ if env is None else env
    if not all(name in env for name in TORCHRUN_VARS):
        return None
    try:
        world = int(env["WORLD_SIZE"])
        return TorchrunEnv(
            rank=int(env["RANK"]), world_size=world, local_rank=int(env["LOCAL_RANK"]),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", world)),
            master_addr=env["MASTER_ADDR"], master_port=int(env["MASTER_PORT"]),
            restart_count=int(env.get("TORCHELASTIC_RESTART_COUNT", "0") or 0),
            run_id=env.get("TORCHELASTIC_RUN_ID", ""))
    except ValueError as exc:
        raise TrainingError(f"torchrun's environment cannot be read: {exc}",
                            where="RANK / WORLD_SIZE / LOCAL_RANK / MASTER_PORT",
                            fix="start the command with torchrun, which sets them") from None


def per_rank_batch(global_batch: int, world_size: int) -> int:
    """Samples per process and step: the project's batch size is the global batch.

    >>> per_rank_batch(6, 3)
    2
    """
    if global_batch % world_size:
        lower = max(world_size, global_batch - global_batch % world_size)
        higher = global_batch + world_size - global_batch % world_size
        raise TrainingError(
            f"the batch size {global_batch} is the global batch of all {world_size} processes "
            f"and does not divide among them",
            where="training setting 'batch_size'",
            fix=f"use a multiple of {world_size} (e.g. batch_size={lower} or batch_size={higher}), "
                "or start another number of processes")
    return global_batch // world_size


def threads_per_rank(local_world_size: int, free: int | None = None) -> int:
    """CPU threads for each process of this machine: the free cores shared out, at least 1.

    >>> threads_per_rank(2, free=8), threads_per_rank(4, free=2)
    (4, 1)
    """
    free = free_cores() if free is None else free
    return max(1, free // max(1, local_world_size))


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


class DataParallel:
    """One process's side of a data-parallel run; the training loop drives it.

    Parameters
    ----------
    env
        From :func:`torchrun_env`.
    global_batch
        The project's batch size.
    shuffle, seed
        The run's shuffle setting and seed (the sampler's order is ``seed + epoch``).
    """

    def __init__(self, env: TorchrunEnv, global_batch: int, *, shuffle: bool = True,
                 seed: int = 0) -> None:
        self.env = env
        self.world = env.world_size
        self.rank = env.rank
        self.global_batch = global_batch
        self.batch = per_rank_batch(global_batch, self.world)
        self.shuffle = shuffle
        self.seed = seed
        self.backend = ""
        #: CPU threads of each process (None: not fixed).
        self.threads: int | None = None
        self.module: nn.Module | None = None
        #: Set by a signal (or :meth:`request_stop`); shared with the others at the next step.
        self.stop_requested = False
        #: Set when a run ended without an error in this process (every rank then ends alike).
        self.trained = False
        self._fault = _parse_fault(os.environ.get(FAULT_ENV, ""), env)

    def describe(self) -> str:
        """One line for the progress output."""
        threads = (f", {self.threads} CPU thread{'s' if self.threads != 1 else ''} each"
                   if self.threads else "")
        restart = f", restart {self.env.restart_count}" if self.env.restart_count else ""
        return (f"distributed: {self.world} processes ({self.backend or 'not started'}{restart}), "
                f"global batch {self.global_batch} = {self.batch} per process{threads}")

    # -- the process group -----------------------------------------------------------------
    @contextmanager
    def start(self, device: torch.device) -> Iterator[DataParallel]:
        """Join the job's process group (and take this rank's GPU); SIGINT / SIGTERM then ask
        every process to stop after the step under way, instead of killing this one."""
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(self.env.local_rank)
        self.backend = backend_for(device)
        base, store = self._attempt_store()
        dist.init_process_group(self.backend, store=store, rank=self.rank, world_size=self.world,
                                timeout=PROCESS_GROUP_TIMEOUT)
        dist.barrier()  # every rank has read this attempt's key: a later attempt must not find it
        if self.rank == 0:
            base.delete_key(_ATTEMPT_KEY)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        except BaseException:
            # after a run every rank finished (a NaN stop, a save that failed), the others
            # wait at the end for this one; a run that failed leaves them to fail on their own
            if self.trained:
                dist.barrier()
            raise
        else:
            # The job ends together: a process tearing its group down while rank 0 still
            # evaluates and saves can abort in gloo's destructor.
            dist.barrier()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            dist.destroy_process_group()

    def _attempt_store(self) -> tuple[Any, Any]:
        """(torchrun's store, this attempt's part of it).

        torchrun keeps one store for the whole job, and what the processes of a
        killed attempt wrote there stays: the restarted processes would read the
        dead ones' addresses and never connect. So rank 0 names each attempt
        with a fresh token and every process keeps its keys under it.
        """
        import torch.distributed as dist

        agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
        base = dist.TCPStore(self.env.master_addr, self.env.master_port, self.world,
                             is_master=not agent and self.rank == 0,
                             timeout=PROCESS_GROUP_TIMEOUT)
        if self.rank == 0:
            token = uuid.uuid4().hex
            base.set(_ATTEMPT_KEY, token)
        else:
            token = base.get(_ATTEMPT_KEY).decode("ascii")  # waits for rank 0 to set it
        return base, dist.PrefixStore(f"seqstudio/{token}/", base)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_requested = True

    def request_stop(self) -> None:
        """Ask the whole job to stop after the step under way (as SIGINT / SIGTERM do)."""
        self.stop_requested = True

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model as DDP runs it (rank 0's weights are broadcast to all here)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index if device.index is not None else self.env.local_rank] \
            if device.type == "cuda" else None
        self.module = DistributedDataParallel(model, device_ids=ids)
        return self.module

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` in every process (a resumed checkpoint, read by rank 0 alone)."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # -- an epoch --------------------------------------------------------------------------
    def batches(self, n: int) -> int:
        """Steps per epoch: ``ceil(n / global batch)`` in every process alike."""
        return -(-n // self.global_batch)

    def epoch_order(self, epoch: int, n: int) -> torch.Tensor:
        """This process's sample indices for ``epoch``, from torch's DistributedSampler.

        The sampler evens the shares by repeating the first samples; those sit at
        the end of each share (positions ``>= n`` of the padded order), and
        :meth:`batch_weights` counts them zero.
        """
        from torch.utils.data.distributed import DistributedSampler

        # the sampler needs only the length of what it samples
        sampler: DistributedSampler[int] = DistributedSampler(
            range(n), num_replicas=self.world, rank=self.rank,  # type: ignore[arg-type]
            shuffle=self.shuffle, seed=self.seed, drop_last=False)
        sampler.set_epoch(epoch)
        return torch.as_tensor(list(sampler), dtype=torch.long)

    def batch_real(self, step: int, n: int) -> tuple[int, int]:
        """(samples of step ``step`` that are this process's real ones, real samples in the
        whole global batch). Padded samples are the last of a share, so real ones come first."""
        start = step * self.global_batch
        in_batch = min(self.global_batch, n - start)
        # positions start + rank + i * world (i < batch) are real while below n
        mine = max(0, min(self.batch, -(-(n - start - self.rank) // self.world)))
        return mine, in_batch

    def loss(self, per_sample: torch.Tensor, mine: int, in_batch: int) -> torch.Tensor:
        """This process's part of the global batch's mean loss, scaled for DDP's average."""
        return per_sample[:mine].sum() * (self.world / in_batch)

    def step_reduce(self, loss_sum: torch.Tensor, correct: torch.Tensor | None,
                    epoch: int, step: int) -> tuple[float, float, bool]:
        """(global loss sum, global correct count, whether any process asked to stop)."""
        import torch.distributed as dist

        if self._fault is not None and self._fault.nan_at(epoch, step):
            loss_sum = torch.full_like(loss_sum, math.nan)
        values = torch.stack([loss_sum.detach().to(torch.float64),
                              (correct if correct is not None else torch.zeros(())).to(
                                  device=loss_sum.device, dtype=torch.float64),
                              torch.tensor(float(self.stop_requested), dtype=torch.float64,
                                           device=loss_sum.device)])
        dist.all_reduce(values)
        total, right, stops = values.tolist()
        if self._fault is not None:
            self._fault.maybe(epoch, step, lambda: self.stop_requested)
        return total, right, stops > 0

    def val_part(self, n: int) -> slice:
        """This process's contiguous part of a split of ``n`` samples."""
        per = -(-n // self.world)
        return slice(min(n, self.rank * per), min(n, (self.rank + 1) * per))

    def reduce_sums(self, *values: float) -> list[float]:
        """Sums over all processes (validation loss and correct counts)."""
        import torch.distributed as dist

        device = torch.device("cuda") if self.backend == "nccl" else torch.device("cpu")
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """The state a job resumes from: everything at the end of ``epoch``."""

    epoch: int
    weights: dict[str, torch.Tensor]
    optimizer_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Flat tensors and string metadata, as a ``.safetensors`` file holds them."""
        tensors = {f"weights.{k}": v for k, v in self.weights.items()}
        tensors.update({f"optimizer.{k}": v for k, v in self.optimizer_state.items()})
        if self.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        meta = {"epoch": str(self.epoch), "history": json.dumps(self.history, default=float),
                "best_epoch": json.dumps(self.best_epoch)}
        return ({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, meta)

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, str]) -> Checkpoint:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        best = part("best.")
        return cls(epoch=int(meta["epoch"]), weights=part("weights."),
                   optimizer_state=part("optimizer."), history=json.loads(meta["history"]),
                   best_epoch=json.loads(meta.get("best_epoch", "null")), best_state=best or None)


class EpochCheckpoint(Policy):
    """At the end of every epoch but the last, hand the state to resume from to ``write``
    (rank 0 only). The last epoch's state is the run's result, saved with the project; a job
    that dies before that save does the last epoch again from the one before."""

    def __init__(self, write: Callable[[Checkpoint], None], optimizer: str, is_main: bool) -> None:
        self.write = write
        self.optimizer = optimizer
        self.is_main = is_main

    def epoch_end(self, state: RunState, epoch: int, train_loss: float,
                  val_loss: float | None) -> Stopped | None:
        if not self.is_main or epoch >= state.last_epoch or state.optimizer is None or not all(
                math.isfinite(v) for v in (train_loss, val_loss if val_loss is not None else 0.0)):
            return None
        self.write(Checkpoint(
            epoch=epoch, weights=state.last_good or {},
            optimizer_state=optimizer_state_dict(state.optimizer, self.optimizer),
            history=list(state.history), best_epoch=state.best_epoch,
            best_state=state.best_state if state.best_epoch != epoch else None))
        return None


# --------------------------------------------------------------------------- fault injection
@dataclass
class _Fault:
    action: str
    epoch: int
    step: int

    def nan_at(self, epoch: int, step: int) -> bool:
        return self.action == "nan" and (epoch, step) == (self.epoch, self.step)

    def maybe(self, epoch: int, step: int, signalled: Callable[[], bool]) -> None:
        if (epoch, step) != (self.epoch, self.step) or self.action == "nan":
            return
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os.kill(os.getppid(), signal.SIGTERM)  # the torchrun agent: it signals every rank
            # until the agent's signal reaches this rank (the other ranks wait in the next
            # step's all-reduce), so the stop lands at the next step however busy the machine
            import time

            deadline = time.monotonic() + 60
            while not signalled() and time.monotonic() < deadline:
                time.sleep(0.005)


def _parse_fault(text: str, env: TorchrunEnv) -> _Fault | None:
    parts = text.split(":")
    if len(parts) != 4 or parts[0] not in ("kill", "term", "nan") or env.restart_count != 0:
        return None
    try:
        rank, epoch, step = (int(p) for p in parts[1:])
    except ValueError:
        return None
    return _Fault(parts[0], epoch, step) if rank == env.rank else None
