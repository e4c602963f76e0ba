"""How responsive the window stays while it trains, and what training in it costs.

Two numbers, for the lecture's airline recipe (LSTM(4) -> Dense(1), batch size 1):

1. The GUI thread's longest stall while training: a 5 ms QTimer records when
   it actually fires; a stall is the gap beyond its interval. Target < 50 ms.
2. Seconds per epoch in the window over seconds per epoch headless (the same
   ``core.training.train`` generator iterated in a plain loop). Target <= 1.05.
   The window trains in its warm training process (``core/trainproc.py``); the
   report also gives the whole run's wall time, Train click to result, over the
   headless loop's, which adds copying the model and data there and back.

Headless and window runs are interleaved (``--rounds``) so that drift of a
shared machine hits both alike. Writes ``bench/out/gui.md``.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py --epochs 100 --rounds 3
    python bench/bench_gui.py --epochs 2 --rounds 1     # a quick check that it runs
    python bench/bench_gui.py --only-ui                 # opening files and the Runs tab only

Also (every run): the longest GUI stall while File > Open data reads a file that
is not a table (the 1.6 MB one-line ``imdb_word_index.json``: refused) and a
200,000-row CSV, until half a second after the outcome (drawing it counts), and
while the Runs tab shows, filters, sorts and ticks 500 runs (the action and the
repaint that follows). The benchmark builds several windows; their garbage is
collected before each measured action, so that a collection it caused does not
land in the next one (the app freezes what it starts with, see ``gui/app.py``).
The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Settings and autosave copies in a scratch folder: no recovery prompt, the user's own untouched.
if "SEQSTUDIO_CONFIG_DIR" not in os.environ:
    import tempfile

    os.environ["SEQSTUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="seqstudio-bench-")


def headless_seconds_per_epoch(epochs: int) -> tuple[float, float]:
    """Seconds per epoch (the core's timing) and the whole loop's wall seconds."""
    from seqstudio.core.presets import get_preset
    from seqstudio.core.project import Project
    from seqstudio.core.train.loop import train
    from seqstudio.pluginapi.manager import builtin_registry

    registry = builtin_registry()
    project = Project.from_preset("airline-lstm")
    data = project.prepare_data(registry)
    preset = get_preset("airline-lstm")
    model = preset.model_spec(registry).build(data.input_shape, registry=registry)
    config = preset.train_config(epochs=epochs)
    from seqstudio.core.train.events import Finished

    result = None
    started = time.perf_counter()
    for event in train(model, data, config):
        if isinstance(event, Finished):
            result = event.result
    # the core's own epoch timing, measured the same way as in the window
    wall = time.perf_counter() - started
    seconds = sum(h.get("seconds", 0.0) for h in result.history) or wall
    return seconds / result.epochs_run, wall


def window_run(epochs: int, interval_ms: int = 5, *, probe: bool = True,
               imdb_csv: str | None = None) -> tuple[float, float, int, float]:
    """Train in the window; returns (seconds per epoch, longest stall in ms, timer ticks, wall s).

    The probe timer itself wakes the GUI thread 200 times a second, which the window
    never does, so the speed ratio is measured on runs without it (``probe=False``).
    """
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from seqstudio.gui.app import create_window
    from seqstudio.pluginapi.manager import builtin_registry

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = create_window(registry=builtin_registry(), offer_recovery=False)
    window.ask_save_changes = lambda: "discard"  # a benchmark never asks
    window.resize(1280, 800)
    if imdb_csv:  # the lecture's IMDB model (LSTM(128), dropout and recurrent dropout) on real reviews
        window.apply_preset("imdb-lstm")
        window.data_panel.set_source("text-csv", {**window.data_panel.options(), "path": imdb_csv})
        window.data_panel.wait_ready()  # large inputs are prepared in the background
    window.show()
    window.tabs.setCurrentIndex(2)  # the Train tab: the loss plot is visible and redrawing
    window.train_panel.form.set_values({"epochs": epochs})
    app.processEvents()

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()
    ended = []
    window.train_panel.runFinished.connect(lambda result: setattr(window, "_bench_result", result))
    window.train_panel.runFinished.connect(lambda result: ended.append(time.perf_counter()))
    window.train_panel.runEnded.connect(loop.quit)
    if probe:
        timer.start()
    clicked = time.perf_counter()
    window.train_panel.train_button.click()
    loop.exec()
    timer.stop()
    result = window._bench_result
    # Stalls while training: up to the end of the core's run, not the results, run record and
    # autosave the window builds afterwards (about 0.1 s once, for the IMDB model).
    trained_until = clicked + result.seconds
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if b <= trained_until]
    stall_ms = max(0.0, (max(gaps) if gaps else 0.0) * 1000 - interval_ms)
    window.close()
    # the core's own timing of the epochs, so that building the results after the run is not counted
    seconds = sum(h.get("seconds", 0.0) for h in result.history) or result.seconds
    return seconds / result.epochs_run, stall_ms, len(ticks), ended[0] - clicked


def _probe_stalls(action, done_signal, *, interval_ms: int = 5, timeout_ms: int = 120_000,
                  after_ms: int = 500):
    """Run ``action()`` and wait for ``done_signal``; returns (longest GUI stall ms, the GUI
    thread's CPU ms within it, seconds, ticks).

    A ``interval_ms`` QTimer records when it actually fires; a stall is the gap beyond its
    interval, from the moment ``action`` is called until ``after_ms`` after the signal
    arrived: what the outcome makes the window do (drawing the new data) counts too. The
    CPU time says how much of the stall was the window's own work and how much waiting
    for a core on a busy machine.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    ticks: list[tuple[float, float]] = []  # (wall, GUI-thread CPU) each time the timer fired
    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), time.thread_time())))
    loop = QEventLoop()
    done: list[float] = []

    def finish(*_args):
        done.append(time.perf_counter())
        loop.quit()

    done_signal.connect(finish)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    gc.collect()  # the garbage of the benchmark's own earlier windows, not the action's
    timer.start()
    started = time.perf_counter()
    ticks.append((started, time.thread_time()))
    action()
    if not done:
        deadline.start(timeout_ms)
        loop.exec()
    ended = done[0] if done else time.perf_counter()
    settle = QTimer()  # keep probing while the window shows the outcome (layout, repaint)
    settle.setSingleShot(True)
    settle.timeout.connect(loop.quit)
    settle.start(after_ms)
    loop.exec()
    ticks.append((time.perf_counter(), time.thread_time()))
    timer.stop()
    done_signal.disconnect(finish)
    gap, cpu = max((b[0] - a[0], b[1] - a[1]) for a, b in zip(ticks, ticks[1:], strict=False))
    return max(0.0, gap * 1000 - interval_ms), cpu * 1000, ended - started, len(ticks)


