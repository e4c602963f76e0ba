"""Built-in text data sources: a labelled text CSV, the IMDB review corpus, Pang & Lee polarity.

Each source is a :class:`~seqstudio.core.registry.SourceType` with ``kind="text"``
whose loader returns a :class:`~seqstudio.core.data.text.PreparedText`:

- ``text-csv``: any CSV with a text column and a label column (strings such as
  ``positive`` / ``negative``, or integers; two or more classes).
- ``imdb-reviews``: the Large Movie Review Dataset layout
  (``aclImdb/{train,test}/{pos,neg}/*.txt``) from a folder or straight from the
  original ``aclImdb_v1.tar.gz`` (streamed, never extracted to disk), optionally
  downloaded into the user cache first (:func:`download_file`).
- ``rt-polarity``: the sentence-polarity files ``rt-polarity.pos`` / ``.neg``
  (Windows-1252 bytes, one sentence a line, the file name is the label).

>>> [s.name for s in SOURCES]
['text-csv', 'imdb-reviews', 'rt-polarity']
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from seqstudio.core.data.text import (
    LabelledTexts,
    PreparedText,
    TextOptions,
    prepare_text,
    read_text_file,
)
from seqstudio.core.errors import DataError
from seqstudio.core.registry import OptionSpec, SourceType

__all__ = [
    "SOURCES", "IMDB_URL", "IMDB_SHA256", "IMDB_CLASS_NAMES", "TEXT_CSV_OPTIONS",
    "read_imdb", "read_rt_polarity", "download_file", "default_cache_dir",
    "load_text_csv", "load_imdb", "load_rt_polarity",
]

#: The original archive (Maas et al. 2011), 84,125,825 bytes.
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: Its published SHA-256 (the one TensorFlow Datasets and others check).
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
#: The shipped values (tests point IMDB_URL at a local server; older projects store these).
_BUILTIN_IMDB_URL, _BUILTIN_IMDB_SHA256 = IMDB_URL, IMDB_SHA256
IMDB_CLASS_NAMES = ["negative", "positive"]

ProgressCallback = Callable[[int, "int | None"], None]

# aclImdb/train/pos/1234_9.txt (the leading folder is optional for a bare copy).
_IMDB_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


# --------------------------------------------------------------------------- options
def _encoding_options(max_len: int = 200, num_words: int | None = 10000) -> tuple[OptionSpec, ...]:
    return (
        OptionSpec("num_words", "int", num_words, "keep ids below this: the num_words-4 most "
                   "frequent training words (0 = all words)", minimum=0),
        OptionSpec("max_len", "int", max_len, "pad / cut each text to this many ids", minimum=1),
        OptionSpec("level", "choice", "word", "word or character tokens", choices=("word", "char")),
        OptionSpec("padding", "choice", "pre", "where short texts get padding", choices=("pre", "post")),
        OptionSpec("truncating", "choice", "pre", "which end of a long text is cut",
                   choices=("pre", "post")),
        OptionSpec("val_frac", "float", 0.0, "fraction of training texts held out for validation",
                   minimum=0.0, maximum=0.9),
        OptionSpec("seed", "int", 0, "seed of the random held-out split"),
        OptionSpec("lowercase", "bool", True, "lower-case the text"),
        OptionSpec("punctuation", "choice", "split", "keep punctuation marks as tokens or drop them",
                   choices=("split", "drop")),
    )


TEXT_CSV_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("path", "path", "", "CSV file of training texts (or a list of files, read as one)",
               required=True, multiple=True),
    OptionSpec("text_col", "column", "review", "column holding the text", required=True),
    OptionSpec("label_col", "column", "sentiment", "column holding the label", required=True),
    OptionSpec("test_path", "path", None, "separate CSV of test texts (optional)"),
    OptionSpec("test_frac", "float", 0.0, "fraction held out for test when there is no test file",
               minimum=0.0, maximum=0.9),
    OptionSpec("task", "choice", "auto", "binary, multiclass, or auto (from the label count)",
               choices=("auto", "binary", "multiclass")),
    OptionSpec("encoding", "str", "utf-8", "text encoding of the files (cp1252 for old Windows files)"),
    OptionSpec("drop_empty", "bool", False, "skip empty texts instead of stopping with an error"),
    *_encoding_options(),
)

IMDB_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("path", "path", "", "aclImdb folder or aclImdb_v1.tar.gz; empty: the cached download"),
    OptionSpec("download", "bool", False, "download the archive into the user cache if missing"),
    # Kept so that older projects holding them still open; only the built-in values are accepted:
    # a project never chooses where seqstudio connects.
    OptionSpec("url", "str", IMDB_URL, "the built-in download location (no other is used)"),
    OptionSpec("sha256", "str", IMDB_SHA256, "the built-in archive's SHA-256 (always checked)"),
    OptionSpec("limit", "int", 0, "read at most this many reviews per split and label (0 = all)",
               minimum=0),
    *_encoding_options(max_len=200),
)

RT_POLARITY_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("path", "path", "", "folder holding rt-polarity.pos and rt-polarity.neg", required=True),
    OptionSpec("encoding", "str", "cp1252", "encoding of the files (they are Windows-1252)"),
    OptionSpec("test_frac", "float", 0.2, "fraction held out for test", minimum=0.0, maximum=0.9),
    *_encoding_options(max_len=60),
)

_ENCODING_KEYS = ("num_words", "max_len", "level", "padding", "truncating", "val_frac", "seed",
                  "lowercase", "punctuation")


def _text_options(opts: Mapping[str, Any], defaults: tuple[OptionSpec, ...], **fixed: Any) -> TextOptions:
    merged = {o.name: o.default for o in defaults}
    merged.update(opts)
    values = {k: merged[k] for k in _ENCODING_KEYS if k in merged}
    if values.get("num_words") in (0, None):
        values["num_words"] = None
    values.update(fixed)
    return TextOptions(**values)


# --------------------------------------------------------------------------- text CSV
def load_text_csv(opts: Mapping[str, Any]) -> PreparedText:
    """Loader of ``text-csv``: :func:`~seqstudio.core.data.text.prepare_text` on the CSV options."""
    known = {o.name for o in TEXT_CSV_OPTIONS}
    data = {k: v for k, v in opts.items() if k in known}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise DataError(f"unknown text-csv options: {', '.join(unknown)}",
                        fix=f"use only: {', '.join(sorted(known))}")
    merged = {o.name: o.default for o in TEXT_CSV_OPTIONS} | data
    if not merged.get("path"):
        raise DataError("no text CSV chosen", fix="set path to a CSV file with a text and a label column")
    if merged.get("num_words") == 0:
        merged["num_words"] = None
    return prepare_text(TextOptions.from_dict(merged))


# --------------------------------------------------------------------------- IMDB
def default_cache_dir() -> Path:
    """Where downloads go: the user cache of seqstudio (platformdirs), ``datasets/`` inside."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("seqstudio")) / "datasets"


