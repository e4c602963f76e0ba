"""CPU threads chosen from measurement while a run goes on, and thread budgets for parallel jobs.

Why measure: on a 2-core machine the IMDB-shaped Embedding-LSTM(128) batch runs
in 51 ms on 2 threads and 86 ms on 1 when the machine is idle, but one other
busy process turns the 2-thread batch into 150-180 ms (OpenMP's workers wait
for a core the other process holds) while 1 thread stays at 86 ms. The best
count depends on the load at that moment, and the load changes during a run.
:class:`ThreadTuner` therefore times real training batches on each candidate
count ("probes") at the start of a run, keeps the fastest, and probes again when
the batch times drift from what the choice measured or, rarely, on a timer
whose spacing keeps the probing cost to a few per cent of the run.

OpenMP's wait policy (whether an idle worker spins or sleeps) can only be set
before the OpenMP runtime starts, i.e. before torch is imported:
:func:`prepare_openmp_env` chooses it for the CLI, the window and the training
process from the load when they start. Parallel jobs (sweeps, backtests) get their worker count and threads
per worker from :func:`parallel_plan`, so they never run more busy threads
than there are free cores.

>>> tuner = ThreadTuner([1, 2], pinned=1, set_threads=lambda n: None)
>>> tuner.threads, tuner.reason
(1, '1 thread, as asked (--threads / the threads setting)')
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

#: Below this many multiply-adds per optimizer step (dense parameters x batch size) a step is
#: dispatch-bound: torch runs ops that small on one thread whatever the setting, so one thread
#: (and no oneDNN) is fastest and timing other counts can only cost time.
SMALL_STEP_WORK = 1_000_000

#: Environment variables that fix the threads of a child process's math libraries.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Variables that say how OpenMP's idle workers wait; a user's own setting is never changed.
WAIT_POLICY_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def prepare_openmp_env(env: MutableMapping[str, str] | None = None, *, cores: int | None = None,
                       busy: int | None = None) -> MutableMapping[str, str]:
    """Choose how OpenMP's idle workers wait, before torch starts OpenMP in that process.

    OpenMP workers spin while they wait for the next parallel region. On a
    machine with a free core that is the fastest way to wait (the IMDB-shaped
    batch on 2 threads: 51 ms spinning, 93-96 ms with ``OMP_WAIT_POLICY=PASSIVE``),
    and when another process takes that core :class:`ThreadTuner` notices and
    trains on fewer threads. But on a machine that is already oversubscribed
    when the process starts, spinning workers take the cores the others need:
    there the same batch took 0.9-9 s on 2 spinning threads against 90-180 ms
    passive. So: ``PASSIVE`` when the runnable threads of other processes
    already fill every core, else OpenMP's default. Changes ``env`` (default
    ``os.environ``) only where the user set none of :data:`WAIT_POLICY_VARS`;
    returns it. It must run before torch is imported in that process: the CLI,
    the window and the training process's environment do it first thing.

    >>> prepare_openmp_env({}, cores=2, busy=4)
    {'OMP_WAIT_POLICY': 'PASSIVE'}
    >>> prepare_openmp_env({}, cores=2, busy=1)
    {}
    >>> prepare_openmp_env({"OMP_WAIT_POLICY": "ACTIVE"}, cores=2, busy=4)
    {'OMP_WAIT_POLICY': 'ACTIVE'}
    """
    env = os.environ if env is None else env
    if any(name in env for name in WAIT_POLICY_VARS):
        return env
    cores = cpu_count() if cores is None else cores
    busy = busy_elsewhere() if busy is None else busy
    if busy >= cores:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def openmp_wait_policy(env: MutableMapping[str, str] | None = None) -> str:
    """How this process's OpenMP workers wait, in words (for the run record).

    >>> openmp_wait_policy({"OMP_WAIT_POLICY": "passive"}), openmp_wait_policy({})
    ('passive', 'spinning (OpenMP default)')
    """
    env = os.environ if env is None else env
    policy = env.get("OMP_WAIT_POLICY", "").strip().lower()
    if policy:
        return policy
    if "GOMP_SPINCOUNT" in env:
        return f"GOMP_SPINCOUNT={env['GOMP_SPINCOUNT']}"
    return "spinning (OpenMP default)"


# --------------------------------------------------------------------------- free cores
def cpu_count() -> int:
    """Cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_elsewhere() -> int:
    """Runnable threads of other processes right now that compete with this one for a core
    (0 where the system cannot tell).

    Linux's ``/proc/loadavg`` counts the threads running or ready to run at
    this instant, this process's included (a snapshot, not an average). This
    process's own threads are taken off, and so are other processes running at
    a lower priority (a higher nice value: a background build, an indexer), which
    give their core up as soon as this process wants it.
    """
    own = _running_here()  # before and after: this process's workers may just be going to sleep
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - max(own, _running_here()) - _running_nicer())


