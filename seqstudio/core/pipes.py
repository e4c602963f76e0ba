"""What the studio's warm child processes (training, data preparation) share: length-prefixed
messages over a pipe, errors made fit to cross one, and the import path a child gets.

A message is an 8-byte little-endian length, then that many bytes (a pickle, or a raw
buffer that follows one). The reader fills one buffer with ``readinto`` on an
unbuffered pipe, so it waits without holding the interpreter lock.
"""

from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

_HEADER = struct.Struct("<Q")


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


def process_wide(make: Callable[[], C]) -> Callable[[], C]:
    """A getter of one object per process, made by ``make()`` on the first call (thread-safe)
    and closed when the interpreter exits: the warm child processes' owners.

    >>> class Child:
    ...     def close(self): pass
    >>> get = process_wide(Child)
    >>> get() is get()
    True
    """
    lock = threading.Lock()
    made: list[C] = []

    def get() -> C:
        with lock:
            if not made:
                made.append(make())
                atexit.register(made[0].close)
            return made[0]

    return get


def write_message(stream, data) -> None:
    """Send ``data`` (bytes or a buffer) as one message; the length and the data are written apart
    so that a large buffer is never copied to join them."""
    stream.write(_HEADER.pack(len(memoryview(data).cast("B"))))
    stream.write(data)
    stream.flush()


def _read_exactly(stream, size: int) -> bytearray:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = stream.readinto(view[got:])  # an unbuffered pipe: waits without the GIL
        if not count:
            raise EOFError
        got += count
    return buffer


def read_message(stream) -> bytearray:
    """The next message, or raise EOFError when the other side has gone."""
    return _read_exactly(stream, _HEADER.unpack(bytes(_read_exactly(stream, _HEADER.size)))[0])


def portable_error(exc: BaseException, wrap: Callable[[str, str], BaseException]) -> BaseException:
    """``exc`` itself when pickle can copy it and read the copy back, else ``wrap(text, detail)``:
    the other side of a pipe must be able to read every error sent, whoever's class it is.

    ``text`` is ``"ClassName: message"``, ``detail`` the last lines of its traceback.

    >>> class Local(Exception):
    ...     def __reduce__(self): raise TypeError("no")
    >>> portable_error(Local("boom"), lambda text, detail: RuntimeError(text))
    RuntimeError('Local: boom')
    >>> portable_error(ValueError("fine"), lambda text, detail: RuntimeError(text))
    ValueError('fine')
    """
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - an exception pickle cannot copy (or read back)
        detail = "".join(traceback.format_exception(exc, limit=3)).rstrip()
        return wrap(f"{type(exc).__name__}: {exc}", detail)
    return exc


def start_child(module: str, setup_env: Callable[[dict[str, str]], object] | None = None
                ) -> subprocess.Popen:
    """Start ``python -P -m module`` as a warm child: unbuffered pipes on stdin and stdout, the
    studio's import path, the package root as its folder (``-P`` keeps the current folder off
    its import path, so a ``torch.py`` lying where the studio was started is never imported). Its stderr is ours (nowhere, for a
    windowed app that has none). ``setup_env`` may change the environment first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(child_import_path())
    if setup_env is not None:
        setup_env(env)
    return subprocess.Popen([sys.executable, "-P", "-m", module], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, bufsize=0, cwd=package_root(),
                            stderr=subprocess.DEVNULL if sys.__stderr__ is None else None)


def end_child(process: subprocess.Popen | None) -> None:
    """Close a child's pipes, kill it if it still runs, and reap it (None: nothing to do)."""
    if process is None:
        return
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    if process.poll() is None:
        process.kill()
    process.wait()


def package_root() -> str:
    """The folder that holds the seqstudio package (trusted: seqstudio's own code is there)."""
    import seqstudio

    return str(Path(seqstudio.__file__).resolve().parents[1])


def child_import_path() -> list[str]:
    """The parent's import path without the current folder ('' or its absolute form).

    The folder seqstudio itself comes from stays first (a source checkout run
    with ``python -m seqstudio`` needs it).
    """
    cwd = os.path.realpath(os.getcwd())
    root = package_root()
    path = [root]
    for entry in sys.path:
        if not entry or entry in path:
            continue
        try:
            if os.path.realpath(entry) == cwd and os.path.realpath(entry) != root:
                continue
        except (OSError, ValueError):
            continue
        path.append(entry)
    return path
