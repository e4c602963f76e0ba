"""What the window remembers between sessions: geometry, layout, last folders, recent projects, theme.

Everything lives in one ``QSettings`` (organisation and application
"seqstudio", INI format). When ``SEQSTUDIO_CONFIG_DIR`` is set (tests, portable
installs) the INI file is ``$SEQSTUDIO_CONFIG_DIR/gui.ini`` instead of the
platform's location, the same override the plugin settings use, so one
variable keeps a test away from the user's real settings.

>>> s = GuiSettings()                          # doctest: +SKIP
>>> s.add_recent_project("/tmp/a.json")        # doctest: +SKIP
>>> s.theme()                                  # doctest: +SKIP
'system'
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

ORGANISATION = "seqstudio"
APPLICATION = "seqstudio"
MAX_RECENT = 8
THEMES = ("system", "light", "dark")
DEFAULT_AUTOSAVE_MINUTES = 3.0


def open_qsettings() -> QSettings:
    """The seqstudio ``QSettings``: ``$SEQSTUDIO_CONFIG_DIR/gui.ini`` when that is set."""
    from seqstudio.pluginapi.settings import CONFIG_DIR_ENV

    folder = os.environ.get(CONFIG_DIR_ENV)
    if folder:
        return QSettings(str(Path(folder) / "gui.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


class GuiSettings:
    """Typed access to the window's settings (a thin layer over :func:`open_qsettings`).

    Examples
    --------
    >>> s = GuiSettings()                          # doctest: +SKIP
    >>> s.set_last_folder("project", "/tmp/x.json")  # remembers /tmp  # doctest: +SKIP
    >>> s.last_folder("project")                   # doctest: +SKIP
    '/tmp'
    """

    def __init__(self, qsettings: QSettings | None = None):
        self.qsettings = qsettings if qsettings is not None else open_qsettings()

    # -- recent projects ------------------------------------------------------
    def recent_projects(self) -> list[str]:
        """Recently opened or saved projects, newest first; files that no longer exist are dropped."""
        stored = self._list("recent/projects")
        alive = [p for p in stored if Path(p).is_file()]
        if alive != stored:
            self.qsettings.setValue("recent/projects", alive)
        return alive

    def add_recent_project(self, path: str | os.PathLike) -> list[str]:
        """Put ``path`` first in the recent list (at most ``MAX_RECENT``); returns the new list."""
        path = str(Path(path).resolve())
        items = [path] + [p for p in self._list("recent/projects") if p != path]
        items = [p for p in items if Path(p).is_file()][:MAX_RECENT]
        self.qsettings.setValue("recent/projects", items)
        return items

    def clear_recent_projects(self) -> None:
        self.qsettings.setValue("recent/projects", [])

    def _list(self, key: str) -> list[str]:
        value = self.qsettings.value(key, [])
        if value is None or value == "":
            return []
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            return [value]
        return [str(v) for v in value]

    # -- last folders -------------------------------------------------------------
    def last_folder(self, kind: str) -> str:
        """The folder a file dialog of ``kind`` ("project", "data", "export", ...) last used ("" if none)."""
        folder = str(self.qsettings.value(f"folders/{kind}", "") or "")
        return folder if folder and Path(folder).is_dir() else ""

    def set_last_folder(self, kind: str, path: str | os.PathLike) -> None:
        """Remember the folder of ``path`` (a file or a folder) for dialogs of ``kind``."""
        p = Path(path)
        self.qsettings.setValue(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # -- theme ------------------------------------------------------------------
    def theme(self) -> str:
        value = str(self.qsettings.value("view/theme", "system") or "system")
        return value if value in THEMES else "system"

    def set_theme(self, theme: str) -> None:
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
        self.qsettings.setValue("view/theme", theme)

    # -- autosave ---------------------------------------------------------------
    def autosave_minutes(self) -> float:
        """Minutes between autosaves (0 turns the timer off; runs still autosave)."""
        try:
            return max(0.0, float(self.qsettings.value("recovery/autosave_minutes",
                                                       DEFAULT_AUTOSAVE_MINUTES)))
        except (TypeError, ValueError):
            return DEFAULT_AUTOSAVE_MINUTES

    def set_autosave_minutes(self, minutes: float) -> None:
        self.qsettings.setValue("recovery/autosave_minutes", float(minutes))

    # -- window geometry and layout -------------------------------------------------
    def save_window(self, window) -> None:
        """Store the window's geometry, dock/toolbar state and every named splitter's sizes."""
        from PySide6.QtWidgets import QSplitter

        self.qsettings.setValue("window/geometry", window.saveGeometry())
        self.qsettings.setValue("window/state", window.saveState())
        for splitter in window.findChildren(QSplitter):
            if splitter.objectName():
                self.qsettings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        self.qsettings.sync()

    def restore_window(self, window) -> bool:
        """Restore what :meth:`save_window` stored; False when nothing was stored yet."""
        from PySide6.QtWidgets import QSplitter

        geometry = self.qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            window.restoreGeometry(geometry)
        state = self.qsettings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            window.restoreState(state)
        for splitter in window.findChildren(QSplitter):
            saved = self.qsettings.value(f"splitters/{splitter.objectName()}") \
                if splitter.objectName() else None
            if isinstance(saved, QByteArray) and not saved.isEmpty():
                splitter.restoreState(saved)
        return isinstance(geometry, QByteArray)


# ------------------------------------------------------------------------------ file dialogs
def ask_open_path(parent, kind: str, caption: str, file_filter: str) -> str:
    """A file-open dialog starting in the last folder used for ``kind``; "" when cancelled.

    >>> path = ask_open_path(window, "data", "Open data file", "CSV files (*.csv)")  # doctest: +SKIP
    """
    from PySide6.QtWidgets import QFileDialog

    settings = GuiSettings()
    path, _ = QFileDialog.getOpenFileName(parent, caption, settings.last_folder(kind), file_filter)
    if path:
        settings.set_last_folder(kind, path)
    return path


def ask_folder(parent, kind: str, caption: str) -> str:
    """A folder dialog starting in the last folder used for ``kind``; "" when cancelled."""
    from PySide6.QtWidgets import QFileDialog

    settings = GuiSettings()
    path = QFileDialog.getExistingDirectory(parent, caption, settings.last_folder(kind))
    if path:
        settings.set_last_folder(kind, path)
    return path


def ask_save_path(parent, kind: str, caption: str, default_name: str, file_filter: str) -> str:
    """A file-save dialog proposing ``default_name`` in the last folder used for ``kind``; "" when cancelled.

    >>> path = ask_save_path(panel, "export", "Export runs", "runs.csv", "CSV file (*.csv)")  # doctest: +SKIP
    """
    from PySide6.QtWidgets import QFileDialog

    settings = GuiSettings()
    folder = settings.last_folder(kind)
    start = str(Path(folder) / default_name) if folder else default_name
    path, _ = QFileDialog.getSaveFileName(parent, caption, start, file_filter)
    if path:
        settings.set_last_folder(kind, path)
    return path


# ------------------------------------------------------------------------------ theme
def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (Qt 6.5+ style hints)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return bool(scheme) and scheme() == Qt.ColorScheme.Dark


def resolve_theme(theme: str) -> str:
    """``"light"`` or ``"dark"``: what ``theme`` means now ("system" follows the desktop)."""
    if theme == "system":
        return "dark" if system_is_dark() else "light"
    return theme


def dark_palette() -> QPalette:
    """A plain dark palette (Fusion-style colours) for every role the widgets use."""
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(230, 230, 230)
    disabled = QColor(127, 127, 127)
    for role, colour in (
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
        (QPalette.ColorRole.ToolTipBase, window), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, window),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor("red")),
        (QPalette.ColorRole.Link, QColor(90, 160, 240)),
        (QPalette.ColorRole.Highlight, QColor(42, 130, 218)),
        (QPalette.ColorRole.HighlightedText, QColor("black")),
        (QPalette.ColorRole.PlaceholderText, disabled),
    ):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


_PLATFORM_PALETTE: QPalette | None = None


def _platform_palette(app) -> QPalette:
    """The palette the platform gave the application (taken before seqstudio first changes it)."""
    global _PLATFORM_PALETTE
    if _PLATFORM_PALETTE is None:
        _PLATFORM_PALETTE = QPalette(app.palette())
    return _PLATFORM_PALETTE


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


#: pyqtgraph (background, foreground) for each resolved theme.
PLOT_COLOURS = {"light": ("w", "#222"), "dark": ("#1e1e20", "#ddd")}


def apply_theme(theme: str, root=None) -> str:
    """Apply ``theme`` to the application palette and to pyqtgraph plots; returns "light" or "dark".

    New plots take the colours from pyqtgraph's config options; the existing
    ones under ``root`` (a widget, e.g. the main window) are recoloured here.
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .plots import recolour_foreground, style_legend

    resolved = resolve_theme(theme)
    app = QApplication.instance()
    if app is not None:
        # the platform's own palette wins whenever it already has the wanted brightness:
        # a desktop theme's colours are better than ours
        platform_palette = _platform_palette(app)
        if _is_dark(platform_palette) == (resolved == "dark"):
            app.setPalette(platform_palette)
        else:
            app.setPalette(dark_palette() if resolved == "dark" else app.style().standardPalette())
    background, foreground = PLOT_COLOURS[resolved]
    old_foreground = pg.getConfigOption("foreground")
    pg.setConfigOptions(background=background, foreground=foreground)
    if root is not None:
        for plot in root.findChildren(pg.PlotWidget):
            plot.setBackground(background)
            item = plot.getPlotItem()
            style_legend(item.legend)
            recolour_foreground(plot, old_foreground, foreground)
            title = item.titleLabel
            if title is not None and title.text:
                title.setText(title.text, color=foreground)  # drawn once in the old colour
            for name in ("left", "bottom", "right", "top"):
                axis = item.getAxis(name)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
    return resolved


def name_splitters(window, panels) -> None:
    """Give ``window``'s unnamed splitters stable names (``PanelTypeSplitterN``) so their sizes persist."""
    from PySide6.QtWidgets import QSplitter

    counts: dict[str, int] = {}
    for splitter in window.findChildren(QSplitter):
        if splitter.objectName():
            continue
        owner = splitter.parent()
        while owner is not None and owner is not window and not any(owner is p for p in panels):
            owner = owner.parent()
        prefix = type(owner).__name__ if owner is not None else "window"
        counts[prefix] = counts.get(prefix, 0) + 1
        splitter.setObjectName(f"{prefix}Splitter{counts[prefix]}")

