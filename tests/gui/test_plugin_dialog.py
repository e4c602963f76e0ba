"""The Plugins dialog over a fresh plugin manager with drop-in plugins (one good, one broken).

pip runs in the dialog's QProcess: stand-in commands (``sys.executable -c ...``) test the
streaming, cancel and failure paths fast; the slow test installs the example plugin from its
folder into a throw-away venv layered over this one (the shared environment never changes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "plugins" / "seqstudio-example-plugin"

GOOD = textwrap.dedent('''
    import torch
    from seqstudio.pluginapi import OptionSpec, PreparedData, SourceType, hookimpl

    def _load(options):
        x = torch.zeros(8, 2, 1)
        return PreparedData(task="regression", x_train=x, y_train=x[:, -1], x_val=x[:0],
                            y_val=x[:0, -1], x_test=x[:0], y_test=x[:0, -1], n_outputs=1)

    @hookimpl
    def seqstudio_api_version():
        return 1

    @hookimpl
    def seqstudio_data_sources():
        return [SourceType(name="zeros", description="eight zero windows", load=_load,
                           options=(OptionSpec("n", "int", 8),), kind="other")]
''')


@pytest.fixture
def manager(tmp_path):
    from seqstudio.pluginapi.manager import PluginManager
    from seqstudio.pluginapi.settings import PluginSettings

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "goodplug.py").write_text(GOOD)
    (folder / "brokenplug.py").write_text("raise ImportError('needs a module that is not installed')\n")
    pm = PluginManager(autoload=False, plugin_paths=[folder],
                       settings=PluginSettings(tmp_path / "settings.json"))
    pm.load()
    return pm


def test_dialog_lists_status_and_the_broken_plugins_reason(qtbot, manager):
    from seqstudio.gui.plugin_dialog import COLUMNS, PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, 0).text(): r for r in range(dialog.table.rowCount())}
    assert set(rows) == {info.name for info in manager.plugins()}
    status = COLUMNS.index("status")
    broken = manager.plugin("brokenplug")
    assert dialog.table.item(rows["brokenplug"], status).text() == "broken"
    assert dialog.table.item(rows["brokenplug"], COLUMNS.index("problem")).text() == broken.error
    assert "needs a module that is not installed" in broken.error
    dialog.table.setCurrentCell(rows["brokenplug"], 0)
    assert "needs a module that is not installed" in dialog.details.toPlainText()
    dialog.table.setCurrentCell(rows["builtins"], 0)
    assert not dialog.disable_button.isEnabled()          # the built-ins cannot be disabled


def test_disabling_a_plugin_removes_its_source_from_the_window(qtbot, manager):
    from seqstudio.gui.app import create_window

    window = create_window(registry=manager.registry)
    window.plugin_manager = manager
    qtbot.addWidget(window)
    combo = window.data_panel.source_combo
    labels = lambda: [combo.itemText(i) for i in range(combo.count())]  # noqa: E731
    assert "zeros  [goodplug]" in labels()
    dialog = window.show_plugin_dialog()
    qtbot.addWidget(dialog)
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == "goodplug")
    dialog.table.setCurrentCell(row, 0)
    with qtbot.waitSignal(dialog.pluginsChanged):
        dialog.disable_button.click()
    assert "zeros  [goodplug]" not in labels()
    assert window.registry is manager.registry
    assert window.data_panel.error == ""                    # the airline data is still loaded
    assert manager.plugin("goodplug").status == "disabled"
    dialog.table.setCurrentCell(row, 0)
    assert dialog.enable_button.isEnabled() and not dialog.disable_button.isEnabled()
    with qtbot.waitSignal(dialog.pluginsChanged):
        dialog.enable_button.click()
    assert "zeros  [goodplug]" in labels()


# -- broken hooks, the report, pip in a QProcess ------------------------------------------------
RAISING_HOOK = textwrap.dedent('''
    from seqstudio.pluginapi import hookimpl

    @hookimpl
    def seqstudio_api_version():
        return 1

    @hookimpl
    def seqstudio_cells():
        raise RuntimeError("the cell table is corrupt")
''')


def test_a_plugin_whose_hook_raises_is_shown_with_its_traceback_while_the_rest_works(qtbot, tmp_path,
                                                                                    monkeypatch):
    from PySide6.QtGui import QGuiApplication

    from seqstudio.gui.plugin_dialog import PluginDialog
    from seqstudio.pluginapi.manager import PluginManager
    from seqstudio.pluginapi.settings import PluginSettings

    folder = tmp_path / "dropins"
    folder.mkdir()
    (folder / "goodplug.py").write_text(GOOD)
    (folder / "raisingplug.py").write_text(RAISING_HOOK)
    monkeypatch.setenv("SEQSTUDIO_PLUGIN_PATH", str(folder))
    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    pm = PluginManager(settings=PluginSettings(tmp_path / "settings.json"))
    pm.load()
    dialog = PluginDialog(pm)
    qtbot.addWidget(dialog)
    dialog.select("raisingplug")
    assert dialog.selected().status == "broken"
    assert "the cell table is corrupt" in dialog.details.toPlainText()
    report = dialog.copy_report()
    assert QGuiApplication.clipboard().text() == report
    assert "RuntimeError: the cell table is corrupt" in report and "Traceback" in report
    assert pm.plugin("goodplug").status == "active" and "goodplug>zeros" in pm.registry.sources
    assert not dialog.uninstall_button.isEnabled()          # a drop-in file is not pip's to remove


def _lines(dialog) -> list[str]:
    return dialog.output.toPlainText().splitlines()


def test_pip_output_streams_into_the_dialog(qtbot, manager):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    fake_pip = [sys.executable, "-c", "print('Collecting fake'); print('Successfully installed nothing')"]
    with qtbot.waitSignal(dialog.installFinished, timeout=20_000) as finished:
        assert dialog.install("fake", command=fake_pip)
        assert dialog.running and dialog.cancel_button.isEnabled()
        assert not dialog.install_name_button.isEnabled()
    result = finished.args[0]
    assert result.ok and result.message == "nothing changed: it is already installed"
    assert ["Collecting fake", "Successfully installed nothing"] == _lines(dialog)[1:3]
    assert not dialog.running and not dialog.cancel_button.isEnabled()


def test_cancel_kills_pip_and_changes_nothing(qtbot, manager):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    before = [(p.name, p.status) for p in manager.plugins()]
    hanging_pip = [sys.executable, "-c", "import time; print('Downloading', flush=True); time.sleep(120)"]
    assert dialog.install("slow", command=hanging_pip)
    qtbot.waitUntil(lambda: "Downloading" in _lines(dialog), timeout=20_000)
    with qtbot.waitSignal(dialog.installFinished, timeout=20_000) as finished, \
            qtbot.assertNotEmitted(dialog.pluginsChanged):
        dialog.cancel_button.click()
    result = finished.args[0]
    assert not result.ok and result.message.startswith("cancelled")
    assert not (result.added or result.changed)
    assert dialog.process is None
    assert [(p.name, p.status) for p in manager.plugins()] == before


def test_a_failed_install_says_why_and_changes_nothing(qtbot, manager):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    failing_pip = [sys.executable, "-c",
                   "import sys; print('ERROR: No matching distribution found for nosuch'); sys.exit(1)"]
    with qtbot.waitSignal(dialog.installFinished, timeout=20_000) as finished, \
            qtbot.assertNotEmitted(dialog.pluginsChanged):
        dialog.install("nosuch", command=failing_pip)
    assert not finished.args[0].ok
    assert dialog.status_label.text() == \
        "pip failed (exit status 1): ERROR: No matching distribution found for nosuch"
    assert not dialog.install("missing/plugin-1.0-py3-none-any.whl")          # nothing is started
    assert "no such file" in dialog.status_label.text() and dialog.process is None


def test_the_builtins_cannot_be_uninstalled(qtbot, manager):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    dialog.select("builtins")
    assert not dialog.uninstall_button.isEnabled()
    assert not dialog.uninstall("builtins") and "part of seqstudio" in dialog.status_label.text()


# -- the real thing: the example plugin from its folder, into a throw-away venv ----------------
@pytest.fixture
def scratch_venv(tmp_path, monkeypatch):
    """(python, purelib): a venv layered over this one; its site-packages is on this process's path.

    pip installs there and nowhere else; prepending its purelib lets this process import
    what was installed, as if seqstudio ran inside that venv.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir (not a bare path) so the parent's own .pth files, e.g. the editable seqstudio, apply
    Path(purelib, "_parent_env.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", encoding="utf-8")
    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("SEQSTUDIO_PLUGIN_PATH", raising=False)
    monkeypatch.delenv("SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.syspath_prepend(purelib)
    yield str(python), purelib
    for name in [m for m in sys.modules if m == "seqstudio_example" or m.startswith("seqstudio_example.")]:
        del sys.modules[name]


@pytest.mark.slow
def test_install_the_example_plugin_from_its_folder_and_see_its_cell_in_the_palette(qtbot, tmp_path,
                                                                                   scratch_venv):
    from importlib import metadata

    from seqstudio.gui.app import create_window
    from seqstudio.pluginapi.manager import PluginManager
    from seqstudio.pluginapi.settings import PluginSettings

    python, purelib = scratch_venv
    # install from a copy: pip builds in the folder and must not leave build/ or egg-info in the repo
    project = tmp_path / "src" / EXAMPLE_PROJECT.name
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    pm = PluginManager(plugin_paths=[], settings=PluginSettings(tmp_path / "settings.json"))
    pm.load()
    assert [p.name for p in pm.plugins()] == ["builtins"]
    window = create_window(registry=pm.registry)
    window.plugin_manager = pm
    qtbot.addWidget(window)
    palette = window.model_editor.palette_list
    labels = lambda: [palette.item(i).text() for i in range(palette.count())]  # noqa: E731
    assert "lecture_lstm  [example]" not in labels()

    dialog = window.show_plugin_dialog()
    qtbot.addWidget(dialog)
    dialog.python, dialog.build_isolation = python, False
    dialog.environment = {"PIP_NO_INDEX": "1"}              # offline: everything it needs is already here
    with qtbot.waitSignal(dialog.installFinished, timeout=300_000) as finished:
        assert dialog.install(str(project))
    result = finished.args[0]
    assert result.ok, dialog.output.toPlainText()
    assert (result.plugins, result.added) == (["example"], {"seqstudio-example-plugin": "0.1.0"})
    assert any("Successfully installed seqstudio-example-plugin-0.1.0" in line for line in _lines(dialog))
    assert pm.plugin("example").status == "active"
    assert {"lecture_lstm  [example]", "indrnn  [example]"} <= set(labels())
    combo = window.data_panel.source_combo
    assert any("[example]" in combo.itemText(i) for i in range(combo.count()))
    assert Path(metadata.distribution("seqstudio-example-plugin").locate_file("")).resolve() == \
        Path(purelib).resolve()                              # in the throw-away venv, not in .venv


def test_install_dialogs_start_in_the_last_folder_used(qtbot, manager, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from seqstudio.gui.plugin_dialog import PluginDialog

    wheels = tmp_path / "wheels"
    project = tmp_path / "projects" / "my-plugin"
    project.mkdir(parents=True)
    wheels.mkdir()
    asked, answers = [], [str(wheels / "my_plugin-1.0-py3-none-any.whl"), ""]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(
        lambda _parent, _caption, start, _filter, *a, **k: (asked.append(start), (answers.pop(0), ""))[1]))
    folders = [str(project), ""]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(
        lambda _parent, _caption, start, *a, **k: (asked.append(start), folders.pop(0))[1]))
    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    installed = []
    monkeypatch.setattr(dialog, "install", installed.append)       # no pip here
    dialog.install_file_button.click()
    dialog.install_file_button.click()                             # cancelled
    dialog.install_folder_button.click()
    dialog.install_folder_button.click()                           # cancelled
    assert installed == [str(wheels / "my_plugin-1.0-py3-none-any.whl"), str(project)]
    assert asked == ["", str(wheels), "", str(project)]


