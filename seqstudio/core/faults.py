"""Plugin code failing: contained, named, and logged.

Plugins are other people's code. Whatever a plugin's function does when
seqstudio calls it (raise ``KeyError``, call ``sys.exit``, return the wrong
type), the caller gets a :class:`PluginCodeError`: a user error naming the
plugin, the item (``cell 'my>my_lstm'``), the stage (``building the model``)
and the exception, with the full traceback written to a log file whose path
the message gives. A user's Ctrl-C (``KeyboardInterrupt``) is never swallowed,
and a :class:`~seqstudio.core.errors.SeqStudioError` a plugin raises on purpose
(``DataError("...", fix=...)``) reaches the user unchanged: it is already a
message for them.

>>> def load(options):
...     return options["lenght"]
>>> try:
...     call_plugin(load, {}, plugin="demo", item="data source 'demo>wave'", stage="loading data",
...                 log=False)
... except PluginCodeError as exc:
...     print(exc.what)
plugin 'demo' failed in data source 'demo>wave' while loading data: KeyError: 'lenght'
"""

from __future__ import annotations

import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from seqstudio.core.errors import SeqStudioError

T = TypeVar("T")

LOG_DIR_ENV = "SEQSTUDIO_LOG_DIR"


class PluginCodeError(SeqStudioError):
    """A plugin's own code failed; ``plugin``, ``item``, ``stage``, ``exception`` and the
    ``traceback`` text say which and how, ``log_path`` where the traceback was written."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 plugin: str = "", item: str = "", stage: str = "", exception: str = "",
                 traceback_text: str = "", log_path: str | None = None):
        self.plugin, self.item, self.stage = plugin, item, stage
        self.exception, self.traceback_text, self.log_path = exception, traceback_text, log_path
        super().__init__(what, where=where, fix=fix)


def log_dir() -> Path:
    """Where tracebacks of failed plugin code go: ``$SEQSTUDIO_LOG_DIR``, else ``logs`` in
    ``$SEQSTUDIO_CONFIG_DIR``, else the platform's user log folder for seqstudio."""
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return Path(env)
    config = os.environ.get("SEQSTUDIO_CONFIG_DIR")
    if config:
        return Path(config) / "logs"
    import platformdirs

    return platformdirs.user_log_path("seqstudio", appauthor=False)


def write_log(text: str, *, prefix: str = "plugin-error") -> str | None:
    """Write ``text`` to a new file in :func:`log_dir`; its path, or None when it cannot be written."""
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            path = folder / f"{prefix}-{stamp}-{os.getpid()}{'' if n == 0 else f'-{n}'}.log"
            try:
                with open(path, "x", encoding="utf-8") as fh:
                    fh.write(text)
                return str(path)
            except FileExistsError:
                continue
    except OSError:
        return None
    return None


def one_line(exc: BaseException) -> str:
    """``"KeyError: 'activation'"``: the exception's type and the first line of its message."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, _Described):
        return text[0] if text else "an error"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the plugin tried to end the program"
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def plugin_code_error(exc: BaseException, *, plugin: str, item: str, stage: str,
                      tb: TracebackType | str | None = None, log: bool = True) -> PluginCodeError:
    """The :class:`PluginCodeError` for ``exc`` raised by ``plugin``'s code (logged unless ``log=False``)."""
    if isinstance(tb, str):
        text = tb
    else:
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    header = f"plugin {plugin!r} failed in {item} while {stage}\n\n"
    path = write_log(header + text) if log else None
    if plugin == "builtins":
        fix = "this is a fault in seqstudio itself: please report it with the log file"
    else:
        fix = ("this is a fault in the plugin, not in your data or settings: report it to the "
               f"plugin's author, update the plugin, or disable it (seqstudio plugins disable {plugin})")
    if path:
        fix += f"\n  full traceback: {path}"
    return PluginCodeError(f"plugin {plugin!r} failed in {item} while {stage}: {one_line(exc)}",
                           fix=fix, plugin=plugin, item=item, stage=stage, exception=one_line(exc),
                           traceback_text=text, log_path=path)


def call_plugin(func: Callable[..., T], *args: Any, plugin: str, item: str, stage: str,
                log: bool = True, **kwargs: Any) -> T:
    """Call a plugin's ``func``; any failure but a deliberate user message becomes a
    :class:`PluginCodeError` (``SystemExit`` included, Ctrl-C passed on)."""
    try:
        return func(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except SeqStudioError:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from plugin code must not end the app
        raise plugin_code_error(exc, plugin=plugin, item=item, stage=stage, log=log) from None


_FRAME_FILE = re.compile(r'^  File "(.+?)", line \d+', re.MULTILINE)


def frame_files(tb: TracebackType | str | None) -> list[str]:
    """The source files of a traceback's frames, outermost first (from the object or its text)."""
    if isinstance(tb, str):
        return _FRAME_FILE.findall(tb)
    files = []
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return files


def plugin_of_traceback(tb: TracebackType | str | None, roots: Mapping[str, str]) -> str | None:
    """The plugin whose code is the deepest frame of ``tb`` (a traceback or its text), if any.

    ``roots`` maps a plugin's package folder or module file to the plugin's name.
    """
    found = None
    ordered = sorted(roots.items(), key=lambda kv: -len(kv[0]))
    for filename in frame_files(tb):
        for root, plugin in ordered:
            if filename == root or filename.startswith(root.rstrip(os.sep) + os.sep):
                found = plugin
                break
    return found


def attribute(exc: BaseException | None, roots: Mapping[str, str], *,
              tb_text: str | None = None, item: Callable[[str], str] | None = None,
              stage: str = "running") -> PluginCodeError | None:
    """A :class:`PluginCodeError` for a failure whose traceback runs through a plugin's files.

    Give the exception (its traceback is used), or ``tb_text`` (a traceback as text, e.g. from
    a training run) with ``exc=None``. ``item(plugin)`` names the item for the message.
    """
    if isinstance(exc, SeqStudioError | KeyboardInterrupt):
        return None
    plugin = plugin_of_traceback(tb_text if tb_text is not None else exc.__traceback__ if exc else None,
                                 roots)
    if plugin is None:
        return None
    what = item(plugin) if item else "its code"
    if exc is None:
        lines = [ln for ln in (tb_text or "").strip().splitlines() if ln.strip()]
        return plugin_code_error(_Described(lines[-1] if lines else "an error"), plugin=plugin, item=what,
                                 stage=stage, tb=tb_text or "")
    return plugin_code_error(exc, plugin=plugin, item=what, stage=stage)


class _Described(Exception):
    """Stands for an exception known only by its traceback text (``"KeyError: 'x'"``)."""

    def __str__(self) -> str:
        return str(self.args[0])


def current_exception_text() -> str:
    """The traceback being handled, as text (for events that carry it across threads)."""
    return "".join(traceback.format_exception(*sys.exc_info()))
