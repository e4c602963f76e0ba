"""Declared options and the one place they are checked.

Data sources, cells and the training settings declare their options as a tuple
of :class:`OptionSpec`. :func:`validate_options` is the single check every
interface goes through (the command line, loading a project, the window's
forms and the plugin conformance check): it rejects unknown names (with a
did-you-mean), wrong types, values outside ``choices`` or below ``minimum`` /
above ``maximum``, and missing required values, and it returns every declared
option with the defaults filled in, so a plugin always receives the same
complete mapping wherever it is called from.

>>> specs = (OptionSpec("length", "int", 600, minimum=20),
...          OptionSpec("shape", "choice", "sine", choices=("sine", "square")))
>>> validate_options(specs, {"length": 100}, owner="data source 'demo>wave'")
{'length': 100, 'shape': 'sine'}
>>> validate_options(specs, {"lenght": 100}, owner="data source 'demo>wave'")
Traceback (most recent call last):
  ...
seqstudio.core.options.OptionError: option 'lenght' is unknown; did you mean 'length'? (at data source 'demo>wave')
  fix: use one of: length, shape
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from seqstudio.core.errors import SeqStudioError

OptionType = Literal["str", "int", "float", "bool", "path", "choice", "column", "columns"]
OPTION_TYPES: tuple[OptionType, ...] = get_args(OptionType)

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class OptionSpec:
    """One typed option of a data source, a cell or the training settings.

    Parameters
    ----------
    name : str
        The key in the options mapping (a Python identifier by convention).
    type : {"str", "int", "float", "bool", "path", "choice", "column", "columns"}
        ``"choice"`` takes one of ``choices``; ``"column"`` one column name of the
        data; ``"columns"`` a list of column names (a comma-separated string is split);
        ``"path"`` a file or folder path (given as text).
    default : Any
        The value used when the option is not given. ``None`` also makes ``None``
        an accepted value (see ``nullable``).
    help : str
        One sentence for forms, ``seqstudio layers list`` and ``datasets list``.
    choices : tuple
        The allowed values of a ``"choice"`` option; for ``"column"`` the names offered first.
    required : bool
        The value must be given and not empty (``None``, ``""`` or ``[]``).
    minimum, maximum : float or None
        Bounds of an ``"int"`` or ``"float"`` option (inclusive unless said otherwise).
    nullable : bool
        ``None`` is accepted (it always is when ``default`` is ``None``).
    multiple : bool
        For a ``"path"``: a non-empty list of paths is accepted too.
    min_exclusive, max_exclusive : bool
        The bound itself is not allowed (a learning rate > 0, a momentum < 1).
    """

    name: str
    type: OptionType
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    #: For a ``"path"``: a list of paths is accepted too (a source that reads several files).
    multiple: bool = False
    min_exclusive: bool = False
    max_exclusive: bool = False

    @property
    def accepts_none(self) -> bool:
        return self.nullable or self.default is None or (self.type == "choice" and None in self.choices)


@dataclass(frozen=True)
class OptionProblem:
    """One thing wrong with one option: which, what, and how to fix it."""

    option: str
    what: str
    fix: str


class OptionError(SeqStudioError):
    """Options that do not fit their declaration; ``problems`` lists each one.

    :func:`validate_options` raises the error class its caller asks for (``DataError``
    for a data source, ``ModelSpecError`` for a cell, ...) with ``problems`` set; this
    class is the default.
    """


def _bound(value: float) -> str:
    """A bound as a user types it: 4294967295 rather than 4.29497e+09, 0.001 rather than 0.0010."""
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}"


def _describe(spec: OptionSpec) -> str:
    if spec.type == "choice":
        return "one of " + ", ".join(repr(c) for c in spec.choices)
    kind = {"str": "a text", "int": "a whole number", "float": "a number", "bool": "true or false",
            "path": "a file path" + (" or a list of them" if spec.multiple else ""),
            "column": "a column name",
            "columns": "a list of column names"}[spec.type]
    bounds = []
    if spec.minimum is not None:
        bounds.append(f"{'>' if spec.min_exclusive else '>='} {_bound(spec.minimum)}")
    if spec.maximum is not None:
        bounds.append(f"{'<' if spec.max_exclusive else '<='} {_bound(spec.maximum)}")
    return kind + (" " + " and ".join(bounds) if bounds else "")


def parse_option_text(spec: OptionSpec, text: str) -> Any:
    """Turn a typed-in value (a command-line ``KEY=VALUE``) into the type ``spec`` declares.

    Text that cannot be read is returned unchanged, for :func:`validate_options` to reject
    with its message. ``null`` / ``none`` (or nothing) gives ``None`` where ``None`` is accepted.

    >>> parse_option_text(OptionSpec("n", "int", 1), "4")
    4
    >>> parse_option_text(OptionSpec("flag", "bool", False), "yes")
    True
    >>> parse_option_text(OptionSpec("cols", "columns", []), "a, b")
    ['a', 'b']
    """
    stripped = text.strip()
    if spec.accepts_none and stripped.lower() in ("null", "none", ""):
        return None
    if spec.type in ("str", "path", "column"):
        return text
    if spec.type == "bool":
        low = stripped.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if spec.type == "columns":
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                return text
        return [c.strip() for c in stripped.split(",") if c.strip()]
    if spec.type == "choice":
        for choice in spec.choices:
            if stripped == str(choice) or (isinstance(choice, bool) and stripped.lower() == str(choice).lower()):
                return choice
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    try:  # int / float: a JSON number ("1e-3", "4") or Python's own spelling ("inf" is refused later)
        return int(stripped) if spec.type == "int" else float(stripped)
    except ValueError:
        try:
            return float(stripped) if spec.type == "int" else text
        except ValueError:
            return text


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0)


def _check_value(spec: OptionSpec, value: Any) -> tuple[Any, str | None]:
    """The value converted to the declared type, or the reason it does not fit."""
    if value is None:
        return (None, None) if spec.accepts_none else (None, f"must be {_describe(spec)}, got None")
    t = spec.type
    got = f"got {value!r} ({type(value).__name__})"
    if t == "choice":
        for choice in spec.choices:  # True == 1, but a flag is not a number
            if value == choice and isinstance(value, bool) == isinstance(choice, bool):
                return choice, None
        return value, f"must be {_describe(spec)}, got {value!r}"
    if t in ("str", "column"):
        return (value, None) if isinstance(value, str) else (value, f"must be {_describe(spec)}, {got}")
    if t == "path":
        if isinstance(value, os.PathLike):
            return os.fspath(value), None
        if spec.multiple and isinstance(value, (list, tuple)) and value \
                and all(isinstance(v, (str, os.PathLike)) for v in value):
            return [os.fspath(v) for v in value], None
        return (value, None) if isinstance(value, str) else (value, f"must be {_describe(spec)}, {got}")
    if t == "bool":
        return (value, None) if isinstance(value, bool) else (value, f"must be true or false, {got}")
    if t == "columns":
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()], None
        if isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value):
            return list(value), None
        return value, f"must be {_describe(spec)}, {got}"
    # numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value, f"must be {_describe(spec)}, {got}"
    if not math.isfinite(float(value)):
        return value, f"must be a finite number, got {value!r}"
    if t == "int":
        if not isinstance(value, numbers.Integral):
            if float(value).is_integer():
                value = math.trunc(value)  # int() of an integer-valued Real, typed for mypy
            else:
                return value, f"must be a whole number, got {value!r}"
        value = int(value)
    else:
        value = float(value)
    if spec.minimum is not None and (value <= spec.minimum if spec.min_exclusive
                                      else value < spec.minimum):
        word = "more than" if spec.min_exclusive else "at least"
        return value, f"must be {word} {_bound(spec.minimum)}, got {value!r}"
    if spec.maximum is not None and (value >= spec.maximum if spec.max_exclusive
                                      else value > spec.maximum):
        word = "less than" if spec.max_exclusive else "at most"
        return value, f"must be {word} {_bound(spec.maximum)}, got {value!r}"
    return value, None


def _default_setting(name: str) -> str:
    return f"option {name!r}"


def option_problems(specs: Iterable[OptionSpec], values: Mapping[str, Any], *,
                    partial: bool = False, from_text: bool = False,
                    setting: Callable[[str], str] = _default_setting, noun: str = "option",
                    ) -> tuple[dict[str, Any], list[OptionProblem]]:
    """Like :func:`validate_options` but returns ``(values, problems)`` instead of raising.

    Views use it to mark every faulty field at once; ``values`` holds what could be
    checked (defaults for the rest).
    """
    specs = tuple(specs)
    by_name = {s.name: s for s in specs}
    problems: list[OptionProblem] = []
    if not isinstance(values, Mapping):
        problems.append(OptionProblem("", f"options must be a mapping of names to values, got "
                                          f"{type(values).__name__}", "give the options as NAME=VALUE pairs"))
        values = {}
    names = ", ".join(by_name) or "none (this takes no options)"
    for key in values:
        if key not in by_name:
            close = difflib.get_close_matches(str(key), list(by_name), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            fix = f"use one of: {names}" if by_name else "remove it: this takes no options"
            problems.append(OptionProblem(str(key), f"{noun} {key!r} is unknown{hint}", fix))
    out: dict[str, Any] = {}
    for spec in specs:
        given = spec.name in values
        value = values[spec.name] if given else copy.deepcopy(spec.default)
        if given and from_text and isinstance(value, str):
            value = parse_option_text(spec, value)
        if spec.required and _is_empty(value):
            if not partial:
                problems.append(OptionProblem(spec.name, f"{noun} {spec.name!r} is required",
                                              f"set {setting(spec.name)} ({spec.help or _describe(spec)})"))
            out[spec.name] = value
            continue
        if not given:
            out[spec.name] = value  # a declared default is taken as declared (see spec_problems)
            continue
        checked, reason = _check_value(spec, value)
        if reason is not None:
            problems.append(OptionProblem(spec.name, f"{noun} {spec.name!r} {reason}",
                                          f"set {setting(spec.name)} to {_describe(spec)}"))
            out[spec.name] = copy.deepcopy(spec.default)
        else:
            out[spec.name] = checked
    return out, problems


def validate_options(specs: Iterable[OptionSpec], values: Mapping[str, Any] | None, *, owner: str,
                     error: type[SeqStudioError] = OptionError, partial: bool = False,
                     from_text: bool = False, setting: Callable[[str], str] = _default_setting,
                     noun: str = "option") -> dict[str, Any]:
    """Check ``values`` against ``specs``; return every declared option, defaults filled in.

    Parameters
    ----------
    specs : iterable of OptionSpec
        The declaration (a source's ``options``, a cell's ``parameters``).
    values : mapping or None
        What the user, the project file or the form gave; ``None`` means nothing.
    owner : str
        Who the options belong to, for the message's *where*: ``"data source 'demo>sine'"``.
    error : SeqStudioError subclass
        The class raised (``DataError`` for sources, ``ModelSpecError`` for cells ...).
        The raised error carries ``problems`` (a list of :class:`OptionProblem`).
    partial : bool
        Do not complain about required options that are still empty (a form being filled).
    from_text : bool
        String values were typed in (``--data-option KEY=VALUE``): read them as the
        declared type first (:func:`parse_option_text`).
    setting : callable
        How the showing interface names setting an option, for the fix:
        ``lambda n: f"--data-option {n}=VALUE"`` in the command line.
    noun : str
        What the messages call one value: ``"option 'x' is unknown"`` by default.

    Returns
    -------
    dict
        One entry per declared option, in declaration order, converted to the declared
        type (ints for ``"int"``, floats for ``"float"``, lists for ``"columns"``);
        defaults are deep copies, so callers may change them.

    Raises
    ------
    SeqStudioError
        Of class ``error``; every problem is listed, the first one leads.
    """
    out, problems = option_problems(specs, values or {}, partial=partial, from_text=from_text,
                                    setting=setting, noun=noun)
    if problems:
        what = problems[0].what if len(problems) == 1 else \
            f"{len(problems)} {noun}s are wrong: " + "; ".join(p.what for p in problems)
        fixes = list(dict.fromkeys(p.fix for p in problems))
        exc = error(what, where=owner, fix="; ".join(fixes))
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc
    return out


def spec_problems(specs: Iterable[OptionSpec]) -> list[str]:
    """What is wrong with a declaration itself (for the plugin conformance check).

    Duplicate names, unknown types, a ``"choice"`` without choices, a default that does
    not fit its own declaration.

    >>> spec_problems((OptionSpec("n", "int", 0, minimum=1),))
    ["option 'n': its default 0 does not fit: must be at least 1, got 0"]
    """
    out: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, OptionSpec):
            out.append(f"{spec!r} is not an OptionSpec")
            continue
        if spec.name in seen:
            out.append(f"option {spec.name!r} is declared twice")
        seen.add(spec.name)
        if spec.type not in OPTION_TYPES:
            out.append(f"option {spec.name!r}: type {spec.type!r} is not one of {', '.join(OPTION_TYPES)}")
            continue
        if spec.type == "choice" and not spec.choices:
            out.append(f"option {spec.name!r}: a 'choice' option needs choices")
            continue
        if spec.required and _is_empty(spec.default):
            continue
        _, reason = _check_value(spec, copy.deepcopy(spec.default))
        if reason is not None:
            out.append(f"option {spec.name!r}: its default {spec.default!r} does not fit: {reason}")
    return out
