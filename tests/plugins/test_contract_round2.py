"""Plugins, second round: one test (or more) per numbered finding, plus containment of
``sys.exit`` and slow imports in plugin code.

Each plugin here is written the way an outsider would from docs/plugins.md: a drop-in file in
a temporary plugin folder, loaded by a fresh manager (the user's settings are never touched).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch

from seqstudio import cli
from seqstudio.core.errors import DataError, ModelSpecError, PluginError, SeqStudioError
from seqstudio.core.faults import PluginCodeError

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugins.md"
REFERENCE = REPO / "docs" / "plugin-reference.md"

#: A cell that reads its declared option without a default of its own (finding 5), and a
#: series source built with series_source (finding 2).
ACT_PLUGIN = '''
import os
import numpy as np
import pandas as pd
import torch
from torch import nn
from seqstudio.pluginapi import CellType, OptionSpec, hookimpl, series_source

class Step(nn.Module):
    def __init__(self, input_size, hidden_size, **params):
        super().__init__()
        self.act = {"tanh": torch.tanh, "relu": torch.relu}[params["activation"]]
        self.scale = params["scale"]
        self.lin = nn.Linear(input_size + hidden_size, hidden_size)
    def forward(self, x_t, state):
        if os.environ.get("ACT_FAIL_IN_TRAINING") and self.training:
            raise ValueError("exploded on purpose")
        h = self.act(self.lin(torch.cat([x_t, state[0]], dim=1))) * self.scale
        return h, (h,)

def frame(options):
    t = np.arange(options["length"])
    return pd.DataFrame({"value": np.sin(t / 5.0)})

@hookimpl
def seqstudio_plugin_name():
    return "act"

@hookimpl
def seqstudio_cells():
    return [CellType(name="cell", description="activation cell", step_factory=Step,
                     parameters=(OptionSpec("activation", "choice", "tanh", choices=("tanh", "relu")),
                                 OptionSpec("scale", "float", 1.0, minimum=0.0, maximum=2.0)))]

@hookimpl
def seqstudio_data_sources():
    return [series_source("wave", "a sine", frame, options=(OptionSpec("length", "int", 120, minimum=40),),
                          defaults={"look_back": 4})]
'''

#: Sources that break the contract in the ways finding 7 lists.
BAD_SOURCES = '''
import torch
from torch import nn
from seqstudio.pluginapi import CellType, OptionSpec, PreparedData, SourceType, hookimpl

def plain(options):
    x = torch.zeros(10, 3, 1)
    return PreparedData(task="regression", x_train=x, y_train=x[:, -1], x_val=x[:0], y_val=x[:0, -1],
                        x_test=x[:0], y_test=x[:0, -1], n_outputs=1)

class Needs(nn.Module):
    def __init__(self, input_size, hidden_size, **params):
        super().__init__()
        self.lin = nn.Linear(input_size, hidden_size)
        if params.get("explode"):
            raise KeyError("missing_setting")
    def forward(self, x_t, state):
        h = torch.tanh(self.lin(x_t) + state[0])
        return h, (h,)

@hookimpl
def seqstudio_cells():
    return [CellType(name="needs", description="raises KeyError when explode=True", step_factory=Needs,
                     parameters=(OptionSpec("explode", "bool", False),))]

@hookimpl
def seqstudio_data_sources():
    import sys
    return [SourceType(name="dict", description="returns a dict", load=lambda o: {"x": 1}),
            SourceType(name="keyerror", description="raises KeyError", load=lambda o: o["nope"]),
            SourceType(name="exits", description="calls sys.exit", load=lambda o: sys.exit(3)),
            SourceType(name="plain", description="a PreparedData, not a series", load=plain,
                       kind="other")]
'''


@pytest.fixture
def cli_env(config_dir, plugin_dir, monkeypatch):
    """Run ``cli.main`` in-process over the temporary plugin folder; returns the folder."""
    from seqstudio.pluginapi import manager

    monkeypatch.setenv("SEQSTUDIO_PLUGIN_PATH", str(plugin_dir))
    monkeypatch.setenv("SEQSTUDIO_LOG_DIR", str(config_dir / "logs"))
    monkeypatch.setenv("SEQSTUDIO_TRAIN_IN_PROCESS", "1")
    manager.reset_default_manager()
    yield plugin_dir
    manager.reset_default_manager()


def _pm(make_manager, write_plugin, name, source):
    write_plugin(name, source)
    return make_manager()


# -- 1. a standalone reference, generated from the docstrings --------------------------------
def test_1_the_reference_is_generated_from_the_docstrings_and_current():
    from seqstudio.pluginapi.reference import render

    assert REFERENCE.read_text(encoding="utf-8") == render(), \
        "docs/plugin-reference.md is stale: python -m seqstudio.pluginapi.reference > docs/plugin-reference.md"


def test_1_the_reference_covers_every_hook_type_field_task_and_error():
    import dataclasses

    from seqstudio.core.data.prepared import PreparedData, Task
    from seqstudio.core.registry import CellType, OptionSpec, SourceType
    from seqstudio.pluginapi import hookspecs
    from seqstudio.pluginapi.series import WINDOW_OPTIONS

    text = REFERENCE.read_text(encoding="utf-8")
    for hook in (n for n in dir(hookspecs) if n.startswith("seqstudio_")):
        assert f"### `{hook}(" in text
    for cls in (OptionSpec, SourceType, CellType, PreparedData):
        for f in dataclasses.fields(cls):
            if f.name not in ("key", "plugin"):
                assert f"| `{f.name}` |" in text, (cls.__name__, f.name)
    for task in Task.__args__:
        assert f'`"{task}"`' in text
    for o in WINDOW_OPTIONS:
        assert f"| `{o.name}` |" in text
    for err in ("DataError", "ModelSpecError", "PluginError", "PluginCodeError", "SeqStudioError"):
        assert f"### `{err}`" in text
    assert "series_source(" in text and "assert_plugin_ok(" in text


def test_1_the_guide_stands_alone():
    text = GUIDE.read_text(encoding="utf-8")
    assert "plugin-reference.md" in text
    for source_path in ("seqstudio/pluginapi/hookspecs.py", "plugins/seqstudio-example-plugin",
                        "seqstudio.core.data.series", "Copy `plugins/"):
        assert source_path not in text


# -- 2. the series-source route forecasts; predict works on every source or says why not -------
def test_2_a_plugin_series_source_trains_saves_and_predicts(cli_env, write_plugin, tmp_path, capsys):
    write_plugin("act_dev", ACT_PLUGIN)
    project = tmp_path / "wave.json"
    assert cli.main(["train", "--source", "act>wave", "--cell", "act>cell", "--epochs", "1", "--quiet",
                     "--save", str(project)]) == 0
    capsys.readouterr()
    assert cli.main(["predict", "--project", str(project), "--steps", "3"]) == 0
    table = capsys.readouterr().out.split("\n")
    assert table[0].split() == ["time", "value"] and len([ln for ln in table[1:] if ln.strip()]) == 3
    # ...and backtests, against the baselines, like any CSV series
    assert cli.main(["backtest", "--project", str(project), "--folds", "2", "--horizon", "2",
                     "--retrain", "never", "--stats", "none", "-q"]) == 0
    assert "backtest kept in" in capsys.readouterr().out


def test_2_predict_on_a_source_that_cannot_forecast_says_why(cli_env, write_plugin, tmp_path, capsys):
    write_plugin("bad", BAD_SOURCES)
    project = tmp_path / "plain.json"
    assert cli.main(["train", "--source", "bad>plain", "--epochs", "1", "--quiet", "--save", str(project)]) == 0
    capsys.readouterr()
    assert cli.main(["predict", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "cannot forecast beyond its data" in err and "series_source" in err and "Traceback" not in err


def test_2_every_registered_series_source_can_forecast(make_manager, write_plugin, monkeypatch):
    """predict relies on forecast(): every series source must give data that has it."""
    from seqstudio.testing import check_source

    monkeypatch.syspath_prepend(str(REPO / "plugins" / "seqstudio-example-plugin"))
    import seqstudio_example

    pm = _pm(make_manager, write_plugin, "act_dev", ACT_PLUGIN)
    pm.add_plugin(seqstudio_example, "example")
    pm.load()
    series = [k for k, s in pm.registry.sources.items() if s.kind == "series" and not k.startswith("builtins>")]
    assert sorted(series) == ["act>wave", "example>sine_mixture"]
    for key in series:
        assert check_source(pm.registry.sources[key]) == [], key


# -- 3 and 4. the guide: quoted keys; cell options, --source, --data-option, supported API ------
def test_3_keys_with_a_gt_sign_are_quoted_in_every_shell_command():
    from .test_docs_commands import shell_blocks

    for block in shell_blocks(GUIDE.read_text(encoding="utf-8")):
        for line in block.splitlines():
            assert ">" not in re.sub(r"'[^']*'|\"[^\"]*\"", "", line), line


def test_4_the_guide_says_how_users_set_options_and_what_is_supported_api():
    text = GUIDE.read_text(encoding="utf-8")
    assert "cell_options={" in text and "--cell " in text
    assert "--source " in text and "--data-option " in text
    assert "seqstudio.pluginapi" in text and "internal and may change" in text


# -- 5. declared cell-option defaults reach the cell in real use ------------------------------
def test_5_declared_defaults_reach_the_factory_in_real_use(make_manager, write_plugin):
    from seqstudio.core.model.spec import ModelSpec

    pm = _pm(make_manager, write_plugin, "act_dev", ACT_PLUGIN)
    cell = pm.registry.cell("act>cell")
    assert cell.disabled_reason is None
    spec = ModelSpec.from_dict({"layers": [{"type": "RNN", "units": 3, "cell": "act>cell"},
                                           {"type": "Dense", "units": 1}]}, pm.registry)
    model = spec.build((5, 1), registry=pm.registry)  # cell_options {}: the defaults are filled in
    step = model.layers[0].steps[0] if hasattr(model, "layers") else next(
        m for m in model.modules() if type(m).__name__ == "Step")
    assert step.act is torch.tanh and step.scale == 1.0
    relu = ModelSpec.from_dict({"layers": [{"type": "RNN", "units": 3, "cell": "act>cell",
                                            "cell_options": {"activation": "relu"}}]}, pm.registry)
    built = next(m for m in relu.build((5, 1), registry=pm.registry).modules() if type(m).__name__ == "Step")
    assert built.act is torch.relu and built.scale == 1.0


# -- 6. declared options are enforced everywhere ---------------------------------------------
@pytest.mark.parametrize("options, words", [
    ({"activaton": "relu"}, "cell 'act>cell': cell_options key 'activaton' is unknown; did you mean 'activation'?"),
    ({"activation": "gelu"}, "must be one of 'tanh', 'relu'"),
    ({"scale": 3.0}, "must be at most 2"),
    ({"scale": "big"}, "must be a number"),
])
def test_6_cell_options_are_checked_with_the_stack(make_manager, write_plugin, options, words):
    from seqstudio.core.model.spec import ModelSpec

    pm = _pm(make_manager, write_plugin, "act_dev", ACT_PLUGIN)
    spec = ModelSpec.from_dict({"layers": [{"type": "RNN", "units": 3, "cell": "act>cell",
                                            "cell_options": options}, {"type": "Dense", "units": 1}]},
                               pm.registry)
    data = pm.registry.source("act>wave").load({})
    with pytest.raises(ModelSpecError, match=re.escape(words)) as info:
        spec.check_data(data, registry=pm.registry)
    assert info.value.layer_index == 0


def test_6_source_options_are_checked_for_every_caller(make_manager, write_plugin):
    pm = _pm(make_manager, write_plugin, "act_dev", ACT_PLUGIN)
    source = pm.registry.source("act>wave")
    with pytest.raises(DataError, match="did you mean 'length'"):
        source.load({"lenght": 80})
    with pytest.raises(DataError, match="must be at least 40"):
        source.load({"length": 10})
    with pytest.raises(DataError, match="must be a whole number"):
        source.load({"length": "eighty"})


def test_6_a_misspelt_data_option_on_the_command_line_is_refused(cli_env, write_plugin, capsys):
    write_plugin("act_dev", ACT_PLUGIN)
    assert cli.main(["summary", "--source", "act>wave", "--data-option", "lenght=4"]) == 2
    err = capsys.readouterr().err
    assert "--data-option lenght is unknown; did you mean 'length'?" in err
    assert cli.main(["summary", "--source", "act>wave", "--data-option", "length=4"]) == 2
    assert "set --data-option length=VALUE to a whole number >= 40" in capsys.readouterr().err
    assert cli.main(["summary", "--source", "act>wave", "--data-option", "length=60"]) == 0


# -- 7. exceptions from plugin code, at any stage --------------------------------------------
@pytest.mark.parametrize("key, words", [
    ("bad>dict", "load() returned dict, expected a PreparedData"),
    ("bad>keyerror", "KeyError: 'nope'"),
    ("bad>exits", "SystemExit(3)"),
])
def test_7_a_failing_source_is_named_not_a_traceback(make_manager, write_plugin, key, words):
    pm = _pm(make_manager, write_plugin, "bad", BAD_SOURCES)
    with pytest.raises(PluginCodeError) as info:
        pm.registry.source(key).load({})
    err = info.value
    assert err.plugin == "bad" and f"data source {key!r}" in err.what and words in err.what
    assert "seqstudio plugins disable bad" in err.fix


def test_7_a_cell_constructor_failing_is_named_with_a_logged_traceback(make_manager, write_plugin,
                                                                        config_dir, monkeypatch):
    from seqstudio.core.model.spec import ModelSpec

    monkeypatch.setenv("SEQSTUDIO_LOG_DIR", str(config_dir / "logs"))
    pm = _pm(make_manager, write_plugin, "bad", BAD_SOURCES)
    spec = ModelSpec.from_dict({"layers": [{"type": "RNN", "units": 2, "cell": "bad>needs",
                                            "cell_options": {"explode": True}}]}, pm.registry)
    with pytest.raises(SeqStudioError) as info:  # the stack check names the layer, too
        spec.build((4, 1), registry=pm.registry)
    text = str(info.value)
    assert text.startswith("plugin 'bad' failed in cell 'bad>needs' while building the model: "
                           "KeyError: 'missing_setting'")
    log = Path(re.search(r"full traceback: (\S+)", text).group(1))
    assert log.is_file() and "Traceback" in log.read_text() and "raise KeyError" in log.read_text()


def test_7_a_cell_failing_mid_training_exits_2_names_it_and_keeps_the_saved_weights(
        cli_env, write_plugin, tmp_path, capsys, monkeypatch):
    from seqstudio.core.project import Project

    write_plugin("act_dev", ACT_PLUGIN)
    project = tmp_path / "p.json"
    assert cli.main(["train", "--source", "act>wave", "--cell", "act>cell", "--epochs", "1", "--quiet",
                     "--save", str(project)]) == 0
    before = Project.load(project)
    capsys.readouterr()
    monkeypatch.setenv("ACT_FAIL_IN_TRAINING", "1")
    code = cli.main(["train", "--project", str(project), "--epochs", "1", "--quiet", "--save", str(project)])
    err = capsys.readouterr().err
    assert code == 2
    assert "plugin 'act' failed in cell 'act>cell' while training" in err
    assert "ValueError: exploded on purpose" in err and "Traceback" not in err
    log = re.search(r"full traceback: (\S+)", err).group(1)
    assert "exploded on purpose" in Path(log).read_text()
    after = Project.load(project)
    for name, tensor in before.weights.items():
        assert torch.equal(after.weights[name], tensor)
    assert after.results == before.results


# -- 8. one identity for folder and installed plugins ----------------------------------------
def test_8_the_declared_name_is_the_same_from_a_folder_and_from_an_entry_point(make_manager, write_plugin,
                                                                                monkeypatch, tmp_path):
    import importlib.util

    folder = _pm(make_manager, write_plugin, "act_dev", ACT_PLUGIN)  # found as its file name
    info = next(i for i in folder.plugins() if i.found_as == "act_dev")
    assert info.name == "act" and "act>cell" in folder.registry.cells
    # the same module installed under the entry-point name "act-plugin"
    spec = importlib.util.spec_from_file_location("act_installed", Path(write_plugin("unused", "")).parent
                                                  / "act_dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    installed = make_manager(plugin_paths=[])
    installed.add_plugin(module, "act-plugin", distribution="seqstudio-act")
    installed.load()
    assert "act>cell" in installed.registry.cells and installed.plugin("act").found_as == "act-plugin"
    assert installed.plugin("seqstudio-act").name == "act"


# -- 9. statuses named as they are -------------------------------------------------------------
def test_9_disabled_broken_and_missing_are_named_with_their_fix(make_manager, write_plugin, config_dir):
    from seqstudio.core.project import Project

    write_plugin("act_dev", ACT_PLUGIN)
    write_plugin("broke", "raise ImportError('needs libfoo')\n")
    pm = make_manager()
    pm.set_enabled("act", False)
    with pytest.raises(PluginError) as disabled:
        pm.registry.cell("act>cell")
    assert "which is disabled" in disabled.value.what and "seqstudio plugins enable act" in disabled.value.fix
    assert "install" not in disabled.value.fix
    with pytest.raises(PluginError) as broken:
        pm.registry.source("broke>x")
    assert "which is broken: ImportError: needs libfoo" in broken.value.what
    project = Project.from_preset("airline-lstm")
    project.source = "ghost>series"
    project.plugins = {"ghost": "seqstudio-ghost-tools"}
    with pytest.raises(PluginError) as missing:
        project.prepare_data(pm.registry)
    assert "seqstudio plugins install seqstudio-ghost-tools" in missing.value.fix


def test_9_plugins_list_shows_how_to_enable_a_disabled_plugin(cli_env, write_plugin, capsys):
    write_plugin("act_dev", ACT_PLUGIN)
    assert cli.main(["plugins", "disable", "act"]) == 0
    capsys.readouterr()
    assert cli.main(["plugins", "list"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("act "))
    assert row.rstrip().endswith("disabled (enable: seqstudio plugins enable act)")


# -- 10. reporting: usable items, pure JSON with per-item status, cell options ------------------
TWO_BAD_CELLS = '''
print("loading twobad: this line must not reach stdout")
import torch
from torch import nn
from seqstudio.pluginapi import CellType, hookimpl

class NoGrad(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.w = nn.Linear(i, h)        # declared but never used: no gradient reaches it
        self.v = nn.Parameter(torch.ones(1))
        self.hidden = h
    def forward(self, x_t, state):
        h = torch.tanh(x_t.mean(1, keepdim=True).expand(-1, self.hidden) * self.v + state[0])
        return h, (h,)

@hookimpl
def seqstudio_cells():
    return [CellType(name="a", description="no gradient", step_factory=NoGrad),
            CellType(name="b", description="no gradient", step_factory=NoGrad)]
'''


def test_10_install_summary_counts_only_usable_items(make_manager, write_plugin):
    from seqstudio.pluginapi.commands import install_summary

    pm = _pm(make_manager, write_plugin, "twobad", TWO_BAD_CELLS)
    text = install_summary(pm.plugin("twobad"))
    assert "is active" not in text
    assert "none of its 2 items can be used: 2 cells (2 disabled)" in text
    assert "twobad>a is disabled: parameter 'w.weight' receives no gradient" in text


def test_10_list_json_is_pure_json_with_per_item_status(cli_env, write_plugin, capsys):
    write_plugin("twobad", TWO_BAD_CELLS)
    write_plugin("act_dev", ACT_PLUGIN)
    assert cli.main(["plugins", "list", "--json"]) == 0
    captured = capsys.readouterr()
    rows = {r["name"]: r for r in json.loads(captured.out)}    # nothing printed before the JSON
    assert "this line must not reach stdout" in captured.err
    assert [(i["key"], i["status"]) for i in rows["twobad"]["items"]] == [
        ("twobad>a", "disabled"), ("twobad>b", "disabled")]
    assert all("no gradient" in i["reason"] for i in rows["twobad"]["items"])
    assert {i["key"]: i["status"] for i in rows["act"]["items"]} == {"act>wave": "active",
                                                                     "act>cell": "active"}


def test_10_layers_list_shows_each_cells_options(cli_env, write_plugin, capsys):
    write_plugin("act_dev", ACT_PLUGIN)
    assert cli.main(["layers", "list"]) == 0
    out = capsys.readouterr().out
    assert "cell_options 'activation': choice, default 'tanh', one of 'tanh', 'relu'" in out
    assert "cell_options 'scale': float, default 1.0" in out


# -- issue 11, point 10: sys.exit and slow imports in plugin code -------------------------------
def test_sys_exit_at_import_or_in_a_hook_only_breaks_that_plugin(cli_env, write_plugin, capsys):
    write_plugin("argparser", "import sys\nsys.exit('usage: argparser [-h]')\n")
    write_plugin("hookexit", "import sys\nfrom seqstudio.pluginapi import hookimpl\n"
                             "@hookimpl\ndef seqstudio_cells():\n    sys.exit(2)\n")
    write_plugin("act_dev", ACT_PLUGIN)
    assert cli.main(["plugins", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["argparser"]["status"] == "broken" and "SystemExit" in rows["argparser"]["error"]
    assert rows["hookexit"]["status"] == "broken" and "SystemExit(2)" in rows["hookexit"]["error"]
    assert rows["act"]["status"] == "active"
    assert cli.main(["plugins", "disable", "argparser"]) == 0
    assert cli.main(["plugins", "enable", "argparser"]) == 0


def test_a_user_interrupt_from_a_plugins_import_is_not_swallowed(make_manager, write_plugin):
    write_plugin("ctrlc", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        make_manager()


def test_a_slow_plugin_is_skipped_once_over_budget_and_not_imported_again(make_manager, write_plugin,
                                                                          tmp_path, monkeypatch):
    import threading

    release = threading.Event()
    marker = tmp_path / "imports.txt"
    monkeypatch.setattr("builtins._seqstudio_test_release", release, raising=False)
    write_plugin("sleepy", textwrap.dedent(f"""
        import builtins
        with open({str(marker)!r}, "a") as fh:
            fh.write("imported\\n")
        builtins._seqstudio_test_release.wait(30)   # an import that takes as long as the test says
    """))
    write_plugin("act_dev", ACT_PLUGIN)
    monkeypatch.setenv("SEQSTUDIO_PLUGIN_LOAD_BUDGET", "0.5")
    pm = make_manager()
    release.set()
    sleepy = pm.plugin("sleepy")
    assert sleepy.status == "broken" and "took longer than 0.5 s to load" in sleepy.error
    assert pm.plugin("act").status == "active"                 # the others are not held up
    again = make_manager()                                     # the next command
    assert "skipped: it took more than 0.5 s to load last time" in again.plugin("sleepy").error
    assert marker.read_text().count("imported") == 1           # ...without importing it again
    again.set_enabled("sleepy", True)                          # enable tries it again
    assert again.plugin("sleepy").status == "active"


def test_any_uncaught_failure_in_plugin_code_is_named_by_the_cli(cli_env, write_plugin, capsys, monkeypatch):
    """A failure outside the guarded calls (here: in the plugin's to_original) still names the plugin."""
    write_plugin("act_dev", ACT_PLUGIN)
    from seqstudio.pluginapi.manager import attribute_to_plugin, default_manager

    default_manager()
    module = next(m for n, m in __import__("sys").modules.items() if n.endswith("act_dev"))
    try:
        module.frame({"length": "not a number"})
    except TypeError as exc:
        err = attribute_to_plugin(exc)
    assert isinstance(err, SeqStudioError) and err.plugin == "act" and "TypeError" in err.what
