"""What the plugins provide, remembered on disk per plugin version and content hash.

Two things are expensive to find out and rarely change: whether a plugin's
cells pass the conformance check (each check runs the cell with torch, about
0.1 s), and the list of data sources, layers and cells at all (importing the
plugins imports torch, 1-3 s). Both are kept in one small JSON file in the
user cache folder:

- :func:`remembered_verdicts` wraps the conformance check for one loaded
  plugin: a verdict is reused while the plugin's name, version and files
  (a SHA-256 of their contents) and seqstudio's own core are unchanged, and
  checked again as soon as any of them changes.
- :func:`listing` answers ``seqstudio datasets list`` and ``layers list``: when
  nothing the plugin discovery looks at has changed (the entry points and the
  files of their packages, the drop-in folders, the disabled plugins,
  seqstudio's own files), it returns the remembered listing without
  importing a single plugin (or torch); otherwise it loads the plugins, as
  before, and remembers the new listing.

``SEQSTUDIO_CACHE_DIR`` moves the cache folder (tests); with only
``SEQSTUDIO_CONFIG_DIR`` set it lives in ``<config dir>/cache``. A cache that
cannot be read or written is ignored: everything then works as without it.

>>> digest = files_digest([])
>>> len(digest)
64
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

CACHE_DIR_ENV = "SEQSTUDIO_CACHE_DIR"
CACHE_FILE = "plugin-catalog.json"
FORMAT = 1
#: Files bigger than this are fingerprinted by size and modification time, not read.
_READ_LIMIT = 4 << 20


def cache_dir() -> Path:
    """``$SEQSTUDIO_CACHE_DIR``, else ``<$SEQSTUDIO_CONFIG_DIR>/cache``, else the user cache folder."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    from .settings import CONFIG_DIR_ENV, config_dir

    if os.environ.get(CONFIG_DIR_ENV):
        return config_dir() / "cache"
    import platformdirs

    return platformdirs.user_cache_path("seqstudio", appauthor=False)


# --------------------------------------------------------------------------- fingerprints
def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if not f.endswith((".pyc", ".pyo")))
    return found


def files_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and contents of the files at or under ``paths`` (in order)."""
    digest = hashlib.sha256()
    for top in paths:
        top = Path(top)
        digest.update(b"\0top\0" + str(top).encode())
        for file in _files_under(top):
            digest.update(b"\0file\0" + str(file.relative_to(top.parent)).encode() + b"\0")
            try:
                stat = file.stat()
                if stat.st_size > _READ_LIMIT:
                    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
                else:
                    digest.update(file.read_bytes())
            except OSError:
                digest.update(b"unreadable")
    return digest.hexdigest()


def _module_root(name: str) -> Path | None:
    """The file or package folder of top-level module ``name``, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.has_location else None


def _loaded_root(plugin: Any) -> Path | None:
    """The file or package folder of the module a loaded plugin object comes from."""
    module = plugin if isinstance(plugin, ModuleType) else sys.modules.get(
        getattr(plugin, "__module__", "") or type(plugin).__module__)
    if module is None:
        return None
    top = sys.modules.get(module.__name__.split(".")[0], module)
    locations = getattr(top, "__path__", None)
    if locations:
        return Path(next(iter(locations)))
    file = getattr(top, "__file__", None)
    return Path(file) if file else None


_SELF_DIGEST: str | None = None


def seqstudio_digest() -> str:
    """seqstudio's version and the contents of its core and plugin API (what the checks run)."""
    global _SELF_DIGEST
    if _SELF_DIGEST is None:
        from seqstudio import __version__

        here = Path(__file__).resolve().parents[1]
        _SELF_DIGEST = files_digest([here / "core", here / "pluginapi"]) + __version__
    return _SELF_DIGEST


def plugin_fingerprint(plugin: Any, name: str, version: str) -> str | None:
    """Name, version and content hash of a loaded plugin's files; None when it has no files."""
    root = _loaded_root(plugin)
    if root is None:
        return None
    return hashlib.sha256("\0".join([name, version, files_digest([root]),
                                     seqstudio_digest()]).encode()).hexdigest()


# --------------------------------------------------------------------------- the file
def _path() -> Path:
    return cache_dir() / CACHE_FILE


def _read() -> dict[str, Any]:
    try:
        doc = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else {}


