"""Data identity: what a run trained on, and the key runs are grouped by."""

from __future__ import annotations

from seqstudio.core.data.identity import data_identity, data_key, data_label, run_data_label
from seqstudio.core.train.events import TrainResult
from seqstudio.core.train.runs import make_run_record, seed_groups


def test_identity_names_the_file_and_target_and_hashes_the_contents(tmp_path):
    a = tmp_path / "sales.csv"
    a.write_text("Month,Sales\n1,2\n2,3\n")
    first = data_identity("csv-series", {"path": str(a), "target": ["Sales"], "look_back": 3})
    assert (first["source"], first["file"], first["target"]) == ("csv-series", "sales.csv", "Sales")
    assert data_label(first) == "sales.csv → Sales"
    # the same bytes elsewhere: the same data
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "sales.csv").write_bytes(a.read_bytes())
    again = data_identity("csv-series", {"path": str(moved / "sales.csv"), "target": ["Sales"],
                                         "look_back": 3})
    assert again["hash"] == first["hash"]
    # the file edited under the same name, or other options: other data
    a.write_text("Month,Sales\n1,2\n2,4\n")
    edited = data_identity("csv-series", {"path": str(a), "target": ["Sales"], "look_back": 3})
    assert edited["hash"] != first["hash"]
    other = data_identity("csv-series", {"path": str(moved / "sales.csv"), "target": ["Sales"],
                                         "look_back": 12})
    assert other["hash"] != first["hash"]


def test_text_identity_uses_the_label_column_and_both_files(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("review,sentiment\ngood,positive\n")
    test.write_text("review,sentiment\nbad,negative\n")
    ident = data_identity("text-csv", {"path": str(train), "test_path": str(test),
                                       "label_col": "sentiment"})
    assert ident["file"] == "train.csv + test.csv" and ident["target"] == "sentiment"


def test_resolved_target_wins_over_an_empty_option(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("t,a,b\n1,2,3\n")
    assert data_identity("csv-series", {"path": str(f), "target": []}, target=["b"])["target"] == "b"


def test_records_carry_the_identity_and_group_by_it():
    result = TrainResult(history=[], epochs_run=1, best_epoch=None, stopped_reason=None,
                         seconds=1.0, device="cpu", threads=1)

    base = {"source": "csv-series", "data_options": {"path": "a.csv"}, "model": {"layers": []}}
    r1 = make_run_record(**base, train={"seed": 0}, result=result, data={"hash": "h1", "file": "a.csv"})
    r2 = make_run_record(**base, train={"seed": 1}, result=result, data={"hash": "h2", "file": "a.csv"})
    r3 = make_run_record(**base, train={"seed": 2}, result=result, data={"hash": "h1", "file": "a.csv"})
    assert r1["data"]["hash"] == "h1" and data_key(r1) == data_key(r3) != data_key(r2)
    # the file changed between r1 and r2: not a seed group, although the options are equal
    assert [[r["id"] for r in g] for g in seed_groups([r1, r2, r3])] == [[r1["id"], r3["id"]]]


def test_older_records_without_identity_still_get_a_label_and_key():
    old = {"source": "text-csv", "data_options": {"path": "/x/imdb.csv", "label_col": "sentiment"}}
    assert run_data_label(old) == "imdb.csv → sentiment"
    assert data_key(old) == data_key(dict(old)) != data_key({**old, "source": "csv-series"})
