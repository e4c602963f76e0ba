"""Exact clean-ups of the ONNX graph torch's exporter writes for recurrent models.

torch's TorchScript-based exporter maps ``nn.LSTM`` / ``GRU`` / ``RNN`` with
``batch_first=True`` to ONNX's time-major recurrent operators and wraps them in
data movement that onnxruntime then executes on every call:

1. **Zero initial states**: ``Shape -> Gather -> Unsqueeze -> Concat ->
   ConstantOfShape(0)`` builds ``initial_h`` / ``initial_c`` from the batch size.
   ONNX defines a missing initial state as zeros, so the inputs are dropped.
2. **Embedding straight into a recurrent layer**: ``Gather(table, ids)`` then
   ``Transpose(1, 0, 2)`` moves ``batch x time x features`` floats to time-major.
   Transposing the ``batch x time`` token ids first and gathering from them gives
   the same tensor while moving integers only.
3. **The last time step of a forward layer**: ``Squeeze(Y) -> Transpose ->
   Gather(index -1, time axis)`` materialises every hidden state to read the last
   one. The operator's own ``Y_h`` output *is* that state (no ``sequence_lens``),
   so the layer feeds ``Squeeze(Y_h)`` to what follows.

Each rewrite only moves or selects values (no arithmetic changes), so the
outputs are bit-for-bit those of the exporter's graph; a graph that does not
show a pattern exactly is left as it is. The export's self-check runs on the
rewritten file like on any other.

>>> import onnx  # doctest: +SKIP
>>> model = onnx.load("model.onnx")  # doctest: +SKIP
>>> tidy_recurrent_graph(model)  # doctest: +SKIP
['initial states of LSTM /layers.1/fused/LSTM: zeros by default', ...]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["tidy_recurrent_graph"]

_RECURRENT_STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,), "RNN": (5,)}


def tidy_recurrent_graph(model: Any) -> list[str]:
    """Apply the exact rewrites above to ``model`` (an ``onnx.ModelProto``) in place.

    Returns one line per rewrite made (empty when the graph shows none of the
    patterns, e.g. a model without recurrent layers).
    """
    if _default_opset(model) < 13:  # Squeeze takes its axes as an input from opset 13 on
        return []
    graph = _Graph(model.graph)
    done = _drop_zero_initial_states(graph)
    graph.prune()
    for rewrite in (_gather_time_major, _final_state_from_y_h):
        while (made := rewrite(graph)) is not None:  # one at a time: a rewrite rebuilds the node list
            done.append(made)
    graph.prune()
    return done


def _default_opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


class _Graph:
    """Small helpers over a ``GraphProto``: who consumes a value, which values are constants."""

    def __init__(self, graph: Any):
        self.g = graph
        self.outputs = {o.name for o in graph.output}
        self._counter = 0

    def consumers(self, name: str) -> list[Any]:
        return [n for n in self.g.node if name in n.input]

    def producer(self, name: str) -> Any | None:
        return next((n for n in self.g.node if name in n.output), None)

    def only_consumer(self, name: str, op_type: str) -> Any | None:
        """The single node reading ``name`` if it is an ``op_type`` and ``name`` is no graph output."""
        users = self.consumers(name)
        if name in self.outputs or len(users) != 1 or users[0].op_type != op_type:
            return None
        return users[0]

    def constant(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        for init in self.g.initializer:
            if init.name == name:
                return numpy_helper.to_array(init)
        node = self.producer(name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def add_constant(self, base: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(base)
        self.g.initializer.append(numpy_helper.from_array(value, name))
        return name

    def fresh(self, base: str) -> str:
        taken = ({v for n in self.g.node for v in (*n.input, *n.output)}
                 | {i.name for i in self.g.initializer} | {i.name for i in self.g.input})
        while True:
            self._counter += 1
            name = f"{base}_tidy{self._counter}"
            if name not in taken:
                return name

    def replace(self, old: list[Any], new: list[Any]) -> None:
        """Put ``new`` where the first of ``old`` was (keeps the topological order) and drop ``old``.

        The graph's nodes are rebuilt from copies: node objects held before a call are stale after it.
        """
        nodes = list(self.g.node)
        at = min(i for i, n in enumerate(nodes) if any(n is o for o in old))
        kept = [n for n in nodes if all(n is not o for o in old)]
        self._set_nodes(kept[:at] + new + kept[at:])

    def _set_nodes(self, nodes: list[Any]) -> None:
        from onnx import NodeProto

        copies = []
        for node in nodes:
            copy = NodeProto()
            copy.CopyFrom(node)
            copies.append(copy)
        del self.g.node[:]
        self.g.node.extend(copies)

    def prune(self) -> None:
        """Drop nodes nothing reads (every ONNX operator is pure) and initializers nothing uses."""
        while True:
            used = {v for n in self.g.node for v in n.input} | self.outputs
            dead = [n for n in self.g.node if not any(o and o in used for o in n.output)]
            if not dead:
                break
            self._set_nodes([n for n in self.g.node if all(n is not d for d in dead)])
        used = {v for n in self.g.node for v in n.input} | self.outputs
        keep_init = [i for i in self.g.initializer if i.name in used]
        if len(keep_init) != len(self.g.initializer):
            del self.g.initializer[:]
            self.g.initializer.extend(keep_init)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _drop_zero_initial_states(graph: _Graph) -> list[str]:
    done = []
    for node in graph.g.node:
        slots = _RECURRENT_STATE_INPUTS.get(node.op_type)
        if slots is None:
            continue
        dropped = []
        for slot in slots:
            if len(node.input) <= slot or not node.input[slot]:
                continue
            source = graph.producer(node.input[slot])
            if source is None or source.op_type != "ConstantOfShape":
                continue
            fill = _attr(source, "value")
            if fill is not None:
                from onnx import numpy_helper

                if np.any(numpy_helper.to_array(fill) != 0):
                    continue
            node.input[slot] = ""
            dropped.append(slot)
        while node.input and not node.input[-1]:
            node.input.pop()
        if dropped:
            done.append(f"initial states of {node.op_type} {node.name or node.output[0]}: zeros by default")
    return done


def _gather_time_major(graph: _Graph) -> str | None:
    for gather in graph.g.node:
        if gather.op_type != "Gather" or _attr(gather, "axis", 0) != 0:
            continue
        table = graph.constant(gather.input[0])
        if table is None or table.ndim != 2:
            continue
        transpose = graph.only_consumer(gather.output[0], "Transpose")
        if transpose is None or list(_attr(transpose, "perm", [])) != [1, 0, 2]:
            continue
        from onnx import helper

        ids_t = graph.fresh(f"{gather.output[0]}_ids_time_major")
        new = [helper.make_node("Transpose", [gather.input[1]], [ids_t], perm=[1, 0],
                                name=graph.fresh(f"{gather.name or 'Gather'}_ids_transpose")),
               helper.make_node("Gather", [gather.input[0], ids_t], [transpose.output[0]], axis=0,
                                name=gather.name or graph.fresh("Gather"))]
        made = f"embedding {gather.input[0]}: gathered time-major from transposed ids"
        graph.replace([gather, transpose], new)
        return made
    return None


def _final_state_from_y_h(graph: _Graph) -> str | None:
    for node in graph.g.node:
        if node.op_type not in _RECURRENT_STATE_INPUTS:
            continue
        if _attr(node, "direction", "forward") != "forward" or _attr(node, "layout", 0) != 0:
            continue
        if len(node.input) > 4 and node.input[4]:  # sequence_lens: Y_h is each sample's own last step
            continue
        y = node.output[0] if node.output else ""
        if not y:
            continue
        squeeze = graph.only_consumer(y, "Squeeze")
        if squeeze is None or len(squeeze.input) < 2:
            continue
        axes = graph.constant(squeeze.input[1])
        if axes is None or axes.reshape(-1).tolist() != [1]:
            continue
        transpose = graph.only_consumer(squeeze.output[0], "Transpose")
        if transpose is None or list(_attr(transpose, "perm", [])) != [1, 0, 2]:
            continue
        gather = graph.only_consumer(transpose.output[0], "Gather")
        if gather is None or gather.input[0] != transpose.output[0] or _attr(gather, "axis", 0) != 1:
            continue
        index = graph.constant(gather.input[1])
        if index is None or index.ndim != 0 or int(index) != -1:
            continue
        if len(node.output) < 2 or not node.output[1]:
            while len(node.output) < 2:
                node.output.append("")
            node.output[1] = graph.fresh(f"{y}_Y_h")
        from onnx import helper

        axes0 = graph.add_constant(f"{y}_axis0", np.array([0], dtype=np.int64))
        new = [helper.make_node("Squeeze", [node.output[1], axes0], [gather.output[0]],
                                name=graph.fresh(f"{node.name or node.op_type}_Y_h_squeeze"))]
        node.output[0] = ""  # Y: no longer read
        made = f"last step of {node.op_type} {node.name or y}: read from Y_h"
        graph.replace([squeeze, transpose, gather], new)
        return made
    return None
