"""Built-in text sources: text CSV, the aclImdb layout (folder / streamed tar.gz / download), rt-polarity."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch

from seqstudio.core.data.text import PreparedText, TextOptions, prepare_text
from seqstudio.core.errors import DataError

sources = pytest.importorskip("seqstudio_builtins.text_sources")


# --------------------------------------------------------------------------- registration
def test_sources_are_text_kind_with_form_options():
    names = {s.name: s for s in sources.SOURCES}
    assert set(names) == {"text-csv", "imdb-reviews", "rt-polarity"}
    for src in sources.SOURCES:
        assert src.kind == "text" and src.description
        assert len({o.name for o in src.options}) == len(src.options)
    assert names["text-csv"].defaults()["num_words"] == 10000


def test_builtin_registry_finds_the_text_sources(registry, data_dir):
    src = registry.source("text-csv")
    data = src.load({**src.defaults(), "path": str(data_dir / "imdb-reviews-test.csv"),
                     "max_len": 30, "num_words": 200, "test_frac": 0.2})
    assert isinstance(data, PreparedText) and data.x_train.shape == (2000, 30)


# --------------------------------------------------------------------------- text CSV
def test_text_csv_loader_equals_prepare_text(data_dir):
    opts = {"path": str(data_dir / "imdb-reviews-train-part2.csv"), "max_len": 40, "num_words": 300,
            "val_frac": 0.1, "seed": 5}
    via_source = sources.load_text_csv(opts)
    direct = prepare_text(TextOptions(**opts))
    assert torch.equal(via_source.x_val, direct.x_val) and torch.equal(via_source.y_train, direct.y_train)
    assert via_source.fitted_state() == direct.fitted_state()


def test_text_csv_loader_rejects_unknown_options_and_a_missing_path():
    with pytest.raises(DataError, match="unknown text-csv options: colour"):
        sources.load_text_csv({"path": "x.csv", "colour": 1})
    with pytest.raises(DataError, match="no text CSV"):
        sources.load_text_csv({})


# --------------------------------------------------------------------------- aclImdb layout
@pytest.fixture(scope="module")
def imdb_sample(data_dir):
    """A small aclImdb tree rebuilt from the CSV sample (its `source` column is the original path)."""
    frames = {"train": pd.read_csv(data_dir / "imdb-reviews-train-part1.csv").head(40),
              "test": pd.read_csv(data_dir / "imdb-reviews-test.csv").head(30)}
    files: dict[str, bytes] = {}
    for frame in frames.values():
        for review, source in zip(frame["review"], frame["source"], strict=True):
            files[f"aclImdb/{source}"] = review.encode("utf-8")
    files["aclImdb/train/unsup/0_0.txt"] = b"unlabelled review, ignored"
    files["aclImdb/README"] = b"readme"
    return frames, files


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _expected(frame: pd.DataFrame) -> list[tuple[str, str]]:
    # Reference order: by label folder (neg before pos), then review number, as read_imdb documents.
    rows = [(s.split("/")[1], int(s.split("/")[2].split("_")[0]), r, lab)
            for r, lab, s in zip(frame["review"], frame["sentiment"], frame["source"], strict=True)]
    return [(r, lab) for _, _, r, lab in sorted(rows)]


def test_read_imdb_from_folder_and_archive_agree_with_the_sample(imdb_sample, tmp_path):
    frames, files = imdb_sample
    folder = _write_tree(tmp_path / "tree", files)
    archive = _write_tar(tmp_path / "aclImdb_v1.tar.gz", files)
    for path in (folder, folder / "aclImdb", archive):
        parts = sources.read_imdb(path)
        for split in ("train", "test"):
            got = list(zip(parts[split].texts, parts[split].labels, strict=True))
            assert got == _expected(frames[split])


def test_archive_is_streamed_without_extracting(imdb_sample, tmp_path, monkeypatch):
    _, files = imdb_sample
    archive = _write_tar(tmp_path / "a.tar.gz", files)
    monkeypatch.chdir(tmp_path)
    opened_modes = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        opened_modes.append(kwargs.get("mode", args[1] if len(args) > 1 else "r"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    before = sorted(p.name for p in tmp_path.iterdir())
    sources.read_imdb(archive, limit=3)
    assert opened_modes == ["r|*"]  # stream mode: one forward pass, no random access
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_imdb_limit_keeps_the_first_reviews_of_each_split_and_label(imdb_sample, tmp_path):
    _, files = imdb_sample
    parts = sources.read_imdb(_write_tar(tmp_path / "a.tar.gz", files), limit=2)
    assert parts["train"].labels == ["negative"] * 2 + ["positive"] * 2
    assert len(parts["test"]) == 4


def test_imdb_source_prepares_train_and_test(imdb_sample, tmp_path):
    frames, files = imdb_sample
    archive = _write_tar(tmp_path / "aclImdb_v1.tar.gz", files)
    data = sources.load_imdb({"path": str(archive), "max_len": 50, "num_words": 500, "val_frac": 0.25})
    assert data.task == "binary" and data.class_names == ["negative", "positive"]
    assert data.x_train.shape == (30, 50) and data.x_val.shape == (10, 50) and data.x_test.shape == (30, 50)
    expected = [lab == "positive" for _, lab in _expected(frames["test"])]
    assert data.y_test.ravel().bool().tolist() == expected


@pytest.mark.parametrize("layout", [
    {"reviews/pos/1_9.txt": b"good", "reviews/neg/2_1.txt": b"bad"},
    {"aclImdb/train/pos/1_9.txt": b"good only positives"},
    {},
])
def test_archive_with_the_wrong_layout_is_a_data_error(layout, tmp_path):
    archive = _write_tar(tmp_path / "wrong.tar.gz", layout)
    with pytest.raises(DataError, match="not the aclImdb layout") as err:
        sources.read_imdb(archive)
    assert "train/pos" in err.value.fix


def test_damaged_archive_and_missing_path_are_data_errors(imdb_sample, tmp_path):
    _, files = imdb_sample
    good = _write_tar(tmp_path / "a.tar.gz", files).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cannot read the archive") as err:
        sources.read_imdb(cut)
    assert "truncated" in err.value.fix
    not_tar = tmp_path / "reviews.csv"
    not_tar.write_text("review,sentiment\n")
    with pytest.raises(DataError, match="cannot read the archive"):
        sources.read_imdb(not_tar)
    with pytest.raises(DataError, match="does not exist"):
        sources.read_imdb(tmp_path / "nowhere")


def test_non_utf8_review_is_a_data_error(tmp_path):
    files = {"aclImdb/train/pos/1_9.txt": b"caf\xe9", "aclImdb/train/neg/2_1.txt": b"bad"}
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        sources.read_imdb(_write_tar(tmp_path / "x.tar.gz", files))
    assert "train/pos/1_9.txt" in err.value.where


# --------------------------------------------------------------------------- download
class _Server:
    """A local HTTP server for one payload; optionally honours Range and drops mid-way."""

    def __init__(self, payload: bytes, *, ranges: bool = True, cut_after: int | None = None):
        self.payload = payload
        self.ranges = ranges
        self.cut_after = cut_after
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                outer.requests.append(dict(self.headers))
                if self.path != "/aclImdb_v1.tar.gz":
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                if outer.ranges and header:
                    start = int(header.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(outer.payload) - 1}/{len(outer.payload)}")
                else:
                    self.send_response(200)
                body = outer.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    body = body[: outer.cut_after]
                    outer.cut_after = None  # only the first answer is cut short
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/aclImdb_v1.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def archive_bytes(imdb_sample, tmp_path_factory):
    _, files = imdb_sample
    return _write_tar(tmp_path_factory.mktemp("arch") / "a.tar.gz", files).read_bytes()


def test_download_verifies_checksum_and_reports_progress(archive_bytes, tmp_path):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    seen = []
    dest = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    with _Server(archive_bytes) as server:
        got = sources.download_file(server.url, dest, sha256=digest, chunk_size=4096,
                                    progress=lambda done, total: seen.append((done, total)))
        assert got == dest and dest.read_bytes() == archive_bytes
        assert seen[-1] == (len(archive_bytes), len(archive_bytes))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        # Already there with the right checksum: no second request.
        sources.download_file(server.url, dest, sha256=digest)
        assert len(server.requests) == 1
    assert not (tmp_path / "cache" / "aclImdb_v1.tar.gz.part").exists()


def test_download_resumes_with_a_range_request(archive_bytes, tmp_path):
    dest = tmp_path / "aclImdb_v1.tar.gz"
    half = len(archive_bytes) // 2
    dest.with_name(dest.name + ".part").write_bytes(archive_bytes[:half])
    with _Server(archive_bytes) as server:
        sources.download_file(server.url, dest, sha256=hashlib.sha256(archive_bytes).hexdigest())
    assert server.requests[0].get("Range") == f"bytes={half}-"
    assert dest.read_bytes() == archive_bytes


def test_download_restarts_cleanly_when_the_server_ignores_range(archive_bytes, tmp_path):
    dest = tmp_path / "aclImdb_v1.tar.gz"
    dest.with_name(dest.name + ".part").write_bytes(b"stale bytes from another file")
    with _Server(archive_bytes, ranges=False) as server:
        sources.download_file(server.url, dest, sha256=hashlib.sha256(archive_bytes).hexdigest())
    assert "Range" in server.requests[0]
    assert dest.read_bytes() == archive_bytes


def test_interrupted_download_is_a_data_error_then_resumes(archive_bytes, tmp_path):
    dest = tmp_path / "aclImdb_v1.tar.gz"
    digest = hashlib.sha256(archive_bytes).hexdigest()
    with _Server(archive_bytes, cut_after=1000) as server:
        with pytest.raises(DataError, match="stopped after 1000") as err:
            sources.download_file(server.url, dest, sha256=digest, timeout=5)
        assert "resumes" in err.value.fix and not dest.exists()
        sources.download_file(server.url, dest, sha256=digest)
        assert server.requests[1].get("Range") == "bytes=1000-"
    assert dest.read_bytes() == archive_bytes


def test_wrong_checksum_deletes_the_download(archive_bytes, tmp_path):
    dest = tmp_path / "aclImdb_v1.tar.gz"
    with _Server(archive_bytes) as server, pytest.raises(DataError, match="wrong SHA-256"):
        sources.download_file(server.url, dest, sha256="0" * 64)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_download_errors_are_data_errors(archive_bytes, tmp_path):
    with _Server(archive_bytes) as server:
        with pytest.raises(DataError, match="HTTP 404"):
            sources.download_file(server.url.replace("aclImdb_v1", "other"), tmp_path / "x")
        port = server.httpd.server_address[1]
    # The server is gone: nothing listens on that port any more.
    with pytest.raises(DataError, match="cannot download"):
        sources.download_file(f"http://127.0.0.1:{port}/a.tar.gz", tmp_path / "y", timeout=5)


def test_imdb_source_downloads_into_the_cache_when_asked(archive_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "default_cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(DataError, match="download=True"):
        sources.load_imdb({"path": ""})
    with _Server(archive_bytes) as server:
        # the built-in location, here a local server
        monkeypatch.setattr(sources, "IMDB_URL", server.url)
        monkeypatch.setattr(sources, "IMDB_SHA256", hashlib.sha256(archive_bytes).hexdigest())
        data = sources.load_imdb({"path": "", "download": True, "max_len": 20, "num_words": 100})
    assert (tmp_path / "cache" / "aclImdb_v1.tar.gz").read_bytes() == archive_bytes
    assert data.x_train.shape == (40, 20)


@pytest.mark.parametrize("options", [
    {"url": "SERVER", "sha256": ""},
    {"url": "SERVER", "sha256": "CORRECT"},
    {"sha256": "0" * 64},
])
def test_a_project_never_chooses_where_seqstudio_downloads_from(archive_bytes, tmp_path,
                                                               monkeypatch, options):
    """A project naming its own URL (or dropping the checksum) connects nowhere."""
    from seqstudio.core.project import Project
    from seqstudio.pluginapi.manager import builtin_registry

    monkeypatch.setattr(sources, "default_cache_dir", lambda: tmp_path / "cache")
    with _Server(archive_bytes) as server:
        digest = hashlib.sha256(archive_bytes).hexdigest()
        chosen = {k: server.url if v == "SERVER" else digest if v == "CORRECT" else v
                  for k, v in options.items()}
        p = Project(source="imdb-reviews", data_options={"path": "", "download": True, **chosen})
        with pytest.raises(DataError, match="built-in") as err:
            p.prepare_data(builtin_registry())
        assert server.requests == []
    assert "download the archive yourself" in err.value.fix
    assert not (tmp_path / "cache").exists()


def test_default_cache_dir_is_the_user_cache():
    import platformdirs

    assert sources.default_cache_dir().parent == Path(platformdirs.user_cache_dir("seqstudio"))


# --------------------------------------------------------------------------- rt-polarity
def test_rt_polarity_reads_5331_lines_each_in_cp1252(data_dir):
    corpus = sources.read_rt_polarity(data_dir)
    for suffix, label in (("pos", "positive"), ("neg", "negative")):
        raw = (data_dir / f"rt-polarity.{suffix}").read_bytes()
        # Reference: one sentence per b"\n"-terminated line; latin-1's NEL trap must not split more.
        assert corpus.labels.count(label) == raw.count(b"\n") == 5331
    assert any("\u2026" in t for t in corpus.texts)  # 0x85 is an ellipsis under cp1252
    assert not any("\x85" in t for t in corpus.texts)
    with pytest.raises(DataError, match="not valid utf-8") as err:
        sources.read_rt_polarity(data_dir, encoding="utf-8")
    assert "cp1252" in err.value.fix


def test_rt_polarity_source_prepares_a_seeded_test_split(data_dir):
    data = sources.load_rt_polarity({"path": str(data_dir), "max_len": 40, "num_words": 2000,
                                     "test_frac": 0.2, "val_frac": 0.1, "seed": 7})
    assert data.task == "binary" and data.class_names == ["negative", "positive"]
    n = len(data.x_train) + len(data.x_val) + len(data.x_test)
    assert n == 10662 and len(data.x_test) == round(0.2 * 10662)
    assert 0.45 < float(data.y_train.mean()) < 0.55
    with pytest.raises(DataError, match="rt-polarity.neg"):
        sources.load_rt_polarity({"path": str(data_dir / "nowhere")})
