"""Preparing data in a child process, so that a large file never takes the window's interpreter lock.

pandas' C parser, its type conversions and the building of frames hold Python's
GIL in stretches of 10-30 ms each. A window that reads a 200,000-row CSV in a
background thread therefore stalls anyway: every timer, repaint and click of
its GUI thread needs the lock and waits for the end of the stretch under way
(about a third of a 0.7 s load, in pieces of up to 30 ms). :class:`LoadProcess`
keeps one warm child process (started by the first load that goes there) that
runs a source's ``load`` and reads the preview table (:func:`load_job`), and
sends the outcome back pickled: the window's process only waits on a pipe and
unpickles it (a 200,000-row series with its windows: ~5 ms).

What goes there is what pickle can copy: the :class:`~seqstudio.core.registry.SourceType`
(its ``load`` a module-level function the child imports, as the built-in sources'
are), the options and the outcome. Anything else (a source defined inside a
function, a plugin module the child cannot import, an outcome pickle cannot
copy) makes :meth:`LoadProcess.run` answer None and the caller prepares the data
in its own thread, as before. ``SEQSTUDIO_LOAD_IN_PROCESS=1`` keeps every load
in the window's process.

The child is ``python -P -m seqstudio.core.data.loadproc``: the current folder is
not on its import path (nothing lying where the studio was started is imported),
it changes to the caller's folder for each job (relative paths read the same
files), and messages are length-prefixed pickles over its standard input and
output (its own prints go to standard error). A plugin's load that crashes the
interpreter ends the child, which the next load starts again, not the studio.

>>> process = LoadProcess()                                        # doctest: +SKIP
>>> preview, prepared, error = process.run(source, {"path": "big.csv"}, True)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from seqstudio.core import pipes
from seqstudio.core.errors import DataError, SeqStudioError
from seqstudio.core.pipes import child_import_path, read_message, write_message

#: Set to 1 to prepare every background load in the window's own process (a thread).
IN_PROCESS_ENV = "SEQSTUDIO_LOAD_IN_PROCESS"
#: How much lower the child's scheduling priority is than the window's (POSIX ``nice``).
CHILD_NICENESS = 5
#: How many rows of a file that is not a series the preview table shows.
PREVIEW_ROWS = 100_000


def read_preview(kind: str, options: dict[str, Any]) -> pd.DataFrame | None:
    """The table the preview shows for ``options["path"]`` (None when there is nothing to show).

    Thread-safe (it only reads the file). Bounded: a file that is not a delimited table
    is refused from its first 64 KB (the loader says why), and the delimiter is sniffed
    from those, never from the whole file.
    """
    from seqstudio.core.data.sniff import check_delimited_text, sniff_delimiter

    path = options.get("path") or ""
    if not path or not Path(path).is_file():
        return None
    try:
        lines = check_delimited_text(path)
    except SeqStudioError:
        return None  # the loader reports it with the same message just after this
    try:
        if kind == "series":
            from seqstudio.core.data.series import read_series_csv

            return read_series_csv(path, date_col=options.get("date_col", "auto"),
                                   date_format=options.get("date_format")).frame
    except Exception:  # noqa: BLE001 - the loader reports the problem in the core's words
        pass
    try:
        return pd.read_csv(path, sep=sniff_delimiter(lines), nrows=PREVIEW_ROWS, dtype=str,
                           keep_default_na=False, on_bad_lines="skip")
    except Exception:  # noqa: BLE001
        return None


def load_job(source, options: dict[str, Any], want_preview: bool) -> tuple[Any, Any, Any]:
    """A data panel's load: ``(preview frame or False, PreparedData or None, exception or "")``.

    The source's errors are returned, not raised (the caller words them).
    """
    preview = read_preview(source.kind, options) if want_preview else False
    try:
        return preview, source.load(options), ""
    except Exception as exc:  # noqa: BLE001 - shown by the caller, like any load's error
        return preview, None, exc


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` itself when pickle can copy it (and read it back), else a :class:`DataError` naming it.

    >>> class Local(Exception):
    ...     def __reduce__(self): raise TypeError("no")
    >>> type(portable_error(Local("boom"))).__name__
    'DataError'
    """
    return pipes.portable_error(exc, lambda text, detail: DataError(
        text, where=detail.splitlines()[-1] if detail else ""))


def loads_in_child() -> bool:
    """Whether background loads may go to the child process (``SEQSTUDIO_LOAD_IN_PROCESS`` unset or 0)."""
    return os.environ.get(IN_PROCESS_ENV, "") in ("", "0")


