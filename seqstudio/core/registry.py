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

from seqstudio.core.errors import PluginError
from seqstudio.core.options import OptionSpec, OptionType  # noqa: F401  (re-exported: the registry's API)

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
        return {o.name: o.default for o in self.options}


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
        key = f"{plugin}>{source.name}"
        return self._add(self.sources, plugin, source.name,
                         replace(source, key=key, plugin=plugin), "data source")

    def add_cell(self, plugin: str, cell: CellType) -> str:
        key = f"{plugin}>{cell.name}"
        return self._add(self.cells, plugin, cell.name, replace(cell, key=key, plugin=plugin), "cell")

    def add_layer(self, plugin: str, layer_type: type[LayerType]) -> str:
        return self._add(self.layers, plugin, layer_type.type_name, layer_type, "layer")

    # -- looking up -------------------------------------------------------
    @staticmethod
    def _find(table: Mapping[str, Any], name: str, what: str) -> Any:
        if name in table:
            return table[name]
        if ">" in name:
            plugin = name.split(">", 1)[0]
            raise PluginError(
                f"{what} {name!r} is not available: plugin {plugin!r} is not installed or failed to load",
                fix=f"install the plugin that provides it (seqstudio plugins install {plugin}), "
                    "or check `seqstudio plugins list` for its error")
        hits = [k for k in table if k.split(">", 1)[1] == name]
        if len(hits) == 1:
            return table[hits[0]]
        if len(hits) > 1:
            raise PluginError(f"{what} name {name!r} is ambiguous: {', '.join(sorted(hits))}",
                              fix="use the full 'plugin>name' key")
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(f"unknown {what} {name!r}", fix=f"choose one of: {known}")

    def source(self, name: str) -> SourceType:
        return self._find(self.sources, name, "data source")

    def cell(self, name: str) -> CellType:
        return self._find(self.cells, name, "cell")

    def layer(self, name: str) -> type[LayerType]:
        return self._find(self.layers, name, "layer")
