"""A form rendered from declared options (:class:`~seqstudio.core.registry.OptionSpec`).

Data sources (built-in and plugin), layer arguments and the train settings all
describe their options the same way, so one widget renders all of them: a
spin box for numbers, a check box for flags, a combo box for choices and
columns, a checkable list for several columns, a line edit with a browse
button for paths. Every field's tooltip is the option's help sentence.

>>> from seqstudio.core.registry import OptionSpec
>>> form = OptionForm((OptionSpec("look_back", "int", 1, help="Steps of history"),))  # doctest: +SKIP
>>> form.values()                                                                       # doctest: +SKIP
{'look_back': 1}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QWidget,
)

from seqstudio.core.registry import OptionSpec

_NONE_TEXT = "(none)"
#: Marks a ticked column the core chose by itself (see OptionForm.show_automatic).
_AUTOMATIC_ROLE = Qt.ItemDataRole.UserRole + 7


class _FloatSpinBox(QDoubleSpinBox):
    """A double spin box that shows 0.001 rather than 0.001000 (six decimals kept for input)."""

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"


class PathEdit(QWidget):
    """A line edit with a browse button (a file dialog for CSV and text files)."""

    editingFinished = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit(self)
        self.browse = QPushButton("Browse…", self)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.browse)
        self.line.editingFinished.connect(self.editingFinished)
        self.browse.clicked.connect(self._on_browse_clicked)

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open data file", self.line.text(),
                                              "Data (*.csv *.txt *.tsv *.gz);;All files (*)")
        if path:
            self.line.setText(path)
            self.editingFinished.emit()


class OptionForm(QWidget):
    """Editable form for a tuple of :class:`OptionSpec`; emits ``changed`` with all values.

    ``set_columns(names)`` fills the column pickers once a file is read.
    Values round-trip: ``set_values(form.values())`` changes nothing.
    """

    changed = Signal(dict)
    #: ``set_values`` showed new values (programmatic: no ``changed``, so no undo step)
    valuesShown = Signal(dict)

    def __init__(self, options: Iterable[OptionSpec], values: Mapping[str, Any] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.options = tuple(options)
        self._widgets: dict[str, QWidget] = {}
        self._columns: list[str] = []
        self._nullable: set[str] = set()  # int options whose minimum means None ("auto")
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setContentsMargins(0, 0, 0, 0)
        for option in self.options:
            widget = self._make_widget(option)
            widget.setObjectName(f"option_{option.name}")
            if option.help:
                widget.setToolTip(option.help)
            self._widgets[option.name] = widget
            label = option.name.replace("_", " ")
            layout.addRow(label + ("*" if option.required else ""), widget)
            field_label = layout.labelForField(widget)
            if field_label is not None and option.help:
                field_label.setToolTip(option.help)
            self._set_accessible(widget, label, option.help)
        self.set_values({o.name: o.default for o in self.options})
        if values:
            self.set_values(values)

    # -- building -----------------------------------------------------------
    @staticmethod
    def _set_accessible(widget: QWidget, label: str, help_text: str) -> None:
        """Screen readers read the option's label and help sentence for its field."""
        targets = [widget]
        if isinstance(widget, QComboBox) and widget.lineEdit() is not None:
            targets.append(widget.lineEdit())  # an editable column picker takes focus in its line edit
        if isinstance(widget, PathEdit):
            targets = [widget, widget.line]
            widget.browse.setAccessibleName(f"Browse for {label}")
        for target in targets:
            target.setAccessibleName(label)
            if help_text:
                target.setAccessibleDescription(help_text)

    @staticmethod
    def _kind(option: OptionSpec) -> str:
        # a free-text "..._col" option (e.g. date_col: a column, "auto" or "year,month,day")
        # still deserves a picker of the file's columns; the combo stays editable
        if option.type == "str" and option.name.endswith("_col"):
            return "column"
        return option.type

    def _make_widget(self, option: OptionSpec) -> QWidget:
        kind = self._kind(option)
        if kind == "int":
            w = QSpinBox(self)
            low = int(option.minimum) if option.minimum is not None else -1_000_000_000
            if option.default is None and not option.required:
                # an optional int (None = "decide for me") shows "auto" at one below the minimum
                low -= 1
                w.setSpecialValueText("auto")
                self._nullable.add(option.name)
            w.setRange(low, int(option.maximum) if option.maximum is not None else 1_000_000_000)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._emit_changed)
            return w
        if kind == "float":
            w = _FloatSpinBox(self)
            w.setDecimals(6)
            w.setRange(option.minimum if option.minimum is not None else -1e12,
                       option.maximum if option.maximum is not None else 1e12)
            w.setSingleStep(0.01 if (option.maximum or 0) <= 1 else 1.0)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._emit_changed)
            return w
        if kind == "bool":
            w = QCheckBox(self)
            w.toggled.connect(self._emit_changed)
            return w
        if kind in ("choice", "column"):
            w = QComboBox(self)
            w.setEditable(kind == "column")
            # None in a yes/no choice means "decide for me"; elsewhere it means "none"
            none_text = "auto" if True in option.choices else _NONE_TEXT
            for choice in option.choices:
                w.addItem(none_text if choice is None else str(choice), choice)
            w.currentIndexChanged.connect(self._emit_changed)
            if w.isEditable():
                w.lineEdit().editingFinished.connect(self._emit_changed)
            return w
        if kind == "columns":
            w = QListWidget(self)
            w.setMaximumHeight(90)
            w.itemChanged.connect(lambda _item, lw=w: self._on_column_ticked(lw))
            return w
        if kind == "path":
            w = PathEdit(self)
            w.editingFinished.connect(self._emit_changed)
            return w
        w = QLineEdit(self)
        w.editingFinished.connect(self._emit_changed)
        return w

    def show_automatic(self, name: str, chosen: Iterable[str]) -> None:
        """Tick ``chosen`` in column list ``name`` as the automatic choice, when nothing is ticked.

        The ticks show what the core chose for an empty option (the last numeric column as
        the target); :meth:`values` still gives the option as empty, so another file chooses
        afresh. Ticking or unticking anything makes every tick the user's own.
        """
        w = self._widgets.get(name)
        if not isinstance(w, QListWidget) or any(
                w.item(i).checkState() == Qt.CheckState.Checked for i in range(w.count())):
            return
        chosen = set(chosen)
        with QSignalBlocker(w):
            for i in range(w.count()):
                item = w.item(i)
                if item.text() in chosen:
                    item.setCheckState(Qt.CheckState.Checked)
                    item.setData(_AUTOMATIC_ROLE, True)
                    item.setToolTip("chosen automatically; tick columns to choose yourself")

    def _on_column_ticked(self, w: QListWidget) -> None:
        with QSignalBlocker(w):
            for i in range(w.count()):
                if w.item(i).data(_AUTOMATIC_ROLE):
                    w.item(i).setData(_AUTOMATIC_ROLE, False)
                    w.item(i).setToolTip("")
        self._emit_changed()

    def _emit_changed(self, *_args) -> None:
        self.changed.emit(self.values())

    # -- reading and writing --------------------------------------------------
    def widget(self, name: str) -> QWidget:
        """The editor widget of option ``name`` (tests and tooltips use it)."""
        return self._widgets[name]

    def values(self) -> dict[str, Any]:
        """Every option's current value, typed as its :class:`OptionSpec` says."""
        out: dict[str, Any] = {}
        for option in self.options:
            w = self._widgets[option.name]
            if isinstance(w, QSpinBox):
                # a Python set, not a Qt dynamic property: PySide6's QObject.property() returns an
                # unset name's None without a reference, and enough calls abort the interpreter
                nullable = option.name in self._nullable and w.value() == w.minimum()
                out[option.name] = None if nullable else w.value()
            elif isinstance(w, QDoubleSpinBox):
                out[option.name] = w.value()
            elif isinstance(w, QCheckBox):
                out[option.name] = w.isChecked()
            elif isinstance(w, QComboBox):
                text = w.currentText()
                data = w.currentData()
                if w.isEditable():
                    out[option.name] = None if text in ("", _NONE_TEXT) else text
                else:
                    out[option.name] = data
            elif isinstance(w, QListWidget):
                out[option.name] = [w.item(i).text() for i in range(w.count())
                                    if w.item(i).checkState() == Qt.CheckState.Checked
                                    and not w.item(i).data(_AUTOMATIC_ROLE)]
            elif isinstance(w, PathEdit):
                text = w.line.text().strip()
                out[option.name] = None if text == "" and option.default is None else text
            else:
                text = w.text()
                out[option.name] = _parse_text(text, option.default)
        return out

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` without emitting ``changed`` (no model/view echo)."""
        for option in self.options:
            if option.name not in values:
                continue
            value = values[option.name]
            w = self._widgets[option.name]
            with QSignalBlocker(w):
                if isinstance(w, QSpinBox):
                    w.setValue(int(value) if value is not None else w.minimum())
                elif isinstance(w, QDoubleSpinBox):
                    w.setValue(float(value) if value is not None and not math.isnan(value) else 0.0)
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QComboBox):
                    index = w.findData(value)
                    if index < 0 and value is not None:
                        index = w.findText(str(value))
                    if index < 0 and w.isEditable():
                        w.setEditText("" if value is None else str(value))
                    elif index >= 0:
                        w.setCurrentIndex(index)
                elif isinstance(w, QListWidget):
                    self._fill_column_list(w, self._columns, list(value or []))
                elif isinstance(w, PathEdit):
                    with QSignalBlocker(w.line):
                        w.line.setText("" if value is None else str(value))
                else:
                    w.setText(_format_text(value))
        self.valuesShown.emit(self.values())

    def set_columns(self, columns: Iterable[str]) -> None:
        """Offer ``columns`` in every column picker, keeping the current choices."""
        self._columns = [str(c) for c in columns]
        current = self.values()
        for option in self.options:
            w = self._widgets[option.name]
            if self._kind(option) == "column" and isinstance(w, QComboBox):
                with QSignalBlocker(w):
                    w.clear()
                    extra = (option.default,) if option.type == "str" and option.default else ()
                    for choice in dict.fromkeys((*extra, *option.choices, *self._columns)):
                        w.addItem(_NONE_TEXT if choice is None else str(choice), choice)
            elif option.type == "columns" and isinstance(w, QListWidget):
                with QSignalBlocker(w):
                    self._fill_column_list(w, self._columns, list(current.get(option.name) or []))
        self.set_values({k: v for k, v in current.items()
                         if k in {o.name for o in self.options if self._kind(o) == "column"}})

    @staticmethod
    def _fill_column_list(w: QListWidget, columns: list[str], checked: list[str]) -> None:
        w.clear()
        for name in dict.fromkeys([*columns, *checked]):
            item = QListWidgetItem(name, w)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)


def _format_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _parse_text(text: str, default: Any) -> Any:
    """Read a line edit back in the type of its default (lists are comma separated)."""
    text = text.strip()
    if isinstance(default, list | tuple):
        return [part.strip() for part in text.split(",") if part.strip()]
    if text == "" and default is None:
        return None
    return text


def describe_widgets(items: Iterable[tuple[QWidget, str, str]]) -> None:
    """Give each widget its accessible name and (when not empty) description."""
    for widget, name, description in items:
        widget.setAccessibleName(name)
        if description:
            widget.setAccessibleDescription(description)


def chain_tab_order(*widgets: QWidget) -> None:
    """Tab moves through ``widgets`` in the order given."""
    for first, second in zip(widgets, widgets[1:], strict=False):
        QWidget.setTabOrder(first, second)
