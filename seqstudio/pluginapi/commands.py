"""``seqstudio plugins ...``: list, install, uninstall, enable and disable plugins.

The lead's CLI calls :func:`add_plugin_commands` on its subparsers; every
handler is stored as ``func`` and returns an exit code; user errors raise
:class:`~seqstudio.core.errors.PluginError` (the CLI prints it and exits 2).
``python -m seqstudio.pluginapi.commands plugins list`` works on its own.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="seqstudio")
>>> add_plugin_commands(parser.add_subparsers(dest="command"))
>>> parser.parse_args(["plugins", "list", "--json"]).json
True
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from seqstudio.core.errors import PluginError, SeqStudioError

from . import install as _install
from .manager import PluginInfo, PluginManager, default_manager


def _manager(args: argparse.Namespace) -> PluginManager:
    # Tests and embedding code hand in their own manager; the CLI uses the process-wide one.
    manager = getattr(args, "plugin_manager", None) or default_manager()
    manager.ensure_loaded()
    return manager


def _out(args: argparse.Namespace) -> Callable[[str], None]:
    return getattr(args, "print", None) or print


def _status_text(info: PluginInfo) -> str:
    """The status as users read it: what it is, and what to do about it."""
    if info.status == "broken":
        return f"broken: {info.error}"
    if info.status == "disabled":
        return f"disabled (enable: seqstudio plugins enable {info.name})"
    if info.items and info.usable() == 0:
        return "active, but none of its items can be used (see the warnings)"
    if info.warnings:
        return f"active ({len(info.warnings)} warning{'s' if len(info.warnings) > 1 else ''})"
    return "active"


def plugin_record(info: PluginInfo) -> dict[str, Any]:
    """One plugin as `plugins list --json` prints it: every field, plus ``status_text`` and the
    per-item statuses (``items``: kind, key, status, reason)."""
    row = asdict(info)
    row["status_text"] = _status_text(info)
    return row


def format_plugin_table(infos: list[PluginInfo], *, verbose: bool = False) -> str:
    """The plain-text table of ``seqstudio plugins list``."""
    header = ("NAME", "VERSION", "DISTRIBUTION", "SOURCE", "PROVIDES", "STATUS")
    rows = [(i.name, i.version or "-", i.distribution or "-", i.source,
             i.summary() if i.status == "active" else "-", _status_text(i)) for i in infos]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
             for row in [header, *rows]]
    for info in infos:
        for warning in info.warnings:
            lines.append(f"  {info.name}: warning: {warning}")
        if verbose and info.traceback:
            lines.append(f"  {info.name}: traceback:")
            lines.extend("    " + ln for ln in info.traceback.rstrip().splitlines())
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    """Show every plugin with its status; ``--json`` prints a list of objects."""
    infos = _manager(args).plugins()
    if args.json:
        _out(args)(json.dumps([plugin_record(i) for i in infos], indent=2))
    else:
        _out(args)(format_plugin_table(infos, verbose=args.verbose))
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Install SOURCE with pip, then load it without restarting where possible."""
    out = _out(args)
    result = _install.install(args.source, on_output=out,
                              build_isolation=not args.no_build_isolation)
    if not result.ok:
        if result.message.startswith("refused"):
            raise PluginError(f"installing {args.source} was {result.message}",
                              fix="nothing was changed; ask the plugin's author for a version that works "
                                  "with the versions seqstudio runs on (see `seqstudio --version`)")
        raise PluginError(f"installing {args.source} failed: {result.message}",
                          fix="read pip's output above; the environment was left as it was")
    manager = _manager(args)
    manager.reload()
    for name in result.plugins:
        info = next((i for i in manager.plugins() if name in (i.name, i.found_as)), None)
        if info is None:
            out(f"plugin {name!r} installed; restart seqstudio to load it")
        else:
            out(install_summary(info))
    out(result.message)
    return 0


