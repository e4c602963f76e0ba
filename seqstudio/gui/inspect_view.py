"""The picture of one inspection: heatmaps of every gate and state, the input along time.

:class:`InspectView` draws a :class:`~seqstudio.core.inspect.Inspection`: one
heatmap (units x time) per gate and state of the chosen direction, all sharing
the time axis, labelled with the input (tokens, or the window's dates, with its
values plotted above); for text, the prediction after each token above the maps
and the words coloured by their integrated-gradient attribution. Hovering a
cell names its value and fills the cell's equations beside the maps with that
unit's numbers at that step; a click keeps the choice until the next click.
:func:`render_png` draws the same picture into a PNG (``seqstudio inspect --out x.png``).
"""

from __future__ import annotations

import html
import os
import sys
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from . import plots  # noqa: F401 - the plots' colours and antialiasing, also for render_png

if TYPE_CHECKING:  # core.inspect needs torch, which the window loads after it shows
    from seqstudio.core.inspect import Inspection

__all__ = ["InspectView", "render_png"]

#: what each value is, for the left axis and the hover line
TITLES = {"i": "i (input gate)", "f": "f (forget gate)", "g": "g (candidate)", "o": "o (output gate)",
          "c": "c_t (cell state)", "h": "h_t (hidden state)", "r": "r (reset gate)",
          "z": "z (update gate)", "n": "n (candidate)", "a": "a (pre-activation)"}
#: the left axis is only as tall as a map: short names there
SHORT = {"i": "i input", "f": "f forget", "g": "g cand.", "o": "o output", "c": "c_t cell",
         "h": "h_t hidden", "r": "r reset", "z": "z update", "n": "n cand.", "a": "a pre-act."}
#: gates live in [0, 1]: a sequential map; everything else is signed: a diverging one
GATES01 = {"i", "f", "o", "r", "z"}
#: about this many pixels per time label, so that words and dates do not overlap
TICK_PIXELS = 64
HOVER_HINT = ("Gates from 0 (dark blue) to 1 (yellow); states and candidates blue below 0, red above. "
              "Hover a heatmap to read a value and fill the equations; click to keep that unit and step.")


def _cmap(name: str) -> pg.ColorMap:
    return pg.colormap.get("viridis") if name in GATES01 else pg.colormap.get("CET-D1")


