"""Messages that used to mislead: each says what is wrong and a fix that works, in CLI words."""

from __future__ import annotations

import json

import pytest

from seqstudio.cli import main
from seqstudio.core.data.reading import read_series_csv


def _run(argv, capsys) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _csv(tmp_path, text: str, name: str = "s.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _monthly(n: int = 30, start: int = 100) -> str:
    return "Month,v\n" + "".join(f"{1950 + i // 12}-{i % 12 + 1:02d},{start + i}\n" for i in range(n))


def test_duplicated_times_ask_to_merge_not_to_drop_the_time_axis(tmp_path, capsys):
    text = _monthly() + "1950-03,999\n"
    rc, err = _run(["summary", "--csv", _csv(tmp_path, text), "--target", "v"], capsys)
    assert rc == 2 and "occur more than once" in err
    assert "merge the duplicated rows" in err and "date-col" not in err and "date_col" not in err


def test_an_all_empty_target_says_so(tmp_path, capsys):
    text = "Month,v,w\n" + "".join(f"1950-{m:02d},,{m}\n" for m in range(1, 13))
    rc, err = _run(["summary", "--csv", _csv(tmp_path, text), "--target", "v", "--missing", "drop"],
                   capsys)
    assert rc == 2 and "holds no values at all" in err and "diff" not in err


def test_an_unknown_layer_type_in_a_project_lists_the_layer_types(tmp_path, capsys):
    path = tmp_path / "p.json"
    from seqstudio.core.project import Project

    p = Project.from_preset("airline-lstm")
    p.model = {"layers": [{"type": "Foo", "units": 3}]}
    p.save(path)
    rc, err = _run(["summary", "--project", str(path)], capsys)
    assert rc == 2 and "unknown layer type 'Foo'" in err
    assert "LSTM" in err and "choose one of: none" not in err


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(tmp_path, capsys, encoding):
    rc, err = _run(["summary", "--csv", _csv(tmp_path, _monthly(), encoding=encoding)], capsys)
    assert rc == 0, err


def test_thousands_separators_are_numbers(tmp_path, capsys):
    text = "Month,v\n" + "".join(f'{1950 + i // 12}-{i % 12 + 1:02d},"1,{100 + i}"\n' for i in range(30))
    loaded = read_series_csv(_csv(tmp_path, text))
    assert loaded.numeric_columns == ["v"] and loaded.frame["v"].iloc[0] == 1100
    assert any("thousands" in n for n in loaded.report.notes)


def test_a_utf16_text_file_gets_utf16_advice(tmp_path, capsys):
    text = "review,sentiment\n" + "".join(f"good film {i},positive\nbad film {i},negative\n"
                                          for i in range(10))
    path = _csv(tmp_path, text, "t.csv", "utf-16-le")
    rc, err = _run(["summary", "--text-csv", path, "--data-option", "encoding=utf-8"], capsys)
    if rc == 0:  # read as UTF-16 on its own: even better
        return
    assert "utf-16" in err and "cp1252" not in err


def test_a_date_format_that_matches_nothing_is_an_error(tmp_path, capsys):
    rc, err = _run(["summary", "--csv", _csv(tmp_path, _monthly()), "--date-format", "%d/%m/%Y"],
                   capsys)
    assert rc == 2 and "no column matches the date format '%d/%m/%Y'" in err
    assert "--date-format" in err


def test_a_tiny_file_does_not_advise_lowering_a_look_back_of_1(tmp_path, capsys):
    rc, err = _run(["summary", "--csv", _csv(tmp_path, _monthly(3)), "--look-back", "1"], capsys)
    assert rc == 2 and "longer series" in err and "lower look_back" not in err


def test_float_years_and_year_quarter_columns_are_time_axes(tmp_path):
    years = read_series_csv(_csv(tmp_path, "Year,v\n" + "".join(f"{1700 + i}.0,{i}\n" for i in range(12)),
                                 "y.csv"))
    assert years.report.step == "yearly" and str(years.frame.index[0])[:4] == "1700"
    quarters = read_series_csv(_csv(tmp_path, "Year,Quarter,v\n" + "".join(
        f"{2000 + i // 4},Q{i % 4 + 1},{i}\n" for i in range(12)), "q.csv"))
    assert quarters.report.step == "quarterly"
    assert [str(t)[:10] for t in quarters.frame.index[:2]] == ["2000-01-01", "2000-04-01"]


def test_cli_messages_name_flags_not_option_syntax(tmp_path, capsys):
    text = _monthly().replace("1950-05,104", "1950-05,")
    rc, err = _run(["summary", "--csv", _csv(tmp_path, text)], capsys)
    assert rc == 2 and "--missing drop" in err and "missing='drop'" not in err
    assert json  # (imported for symmetry with other CLI tests)
