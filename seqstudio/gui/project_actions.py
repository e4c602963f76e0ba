"""The window's project files: New, Open, Save, Save As, unsaved changes, autosave, recovery.

A mixin of :class:`~seqstudio.gui.main_window.MainWindow`: the dialogs and
questions of the shell around the document's own use cases
(:meth:`StudioDocument.adopt_project <seqstudio.core.studio.StudioDocument.adopt_project>`,
``save``, ``autosave``, ``mark_saved``). Tests replace ``ask_save_changes``,
``ask_restore_recovery`` and ``show_error`` on the window class.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from seqstudio.core.studio import ErrorReport

from .settings import ask_open_path, ask_save_path

PROJECT_FILTER = "seqstudio project (*.json)"
DATA_FILTER = "CSV files (*.csv *.tsv *.txt);;All files (*)"
# Answers of :meth:`ProjectActions.ask_save_changes`.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


class ProjectActions:
    """File > New / Open / Save / Save As, the modified mark, autosave and recovery (a mixin)."""

    def apply_project(self, project) -> None:
        """Make ``project`` the window's: its data, layers, settings, weights and runs (counts as saved)."""
        self.document.adopt_project(project)
        self.undo_stack.clear()

    def new_project(self) -> bool:
        """File > New: the ``airline-lstm`` preset as a fresh, unsaved project (asks about unsaved changes)."""
        from seqstudio.core.presets import DEFAULT_PRESET
        from seqstudio.core.project import Project

        if not self.maybe_save():
            return False
        self.apply_project(Project.from_preset(DEFAULT_PRESET))
        return True

    def open_project(self, path) -> bool:
        """Open the project at ``path`` (asks about unsaved changes first); False when not opened."""
        from seqstudio.core.project import Project

        if not self.maybe_save():
            return False
        try:
            self.apply_project(Project.load(path))
        except Exception as exc:  # noqa: BLE001 - any failure is shown; the window stays usable
            self.errors.report(ErrorReport("opening the project", exc), modal=True,
                               title="Cannot open project")
            return False
        self._remember_project_file(path)
        self.statusBar().showMessage(f"opened {path}", 5000)
        return True

    def _remember_project_file(self, path) -> None:
        self.settings.add_recent_project(path)
        self.settings.set_last_folder("project", path)
        self.fill_recent_menu()

    def open_project_dialog(self) -> bool:
        path = ask_open_path(self, "project", "Open project", PROJECT_FILTER)
        return self.open_project(path) if path else False

    def open_data_dialog(self) -> None:
        path = ask_open_path(self, "data", "Open data file", DATA_FILTER)
        if path:
            self.open_data_file(path)

    def open_data_file(self, path: str) -> None:
        """Open ``path`` in the data panel (what a drop or File > Open data does)."""
        self.tabs.setCurrentWidget(self.data_panel)
        self.data_panel.load_path(str(Path(path)))

    def save(self) -> bool:
        """File > Save: to the project's file, or Save As when it has none. True when saved."""
        if self.project.path is None:
            return self.save_as()
        return self._save_reporting(self.project.path)

    def save_as(self) -> bool:
        """File > Save As…: ask for a file and save there. True when saved."""
        if self.project.path is not None:
            path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(self.project.path),
                                                  PROJECT_FILTER)
        else:
            path = ask_save_path(self, "project", "Save project as", f"{self.project.name}.json",
                                 PROJECT_FILTER)
        return self._save_reporting(path) if path else False

    def _save_reporting(self, path) -> bool:
        try:
            written = self.save_project(path)
        except Exception as exc:  # noqa: BLE001 - report, keep the window and the old file
            self.errors.report(ErrorReport("saving the project", exc), modal=True,
                               title="Cannot save project")
            return False
        self.statusBar().showMessage(f"saved {written}", 5000)
        return True

    def save_project(self, path) -> Path:
        """Save the project to ``path`` (JSON + safetensors, atomic); no dialogs. Returns the file.

        The project takes the file's name; it counts as saved, joins the recent
        list, and the autosave copy is no longer needed.
        """
        if self.data_panel.busy:  # save what the options say, not the data they replaced
            self.data_panel.reload(background=False)
        written = self.document.save(path)
        self._remember_project_file(written)
        self.recovery.discard()
        self.undo_stack.setClean()
        return written

    def show_error(self, title: str, text: str) -> None:
        """A warning box (tests replace it; it is modal)."""
        QMessageBox.warning(self, title, text)

    # -- unsaved changes, autosave and recovery -----------------------------------------------
    def mark_saved(self) -> None:
        """The editors now match the project on disk (after save or open)."""
        self.document.mark_saved()
        self.undo_stack.setClean()

    def mark_modified(self) -> None:
        """Something not visible in the editors changed (a run, a restored recovery copy)."""
        self.document.mark_modified()

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.project.name}[*] — seqstudio")

    def ask_save_changes(self) -> str:
        """Ask Save / Discard / Cancel for unsaved changes; returns SAVE, DISCARD or CANCEL.

        Tests replace this method (it opens a modal box).
        """
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.project.name!r}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: SAVE,
                QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def maybe_save(self) -> bool:
        """Before the project is replaced or the window closes: True when it is fine to go on."""
        if not self.isWindowModified():
            return True
        answer = self.ask_save_changes()
        if answer == SAVE:
            return self.save()
        return answer == DISCARD

    def autosave(self) -> str | None:
        """Write the recovery copy now if there are unsaved changes; returns its path (None: nothing)."""
        path = self.document.autosave(self.recovery)
        if path is not None:
            self.statusBar().showMessage("autosaved", 3000)
        return None if path is None else str(path)

    def ask_restore_recovery(self, marker: dict) -> bool:
        """Ask whether to restore the autosave copy ``marker`` describes (tests replace this)."""
        original = marker.get("original_path") or "a project that was never saved"
        answer = QMessageBox.question(
            self, "Restore unsaved work?",
            f"seqstudio did not close normally. An autosave of {marker.get('name', 'a project')!r} "
            f"({original}) from {marker.get('saved_at', '?')} exists.\n\nRestore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def offer_recovery(self) -> bool:
        """If an earlier session left an autosave copy, offer to restore it; True when restored."""
        marker = self.recovery.pending()
        if marker is None:
            return False
        if not self.ask_restore_recovery(marker):
            self.recovery.discard(marker)
            return False
        try:
            self.apply_project(self.recovery.load(marker))
        except Exception as exc:  # noqa: BLE001 - keep the copy; the user may try again
            self.errors.report(ErrorReport("restoring the autosave", exc), modal=True,
                               title="Cannot restore the autosave")
            return False
        self.mark_modified()  # the restored work is not in the project file yet
        if self.autosave():  # now in this window's own slot: the crashed window's can go
            self.recovery.discard(marker)
        self.statusBar().showMessage("restored the autosaved project; save it to keep it", 10_000)
        return True

    # -- dropping a file on the window opens it ---------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = urls[0].toLocalFile()
            if path.lower().endswith(".json"):
                self.open_project(path)
            else:
                self.open_data_file(path)
            event.acceptProposedAction()
