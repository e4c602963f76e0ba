"""Qt tests run offscreen: no display needed, same widgets."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture
def window(qtbot, registry):
    """The main window on the embedded default (airline-lstm), with the built-in registry."""
    from seqstudio.gui.app import create_window

    win = create_window(registry=registry)
    qtbot.addWidget(win)
    win.show()
    yield win
    thread = win.train_panel.thread
    if thread is not None:  # never leave a training thread behind a closed window
        thread.request_stop()
        thread.wait(10_000)
