"""Batches of texts of similar length, each padded only to its longest text ("bucketing").

Keras pads every review to ``max_len`` and so does seqstudio's text source: a
batch of short reviews then runs the recurrent layer over mostly padding. With
``TrainConfig(bucketing=True)`` the training batches group reviews of similar
length and each batch keeps only the columns its reviews use: from the first
column holding a real id in any of its rows to the last (so ``pre`` and
``post`` padding alike). Every review is still seen exactly once per epoch.

This departs from Keras's fixed-length padding: a review's recurrent layer no
longer runs over the padding of the longest review in the data set, only over
that of its batch. A model that reads padding (an LSTM over ``pre`` padding
without masking) therefore sees less of it and can learn slightly differently;
a model whose result padding does not change gives the same numbers.

Which reviews share a batch is shuffled as before: the samples are permuted,
cut into pools of ``pool_batches`` batches, sorted by length inside each pool
(the sort is stable), cut into batches, and the batches are permuted; all with
the run's seeded generator, so a seed gives the same batches every time.

>>> import torch
>>> x = torch.tensor([[0, 0, 5, 6], [0, 7, 8, 9], [0, 0, 0, 4]])
>>> [(b.rows.tolist(), b.columns) for b in bucket_batches(*token_spans(x), 2, shuffle=False)]
[([2, 0], (2, 4)), ([1], (1, 4))]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Batch:
    """The rows of one training batch and the columns ``[start, stop)`` it keeps."""

    rows: torch.Tensor
    start: int
    stop: int

    @property
    def columns(self) -> tuple[int, int]:
        return self.start, self.stop


def token_spans(x: torch.Tensor, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of padded ids ``(N, max_len)``: the columns ``[first, stop)`` from its first to
    its last id that is not ``pad`` (a row of padding only: ``first = max_len``, ``stop = 0``)."""
    real = x != pad
    width = x.shape[1]
    cols = torch.arange(width, device=x.device)
    first = torch.where(real, cols, width).amin(dim=1)
    stop = torch.where(real, cols + 1, 0).amax(dim=1)
    return first.cpu(), stop.cpu()


def bucket_batches(first: torch.Tensor, stop: torch.Tensor, batch_size: int,
                   generator: torch.Generator | None = None, *, shuffle: bool = True,
                   pool_batches: int = 50, width: int | None = None) -> list[Batch]:
    """One epoch's batches: every row once, rows of similar length together.

    ``first`` / ``stop`` come from :func:`token_spans`; ``width`` is ``max_len`` (default
    ``stop.max()``). There are ``ceil(N / batch_size)`` batches, as without bucketing: each
    pool holds a whole number of batches.
    """
    n = len(first)
    width = int(stop.max()) if width is None and n else int(width or 1)
    lengths = (stop - first).clamp(min=0)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    pool = max(1, pool_batches) * batch_size
    batches: list[Batch] = []
    for p in range(0, n, pool):
        chunk = order[p:p + pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        for b in range(0, len(chunk), batch_size):
            rows = chunk[b:b + batch_size]
            start, end = int(first[rows].min()), int(stop[rows].max())
            if end <= start:  # only padding in every row: keep one column of it
                start, end = max(0, width - 1), max(1, width)
            batches.append(Batch(rows, start, end))
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
