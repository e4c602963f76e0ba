"""Start the window: :func:`create_window` (tests, screenshots) and :func:`main` (the CLI).

``main`` paints a small splash as soon as Qt is up, before torch and the core
are imported (those take most of the start-up time), then builds the real
window on the embedded default: Airline Passengers loaded and plotted and the
lecture's ``airline-lstm`` preset in the layer editor, ready to press Train.

>>> window = create_window()      # doctest: +SKIP
>>> window.show()                 # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

_NONE_PROTECTED = False


def protect_none_refcount() -> None:
    """Keep CPython < 3.12 from aborting with "none_dealloc" under PySide6 6.12.

    PySide6 6.12.0 returns ``None`` from every void C++ method without adding
    a reference, so on CPython 3.11 None's reference count drifts down with each
    call (``widget.setWindowTitle``, ``QSettings.setValue``, ...) until the
    interpreter aborts, typically at exit after a long session or test run.
    CPython 3.12 made None immortal; this gives it a huge count once, which
    is the same in effect. Idempotent; nothing happens on 3.12+.
    """
    global _NONE_PROTECTED
    if _NONE_PROTECTED or sys.version_info >= (3, 12):
        return
    import PySide6

    if PySide6.__version__ != "6.12.0":  # pyproject excludes it; this guards existing installs
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += min(1 << 48, sys.maxsize >> 2)
    _NONE_PROTECTED = True


def _default_manager():
    """The process-wide plugin manager, loaded (every installed plugin; broken ones recorded)."""
    from seqstudio.pluginapi.manager import default_manager

    manager = default_manager()
    manager.ensure_loaded()
    return manager


def create_window(project=None, *, registry=None, preset: str | None = None,
                  offer_recovery: bool = True, engine_later: bool = False,
                  start_engine: bool = True):
    """Build the main window (not shown).

    If an earlier session left an autosave copy (it crashed), the window
    offers to restore it (``MainWindow.ask_restore_recovery``).

    Parameters
    ----------
    project : Project or str or None
        A :class:`~seqstudio.core.project.Project` or a path to one; None opens
        the embedded default (the ``airline-lstm`` preset).
    registry : Registry, optional
        Sources, cells and layers to offer; default: every loaded plugin.
    preset : str, optional
        A preset name to start from instead of the default.
    offer_recovery : bool
        Look for an autosave copy left by a crash and offer to restore it.
    engine_later : bool
        Build the window without torch and load it in the background as soon as Qt's event
        loop runs (``window.engineReady``); Train says "loading the training engine…" until
        then. What :func:`main` does, so that the window shows in about a second.
    start_engine : bool
        With ``engine_later``: start that load when Qt's event loop runs. :func:`main`
        passes False and starts it after the window's first paint, so that the import
        does not compete with the paint for the interpreter lock.

    Examples
    --------
    >>> w = create_window()                    # doctest: +SKIP
    >>> w.train_panel.train_button.isEnabled()  # doctest: +SKIP
    True
    """
    from seqstudio.core.presets import DEFAULT_PRESET
    from seqstudio.core.project import Project

    from .main_window import MainWindow

    if engine_later:
        from PySide6.QtCore import QTimer

        from seqstudio.core.engine import defer_engine

        defer_engine()  # before anything is checked: summaries skip counting until it loads
    manager = None
    if registry is None:
        manager = _default_manager()
        registry = manager.registry
    window = MainWindow(registry, plugin_manager=manager)
    if project is not None:
        if isinstance(project, str | os.PathLike):
            path = project
            project = Project.load(path)
            window.settings.add_recent_project(path)
        window.apply_project(project)
    else:
        window.apply_project(Project.from_preset(preset or DEFAULT_PRESET))
    if offer_recovery:
        window.offer_recovery()
    if engine_later:
        window.train_panel.set_engine_loading(True)
        if start_engine:
            QTimer.singleShot(0, window.start_engine_loader)
    _collect_garbage_in_the_gui_thread()
    if engine_later:  # torch arrives after the window: what it brings lives as long, freeze it too
        window.engineReady.connect(_freeze_start_up_objects)
    _prewarm_training_process()
    return window


_GARBAGE_COLLECTOR = None


def _collect_garbage_in_the_gui_thread() -> None:
    """Run Python's cycle collector on a GUI-thread timer only (once per process).

    Left automatic, it runs in whichever thread happens to allocate, and the
    training thread allocates all the time: collecting a cycle that holds a Qt
    object there destroys the object off the GUI thread, which can crash Qt or
    deadlock it against the GIL. pyqtgraph's GarbageCollector is made for this.
    """
    global _GARBAGE_COLLECTOR
    if _GARBAGE_COLLECTOR is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GARBAGE_COLLECTOR = GarbageCollector(interval=1.0)
        _freeze_start_up_objects()


def _freeze_start_up_objects() -> None:
    """Leave what exists now out of every later cycle collection (``gc.freeze``).

    What the first window stands on (modules, torch, pandas, the widgets: ~250,000
    objects) lives as long as the process. A full collection scanned all of it,
    stalling the window 40-220 ms each time (bench/bench_gui.py); frozen, it is never
    scanned again, and only objects made since are.
    """
    import gc

    gc.freeze()


#: The training process starts this long after the window is built, so its import of torch
#: does not compete with the first paint; a Train click before then starts it at once.
PREWARM_MS = 1500


def _prewarm_training_process() -> None:
    from PySide6.QtCore import QTimer

    from .worker import trains_in_child

    if trains_in_child():
        from seqstudio.core.train.process import shared_training_process

        QTimer.singleShot(PREWARM_MS, shared_training_process().start)


def _show_splash(app: QApplication):
    """Paint a small "loading" card at once, before the heavy imports.

    A frameless ``Qt.SplashScreen`` label rather than ``QSplashScreen``: the latter's
    ``show()`` polls in 10 ms sleeps until the window system reports the window
    exposed, up to one second, and on some X servers (no window manager, virtual
    displays) that report never comes, so it always cost the full second of start-up.
    """
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
    from PySide6.QtWidgets import QLabel

    pixmap = QPixmap(420, 140)
    pixmap.fill(QColor("#1f3b57"))
    painter = QPainter(pixmap)
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPointSize(20)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect().adjusted(0, -20, 0, 0), Qt.AlignmentFlag.AlignCenter, "seqstudio")
    font.setPointSize(10)
    font.setBold(False)
    painter.setFont(font)
    painter.drawText(pixmap.rect().adjusted(0, 50, 0, 0), Qt.AlignmentFlag.AlignCenter,
                     "loading the window…")
    painter.end()
    splash = QLabel()
    splash.setWindowFlags(Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint
                          | Qt.WindowType.WindowStaysOnTopHint)
    splash.setPixmap(pixmap)
    splash.setFixedSize(pixmap.size())
    screen = app.primaryScreen()
    if screen is not None:
        splash.move(screen.availableGeometry().center() - splash.rect().center())
    splash.show()
    splash.repaint()  # paint now, not at the next turn of the event loop
    app.processEvents()
    return splash


def no_display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the window cannot open here (no display to draw on), or None when it can.

    Qt itself aborts with "could not connect to display" and a list of platform
    plugins, which reads like a broken installation; this says what is missing
    and what works without a display.

    >>> no_display_problem({}, "linux").splitlines()[0]
    'no display found: the window needs a desktop session (DISPLAY and WAYLAND_DISPLAY are not set)'
    >>> no_display_problem({"DISPLAY": ":0"}, "linux") is None
    True
    """
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None  # Windows and macOS always have their own display server
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if qpa and qpa not in ("xcb", "wayland", "wayland-egl"):
        return None  # offscreen, vnc, eglfs...: the user chose a platform that needs no X or Wayland
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display found: the window needs a desktop session (DISPLAY and WAYLAND_DISPLAY are "
            "not set)\n  fix: use the headless commands, e.g. seqstudio train --preset airline-lstm, "
            "seqstudio predict --project P.json, seqstudio --help; or run the window in a virtual "
            "display: xvfb-run seqstudio")


