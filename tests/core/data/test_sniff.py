"""Files that are not delimited tables are refused from their first kilobytes, fast."""

from __future__ import annotations

import json

import pytest

from seqstudio.core.data.series import read_series_csv
from seqstudio.core.data.sniff import SNIFF_BYTES, check_delimited_text, sniff_delimiter
from seqstudio.core.data.text import read_text_csv
from seqstudio.core.errors import DataError


def _one_line_json(path, words: int = 90_000):
    path.write_text(json.dumps({f"word{i}": i for i in range(words)}))  # ~1.6 MB on one line
    return path


@pytest.mark.parametrize("reader", ["series", "text"])
def test_a_one_line_json_is_refused_by_both_readers(tmp_path, reader):
    path = _one_line_json(tmp_path / "word_index.json")
    with pytest.raises(DataError, match="looks like JSON") as err:
        if reader == "series":
            read_series_csv(path)
        else:
            read_text_csv(path, "review", "sentiment")
    assert "CSV" in err.value.fix and err.value.where == str(path)


def test_the_real_word_index_is_refused(data_dir):
    with pytest.raises(DataError, match="looks like JSON"):
        read_series_csv(data_dir / "imdb_word_index.json")


def test_only_the_first_kilobytes_are_read(tmp_path, monkeypatch):
    """The decision reads SNIFF_BYTES and one more byte, whatever the file's size."""
    path = tmp_path / "long.txt"
    path.write_bytes(b"x" * (5 * SNIFF_BYTES))  # one line, no delimiter, no JSON
    reads = []
    real_open = type(path).open

    def counting_open(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        real_read = handle.read
        handle_read = lambda n=-1: reads.append(n) or real_read(n)  # noqa: E731
        return _Wrapped(handle, handle_read)

    monkeypatch.setattr(type(path), "open", counting_open)
    with pytest.raises(DataError, match="first line of long.txt is longer than 64 KB"):
        check_delimited_text(path)
    assert reads == [SNIFF_BYTES, 1]


class _Wrapped:
    def __init__(self, handle, read):
        self._handle, self.read = handle, read

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_binary_files_are_refused(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + bytes(range(256)) * 10)
    with pytest.raises(DataError, match="binary file"):
        check_delimited_text(path)


def test_ordinary_tables_pass_and_give_their_first_lines(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("Month;Sales\n2000-01;1,5\n2000-02;2,5\n")
    assert check_delimited_text(path) == ["Month;Sales", "2000-01;1,5", "2000-02;2,5"]
    assert sniff_delimiter(check_delimited_text(path)) == ";"
    big = tmp_path / "big.csv"
    big.write_text("t,v\n" + "".join(f"{i},{i * 0.5}\n" for i in range(20_000)))
    lines = check_delimited_text(big)
    assert lines[0] == "t,v" and all(line.count(",") == 1 for line in lines)  # no cut last line
    # a JSON-looking cell in a real CSV is fine
    odd = tmp_path / "odd.csv"
    odd.write_text('[id],value\n1,2\n')
    assert check_delimited_text(odd)[0] == "[id],value"


def test_a_missing_file_is_left_to_the_reader(tmp_path):
    assert check_delimited_text(tmp_path / "nope.csv") == []
    with pytest.raises(DataError, match="not found"):
        read_series_csv(tmp_path / "nope.csv")


def test_a_long_csv_read_in_chunks_equals_one_read(tmp_path):
    """Chunked parsing (for the interpreter lock) gives the frame a single read gives."""
    import io

    import numpy as np
    import pandas as pd

    from seqstudio.core.data.timeaxis import CHUNK_ROWS

    n = 2 * CHUNK_ROWS + 123
    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, n).astype(float)
    values[-5:] += 0.5  # decimals only in the last chunk: the column must be float throughout
    times = pd.date_range("2001-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    path = tmp_path / "long.csv"
    text = "time,v,w\n" + "".join(f"{t},{v:g},{i % 7}\n" for i, (t, v) in enumerate(zip(times, values,
                                                                                       strict=True)))
    path.write_text(text)
    loaded = read_series_csv(path)
    reference = pd.read_csv(io.StringIO(text))
    np.testing.assert_array_equal(loaded.frame["v"].to_numpy(), reference["v"].to_numpy())
    assert loaded.frame["v"].dtype == np.float64 and loaded.frame["w"].dtype == reference["w"].dtype
    assert loaded.time_col == "time" and len(loaded.frame) == n
    assert (loaded.frame.index == pd.DatetimeIndex(pd.to_datetime(reference["time"]))).all()
