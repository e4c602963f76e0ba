"""Reading a project file safely: size and nesting limits, strict JSON, and a JSON Schema.

A project file may come from anywhere (a download, a colleague, a damaged
disk), so nothing in it is used before the whole document has passed
:data:`PROJECT_SCHEMA` (checked with the ``jsonschema`` library). Every
problem becomes a :class:`~seqstudio.core.errors.ProjectError` naming the
JSON path of the bad value, what was expected, and the fix.

>>> import json, tempfile, pathlib
>>> bad = pathlib.Path(tempfile.mkdtemp()) / "p.json"
>>> _ = bad.write_text(json.dumps({"format": "seqstudio-project", "schema_version": 1,
...     "name": "x", "source": "csv-series", "data_options": {}, "model": {"layers": []},
...     "train": {}, "results": {"epochs_total": "ten"}}))
>>> try:
...     read_project_document(bad)
... except Exception as exc:
...     print(exc.what)
the project file has a bad value at results.epochs_total: 'ten' is not of type 'integer'
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from seqstudio.core.errors import ProjectError

FORMAT = "seqstudio-project"
#: 2 added the optional ``sweep`` block (search space and sweep settings); version-1 files
#: are migrated on read (:func:`migrate_document`).
SCHEMA_VERSION = 2
#: Larger project files are refused before they are read (run histories stay far below this).
MAX_PROJECT_BYTES = 64 * 1024 ** 2
#: Deepest nesting of lists and objects a project file may have.
MAX_DEPTH = 40
#: Longest string anywhere in a project (texts are stored as files, not in the JSON).
MAX_STRING = 100_000

_NAME = {"type": "string", "minLength": 0, "maxLength": 500}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10 ** 9}
_ANY_OBJECT = {"type": "object"}
_LAYER = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 200},
        "units": {"type": "integer", "minimum": 1, "maximum": 10 ** 7},
    },
}
_MODEL = {
    "type": "object",
    "properties": {"layers": {"type": "array", "maxItems": 1000, "items": _LAYER}},
}
_TRAIN = {
    "type": "object",
    "properties": {
        "epochs": {"type": "integer", "minimum": 1, "maximum": 10 ** 7},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 10 ** 9},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2 ** 63 - 1},
        "threads": {"type": ["integer", "null"], "minimum": 1, "maximum": 4096},
        "optimizer": {"type": "string"},
        "loss": {"type": "string"},
        "device": {"type": "string"},
    },
}
_RESULTS = {
    "type": "object",
    "properties": {
        "epochs_total": _COUNT,
        "epochs_run": _COUNT,
        "splits": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "history": {"type": "array"},
    },
}
_RUN = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "number": {"type": ["integer", "null"], "minimum": 0},
        "name": {"type": ["string", "null"]},
        "source": {"type": "string"},
        "data_options": _ANY_OBJECT,
        "model": _MODEL,
        "train": _TRAIN,
        "history": {"type": "array", "items": {"type": "object"}},
        "metrics": {"type": ["object", "null"]},
        "start_epoch": _COUNT,
        "epochs_run": _COUNT,
        "has_weights": {"type": "boolean"},
    },
}
_WEIGHTS = {
    "type": ["object", "null"],
    "properties": {
        # a plain file name beside the project: a project never points elsewhere
        "file": {"type": "string", "pattern": r"^[^/\\:\x00]{1,200}\.safetensors$",
                 "not": {"enum": [".safetensors"]}},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "model": {"type": "boolean"},
        "runs": {"type": "array", "items": {"type": "string"}},
        "optimizer": {"type": "boolean"},
    },
}
_SWEEP_PARAM = {
    "type": "object",
    "required": ["name", "kind"],
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "kind": {"enum": ["int", "float", "choice", "bool"]},
        "low": {"type": "number"},
        "high": {"type": "number"},
        "log": {"type": "boolean"},
        "step": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "choices": {"type": "array", "maxItems": 1000,
                    "items": {"type": ["string", "number", "boolean", "null"]}},
    },
}
_SWEEP = {
    "type": ["object", "null"],
    "properties": {
        "version": {"type": "integer", "minimum": 0},
        "space": {"type": "array", "maxItems": 100, "items": _SWEEP_PARAM},
        "objective": {"type": "string", "maxLength": 200},
        "direction": {"enum": ["minimize", "maximize", None]},
        "sampler": {"type": "string"},
        "pruner": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "trials": {"type": "integer", "minimum": 1, "maximum": 10 ** 6},
        "study": {"type": "string", "maxLength": 500},
        "storage": {"type": "string", "maxLength": 2000},
    },
}
_DATA_FILE = {
    "type": "object",
    "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": _COUNT},
}

#: The JSON Schema (draft 2020-12) every project file must pass before it is used.
PROJECT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "seqstudio project",
    "type": "object",
    "required": ["format", "schema_version", "name", "source", "data_options", "model", "train"],
    "properties": {
        "format": {"const": FORMAT},
        "schema_version": {"type": "integer", "minimum": 1},
        "seqstudio_version": {"type": ["string", "null"]},
        "saved_at": {"type": ["string", "null"]},
        "name": _NAME,
        "source": {"type": "string", "minLength": 1, "maxLength": 200},
        "data_options": {
            "type": "object",
            "properties": {
                "path": {"type": ["string", "array", "null"], "items": {"type": "string"},
                         "maxItems": 1000},
                "test_path": {"type": ["string", "null"]},
                "url": {"type": ["string", "null"]},
            },
        },
        "model": _MODEL,
        "train": _TRAIN,
        "fitted": {"type": ["object", "null"]},
        "results": {"type": ["object", "null"], **{k: v for k, v in _RESULTS.items() if k != "type"}},
        "runs": {"type": ["array", "null"], "maxItems": 100_000, "items": _RUN},
        "plugins": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "data_files": {"type": ["object", "null"], "additionalProperties": _DATA_FILE},
        "weights": _WEIGHTS,
        "sweep": _SWEEP,
    },
}


def _where(error) -> str:
    parts: list[str] = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "the top level"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _check_shape(doc: Any, where: Path) -> None:
    """Depth and string-length limits, walked without recursion."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ProjectError(f"the project file is nested more than {MAX_DEPTH} levels deep",
                                   where=str(where), fix="open the .json file that seqstudio saved")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and len(key) > MAX_STRING:
                    raise ProjectError("the project file holds an overlong key", where=str(where),
                                       fix="open the .json file that seqstudio saved")
                stack.append((item, depth + 1))
        elif isinstance(value, str) and len(value) > MAX_STRING:
            raise ProjectError(f"the project file holds a text longer than {MAX_STRING} characters",
                               where=str(where), fix="open the .json file that seqstudio saved")


