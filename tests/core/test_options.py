"""The one option check: unknown names, types, choices, ranges, required values, defaults."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from seqstudio.core.errors import DataError, ModelSpecError
from seqstudio.core.options import (
    OptionError,
    OptionSpec,
    option_problems,
    parse_option_text,
    spec_problems,
    validate_options,
)

SPECS = (
    OptionSpec("path", "path", "", "the CSV file", required=True),
    OptionSpec("length", "int", 600, minimum=20, maximum=10_000),
    OptionSpec("noise", "float", 0.1, minimum=0.0),
    OptionSpec("shape", "choice", "sine", choices=("sine", "square")),
    OptionSpec("log", "bool", False),
    OptionSpec("target", "columns", []),
    OptionSpec("date_col", "str", "auto", nullable=True),
    OptionSpec("season", "int", None, minimum=1),
)


def check(values, **kw):
    return validate_options(SPECS, values, owner="data source 'demo>wave'", **kw)


def test_defaults_are_filled_in_declaration_order_and_are_copies():
    out = check({"path": "a.csv"})
    assert out == {"path": "a.csv", "length": 600, "noise": 0.1, "shape": "sine", "log": False,
                   "target": [], "date_col": "auto", "season": None}
    assert list(out) == [s.name for s in SPECS]
    out["target"].append("x")
    assert SPECS[5].default == []  # the declared default is not shared with callers


def test_values_are_converted_to_the_declared_type():
    out = check({"path": Path("a.csv"), "length": 40.0, "noise": 1, "target": "a, b", "season": 12})
    assert out["path"] == "a.csv" and isinstance(out["path"], str)
    assert out["length"] == 40 and type(out["length"]) is int
    assert out["noise"] == 1.0 and type(out["noise"]) is float
    assert out["target"] == ["a", "b"]


def test_unknown_key_names_the_closest_declared_one():
    with pytest.raises(OptionError) as info:
        check({"path": "a.csv", "lenght": 4})
    err = info.value
    assert "option 'lenght' is unknown; did you mean 'length'?" in err.what
    assert err.where == "data source 'demo>wave'"
    assert "length" in err.fix and "noise" in err.fix
    assert [p.option for p in err.problems] == ["lenght"]


def test_unknown_key_without_a_close_name_lists_the_known_ones():
    with pytest.raises(OptionError) as info:
        check({"path": "a.csv", "zzz": 1})
    assert "did you mean" not in info.value.what and "use one of: path, length" in info.value.fix


@pytest.mark.parametrize("key, value, words", [
    ("length", "4", "must be a whole number"),
    ("length", True, "must be a whole number"),
    ("length", 4.5, "must be a whole number, got 4.5"),
    ("length", 4, "must be at least 20, got 4"),
    ("length", 20_000, "must be at most 10000"),
    ("noise", -0.5, "must be at least 0"),
    ("noise", math.nan, "must be a finite number"),
    ("noise", math.inf, "must be a finite number"),
    ("shape", "triangle", "must be one of 'sine', 'square', got 'triangle'"),
    ("log", "yes", "must be true or false"),
    ("log", 1, "must be true or false"),
    ("target", [1, 2], "must be a list of column names"),
    ("date_col", 3, "must be a text"),
    ("length", None, "must be a whole number"),
])
def test_wrong_values_are_refused_with_what_and_fix(key, value, words):
    with pytest.raises(OptionError) as info:
        check({"path": "a.csv", key: value})
    assert words in info.value.what
    assert f"option {key!r}" in info.value.what
    assert info.value.fix.startswith(f"set option {key!r} to ")


def test_none_is_accepted_where_declared():
    out = check({"path": "a.csv", "date_col": None, "season": None})
    assert out["date_col"] is None and out["season"] is None


@pytest.mark.parametrize("missing", [{}, {"path": ""}, {"path": None}])
def test_a_required_option_must_be_given(missing):
    with pytest.raises(OptionError, match="option 'path' is required"):
        check(missing)
    assert check(missing, partial=True)["path"] == missing.get("path", "")


def test_every_problem_is_reported_at_once():
    _, problems = option_problems(SPECS, {"lenght": 4, "shape": "x", "noise": -1})
    assert [p.option for p in problems] == ["lenght", "path", "noise", "shape"]
    with pytest.raises(OptionError, match="4 options are wrong"):
        check({"lenght": 4, "shape": "x", "noise": -1})


def test_the_caller_chooses_the_error_class_and_the_words_of_its_interface():
    with pytest.raises(DataError) as info:
        check({"path": "a.csv", "length": 1}, error=DataError,
              setting=lambda n: f"--data-option {n}=VALUE")
    assert info.value.fix == "set --data-option length=VALUE to a whole number >= 20 and <= 10000"
    with pytest.raises(ModelSpecError):
        validate_options((), {"units": 3}, owner="cell 'x>y'", error=ModelSpecError)


def test_not_a_mapping_is_a_message_not_a_crash():
    with pytest.raises(OptionError, match="must be a mapping"):
        check(["path", "a.csv"])


def test_typed_text_is_read_as_the_declared_type():
    out = check({"path": "a.csv", "length": "40", "noise": "1e-3", "log": "yes", "target": "a,b",
                 "shape": "square", "season": "none", "date_col": "null"}, from_text=True)
    assert out == {"path": "a.csv", "length": 40, "noise": 0.001, "shape": "square", "log": True,
                   "target": ["a", "b"], "date_col": None, "season": None}
    with pytest.raises(OptionError, match="must be a whole number .*, got 'forty'"):
        check({"path": "a.csv", "length": "forty"}, from_text=True)


@pytest.mark.parametrize("spec, text, expected", [
    (OptionSpec("n", "int", 1), "12", 12),
    (OptionSpec("n", "int", 1), "1e3", 1000.0),  # read as a number; validate makes it 1000
    (OptionSpec("x", "float", 1.0), "2", 2.0),
    (OptionSpec("b", "bool", True), "off", False),
    (OptionSpec("c", "choice", None, choices=(None, True, False)), "True", True),
    (OptionSpec("c", "choice", 1, choices=(1, 2)), "2", 2),
    (OptionSpec("s", "str", "x"), "123", "123"),
    (OptionSpec("cols", "columns", []), '["a", "b"]', ["a", "b"]),
])
def test_parse_option_text(spec, text, expected):
    value = parse_option_text(spec, text)
    assert value == expected and type(value) is type(expected)


def test_a_choice_of_flags_does_not_take_numbers():
    spec = (OptionSpec("stateful", "choice", None, choices=(None, True, False)),)
    assert validate_options(spec, {"stateful": True}, owner="x") == {"stateful": True}
    with pytest.raises(OptionError):
        validate_options(spec, {"stateful": 1}, owner="x")


def test_declarations_are_checked_themselves():
    assert spec_problems(SPECS) == []
    bad = (OptionSpec("a", "int", "3"), OptionSpec("a", "int", 1), OptionSpec("c", "choice", "x"),
           OptionSpec("d", "colour", 1), OptionSpec("e", "float", 5.0, maximum=1.0))
    problems = spec_problems(bad)
    assert any("'a'" in p and "does not fit" in p for p in problems)
    assert "option 'a' is declared twice" in problems
    assert "option 'c': a 'choice' option needs choices" in problems
    assert any("'d': type 'colour'" in p for p in problems)
    assert any("'e'" in p and "at most 1" in p for p in problems)


def test_a_path_option_declared_multiple_takes_a_list_of_files_and_a_plain_one_does_not():
    # The text-csv source reads several training CSVs as one (`--text-csv a.csv,b.csv`).
    several = OptionSpec("path", "path", "", multiple=True)
    single = OptionSpec("path", "path", "")
    assert validate_options((several,), {"path": ["a.csv", Path("b.csv")]}, owner="s") == \
        {"path": ["a.csv", "b.csv"]}
    assert validate_options((several,), {"path": "a.csv"}, owner="s") == {"path": "a.csv"}
    with pytest.raises(OptionError, match="a file path"):
        validate_options((single,), {"path": ["a.csv", "b.csv"]}, owner="s")
    with pytest.raises(OptionError):
        validate_options((several,), {"path": []}, owner="s")
