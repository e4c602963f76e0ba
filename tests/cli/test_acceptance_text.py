"""The lecture's IMDB model on real reviews, through the CLI (slow: about two minutes)."""

from __future__ import annotations

import json

import pytest

from seqstudio.cli import main


@pytest.mark.slow
def test_imdb_lstm_reaches_075_test_accuracy_in_8_epochs(data_dir, tmp_path, capsys):
    train = f"{data_dir / 'imdb-reviews-train-part1.csv'},{data_dir / 'imdb-reviews-train-part2.csv'}"
    out = tmp_path / "m.json"
    proj = tmp_path / "imdb.json"
    # A fixed epoch count chosen without looking at the test set (the preset's 8).
    rc = main(["train", "--preset", "imdb-lstm", "--text-csv", train,
               "--test-csv", str(data_dir / "imdb-reviews-test.csv"), "-q",
               "--metrics-out", str(out), "--save", str(proj)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["epochs_run"] == 8
    test = report["splits"]["test"]
    assert test["accuracy"] >= 0.75
    # The confusion matrix agrees with the accuracy it reports.
    cm = test["confusion_matrix"]
    assert (cm[0][0] + cm[1][1]) / sum(map(sum, cm)) == pytest.approx(test["accuracy"])
    capsys.readouterr()
    assert main(["predict", "--project", str(proj), "--text", "this film was just brilliant"]) == 0
    assert "positive" in capsys.readouterr().out