def _tick_labels(labels: list[str], first: int, stop: int, width: int) -> list[tuple[float, str]]:
    most = max(2, width // TICK_PIXELS)
    every = max(1, int(np.ceil((stop - first) / most)))
    return [(t + 0.5, labels[t]) for t in range(first, stop, every) if labels[t]]


class InspectView(QWidget):
    """Heatmaps of one :class:`Inspection`, the equations of the unit and step under the mouse."""

    #: (unit, step) picked by hover or click
    picked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.inspection: Inspection | None = None
        self.direction = 0
        self.unit = 0
        self.step = 0
        self.pinned = False
        self._maps: list[tuple[str, pg.PlotItem, np.ndarray]] = []
        self._lines: list[pg.InfiniteLine] = []
        self._plots: list[tuple[str, pg.PlotItem, pg.ImageItem]] = []
        self._top: pg.PlotItem | None = None
        self._top_curve: pg.PlotDataItem | None = None
        self._layout_key: tuple | None = None
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setObjectName("inspectGraphics")
        self.graphics.ci.setSpacing(2)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.hover_label = QLabel(HOVER_HINT)
        self.hover_label.setObjectName("inspectHover")
        self.hover_label.setWordWrap(True)
        self.words = QLabel()
        self.words.setObjectName("inspectWords")
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.TextFormat.RichText)
        self.words.setVisible(False)
        self.equations = QLabel()
        self.equations.setObjectName("inspectEquations")
        self.equations.setTextFormat(Qt.TextFormat.RichText)
        self.equations.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.equations.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.equations.setMinimumWidth(250)
        self.equations.setMinimumHeight(0)
        self.equations.setWordWrap(True)
        self.equations.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.equations.setFont(mono)
        left = QWidget(self)
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.hover_label)
        lay.addWidget(self.words)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.setObjectName("inspectSplit")
        split.addWidget(left)
        split.addWidget(self.equations)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(split)

    # -- drawing -------------------------------------------------------------------------
    def clear(self, message: str = "") -> None:
        self.inspection = None
        self.graphics.clear()
        self._maps, self._lines, self._plots, self._top, self._layout_key = [], [], [], None, None
        self.words.setVisible(False)
        self.equations.setText(html.escape(message))
        self.hover_label.setText(HOVER_HINT)

    def set_inspection(self, inspection: Inspection, direction: int = 0) -> None:
        """Draw ``inspection`` (direction 0 forward, 1 backward)."""
        self.inspection = inspection
        self.direction = min(direction, len(inspection.trace.directions) - 1)
        self.unit = min(self.unit, inspection.trace.units - 1)
        self.step = inspection.stop - 1
        self.pinned = False
        self._draw()
        self._show_words()
        self._fill_equations()

    def show_attribution(self) -> None:
        """Colour the words and fill the equations again: the attributions arrived."""
        if self.inspection is not None:
            self._show_words()
            self._fill_equations()

    def set_direction(self, direction: int) -> None:
        if self.inspection is not None and direction != self.direction:
            self.set_inspection(self.inspection, direction)

    def _draw(self) -> None:
        """Draw the inspection; the plots are made once per layout and then only updated.

        Making a pyqtgraph plot (axes, view box, menus) costs ~30 ms: seven of them were
        most of a redraw, so the next input on the same layer only replaces the data.
        """
        ins = self.inspection
        assert ins is not None
        d = ins.trace.directions[self.direction]
        top_kind = "prediction" if ins.predictions is not None else "value" if ins.values is not None else ""
        key = (tuple(d.values), top_kind, pg.getConfigOption("background"))
        if key != self._layout_key:
            self._build(list(d.values), top_kind)
            self._layout_key = key
        first, stop = ins.first, ins.stop
        if self._top is not None:
            series = ins.predictions if ins.predictions is not None else ins.values
            assert series is not None
            self._top_curve.setData(np.arange(first, stop) + 0.5, series[first:stop])
            self._top.setLabel("left", ins.prediction_name or "prediction" if top_kind == "prediction" else "value")
            if top_kind == "value":
                self._top.enableAutoRange(axis="y")
        self._maps = []
        for (name, plot, image), values in zip(self._plots, d.values.values(), strict=True):
            shown = values[first:stop]
            bound = max(float(np.abs(shown).max()) if shown.size else 1.0, 1e-6)
            image.setImage(shown, autoLevels=False, levels=(0.0, 1.0) if name in GATES01 else (-bound, bound))
            image.setRect(first, 0, stop - first, values.shape[1])
            plot.setXRange(first, stop, padding=0)
            plot.setYRange(0, values.shape[1], padding=0)
            self._maps.append((name, plot, values))
        if self._plots:
            self._plots[-1][1].setLabel("bottom", "tokens" if top_kind == "prediction" else "time")
        self._update_ticks()
        self._move_lines()

    def _update_ticks(self) -> None:
        """Label the time axis with as many inputs as its width holds."""
        ins = self.inspection
        if ins is None:
            return
        ticks = [_tick_labels(ins.labels, ins.first, ins.stop, max(self.graphics.width() - 80, 200))]
        for _name, plot, _image in self._plots:
            plot.getAxis("bottom").setTicks(ticks)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._update_ticks()

    def _build(self, names: list[str], top_kind: str) -> None:
        self.graphics.clear()
        self.graphics.setBackground(pg.getConfigOption("background"))  # the theme of now
        self._lines, self._plots, self._top = [], [], None
        if top_kind:
            top = self.graphics.addPlot(row=0, col=0)
            pen = pg.mkPen("#1f77b4", width=2) if top_kind == "prediction" else pg.mkPen("#333", width=2)
            self._top_curve = top.plot([], [], pen=pen, symbol=None if top_kind == "prediction" else "o",
                                       symbolSize=5)
            if top_kind == "prediction":
                top.addLine(y=0.5, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
                top.setYRange(0, 1)
            top.setMaximumHeight(110)
            top.hideAxis("bottom")
            top.setMouseEnabled(x=False, y=False)
            top.hideButtons()
            top.getAxis("left").setWidth(60)
            self._add_line(top)
            self._top = top
        for row, name in enumerate(names, start=1):
            plot = self.graphics.addPlot(row=row, col=0)
            image = pg.ImageItem()  # (time, units): x is time, y the unit
            image.setColorMap(_cmap(name))
            plot.addItem(image)
            plot.setLabel("left", SHORT.get(name, name))
            plot.getAxis("left").setWidth(60)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            if self._top is not None or self._plots:
                plot.setXLink(self._top if self._top is not None else self._plots[0][1])
            if row < len(names):
                plot.getAxis("bottom").setStyle(showValues=False)
            self._plots.append((name, plot, image))
            self._add_line(plot)

    def _add_line(self, plot: pg.PlotItem) -> None:
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#d62728", width=1))
        plot.addItem(line, ignoreBounds=True)
        self._lines.append(line)

    def _move_lines(self) -> None:
        for line in self._lines:
            line.setValue(self.step + 0.5)

    def _show_words(self) -> None:
        ins = self.inspection
        assert ins is not None
        att = ins.attribution
        if att is None:
            self.words.setVisible(False)
            return
        scale = float(np.abs(att.per_token[ins.first:ins.stop]).max()) or 1.0
        spans = []
        for t in range(ins.first, ins.stop):
            a = float(att.per_token[t]) / scale
            colour = f"rgba(44,160,44,{abs(a):.2f})" if a >= 0 else f"rgba(214,39,40,{abs(a):.2f})"
            spans.append(f'<span style="background-color:{colour}">{html.escape(ins.labels[t])}</span>')
        self.words.setText(
            f"<b>Integrated gradients</b> (green raises {html.escape(ins.prediction_name)}, red lowers it; "
            f"they sum to {att.score - att.baseline_score:+.3f}, the prediction {att.score:.3f} minus the "
            f"empty review's {att.baseline_score:.3f}):<br>" + " ".join(spans))
        self.words.setVisible(True)

    def _fill_equations(self) -> None:
        ins = self.inspection
        if ins is None:
            return
        trace = ins.trace
        d = trace.directions[self.direction]
        label = ins.labels[self.step] if self.step < len(ins.labels) else ""
        from seqstudio.core.inspect import equations

        lines = equations(trace, self.direction, self.unit, self.step)
        head = (f"<b>layer {trace.layer_index + 1} ({html.escape(trace.layer_name)}), {d.name}</b><br>"
                f"unit {self.unit} of {trace.units}, step {self.step}"
                f"{' «' + html.escape(label) + '»' if label else ''}")
        extra = ""
        if ins.predictions is not None:
            extra = (f"<br><br>{html.escape(ins.prediction_name)} after this token: "
                     f"{ins.predictions[self.step]:.3f}")
            if ins.attribution is not None:
                extra += f"<br>attribution of this token: {ins.attribution.per_token[self.step]:+.4f}"
        check = (f"<br><br><small>step form vs the layer's fused kernel: max |diff| "
                 f"{trace.max_abs_diff:.1e}</small>")
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in ins.notes)
        # the numbers' line keeps its indent; a long one may still wrap at its spaces
        body = "<br>".join("&nbsp;&nbsp;" + html.escape(x[2:]) if x.startswith("  ") else html.escape(x)
                           for x in lines)
        self.equations.setText(head + "<br><br>" + body
                               + extra + check + notes)

    # -- hover and click -------------------------------------------------------------------
    def _cell_at(self, pos) -> tuple[str, int, int, float] | None:
        for name, plot, values in self._maps:
            if plot.sceneBoundingRect().contains(pos):
                point = plot.vb.mapSceneToView(pos)
                t, u = int(np.floor(point.x())), int(np.floor(point.y()))
                if self.inspection and self.inspection.first <= t < self.inspection.stop \
                        and 0 <= u < values.shape[1]:
                    return name, u, t, float(values[t, u])
        return None

    def pick(self, unit: int, step: int) -> None:
        """Fill the equations for ``unit`` at ``step`` and move the step marker there."""
        self.unit, self.step = unit, step
        self._move_lines()
        self._fill_equations()
        self.picked.emit(unit, step)

    def _on_mouse_moved(self, pos) -> None:
        cell = self._cell_at(pos)
        if cell is None or self.inspection is None:
            return
        name, unit, step, value = cell
        label = self.inspection.labels[step]
        self.hover_label.setText(f"{TITLES.get(name, name)} · unit {unit} · step {step}"
                                 f"{' «' + label + '»' if label else ''} = {value:.4f}")
        if not self.pinned:
            self.pick(unit, step)

    def _on_mouse_clicked(self, event) -> None:
        cell = self._cell_at(event.scenePos())
        if cell is None:
            return
        self.pinned = not self.pinned
        self.pick(cell[1], cell[2])


def render_png(inspection: Inspection, *, size: tuple[int, int] = (1200, 900)) -> bytes:
    """The picture of ``inspection`` as PNG bytes (a Qt application is made offscreen if needed)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    view = InspectView()
    view.resize(*size)
    view.show()
    app.processEvents()  # laid out first: the time labels are spaced by the plots' width
    view.set_inspection(inspection)
    app.processEvents()
    pixmap = view.grab()
    view.close()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    return bytes(buffer.data().data())
