"""The plugin manager: discovery, namespacing, isolation of broken plugins, enable/disable."""

from __future__ import annotations

import json

import pytest
import torch

from seqstudio.core.errors import PluginError
from seqstudio.core.registry import CellType
from seqstudio.pluginapi import API_VERSION, hookimpl
from seqstudio.pluginapi.manager import (
    PluginManager,
    builtin_registry,
    default_manager,
    reset_default_manager,
)
from seqstudio.pluginapi.settings import PluginSettings

from .conftest import GOOD_PLUGIN


def _info(pm, name):
    return next(i for i in pm.plugins() if i.name == name)


def _assert_rest_works(pm):
    """The built-ins and the healthy plugin are loaded and usable despite a broken neighbour."""
    assert _info(pm, "builtins").status == "active"
    assert _info(pm, "good").status == "active"
    step = pm.registry.cell("good>tiny").step_factory(3, 4)
    h, (h2,) = step(torch.zeros(2, 3), (torch.zeros(2, 4),))
    assert h.shape == (2, 4)
    assert "builtins>lstm" in pm.registry.cells


def test_builtins_register_through_the_hooks_with_namespaced_keys():
    reg = builtin_registry()
    assert {"builtins>simple_rnn", "builtins>lstm", "builtins>gru"} <= set(reg.cells)
    assert all(c.plugin == "builtins" and c.key == k for k, c in reg.cells.items())
    assert reg.cell("lstm").key == "builtins>lstm"  # a unique short name resolves


def test_folder_plugin_is_discovered_and_namespaced(make_manager, write_plugin):
    write_plugin("good", GOOD_PLUGIN)
    pm = make_manager()
    info = _info(pm, "good")
    assert info.status == "active" and info.source.startswith("folder:")
    assert info.cells == ["good>tiny"] and info.sources == ["good>nothing"]
    assert pm.registry.source("good>nothing").plugin == "good"


def test_package_folder_plugin_with_relative_import(make_manager, plugin_dir):
    pkg = plugin_dir / "pkgplug"
    pkg.mkdir()
    (pkg / "impl.py").write_text(GOOD_PLUGIN, encoding="utf-8")
    (pkg / "__init__.py").write_text("from .impl import *  # noqa\n__version__ = '2.5'\n", encoding="utf-8")
    info = _info(make_manager(), "pkgplug")
    assert (info.status, info.version, info.cells) == ("active", "2.5", ["pkgplug>tiny"])


