"""What plugins register: data sources, recurrent cells and layers.

The registry is plain data. ``seqstudio.pluginapi`` fills it from the
``seqstudio_*`` hooks of every plugin (the built-ins are a plugin too); the core
only looks things up in it. Keys are namespaced ``plugin>name``; a short name
resolves when it is unique.

>>> reg = Registry()
>>> reg.add_cell("demo", CellType(name="mycell", description="...", step_factory=lambda i, h: None))
>>> reg.cell("mycell").key
'demo>mycell'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from seqstudio.core.errors import DataError, ModelSpecError, PluginError
from seqstudio.core.faults import PluginCodeError, call_plugin
from seqstudio.core.options import (  # noqa: F401  (OptionSpec, OptionType: re-exported, the registry's API)
    OptionSpec,
    OptionType,
    validate_options,
)

if TYPE_CHECKING:
    from torch import nn

    from seqstudio.core.data.prepared import PreparedData

@runtime_checkable
class LayerType(Protocol):
    """What the registry needs of a layer type: its JSON ``type`` name and a way to build it
    from a config (:class:`~seqstudio.core.model.layers.LayerSpec` subclasses are these)."""

    type_name: ClassVar[str]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class SourceType:
    """A data source: a name, its options, and a loader returning :class:`PreparedData`.

    ``load(options)`` receives a mapping with every declared option (defaults
    filled in) and raises :class:`~seqstudio.core.errors.DataError` for bad input.
    ``kind`` tells views which panel fits ("series" or "text").
    """

    name: str
    description: str
    load: Callable[[Mapping[str, Any]], PreparedData]
    options: tuple[OptionSpec, ...] = ()
    kind: Literal["series", "text", "other"] = "series"
    key: str = ""
    plugin: str = ""

    def defaults(self) -> dict[str, Any]:
        """Every declared option at its default (copies: callers may change them)."""
        return validate_options(self.options, {}, owner=self.label, partial=True)

    @property
    def label(self) -> str:
        return f"data source {self.key or self.name!r}"

    def resolve_options(self, values: Mapping[str, Any] | None, *, partial: bool = False,
                        from_text: bool = False,
                        setting: Callable[[str], str] | None = None) -> dict[str, Any]:
        """``values`` checked against :attr:`options`, every option present, defaults filled in.

        The one check of a source's options, whoever gives them (command line, project file,
        form); :class:`~seqstudio.core.errors.DataError` names each wrong option.
        """
        if setting is None:  # validate_options' own default wording
            return validate_options(self.options, values, owner=self.label, error=DataError,
                                    partial=partial, from_text=from_text)
        return validate_options(self.options, values, owner=self.label, error=DataError,
                                partial=partial, from_text=from_text, setting=setting)


@dataclass(frozen=True)
class CellType:
    """A recurrent cell.

    ``step_factory(input_size, hidden_size, **params)`` returns a module whose
    ``forward(x_t, state) -> (h_t, new_state)`` computes one time step: ``x_t``
    is ``(B, input_size)``, ``state`` a tuple of ``(B, hidden_size)`` tensors laid
    out as ``state_layout`` names them (``("h",)``, or ``("h", "c")`` for an LSTM).

    ``fused_factory(input_size, hidden_size, bidirectional, **params)``, when
    given, returns a module mapping a whole sequence ``(B, T, input_size)`` to
    ``(B, T, hidden_size * directions)``; the framework prefers it for speed.

    The step module may also define ``internals(x_t, state) -> dict[str, Tensor]``
    (optional): the named values computed inside a step, each ``(B, hidden_size)``,
    which the gate inspector shows beside ``h_t`` and the state.
    """

    name: str
    description: str
    step_factory: Callable[..., nn.Module]
    state_layout: tuple[str, ...] = ("h",)
    parameters: tuple[OptionSpec, ...] = ()
    fused_factory: Callable[..., nn.Module] | None = None
    key: str = ""
    plugin: str = ""
    #: Set by the conformance check; a cell with a reason is listed but cannot be used.
    disabled_reason: str | None = None

    @property
    def label(self) -> str:
        return f"cell {self.key or self.name!r}"

    def resolve_params(self, params: Mapping[str, Any] | None, *,
                       setting: Callable[[str], str] | None = None) -> dict[str, Any]:
        """``params`` (a layer's ``cell_options``) checked against :attr:`parameters`, every
        parameter present with defaults filled in: what the factories receive, in the
        conformance check and in real use alike."""
        def cell_setting(n: str) -> str:
            return f"cell_options {{{n!r}: ...}}"

        try:
            return validate_options(self.parameters, params, owner=self.label, error=ModelSpecError,
                                    noun="cell_options key", setting=setting or cell_setting)
        except ModelSpecError as exc:  # name the cell in the message itself (views show no 'where')
            raise ModelSpecError(f"{self.label}: {exc.what}", where=exc.where, fix=exc.fix) from None


class GuardedLoad:
    """A source's ``load`` as the registry hands it out: options checked and completed first,
    the plugin's own exceptions contained, the result's type checked."""

    def __init__(self, raw: Callable[[Mapping[str, Any]], Any], source: SourceType):
        self.raw, self.source = raw, source
        self.__wrapped__ = raw
        self.__doc__ = getattr(raw, "__doc__", None)

    def __call__(self, options: Mapping[str, Any] | None = None) -> PreparedData:
        src = self.source
        values = src.resolve_options(options)
        result = call_plugin(self.raw, values, plugin=src.plugin, item=src.label, stage="loading data")
        if not any(c.__name__ == "PreparedData" and c.__module__ == "seqstudio.core.data.prepared"
                   for c in type(result).__mro__):
            raise PluginCodeError(
                f"plugin {src.plugin!r} failed in {src.label} while loading data: load() returned "
                f"{type(result).__name__}, expected a PreparedData",
                plugin=src.plugin, item=src.label, stage="loading data",
                exception=f"returned {type(result).__name__}",
                fix="the plugin must return a PreparedData (seqstudio.pluginapi.series_source builds one "
                    "from a DataFrame); report it to its author or disable it "
                    f"(seqstudio plugins disable {src.plugin})")
        return result


@dataclass
class Registry:
    """All registered sources, cells and layer types, by namespaced key."""

    sources: dict[str, SourceType] = field(default_factory=dict)
    cells: dict[str, CellType] = field(default_factory=dict)
    layers: dict[str, type[LayerType]] = field(default_factory=dict)
    #: Clashes reported while registering ("cell 'x>y' is registered twice").
    clashes: list[str] = field(default_factory=list)
    #: plugin name -> distribution that provides it, to name what to install when one is missing.
    distributions: dict[str, str] = field(default_factory=dict)
    #: plugin name -> ("disabled", "") or ("broken", reason): found, but adding nothing.
    unavailable: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: a plugin's package folder or module file -> plugin name, to tell whose code a traceback
    #: runs through.
    plugin_files: dict[str, str] = field(default_factory=dict)

    # -- adding -----------------------------------------------------------
    def _add(self, table: dict, plugin: str, name: str, value: Any, what: str) -> str:
        key = f"{plugin}>{name}"
        if key in table:
            msg = f"{what} {key!r} is registered twice"
            self.clashes.append(msg)
            raise PluginError(msg, where=f"plugin {plugin!r}",
                              fix=f"rename one of the {what}s; the first one is kept")
        table[key] = value
        return key

    def add_source(self, plugin: str, source: SourceType) -> str:
        """Register ``source``; its ``load`` is wrapped so that every caller gets checked
        options with defaults filled in, and a failure of the plugin's code as a
        :class:`~seqstudio.core.faults.PluginCodeError`."""
        key = f"{plugin}>{source.name}"
        raw = source.load.raw if isinstance(source.load, GuardedLoad) else source.load
        registered = replace(source, key=key, plugin=plugin)
        registered = replace(registered, load=GuardedLoad(raw, registered))
        return self._add(self.sources, plugin, source.name, registered, "data source")

    def add_cell(self, plugin: str, cell: CellType) -> str:
        key = f"{plugin}>{cell.name}"
        return self._add(self.cells, plugin, cell.name, replace(cell, key=key, plugin=plugin), "cell")

    def add_layer(self, plugin: str, layer_type: type[LayerType]) -> str:
        return self._add(self.layers, plugin, layer_type.type_name, layer_type, "layer")

    # -- looking up -------------------------------------------------------
    def _find(self, table: Mapping[str, Any], name: str, what: str) -> Any:
        if name in table:
            return table[name]
        if ">" in name:
            raise self.unavailable_error(name, what)
        hits = [k for k in table if k.split(">", 1)[1] == name]
        if len(hits) == 1:
            return table[hits[0]]
        if len(hits) > 1:
            raise PluginError(f"{what} name {name!r} is ambiguous: {', '.join(sorted(hits))}",
                              fix="use the full 'plugin>name' key")
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(f"unknown {what} {name!r}", fix=f"choose one of: {known}")

    def plugin_names(self) -> set[str]:
        """Plugins that are loaded and active (they may have added nothing)."""
        return {k.split(">", 1)[0] for t in (self.sources, self.cells, self.layers) for k in t} \
            | set(self.plugin_files.values())

    def unavailable_error(self, key: str, what: str) -> PluginError:
        """Why ``key`` (``plugin>name``) cannot be used, named as it is: the plugin is disabled
        (how to enable it), broken (the reason), loaded without that item, or missing (the
        distribution to install)."""
        plugin, item = key.split(">", 1)
        dist = self.distributions.get(plugin, "")
        status, reason = self.unavailable.get(plugin, ("", ""))
        if status == "disabled":
            return PluginError(f"{what} {key!r} comes from plugin {plugin!r}, which is disabled",
                               fix=f"enable it: seqstudio plugins enable {plugin}")
        if status == "broken":
            return PluginError(f"{what} {key!r} comes from plugin {plugin!r}, which is broken: {reason}",
                               fix="see `seqstudio plugins list -v` for its traceback; update or "
                                   f"reinstall {dist or plugin!r}")
        if plugin in self.plugin_names():
            tables: dict[str, Mapping[str, Any]] = {"cell": self.cells, "data source": self.sources,
                                                    "layer": self.layers}
            table = tables.get(what, {})
            own = ", ".join(sorted(k for k in table if k.startswith(plugin + ">"))) or "none"
            return PluginError(f"plugin {plugin!r} is installed but provides no {what} {item!r}",
                               fix=f"choose one of its {what}s ({own}), or update "
                                   f"{dist or plugin!r} to a version that provides it")
        named = f"plugin {plugin!r}" + (f" (distribution {dist!r})" if dist and dist != plugin else "")
        return PluginError(f"{what} {key!r} needs {named}, which is not installed",
                           fix=f"install it: seqstudio plugins install {dist or plugin}")

    def source(self, name: str) -> SourceType:
        return self._find(self.sources, name, "data source")

    def cell(self, name: str) -> CellType:
        return self._find(self.cells, name, "cell")

    def layer(self, name: str) -> type[LayerType]:
        return self._find(self.layers, name, "layer")