def _imdb_sort_key(item: tuple[str, str, int, str]) -> tuple[str, str, int]:
    return item[0], item[1], item[2]


def read_imdb(path: str | Path, limit: int = 0) -> dict[str, LabelledTexts]:
    """Read the labelled reviews of an aclImdb folder or ``.tar.gz`` archive.

    Returns ``{"train": ..., "test": ...}`` with labels ``"negative"`` /
    ``"positive"``, ordered by split, label and review number (whatever the
    archive's order). The archive is streamed member by member (``tarfile``
    ``r|*`` mode): nothing is extracted to disk. ``unsup/`` is skipped.
    ``limit`` keeps the first ``limit`` reviews of each split and label.

    Raises :class:`DataError` for a missing path, a damaged archive, a file
    that is not UTF-8, or a layout without ``train/{pos,neg}/*.txt``.
    """
    path = Path(path)
    found: list[tuple[str, str, int, str]] = []  # split, label, number, text
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        files = sorted(root.glob("*/*/*.txt"))
        for f in files:
            rel = f.relative_to(root).as_posix()
            m = _IMDB_MEMBER.search(rel)
            if not m:
                continue
            split, label, number = m.group(1), m.group(2), int(m.group(3))
            found.append((split, label, number, _decode_review(f.read_bytes(), str(f))))
    elif path.is_file():
        try:
            with tarfile.open(path, mode="r|*") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    m = _IMDB_MEMBER.search(member.name)
                    if not m:
                        continue
                    split, label, number = m.group(1), m.group(2), int(m.group(3))
                    handle = archive.extractfile(member)
                    raw = handle.read() if handle else b""
                    found.append((split, label, number, _decode_review(raw, f"{path}:{member.name}")))
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise DataError(f"cannot read the archive: {exc}", where=str(path),
                            fix="download it again (the file may be truncated) or give the "
                                "extracted aclImdb folder") from exc
    else:
        raise DataError("the IMDB reviews folder or archive does not exist", where=str(path),
                        fix="give the aclImdb folder or aclImdb_v1.tar.gz, or set download=True")
    # A stream comes in archive order: sort so that every copy gives the same data, then cut.
    found.sort(key=_imdb_sort_key)
    found = _apply_limit(found, limit)

    result: dict[str, LabelledTexts] = {}
    for split in ("train", "test"):
        rows = [r for r in found if r[0] == split]
        labels_present = {r[1] for r in rows}
        if split == "train" and labels_present != {"pos", "neg"}:
            missing = ", ".join(f"{split}/{lb}/*.txt" for lb in ("neg", "pos") if lb not in labels_present)
            raise DataError(f"not the aclImdb layout: no {missing} found", where=str(path),
                            fix="expect aclImdb/train/pos/*.txt, aclImdb/train/neg/*.txt "
                                "(and test/...) as in aclImdb_v1.tar.gz")
        result[split] = LabelledTexts(
            texts=[r[3] for r in rows],
            labels=["positive" if r[1] == "pos" else "negative" for r in rows],
            where=[f"{split}/{r[1]}/{r[2]}" for r in rows],
            origin=str(path))
    return result