@pytest.mark.parametrize("name, source, reason", [
    ("import_error", "import not_a_real_module_xyz\n", "ModuleNotFoundError: No module named 'not_a_real_module_xyz'"),
    ("syntax_error", "def broken(:\n", "SyntaxError"),
    ("raising_hook", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_cells():
            raise RuntimeError("boom in cells")
        """, "RuntimeError: boom in cells"),
    ("wrong_type", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_cells():
            return {"not": "a list"}
        """, "seqstudio_cells returned dict; expected a list of CellType"),
    ("wrong_item", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_data_sources():
            return ["csv"]
        """, "seqstudio_data_sources returned a str at position 0; expected SourceType"),
    ("future_api", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_api_version():
            return 99
        @hookimpl
        def seqstudio_cells():
            raise AssertionError("must not be called for an incompatible plugin")
        """, "incompatible plugin API version 99"),
    ("typo_hook", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_cell():
            return []
        """, "unknown hook 'seqstudio_cell'"),
    ("bad_signature", """
        from seqstudio.pluginapi import hookimpl
        @hookimpl
        def seqstudio_cells(registry):
            return []
        """, "invalid hook"),
])
def test_a_broken_plugin_is_recorded_and_skipped(make_manager, write_plugin, name, source, reason):
    write_plugin("good", GOOD_PLUGIN)
    write_plugin(name, source)
    pm = make_manager()
    info = _info(pm, name)
    assert info.status == "broken"
    assert reason in info.error
    assert "\n" not in info.error  # one line for the list; the details are in the traceback
    assert "Traceback" in info.traceback
    assert not any(k.startswith(f"{name}>") for k in [*pm.registry.cells, *pm.registry.sources])
    _assert_rest_works(pm)


def test_incompatible_api_version_message_says_which_side_to_upgrade(make_manager, write_plugin):
    write_plugin("old", "from seqstudio.pluginapi import hookimpl\n"
                        "@hookimpl\ndef seqstudio_api_version():\n    return 0\n")
    write_plugin("new", "from seqstudio.pluginapi import hookimpl\n"
                        f"@hookimpl\ndef seqstudio_api_version():\n    return {API_VERSION + 1}\n")
    pm = make_manager()
    assert _info(pm, "old").error.endswith("upgrade the plugin")
    assert _info(pm, "new").error.endswith("upgrade seqstudio")


def test_a_plugin_that_fails_half_way_adds_nothing(make_manager, write_plugin):
    # Its cells hook works, its sources hook raises: no partial registration.
    write_plugin("half", GOOD_PLUGIN.replace(
        'return [SourceType(name="nothing", description="no data", load=lambda options: None)]',
        'raise ValueError("sources broken")'))
    pm = make_manager()
    assert _info(pm, "half").status == "broken"
    assert "half>tiny" not in pm.registry.cells


def test_duplicate_key_is_reported_and_the_first_is_kept(make_manager, write_plugin):
    write_plugin("good", GOOD_PLUGIN)
    write_plugin("dup", GOOD_PLUGIN.replace(
        'return [CellType(name="tiny", description="tiny tanh cell", step_factory=Step)]',
        'return [CellType(name="tiny", description="first", step_factory=Step),\n'
        '            CellType(name="tiny", description="second", step_factory=Step)]'))
    pm = make_manager()
    info = _info(pm, "dup")
    assert info.status == "active"
    assert pm.registry.cell("dup>tiny").description == "first"
    assert any("'dup>tiny' is registered twice" in w for w in info.warnings)
    assert pm.registry.clashes  # the registry keeps the report too
    _assert_rest_works(pm)


def test_two_plugins_with_one_name_the_second_is_refused(make_manager, write_plugin):
    write_plugin("good", GOOD_PLUGIN)
    pm_direct = make_manager()
    import types

    twin = types.ModuleType("twin")
    exec(GOOD_PLUGIN, twin.__dict__)
    pm_direct.add_plugin(twin, "good")
    pm_direct.load()
    infos = [i for i in pm_direct.plugins() if i.name == "good"]
    assert [i.status for i in infos] == ["active", "broken"]
    assert "already used" in infos[1].error
    _assert_rest_works(pm_direct)


def test_direct_registration_of_an_object(make_manager):
    class Plugin:
        @hookimpl
        def seqstudio_cells(self):
            return [CellType(name="obj", description="", step_factory=lambda i, h: None)]

    pm = make_manager()
    pm.add_plugin(Plugin(), "direct_one", version="1.0")
    pm.load()
    # a step factory returning None cannot pass conformance, when the check exists
    assert "direct_one>obj" in pm.registry.cells
    assert _info(pm, "direct_one").source == "direct"


def test_failing_cell_conformance_keeps_the_cell_disabled(make_manager, write_plugin, monkeypatch):
    import seqstudio.pluginapi.manager as manager_module

    def check(cell):  # stands in for core.cells.conformance_check: flags one cell
        return "output has the wrong shape" if cell.name == "tiny" else None

    monkeypatch.setattr(manager_module, "_conformance_checker", lambda: check)
    write_plugin("good", GOOD_PLUGIN)
    pm = make_manager()
    cell = pm.registry.cell("good>tiny")
    assert cell.disabled_reason == "output has the wrong shape"
    assert any("output has the wrong shape" in w for w in _info(pm, "good").warnings)
    assert pm.registry.cell("builtins>lstm").disabled_reason is None


def test_a_crashing_conformance_check_disables_only_that_cell(make_manager, write_plugin, monkeypatch):
    import seqstudio.pluginapi.manager as manager_module

    def check(cell):
        if cell.name == "tiny":
            raise RuntimeError("cell exploded")
        return None

    monkeypatch.setattr(manager_module, "_conformance_checker", lambda: check)
    write_plugin("good", GOOD_PLUGIN)
    pm = make_manager()
    assert "RuntimeError: cell exploded" in pm.registry.cell("good>tiny").disabled_reason
    assert _info(pm, "good").status == "active"


def test_real_conformance_check_rejects_a_wrong_shape_cell(make_manager, write_plugin):
    pytest.importorskip("seqstudio.core.model.cells").conformance_check  # noqa: B018
    write_plugin("good", GOOD_PLUGIN)
    write_plugin("badshape", """
        import torch
        from torch import nn
        from seqstudio.pluginapi import CellType, hookimpl
        class Step(nn.Module):
            def __init__(self, input_size, hidden_size):
                super().__init__()
                self.hidden_size = hidden_size
            def forward(self, x_t, state):
                h = torch.zeros(x_t.shape[0], self.hidden_size + 1)  # one unit too many
                return h, (h,)
        @hookimpl
        def seqstudio_cells():
            return [CellType(name="wide", description="", step_factory=Step)]
        """)
    pm = make_manager()
    assert pm.registry.cell("badshape>wide").disabled_reason
    assert pm.registry.cell("good>tiny").disabled_reason is None
    assert all(c.disabled_reason is None for k, c in pm.registry.cells.items() if k.startswith("builtins>"))


def test_disable_is_persisted_and_enable_restores(make_manager, write_plugin, config_dir):
    write_plugin("good", GOOD_PLUGIN)
    pm = make_manager()
    pm.set_enabled("good", False)
    assert _info(pm, "good").status == "disabled"
    assert "good>tiny" not in pm.registry.cells
    saved = json.loads((config_dir / "settings.json").read_text())
    assert saved["plugins"]["disabled"] == ["good"]
    again = make_manager()  # a new process would see the same
    assert _info(again, "good").status == "disabled"
    again.set_enabled("good", True)
    assert "good>tiny" in again.registry.cells
    assert _info(make_manager(), "good").status == "active"


def test_builtins_cannot_be_disabled(make_manager):
    with pytest.raises(PluginError, match="cannot be disabled"):
        make_manager().set_enabled("builtins", False)


def test_settings_keep_other_sections(config_dir):
    path = config_dir / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"window": {"theme": "dark"}}))
    PluginSettings(path).set_disabled("x", True)
    assert json.loads(path.read_text()) == {"window": {"theme": "dark"}, "plugins": {"disabled": ["x"]}}


def test_damaged_settings_file_is_a_user_error(config_dir):
    path = config_dir / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    settings = PluginSettings(path)
    assert settings.disabled_plugins() == set()  # every command still runs
    assert "not valid JSON" in settings.problem.what and str(path) in str(settings.problem)
    with pytest.raises(PluginError, match="not valid JSON") as err:  # but nothing overwrites it
        settings.set_disabled("x", True)
    assert str(path) in str(err.value)
    assert path.read_text() == "{not json"


def test_plugin_path_env_and_autoload_switch(config_dir, plugin_dir, write_plugin, monkeypatch):
    write_plugin("good", GOOD_PLUGIN)
    monkeypatch.setenv("SEQSTUDIO_PLUGIN_PATH", str(plugin_dir))
    pm = PluginManager(settings=PluginSettings(config_dir / "s.json"))
    pm.load()
    assert "good" in [i.name for i in pm.plugins()]
    monkeypatch.setenv("SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD", "1")
    off = PluginManager(settings=PluginSettings(config_dir / "s.json"))
    off.load()
    assert [i.name for i in off.plugins()] == ["builtins"]


def test_user_plugin_dir_is_scanned(config_dir, monkeypatch):
    (config_dir / "plugins").mkdir(parents=True)
    (config_dir / "plugins" / "mine.py").write_text(GOOD_PLUGIN, encoding="utf-8")
    pm = PluginManager()
    pm.load()
    assert _info(pm, "mine").status == "active"


def test_default_manager_is_lazy_and_shared(config_dir):
    reset_default_manager()
    try:
        assert default_manager() is default_manager()
        assert "builtins>gru" in default_manager().registry.cells
    finally:
        reset_default_manager()


def test_missing_plugin_errors_name_what_to_do(make_manager, write_plugin):
    write_plugin("good", GOOD_PLUGIN)
    write_plugin("broken", "raise ImportError('needs libfoo')\n")
    pm = make_manager()
    pm.set_enabled("good", False)
    assert "seqstudio plugins enable good" in str(pm.missing_plugin_error("good>tiny"))
    assert "needs libfoo" in str(pm.missing_plugin_error("broken>cell"))
    err = pm.missing_plugin_error("example>lecture_lstm", distribution="seqstudio-example-plugin")
    assert "not installed" in err.what and "seqstudio plugins install seqstudio-example-plugin" in err.fix
    assert pm.distributions()["builtins"] == "seqstudio"


LAYER_PLUGIN = '''
from dataclasses import dataclass
from typing import ClassVar
from torch import nn
from seqstudio.core.model.layers import LayerSpec
from seqstudio.pluginapi import hookimpl

@dataclass
class Scale(LayerSpec):
    factor: float = 2.0
    type_name: ClassVar[str] = "Scale"

    def build(self, input_shape, registry):
        class Mul(nn.Module):
            def forward(inner, x):
                return x * self.factor
        return Mul()

@hookimpl
def seqstudio_layers():
    return [Scale]
'''


def test_a_plugin_layer_type_is_found_by_layer_from_dict(make_manager, write_plugin):
    from seqstudio.core.model.layers import layer_from_dict

    write_plugin("layerplug", LAYER_PLUGIN)
    pm = make_manager()
    assert _info(pm, "layerplug").layers == ["layerplug>Scale"]
    spec = layer_from_dict({"type": "Scale", "factor": 3.0}, pm.registry)
    assert spec.get_config() == {"factor": 3.0}
    assert torch.equal(spec.build((2,), pm.registry)(torch.ones(1, 2)), torch.full((1, 2), 3.0))


def test_a_layer_hook_returning_a_non_layer_breaks_only_that_plugin(make_manager, write_plugin):
    write_plugin("good", GOOD_PLUGIN)
    write_plugin("badlayer", "from seqstudio.pluginapi import hookimpl\n"
                             "@hookimpl\ndef seqstudio_layers():\n    return [int]\n")
    pm = make_manager()
    assert _info(pm, "badlayer").error == (
        "seqstudio_layers returned a type at position 0; expected LayerSpec subclass")
    _assert_rest_works(pm)
