"""The public plugin API of seqstudio.

Plugin authors import everything they need from here::

    from seqstudio.pluginapi import API_VERSION, CellType, OptionSpec, SourceType, hookimpl

    @hookimpl
    def seqstudio_api_version() -> int:
        return API_VERSION

The hooks themselves are documented in :mod:`seqstudio.pluginapi.hookspecs`;
discovery and isolation live in :mod:`seqstudio.pluginapi.manager`.
"""

from __future__ import annotations

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import DataError, PluginError
from seqstudio.core.registry import CellType, OptionSpec, SourceType

from .hookspecs import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    PROJECT_NAME,
    SUPPORTED_API_VERSIONS,
    hookimpl,
    hookspec,
)
from .series import WINDOW_OPTIONS, prepare_frame, series_source

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "SUPPORTED_API_VERSIONS",
    "CellType",
    "DataError",
    "OptionSpec",
    "PluginError",
    "PreparedData",
    "SourceType",
    "WINDOW_OPTIONS",
    "hookimpl",
    "hookspec",
    "prepare_frame",
    "series_source",
]
