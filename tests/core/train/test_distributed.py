"""Data-parallel training under torchrun: the arithmetic alone, then real 2-process gloo jobs.

The jobs run ``python -m torch.distributed.run --standalone`` (a free port per job) on the
embedded airline recipe with batch 2 and shuffling off, and are compared with the same
project trained in one process (this one) with batch 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from seqstudio.core.checkpoint import checkpoint_path, job_key, read_checkpoint, write_checkpoint
from seqstudio.core.errors import ProjectError, TrainingError
from seqstudio.core.project import Project
from seqstudio.core.session import TrainingSession
from seqstudio.core.train.distributed import (
    FAULT_ENV,
    Checkpoint,
    DataParallel,
    per_rank_batch,
    threads_per_rank,
    torchrun_env,
)
from seqstudio.core.train.losses import make_loss
from seqstudio.core.train.policies import BestCheckpoint, EarlyStopping, RunState


def _env(rank: int, world: int) -> dict[str, str]:
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}


# --------------------------------------------------------------------------- the arithmetic
def test_torchrun_env_is_read_only_under_torchrun():
    assert torchrun_env({}) is None
    job = torchrun_env({**_env(1, 4), "TORCHELASTIC_RESTART_COUNT": "2"})
    assert (job.rank, job.world_size, job.restart_count, job.is_main) == (1, 4, 2, False)
    with pytest.raises(TrainingError, match="cannot be read"):
        torchrun_env({**_env(0, 2), "RANK": "zero"})


def test_the_batch_size_is_the_global_batch_and_must_divide():
    assert per_rank_batch(8, 4) == 2
    with pytest.raises(TrainingError) as info:
        per_rank_batch(5, 2)
    assert "global batch" in info.value.what and "batch_size=4" in info.value.fix
    assert threads_per_rank(2, free=5) == 2 and threads_per_rank(3, free=1) == 1


@pytest.mark.parametrize("n,world,batch", [(95, 2, 2), (10, 3, 6), (7, 4, 8), (2, 2, 4), (12, 2, 4)])
def test_shares_weigh_each_real_sample_once_per_global_batch(n, world, batch):
    """Over all ranks, each step's real samples are exactly single-process batch k, each once;
    the sampler's repeated samples (to even the shares) count zero."""
    steps = -(-n // batch)
    for step in range(steps):
        seen = []
        for rank in range(world):
            dp = DataParallel(torchrun_env(_env(rank, world)), batch, shuffle=False)
            order = dp.epoch_order(1, n).tolist()
            sampler = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            assert order == sampler
            mine, in_batch = dp.batch_real(step, n)
            seen += order[step * dp.batch:step * dp.batch + mine]
            assert in_batch == min(batch, n - step * batch)
        assert sorted(seen) == list(range(step * batch, min(n, (step + 1) * batch)))


def test_the_ranks_scaled_losses_average_to_the_global_mean():
    """DDP averages gradients over W ranks: sum_r W / n_real * sum(rank r's losses) / W."""
    loss = make_loss("mse", False, "none")
    out, target = torch.randn(5, 3), torch.randn(5, 3)
    per = loss(out, target)
    assert torch.allclose(per.mean(), make_loss("mse", False)(out, target))
    world = 2
    dp = DataParallel(torchrun_env(_env(0, world)), 6, shuffle=False)
    parts = [dp.loss(per[:3], 3, 5), dp.loss(per[3:], 2, 5)]
    assert torch.allclose(sum(parts) / world, per.mean())
    ce = make_loss("cross_entropy", False, "none")
    logits, ids = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    assert torch.allclose(ce(logits, ids).mean(), torch.nn.functional.cross_entropy(logits, ids))


def test_resumed_policies_remember_the_best_epoch_and_the_wait():
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.5},
               {"epoch": 2, "train_loss": 0.9, "val_loss": 0.6}]
    state = RunState(torch.nn.Linear(1, 1), start_epoch=2, last_epoch=10, has_val=True)
    stopper, best = EarlyStopping(patience=2), BestCheckpoint()
    stopper.resume(state, history)
    best.resume(state, history)
    assert state.best_epoch == 1 and best.best == 0.5
    assert stopper.epoch_end(state, 3, 1.0, 0.7).reason == "early_stopping"  # 2 epochs without 0.5


def test_checkpoints_round_trip_and_belong_to_their_job(tmp_path):
    ck = Checkpoint(epoch=3, weights={"w": torch.arange(4.0)}, optimizer_state={"adam.0.step": torch.tensor(9.0)},
                    history=[{"epoch": 3, "train_loss": 0.25, "val_loss": None}], best_epoch=2,
                    best_state={"w": torch.ones(4)})
    path = checkpoint_path(tmp_path / "air.json")
    write_checkpoint(path, ck, "job-a")
    back = read_checkpoint(path, "job-a")
    assert back.epoch == 3 and back.history == ck.history and back.best_epoch == 2
    assert torch.equal(back.weights["w"], ck.weights["w"]) and torch.equal(back.best_state["w"], torch.ones(4))
    assert torch.equal(back.optimizer_state["adam.0.step"], torch.tensor(9.0))
    assert read_checkpoint(path, "job-b") is None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ProjectError, match="checkpoint cannot be read"):
        read_checkpoint(path, "job-a")


def test_the_job_key_changes_with_what_the_run_starts_from():
    p = Project.from_preset("airline-lstm")
    key = job_key(p, p.train_config())
    assert key == job_key(p, p.train_config(threads=3))  # threads are chosen per machine
    assert key != job_key(p, p.train_config(learning_rate=0.01))


