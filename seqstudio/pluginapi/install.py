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
#: Distributions a plugin install may never change: pip runs with a constraints file pinning
#: each one that is installed at the version running now (napari #5279: a plugin install that
#: upgraded Qt or numpy broke the whole application).
PINNED = ("seqstudio", "torch", "PySide6", "PySide6-Essentials", "PySide6-Addons", "shiboken6",
          "numpy", "pandas")
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


def running_pins() -> dict[str, str]:
    """Name -> version of every :data:`PINNED` distribution installed here."""
    importlib.invalidate_caches()
    pins = {}
    for name in PINNED:
        try:
            pins[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return pins


def constraints_file() -> Path:
    """A pip constraints file pinning :func:`running_pins` (rewritten on every call)."""
    from .settings import config_dir

    folder = config_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        folder = Path(tempfile.gettempdir())
    path = folder / "plugin-install-constraints.txt"
    lines = ["# written by seqstudio before each plugin install: a plugin may not change these"]
    lines += [f"{name}=={version}" for name, version in running_pins().items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pip_command(source: str, *, build_isolation: bool = True, constraints: Path | str | None = None,
                dry_run_report: Path | str | None = None) -> list[str]:
    """The pip command installing ``source``: a wheel, an sdist, a project folder or a package name.

    ``constraints`` (a file from :func:`constraints_file`) keeps seqstudio, torch, Qt, numpy
    and pandas at their running versions; ``dry_run_report`` makes it a dry run writing pip's
    JSON installation report there. Raises :class:`PluginError` for a path that does not exist
    or a source that looks like a pip option.
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
    if constraints is not None:
        cmd[-1:-1] = ["--constraint", str(constraints)]
    if dry_run_report is not None:
        cmd[-1:-1] = ["--dry-run", "--report", str(dry_run_report)]
    return cmd


@dataclass
class DryRun:
    """What a plugin install would do, from ``pip install --dry-run --report``.

    ``changes`` are lines such as ``"numpy 2.1.0 -> 1.26.4"`` or ``"tqdm 4.66.0 (new)"``;
    ``conflicts`` name what the plugin needs that the studio cannot give it.
    """

    ok: bool
    message: str
    changes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _conflict_lines(output: str) -> list[str]:
    lines = output.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if "The conflict is caused by" in line:
            for follow in lines[i + 1:]:
                if not follow.strip():
                    break
                out.append(follow.strip())
            break
    if not out:
        out = [ln.strip() for ln in lines if ln.strip().startswith("ERROR:")][:3]
    return out


def judge_dry_run(report: Path | str, returncode: int, output: str,
                  running: dict[str, str] | None = None) -> DryRun:
    """Read a dry run: refuse an install that would change a pinned package or cannot resolve
    without changing one, naming the conflict; otherwise list what it would add or change."""
    import json

    running = running if running is not None else running_pins()
    pinned = {_canonical(n): (n, v) for n, v in running.items()}
    if returncode != 0:
        conflicts = _conflict_lines(output)
        touches = [f"{name} {version}" for key, (name, version) in sorted(pinned.items())
                   if any(key in _canonical(c) or name.lower() in c.lower() for c in conflicts)]
        why = "; ".join(conflicts) or f"pip's dry run failed (exit status {returncode})"
        message = f"refused: {why}"
        if touches:
            message = (f"refused: the plugin needs a version of {', '.join(t.split()[0] for t in touches)} other "
                       f"than the one seqstudio runs with ({', '.join(touches)}): {why}")
        return DryRun(ok=False, message=message, conflicts=conflicts)
    try:
        doc = json.loads(Path(report).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return DryRun(ok=False, message=f"pip's dry-run report cannot be read: {exc}")
    installed = snapshot_distributions()
    changes, conflicts = [], []
    for item in doc.get("install", []):
        meta = item.get("metadata", {})
        name, version = meta.get("name", "?"), meta.get("version", "?")
        key = _canonical(name)
        old = installed.get(key)
        if old == version:
            if key not in pinned:
                changes.append(f"{name} {version} (again)")
            continue
        if key in pinned:
            conflicts.append(f"{pinned[key][0]} {pinned[key][1]} -> {version}")
        changes.append(f"{name} {old} -> {version}" if old else f"{name} {version} (new)")
    if conflicts:
        return DryRun(ok=False, changes=changes, conflicts=conflicts,
                      message="refused: installing it would change what seqstudio runs on: "
                              + ", ".join(conflicts))
    return DryRun(ok=True, changes=changes,
                  message="would install: " + (", ".join(changes) if changes else "nothing new"))


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


def dry_run(source: str, *, on_output: Callable[[str], None] = print,
            build_isolation: bool = True) -> DryRun:
    """Ask pip what installing ``source`` would change, under the running versions' constraints."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="seqstudio-dry-run-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = pip_command(source, build_isolation=build_isolation, constraints=constraints_file(),
                          dry_run_report=report)
        rc, output = _run(cmd, on_output)
        return judge_dry_run(report, rc, output)


def install(source: str, *, on_output: Callable[[str], None] = print,
            build_isolation: bool = True) -> InstallResult:
    """Install a plugin from a wheel, an sdist, a project folder or a package name.

    First a dry run (``pip install --dry-run --report``) shows what would change; a plugin
    that needs another version of seqstudio, torch, Qt, numpy or pandas is refused before
    anything is touched. The install itself runs with the same constraints. Returns an
    :class:`InstallResult`; ``ok`` is False (and the environment restored as far as pip
    allows) when pip fails or the distribution is not a seqstudio plugin. Raises
    :class:`PluginError` only for a bad ``source``.
    """
    pip_command(source)  # a bad source is refused before pip runs at all
    # The dry run's resolution log is the same as the install's that follows: shown in full
    # only when the dry run refuses (its reasons are in it), else its command and verdict.
    dry_log: list[str] = []
    check = dry_run(source, on_output=dry_log.append, build_isolation=build_isolation)
    for line in dry_log if not check.ok else dry_log[:1]:
        on_output(line)
    on_output(check.message)
    if not check.ok:
        return InstallResult(ok=False, command=[], returncode=1, message=check.message)
    cmd = pip_command(source, build_isolation=build_isolation, constraints=constraints_file())
    before = snapshot_distributions()
    name = _distribution_of_path(source) if (_looks_like_path(source) or Path(source).exists()) else None
    digest = record_digest(name) if name else ""
    rc, output = _run(cmd, on_output)
    result = finish_install(before, cmd, rc, output, on_output=on_output)
    if result.ok and name and not (result.added or result.changed) and _canonical(name) in before:
        # The same version again from a folder or file, often changed while developing it:
        # make sure that one distribution is reinstalled (pip skips a wheel it has) and say
        # whether its files changed.
        if record_digest(name) == digest:
            again = cmd[:-1] + ["--force-reinstall", "--no-deps", cmd[-1]]
            rc, output = _run(again, on_output)
            if rc != 0:
                return finish_install(before, again, rc, output, on_output=on_output)
        version = before[_canonical(name)]
        result.plugins = sorted(plugins_of({_canonical(name)}))
        result.restart_needed = any(m in sys.modules for m in _entry_point_modules({_canonical(name)}))
        if record_digest(name) != digest:
            result.changed[_canonical(name)] = (version, version)
            result.message = f"reinstalled {name} {version}: its files changed"
        else:
            result.message = f"reinstalled {name} {version}: the same files as before"
        if result.restart_needed:
            result.message += "; restart seqstudio to use the new code"
    return result


def _distribution_of_path(source: str) -> str | None:
    """The distribution name a wheel, sdist or project folder installs (None if unknown)."""
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            import tomllib

            doc = tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))
            return str(doc["project"]["name"])
        except (OSError, KeyError, ValueError):
            return None
    name = path.name
    if name.endswith(".whl"):
        return name.split("-", 1)[0]
    for suffix in _ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)].rsplit("-", 1)[0]
    return None


def record_digest(name: str) -> str:
    """A digest of an installed distribution's RECORD (its files and their hashes)."""
    import hashlib

    importlib.invalidate_caches()
    try:
        text = metadata.distribution(name).read_text("RECORD") or ""
    except metadata.PackageNotFoundError:
        return ""
    return hashlib.sha256(text.encode()).hexdigest()


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
