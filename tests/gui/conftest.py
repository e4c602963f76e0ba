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


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path, monkeypatch):
    """Settings, recent projects and autosave copies in a temporary folder; no modal prompts.

    ``SEQSTUDIO_CONFIG_DIR`` moves gui.ini and the recovery folder (and the plugin
    settings) away from the user's own; the window's questions answer Discard /
    don't restore, and error boxes are collected in ``window.shown_errors``.
    """
    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path / "user-config"))
    from seqstudio.gui import main_window

    def record_error(self, title, text):
        if not hasattr(self, "shown_errors"):
            self.shown_errors = []
        self.shown_errors.append((title, text))

    monkeypatch.setattr(main_window.MainWindow, "ask_save_changes", lambda self: main_window.DISCARD)
    monkeypatch.setattr(main_window.MainWindow, "ask_restore_recovery", lambda self, marker: False)
    monkeypatch.setattr(main_window.MainWindow, "show_error", record_error)
    return tmp_path / "user-config"