def read_project_document(path: Path) -> dict[str, Any]:
    """The validated JSON document of the project file at ``path`` (raises ProjectError)."""
    where = str(path)
    if not path.is_file():
        if path.exists():
            raise ProjectError(f"{path.name!r} is not a regular file", where=where,
                               fix="open the .json file that seqstudio saved")
        raise ProjectError(f"project file {path.name!r} does not exist", where=where,
                           fix="check the path, or create one with `seqstudio train ... --save FILE`")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PROJECT_BYTES + 1)
    except OSError as exc:
        raise ProjectError(f"cannot read the project file: {exc.strerror or exc}", where=where,
                           fix="check the file's permissions") from None
    if len(raw) > MAX_PROJECT_BYTES:
        raise ProjectError(f"the project file is larger than {MAX_PROJECT_BYTES // 1024 ** 2} MiB",
                           where=where, fix="open the .json file that seqstudio saved")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError("the project file is not UTF-8 text (damaged, or not a project)",
                           where=where, fix="open the .json file that seqstudio saved") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ProjectError(f"the project file is damaged: {exc.msg}",
                           where=f"{where}, line {exc.lineno}, column {exc.colno}",
                           fix="restore it from a backup or the autosave, or re-save the project") from None
    except ValueError as exc:
        raise ProjectError(f"the project file is damaged: {exc}", where=where,
                           fix="restore it from a backup or the autosave, or re-save the project") from None
    except RecursionError:
        raise ProjectError("the project file is nested too deeply to be a project", where=where,
                           fix="open the .json file that seqstudio saved") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProjectError("this file is not a seqstudio project", where=where,
                           fix="open the .json file that seqstudio saved")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProjectError("the project has no valid schema_version", where=where,
                           fix="re-save the project with seqstudio")
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"the project was saved by a newer seqstudio (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION})", where=where, fix="upgrade seqstudio to open it")
    _check_shape(doc, path)
    _validate(doc, path)
    return migrate_document(doc)


def migrate_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A validated document of any earlier schema version in the current form.

    1 -> 2: no sweep settings yet (``sweep`` is None).
    """
    if doc.get("schema_version", 1) < 2:
        doc.setdefault("sweep", None)
        doc["schema_version"] = 2
    return doc


def _validate(doc: dict[str, Any], path: Path) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(PROJECT_SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if not errors:
        return
    first = errors[0]
    message = first.message
    if len(message) > 200:
        message = message[:200] + "..."
    if first.validator == "required" and not first.absolute_path:
        what = f"the project file is incomplete: {message}"
    else:
        what = f"the project file has a bad value at {_where(first)}: {message}"
    more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    raise ProjectError(what + more, where=str(path),
                       fix="correct that value in the .json file, or re-save the project with seqstudio")
