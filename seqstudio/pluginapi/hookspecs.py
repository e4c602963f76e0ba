"""The plugin contract: every ``seqstudio_*`` hook a plugin may implement.

A plugin is a module (or any object) with functions decorated by
:data:`hookimpl` whose names match the specs below. seqstudio calls each
plugin's hooks **separately** (never as one combined pluggy call) so that a
plugin that raises or returns the wrong type is recorded and skipped while
every other plugin still loads. The results of all healthy plugins are then
added to one :class:`~seqstudio.core.registry.Registry` under the key
``"<plugin>><name>"``, where ``<plugin>`` is the name the plugin declares with
:func:`seqstudio_plugin_name` (else its entry-point name, or its file / folder
name for a drop-in plugin).

Every hook is optional. The contract is versioned by :data:`API_VERSION`: a
plugin that declares a version seqstudio does not support is refused with a
message saying which side to upgrade.

>>> import seqstudio.pluginapi.hookspecs as specs
>>> sorted(n for n in dir(specs) if n.startswith("seqstudio_"))
['seqstudio_api_version', 'seqstudio_cells', 'seqstudio_data_sources', 'seqstudio_layers', 'seqstudio_plugin_name']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from seqstudio.core.model.layers import LayerSpec
    from seqstudio.core.registry import CellType, SourceType

#: The pluggy project name; markers of any other project are ignored.
PROJECT_NAME = "seqstudio"
#: The entry-point group installed distributions declare their plugin in.
ENTRY_POINT_GROUP = "seqstudio.plugins"
#: The version of this contract. Bumped only when a hook changes incompatibly.
API_VERSION: int = 1
#: Contract versions this seqstudio can still load.
SUPPORTED_API_VERSIONS: frozenset[int] = frozenset({1})

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's hook functions with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def seqstudio_api_version() -> int:
    """Return the plugin API version this plugin was written against.

    Return :data:`seqstudio.pluginapi.API_VERSION` as it was when you wrote
    the plugin (a literal ``1`` is clearest). Called once per plugin, before
    any other hook; results are not combined. A plugin whose version is not
    in :data:`SUPPORTED_API_VERSIONS` is refused and none of its other hooks
    run. A plugin that does not implement this hook is assumed to target the
    current version.
    """


@hookspec
def seqstudio_plugin_name() -> str:
    """Return the plugin's name: the prefix of every key it registers (``"my"`` in ``my>my_lstm``).

    Declare it so that the plugin has one identity wherever it is found: a folder on
    ``SEQSTUDIO_PLUGIN_PATH`` while you develop it and the installed distribution later
    give the same keys, so projects saved in between keep opening. Without this hook the
    name is the entry-point name (installed) or the file / folder name (drop-in). A short
    name without ``>``; never change it once projects use it. Called once per plugin,
    right after :func:`seqstudio_api_version`; a plugin disabled under this name is not
    asked for anything else.
    """


@hookspec
def seqstudio_data_sources() -> list[SourceType]:
    """Return the data sources this plugin provides.

    Each :class:`~seqstudio.core.registry.SourceType` has a ``name`` (unique
    within the plugin), a one-line ``description``, typed ``options``
    (:class:`~seqstudio.core.registry.OptionSpec` with a default and help
    text, from which the window renders a form) and ``load(options)``
    returning a :class:`~seqstudio.core.data.prepared.PreparedData`. ``load`` receives
    every declared option with defaults filled in and raises
    :class:`~seqstudio.core.errors.DataError` for bad input.

    Results of all plugins are concatenated; each source is registered as
    ``"<plugin>><name>"``. A name repeated within one plugin is reported and
    the first one is kept. Returning anything but a list of ``SourceType``
    marks the whole plugin as broken.
    """


@hookspec
def seqstudio_cells() -> list[CellType]:
    """Return the recurrent cells this plugin provides.

    Each :class:`~seqstudio.core.registry.CellType` gives a ``name``,
    ``parameters`` (typed options), ``step_factory(input_size, hidden_size,
    **params)`` returning a module whose ``forward(x_t, state)`` computes one
    step and returns ``(h_t, new_state)`` (``x_t`` is ``(B, input_size)``,
    ``state`` a tuple of ``(B, hidden_size)`` tensors named by
    ``state_layout``), and optionally ``fused_factory(input_size,
    hidden_size, bidirectional, **params)`` mapping a whole sequence
    ``(B, T, input_size)`` to ``(B, T, hidden_size * directions)``.

    Results of all plugins are concatenated; each cell is registered as
    ``"<plugin>><name>"``. Every cell is run once on a tiny input (the
    conformance check); a cell that fails stays listed with
    ``disabled_reason`` set and cannot be used. Returning anything but a list
    of ``CellType`` marks the whole plugin as broken.
    """


@hookspec
def seqstudio_layers() -> list[type[LayerSpec]]:
    """Return extra layer types (subclasses of ``seqstudio.pluginapi.LayerSpec``).

    Each class is registered as ``"<plugin>><type_name>"``; its
    ``get_config()`` / ``from_config()`` must round-trip through JSON so that
    projects using it can be saved. Results of all plugins are concatenated;
    returning anything but a list of ``LayerSpec`` subclasses marks the whole
    plugin as broken.
    """
