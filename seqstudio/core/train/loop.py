"""The training engine: a generator of events that the CLI and the window both drive.

:func:`train` trains a model in place on a :class:`~seqstudio.core.data.prepared.PreparedData`
and yields typed events (:class:`EpochStarted`, :class:`BatchEnded`,
:class:`EpochEnded`, :class:`Stopped`, :class:`Finished`). Whoever iterates it
decides what to do with them: the CLI draws a progress bar, the window's worker
thread forwards them as Qt signals. A :class:`TrainControl` lets another thread
stop or pause the run between batches.

Guarantees
----------
- Every run ends with exactly one :class:`Finished` (after one :class:`Stopped`
  when the run did not complete all its epochs), unless the caller closes the
  generator early.
- A NaN or infinite loss stops the run (``Stopped(reason="nan")``) and the model
  gets back the weights it had at the end of the last finite epoch.
- Any exception inside a run (out of memory, a plugin cell raising) becomes
  ``Stopped(reason="error")`` and the last good weights are kept.
- The model ends on the device it started on. Its weights are the best epoch's
  (lowest validation loss) when ``restore_best`` is set and there is a
  validation split, else the last good ones.
- Same config and seed on the CPU give identical losses.

Speed
-----
The batch-size-1 lecture recipe is dominated by per-step dispatch overhead, not
arithmetic, so the loop avoids per-step work a hand-written loop usually does:
the data is moved to the device once and shuffled once per epoch into
contiguous tensors (a batch is then a view, not a gather), optimizers use their
fused (single-kernel) step where torch has one, evaluation runs under
``torch.inference_mode``. oneDNN is chosen by model size (tiny models run
fastest with it off); the thread count is measured and re-chosen while the run
goes on (:class:`~seqstudio.core.train.threads.ThreadTuner`: the best count
depends on how busy the machine is), unless ``config.threads`` pins it; a
:class:`ThreadsChosen` event says what was chosen and why. Both are
process-wide torch settings, held for the life of the run and restored after.

>>> import torch
>>> from torch import nn
>>> from seqstudio.core.data.prepared import PreparedData
>>> x = torch.linspace(0, 1, 32).reshape(32, 1, 1); y = 2 * x[:, 0]
>>> empty = torch.zeros(0, 1, 1), torch.zeros(0, 1)
>>> data = PreparedData("regression", x, y, *empty, *empty, n_outputs=1)
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(1, 1))
>>> events = list(train(model, data, TrainConfig(epochs=3, batch_size=8)))
>>> [type(e).__name__ for e in events][:3]
['EpochStarted', 'BatchEnded', 'BatchEnded']
>>> events[-1].result.epochs_run
3
"""


from __future__ import annotations

import time
import traceback
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from seqstudio.core.data.prepared import PreparedData
from seqstudio.core.errors import TrainingError
from seqstudio.core.train.config import TrainConfig
from seqstudio.core.train.control import TrainControl
from seqstudio.core.train.devices import (
    TorchSettings,
    choose_cpu_settings,
    model_device,
    resolve_device,
    step_work,
)
from seqstudio.core.train.distributed import Checkpoint, DataParallel
from seqstudio.core.train.evaluate import evaluate
from seqstudio.core.train.events import (
    BatchEnded,
    EpochEnded,
    EpochStarted,
    Event,
    Finished,
    Stopped,
    ThreadsChosen,
    TrainResult,
)
from seqstudio.core.train.losses import check_loss_fits_task, make_loss, outputs_are_probabilities
from seqstudio.core.train.optimizers import (
    load_optimizer_state,
    make_optimizer,
    optimizer_state_dict,
)
from seqstudio.core.train.policies import (
    Policy,
    PolicySet,
    RunState,
    default_policies,
    snapshot,
)
from seqstudio.core.train.threads import (
    ThreadTuner,
    free_cores,
    thread_candidates,
    too_small_to_split,
)


