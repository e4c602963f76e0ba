"""What a text model says after each token, and which tokens moved it (integrated gradients).

:func:`integrated_gradients` (Sundararajan et al. 2017) attributes a scalar
score ``F`` to the features of an input ``x`` against a baseline ``x'``:
``IG_i = (x_i - x'_i) * ∫_0^1 ∂F/∂x_i(x' + α (x - x')) dα``. Its attributions
add up to ``F(x) - F(x')`` (completeness) when the integral is exact; the
integral is taken with Gauss-Legendre quadrature, and
:func:`token_attributions` doubles the number of points until completeness
holds within a tolerance (1 % by default), so the colours a reader sees sum to
the prediction's distance from the baseline's.

For a text model the input is the embedding of the tokens, the baseline the
embedding of the padding token at every position (what the model sees for "no
words"), and a token's attribution is the sum over its embedding vector.

>>> import torch
>>> f = lambda x: (x ** 2).sum(dim=(1, 2))          # F(x) = sum x², so IG = x² against 0
>>> x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
>>> ig, _ = integrated_gradients(f, x, torch.zeros_like(x), steps=4)
>>> ig.round(decimals=4).tolist()
[[1.0, 4.0], [9.0, 0.0]]
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqstudio.core.inspect.gates import InspectError, model_device, model_layers
from seqstudio.core.model.cells import RecurrentLayer

__all__ = ["Attribution", "integrated_gradients", "predictions_after_each_token", "score_function",
           "token_attributions"]

Score = Callable[[torch.Tensor], torch.Tensor]


def integrated_gradients(score: Score, x: torch.Tensor, baseline: torch.Tensor, *, steps: int = 32,
                         chunk: int = 32) -> tuple[torch.Tensor, float]:
    """Integrated gradients of ``score`` at ``x`` (one sample, any shape) against ``baseline``.

    ``score`` maps a batch ``(B, *x.shape)`` to ``(B,)``. Returns the attributions
    (shaped like ``x``) and ``F(x) - F(baseline)``, which they should sum to.
    ``steps`` Gauss-Legendre points, evaluated ``chunk`` at a time.
    """
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.as_tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(weights / 2, dtype=x.dtype, device=x.device)
    delta = (x - baseline).detach()
    total = torch.zeros_like(x)
    for start in range(0, steps, chunk):
        a = alphas[start:start + chunk].view(-1, *([1] * x.dim()))
        points = (baseline.detach() + a * delta).requires_grad_(True)
        (grad,) = torch.autograd.grad(score(points).sum(), points)
        total += (grad * w[start:start + chunk].view_as(a)).sum(0)
    with torch.no_grad():
        ends = score(torch.stack([x.detach(), baseline.detach()]))
    return delta * total, float(ends[0] - ends[1])


def score_function(outputs_are_probabilities: bool, target: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    """The probability of class ``target`` from a model's ``(B, outputs)`` outputs, differentiably.

    One output column: P(positive) (``target`` is then ignored); several: the
    probability of ``target``. Logits get a sigmoid / softmax, as evaluation reads them.
    """
    def prob(out: torch.Tensor) -> torch.Tensor:
        out = out.reshape(out.shape[0], -1)
        if out.shape[1] == 1:
            return out[:, 0] if outputs_are_probabilities else torch.sigmoid(out[:, 0])
        p = out if outputs_are_probabilities else torch.softmax(out, dim=1)
        return p[:, target]
    return prob


@dataclass
class Attribution:
    """Per-token integrated gradients of one text."""

    #: ``(time,)`` summed over each token's embedding
    per_token: np.ndarray
    #: the score (probability) for the text and for the all-padding baseline
    score: float
    baseline_score: float
    steps: int
    #: ``|sum(per_token) - (score - baseline_score)|``
    completeness_gap: float

    @property
    def relative_gap(self) -> float:
        diff = abs(self.score - self.baseline_score)
        return self.completeness_gap / diff if diff > 0 else 0.0


def _embedding(model: nn.Module) -> nn.Embedding:
    first = model_layers(model)[:1]
    if not first or not isinstance(first[0], nn.Embedding):
        raise InspectError("attributions per token need a model that starts with an Embedding",
                           fix="inspect a text model (Embedding first), or look at the gates only")
    return first[0]


def token_attributions(model: nn.Module, ids: torch.Tensor, prob: Score, *, pad_id: int = 0,
                       rtol: float = 0.01, max_steps: int = 512) -> Attribution:
    """Integrated gradients per token of a text model (``Embedding`` first) for one ``(time,)`` input.

    The number of quadrature points starts at 16 and doubles until the
    attributions sum to ``F(x) - F(baseline)`` within ``rtol`` (relative to that
    difference; or 1e-6 absolute when it is smaller), up to ``max_steps``.
    """
    emb = _embedding(model)
    rest = model_layers(model)[1:]
    was_training = model.training
    model.eval()

    def score(e: torch.Tensor) -> torch.Tensor:
        for layer in rest:
            e = layer(e)
        return prob(e)

    try:
        ids = ids.long().to(model_device(model))
        with torch.no_grad():
            x = emb(ids)
            base = emb(torch.full_like(ids, pad_id))
        steps = 16
        # cuDNN's RNN backward refuses evaluation mode; the plain kernels take it
        with torch.backends.cudnn.flags(enabled=False):
            while True:
                ig, diff = integrated_gradients(score, x, base, steps=steps)
                gap = abs(float(ig.sum()) - diff)
                if gap <= max(rtol * abs(diff), 1e-6) or steps >= max_steps:
                    break
                steps *= 2
        with torch.no_grad():
            ends = score(torch.stack([x, base]))  # still in evaluation mode: no dropout
    finally:
        model.train(was_training)
    return Attribution(ig.sum(-1).detach().cpu().numpy(), float(ends[0]), float(ends[1]), steps, gap)


_PER_STEP = (nn.Linear, nn.Dropout, nn.Identity, nn.Sigmoid, nn.Tanh, nn.ReLU, nn.Softmax, nn.GELU,
             nn.ELU, nn.SELU, nn.Softplus)


def _per_step(module: nn.Module) -> bool:
    """Whether ``module`` acts on each time step alone (so it may run over a whole sequence)."""
    if isinstance(module, nn.Sequential):
        return all(_per_step(m) for m in module)
    if isinstance(module, nn.Softmax):
        return module.dim in (-1, None)
    return isinstance(module, _PER_STEP)


def _causal(module: nn.Module) -> bool:
    """Whether step ``t`` of ``module``'s output depends on steps up to ``t`` only."""
    if isinstance(module, RecurrentLayer):
        return module.directions == 1 and module.return_sequences
    return isinstance(module, nn.Embedding) or _per_step(module)


