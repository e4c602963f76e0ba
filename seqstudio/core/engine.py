"""Whether the training engine (torch) may be used yet: the window starts before it loads.

Importing torch takes one to two seconds. The window shows its data and layer
editor first and loads torch in a background thread (:func:`load_engine`);
until that is done it calls :func:`defer_engine`, and parts that would only
*add* something torch computes (the parameter counts of a summary) skip it while
:func:`engine_deferred` is True. Everything else (the CLI, the tests, a script)
never defers: torch is imported where it is needed, as always.

>>> engine_deferred()
False
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["defer_engine", "engine_deferred", "engine_loaded", "load_engine"]

_deferred = False
_loaded = threading.Event()


def defer_engine() -> None:
    """Say that torch is being loaded in the background: skip optional torch work until then."""
    global _deferred
    if not _loaded.is_set():
        _deferred = True


def engine_deferred() -> bool:
    """True while :func:`defer_engine` was called and :func:`load_engine` has not finished."""
    return _deferred and not _loaded.is_set()


def engine_loaded() -> bool:
    """True once :func:`load_engine` has finished (in any thread)."""
    return _loaded.is_set()


def load_engine(modules: tuple[str, ...] = ("torch",)) -> None:
    """Import torch and ``modules`` (the caller's own that need it; thread-safe: Python's
    import lock orders it), then say the engine is loaded.

    Raises what the import raises (a broken torch installation); the engine then stays
    deferred, and the caller shows why.
    """
    for name in ("torch", *modules):
        importlib.import_module(name)
    _loaded.set()
