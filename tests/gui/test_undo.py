"""Undo / redo of layer-editor, data and train settings; dirty signals; keyboard use of the layer list.

Expected stacks are built independently from the core's layer specs, never read back from the editor.
"""

from __future__ import annotations

import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack

from seqstudio.core.model.layers import GRU, LSTM, Dense
from seqstudio.core.model.spec import ModelSpec
from seqstudio.gui.data_panel import resolve_data_path


@pytest.fixture
def editor(qtbot, registry):
    from seqstudio.gui.model_editor import ModelEditor

    widget = ModelEditor(registry)
    qtbot.addWidget(widget)
    widget.set_model_spec(ModelSpec([LSTM(units=4), Dense(units=1)]))
    stack = QUndoStack(widget)
    widget.set_undo_stack(stack)
    return widget


def _palette_row(editor, label: str) -> int:
    return next(i for i in range(editor.palette_list.count()) if editor.palette_list.item(i).text() == label)


def test_set_model_spec_is_not_recorded_outside_a_macro(editor):
    editor.set_model_spec(ModelSpec([GRU(units=2), Dense(units=1)]))
    assert editor.undo_stack.count() == 0


def test_undo_redo_of_a_layer_added_from_the_palette(qtbot, editor):
    stack = editor.undo_stack
    editor.stack_list.setCurrentRow(0)
    editor.palette_list.setCurrentRow(_palette_row(editor, "GRU"))
    with qtbot.waitSignal(editor.specChanged):
        editor.add_button.click()
    added = editor.specs()[1]
    assert type(added) is GRU
    assert editor.specs() == [LSTM(units=4), added, Dense(units=1)]
    assert (stack.count(), stack.undoText()) == (1, "Add GRU")
    with qtbot.waitSignal(editor.specChanged) as changed:
        stack.undo()
    assert editor.specs() == [LSTM(units=4), Dense(units=1)]
    assert changed.args[0] == ModelSpec([LSTM(units=4), Dense(units=1)])
    stack.redo()
    assert editor.specs() == [LSTM(units=4), added, Dense(units=1)]
    assert stack.count() == 1                      # applying a command pushed nothing else


def test_consecutive_edits_of_one_property_merge_into_one_undo_step(qtbot, editor):
    stack = editor.undo_stack
    editor.stack_list.setCurrentRow(0)
    units = editor._form.widget("units")
    for value in (5, 6, 7):
        units.setValue(value)
    assert editor.specs()[0] == LSTM(units=7)
    assert (stack.count(), stack.undoText()) == (1, "Edit LSTM units")
    editor._form.widget("return_sequences").setChecked(True)     # another property: a new step
    assert stack.count() == 2
    stack.undo()
    assert editor.specs()[0] == LSTM(units=7)
    stack.undo()
    assert editor.specs() == [LSTM(units=4), Dense(units=1)]
    assert editor._form.widget("units").value() == 4              # the open form follows
    stack.redo()
    assert editor.specs()[0] == LSTM(units=7)
    assert editor.stack_list.item(0).text().startswith("1. LSTM(units=7")