# --------------------------------------------------------------------------- train
def train(model: nn.Module, data: PreparedData, config: TrainConfig,
          control: TrainControl | None = None, *, start_epoch: int = 0,
          optimizer_state: dict[str, torch.Tensor] | None = None,
          policies: Sequence[Policy] = (), parallel: DataParallel | None = None,
          resume: Checkpoint | None = None) -> Iterator[Event]:
    """Train ``model`` in place on ``data``; a generator of events.

    Settings that cannot work (a loss that does not fit the task, a model whose
    output shape does not match the targets, an unavailable device, no training
    samples) raise :class:`TrainingError` right here, before the generator is
    returned. Anything failing later becomes a ``Stopped(reason="error")`` event.

    Parameters
    ----------
    model
        Any ``nn.Module`` mapping a batch of ``x`` to outputs shaped like ``y``
        (``(B, n_classes)`` for multiclass ids).
    data
        The prepared splits; the validation split (or ``validation_fraction``
        of the training split) gives the validation loss.
    config
        How to train.
    control
        Stop / pause from another thread; None makes a private one.
    start_epoch
        Epochs already trained (continue training): epochs are numbered from
        ``start_epoch + 1`` to ``start_epoch + config.epochs``.
    optimizer_state
        ``TrainResult.optimizer_state`` of the run this one continues: Adam's
        moments (or SGD's momentum) go on where they were, as in Keras's
        repeated ``fit()``. Ignored, and the optimizer starts fresh, when it is
        another optimizer's or does not fit the model's parameters.
    policies
        Extra :class:`~seqstudio.core.train.policies.Policy` objects, called after
        the run's own (user stop, NaN guard, best checkpoint, early stopping).
    parallel
        This process's :class:`~seqstudio.core.train.distributed.DataParallel`
        (started) when the run is one of several processes training together.
    resume
        A :class:`~seqstudio.core.train.distributed.Checkpoint` to go on from: its
        weights, optimizer state and epoch replace ``start_epoch`` and
        ``optimizer_state``, and its history informs early stopping and the best epoch.

    Yields
    ------
    EpochStarted, BatchEnded, EpochEnded, Stopped, Finished

    Examples
    --------
    >>> control = TrainControl()
    >>> for event in train(model, data, TrainConfig(epochs=50), control):  # doctest: +SKIP
    ...     if isinstance(event, EpochEnded) and event.train_loss < 1e-3:
    ...         control.stop()
    """
    if not isinstance(config, TrainConfig):
        raise TrainingError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(start_epoch, int) or start_epoch < 0:
        raise TrainingError(f"start_epoch must be a non-negative integer, got {start_epoch!r}")
    if len(data.x_train) == 0:
        raise TrainingError("the training split has no samples",
                            fix="use more data or a larger training fraction")
    check_loss_fits_task(config.loss, data)
    if config.bucketing and (not data.input_is_ids or data.x_train.dim() != 2
                             or data.x_train.is_floating_point()):
        raise TrainingError("bucketing groups texts by length, but this data is not text (token ids)",
                            where="training setting 'bucketing'", fix="turn bucketing off for this data")
    if config.bucketing and parallel is not None:
        raise TrainingError("bucketing is not available when training on several processes",
                            where="training setting 'bucketing'", fix="turn bucketing off for a distributed run")
    device = resolve_device(config.device)
    x_train, y_train, x_val, y_val = _train_val_tensors(data, config)
    if resume is not None:
        model.load_state_dict(resume.weights)
        start_epoch, optimizer_state = resume.epoch, resume.optimizer_state
    run = _Run(model, data, config, control or TrainControl(), start_epoch, device,
               x_train, y_train, x_val, y_val, optimizer_state, policies, parallel)
    if resume is not None:
        run.resume(resume)
    run.check_output_shape()
    return run.events()


def _train_val_tensors(data: PreparedData, config: TrainConfig):
    x_train, y_train = data.x_train, data.y_train
    x_val, y_val = data.x_val, data.y_val
    if len(x_val) == 0 and config.validation_fraction > 0:
        n = len(x_train)
        n_val = max(1, round(n * config.validation_fraction))
        if n_val >= n:
            raise TrainingError(
                f"validation_fraction {config.validation_fraction} leaves no training samples "
                f"out of {n}", where="training setting 'validation_fraction'",
                fix="lower it or use more data")
        # Chronological: the last part is held out, as a forecast would be judged.
        x_train, y_train, x_val, y_val = x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:]
    return x_train, y_train, x_val, y_val


