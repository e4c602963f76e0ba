"""Fixtures for the plugin tests: a fresh manager over a temporary plugin folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PROJECT = REPO / "plugins" / "seqstudio-example-plugin"

#: A tiny healthy plugin: one working cell and one data source.
GOOD_PLUGIN = '''
import torch
from torch import nn
from seqstudio.pluginapi import CellType, SourceType, hookimpl

class Step(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
    def forward(self, x_t, state):
        h = torch.tanh(self.lin(torch.cat([x_t, state[0]], dim=1)))
        return h, (h,)

@hookimpl
def seqstudio_api_version():
    return 1

@hookimpl
def seqstudio_cells():
    return [CellType(name="tiny", description="tiny tanh cell", step_factory=Step)]

@hookimpl
def seqstudio_data_sources():
    return [SourceType(name="nothing", description="no data", load=lambda options: None)]
'''


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """An empty user config dir; the real one is never touched."""
    d = tmp_path / "config"
    monkeypatch.setenv("SEQSTUDIO_CONFIG_DIR", str(d))
    monkeypatch.delenv("SEQSTUDIO_PLUGIN_PATH", raising=False)
    monkeypatch.delenv("SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return d


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    d = tmp_path / "plugins"
    d.mkdir()
    return d


@pytest.fixture
def write_plugin(plugin_dir):
    """write_plugin(name, source) drops a one-file plugin into the plugin folder."""

    def write(name: str, source: str) -> Path:
        path = plugin_dir / f"{name}.py"
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_manager(config_dir, plugin_dir):
    """A fresh PluginManager per call: built-ins + the temporary plugin folder, no entry points."""
    from seqstudio.pluginapi.manager import PluginManager
    from seqstudio.pluginapi.settings import PluginSettings

    def make(**kwargs):
        kwargs.setdefault("autoload", False)
        kwargs.setdefault("plugin_paths", [plugin_dir])
        kwargs.setdefault("settings", PluginSettings(config_dir / "settings.json"))
        pm = PluginManager(**kwargs)
        pm.load()
        return pm

    return make
