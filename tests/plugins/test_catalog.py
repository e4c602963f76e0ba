"""The plugin catalog: conformance verdicts kept per plugin version and files, and the
listings of ``datasets list`` / ``layers list`` answered without importing plugins or torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from seqstudio.pluginapi import catalog

from .conftest import GOOD_PLUGIN

#: A cell whose step returns no state: it fails the conformance check.
BROKEN_CELL = GOOD_PLUGIN.replace("return h, (h,)", "return h, ()")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(catalog.CACHE_DIR_ENV, str(d))
    return d


@pytest.fixture
def counted_checks(monkeypatch):
    """Count the real conformance checks (the cache answers the others)."""
    from seqstudio.core.model import cells
    from seqstudio.pluginapi import manager

    calls: list[str] = []
    real = cells.conformance_check

    def check(cell, **kw):
        calls.append(cell.name)
        return real(cell, **kw)

    monkeypatch.setattr(cells, "conformance_check", check)
    monkeypatch.setattr(manager, "_conformance_verdicts", {})  # the in-process memo off
    return calls


def test_verdicts_are_reused_until_the_plugin_changes(cache, counted_checks, make_manager,
                                                      write_plugin, monkeypatch):
    from seqstudio.pluginapi import manager

    write_plugin("demo", BROKEN_CELL)
    first = make_manager().registry.cells["demo>tiny"]
    assert first.disabled_reason and "state" in first.disabled_reason
    assert "tiny" in counted_checks
    counted_checks.clear()
    monkeypatch.setattr(manager, "_conformance_verdicts", {})

    again = make_manager().registry.cells["demo>tiny"]
    assert again.disabled_reason == first.disabled_reason
    assert counted_checks == []  # every verdict came from the cache

    write_plugin("demo", GOOD_PLUGIN)  # the author fixed the cell: checked again
    monkeypatch.setattr(manager, "_conformance_verdicts", {})
    fixed = make_manager().registry.cells["demo>tiny"]
    assert fixed.disabled_reason is None
    assert counted_checks == ["tiny"]


def test_a_corrupt_cache_is_ignored_and_rewritten(cache, make_manager, write_plugin):
    write_plugin("demo", BROKEN_CELL)
    cache.mkdir(parents=True)
    (cache / catalog.CACHE_FILE).write_text("{not json", encoding="utf-8")
    assert make_manager().registry.cells["demo>tiny"].disabled_reason
    assert catalog._read()["verdicts"]["demo"]["cells"]["tiny"]


def test_listing_is_remembered_and_follows_a_changed_plugin(cache, make_manager, write_plugin):
    write_plugin("demo", GOOD_PLUGIN)
    first = catalog.listing(make_manager())
    assert not first["cached"]
    assert "demo>tiny" in [c["key"] for c in first["cells"]]
    assert "demo>nothing" in [s["key"] for s in first["sources"]]
    assert {"name": "LSTM", "fields": ["units", "return_sequences", "bidirectional", "dropout",
                                       "recurrent_dropout"]} in first["layers"]

    again = catalog.listing(make_manager())
    assert again["cached"]
    assert {k: v for k, v in again.items() if k != "cached"} == \
        {k: v for k, v in first.items() if k != "cached"}

    write_plugin("demo", GOOD_PLUGIN.replace('name="tiny"', 'name="tinier"'))
    changed = catalog.listing(make_manager())
    assert not changed["cached"]
    assert "demo>tinier" in [c["key"] for c in changed["cells"]]


def test_a_new_or_disabled_plugin_is_a_change(cache, make_manager, write_plugin):
    catalog.listing(make_manager())
    write_plugin("other", GOOD_PLUGIN)
    added = catalog.listing(make_manager())
    assert not added["cached"] and "other>tiny" in [c["key"] for c in added["cells"]]
    pm = make_manager()
    pm.set_enabled("other", False)
    disabled = catalog.listing(make_manager())
    assert not disabled["cached"] and "other>tiny" not in [c["key"] for c in disabled["cells"]]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import sys
        from seqstudio.cli import main
        try:
            code = main({args!r})
        except SystemExit as exc:  # --help, --version
            code = exc.code
        print("TORCH-IMPORTED" if "torch" in sys.modules else "NO-TORCH")
        sys.exit(code)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["presets", "list"],
                                  ["datasets", "list"], ["layers", "list"]])
def test_commands_that_need_no_model_answer_without_torch(args, tmp_path):
    env = {**os.environ, "SEQSTUDIO_CONFIG_DIR": str(tmp_path / "config"),
           catalog.CACHE_DIR_ENV: str(tmp_path / "cache")}
    env.pop("SEQSTUDIO_PLUGIN_PATH", None)
    if args[0] in ("datasets", "layers"):
        warm = _cli(args, env)  # the first listing loads the plugins (checks their cells) and remembers them
        assert warm.returncode == 0, warm.stderr
    done = _cli(args, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("NO-TORCH"), done.stdout[-300:]
    if args[0] in ("datasets", "layers"):
        def listing(out: str) -> str:
            return out.replace("TORCH-IMPORTED", "").replace("NO-TORCH", "")

        assert listing(warm.stdout) == listing(done.stdout)
        assert "builtins>" in done.stdout


def test_a_first_start_with_only_the_built_ins_needs_no_torch(tmp_path):
    """The built-in cells are not run through the plugin conformance check (seqstudio's own tests
    check them against PyTorch's modules), so a cold cache does not import torch for them."""
    env = {**os.environ, "SEQSTUDIO_CONFIG_DIR": str(tmp_path / "config"),
           catalog.CACHE_DIR_ENV: str(tmp_path / "cache"), "SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("SEQSTUDIO_PLUGIN_PATH", None)
    cold = _cli(["layers", "list"], env)
    assert cold.returncode == 0, cold.stderr
    assert "builtins>" in cold.stdout and cold.stdout.rstrip().endswith("NO-TORCH"), cold.stdout[-300:]
