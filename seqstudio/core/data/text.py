"""Labelled texts into the :class:`PreparedData` a model trains on.

Options (:class:`TextOptions`), reading CSV and plain-text files, label ids, the
:class:`TextEncoder` that new texts go through, and :func:`prepare_text`. The
tokenizer, vocabulary and padding with their reserved ids live in
:mod:`seqstudio.core.data.tokens` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.data.sniff import check_delimited_text, looks_like_utf16
from seqstudio.core.data.tokens import (
    INDEX_FROM,
    OOV_ID,
    PAD_ID,
    START_ID,
    Level,
    Side,
    Tokenizer,
    Vocabulary,
    decode,
    known_keys,
    pad_sequences,
)
from seqstudio.core.errors import DataError

if TYPE_CHECKING:
    import torch

# The tokenizer names stay importable from here, where they used to live.
__all__ = [
    "PAD_ID", "START_ID", "OOV_ID", "INDEX_FROM",
    "Tokenizer", "Vocabulary", "pad_sequences", "decode",
    "LabelledTexts", "TextOptions", "TextEncoder", "PreparedText", "prepare_text",
    "read_text_csv", "labels_to_ids",
]


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class LabelledTexts:
    """Texts with their raw labels, and where each came from (for error messages)."""

    texts: list[str]
    labels: list[Any]
    #: Per text, a short place ("reviews.csv row 12", "train/pos/0_9.txt").
    where: list[str] = field(default_factory=list)
    #: The file or folder, for messages.
    origin: str = ""

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{len(self.texts)} texts but {len(self.labels)} labels",
                            where=self.origin or None)

    def __len__(self) -> int:
        return len(self.texts)

    def place(self, i: int) -> str:
        return self.where[i] if i < len(self.where) else f"{self.origin} item {i}"


@dataclass(frozen=True)
class TextOptions:
    """How to read and encode a labelled text corpus (JSON-able: saved in projects).

    Parameters
    ----------
    path
        CSV file (or a list of files, concatenated) of the training texts.
    text_col, label_col
        Column names of the text and the label.
    test_path
        A separate test CSV; without it ``test_frac`` of the rows are held out.
    num_words
        Keep ids below this (the ``num_words - 4`` most frequent training words);
        None keeps every word.
    max_len
        Pad / cut every text to this many ids (the start id included).
    level
        ``"word"`` or ``"char"`` tokens.
    padding, truncating
        ``"pre"`` or ``"post"`` (see :func:`pad_sequences`).
    val_frac, test_frac
        Fractions of the training rows held out at random (seeded by ``seed``).
    lowercase, strip_html, punctuation
        Tokenizer settings (see :class:`Tokenizer`).
    task
        ``"auto"`` (binary for two label values, else multiclass), ``"binary"``
        or ``"multiclass"``.
    class_names
        The expected label values in id order (e.g. ``["negative", "positive"]``);
        any other value is a :class:`DataError`. None infers them, sorted
        (numerically when all labels are integers).
    encoding
        Text encoding of the files (``"cp1252"`` for old Windows files).
    drop_empty
        Drop texts that are empty or blank instead of raising a DataError.

    >>> opts = TextOptions(path="reviews.csv", text_col="review", label_col="sentiment")
    >>> TextOptions.from_dict(opts.to_dict()) == opts
    True
    """

    path: str | list[str] = ""
    text_col: str = "review"
    label_col: str = "sentiment"
    test_path: str | None = None
    num_words: int | None = 10000
    max_len: int = 200
    level: Level = "word"
    padding: Side = "pre"
    truncating: Side = "pre"
    val_frac: float = 0.0
    test_frac: float = 0.0
    seed: int = 0
    lowercase: bool = True
    strip_html: bool = True
    punctuation: Literal["split", "drop"] = "split"
    task: Literal["auto", "binary", "multiclass"] = "auto"
    class_names: list[str] | None = None
    encoding: str = "utf-8"
    drop_empty: bool = False

    def __post_init__(self) -> None:
        if self.padding not in ("pre", "post"):
            raise DataError(f"padding must be 'pre' or 'post', got {self.padding!r}")
        if self.truncating not in ("pre", "post"):
            raise DataError(f"truncating must be 'pre' or 'post', got {self.truncating!r}")
        if self.task not in ("auto", "binary", "multiclass"):
            raise DataError(f"task must be 'auto', 'binary' or 'multiclass', got {self.task!r}")
        if isinstance(self.max_len, bool) or not isinstance(self.max_len, int) or self.max_len < 1:
            raise DataError(f"max_len must be a positive integer, got {self.max_len!r}",
                            fix="use e.g. max_len=200 (see the length histogram)")
        for name in ("val_frac", "test_frac"):
            frac = getattr(self, name)
            if not isinstance(frac, int | float) or not 0.0 <= frac < 1.0:
                raise DataError(f"{name} must be in [0, 1), got {frac!r}")
        if self.val_frac + self.test_frac >= 1.0:
            raise DataError(f"val_frac + test_frac must be below 1, got "
                            f"{self.val_frac} + {self.test_frac}", fix="leave rows for training")
        self.tokenizer()  # validates level / punctuation
        Vocabulary({}, num_words=self.num_words)  # validates num_words

    def tokenizer(self) -> Tokenizer:
        """The tokenizer these options describe."""
        return Tokenizer(level=self.level, lowercase=self.lowercase, strip_html=self.strip_html,
                         punctuation=self.punctuation)

    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextOptions:
        """Rebuild from :meth:`to_dict`; unknown keys are a :class:`DataError`."""
        kwargs = known_keys(cls, data, "text options")
        if isinstance(kwargs.get("path"), tuple):
            kwargs["path"] = list(kwargs["path"])
        return cls(**kwargs)


# --------------------------------------------------------------------------- reading
def read_text_file(path: str | Path, encoding: str = "utf-8", *, name: str = "the file",
                   missing_fix: str = "check the path") -> str:
    """Read and decode a whole text file; bad bytes are a DataError naming line and byte.

    >>> read_text_file("no/such.txt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    seqstudio.core.errors.DataError: cannot read the file: ...
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {name}: {exc.strerror or exc}", where=str(path),
                        fix=missing_fix) from exc
    utf16 = looks_like_utf16(raw)
    if utf16 and encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        encoding = utf16  # UTF-16 text is valid UTF-8 byte by byte, but every other byte is a NUL
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        utf16 = looks_like_utf16(raw)
        fix = (f"set encoding='{utf16}' (the file is UTF-16 text), or re-save it as UTF-8" if utf16
               else "set encoding='cp1252' (old Windows files) or 'latin-1', "
                    "or re-save the file as UTF-8")
        raise DataError(f"{name} is not valid {encoding}: byte 0x{raw[exc.start]:02x} "
                        f"cannot be decoded", where=f"{path}, line {line}, byte {exc.start}",
                        fix=fix) from exc
    except LookupError as exc:
        raise DataError(f"unknown text encoding {encoding!r}", fix="use e.g. 'utf-8' or 'cp1252'") from exc


