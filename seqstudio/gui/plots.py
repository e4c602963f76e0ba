"""Plot widgets: the live loss plot and helpers shared by the series plots.

The live loss plot follows pyqtgraph's advice for streaming data: the curves
are created once, the numbers live in growing numpy buffers, and a ~50 ms
QTimer calls ``setData`` only when something new arrived, so a batch-size-1
run never redraws once per batch. Peak downsampling and clip-to-view keep a
10,000-epoch run smooth.

>>> plot = LossPlot()                           # doctest: +SKIP
>>> plot.append_epochs([1, 2], [0.5, 0.4], [0.6, float("nan")])   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGraphicsItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

pg.setConfigOptions(antialias=True, background="w", foreground="#222")

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
TEST_COLOR = "#d62728"
FUTURE_COLOR = "#2ca02c"
ACTUAL_COLOR = "#333333"
#: Redraw period of live plots. pyqtgraph paints in Python, holding the GIL that the training
#: thread needs: at 20 redraws a second the batch-size-1 airline recipe trained 1.08x slower in
#: the window than headless, at 4 a second 1.04x (bench/bench_gui.py). 4 a second still reads live.
REDRAW_MS = 250
#: The slowest redraw period, and the ratio of period to redraw cost that sets it in between.
MAX_REDRAW_MS = 1000
MAX_DUTY = 100


class _GrowingBuffer:
    """An append-only float64 buffer that doubles its capacity (amortised O(1) appends)."""

    def __init__(self, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=np.float64)
        self.size = 0

    def extend(self, values: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        needed = self.size + len(values)
        if needed > len(self._data):
            grown = np.empty(max(needed, 2 * len(self._data)), dtype=np.float64)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size:needed] = values
        self.size = needed

    def view(self) -> np.ndarray:
        return self._data[: self.size]

    def clear(self) -> None:
        self.size = 0


class _PrepareBeforePaint(QObject):
    """Viewport event filter doing what pyqtgraph's Python ``paintEvent`` does before a paint."""

    def __init__(self, view: pg.GraphicsView):
        super().__init__(view)
        self._view = view

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            scene = self._view.scene()
            if scene is not None:
                scene.prepareForPaint()  # pending auto-range and view transforms
        return False


class PlotWidget(pg.PlotWidget):
    """A ``pg.PlotWidget`` whose paint runs in Qt's C++ without holding Python's GIL.

    PySide holds the GIL for the whole of a C++ call made from Python, and
    pyqtgraph's ``GraphicsView.paintEvent`` is Python that calls the C++ paint: a
    repaint of the plot held the GIL that a training thread needs for all of its
    rasterising. Here the C++ ``QGraphicsView.paintEvent`` is called by Qt directly,
    the preparation pyqtgraph did there comes from an event filter, and only the
    pyqtgraph items' own ``paint`` methods take the GIL (the axes and their grid
    lines, cached as pixmaps, not even those unless they changed).
    """

    paintEvent = QGraphicsView.paintEvent  # noqa: N815 - Qt's name; not a Python override

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.viewport().installEventFilter(_PrepareBeforePaint(self))


def make_plot_widget(title: str, x_label: str, y_label: str, *, date_axis: bool = False,
                     object_name: str = "", legend_offset=(10, 10), legend: bool = True) -> pg.PlotWidget:
    """A white plot with labelled axes, a grid and a legend (``date_axis`` for time stamps).

    ``legend=False`` for a plot whose items have no names (an empty legend is a small box).
    """
    axis_items = {"bottom": pg.DateAxisItem()} if date_axis else None
    widget = PlotWidget(axisItems=axis_items)
    if object_name:
        widget.setObjectName(object_name)
    item = widget.getPlotItem()
    item.setTitle(title, size="11pt")
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        # major and minor grid lines only: the default third level doubles the lines, and
        # replaying them is most of a repaint (it held the GIL ~5 ms per axis while training)
        item.getAxis(axis).setStyle(maxTickLevel=1)
        # repainted from a pixmap unless the axis itself changed (no Python, no GIL)
        item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    if legend:
        item.addLegend(offset=legend_offset, **legend_style())
    widget.setMinimumHeight(220)
    return widget


