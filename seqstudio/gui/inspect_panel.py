"""The Inspect tab: a trained recurrent layer's gates and states on one real input.

Pick the layer (and, for a bidirectional one, the direction), then the input:
for a series a test window; for text a typed or pasted review, a test review
by number, or one of the reviews the model got most confidently wrong. The
inspection runs on a worker thread (the newest request wins: a slower one
that was overtaken is never shown) and is drawn by
:class:`~seqstudio.gui.inspect_view.InspectView`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.data.loader import LatestLoader, LoadResult
from seqstudio.core.errors import SeqStudioError

from .inspect_view import InspectView

if TYPE_CHECKING:  # core.inspect needs torch, which the window loads after it shows
    from seqstudio.core.inspect import Inspection, Inspector

__all__ = ["InspectPanel"]

NO_MODEL = ("Train the model (Train tab) or open a trained project: the Inspect tab shows its "
            "recurrent layer's gates and states on one input.")


class _Signals(QObject):
    finished = Signal(object)
    mistakes = Signal(object)
    attributed = Signal(object)


class InspectPanel(QWidget):
    """The Inspect tab, a view of the document's trained model and data."""

    #: an Inspection was drawn
    inspected = Signal(object)
    #: an inspection failed (the exception)
    failed = Signal(object)
    #: the most confidently wrong test reviews were listed
    mistakesListed = Signal(int)
    #: the words of the shown text were coloured by their attributions
    attributed = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, document=None):
        super().__init__(parent)
        self.document = document
        self.inspector: Inspector | None = None
        self.inspection: Inspection | None = None
        self._mistakes: list = []
        self._signals = _Signals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.mistakes.connect(self._on_mistakes)
        self._signals.attributed.connect(self._on_attributed)
        self._loader: LatestLoader = LatestLoader(self._signals.finished.emit, name="seqstudio-inspect")
        self._mistake_loader: LatestLoader = LatestLoader(self._signals.mistakes.emit,
                                                          name="seqstudio-inspect-mistakes")
        # integrated gradients take 5-20 forward passes: the gates are drawn first
        self._attribution_loader: LatestLoader = LatestLoader(self._signals.attributed.emit,
                                                              name="seqstudio-inspect-attributions")
        self._make_widgets()
        self._set_model(None, None)
        if document is not None:
            document.events.weights.connect(self._on_weights_changed)
            document.events.running.connect(self._on_running_changed)
            document.events.project.connect(lambda _project: self._set_model(None, None))
            self._on_weights_changed(document.has_weights)

    # -- widgets -------------------------------------------------------------------------
    def _make_widgets(self) -> None:
        self.layer_combo = QComboBox(objectName="inspectLayer")
        self.layer_combo.setToolTip("The recurrent layer to look inside (its position in the stack)")
        self.direction_combo = QComboBox(objectName="inspectDirection")
        self.direction_combo.addItems(["forward", "backward"])
        self.direction_combo.setToolTip("A bidirectional layer reads the sequence both ways")
        self.direction_combo.currentIndexChanged.connect(self._on_direction_changed)
        self.window_spin = QSpinBox(objectName="inspectWindow")
        self.window_spin.setToolTip("Which test window (or test review), from 0")
        self.test_button = QPushButton("Inspect test item", objectName="inspectTestButton")
        self.test_button.clicked.connect(lambda: self.inspect_test_item(self.window_spin.value()))
        self.text_edit = QPlainTextEdit(objectName="inspectText")
        self.text_edit.setPlaceholderText("Type or paste a review, then Inspect text")
        self.text_edit.setMaximumHeight(90)
        self.text_button = QPushButton("Inspect text", objectName="inspectTextButton")
        self.text_button.clicked.connect(lambda: self.inspect_text(self.text_edit.toPlainText()))
        self.mistakes_list = QListWidget(objectName="inspectMistakes")
        self.mistakes_list.setToolTip("Test reviews the model got wrong, the surest first: click one")
        self.mistakes_list.itemClicked.connect(self._on_mistake_clicked)
        self.status = QLabel(objectName="inspectStatus")
        self.status.setWordWrap(True)
        self.view = InspectView(self)

        form = QFormLayout()
        form.addRow("Layer", self.layer_combo)
        form.addRow("Direction", self.direction_combo)
        row = QHBoxLayout()
        row.addWidget(self.window_spin, 1)
        row.addWidget(self.test_button)
        self.window_label = QLabel("Test window")
        form.addRow(self.window_label, row)
        self.text_box = QGroupBox("Your own text")
        text_lay = QVBoxLayout(self.text_box)
        text_lay.addWidget(self.text_edit)
        text_lay.addWidget(self.text_button)
        self.mistakes_box = QGroupBox("Most confidently wrong test reviews")
        QVBoxLayout(self.mistakes_box).addWidget(self.mistakes_list)
        side = QWidget(self)
        side_lay = QVBoxLayout(side)
        side_lay.addLayout(form)
        side_lay.addWidget(self.text_box)
        side_lay.addWidget(self.mistakes_box, 1)
        side_lay.addWidget(self.status)
        side_lay.addStretch(0)
        split = QSplitter(self, objectName="inspectSplitter")
        split.addWidget(side)
        split.addWidget(self.view)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 1000])
        lay = QHBoxLayout(self)
        lay.addWidget(split)

    # -- the document ------------------------------------------------------------------------
    def _on_weights_changed(self, has_weights: bool) -> None:
        doc = self.document
        if has_weights and doc is not None and doc.model is not None and doc.data is not None:
            self._set_model(doc.model, doc.data)
        else:
            self._set_model(None, None)

    def _on_running_changed(self, running: bool) -> None:
        # the weights change under a run: inspect what the run ends with
        for w in (self.test_button, self.text_button, self.mistakes_list):
            w.setEnabled(not running and self.inspector is not None)
        if running:
            self.status.setText("Training: inspect when the run ends.")

    def _set_model(self, model, data) -> None:
        """Inspect ``model`` reading ``data`` (None: nothing trained to inspect)."""
        if model is not None:
            from seqstudio.core.inspect import Inspector

        self.inspector = Inspector(model, data=data) if model is not None else None
        self.inspection = None
        self._mistakes = []
        self.mistakes_list.clear()
        self.layer_combo.clear()
        ins = self.inspector
        layers = ins.layers() if ins is not None else []
        for position, name in layers:
            self.layer_combo.addItem(f"{position}: {name}", position)
        usable = ins is not None and bool(layers)
        is_text = bool(ins is not None and ins.is_text)
        for w in (self.layer_combo, self.test_button, self.window_spin, self.text_button,
                  self.mistakes_list):
            w.setEnabled(usable)
        self.text_box.setVisible(is_text)
        self.mistakes_box.setVisible(is_text)
        self.window_label.setText("Test review" if is_text else "Test window")
        size = ins.test_size() if ins is not None else 0
        self.window_spin.setRange(0, max(size - 1, 0))
        self.test_button.setEnabled(usable and size > 0)
        self.direction_combo.setVisible(False)
        if ins is None:
            self.view.clear(NO_MODEL)
            self.status.setText(NO_MODEL)
        elif not layers:
            self.view.clear("This model has no recurrent layer to look inside.")
            self.status.setText("This model has no recurrent layer to look inside.")
        else:
            self.view.clear("Pick an input on the left.")
            self.status.setText(f"{size} test {'reviews' if is_text else 'windows'}.")
            if is_text and size:
                self._mistake_loader.submit(lambda: ins.confident_mistakes(k=20))

    # -- inspecting ------------------------------------------------------------------------------
    def _layer(self) -> int | None:
        data = self.layer_combo.currentData()
        return int(data) if data is not None else None

    def _submit(self, job, what: str) -> int:
        self.status.setText(f"Inspecting {what}...")
        return self._loader.submit(job)

    def inspect_test_item(self, index: int) -> int:
        """Inspect test window (or review) ``index`` on the worker thread; returns the request id."""
        ins, layer = self.inspector, self._layer()
        if ins is None:
            return -1
        return self._submit(lambda: ins.test_item(index, layer, attributions=False), f"test item {index}")

    def inspect_text(self, text: str) -> int:
        """Inspect a typed or pasted text on the worker thread; returns the request id."""
        ins, layer = self.inspector, self._layer()
        if ins is None:
            return -1
        return self._submit(lambda: ins.text(text, layer, attributions=False), "the text")

    def _on_finished(self, result: LoadResult) -> None:
        if not self._loader.is_current(result.request):
            return  # a newer request came in since this one ended
        if result.error is not None:
            exc = result.error
            text = str(exc) if isinstance(exc, SeqStudioError) else f"inspecting failed: {exc!r}"
            self.status.setText(text)
            self.failed.emit(exc)
            return
        found: Inspection = result.value
        self.inspection = found
        both = len(found.trace.directions) > 1
        self.direction_combo.setVisible(both)
        direction = self.direction_combo.currentIndex() if both else 0
        self.view.set_inspection(found, direction)
        trace = found.trace
        title = found.title if len(found.title) <= 60 else found.title[:57].rsplit(" ", 1)[0] + "…"
        self.status.setText(f"{title}: layer {trace.layer_index + 1} ({trace.kind}, "
                            f"{trace.units} units), {found.stop - found.first} steps."
                            + (" Attributing the words..." if found.ids is not None else ""))
        ins = self.inspector
        if found.ids is not None and ins is not None:
            self._attribution_loader.submit(lambda: (found, ins.attributions(found)))
        else:
            self._attribution_loader.supersede()
        self.inspected.emit(found)

    def _on_attributed(self, result: LoadResult) -> None:
        if not self._attribution_loader.is_current(result.request):
            return
        if result.error is not None:
            self.status.setText(f"attributions failed: {result.error}")
            return
        found, attribution = result.value
        if found is not self.inspection:
            return  # another input is shown by now
        found.attribution = attribution
        self.view.show_attribution()
        self.status.setText(self.status.text().replace(" Attributing the words...", ""))
        self.attributed.emit(found)

    def _on_direction_changed(self, index: int) -> None:
        self.view.set_direction(index)

    # -- the most confidently wrong reviews ---------------------------------------------------------
    def _on_mistakes(self, result: LoadResult) -> None:
        if not self._mistake_loader.is_current(result.request) or result.error is not None:
            return
        self._mistakes = list(result.value or [])
        self.mistakes_list.clear()
        for m in self._mistakes:
            item = QListWidgetItem(f"{m.confidence:.0%} {m.predicted_label} (is {m.true_label}): "
                                   f"{m.text[:70]}")
            item.setToolTip(m.text[:600])
            item.setData(256, m.index)
            self.mistakes_list.addItem(item)
        self.mistakesListed.emit(len(self._mistakes))

    def _on_mistake_clicked(self, item: QListWidgetItem) -> None:
        index = int(item.data(256))
        self.window_spin.setValue(index)
        self.inspect_test_item(index)

    def close_workers(self) -> None:
        """Stop the worker threads (the window calls it when it closes)."""
        self._loader.close()
        self._mistake_loader.close()
        self._attribution_loader.close()

    def state(self) -> dict[str, Any]:
        """What the tab shows, for tests and automation."""
        return {"layers": [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())],
                "status": self.status.text(), "inspection": self.inspection}