def _running_nicer() -> int:
    """Other processes whose main thread is runnable now at a lower priority than this one's.

    Where the kernel groups processes by session (``sched_autogroup_enabled``, the
    default of many desktop distributions), CPU time is shared between the groups
    first and a nice value ranks processes only within one group: a niced process
    started from another terminal takes its group's full share. Such a process
    counts as lower priority only in this process's own group, or when its group
    itself runs at a higher nice value (``/proc/PID/autogroup``).
    """
    try:
        mine = os.getpid()
        own_nice = os.nice(0)
        entries = list(os.scandir("/proc"))
    except (OSError, AttributeError):
        return 0
    own_group = _autogroup("self") if _autogroups_on() else None
    return sum(1 for entry in entries if entry.name.isdigit() and int(entry.name) != mine
               and _yields_a_core(entry.name, own_nice, own_group))


def _yields_a_core(pid: str, own_nice: int, own_group: tuple[str, int] | None) -> bool:
    """Whether process ``pid`` is runnable now at a lower priority than ours (see above)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] != b"R" or int(fields[16]) <= own_nice:
            return False
    except (OSError, IndexError, ValueError):
        return False
    if own_group is None:
        return True
    group = _autogroup(pid)
    # another session's group as strong as ours competes whatever its processes' nice values
    return group is not None and (group[0] == own_group[0] or group[1] > own_group[1])


def _autogroups_on() -> bool:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled", encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _autogroup(pid: str) -> tuple[str, int] | None:
    """``(group, nice)`` from ``/proc/PID/autogroup``; None if unreadable."""
    try:
        with open(f"/proc/{pid}/autogroup", encoding="ascii") as f:
            return _parse_autogroup(f.read())
    except (OSError, ValueError):
        return None


def _parse_autogroup(text: str) -> tuple[str, int]:
    """``"/autogroup-42 nice 0"`` -> ``("/autogroup-42", 0)``.

    The kernel writes nothing for a process in the root group (one that never
    started a session of its own, as in many containers and services): that group
    is ``("/", 0)``, whose weight is fixed at nice 0.
    """
    if not text.strip():
        return "/", 0
    name, _, nice = text.split()
    return name, int(nice)


def _running_here() -> int:
    """This process's threads running or ready to run now (at least 1: the caller's).

    A training process's own OpenMP workers still spin for a moment after a
    batch: they are this run's threads, not another process's load.
    """
    own = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/stat", encoding="ascii", errors="replace") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            own += state == "R"
    except OSError:
        return 1
    return max(1, own)


def free_cores(cores: int | None = None, busy: int | None = None) -> int:
    """Cores no other process is busy on now; at least 1.

    >>> free_cores(cores=4, busy=1), free_cores(cores=2, busy=5)
    (3, 1)
    """
    cores = cpu_count() if cores is None else cores
    busy = busy_elsewhere() if busy is None else busy
    return max(1, cores - busy)


@dataclass(frozen=True)
class ParallelPlan:
    """How to run parallel jobs: ``workers`` at a time, each with ``threads`` torch threads."""

    workers: int
    threads: int

    def env(self, base: MutableMapping[str, str] | None = None) -> dict[str, str]:
        """The environment for one worker process: its thread count and the OpenMP spin bound."""
        env = dict(os.environ if base is None else base)
        for name in THREAD_ENV_VARS:
            env[name] = str(self.threads)
        if self.threads > 1:
            prepare_openmp_env(env)
        return env


def parallel_plan(jobs: int, *, max_workers: int | None = None, cores: int | None = None,
                  busy: int | None = None) -> ParallelPlan:
    """Workers and threads per worker for ``jobs`` independent jobs: never more busy threads
    than free cores (``workers * threads <= free_cores()``).

    Independent jobs of small models scale better as more processes than as more
    threads in one, so workers come first; the cores left over go to their threads.

    >>> parallel_plan(8, cores=4, busy=0)
    ParallelPlan(workers=4, threads=1)
    >>> parallel_plan(2, cores=8, busy=2)
    ParallelPlan(workers=2, threads=3)
    >>> parallel_plan(3, cores=2, busy=4)
    ParallelPlan(workers=1, threads=1)
    """
    free = free_cores(cores, busy)
    workers = max(1, min(jobs, free, max_workers or jobs))
    return ParallelPlan(workers=workers, threads=max(1, free // workers))


def thread_candidates(all_threads: int, cores: int | None = None) -> list[int]:
    """Thread counts worth timing: 1, every thread, and on bigger machines the free cores.

    >>> thread_candidates(2), thread_candidates(1), thread_candidates(8, cores=8)[:2]
    ([1, 2], [1], [1, 8])
    """
    counts = {1, max(1, all_threads)}
    if all_threads > 2:
        counts.add(min(all_threads, free_cores(cores)))
        counts.add(max(1, all_threads // 2))
    return sorted(counts, key=lambda n: (n != 1 and n != all_threads, n))


def too_small_to_split(work: int, limit: int = SMALL_STEP_WORK) -> str | None:
    """Why a run with steps of ``work`` multiply-adds stays on one thread unprobed; None when
    its steps are big enough for the thread count to matter.

    >>> too_small_to_split(20 * 1), too_small_to_split(2_000_000) is None
    ('1 thread: a step is 20 multiply-adds, too small to split across threads (not probed)', True)
    """
    if work >= limit:
        return None
    return f"1 thread: a step is {work:,} multiply-adds, too small to split across threads (not probed)"


# --------------------------------------------------------------------------- the tuner
@dataclass(frozen=True)
class ThreadChange:
    """One decision of the tuner: the thread count from ``batch`` on (counted over the run), and why."""

    batch: int
    threads: int
    reason: str


def _median(values) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


class ThreadTuner:
    """Chooses torch's CPU thread count from timed training batches, again and again.

    The loop calls :meth:`batch_started` before each batch's forward pass and
    :meth:`batch_ended` after its loss is read (the step is then done). The
    tuner sets the thread count (``set_threads``, default
    ``torch.set_num_threads``) for the batches that follow.

    Phases: the run's first batch warms up (allocations, kernels chosen) and is
    not timed; then the candidate counts are timed on real batches,
    interleaved (A B B A ..., ``probe_batches`` each, more passes until
    ``probe_seconds`` are measured; the first batch ever on a count is an
    untimed warm-up; a candidate several times slower than the best so far is
    dropped at once), and the fastest median per sample is kept. While it runs, the median of the last batches is compared
    with what the choice measured: a drift beyond ``drift`` (either way) probes
    again, and so does a timer whose spacing grows while the choice holds and
    is never shorter than the probing cost divided by ``overhead``.

    Parameters
    ----------
    batch_size
        Only for the reason text, which gives times per batch of this size.
    candidates
        Thread counts to choose from (e.g. :func:`thread_candidates`).
    pinned
        A fixed count (the user's ``--threads``): set once, never probed.
    first
        The count to start with (a guess from the model's size); default the first candidate.
    too_small
        The reason (:func:`too_small_to_split`) when the steps are too small for threads to
        matter: the run then stays on one thread and nothing is probed. A tiny model's
        epoch (the airline recipe: 0.1 s) is over before probes could pay for themselves.
    free_cores
        Returns the cores no other process is busy on now (:func:`free_cores`); None: not
        watched. Counts above it are neither started on nor probed: with one busy process
        on a 2-core machine, a single batch on 2 spinning threads took 4 s against 0.2 s on
        one, so even one probe batch there costs more than the run can win back. It is
        sampled at most every ``sample_seconds`` at a batch's end; the most free cores of the
        last few samples count, so that a process that only flashes by does not count.
    """

    def __init__(self, candidates: Sequence[int], *, pinned: int | None = None,
                 first: int | None = None,
                 set_threads: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 probe_batches: int = 2, probe_seconds: float = 0.05,
                 drift: float = 1.3, recheck_seconds: float = 10.0,
                 max_recheck_seconds: float = 160.0, overhead: float = 0.03,
                 window: int = 5, batch_size: int = 1, too_small: str | None = None,
                 free_cores: Callable[[], int] | None = None, sample_seconds: float = 0.5):
        if set_threads is None:
            import torch

            set_threads = torch.set_num_threads
        self._set = set_threads
        self._clock = clock
        self.candidates = sorted({int(c) for c in candidates if int(c) >= 1}) or [1]
        self.pinned = pinned
        self.too_small = too_small if pinned is None else None
        self.probe_batches = probe_batches
        self.probe_seconds = probe_seconds
        self.drift = drift
        self.base_recheck = recheck_seconds
        self.max_recheck = max_recheck_seconds
        self.overhead = overhead
        self.batches = 0
        self.batch_size = max(1, int(batch_size))
        #: Every decision, in order; the last one is in force.
        self.changes: list[ThreadChange] = []
        #: Median seconds per sample each candidate measured at the last probe.
        self.measured: dict[int, float] = {}
        self._started: float | None = None
        self._recent: deque[float] = deque(maxlen=window)
        self._queue: list[int] = []
        self._probe: dict[int, list[tuple[float, float]]] = {}
        self._probe_why = ""
        self._warmups: list[tuple[float, float]] = []
        self._order: list[int] = []
        self._dropped: set[int] = set()
        self._passes = 0
        self._recheck = recheck_seconds
        self._next_check = 0.0
        self._min_drift_probe_at = 0.0
        self._severe_drift_probe_at = 0.0
        self._baseline: float | None = None
        self._free_fn = free_cores if self.tuning else None
        self._free_samples: deque[int] = deque(maxlen=5)
        self._sample_every = sample_seconds
        self._last_sample = -float("inf")
        self._load_limited = False  # the count in force was chosen for lack of free cores
        if self._free_fn is not None:
            # three looks 2 ms apart: a process (or one of this process's own threads) that
            # is runnable for an instant must not decide the start
            for look in range(3):
                if look:
                    time.sleep(0.002)
                self._free_samples.append(max(1, int(self._free_fn())))
            self._last_sample = clock()
        start = pinned if pinned is not None else 1 if self.too_small else \
            (first if first in self.candidates else self.candidates[0])
        if pinned is None and not self.too_small and start not in self._allowed():
            start = max(self._allowed())  # the first batch too: no more threads than free cores
        self.threads = int(start)
        self._set(self.threads)
        self._warmed = {self.threads}  # the run's first batch warms this count up
        if pinned is not None:
            self.reason = f"{pinned} thread{'s' if pinned != 1 else ''}, as asked (--threads / the threads setting)"
        elif self.too_small:
            self.reason = self.too_small
        elif len(self.candidates) == 1:
            self.reason = f"{self.threads} thread: the only core this process may use"
        else:
            self.reason = f"{self.threads} thread{'s' if self.threads != 1 else ''} while warming up"
        self.changes.append(ThreadChange(0, self.threads, self.reason))

    @property
    def tuning(self) -> bool:
        return self.pinned is None and not self.too_small and len(self.candidates) > 1

    @property
    def probing(self) -> bool:
        return bool(self._queue)

    # -- the two calls of the loop ------------------------------------------------------
    def batch_started(self) -> None:
        """A batch is about to run on the current thread count."""
        self._started = self._clock()

    def batch_ended(self, samples: float = 1.0) -> ThreadChange | None:
        """The batch started last is done (``samples`` in it); returns the decision when a
        comparison of thread counts has just ended (the caller reports it), else None."""
        if self._started is None:
            return None
        now = self._clock()
        seconds, self._started = now - self._started, None
        self.batches += 1
        if not self.tuning:
            return None
        per_sample = seconds / max(samples, 1e-9)
        self._sample_load(now)
        if self.batches == 1:  # warm-up: allocations and kernel choices, not the thread count
            return self._start_probe(now, "at the start")
        if self._queue:
            return self._probe_step(now, seconds, samples)
        self._recent.append(per_sample)
        if self._baseline is None and len(self._recent) == self._recent.maxlen:
            self._baseline = _median(self._recent)  # chosen without a probe: what it runs at now
        drift = self._drift()
        if drift and now >= (self._severe_drift_probe_at if drift > 2 else self._min_drift_probe_at):
            return self._start_probe(now, "batch times drifted")
        if (self._load_limited and now >= self._min_drift_probe_at
                and any(c > self.threads for c in self._allowed())):
            return self._start_probe(now, "cores came free")
        if now >= self._next_check:
            return self._start_probe(now, "regular re-check")
        return None

    # -- the machine's load -------------------------------------------------------------
    def _sample_load(self, now: float) -> None:
        if self._free_fn is not None and now - self._last_sample >= self._sample_every:
            self._last_sample = now
            self._free_samples.append(max(1, int(self._free_fn())))

    def _allowed(self) -> list[int]:
        """The candidates that fit in the free cores (at least the smallest)."""
        if not self._free_samples:
            return self.candidates
        free = max(self._free_samples)
        return [c for c in self.candidates if c <= free] or self.candidates[:1]

    # -- probing ------------------------------------------------------------------------
    def _start_probe(self, now: float, why: str) -> ThreadChange | None:
        allowed = self._allowed()
        self._recent.clear()
        if len(allowed) == 1:
            return self._settle(now, allowed[0], why)
        self._load_limited = len(allowed) < len(self.candidates)
        current = self.threads if self.threads in allowed else allowed[-1]
        self._order = [current] + [c for c in allowed if c != current]
        self._dropped = set()
        self._probe = {c: [] for c in self._order}
        self._queue = self._pass(0)
        self._passes = 1
        self._warmups = []
        self._probe_why = why
        self._apply(current)
        return None

    def _settle(self, now: float, count: int, why: str) -> ThreadChange:
        """No comparison to make: only ``count`` fits in the cores other processes leave free."""
        free = max(self._free_samples) if self._free_samples else count
        cores = max(self.candidates)
        self.reason = (f"{count} thread{'s' if count != 1 else ''}: {free} of {cores} cores free, other "
                       f"processes busy on the rest; more threads would wait for them (seen {why}, "
                       f"batch {self.batches})")
        self._load_limited = True
        self._apply(count)
        self._baseline = None  # taken from the next batches: the drift check then works as usual
        self._next_check = now + self.base_recheck  # a check without a probe costs nothing
        self._min_drift_probe_at = self._severe_drift_probe_at = now + 1.0
        change = ThreadChange(self.batches, count, self.reason)
        self.changes.append(change)
        return change

    def _pass(self, number: int) -> list[int]:
        """One pass over the candidates still in the race, ``probe_batches`` batches each,
        interleaved A B B A ... so that a load changing meanwhile hits them alike."""
        alive = [c for c in self._order if c not in self._dropped]
        batches: list[int] = []
        for r in range(self.probe_batches):
            batches += alive if (r + number) % 2 == 0 else alive[::-1]
        return batches

    def _probe_step(self, now: float, seconds: float, samples: float) -> ThreadChange | None:
        count = self._queue.pop(0)
        rate = seconds / max(samples, 1e-9)
        best = min((self._rate(v) for c, v in self._probe.items() if v and c != count), default=None)
        if count not in self._warmed:
            # The first batch ever on a count starts its threads (and oneDNN makes primitives
            # for it): not timed, and run again, unless it is grossly slower than the best.
            self._warmed.add(count)
            self._warmups.append((seconds, samples))
            if best is not None and rate > 4 * best:
                self._drop(count)
            else:
                self._queue.insert(0, count)
        else:
            taken = self._probe[count]
            taken.append((seconds, samples))
            if best is not None and len(taken) == 1 and rate > 3 * best:
                self._drop(count)  # far behind already: not worth more batches
        if not self._queue:
            measured = sum(s for v in self._probe.values() for s, _ in v)
            if measured < self.probe_seconds and self._passes < 200 and len(self._order) > len(self._dropped) + 1:
                self._queue = self._pass(self._passes)  # tiny batches: time more of them
                self._passes += 1
        if self._queue:
            self._apply(self._queue[0])
            return None
        return self._decide(now)

    def _drop(self, count: int) -> None:
        self._dropped.add(count)
        self._queue = [c for c in self._queue if c != count]

    @staticmethod
    def _rate(taken: list[tuple[float, float]]) -> float:
        return _median(s / max(n, 1e-9) for s, n in taken)

    def _decide(self, now: float) -> ThreadChange:
        self.measured = {c: self._rate(v) for c, v in self._probe.items() if v}
        best = min(self.measured, key=self.measured.__getitem__)
        self._baseline = self.measured[best]
        per_batch = {c: t * self.batch_size for c, t in self.measured.items()}
        others = ", ".join(f"{_ms(per_batch[c])} on {c}" for c in sorted(per_batch) if c != best)
        self.reason = (f"{best} thread{'s' if best != 1 else ''}: {_ms(per_batch[best])} a batch "
                       f"against {others or 'no other count'} (measured {self._probe_why}, "
                       f"batch {self.batches})")
        changed = best != self.changes[-1].threads
        self._apply(best)
        # what probing cost beyond running every probe batch on the best count
        wasted = sum(s - n * self._baseline for v in [*self._probe.values(), self._warmups]
                     for s, n in v)
        self._recheck = self.base_recheck if changed else min(self.max_recheck, self._recheck * 2)
        self._next_check = now + max(self._recheck, wasted / self.overhead)
        # A drift probes again once the last probe's cost is paid back within the overhead
        # budget; a machine whose load moves a little all the time (other users) would
        # otherwise keep probing. A severe change (batches 2x slower or faster: a busy
        # process came or went) may probe four times sooner.
        self._min_drift_probe_at = now + max(1.0, wasted / self.overhead)
        self._severe_drift_probe_at = now + max(1.0, wasted / self.overhead / 4)
        change = ThreadChange(self.batches, best, self.reason)
        self.changes.append(change)
        return change

    def _drift(self) -> float:
        """How far the recent batches moved from what the choice measured (a factor >= 1, either
        way), or 0 when they have not drifted beyond ``drift``."""
        if self._baseline is None or len(self._recent) < (self._recent.maxlen or 1):
            return 0.0
        ratio = _median(self._recent) / self._baseline
        factor = max(ratio, 1 / ratio) if ratio > 0 else float("inf")
        return factor if factor > self.drift else 0.0

    def _apply(self, count: int) -> None:
        if count != self.threads:
            self._set(count)
            self.threads = count

    def summary(self) -> str:
        """The choice in force and how many times it changed, for the run record."""
        switches = sum(1 for a, b in zip(self.changes, self.changes[1:], strict=False) if a.threads != b.threads)
        tail = f"; {switches} change{'s' if switches != 1 else ''} during the run" if switches else ""
        return f"{self.reason}{tail}; OpenMP wait: {openmp_wait_policy()}"