def write_long_csv(path: Path, rows: int = 200_000) -> Path:
    """An hourly series of ``rows`` rows with three numeric columns (a large real-world shape)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.arange(rows)
    frame = pd.DataFrame({
        "time": pd.date_range("2000-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "load": np.round(100 + 10 * np.sin(t / 24 * 2 * np.pi) + rng.normal(0, 1, rows), 3),
        "temperature": np.round(15 + 8 * np.sin(t / 8766 * 2 * np.pi) + rng.normal(0, 1, rows), 2),
        "price": np.round(50 + rng.normal(0, 5, rows), 2)})
    frame.to_csv(path, index=False)
    return path


def load_stalls(paths: list[tuple[str, Path]]) -> list[tuple[str, float, float, float, str]]:
    """Open each file in the window (File > Open data); (name, longest stall ms, its CPU ms, seconds,
    outcome)."""
    from PySide6.QtWidgets import QApplication

    from seqstudio.gui.app import create_window
    from seqstudio.pluginapi.manager import builtin_registry

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rows = []
    for name, path in paths:
        window = create_window(registry=builtin_registry(), offer_recovery=False)
        window.ask_save_changes = lambda: "discard"
        window.resize(1280, 800)
        window.show()
        app.processEvents()
        panel = window.data_panel
        stall, cpu, seconds, _ticks = _probe_stalls(lambda w=window, p=path: w.open_data_file(str(p)),
                                               panel.dataChanged)
        outcome = "loaded" if panel.prepared is not None and not panel.error else \
            f"refused: {panel.error.splitlines()[0][:70]}"
        print(f"open {name}: longest GUI stall {stall:.1f} ms (CPU {cpu:.1f} ms), {seconds:.2f} s, "
              f"{outcome}")
        rows.append((name, stall, cpu, seconds, outcome))
        window.close()
    return rows


def runs_tab_stalls(n_runs: int = 500) -> list[tuple[str, float, float]]:
    """The Runs tab with ``n_runs`` runs: each user action's GUI stall and its CPU time, in ms."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from seqstudio.gui.runs_panel import RunsPanel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, 101)]
    runs = [{"id": f"r{i}", "number": i + 1, "name": f"run {i + 1}: LSTM(4) seed {i}",
             "source": "csv-series", "data_options": {"path": f"data{i % 3}.csv"},
             "data": {"source": "csv-series", "file": f"data{i % 3}.csv", "target": "y",
                      "hash": f"h{i % 3}"},
             "model": {"layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}]},
             "train": {"loss": "mse", "seed": i}, "history": history, "total_params": 101,
             "epochs_run": 100, "seconds": 12.5, "device": "cpu",
             "metrics": {"test": {"rmse": 40.0 + i % 7, "mae": 30.0, "mape": 8.0}}}
            for i in range(n_runs)]
    panel = RunsPanel()
    panel.resize(1280, 760)
    panel.show()
    app.processEvents()

    def timed(action) -> tuple[float, float]:
        gc.collect()  # what the benchmark made before (windows, 500 run records), not the action
        started, cpu = time.perf_counter(), time.thread_time()
        action()
        loop = QEventLoop()  # the repaint that follows is part of the stall
        QTimer.singleShot(0, loop.quit)
        loop.exec()
        app.processEvents()
        return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000

    table = panel.runs_table
    results = [
        ("show 500 runs", timed(lambda: panel.set_runs(runs))),
        ("tick 5 runs", max(timed(lambda i=i: panel.set_run_checked(f"r{i}", True)) for i in range(5))),
        ("filter to one data set", timed(lambda: panel.set_data_filter("h1"))),
        ("all data again", timed(lambda: panel.set_data_filter(""))),
        ("group by data", timed(lambda: panel.group_check.setChecked(True))),
        ("sort by seconds", timed(lambda: table.sortByColumn(5, table.horizontalHeader().sortIndicatorOrder()))),
        ("scroll to the end", timed(lambda: table.scrollToBottom())),
        ("a new run arrives", timed(lambda: panel.set_runs(runs + [dict(runs[0], id="new")]))),
    ]
    panel.close()
    results = [(name, *ms) for name, ms in results]
    for name, ms, cpu in results:
        print(f"runs tab, {name}: {ms:.1f} ms (CPU {cpu:.1f} ms)")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)  # the lecture's run
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "gui.md"))
    parser.add_argument("--imdb-csv", help="also measure the stall while training the lecture's IMDB "
                                           "model for one epoch on this CSV (review,sentiment)")
    parser.add_argument("--wrong-file", help="a file that is not a table (default: "
                                             "imdb_word_index.json of the shared data sets, if found)")
    parser.add_argument("--only-ui", action="store_true",
                        help="measure only opening files and the Runs tab (no training runs)")
    args = parser.parse_args(argv)
    ui_rows = ui_stall_rows(args.wrong_file)
    if args.only_ui:
        return _write_report(args.out, ["# GUI responsiveness: opening files and the Runs tab", "",
                                        *ui_rows])

    headless, in_window, stalls, headless_wall, window_wall = [], [], [], [], []
    headless_seconds_per_epoch(1)  # warm-up: imports, first-call allocations
    window_run(1, probe=False)     # ... and the training process the app starts with the window
    for r in range(args.rounds):
        per_epoch, wall = headless_seconds_per_epoch(args.epochs)
        headless.append(per_epoch)
        headless_wall.append(wall)
        per_epoch, _, _, wall = window_run(args.epochs, probe=False)
        in_window.append(per_epoch)
        window_wall.append(wall)
        _, stall, ticks, _ = window_run(args.epochs, probe=True)
        stalls.append(stall)
        print(f"round {r + 1}: headless {headless[-1] * 1000:.1f} ms/epoch ({headless_wall[-1]:.2f} s), "
              f"window {per_epoch * 1000:.1f} ms/epoch ({wall:.2f} s), "
              f"longest GUI stall {stall:.1f} ms ({ticks} ticks)")
    ratio = statistics.median(in_window) / statistics.median(headless)
    wall_ratio = statistics.median(window_wall) / statistics.median(headless_wall)
    imdb_rows = []
    if args.imdb_csv:
        per_epoch, stall, ticks, _ = window_run(1, probe=True, imdb_csv=args.imdb_csv)
        print(f"imdb: {per_epoch:.1f} s/epoch in the window, longest GUI stall {stall:.1f} ms")
        imdb_rows = [f"| longest GUI-thread stall, IMDB Embedding-LSTM(128) epoch | {stall:.1f} ms | < 50 ms |"]
    report = "\n".join([
        "# GUI responsiveness and cost (airline-lstm, batch size 1)",
        "",
        f"epochs per run: {args.epochs}, rounds: {args.rounds}, torch threads default, "
        f"platform {os.environ.get('QT_QPA_PLATFORM', 'native')}",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| headless s/epoch (median) | {statistics.median(headless):.4f} | |",
        f"| in-window s/epoch (median; Train tab showing the live loss plot) | "
        f"{statistics.median(in_window):.4f} | |",
        f"| window / headless | {ratio:.3f} | <= 1.05 |",
        f"| whole run, Train click to result / headless loop (medians {statistics.median(window_wall):.2f} s"
        f" / {statistics.median(headless_wall):.2f} s) | {wall_ratio:.3f} | |",
        f"| longest GUI-thread stall while training (max over rounds) | {max(stalls):.1f} ms | < 50 ms |",
        *imdb_rows,
        "",
        *ui_rows,
    ])
    return _write_report(args.out, [report])


