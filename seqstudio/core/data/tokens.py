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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seqstudio.core.errors import DataError

__all__ = [
    "PAD_ID", "START_ID", "OOV_ID", "INDEX_FROM", "Level", "Side",
    "Tokenizer", "Vocabulary", "pad_sequences", "decode", "known_keys",
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
        return cls(**known_keys(cls, data, "tokenizer settings"))


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


def known_keys(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` as a dict if every key is a field of the dataclass ``cls``, else a DataError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DataError(f"unknown {what}: {', '.join(unknown)}",
                        fix=f"use only: {', '.join(sorted(names))}")
    return dict(data)
