"""Project files under faults and hostile input: kills at every step of a save, a full disk,
the umask, damaged or crafted JSON, weights that are not numbers."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import sys

import pytest
import torch

from seqstudio.core import project as project_module
from seqstudio.core.errors import ProjectError
from seqstudio.core.project import SAVE_STEPS, Project, weights_path


def _project(version: int) -> Project:
    p = Project.from_preset("airline-lstm")
    p.name = f"version {version}"
    g = torch.Generator().manual_seed(version)
    p.weights = {"0.w": torch.randn(16, 1, generator=g), "1.b": torch.randn(1, generator=g)}
    return p


def _same_weights(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def _save_killed_at(project: Project, path, step: str) -> int:
    """Save ``project`` in a forked child that SIGKILLs itself when the save reaches ``step``."""
    pid = os.fork()
    if pid == 0:  # the child: no cleanup of any kind runs after the kill, as with kill -9
        try:
            def hook(name: str) -> None:
                if name == step:
                    os.kill(os.getpid(), signal.SIGKILL)

            project_module._save_hook = hook
            project.save(path)
        finally:
            os._exit(3)  # the step was never reached
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to kill a saving process")
@pytest.mark.parametrize("step", SAVE_STEPS)
def test_a_kill_at_any_step_of_a_save_leaves_the_old_or_the_new_project_whole(tmp_path, step):
    path = tmp_path / "p.json"
    old, new = _project(1), _project(2)
    old.save(path)
    status = _save_killed_at(new, path, step)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, "the kill never happened"

    loaded = Project.load(path)  # never a mix: it opens, and is one of the two
    committed = SAVE_STEPS.index(step) >= SAVE_STEPS.index("json:replaced")
    expected = new if committed else old
    assert loaded.name == expected.name
    assert _same_weights(loaded.weights, expected.weights)

    # the next save leaves exactly the project: no temporary file, no orphaned weights
    third = _project(3)
    third.save(path)
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(["p.json", weights_path(path).name])
    assert _same_weights(Project.load(path).weights, third.weights)


@pytest.mark.parametrize("failing", ["weights", "json"])
def test_a_full_disk_during_a_save_leaves_the_old_project_and_says_so(tmp_path, monkeypatch, failing):
    path = tmp_path / "p.json"
    old = _project(1)
    old.save(path)
    before = sorted((f.name, f.read_bytes()) for f in tmp_path.iterdir())
    real = project_module._write_fully

    def full_disk(fh, data):
        is_json = data.lstrip().startswith(b"{")
        if is_json == (failing == "json"):
            fh.write(data[: len(data) // 2])  # part of it went to disk, then the disk was full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fh, data)

    monkeypatch.setattr(project_module, "_write_fully", full_disk)
    with pytest.raises(ProjectError) as err:
        _project(2).save(path)
    assert "no space left on device" in str(err.value).lower()
    assert "free some disk space" in err.value.fix and "unchanged" in err.value.fix
    monkeypatch.undo()
    after = sorted((f.name, f.read_bytes()) for f in tmp_path.iterdir())
    if failing == "weights":
        assert after == before  # nothing of the failed save is left
    else:  # the new weights file may stay until the next save; the project is the old one
        assert [a for a in after if a[0].endswith(".tmp")] == []
    loaded = Project.load(path)
    assert loaded.name == old.name and _same_weights(loaded.weights, old.weights)


def test_stray_temporary_files_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    path = _project(1).save(tmp_path / "p.json")
    stray = [tmp_path / ".p.json.abc123.tmp", tmp_path / f".{weights_path(path).name}.x_9.tmp",
             tmp_path / "p.0123456789abcdef.safetensors", tmp_path / "p.safetensors"]
    for f in stray:
        f.write_bytes(b"x" * 1000)
    others = [tmp_path / ".q.json.abc.tmp", tmp_path / "q.safetensors", tmp_path / "notes.txt",
              tmp_path / "p.0123456789abcdee.json", tmp_path / "p.0123456789abcdee.safetensors"]
    for f in others:
        f.write_bytes(b"keep")
    _project(2).save(path)
    left = {f.name for f in tmp_path.iterdir()}
    assert not left & {f.name for f in stray}
    assert {f.name for f in others} <= left  # another project's files are not ours to remove


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_files_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = _project(1).save(tmp_path / "p.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(weights_path(path).stat().st_mode) == mode


def test_saving_into_a_missing_folder_is_refused_not_created(tmp_path):
    with pytest.raises(ProjectError, match="does not exist") as err:
        _project(1).save(tmp_path / "no" / "such" / "p.json")
    assert "create the folder" in err.value.fix
    assert not (tmp_path / "no").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="is a file, not a folder"):
        _project(1).save(tmp_path / "file" / "p.json")


def test_nan_weights_are_refused_on_load(tmp_path):
    p = _project(1)
    p.weights["0.w"][3, 0] = float("nan")
    path = p.save(tmp_path / "p.json")
    with pytest.raises(ProjectError, match=r"NaN or infinite values \(0\.w\)") as err:
        Project.load(path)
    assert "retrain" in err.value.fix


# --------------------------------------------------------------------------- damaged or crafted JSON
def _doc(tmp_path) -> tuple:
    path = _project(1).save(tmp_path / "p.json")
    return path, json.loads(path.read_text())


def _nest(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


CRAFTED = {
    "runs holds a string": (lambda d: d.update(runs=["x", 5]), "runs[0]"),
    "epochs_total is a string": (lambda d: d["results"].update(epochs_total="ten"),
                                 "results.epochs_total"),
    "epochs is negative": (lambda d: d["train"].update(epochs=-3), "train.epochs"),
    "seed overflows": (lambda d: d["train"].update(seed=10 ** 23), "train.seed"),
    "a layer without a type": (lambda d: d["model"].update(layers=[{"units": 4}]), "model.layers[0]"),
    "units is huge": (lambda d: d["model"]["layers"][0].update(units=10 ** 12), "model.layers[0].units"),
    "weights point outside": (lambda d: d["weights"].update(file="../../etc/x.safetensors"),
                              "weights.file"),
    "deep nesting": (lambda d: d["data_options"].update(extra=_nest(60)), "nested more than"),
    "a huge string": (lambda d: d.update(name="x" * 200_000), "longer than"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_project_file_is_refused_with_where_and_fix(tmp_path, case):
    change, where = CRAFTED[case]
    path, doc = _doc(tmp_path)
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError) as err:
        Project.load(path)
    assert where in str(err.value)
    assert err.value.fix


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_a_project_file_are_refused(tmp_path, literal):
    path, doc = _doc(tmp_path)
    doc["results"]["epochs_total"] = 12345
    path.write_text(json.dumps(doc).replace("12345", literal))
    with pytest.raises(ProjectError, match="damaged") as err:
        Project.load(path)
    assert literal.lstrip("-") in str(err.value)


def test_nesting_deeper_than_the_parser_can_go_is_a_message(tmp_path):
    path, doc = _doc(tmp_path)
    text = json.dumps(doc)
    deep = "[" * 200_000 + "]" * 200_000
    path.write_text(text[:-1] + f', "x": {deep}}}')
    with pytest.raises(ProjectError, match="nested"):
        Project.load(path)


def test_a_device_is_not_a_project_file(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(ProjectError, match="not a regular file"):
        Project.load("/dev/zero")