def thin_long_curves(widget: pg.PlotWidget) -> pg.PlotWidget:
    """Draw long series the way pyqtgraph advises: peak downsampling and clip-to-view.

    Applies to every curve added to ``widget`` afterwards. A 200,000-row series drawn
    point by point with an antialiased pen took the GUI thread for tens of seconds per
    repaint; downsampled to ~5 points a pixel (keeping each bucket's min and max, so
    spikes stay visible) it is a few milliseconds, and a zoom shows the full detail.
    """
    item = widget.getPlotItem()
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    return widget


#: Above this many points a series is drawn with a 1-pixel pen (see :func:`series_style`).
THICK_LINE_POINTS = 300
#: Peak-downsampling buckets per pixel of plot width. pyqtgraph's default (5) draws ten
#: vertices a pixel; two buckets (each its min and max) already trace every pixel's extent.
DOWNSAMPLE_FACTOR = 2.0


def series_style(color, points: int, width: float = 1.5, **pen_kwargs) -> dict:
    """``plot()`` keywords for a series of ``points`` points: its pen and downsampling density.

    The pen is ``width`` wide when the series is short and 1 pixel when it is long: Qt
    strokes an antialiased pen wider than one pixel as an outline it then fills, which on
    a dense, jagged series costs seconds per repaint (2,000 noisy points at width 1.5:
    ~0.3 s; 9,000: ~20 s), while a 1-pixel pen takes Qt's fast line path and reads as
    well where the lines sit a pixel apart anyway. With :func:`thin_long_curves` on the
    plot, a 200,000-point series is drawn as ~3,000 vertices (~10 ms).
    """
    return {"pen": pg.mkPen(color, width=line_width(points, width), **pen_kwargs),
            "autoDownsampleFactor": DOWNSAMPLE_FACTOR}


def line_width(points: int, width: float, limit: int = THICK_LINE_POINTS) -> float:
    """``width`` for at most ``limit`` points to draw, else 1 pixel (see :func:`series_style`)."""
    return width if points <= limit else 1


def actual_color():
    """The colour of the actual series: the theme's text colour (dark grey, or light on dark)."""
    return pg.mkColor(pg.getConfigOption("foreground"))


def legend_style() -> dict:
    """Legend colours for the current theme: a translucent panel of the plot's background.

    Over a dense series a legend without a background is unreadable; the panel keeps the
    curves visible through it.
    """
    background = pg.mkColor(pg.getConfigOption("background"))
    foreground = pg.mkColor(pg.getConfigOption("foreground"))
    fill = pg.mkColor(background)
    fill.setAlpha(215)
    edge = pg.mkColor(foreground)
    edge.setAlpha(90)
    return {"brush": pg.mkBrush(fill), "pen": pg.mkPen(edge), "labelTextColor": foreground}


def style_legend(legend) -> None:
    """Recolour an existing legend for the current theme (:func:`legend_style`)."""
    if legend is None:
        return
    style = legend_style()
    legend.setBrush(style["brush"])
    legend.setPen(style["pen"])
    legend.setLabelTextColor(style["labelTextColor"])
    for _sample, label in legend.items:  # pyqtgraph stores the colour but draws the old text
        label.setText(label.text, color=style["labelTextColor"])


def recolour_foreground(widget: pg.PlotWidget, old, new) -> None:
    """Redraw in ``new`` what ``widget`` drew in the theme's text colour ``old`` (a theme switch).

    The actual series and the plots' text labels take the theme's text colour when drawn;
    without this, switching to the dark theme left a dark grey series on a dark plot.
    """
    old, new = pg.mkColor(old), pg.mkColor(new)
    for item in widget.getPlotItem().items:
        if isinstance(item, pg.PlotDataItem):
            pen = item.opts.get("pen")
            if isinstance(pen, QPen) and pen.color().rgb() == old.rgb():
                recoloured = QPen(pen)
                recoloured.setColor(new)
                item.setPen(recoloured)
        elif isinstance(item, pg.TextItem) and item.color.rgb() == old.rgb():
            colour = pg.mkColor(new)
            colour.setAlpha(item.color.alpha())
            item.setColor(colour)