def _stand_in_pip(dry_script: str, real_script: str):
    """install_command replaced: the dry run and the install run these scripts (the dry run
    gets the report path as its argument)."""
    def command(source, *, dry_run_report=None):
        if dry_run_report is not None:
            return [sys.executable, "-c", dry_script, str(dry_run_report)]
        return [sys.executable, "-c", real_script]
    return command


def test_an_install_that_would_change_numpy_is_refused_before_anything_runs(qtbot, manager, tmp_path):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    marker = tmp_path / "installed"
    conflict = ("import sys; print('ERROR: Cannot install cplug==1.0 because these package versions have "
                "conflicting dependencies.'); print(); print('The conflict is caused by:'); "
                "print('    cplug 1.0 depends on numpy<2'); "
                "print('    The user requested (constraint) numpy==2.4.6'); print(); sys.exit(1)")
    dialog.install_command = _stand_in_pip(conflict, f"open({str(marker)!r}, 'w').write('ran')")
    with qtbot.waitSignal(dialog.installFinished, timeout=20_000) as finished, \
            qtbot.assertNotEmitted(dialog.pluginsChanged):
        assert dialog.install("cplug")
    result = finished.args[0]
    assert not result.ok and not marker.exists()                   # the install itself never ran
    assert dialog.status_label.text().startswith("refused: the plugin needs a version of numpy other than")
    assert "cplug 1.0 depends on numpy<2" in dialog.status_label.text()


