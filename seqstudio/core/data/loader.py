"""Background loads where the newest request wins (no Qt: a view wraps it in its own signals).

A data panel reloads when the user picks another file, another column, another
look-back... faster than a large file can be read. :class:`LatestLoader` runs
the jobs one at a time on a worker thread and keeps only the newest request:
a job still waiting when a newer one arrives never runs, and the result of a
job that was overtaken while running is dropped, never delivered. What a job
raises is delivered as the exception itself (``LoadResult.error``).

``deliver`` is called on the worker thread. A view that hands the result over
to its own thread (a queued Qt signal) checks :meth:`LatestLoader.is_current`
when it arrives, since a newer request may have come in between.

>>> import threading
>>> done = threading.Event()
>>> got = []
>>> loader = LatestLoader(lambda result: (got.append(result.value), done.set()))
>>> request = loader.submit(lambda: 6 * 7)
>>> done.wait(5) and got
[42]
>>> loader.close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult(Generic[T]):
    """What a job gave: its value, or the exception it raised (then ``value`` is None)."""

    request: int
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class LatestLoader(Generic[T]):
    """One worker thread running the newest submitted job; older results are never delivered.

    Parameters
    ----------
    deliver
        Called with the :class:`LoadResult` of each job that is still the
        newest request when it ends (on the worker thread).
    name
        The worker thread's name.
    """

    def __init__(self, deliver: Callable[[LoadResult[T]], Any], *, name: str = "seqstudio-loader"):
        self._deliver = deliver
        self._name = name
        self._lock = threading.Condition()
        self._latest = 0            # the newest request number (0: none yet)
        self._finished = 0          # the newest request that ended or was dropped
        self._pending: tuple[int, Callable[[], T]] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- requests ------------------------------------------------------------------
    def submit(self, job: Callable[[], T]) -> int:
        """Run ``job`` after the one under way; any older request is dropped. Returns its number."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the loader is closed")
            self._latest += 1
            self._pending = (self._latest, job)  # replaces a job that has not started
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._lock.notify_all()
            return self._latest

    def supersede(self) -> None:
        """Drop every request: the one waiting never runs, the one running is not delivered."""
        with self._lock:
            self._latest += 1
            self._pending = None
            self._finished = self._latest
            self._lock.notify_all()

    def is_current(self, request: int) -> bool:
        """Whether ``request`` is still the newest (no later submit or supersede)."""
        with self._lock:
            return request == self._latest

    @property
    def busy(self) -> bool:
        """Whether the newest request has not ended yet."""
        with self._lock:
            return self._finished < self._latest

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the newest request has ended (delivered or dropped); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._finished >= self._latest, timeout)

    def close(self) -> None:
        """Drop every request and end the worker thread (a job under way finishes first)."""
        self.supersede()
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- the worker ----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:  # closed
                    return
                request, job = self._pending
                self._pending = None
            try:
                result: LoadResult[T] = LoadResult(request, value=job())
            except BaseException as exc:  # noqa: BLE001 - a plugin's sys.exit() too: the caller decides
                result = LoadResult(request, error=exc)
            del job
            with self._lock:
                current = request == self._latest
            if current:
                try:
                    self._deliver(result)
                except Exception:  # the consumer's bug must not end the loads that follow
                    _log.exception("delivering the result of load request %d failed", request)
            self._end(request)

    def _end(self, request: int) -> None:
        with self._lock:
            self._finished = max(self._finished, request)
            self._lock.notify_all()