def process_age() -> float:
    """Seconds since this process started (from the system where it says; else since this call).

    Linux's ``/proc/self/stat`` gives the start in clock ticks since boot, so the
    figure includes the interpreter's own start and every import before ``main``.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _wait_until_usable(app: QApplication, window, timeout: float = 120.0) -> bool:
    """Let Qt run until the data panel holds its prepared data (or shows its error)."""
    from PySide6.QtCore import QEventLoop

    deadline = time.perf_counter() + timeout
    panel = window.data_panel
    while time.perf_counter() < deadline:
        if not panel.busy and (panel.prepared is not None or panel.error):
            return True
        # blocks until Qt has something to do (the data's worker reports through a signal)
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 100)
    return False


def _wait_for_engine(app: QApplication, window, timeout: float = 120.0) -> bool:
    """Let Qt run until the background load of torch has finished (Train is then enabled)."""
    from PySide6.QtCore import QEventLoop

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not window.train_panel.engine_loading:
            return not window.train_panel.engine_problem
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 100)
    return False


def main(argv: list[str] | None = None) -> int:
    """Open the window; returns the exit status.

    ``argv``: ``[--project FILE] [--preset NAME] [--startup-time] [DATA.csv]``.
    ``--startup-time`` opens the window, prints the seconds from the process's
    start to the first painted splash, to the window shown, to the window
    usable (its data prepared and plotted, the model editor filled) and to the
    training engine loaded in the background (Train enabled), then closes.
    """
    started = time.perf_counter() - process_age()
    from seqstudio.core.train.threads import prepare_openmp_env

    prepare_openmp_env()  # before torch starts OpenMP in this process
    parser = argparse.ArgumentParser(prog="seqstudio gui")
    parser.add_argument("--project", metavar="FILE")
    parser.add_argument("--preset", metavar="NAME")
    parser.add_argument("--startup-time", action="store_true",
                        help="print the seconds from process start to the splash, the window shown "
                             "and the window usable, then close")
    parser.add_argument("data", nargs="?", help="a CSV file to open")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])

    problem = None if QApplication.instance() else no_display_problem()
    if problem:
        print(f"seqstudio: error: {problem}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from .settings import APPLICATION, ORGANISATION

    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    splash = _show_splash(app)
    first_paint = time.perf_counter() - started

    from seqstudio.core.errors import SeqStudioError

    try:
        window = create_window(args.project, preset=args.preset, engine_later=True, start_engine=False)
    except SeqStudioError as exc:
        splash.close()
        print(f"seqstudio: error: {exc}", file=sys.stderr)
        return 2
    if args.data:
        window.open_data_file(args.data)
    window.show()
    splash.close()
    app.processEvents()  # the window's first paint, before torch's import competes for the interpreter
    shown = time.perf_counter() - started
    shown_cpu = time.process_time()  # this process's CPU seconds: what a busy machine stretches
    usable = _wait_until_usable(app, window) if args.startup_time else True
    ready = time.perf_counter() - started
    window.start_engine_loader()
    if args.startup_time:
        engine = _wait_for_engine(app, window)
        engine_s = time.perf_counter() - started
        print(f"startup: splash {first_paint:.2f} s, window shown {shown:.2f} s, usable "
              f"{ready:.2f} s{'' if usable else ' (data still not ready)'}, training engine ready "
              f"{engine_s:.2f} s{'' if engine else ' (not loaded)'} (from process start; CPU "
              f"{shown_cpu:.2f} s to shown)", file=sys.stderr)
        window.close()
        return 0 if usable and engine else 1
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
