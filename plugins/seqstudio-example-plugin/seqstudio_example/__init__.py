"""An example seqstudio plugin: two cells and one data source.

seqstudio finds this module through the entry point declared in
``pyproject.toml`` and calls the ``@hookimpl`` functions below; everything it
returns is registered under the plugin name ``example``.
"""

from __future__ import annotations

from seqstudio.pluginapi import CellType, SourceType, hookimpl

from .cells import CELLS
from .sources import SOURCES

__version__ = "0.1.0"


@hookimpl
def seqstudio_api_version() -> int:
    # The plugin API version this plugin was written against (not seqstudio's version).
    return 1


@hookimpl
def seqstudio_plugin_name() -> str:
    # The prefix of every key ("example>lecture_lstm"), the same whether seqstudio finds this
    # package in a plugin folder while you develop it or installed through its entry point.
    return "example"


@hookimpl
def seqstudio_cells() -> list[CellType]:
    return list(CELLS)


@hookimpl
def seqstudio_data_sources() -> list[SourceType]:
    return list(SOURCES)
