"""Stop and pause a running :func:`~seqstudio.core.train.loop.train` from another thread."""

from __future__ import annotations

import threading
import time


class TrainControl:
    """Thread-safe stop / pause for a running :func:`train`, checked between batches.

    ``pause()`` makes the training thread block (on a ``threading.Event``,
    no busy loop) before its next batch until ``resume()`` or ``stop()``.

    Examples
    --------
    >>> control = TrainControl()
    >>> control.pause(); control.paused
    True
    >>> control.stop(); control.stopped, control.paused
    (True, False)
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()

    def reset(self) -> None:
        """Clear stop and pause, for a new run."""
        self._stop.clear()
        self._running.set()

    def stop(self) -> None:
        """Ask the run to stop before its next batch (also wakes a paused run)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Ask the run to wait before its next batch."""
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting (0.0 when not paused)."""
        if self._running.is_set():
            return 0.0
        started = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - started
