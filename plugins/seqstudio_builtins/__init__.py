"""The built-in data sources and recurrent cells, registered through the same hooks as any plugin.

seqstudio's own pyproject declares this package as the entry point
``builtins`` in the group ``seqstudio.plugins``, exactly as a community plugin
would; the core never imports it. The cells live in ``cells.py``
(``BUILTIN_CELLS``), the sources in ``series_source.py`` and
``text_sources.py`` (``SOURCES`` each).
"""

from __future__ import annotations

import importlib

from seqstudio.pluginapi import CellType, SourceType, hookimpl


def _exported(module: str, attribute: str) -> list:
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        # Tolerate only the module itself being absent (a trimmed install);
        # an import error inside it must surface as this plugin's failure.
        if exc.name == f"{__name__}.{module}":
            return []
        raise
    return list(getattr(mod, attribute))


@hookimpl
def seqstudio_api_version() -> int:
    return 1


@hookimpl
def seqstudio_cells() -> list[CellType]:
    return _exported("cells", "BUILTIN_CELLS")


# trylast: the generic CSV and text readers come after any specific source a plugin adds.
@hookimpl(trylast=True)
def seqstudio_data_sources() -> list[SourceType]:
    return _exported("series_source", "SOURCES") + _exported("text_sources", "SOURCES")