def _apply_limit(found: list[tuple[str, str, int, str]], limit: int) -> list[tuple[str, str, int, str]]:
    if not limit:
        return found
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for row in found:
        key = (row[0], row[1])
        if seen.get(key, 0) < limit:
            seen[key] = seen.get(key, 0) + 1
            kept.append(row)
    return kept


def _decode_review(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"a review is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at {exc.start})",
                        where=where, fix="re-save the file as UTF-8 or remove it") from exc


def load_imdb(opts: Mapping[str, Any]) -> PreparedText:
    """Loader of ``imdb-reviews``: read (or download, then read) and prepare the reviews."""
    merged = {o.name: o.default for o in IMDB_OPTIONS} | dict(opts)
    path = merged.get("path") or ""
    if not path:
        _refuse_foreign_download(opts)
        cached = default_cache_dir() / Path(IMDB_URL).name
        if not cached.is_file():
            if not merged.get("download"):
                raise DataError("no IMDB folder or archive chosen, and none downloaded yet",
                                where=str(cached),
                                fix="set path to aclImdb or aclImdb_v1.tar.gz, or set download=True")
            download_file(IMDB_URL, cached, sha256=IMDB_SHA256)
        path = cached
    parts = read_imdb(path, limit=int(merged.get("limit") or 0))
    options = _text_options(merged, IMDB_OPTIONS, path=str(path), text_col="review",
                            label_col="sentiment", class_names=IMDB_CLASS_NAMES, task="binary")
    test = parts["test"] if len(parts["test"]) else None
    return prepare_text(options, train=parts["train"], test=test)


def _refuse_foreign_download(opts: Mapping[str, Any]) -> None:
    """Options (from a project file, perhaps someone else's) never choose where to connect."""
    url, sha = opts.get("url"), opts.get("sha256")
    foreign_url = url not in (None, "", IMDB_URL, _BUILTIN_IMDB_URL)
    foreign_sha = sha not in (None, IMDB_SHA256, _BUILTIN_IMDB_SHA256)
    if foreign_url or foreign_sha:
        option = "url" if foreign_url else "sha256"
        raise DataError(
            "the data options name a download location or checksum other than the built-in one; "
            "seqstudio downloads only from its own checksummed location",
            where=f"imdb-reviews option {option!r} = {opts.get(option)!r}",
            fix="remove the url and sha256 options to use the built-in download, or download the "
                "archive yourself and set path to it")


