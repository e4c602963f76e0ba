"""The runtime in a fresh virtual environment without torch reproduces ``seqstudio predict``.

Slow: it creates a virtual environment, installs ``runtime/`` into it (numpy and
onnxruntime come from the package index), trains the seasonal airline model and
the IMDB model, and compares the runtime's answers with the command line's.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import venv
from itertools import islice

import numpy as np
import pandas as pd
import pytest
import torch

from seqstudio.cli import main
from seqstudio.core.data.text import PreparedText
from seqstudio.core.project import Project
from seqstudio.core.train.evaluate import predict
from seqstudio.pluginapi.manager import builtin_registry

from ...conftest import REPO

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")


def _outside(python, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run in the runtime's environment, away from the checkout (which would be importable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=python.parents[2], env=env)


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory):
    """A new virtual environment holding only the runtime and its two dependencies."""
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    install = _outside(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                str(REPO / "runtime")], 900)
    assert install.returncode == 0, install.stderr[-3000:]
    for name in ("torch", "seqstudio"):
        found = _outside(python, ["-c", f"import {name}"], 60)
        assert found.returncode != 0, f"the runtime's environment must not hold {name}"
    return python


def _in_runtime(python, script: str) -> object:
    out = _outside(python, ["-c", script], 600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_forecasts_equal_seqstudio_predict(runtime_python, tmp_path, capsys):
    project = tmp_path / "air.json"
    assert main(["train", "--preset", "airline-lstm-seasonal", "--epochs", "20", "-q",
                 "--save", str(project)]) == 0
    assert main(["predict", "--project", str(project), "--steps", "24",
                 "--out", str(tmp_path / "pred.csv")]) == 0
    assert main(["export", "--project", str(project), "--out", str(tmp_path / "bundle")]) == 0
    capsys.readouterr()
    history = pd.read_csv(REPO / "resources" / "airline-passengers.csv")["Passengers"].tolist()
    got = np.asarray(_in_runtime(runtime_python, (
        "import json\nfrom seqstudio_runtime import Predictor\n"
        f"p = Predictor.from_bundle({str(tmp_path / 'bundle')!r})\n"
        f"print(json.dumps(p.forecast({history!r}, 24).ravel().tolist()))\n")))
    cli = pd.read_csv(tmp_path / "pred.csv")["Passengers"].to_numpy()
    # `seqstudio predict` prints 4 decimals; the unrounded studio forecast agrees to 1e-5 relative
    np.testing.assert_allclose(got, cli, rtol=1e-5, atol=5e-5 + 1e-12)
    registry = builtin_registry()
    loaded = Project.load(project)
    data = loaded.prepare_data(registry)
    model = loaded.build_model(data, registry)
    _, studio = data.forecast(lambda x: predict(model, torch.as_tensor(x)), 24)
    np.testing.assert_allclose(got, np.ravel(studio), rtol=1e-5, atol=0)
    assert np.abs(got - np.ravel(studio)).max() < 1e-3  # passengers (thousands): far below a person


def test_imdb_labels_of_200_test_reviews_equal_seqstudio_predict(runtime_python, data_dir, tmp_path, capsys):
    project = tmp_path / "imdb.json"
    assert main(["train", "--preset", "imdb-lstm", "--text-csv", str(data_dir / "imdb-reviews-train-part1.csv"),
                 "--test-csv", str(data_dir / "imdb-reviews-test.csv"), "--epochs", "1", "-q",
                 "--save", str(project)]) == 0
    with (data_dir / "imdb-reviews-test.csv").open(encoding="utf-8", newline="") as f:
        # one review per line, as `seqstudio predict --file` reads them (splitlines' breaks joined)
        reviews = [" ".join(row["review"].splitlines()) for row in islice(csv.DictReader(f), 200)]
    lines = tmp_path / "reviews.txt"
    lines.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    (tmp_path / "reviews.json").write_text(json.dumps(reviews), encoding="utf-8")
    assert main(["predict", "--project", str(project), "--file", str(lines),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    assert main(["export", "--project", str(project), "--out", str(tmp_path / "bundle")]) == 0
    capsys.readouterr()
    got = _in_runtime(runtime_python, (
        "import json\nfrom seqstudio_runtime import Predictor\n"
        f"p = Predictor.from_bundle({str(tmp_path / 'bundle')!r})\n"
        f"texts = json.load(open({str(tmp_path / 'reviews.json')!r}, encoding='utf-8'))\n"
        "r = p.predict_text(texts)\n"
        "print(json.dumps({'labels': r.labels, 'p': r.probabilities.tolist()}))\n"))
    cli = pd.read_csv(tmp_path / "pred.csv")
    assert len(cli) == len(got["labels"]) == 200
    assert got["labels"] == cli["label"].tolist()
    np.testing.assert_allclose(got["p"], cli["probability"], rtol=0, atol=5e-5 + 1e-12)
    loaded = Project.load(project)
    registry = builtin_registry()
    model = loaded.build_model(loaded.prepare_data(registry), registry)
    studio = predict(model, PreparedText.from_fitted_state(loaded.fitted).encode_texts(reviews))[:, 0]
    np.testing.assert_allclose(got["p"], studio, rtol=0, atol=1e-5)
