"""Load the training engine (torch and the modules that train and predict) after the window shows.

Importing torch takes one to two seconds, longer than the rest of the start-up.
The window is built without it (:func:`seqstudio.core.engine.defer_engine`): the
data panel prepares and plots the series with numpy and pandas, the model editor
checks the layers and their shapes. :class:`EngineLoader` then imports torch in
a background thread; ``ready`` (or ``failed`` with the reason) arrives in the GUI
thread, where the window enables Train and fills in the parameter counts.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from seqstudio.core.engine import engine_loaded, load_engine

#: What the background thread imports besides torch: everything the first Train click,
#: the results and the forecast need, so that none of it is imported on the GUI thread.
ENGINE_MODULES = (
    "seqstudio.core.model.modules",
    "seqstudio.core.model.cells",
    "seqstudio.core.train.loop",
    "seqstudio.core.train.evaluate",
    "seqstudio.core.train.process",
    "seqstudio.core.forecast.backtest",
    "seqstudio.core.classify.report",
)


class EngineLoader(QObject):
    """Imports the engine in a daemon thread; ``ready()`` or ``failed(reason)`` in the GUI thread.

    >>> loader = EngineLoader()                       # doctest: +SKIP
    >>> loader.ready.connect(window.on_engine_ready)  # doctest: +SKIP
    >>> loader.start()                                # doctest: +SKIP
    """

    ready = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, modules: tuple[str, ...] = ENGINE_MODULES):
        super().__init__(parent)
        self.modules = modules
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start loading (once); when the engine is loaded already, ``ready`` comes at once."""
        if engine_loaded():
            self.ready.emit()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="engine-loader", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            load_engine(self.modules)
        except BaseException as exc:  # noqa: BLE001 - a broken torch is said in the window, never raised
            self.failed.emit(f"the training engine (PyTorch) did not load: {type(exc).__name__}: {exc}")
            return
        self.ready.emit()  # queued into the GUI thread: the receivers live there
