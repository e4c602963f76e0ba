"""Every name the plugin docs tell a plugin to import can be imported, and only from the public API."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PLUGIN_DOCS = ("plugins.md", "plugin-reference.md")
PUBLIC = ("seqstudio.pluginapi", "seqstudio.testing")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def documented_imports() -> list[tuple[str, str, str]]:
    """(doc, module, name) for every ``from seqstudio... import name`` in the docs' Python blocks."""
    found = []
    for doc in PLUGIN_DOCS:
        for block in python_blocks((DOCS / doc).read_text(encoding="utf-8")):
            lines = [line for line in block.splitlines() if not line.lstrip().startswith("...")]
            try:
                tree = ast.parse("\n".join(lines))
            except SyntaxError:  # a sketch with "..." bodies: read its import lines alone
                tree = ast.parse("\n".join(line for line in lines
                                           if line.startswith(("from ", "import "))))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("seqstudio"):
                    found += [(doc, node.module, alias.name) for alias in node.names]
    return found


def test_the_docs_show_imports_from_the_plugin_api():
    modules = {module for _, module, _ in documented_imports()}
    assert "seqstudio.pluginapi" in modules


@pytest.mark.parametrize("doc, module, name", documented_imports(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_documented_name_imports(doc, module, name):
    assert module.startswith(PUBLIC), f"{doc} tells plugins to import internal {module}"
    assert hasattr(importlib.import_module(module), name), f"{doc}: {module}.{name} does not exist"


def test_every_name_the_plugin_api_exports_imports():
    api = importlib.import_module("seqstudio.pluginapi")
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_the_pieces_of_a_series_source_and_the_layer_base_class_are_public():
    from seqstudio.core.data.reading import LoadedSeries
    from seqstudio.core.data.series import SeriesOptions, prepare_series
    from seqstudio.core.data.windows import Scaler, make_windows
    from seqstudio.core.model.layers import LayerSpec
    from seqstudio.pluginapi import LayerSpec as PublicLayerSpec
    from seqstudio.pluginapi import LoadedSeries as PublicLoadedSeries
    from seqstudio.pluginapi import Scaler as PublicScaler
    from seqstudio.pluginapi import SeriesOptions as PublicSeriesOptions
    from seqstudio.pluginapi import make_windows as public_make_windows
    from seqstudio.pluginapi import prepare_series as public_prepare_series

    assert (PublicLayerSpec, PublicLoadedSeries, PublicScaler, PublicSeriesOptions,
            public_make_windows, public_prepare_series) == \
        (LayerSpec, LoadedSeries, Scaler, SeriesOptions, make_windows, prepare_series)