def predictions_after_each_token(model: nn.Module, x: torch.Tensor, prob: Score) -> np.ndarray:
    """The model's score after each step of one input: ``out[t]`` = the model on ``x[:t + 1]``.

    For a stack read left to right (unidirectional recurrent layers, per-step
    layers before the last recurrent layer, per-step layers after it) this is
    one pass: the last recurrent layer's state at every step, through the layers
    after it. Otherwise the model runs once per prefix.
    """
    layers = model_layers(model)
    x = x.to(model_device(model))
    last = max((i for i, m in enumerate(layers) if isinstance(m, RecurrentLayer)), default=-1)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            recurrent = layers[last] if last >= 0 else None
            if isinstance(recurrent, RecurrentLayer) and recurrent.directions == 1 and \
                    all(_causal(m) for m in layers[:last]) and all(_per_step(m) for m in layers[last + 1:]):
                h = x.unsqueeze(0)
                for m in layers[:last]:
                    h = m(h)
                every = copy.copy(recurrent)  # the same weights, returning every step's state
                every.return_sequences = True
                h = every(h)[0]
                for m in layers[last + 1:]:
                    h = m(h)
                return prob(h).cpu().numpy()
            return np.array([float(prob(model(x[:t + 1].unsqueeze(0)))[0]) for t in range(len(x))])
    finally:
        model.train(was_training)
