"""The newest-request-wins loader, without Qt: jobs gated by events, never timed by sleeps."""

from __future__ import annotations

import threading

import pytest

from seqstudio.core.data.loader import LatestLoader, LoadResult
from seqstudio.core.errors import DataError

TIMEOUT = 10.0


class Gate:
    """A job that says when it started and finishes only when released."""

    def __init__(self, value):
        self.value = value
        self.started = threading.Event()
        self.release = threading.Event()
        self.ran = False

    def __call__(self):
        self.ran = True
        self.started.set()
        assert self.release.wait(TIMEOUT)
        return self.value


@pytest.fixture
def delivered():
    return []


@pytest.fixture
def loader(delivered):
    loader = LatestLoader(delivered.append)
    yield loader
    loader.close()


def test_one_request_is_delivered_with_its_number(loader, delivered):
    request = loader.submit(lambda: "airline")
    assert loader.wait_idle(TIMEOUT) and not loader.busy
    assert delivered == [LoadResult(request, value="airline")]


def test_a_request_overtaken_while_running_is_never_delivered(loader, delivered):
    slow, fast = Gate("old file"), Gate("new file")
    first = loader.submit(slow)
    assert slow.started.wait(TIMEOUT)
    second = loader.submit(fast)
    assert not loader.is_current(first) and loader.is_current(second)
    slow.release.set()
    fast.release.set()
    assert loader.wait_idle(TIMEOUT)
    assert delivered == [LoadResult(second, value="new file")]


def test_requests_waiting_behind_a_running_one_are_dropped_unrun(loader, delivered):
    running, skipped, newest = Gate(1), Gate(2), Gate(3)
    loader.submit(running)
    assert running.started.wait(TIMEOUT)
    loader.submit(skipped)
    last = loader.submit(newest)
    assert loader.busy
    running.release.set()
    newest.release.set()
    assert loader.wait_idle(TIMEOUT)
    assert not skipped.ran and [r.value for r in delivered] == [3] and delivered[0].request == last


def test_a_job_error_is_delivered_as_the_exception_and_the_loader_goes_on(loader, delivered):
    def bad():
        raise DataError("no rows", where="a.csv", fix="add rows")

    loader.submit(bad)
    assert loader.wait_idle(TIMEOUT)
    error = delivered[0].error
    assert isinstance(error, DataError) and error.fix == "add rows" and not delivered[0].ok
    loader.submit(lambda: "next")
    assert loader.wait_idle(TIMEOUT) and delivered[1].value == "next"


def test_a_job_calling_sys_exit_does_not_end_the_loader(loader, delivered):
    def exits():
        raise SystemExit(3)

    loader.submit(exits)
    assert loader.wait_idle(TIMEOUT) and isinstance(delivered[0].error, SystemExit)
    loader.submit(lambda: 1)
    assert loader.wait_idle(TIMEOUT) and delivered[1].value == 1


def test_supersede_drops_the_request_under_way(loader, delivered):
    job = Gate("x")
    loader.submit(job)
    assert job.started.wait(TIMEOUT)
    loader.supersede()
    assert not loader.busy
    job.release.set()
    loader.submit(lambda: "after")
    assert loader.wait_idle(TIMEOUT)
    assert [r.value for r in delivered] == ["after"]


def test_a_failing_consumer_does_not_stop_later_loads():
    got = []

    def deliver(result):
        if result.value == "first":
            raise RuntimeError("a bug in the view")
        got.append(result.value)

    loader = LatestLoader(deliver)
    try:
        loader.submit(lambda: "first")
        assert loader.wait_idle(TIMEOUT)
        loader.submit(lambda: "second")
        assert loader.wait_idle(TIMEOUT) and got == ["second"]
    finally:
        loader.close()


def test_jobs_run_off_the_calling_thread_one_at_a_time(loader):
    threads, active, most = [], [0], [0]
    lock = threading.Lock()

    def job():
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        threads.append(threading.get_ident())
        with lock:
            active[0] -= 1

    for _ in range(20):
        loader.submit(job)
    assert loader.wait_idle(TIMEOUT)
    assert threads and threading.get_ident() not in threads and most[0] == 1


def test_a_closed_loader_refuses_work(loader):
    loader.close()
    with pytest.raises(RuntimeError, match="closed"):
        loader.submit(lambda: 1)
