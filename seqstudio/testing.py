"""Checks for a plugin's own test suite: the same checks seqstudio runs, callable from pytest.

A plugin's tests import these and fail with every problem listed, in the words
seqstudio itself would use when it loads the plugin::

    import my_plugin
    from seqstudio.testing import assert_plugin_ok, assert_source_ok

    def test_the_plugin_loads_and_every_item_passes_its_checks():
        assert_plugin_ok(my_plugin)          # hooks, names, every cell's conformance, every source

    def test_my_source_with_other_options():
        assert_source_ok(my_plugin.sources.SOURCES[0], {"length": 50})

The checks load the plugin through a fresh plugin manager (never the user's
settings or other plugins) and call sources and cells exactly as real use
does: options checked against their declaration with defaults filled in.

>>> from seqstudio.pluginapi.manager import BUILTINS_NAME
>>> report = load_plugin(object(), name="empty")
>>> report.info.status, report.info.summary()
('active', 'nothing')
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from seqstudio.core.errors import SeqStudioError
from seqstudio.core.options import spec_problems
from seqstudio.core.registry import CellType, Registry, SourceType
from seqstudio.pluginapi.manager import PluginInfo, PluginManager, _NoSettings

__all__ = [
    "PluginReport",
    "assert_cell_ok",
    "assert_plugin_ok",
    "assert_source_ok",
    "check_cell",
    "check_plugin",
    "check_source",
    "load_plugin",
]

_TASKS = ("regression", "binary", "multiclass")


@dataclass
class PluginReport:
    """A plugin loaded alone: its :class:`~seqstudio.pluginapi.manager.PluginInfo` and the registry
    holding the built-ins plus what it added."""

    info: PluginInfo
    registry: Registry


def load_plugin(plugin: Any, *, name: str | None = None) -> PluginReport:
    """Load ``plugin`` (its module, or any object with ``@hookimpl`` functions) as seqstudio does.

    ``name`` is the name it is found under (default: the module's name); a plugin declaring
    ``seqstudio_plugin_name`` gets its declared name, as in real use.
    """
    found = name or getattr(plugin, "__name__", None) or type(plugin).__name__.lower()
    manager = PluginManager(autoload=False, plugin_paths=[], settings=_NoSettings())
    manager.add_plugin(plugin, found)
    manager.load()
    info = manager.plugins()[-1]
    return PluginReport(info=info, registry=manager.registry)


def check_plugin(plugin: Any, *, name: str | None = None,
                 source_options: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Every problem seqstudio finds in ``plugin``; an empty list when there is none.

    The plugin must load (hooks known, right types, supported API version), register
    without clashes, every cell must pass the conformance check and every data source the
    contract of :func:`check_source` (with ``source_options[name]`` when given, else its
    defaults).
    """
    report = load_plugin(plugin, name=name)
    info = report.info
    if info.status != "active":
        return [f"plugin {info.name!r} is {info.status}: {info.error}"]
    problems = list(info.warnings)
    for key in info.sources:
        source = report.registry.sources[key]
        options = (source_options or {}).get(source.name)
        problems += [f"data source {key!r}: {p}" for p in check_source(source, options)]
    return problems


def assert_plugin_ok(plugin: Any, *, name: str | None = None,
                     source_options: Mapping[str, Mapping[str, Any]] | None = None) -> PluginReport:
    """:func:`check_plugin`, raising ``AssertionError`` with every problem; returns the report."""
    problems = check_plugin(plugin, name=name, source_options=source_options)
    if problems:
        raise AssertionError("the plugin does not keep seqstudio's contract:\n  - " + "\n  - ".join(problems))
    return load_plugin(plugin, name=name)


def check_cell(cell: CellType) -> str | None:
    """The conformance check seqstudio runs when the cell registers (``None``: it passes).

    The factories receive the declared parameters' defaults, exactly as in real use.
    """
    from seqstudio.core.model.cells import conformance_check

    return conformance_check(cell)


def assert_cell_ok(cell: CellType) -> None:
    """:func:`check_cell`, raising ``AssertionError`` with the reason."""
    reason = check_cell(cell)
    if reason:
        raise AssertionError(f"cell {cell.name!r} fails the conformance check: {reason}")


def _registered(source: SourceType) -> SourceType:
    if source.key:
        return source
    reg = Registry()
    reg.add_source(source.plugin or "plugin", source)
    return next(iter(reg.sources.values()))


def check_source(source: SourceType, options: Mapping[str, Any] | None = None) -> list[str]:
    """Problems with a data source: its option declaration, and what ``load`` returns.

    ``load`` runs as in real use (options checked, defaults filled in) twice, and the result
    must be a ``PreparedData`` whose splits agree in shape and type with its ``task``
    (float32 ``(N, ...)`` inputs, or int64 ids below ``vocab_size``; ``y`` float32
    ``(N, n_outputs)`` for regression and binary, int64 ``(N,)`` class ids for multiclass),
    with a non-empty training split, JSON-able ``fitted_state()``, a ``to_original`` that
    keeps the shape, the same tensors for the same options (``predict`` loads again) and,
    for a ``"series"`` source, a ``forecast`` (use ``series_source``).
    """
    problems = [f"option declaration: {p}" for p in spec_problems(source.options)]
    if problems:
        return problems
    from seqstudio.core.data.prepared import PreparedData

    src = _registered(source)
    try:
        data = src.load(options or {})
        again = src.load(options or {})
    except SeqStudioError as exc:
        return [f"load failed with its defaults{' and the given options' if options else ''}: {exc}"]
    if not isinstance(data, PreparedData):
        return [f"load returned {type(data).__name__}, expected a PreparedData"]
    if data.task not in _TASKS:
        problems.append(f"task is {data.task!r}, expected one of {', '.join(_TASKS)}")
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            problems.append(f"{split}: x and y must be tensors (an empty split has 0 rows, never None)")
            continue
        if len(x) != len(y):
            problems.append(f"{split}: x has {len(x)} samples but y has {len(y)}")
        if tuple(x.shape[1:]) != tuple(data.x_train.shape[1:]):
            problems.append(f"{split}: x samples have shape {tuple(x.shape[1:])}, the training ones "
                            f"{tuple(data.x_train.shape[1:])}")
        if data.input_is_ids:
            if x.dtype != torch.int64:
                problems.append(f"{split}: token ids must be int64, got {x.dtype}")
            elif len(x) and data.vocab_size is not None and int(x.max()) >= data.vocab_size:
                problems.append(f"{split}: an id {int(x.max())} is not below vocab_size {data.vocab_size}")
        elif x.dtype != torch.float32:
            problems.append(f"{split}: x must be float32, got {x.dtype}")
        if data.task == "multiclass":
            if y.dtype != torch.int64 or y.dim() != 1:
                problems.append(f"{split}: multiclass y must be int64 class ids of shape (N,), got "
                                f"{y.dtype} {tuple(y.shape)}")
        elif y.dtype != torch.float32 or tuple(y.shape[1:]) != (data.n_outputs,):
            problems.append(f"{split}: y must be float32 (N, n_outputs={data.n_outputs}), got "
                            f"{y.dtype} {tuple(y.shape)}")
        if x.is_floating_point() and len(x) and not bool(torch.isfinite(x).all()):
            problems.append(f"{split}: x holds NaN or infinite values")
        if isinstance(again, PreparedData):
            x2, y2 = again.split(split)
            if not (torch.equal(x, x2) and torch.equal(y, y2)):
                problems.append(f"{split}: loading twice with the same options gives different data "
                                "(seed any randomness from an option; predict loads the data again)")
    if len(data.x_train) == 0:
        problems.append("the training split is empty")
    try:
        json.dumps(data.fitted_state())
    except (TypeError, ValueError) as exc:
        problems.append(f"fitted_state() is not JSON-able: {exc}")
    if data.task != "multiclass" and len(data.y_test if len(data.y_test) else data.y_train):
        checked: Literal["test", "train"] = "test" if len(data.y_test) else "train"
        y = data.split(checked)[1]
        back = np.asarray(data.to_original(y, checked))
        if back.shape != tuple(y.shape):
            problems.append(f"to_original changed the shape {tuple(y.shape)} to {back.shape}")
    if source.kind == "series":
        forecast = getattr(data, "forecast", None)
        if not callable(forecast):
            problems.append(f"a 'series' source must return data that can forecast ({type(data).__name__} "
                            "cannot, so `seqstudio predict` refuses it): build it with "
                            "seqstudio.pluginapi.series_source or prepare_frame")
        else:
            def naive(x: np.ndarray) -> np.ndarray:  # repeat the last value of the first input
                return np.repeat(np.asarray(x)[:, -1, :1], data.n_outputs, axis=1)

            try:
                _, values = forecast(naive, 2)
            except SeqStudioError:
                pass  # a clear refusal (e.g. features without future values) is what predict shows
            else:
                if not all(math.isfinite(float(v)) for v in np.asarray(values).ravel()):
                    problems.append("forecast gave non-finite values for a naive model")
    return problems


def assert_source_ok(source: SourceType, options: Mapping[str, Any] | None = None) -> None:
    """:func:`check_source`, raising ``AssertionError`` with every problem."""
    problems = check_source(source, options)
    if problems:
        raise AssertionError(f"data source {source.name!r} does not keep the contract:\n  - "
                             + "\n  - ".join(problems))
