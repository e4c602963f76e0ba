"""The example community plugin: its cells against independent references, its data source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqstudio.core.errors import DataError

from .conftest import EXAMPLE_PROJECT


@pytest.fixture
def example(monkeypatch):
    """The example plugin's package, imported from its source folder (not installed)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_PROJECT))
    import seqstudio_example

    return seqstudio_example


def _lecture_cell(example):
    return next(c for c in example.cells.CELLS if c.name == "lecture_lstm")


def test_lecture_lstm_equals_torch_lstm_with_the_same_weights(example):
    torch.manual_seed(0)
    batch, steps, n_in, hidden = 4, 7, 3, 5
    reference = nn.LSTM(n_in, hidden, batch_first=True).double()
    step = _lecture_cell(example).step_factory(n_in, hidden).double().copy_from_torch_lstm(reference)
    x = torch.randn(batch, steps, n_in, dtype=torch.float64)
    h0 = torch.randn(batch, hidden, dtype=torch.float64)
    c0 = torch.randn(batch, hidden, dtype=torch.float64)

    expected, (h_n, c_n) = reference(x, (h0[None], c0[None]))
    state, outputs = (h0, c0), []
    for t in range(steps):
        h, state = step(x[:, t], state)
        outputs.append(h)
    got = torch.stack(outputs, dim=1)

    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(state[0], h_n[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(state[1], c_n[0], rtol=0, atol=1e-12)

    # Same gradients too: the input-gate rows of torch's stacked (i, f, g, o) weights.
    got.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(step.W_xi.grad, reference.weight_ih_l0.grad[:hidden], atol=1e-10, rtol=0)
    torch.testing.assert_close(step.W_ho.grad, reference.weight_hh_l0.grad[3 * hidden:], atol=1e-10, rtol=0)
    torch.testing.assert_close(step.b_c.grad, reference.bias_ih_l0.grad[2 * hidden:3 * hidden],
                               atol=1e-10, rtol=0)


def test_lecture_lstm_through_the_core_recurrent_layer(example):
    from seqstudio.core.model.cells import RecurrentLayer

    torch.manual_seed(1)
    reference = nn.LSTM(2, 3, batch_first=True)
    layer = RecurrentLayer(_lecture_cell(example), 2, 3, return_sequences=True, compile_mode="eager")
    layer.steps[0].copy_from_torch_lstm(reference)
    x = torch.randn(5, 6, 2)
    torch.testing.assert_close(layer(x), reference(x)[0], atol=1e-6, rtol=1e-5)


def test_indrnn_matches_a_numpy_reference(example):
    cell = next(c for c in example.cells.CELLS if c.name == "indrnn")
    torch.manual_seed(2)
    for activation, fn in (("relu", lambda a: np.maximum(a, 0)), ("tanh", np.tanh)):
        step = cell.step_factory(3, 4, activation=activation).double()
        with torch.no_grad():
            step.b.uniform_(-0.5, 0.5)
        W, u, b = (p.detach().numpy() for p in (step.W, step.u, step.b))
        x = np.random.default_rng(0).standard_normal((6, 2, 3))
        h = np.zeros((2, 4))
        state = (torch.zeros(2, 4, dtype=torch.float64),)
        for t in range(6):
            h = fn(x[t] @ W.T + u * h + b)  # each unit recurs only on itself
            out, state = step(torch.from_numpy(x[t]), state)
            np.testing.assert_allclose(out.detach().numpy(), h, atol=1e-12)


def test_indrnn_rejects_an_unknown_activation(example):
    cell = next(c for c in example.cells.CELLS if c.name == "indrnn")
    with pytest.raises(ValueError, match="activation must be 'relu' or 'tanh', got 'sigmoid'"):
        cell.step_factory(2, 2, activation="sigmoid")


def test_example_cells_pass_the_conformance_check(example):
    from seqstudio.core.model.cells import conformance_check

    for cell in example.cells.CELLS:
        assert conformance_check(cell) is None, cell.name


def test_registered_through_the_manager_under_its_plugin_name(example, make_manager):
    pm = make_manager()
    pm.add_plugin(example, "example", version=example.__version__)
    pm.load()
    assert {"example>lecture_lstm", "example>indrnn"} <= set(pm.registry.cells)
    assert pm.registry.source("example>sine_mixture").kind == "series"
    assert all(pm.registry.cell(k).disabled_reason is None for k in ("example>lecture_lstm", "example>indrnn"))


def test_sine_mixture_equals_the_csv_route_on_the_same_numbers(example, tmp_path):
    """series_source must window a frame exactly as the built-in CSV source windows a file."""
    from seqstudio.core.registry import Registry
    from seqstudio.pluginapi.manager import builtin_registry

    reg = Registry()
    reg.add_source("example", example.sources.SOURCES[0])
    source = reg.source("example>sine_mixture")
    data = source.load({"length": 200, "look_back": 10, "noise": 0.0, "trend": 0.01})
    raw = example.sources.generate(200, [24.0, 7.0], 0.0, 0.01, 0)
    csv = tmp_path / "sine.csv"
    csv.write_text("value\n" + "\n".join(repr(float(v)) for v in raw) + "\n")
    ref = builtin_registry().source("csv-series").load(
        {"path": str(csv), "date_col": None, "look_back": 10, "train_frac": 0.7, "val_frac": 0.1,
         "season": 24})
    for split in ("train", "val", "test"):
        for got, want in zip(data.split(split), ref.split(split), strict=True):
            torch.testing.assert_close(got, want)
    # the window options' defaults the plugin chose: 70 % train, 10 % validation
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (len(ref.x_train), len(ref.x_val),
                                                                      len(ref.x_test))
    # the test targets, unscaled, are the raw values they were made from
    np.testing.assert_allclose(data.to_original(data.y_test, "test")[:, 0], raw[-len(data.y_test):], atol=1e-5)
    assert data.baselines("test")["naive"].shape == data.actual("test").shape


def test_sine_mixture_forecasts_beyond_the_data(example):
    from seqstudio.core.registry import Registry

    reg = Registry()
    reg.add_source("example", example.sources.SOURCES[0])
    data = reg.source("example>sine_mixture").load({"length": 300, "noise": 0.0})
    times, values = data.forecast(lambda x: x[:, -1, :1], steps=3)  # the naive model: repeat the last
    assert list(times) == [300, 301, 302]
    raw = example.sources.generate(300, [24.0, 7.0], 0.0, 0.0, 0)
    np.testing.assert_allclose(values[:, 0], [raw[-1]] * 3, atol=1e-5)


def test_sine_mixture_is_repeatable_per_seed(example):
    source = example.sources.SOURCES[0]
    a, b, c = (source.load(source.defaults() | {"seed": s}) for s in (3, 3, 4))
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("bad, match, where", [
    ({"periods": "24, week"}, "periods must be numbers", "option 'periods'"),
    ({"periods": "1"}, "above 1", "option 'periods'"),
    ({"length": 15}, "option 'length' must be at least 20", "data source 'sine_mixture'"),
    ({"lenght": 100}, "did you mean 'length'", "data source 'sine_mixture'"),
])
def test_sine_mixture_option_errors_say_where_and_how(example, bad, match, where):
    from seqstudio.core.registry import Registry

    reg = Registry()
    reg.add_source("example", example.sources.SOURCES[0])
    source = reg.source("example>sine_mixture")
    with pytest.raises(DataError, match=match) as err:
        source.load(bad)
    assert err.value.where.startswith(where.replace("'sine_mixture'", "'example>sine_mixture'")) or \
        err.value.where.startswith(where)
    assert err.value.fix
