"""Text sequences: tokenizer, vocabulary (Keras word-index convention), padding, decoding.

The pipeline turns labelled texts into the :class:`PreparedData` every model
trains on::

    texts ──Tokenizer──► tokens ──Vocabulary──► ids ──pad_sequences──► (N, max_len) int64

Reserved ids follow the Keras IMDB convention (``keras.datasets.imdb``):

====  =========================================================
id    meaning
====  =========================================================
0     padding (``pad_sequences`` fills with it; ``decode`` skips it)
1     start of a text (``encode(add_start=True)`` puts it first)
2     out of vocabulary: a word never seen in training, or ranked too low
3+    words: ``id = rank + index_from`` with ``index_from = 3``; rank 1 is
      the most frequent word of the *training* part
====  =========================================================

With ``num_words = N`` only ids ``< N`` are kept (so the ``N - 4`` most frequent
words: id 3 is never a word, since ranks start at 1) and
every other word becomes 2, exactly like ``imdb.load_data(num_words=N)``; the
embedding then needs ``vocab_size = N`` rows.

>>> tok = Tokenizer()
>>> tok.tokenize("A great film!<br /><br />Loved it.")
['a', 'great', 'film', '!', 'loved', 'it', '.']
>>> vocab = Vocabulary.fit(["good film", "bad film"], tok)
>>> vocab.encode(["good film", "awful film"])
[[1, 5, 4], [1, 2, 4]]
>>> vocab.decode([0, 0, 1, 5, 4, 2])
'good film ?'
>>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
[[2, 3], [0, 4]]
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import DataError

__all__ = [
    "PAD_ID", "START_ID", "OOV_ID", "INDEX_FROM",
    "Tokenizer", "Vocabulary", "pad_sequences", "decode",
    "LabelledTexts", "TextOptions", "TextEncoder", "PreparedText", "prepare_text",
    "read_text_csv", "labels_to_ids",
]

PAD_ID = 0
START_ID = 1
OOV_ID = 2
INDEX_FROM = 3

Level = Literal["word", "char"]
Side = Literal["pre", "post"]

# HTML line breaks (`<br />`, `<br>`, `<BR/>`) as in the IMDB reviews: about 58% of them hold some.
_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# A word is a run of letters/digits, with inner apostrophes kept ("don't", "hold's"), as in
# the Keras IMDB word index; every other non-space character is a token of its own.
_WORD = r"[^\W_]+(?:'[^\W_]+)*"
_WORD_OR_PUNCT = re.compile(rf"{_WORD}|[^\w\s]|_")
_WORD_ONLY = re.compile(_WORD)
_SPACES = re.compile(r"\s+")


# --------------------------------------------------------------------------- tokenizer
@dataclass(frozen=True)
class Tokenizer:
    """Split a text into tokens: words (default) or characters.

    Parameters
    ----------
    level
        ``"word"``: lower-cased words with punctuation split off as tokens of
        their own; ``"char"``: every character, runs of white space collapsed
        to one space.
    lowercase
        Lower-case the text first.
    strip_html
        Replace HTML line breaks (``<br />``) with a space.
    punctuation
        Word level only: ``"split"`` keeps each punctuation mark as a token,
        ``"drop"`` removes it (as the Keras IMDB word index does).

    >>> Tokenizer().tokenize("It's GREAT,really.")
    ["it's", 'great', ',', 'really', '.']
    >>> Tokenizer(punctuation="drop").tokenize("It's GREAT,really.")
    ["it's", 'great', 'really']
    >>> Tokenizer(level="char").tokenize("Hi  there")
    ['h', 'i', ' ', 't', 'h', 'e', 'r', 'e']
    """

    level: Level = "word"
    lowercase: bool = True
    strip_html: bool = True
    punctuation: Literal["split", "drop"] = "split"

    def __post_init__(self) -> None:
        if self.level not in ("word", "char"):
            raise DataError(f"tokenizer level must be 'word' or 'char', got {self.level!r}",
                            fix="choose level='word' or level='char'")
        if self.punctuation not in ("split", "drop"):
            raise DataError(f"tokenizer punctuation must be 'split' or 'drop', got {self.punctuation!r}",
                            fix="choose punctuation='split' or 'drop'")

    @property
    def separator(self) -> str:
        """What joins decoded tokens back into text: a space for words, nothing for characters."""
        return " " if self.level == "word" else ""

    def clean(self, text: str) -> str:
        """The text as tokenized: lower-cased and with HTML line breaks removed (as configured)."""
        if not isinstance(text, str):
            raise DataError(f"expected a text string, got {type(text).__name__}: {text!r:.60}",
                            fix="give text, not numbers or missing values")
        if self.strip_html and "<" in text:
            text = _HTML_BREAK.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        return text

    def tokenize(self, text: str) -> list[str]:
        """Tokens of one text (an empty list for an empty text)."""
        text = self.clean(text)
        if self.level == "char":
            return list(_SPACES.sub(" ", text).strip())
        pattern = _WORD_OR_PUNCT if self.punctuation == "split" else _WORD_ONLY
        return pattern.findall(text)

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokens of every text, in order."""
        return [self.tokenize(t) for t in texts]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings; :meth:`from_dict` rebuilds an identical tokenizer."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tokenizer:
        """Rebuild from :meth:`to_dict`; unknown keys are a :class:`DataError`."""
        return cls(**_known_keys(cls, data, "tokenizer settings"))


