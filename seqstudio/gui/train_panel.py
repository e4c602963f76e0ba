"""The train panel: settings, Train / Pause / Resume / Stop, progress and the loss plot.

The panel owns the :class:`~seqstudio.gui.worker.TrainingThread` of a run and
one 200 ms timer that drains the thread's feed into the progress bar and the
loss plot, so the GUI never handles one signal per batch.

``configChanged()`` fires when a setting changes; with ``set_undo_stack(stack)``
each settings edit is an undoable command. ``request_train()`` and
``request_stop()`` are the slots of the window's Ctrl+Return and Esc.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.registry import OptionSpec
from seqstudio.core.studio import error_text
from seqstudio.core.train.progress import RunClock

from .forms import OptionForm, chain_tab_order, describe_widgets
from .plots import LossPlot
from .undo import TrainSettingsCommand, changed_keys, is_recording
from .worker import TrainingFeed, TrainingThread

#: How often the progress and the loss buffers are taken from the training thread. Every wake-up
#: of the GUI thread costs the training thread a GIL hand-over (measured: 10/s cost ~7 % of a
#: batch-size-1 airline epoch, 5/s ~4 %); 5 per second still reads as live.
PROGRESS_MS = 200
#: Decimals of the form's number fields; an open bound (learning rate > 0) is one step inside.
FORM_DECIMALS = 6
#: The largest whole number a spin box holds (a 32-bit int): the seed's range is cut to it.
SPIN_INT_MAX = 2**31 - 1


#: The status line while the window loads torch in the background (Train is off until then).
ENGINE_LOADING = "Loading the training engine… (Train is ready in a moment)"


def train_options() -> tuple[OptionSpec, ...]:
    """The Train form's fields, derived from :meth:`TrainConfig.schema` (help, limits, choices).

    The form shows what a spin box can: an open bound moves one step inside (a
    learning rate of at least 0.000001, a momentum of at most 0.999999), an optional
    number shows 0 for "off" / "auto", the device is a choice of the usual ones, and a whole
    number stops at what a spin box holds (the seed at 2**31 - 1).
    """
    from seqstudio.core.train.config import TrainConfig

    step = 10.0 ** -FORM_DECIMALS
    options = []
    for o in TrainConfig.schema():
        minimum, maximum = o.minimum, o.maximum
        if o.type == "float":
            if minimum is not None and o.min_exclusive and o.default is not None:
                minimum += step
            if maximum is not None and o.max_exclusive:
                maximum -= step
            if o.default is None:  # optional (grad_clip): 0 = off
                options.append(replace(o, default=0.0, minimum=0.0, maximum=maximum,
                                       min_exclusive=False))
                continue
        if o.type == "int" and maximum is not None:
            maximum = min(maximum, SPIN_INT_MAX)
        if o.type == "str" and o.choices:
            options.append(replace(o, type="choice"))
            continue
        options.append(replace(o, minimum=minimum, maximum=maximum, min_exclusive=False,
                               max_exclusive=False))
    return tuple(options)


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainPanel(QWidget):
    """Train settings and live progress; the main window hands it the model and data.

    Signals: ``trainRequested(bool)`` (True = continue from the current
    weights), and for each run ``snapshotReady(dict)``, ``runStopped(object)``,
    ``runFinished(object)``, ``runFailed(object)`` (the exception itself), then
    ``runEnded()`` once the thread has exited. ``configChanged()`` fires after any
    settings change.

    Handed a :class:`~seqstudio.core.studio.StudioDocument`, the panel renders its
    settings, trainable state and weights, starts runs from it (``start_run``) and
    reports them back (``finish_run``, ``fail_run``, ``end_run``).

    >>> panel = TrainPanel(); panel.set_undo_stack(QUndoStack())   # doctest: +SKIP
    >>> panel.request_train()     # what Ctrl+Return does: Train, when Train is enabled  # doctest: +SKIP
    """

    trainRequested = Signal(bool)
    configChanged = Signal()
    snapshotReady = Signal(dict)
    runStopped = Signal(object)
    runFinished = Signal(object)
    runFailed = Signal(object)
    runEnded = Signal()
    #: The progress bar's value, queued: QProgressBar.setValue repaints at once, and called
    #: from Python that paint would hold the GIL the training thread needs.
    _progressValue = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, document=None):
        super().__init__(parent)
        from seqstudio.core.train.config import TrainConfig

        self._defaults = TrainConfig().to_dict()
        self.thread: TrainingThread | None = None
        self._threads_text = ""  # the thread tuner's last decision, shown while training
        self.feed = TrainingFeed()
        self.epochs_done = 0
        self._can_train = False
        self._train_reason = "load data first"
        self._has_weights = False
        self._engine_loading = False  # the window loads torch after it is shown
        self._engine_problem = ""
        self._undo_stack: QUndoStack | None = None
        self._applying = False
        self.document = document
        self._make_widgets()
        self._make_layout()
        self.train_button.clicked.connect(lambda: self.trainRequested.emit(False))
        self.continue_button.clicked.connect(lambda: self.trainRequested.emit(True))
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.stop)
        self._timer = QTimer(self)
        self._timer.setInterval(PROGRESS_MS)
        self._timer.timeout.connect(self._drain_feed)
        self.form.changed.connect(self._on_settings_edited)
        self.form.changed.connect(self._enable_optimizer_fields)
        self.form.valuesShown.connect(self._enable_optimizer_fields)
        self.snapshot_spin.valueChanged.connect(self.configChanged)
        self._set_accessibility()
        self._update_buttons()
        if document is not None:
            self._bind(document)

    def _make_widgets(self) -> None:
        self.form = OptionForm(train_options())
        self._values = self.form.values()  # "before" of the next settings command
        self.form.setObjectName("trainSettings")
        self.snapshot_spin = QSpinBox(self)
        self.snapshot_spin.setObjectName("forecastEvery")
        self.snapshot_spin.setRange(0, 100_000)
        self.snapshot_spin.setValue(10)
        self.snapshot_spin.setToolTip("Update the forecast plot every N epochs while training "
                                      "(0 = only at the end).")
        self.train_button = QPushButton("Train", self)
        self.train_button.setObjectName("trainButton")
        self.continue_button = QPushButton("Continue training", self)
        self.continue_button.setObjectName("continueButton")
        self.continue_button.setToolTip("Train more epochs starting from the current weights.")
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop after the current batch; the weights so far are kept.")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setTextVisible(True)
        self._progressValue.connect(self.progress_bar.setValue, Qt.ConnectionType.QueuedConnection)
        self.progress_label = QLabel("", self)
        self.progress_label.setObjectName("progressLabel")
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("trainStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loss_plot = LossPlot(self)
        self.loss_plot.set_driven(True)  # redrawn in the same tick as the progress bar
        self.clock: RunClock | None = None

    def _make_layout(self) -> None:
        settings_box = QGroupBox("Settings", self)
        settings_layout = QVBoxLayout(settings_box)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.form)
        settings_layout.addWidget(scroll, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("forecast every", self))
        row.addWidget(self.snapshot_spin)
        row.addWidget(QLabel("epochs", self))
        settings_layout.addLayout(row)
        settings_box.setMinimumWidth(300)
        settings_box.setMaximumWidth(400)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.continue_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(buttons)
        for widget in (self.progress_bar, self.progress_label, self.status_label):
            right_layout.addWidget(widget)
        right_layout.addWidget(self.loss_plot, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(settings_box)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)

    # -- the document ------------------------------------------------------------------
    def _bind(self, document) -> None:
        """Render ``document`` (settings, trainable, weights) and run from it."""
        events = document.events
        events.train_config.connect(self._on_document_config)
        events.trainable.connect(self.set_trainable)
        events.weights.connect(self.set_has_weights)
        events.weights.connect(self._on_weights_changed)
        events.data.connect(self._on_data_changed)
        events.project.connect(self._on_project_adopted)
        self.trainRequested.connect(self._on_train_requested)
        self.configChanged.connect(self._push_config)
        # form.set_values() (scripts, tests) records no undo step but is still the setting
        self.form.valuesShown.connect(lambda _values: self._push_config())
        self._view_data = document.data  # the data the curve and progress shown are about
        self.set_config(document.train)
        self.set_trainable(*document.trainable)
        self.set_has_weights(document.has_weights)

    def _on_document_config(self, values: dict) -> None:
        if values != self.config().to_dict():
            self.set_config(values)

    def _push_config(self) -> None:
        try:
            config = self.config()
        except SeqStudioError as exc:  # the form's limits come from the schema: rare
            self.document.report("changing the training settings", exc)
            return
        self.document.set_train_config(config)

    def _on_project_adopted(self, _project) -> None:
        self.reset_view()  # never show the previous project's curves

    def _on_weights_changed(self, has: bool) -> None:
        if not has and not self.running:
            self.reset_view()  # another stack or preset: the last run's curve is not this model's

    def _on_data_changed(self, data) -> None:
        if data is self._view_data:
            return  # only the busy flag changed
        self._view_data = data
        if not self.running:
            self.reset_view()  # other data: the last run's curve and epochs were on the old one

    def reset_view(self) -> None:
        """Forget the last run's curve, progress and outcome (they belong to other data or layers)."""
        self.loss_plot.clear()
        self.loss_plot.redraw()
        self.epochs_done = 0
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.progress_label.setText("")
        self.status_label.setText("")
        self._update_buttons()  # the status line says why Train is off, if it is

    def _on_train_requested(self, continue_run: bool) -> None:
        self.start_from_document(continue_run=continue_run)

    def start_from_document(self, *, continue_run: bool = False) -> TrainingThread | None:
        """Start a run on the document's model and data (continue: from its current weights)."""
        doc = self.document
        self._push_config()
        try:
            plan = doc.start_run(continue_run)
        except SeqStudioError as exc:
            doc.report("starting the run", exc)
            return None
        return self.start_run(plan.model, plan.data, plan.config, start_epoch=plan.start_epoch,
                              optimizer_state=plan.optimizer_state, future_steps=doc.future_steps)

    def show_failure(self, text: str) -> None:
        """Say why a run could not start or failed (the window's error route calls this)."""
        self.status_label.setText(text)

    def _set_accessibility(self) -> None:
        describe_widgets((
                (self.form, "Train settings", "Epochs, batch size, optimizer and the other settings"),
                (self.snapshot_spin, "Forecast every N epochs", "0 = only at the end"),
                (self.train_button, "Train", "Train a fresh model (Ctrl+Return)"),
                (self.continue_button, "Continue training", "More epochs from the current weights"),
                (self.pause_button, "Pause or resume", "Pause the run; press again to resume"),
                (self.stop_button, "Stop", "Stop after the current batch (Esc)"),
                (self.progress_bar, "Training progress", ""),
                (self.progress_label, "Epoch, batch and time left", ""),
                (self.status_label, "Training status", "The outcome or the error of the last run"),
                (self.loss_plot, "Loss plot", "Training and validation loss per epoch")))
        chain_tab_order(self.form, self.snapshot_spin, self.train_button, self.continue_button,
                 self.pause_button, self.stop_button)

    # -- undo and shortcuts ----------------------------------------------------------
    def set_undo_stack(self, stack: QUndoStack | None) -> None:
        """Record every later settings edit on ``stack`` (None: record nothing)."""
        self._undo_stack = stack

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self._undo_stack

    def apply_train_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` in the settings form without recording (undo / redo use it)."""
        self._applying = True
        try:
            self.form.set_values(values)
            self._values = self.form.values()
            self.configChanged.emit()
        finally:
            self._applying = False

    def _on_settings_edited(self, values: dict) -> None:
        before, self._values = self._values, dict(values)
        keys = changed_keys(before, values)
        if not keys:
            return
        stack = self._undo_stack
        if stack is not None and not self._applying:
            stack.push(TrainSettingsCommand(self, f"Edit {', '.join(sorted(keys))}", before, values,
                                            applied=True))
        self.configChanged.emit()

    @Slot()
    def request_train(self) -> bool:
        """Start a fresh run if Train is enabled (the window's Ctrl+Return); True when requested."""
        if not self.train_button.isEnabled():
            return False
        self.trainRequested.emit(False)
        return True

    @Slot()
    def request_stop(self) -> bool:
        """Stop the running run after its current batch (the window's Esc); True when one runs."""
        if not self.running:
            return False
        self.stop()
        return True

    # -- settings ------------------------------------------------------------------
    def config(self):
        """The TrainConfig the form shows (the core validates it)."""
        from seqstudio.core.train.config import TrainConfig

        values = self.form.values()
        if not values.get("grad_clip"):
            values["grad_clip"] = None
        if not values.get("threads"):
            values["threads"] = None
        return TrainConfig.from_dict({k: v for k, v in values.items() if k in self._defaults})

    def set_config(self, config_or_dict) -> None:
        """Show a TrainConfig (or its dict); recorded for undo only inside ``undo_macro``."""
        values = config_or_dict if isinstance(config_or_dict, dict) else config_or_dict.to_dict()
        before = self._values
        self.form.set_values({**self._defaults, **values})
        self._values = self.form.values()
        stack = self._undo_stack
        if is_recording(stack) and not self._applying and before != self._values:
            stack.push(TrainSettingsCommand(self, "Train settings", before, self._values, applied=True))
        if before != self._values:
            self.configChanged.emit()

    def set_trainable(self, ok: bool, reason: str = "") -> None:
        """Enable Train only when data and model are valid; the reason shows on the button."""
        self._can_train, self._train_reason = ok, reason
        self._update_buttons()

    def set_engine_loading(self, loading: bool, problem: str = "") -> None:
        """Train waits for the training engine (torch), which the window loads once it is shown;
        ``problem`` says why it could not load (Train then stays off, with that reason)."""
        self._engine_loading, self._engine_problem = loading, problem
        self._update_buttons()

    @property
    def engine_loading(self) -> bool:
        return self._engine_loading

    @property
    def engine_problem(self) -> str:
        """Why the training engine did not load ("" when it did, or is still loading)."""
        return self._engine_problem

    def set_has_weights(self, has: bool) -> None:
        self._has_weights = has
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self.thread is not None

    def _enable_optimizer_fields(self, *_args) -> None:
        """Momentum is SGD's alone: greyed out (with the reason) for the other optimizers."""
        try:
            optimizer = self.form.values().get("optimizer")
            widget = self.form.widget("momentum")
        except (KeyError, AttributeError):
            return
        sgd = optimizer == "sgd"
        widget.setEnabled(sgd)
        widget.setToolTip("Momentum of SGD." if sgd else
                          f"Only SGD uses momentum; {optimizer} adapts its own steps.")
        try:  # the quantile intervals are the pinball loss's alone, greyed out likewise
            loss, intervals = self.form.values().get("loss"), self.form.widget("quantile_intervals")
        except (KeyError, AttributeError):
            return
        intervals.setEnabled(loss == "pinball")
        intervals.setToolTip("The intervals whose quantiles the model outputs (80,95: 0.025, 0.1, "
                             "0.5, 0.9, 0.975); their bands are its prediction intervals."
                             if loss == "pinball" else "Only the pinball loss outputs quantiles.")

    def _update_buttons(self) -> None:
        running = self.running
        engine = not self._engine_loading and not self._engine_problem
        self.train_button.setEnabled(self._can_train and engine and not running)
        self.train_button.setToolTip(("Train a fresh model with these settings." if engine else
                                      ENGINE_LOADING if self._engine_loading else
                                      f"Cannot train: {self._engine_problem}")
                                     if self._can_train else f"Cannot train: {self._train_reason}")
        self.continue_button.setEnabled(self._can_train and engine and not running and self._has_weights)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.form.setEnabled(not running)
        self._enable_optimizer_fields()
        if not running:
            text = self.status_label.text()
            if not self._can_train:
                text = f"Cannot train: {self._train_reason}"
            elif self._engine_problem:
                text = f"Cannot train: {self._engine_problem}"
            elif self._engine_loading:
                text = ENGINE_LOADING
            elif text.startswith("Cannot train:") or text == ENGINE_LOADING:
                text = ""  # the reason is gone: never leave it standing
            self.status_label.setText(text)

    # -- running ---------------------------------------------------------------------
    def start_run(self, model, data, config, *, start_epoch: int = 0, optimizer_state=None,
                  future_steps: int = 0) -> TrainingThread:
        """Train ``model`` in place on a new thread; returns the thread (already started)."""
        if self.running:
            raise RuntimeError("a run is already in progress")
        if start_epoch == 0:
            self.loss_plot.clear()
        self.loss_plot.set_epoch_span(0, start_epoch + config.epochs)
        self.feed = TrainingFeed()
        thread = TrainingThread(model, data, config, start_epoch=start_epoch,
                                optimizer_state=optimizer_state,
                                snapshot_every=self.snapshot_spin.value(),
                                future_steps=future_steps, feed=self.feed)
        thread.snapshotReady.connect(self.snapshotReady)
        if self.document is not None:
            thread.snapshotReady.connect(self.document.show_snapshot)
        thread.runStopped.connect(self._on_run_stopped)
        thread.runFinished.connect(self._on_run_finished)
        thread.runFailed.connect(self._on_run_failed)
        thread.threadsChosen.connect(self._on_threads_chosen)
        thread.finished.connect(self._on_thread_finished)
        self.thread = thread
        self.clock = RunClock(config.epochs, first_epoch=start_epoch + 1)
        self._timer.setInterval(PROGRESS_MS)
        self._start_time = time.perf_counter()
        self.progress_bar.setRange(0, max(1, config.epochs))
        self.progress_bar.setValue(0)
        self._threads_text = ""
        self.status_label.setText("Training…")
        with_signals_blocked(self.pause_button, False)
        self._update_buttons()
        thread.start()
        self._timer.start()
        return thread

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.request_stop()
            self.status_label.setText("Stopping after the current batch…")

    def _on_pause_toggled(self, paused: bool) -> None:
        if self.thread is None:
            return
        if paused:
            self.thread.request_pause()
            self.pause_button.setText("Resume")
            self.status_label.setText("Paused (the training thread is waiting; no CPU used).")
        else:
            self.thread.request_resume()
            self.pause_button.setText("Pause")
            self.status_label.setText(f"Training…{self._threads_text}")

    def _drain_feed(self) -> None:
        snap = self.feed.drain()
        self.loss_plot.append_batches(snap.batch_x, snap.batch_losses)
        self.loss_plot.append_epochs(snap.epochs, snap.train_losses, snap.val_losses)
        if snap.epochs:
            self.epochs_done = snap.epochs[-1]
        total = max(1, snap.epochs_total - snap.first_epoch + 1)
        done_epochs = max(0, snap.epoch - snap.first_epoch)
        fraction = (done_epochs + (snap.step / snap.batches if snap.batches else 0)) / total
        fraction = min(max(fraction, 0.0), 1.0)
        self.progress_bar.setRange(0, 1000)
        self._progressValue.emit(int(fraction * 1000))
        self.progress_bar.setFormat(f"epoch {snap.epoch}/{snap.epochs_total}  ({fraction:.0%})")
        now = time.perf_counter()
        elapsed = now - snap.started_at
        eta = None
        if self.clock is not None:
            self.clock.update(epoch=snap.epoch, step=snap.step, batches=snap.batches, now=now)
            eta = self.clock.eta(now)
        eta_text = "…" if eta is None else format_seconds(eta)
        self.progress_label.setText(f"epoch {snap.epoch} of {snap.epochs_total}, batch {snap.step} of "
                                    f"{snap.batches}   elapsed {format_seconds(elapsed)}   "
                                    f"left {eta_text}")
        # the plot shows what the progress bar shows; a costly redraw spaces both out alike
        if self.loss_plot.redraw_if_dirty():
            self._timer.setInterval(max(PROGRESS_MS, self.loss_plot.suggested_interval_ms))

    def _on_threads_chosen(self, event) -> None:
        """The training measured its CPU thread counts and chose one: say which and why."""
        self._threads_text = f"\nCPU threads: {event.reason}"
        if self.thread is not None and not self.pause_button.isChecked():
            self.status_label.setText(f"Training…{self._threads_text}")

    def _on_run_stopped(self, event) -> None:
        self.status_label.setText(stop_text(event))
        self.runStopped.emit(event)

    def _on_run_finished(self, result) -> None:
        if self.thread is not None and self.thread.stopped_event is None:
            carried = " The optimizer went on from its saved state." if result.optimizer_resumed else ""
            n = result.epochs_run
            threads = (f"\nCPU threads: {result.threads_reason}"
                       if getattr(result, "threads_reason", "") else "")
            self.status_label.setText(f"Finished {n} epoch{'' if n == 1 else 's'} in "
                                      f"{result.seconds:.1f} s on {result.device}.{carried}{threads}")
        if self.document is not None:
            thread = self.thread
            self.document.finish_run(result, thread.final_results if thread is not None else None)
        self.runFinished.emit(result)

    def _on_run_failed(self, exc: BaseException) -> None:
        text = error_text(exc)
        if not isinstance(exc, SeqStudioError):  # a bug, not the user's doing: where it happened
            text += "\n\n" + "".join(traceback.format_exception(exc, limit=-3))
        self.status_label.setText(f"Training failed: {text}\nThe last good weights are kept.")
        if self.document is not None:
            self.document.fail_run(exc)
        self.runFailed.emit(exc)

    def _on_thread_finished(self) -> None:
        self._timer.stop()
        self._drain_feed()
        self.loss_plot.redraw()
        thread = self.thread
        self.thread = None
        with_signals_blocked(self.pause_button, False)
        self.pause_button.setText("Pause")
        self._update_buttons()
        if thread is not None:
            thread.deleteLater()
        if self.document is not None:
            self.document.end_run()
        self.runEnded.emit()

    def stop_and_wait(self, timeout_ms: int) -> None:
        """Stop a run under way and wait for its thread (closing the window)."""
        if self.thread is not None:
            self.thread.request_stop()
            self.thread.wait(timeout_ms)


def stop_text(event) -> str:
    """What the status line says about a ``Stopped`` event: once, in the panel's words.

    >>> from seqstudio.core.train.events import Stopped
    >>> stop_text(Stopped("user", "stopped by the user at batch 1942 of epoch 4", 4))
    'Stopped by you at batch 1942 of epoch 4.'
    >>> stop_text(Stopped("user", "stopped by the user", 3))
    'Stopped by you after epoch 3.'
    """
    message = (event.message or "").strip().rstrip(".")
    if event.reason == "user":
        prefix = "stopped by the user"
        if message.lower().startswith(prefix):
            detail = message[len(prefix):].strip() or f"after epoch {event.epoch}"
        else:
            detail = f"at epoch {event.epoch}" + (f" ({message})" if message else "")
        return f"Stopped by you {detail}."
    reasons = {"nan": "Stopped: the loss became NaN or infinite",
               "early_stopping": "Early stopping", "error": "Stopped by an error"}
    text = f"{reasons.get(event.reason, f'Stopped ({event.reason})')} at epoch {event.epoch}."
    if message:
        text += f" {message[0].upper()}{message[1:]}."
    if event.reason in ("nan", "error"):
        text += "\nThe last good weights are kept."
    return text


def with_signals_blocked(button: QPushButton, checked: bool) -> None:
    was = button.blockSignals(True)
    button.setChecked(checked)
    button.blockSignals(was)
