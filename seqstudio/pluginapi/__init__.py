"""The public plugin API of seqstudio.

Plugin authors import everything they need from here::

    from seqstudio.pluginapi import API_VERSION, CellType, OptionSpec, SourceType, hookimpl, series_source

    @hookimpl
    def seqstudio_api_version() -> int:
        return API_VERSION

The hooks and every type are described in docs/plugin-reference.md (generated
from these docstrings); discovery and isolation live in
:mod:`seqstudio.pluginapi.manager`.
"""

from __future__ import annotations

from seqstudio.core.data.prepared import PreparedData, Task
from seqstudio.core.errors import DataError, ModelSpecError, PluginError, SeqStudioError
from seqstudio.core.faults import PluginCodeError
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
    "ModelSpecError",
    "OptionSpec",
    "PluginCodeError",
    "PluginError",
    "PreparedData",
    "SeqStudioError",
    "Task",
    "SourceType",
    "WINDOW_OPTIONS",
    "hookimpl",
    "hookspec",
    "prepare_frame",
    "series_source",
]
