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

import functools
import importlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pluggy

from seqstudio.core.errors import PluginError, SeqStudioError
from seqstudio.core.faults import one_line
from seqstudio.core.registry import CellType, Registry, SourceType

from . import hookspecs
from .hookspecs import API_VERSION, ENTRY_POINT_GROUP, PROJECT_NAME, SUPPORTED_API_VERSIONS
from .settings import PluginSettings, autoload_disabled, plugin_search_path

BUILTINS_NAME = "builtins"
BUILTINS_MODULE = "seqstudio_builtins"
#: Drop-in plugins are imported under this prefix so they never shadow real packages.
FOLDER_MODULE_PREFIX = "seqstudio_dropin_"

#: "active": loaded, its items usable (a cell failing its check is listed as disabled);
#: "disabled": the user turned it off (`seqstudio plugins enable NAME`);
#: "broken": it could not be loaded, ``error`` says why.
PluginStatus = Literal["active", "disabled", "broken"]

#: Seconds a plugin may take to import and answer its hooks; a slower one is skipped and
#: remembered as slow, so that it does not delay every later command.
LOAD_BUDGET_ENV = "SEQSTUDIO_PLUGIN_LOAD_BUDGET"
DEFAULT_LOAD_BUDGET = 10.0
#: A plugin taking longer than this to load gets a warning naming its load time.
SLOW_LOAD_WARNING = 2.0


def load_budget() -> float:
    """The per-plugin load budget in seconds (``$SEQSTUDIO_PLUGIN_LOAD_BUDGET``, default 10)."""
    try:
        value = float(os.environ.get(LOAD_BUDGET_ENV, "") or DEFAULT_LOAD_BUDGET)
    except ValueError:
        return DEFAULT_LOAD_BUDGET
    return value if value > 0 else DEFAULT_LOAD_BUDGET


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
    #: Every item with its own status: {"kind", "key", "status" ("active"/"disabled"), "reason"}.
    items: list[dict[str, str]] = field(default_factory=list)
    #: The name the plugin was found under (entry point, file or folder) when it declares another.
    found_as: str = ""
    #: Seconds spent importing it and calling its hooks (0 when it was not loaded).
    load_seconds: float = 0.0
    #: Top-level module of its code (to tell whose code a traceback runs through).
    module: str = ""

    def summary(self) -> str:
        """A short "what it provides" text: ``"3 cells, 2 data sources"``; items disabled by the
        conformance check are counted apart: ``"2 cells (2 disabled), 1 data source"``."""
        parts = []
        for kind, keys, label in (("cell", self.cells, "cell"), ("source", self.sources, "data source"),
                                  ("layer", self.layers, "layer")):
            if not keys:
                continue
            off = sum(1 for i in self.items if i["kind"] == kind and i["status"] != "active")
            text = f"{len(keys)} {label}{'' if len(keys) == 1 else 's'}"
            parts.append(text + (f" ({off} disabled)" if off else ""))
        return ", ".join(parts) or "nothing"

    def usable(self) -> int:
        """How many of its items can be used."""
        return sum(1 for i in self.items if i["status"] == "active")


def _returning(value: Any) -> Callable[[], Any]:
    """A loader handing back an object given directly (no import to do)."""
    return lambda: value


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


_one_line = one_line


def _module_of(plugin: Any) -> str:
    name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    if isinstance(plugin, type):
        name = plugin.__module__
    return (name or "").split(".", 1)[0]


