"""Bucketing: batches of texts of similar length, each padded only to its longest text."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.train.buckets import bucket_batches, token_spans
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.events import BatchEnded, Finished
from seqstudio.core.train.loop import train

MAX_LEN = 12


def padded_ids(lengths, *, side: str = "pre", seed: int = 0) -> np.ndarray:
    """Rows of ids 3..9 of the given lengths, padded with 0 to MAX_LEN on ``side`` (numpy, by hand)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(lengths), MAX_LEN), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids = rng.integers(3, 10, size=n)
        if n:
            out[i, MAX_LEN - n:] = ids if side == "pre" else 0
            if side == "post":
                out[i, :n] = ids
    return out


LENGTHS = [12, 1, 5, 0, 7, 3, 3, 9, 2, 11, 4, 6, 8, 10, 1, 5, 2]


@pytest.mark.parametrize("side", ["pre", "post"])
def test_every_text_once_per_epoch_in_batches_padded_to_their_longest(side):
    x = torch.from_numpy(padded_ids(LENGTHS, side=side))
    first, stop = token_spans(x)
    batches = bucket_batches(first, stop, 4, torch.Generator().manual_seed(1), pool_batches=2,
                             width=MAX_LEN)
    seen = torch.cat([b.rows for b in batches]).tolist()
    assert sorted(seen) == list(range(len(LENGTHS)))  # each text exactly once
    assert len(batches) == -(-len(LENGTHS) // 4)  # as many batches as without bucketing
    for b in batches:
        longest = max(LENGTHS[i] for i in b.rows.tolist())
        width = b.stop - b.start
        assert width == max(longest, 1)  # padded to the longest text of the batch (a column at least)
        kept = x[b.rows, b.start:b.stop]
        # nothing but padding was cut: every id of the batch's texts is kept
        assert int((kept != 0).sum()) == sum(LENGTHS[i] for i in b.rows.tolist())
        if side == "pre" and longest:
            assert b.stop == MAX_LEN
        if side == "post" and longest:
            assert b.start == 0


def test_texts_of_a_pool_are_sorted_by_length_so_batches_hold_similar_lengths():
    lengths = list(range(1, 13)) * 4
    x = torch.from_numpy(padded_ids(lengths))
    batches = bucket_batches(*token_spans(x), 8, torch.Generator().manual_seed(0), width=MAX_LEN)
    fixed = len(batches) * MAX_LEN
    bucketed = sum(b.stop - b.start for b in batches)
    assert bucketed < 0.75 * fixed  # whole pool sorted: widths climb 2, 3, 5, ... 12


def test_the_same_seed_gives_the_same_batches_and_another_seed_others():
    x = torch.from_numpy(padded_ids(LENGTHS))
    spans = token_spans(x)

    def batches(seed):
        return [(b.rows.tolist(), b.columns)
                for b in bucket_batches(*spans, 4, torch.Generator().manual_seed(seed), width=MAX_LEN)]

    assert batches(7) == batches(7)
    assert batches(7) != batches(8)


class PaddingNeutral(nn.Module):
    """Padding changes nothing: the pad id embeds to zeros (and never learns), and a bias-free
    tanh RNN started from zero stays at zero over leading zeros; the last state is read."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.embedding = nn.Embedding(10, 4, padding_idx=0)
        self.rnn = nn.RNN(4, 5, batch_first=True, bias=False)
        self.out = nn.Linear(5, 1)

    def forward(self, x):
        states, _ = self.rnn(self.embedding(x))
        return self.out(states[:, -1])


def test_a_trimmed_batch_gives_what_fixed_padding_gives_on_a_padding_neutral_model():
    x = torch.from_numpy(padded_ids(LENGTHS, side="pre"))
    model = PaddingNeutral()
    for b in bucket_batches(*token_spans(x), 4, torch.Generator().manual_seed(2), width=MAX_LEN):
        full = model(x[b.rows])
        trimmed = model(x[b.rows, b.start:b.stop])
        torch.testing.assert_close(trimmed, full, rtol=1e-6, atol=1e-6)
        grads = []
        for inputs in (x[b.rows], x[b.rows, b.start:b.stop]):
            model.zero_grad()
            model(inputs).sum().backward()
            grads.append([p.grad.clone() for p in model.parameters()])
        for g_full, g_trim in zip(*grads, strict=True):
            torch.testing.assert_close(g_trim, g_full, rtol=1e-5, atol=1e-6)


def text_data(lengths, seed=0) -> PreparedData:
    x = padded_ids(lengths, seed=seed)
    y = (np.asarray(lengths) > 5).astype(np.float32).reshape(-1, 1)  # numpy: read as tensors
    empty_x, empty_y = np.zeros((0, MAX_LEN), np.int64), np.zeros((0, 1), np.float32)
    return PreparedData("binary", x, y, empty_x, empty_y, empty_x, empty_y, n_outputs=1,
                        input_is_ids=True, vocab_size=10)


class Recording(PaddingNeutral):
    """Remembers the inputs of every training forward pass."""

    def __init__(self):
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        if self.training:
            self.inputs.append(x.detach().clone())
        return super().forward(x)


def test_a_run_with_bucketing_trains_on_each_text_once_an_epoch_padded_per_batch():
    lengths = LENGTHS * 3
    data = text_data(lengths)
    model = Recording()
    config = TrainConfig(epochs=2, batch_size=4, loss="bce", bucketing=True, threads=1)
    events = list(train(model, data, config))
    assert isinstance(events[-1], Finished) and events[-1].result.stopped_reason is None
    per_epoch = -(-len(lengths) // 4)
    assert sum(isinstance(e, BatchEnded) for e in events) == 2 * per_epoch
    assert len(model.inputs) == 2 * per_epoch
    for epoch in range(2):
        batches = model.inputs[epoch * per_epoch:(epoch + 1) * per_epoch]
        # each batch is as wide as its longest text: the texts can be matched back to rows
        rows = [tuple(r[r != 0].tolist()) for b in batches for r in b]
        expected = [tuple(r[r != 0].tolist()) for r in data.x_train]
        assert sorted(rows) == sorted(expected)
        for b in batches:
            assert b.shape[1] == max(1, int((b != 0).sum(dim=1).max()))


def test_bucketing_is_seeded_and_matches_fixed_padding_on_a_padding_neutral_model():
    lengths = LENGTHS * 2
    data = text_data(lengths)

    def run(bucketing, seed=0):
        model = PaddingNeutral()
        losses = [e.loss for e in train(model, data, TrainConfig(epochs=2, batch_size=4, loss="bce",
                                                                  bucketing=bucketing, seed=seed,
                                                                  threads=1))
                  if isinstance(e, BatchEnded)]
        return losses, [p.detach().clone() for p in model.parameters()]

    losses_a, weights_a = run(True)
    losses_b, weights_b = run(True)
    assert losses_a == losses_b
    for a, b in zip(weights_a, weights_b, strict=True):
        assert torch.equal(a, b)
    # the same batches on full-width rows: what fixed padding computes, step for step
    model = PaddingNeutral()
    config = TrainConfig(epochs=2, batch_size=4, loss="bce", threads=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    x, y = data.x_train, data.y_train
    shuffler = torch.Generator().manual_seed(config.seed)
    spans = token_spans(x)
    torch.manual_seed(config.seed)
    reference = []
    for _ in range(2):
        for b in bucket_batches(*spans, 4, shuffler, width=MAX_LEN):
            out = torch.sigmoid(model(x[b.rows]))
            loss = nn.functional.binary_cross_entropy(out, y[b.rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            reference.append(loss.item())
    np.testing.assert_allclose(losses_a, reference, rtol=1e-5, atol=1e-6)
    for a, b in zip(weights_a, model.parameters(), strict=True):
        torch.testing.assert_close(a, b.detach(), rtol=1e-4, atol=1e-5)


def test_bucketing_on_a_series_is_refused_with_the_fix():
    x = torch.zeros(8, 3, 1)
    data = PreparedData("regression", x, torch.zeros(8, 1), x[:0], torch.zeros(0, 1), x[:0],
                        torch.zeros(0, 1), n_outputs=1)
    with pytest.raises(TrainingError) as info:
        train(nn.Sequential(nn.Flatten(), nn.Linear(3, 1)), data, TrainConfig(epochs=1, bucketing=True))
    assert "not text" in str(info.value) and "turn bucketing off" in str(info.value)


def test_bucketing_is_off_by_default_and_survives_the_project_file():
    assert TrainConfig().bucketing is False
    config = TrainConfig(bucketing=True)
    assert TrainConfig.from_dict(config.to_dict()).bucketing is True
    assert "bucketing" in {o.name for o in TrainConfig.schema()}


def test_the_cli_flag_sets_bucketing_in_the_project():
    from seqstudio.cli import build_parser, project_from_args

    on = project_from_args(build_parser().parse_args(["train", "--preset", "imdb-lstm", "--bucketing"]))
    off = project_from_args(build_parser().parse_args(["train", "--preset", "imdb-lstm"]))
    assert on.train["bucketing"] is True
    assert TrainConfig.from_dict(off.train).bucketing is False
