"""Plugin discovery, isolation and control.

The manager finds plugins in three places, in this order:

1. the built-ins (``seqstudio_builtins``, always loaded, through the same hooks
   as everyone else),
2. installed distributions declaring an entry point in the group
   ``seqstudio.plugins`` (the entry-point name is the plugin name),
3. drop-in plugin folders (the user plugin dir and ``$SEQSTUDIO_PLUGIN_PATH``):
   each ``name.py`` file or ``name/`` package in them is a plugin called ``name``.

It loops over the candidates itself, as napari's npe2 does: an import error, a
hook that raises, a hook returning the wrong type or an incompatible API
version is recorded for that plugin (one-line reason plus traceback) and only
that plugin is skipped. A cell that fails its conformance check stays listed
with ``disabled_reason`` set.

>>> pm = PluginManager(autoload=False, plugin_paths=[])
>>> pm.load()
>>> [p.name for p in pm.plugins()]
['builtins']
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pluggy

from seqstudio.core.errors import PluginError
from seqstudio.core.registry import CellType, Registry, SourceType

from . import hookspecs
from .hookspecs import API_VERSION, ENTRY_POINT_GROUP, PROJECT_NAME, SUPPORTED_API_VERSIONS
from .settings import PluginSettings, autoload_disabled, plugin_search_path

BUILTINS_NAME = "builtins"
BUILTINS_MODULE = "seqstudio_builtins"
#: Drop-in plugins are imported under this prefix so they never shadow real packages.
FOLDER_MODULE_PREFIX = "seqstudio_dropin_"

PluginStatus = Literal["active", "disabled", "error"]


@dataclass
class PluginInfo:
    """What `seqstudio plugins list` and the plugin dialog show about one plugin."""

    name: str
    version: str = ""
    distribution: str = ""
    #: "builtin", "entry point", "folder:<path>" or "direct" (registered in code).
    source: str = ""
    status: PluginStatus = "active"
    #: One line saying why the plugin failed (empty when it did not).
    error: str = ""
    traceback: str = ""
    #: Problems that did not stop the plugin (a cell failing conformance, a duplicate name).
    warnings: list[str] = field(default_factory=list)
    #: Registry keys this plugin added.
    cells: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A short "what it provides" text: ``"3 cells, 2 data sources"``."""
        parts = [f"{len(v)} {label}{'' if len(v) == 1 else 's'}"
                 for v, label in ((self.cells, "cell"), (self.sources, "data source"),
                                  (self.layers, "layer")) if v]
        return ", ".join(parts) or "nothing"


@dataclass
class _Candidate:
    """A plugin found but not yet imported."""

    name: str
    source: str
    load: Callable[[], Any]
    distribution: str = ""
    version: str = ""


