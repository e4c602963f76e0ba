"""The Inspect tab driven through its widgets, checked against the model's own layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from seqstudio.core.inspect import Inspector
from seqstudio.gui import main_window as mw

RUN_TIMEOUT_MS = 120_000


def _train_in_window(qtbot, window, epochs=1):
    window.train_panel.form.set_values({"epochs": epochs})
    with qtbot.waitSignal(window.train_panel.runEnded, timeout=RUN_TIMEOUT_MS):
        window.train_panel.train_button.click()


def _mouse(view, name, unit, step, kind=QEvent.Type.MouseMove):
    """A mouse event over the heatmap ``name`` at (step, unit), sent to the graphics view's viewport
    (offscreen Qt cannot move the real cursor, so the event the cursor would cause is sent)."""
    plot = next(p for n, p, _ in view._maps if n == name)
    scene = plot.vb.mapViewToScene(QPointF(step + 0.5, unit + 0.5))
    pos = QPointF(view.graphics.mapFromScene(scene))
    viewport = view.graphics.viewport()
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    held = Qt.MouseButton.LeftButton if kind == QEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos)), button, held,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def test_series_window_heatmaps_hover_and_equations(qtbot, window):
    window.apply_preset("airline-lstm-seasonal")
    assert window.data_panel.wait_ready()
    panel = window.inspect_panel
    assert not panel.test_button.isEnabled()  # nothing trained yet
    _train_in_window(qtbot, window)
    window.tabs.setCurrentIndex(mw.TAB_INSPECT)
    assert panel.state()["layers"] == ["1: lstm"]
    assert not panel.text_box.isVisible()
    panel.window_spin.setValue(2)
    with qtbot.waitSignal(panel.inspected, timeout=30_000) as got:
        qtbot.mouseClick(panel.test_button, Qt.MouseButton.LeftButton)
    found = got.args[0]
    view = panel.view
    assert [n for n, _, _ in view._maps] == ["i", "f", "g", "o", "c", "h"]
    plot_f = view._maps[1][1]
    # the maps are laid out on the next turns of the event loop
    qtbot.waitUntil(lambda: (view._cell_at(plot_f.vb.mapViewToScene(QPointF(5.5, 3.5))) or ())[1:3] == (3, 5),
                    timeout=10_000)
    # the last hidden state is what the model's own LSTM layer returns for that window
    x = window.data.split("test")[0][2]
    with torch.no_grad():
        window.model.eval()
        last_h = window.model.layers[0](x.unsqueeze(0))[0].numpy()
    np.testing.assert_allclose(found.trace.directions[0].values["h"][-1], last_h, atol=1e-6)
    assert found.labels[0][:2] == "19" and found.values is not None
    # hovering a cell names its value and fills the equations with that unit and step
    _mouse(view, "f", 3, 5)
    qtbot.waitUntil(lambda: "unit 3" in view.hover_label.text(), timeout=5000)
    f35 = found.trace.directions[0].values["f"][5, 3]
    assert f"= {f35:.4f}" in view.hover_label.text()
    assert "unit 3 of 16, step 5" in view.equations.text()
    shown = view.equations.text().replace("&nbsp;", " ")
    assert f"σ({found.trace.directions[0].pre['f'][5, 3]:.3f}) = {f35:.3f}" in shown
    # a click keeps unit and step: hovering elsewhere then names the value but leaves the equations
    _mouse(view, "c", 3, 5, QEvent.Type.MouseButtonPress)
    _mouse(view, "c", 3, 5, QEvent.Type.MouseButtonRelease)
    qtbot.waitUntil(lambda: view.pinned, timeout=5000)
    plot_h = view._maps[-1][1]
    view.graphics.scene().sigMouseMoved.emit(plot_h.vb.mapViewToScene(QPointF(9.5, 7.5)))
    assert "unit 7" in view.hover_label.text()
    assert "unit 3 of 16, step 5" in view.equations.text()


@pytest.fixture
def text_project_path(tmp_path, builtins):
    from seqstudio.core.session import TrainingSession
    from tests.core.inspect.test_attribution import _tiny_text_project

    project = _tiny_text_project(tmp_path)
    for _ in TrainingSession(project, builtins).run():
        pass
    return project.save(tmp_path / "tiny.json")


def test_text_review_typed_predictions_attributions_and_mistakes(qtbot, window, text_project_path, builtins):
    panel = window.inspect_panel
    with qtbot.waitSignal(panel.mistakesListed, timeout=30_000) as listed:
        assert window.open_project(text_project_path)
        window.data_panel.wait_ready()
    window.tabs.setCurrentIndex(mw.TAB_INSPECT)
    assert panel.text_box.isVisible() and panel.window_label.text() == "Test review"
    reference = Inspector(window.model, data=window.data)
    assert listed.args[0] == panel.mistakes_list.count() == len(reference.confident_mistakes(k=20))

    qtbot.keyClicks(panel.text_edit, "wonderful superb film")
    # the gates are drawn first; the words are coloured when their attributions arrive
    with qtbot.waitSignals([panel.inspected, panel.attributed], timeout=30_000, order="strict"):
        qtbot.mouseClick(panel.text_button, Qt.MouseButton.LeftButton)
    found = panel.inspection
    assert found.attribution is not None and found.attribution.relative_gap <= 0.01
    assert found.labels[found.first:] == ["<start>", "wonderful", "superb", "film"]
    with torch.no_grad():
        window.model.eval()
        p = float(window.model(window.data.encode_texts(["wonderful superb film"]))[0, 0])
    assert found.predictions[-1] == pytest.approx(p, abs=1e-6)
    words = panel.view.words.text()
    assert panel.view.words.isVisible() and "wonderful</span>" in words and "rgba(" in words
    assert "prediction" in panel.view.equations.text().lower() or "after this token" in panel.view.equations.text()

    # an empty text is refused where it is typed; the tab stays usable
    panel.text_edit.clear()
    with qtbot.waitSignal(panel.failed, timeout=30_000):
        qtbot.mouseClick(panel.text_button, Qt.MouseButton.LeftButton)
    assert "empty" in panel.status.text() and panel.text_button.isEnabled()