def _write_report(path: str, lines: list[str]) -> int:
    report = "\n".join(lines) + "\n"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)
    return 0


def ui_stall_rows(wrong_file: str | None) -> list[str]:
    """Markdown rows: the longest GUI stall opening a wrong file and a 200k-row CSV, and in the Runs tab."""
    import tempfile

    if wrong_file is None:
        shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imdb_word_index.json"
        wrong_file = str(shared) if shared.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        files = [("200,000-row hourly CSV (4 columns)", write_long_csv(Path(tmp) / "long.csv"))]
        if wrong_file:
            files.insert(0, (f"{Path(wrong_file).name} ({Path(wrong_file).stat().st_size / 1e6:.1f} MB, "
                             "not a table)", Path(wrong_file)))
        loads = load_stalls(files)
    runs = runs_tab_stalls(500)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = [f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (1, 5, 15 min) on "
            f"{os.cpu_count()} CPUs", "",
            "| action | longest GUI-thread stall | GUI-thread CPU in it | seconds to the outcome | "
            "outcome | target |",
            "| --- | --- | --- | --- | --- | --- |"]
    rows += [f"| open {name} | {stall:.1f} ms | {cpu:.1f} ms | {seconds:.2f} | {outcome} | < 50 ms |"
             for name, stall, cpu, seconds, outcome in loads]
    rows += [f"| Runs tab, 500 runs: {name} | {ms:.1f} ms | {cpu:.1f} ms | | | < 50 ms |"
             for name, ms, cpu in runs]
    return rows


if __name__ == "__main__":
    sys.exit(main())
