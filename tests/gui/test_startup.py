"""The window starts before torch: data and layers work without it, Train waits for the engine.

The subprocess test blocks ``import torch`` with a meta-path hook, so anything on
the start path that still needs torch fails loudly there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd

_BLOCK_TORCH = """
import importlib.abc, importlib.machinery, sys

class BlockTorch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # torch is found (as if installed) but every import of it fails
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ImportError(f"{spec.name} is blocked in this test")

    def exec_module(self, module):
        pass

sys.meta_path.insert(0, BlockTorch())
"""

_USE_THE_WINDOW = """
import json, os
from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

app = QApplication([])
from seqstudio.core.model.layers import Dense
from seqstudio.gui.app import create_window

window = create_window(offer_recovery=False, engine_later=True)
window.show()
app.processEvents()
out = {"loading_text": window.train_panel.status_label.text(),
       "train_enabled_while_loading": window.train_panel.train_button.isEnabled()}
panel = window.data_panel
out["error"] = panel.error
curve = panel.series_plot.getPlotItem().listDataItems()[0]
out["plotted"] = [float(v) for v in curve.getData()[1]]
data = panel.prepared
out["options"] = {k: getattr(data.options, k) for k in ("train_frac", "val_frac", "look_back")}
out["samples_look_back_1"] = [data.n_samples(s) for s in ("train", "val", "test")]
panel._form.widget("look_back").setValue(3)
panel.reload()
data = panel.prepared
out["samples_look_back_3"] = [data.n_samples(s) for s in ("train", "val", "test")]
out["input_shape_3"] = list(data.input_shape)
editor = window.model_editor
editor.insert_layer(Dense(2, activation="relu"), row=1)
summary = window.document.check.summary
out["shapes"] = [list(r.output_shape) for r in summary.rows]
out["params"] = [r.params for r in summary.rows]
out["valid"] = window.document.check.valid
table = editor.summary_table
out["shown_counts"] = [table.item(r, 2).text() for r in range(table.rowCount())]
# the background load fails here (torch is blocked): Train says so and stays off
for _ in range(200):
    if not window.train_panel.engine_loading:
        break
    app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 100)
out["train_enabled_after"] = window.train_panel.train_button.isEnabled()
out["status_after"] = window.train_panel.status_label.text()
out["torch_modules"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print("RESULT " + json.dumps(out), flush=True)
os._exit(0)  # no closing questions (the edited project is not saved)
"""


def _windows(size: int, look_back: int, horizon: int = 1) -> int:
    return max(0, size - look_back - horizon + 1)


def test_the_window_prepares_data_and_edits_layers_with_torch_blocked(tmp_path):
    from seqstudio.core.presets import AIRLINE
    from seqstudio.core.project import resolve_data_path

    # The cells' conformance verdicts are remembered per plugin version and files; the
    # window's start reads them (a first start ever checks the cells, with torch).
    warm = subprocess.run([sys.executable, "-c", "from seqstudio.cli import main; main(['layers', 'list'])"],
                          capture_output=True, text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr
    script = _BLOCK_TORCH + textwrap.dedent(_USE_THE_WINDOW)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                              "SEQSTUDIO_TRAIN_IN_PROCESS": "1",  # no training process to start
                              "SEQSTUDIO_CONFIG_DIR": str(tmp_path / "config")})
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])

    assert out["torch_modules"] == []
    assert out["error"] == ""
    assert out["loading_text"].startswith("Loading the training engine")
    assert out["train_enabled_while_loading"] is False
    # the embedded airline series is plotted as the file holds it
    expected = pd.read_csv(resolve_data_path(AIRLINE))["Passengers"].to_numpy(dtype=float)
    np.testing.assert_array_equal(out["plotted"], expected)
    # windows per part, counted by hand from the split fractions
    n = len(expected)
    opts = out["options"]
    n_train, n_val = int(n * opts["train_frac"]), int(n * opts["val_frac"])
    sizes = (n_train, n_val, n - n_train - n_val)
    assert out["samples_look_back_1"] == [_windows(s, 1) for s in sizes]
    assert out["samples_look_back_3"] == [_windows(s, 3) for s in sizes]
    assert out["input_shape_3"] == [3, 1]
    # the model editor checks the edited stack; counts wait for the engine
    assert out["valid"] is True
    assert out["shapes"] == [[4], [2], [1]]
    assert out["params"] == [None, None, None]
    assert set(out["shown_counts"]) == {"…"}
    # the engine could not load: Train stays off and says why
    assert out["train_enabled_after"] is False
    assert "the training engine (PyTorch) did not load" in out["status_after"]


def test_train_is_enabled_once_the_engine_is_ready(qtbot, registry):
    from seqstudio.gui.app import create_window

    window = create_window(registry=registry, engine_later=True, offer_recovery=False)
    qtbot.addWidget(window)
    panel = window.train_panel
    assert not panel.train_button.isEnabled()
    assert panel.status_label.text().startswith("Loading the training engine")
    with qtbot.waitSignal(window.engineReady, timeout=60_000):
        pass  # the loader starts when Qt's event loop runs
    qtbot.waitUntil(panel.train_button.isEnabled, timeout=10_000)
    assert panel.status_label.text() == ""
    # LSTM(4) on one feature, Keras's layout: 4 gates x (1 input + 4 recurrent + 1 bias) x 4 units;
    # Dense(1) on 4: 4 weights + 1 bias
    summary = window.document.check.summary
    assert [r.params for r in summary.rows] == [4 * (1 + 4 + 1) * 4, 4 + 1]
    assert summary.total_params == 101
    assert window.model_editor.summary_table.item(2, 2).text() == "101"
