"""Training in a child process: the events of :func:`~seqstudio.core.train.loop.train`, no shared GIL.

A window trains in a background thread, and everything its GUI thread does
in Python (drawing the loss plot, the progress bar) holds the interpreter lock
that a training loop of tiny steps needs for every one of them: the lecture's
batch-size-1 airline recipe ran 3-5 % slower in the window than headless.
:class:`TrainingProcess` keeps one warm child process (started ahead of the
first run with :meth:`TrainingProcess.start`) that runs ``train()`` on a copy
of the model and data and streams the events back, so the window's process
only reads them. The child is ``python -P -m seqstudio.core.train.process``, started
in seqstudio's own folder with the parent's import path less the current folder
(so nothing lying where the studio was started is imported there); messages (the
dataclasses of :mod:`seqstudio.core.train.messages`) are length-prefixed pickles
over its standard input and output (its own prints go to standard error).

It also keeps the window alive when training dies hard: a model too big for
memory or a plugin cell that crashes the interpreter ends the child, not the
studio, and the model keeps the last weights the child sent.

The parent's model is updated in place, as ``train()`` does it, but at
intervals: the child sends its weights with an epoch's end when
:func:`weights_due` says so (and at the end of the run), and :meth:`run`
loads them before it yields that :class:`~seqstudio.core.train.events.EpochEnded`;
``fresh_weights`` then tells the caller that the model now matches that epoch.

Anything that cannot go to a child process (an object pickle cannot copy, a
plugin class the child cannot import) makes :meth:`run` train in the calling
thread instead, with the same events; ``ran_in_child`` says which happened.

>>> process = TrainingProcess()                                     # doctest: +SKIP
>>> for event in process.run(model, data, TrainConfig(epochs=5)):   # doctest: +SKIP
...     print(event)
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any, Literal

from seqstudio.core import pipes
from seqstudio.core.errors import TrainingError
from seqstudio.core.pipes import child_import_path, read_message, write_message
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.events import BatchEnded, EpochEnded, Event, Finished, Stopped
from seqstudio.core.train.messages import (
    Batches,
    Control,
    EventMessage,
    Failed,
    FromChild,
    Ready,
    RunJob,
    ToChild,
    Unavailable,
    portable_error,
    portable_event,
)
from seqstudio.core.train.threads import prepare_openmp_env

#: Per-batch losses travel in chunks at most this old (a batch-size-1 run makes thousands a second).
FLUSH_SECONDS = 0.1
#: The child sends its weights at least this often, so a crash loses little.
KEEP_WEIGHTS_SECONDS = 5.0


def weights_due(epoch: int, last_epoch: int, every: int, seconds_since: float,
                min_seconds: float) -> bool:
    """Whether the weights after ``epoch`` are worth sending (a forecast snapshot is due).

    Every ``every`` epochs (0 = never) but not at the run's last epoch, and at
    most once per ``min_seconds``.

    >>> weights_due(10, 100, 10, 2.0, 1.0), weights_due(10, 100, 10, 0.5, 1.0)
    (True, False)
    >>> weights_due(100, 100, 10, 2.0, 1.0), weights_due(7, 100, 0, 9.0, 1.0)
    (False, False)
    """
    return bool(every) and epoch % every == 0 and epoch < last_epoch and seconds_since >= min_seconds


class ProcessTrainControl(TrainControl):
    """A :class:`TrainControl` whose stop / pause / resume also reach the child's run.

    The parent's state is the base class's; each call is forwarded to the
    child, where a reader thread applies it to the child's own ``TrainControl``.
    """

    def __init__(self):
        super().__init__()
        self._forward = None  # set by TrainingProcess while a run is in the child

    def stop(self) -> None:
        super().stop()
        self._send(Control("stop"))

    def pause(self) -> None:
        super().pause()
        if self.paused:
            self._send(Control("pause"))

    def resume(self) -> None:
        super().resume()
        self._send(Control("resume"))

    def _send(self, message: Control) -> None:
        forward = self._forward
        if forward is not None:
            forward(message)


def _file_only_modules() -> dict[str, tuple[str, list[str] | None]]:
    """Top-level modules imported from a file under a name the import path cannot find.

    Plugins dropped in a folder are imported that way (under a private name);
    the child imports them from the same files when a pickled model names them.
    """
    import importlib.machinery

    found = {}
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if ("." in name or name == "__main__" or spec is None or not spec.has_location
                or not spec.origin or spec.name != name):
            continue
        if importlib.machinery.PathFinder.find_spec(name) is None:
            locations = spec.submodule_search_locations
            found[name] = (spec.origin, list(locations) if locations is not None else None)
    return found


class _FileModuleFinder:
    """In the child: finds the modules :func:`_file_only_modules` listed, at their files."""

    known: dict[str, tuple[str, list[str] | None]] = {}

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in cls.known:
            return None
        import importlib.util

        origin, locations = cls.known[name]
        return importlib.util.spec_from_file_location(name, origin,
                                                      submodule_search_locations=locations)


#: The training process's module (started by :func:`seqstudio.core.pipes.start_child`).
CHILD_MODULE = "seqstudio.core.train.process"


class _Unavailable(Exception):
    """The run cannot go to the child process (train here instead)."""


def _state(model) -> dict[str, Any]:
    return {name: value.detach().cpu() for name, value in model.state_dict().items()}


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the system ends a process this way when memory runs out)" if name == "SIGKILL" else ""
        return f"it was killed by {name}{hint}"
    return f"it exited with code {code}"


def _write(stream, message: ToChild | FromChild) -> None:
    write_message(stream, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


class TrainingProcess:
    """One warm child process that trains for this one; one run at a time.

    The child is started by :meth:`start` (cheap to call again) or by the first
    :meth:`run`, and started again after it died. :meth:`close` ends it.
    """

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._ready = False
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._busy = threading.Lock()
        #: True while the model holds the weights of the last EpochEnded that :meth:`run` yielded.
        self.fresh_weights = False
        #: Whether the last :meth:`run` trained in the child (False: in the calling thread).
        self.ran_in_child = False
        #: Why the last run could not go to the child ("" when it did).
        self.fallback_reason = ""

    # -- the child -------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the child now (it imports torch in the background); no-op when running."""
        with self._start_lock:
            if not self.alive:
                self._start()

    def _start(self) -> None:
        self._discard()
        # OpenMP's settings go in before the child's torch starts it
        self._process = pipes.start_child(CHILD_MODULE, prepare_openmp_env)
        self._ready = False

    def close(self, timeout: float = 2.0) -> None:
        """End the child (waits up to ``timeout`` seconds, then kills it)."""
        process = self._process
        if process is None:
            return
        self._forward(Control("quit"))
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        self._discard()

    def _forward(self, message: ToChild) -> bool:
        process = self._process
        if process is None:
            return False
        try:
            with self._write_lock:
                _write(process.stdin, message)
            return True
        except (OSError, ValueError):  # the child has gone
            return False

    @property
    def _child(self) -> subprocess.Popen:
        """The running child (callers have started it)."""
        if self._process is None:
            raise TrainingError("the training process is not running")
        return self._process

    @property
    def _child_stdout(self) -> IO[bytes]:
        stream = self._child.stdout
        assert stream is not None  # the child is always started with stdout=PIPE
        return stream

    def _exit_code(self, timeout: float = 2.0) -> int | None:
        """The exit code of a child whose output ended (None: it hung and was killed)."""
        try:
            return self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            return None

    def _discard(self) -> None:
        process, self._process = self._process, None
        pipes.end_child(process)

    # -- a run --------------------------------------------------------------------------
    def run(self, model, data, config: TrainConfig, control: ProcessTrainControl | None = None, *,
            start_epoch: int = 0, optimizer_state=None, weights_every: int = 0,
            weights_min_seconds: float = 1.0, in_child: bool = True) -> Iterator[Event]:
        """Train ``model`` on ``data``; yields what ``train()`` yields, the model updated in place.

        ``control`` stops and pauses the run from any thread; ``start_epoch`` and
        ``optimizer_state`` are ``train()``'s. ``in_child=False``
        trains in the calling thread (the same events, no child involved).
        ``weights_every`` / ``weights_min_seconds`` say which epochs the model
        must be current after (see :func:`weights_due`); it always is after the
        last event. Errors before the first epoch raise as ``train()`` raises
        them; a child that dies mid-run raises :class:`TrainingError` saying
        how, the model keeping the last weights it sent.
        """
        control = control or ProcessTrainControl()
        self.fresh_weights = False
        if not in_child:
            self.fallback_reason = "asked to train in this process"
        elif not self._busy.acquire(blocking=False):
            self.fallback_reason = "another run is using the training process"
        else:
            try:
                started = self._start_in_child(model, control, (
                    model, data, config, start_epoch, optimizer_state, weights_every,
                    weights_min_seconds))
                if started is not None:
                    self.ran_in_child, self.fallback_reason = True, ""
                    first, events = started
                    yield first
                    yield from events  # closing run() closes the child's events at once
                    return
            finally:
                control._forward = None
                self._busy.release()
        self.ran_in_child = False
        yield from self._run_here(model, data, config, control, start_epoch, optimizer_state,
                                  weights_every, weights_min_seconds)

    def _start_in_child(self, model, control, job: tuple):
        """``(first event, the rest)`` of the run in the child; None (and
        ``fallback_reason`` says why) when the run cannot go there."""
        try:
            job_bytes = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            # the import path first, apart: a plugin's folder may have joined it since
            payload = pickle.dumps((child_import_path(), _file_only_modules(), job_bytes),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. a class defined inside a function
            self.fallback_reason = f"the model or data cannot be copied: {exc}"
            return None
        events = self._run_in_child(model, payload, control)
        try:
            first = next(events)
        except _Unavailable as exc:
            self.fallback_reason = str(exc)
            return None
        return first, events

    def _run_here(self, model, data, config, control, start_epoch, optimizer_state, every,
                  min_seconds):
        from seqstudio.core.train import (
            loop as training,  # looked up now: tests replace train() here
        )

        last = time.perf_counter()
        for event in training.train(model, data, config, control, start_epoch=start_epoch,
                                    optimizer_state=optimizer_state):
            if isinstance(event, EpochEnded):
                now = time.perf_counter()
                self.fresh_weights = weights_due(event.epoch, event.epochs, every, now - last,
                                                 min_seconds)
                if self.fresh_weights:
                    last = now
            yield event

    def _run_in_child(self, model, payload: bytes, control: ProcessTrainControl) -> Iterator[Event]:
        for attempt in range(2):  # a child that died since the last run is started again once
            try:
                self.start()
            except OSError as exc:
                raise _Unavailable(f"the training process could not be started: {exc}") from None
            if not self._ready:
                try:
                    read_message(self._child_stdout)  # Ready: torch is imported
                    self._ready = True
                except (EOFError, OSError):
                    code = self._exit_code()
                    self._discard()
                    raise _Unavailable(f"the training process did not start: "
                                       f"{_describe_exit(code)}") from None
            # the run starts stopped or paused if asked already: applied before it begins
            start: Literal["stop", "pause"] | None = \
                "stop" if control.stopped else "pause" if control.paused else None
            if self._forward(RunJob(payload, start)):
                break
            self._discard()
            if attempt:
                raise _Unavailable("the training process could not be reached")
        control._forward = self._forward
        if control.stopped:  # asked while the run was being sent
            self._forward(Control("stop"))
        elif control.paused:
            self._forward(Control("pause"))
        finished = False
        try:
            while True:
                message = self._receive()
                if isinstance(message, Batches):
                    yield from message.events()
                elif isinstance(message, EventMessage):
                    event = message.event
                    if message.weights is not None:
                        model.load_state_dict(message.weights)
                    if isinstance(event, EpochEnded):
                        self.fresh_weights = message.weights is not None and not message.keep_only
                    if isinstance(event, Finished):
                        finished = True
                    yield event
                    if finished:
                        return
                elif isinstance(message, Unavailable):
                    finished = True
                    raise _Unavailable(message.reason)
                elif isinstance(message, Failed):
                    finished = True
                    if message.weights is not None:
                        model.load_state_dict(message.weights)
                    raise message.error
        finally:
            if not finished and self._process is not None:
                self._abandon()

    def _receive(self) -> FromChild:
        try:
            return pickle.loads(read_message(self._child_stdout))
        except (EOFError, OSError):
            code = self._exit_code()
            self._discard()
            raise TrainingError(f"the training process ended unexpectedly: {_describe_exit(code)}",
                                fix="try a smaller batch size or model (or another cell, if a "
                                    "plugin cell crashed it); the model keeps the last weights "
                                    "it received") from None

    def _abandon(self, timeout: float = 5.0) -> None:
        """The caller left mid-run: stop the child's run and drop what it still sends."""
        self._forward(Control("stop"))
        watchdog = threading.Timer(timeout, self._child.kill)
        watchdog.start()
        try:
            while True:
                message = pickle.loads(read_message(self._child_stdout))
                if isinstance(message, Failed) or (isinstance(message, EventMessage)
                                                   and isinstance(message.event, Finished)):
                    return
        except (EOFError, OSError):
            self._discard()  # killed by the watchdog: a fresh child next run
        finally:
            watchdog.cancel()


# --------------------------------------------------------------------------- the child side
def _child_main() -> None:
    """The child: jobs and control messages on stdin, events on the original stdout."""
    messages_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not break the stream
    messages_in = sys.stdin.buffer
    import torch

    from seqstudio.core.train import loop  # noqa: F401  (torch loads here, while the window is still starting)

    control = TrainControl()
    jobs: queue.Queue = queue.Queue()

    def read_messages() -> None:  # control messages act at once, even mid-run
        try:
            while True:
                message: ToChild = pickle.loads(read_message(messages_in))
                if isinstance(message, RunJob):  # a fresh start; a stop sent after it still counts
                    control.reset()
                    if message.start == "stop":
                        control.stop()
                    elif message.start == "pause":
                        control.pause()
                    jobs.put(message)
                elif message.what == "quit":
                    jobs.put(message)
                    return
                else:
                    {"stop": control.stop, "pause": control.pause, "resume": control.resume}[message.what]()
        except (EOFError, OSError):  # the studio has gone: end the run too
            control.stop()
            jobs.put(Control("quit"))

    threading.Thread(target=read_messages, name="seqstudio-training-control", daemon=True).start()
    _write(messages_out, Ready())
    while True:
        message = jobs.get()
        if not isinstance(message, RunJob):  # quit
            return
        payload = message.payload
        path, file_modules, job = pickle.loads(payload)
        for entry in path:
            if entry not in sys.path:
                sys.path.append(entry)
        _FileModuleFinder.known.update(file_modules)
        if _FileModuleFinder not in sys.meta_path:
            sys.meta_path.append(_FileModuleFinder)
        try:
            job = pickle.loads(job)
        except Exception as exc:  # noqa: BLE001 - e.g. a plugin class this process cannot import
            _write(messages_out, Unavailable(f"the training process cannot load the model: "
                                             f"{type(exc).__name__}: {exc}"))
            continue
        _child_run(messages_out, control, *job)
        del job, payload, message  # the model and data of a finished run are not kept
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def _child_run(out, control, model, data, config, start_epoch, optimizer_state, every,
               min_seconds) -> None:
    from seqstudio.core.train.loop import train

    chunk: list[float] = []
    chunk_start: BatchEnded | None = None
    flushed = time.perf_counter()
    weights_sent = time.perf_counter()

    def flush() -> None:
        nonlocal chunk, chunk_start, flushed
        if chunk and chunk_start is not None:
            _write(out, Batches(chunk_start.epoch, chunk_start.step, chunk_start.batches,
                                chunk_start.global_step, tuple(chunk)))
        chunk, chunk_start, flushed = [], None, time.perf_counter()

    try:
        for event in train(model, data, config, control, start_epoch=start_epoch,
                           optimizer_state=optimizer_state):
            if isinstance(event, BatchEnded):
                if chunk_start is None:
                    chunk_start = event
                chunk.append(float(event.loss))
                if event.step == event.batches or time.perf_counter() - flushed >= FLUSH_SECONDS:
                    flush()
                continue
            flush()
            state, keep_only = None, False
            if isinstance(event, EpochEnded):
                since = time.perf_counter() - weights_sent
                if weights_due(event.epoch, event.epochs, every, since, min_seconds):
                    state = _state(model)
                elif since >= KEEP_WEIGHTS_SECONDS:
                    state, keep_only = _state(model), True  # for a crash, not a snapshot
                if state is not None:
                    weights_sent = time.perf_counter()
            elif isinstance(event, (Finished, Stopped)):
                state = _state(model)
            _write(out, EventMessage(portable_event(event), state, keep_only))
    except Exception as exc:  # noqa: BLE001 - goes to the parent, which raises it
        flush()
        try:
            state = _state(model)
        except Exception:  # noqa: BLE001
            state = None
        _write(out, Failed(portable_error(exc), state))


#: The process-wide :class:`TrainingProcess` (created on first use, not yet started).
shared_training_process = pipes.process_wide(TrainingProcess)


if __name__ == "__main__":
    try:
        _child_main()
    except BrokenPipeError:  # the studio has gone (closed, crashed, killed): nobody to answer
        os._exit(0)
