"""The run clock: time left from measured batch times after the warm-up (hand-computed cases)."""

from __future__ import annotations

import pytest

from seqstudio.core.train.progress import RunClock


def _feed(clock, times_and_positions):
    for now, epoch, step in times_and_positions:
        clock.update(epoch=epoch, step=step, batches=100, now=now)


def test_slow_first_batches_do_not_inflate_the_estimate():
    # 10 epochs of 100 batches: the first 3 batches take 10 s each, every later one 0.5 s
    clock = RunClock(epochs=10, warmup_batches=3, min_seconds=1.0)
    now, positions = 0.0, [(0.0, 1, 0)]
    for step in range(1, 41):
        now += 10.0 if step <= 3 else 0.5
        positions.append((now, 1, step))
    _feed(clock, positions)
    # measured from batch 3 (t=30) to batch 40 (t=48.5): 0.5 s a batch; 960 batches left
    assert clock.seconds_per_batch() == pytest.approx(0.5)
    assert clock.eta(now=now) == pytest.approx(960 * 0.5)
    # what "elapsed * (1 - f) / f" said at the same moment: 48.5 * 0.96 / 0.04 = 1164 s
    naive = now * (1 - 40 / 1000) / (40 / 1000)
    assert naive > 2 * clock.eta(now=now)


def test_no_estimate_during_the_warm_up():
    clock = RunClock(epochs=2, warmup_batches=5, min_seconds=1.0)
    _feed(clock, [(0.0, 1, 0), (3.0, 1, 1), (6.0, 1, 4)])
    assert clock.eta(now=6.0) is None
    _feed(clock, [(7.0, 1, 5), (7.5, 1, 6)])  # warm from batch 5, but only 0.5 s measured
    assert clock.eta(now=7.5) is None
    _feed(clock, [(8.0, 1, 7)])
    assert clock.eta(now=8.0) == pytest.approx((200 - 7) * 0.5)


def test_the_estimate_follows_a_change_of_speed_within_the_window():
    clock = RunClock(epochs=100, warmup_batches=0, warmup_fraction=0.0, min_seconds=0.0,
                     window_seconds=10.0)
    now, step, positions = 0.0, 0, []
    for _ in range(40):  # 1 s a batch for 40 s
        positions.append((now, 1, step))
        now, step = now + 1.0, step + 1
    for _ in range(20):  # then the machine gets busy: 2 s a batch for 40 s
        positions.append((now, 1, step))
        now, step = now + 2.0, step + 1
    positions.append((now, 1, step))
    _feed(clock, positions)
    assert clock.seconds_per_batch() == pytest.approx(2.0)


def test_eta_counts_down_between_reports_and_spans_epochs():
    clock = RunClock(epochs=3, first_epoch=4, warmup_batches=0, warmup_fraction=0.0, min_seconds=0.0)
    for t, (epoch, step) in enumerate([(4, 0), (4, 50), (4, 100), (5, 50)]):
        clock.update(epoch=epoch, step=step, batches=100, now=float(t))
    # 150 batches in 3 s: 0.02 s a batch; 150 left -> 3 s, and 1 s later 2 s
    assert clock.eta(now=3.0) == pytest.approx(3.0)
    assert clock.eta(now=4.0) == pytest.approx(2.0)
    assert clock.eta(now=100.0) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        RunClock(epochs=0)
