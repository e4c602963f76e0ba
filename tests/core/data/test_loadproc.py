"""Preparing data in the child process: the same outcome as here, its errors, its fallbacks, cancel."""

from __future__ import annotations

import os
import threading

import numpy as np
import pandas as pd
import pytest

from seqstudio.core.data.loadproc import LoadProcess, load_job
from seqstudio.core.errors import DataError
from seqstudio.core.registry import OptionSpec, SourceType
from seqstudio.pluginapi.manager import builtin_registry


@pytest.fixture(scope="module")
def process():
    process = LoadProcess()
    yield process
    process.close()


@pytest.fixture(scope="module")
def series_source():
    return builtin_registry().source("csv-series")


def _hourly_csv(path, rows: int = 3000):
    t = np.arange(rows)
    pd.DataFrame({"time": pd.date_range("2001-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M"),
                  "load": np.round(100 + 10 * np.sin(t / 24 * 2 * np.pi), 3),
                  "price": np.round(50 + (t % 7), 2)}).to_csv(path, index=False)
    return path


def test_a_series_prepared_in_the_child_equals_the_one_prepared_here(process, series_source, tmp_path):
    options = {"path": str(_hourly_csv(tmp_path / "hourly.csv")), "look_back": 5, "horizon": 2,
               "val_frac": 0.1}
    preview, prepared, error = process.run(series_source, options, True)
    assert process.fallback_reason == "" and error == ""
    here_preview, here, _ = load_job(series_source, options, True)
    pd.testing.assert_frame_equal(preview, here_preview)
    for split in ("train", "val", "test"):
        x, y = prepared.split(split)
        x_here, y_here = here.split(split)
        assert x.shape == x_here.shape and bool((x == x_here).all()) and bool((y == y_here).all())
    pd.testing.assert_frame_equal(prepared.series, here.series)
    np.testing.assert_allclose(prepared.to_original(y_here.numpy(), "test"),
                               here.to_original(y_here.numpy(), "test"))


def test_a_relative_path_reads_the_callers_file(process, series_source, tmp_path, monkeypatch):
    _hourly_csv(tmp_path / "here.csv", rows=200)
    monkeypatch.chdir(tmp_path)  # the child starts elsewhere and follows the caller's folder
    _, prepared, error = process.run(series_source, {"path": "here.csv"}, False)
    assert error == "" and len(prepared.series) == 200


def test_the_sources_error_comes_back_as_the_same_error(process, series_source, tmp_path):
    path = tmp_path / "words.json"
    path.write_text('{"the": 1, "and": 2}')
    _, prepared, error = process.run(series_source, {"path": str(path)}, True)
    _, _, here = load_job(series_source, {"path": str(path)}, True)
    assert prepared is None and isinstance(error, DataError) and str(error) == str(here)


def test_a_source_pickle_cannot_copy_is_left_to_the_caller(process):
    source = SourceType(name="local", description="", kind="other", options=(OptionSpec("n", "int", 1),),
                        load=lambda options: None)  # a lambda: the child could not import it
    assert process.run(source, {"n": 1}, False) is None
    assert "cannot be copied" in process.fallback_reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a named pipe holds the load (POSIX)")
def test_cancel_kills_the_child_in_the_middle_of_a_load_and_the_next_load_starts_it_again(
        process, series_source, tmp_path):
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)  # reading it blocks until someone writes: a load that never ends by itself
    owner = object()
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(
        process.run(series_source, {"path": str(fifo)}, False, owner=owner)))
    worker.start()
    with open(fifo, "w"):  # returns once the child has opened the file: it is inside the load
        assert process.cancel(owner)
        worker.join(30)
    assert not worker.is_alive()
    (_, prepared, error), = outcome
    assert prepared is None and "cancelled" in str(error)
    assert not process.cancel(owner)  # nothing of it runs any more
    path = _hourly_csv(tmp_path / "after.csv", rows=100)
    _, prepared, error = process.run(series_source, {"path": str(path)}, False)
    assert error == "" and len(prepared.series) == 100


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX scheduling priorities")
def test_the_child_works_at_a_lower_priority_than_the_window(process, series_source, tmp_path):
    from seqstudio.core.data.loadproc import CHILD_NICENESS

    path = _hourly_csv(tmp_path / "small.csv", rows=50)
    assert process.run(series_source, {"path": str(path)}, False)[2] == ""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, process._process.pid) == min(19, ours + CHILD_NICENESS)


def test_a_child_whose_studio_has_gone_exits_quietly():
    """The window went between a job and its answer: the child's answer meets a closed pipe, and
    it ends at once with status 0 and nothing on stderr (no traceback)."""
    import pickle
    import subprocess
    import sys

    from seqstudio.core.pipes import child_import_path, package_root, write_message

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(child_import_path())}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the studio's end, gone before the answer
    child = subprocess.Popen([sys.executable, "-P", "-m", "seqstudio.core.data.loadproc"],
                             stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE,
                             env=env, cwd=package_root())
    os.close(write_end)
    try:
        # a job the child cannot read: it answers "unavailable" at once, into the closed pipe
        write_message(child.stdin, pickle.dumps((os.getcwd(), [], b"not a pickle")))
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err.decode(errors="replace")
    assert err == b""