def read_text_csv(path: str | Path, text_col: str, label_col: str,
                  encoding: str = "utf-8") -> LabelledTexts:
    """Read the text and label columns of a CSV file.

    Raises :class:`DataError` for a missing file, bytes that are not valid in
    ``encoding`` (naming the byte offset), a missing column or no rows.
    """
    import pandas as pd

    path = Path(path)
    check_delimited_text(path)  # a JSON, binary or one-line file is refused from its first 64 KB
    text = read_text_file(path, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    import io

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError("the file is empty", where=str(path), fix="choose a CSV with a header row") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"the CSV cannot be parsed: {exc}", where=str(path)) from exc
    for col in (text_col, label_col):
        if col not in frame.columns:
            raise DataError(f"column {col!r} not found", where=str(path),
                            fix=f"choose one of: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise DataError("the file has a header but no rows", where=str(path))
    # CSV row numbers as a spreadsheet shows them (header is row 1).
    return LabelledTexts(texts=frame[text_col].tolist(), labels=frame[label_col].tolist(),
                         where=[f"{path.name} row {i + 2}" for i in range(len(frame))],
                         origin=str(path))


def labels_to_ids(labels: Sequence[Any], class_names: Sequence[str] | None = None,
                  task: str = "auto", where: Sequence[str] = (),
                  origin: str = "") -> tuple[np.ndarray, list[str]]:
    """Map raw labels (``"positive"`` / ``"negative"``, ints, any strings) to ids 0..K-1.

    Without ``class_names`` the distinct values are sorted (numerically when
    all are integers), so ``negative`` = 0 and ``positive`` = 1. A value outside
    ``class_names``, or a third value when ``task="binary"``, is a DataError
    naming the value and the first rows holding it.

    >>> labels_to_ids(["positive", "negative", "positive"])
    (array([1, 0, 1]), ['negative', 'positive'])
    """
    keys = [str(v).strip() for v in labels]
    if any(k == "" for k in keys):
        rows = [where[i] if i < len(where) else str(i) for i, k in enumerate(keys) if k == ""]
        raise DataError(f"{len(rows)} labels are empty", where=", ".join(rows[:5]),
                        fix="fill in or remove those rows")
    if class_names is None:
        distinct = set(keys)
        if all(re.fullmatch(r"[+-]?\d+", k) for k in distinct):
            names = [str(n) for n in sorted({int(k) for k in distinct})]
            keys = [str(int(k)) for k in keys]
        else:
            names = sorted(distinct)
        if task == "binary" and len(names) != 2:
            raise DataError(f"a binary task needs exactly 2 label values, found {len(names)}: "
                            f"{', '.join(names[:10])}", where=origin or None,
                            fix="set task='multiclass', give class_names, or fix the labels")
    else:
        names = [str(n) for n in class_names]
    if len(names) < 2:
        raise DataError(f"only one label value ({names[0] if names else 'none'}): nothing to learn",
                        where=origin or None, fix="use data with at least two classes")
    lookup = {n: i for i, n in enumerate(names)}
    unexpected = sorted({k for k in keys if k not in lookup})
    if unexpected:
        rows = [where[i] if i < len(where) else f"item {i}" for i, k in enumerate(keys)
                if k not in lookup]
        raise DataError(f"unexpected label value {unexpected[0]!r} (expected one of "
                        f"{', '.join(names)})", where=", ".join(rows[:5]) + (" ..." if len(rows) > 5 else ""),
                        fix="fix or remove those rows, or add the value to class_names")
    return np.fromiter((lookup[k] for k in keys), dtype=np.int64, count=len(keys)), names


# --------------------------------------------------------------------------- prepared data
class TextEncoder:
    """What predicting on new text needs: tokenizer, vocabulary, padding, class names.

    Built by :meth:`PreparedText.from_fitted_state` from a project file, it
    encodes exactly as the training data was encoded.
    """

    def __init__(self, vocabulary: Vocabulary, max_len: int, padding: Side = "pre",
                 truncating: Side = "pre", class_names: Sequence[str] = (), task: str = "binary"):
        self.vocabulary = vocabulary
        self.tokenizer = vocabulary.tokenizer
        self.max_len = max_len
        self.padding = padding
        self.truncating = truncating
        self.class_names = list(class_names)
        self.task = task

    @property
    def vocab_size(self) -> int:
        return self.vocabulary.vocab_size

    def encode_texts(self, texts: str | Iterable[str]) -> torch.Tensor:
        """``(N, max_len)`` int64 ids of ``texts`` (one string counts as one text)."""
        if isinstance(texts, str):
            texts = [texts]
        ids = self.vocabulary.encode(texts)
        padded = pad_sequences(ids, maxlen=self.max_len, dtype="int64", padding=self.padding,
                               truncating=self.truncating)
        import torch

        return torch.from_numpy(padded)

    def decode(self, ids: Iterable[int]) -> str:
        return self.vocabulary.decode(ids)

    def fitted_state(self) -> dict[str, Any]:
        return {
            "vocabulary": self.vocabulary.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "class_names": list(self.class_names),
            "max_len": self.max_len,
            "padding": self.padding,
            "truncating": self.truncating,
            "task": self.task,
        }


@dataclass
class PreparedText(PreparedData):
    """Encoded text splits plus the vocabulary that undoes / repeats the encoding.

    ``x_*`` are ``(N, max_len)`` int64 ids below ``vocab_size``; ``y_*`` are
    float32 ``(N, 1)`` for a binary task and int64 ``(N,)`` for multiclass.
    """

    vocabulary: Vocabulary | None = None
    tokenizer: Tokenizer | None = None
    options: TextOptions | None = None
    #: Raw texts per split, for :meth:`example` and error messages.
    texts: dict[str, list[str]] = field(default_factory=dict)
    #: Token count (start id included) of each training text, before cutting.
    train_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def fitted_vocabulary(self) -> Vocabulary:
        """The vocabulary; only :func:`prepare_text` makes a PreparedText that has one."""
        if self.vocabulary is None:
            raise DataError("this PreparedText holds no vocabulary", fix="make it with prepare_text()")
        return self.vocabulary

    @property
    def encoder(self) -> TextEncoder:
        opts = self.options or TextOptions()
        return TextEncoder(self.fitted_vocabulary, opts.max_len, opts.padding, opts.truncating,
                           self.class_names, self.task)

    def encode_texts(self, texts: str | Iterable[str]) -> torch.Tensor:
        """``(N, max_len)`` int64 ids of new texts, encoded exactly as the training data."""
        return self.encoder.encode_texts(texts)

    def decode(self, ids: Iterable[int]) -> str:
        return self.fitted_vocabulary.decode(ids)

    def example(self, i: int = 0, split: str = "train") -> dict[str, Any]:
        """One text of ``split`` through every stage, for the window and the lecture demo.

        Returns ``text``, ``tokens``, ``ids`` (uncut, start id first), ``padded``
        (the model's input row as a list), ``decoded`` (the padded row read back,
        ``?`` for out-of-vocabulary words), ``label`` (id) and ``label_name``.
        """
        x, y = self.split(split)  # type: ignore[arg-type]
        if not 0 <= i < len(x):
            raise DataError(f"example {i} does not exist: split {split!r} has {len(x)} texts")
        text = self.texts.get(split, [])[i] if self.texts.get(split) else ""
        label = int(y[i].item()) if y.ndim == 1 else int(round(float(y[i, 0])))
        return {
            "text": text,
            "tokens": (self.tokenizer or self.fitted_vocabulary.tokenizer).tokenize(text),
            "ids": self.fitted_vocabulary.encode([text])[0],
            "padded": x[i].tolist(),
            "decoded": self.fitted_vocabulary.decode(x[i].tolist()),
            "label": label,
            "label_name": self.class_names[label] if label < len(self.class_names) else str(label),
        }

    def length_histogram(self, bins: int | Sequence[float] = 30) -> tuple[np.ndarray, np.ndarray]:
        """Histogram ``(counts, edges)`` of training-text lengths in ids, to choose ``max_len``."""
        return np.histogram(self.train_lengths, bins=bins)

    def coverage(self, max_len: int | None = None) -> float:
        """Fraction of training texts that fit in ``max_len`` ids uncut."""
        limit = (self.options.max_len if self.options else 0) if max_len is None else max_len
        n = len(self.train_lengths)
        return float((self.train_lengths <= limit).sum() / n) if n else 1.0

    def fitted_state(self) -> dict[str, Any]:
        """JSON-able vocabulary, tokenizer, class names and padding, for the project file."""
        return self.encoder.fitted_state()

    def use_fitted_state(self, state: Mapping[str, Any]) -> PreparedText:
        """Encode with the vocabulary saved in a project, not one built again from the files now.

        A trained Embedding's rows belong to the saved word ids; a vocabulary
        rebuilt from edited files would renumber the words. Returns ``self``,
        re-encoded in place (the labels must be the saved classes).
        """
        if not isinstance(state, Mapping) or "vocabulary" not in state:
            return self
        enc = PreparedText.from_fitted_state(state)
        if list(enc.class_names) and list(enc.class_names) != list(self.class_names):
            raise DataError(f"the data's classes {list(self.class_names)} are not the trained "
                            f"project's {list(enc.class_names)}", where="the project's fitted state",
                            fix="retrain the project on this data, or refit (--refit in the CLI)")
        if enc.vocabulary.to_dict() == self.fitted_vocabulary.to_dict() and \
                self.options is not None and enc.max_len == self.options.max_len:
            return self
        for split in ("train", "val", "test"):
            texts = self.texts.get(split)
            x = getattr(self, f"x_{split}")
            if texts is None or len(texts) != len(x):
                if len(x):
                    raise DataError("the saved vocabulary cannot be applied: the texts of the "
                                    f"{split} part are not kept", where="the project's fitted state",
                                    fix="refit the vocabulary (--refit in the CLI)")
                continue
            setattr(self, f"x_{split}", enc.encode_texts(texts) if texts else
                    np.zeros((0, enc.max_len), dtype=np.int64))
        self.vocabulary, self.tokenizer = enc.vocabulary, enc.tokenizer
        if self.options is not None:
            self.options = dataclasses.replace(self.options, max_len=enc.max_len,
                                               padding=enc.padding, truncating=enc.truncating)
        self.vocab_size = enc.vocab_size
        return self

    @classmethod
    def from_fitted_state(cls, state: Mapping[str, Any]) -> TextEncoder:
        """An encoder that predicts on new text exactly as the saved data was encoded.

        >>> enc = PreparedText.from_fitted_state(prepared.fitted_state())  # doctest: +SKIP
        >>> enc.encode_texts(["a wonderful film"]).shape  # doctest: +SKIP
        torch.Size([1, 200])
        """
        try:
            vocab = Vocabulary.from_dict(state["vocabulary"])
            if "tokenizer" in state:
                vocab.tokenizer = Tokenizer.from_dict(state["tokenizer"])
            return TextEncoder(vocab, int(state["max_len"]), state.get("padding", "pre"),
                               state.get("truncating", "pre"), state.get("class_names", []),
                               state.get("task", "binary"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the saved text encoding is damaged: missing or bad {exc}",
                            fix="prepare the text data again") from exc


def _check_texts(data: LabelledTexts, drop_empty: bool) -> LabelledTexts:
    bad = [i for i, t in enumerate(data.texts) if not isinstance(t, str) or not t.strip()]
    if not bad:
        return data
    if not drop_empty:
        raise DataError(f"{len(bad)} texts are empty", where=", ".join(data.place(i) for i in bad[:5])
                        + (" ..." if len(bad) > 5 else ""),
                        fix="remove those rows, or set drop_empty=True to skip them")
    keep = sorted(set(range(len(data))) - set(bad))
    if not keep:
        raise DataError("every text is empty", where=data.origin or None)
    return LabelledTexts([data.texts[i] for i in keep], [data.labels[i] for i in keep],
                         [data.place(i) for i in keep], data.origin)


def _subset(data: LabelledTexts, idx: np.ndarray) -> LabelledTexts:
    return LabelledTexts([data.texts[i] for i in idx], [data.labels[i] for i in idx],
                         [data.place(i) for i in idx], data.origin)


def prepare_text(options: TextOptions, train: LabelledTexts | None = None,
                 test: LabelledTexts | None = None) -> PreparedText:
    """Read, split, tokenize, fit the vocabulary on the training part, encode and pad.

    ``train`` / ``test`` supply already read texts (folder and archive sources);
    otherwise ``options.path`` / ``options.test_path`` are read as CSV. Held-out
    rows (``val_frac``, and ``test_frac`` when there is no test set) are drawn at
    random with ``options.seed`` and keep their file order.

    >>> opts = TextOptions(path="imdb-reviews-train-part1.csv", max_len=200)  # doctest: +SKIP
    >>> data = prepare_text(opts)  # doctest: +SKIP
    >>> data.x_train.shape, data.vocab_size  # doctest: +SKIP
    (torch.Size([2500, 200]), 10000)
    """
    train, test = _read_parts(options, train, test)
    # Label ids from the training part; the test part must use the same classes.
    y_all, class_names = labels_to_ids(train.labels, options.class_names, options.task,
                                       train.where, train.origin)
    task = options.task if options.task != "auto" else ("binary" if len(class_names) == 2
                                                        else "multiclass")
    if task == "binary" and len(class_names) != 2:
        raise DataError(f"a binary task needs 2 classes, got {len(class_names)}",
                        fix="set task='multiclass'")
    splits, labels = _split_rows(options, train, test, y_all, class_names)

    tokenizer = options.tokenizer()
    train_tokens = tokenizer.tokenize_many(splits["train"].texts)
    vocabulary = Vocabulary.fit_tokens(train_tokens, tokenizer, options.num_words)
    x_train, train_lengths = _encode(options, vocabulary, train_tokens)
    x_val, _ = _encode(options, vocabulary, tokenizer.tokenize_many(splits["val"].texts))
    x_test, _ = _encode(options, vocabulary, tokenizer.tokenize_many(splits["test"].texts))

    # numpy: PreparedData makes tensors of them (sharing the memory) when a model reads them
    def targets(y: np.ndarray) -> np.ndarray:
        if task == "binary":
            return y.astype(np.float32).reshape(-1, 1)
        return y.astype(np.int64)

    n_classes = len(class_names)
    description = (f"{train.origin or 'texts'}: {len(splits['train'])} train / {len(splits['val'])} "
                   f"val / {len(splits['test'])} test texts, {len(vocabulary)} distinct "
                   f"{'words' if tokenizer.level == 'word' else 'characters'}, "
                   f"vocab_size {vocabulary.vocab_size}, max_len {options.max_len}, "
                   f"classes {', '.join(class_names)}")
    # numpy arrays where the fields say tensors: PreparedData makes the tensors when read
    arrays: dict[str, Any] = {"x_train": x_train, "y_train": targets(labels["train"]),
                              "x_val": x_val, "y_val": targets(labels["val"]),
                              "x_test": x_test, "y_test": targets(labels["test"])}
    return PreparedText(
        task=task, **arrays,
        n_outputs=1 if task == "binary" else n_classes,
        input_is_ids=True,
        vocab_size=vocabulary.vocab_size,
        class_names=class_names,
        description=description,
        vocabulary=vocabulary,
        tokenizer=tokenizer,
        options=options,
        texts={k: list(v.texts) for k, v in splits.items()},
        train_lengths=train_lengths,
    )


def _read_parts(options: TextOptions, train: LabelledTexts | None,
                test: LabelledTexts | None) -> tuple[LabelledTexts, LabelledTexts | None]:
    """The training texts and the separate test texts (if any), read when not given, empties checked."""
    if train is None:
        parts = [read_text_csv(p, options.text_col, options.label_col, options.encoding)
                 for p in options.paths()]
        if not parts:
            raise DataError("no text file given", fix="choose a CSV file")
        train = parts[0] if len(parts) == 1 else LabelledTexts(
            [t for p in parts for t in p.texts], [lb for p in parts for lb in p.labels],
            [w for p in parts for w in p.where], ", ".join(p.origin for p in parts))
    if test is None and options.test_path:
        test = read_text_csv(options.test_path, options.text_col, options.label_col, options.encoding)
    train = _check_texts(train, options.drop_empty)
    if test is not None:
        test = _check_texts(test, options.drop_empty)
    return train, test


def _split_rows(options: TextOptions, train: LabelledTexts, test: LabelledTexts | None,
                y_all: np.ndarray, class_names: list[str],
                ) -> tuple[dict[str, LabelledTexts], dict[str, np.ndarray]]:
    """Texts and label ids of each split: held-out rows drawn at random, kept in file order."""
    n = len(train)
    rng = np.random.default_rng(options.seed)
    order = rng.permutation(n)
    n_test = int(round(options.test_frac * n)) if test is None else 0
    n_val = int(round(options.val_frac * n))
    if n - n_test - n_val < 1:
        raise DataError(f"no training rows left: {n} rows, {n_test} for test, {n_val} for validation",
                        fix="lower val_frac / test_frac or add data")
    test_idx = np.sort(order[:n_test])
    val_idx = np.sort(order[n_test:n_test + n_val])
    train_idx = np.sort(order[n_test + n_val:])
    splits = {"train": _subset(train, train_idx), "val": _subset(train, val_idx)}
    labels = {"train": y_all[train_idx], "val": y_all[val_idx]}
    if test is None:
        splits["test"], labels["test"] = _subset(train, test_idx), y_all[test_idx]
    else:
        splits["test"] = test
        labels["test"], _ = labels_to_ids(test.labels, class_names, "auto", test.where, test.origin)
    return splits, labels


def _encode(options: TextOptions, vocabulary: Vocabulary,
            tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Token lists as padded id rows ``(N, max_len)`` int64, and each text's length before padding."""
    ids = vocabulary.encode_tokens(tokens)
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    padded = pad_sequences(ids, maxlen=options.max_len, dtype="int64",
                           padding=options.padding, truncating=options.truncating)
    return padded, lengths
