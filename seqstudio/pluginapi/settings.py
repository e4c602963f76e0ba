"""Where seqstudio keeps its per-user plugin settings and drop-in plugins.

The settings are one small JSON file in the platformdirs user config dir
(``SEQSTUDIO_CONFIG_DIR`` overrides the folder, which is how tests keep away
from the real one). Unknown keys are preserved so that other parts of the
app can keep their own sections in the same file.

>>> import tempfile, pathlib
>>> s = PluginSettings(pathlib.Path(tempfile.mkdtemp()) / "settings.json")
>>> s.set_disabled("example", True)
>>> PluginSettings(s.path).disabled_plugins()
{'example'}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

from seqstudio.core.errors import PluginError

CONFIG_DIR_ENV = "SEQSTUDIO_CONFIG_DIR"
PLUGIN_PATH_ENV = "SEQSTUDIO_PLUGIN_PATH"
DISABLE_AUTOLOAD_ENV = "SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD"


def config_dir() -> Path:
    """The per-user config folder: ``$SEQSTUDIO_CONFIG_DIR`` or the platformdirs default."""
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env) if env else platformdirs.user_config_path("seqstudio", appauthor=False)


def user_plugin_dir() -> Path:
    """The drop-in plugin folder of this user (``<config dir>/plugins``); it may not exist."""
    return config_dir() / "plugins"


def plugin_search_path() -> list[Path]:
    """Drop-in plugin folders: the user plugin dir, then each entry of ``$SEQSTUDIO_PLUGIN_PATH``."""
    paths = [user_plugin_dir()]
    for entry in os.environ.get(PLUGIN_PATH_ENV, "").split(os.pathsep):
        if entry.strip():
            paths.append(Path(entry.strip()).expanduser())
    return paths


def autoload_disabled() -> bool:
    """True when ``SEQSTUDIO_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


class PluginSettings:
    """The persisted plugin choices (which plugins the user disabled).

    Parameters
    ----------
    path
        The JSON file; defaults to ``config_dir() / "settings.json"``.
    """

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else config_dir() / "settings.json"
        #: Why the settings file could not be read at the last look (None: it could).
        self.problem: PluginError | None = None

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PluginError(f"the settings file cannot be read: {exc.strerror or exc}",
                              where=str(self.path), fix="check its permissions, or delete it") from None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise PluginError("the settings file is not UTF-8 text", where=str(self.path),
                              fix="fix or delete the file; seqstudio recreates it") from None
        except json.JSONDecodeError as exc:
            raise PluginError(f"the settings file is not valid JSON: {exc.msg}",
                              where=f"{self.path}, line {exc.lineno}",
                              fix="fix or delete the file; seqstudio recreates it") from None
        except RecursionError:
            raise PluginError("the settings file is nested too deeply", where=str(self.path),
                              fix="fix or delete the file; seqstudio recreates it") from None
        return doc if isinstance(doc, dict) else {}

    def _write(self, doc: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a crash never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def disabled_plugins(self) -> set[str]:
        """Names of the plugins the user disabled.

        A damaged settings file disables nothing and does not stop any command:
        the problem is kept in :attr:`problem` for the caller to show.
        """
        self.problem = None
        try:
            section = self._read().get("plugins", {})
        except PluginError as exc:
            self.problem = exc
            return set()
        disabled = section.get("disabled", []) if isinstance(section, dict) else []
        if not isinstance(disabled, list):
            return set()
        return {n for n in disabled if isinstance(n, str)}

    def slow_plugins(self) -> dict[str, float]:
        """Plugins skipped because they took longer than the load budget: name -> budget (s)."""
        try:
            section = self._read().get("plugins", {})
        except PluginError:  # a damaged file skips nothing (disabled_plugins keeps the problem)
            return {}
        slow = section.get("slow", {}) if isinstance(section, dict) else {}
        return {str(k): float(v) for k, v in slow.items()
                if isinstance(v, int | float)} if isinstance(slow, dict) else {}

    def set_slow(self, name: str, seconds: float | None) -> None:
        """Remember that plugin ``name`` exceeded a ``seconds`` budget (None forgets it)."""
        doc = self._read()
        section = doc.get("plugins")
        if not isinstance(section, dict):
            section = {}
        slow = section.get("slow")
        if not isinstance(slow, dict):
            slow = {}
        if seconds is None:
            if name not in slow:
                return
            slow.pop(name, None)
        else:
            slow[name] = float(seconds)
        section["slow"] = slow
        doc["plugins"] = section
        self._write(doc)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Persist that plugin ``name`` is (not) disabled."""
        doc = self._read()
        section = doc.get("plugins")
        if not isinstance(section, dict):
            section = {}
        names = {n for n in section.get("disabled", []) or [] if isinstance(n, str)} \
            if isinstance(section.get("disabled"), list) else set()
        names = names | {name} if disabled else names - {name}
        section["disabled"] = sorted(names)
        doc["plugins"] = section
        self._write(doc)
