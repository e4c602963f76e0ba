"""The Backtest view: a rolling-origin backtest of the project's model, run outside the window.

The panel writes the project (with its weights, when trained) to a temporary
file and runs ``seqstudio backtest`` on it in a child process (QProcess), so
fold trainings never compete with the window; its progress lines drive the
progress bar and Stop kills the child. When it ends, the result kept in the
temporary project is read back and shown: the series with each fold's origin
and forecast (with its held-out 80 % band), the error per step ahead of the
model against the baselines, the per-fold metrics with their mean and spread,
the verdicts, and the future forecast with its conformal bands.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.forecast.scores import METRICS

from .plots import make_plot_widget, series_style, thin_long_curves

if TYPE_CHECKING:  # backtest.py needs torch, which the window loads after it is shown
    from seqstudio.core.forecast.backtest import BacktestResult

_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")
_COLOURS = {"model": (31, 119, 180), "naive": (127, 127, 127), "seasonal_naive": (214, 39, 40),
            "drift": (148, 103, 189), "mean": (140, 86, 75), "ets": (44, 160, 44), "arima": (255, 127, 14)}


def _duration(seconds: float) -> str:
    """``0.00093`` -> ``"0.9 ms"``, ``12.34`` -> ``"12.3 s"``: a never-retrain backtest takes
    about a millisecond, which "0.0 s" would hide."""
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds:.1f} s"


def _x(times: list[str]) -> np.ndarray:
    try:
        return pd.to_datetime(pd.Index(times)).as_unit("us").asi8 / 1e6
    except (ValueError, TypeError):
        return np.asarray([float(t) for t in times])


class BacktestPanel(QWidget):
    """Settings, Run / Stop, progress, and the plots and tables of the last backtest."""

    #: The finished result (as :meth:`BacktestResult.to_dict`) and its run record.
    backtestFinished = Signal(dict, dict)
    backtestFailed = Signal(str)

    def __init__(self, project_provider: Callable[[], tuple], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("backtestPanel")
        self._provider = project_provider
        self._process: QProcess | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._stderr = ""
        self.result: BacktestResult | None = None

        self.folds_spin = QSpinBox(self, objectName="backtestFolds", minimum=1, maximum=500, value=5)
        self.horizon_spin = QSpinBox(self, objectName="backtestHorizon", minimum=1, maximum=1000, value=12)
        self.stride_spin = QSpinBox(self, objectName="backtestStride", minimum=1, maximum=1000, value=1)
        self.retrain_combo = QComboBox(self, objectName="backtestRetrain")
        self.retrain_combo.addItems(["every fold", "never: the trained model, every test origin",
                                     "every 2 folds", "every 3 folds"])
        # without retraining the trained model forecasts from every origin after its training data
        self.retrain_combo.currentIndexChanged.connect(
            lambda index: self.folds_spin.setEnabled(index != 1))
        self.window_combo = QComboBox(self, objectName="backtestWindow")
        self.window_combo.addItems(["expanding", "sliding"])
        self.levels_edit = QLineEdit("80,95", self, objectName="backtestLevels")
        self.stats_check = QCheckBox("ETS and ARIMA too (statsmodels)", self, objectName="backtestStats")
        self.run_button = QPushButton("Run backtest", self, objectName="backtestRun")
        self.stop_button = QPushButton("Stop", self, objectName="backtestStop", enabled=False)
        self.progress = QProgressBar(self, objectName="backtestProgress")
        self.status = QLabel("Judge the model over many forecast origins, beside the baselines.", self)
        self.status.setObjectName("backtestStatus")
        self.status.setWordWrap(True)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)

        form = QFormLayout()
        form.addRow("Folds", self.folds_spin)
        form.addRow("Horizon (steps ahead)", self.horizon_spin)
        form.addRow("Stride", self.stride_spin)
        form.addRow("Retrain", self.retrain_combo)
        form.addRow("Training window", self.window_combo)
        form.addRow("Interval levels (%)", self.levels_edit)
        form.addRow(self.stats_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        form.addRow(buttons)
        form.addRow(self.progress)
        settings = QGroupBox("Backtest", self)
        settings.setLayout(form)

        self.series_plot = make_plot_widget("Folds: origins, forecasts and 80% bands", "time", "value",
                                            date_axis=True, object_name="backtestSeriesPlot")
        thin_long_curves(self.series_plot)  # a long series under the folds, drawn as the data panel's
        self.step_plot = make_plot_widget("Error by step ahead (MASE)", "steps ahead", "MASE",
                                          object_name="backtestStepPlot")
        self.fold_table = QTableWidget(self, objectName="backtestFoldTable")
        self.verdict_label = QLabel("", self, objectName="backtestVerdicts")
        self.verdict_label.setWordWrap(True)

        left = QVBoxLayout()
        left.addWidget(settings)
        left.addWidget(self.status)
        left.addWidget(self.verdict_label, 1)
        left_box = QWidget(self)
        left_box.setLayout(left)
        lower = QSplitter(self)
        lower.addWidget(self.step_plot)
        lower.addWidget(self.fold_table)
        lower.setSizes([520, 520])
        right = QSplitter(self)
        right.setOrientation(pg.QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.series_plot)
        right.addWidget(lower)
        outer = QSplitter(self)
        outer.addWidget(left_box)
        outer.addWidget(right)
        outer.setSizes([300, 1000])
        QVBoxLayout(self).addWidget(outer)

    # -- running ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None

    def arguments(self, project_path: str) -> list[str]:
        retrain = ["every", "never", "2", "3"][self.retrain_combo.currentIndex()]
        args = ["-m", "seqstudio.cli", "backtest", "--project", project_path,
                "--horizon", str(self.horizon_spin.value()), "--stride", str(self.stride_spin.value()),
                "--retrain", retrain, "--window", self.window_combo.currentText(),
                "--intervals", self.levels_edit.text().strip() or "80,95",
                "--stats", "ets,arima" if self.stats_check.isChecked() else "none"]
        if retrain != "never":
            args += ["--folds", str(self.folds_spin.value())]
        return args

    def start(self) -> None:
        """Save the project to a temporary file and backtest it in a child process."""
        if self.running:
            return
        try:
            project = self._provider()
            self._tmp = tempfile.TemporaryDirectory(prefix="seqstudio-backtest-")
            path = Path(self._tmp.name) / "project.json"
            project.save(path)
        except Exception as exc:  # noqa: BLE001 - shown, the window stays usable
            self._fail(f"cannot start the backtest: {exc}")
            return
        self._path = path
        self._stderr = ""
        process = QProcess(self)
        process.setProgram(sys.executable)
        process.setArguments(self.arguments(str(path)))
        process.readyReadStandardError.connect(self._on_stderr)
        process.finished.connect(self._on_finished)
        self._process = process
        self.progress.setRange(0, 0)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("starting the backtest process...")
        process.start()

    def stop(self) -> None:
        """Kill the backtest process (its worker processes end with it)."""
        if self._process is not None:
            self.status.setText("stopping...")
            self._process.kill()

    def _on_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError()).decode("utf-8", "replace")
        self._stderr += text
        for line in text.splitlines():
            match = _PROGRESS.match(line.strip())
            if match:
                done, total, message = int(match[1]), int(match[2]), match[3]
                self.progress.setRange(0, total)
                self.progress.setValue(done)
                self.status.setText(message)

    def _on_finished(self, code: int, status) -> None:
        process, self._process = self._process, None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if process is not None:
            process.deleteLater()
        if status != QProcess.ExitStatus.NormalExit or code == 130:
            self.status.setText("backtest stopped")
            return
        if code != 0:
            message = self._stderr.strip().splitlines()
            errors = [line for line in message if line.startswith("seqstudio: error:")]
            text = "\n".join(message[message.index(errors[0]):]) if errors else "\n".join(message[-5:])
            self._fail(text.replace("seqstudio: error: ", "") or f"the backtest ended with status {code}")
            return
        from seqstudio.core.forecast.backtest import BacktestResult
        from seqstudio.core.project import Project

        saved = Project.load(self._path)
        stored = saved.results["backtest"]
        record = saved.runs[-1]
        self.show_result(BacktestResult.from_dict(stored))
        self.progress.setValue(1)  # (a full bar for a finished backtest; stopped or failed: empty)
        self.status.setText(f"done: {len(stored['origins'])} folds in {_duration(stored['seconds'])}")
        self.backtestFinished.emit(stored, record)

    def _fail(self, text: str) -> None:
        self.status.setText(f"Backtest failed: {text}")
        self.backtestFailed.emit(text)

    # -- showing ------------------------------------------------------------------------
    def clear(self) -> None:
        """No result shown (another project, or one without a backtest)."""
        self.result = None
        self.series_plot.getPlotItem().clear()
        self.series_plot.getPlotItem().setTitle("Folds: origins, forecasts and 80% bands", size="11pt")
        self.step_plot.getPlotItem().clear()
        self.fold_table.clear()
        self.fold_table.setRowCount(0)
        self.verdict_label.setText("")

    def show_result(self, result: BacktestResult, series: tuple | None = None, future=None) -> None:
        """Draw a result: folds on the series, error by step, per-fold table, verdicts.

        ``series`` is ``(times, values)`` of the whole target; ``future`` a forecast
        table with ``lower_L`` / ``upper_L`` columns (``predict --intervals``).
        """
        self.result = result
        plot = self.series_plot.getPlotItem()
        plot.clear()
        if series is not None:
            x_all = _x(series[0])
            plot.plot(x_all, series[1], **series_style((160, 160, 160), len(x_all), width=1), name="series")
        from seqstudio.core.forecast.quantiles import fold_bands

        band = fold_bands(result.intervals, result.forecasts["model"]).get("80")  # either method
        # many overlapping folds hide each other: draw folds one horizon apart (always the last)
        horizon, stride = len(result.times[0]) if result.times else 1, int(result.plan.get("stride", 1))
        every = max(1, -(-horizon // stride)) if len(result.times) > 8 else 1
        shown = sorted({len(result.times) - 1 - i * every for i in range(len(result.times))} & set(range(len(result.times))))
        if len(shown) < len(result.times):
            plot.setTitle(f"Folds: {len(shown)} of {len(result.times)} (one horizon apart): origins, "
                          "forecasts and 80% bands", size="11pt")
        for k in shown:
            times = result.times[k]
            x = _x(times)
            model = result.forecasts["model"][k, :, 0]
            actual = result.actual[k, :, 0]
            plot.plot(x, actual, **series_style((60, 60, 60), len(x), width=1),
                      name="actual" if k == 0 else None)
            plot.plot(x, model, **series_style(_COLOURS["model"], len(x), width=2),
                      name="model forecast" if k == 0 else None)
            if band is not None:
                lower, upper = band[0][k, :, 0], band[1][k, :, 0]
                if np.isfinite(lower).all() and np.isfinite(upper).all():
                    low = pg.PlotDataItem(x, lower)
                    high = pg.PlotDataItem(x, upper)
                    plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(31, 119, 180, 50)))
            plot.addItem(pg.InfiniteLine(pos=x[0], angle=90, pen=pg.mkPen((200, 200, 200), style=pg.QtCore.Qt.PenStyle.DashLine)))
        if future is not None and len(future):
            xf = _x([str(t) for t in future["time"]])
            value_col = [c for c in future.columns if c != "time" and not c.startswith(("lower_", "upper_"))][0]
            for level, alpha in (("95", 35), ("80", 70)):
                if f"lower_{level}" in future and np.isfinite(future[f"upper_{level}"]).all():
                    low = pg.PlotDataItem(xf, future[f"lower_{level}"].to_numpy())
                    high = pg.PlotDataItem(xf, future[f"upper_{level}"].to_numpy())
                    plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(255, 127, 14, alpha)))
            plot.plot(xf, future[value_col].to_numpy(), **series_style((255, 127, 14), len(xf), width=2),
                      name="future forecast (80/95% bands)")
        steps = np.arange(1, len(result.times[0]) + 1) if result.times else np.array([])
        item = self.step_plot.getPlotItem()
        item.clear()
        for name, sc in result.scores.items():
            values = np.array([np.nan if v is None else v for v in sc["per_step"]["mase"]], float)
            item.plot(steps, values, pen=pg.mkPen(_COLOURS.get(name, (0, 0, 0)), width=3 if name == "model" else 1),
                      symbol="o" if name == "model" else None, symbolSize=5,
                      name=result.labels.get(name, name))
        self._fill_table(result)
        lines = [f"model {v['text']}" for v in result.verdicts]
        quantile = result.intervals.get("method") == "quantile"
        for level, cov in (result.intervals.get("coverage") or {}).items():
            if cov["n"] and quantile:
                conformal = result.intervals["conformal_coverage"][level]
                lines.append(f"{level}% intervals (the model's own quantiles): coverage {cov['rate']:.2f} "
                             f"({cov['covered']}/{cov['n']}); split-conformal would reach "
                             + (f"{conformal['rate']:.2f}" if conformal["n"] else "- (too few folds)"))
            elif cov["n"]:
                lines.append(f"{level}% intervals: held-out coverage {cov['rate']:.2f} "
                             f"({cov['covered']}/{cov['n']})")
            else:
                lines.append(f"{level}% intervals: no held-out fold yet (more folds needed)")
        lines += [f"note: {n}" for n in result.notes]
        self.verdict_label.setText("\n".join(lines))

    def _fill_table(self, result: BacktestResult) -> None:
        per_fold = result.scores["model"]["per_fold"]
        summary = result.scores["model"]["summary"]
        k_folds = len(result.origins)
        table = self.fold_table
        table.clear()
        table.setColumnCount(1 + len(METRICS))
        table.setHorizontalHeaderLabels(["fold (origin)"] + [m.upper() for m in METRICS])
        table.setRowCount(k_folds + 2)
        rows = [("mean", [summary[m]["mean"] for m in METRICS]),
                ("std", [summary[m]["std"] for m in METRICS])]
        rows += [(f"{k + 1} ({result.origin_times[k]})", [per_fold[m][k] for m in METRICS])
                 for k in range(k_folds)]
        for r, (label, values) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(label))
            for c, value in enumerate(values):
                table.setItem(r, c + 1, QTableWidgetItem("-" if value is None else f"{value:.4g}"))
        table.resizeColumnsToContents()
