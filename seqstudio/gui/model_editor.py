"""The layer editor: palette, stack, properties, presets and a live summary.

The stack is a list of core ``LayerSpec`` objects; the widgets are a view of
it. Every change (add, remove, duplicate, drag to reorder, an edited
argument) re-validates the whole stack against the current data through
``ModelSpec.check_data`` / ``summary``; the summary table shows the core's
rows, and an impossible stack highlights the offending layer with the core's
message and reports itself invalid (the window then disables Train).

With ``set_undo_stack(stack)`` every change the user makes (add, remove,
duplicate, move or drag, an argument edit, a preset) is a command on that
``QUndoStack`` (see :mod:`seqstudio.gui.undo`). In the layer list Delete
removes, Ctrl+D duplicates and Alt+Up / Alt+Down move the selected layer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QEvent, QKeyCombination, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QKeyEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.presets import PRESETS
from seqstudio.core.registry import OptionSpec, Registry

from .data_panel import error_text
from .forms import OptionForm, chain_tab_order, describe_widgets
from .help import doc_text
from .undo import (
    AddLayerCommand,
    DuplicateLayerCommand,
    EditLayerCommand,
    LayerStackCommand,
    MoveLayerCommand,
    RemoveLayerCommand,
    ReplaceLayersCommand,
    changed_keys,
    is_recording,
    undo_macro,
)

#: "linear" is the identity (a config's None means the same): one entry for it, not two
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax", "gelu", "elu", "selu", "softplus")
PADDINGS = ("valid", "same", "causal")
SPEC_ROLE = Qt.ItemDataRole.UserRole
ERROR_BRUSH = QBrush(QColor("#fdecea"))


def _layer_types() -> dict[str, type]:
    from seqstudio.core.model.layers import LAYER_TYPES

    return dict(LAYER_TYPES)


#: Values for required layer arguments when a layer is added from the palette.
_REQUIRED_DEFAULTS = {"units": 32, "input_dim": 10000, "output_dim": 64, "filters": 32,
                      "kernel_size": 3, "rate": 0.2, "pool_size": 2}


def _field_defaults(layer_type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(layer_type):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


def new_layer(layer_type, data=None, **overrides):
    """A layer of ``layer_type`` with sensible values for its required arguments.

    With ``data`` an Embedding gets the vocabulary size and a Dense the number of outputs.
    """
    args = {}
    for f in dataclasses.fields(layer_type):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            value = _REQUIRED_DEFAULTS.get(f.name, 1)
            if data is not None and f.name == "input_dim" and getattr(data, "vocab_size", None):
                value = int(data.vocab_size)
            if data is not None and f.name == "units" and layer_type.type_name == "Dense":
                value = int(data.n_outputs)
            args[f.name] = value
    args.update(overrides)
    return layer_type(**args)


def describe_layer(spec) -> str:
    """One line for the stack list: ``LSTM(units=4)`` with the arguments that differ from defaults."""
    config = spec.get_config()
    defaults = _field_defaults(type(spec)) if dataclasses.is_dataclass(spec) else {}
    shown = [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
             for k, v in config.items() if defaults.get(k, object()) != v]
    return f"{spec.type_name}({', '.join(shown)})"


def options_for_spec(spec, registry: Registry) -> tuple[OptionSpec, ...]:
    """Option specs for a layer's arguments, typed from its config; tooltips from ``help``."""
    helps: dict[str, str] = getattr(type(spec), "help", {}) or {}
    hints = {f.name: f.type for f in dataclasses.fields(spec)} if dataclasses.is_dataclass(spec) else {}
    options = []
    for name, value in spec.get_config().items():
        help_text = doc_text(helps.get(name, ""))
        hint = str(hints.get(name, ""))
        if name == "activation":
            value = "linear" if value is None else value
            choices = ACTIVATIONS if value in ACTIVATIONS else (value, *ACTIVATIONS)
            options.append(OptionSpec(name, "choice", value, help_text, choices=choices))
        elif name == "padding":
            options.append(OptionSpec(name, "choice", value, help_text, choices=PADDINGS))
        elif name == "cell":
            keys = tuple(k for k, c in registry.cells.items() if not c.disabled_reason)
            options.append(OptionSpec(name, "choice", value, help_text,
                                      choices=keys if value in keys else (value, *keys)))
        elif isinstance(value, dict):
            continue  # nested options (a cell's own) are kept as they are
        elif isinstance(value, bool):
            options.append(OptionSpec(name, "bool", value, help_text))
        elif isinstance(value, int):
            options.append(OptionSpec(name, "int", value, help_text, minimum=0))
        elif isinstance(value, float) or "float" in hint:
            options.append(OptionSpec(name, "float", value, help_text, minimum=0.0, maximum=1e9))
        else:
            options.append(OptionSpec(name, "str", value, help_text))
    return tuple(options)