def test_cli_refuses_a_batch_that_does_not_divide_before_any_process_waits(monkeypatch, capsys, tmp_path):
    from seqstudio.cli import main

    for name, value in _env(0, 2).items():
        monkeypatch.setenv(name, value)
    code = main(["train", "--preset", "airline-lstm", "--batch-size", "3", "--epochs", "1",
                 "--save", str(tmp_path / "air.json"), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "batch size 3 is the global batch of all 2 processes" in err
    assert "--batch-size 2" in err and "Traceback" not in err
    monkeypatch.delenv("RANK")  # and without torchrun nothing changes
    assert not (tmp_path / "air.json").exists()


# --------------------------------------------------------------------------- real jobs
EPOCHS = 4


@pytest.fixture(scope="module")
def project_file(tmp_path_factory) -> Path:
    """The airline recipe with batch 2, shuffling off and fixed starting weights; the last 20 %
    of the training windows held out, so validation (shared out among the ranks) and the best
    epoch's weights (kept in checkpoints) are part of every comparison."""
    from seqstudio.pluginapi.manager import builtin_registry

    folder = tmp_path_factory.mktemp("ddp")
    p = Project.from_preset("airline-lstm")
    p.train.update(batch_size=2, shuffle=False, epochs=EPOCHS, seed=0, validation_fraction=0.2)
    registry = builtin_registry()
    torch.manual_seed(0)
    p.set_weights(p.build_model(p.prepare_data(registry), registry))
    return p.save(folder / "air.json")


@pytest.fixture(scope="module")
def one_process(project_file):
    """The reference: the same project trained here, in one process, batch 2."""
    from seqstudio.pluginapi.manager import builtin_registry

    session = TrainingSession(Project.load(project_file), builtin_registry())
    for _ in session.run():
        pass
    return session.project


def torchrun(project: Path, save: Path, *extra: str, fault: str = "", timeout: int = 240):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", FAULT_ENV)}
    if fault:
        env[FAULT_ENV] = fault
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           *extra, "-m", "seqstudio", "train", "--project", str(project), "--save", str(save), "-q"]
    return subprocess.run(cmd, cwd=save.parent, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _curve(project: Project) -> list[float]:
    return [row["train_loss"] for row in project.results["history"]]


def _assert_same_run(got: Project, want: Project) -> None:
    np.testing.assert_allclose(_curve(got), _curve(want), rtol=1e-5)
    val = [[row["val_loss"] for row in p.results["history"]] for p in (got, want)]
    assert None not in val[1]
    np.testing.assert_allclose(val[0], val[1], rtol=1e-5)
    assert got.results["best_epoch"] == want.results["best_epoch"]
    assert got.weights.keys() == want.weights.keys()
    for name in want.weights:
        np.testing.assert_allclose(got.weights[name].numpy(), want.weights[name].numpy(),
                                   rtol=1e-5, atol=1e-7, err_msg=name)


def test_two_gloo_processes_train_exactly_like_one_with_the_global_batch(project_file, one_process):
    save = project_file.with_name("ddp.json")
    proc = torchrun(project_file, save)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = Project.load(save)
    assert len(_curve(got)) == EPOCHS
    _assert_same_run(got, one_process)
    assert len(got.runs) == 1 and got.runs[0]["epochs_run"] == EPOCHS  # one record, by rank 0
    assert not checkpoint_path(save).exists()  # the saved project made it useless


def test_a_rank_killed_mid_epoch_restarts_from_the_last_checkpoint_and_finishes(project_file,
                                                                                 one_process):
    save = project_file.with_name("killed.json")
    # rank 1 SIGKILLs itself after step 1 of epoch 2 (checkpoint of epoch 1 written), first attempt only
    proc = torchrun(project_file, save, "--max-restarts", "1", fault="kill:1:2:1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "exitcode: -9" in out  # the kill happened, torchrun restarted the job
    assert "went on from the checkpoint of epoch 1" in proc.stdout
    got = Project.load(save)  # schema-checked: the file is whole
    json.loads(save.read_text(encoding="utf-8"))
    assert [row["epoch"] for row in got.results["history"]] == list(range(1, EPOCHS + 1))
    _assert_same_run(got, one_process)  # weights, Adam's moments and sampler epoch all restored
    assert not checkpoint_path(save).exists()


def test_sigterm_stops_every_rank_together_and_saves_the_last_weights(project_file):
    save = project_file.with_name("stopped.json")
    # rank 1 sends SIGTERM to torchrun after step 1 of epoch 2; torchrun signals every rank
    proc = torchrun(project_file, save, fault="term:1:2:1")
    assert "stopped by the user" in proc.stdout, (proc.stdout + proc.stderr)[-3000:]
    got = Project.load(save)
    assert got.results["stopped_reason"] == "user"
    assert [row["epoch"] for row in got.results["history"]] == [1]
    assert got.runs[-1]["history"][-1]["epoch"] == 1
    assert got.results["best_epoch"] == 1 and got.weights  # the best (only) epoch's weights kept


def test_a_nan_loss_seen_by_one_rank_stops_every_rank_at_the_same_step(project_file):
    save = project_file.with_name("nan.json")
    # only rank 1 sees a NaN loss, at step 3 of epoch 2: the summed loss is NaN on both ranks
    proc = torchrun(project_file, save, fault="nan:1:2:3")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0  # rank 0 exits 2, as a NaN stop does without torchrun
    assert "the loss became nan at batch 3 of epoch 2" in out, out[-3000:]
    assert "the last good weights were saved" in proc.stderr
    got = Project.load(save)
    assert got.results["stopped_reason"] == "nan"
    assert [row["epoch"] for row in got.results["history"]] == [1]
    assert "exitcode: 2" in proc.stderr  # rank 0's user error; no rank waited for another
