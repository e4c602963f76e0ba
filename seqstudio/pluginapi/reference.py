"""The plugin reference (docs/plugin-reference.md), generated from the code's own docstrings.

``python -m seqstudio.pluginapi.reference > docs/plugin-reference.md`` writes it;
a test fails when the file differs from what the code says, so the reference
cannot drift from the hooks and types it describes.

>>> text = render()
>>> "## Hooks" in text and "seqstudio_cells" in text
True
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import textwrap
import typing
from typing import Any

from seqstudio.core import errors, faults
from seqstudio.core.data import prepared
from seqstudio.core.options import OPTION_TYPES, OptionSpec, _describe
from seqstudio.core.registry import CellType, SourceType

from . import hookspecs, series

_HOOKS = ("seqstudio_api_version", "seqstudio_plugin_name", "seqstudio_cells", "seqstudio_data_sources",
          "seqstudio_layers")


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _strip_doctests(text: str) -> str:
    """Docstring text without its ``>>>`` examples and their output (up to the next blank line)."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(">>>"):
            skipping = True
        elif skipping and not line.strip():
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out).strip()


def _rst_to_md(text: str) -> str:
    """The few reST habits of the docstrings, in Markdown: ``x`` -> `x`, :role:`~a.b.C` -> `C`."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: "`" + m.group(1).split(".")[-1] + "`", text)
    return text.replace("``", "`")


def _numpydoc_sections_to_md(text: str) -> str:
    """numpydoc sections ("Parameters" over a dashed line) become a bold heading and a list:
    ``name : type`` with its indented description turns into ``- `name` (type): description``."""
    lines = text.splitlines()
    out: list[str] = []
    in_section = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"}:
            out += [f"**{line.strip()}**", ""]
            in_section = True
            i += 2
            continue
        if in_section and line.strip() and not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            out.append(f"- {names}" + (f" ({kind.strip()})" if kind.strip() else "") + ":")
        elif in_section and line.startswith(" "):
            out[-1] += " " + line.strip()
        else:
            if not line.strip() and in_section and i + 1 < len(lines) and lines[i + 1].strip() \
                    and not lines[i + 1].startswith(" ") and (i + 2 >= len(lines)
                                                               or set(lines[i + 2].strip()) != {"-"}):
                in_section = bool(" : " in lines[i + 1] or lines[i + 1].strip().isidentifier())
            out.append(line)
        i += 1
    return "\n".join(out)


def _prose(obj: Any) -> str:
    return _numpydoc_sections_to_md(_rst_to_md(_strip_doctests(_doc(obj))))


def _field_comments(cls: type) -> dict[str, str]:
    """``#:`` comments written above a dataclass field, by field name."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comment: list[str] = []
            j = node.lineno - 2
            while j >= 0 and lines[j].strip().startswith("#:"):
                comment.insert(0, lines[j].strip()[2:].strip())
                j -= 1
            if comment:
                found[node.target.id] = " ".join(comment)
    return found


