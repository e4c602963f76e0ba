"""The Experiments tab: a sweep run outside the window, a live trial table, resume after closing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

pytest.importorskip("optuna")

from seqstudio.core.project import Project  # noqa: E402
from seqstudio.core.sweep import study as S  # noqa: E402
from seqstudio.core.sweep.space import Param, SearchSpace, SweepSettings  # noqa: E402


def _project_file(tmp_path, trials: int):
    p = Project.from_preset("airline-lstm")
    p.train.update(epochs=2, batch_size=32)
    settings = SweepSettings(space=SearchSpace([Param("model.units", "int", low=2, high=6),
                                                Param("model.cell", "choice", choices=["LSTM", "GRU"])]),
                             objective="val.rmse", trials=trials, pruner="none", study="w", seed=1)
    p.sweep = settings.to_dict()
    return p.save(tmp_path / "air.json"), settings


def _open(qtbot, registry, path):
    from seqstudio.gui.app import create_window

    win = create_window(registry=registry)
    qtbot.addWidget(win)
    win.show()
    assert win.open_project(path)
    return win


def test_trials_show_sorted_and_filtered_and_a_trial_applies_to_the_project(qtbot, registry, tmp_path):
    path, settings = _project_file(tmp_path, trials=4)
    S.run_worker(Project.load(path), registry, settings, S.default_storage_url(path))
    win = _open(qtbot, registry, path)
    panel = win.experiments_panel
    qtbot.waitUntil(lambda: panel.trial_model.rowCount() == 4, timeout=30_000)
    # every finished trial is a run of its study in Runs
    assert [r["sweep"]["trial"] for r in win.project.runs] == [0, 1, 2, 3]
    assert all("w trial" in r["name"] for r in win.project.runs)
    # sorted by value, ascending: the best first
    panel.trial_view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    values = [panel.proxy.index(i, 2).data(Qt.ItemDataRole.UserRole) for i in range(4)]
    assert values == sorted(values) and values[0] == panel.best_row()["value"]
    cells = [panel.proxy.index(i, 5).data() for i in range(4)]   # the "cell" parameter column
    panel.filter_edit.setText("GRU")
    assert panel.proxy.rowCount() == cells.count("GRU")
    panel.filter_edit.clear()
    # apply the selected trial: its units go into the Model tab's stack
    panel.trial_view.selectRow(3)
    row = panel.selected_row()
    panel.apply_button.click()
    layer = win.project.model["layers"][0]
    assert (layer["type"], layer["units"]) == (row["params"]["model.cell"], row["params"]["model.units"])
    assert panel.importance_plot.plotItem.listDataItems() or panel._importances == {}


def test_a_sweep_started_in_the_window_resumes_after_closing_it(qtbot, registry, tmp_path):
    path, settings = _project_file(tmp_path, trials=4)
    win = _open(qtbot, registry, path)
    panel = win.experiments_panel
    assert panel.start()
    assert panel.running
    qtbot.waitUntil(lambda: panel._done >= 1, timeout=180_000)
    win.close()                       # stops the sweep process; the study stays in its file
    assert not panel.running
    earlier = {r["number"] for r in panel.snapshot["rows"] if r["state"] == "complete"}
    assert earlier
    again = _open(qtbot, registry, path)
    panel2 = again.experiments_panel
    qtbot.waitUntil(lambda: {r["number"] for r in panel2.snapshot["rows"]} >= earlier, timeout=30_000)
    if panel2._done < settings.trials:
        assert panel2.resume_button.isEnabled()
        panel2.resume_button.click()
        qtbot.waitUntil(lambda: panel2._done >= settings.trials and not panel2.running,
                        timeout=180_000)
    complete = [r for r in panel2.snapshot["rows"] if r["state"] == "complete"]
    assert len(complete) >= settings.trials and earlier <= {r["number"] for r in complete}
    assert not [r for r in panel2.snapshot["rows"] if r["state"] == "running"]
    assert len([r for r in again.project.runs if "sweep" in r]) == len(complete)
    again.close()


def test_opening_a_project_never_connects_to_the_storage_it_names(qtbot, registry, tmp_path,
                                                                   monkeypatch):
    path, settings = _project_file(tmp_path, trials=2)
    project = Project.load(path)
    project.sweep = {**project.sweep, "storage": "postgresql://someone@elsewhere/db"}
    project.save(path)
    opened = []
    monkeypatch.setattr(S, "open_storage", lambda url, **kw: opened.append(url))
    win = _open(qtbot, registry, path)
    panel = win.experiments_panel
    assert panel.storage_edit.text() == "postgresql://someone@elsewhere/db"
    assert "Resume connects to it" in panel.status_label.text()
    assert panel.resume_button.isEnabled()
    assert opened == [] and not (tmp_path / "air.sweep.db").exists()


def test_a_read_asked_for_while_one_is_going_is_served_after_it(qtbot, tmp_path, monkeypatch):
    """The read asked for when a sweep ends must happen even if an older read is still going.

    Injected at the exact instant: the first read is held inside the storage query while a trial
    completes and a second read is asked for; the last snapshot must show the completed trial.
    """
    import threading

    import optuna

    from seqstudio.gui.experiments_panel import _StudyReader

    url = f"sqlite:///{tmp_path / 'race.db'}"
    study = optuna.create_study(study_name="race", storage=url)
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    held, release = threading.Event(), threading.Event()
    real_rows = S.trial_rows

    def slow_rows(st):
        rows = real_rows(st)
        if not held.is_set():  # the first read: taken before the second trial, then held
            held.set()
            release.wait(30)
        return rows

    monkeypatch.setattr(S, "trial_rows", slow_rows)
    reader = _StudyReader()
    seen = []
    reader.read.connect(seen.append)
    reader.request(url, "race", False)
    assert held.wait(30)
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    reader.request(url, "race", False)   # the sweep ended: this read must not be dropped
    release.set()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=30_000)
    assert [len(s["rows"]) for s in seen] == [1, 2]
    reader.close()


def test_every_splitter_is_named_after_its_panel_and_the_experiments_sizes_are_remembered(qtbot, window):
    from PySide6.QtWidgets import QSplitter

    from seqstudio.gui.app import create_window

    names = [s.objectName() for s in window.findChildren(QSplitter)]
    # a splitter named after the window would change its name when another panel gains one
    assert all(names) and not [n for n in names if n.startswith("MainWindow")], names
    inner = [s for s in window.experiments_panel.findChildren(QSplitter)
             if s.orientation() == Qt.Orientation.Vertical]
    assert [s.objectName() for s in inner] == ["ExperimentsPanelSplitter1"]
    window.tabs.setCurrentWidget(window.experiments_panel)
    inner[0].setSizes([150, 470])
    wanted = inner[0].sizes()
    window.settings.save_window(window)  # what closing the window does
    again = create_window(registry=window.registry, offer_recovery=False)
    qtbot.addWidget(again)
    again.show()
    again.tabs.setCurrentWidget(again.experiments_panel)
    restored = again.experiments_panel.findChild(QSplitter, "ExperimentsPanelSplitter1")
    assert restored is not None
    share = restored.sizes()[0] / sum(restored.sizes())  # the layout may differ by a few pixels
    assert share == pytest.approx(wanted[0] / sum(wanted), abs=0.02)
    assert abs(share - 320 / 620) > 0.1  # not the panel's default split