def _write(doc: dict[str, Any]) -> None:
    """Atomic (a whole file or the old one); failures are ignored: it is only a cache."""
    doc["format"] = FORMAT
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --------------------------------------------------------------------------- conformance verdicts
def remembered_verdicts(plugin: Any, name: str, version: str,
                        check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """``check`` for the cells of one loaded plugin, answered from the cache while the plugin
    (name, version, files) and seqstudio's core are unchanged.

    A verdict is stored after the check ran; a check that raises stores nothing.
    Plugins without files (objects registered in code) are always checked.
    """
    fingerprint = plugin_fingerprint(plugin, name, version)
    if fingerprint is None:
        return check

    def checked(cell: Any) -> str | None:
        entry = _read().get("verdicts", {}).get(name, {})
        if entry.get("fingerprint") == fingerprint and cell.name in entry.get("cells", {}):
            return entry["cells"][cell.name]
        verdict = check(cell)
        doc = _read()
        verdicts = doc.setdefault("verdicts", {})
        entry = verdicts.get(name, {})
        if entry.get("fingerprint") != fingerprint:
            entry = {"fingerprint": fingerprint, "cells": {}}
        entry["cells"][cell.name] = verdict
        verdicts[name] = entry
        _write(doc)
        return verdict

    return checked


# --------------------------------------------------------------------------- listings
def environment_key(manager: Any) -> str | None:
    """A hash of everything plugin discovery looks at, found without importing any plugin.

    None when the manager has plugins registered in code (nothing on disk to compare).
    """
    if getattr(manager, "_direct", None):
        return None
    from .hookspecs import ENTRY_POINT_GROUP
    from .settings import plugin_search_path

    parts: list[str] = [seqstudio_digest(), sys.version, repr(bool(manager.autoload))]
    try:
        parts.append(repr(sorted(manager.settings.disabled_plugins())))
    except Exception:  # noqa: BLE001 - an unreadable settings file: the real load reports it
        return None
    builtin = _module_root("seqstudio_builtins")
    parts.append(files_digest([builtin] if builtin else []))
    if manager.autoload:
        import importlib.metadata as metadata

        importlib.invalidate_caches()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
            dist = getattr(ep, "dist", None)
            root = _module_root(ep.value.split(":")[0].split(".")[0].strip())
            parts.append("\0".join([ep.name, ep.value, dist.metadata["Name"] if dist else "",
                                    dist.version if dist else "",
                                    files_digest([root] if root else [])]))
    folders = manager.plugin_paths if manager.plugin_paths is not None else (
        plugin_search_path() if manager.autoload else [])
    for folder in folders:
        parts.append(str(folder))
        if Path(folder).is_dir():
            parts.append(files_digest(sorted(p for p in Path(folder).iterdir()
                                             if not p.name.startswith((".", "_")))))
    return hashlib.sha256("\0\0".join(parts).encode()).hexdigest()


def build_listing(registry: Any) -> dict[str, Any]:
    """The JSON-able rows ``datasets list`` and ``layers list`` print, from a loaded registry."""
    import dataclasses

    from seqstudio.core.model.layers import LAYER_TYPES

    sources = []
    for key, src in sorted(registry.sources.items()):
        sources.append({"key": key, "kind": src.kind, "description": src.description,
                        "options": [{"name": o.name, "type": o.type,
                                     "default": _jsonable(o.default), "default_repr": repr(o.default),
                                     "help": o.help} for o in src.options]})
    layers = [{"name": name, "fields": [f.name for f in dataclasses.fields(cls) if f.init]}
              for name, cls in LAYER_TYPES.items()]
    plugin_layers = [{"key": key, "class": cls.__name__} for key, cls in sorted(registry.layers.items())]
    cells = [{"key": key, "description": cell.description, "disabled_reason": cell.disabled_reason,
              "parameters": [{"name": o.name, "type": o.type, "default_repr": repr(o.default),
                              "choices": ", ".join(map(repr, o.choices)), "help": o.help}
                             for o in cell.parameters]}
             for key, cell in sorted(registry.cells.items())]
    return {"sources": sources, "layers": layers, "plugin_layers": plugin_layers, "cells": cells}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def listing(manager: Any = None) -> dict[str, Any]:
    """What ``datasets list`` and ``layers list`` show: remembered when nothing changed, else
    found by loading every plugin (and remembered). ``listing()["cached"]`` says which.

    ``manager`` defaults to the process-wide one, which is loaded only on a cache miss.
    """
    from .manager import PluginManager, default_manager

    key = environment_key(manager if manager is not None else PluginManager())
    if key is not None:
        hit = _read().get("listing")
        if isinstance(hit, dict) and hit.get("key") == key:
            return {**hit["rows"], "cached": True}
    manager = manager if manager is not None else default_manager()
    manager.ensure_loaded()
    rows = build_listing(manager.registry)
    if key is not None:
        doc = _read()
        doc["listing"] = {"key": key, "rows": rows}
        _write(doc)
    return {**rows, "cached": False}
