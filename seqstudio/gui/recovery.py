"""Autosave and crash recovery: the current project copied to a recovery file now and then.

The window writes its project (the core's format: JSON + safetensors, atomic)
to ``<user data dir>/recovery/recovery.json`` every few minutes and after each
training run, plus a small marker ``recovery-marker.json`` naming the project
it stands for. A clean close deletes both; so if they exist at the next start,
the last session ended without closing (a crash, ``kill -9``, power loss) and
the window offers to restore the project, losing at most the work since the
last autosave.

The folder is ``$SEQSTUDIO_CONFIG_DIR/recovery`` when that variable is set (tests),
else platformdirs' user data dir.

>>> store = RecoveryStore()                      # doctest: +SKIP
>>> store.save(project, original_path=None)      # doctest: +SKIP
>>> store.pending()["name"]                      # doctest: +SKIP
'airline-lstm'
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import QObject, QTimer, Signal

RECOVERY_FILE = "recovery.json"
MARKER_FILE = "recovery-marker.json"


def recovery_dir() -> Path:
    """Where recovery files live: ``$SEQSTUDIO_CONFIG_DIR/recovery`` or the user data dir."""
    from seqstudio.pluginapi.settings import CONFIG_DIR_ENV

    env = os.environ.get(CONFIG_DIR_ENV)
    base = Path(env) if env else platformdirs.user_data_path("seqstudio", appauthor=False)
    return base / "recovery"


class RecoveryStore:
    """The recovery copy of one project and its marker.

    Parameters
    ----------
    folder : Path, optional
        Default :func:`recovery_dir`.
    """

    def __init__(self, folder: Path | str | None = None):
        self.folder = Path(folder) if folder is not None else recovery_dir()

    @property
    def project_path(self) -> Path:
        return self.folder / RECOVERY_FILE

    @property
    def marker_path(self) -> Path:
        return self.folder / MARKER_FILE

    def save(self, project, original_path: str | os.PathLike | None = None) -> Path:
        """Write a copy of ``project`` (left untouched) and the marker; returns the recovery file."""
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
        }
        tmp = self.marker_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.marker_path)  # the marker last: it says the copy is complete
        return written

    def pending(self) -> dict[str, Any] | None:
        """The marker of a recovery copy left by an earlier session, or None."""
        if not (self.marker_path.is_file() and self.project_path.is_file()):
            return None
        try:
            marker = json.loads(self.marker_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return marker if isinstance(marker, dict) else None

    def load(self):
        """The recovered :class:`~seqstudio.core.project.Project`, with its original path set.

        The project's ``path`` is the file it was autosaved for (None for a
        project that was never saved), so that Save writes back there.
        """
        from seqstudio.core.project import Project

        marker = self.pending() or {}
        project = Project.load(self.project_path)
        # data paths were stored relative to the recovery folder: make them real
        # before the project forgets where it was read from
        from seqstudio.core.presets import EMBEDDED
        from seqstudio.core.project import PATH_OPTIONS

        for key in PATH_OPTIONS:
            value = project.data_options.get(key)
            if isinstance(value, str) and value and not value.startswith(EMBEDDED) \
                    and not Path(value).is_absolute():
                project.data_options[key] = str((self.folder / value).resolve())
        original = marker.get("original_path")
        project.path = Path(original) if original else None
        return project

    def discard(self) -> None:
        """Delete the recovery copy (a clean close, or the user declined to restore)."""
        if self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)


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
