"""``seqstudio plugins new NAME``: a pip-installable plugin that passes its own tests.

The new project holds a ``pyproject.toml`` with the entry point, a package
with the hooks, one recurrent cell (tested against ``torch.nn.RNNCell``), one
series source made from a DataFrame, and tests using :mod:`seqstudio.testing`.

>>> import tempfile, pathlib
>>> root = new_plugin("demo", pathlib.Path(tempfile.mkdtemp()))
>>> sorted(p.name for p in root.iterdir())
['README.md', 'pyproject.toml', 'seqstudio_demo', 'tests']
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from seqstudio.core.errors import PluginError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _files(name: str) -> dict[str, str]:
    from seqstudio import __version__

    package = f"seqstudio_{name}"
    dist = f"seqstudio-{name.replace('_', '-')}"
    return {
        "pyproject.toml": f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A seqstudio plugin: a recurrent cell and a series data source."
readme = "README.md"
requires-python = ">=3.11"
# seqstudio brings torch, numpy, pandas and pluggy; add only what your plugin needs besides.
dependencies = ["seqstudio>={__version__}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This line makes it a seqstudio plugin: seqstudio imports "{package}" and calls its hooks.
[project.entry-points."seqstudio.plugins"]
{name} = "{package}"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
# the tests import the package from this folder, installed or not
pythonpath = ["."]
testpaths = ["tests"]
''',
        "README.md": f"""# {dist}

A seqstudio plugin named `{name}`: the cell `{name}>tanh_rnn` and the data source
`{name}>noisy_sine`.

    python -m pytest                         # its own tests (seqstudio.testing checks)
    SEQSTUDIO_PLUGIN_PATH=$PWD seqstudio plugins list        # try it without installing
    seqstudio plugins install .              # install it into seqstudio's environment
    seqstudio train --source '{name}>noisy_sine' --cell '{name}>tanh_rnn' --epochs 2 --save p.json
    seqstudio predict --project p.json --steps 5
""",
        f"{package}/__init__.py": f'''"""The seqstudio plugin `{name}`: seqstudio calls the @hookimpl functions below."""

from __future__ import annotations

from seqstudio.pluginapi import CellType, SourceType, hookimpl

from .cells import CELLS
from .sources import SOURCES

__version__ = "0.1.0"


@hookimpl
def seqstudio_api_version() -> int:
    return 1  # the plugin API this plugin was written against


@hookimpl
def seqstudio_plugin_name() -> str:
    return "{name}"  # the prefix of every key ("{name}>tanh_rnn"): never change it


@hookimpl
def seqstudio_cells() -> list[CellType]:
    return list(CELLS)


@hookimpl
def seqstudio_data_sources() -> list[SourceType]:
    return list(SOURCES)
''',
        f"{package}/cells.py": '''"""A recurrent cell: one time step, (x_t, state) -> (h_t, new_state)."""

from __future__ import annotations

import torch
from torch import nn

from seqstudio.pluginapi import CellType, OptionSpec


class TanhRNNStep(nn.Module):
    """h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), as torch.nn.RNNCell computes it."""

    def __init__(self, input_size: int, hidden_size: int, *, activation: str):
        super().__init__()
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)
        self.act = torch.tanh if activation == "tanh" else torch.relu

    def forward(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        (h,) = state                                  # x_t: (B, input_size); h: (B, hidden_size)
        h = self.act(self.ih(x_t) + self.hh(h))
        return h, (h,)                                # h_t and the new state, as state_layout says


CELLS = [
    CellType(
        name="tanh_rnn",
        description="A plain recurrent cell written out (equal to torch.nn.RNNCell).",
        step_factory=TanhRNNStep,
        state_layout=("h",),
        # every declared option reaches the factory, with its default when not set
        parameters=(OptionSpec("activation", "choice", "tanh", choices=("tanh", "relu"),
                               help="Non-linearity of the new hidden state."),),
    ),
]
''',
        f"{package}/sources.py": '''"""A data source: the plugin makes a DataFrame, seqstudio windows it (series_source)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqstudio.pluginapi import OptionSpec, SourceType, series_source


def noisy_sine(options) -> pd.DataFrame:
    """One column "value": a sine of the given period plus seeded Gaussian noise."""
    t = np.arange(options["length"])
    rng = np.random.default_rng(options["seed"])
    values = np.sin(2 * np.pi * t / options["period"]) + options["noise"] * rng.standard_normal(len(t))
    return pd.DataFrame({"value": values})


SOURCES: list[SourceType] = [
    series_source(
        "noisy_sine",
        "A sine wave with Gaussian noise, for forecasting.",
        noisy_sine,
        options=(
            OptionSpec("length", "int", 300, minimum=50, help="Number of time steps."),
            OptionSpec("period", "float", 24.0, minimum=2.0, help="Period of the sine, in steps."),
            OptionSpec("noise", "float", 0.1, minimum=0.0, help="Standard deviation of the noise."),
            OptionSpec("seed", "int", 0, help="Seed of the noise (the same seed gives the same data)."),
        ),
        defaults={"look_back": 12},
    ),
]
''',
        "tests/test_plugin.py": f'''"""The plugin's own tests: seqstudio's checks, and the cell against an independent reference."""

from __future__ import annotations

import numpy as np
import torch

import {package}
from seqstudio.testing import assert_cell_ok, assert_plugin_ok, assert_source_ok
from {package}.cells import CELLS, TanhRNNStep
from {package}.sources import SOURCES, noisy_sine


def test_the_plugin_keeps_seqstudios_contract():
    report = assert_plugin_ok({package})
    assert report.info.name == "{name}"
    assert sorted(report.info.cells) == ["{name}>tanh_rnn"]
    assert sorted(report.info.sources) == ["{name}>noisy_sine"]


def test_the_cell_passes_the_conformance_check():
    assert_cell_ok(CELLS[0])


def test_the_cell_equals_torch_rnn_cell_with_the_same_weights():
    torch.manual_seed(0)
    step, ref = TanhRNNStep(3, 5, activation="tanh"), torch.nn.RNNCell(3, 5)
    with torch.no_grad():
        ref.weight_ih.copy_(step.ih.weight)
        ref.bias_ih.copy_(step.ih.bias)
        ref.weight_hh.copy_(step.hh.weight)
        ref.bias_hh.copy_(step.hh.bias)
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    got, (state,) = step(x, (h,))
    torch.testing.assert_close(got, ref(x, h))
    torch.testing.assert_close(state, got)


def test_the_source_keeps_the_contract_with_other_options():
    assert_source_ok(SOURCES[0], {{"length": 80, "noise": 0.0, "look_back": 4}})


def test_the_frame_is_the_formula():
    frame = noisy_sine({{"length": 4, "period": 4.0, "noise": 0.0, "seed": 0}})
    np.testing.assert_allclose(frame["value"], [0.0, 1.0, 0.0, -1.0], atol=1e-12)
''',
    }


def new_plugin(name: str, folder: Path | str = ".") -> Path:
    """Write a new plugin project ``seqstudio-NAME`` into ``folder``; returns its path.

    Raises :class:`PluginError` for a name that cannot be a plugin and package name, or
    when the project folder already exists.
    """
    if not _NAME.match(name or "") or keyword.iskeyword(name):
        raise PluginError(f"{name!r} cannot be a plugin name",
                          fix="use lower-case letters, digits and '_', starting with a letter, e.g. 'mycells'")
    root = Path(folder).expanduser() / f"seqstudio-{name.replace('_', '-')}"
    if root.exists():
        raise PluginError(f"{root} already exists", fix="choose another name or folder (--dir)")
    for rel, text in _files(name).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
