"""The thread tuner against a simulated machine (a fake clock whose batch cost depends on the
thread count and on a load that changes), the thread budgets of parallel jobs, and the
tuner inside a real training run."""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
import sys
import time

import pytest
import torch

from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.events import Finished, ThreadsChosen
from seqstudio.core.train.loop import train
from seqstudio.core.train.threads import (
    ParallelPlan,
    ThreadTuner,
    parallel_plan,
    prepare_openmp_env,
    thread_candidates,
    too_small_to_split,
)

from .test_training import TinyRegressor, series_data

# ms per batch of 32 on 2 cores (the IMDB-shaped model; see the module doc of threads.py)
IDLE = {1: 0.086, 2: 0.051}
ONE_BUSY = {1: 0.087, 2: 0.160}


class Machine:
    """A clock that advances by the cost of each batch on the thread count in force."""

    def __init__(self, costs):
        self.costs = costs
        self.now = 0.0
        self.threads_set: list[int] = []

    def clock(self) -> float:
        return self.now

    def set_threads(self, n: int) -> None:
        self.threads_set.append(n)

    def tuner(self, **kw) -> ThreadTuner:
        kw.setdefault("first", 2)
        kw.setdefault("batch_size", 32)
        return ThreadTuner([1, 2], set_threads=self.set_threads, clock=self.clock, **kw)

    def run(self, tuner: ThreadTuner, batches: int, samples: int = 32) -> list:
        decisions = []
        for _ in range(batches):
            tuner.batch_started()
            self.now += self.costs[tuner.threads] * samples / 32
            change = tuner.batch_ended(samples)
            if change is not None:
                decisions.append(change)
        return decisions


def best_fixed(costs, batches: int) -> float:
    return min(costs.values()) * batches


def test_idle_machine_chooses_all_threads_and_says_why():
    m = Machine(IDLE)
    tuner = m.tuner(first=1)
    decisions = m.run(tuner, 20)
    assert tuner.threads == 2 and m.threads_set[-1] == 2
    assert decisions and decisions[0].threads == 2
    assert "51 ms a batch" in tuner.reason and "86 ms on 1" in tuner.reason
    assert tuner.measured == pytest.approx({1: 0.086 / 32, 2: 0.051 / 32})


def test_one_busy_process_chooses_one_thread():
    m = Machine(ONE_BUSY)
    tuner = m.tuner()
    m.run(tuner, 20)
    assert tuner.threads == 1
    assert tuner.reason.startswith("1 thread: 87 ms a batch against 160 ms on 2")


def test_load_that_starts_mid_run_is_noticed_from_the_drift_and_the_choice_follows():
    m = Machine(IDLE)
    tuner = m.tuner()
    m.run(tuner, 30)
    assert tuner.threads == 2
    m.costs = ONE_BUSY
    started = m.now
    decisions = m.run(tuner, 200)
    assert tuner.threads == 1
    assert any(d.threads == 1 and "drifted" in d.reason for d in decisions)
    # the drift was seen within a handful of batches, not at the next timer
    switch = next(i for i, t in enumerate(m.threads_set) if t == 1 and i > 2)
    assert switch < 12
    assert m.now - started <= 1.10 * best_fixed(ONE_BUSY, 200)


def test_load_that_ends_is_found_by_the_regular_recheck():
    m = Machine(ONE_BUSY)
    tuner = m.tuner()
    m.run(tuner, 30)
    assert tuner.threads == 1
    m.costs = IDLE  # 1 thread gets no faster: only a re-check can find that 2 now win
    decisions = m.run(tuner, 2000)  # 2000 batches of ~51 ms: about 100 s
    assert tuner.threads == 2
    assert any(d.threads == 2 and "re-check" in d.reason for d in decisions)


@pytest.mark.parametrize("costs", [IDLE, ONE_BUSY], ids=["idle", "one-busy"])
def test_probing_costs_little_over_a_long_steady_run(costs):
    m = Machine(costs)
    tuner = m.tuner()
    m.run(tuner, 3000)
    assert m.now <= 1.03 * best_fixed(costs, 3000)