# --------------------------------------------------------------------------- vocabulary
class Vocabulary:
    """Word -> rank by frequency (1 = most frequent), with Keras's id convention.

    ``id = rank + index_from`` (``index_from = 3``); 0 is padding, 1 start, 2
    out-of-vocabulary. With ``num_words`` set, ids ``>= num_words`` become 2.
    Build it from training texts with :meth:`fit` or from a Keras word index with
    :meth:`from_keras_word_index`.

    >>> v = Vocabulary.fit(["the cat", "the dog"], Tokenizer(), num_words=5)
    >>> v.rank("the"), v.rank("cat"), v.rank("dog")
    (1, 2, 3)
    >>> v.encode(["the dog"])    # 'dog' has id 6 >= num_words: out of vocabulary
    [[1, 4, 2]]
    >>> v.vocab_size
    5
    """

    index_from: int = INDEX_FROM

    def __init__(self, word_index: Mapping[str, int], *, num_words: int | None = None,
                 tokenizer: Tokenizer | None = None, index_from: int = INDEX_FROM):
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int)
                                      or num_words < index_from):
            raise DataError(f"num_words must be an integer >= {index_from} (the reserved ids), "
                            f"got {num_words!r}", fix="use e.g. num_words=10000, or None for all words")
        self.word_index: dict[str, int] = dict(word_index)
        self.num_words = num_words
        self.tokenizer = tokenizer or Tokenizer()
        self.index_from = index_from
        self._ids: dict[str, int] | None = None
        self._words: dict[int, str] | None = None

    # -- building ------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Iterable[str], tokenizer: Tokenizer | None = None,
            num_words: int | None = None) -> Vocabulary:
        """Rank the words of ``texts`` by frequency (ties: first seen first).

        Fit on the training part only, so validation and test words stay unseen.
        """
        tokenizer = tokenizer or Tokenizer()
        return cls.fit_tokens(tokenizer.tokenize_many(texts), tokenizer, num_words)

    @classmethod
    def fit_tokens(cls, token_lists: Iterable[Sequence[str]], tokenizer: Tokenizer | None = None,
                   num_words: int | None = None) -> Vocabulary:
        """Like :meth:`fit` on already tokenized texts."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:  # update per list: faster than chaining one long iterator
            counts.update(tokens)
        # most_common sorts stably, so equal counts keep first-seen order: deterministic.
        word_index = {w: r for r, (w, _) in enumerate(counts.most_common(), start=1)}
        return cls(word_index, num_words=num_words, tokenizer=tokenizer)

    @classmethod
    def from_keras_word_index(cls, path_or_dict: str | Path | Mapping[str, int],
                              num_words: int | None = None,
                              tokenizer: Tokenizer | None = None) -> Vocabulary:
        """Load a Keras word index (``imdb_word_index.json`` or its dict).

        Keras-encoded data (``imdb.load_data``, ``index_from=3``) then decodes
        correctly. New text is tokenized with punctuation dropped, as the index
        holds no punctuation.

        >>> v = Vocabulary.from_keras_word_index({"the": 1, "and": 2, "a": 3})
        >>> v.decode([1, 4, 6, 99])
        'the a ?'
        """
        if isinstance(path_or_dict, Mapping):
            raw = dict(path_or_dict)
            where = "word index"
        else:
            where = str(path_or_dict)
            try:
                raw = json.loads(Path(path_or_dict).read_text(encoding="utf-8"))
            except OSError as exc:
                raise DataError(f"cannot read the word index: {exc.strerror or exc}", where=where,
                                fix="give the path of a Keras imdb_word_index.json") from exc
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DataError(f"the word index is not valid JSON: {exc}", where=where,
                                fix="give a Keras word index: a JSON object of word -> rank") from exc
        if not isinstance(raw, dict):
            raise DataError("the word index must be a JSON object of word -> rank", where=where)
        bad = [(w, r) for w, r in raw.items()
               if not isinstance(w, str) or isinstance(r, bool) or not isinstance(r, int) or r < 1]
        if bad:
            raise DataError(f"{len(bad)} word-index entries are not word -> positive integer rank, "
                            f"e.g. {bad[0]!r}", where=where, fix="use a Keras word index file")
        return cls(raw, num_words=num_words, tokenizer=tokenizer or Tokenizer(punctuation="drop"))

    # -- looking up ----------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of distinct ids (all ids lie in ``[0, vocab_size)``): the Embedding's rows."""
        if self.num_words is not None:
            return self.num_words
        return max(self.word_index.values(), default=0) + self.index_from + 1

    def _id_table(self) -> dict[str, int]:
        # Built once: word -> id for the kept words only, so encoding is one dict.get per token.
        if self._ids is None:
            limit = self.vocab_size
            off = self.index_from
            self._ids = {w: r + off for w, r in self.word_index.items() if r + off < limit}
        return self._ids

    def _word_table(self) -> dict[int, str]:
        if self._words is None:
            # Keep the first word of a rank when an index has ties (Keras's reverse lookup keeps the last).
            words: dict[int, str] = {}
            for w, i in self._id_table().items():
                words.setdefault(i, w)
            self._words = words
        return self._words

    def rank(self, word: str) -> int | None:
        """Frequency rank of ``word`` (1 = most frequent), None when unknown."""
        return self.word_index.get(word)

    def word_id(self, word: str) -> int:
        """Id of one (already tokenized) word; :data:`OOV_ID` when not kept."""
        return self._id_table().get(word, OOV_ID)

    def __len__(self) -> int:
        return len(self.word_index)

    # -- encoding / decoding -------------------------------------------------
    def encode_tokens(self, token_lists: Iterable[Sequence[str]], *,
                      add_start: bool = True) -> list[list[int]]:
        """Ids of already tokenized texts."""
        get = self._id_table().get
        if add_start:
            return [[START_ID, *[get(t, OOV_ID) for t in toks]] for toks in token_lists]
        return [[get(t, OOV_ID) for t in toks] for toks in token_lists]

    def encode(self, texts: Iterable[str], *, add_start: bool = True) -> list[list[int]]:
        """Ids of each text: tokenized, ``START_ID`` first, unknown or cut words as ``OOV_ID``.

        An empty text encodes to ``[START_ID]`` (or ``[]`` without the start id).
        """
        tokenize = self.tokenizer.tokenize
        get = self._id_table().get
        start = [START_ID] if add_start else []
        return [start + [get(t, OOV_ID) for t in tokenize(text)] for text in texts]

    def decode(self, ids: Iterable[int], separator: str | None = None) -> str:
        """Text of one id sequence; padding and start ids are skipped, unknown ids shown as ``?``.

        ``separator`` defaults to the tokenizer's (a space for words, nothing for characters).
        """
        words = self._word_table()
        sep = self.tokenizer.separator if separator is None else separator
        return sep.join(words.get(i, "?") for i in (int(i) for i in np.asarray(ids).ravel())
                        if i not in (PAD_ID, START_ID))

    # -- persistence -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: the kept words, ``num_words``, ``index_from`` and the tokenizer.

        Only words whose id is below ``num_words`` are stored (the others encode
        as out-of-vocabulary anyway), so a 10,000-word vocabulary stays small.
        """
        kept = self._id_table()
        return {
            "word_index": {w: r for w, r in self.word_index.items() if w in kept},
            "num_words": self.num_words,
            "index_from": self.index_from,
            "tokenizer": self.tokenizer.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocabulary:
        """Rebuild from :meth:`to_dict`: it encodes and decodes exactly as the original."""
        try:
            return cls(data["word_index"], num_words=data.get("num_words"),
                       tokenizer=Tokenizer.from_dict(data.get("tokenizer", {})),
                       index_from=int(data.get("index_from", INDEX_FROM)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the saved vocabulary is damaged: {exc!r}",
                            fix="prepare the text data again") from exc

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocabulary) and self.to_dict() == other.to_dict())

    def __repr__(self) -> str:
        return (f"Vocabulary({len(self.word_index)} words, num_words={self.num_words}, "
                f"level={self.tokenizer.level!r})")


def decode(ids: Iterable[int], vocabulary: Vocabulary, separator: str | None = None) -> str:
    """Text of ``ids`` under ``vocabulary`` (see :meth:`Vocabulary.decode`).

    >>> decode([0, 1, 4, 2], Vocabulary({"hello": 1}))
    'hello ?'
    """
    return vocabulary.decode(ids, separator)


# --------------------------------------------------------------------------- padding
def pad_sequences(sequences: Sequence[Sequence[Any]], maxlen: int | None = None,
                  dtype: Any = "int32", padding: Side = "pre", truncating: Side = "pre",
                  value: Any = 0) -> np.ndarray:
    """Pad / cut sequences to one length: ``keras.utils.pad_sequences`` semantics.

    ``maxlen=None`` pads to the longest sequence. ``truncating`` says which end
    of a longer sequence is cut, ``padding`` which end of a shorter one is
    filled with ``value``. Values are cast to ``dtype`` as ``np.asarray`` does.

    Two cases where Keras 3.15 fails, defined here instead: ``maxlen=0`` gives
    ``(N, 0)`` whatever ``truncating`` is (Keras errors with ``'pre'``, since
    ``s[-0:]`` is the whole sequence), and no sequences with ``maxlen=None``
    gives ``(0, 0)``. A bad ``padding`` / ``truncating`` is a ``ValueError``
    even when every sequence is empty.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post").tolist()
    [[1, 2], [4, 0]]
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    try:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    except TypeError as exc:
        raise ValueError(f"`sequences` must be a list of iterables: {exc}") from exc
    if maxlen is None:
        maxlen = int(lengths.max()) if len(lengths) else 0
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"maxlen must be >= 0, got {maxlen}")
    first = next((s for s, n in zip(sequences, lengths, strict=True) if n), None)
    sample_shape = np.asarray(first).shape[1:] if first is not None else ()
    is_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")
    out = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0 or first is None:
        return out
    # Keras's loop: cutting each row first is faster than flattening everything (measured).
    return _pad_loop(out, sequences, maxlen, dtype, padding, truncating, sample_shape)