class LoadProcess:
    """One warm child process preparing data for this one; one load at a time.

    :meth:`run` starts it when needed (again after it died); :meth:`close` ends it.
    """

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._start_lock = threading.Lock()
        self._busy = threading.Lock()
        self._owner: object | None = None
        self._cancelled = False
        #: Why the last :meth:`run` did not prepare the data in the child ("" when it did).
        self.fallback_reason = ""

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the child now (it imports pandas); no-op when it runs."""
        with self._start_lock:
            if not self.alive:
                self._discard()
                self._process = pipes.start_child("seqstudio.core.data.loadproc")

    def run(self, source, options: dict[str, Any], want_preview: bool, *,
            owner: object | None = None) -> tuple[Any, Any, Any] | None:
        """:func:`load_job` in the child; None (``fallback_reason`` says why) when it cannot go there.

        Blocks the calling thread (not the GIL) until the child answers. ``owner``
        names the caller for :meth:`cancel`. A child killed by :meth:`cancel` answers
        ``(False, None, DataError("cancelled"))``.
        """
        try:
            inner = pickle.dumps((source, dict(options), want_preview), protocol=pickle.HIGHEST_PROTOCOL)
            # the import path apart and first: a plugin's folder may have joined it since
            job = pickle.dumps((os.getcwd(), child_import_path(), inner), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. a source defined inside a function
            self.fallback_reason = f"the source cannot be copied: {exc}"
            return None
        if not self._busy.acquire(blocking=False):
            self.fallback_reason = "another load is using the child process"
            return None
        try:
            self._owner, self._cancelled = owner, False
            for attempt in range(2):  # a child that died since the last load is started again once
                try:
                    self.start()
                    process = self._process
                    assert process is not None and process.stdin is not None and process.stdout is not None
                    write_message(process.stdin, job)
                    kind, payload = pickle.loads(read_message(process.stdout))
                    if kind == "ok":  # the outcome's pickle, then its arrays' buffers one by one
                        main = read_message(process.stdout)
                        buffers = [read_message(process.stdout) for _ in range(payload)]
                except (OSError, EOFError, ValueError, AssertionError) as exc:
                    if self._cancelled:  # the child was killed on purpose
                        self._discard()
                        return False, None, DataError("loading was cancelled")
                    self._discard()
                    if attempt:
                        self.fallback_reason = f"the child process failed: {exc or type(exc).__name__}"
                        return None
                    continue
                if kind == "ok":
                    self.fallback_reason = ""
                    # the arrays use the buffers read from the pipe as they are: no copy
                    return pickle.loads(main, buffers=buffers)
                self.fallback_reason = str(payload)
                return None
            return None
        finally:
            self._owner = None
            self._busy.release()

    def cancel(self, owner: object) -> bool:
        """Kill the child when it is preparing ``owner``'s load (its :meth:`run` answers at once)."""
        process = self._process
        if owner is None or self._owner is not owner or process is None:
            return False
        self._cancelled = True
        try:
            process.kill()
        except OSError:
            return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        """End the child (closing its input ends it; killed after ``timeout`` seconds)."""
        process = self._process
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._discard()

    def _discard(self) -> None:
        process, self._process = self._process, None
        pipes.end_child(process)


#: The process-wide :class:`LoadProcess` (created on first use, started by the first load).
shared_load_process = pipes.process_wide(LoadProcess)


def _child_main() -> None:
    """The child: answer each job with ``("ok", pickled outcome)`` or ``("unavailable", why)``."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a plugin's prints must not corrupt the answers
    if hasattr(os, "nice"):  # background work: the window's own threads get a busy core first
        try:
            os.nice(CHILD_NICENESS)
        except OSError:
            pass
    while True:
        try:
            message = read_message(stdin)
        except EOFError:
            return
        cwd, import_path, job = pickle.loads(message)
        for entry in import_path:  # before the job: a plugin's module may live there
            if entry not in sys.path:
                sys.path.append(entry)
        try:
            source, options, want_preview = pickle.loads(job)
        except Exception as exc:  # noqa: BLE001 - e.g. a plugin module this process cannot import
            answer = ("unavailable", f"the source cannot be read in the child process: {exc}")
        else:
            try:
                os.chdir(cwd)
            except OSError:
                pass
            preview, prepared, error = load_job(source, options, want_preview)
            if isinstance(error, BaseException):
                error = portable_error(error)
            buffers: list[pickle.PickleBuffer] = []
            try:
                main = pickle.dumps((preview, prepared, error), protocol=5, buffer_callback=buffers.append)
            except Exception as exc:  # noqa: BLE001 - a plugin's data pickle cannot copy
                answer = ("unavailable", f"the prepared data cannot be copied: {exc}")
            else:
                write_message(stdout, pickle.dumps(("ok", len(buffers))))
                write_message(stdout, main)
                for buffer in buffers:  # large arrays travel apart, read back without a copy
                    write_message(stdout, buffer.raw())
                continue
        write_message(stdout, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    try:
        _child_main()
    except BrokenPipeError:  # the studio has gone (closed, crashed, killed): nobody to answer
        os._exit(0)