# --------------------------------------------------------------------------- download
def download_file(url: str, dest: str | Path, *, sha256: str | None = None,
                  progress: ProgressCallback | None = None, chunk_size: int = 1 << 16,
                  timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``, resuming a partial download, and verify its SHA-256.

    Bytes go to ``dest + ".part"`` first. When that file exists the request
    asks for the rest (HTTP ``Range``); a server answering 206 with the right
    ``Content-Range`` is appended to, any other answer restarts cleanly from
    byte 0. Only a complete file whose checksum matches is renamed to
    ``dest``; a mismatch deletes it and raises :class:`DataError`. A ``dest``
    that already exists with the right checksum is returned at once.
    ``progress(done_bytes, total_bytes_or_None)`` is called after each chunk.

    >>> download_file(IMDB_URL, default_cache_dir() / "aclImdb_v1.tar.gz",
    ...               sha256=IMDB_SHA256)  # doctest: +SKIP
    """
    dest = Path(dest)
    if dest.is_file() and (not sha256 or _sha256_of(dest) == sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "seqstudio"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (user-chosen URL)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part is already complete (or bigger): start again
            part.unlink(missing_ok=True)
            return download_file(url, dest, sha256=sha256, progress=progress,
                                 chunk_size=chunk_size, timeout=timeout)
        raise DataError(f"download failed: HTTP {exc.code} {exc.reason}", where=url,
                        fix="check the URL, or download the file by hand and give its path") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"cannot download (offline?): {reason}", where=url,
                        fix="connect to the internet, or download the file by hand and give its path"
                        ) from exc
    with response:
        resumed = have and response.status == 206 and _range_start(response) == have
        if not resumed:
            have = 0  # server ignored the Range (200) or answered another range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(chunk_size):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
            raise DataError(f"the download stopped after {done} bytes: {exc!r}", where=url,
                            fix="try again: the download resumes where it stopped") from exc
    if total is not None and done < total:
        raise DataError(f"the download stopped after {done} of {total} bytes", where=url,
                        fix="try again: the download resumes where it stopped")
    if sha256:
        actual = _sha256_of(part)
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise DataError(f"the downloaded file has the wrong SHA-256 checksum ({actual})",
                            where=url, fix=f"expected {sha256}: check the URL and checksum, and try "
                                           "again (the damaged file was deleted)")
    os.replace(part, dest)
    return dest


def _range_start(response: Any) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- rt-polarity
def read_rt_polarity(path: str | Path, encoding: str = "cp1252") -> LabelledTexts:
    """Read ``rt-polarity.pos`` / ``.neg`` from a folder: one sentence a line, labelled by file.

    Lines are split on ``\\n`` only: under latin-1 the byte 0x85 becomes U+0085,
    which ``str.splitlines`` would wrongly treat as a line break. Blank lines
    are skipped. Bytes invalid in ``encoding`` are a :class:`DataError`.
    """
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    texts: list[str] = []
    labels: list[str] = []
    where: list[str] = []
    for suffix, label in (("neg", "negative"), ("pos", "positive")):
        f = folder / f"rt-polarity.{suffix}"
        decoded = read_text_file(
            f, encoding, name=f"rt-polarity.{suffix}",
            missing_fix="choose the folder holding rt-polarity.pos and rt-polarity.neg")
        for number, line in enumerate(decoded.split("\n"), start=1):
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
                where.append(f"rt-polarity.{suffix} line {number}")
    return LabelledTexts(texts, labels, where, str(folder))


def load_rt_polarity(opts: Mapping[str, Any]) -> PreparedText:
    """Loader of ``rt-polarity``: both files, ``test_frac`` held out at random."""
    merged = {o.name: o.default for o in RT_POLARITY_OPTIONS} | dict(opts)
    corpus = read_rt_polarity(merged["path"], merged.get("encoding") or "cp1252")
    options = _text_options(merged, RT_POLARITY_OPTIONS, path=str(merged["path"]),
                            text_col="sentence", label_col="polarity", encoding=merged["encoding"],
                            test_frac=float(merged.get("test_frac") or 0.0),
                            class_names=IMDB_CLASS_NAMES, task="binary")
    return prepare_text(options, train=corpus)


SOURCES: list[SourceType] = [
    SourceType(name="text-csv", kind="text", load=load_text_csv, options=TEXT_CSV_OPTIONS,
               description="Labelled texts from a CSV: choose the text and label columns "
                           "(labels as strings or integers, two or more classes)."),
    SourceType(name="imdb-reviews", kind="text", load=load_imdb, options=IMDB_OPTIONS,
               description="IMDB Large Movie Review Dataset (Maas et al. 2011): aclImdb folder or "
                           "aclImdb_v1.tar.gz, read without extracting; optional download."),
    SourceType(name="rt-polarity", kind="text", load=load_rt_polarity, options=RT_POLARITY_OPTIONS,
               description="Sentence polarity v1.0 (Pang & Lee 2005): rt-polarity.pos / .neg, "
                           "Windows-1252 text, 5331 sentences each."),
]
