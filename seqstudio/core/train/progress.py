"""Time left in a run, from measured batch times after the warm-up.

The first batches of a run are slow for reasons that do not last (the
training process loading the model, first-call allocations, the thread count
being chosen, oneDNN building its kernels), so a rate taken from the start of
the run over-states the time left, badly on large models: an IMDB run once
showed 52 minutes left twenty seconds into a run of ten. The
:class:`RunClock` here ignores the warm-up, then measures the rate over a
sliding window of recent progress, so a machine that gets busier (or idler)
during the run moves the estimate within a few seconds. Validation passes
between epochs fall inside the window and are counted.

No Qt, no threads: the caller (the window's progress timer, the CLI) reports
positions with :meth:`RunClock.update` and reads :meth:`RunClock.eta`.

>>> clock = RunClock(epochs=2, warmup_batches=1, min_seconds=0.0)
>>> for t, step in [(0.0, 0), (5.0, 1), (6.0, 2), (7.0, 3)]:   # batch 1 was slow: warm-up
...     clock.update(epoch=1, step=step, batches=10, now=t)
>>> clock.eta(now=7.0)       # 17 batches left at 1 s each
17.0
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["RunClock"]


class RunClock:
    """Estimates the seconds left in a run of ``epochs`` epochs from recent batch times.

    Parameters
    ----------
    epochs
        Epochs in this run (a continued run counts only its own).
    first_epoch
        The number of the run's first epoch (continued runs start later).
    warmup_batches
        Batches at the start that are never used to measure the rate.
    warmup_fraction
        ... or this fraction of the run's first epoch, whichever is more
        batches (capped at half the first epoch, so small epochs still get
        an estimate).
    min_seconds
        No estimate before this many seconds of measured (post-warm-up) time.
    window_seconds
        The rate is measured over about the last this many seconds.
    """

    def __init__(self, epochs: int, *, first_epoch: int = 1, warmup_batches: int = 3,
                 warmup_fraction: float = 0.02, min_seconds: float = 1.0,
                 window_seconds: float = 30.0):
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        self.epochs = int(epochs)
        self.first_epoch = int(first_epoch)
        self.warmup_batches = max(0, int(warmup_batches))
        self.warmup_fraction = float(warmup_fraction)
        self.min_seconds = float(min_seconds)
        self.window_seconds = float(window_seconds)
        self._batches = 0
        self._samples: deque[tuple[float, float]] = deque()  # (time, batches done)
        self._warm = False

    def _done(self, epoch: int, step: int, batches: int) -> float:
        return (epoch - self.first_epoch) * batches + step

    def update(self, *, epoch: int, step: int, batches: int, now: float) -> None:
        """Record that ``step`` of ``batches`` batches of ``epoch`` are done at time ``now``."""
        if batches < 1:
            return
        self._batches = batches
        done = self._done(epoch, step, batches)
        if not self._warm:
            warmup = max(self.warmup_batches, math.ceil(self.warmup_fraction * batches))
            warmup = min(warmup, max(1, batches // 2))
            if done < warmup:
                return
            self._warm = True  # measuring starts here: the batches before are not counted
        if self._samples and done <= self._samples[-1][1]:
            return  # no progress since the last sample (paused, or the same position again)
        self._samples.append((now, done))
        # keep one sample older than the window, so the window is always fully covered
        while len(self._samples) > 2 and now - self._samples[1][0] > self.window_seconds:
            self._samples.popleft()

    def seconds_per_batch(self) -> float | None:
        """The measured rate, or None while it is not known yet."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.min_seconds or d1 <= d0:
            return None
        return (t1 - t0) / (d1 - d0)

    def eta(self, now: float) -> float | None:
        """Seconds left, or None during the warm-up (show "…", not a wild guess).

        The time since the last reported batch is taken off, so the estimate
        counts down smoothly between progress reports.
        """
        rate = self.seconds_per_batch()
        if rate is None or not self._batches:
            return None
        last_time, done = self._samples[-1]
        left = self.epochs * self._batches - done
        return max(0.0, left * rate - max(0.0, now - last_time))
