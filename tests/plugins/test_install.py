"""Installing plugins: argument checks (fast) and the docs/plugins.md walk-through (slow).

The walk-through never touches the shared environment: it installs into a
throw-away venv that sees this environment's packages through a ``.pth`` line,
so ``sys.executable -m pip`` inside it installs there and nowhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from seqstudio.core.errors import PluginError
from seqstudio.pluginapi.install import (
    InstallResult,
    finish_install,
    pip_command,
    snapshot_distributions,
)

from .conftest import EXAMPLE_PROJECT


# -- fast: what pip is asked to do --------------------------------------------------------
def test_pip_command_for_a_name_a_folder_and_a_wheel(tmp_path):
    assert pip_command("seqstudio-example-plugin") == [
        sys.executable, "-m", "pip", "install", "--no-input", "seqstudio-example-plugin"]
    assert pip_command(str(EXAMPLE_PROJECT))[-1] == str(EXAMPLE_PROJECT.resolve())
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert pip_command(str(wheel), build_isolation=False)[-2:] == ["--no-build-isolation", str(wheel)]


@pytest.mark.parametrize("source, match", [
    ("--index-url=http://evil", "looks like a pip option"),
    ("missing/plugin-1.0-py3-none-any.whl", "no such file"),
    ("", "nothing to install"),
])
def test_pip_command_refuses_bad_sources(source, match):
    with pytest.raises(PluginError, match=match):
        pip_command(source)


def test_pip_command_refuses_a_folder_that_is_not_a_project(tmp_path):
    with pytest.raises(PluginError, match="not a Python project"):
        pip_command(str(tmp_path))


def test_finish_install_reports_a_failure_without_changes():
    before = snapshot_distributions()
    result = finish_install(before, ["pip"], 1, "Collecting x\nERROR: No matching distribution found for x\n",
                            on_output=lambda line: None)
    assert isinstance(result, InstallResult) and not result.ok
    assert result.message == "pip failed (exit status 1): ERROR: No matching distribution found for x"
    assert not (result.added or result.removed or result.changed)


# -- slow: the walk-through of docs/plugins.md --------------------------------------------
def _run(cmd, env, cwd=None, ok=True):
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def scratch_env(tmp_path):
    """(python, env): a fresh venv layered over this one, with its own config dir."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   os.environ).stdout.strip()
    # addsitedir (not a bare path) so the parent's own .pth files, e.g. the editable seqstudio, apply.
    Path(purelib, "_parent_env.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", encoding="utf-8")
    env = dict(os.environ, SEQSTUDIO_CONFIG_DIR=str(tmp_path / "config"), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("SEQSTUDIO_PLUGIN_PATH", None)
    env.pop("SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD", None)
    return str(python), env


def _build_wheel(project: Path, tmp_path: Path) -> Path:
    # Build from a copy so the source tree gets no build/ or egg-info folders.
    copy = tmp_path / "build-src" / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
          str(copy)], os.environ)
    return next((tmp_path / "dist").glob("*.whl"))


def _plugins(python, env) -> dict[str, dict]:
    out = _run([python, "-m", "seqstudio.cli", "plugins", "list", "--json"], env).stdout
    return {p["name"]: p for p in json.loads(out)}


@pytest.mark.slow
def test_walkthrough_build_install_list_train_uninstall(scratch_env, tmp_path, data_dir):
    python, env = scratch_env
    wheel = _build_wheel(EXAMPLE_PROJECT, tmp_path)
    assert "example" not in _plugins(python, env)

    out = _run([python, "-m", "seqstudio.cli", "plugins", "install", str(wheel)], env).stdout
    assert "Successfully installed seqstudio-example-plugin-0.1.0" in out  # pip's output is shown
    assert "plugin 'example' 0.1.0 is active: 2 cells, 1 data source" in out

    example = _plugins(python, env)["example"]
    assert (example["status"], example["source"], example["distribution"]) == (
        "active", "entry point", "seqstudio-example-plugin")
    assert example["cells"] == ["example>lecture_lstm", "example>indrnn"]
    table = _run([python, "-m", "seqstudio.cli", "plugins", "list"], env).stdout
    assert "seqstudio-example-plugin" in table

    train = _run([python, "-m", "seqstudio.cli", "train", "--csv", str(data_dir / "airline-passengers.csv"),
                  "--cell", "example>lecture_lstm", "--epochs", "1", "--quiet"], env)
    assert "rmse" in train.stdout

    _run([python, "-m", "seqstudio.cli", "plugins", "disable", "example"], env)
    assert _plugins(python, env)["example"]["status"] == "disabled"
    refused = _run([python, "-m", "seqstudio.cli", "train", "--csv", str(data_dir / "airline-passengers.csv"),
                    "--cell", "example>lecture_lstm", "--epochs", "1", "--quiet"], env, ok=False)
    assert refused.returncode == 2 and "example" in refused.stderr
    _run([python, "-m", "seqstudio.cli", "plugins", "enable", "example"], env)

    out = _run([python, "-m", "seqstudio.cli", "plugins", "uninstall", "example"], env).stdout
    assert "uninstalled seqstudio-example-plugin (plugin example)" in out
    assert "example" not in _plugins(python, env)
    # the shared environment never saw it
    from importlib import metadata
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("seqstudio-example-plugin")