def test_a_clean_dry_run_goes_on_to_the_install(qtbot, manager, tmp_path):
    from seqstudio.gui.plugin_dialog import PluginDialog

    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    report = ("import json, sys; json.dump({'install': [{'metadata': {'name': 'tinyplug', 'version': '1.0'}}]}, "
              "open(sys.argv[1], 'w'))")
    dialog.install_command = _stand_in_pip(report, "print('Successfully installed nothing')")
    with qtbot.waitSignal(dialog.installFinished, timeout=30_000) as finished:
        assert dialog.install("tinyplug")
    assert "would install: tinyplug 1.0 (new)" in _lines(dialog)
    assert "Successfully installed nothing" in _lines(dialog)
    assert finished.args[0].ok


def test_the_dialogs_pip_pins_what_the_studio_runs_on(qtbot, manager, tmp_path, monkeypatch):
    import importlib.metadata as metadata

    from seqstudio.gui.plugin_dialog import PluginDialog

    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    dialog = PluginDialog(manager)
    qtbot.addWidget(dialog)
    command = dialog.install_command("someplugin")
    constraints = Path(command[command.index("--constraint") + 1]).read_text()
    for name in ("seqstudio", "torch", "numpy", "pandas", "PySide6-Essentials"):
        assert f"{name}=={metadata.version(name)}" in constraints.splitlines()
    dry = dialog.install_command("someplugin", dry_run_report=tmp_path / "r.json")
    assert "--dry-run" in dry and dry[dry.index("--report") + 1] == str(tmp_path / "r.json")
