"""Plugin discovery and the registry it fills (provisional: built-ins only)."""

from __future__ import annotations

from seqstudio.core.registry import Registry


def builtin_registry() -> Registry:
    """A fresh registry holding only the built-in cells and data sources."""
    reg = Registry()
    try:
        from seqstudio_builtins.cells import BUILTIN_CELLS
    except ImportError:
        BUILTIN_CELLS = []
    for cell in BUILTIN_CELLS:
        reg.add_cell("builtins", cell)
    for modname in ("series_source", "text_sources"):
        try:
            mod = __import__(f"seqstudio_builtins.{modname}", fromlist=["SOURCES"])
        except ImportError:
            continue
        for src in getattr(mod, "SOURCES", []):
            reg.add_source("builtins", src)
    return reg