@pytest.mark.slow
def test_failed_and_non_plugin_installs_leave_the_environment_as_it_was(scratch_env, tmp_path):
    python, env = scratch_env
    snapshot = [python, "-c", "import json; from seqstudio.pluginapi.install import snapshot_distributions as s;"
                              " print(json.dumps(s()))"]
    before = json.loads(_run(snapshot, env).stdout)

    broken = tmp_path / "broken-plugin"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        """))
    (broken / "setup.py").write_text("raise SystemExit('this plugin cannot be built')\n")
    failed = _run([python, "-m", "seqstudio.cli", "plugins", "install", "--no-build-isolation", str(broken)],
                  env, ok=False)
    assert failed.returncode == 2
    assert "installing" in failed.stderr and "failed" in failed.stderr and "Traceback" not in failed.stderr

    plain = tmp_path / "not-a-plugin"
    (plain / "notaplugin").mkdir(parents=True)
    (plain / "notaplugin" / "__init__.py").write_text("")
    (plain / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "notaplugin"
        version = "1.0"
        """))
    refused = _run([python, "-m", "seqstudio.cli", "plugins", "install", str(_build_wheel(plain, tmp_path))],
                   env, ok=False)
    assert refused.returncode == 2 and "not a seqstudio plugin" in refused.stderr
    assert json.loads(_run(snapshot, env).stdout) == before


@pytest.mark.slow
def test_an_installed_plugin_loads_without_restarting(scratch_env, tmp_path):
    python, env = scratch_env
    wheel = _build_wheel(EXAMPLE_PROJECT, tmp_path)
    script = textwrap.dedent(f"""
        import json
        from seqstudio.pluginapi.install import install
        from seqstudio.pluginapi.manager import PluginManager
        pm = PluginManager()
        pm.load()
        before = [p.name for p in pm.plugins()]
        result = install({str(wheel)!r}, on_output=lambda line: None)
        pm.reload()  # the same process: no restart
        print(json.dumps({{"before": before, "ok": result.ok, "plugins": result.plugins,
                          "restart": result.restart_needed, "status": pm.plugin("example").status,
                          "cells": sorted(pm.registry.cells)}}))
        """)
    got = json.loads(_run([python, "-c", script], env).stdout.strip().splitlines()[-1])
    assert got["before"] == ["builtins"]
    assert (got["ok"], got["plugins"], got["restart"], got["status"]) == (True, ["example"], False, "active")
    assert {"example>lecture_lstm", "example>indrnn"} <= set(got["cells"])


def _project(folder: Path, name: str, dependencies: list[str]) -> Path:
    package = name.replace("-", "_")
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name}"
        version = "1.0"
        dependencies = {json.dumps(dependencies)}
        [project.entry-points."seqstudio.plugins"]
        {package} = "{package}"
        """))
    return folder


@pytest.mark.slow
def test_a_plugin_needing_another_numpy_is_refused_by_name_and_nothing_changes(scratch_env, tmp_path):
    from importlib import metadata

    python, env = scratch_env
    snapshot = [python, "-c", "import json; from seqstudio.pluginapi.install import snapshot_distributions as s;"
                              " print(json.dumps(s()))"]
    before = json.loads(_run(snapshot, env).stdout)
    plugin = _project(tmp_path / "cplug", "cplug", ["numpy<1"])
    refused = _run([python, "-m", "seqstudio.cli", "plugins", "install", "--no-build-isolation", str(plugin)],
                   env, ok=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "refused: the plugin needs a version of numpy other than the one seqstudio runs with " \
           f"(numpy {metadata.version('numpy')})" in refused.stderr
    assert "cplug 1.0 depends on numpy<1" in refused.stderr
    assert "--dry-run" in refused.stdout and "Successfully installed" not in refused.stdout
    assert json.loads(_run(snapshot, env).stdout) == before


@pytest.mark.slow
def test_reinstalling_a_changed_folder_says_that_its_files_changed(scratch_env, tmp_path):
    python, env = scratch_env
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    install = [python, "-m", "seqstudio.cli", "plugins", "install", "--no-build-isolation", str(folder)]
    first = _run(install, env).stdout
    assert "would install: seqstudio-example-plugin 0.1.0 (new)" in first
    assert "plugin 'example' 0.1.0 is active: 2 cells, 1 data source" in first
    with open(folder / "seqstudio_example" / "cells.py", "a", encoding="utf-8") as fh:
        fh.write("\n# changed while developing it\n")
    again = _run(install, env).stdout
    assert "reinstalled seqstudio-example-plugin 0.1.0: its files changed" in again
    assert "nothing changed" not in again


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "refused"])
def test_pip_s_log_is_shown_once_the_dry_run_s_only_when_it_refuses(monkeypatch, tmp_path, accepted):
    from seqstudio.pluginapi import install as inst

    def fake_dry_run(source, *, on_output, build_isolation):
        for line in ("$ pip install --dry-run x", "Collecting x", "Would install x-1.0"):
            on_output(line)
        return inst.DryRun(ok=accepted, message="would install: x 1.0 (new)" if accepted else "refused: no")

    def fake_run(cmd, on_output):
        for line in ("$ pip install x", "Collecting x", "Successfully installed x-1.0"):
            on_output(line)
        return 0, "Successfully installed x-1.0\n"

    monkeypatch.setattr(inst, "dry_run", fake_dry_run)
    monkeypatch.setattr(inst, "_run", fake_run)
    monkeypatch.setattr(inst, "snapshot_distributions", dict)
    monkeypatch.setattr(inst, "finish_install", lambda *a, **k: inst.InstallResult(
        ok=True, command=a[1], returncode=0, output=a[3], message="installed plugin x"))
    shown: list[str] = []
    inst.install("x", on_output=shown.append)
    if accepted:
        assert shown == ["$ pip install --dry-run x", "would install: x 1.0 (new)",
                         "$ pip install x", "Collecting x", "Successfully installed x-1.0"]
    else:
        assert shown == ["$ pip install --dry-run x", "Collecting x", "Would install x-1.0", "refused: no"]
