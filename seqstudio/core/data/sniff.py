"""Is this file a delimited table at all? Decided from its first few kilobytes.

Reading a file that is not a table (a 1.6 MB one-line JSON word index, a
zip, a picture) must fail in well under a second with a message that says
what the file looks like; before, the reader parsed the whole file as one
row of thousands of fields and tried each as a date, which took minutes.
:func:`check_delimited_text` reads at most :data:`SNIFF_BYTES` and refuses:

- a file with NUL bytes (binary: an archive, an image, a model file);
- a first line longer than :data:`MAX_LINE_BYTES` (a one-line JSON or a
  minified file: no table has a header that long);
- a file that starts like JSON (``{`` or ``[`` then a quote or a bracket).

It returns the sample's lines, so a caller can sniff the delimiter from
them without reading more.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "index.json"
>>> _ = p.write_text('{"the": 1, "and": 2}')
>>> try:
...     check_delimited_text(p)
... except DataError as exc:
...     print(exc.what)
index.json looks like JSON, not a delimited table (CSV)
"""

from __future__ import annotations

import csv
from pathlib import Path

from seqstudio.core.errors import DataError

__all__ = ["SNIFF_BYTES", "MAX_LINE_BYTES", "check_delimited_text", "sniff_delimiter"]

#: How much of a file is read to decide (enough for 50 ordinary rows).
SNIFF_BYTES = 64 * 1024
#: The longest first line a table may have (a header of ~5,000 columns).
MAX_LINE_BYTES = 64 * 1024
_FIX = "open a CSV file (one row per line, values separated by commas, semicolons or tabs)"


def looks_like_utf16(raw: bytes) -> str | None:
    """``"utf-16"`` / ``"utf-16-le"`` / ``"utf-16-be"`` when ``raw`` is UTF-16 text, else None.

    >>> looks_like_utf16("a,b\\n".encode("utf-16-le")), looks_like_utf16(b"a,b\\n")
    ('utf-16-le', None)
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = raw[:4000]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def check_delimited_text(path: str | Path) -> list[str]:
    """Refuse ``path`` unless its start looks like a delimited text table; returns its first lines.

    Reads at most :data:`SNIFF_BYTES` bytes. Raises :class:`DataError` (what, where, fix)
    for a binary, JSON-like or one-long-line file; a file that cannot be opened gives no
    lines and is left to the reader, which names the problem in its own words. The lines returned are the
    complete lines of the sample (decoded as UTF-8, else Latin-1), blank ones left out.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(SNIFF_BYTES)
            more = bool(f.read(1))
    except OSError:
        return []  # missing or unreadable: the reader says so in its own words
    name = p.name
    utf16 = looks_like_utf16(head)
    if utf16:  # UTF-16 text (with or without a byte order mark) has NULs
        head = head[: len(head) // 2 * 2].decode(utf16, errors="replace").encode("utf-8")
    if b"\x00" in head:
        raise DataError(f"{name} is a binary file, not a delimited text table", where=str(p), fix=_FIX)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] in (b"{", b"[") and start[1:].lstrip()[:1] in (b'"', b"{", b"[", b"]", b"}"):
        raise DataError(f"{name} looks like JSON, not a delimited table (CSV)", where=str(p), fix=_FIX)
    first_break = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
    if first_break < 0 and more:
        raise DataError(f"the first line of {name} is longer than {MAX_LINE_BYTES // 1024} KB: "
                        "it is not a delimited table", where=str(p), fix=_FIX)
    if first_break > MAX_LINE_BYTES:
        raise DataError(f"the first line of {name} is longer than {MAX_LINE_BYTES // 1024} KB: "
                        "it is not a delimited table", where=str(p), fix=_FIX)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is fine; anything else is Latin-1
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else head.decode("latin-1")
    lines = text.splitlines()
    if more and lines:
        lines = lines[:-1]  # the last line of the sample may be cut short
    return [line for line in lines if line.strip()]


def sniff_delimiter(lines: list[str], default: str = ",") -> str:
    """The delimiter of sample ``lines`` (``,`` ``;`` tab ``|``), by the standard library's sniffer.

    Bounded: only the given lines are looked at (at most 50).

    >>> sniff_delimiter(["a;b", "1;2", "3;4"])
    ';'
    """
    sample = "\n".join(lines[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return default
