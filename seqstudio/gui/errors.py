"""The window's one route for failures: every error the user should see goes through here.

A failure arrives as an :class:`~seqstudio.core.studio.ErrorReport` (what was
being done, and the exception object itself: never a string made on another
thread). The route keeps the core's *what*, *where* and *fix*
(:func:`~seqstudio.core.studio.error_text`): the status bar gets the first line
and the whole text as its tooltip; the layer at fault (``layer_index``) is
selected in the layer editor; a run that cannot start says why in the Train
tab's status (a failed run's status is written by the Train tab itself, from the
exception); ``modal=True`` (opening, saving, restoring a project) shows
a box through ``window.show_error(title, text)``.

>>> window.errors.report(ErrorReport("saving", OSError("disk full")), modal=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from seqstudio.core.studio import ErrorReport

#: How long a failure stays in the status bar (ms; 0 = until the next message).
STATUS_MS = 10_000


@runtime_checkable
class ShowsLayerError(Protocol):
    """A view that can point at the layer an error is about (the layer editor)."""

    def select_layer(self, index: int) -> None: ...


@runtime_checkable
class ShowsRunFailure(Protocol):
    """A view that shows why a run could not start or failed (the Train tab)."""

    def show_failure(self, text: str) -> None: ...


class ErrorRoute:
    """Shows :class:`ErrorReport` s in ``window`` (see the module docstring)."""

    def __init__(self, window, *, layer_view=None, run_view=None):
        self.window = window
        self.layer_view = layer_view
        self.run_view = run_view
        #: every report shown, newest last (tests and the About box read it)
        self.reports: list[ErrorReport] = []

    def report(self, report: ErrorReport, *, modal: bool = False, title: str = "") -> None:
        self.reports.append(report)
        text = report.text
        first = text.splitlines()[0] if text else type(report.error).__name__
        bar = self.window.statusBar()
        bar.showMessage(f"{report.doing} failed: {first}", STATUS_MS)
        bar.setToolTip(text)
        index = report.layer_index
        if index is not None and isinstance(self.layer_view, ShowsLayerError):
            self.layer_view.select_layer(index)
        if report.doing == "starting the run" and isinstance(self.run_view, ShowsRunFailure):
            self.run_view.show_failure(text)
        if modal:
            self.window.show_error(title or f"{report.doing.capitalize()} failed", text)

    def __call__(self, report: ErrorReport) -> None:
        """The document's ``events.error`` callback: non-modal."""
        self.report(report)
