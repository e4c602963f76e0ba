"""The Train tab's progress: the loss plot in step with the progress bar, time left, stop text."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt

RUN_TIMEOUT_MS = 120_000


def test_loss_plot_never_lags_the_progress_bar(qtbot, window):
    """At every progress update the plot already shows every epoch the bar says has ended."""
    panel = window.train_panel
    window.tabs.setCurrentWidget(panel)
    panel.form.set_values({"epochs": 40})
    lags: list[int] = []

    def on_progress(_value):
        shown = re.match(r"epoch (\d+)/", panel.progress_bar.format())
        if shown is None or panel.thread is None:
            return
        ended = int(shown.group(1)) - 1  # the epoch in progress has not ended yet
        x = panel.loss_plot._train_curve.xData
        drawn = int(x[-1]) if x is not None and len(x) else 0
        lags.append(ended - drawn)

    panel.progress_bar.valueChanged.connect(on_progress)
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert len(lags) >= 2
    assert max(lags) <= 0, lags


def test_time_left_waits_for_the_warm_up_then_uses_measured_batches(qtbot):
    from seqstudio.core.train.progress import RunClock
    from seqstudio.gui.train_panel import TrainPanel

    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.clock = RunClock(10, warmup_batches=3, min_seconds=0.0)
    panel.feed.start(1, 10)
    panel.feed.set_position(epoch=1, epochs_total=10, step=1, batches=100)
    panel._drain_feed()
    assert panel.progress_label.text().endswith("left …")
    # the clock then sees steady batches: time left from their rate, counted by hand
    clock = panel.clock
    for i, step in enumerate(range(3, 23)):
        clock.update(epoch=1, step=step, batches=100, now=100.0 + 0.05 * i)
    assert clock.eta(now=100.0 + 0.05 * 19) == pytest.approx((1000 - 22) * 0.05)


@pytest.mark.parametrize(("reason", "message", "epoch", "expected"), [
    ("user", "stopped by the user at batch 1942 of epoch 4", 4, "Stopped by you at batch 1942 of epoch 4."),
    ("user", "stopped by the user", 3, "Stopped by you after epoch 3."),
    ("early_stopping", "the validation loss did not improve for 5 epochs", 12,
     "Early stopping at epoch 12. The validation loss did not improve for 5 epochs."),
])
def test_stop_message_says_it_once(reason, message, epoch, expected):
    from seqstudio.core.train.events import Stopped
    from seqstudio.gui.train_panel import stop_text

    text = stop_text(Stopped(reason, message, epoch))
    assert text == expected
    assert text.lower().count("stopped") <= 1


def test_one_epoch_is_not_one_epochs(qtbot, window):
    panel = window.train_panel
    panel.form.set_values({"epochs": 1})
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.status_label.text().startswith("Finished 1 epoch in ")
