"""Undo / redo commands for the layer editor, the data settings and the train settings.

Each command stores the state before and after a change as plain values
(layer specs are immutable; option dicts are copied) and applies a state
through a method of the panel that never records another command, so undo
and redo cannot echo. A change the user already made in a widget is pushed
with ``applied=True``: the first ``redo()`` (which ``QUndoStack.push`` calls)
then leaves the widgets alone instead of rebuilding the field being typed in.

Consecutive edits of the same property merge into one command (``id()`` /
``mergeWith``), so twenty spin-box steps undo in one Ctrl+Z.

>>> stack = QUndoStack()                                   # doctest: +SKIP
>>> editor.set_undo_stack(stack); editor.insert_layer(spec)  # doctest: +SKIP
>>> stack.undo()                                           # doctest: +SKIP  (the layer is gone)

Programmatic setters (``ModelEditor.set_model_spec``, ``DataPanel.set_source``,
``TrainPanel.set_config``) record nothing unless they run inside
:func:`undo_macro`: that is how loading a preset becomes one undoable step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand, QUndoStack

#: QUndoCommand ids for merging (any distinct non-negative ints).
EDIT_LAYER_ID = 6101
DATA_OPTIONS_ID = 6102
TRAIN_SETTINGS_ID = 6103
# A Python attribute, not a Qt dynamic property: PySide6 (6.x, Python 3.11) returns None from
# QObject.property() for an unset name without taking a reference, and enough such calls
# deallocate None and abort the interpreter.
_RECORDING = "_seqstudio_recording_depth"


@contextmanager
def undo_macro(stack: QUndoStack | None, text: str) -> Iterator[None]:
    """Group everything inside into one undo step; programmatic setters record inside it.

    >>> with undo_macro(window.undo_stack, "Load preset airline-lstm"):   # doctest: +SKIP
    ...     window.apply_preset("airline-lstm")
    """
    if stack is None:
        yield
        return
    depth = getattr(stack, _RECORDING, 0)
    stack.beginMacro(text)
    setattr(stack, _RECORDING, depth + 1)
    try:
        yield
    finally:
        setattr(stack, _RECORDING, depth)
        stack.endMacro()


def is_recording(stack: QUndoStack | None) -> bool:
    """Whether programmatic changes should be recorded (inside :func:`undo_macro`)."""
    return stack is not None and getattr(stack, _RECORDING, 0) > 0


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> frozenset[str]:
    """Names whose values differ between two option dicts."""
    return frozenset(k for k in set(before) | set(after) if before.get(k) != after.get(k))


class _StateCommand(QUndoCommand):
    """Swap a panel between two states; ``applied`` skips the first redo (the user already did it)."""

    def __init__(self, text: str, before: Any, after: Any, *, applied: bool = False):
        super().__init__(text)
        self.before, self.after = before, after
        self._skip_redo = applied

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)

    def _apply(self, state: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


# -- the layer editor ------------------------------------------------------------------
class LayerEditorTarget(Protocol):
    def apply_layers_state(self, specs: list, row: int) -> None: ...


class LayerStackCommand(_StateCommand):
    """Any change of the layer stack: ``before`` / ``after`` are ``(specs, selected_row)``."""

    def __init__(self, editor: LayerEditorTarget, text: str, before: tuple[list, int],
                 after: tuple[list, int], *, applied: bool = False):
        super().__init__(text, (list(before[0]), before[1]), (list(after[0]), after[1]), applied=applied)
        self.editor = editor

    def _apply(self, state: tuple[list, int]) -> None:
        self.editor.apply_layers_state(list(state[0]), state[1])


class AddLayerCommand(LayerStackCommand):
    """A layer added from the palette (or ``insert_layer``)."""


class RemoveLayerCommand(LayerStackCommand):
    """A layer removed (button, Delete key or ``remove_layer``)."""


class DuplicateLayerCommand(LayerStackCommand):
    """A copy of the selected layer inserted below it."""


class MoveLayerCommand(LayerStackCommand):
    """A layer moved up / down or dragged to another place."""


class ReplaceLayersCommand(LayerStackCommand):
    """The whole stack replaced (a preset, a restored run)."""


class EditLayerCommand(LayerStackCommand):
    """One argument of one layer edited; consecutive edits of that argument merge."""

    def __init__(self, editor: LayerEditorTarget, text: str, before: tuple[list, int],
                 after: tuple[list, int], *, row: int, keys: frozenset[str], applied: bool = False):
        super().__init__(editor, text, before, after, applied=applied)
        self.row, self.keys = row, keys

    def id(self) -> int:  # noqa: A003 - Qt's name
        return EDIT_LAYER_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, EditLayerCommand) or (other.row, other.keys) != (self.row, self.keys):
            return False
        self.after = other.after
        if self.after[0] == self.before[0]:
            self.setObsolete(True)  # edited back to where it started: nothing to undo
        return True


# -- the data settings --------------------------------------------------------------------
class DataPanelTarget(Protocol):
    def apply_data_state(self, source_key: str, options: dict[str, Any]) -> None: ...


class DataSettingsCommand(_StateCommand):
    """A source switch or an opened file: ``before`` / ``after`` are ``(source key, options)``."""

    def __init__(self, panel: DataPanelTarget, text: str, before: tuple[str, dict],
                 after: tuple[str, dict], *, applied: bool = False):
        super().__init__(text, (before[0], dict(before[1])), (after[0], dict(after[1])), applied=applied)
        self.panel = panel

    def _apply(self, state: tuple[str, dict]) -> None:
        self.panel.apply_data_state(state[0], dict(state[1]))


class DataOptionCommand(DataSettingsCommand):
    """One data option edited in the options form; consecutive edits of that option merge."""

    def __init__(self, panel: DataPanelTarget, text: str, before: tuple[str, dict],
                 after: tuple[str, dict], *, applied: bool = False):
        super().__init__(panel, text, before, after, applied=applied)
        self.keys = changed_keys(before[1], after[1])

    def id(self) -> int:  # noqa: A003 - Qt's name
        return DATA_OPTIONS_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if (not isinstance(other, DataOptionCommand) or other.keys != self.keys
                or other.before[0] != self.after[0]):
            return False
        self.after = other.after
        if self.after == self.before:
            self.setObsolete(True)
        return True


# -- the train settings ----------------------------------------------------------------------
class TrainPanelTarget(Protocol):
    def apply_train_values(self, values: dict[str, Any]) -> None: ...


class TrainSettingsCommand(_StateCommand):
    """Train settings changed (one field edited, or all of them by a preset); same-field edits merge."""

    def __init__(self, panel: TrainPanelTarget, text: str, before: dict, after: dict, *,
                 applied: bool = False):
        super().__init__(text, dict(before), dict(after), applied=applied)
        self.panel = panel
        self.keys = changed_keys(before, after)

    def _apply(self, state: dict) -> None:
        self.panel.apply_train_values(dict(state))

    def id(self) -> int:  # noqa: A003 - Qt's name
        return TRAIN_SETTINGS_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, TrainSettingsCommand) or other.keys != self.keys or len(self.keys) != 1:
            return False
        self.after = other.after
        if self.after == self.before:
            self.setObsolete(True)
        return True
