"""Fixtures shared by every test package.

Real data sets are read from ``SEQSTUDIO_TEST_DATA`` or, by default, from a
``shared/data`` folder beside the checkout; tests that need them skip with a
clear reason when neither exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    env = os.environ.get("SEQSTUDIO_TEST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """Keep the plugin catalog cache of every test out of the user's cache folder."""
    old = os.environ.get("SEQSTUDIO_CACHE_DIR")
    os.environ["SEQSTUDIO_CACHE_DIR"] = str(tmp_path_factory.mktemp("seqstudio-cache"))
    yield
    if old is None:
        os.environ.pop("SEQSTUDIO_CACHE_DIR", None)
    else:
        os.environ["SEQSTUDIO_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder holding the real data sets (airline, IMDB sample, word index, ...)."""
    d = _data_dir()
    if not d.is_dir():
        pytest.skip(f"real data sets not found in {d}; set SEQSTUDIO_TEST_DATA")
    return d


@pytest.fixture
def registry():
    """A fresh registry holding the built-in cells and data sources."""
    from seqstudio.pluginapi.manager import builtin_registry

    return builtin_registry()


@pytest.fixture(scope="session")
def builtins():
    """The built-in registry, built once per run (read-only use: tests that register must use ``registry``)."""
    from seqstudio.pluginapi.manager import builtin_registry

    return builtin_registry()
