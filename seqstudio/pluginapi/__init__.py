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

from typing import TYPE_CHECKING, Any

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

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "SUPPORTED_API_VERSIONS",
    "CellType",
    "DataError",
    "LayerSpec",
    "LoadedSeries",
    "ModelSpecError",
    "OptionSpec",
    "PluginCodeError",
    "PluginError",
    "PreparedData",
    "Scaler",
    "SeqStudioError",
    "SeriesOptions",
    "Task",
    "SourceType",
    "WINDOW_OPTIONS",
    "hookimpl",
    "hookspec",
    "make_windows",
    "prepare_frame",
    "prepare_series",
    "series_source",
]

if TYPE_CHECKING:
    from seqstudio.core.data.prepared import PreparedData, Task
    from seqstudio.core.data.reading import LoadedSeries
    from seqstudio.core.data.series import SeriesOptions, prepare_series
    from seqstudio.core.data.windows import Scaler, make_windows
    from seqstudio.core.model.layers import LayerSpec

    from .series import WINDOW_OPTIONS, prepare_frame, series_source

#: Names that need torch, imported on first use (PEP 562): listing plugins, the CLI's
#: --help and a plugin that only registers things do not pay for torch.
_LAZY = {"PreparedData": "seqstudio.core.data.prepared", "Task": "seqstudio.core.data.prepared",
         "WINDOW_OPTIONS": "seqstudio.pluginapi.series", "prepare_frame": "seqstudio.pluginapi.series",
         "series_source": "seqstudio.pluginapi.series",
         # the pieces series_source is made of, and the base class of a plugin's layer types
         "LoadedSeries": "seqstudio.core.data.reading", "SeriesOptions": "seqstudio.core.data.series",
         "prepare_series": "seqstudio.core.data.series", "make_windows": "seqstudio.core.data.windows",
         "Scaler": "seqstudio.core.data.windows", "LayerSpec": "seqstudio.core.model.layers"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
