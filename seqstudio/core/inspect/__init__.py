"""Inside a recurrent layer: gates and states step by step, and what moved the prediction.

* :mod:`~seqstudio.core.inspect.gates`: :func:`trace_layer` recomputes a trained
  recurrent layer one step at a time from its own weights (LSTM ``i, f, g, o, c, h``;
  GRU ``r, z, n, h``; SimpleRNN ``a, h``; a plugin cell's named internals) and checks
  the result against the layer's fused output; :func:`equations` fills the cell's
  equations with the numbers of one unit at one step.
* :mod:`~seqstudio.core.inspect.attribution`: integrated gradients in plain torch,
  per-token attributions of a text model, and its prediction after each token.
* :mod:`~seqstudio.core.inspect.subject`: :class:`Inspector`, a trained model with
  what reads its inputs, answering an :class:`Inspection` for a text or a test window.
"""

from seqstudio.core.inspect.attribution import (
    Attribution,
    integrated_gradients,
    predictions_after_each_token,
    score_function,
    token_attributions,
)
from seqstudio.core.inspect.gates import (
    TOLERANCE,
    CellInternals,
    DirectionTrace,
    InspectError,
    LayerTrace,
    equations,
    recurrent_layers,
    trace_layer,
)
from seqstudio.core.inspect.subject import Inspection, Inspector, Mistake

__all__ = ["TOLERANCE", "Attribution", "CellInternals", "DirectionTrace", "InspectError", "Inspection",
           "Inspector", "LayerTrace", "Mistake", "equations", "integrated_gradients",
           "predictions_after_each_token", "recurrent_layers", "score_function", "token_attributions",
           "trace_layer"]