def set_time_axis(widget: pg.PlotWidget, is_date: bool) -> None:
    """Show time stamps as dates, or a plain row index as plain numbers, on the bottom axis.

    A ``DateAxisItem`` reads step 5 as five seconds after 1970 and labels it 00:00:05;
    a series without a time column gets an ordinary axis instead.
    """
    item = widget.getPlotItem()
    current = item.getAxis("bottom")
    if isinstance(current, pg.DateAxisItem) == is_date:
        return
    axis = pg.DateAxisItem(orientation="bottom") if is_date else pg.AxisItem(orientation="bottom")
    axis.setStyle(maxTickLevel=1)
    axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    label = current.labelText
    foreground = pg.getConfigOption("foreground")
    axis.setPen(foreground)
    axis.setTextPen(foreground)
    item.setAxisItems({"bottom": axis})
    item.setLabel("bottom", label)


def time_values(index) -> tuple[np.ndarray, bool]:
    """Turn a time index (dates or plain positions) into plot x values.

    Returns ``(x, is_date)``: seconds since the epoch for dates (pyqtgraph's
    DateAxisItem shows them as dates), plain floats otherwise.
    """
    values = pd.Index(index) if not isinstance(index, pd.Index) else index
    if isinstance(values, pd.PeriodIndex):
        values = values.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.DatetimeIndex(values)
        if stamps.tz is not None:
            stamps = stamps.tz_convert(None)
        # microseconds: dates before 1677 or after 2262 do not fit in nanoseconds
        return stamps.as_unit("us").asi8.astype(np.float64) / 1e6, True
    try:
        return np.asarray(values, dtype=np.float64), False
    except (TypeError, ValueError):
        return np.arange(len(values), dtype=np.float64), False


def export_plot_png(widget: pg.PlotWidget, path: str) -> None:
    """Write what ``widget`` shows to a PNG file (used by every Export button)."""
    widget.grab().save(path, "PNG")