class _Run:
    """State of one call to :func:`train` (the generator is :meth:`events`)."""

    def __init__(self, model, data, config, control, start_epoch, device, x_train, y_train, x_val, y_val,
                 optimizer_state=None, policies: Sequence[Policy] = (),
                 parallel: DataParallel | None = None):
        self.model = model
        self.parallel = parallel
        self.optimizer_state_in = optimizer_state
        self.optimizer: torch.optim.Optimizer | None = None
        self.optimizer_resumed = False
        self.data = data
        self.config = config
        self.start_epoch = start_epoch
        self.device = device
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.has_val = len(x_val) > 0
        self._epoch = start_epoch  # the epoch under way, for Stopped events
        self.global_step = 0
        self.tuner: ThreadTuner | None = None  # chosen when the run starts (CPU only)
        self._spans: tuple[torch.Tensor, torch.Tensor] | None = None  # bucketing: each text's columns
        self.probabilities = outputs_are_probabilities(model, config)
        self.loss_fn = make_loss(config.loss, self.probabilities, quantiles=config.quantiles())
        self.sample_loss_fn = make_loss(config.loss, self.probabilities, "none", config.quantiles())
        self.state = RunState(model, start_epoch, start_epoch + config.epochs, self.has_val)
        self.control = control
        self.policies = PolicySet([*default_policies(control, config.early_stopping_patience),
                                   *policies])

    def resume(self, checkpoint: Checkpoint) -> None:
        """Go on from ``checkpoint``: its best epoch, and what early stopping had seen."""
        state = self.state
        if checkpoint.best_epoch is not None:
            state.best_epoch = checkpoint.best_epoch
            state.best_state = (checkpoint.best_state if checkpoint.best_epoch != checkpoint.epoch
                                else checkpoint.weights)
        self.policies.resume(state, checkpoint.history)

    def check_output_shape(self) -> None:
        """One forward pass on two samples, to reject a model/target mismatch before training."""
        x, y = self.x_train[:2], self.y_train[:2]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.inference_mode():
                out = self.model(x.to(model_device(self.model)))
        except Exception as exc:
            raise TrainingError(f"the model cannot run on this data: {type(exc).__name__}: {exc}",
                                fix="check the model's input layer against the data's input shape "
                                    f"{tuple(self.x_train.shape[1:])}") from exc
        finally:
            self.model.train(was_training)
        wide = len(self.config.quantiles() or (1,))  # the pinball loss: Q quantiles per target value
        if self.config.loss == "cross_entropy":
            ok = out.dim() == 2 and y.dim() == 1 and out.shape[1] == self.data.n_outputs
            expected = f"(batch, {self.data.n_outputs}) class scores"
        else:
            shape = (*y.shape[:-1], y.shape[-1] * wide) if wide > 1 else tuple(y.shape)
            ok = tuple(out.shape) == shape
            expected = f"(batch, {', '.join(str(s) for s in shape[1:])})"
        if not ok:
            raise TrainingError(
                f"the model outputs shape {tuple(out.shape)} for {len(x)} samples but the loss "
                f"'{self.config.loss}' needs {expected}",
                fix=f"make the last layer output {self.data.n_outputs * wide} value(s) per sample"
                    + (f" ({self.data.n_outputs} x {wide} quantiles)" if wide > 1 else ""))
        if self.config.loss in ("bce", "cross_entropy") and self.probabilities:
            if bool(((out < 0) | (out > 1)).any()):
                raise TrainingError(
                    f"the loss '{self.config.loss}' expects probabilities but the model outputs "
                    f"values outside [0, 1] (e.g. {out.flatten()[0].item():.4g})",
                    fix="end the model with a sigmoid (binary) or softmax (classes) activation, "
                        "or set from_logits=True")

    # -- the generator -----------------------------------------------------------
    def events(self) -> Iterator[Event]:
        config, model, state = self.config, self.model, self.state
        started = time.perf_counter()
        settings = TorchSettings()
        original_device = model_device(model)
        stopped: Stopped | None = None
        self.tuner = None
        try:
            if self.device.type == "cpu":
                first, onednn = choose_cpu_settings(model, config)
                torch.backends.mkldnn.enabled = onednn  # type: ignore[assignment]  # torch's stub: a flag
                self.tuner = ThreadTuner(thread_candidates(settings.threads), pinned=config.threads,
                                         first=first, batch_size=config.batch_size,
                                         too_small=too_small_to_split(step_work(model, config.batch_size)),
                                         free_cores=free_cores)
            try:
                model.to(self.device)
                state.last_good = snapshot(model)
                stopped = yield from self._epochs()
            except Exception as exc:  # out of memory, a plugin cell raising...
                message = f"{type(exc).__name__}: {exc}".strip()
                stopped = Stopped("error", message, self._epoch, traceback=traceback.format_exc(),
                                  error=exc)
                if state.last_good is not None:
                    model.load_state_dict(state.last_good)
            except KeyboardInterrupt:  # Ctrl+C in the CLI lands here: stop like the user asked
                stopped = Stopped("user", "interrupted", self._epoch)
            if stopped is not None:
                yield stopped
            optimizer_state = self._final_weights(stopped)
            final_metrics = self._final_metrics()
        finally:
            # Also runs when the caller closes the generator: never leave the
            # model on another device or the process with our thread settings.
            model.to(original_device)
            settings.restore()
        result = TrainResult(
            history=state.history,
            epochs_run=len(state.history),
            best_epoch=state.best_epoch,
            stopped_reason=stopped.reason if stopped else None,
            stopped_message=stopped.message if stopped else "",
            stopped_traceback=stopped.traceback if stopped else "",
            seconds=time.perf_counter() - started,
            device=str(self.device),
            threads=self.tuner.threads if self.tuner is not None else settings.threads,
            threads_reason=self.tuner.summary() if self.tuner is not None else "",
            metrics=final_metrics,
            best_state=({k: v.cpu() for k, v in state.best_state.items()}
                        if config.keep_best_checkpoint and state.best_state is not None else None),
            optimizer_state=optimizer_state,
            optimizer_resumed=self.optimizer_resumed,
        )
        yield Finished(result)

    def _final_weights(self, stopped: Stopped | None) -> dict[str, torch.Tensor] | None:
        """Put the best epoch's weights back when asked; the optimizer state that fits the end weights."""
        config, state = self.config, self.state
        optimizer_state = None
        if stopped is None or stopped.reason in ("user", "early_stopping"):
            optimizer_state = (optimizer_state_dict(self.optimizer, config.optimizer)
                               if self.optimizer is not None else None)
        if config.restore_best and self.has_val and state.best_state is not None:
            last_epoch = state.history[-1]["epoch"] if state.history else None
            if stopped is not None or state.best_epoch != last_epoch:
                optimizer_state = None  # its moments belong to the weights being replaced
            self.model.load_state_dict(state.best_state)
        return optimizer_state

    def _epochs(self) -> Generator[Event, None, Stopped | None]:
        """Yield the epochs' events; return the Stopped event (or None when all epochs ran)."""
        config, model, device, state = self.config, self.model, self.device, self.state
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = state.optimizer = make_optimizer(params, config, device)
        if self.optimizer_state_in:
            self.optimizer_resumed = load_optimizer_state(self.optimizer, self.optimizer_state_in,
                                                          config.optimizer)
        torch.manual_seed(config.seed + self.start_epoch)  # dropout masks
        shuffler = torch.Generator().manual_seed(config.seed + self.start_epoch)
        x_all, y_all = self.x_train.to(device), self.y_train.to(device)
        x_val, y_val = self.x_val.to(device), self.y_val.to(device)
        batches = -(-len(x_all) // config.batch_size)
        if self.parallel is not None:
            self.parallel.wrap(model, device)
            batches = self.parallel.batches(len(x_all))
        last_epoch = state.last_epoch
        policies = self.policies
        self._epoch = self.start_epoch
        for epoch in range(self.start_epoch + 1, last_epoch + 1):
            self._epoch = epoch
            if (stopped := policies.epoch_begin(state, epoch)) is not None:
                return stopped
            yield EpochStarted(epoch, last_epoch, batches)
            epoch_started = time.perf_counter()
            state.paused_seconds = 0.0
            train_epoch = self._train_epoch if self.parallel is None else self._train_epoch_parallel
            outcome = yield from train_epoch(epoch, x_all, y_all, shuffler, params, batches)
            if isinstance(outcome, Stopped):
                return outcome
            train_loss, epoch_metrics = outcome
            val_loss = None
            if self.has_val:
                val_loss, val_correct = self._validate(x_val, y_val)
                if (stopped := policies.validated(state, epoch, val_loss)) is not None:
                    return stopped
                if val_correct is not None:
                    epoch_metrics["val_accuracy"] = val_correct
            seconds = time.perf_counter() - epoch_started - state.paused_seconds
            state.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                  "seconds": seconds, **epoch_metrics})
            state.last_good = snapshot(model)
            stopped = policies.epoch_end(state, epoch, train_loss, val_loss)
            yield EpochEnded(epoch, last_epoch, train_loss, val_loss, epoch_metrics, seconds)
            if stopped is not None:
                return stopped
        return None

    def _train_epoch(self, epoch: int, x_all: torch.Tensor, y_all: torch.Tensor,
                     shuffler: torch.Generator, params: list[torch.nn.Parameter],
                     batches: int) -> Generator[Event, None, Stopped | tuple[float, dict[str, float]]]:
        """One pass over the training split; return (mean loss, metrics) or the Stopped event."""
        model, loss_fn, optimizer, state = self.model, self.loss_fn, self.optimizer, self.state
        assert optimizer is not None  # made by _epochs before the first epoch
        tuner = self.tuner
        clip, bs, n, device = self.config.grad_clip, self.config.batch_size, len(x_all), self.device
        batch_begin, batch_end = self.policies.batch_begin, self.policies.batch_end
        model.train()
        buckets = self._buckets(x_all, shuffler) if self.config.bucketing else None
        if buckets is not None:
            xs, ys = x_all, y_all
        elif self.config.shuffle:
            order = torch.randperm(n, generator=shuffler).to(device)
            xs, ys = x_all[order], y_all[order]
        else:
            xs, ys = x_all, y_all
        loss_sum = 0.0
        classification = self.data.task != "regression"
        correct = torch.zeros((), dtype=torch.int64, device=device) if classification else None
        for step in range(batches):
            for hook in batch_begin:
                if (stopped := hook(state, epoch, step)) is not None:
                    return stopped
            if buckets is not None:  # similar lengths, padded to the longest of the batch
                bucket = buckets[step]
                rows = bucket.rows.to(device)
                xb, yb = xs[rows, bucket.start:bucket.stop], ys[rows]
            else:
                start = step * bs
                xb, yb = xs[start:start + bs], ys[start:start + bs]
            if tuner is not None:
                tuner.batch_started()
            output = model(xb)
            loss = loss_fn(output, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            loss_value = loss.item()
            if tuner is not None and (choice := tuner.batch_ended(len(xb))) is not None:
                yield ThreadsChosen(choice.threads, choice.reason, epoch, step + 1)
            for hook in batch_end:
                if (stopped := hook(state, epoch, step, loss_value)) is not None:
                    return stopped
            if correct is not None:
                correct += self._correct(output.detach(), yb)
            loss_sum += loss_value * len(xb)
            self.global_step += 1
            yield BatchEnded(epoch, step + 1, batches, loss_value, self.global_step)
        metrics = {"accuracy": correct.item() / n} if correct is not None else {}
        return loss_sum / n, metrics

    def _train_epoch_parallel(self, epoch: int, x_all: torch.Tensor, y_all: torch.Tensor,
                              shuffler: torch.Generator, params: list[torch.nn.Parameter],
                              batches: int) -> Generator[Event, None, Stopped | tuple[float, dict[str, float]]]:
        """:meth:`_train_epoch` for one of several processes: this process's share of each global
        batch, the step's loss, correct predictions and stop requests summed over all of them."""
        parallel, loss_fn, optimizer, state = self.parallel, self.sample_loss_fn, self.optimizer, self.state
        assert parallel is not None and parallel.module is not None and optimizer is not None
        tuner, clip, n, bs = self.tuner, self.config.grad_clip, len(x_all), parallel.batch
        batch_begin, batch_end = self.policies.batch_begin, self.policies.batch_end
        model = parallel.module
        model.train()
        order = parallel.epoch_order(epoch, n).to(self.device)  # the sampler, not `shuffler`
        xs, ys = x_all[order], y_all[order]
        loss_sum, correct_sum = 0.0, 0.0
        classification = self.data.task != "regression"
        for step in range(batches):
            for hook in batch_begin:
                if (stopped := hook(state, epoch, step)) is not None:
                    return stopped
            xb, yb = xs[step * bs:(step + 1) * bs], ys[step * bs:(step + 1) * bs]
            mine, in_batch = parallel.batch_real(step, n)
            if tuner is not None:
                tuner.batch_started()
            output = model(xb)
            per_sample = loss_fn(output, yb)
            optimizer.zero_grad(set_to_none=True)
            parallel.loss(per_sample, mine, in_batch).backward()  # DDP averages the gradients
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            correct = self._correct(output[:mine].detach(), yb[:mine]) if classification else None
            total, right, stop = parallel.step_reduce(per_sample[:mine].sum(), correct, epoch, step + 1)
            if stop:  # every process learns it at this same step, and stops before the next
                self.control.stop()
            loss_value = total / in_batch
            if tuner is not None and (choice := tuner.batch_ended(len(xb))) is not None:
                yield ThreadsChosen(choice.threads, choice.reason, epoch, step + 1)
            for hook in batch_end:
                if (stopped := hook(state, epoch, step, loss_value)) is not None:
                    return stopped
            loss_sum += total
            correct_sum += right
            self.global_step += 1
            yield BatchEnded(epoch, step + 1, batches, loss_value, self.global_step)
        return loss_sum / n, ({"accuracy": correct_sum / n} if classification else {})

    def _buckets(self, x_all: torch.Tensor, shuffler: torch.Generator) -> list:
        """This epoch's bucketed batches (``config.bucketing``); the spans are found once a run."""
        from seqstudio.core.train.buckets import bucket_batches, token_spans

        if self._spans is None:
            self._spans = token_spans(x_all)
        first, stop = self._spans
        return bucket_batches(first, stop, self.config.batch_size, shuffler,
                              shuffle=self.config.shuffle, width=x_all.shape[1])

    def _correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "cross_entropy" or target.dim() == 1:
            return (output.argmax(dim=-1) == target).sum()
        threshold = 0.5 if self.probabilities else 0.0
        return ((output >= threshold) == (target >= 0.5)).sum()

    def _validate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
        """Loss (and accuracy) on a split; in a distributed run each process takes its part of
        the split and the sums are reduced over all of them."""
        n, parallel = len(x), self.parallel
        if parallel is not None:
            part = parallel.val_part(n)
            x, y = x[part], y[part]
        model = self.model
        model.eval()
        total, correct = 0.0, 0
        classification = self.data.task != "regression"
        step = max(self.config.batch_size, 256)
        with torch.inference_mode():
            for start in range(0, len(x), step):
                xb, yb = x[start:start + step], y[start:start + step]
                out = model(xb)
                total += (float(self.sample_loss_fn(out, yb).sum()) if parallel is not None
                          else self.loss_fn(out, yb).item() * len(xb))
                if classification:
                    correct += int(self._correct(out, yb))
        model.train()
        right: float = correct
        if parallel is not None:
            total, right = parallel.reduce_sums(total, correct)
        return total / n, (right / n if classification else None)

    def _final_metrics(self) -> dict[str, dict[str, Any]]:
        if self.parallel is not None and not self.parallel.env.is_main:
            return {}  # only rank 0 reports and saves
        results: dict[str, dict[str, Any]] = {}
        for split in ("train", "val", "test"):
            x, _ = self.data.split(split)
            if len(x) == 0:
                continue
            try:
                results[split] = evaluate(self.model, self.data, split, config=self.config)
            except Exception as exc:  # a metric failing must not lose the trained model
                results[split] = {"error": f"{type(exc).__name__}: {exc}"}
        return results