def install_summary(info: PluginInfo) -> str:
    """What an install left usable, item by item counted: never "active" for what cannot be used."""
    label = f"plugin {info.name!r} {info.version}".rstrip()
    if info.status == "broken":
        return f"{label} installed but broken: {info.error}"
    if info.status == "disabled":
        return f"{label} installed but disabled (enable: seqstudio plugins enable {info.name})"
    lines = [f"{label} is active: {info.summary()}"]
    if info.items and info.usable() == 0:
        lines[0] = f"{label} loaded, but none of its {len(info.items)} items can be used: {info.summary()}"
    for item in info.items:
        if item["status"] != "active":
            lines.append(f"  {item['key']} is disabled: {item['reason']}")
    return "\n".join(lines)


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Uninstall the distribution providing plugin NAME."""
    result = _install.uninstall(args.name, on_output=_out(args))
    if not result.ok:
        raise PluginError(f"uninstalling {args.name} failed: {result.message}",
                          fix="read pip's output above")
    _manager(args).reload()  # its entry point is gone, so the registry drops its keys
    _out(args)(result.message)
    return 0


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    manager = _manager(args)
    manager.set_enabled(args.name, enabled)
    info = manager.plugin(args.name)
    _out(args)(f"plugin {info.name!r} is now {_status_text(info)}")
    for item in info.items:
        if item["status"] != "active":
            _out(args)(f"  {item['key']} is disabled: {item['reason']}")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    """Enable plugin NAME (persisted in the settings)."""
    return _set_enabled(args, True)


def cmd_disable(args: argparse.Namespace) -> int:
    """Disable plugin NAME (persisted in the settings)."""
    return _set_enabled(args, False)


def cmd_new(args: argparse.Namespace) -> int:
    """Write a new plugin project that installs with pip and passes its own tests."""
    from .scaffold import new_plugin

    root = new_plugin(args.name, args.dir)
    out = _out(args)
    out(f"created {root}")
    out(f"  cd {root}")
    out("  python -m pytest                  # its own tests pass as generated")
    out("  seqstudio plugins install .       # then: seqstudio plugins list")
    return 0


def add_plugin_commands(subparsers: Any) -> None:
    """Add ``plugins list|install|uninstall|enable|disable`` to an argparse subparsers object."""
    plugins = subparsers.add_parser("plugins", help="list, install, enable or disable plugins",
                                    description="Manage seqstudio plugins.")
    sub = plugins.add_subparsers(dest="plugins_command",
                                 metavar="{list,install,uninstall,enable,disable,new}")
    sub.required = True

    p = sub.add_parser("list", help="show every plugin: version, distribution, origin, status")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("-v", "--verbose", action="store_true", help="show the traceback of failed plugins")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("install", help="install a plugin (wheel, sdist, project folder or package name)")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--no-build-isolation", action="store_true",
                   help="build a folder or sdist with the build tools already installed (offline)")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall", help="uninstall the distribution providing a plugin")
    p.add_argument("name", metavar="NAME", help="plugin or distribution name")
    p.set_defaults(func=cmd_uninstall)

    for verb, func in (("enable", cmd_enable), ("disable", cmd_disable)):
        p = sub.add_parser(verb, help=f"{verb} a plugin (remembered in the settings)")
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=func)

    p = sub.add_parser("new", help="create a new plugin project (a cell, a source, tests)")
    p.add_argument("name", metavar="NAME", help="the plugin name, e.g. mycells (keys become mycells>...)")
    p.add_argument("--dir", default=".", metavar="FOLDER", help="where to create seqstudio-NAME/")
    p.set_defaults(func=cmd_new)


def main(argv: list[str] | None = None) -> int:
    """Run ``plugins ...`` on its own (``python -m seqstudio.pluginapi.commands plugins list``)."""
    parser = argparse.ArgumentParser(prog="seqstudio")
    add_plugin_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SeqStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
