"""CLI details met in real use: several --text, and no display for the window."""

from __future__ import annotations

import os
import subprocess
import sys

from seqstudio.cli import main


def test_predict_classifies_every_text_given(tmp_path, capsys):
    reviews = tmp_path / "r.csv"
    rows = [f"{'great fun loved it' if i % 2 else 'awful boring hated it'} {i},{'pos' if i % 2 else 'neg'}"
            for i in range(40)]
    reviews.write_text("review,sentiment\n" + "\n".join(rows) + "\n")
    project = tmp_path / "t.json"
    assert main(["train", "--text-csv", str(reviews), "--max-len", "8", "--num-words", "50",
                 "--layers", "Embedding(50,4), GlobalAveragePooling1D(), Dense(1, activation='sigmoid')",
                 "--epochs", "1", "-q", "--save", str(project)]) == 0
    capsys.readouterr()
    assert main(["predict", "--project", str(project), "--text", "loved it",
                 "--text", "hated it", "--text", "boring"]) == 0
    out = capsys.readouterr().out
    assert "loved it" in out and "hated it" in out and "boring" in out
    assert len([line for line in out.splitlines() if line.strip()]) == 4  # header + three rows


def test_no_display_says_so_and_points_to_the_headless_commands():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "seqstudio.cli"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "no display found" in proc.stderr and "seqstudio train" in proc.stderr
    assert "xcb" not in proc.stderr and "Traceback" not in proc.stderr


def test_save_names_the_project(tmp_path, capsys):
    from seqstudio.core.project import Project

    path = tmp_path / "my-study.json"
    assert main(["train", "--preset", "airline-lstm", "--epochs", "1", "-q", "--save", str(path)]) == 0
    assert Project.load(path).name == "my-study"