class Load:
    """Free cores as the watch would sample them, set by the test."""

    def __init__(self, free: int):
        self.free, self.calls = free, 0

    def __call__(self) -> int:
        self.calls += 1
        return self.free


def test_one_busy_process_seen_at_the_start_costs_no_batch_on_two_threads():
    m = Machine({1: 0.087, 2: 4.0})  # one spinning process: a 2-thread batch took seconds
    tuner = m.tuner(free_cores=Load(1))
    decisions = m.run(tuner, 40)
    assert set(m.threads_set) == {1}  # not even the first batch on 2 threads
    assert tuner.threads == 1 and decisions and decisions[0].threads == 1
    assert tuner.reason.startswith("1 thread: 1 of 2 cores free, other processes busy on the rest")
    assert m.now == pytest.approx(40 * 0.087)


def test_cores_that_come_free_are_probed_and_used_and_a_busy_process_that_comes_back_is_left_alone():
    m = Machine({1: 0.087, 2: 4.0})
    load = Load(1)
    tuner = m.tuner(free_cores=load)
    m.run(tuner, 20)
    assert tuner.threads == 1
    m.costs, load.free = IDLE, 2  # the other process ended
    decisions = m.run(tuner, 60)
    assert tuner.threads == 2
    assert any(d.threads == 2 and "cores came free" in d.reason for d in decisions)
    m.costs, load.free = ONE_BUSY, 1  # and came back: 2-thread batches slow down
    started = m.now
    m.run(tuner, 200)
    assert tuner.threads == 1 and m.threads_set[-1] == 1  # the drift found it
    assert m.now - started <= 1.10 * best_fixed(ONE_BUSY, 200)
    m.run(tuner, 400)  # the next check sees one free core: it settles without a 2-thread batch
    assert tuner.reason.startswith("1 thread: 1 of 2 cores free") and m.threads_set[-1] == 1


def test_a_process_that_only_flashes_by_does_not_hide_a_free_core():
    samples = iter([2, 1, 2, 1, 1, 2] * 1000)
    m = Machine(IDLE)
    tuner = m.tuner(free_cores=lambda: next(samples))
    m.run(tuner, 40)
    assert tuner.threads == 2 and "51 ms a batch" in tuner.reason


def test_a_candidate_far_slower_than_the_best_is_dropped_after_one_batch():
    heavy = {1: 0.1, 2: 3.0}  # 2 threads at a high load average
    m = Machine(heavy)
    tuner = m.tuner(first=1)
    decisions = m.run(tuner, 12)
    assert decisions and not tuner.probing and tuner.threads == 1
    assert m.threads_set == [1, 2, 1]  # one batch on 2 threads, then never again
    assert m.now < 12 * 0.1 + 3.0 + 1e-9


def test_probing_interleaves_the_candidates_so_a_changing_load_hits_them_alike():
    m = Machine(IDLE)
    tuner = m.tuner(first=2, probe_batches=3)
    per_batch = []
    for _ in range(14):
        tuner.batch_started()
        per_batch.append(tuner.threads)
        m.now += m.costs[tuner.threads]
        tuner.batch_ended(32)
    # warm-up on 2, then 2 1 1 2 2 1 (the first batch on 1 is its untimed warm-up)
    assert per_batch[:9] == [2, 2, 1, 1, 1, 2, 2, 1, 2]
    assert tuner.threads == 2


def test_the_timer_backs_off_while_the_choice_holds():
    m = Machine(IDLE)
    tuner = m.tuner()
    decisions = m.run(tuner, 20_000)  # ~1000 s
    gaps = [b.batch - a.batch for a, b in itertools.pairwise(decisions)]
    assert gaps == sorted(gaps) or max(gaps) >= 160 / 0.051 * 0.9
    assert len(decisions) < 15


def test_pinned_threads_are_set_once_and_never_probed():
    m = Machine(IDLE)
    tuner = m.tuner(pinned=1)
    assert m.run(tuner, 100) == []
    assert m.threads_set == [1] and tuner.threads == 1
    assert "as asked" in tuner.reason


