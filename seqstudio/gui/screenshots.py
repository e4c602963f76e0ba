"""Render every panel of the window to PNG files: ``python -m seqstudio.gui.screenshots OUT_DIR``.

Run it in a real (virtual) display so fonts and sizes are what a user sees::

    xvfb-run -a -s '-screen 0 1280x800x24' python -m seqstudio.gui.screenshots shots/

It opens the default window at 1280x800, trains the lecture's airline model
(``--epochs``, default 100 at batch size 1 as in the lecture) and saves the
Data, Model, Train and Results tabs, plus an impossible stack and a bad file,
the Runs tab comparing the lecture's LSTM with a GRU, the Inspect tab on the
seasonal airline LSTM, and the Plugins dialog; with ``--data-dir`` (the IMDB
sample CSVs) also the text data and text results (curves, threshold,
confidently wrong reviews) and the Inspect tab on a review. ``--theme dark`` (or ``both``)
renders the dark theme.
Settings and autosave copies go to a temporary folder, so your own are untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from seqstudio.core.errors import SeqStudioError

SIZE = (1280, 800)


def _settle(app: QApplication, ms: int = 150) -> None:
    """Let layouts, the redraw timers and the paint events run."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    app.processEvents()


def _save(window, app: QApplication, out: Path, name: str, ms: int = 150) -> Path:
    _settle(app, ms)
    path = out / f"{name}.png"
    window.grab().save(str(path), "PNG")
    print(path)
    return path


def _run_training(window) -> None:
    loop = QEventLoop()
    window.train_panel.runEnded.connect(loop.quit)
    window.train_panel.train_button.click()
    loop.exec()
    window.train_panel.runEnded.disconnect(loop.quit)


def render_text(window, app: QApplication, out: Path, data_dir: Path, *, epochs: int) -> list[Path]:
    """The IMDB sample: data panel, then a small Embedding-LSTM trained briefly, and its results.

    The lecture's LSTM(128) takes minutes per epoch on a laptop CPU; a 32-unit one
    shows the same panels in seconds.
    """
    from seqstudio.core.model.layers import LSTM, Dense, Embedding
    from seqstudio.core.model.spec import ModelSpec

    from .main_window import TAB_DATA, TAB_RESULTS, TAB_TRAIN

    window.apply_preset("imdb-lstm")
    window.data_panel.set_source("text-csv", {
        **window.data_panel.options(), "path": str(data_dir / "imdb-reviews-train-part1.csv"),
        "test_path": str(data_dir / "imdb-reviews-test.csv")})
    window.data_panel.wait_ready()  # large inputs are prepared in the background
    window.tabs.setCurrentIndex(TAB_DATA)
    paths = [_save(window, app, out, "7-text-data")]
    window.model_editor.set_model_spec(ModelSpec([Embedding(10000, 32), LSTM(32),
                                                  Dense(1, activation="sigmoid")]))
    window.train_panel.form.set_values({"epochs": epochs})
    window.tabs.setCurrentIndex(TAB_TRAIN)
    _run_training(window)
    window.tabs.setCurrentIndex(TAB_RESULTS)
    window.results_panel.review_edit.setPlainText(
        "One of the best films of the year: a wonderful cast and a moving story.")
    view = window.results_panel.classifier_view  # the run computed its report at the end
    view.set_threshold(0.6)  # the threshold moved: the matrix and the marked points follow
    if view.mistakes():
        view.mistakes_table.selectRow(0)
    paths.append(_save(window, app, out, "8-text-results", ms=400))
    paths += render_inspect_text(window, app, out)
    return paths


def _inspect(app: QApplication, panel, start, done=None) -> None:
    """Run ``start()`` (an inspection on the panel's worker); wait for ``done`` (default: drawn),
    a failure, or two minutes."""
    done = done if done is not None else panel.inspected
    loop = QEventLoop()
    done.connect(loop.quit)
    panel.failed.connect(loop.quit)
    QTimer.singleShot(120_000, loop.quit)
    start()
    loop.exec()
    done.disconnect(loop.quit)
    panel.failed.disconnect(loop.quit)


def render_inspect_series(window, app: QApplication, out: Path, *, epochs: int) -> list[Path]:
    """The seasonal airline LSTM (a year of history) trained, one test window inside its layer."""
    from .main_window import TAB_INSPECT

    window.apply_preset("airline-lstm-seasonal")
    window.data_panel.wait_ready()
    window.train_panel.form.set_values({"epochs": epochs})
    _run_training(window)
    window.tabs.setCurrentIndex(TAB_INSPECT)
    panel = window.inspect_panel
    panel.window_spin.setValue(6)
    _inspect(app, panel, panel.test_button.click)
    panel.view.pick(5, 8)
    return [_save(window, app, out, "14-inspect-airline", ms=300)]


def render_inspect_text(window, app: QApplication, out: Path) -> list[Path]:
    """The trained text model on one review: gates over the words, the prediction, the attributions."""
    from .main_window import TAB_INSPECT

    window.tabs.setCurrentIndex(TAB_INSPECT)
    panel = window.inspect_panel
    panel.text_edit.setPlainText(
        "I expected a dull film, but the cast is wonderful and the story moved me. "
        "The ending is a bit weak, yet I would gladly watch it again.")
    _inspect(app, panel, panel.text_button.click, panel.attributed)  # the words coloured too
    found = panel.inspection
    if found is not None:
        panel.view.pick(0, found.stop - 1)
    return [_save(window, app, out, "15-inspect-imdb", ms=300)]


