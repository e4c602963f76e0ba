"""Install and uninstall community plugins with pip, in the environment seqstudio runs in.

Installing is always an explicit user act (``seqstudio plugins install`` or
the plugin dialog); nothing here runs on start-up or when a project opens.
pip runs in a subprocess (``sys.executable -m pip``) with its output streamed
to ``on_output``. When pip fails, what it added is removed again and the
result says why.

The window runs the same :func:`pip_command` through a ``QProcess`` and then
calls :func:`finish_install` with the snapshot it took before.

>>> pip_command("seqstudio-example-plugin")[1:4]
['-m', 'pip', 'install']
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from seqstudio.core.errors import PluginError

from .hookspecs import ENTRY_POINT_GROUP

#: Distributions that must never be uninstalled through the plugin commands.
PROTECTED = frozenset({"seqstudio", "pip", "setuptools", "torch", "pluggy"})
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass
class InstallResult:
    """What an install or uninstall did.

    ``added`` / ``removed`` map distribution -> version; ``changed`` maps
    distribution -> (old version, new version). ``plugins`` are the
    ``seqstudio.plugins`` entry-point names the added or changed distributions
    provide. ``restart_needed`` is True when a changed plugin was already
    imported in this process.
    """

    ok: bool
    command: list[str]
    returncode: int
    output: str = ""
    message: str = ""
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    restart_needed: bool = False


def snapshot_distributions() -> dict[str, str]:
    """Canonical distribution name -> version of everything importable right now."""
    importlib.invalidate_caches()
    snap: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            snap.setdefault(_canonical(name), dist.version)
    return snap


def _looks_like_path(source: str) -> bool:
    return (os.sep in source or "/" in source or source.startswith(".")
            or source.lower().endswith(_ARCHIVE_SUFFIXES))


def pip_command(source: str, *, build_isolation: bool = True) -> list[str]:
    """The pip command installing ``source``: a wheel, an sdist, a project folder or a package name.

    Raises :class:`PluginError` for a path that does not exist or a source that
    looks like a pip option.
    """
    source = str(source).strip()
    if not source:
        raise PluginError("nothing to install", fix="give a wheel, an sdist, a project folder or a package name")
    if source.startswith("-"):
        raise PluginError(f"{source!r} looks like a pip option, not a plugin",
                          fix="give a wheel, an sdist, a project folder or a package name")
    if _looks_like_path(source) or Path(source).exists():
        path = Path(source).expanduser()
        if not path.exists():
            raise PluginError(f"no such file or folder: {source}",
                              fix="check the path, or give a package name to install from the index")
        if path.is_dir() and not any((path / f).is_file() for f in ("pyproject.toml", "setup.py")):
            raise PluginError(f"{source} is a folder but not a Python project",
                              where=str(path), fix="point at the folder holding pyproject.toml")
        source = str(path.resolve())
    cmd = [sys.executable, "-m", "pip", "install", "--no-input", source]
    if not build_isolation:
        cmd.insert(-1, "--no-build-isolation")
    return cmd


def pip_uninstall_command(distribution: str) -> list[str]:
    """The pip command removing ``distribution`` without asking."""
    return [sys.executable, "-m", "pip", "uninstall", "--yes", distribution]


def _run(cmd: list[str], on_output: Callable[[str], None]) -> tuple[int, str]:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1")
    lines: list[str] = []
    on_output("$ " + " ".join(cmd))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            on_output(line.rstrip("\n"))
        rc = proc.wait()
    return rc, "".join(lines)


def plugins_of(distributions: set[str]) -> dict[str, str]:
    """entry-point name -> distribution for the given (canonical) distributions."""
    importlib.invalidate_caches()
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and _canonical(dist.metadata["Name"]) in distributions:
            found[ep.name] = dist.metadata["Name"]
    return found


def _entry_point_modules(distributions: set[str]) -> set[str]:
    mods = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and _canonical(dist.metadata["Name"]) in distributions:
            mods.add(ep.module.split(".")[0])
    return mods


def _diff(before: dict[str, str], after: dict[str, str]):
    added = {k: v for k, v in after.items() if k not in before}
    removed = {k: v for k, v in before.items() if k not in after}
    changed = {k: (before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]}
    return added, removed, changed


def finish_install(before: dict[str, str], command: list[str], returncode: int, output: str, *,
                   on_output: Callable[[str], None] = print) -> InstallResult:
    """Judge a finished pip install: roll back what a failed one added, name the new plugins."""
    after = snapshot_distributions()
    added, removed, changed = _diff(before, after)
    result = InstallResult(ok=returncode == 0, command=command, returncode=returncode, output=output,
                           added=added, removed=removed, changed=changed)
    if returncode != 0:
        if added:  # pip failed part-way: take back what it put in
            for dist in sorted(added):
                _run(pip_uninstall_command(dist), on_output)
        rest = [f"{k} {a} -> {b}" for k, (a, b) in sorted(changed.items())]
        last = [ln for ln in output.strip().splitlines() if ln.strip()]
        result.message = (f"pip failed (exit status {returncode})"
                          + (f": {last[-1].strip()}" if last else "")
                          + ("; rolled back: " + ", ".join(sorted(added)) if added else "")
                          + ("; pip had already changed " + ", ".join(rest)
                             + " (reinstall the old versions if needed)" if rest else ""))
        return result
    touched = set(added) | set(changed)
    result.plugins = sorted(plugins_of(touched))
    result.restart_needed = any(m in sys.modules for m in _entry_point_modules(set(changed)))
    if not touched:
        result.message = "nothing changed: it is already installed"
    elif not result.plugins:
        result.ok = False
        for dist in sorted(added):
            _run(pip_uninstall_command(dist), on_output)
        result.message = (f"{', '.join(sorted(touched))} declares no entry point in the group "
                          f"{ENTRY_POINT_GROUP!r}, so it is not a seqstudio plugin"
                          + ("; removed it again" if added else ""))
    else:
        result.message = f"installed plugin {', '.join(result.plugins)}"
        if result.restart_needed:
            result.message += "; restart seqstudio to use the new version"
    return result


def install(source: str, *, on_output: Callable[[str], None] = print,
            build_isolation: bool = True) -> InstallResult:
    """Install a plugin from a wheel, an sdist, a project folder or a package name.

    Returns an :class:`InstallResult`; ``ok`` is False (and the environment
    restored as far as pip allows) when pip fails or the distribution is not a
    seqstudio plugin. Raises :class:`PluginError` only for a bad ``source``.
    """
    cmd = pip_command(source, build_isolation=build_isolation)
    before = snapshot_distributions()
    rc, output = _run(cmd, on_output)
    return finish_install(before, cmd, rc, output, on_output=on_output)


def distribution_for(name: str) -> str:
    """The installed distribution providing plugin ``name`` (or named ``name``)."""
    importlib.invalidate_caches()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and name in (ep.name, dist.metadata["Name"]):
            return dist.metadata["Name"]
    try:
        return metadata.distribution(name).metadata["Name"]
    except metadata.PackageNotFoundError:
        raise PluginError(f"no installed plugin or distribution named {name!r}",
                          fix="see `seqstudio plugins list` for the installed plugins") from None


def uninstall(name: str, *, on_output: Callable[[str], None] = print) -> InstallResult:
    """Uninstall the distribution providing plugin ``name`` (a plugin or distribution name).

    Refuses seqstudio itself and the packages it needs.
    """
    dist = distribution_for(name)
    if _canonical(dist) in PROTECTED:
        raise PluginError(f"{dist!r} is part of seqstudio and cannot be uninstalled as a plugin",
                          fix="uninstall community plugins only")
    plugins = sorted(plugins_of({_canonical(dist)}))
    cmd = pip_uninstall_command(dist)
    before = snapshot_distributions()
    rc, output = _run(cmd, on_output)
    _, removed, _ = _diff(before, snapshot_distributions())
    result = InstallResult(ok=rc == 0, command=cmd, returncode=rc, output=output,
                           removed=removed, plugins=plugins)
    result.message = (f"uninstalled {dist} (plugin {', '.join(plugins) or 'none'})" if rc == 0
                      else f"pip uninstall failed (exit status {rc})")
    return result
