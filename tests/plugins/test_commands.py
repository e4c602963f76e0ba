"""`seqstudio plugins ...` commands, driven in-process with a manager handed in."""

from __future__ import annotations

import argparse
import json

import pytest

from seqstudio.core.errors import PluginError
from seqstudio.pluginapi.commands import add_plugin_commands
from seqstudio.pluginapi.manager import reset_default_manager

from .conftest import GOOD_PLUGIN


@pytest.fixture
def run(make_manager, write_plugin):
    """run(*argv) -> (exit code, printed text) against a fresh manager with a good and a broken plugin."""
    write_plugin("good", GOOD_PLUGIN)
    write_plugin("broken", "raise RuntimeError('cannot find libfoo.so')\n")
    manager = make_manager()
    parser = argparse.ArgumentParser(prog="seqstudio")
    add_plugin_commands(parser.add_subparsers(dest="command"))

    def run(*argv):
        printed: list[str] = []
        args = parser.parse_args(["plugins", *argv])
        args.plugin_manager, args.print = manager, printed.append
        return args.func(args), "\n".join(printed)

    return run


def test_list_table_shows_every_plugin_and_the_reason(run):
    code, text = run("list")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "SOURCE", "PROVIDES", "STATUS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["builtins"].split()[:4] == ["builtins", "0.1.0", "seqstudio", "builtin"]
    assert rows["good"].rstrip().endswith("active") and "1 cell, 1 data source" in rows["good"]
    assert rows["broken"].rstrip().endswith("broken: RuntimeError: cannot find libfoo.so")
    assert "Traceback" not in text


def test_list_verbose_shows_the_traceback(run):
    _, text = run("list", "-v")
    assert "broken: traceback:" in text and "RuntimeError: cannot find libfoo.so" in text


def test_list_json_for_scripts(run):
    _, text = run("list", "--json")
    rows = {p["name"]: p for p in json.loads(text)}
    assert rows["good"]["status"] == "active" and rows["good"]["cells"] == ["good>tiny"]
    assert rows["broken"]["status"] == "broken" and "Traceback" in rows["broken"]["traceback"]
    assert set(rows["good"]) >= {"name", "version", "distribution", "source", "status", "error", "traceback"}


def test_disable_and_enable(run):
    assert run("disable", "good") == (0, "plugin 'good' is now disabled (enable: seqstudio plugins enable good)")
    row = next(line for line in run("list")[1].splitlines() if line.startswith("good "))
    assert row.rstrip().endswith("disabled (enable: seqstudio plugins enable good)")
    assert run("enable", "good") == (0, "plugin 'good' is now active")


def test_unknown_plugin_is_a_user_error(run):
    with pytest.raises(PluginError, match="no plugin named 'nope'"):
        run("disable", "nope")


def test_uninstalling_seqstudio_itself_is_refused(run):
    with pytest.raises(PluginError, match="part of seqstudio"):
        run("uninstall", "builtins")


def test_the_seqstudio_cli_has_the_plugin_commands(config_dir, capsys):
    cli = pytest.importorskip("seqstudio.cli")
    reset_default_manager()
    try:
        assert cli.main(["plugins", "list", "--json"]) == 0
        assert [p["name"] for p in json.loads(capsys.readouterr().out)] == ["builtins"]
        assert cli.main(["plugins", "disable", "builtins"]) == 2  # a user error, not a traceback
        assert "cannot be disabled" in capsys.readouterr().err
    finally:
        reset_default_manager()
