"""Large CSV files are read in chunks from disk: the same result as reading them whole."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from seqstudio.core.data import reading
from seqstudio.core.data.reading import read_series_csv

REPO = Path(__file__).resolve().parents[3]


def _both(path, monkeypatch, **kw):
    whole = read_series_csv(path, **kw)
    monkeypatch.setattr(reading, "STREAM_BYTES", 100)
    monkeypatch.setattr(reading, "STREAM_HEAD_BYTES", 4096)
    monkeypatch.setattr(reading, "CHUNK_ROWS", 7)  # many chunks even for a small file
    streamed = read_series_csv(path, **kw)
    monkeypatch.undo()
    return whole, streamed


def _assert_same(whole, streamed):
    pd.testing.assert_frame_equal(streamed.frame, whole.frame, check_index_type=False)
    assert streamed.frame.index.equals(whole.frame.index)
    assert streamed.time_col == whole.time_col
    assert streamed.report.step == whole.report.step
    assert streamed.numeric_columns == whole.numeric_columns


@pytest.mark.parametrize("kind", ["monthly", "seconds", "cp1252", "utf-16-le", "semicolon",
                                  "late text", "empty time"])
def test_a_file_read_in_chunks_equals_one_read_whole(tmp_path, monkeypatch, kind):
    rows = [f"{1950 + i // 12}-{i % 12 + 1:02d},{100 + i * 1.5},{i % 3}" for i in range(200)]
    header, encoding, kw = "Month,v,w", "utf-8", {}
    if kind == "seconds":
        rows = [f"2020-01-01 00:{i // 60:02d}:{i % 60:02d},{i},{i % 2}" for i in range(200)]
        header = "time,v,w"
    elif kind == "cp1252":
        header, encoding = "Month,v,caf\u00e9", "cp1252"
    elif kind == "utf-16-le":
        encoding = "utf-16-le"
    elif kind == "semicolon":
        rows = [r.replace(",", ";").replace(".", ",") for r in rows]
        header = "Month;v;w"
    elif kind == "late text":  # looks like time in the first chunk, not later: stays text
        rows = [r.replace(",", ",x", 2).replace(",x", ",", 1) for r in rows]
        rows = [f"{r.split(',')[0]},{r.split(',')[1]},{'1950-01' if i < 50 else 'later'}"
                for i, r in enumerate(rows)]
        header = "Month,v,tag"
    elif kind == "empty time":
        rows[150] = "," + rows[150].split(",", 1)[1]
        kw = {"date_col": "Month"}
    path = tmp_path / "s.csv"
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    if kind == "empty time":
        with pytest.raises(Exception) as whole_err:
            read_series_csv(path, **kw)
        monkeypatch.setattr(reading, "STREAM_BYTES", 100)
        monkeypatch.setattr(reading, "CHUNK_ROWS", 7)
        with pytest.raises(type(whole_err.value)) as streamed_err:
            read_series_csv(path, **kw)
        assert str(streamed_err.value) == str(whole_err.value)
        return
    whole, streamed = _both(path, monkeypatch, **kw)
    _assert_same(whole, streamed)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures with Linux /proc")
def test_a_large_numeric_series_needs_at_most_3x_its_size_in_memory(tmp_path):
    """Peak RSS while preparing a ~64 MB series, measured in a fresh process (as bench/ does)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_memory
    finally:
        sys.path.pop(0)
    path = tmp_path / "big.csv"
    bench_memory.write_series(path, 2_300_000)
    size = os.path.getsize(path)
    base, peak, _ = bench_memory.measure(path, "prepare")
    assert peak - base <= 3 * size, f"{(peak - base) / size:.2f}x the file"