class _PluginFault(Exception):
    """A plugin broke the contract; the message is the one-line reason shown to users."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _layer_base() -> type | None:
    try:
        from seqstudio.core.model.layers import LayerSpec
    except ImportError:  # layers are optional for the plugin machinery itself
        return None
    return LayerSpec


#: id(cell) -> (cell, verdict). A plugin module imported once hands back the same CellType
#: objects on every reload, so their check (~0.1 s each) runs once per process; the cell is
#: kept in the value so its id cannot be reused by another object.
_conformance_verdicts: dict[int, tuple[CellType, str | None]] = {}


def _conformance_checker() -> Callable[[CellType], str | None] | None:
    try:
        from seqstudio.core.model.cells import conformance_check
    except ImportError:
        return None

    def check_once(cell: CellType) -> str | None:
        hit = _conformance_verdicts.get(id(cell))
        if hit is not None and hit[0] is cell:
            return hit[1]
        verdict = conformance_check(cell)
        _conformance_verdicts[id(cell)] = (cell, verdict)
        return verdict

    return check_once


def _import_folder_plugin(path: Path, name: str) -> ModuleType:
    """Import a drop-in ``name.py`` file or ``name/`` package under a private module name."""
    modname = FOLDER_MODULE_PREFIX + name
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            modname, path / "__init__.py", submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # so relative imports inside a package plugin work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module


def _folder_candidates(folder: Path) -> list[_Candidate]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix == ".py":
            name = path.stem
        elif path.is_dir() and (path / "__init__.py").is_file():
            name = path.name
        else:
            continue
        found.append(_Candidate(name=name, source=f"folder:{folder}",
                                load=lambda p=path, n=name: _import_folder_plugin(p, n)))
    return found


def _entry_point_candidates() -> list[_Candidate]:
    importlib.invalidate_caches()  # see distributions installed since start-up
    found: dict[str, _Candidate] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ""
        if ep.name in found:  # the same distribution seen twice on sys.path: first wins, as import does
            continue
        found[ep.name] = _Candidate(
            name=ep.name,
            source="builtin" if ep.name == BUILTINS_NAME and dist_name == "seqstudio" else "entry point",
            load=ep.load, distribution=dist_name or "", version=dist.version if dist else "")
    return list(found.values())


def _builtins_candidate() -> _Candidate:
    try:
        version = metadata.version("seqstudio")
    except metadata.PackageNotFoundError:  # running from a source tree
        from seqstudio import __version__ as version
    return _Candidate(name=BUILTINS_NAME, source="builtin", distribution="seqstudio",
                      version=version, load=lambda: importlib.import_module(BUILTINS_MODULE))


class PluginManager:
    """Finds plugins, calls their hooks one plugin at a time, and fills :attr:`registry`.

    Parameters
    ----------
    autoload
        Discover installed distributions (entry points) and the default
        drop-in folders. ``SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD=1`` forces it off.
        The built-ins always load.
    plugin_paths
        Drop-in plugin folders to use instead of the default ones; always
        scanned, even without ``autoload``.
    settings
        Where per-plugin disabling is persisted (default: the user config dir).

    Examples
    --------
    >>> pm = PluginManager(autoload=False, plugin_paths=[])
    >>> pm.load()
    >>> pm.plugins()[0].status
    'active'
    """

    def __init__(self, *, autoload: bool = True, plugin_paths: Sequence[Path | str] | None = None,
                 settings: PluginSettings | None = None):
        self.autoload = autoload and not autoload_disabled()
        self.plugin_paths = None if plugin_paths is None else [Path(p) for p in plugin_paths]
        self.settings = settings if settings is not None else PluginSettings()
        self.registry = Registry()
        self._infos: list[PluginInfo] = []
        self._direct: list[tuple[str, Any, PluginInfo]] = []
        self._pluggy: pluggy.PluginManager = self._new_pluggy()
        self._loaded = False
        self._lock = threading.RLock()

    # -- public -----------------------------------------------------------
    def add_plugin(self, plugin: Any, name: str, *, version: str = "", distribution: str = "") -> None:
        """Register a plugin object (module, class or instance) from code; takes effect on :meth:`load`.

        Used by tests and by applications embedding seqstudio.
        """
        self._direct.append((name, plugin, PluginInfo(name=name, version=version,
                                                      distribution=distribution, source="direct")))

    def load(self) -> None:
        """Discover, import and register every plugin, refilling :attr:`registry`.

        Never raises because of a plugin's fault: failures are recorded in
        :meth:`plugins`. Reads the disabled list from the settings each time.
        """
        with self._lock:
            self._pluggy = self._new_pluggy()
            self.registry = Registry()
            self._infos = []
            disabled = self.settings.disabled_plugins()
            for candidate, direct in self._candidates():
                self._load_one(candidate, direct, disabled)
            self._loaded = True

    def reload(self) -> None:
        """Rescan and reload everything (after an install, uninstall, enable or disable)."""
        self.load()

    def ensure_loaded(self) -> None:
        """Load once, lazily."""
        with self._lock:
            if not self._loaded:
                self.load()

    def plugins(self) -> list[PluginInfo]:
        """Every plugin found, in load order, with its status and reason."""
        self.ensure_loaded()
        return list(self._infos)

    def plugin(self, name: str) -> PluginInfo:
        """The info of one plugin by name (or by its distribution name)."""
        for info in self.plugins():
            if name in (info.name, info.distribution):
                return info
        known = ", ".join(i.name for i in self._infos) or "none"
        raise PluginError(f"no plugin named {name!r}", fix=f"choose one of: {known}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a plugin by name; persisted in the settings; reloads the registry."""
        info = self.plugin(name)
        if info.source == "builtin" and not enabled:
            raise PluginError("the built-in plugin cannot be disabled",
                              fix="disable community plugins only; the app needs its built-ins")
        self.settings.set_disabled(info.name, not enabled)
        self.reload()

    def distributions(self) -> dict[str, str]:
        """plugin name -> distribution name, for every plugin that came from a distribution.

        A project stores this for the plugins it uses, to name what to install.
        """
        return {i.name: i.distribution for i in self.plugins() if i.distribution}

    def missing_plugin_error(self, key: str, distribution: str | None = None) -> PluginError:
        """The most helpful error for a registry key that cannot be resolved.

        Distinguishes a plugin that is disabled, one that failed to load, and
        one that is not installed (naming ``distribution`` when known).
        """
        plugin = key.split(">", 1)[0] if ">" in key else key
        info = next((i for i in self.plugins() if i.name == plugin), None)
        if info is not None and info.status == "disabled":
            return PluginError(f"{key!r} comes from plugin {plugin!r}, which is disabled",
                               fix=f"enable it: seqstudio plugins enable {plugin}")
        if info is not None and info.status == "error":
            return PluginError(f"{key!r} comes from plugin {plugin!r}, which failed to load: {info.error}",
                               fix="see `seqstudio plugins list` for the traceback; update or reinstall the plugin")
        dist = distribution or (info.distribution if info else "")
        if info is not None:
            return PluginError(f"plugin {plugin!r} is loaded but provides no {key!r}",
                               fix=f"update {dist or plugin!r} to a version that provides it")
        what = f"plugin {plugin!r}" + (f" (distribution {dist!r})" if dist else "")
        return PluginError(f"{key!r} needs {what}, which is not installed",
                           fix=f"install it: seqstudio plugins install {dist or plugin}")

    # -- discovery --------------------------------------------------------
    def _new_pluggy(self) -> pluggy.PluginManager:
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        return pm

    def _candidates(self) -> Iterable[tuple[_Candidate, Any]]:
        """(candidate, direct-object-or-None) in load order: built-ins, entry points, folders, direct."""
        eps = _entry_point_candidates() if self.autoload else []
        builtin = next((c for c in eps if c.name == BUILTINS_NAME and c.source == "builtin"), None)
        yield builtin or _builtins_candidate(), None
        for c in eps:
            if c is not builtin:
                yield c, None
        folders = self.plugin_paths if self.plugin_paths is not None else (
            plugin_search_path() if self.autoload else [])
        for folder in folders:
            for c in _folder_candidates(folder):
                yield c, None
        for name, obj, info in self._direct:
            yield _Candidate(name=name, source=info.source, load=lambda o=obj: o,
                             distribution=info.distribution, version=info.version), obj

    # -- loading one plugin ------------------------------------------------
    def _load_one(self, candidate: _Candidate, direct: Any, disabled: set[str]) -> None:
        info = PluginInfo(name=candidate.name, version=candidate.version,
                          distribution=candidate.distribution, source=candidate.source)
        self._infos.append(info)
        taken = next((i for i in self._infos[:-1] if i.name == info.name), None)
        if taken is not None:
            info.status, info.error = "error", (
                f"plugin name {info.name!r} is already used by the plugin from {taken.source}"
                + (f" ({taken.distribution})" if taken.distribution else ""))
            return
        if info.name in disabled:
            info.status = "disabled"
            return
        if ">" in info.name or not info.name:
            info.status, info.error = "error", f"invalid plugin name {info.name!r} (must not contain '>')"
            return
        try:
            plugin = candidate.load()
            if not info.version:
                info.version = str(getattr(plugin, "__version__", "") or "")
            staged = self._register_and_collect(plugin, info)
        except _PluginFault as exc:
            info.status, info.error, info.traceback = "error", str(exc), traceback.format_exc()
            return
        except Exception as exc:  # the plugin's own code failed: isolate it
            info.status, info.error, info.traceback = "error", _one_line(exc), traceback.format_exc()
            return
        self._merge(staged, info)

    def _register_and_collect(self, plugin: Any, info: PluginInfo) -> dict[str, list]:
        try:
            self._pluggy.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            detail = "; ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
            raise _PluginFault(f"invalid hook: {detail}") from exc
        except ValueError as exc:  # pluggy: the same object registered twice
            raise _PluginFault(str(exc)) from exc
        try:
            self._check_hook_names(plugin, info)
            version = self._call(plugin, "seqstudio_api_version")
            if version is not None:
                self._check_api_version(version)
            return {
                "sources": self._typed_list(plugin, "seqstudio_data_sources",
                                            lambda v: isinstance(v, SourceType), "SourceType"),
                "cells": self._typed_list(plugin, "seqstudio_cells",
                                          lambda v: isinstance(v, CellType), "CellType"),
                "layers": self._typed_list(plugin, "seqstudio_layers", self._is_layer_type,
                                           "LayerSpec subclass"),
            }
        except BaseException:
            self._pluggy.unregister(plugin)
            raise

    def _check_hook_names(self, plugin: Any, info: PluginInfo) -> None:
        for caller in self._pluggy.get_hookcallers(plugin) or []:
            if not caller.has_spec():
                known = ", ".join(n for n in dir(hookspecs) if n.startswith("seqstudio_"))
                raise _PluginFault(f"unknown hook {caller.name!r} (known hooks: {known})")

    @staticmethod
    def _check_api_version(version: Any) -> None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise _PluginFault(f"seqstudio_api_version returned {version!r}; expected an int such as {API_VERSION}")
        if version not in SUPPORTED_API_VERSIONS:
            side = "seqstudio" if version > API_VERSION else "the plugin"
            raise _PluginFault(
                f"incompatible plugin API version {version}: this seqstudio supports "
                f"{', '.join(map(str, sorted(SUPPORTED_API_VERSIONS)))}; upgrade {side}")

    def _call(self, plugin: Any, hook_name: str) -> Any:
        """Call ``hook_name`` of this one plugin only; None when it does not implement it."""
        caller = getattr(self._pluggy.hook, hook_name)
        impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
        if not impls:
            return None
        return impls[0].function()

    def _typed_list(self, plugin: Any, hook_name: str, ok: Callable[[Any], bool], what: str) -> list:
        result = self._call(plugin, hook_name)
        if result is None:
            return []
        if not isinstance(result, list | tuple):
            raise _PluginFault(f"{hook_name} returned {type(result).__name__}; expected a list of {what}")
        for i, item in enumerate(result):
            if not ok(item):
                raise _PluginFault(f"{hook_name} returned a {type(item).__name__} at position {i}; "
                                   f"expected {what}")
        return list(result)

    @staticmethod
    def _is_layer_type(value: Any) -> bool:
        base = _layer_base()
        if not isinstance(value, type):
            return False
        return issubclass(value, base) if base is not None else hasattr(value, "type_name")

    def _merge(self, staged: dict[str, list], info: PluginInfo) -> None:
        """Add a healthy plugin's contributions; a duplicate name is a warning, the first one kept."""
        reg = self.registry
        # plugin -> distribution, so a project can name what to install (when the registry has the table)
        table = getattr(reg, "distributions", None)
        if isinstance(table, dict) and info.distribution:
            table[info.name] = info.distribution
        check = _conformance_checker()
        for source in staged["sources"]:
            self._add(info, info.sources, lambda s=source: reg.add_source(info.name, s))
        for cell in staged["cells"]:
            reason = None
            if check is not None:
                try:
                    reason = check(cell)
                except Exception as exc:  # a checker crash on this cell is this cell's fault
                    reason = f"conformance check crashed: {_one_line(exc)}"
                    info.traceback += traceback.format_exc()
            if reason:
                cell = replace(cell, disabled_reason=reason)
                info.warnings.append(f"cell {cell.name!r} disabled: {reason}")
            self._add(info, info.cells, lambda c=cell: reg.add_cell(info.name, c))
        for layer in staged["layers"]:
            self._add(info, info.layers, lambda t=layer: reg.add_layer(info.name, t))

    @staticmethod
    def _add(info: PluginInfo, keys: list[str], add: Callable[[], str]) -> None:
        try:
            keys.append(add())
        except PluginError as exc:
            info.warnings.append(exc.what + " (the first one is kept)")


