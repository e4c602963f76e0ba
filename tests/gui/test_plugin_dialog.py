"""The Plugins dialog over a fresh plugin manager with drop-in plugins (one good, one broken)."""

from __future__ import annotations

import textwrap

import pytest

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
    assert dialog.table.item(rows["brokenplug"], status).text() == "error"
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