def render_experiments(window, app: QApplication, out: Path, *, trials: int = 12) -> list[Path]:
    """A finished sweep of the seasonal airline preset (short trials) in the Experiments tab."""
    import time

    from seqstudio.core.sweep import study as S
    from seqstudio.core.sweep.space import Param, default_settings

    from .main_window import TAB_EXPERIMENTS

    window.apply_preset("airline-lstm-seasonal")
    project = window.document.project
    settings = default_settings(project, window.registry)
    short = [p for p in settings.space.params if p.name != "train.epochs"]
    settings.space.params = [*short, Param("train.epochs", "int", low=10, high=30, step=10)]
    settings.trials, settings.study = trials, "airline-sweep"
    project.sweep = settings.to_dict()
    path = window.document.save(Path(tempfile.mkdtemp(prefix="seqstudio-sweep-")) / "airline.json")
    from seqstudio.core.project import Project

    S.run_worker(Project.load(path), window.registry, settings, S.default_storage_url(path))
    panel = window.experiments_panel
    panel._on_project(window.document.project)
    deadline = time.monotonic() + 60
    while panel.trial_model.rowCount() < trials and time.monotonic() < deadline:
        _settle(app, 100)
    panel.poll()  # once more, for the importances of every trial
    _settle(app, 1500)
    window.tabs.setCurrentIndex(TAB_EXPERIMENTS)
    panel.trial_view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    paths = [_save(window, app, out, "11-experiments", ms=300)]
    panel.plots.setCurrentIndex(1)
    paths.append(_save(window, app, out, "12-experiments-parallel", ms=300))
    panel.plots.setCurrentIndex(2)
    paths.append(_save(window, app, out, "13-experiments-importances", ms=300))
    panel.plots.setCurrentIndex(0)
    return paths


def render_all(out_dir: str | Path, *, epochs: int = 100, data_dir: str | Path | None = None,
               text_epochs: int = 3, theme: str = "light") -> list[Path]:
    """Write the screenshots into ``out_dir``; returns their paths.

    With ``data_dir`` (a folder holding ``imdb-reviews-train-part1.csv`` and
    ``imdb-reviews-test.csv``) the text panels are rendered too. ``theme`` is
    "light" or "dark" (View > Theme).
    """
    from .app import create_window
    from .main_window import TAB_DATA, TAB_MODEL, TAB_RESULTS, TAB_RUNS, TAB_TRAIN

    # A clean user state: no recovery prompt, no recent files, default theme.
    os.environ.setdefault("SEQSTUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="seqstudio-shots-"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = create_window(offer_recovery=False)
    window.ask_save_changes = lambda: "discard"  # screenshots never ask on close
    window.set_theme(theme)
    window.resize(*SIZE)
    window.show()
    paths = []
    window.tabs.setCurrentIndex(TAB_DATA)
    paths.append(_save(window, app, out, "1-data"))
    window.tabs.setCurrentIndex(TAB_MODEL)
    window.model_editor.stack_list.setCurrentRow(0)
    paths.append(_save(window, app, out, "2-model"))

    window.train_panel.form.set_values({"epochs": epochs})
    window.tabs.setCurrentIndex(TAB_TRAIN)
    _run_training(window)
    paths.append(_save(window, app, out, "3-train"))
    window.tabs.setCurrentIndex(TAB_RESULTS)
    paths.append(_save(window, app, out, "4-results"))

    # what goes wrong looks like this: an impossible stack, then a bad file
    from seqstudio.core.model.layers import LSTM

    window.tabs.setCurrentIndex(TAB_MODEL)
    window.model_editor.insert_layer(LSTM(4), row=1)
    paths.append(_save(window, app, out, "5-model-error"))
    window.model_editor.remove_layer(1)
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.csv"
        bad.write_text("Month,Passengers\n1949-01,112\n1949-02,abc\n1949-03,x\n")
        window.open_data_file(str(bad))
        paths.append(_save(window, app, out, "6-data-error"))

    # the lecture's comparison: the same recipe with a GRU, both runs overlaid
    window.apply_preset("airline-gru")
    window.train_panel.form.set_values({"epochs": epochs})
    _run_training(window)
    window.tabs.setCurrentIndex(TAB_RUNS)
    runs = window.project.runs
    window.runs_panel.set_checked([r["id"] for r in runs])
    paths.append(_save(window, app, out, "9-runs", ms=300))
    try:
        paths += render_experiments(window, app, out)
    except (ImportError, SeqStudioError):  # Optuna is optional
        pass
    paths += render_inspect_series(window, app, out, epochs=min(epochs, 60))
    dialog = window.show_plugin_dialog()
    dialog.resize(1000, 600)
    _settle(app, 300)
    path = out / "10-plugins.png"
    dialog.grab().save(str(path), "PNG")
    print(path)
    paths.append(path)
    dialog.close()
    if data_dir is not None:
        paths += render_text(window, app, out, Path(data_dir), epochs=text_epochs)
    window.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqstudio.gui.screenshots")
    parser.add_argument("out_dir")
    parser.add_argument("--epochs", type=int, default=100,
                        help="epochs for the trained airline forecast (default: the lecture's 100)")
    parser.add_argument("--data-dir", default=os.environ.get("SEQSTUDIO_TEST_DATA"),
                        help="folder with the IMDB sample CSVs, to render the text panels too "
                             "(default: $SEQSTUDIO_TEST_DATA)")
    parser.add_argument("--text-epochs", type=int, default=3)
    parser.add_argument("--theme", choices=("light", "dark", "both"), default="light",
                        help="the theme to render in; 'both' writes OUT_DIR/light and OUT_DIR/dark")
    args = parser.parse_args(argv)
    themes = ("light", "dark") if args.theme == "both" else (args.theme,)
    for theme in themes:
        out = Path(args.out_dir) / theme if args.theme == "both" else Path(args.out_dir)
        render_all(out, epochs=args.epochs, data_dir=args.data_dir, text_epochs=args.text_epochs,
                   theme=theme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