def _type_text(cls: type, name: str) -> str:
    for klass in cls.__mro__:
        annotation = getattr(klass, "__annotations__", {}).get(name)
        if annotation is not None:
            return str(annotation).replace("|", "\\|")
    return ""


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory()!r}`"
    return "required"


def _fields_table(cls: type, *, skip: tuple[str, ...] = ()) -> str:
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update(_field_comments(klass))
    rows = ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        rows.append(f"| `{f.name}` | `{_type_text(cls, f.name)}` | {_default_text(f)} | "
                    f"{_rst_to_md(comments.get(f.name, ''))} |")
    return "\n".join(rows)


def _section(title: str, body: str, level: int = 3) -> str:
    return f"{'#' * level} {title}\n\n{body.strip()}\n"


def _signature(func: Any) -> str:
    sig = inspect.signature(func)
    return f"{func.__name__}{sig}".replace("'", "")


def render() -> str:
    """The whole reference as Markdown."""
    parts = [
        "# Plugin reference",
        "",
        "Generated from seqstudio's docstrings by `python -m seqstudio.pluginapi.reference`; a test "
        "keeps this file equal to the code. The guide with a worked example is "
        "[plugins.md](plugins.md).",
        "",
        "**Supported API.** Import from `seqstudio.pluginapi` (everything below) and "
        "`seqstudio.testing` (checks for your tests). Other `seqstudio.*` modules are internal and "
        "may change between releases.",
        "",
        "`seqstudio.pluginapi` exports: " + ", ".join(f"`{n}`" for n in _public_names()) + ".",
        "",
        "## Hooks",
        "",
        _rst_to_md(_strip_doctests(_doc(hookspecs))),
        "",
    ]
    for name in _HOOKS:
        func = getattr(hookspecs, name)
        parts.append(_section(f"`{_signature(func)}`", _prose(func)))
    parts += ["## Types a plugin returns", ""]
    for cls, skip in ((OptionSpec, ()), (SourceType, ("key", "plugin")), (CellType, ("key", "plugin"))):
        body = _prose(cls) + "\n\n" + _fields_table(cls, skip=skip)
        if skip:
            body += f"\n\nseqstudio sets {', '.join(f'`{s}`' for s in skip)} when it registers the item."
        parts.append(_section(f"`{cls.__name__}`", body))
    types = "\n".join(f"- `{t}`: {_describe(OptionSpec('x', t, choices=('a', 'b')))}"
                      for t in OPTION_TYPES)
    parts.append(_section("Option types", types + "\n\n" + _prose(_validate_doc())))
    parts += ["## Data a source returns", ""]
    tasks = typing.get_args(prepared.Task)
    parts.append(_section("Tasks", "`task` is one of " + ", ".join(f'`"{t}"`' for t in tasks) + ":\n\n"
                          "- `regression`: `y` float32 `(N, n_outputs)`, the loss is usually `mse`;\n"
                          "- `binary`: `y` float32 `(N, 1)` of 0 / 1, the model ends in a sigmoid;\n"
                          "- `multiclass`: `y` int64 `(N,)` class ids in `[0, n_outputs)`, the model ends "
                          "in a softmax over `n_outputs` classes."))
    parts.append(_section("`PreparedData`", _prose(prepared.PreparedData) + "\n\n"
                          + _fields_table(prepared.PreparedData) + "\n\nMethods: "
                          + "; ".join(f"`{_signature(getattr(prepared.PreparedData, m))}`: "
                                      + _rst_to_md(_doc(getattr(prepared.PreparedData, m)).splitlines()[0])
                                      for m in ("split", "to_original", "fitted_state"))))
    parts += ["## Series sources from a DataFrame", "", _prose(series), ""]
    for func in (series.series_source, series.prepare_frame):
        parts.append(_section(f"`{_signature(func)}`", _prose(func)))
    rows = ["| option | type | default | meaning |", "| --- | --- | --- | --- |"]
    for o in series.WINDOW_OPTIONS:
        choices = f" ({', '.join(map(str, o.choices))})" if o.choices else ""
        rows.append(f"| `{o.name}` | {o.type}{choices} | `{o.default!r}` | {o.help} |")
    parts.append(_section("`WINDOW_OPTIONS`", "The options every series source has, after its own:\n\n"
                          + "\n".join(rows)))
    parts += ["## Errors", ""]
    for error_cls in (errors.SeqStudioError, errors.DataError, errors.ModelSpecError, errors.PluginError,
                      faults.PluginCodeError):
        parts.append(_section(f"`{error_cls.__name__}`", _prose(error_cls)))
    parts.append(_section("What happens when your code fails", _prose(faults)))
    from seqstudio import testing

    parts += ["## Testing a plugin: `seqstudio.testing`", "", _prose(testing), ""]
    for name in ("assert_plugin_ok", "check_plugin", "assert_source_ok", "check_source",
                 "assert_cell_ok", "check_cell", "load_plugin"):
        func = getattr(testing, name)
        parts.append(_section(f"`{_signature(func)}`", _prose(func)))
    text = "\n".join(parts)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def _validate_doc() -> Any:
    from seqstudio.core import options

    return options


def _public_names() -> list[str]:
    import seqstudio.pluginapi as api

    return sorted(api.__all__)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