class ModelEditor(QWidget):
    """Edit a layer stack; emits ``specChanged(ModelSpec)`` and ``validityChanged(bool, str)``.

    ``specChanged`` fires after every change of the stack (user edits, undo / redo and
    ``set_model_spec``): the window marks the project unsaved on it.

    >>> editor = ModelEditor(builtin_registry())          # doctest: +SKIP
    >>> editor.set_undo_stack(QUndoStack())               # doctest: +SKIP
    """

    specChanged = Signal(object)
    validityChanged = Signal(bool, str)
    presetRequested = Signal(str)

    def __init__(self, registry: Registry, parent: QWidget | None = None, *, document=None):
        super().__init__(parent)
        self.registry = registry
        self._data = None
        self.summary = None
        self.valid = False
        self.reason = "no layers yet"
        self.error_index: int | None = None
        self._undo_stack: QUndoStack | None = None
        self._recorded: tuple[list, int] = ([], -1)  # the stack as last committed: "before" of the next command
        self._applying = False  # applying an undo / redo: record nothing
        self.document = document

        palette_box = self._make_palette()
        stack_box = self._make_stack()
        props_box = self._make_properties()
        summary_box = self._make_summary()
        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(palette_box)
        top.addWidget(stack_box)
        top.addWidget(props_box)
        top.setSizes([240, 420, 380])
        outer = QSplitter(Qt.Orientation.Vertical, self)
        outer.addWidget(top)
        outer.addWidget(summary_box)
        outer.setSizes([420, 300])
        layout = QVBoxLayout(self)
        layout.addWidget(outer)

        self._set_accessibility()
        if document is not None:
            self._bind(document)

    def _make_palette(self) -> QGroupBox:
        self.palette_list = QListWidget(self)
        self.palette_list.setObjectName("layerPalette")
        self.palette_list.setToolTip("Double-click a layer (or select it and press Add) to append it.")
        self._fill_palette()
        self.palette_list.itemDoubleClicked.connect(self._on_palette_activated)
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.setToolTip("Load a complete recipe: data options, layers and train settings.")
        self.preset_combo.addItem("Presets…", None)
        for name, preset in PRESETS.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.description,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.activated.connect(self._on_preset_activated)
        palette_box = QGroupBox("Palette", self)
        palette_layout = QVBoxLayout(palette_box)
        palette_layout.addWidget(self.preset_combo)
        palette_layout.addWidget(self.palette_list, 1)

        return palette_box

    def _make_stack(self) -> QGroupBox:
        self.stack_list = QListWidget(self)
        self.stack_list.setObjectName("layerList")
        self.stack_list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.stack_list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.stack_list.setToolTip("The model, input at the top. Drag layers to reorder them.")
        self.stack_list.model().rowsMoved.connect(self._on_rows_moved)
        self.stack_list.currentRowChanged.connect(self._on_selection_changed)
        self.add_button = QPushButton("Add", self)
        self.add_button.setObjectName("addLayerButton")
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName("removeLayerButton")
        self.duplicate_button = QPushButton("Duplicate", self)
        self.duplicate_button.setObjectName("duplicateLayerButton")
        self.up_button = QPushButton("Up", self)
        self.up_button.setObjectName("moveLayerUpButton")
        self.down_button = QPushButton("Down", self)
        self.down_button.setObjectName("moveLayerDownButton")
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.duplicate_button.clicked.connect(self._on_duplicate_clicked)
        self.up_button.clicked.connect(lambda: self._move_current(-1))
        self.down_button.clicked.connect(lambda: self._move_current(+1))
        self._add_layer_actions()
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.duplicate_button, self.up_button,
                  self.down_button):
            buttons.addWidget(b)
        stack_box = QGroupBox("Layers (input → output)", self)
        stack_layout = QVBoxLayout(stack_box)
        stack_layout.addWidget(self.stack_list, 1)
        stack_layout.addLayout(buttons)

        return stack_box

    def _make_properties(self) -> QGroupBox:
        self.properties_area = QScrollArea(self)
        self.properties_area.setObjectName("layerProperties")
        self.properties_area.setWidgetResizable(True)
        self.properties_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self._form: OptionForm | None = None
        props_box = QGroupBox("Properties", self)
        props_layout = QVBoxLayout(props_box)
        props_layout.addWidget(self.properties_area)

        return props_box

    def _make_summary(self) -> QGroupBox:
        self.summary_table = QTableWidget(0, 3, self)
        self.summary_table.setObjectName("summaryTable")
        self.summary_table.setHorizontalHeaderLabels(["layer", "output shape", "parameters"])
        self.summary_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.summary_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.ResizeToContents)
        self.summary_table.verticalHeader().setVisible(False)
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("modelError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020; background: #fdecea; padding: 6px;"
                                       " border-radius: 3px;")
        self.error_label.hide()
        summary_box = QGroupBox("Summary", self)
        summary_layout = QVBoxLayout(summary_box)
        summary_layout.addWidget(self.summary_table, 1)
        summary_layout.addWidget(self.error_label)

        return summary_box

    # -- the document --------------------------------------------------------------------
    def _bind(self, document) -> None:
        """Show the document's stack and its check; send it every edit (see ``_changed``)."""
        events = document.events
        events.model_spec.connect(self._on_document_spec)
        events.check.connect(self._show_check)
        # the memory estimate depends on the batch size, set in the Train tab
        events.train_config.connect(self._on_train_config)
        events.running.connect(lambda running: self.setEnabled(not running))
        self._data = document.data
        if document.model_spec is not None:
            self.set_model_spec(document.model_spec)

    def _on_document_spec(self, spec) -> None:
        if spec.to_dict() != self.model_spec().to_dict():
            self.set_model_spec(spec)

    def select_layer(self, index: int) -> None:
        """Select layer ``index`` (the error route points at the layer an error is about)."""
        if 0 <= index < self.stack_list.count():
            self.stack_list.setCurrentRow(index)

    # -- undo, keyboard, accessibility ---------------------------------------------
    def set_undo_stack(self, stack: QUndoStack | None) -> None:
        """Record every later change of the stack on ``stack`` (None: record nothing)."""
        self._undo_stack = stack
        self._recorded = (self.specs(), self.stack_list.currentRow())

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self._undo_stack

    def apply_layers_state(self, specs: list, row: int) -> None:
        """Show ``specs`` with ``row`` selected without recording a command (undo / redo use it)."""
        self._applying = True
        try:
            current = self.specs()
            same_shape = (len(current) == len(specs) and row == self.stack_list.currentRow()
                          and [type(s) for s in current] == [type(s) for s in specs])
            if same_shape:
                # an argument edit: update the items and the open form in place, so the
                # properties pane keeps its scroll position and the field its focus
                for i, spec in enumerate(specs):
                    self.stack_list.item(i).setData(SPEC_ROLE, spec)
                if self._form is not None and 0 <= row < len(specs):
                    self._form.set_values(specs[row].get_config())
            else:
                with QSignalBlocker(self.stack_list):
                    self.stack_list.clear()
                    for spec in specs:
                        self._append_item(spec)
                    self.stack_list.setCurrentRow(row if 0 <= row < len(specs) else -1)
                self._on_selection_changed(self.stack_list.currentRow())
            self._changed()
        finally:
            self._applying = False

    def _commit(self, command_type: type[LayerStackCommand] | None, text: str = "", **extra) -> None:
        """Re-validate after a change; record it on the undo stack as ``command_type``."""
        before = self._recorded
        self._changed()
        after = self._recorded
        stack = self._undo_stack
        if command_type is None or stack is None or self._applying or before[0] == after[0]:
            return
        stack.push(command_type(self, text, before, after, applied=True, **extra))

    def _add_layer_actions(self) -> None:
        """Keyboard shortcuts of the layer list (also its context menu)."""
        self.stack_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._layer_actions: dict[str, Any] = {}
        for text, keys, slot, name in (
                ("Remove layer", QKeySequence(Qt.Key.Key_Delete), self._on_remove_clicked, "removeLayerAction"),
                ("Duplicate layer", QKeySequence("Ctrl+D"), self._on_duplicate_clicked,
                 "duplicateLayerAction"),
                ("Move layer up", QKeySequence("Alt+Up"), lambda: self._move_current(-1), "moveLayerUpAction"),
                ("Move layer down", QKeySequence("Alt+Down"), lambda: self._move_current(+1),
                 "moveLayerDownAction")):
            action = QAction(text, self.stack_list)
            action.setObjectName(name)
            action.setShortcut(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            self.stack_list.addAction(action)
            self._layer_actions[keys.toString()] = slot
        # the same keys through an event filter too: QTest and some platforms deliver the key
        # press straight to the list without going through the shortcut map
        self.stack_list.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.stack_list and event.type() == QEvent.Type.KeyPress:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            # arrow keys carry the keypad flag on some platforms; the shortcut ignores it
            modifiers = key_event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            combo = QKeySequence(QKeyCombination(modifiers, Qt.Key(key_event.key()))).toString()
            slot = self._layer_actions.get(combo)
            if slot is not None:
                slot()
                return True
        return super().eventFilter(watched, event)

    def _set_accessibility(self) -> None:
        describe_widgets((
                (self.palette_list, "Layer palette", "Layer types and cells; press Add to append one"),
                (self.preset_combo, "Presets", "Load a complete recipe"),
                (self.stack_list, "Layer stack",
                 "Input at the top. Delete removes, Ctrl+D duplicates, Alt+Up and Alt+Down move"),
                (self.add_button, "Add layer", "Append the selected palette entry"),
                (self.remove_button, "Remove layer", "Remove the selected layer (Delete)"),
                (self.duplicate_button, "Duplicate layer", "Copy the selected layer below it (Ctrl+D)"),
                (self.up_button, "Move layer up", "Alt+Up"),
                (self.down_button, "Move layer down", "Alt+Down"),
                (self.properties_area, "Layer properties", "Arguments of the selected layer"),
                (self.summary_table, "Model summary", "Layers, output shapes and parameter counts"),
                (self.error_label, "Model error", "Why the stack cannot work")))
        self.remove_button.setToolTip("Remove the selected layer (Delete).")
        self.duplicate_button.setToolTip("Copy the selected layer below it (Ctrl+D).")
        self.up_button.setToolTip("Move the selected layer up (Alt+Up).")
        self.down_button.setToolTip("Move the selected layer down (Alt+Down).")
        chain_tab_order(self.preset_combo, self.palette_list, self.add_button, self.stack_list,
                 self.remove_button, self.duplicate_button, self.up_button, self.down_button,
                 self.properties_area, self.summary_table)

    def set_registry(self, registry: Registry) -> None:
        """Offer the cells and layers of ``registry`` (after plugins changed) and re-validate."""
        self.registry = registry
        self.palette_list.clear()
        self._fill_palette()
        self.validate()

    # -- palette -----------------------------------------------------------------
    def _fill_palette(self) -> None:
        bold = QFont()
        bold.setBold(True)
        header = QListWidgetItem("Layers", self.palette_list)
        header.setFlags(Qt.ItemFlag.NoItemFlags)
        header.setFont(bold)
        for type_name, layer_type in _layer_types().items():
            item = QListWidgetItem(type_name, self.palette_list)
            item.setData(SPEC_ROLE, ("layer", type_name))
            item.setToolTip(getattr(layer_type, "description", "") or
                            doc_text((layer_type.__doc__ or type_name).strip().splitlines()[0]))
        for key, layer_type in self.registry.layers.items():
            plugin = key.split(">", 1)[0]
            item = QListWidgetItem(f"{layer_type.type_name}  [{plugin}]", self.palette_list)
            item.setData(SPEC_ROLE, ("plugin-layer", key))
            item.setToolTip(f"from plugin {plugin!r}: {doc_text((layer_type.__doc__ or '').strip()[:200])}")
        header = QListWidgetItem("Cells (RNN layer)", self.palette_list)
        header.setFlags(Qt.ItemFlag.NoItemFlags)
        header.setFont(bold)
        for key, cell in self.registry.cells.items():
            label = cell.name if cell.plugin == "builtins" else f"{cell.name}  [{cell.plugin}]"
            item = QListWidgetItem(label, self.palette_list)
            item.setData(SPEC_ROLE, ("cell", key))
            if cell.disabled_reason:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(f"disabled: {cell.disabled_reason}")
            else:
                item.setToolTip(f"RNN layer with the {key!r} cell: {cell.description}")

    def _spec_from_palette(self, entry) -> Any:
        kind, name = entry
        if kind == "layer":
            return new_layer(_layer_types()[name], self._data)
        if kind == "plugin-layer":
            return new_layer(self.registry.layer(name), self._data)
        return new_layer(_layer_types()["RNN"], self._data, cell=name)

    def _on_palette_activated(self, item: QListWidgetItem) -> None:
        entry = item.data(SPEC_ROLE)
        if entry and item.flags() & Qt.ItemFlag.ItemIsEnabled:
            self.insert_layer(self._spec_from_palette(entry))

    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            # the window applies the preset synchronously through the panels' setters; inside
            # the macro each of them records, so one Ctrl+Z takes the whole preset back
            with undo_macro(self._undo_stack, f"Load preset {name}"):
                self.presetRequested.emit(name)
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(0)

    # -- the stack ---------------------------------------------------------------
    def specs(self) -> list:
        return [self.stack_list.item(i).data(SPEC_ROLE) for i in range(self.stack_list.count())]

    def model_spec(self):
        from seqstudio.core.model.spec import ModelSpec

        return ModelSpec(list(self.specs()))

    def set_model_spec(self, spec) -> None:
        """Show ``spec``'s layers (replacing the stack) and validate.

        Not recorded for undo, except inside :func:`~seqstudio.gui.undo.undo_macro`.
        """
        with QSignalBlocker(self.stack_list):
            self.stack_list.clear()
            for layer in spec.layers:
                self._append_item(layer)
        self.stack_list.setCurrentRow(0 if spec.layers else -1)
        self._on_selection_changed(self.stack_list.currentRow())
        if is_recording(self._undo_stack):
            self._commit(ReplaceLayersCommand, "Replace the layers")
        else:
            self._changed()

    def set_data(self, data) -> None:
        """Validate against ``data`` (a PreparedData, or None before data loads)."""
        self._data = data
        self.validate()

    def insert_layer(self, spec, row: int | None = None) -> None:
        """Insert ``spec`` after the selected layer (or at ``row``) and select it."""
        if row is None:
            current = self.stack_list.currentRow()
            row = self.stack_list.count() if current < 0 else current + 1
        item = self._make_item(spec)
        self.stack_list.insertItem(row, item)
        self.stack_list.setCurrentRow(row)
        self._commit(AddLayerCommand, f"Add {spec.type_name}")

    def remove_layer(self, row: int) -> None:
        """Remove the layer at ``row`` (recorded for undo)."""
        item = self.stack_list.takeItem(row)
        name = item.data(SPEC_ROLE).type_name if item is not None else "layer"
        self._commit(RemoveLayerCommand, f"Remove {name}")

    def _make_item(self, spec) -> QListWidgetItem:
        item = QListWidgetItem(describe_layer(spec))
        item.setData(SPEC_ROLE, spec)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsDragEnabled)
        return item

    def _append_item(self, spec) -> None:
        self.stack_list.addItem(self._make_item(spec))

    def _on_add_clicked(self) -> None:
        item = self.palette_list.currentItem()
        if item is not None and item.data(SPEC_ROLE):
            self._on_palette_activated(item)

    def _on_remove_clicked(self) -> None:
        row = self.stack_list.currentRow()
        if row >= 0:
            self.remove_layer(row)

    def _on_duplicate_clicked(self) -> None:
        row = self.stack_list.currentRow()
        if row >= 0:
            spec = self.stack_list.item(row).data(SPEC_ROLE)
            self.stack_list.insertItem(row + 1, self._make_item(type(spec).from_config(spec.get_config())))
            self.stack_list.setCurrentRow(row + 1)
            self._commit(DuplicateLayerCommand, f"Duplicate {spec.type_name}")

    def _move_current(self, delta: int) -> None:
        row = self.stack_list.currentRow()
        target = row + delta
        if row < 0 or not 0 <= target < self.stack_list.count():
            return
        item = self.stack_list.takeItem(row)
        self.stack_list.insertItem(target, item)
        self.stack_list.setCurrentRow(target)
        self._commit(MoveLayerCommand,
                     f"Move {item.data(SPEC_ROLE).type_name} {'up' if delta < 0 else 'down'}")

    def _on_rows_moved(self, *_args) -> None:
        self._commit(MoveLayerCommand, "Move layer")

    # -- properties ---------------------------------------------------------------
    def _on_selection_changed(self, row: int) -> None:
        if row < 0 or row >= self.stack_list.count():
            self.properties_area.setWidget(QLabel("Select a layer to edit it."))
            self._form = None
            return
        spec = self.stack_list.item(row).data(SPEC_ROLE)
        form = OptionForm(options_for_spec(spec, self.registry), spec.get_config())
        form.setObjectName("layerForm")
        form.changed.connect(self._on_layer_argument_edited)
        self._form = form
        box = QWidget()
        box_layout = QVBoxLayout(box)
        title = QLabel(f"<b>{spec.type_name}</b> — layer {row + 1}")
        box_layout.addWidget(title)
        doc = (type(spec).__doc__ or "").strip().splitlines()
        if doc:
            hint = QLabel(doc_text(doc[0], html=True))  # no raw ``literal`` markup
            hint.setObjectName("layerHelp")
            hint.setTextFormat(Qt.TextFormat.RichText)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: #555;")
            box_layout.addWidget(hint)
        box_layout.addWidget(form)
        box_layout.addStretch(1)
        self.properties_area.setWidget(box)

    def _on_layer_argument_edited(self, values: dict) -> None:
        row = self.stack_list.currentRow()
        if row < 0:
            return
        item = self.stack_list.item(row)
        old = item.data(SPEC_ROLE)
        try:
            spec = type(old).from_config({**old.get_config(), **values})
        except SeqStudioError as exc:
            self._show_invalid(error_text(exc), row)
            return
        item.setData(SPEC_ROLE, spec)
        item.setText(describe_layer(spec))
        keys = changed_keys(old.get_config(), spec.get_config())
        self._commit(EditLayerCommand, f"Edit {spec.type_name} {', '.join(sorted(keys))}",
                     row=row, keys=keys)

    # -- validation -----------------------------------------------------------------
    def _changed(self) -> None:
        for i in range(self.stack_list.count()):
            item = self.stack_list.item(i)
            item.setText(f"{i + 1}. {describe_layer(item.data(SPEC_ROLE))}")
        self._recorded = (self.specs(), self.stack_list.currentRow())
        if self.document is not None:
            self.document.set_model_spec(self.model_spec())  # the document checks it
            self._show_check(self.document.check)
        else:
            self.validate()
        self.specChanged.emit(self.model_spec())

    def validate(self) -> bool:
        """Recompute the check (the document's, or against ``set_data``'s data) and show it."""
        from seqstudio.core.studio import check_model

        if self.document is not None:
            self._data = self.document.data
        return self._show_check(check_model(self.model_spec(), self._data, self.registry))

    def _show_check(self, check) -> bool:
        """Show a core ``ModelCheck``: the summary, or the reason with the layer at fault marked."""
        for i in range(self.stack_list.count()):
            item = self.stack_list.item(i)
            item.setBackground(QBrush())
            item.setForeground(QBrush())
            item.setToolTip("")
            item.setText(item.text().removeprefix("⚠ "))
        if check.summary is not None:
            self.summary = check.summary
            self._fill_summary(check.summary)
        else:
            self.summary_table.setRowCount(0)
        if check.valid or check.summary is not None and check.reason == "load data first":
            self.error_label.hide()
            self.error_index = None
            return self._report(check.valid, check.reason)
        return self._show_invalid(check.reason, check.error_index)

    def _show_invalid(self, message: str, index: int | None) -> bool:
        self.error_label.setText(message)
        self.error_label.show()
        self.error_index = index
        if index is not None and 0 <= index < self.stack_list.count():
            item = self.stack_list.item(index)
            item.setBackground(ERROR_BRUSH)
            item.setForeground(QBrush(QColor("#b00020")))
            item.setText("⚠ " + item.text())
            item.setToolTip(message)
        return self._report(False, message)

    def _report(self, valid: bool, reason: str) -> bool:
        self.valid, self.reason = valid, reason
        self.validityChanged.emit(valid, reason)
        return valid

    def _fill_summary(self, summary) -> None:
        rows = list(summary.rows)
        self.summary_table.setRowCount(len(rows) + 3)
        for r, row in enumerate(rows):
            shape = "(None, " + ", ".join(str(d) for d in row.output_shape) + ")"
            cells = [f"{row.name} ({row.type_name})", shape, _count_text(row.params)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.summary_table.setItem(r, c, item)
        bold = QFont()
        bold.setBold(True)
        for offset, (label, value) in enumerate((("Total parameters", summary.total_params),
                                                  ("Trainable parameters", summary.trainable_params))):
            r = len(rows) + offset
            label_item = QTableWidgetItem(label)
            label_item.setFont(bold)
            value_item = QTableWidgetItem(_count_text(value))
            value_item.setFont(bold)
            value_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.summary_table.setItem(r, 0, label_item)
            self.summary_table.setItem(r, 1, QTableWidgetItem(""))
            self.summary_table.setItem(r, 2, value_item)
        self._fill_memory(summary, len(rows) + 2, bold)

    def _on_train_config(self, _values: dict) -> None:
        if self.summary is not None:
            self._fill_summary(self.summary)

    def _fill_memory(self, summary, r: int, bold: QFont) -> None:
        """The estimated memory to train the stack at the Train tab's batch size."""
        from seqstudio.core.model.memory import estimate_training_memory, format_bytes

        batch = (self.document.train.get("batch_size") if self.document is not None else None)
        batch = batch if isinstance(batch, int) and batch > 0 else 32
        known = summary.total_params is not None and all(row.params is not None for row in summary.rows)
        estimate = estimate_training_memory(summary, batch) if known else None
        label_item = QTableWidgetItem(f"Memory to train (batch {batch})")
        label_item.setFont(bold)
        value_item = QTableWidgetItem(format_bytes(estimate.total_bytes) if estimate else "…")
        value_item.setFont(bold)
        value_item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tip = estimate.describe() if estimate else "counted when the training engine has loaded"
        for c, item in enumerate((label_item, QTableWidgetItem(""), value_item)):
            item.setToolTip(tip)
            self.summary_table.setItem(r, c, item)


def _count_text(count: int | None) -> str:
    """A parameter count as the summary shows it; "…" while the training engine loads."""
    return "…" if count is None else f"{count:,}"