def _pad_loop(out, sequences, maxlen, dtype, padding, truncating, sample_shape):
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]  # maxlen > 0 here
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} "
                             f"is different from expected shape {sample_shape}")
        if padding == "post":
            out[idx, :len(trunc)] = trunc
        else:
            out[idx, -len(trunc):] = trunc
    return out


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
        kwargs = _known_keys(cls, data, "text options")
        if isinstance(kwargs.get("path"), tuple):
            kwargs["path"] = list(kwargs["path"])
        return cls(**kwargs)


def _known_keys(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DataError(f"unknown {what}: {', '.join(unknown)}",
                        fix=f"use only: {', '.join(sorted(names))}")
    return dict(data)


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
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{name} is not valid {encoding}: byte 0x{raw[exc.start]:02x} "
                        f"cannot be decoded", where=f"{path}, line {line}, byte {exc.start}",
                        fix="set encoding='cp1252' (old Windows files) or 'latin-1', "
                            "or re-save the file as UTF-8") from exc
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
    def encoder(self) -> TextEncoder:
        opts = self.options or TextOptions()
        return TextEncoder(self.vocabulary, opts.max_len, opts.padding, opts.truncating,
                           self.class_names, self.task)

    def encode_texts(self, texts: str | Iterable[str]) -> torch.Tensor:
        """``(N, max_len)`` int64 ids of new texts, encoded exactly as the training data."""
        return self.encoder.encode_texts(texts)

    def decode(self, ids: Iterable[int]) -> str:
        return self.vocabulary.decode(ids)

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
            "tokens": self.tokenizer.tokenize(text),
            "ids": self.vocabulary.encode([text])[0],
            "padded": x[i].tolist(),
            "decoded": self.vocabulary.decode(x[i].tolist()),
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

    # Label ids from the training part; the test part must use the same classes.
    y_all, class_names = labels_to_ids(train.labels, options.class_names, options.task,
                                       train.where, train.origin)
    task = options.task if options.task != "auto" else ("binary" if len(class_names) == 2
                                                        else "multiclass")
    if task == "binary" and len(class_names) != 2:
        raise DataError(f"a binary task needs 2 classes, got {len(class_names)}",
                        fix="set task='multiclass'")

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

    tokenizer = options.tokenizer()
    train_tokens = tokenizer.tokenize_many(splits["train"].texts)
    vocabulary = Vocabulary.fit_tokens(train_tokens, tokenizer, options.num_words)

    def encode(name: str, tokens: list[list[str]] | None = None) -> tuple[torch.Tensor, np.ndarray]:
        if tokens is None:
            tokens = tokenizer.tokenize_many(splits[name].texts)
        ids = vocabulary.encode_tokens(tokens)
        lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
        padded = pad_sequences(ids, maxlen=options.max_len, dtype="int64",
                               padding=options.padding, truncating=options.truncating)
        return torch.from_numpy(padded), lengths

    def targets(y: np.ndarray) -> torch.Tensor:
        if task == "binary":
            return torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
        return torch.from_numpy(y.astype(np.int64))

    x_train, train_lengths = encode("train", train_tokens)
    x_val, _ = encode("val")
    x_test, _ = encode("test")
    n_classes = len(class_names)
    description = (f"{train.origin or 'texts'}: {len(splits['train'])} train / {len(splits['val'])} "
                   f"val / {len(splits['test'])} test texts, {len(vocabulary)} distinct "
                   f"{'words' if tokenizer.level == 'word' else 'characters'}, "
                   f"vocab_size {vocabulary.vocab_size}, max_len {options.max_len}, "
                   f"classes {', '.join(class_names)}")
    return PreparedText(
        task=task,  # type: ignore[arg-type]
        x_train=x_train, y_train=targets(labels["train"]),
        x_val=x_val, y_val=targets(labels["val"]),
        x_test=x_test, y_test=targets(labels["test"]),
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

