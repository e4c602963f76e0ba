"""Text to token ids, exactly as seqstudio encoded the training texts (version 1 rules).

Written again here, from the rules ``preprocessing.json`` documents, so that
the runtime needs neither seqstudio nor torch; seqstudio's tests check that
both encode every text to the same ids.

1. clean: HTML line breaks (``<br />``, any case) become a space when
   ``strip_html``; the text is lower-cased when ``lowercase``;
2. tokenize: word level keeps runs of letters and digits (inner apostrophes
   kept, ``don't``) and, with ``punctuation="split"``, every other non-space
   character as a token of its own; char level keeps every character, white
   space runs collapsed to one space and both ends stripped;
3. ids: the start id first, then each token's id from the vocabulary (already
   cut at ``num_words``), the out-of-vocabulary id for any other token;
4. pad / cut to ``max_len`` (Keras ``pad_sequences``): ``truncating`` says
   which end of a longer sequence is dropped, ``padding`` which end of a
   shorter one is filled with the padding id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_WORD = r"[^\W_]+(?:'[^\W_]+)*"
_WORD_OR_PUNCT = re.compile(rf"{_WORD}|[^\w\s]|_")
_WORD_ONLY = re.compile(_WORD)
_SPACES = re.compile(r"\s+")


class TextEncoder:
    """Encodes texts to ``(N, max_len)`` int64 ids from the ``text`` part of ``preprocessing.json``."""

    def __init__(self, spec: Mapping[str, Any]):
        tok = spec["tokenizer"]
        self.level = tok.get("level", "word")
        self.lowercase = bool(tok.get("lowercase", True))
        self.strip_html = bool(tok.get("strip_html", True))
        self.punctuation = tok.get("punctuation", "split")
        if self.level not in ("word", "char") or self.punctuation not in ("split", "drop"):
            raise ValueError(f"unsupported tokenizer settings in the bundle: {tok!r}")
        self.vocabulary: dict[str, int] = {str(w): int(i) for w, i in spec["vocabulary"].items()}
        self.pad_id = int(spec.get("pad_id", 0))
        self.start_id = int(spec.get("start_id", 1))
        self.oov_id = int(spec.get("oov_id", 2))
        self.add_start = bool(spec.get("add_start", True))
        self.max_len = int(spec["max_len"])
        self.padding = spec.get("padding", "pre")
        self.truncating = spec.get("truncating", "pre")
        if self.padding not in ("pre", "post") or self.truncating not in ("pre", "post"):
            raise ValueError(f"padding and truncating must be 'pre' or 'post', got "
                             f"{self.padding!r} / {self.truncating!r}")

    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text."""
        if not isinstance(text, str):
            raise TypeError(f"expected a text string, got {type(text).__name__}")
        if self.strip_html and "<" in text:
            text = _HTML_BREAK.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        if self.level == "char":
            return list(_SPACES.sub(" ", text).strip())
        pattern = _WORD_OR_PUNCT if self.punctuation == "split" else _WORD_ONLY
        return pattern.findall(text)

    def ids(self, text: str) -> list[int]:
        """The uncut ids of one text (start id first)."""
        get, oov = self.vocabulary.get, self.oov_id
        body = [get(t, oov) for t in self.tokenize(text)]
        return [self.start_id, *body] if self.add_start else body

    def encode(self, texts: str | Iterable[str]) -> np.ndarray:
        """``(N, max_len)`` int64 ids, cut and padded as at training time."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [self.ids(t) for t in texts]
        out = np.full((len(rows), self.max_len), self.pad_id, dtype=np.int64)
        if self.max_len == 0:
            return out
        for i, seq in enumerate(rows):
            if not seq:
                continue
            cut = seq[-self.max_len:] if self.truncating == "pre" else seq[:self.max_len]
            if self.padding == "post":
                out[i, :len(cut)] = cut
            else:
                out[i, self.max_len - len(cut):] = cut
        return out