def ask_export_png(widget: pg.PlotWidget, parent: QWidget, default_name: str) -> str | None:
    """Ask for a file name and export ``widget`` there; returns the path or None."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export plot as PNG", default_name,
                                          "PNG image (*.png)")
    if path:
        export_plot_png(widget, path)
        return path
    return None


def smooth_ema(values: np.ndarray, weight: float, seed: float = np.nan) -> np.ndarray:
    """TensorBoard-style exponential moving average (``weight`` 0 = raw), NaN-safe, vectorised.

    ``seed`` is the smoothed value just before ``values`` (NaN: start fresh), so a growing
    buffer can be smoothed a tail at a time: ``smooth_ema(b, w, smooth_ema(a, w)[-1])``
    continues ``smooth_ema(a, w)``. A NaN input repeats the previous smoothed value.
    """
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or values.size == 0:
        return values
    series = pd.Series(np.concatenate([[seed], values]))
    smoothed = series.ewm(alpha=1.0 - weight, adjust=False, ignore_na=True).mean().to_numpy()
    return smoothed[1:]


class LossPlot(QWidget):
    """Train and validation loss per epoch, a faint per-batch curve, and its controls.

    Feed it with :meth:`append_batches` and :meth:`append_epochs` at any rate;
    it redraws at most every ``REDRAW_MS`` milliseconds. ``batch_x`` are
    fractional epochs so both curves share the epoch axis.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = make_plot_widget("Loss", "epoch", "loss", object_name="lossPlot")
        item = self.plot.getPlotItem()
        item.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" reads badly
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        self._batch_curve = item.plot([], [], pen=pg.mkPen((31, 119, 180, 60), width=1),
                                      name="batch loss")
        self._train_curve = item.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), name="train loss",
                                      symbol="o", symbolSize=4, symbolBrush=TRAIN_COLOR,
                                      symbolPen=None)
        self._val_curve = item.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), name="validation loss",
                                    symbol="o", symbolSize=4, symbolBrush=VAL_COLOR, symbolPen=None)
        for curve in (self._batch_curve, self._train_curve, self._val_curve):
            curve.setSkipFiniteCheck(False)  # losses can be NaN: keep pyqtgraph's finite check on

        self._batch_x, self._batch_y = _GrowingBuffer(), _GrowingBuffer()
        # the smoothed batch curve, extended by the new tail at each redraw (O(new points))
        self._batch_smooth = _GrowingBuffer()
        self._smooth_weight = -1.0
        self._epoch_x, self._train_y, self._val_y = _GrowingBuffer(), _GrowingBuffer(), _GrowingBuffer()
        self._dirty = False
        self.redraw_count = 0
        #: set by an owner that redraws on its own clock (see :meth:`set_driven`)
        self._driven = False
        #: the redraw period this plot's last redraw cost asks for (duty at most 1/MAX_DUTY)
        self.suggested_interval_ms = REDRAW_MS

        self.log_check = QCheckBox("log scale", self)
        self.log_check.setObjectName("lossLogScale")
        self.log_check.setToolTip("Show the loss on a logarithmic axis (useful when it falls by decades).")
        self.log_check.toggled.connect(self._on_log_toggled)
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.smooth_slider.setObjectName("lossSmoothing")
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)  # TensorBoard's default: batch-size-1 losses are very noisy
        self.smooth_slider.setToolTip("Exponential smoothing of the faint per-batch curve "
                                      "(left = raw, right = smooth).")
        self.smooth_slider.setMaximumWidth(160)
        self.smooth_slider.valueChanged.connect(self._on_smoothing_changed)
        self.readout = QLabel("", self)
        self.readout.setObjectName("lossReadout")

        controls = QHBoxLayout()
        controls.addWidget(self.log_check)
        controls.addSpacing(12)
        controls.addWidget(QLabel("smoothing", self))
        controls.addWidget(self.smooth_slider)
        controls.addStretch(1)
        controls.addWidget(self.readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)

        self._hover = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30,
                                     slot=self._on_mouse_moved)
        # single-shot, armed by new data: an idle plot never wakes the GUI thread
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_if_dirty)

    # -- feeding --------------------------------------------------------------
    def clear(self) -> None:
        for buf in (self._batch_x, self._batch_y, self._batch_smooth, self._epoch_x,
                    self._train_y, self._val_y):
            buf.clear()
        self._mark_dirty()

    def append_batches(self, x: Sequence[float], losses: Sequence[float]) -> None:
        if len(x):
            self._batch_x.extend(x)
            self._batch_y.extend(losses)
            self._mark_dirty()

    def append_epochs(self, epochs: Sequence[float], train: Sequence[float],
                      val: Sequence[float | None]) -> None:
        if len(epochs):
            self._epoch_x.extend(epochs)
            self._train_y.extend(train)
            self._val_y.extend([np.nan if v is None else v for v in val])
            self._mark_dirty()

    def set_epoch_span(self, first: float, last: float) -> None:
        """Show the whole run's epochs on x from the start, as a training-progress plot does.

        The x axis then stays still while the run fills it, so only the loss axis is
        re-laid out on each redraw (axis layout is most of what a redraw costs).
        """
        item = self.plot.getPlotItem()
        item.enableAutoRange(x=False)
        item.setXRange(first, max(last, first + 1), padding=0.02)

    @property
    def epoch_count(self) -> int:
        return self._epoch_x.size

    def curve_data(self) -> dict[str, np.ndarray]:
        """The buffered numbers (tests and CSV export read them)."""
        return {"epoch": self._epoch_x.view().copy(), "train_loss": self._train_y.view().copy(),
                "val_loss": self._val_y.view().copy(), "batch_x": self._batch_x.view().copy(),
                "batch_loss": self._batch_y.view().copy()}

    # -- drawing --------------------------------------------------------------
    def set_driven(self, driven: bool) -> None:
        """Let the owner redraw (:meth:`redraw_if_dirty`) on its own timer instead of ours.

        The train panel does, so that the plot and the progress bar always show the
        same moment of the run: two timers drifted apart by up to a second, which on a
        fast run was several epochs.
        """
        self._driven = bool(driven)
        if driven:
            self._timer.stop()

    def redraw_if_dirty(self) -> bool:
        """Redraw when something new arrived and the plot is shown; True when it redrew."""
        if self._dirty and self.isVisible():
            self.redraw()
            return True
        return False

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._driven and not self._timer.isActive():
            self._timer.start()

    def _redraw_if_dirty(self) -> None:
        # A hidden plot (another tab in front) is not redrawn at all: setData on thousands of
        # points is Python work that holds the GIL the training thread needs. It catches up
        # in showEvent.
        if self._dirty and self.isVisible():
            self.redraw()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        started = time.perf_counter()
        self._dirty = False
        self.redraw_count += 1
        weight = self.smooth_slider.value() / 100.0
        log = self.log_check.isChecked()
        self._set_curve(self._batch_curve, self._batch_x.view(), self._smoothed_batches(weight), log)
        self._set_curve(self._train_curve, self._epoch_x.view(), self._train_y.view(), log)
        val = self._val_y.view()
        if np.isfinite(val).any():
            self._set_curve(self._val_curve, self._epoch_x.view(), val, log)
            self._show_in_legend(self._val_curve, "validation loss", True)
        else:
            self._val_curve.setData([], [])
            self._show_in_legend(self._val_curve, "validation loss", False)
        # The paint itself comes later from the event loop, mostly without the GIL (see
        # PlotWidget). Redraws are spaced so that this Python part takes at most ~1/MAX_DUTY
        # of the GUI thread: a slow machine redraws less often, never slower.
        cost = time.perf_counter() - started
        self.suggested_interval_ms = int(min(MAX_REDRAW_MS, max(REDRAW_MS, cost * 1000 * MAX_DUTY)))
        self._timer.setInterval(self.suggested_interval_ms)

    def _smoothed_batches(self, weight: float) -> np.ndarray:
        raw = self._batch_y.view()
        if weight != self._smooth_weight:
            self._batch_smooth.clear()
            self._smooth_weight = weight
        done = self._batch_smooth.size
        if done < raw.size:
            seed = self._batch_smooth.view()[-1] if done else np.nan
            self._batch_smooth.extend(smooth_ema(raw[done:], weight, seed))
        return self._batch_smooth.view()

    def _show_in_legend(self, curve, name: str, shown: bool) -> None:
        """List ``curve`` in the legend only while it has data (no validation split, no entry)."""
        legend = self.plot.getPlotItem().legend
        listed = any(sample.item is curve for sample, _label in legend.items)
        if shown and not listed:
            legend.addItem(curve, name)
        elif not shown and listed:
            legend.removeItem(curve)

    @staticmethod
    def _set_curve(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray, log: bool) -> None:
        if log:
            # non-positive losses have no logarithm: hide them rather than break the axis
            y = np.where(y > 0, y, np.nan)
        curve.setData(x, y, connect="finite")

    def _on_log_toggled(self, checked: bool) -> None:
        self.plot.getPlotItem().setLogMode(y=checked)
        self.redraw()

    def _on_smoothing_changed(self, _value: int) -> None:
        self._mark_dirty()

    def _on_mouse_moved(self, event) -> None:
        pos = event[0]
        item = self.plot.getPlotItem()
        if not item.sceneBoundingRect().contains(pos) or self._epoch_x.size == 0:
            return
        x = item.vb.mapSceneToView(pos).x()
        epochs = self._epoch_x.view()
        i = int(np.clip(np.searchsorted(epochs, x), 0, epochs.size - 1))
        val = self._val_y.view()[i]
        text = f"epoch {epochs[i]:g}: train {self._train_y.view()[i]:.5g}"
        if np.isfinite(val):
            text += f", validation {val:.5g}"
        self.readout.setText(text)