def builtin_registry() -> Registry:
    """A fresh registry holding only the built-in cells and data sources.

    >>> reg = builtin_registry()
    >>> all(k.startswith("builtins>") for k in reg.cells)
    True
    """
    pm = PluginManager(autoload=False, plugin_paths=[], settings=_NoSettings())
    pm.load()
    return pm.registry


class _NoSettings(PluginSettings):
    """Settings that never touch the disk (nothing disabled)."""

    def __init__(self):
        super().__init__(Path("/nonexistent/seqstudio-settings.json"))

    def disabled_plugins(self) -> set[str]:
        return set()

    def set_disabled(self, name: str, disabled: bool) -> None:
        raise PluginError("these settings are read-only", fix="use a PluginManager with real settings")


_default: PluginManager | None = None
_default_lock = threading.Lock()


def default_manager() -> PluginManager:
    """The process-wide manager (CLI and window), loaded on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginManager()
        manager = _default
    manager.ensure_loaded()
    return manager


def reset_default_manager() -> None:
    """Forget the process-wide manager (tests; after the environment changed)."""
    global _default
    with _default_lock:
        _default = None


def describe(manager: PluginManager) -> list[dict[str, Any]]:
    """JSON-able rows for every plugin (what `plugins list --json` prints)."""
    from dataclasses import asdict

    return [asdict(i) for i in manager.plugins()]


__all__ = [
    "BUILTINS_NAME",
    "PluginInfo",
    "PluginManager",
    "builtin_registry",
    "default_manager",
    "describe",
    "reset_default_manager",
]
