"""Training in the child process: the same events and weights as train() here, and its failures.

The reference for every number is ``core.training.train`` run in this process
on a copy of the same model and data (itself checked against torch and numpy
in test_training.py).
"""

from __future__ import annotations

import copy
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from seqstudio.core.errors import TrainingError
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.events import BatchEnded, EpochEnded, Finished, Stopped, ThreadsChosen
from seqstudio.core.train.loop import train
from seqstudio.core.train.process import ProcessTrainControl, TrainingProcess, weights_due

from .test_training import TinyRegressor, series_data


class PrintingRegressor(TinyRegressor):
    """Prints on every forward pass: a plugin cell with a stray debug print."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("forward", tuple(x.shape))  # noqa: T201 - the point of this model
        return super().forward(x)


@pytest.fixture(scope="module")
def process():
    proc = TrainingProcess()
    yield proc
    proc.close()


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 4, "batch_size": 4, "learning_rate": 0.05, "seed": 3, **kw})


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_child_run_yields_the_events_and_weights_of_a_run_here(process):
    data = series_data(n=22, val=6)
    torch.manual_seed(0)
    here = TinyRegressor()
    there = copy.deepcopy(here)
    expected = list(train(here, data, _config()))
    got = list(process.run(there, data, _config()))

    assert process.ran_in_child, process.fallback_reason
    batches = [(e.epoch, e.step, e.batches, e.loss, e.global_step) for e in expected
               if isinstance(e, BatchEnded)]
    assert [(e.epoch, e.step, e.batches, e.loss, e.global_step) for e in got
            if isinstance(e, BatchEnded)] == batches
    assert [(e.epoch, e.train_loss, e.val_loss) for e in got if isinstance(e, EpochEnded)] == \
        [(e.epoch, e.train_loss, e.val_loss) for e in expected if isinstance(e, EpochEnded)]
    timed = ThreadsChosen  # decided from measured batch times: differs between two runs
    assert [type(e) for e in got if not isinstance(e, timed)] == \
        [type(e) for e in expected if not isinstance(e, timed)]
    assert got[-1].result.metrics == expected[-1].result.metrics
    for name, value in here.state_dict().items():   # the caller's model was trained in place
        assert torch.equal(there.state_dict()[name], value), name


def test_continuing_in_the_child_carries_the_optimizer_state(process):
    data = series_data(n=12)
    torch.manual_seed(6)
    here = TinyRegressor()
    there = copy.deepcopy(here)
    config = _config(epochs=4, shuffle=False)
    once = [e.train_loss for e in train(here, data, config) if isinstance(e, EpochEnded)]
    half = _config(epochs=2, shuffle=False)
    first = list(process.run(there, data, half))
    second = list(process.run(there, data, half, start_epoch=2,
                              optimizer_state=first[-1].result.optimizer_state))
    assert process.ran_in_child and second[-1].result.optimizer_resumed
    np.testing.assert_allclose([e.train_loss for e in first + second if isinstance(e, EpochEnded)],
                               once, rtol=1e-6)


def test_weights_arrive_with_the_epochs_a_snapshot_is_due(process):
    data = series_data(n=16)
    torch.manual_seed(1)
    here = TinyRegressor()
    there = copy.deepcopy(here)
    after_epoch = {}
    for event in train(here, data, _config(epochs=6)):
        if isinstance(event, EpochEnded):
            after_epoch[event.epoch] = _weights(here)
    fresh = []
    for event in process.run(there, data, _config(epochs=6), weights_every=2, weights_min_seconds=0):
        if isinstance(event, EpochEnded) and process.fresh_weights:
            fresh.append(event.epoch)
            for name, value in after_epoch[event.epoch].items():
                assert torch.equal(there.state_dict()[name], value)
    assert fresh == [2, 4]  # every 2 epochs, not the last one (the run's end brings those)


def test_stop_from_another_thread_ends_the_child_run_and_keeps_its_weights(process):
    control = ProcessTrainControl()
    model = TinyRegressor()
    events = []
    for event in process.run(model, series_data(n=40), _config(epochs=500, batch_size=1), control):
        events.append(event)
        if isinstance(event, EpochEnded) and event.epoch == 2:
            control.stop()
    stopped = [e for e in events if isinstance(e, Stopped)]
    assert [s.reason for s in stopped] == ["user"]
    result = events[-1].result
    assert isinstance(events[-1], Finished) and 2 <= result.epochs_run < 500
    # the weights the child ended with are the caller's now: its test metrics say so
    from seqstudio.core.train.evaluate import evaluate

    assert evaluate(model, series_data(n=40), "train")["rmse"] == \
        pytest.approx(result.metrics["train"]["rmse"], rel=1e-6)


def test_a_stop_asked_before_the_child_listens_still_stops_it(process):
    control = ProcessTrainControl()
    control.stop()
    events = list(process.run(TinyRegressor(), series_data(), _config(epochs=300), control))
    assert isinstance(events[-1], Finished) and events[-1].result.epochs_run == 0


def test_a_killed_child_is_reported_and_the_model_keeps_the_last_weights_it_sent(process):
    data = series_data(n=16)
    model = TinyRegressor()
    last_sent = None
    with pytest.raises(TrainingError, match="killed by SIGKILL") as caught:
        for event in process.run(model, data, _config(epochs=10_000), weights_every=1,
                                 weights_min_seconds=0):
            if isinstance(event, EpochEnded) and process.fresh_weights:
                last_sent = _weights(model)
                if event.epoch == 3:
                    process._process.kill()  # what the system does when memory runs out
    assert "memory" in str(caught.value)
    for name, value in last_sent.items():
        assert torch.equal(model.state_dict()[name], value)
    # the next run starts a fresh child
    assert isinstance(list(process.run(TinyRegressor(), data, _config(epochs=1)))[-1], Finished)
    assert process.ran_in_child


def test_errors_raised_in_the_child_keep_their_message_and_fix(process):
    with pytest.raises(TrainingError) as here:
        list(train(TinyRegressor(), series_data(), _config(device="cuda:99")))
    with pytest.raises(TrainingError) as there:
        list(process.run(TinyRegressor(), series_data(), _config(device="cuda:99")))
    assert process.ran_in_child
    assert str(there.value) == str(here.value) and there.value.fix == here.value.fix


def test_a_model_that_cannot_be_copied_trains_here_with_the_same_events(process):
    class LocalRegressor(TinyRegressor):  # a class inside a function: pickle cannot name it
        pass

    torch.manual_seed(2)
    here = LocalRegressor()
    there = copy.deepcopy(here)
    expected = [e.train_loss for e in train(here, series_data(), _config())
                if isinstance(e, EpochEnded)]
    got = [e.train_loss for e in process.run(there, series_data(), _config())
           if isinstance(e, EpochEnded)]
    assert not process.ran_in_child and "cannot be copied" in process.fallback_reason
    assert got == expected


def test_prints_in_the_child_do_not_break_its_messages(process):
    # the child's stdout carries its messages; its prints are moved to stderr
    events = list(process.run(PrintingRegressor(), series_data(n=8), _config(epochs=2)))
    assert process.ran_in_child and isinstance(events[-1], Finished)
    assert events[-1].result.epochs_run == 2


def test_a_class_from_a_folder_added_to_the_path_later_reaches_the_child(process, tmp_path,
                                                                        monkeypatch):
    # plugins in SEQSTUDIO_PLUGIN_PATH join sys.path after the child has started
    process.start()
    (tmp_path / "late_plugin_cells.py").write_text(
        "from torch import nn\n\n"
        "class LateRegressor(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(2, 1)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from late_plugin_cells import LateRegressor

    events = list(process.run(LateRegressor(), series_data(), _config(epochs=2)))
    assert process.ran_in_child, process.fallback_reason
    assert events[-1].result.epochs_run == 2


def test_a_module_imported_from_a_file_under_a_private_name_reaches_the_child(process, tmp_path,
                                                                             monkeypatch):
    # how plugins dropped in a plugin folder are imported: no sys.path entry finds them
    import importlib.util
    import sys

    folder = tmp_path / "dropped"
    folder.mkdir()
    (folder / "__init__.py").write_text("from .cells import DroppedRegressor\n")
    (folder / "cells.py").write_text(
        "from torch import nn\n\n"
        "class DroppedRegressor(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(2, 1)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1))\n")
    name = "private_dropin_for_test"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)

    torch.manual_seed(4)
    here = module.DroppedRegressor()
    there = copy.deepcopy(here)
    expected = [e.train_loss for e in train(here, series_data(), _config())
                if isinstance(e, EpochEnded)]
    got = [e.train_loss for e in process.run(there, series_data(), _config())
           if isinstance(e, EpochEnded)]
    assert process.ran_in_child, process.fallback_reason
    assert got == expected


def test_in_child_false_trains_in_this_thread(process):
    events = list(process.run(TinyRegressor(), series_data(), _config(epochs=2), in_child=False))
    assert not process.ran_in_child and isinstance(events[-1], Finished)


@pytest.mark.parametrize(("epoch", "every", "since", "due"), [
    (4, 2, 5.0, True), (4, 2, 0.1, False), (5, 2, 5.0, False), (10, 2, 5.0, False), (4, 0, 5.0, False),
])
def test_weights_due(epoch, every, since, due):
    assert weights_due(epoch, 10, every, since, 1.0) is due


def test_a_torch_py_in_the_current_folder_is_never_imported_by_the_training_process(tmp_path,
                                                                                  monkeypatch):
    """The child must not put the folder the studio was started from on its import path."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "torch.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('planted torch.py ran')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m seqstudio` run from that folder
    fresh = TrainingProcess()
    try:
        data = series_data(n=22, val=6)
        events = list(fresh.run(TinyRegressor(), data, _config(epochs=1)))
        assert fresh.ran_in_child, fresh.fallback_reason
        assert isinstance(events[-1], Finished)
    finally:
        fresh.close()
    assert not marker.exists()


def test_a_child_whose_studio_has_gone_exits_quietly():
    """The window closed or crashed before the child's first answer: the child's write meets a
    closed pipe, and it ends at once with status 0 and nothing on stderr (no traceback)."""
    import subprocess

    from seqstudio.core.pipes import child_import_path, package_root
    from seqstudio.core.train.process import CHILD_MODULE

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(child_import_path())}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the studio's end, gone before the child says it is ready
    child = subprocess.Popen([sys.executable, "-P", "-m", CHILD_MODULE], stdin=subprocess.PIPE, stdout=write_end,
                             stderr=subprocess.PIPE, env=env, cwd=package_root())
    os.close(write_end)
    try:
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err.decode(errors="replace")
    assert err == b""