def test_move_with_the_keyboard_and_its_undo(qtbot, editor):
    stack = editor.undo_stack
    editor.stack_list.setCurrentRow(0)
    editor.stack_list.setFocus()
    qtbot.keyClick(editor.stack_list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert editor.specs() == [Dense(units=1), LSTM(units=4)]
    assert editor.stack_list.currentRow() == 1
    assert stack.undoText() == "Move LSTM down"
    stack.undo()
    assert editor.specs() == [LSTM(units=4), Dense(units=1)]
    qtbot.keyClick(editor.stack_list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)  # top: no move
    assert stack.count() == 1 and stack.index() == 0


def test_drag_reorder_is_undoable(qtbot, editor):
    stack = editor.undo_stack
    # what an InternalMove drop does: the list model moves the row
    editor.stack_list.model().moveRow(editor.stack_list.rootIndex(), 1, editor.stack_list.rootIndex(), 0)
    assert editor.specs() == [Dense(units=1), LSTM(units=4)]
    assert stack.count() == 1
    stack.undo()
    assert editor.specs() == [LSTM(units=4), Dense(units=1)]


def test_delete_key_removes_and_ctrl_d_duplicates(qtbot, editor):
    stack = editor.undo_stack
    editor.stack_list.setCurrentRow(0)
    qtbot.keyClick(editor.stack_list, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert editor.specs() == [LSTM(units=4), LSTM(units=4), Dense(units=1)]
    assert editor.stack_list.currentRow() == 1
    qtbot.keyClick(editor.stack_list, Qt.Key.Key_Delete)
    qtbot.keyClick(editor.stack_list, Qt.Key.Key_Delete)
    assert editor.specs() == [LSTM(units=4)]
    assert stack.count() == 3
    stack.undo()
    stack.undo()
    assert editor.specs() == [LSTM(units=4), LSTM(units=4), Dense(units=1)]
    stack.undo()
    assert editor.specs() == [LSTM(units=4), Dense(units=1)]
    assert editor.stack_list.findChild(type(editor.stack_list.actions()[0]), "removeLayerAction")


def test_controls_have_accessible_names(editor):
    names = {w.accessibleName() for w in (editor.stack_list, editor.palette_list, editor.add_button,
                                          editor.remove_button, editor.preset_combo)}
    assert "" not in names and "Layer stack" in names
    editor.stack_list.setCurrentRow(0)
    assert editor._form.widget("units").accessibleName() == "units"


# -- the window's panels -------------------------------------------------------------------
@pytest.fixture
def stack(window):
    stack = QUndoStack(window)
    for panel in (window.data_panel, window.model_editor, window.train_panel):
        panel.set_undo_stack(stack)
    return stack


def test_undo_redo_of_a_data_option_reloads_the_data(qtbot, window, stack):
    panel = window.data_panel
    look_back = panel._form.widget("look_back")
    assert panel.prepared.options.look_back == 1
    with qtbot.waitSignal(panel.optionsChanged), qtbot.waitSignal(panel.dataChanged, timeout=10_000):
        look_back.setValue(3)
    assert panel.prepared.options.look_back == 3
    look_back.setValue(4)
    assert (stack.count(), stack.undoText()) == (1, "Edit look_back")       # merged
    with qtbot.waitSignal(panel.optionsChanged), qtbot.waitSignal(panel.dataChanged, timeout=10_000):
        stack.undo()
    assert panel.options()["look_back"] == 1 and panel.prepared.options.look_back == 1
    assert panel._form.widget("look_back") is look_back                   # same source: form kept
    with qtbot.waitSignal(panel.dataChanged, timeout=10_000):
        stack.redo()
    assert panel.prepared.options.look_back == 4
    assert stack.count() == 1


def test_undo_of_a_source_switch(qtbot, window, stack):
    panel = window.data_panel
    before = panel.options()
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("builtins>text-csv"))
    assert panel.source.key == "builtins>text-csv"
    assert stack.undoText().startswith("Data source")
    with qtbot.waitSignal(panel.dataChanged, timeout=10_000):
        stack.undo()
    assert panel.source.key == "builtins>csv-series"
    assert panel.source_combo.currentData() == "builtins>csv-series"
    assert panel.options() == before
    assert panel.error == ""


def test_train_settings_undo_and_config_changed(qtbot, window, stack):
    panel = window.train_panel
    epochs = panel.form.widget("epochs")
    start = epochs.value()
    with qtbot.waitSignal(panel.configChanged):
        epochs.setValue(start + 5)
    assert panel.config().epochs == start + 5
    with qtbot.waitSignal(panel.configChanged):
        stack.undo()
    assert panel.config().epochs == start


def test_a_preset_is_one_undo_step(qtbot, window, stack):
    editor = window.model_editor
    before_layers = editor.specs()
    before_train = window.train_panel.config()
    combo = editor.preset_combo
    with qtbot.waitSignal(window.data_panel.dataChanged, timeout=10_000):
        combo.activated.emit(combo.findData("airline-lstm-seasonal"))
    assert window.data_panel.options()["look_back"] == 12
    assert (stack.count(), stack.undoText()) == (1, "Load preset airline-lstm-seasonal")
    with qtbot.waitSignal(window.data_panel.dataChanged, timeout=10_000):
        stack.undo()
    assert editor.specs() == before_layers
    assert window.data_panel.options()["look_back"] == 1
    assert window.train_panel.config() == before_train


def test_request_train_and_stop_slots(qtbot, window):
    panel = window.train_panel
    assert panel.request_stop() is False                 # nothing runs
    panel.set_trainable(False, "no data")
    assert panel.request_train() is False
    panel.set_trainable(True)
    panel.trainRequested.disconnect(panel._on_train_requested)   # the request is under test, not a run
    with qtbot.waitSignal(panel.trainRequested) as requested:
        assert panel.request_train() is True
    assert requested.args == [False]


def test_every_control_of_the_panels_has_an_accessible_name(window):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QWidget,
    )

    window.model_editor.stack_list.setCurrentRow(0)         # the properties form exists
    unnamed = []
    for panel in (window.data_panel, window.model_editor, window.train_panel):
        for widget in panel.findChildren(QWidget):
            # Qt's own parts of spin boxes, combo boxes and tables (line edit, popup, headers)
            parents = [widget.parent(), widget.parent().parent() if widget.parent() else None]
            inner = widget.objectName() == "qt_spinbox_lineedit" or any(
                isinstance(p, QComboBox | QAbstractItemView) for p in parents)
            if inner or not isinstance(widget, QAbstractButton | QComboBox | QAbstractSpinBox | QLineEdit
                                       | QAbstractItemView):
                continue
            if not widget.accessibleName() and not (isinstance(widget, QAbstractButton) and widget.text()):
                unnamed.append(f"{type(panel).__name__}: {type(widget).__name__} {widget.objectName()}")
    assert unnamed == [], unnamed


def test_opening_another_file_is_undoable(qtbot, window, stack, data_dir):
    panel = window.data_panel
    before = panel.options()
    births = data_dir / "daily-total-female-births.csv"
    with qtbot.waitSignal(panel.optionsChanged):
        panel.load_path(str(births))
    assert panel.options()["path"] == str(births) and panel.error == ""
    assert panel.table_model.rowCount() == len(pd.read_csv(births))
    assert stack.undoText() == "Open daily-total-female-births.csv"
    with qtbot.waitSignal(panel.dataChanged, timeout=10_000):
        stack.undo()
    assert panel.options() == before and panel.error == ""
    assert panel.table_model.rowCount() == len(pd.read_csv(resolve_data_path(before["path"])))


def test_dirty_signals_fire_on_changes_only(qtbot, window):
    panel = window.data_panel
    with qtbot.assertNotEmitted(panel.optionsChanged):
        panel.set_registry(window.registry)                  # same sources, same settings: no edit
    with qtbot.assertNotEmitted(window.train_panel.configChanged):
        window.train_panel.set_config(window.train_panel.config())
    with qtbot.waitSignal(panel.optionsChanged):
        panel.set_source(panel.source.key, {**panel.options(), "look_back": 2})
    with qtbot.waitSignal(window.train_panel.configChanged):
        window.train_panel.set_config({"epochs": window.train_panel.config().epochs + 1})
