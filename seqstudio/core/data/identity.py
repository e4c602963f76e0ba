"""What data a run was trained on, in a few JSON-able words: source, file, target, hash.

Runs are compared by their losses and metrics, which only mean something
side by side when the runs saw the same data. :func:`data_identity` names it:
the data source, the file name(s), the target (series columns or a text
label column) and a short content hash of the files (or of the options when
there is no file, such as a download), so that a file edited between two
runs tells them apart although its name is the same. :func:`data_key` is the
one string to group and filter runs by; it falls back to what an older run
record has (its source and options) when the record carries no identity.

>>> ident = data_identity("csv-series", {"path": "embedded:airline-passengers.csv",
...                                      "target": ["Passengers"]})
>>> ident["file"], ident["target"], len(ident["hash"])
('airline-passengers.csv', 'Passengers', 12)
>>> data_label(ident)
'airline-passengers.csv → Passengers'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["data_identity", "data_key", "data_label", "file_digest", "run_data_label"]

#: Option names that hold a data file (or folder), in the order they are named.
_PATH_OPTIONS = ("path", "test_path")
#: Option names that hold what is predicted.
_TARGET_OPTIONS = ("target", "label_col")
_EMBEDDED = "embedded:"

#: (path, size, mtime_ns) -> digest: a file is read once however many runs use it
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str | None:
    """BLAKE2b of a file's bytes (hex, 12 digits), or None when it cannot be read.

    A folder (a source reading many files) is summarised by its file names,
    sizes and modification times instead of every byte.
    """
    p = Path(path)
    try:
        stat = p.stat()
        key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in _DIGESTS:
            return _DIGESTS[key]
        h = hashlib.blake2b(digest_size=6)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.is_file():
                    s = child.stat()
                    h.update(f"{child.relative_to(p)}\0{s.st_size}\0{s.st_mtime_ns}\n".encode())
        else:
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        _DIGESTS[key] = h.hexdigest()
        return _DIGESTS[key]
    except OSError:
        return None


def _embedded_digest(name: str) -> str | None:
    try:
        from seqstudio.resources import path as resource_path

        return file_digest(resource_path(name))
    except Exception:  # noqa: BLE001 - a missing resource only weakens the hash
        return None


def _target_text(options: Mapping[str, Any], target: Any) -> str:
    if target is None:
        for name in _TARGET_OPTIONS:
            if options.get(name):
                target = options[name]
                break
    if isinstance(target, list | tuple):
        return ", ".join(str(t) for t in target)
    return "" if target is None else str(target)


def data_identity(source: str, options: Mapping[str, Any], *, target: Any = None) -> dict[str, Any]:
    """``{"source", "file", "target", "hash"}`` of the data a run trains on.

    ``target`` overrides the target read from the options (pass the columns
    the core resolved when the option was left empty). ``hash`` covers the
    contents of every file named in the options plus the options themselves
    (another look-back on the same file is other data to the model).
    """
    files, digests = [], []
    for name in _PATH_OPTIONS:
        value = options.get(name)
        if not value or not isinstance(value, str):
            continue
        if value.startswith(_EMBEDDED):
            files.append(value[len(_EMBEDDED):])
            digests.append(_embedded_digest(value[len(_EMBEDDED):]) or value)
        else:
            files.append(Path(value).name or value)
            digests.append(file_digest(value) or f"unreadable:{value}")
    h = hashlib.blake2b(digest_size=6)
    # "builtins>csv-series" (the window) and "csv-series" (a preset, the CLI) are one source
    h.update(source.rsplit(">", 1)[-1].encode())
    # the files count by their contents, not by where they are: a moved project is the same data
    rest = {k: v for k, v in options.items() if k not in _PATH_OPTIONS}
    h.update(json.dumps(rest, sort_keys=True, default=str).encode())
    for d in digests:
        h.update(d.encode())
    return {"source": source, "file": " + ".join(files), "target": _target_text(options, target),
            "hash": h.hexdigest()}


def data_label(identity: Mapping[str, Any]) -> str:
    """A short name for people: ``"shampoo-sales.csv → Sales"`` (the source when there is no file)."""
    what = identity.get("file") or identity.get("source") or "?"
    target = identity.get("target")
    return f"{what} → {target}" if target else str(what)


def data_key(run: Mapping[str, Any]) -> str:
    """The string runs are grouped by: the same key means the same data.

    Uses the run's ``data`` identity when it has one, else its source and
    options (an older record), so older runs still group among themselves.

    >>> data_key({"data": {"hash": "abc", "file": "a.csv"}})
    'abc'
    """
    identity = run.get("data")
    if isinstance(identity, Mapping) and identity.get("hash"):
        return str(identity["hash"])
    return json.dumps([run.get("source"), run.get("data_options") or {}], sort_keys=True, default=str)


def run_data_label(run: Mapping[str, Any]) -> str:
    """:func:`data_label` of a run record, from its identity or (older records) its options."""
    identity = run.get("data")
    if isinstance(identity, Mapping):
        return data_label(identity)
    options = run.get("data_options") or {}
    return data_label(data_identity_without_files(str(run.get("source") or ""), options))


def data_identity_without_files(source: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The names of :func:`data_identity` without reading any file (for display only)."""
    files = [str(options[n]).removeprefix(_EMBEDDED).replace("\\", "/").rsplit("/", 1)[-1]
             for n in _PATH_OPTIONS if isinstance(options.get(n), str) and options.get(n)]
    return {"source": source, "file": " + ".join(files), "target": _target_text(options, None)}
