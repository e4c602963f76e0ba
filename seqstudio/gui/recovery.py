"""Autosave and crash recovery: the current project copied to a recovery file now and then.

Each window keeps its own recovery slot, a folder ``<user data dir>/recovery/<slot>/``
holding ``recovery.json`` (the core's format: JSON + safetensors, atomic) and a
small marker ``recovery-marker.json`` naming the project it stands for, the
process id and that process's start time. It is written every few minutes and
after each training run. A clean close deletes only that window's own slot.

At start, a slot counts as left behind by a crash when its owner is gone: the
process with that id is not running, or is another process that started at
another time (ids are reused), or, in this very process, no open window holds
it. Only such slots are offered back; a second window never offers, overwrites
or deletes the copy of a window that is still open.

The folder is ``$SEQSTUDIO_CONFIG_DIR/recovery`` when that variable is set (tests),
else platformdirs' user data dir.

>>> store = RecoveryStore()                      # doctest: +SKIP
>>> store.save(project, original_path=None)      # doctest: +SKIP
>>> RecoveryStore().pending()                    # doctest: +SKIP  (None: the owner is alive)
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import platformdirs
from PySide6.QtCore import QObject, QTimer, Signal

RECOVERY_FILE = "recovery.json"
MARKER_FILE = "recovery-marker.json"


def recovery_dir() -> Path:
    """Where recovery slots live: ``$SEQSTUDIO_CONFIG_DIR/recovery`` or the user data dir."""
    from seqstudio.pluginapi.settings import CONFIG_DIR_ENV

    env = os.environ.get(CONFIG_DIR_ENV)
    base = Path(env) if env else platformdirs.user_data_path("seqstudio", appauthor=False)
    return base / "recovery"


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (None: no such process, or it cannot be asked)."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError, ValueError):
        return None


class RecoveryStore:
    """The recovery slot of one window, and the slots crashed windows left behind.

    Parameters
    ----------
    folder : Path, optional
        The folder holding every slot; default :func:`recovery_dir`.
    """

    #: Slots held by the stores (windows) open in this process.
    _live: ClassVar[set[str]] = set()

    def __init__(self, folder: Path | str | None = None):
        self.root = Path(folder) if folder is not None else recovery_dir()
        self.slot = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        RecoveryStore._live.add(self.slot)

    @property
    def folder(self) -> Path:
        """This window's own slot."""
        return self.root / self.slot

    @property
    def project_path(self) -> Path:
        return self.folder / RECOVERY_FILE

    @property
    def marker_path(self) -> Path:
        return self.folder / MARKER_FILE

    def save(self, project, original_path: str | os.PathLike | None = None) -> Path:
        """Write a copy of ``project`` (left untouched) and the marker; returns the recovery file."""
        import dataclasses

        self.folder.mkdir(parents=True, exist_ok=True)
        RecoveryStore._live.add(self.slot)
        # Project.save rewrites path options and sets .path: work on a copy so the
        # window's project keeps pointing at the user's file.
        copy = dataclasses.replace(project, data_options=dict(project.data_options),
                                   path=project.path)
        written = copy.save(self.project_path)
        marker = {
            "original_path": str(original_path) if original_path else None,
            "name": project.name,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "pid": os.getpid(),
            "process_started": _process_started(os.getpid()),
            "slot": self.slot,
        }
        tmp = self.marker_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.marker_path)  # the marker last: it says the copy is complete
        return written

    # -- slots of other windows ------------------------------------------------------
    def _markers(self) -> list[dict[str, Any]]:
        found = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return []
        for slot in entries:
            marker_path, project_path = slot / MARKER_FILE, slot / RECOVERY_FILE
            if not (marker_path.is_file() and project_path.is_file()):
                continue
            try:
                marker = json.loads(marker_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(marker, dict):
                marker["slot"] = slot.name
                found.append(marker)
        return found

    @staticmethod
    def owner_alive(marker: dict[str, Any]) -> bool:
        """Whether the window that wrote ``marker`` is still open (then its copy is not ours)."""
        pid = marker.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool):
            return False
        if pid == os.getpid():
            return marker.get("slot") in RecoveryStore._live
        started = _process_started(pid)
        if started is None:
            return False
        recorded = marker.get("process_started")
        # the same id, but a process that started at another time: the id was reused
        return not isinstance(recorded, int | float) or abs(started - recorded) < 1.0

    def pending(self) -> dict[str, Any] | None:
        """The marker of the newest copy a crashed window left behind, or None.

        Copies of windows still open (in this process or another) are never returned.
        """
        orphans = [m for m in self._markers() if m["slot"] != self.slot and not self.owner_alive(m)]
        orphans.sort(key=lambda m: str(m.get("saved_at", "")), reverse=True)
        return orphans[0] if orphans else None

    def _slot_folder(self, marker: dict[str, Any] | None) -> Path:
        if marker is None:
            return self.folder
        name = str(marker.get("slot", ""))
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"not a recovery slot: {name!r}")
        return self.root / name

    def load(self, marker: dict[str, Any] | None = None):
        """The :class:`~seqstudio.core.project.Project` of the slot ``marker`` names (default:
        this window's own), with its original path set.

        The project's ``path`` is the file it was autosaved for (None for a
        project that was never saved), so that Save writes back there.
        """
        from seqstudio.core.presets import EMBEDDED
        from seqstudio.core.project import PATH_OPTIONS, Project

        folder = self._slot_folder(marker)
        if marker is None:
            try:
                marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                marker = {}
        project = Project.load(folder / RECOVERY_FILE)
        # data paths were stored relative to the recovery folder: make them real
        # before the project forgets where it was read from
        for key in PATH_OPTIONS:
            value = project.data_options.get(key)
            if isinstance(value, str) and value and not value.startswith(EMBEDDED) \
                    and not Path(value).is_absolute():
                project.data_options[key] = str((folder / value).resolve())
        original = marker.get("original_path") if isinstance(marker, dict) else None
        project.path = Path(original) if original else None
        return project

    def discard(self, marker: dict[str, Any] | None = None) -> None:
        """Delete a recovery copy: this window's own (a save, a clean close) or the left-behind
        one ``marker`` names (restored, or the user declined it). Never another open window's."""
        folder = self._slot_folder(marker)
        if marker is not None and marker.get("slot") != self.slot and self.owner_alive(marker):
            return
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """The window closed cleanly: delete its copy and give up its slot."""
        self.discard()
        RecoveryStore._live.discard(self.slot)


class Autosaver(QObject):
    """Calls ``save_now`` every ``minutes`` (a QTimer on the GUI thread).

    ``save_now`` is a callable that writes the recovery copy (the window's
    :meth:`autosave`). ``minutes`` 0 stops the timer.

    Signals: ``autosaved(str)`` with the recovery file's path after each save.
    """

    autosaved = Signal(str)

    def __init__(self, save_now, minutes: float, parent: QObject | None = None):
        super().__init__(parent)
        self._save_now = save_now
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.save)
        self.set_interval(minutes)

    def set_interval(self, minutes: float) -> None:
        self.timer.stop()
        if minutes > 0:
            self.timer.setInterval(int(minutes * 60_000))
            self.timer.start()

    def save(self) -> str | None:
        path = self._save_now()
        if path:
            self.autosaved.emit(str(path))
        return str(path) if path else None