def _root_of(plugin: Any) -> str:
    """The folder of a plugin's package (or its one file): every file of its code lies below."""
    if isinstance(plugin, ModuleType):  # the whole top-level package it belongs to
        top: ModuleType | None = sys.modules.get(plugin.__name__.split(".", 1)[0], plugin)
    else:  # an object handed in by code: only the module defining it
        top = sys.modules.get(plugin.__module__ if isinstance(plugin, type) else type(plugin).__module__)
    path = getattr(top, "__file__", None)
    if not path:
        return ""
    path = os.path.abspath(path)
    return os.path.dirname(path) if getattr(top, "__path__", None) else path


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
    import importlib.util

    # The check runs cells with torch; torch is imported only when a verdict is not
    # remembered (catalog.remembered_verdicts), so the window can start without it.
    if importlib.util.find_spec("torch") is None:
        return None

    def check_once(cell: CellType) -> str | None:
        hit = _conformance_verdicts.get(id(cell))
        if hit is not None and hit[0] is cell:
            return hit[1]
        from seqstudio.core.model.cells import conformance_check

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
                                load=functools.partial(_import_folder_plugin, path, name)))
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
        with self._lock, redirect_stdout(sys.stderr):
            # Whatever plugin code prints goes to stderr: `--json` output stays pure JSON.
            self._pluggy = self._new_pluggy()
            self.registry = Registry()
            self._infos = []
            disabled = self.settings.disabled_plugins()
            slow = self.settings.slow_plugins()
            for candidate, direct in self._candidates():
                self._load_one(candidate, direct, disabled, slow)
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
            if name in (info.name, info.distribution, info.found_as):
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
        if enabled:
            self.settings.set_slow(info.name, None)  # enabling a skipped slow plugin tries it again
            if info.found_as:
                self.settings.set_slow(info.found_as, None)
        self.reload()

    def distributions(self) -> dict[str, str]:
        """plugin name -> distribution name, for every plugin that came from a distribution.

        A project stores this for the plugins it uses, to name what to install.
        """
        return {i.name: i.distribution for i in self.plugins() if i.distribution}

    def missing_plugin_error(self, key: str, distribution: str | None = None) -> PluginError:
        """The most helpful error for a registry key that cannot be resolved.

        Distinguishes a plugin that is disabled (how to enable it), one that is broken (the
        reason), one loaded without that item, and one that is not installed (naming
        ``distribution`` when known).
        """
        self.ensure_loaded()
        if ">" not in key:
            key = f"{key}>?"
        if distribution:
            self.registry.distributions.setdefault(key.split(">", 1)[0], distribution)
        return self.registry.unavailable_error(key, "item")

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
            yield _Candidate(name=name, source=info.source, load=_returning(obj),
                             distribution=info.distribution, version=info.version), obj

    # -- loading one plugin ------------------------------------------------
    def _load_one(self, candidate: _Candidate, direct: Any, disabled: set[str],
                  slow: dict[str, float] | None = None) -> None:
        info = PluginInfo(name=candidate.name, version=candidate.version,
                          distribution=candidate.distribution, source=candidate.source)
        self._infos.append(info)
        if info.distribution:
            self.registry.distributions.setdefault(info.name, info.distribution)
        if self._refuse_name(info):
            return
        if info.name in disabled:
            info.status = "disabled"
            self.registry.unavailable[info.name] = ("disabled", "")
            return
        budget = load_budget()
        if slow and info.name in slow and info.source != "builtin":
            self._broken(info, f"skipped: it took more than {slow[info.name]:g} s to load last time "
                               f"(run `seqstudio plugins enable {info.name}` to try again)")
            return
        started = time.perf_counter()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                plugin = candidate.load()
                outcome["plugin"] = plugin
                outcome["staged"] = self._register_and_collect(plugin, info)
            except KeyboardInterrupt:
                outcome["interrupt"] = True
            except BaseException as exc:  # noqa: BLE001 - even sys.exit in a plugin is its fault alone
                outcome["error"] = exc
                outcome["traceback"] = traceback.format_exc()

        if info.source == "builtin" or direct is not None:
            work()  # our own code, or an object handed in by code: no thread needed
        else:
            thread = threading.Thread(target=work, name=f"seqstudio-plugin-{info.name}", daemon=True)
            thread.start()
            thread.join(budget)
            if thread.is_alive():  # it may finish later; its results are simply never used
                info.load_seconds = time.perf_counter() - started
                self._broken(info, f"took longer than {budget:g} s to load and was skipped; it will be "
                                   f"skipped from now on (`seqstudio plugins enable {info.name}` tries again)")
                try:
                    self.settings.set_slow(info.name, budget)
                except (PluginError, OSError):
                    pass
                return
        info.load_seconds = time.perf_counter() - started
        if outcome.get("interrupt"):
            raise KeyboardInterrupt
        if "error" in outcome:
            exc = outcome["error"]
            self._broken(info, str(exc) if isinstance(exc, _PluginFault) else _one_line(exc),
                         outcome.get("traceback", ""))
            return
        plugin = outcome["plugin"]
        if not info.version:
            info.version = str(getattr(plugin, "__version__", "") or "")
        info.module = _module_of(plugin)
        declared = outcome["staged"].pop("name", None)
        if declared and declared != info.name:
            info.found_as, info.name = info.name, declared
            if self._refuse_name(info):
                self._pluggy.unregister(plugin)
                return
            if declared in disabled:
                self._pluggy.unregister(plugin)
                info.status = "disabled"
                self.registry.unavailable[info.name] = ("disabled", "")
                return
        if info.load_seconds > SLOW_LOAD_WARNING and info.source != "builtin":
            info.warnings.append(f"slow to load: {info.load_seconds:.1f} s (every command waits for it)")
        self._merge(outcome["staged"], info, plugin)
        root = _root_of(plugin)
        if root and info.source != "builtin":
            self.registry.plugin_files[root] = info.name
        if info.distribution:
            self.registry.distributions[info.name] = info.distribution
            if info.found_as:
                self.registry.distributions.pop(info.found_as, None)

    def _refuse_name(self, info: PluginInfo) -> bool:
        """Mark ``info`` broken when its name is invalid or already taken; True if refused."""
        taken = next((i for i in self._infos if i is not info and i.name == info.name), None)
        if taken is not None:
            self._broken(info, f"plugin name {info.name!r} is already used by the plugin from {taken.source}"
                               + (f" ({taken.distribution})" if taken.distribution else ""), record=False)
            return True
        if ">" in info.name or not info.name:
            self._broken(info, f"invalid plugin name {info.name!r} (must not contain '>')")
            return True
        return False

    def _broken(self, info: PluginInfo, reason: str, tb: str = "", *, record: bool = True) -> None:
        info.status, info.error, info.traceback = "broken", reason, tb
        if record:
            self.registry.unavailable[info.name] = ("broken", reason)

    def _register_and_collect(self, plugin: Any, info: PluginInfo) -> dict[str, Any]:
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
            name = self._call(plugin, "seqstudio_plugin_name")
            if name is not None and (not isinstance(name, str) or not name.strip() or ">" in name):
                raise _PluginFault(f"seqstudio_plugin_name returned {name!r}; expected a short name "
                                   "without '>' such as 'my'")
            return {
                "name": name,
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

    def _merge(self, staged: dict[str, list], info: PluginInfo, plugin: Any = None) -> None:
        """Add a healthy plugin's contributions; a duplicate name is a warning, the first one kept."""
        reg = self.registry
        # The built-in cells are seqstudio's own, checked by its own tests against PyTorch's
        # modules; running them here would import torch before the window on a first start.
        check = None if info.source == "builtin" else _conformance_checker()
        if check is not None and plugin is not None and info.source != "direct":
            from .catalog import remembered_verdicts  # verdicts kept per plugin version and files

            check = remembered_verdicts(plugin, info.name, info.version, check)
        for source in staged["sources"]:
            self._add(info, info.sources, "source", functools.partial(reg.add_source, info.name, source))
        for cell in staged["cells"]:
            reason = None
            if check is not None:
                try:
                    reason = check(cell)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - a checker crash on this cell is its fault
                    reason = f"conformance check crashed: {_one_line(exc)}"
                    info.traceback += traceback.format_exc()
            if reason:
                cell = replace(cell, disabled_reason=reason)
                info.warnings.append(f"cell {cell.name!r} disabled: {reason}")
            self._add(info, info.cells, "cell", functools.partial(reg.add_cell, info.name, cell), reason or "")
        for layer in staged["layers"]:
            self._add(info, info.layers, "layer", functools.partial(reg.add_layer, info.name, layer))

    @staticmethod
    def _add(info: PluginInfo, keys: list[str], kind: str, add: Callable[[], str], reason: str = "") -> None:
        try:
            key = add()
        except PluginError as exc:
            info.warnings.append(exc.what + " (the first one is kept)")
            return
        keys.append(key)
        info.items.append({"kind": kind, "key": key, "status": "disabled" if reason else "active",
                           "reason": reason})


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


def attribute_to_plugin(exc: BaseException, *, stage: str = "running") -> SeqStudioError | None:
    """The user error for ``exc`` when its traceback runs through a loaded plugin's code."""
    from seqstudio.core.faults import attribute

    manager = _default
    if manager is None or not manager._loaded:
        return None
    return attribute(exc, manager.registry.plugin_files, stage=stage)


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