def test_partial_batches_are_compared_per_sample():
    m = Machine(IDLE)
    tuner = m.tuner(first=1)
    for samples in [32, 32, 32, 8, 32, 8, 32, 32]:
        tuner.batch_started()
        m.now += m.costs[tuner.threads] * samples / 32
        tuner.batch_ended(samples)
    assert tuner.threads == 2


def test_thread_candidates():
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(1) == [1]
    assert set(thread_candidates(16, cores=16)) >= {1, 8, 16}


def test_parallel_jobs_never_get_more_busy_threads_than_free_cores():
    for cores, busy, jobs in itertools.product([1, 2, 4, 16], [0, 1, 3, 20], [1, 2, 5, 64]):
        plan = parallel_plan(jobs, cores=cores, busy=busy)
        free = max(1, cores - busy)
        assert plan.workers * plan.threads <= free
        assert 1 <= plan.workers <= jobs
        assert plan.workers == min(jobs, free)


def test_a_parallel_plan_gives_workers_their_thread_count():
    env = ParallelPlan(workers=2, threads=3).env({"PATH": "/bin", "OMP_WAIT_POLICY": "ACTIVE"})
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["PATH"] == "/bin" and env["OMP_WAIT_POLICY"] == "ACTIVE"


def test_openmp_workers_sleep_only_when_other_processes_already_fill_the_cores():
    assert prepare_openmp_env({}, cores=2, busy=2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert prepare_openmp_env({}, cores=4, busy=2) == {}
    for users in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "7"}, {"KMP_BLOCKTIME": "0"}):
        assert prepare_openmp_env(dict(users), cores=2, busy=9) == users


# --------------------------------------------------------------------------- inside train()
def test_a_run_reports_its_thread_choice_and_restores_the_count(monkeypatch):
    import seqstudio.core.train.loop as loop

    # One probe pass decides, however fast this machine runs the tiny batches (with the
    # default 50 ms of measurements a fast, idle machine could end the run still probing).
    monkeypatch.setattr(loop, "ThreadTuner", functools.partial(ThreadTuner, probe_seconds=0.0))
    monkeypatch.setattr(loop, "too_small_to_split", lambda work: None)  # probe even this tiny model
    threads = torch.get_num_threads()
    monkeypatch.setattr(loop, "free_cores", lambda: threads)  # an idle machine, whatever runs beside
    events = list(train(TinyRegressor(), series_data(64), TrainConfig(epochs=4, batch_size=2)))
    chosen = [e for e in events if isinstance(e, ThreadsChosen)]
    result = events[-1].result
    assert isinstance(events[-1], Finished)
    if len(thread_candidates(threads)) > 1:
        assert chosen, "a run on more than one core compares thread counts"
        assert (chosen[0].epoch, chosen[0].step) > (1, 1)  # the first batch only warms up
        assert result.threads == chosen[-1].threads
        assert "a batch against" in result.threads_reason
    assert result.threads in thread_candidates(threads)
    assert torch.get_num_threads() == threads


def test_a_run_never_starts_or_probes_more_threads_than_the_free_cores(monkeypatch):
    import seqstudio.core.train.loop as loop

    threads = torch.get_num_threads()
    if threads < 2:
        pytest.skip("needs a machine with two cores to have a count to leave out")
    monkeypatch.setattr(loop, "too_small_to_split", lambda work: None)
    monkeypatch.setattr(loop, "free_cores", lambda: 1)  # other processes busy on every core but one
    counts: list[int] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (counts.append(n), real(n)))
    events = list(train(TinyRegressor(), series_data(64), TrainConfig(epochs=2, batch_size=2)))
    result = events[-1].result
    assert result.threads == 1 and set(counts[:-1]) == {1}  # the last call restores the count
    assert result.threads_reason.startswith(f"1 thread: 1 of {threads} cores free, other processes busy")
    assert torch.get_num_threads() == threads


def test_a_model_too_small_to_split_stays_on_one_thread_unprobed():
    from seqstudio.core.train.devices import step_work

    model = TinyRegressor()
    threads = torch.get_num_threads()
    events = list(train(model, series_data(64), TrainConfig(epochs=3, batch_size=2)))
    result = events[-1].result
    assert not any(isinstance(e, ThreadsChosen) for e in events)
    assert result.threads == 1
    assert f"a step is {step_work(model, 2):,} multiply-adds" in result.threads_reason
    assert torch.get_num_threads() == threads


def test_the_tuner_of_a_tiny_step_never_switches():
    counts = []
    tuner = ThreadTuner([1, 2], first=2, set_threads=counts.append,
                        too_small=too_small_to_split(4 * 8))
    for _ in range(50):
        tuner.batch_started()
        assert tuner.batch_ended(1) is None
    assert counts == [1] and tuner.threads == 1 and not tuner.tuning
    assert tuner.reason.startswith("1 thread: a step is 32 multiply-adds")
    # --threads still wins over it
    assert ThreadTuner([1, 2], pinned=2, set_threads=counts.append,
                       too_small=too_small_to_split(32)).threads == 2


def test_a_pinned_run_reports_the_setting_and_no_choice():
    events = list(train(TinyRegressor(), series_data(16), TrainConfig(epochs=2, batch_size=2, threads=1)))
    assert not any(isinstance(e, ThreadsChosen) for e in events)
    result = events[-1].result
    assert result.threads == 1 and "as asked" in result.threads_reason


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads Linux's /proc")
def test_a_process_at_a_lower_priority_is_not_counted_as_taking_a_core():
    from seqstudio.core.train import threads

    if os.nice(0) >= 19:
        pytest.skip("this process already runs at the lowest priority")
    # in this process's own session (scheduling group), where a nice value ranks processes
    child = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 30
        while threads._running_nicer() < 1:  # until the child's interpreter runs its loop
            assert time.monotonic() < deadline, "the niced child never showed as runnable"
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not os.path.exists("/proc/self/autogroup"), reason="needs the kernel's session groups")
def test_a_niced_process_in_another_session_still_counts_as_taking_a_core():
    """With session groups on, a niced process of another terminal gets its group's full share;
    in this process's own session its nice value ranks it below this one."""
    from seqstudio.core.train import threads

    if not threads._autogroups_on():
        pytest.skip("the kernel's session groups are off here")
    if os.nice(0) >= 19:
        pytest.skip("this process already runs at the lowest priority")
    own_nice, own_group = os.nice(0), threads._autogroup("self")
    assert own_group is not None
    spin = [sys.executable, "-c", "while True: pass"]
    other = subprocess.Popen(["setsid", "nice", "-n", "19", *spin])
    here = subprocess.Popen(["nice", "-n", "19", *spin])
    try:
        deadline = time.monotonic() + 30
        # both spin (runnable, niced) and the other one has its own session group; with
        # groups off, nice alone would rank it below this process
        while not (threads._yields_a_core(str(here.pid), own_nice, own_group)
                   and threads._yields_a_core(str(other.pid), own_nice, None)
                   and threads._autogroup(str(other.pid)) not in (None, own_group)):
            assert time.monotonic() < deadline, "the children never showed as runnable"
        group = threads._autogroup(str(other.pid))
        assert group is not None and group[1] <= own_group[1]
        assert not threads._yields_a_core(str(other.pid), own_nice, own_group)
    finally:
        for child in (other, here):
            child.kill()
            child.wait()


def test_a_process_in_the_root_session_group_reads_as_that_group():
    """The kernel writes an empty autogroup file for processes in the root group (containers, services)."""
    from seqstudio.core.train.threads import _parse_autogroup

    assert _parse_autogroup("/autogroup-42 nice 5\n") == ("/autogroup-42", 5)
    assert _parse_autogroup("") == ("/", 0)
    with pytest.raises(ValueError):
        _parse_autogroup("garbage")
