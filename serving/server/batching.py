"""Server-side batching of concurrent Predict calls, after TF Serving's BatchingSession + SharedBatchScheduler.

Concurrent tasks on the same servable signature are concatenated along dimension 0 up to `max_batch_size`
(a batch closes when full or when its first task has waited `batch_timeout_micros`), padded up to the next
`allowed_batch_sizes` entry by repeating the first row, run once, and split back. Validation and messages
follow TF Serving: "Task size N is larger than maximum input batch size M", "Batching Run() input tensors
must have equal 0th-dimension size", a full queue → UNAVAILABLE.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from serving.server import status

# BasicBatchScheduler::Options defaults (TF Serving uses them for fields the parameters file leaves unset).
DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_TIMEOUT_MICROS = 0
DEFAULT_MAX_ENQUEUED_BATCHES = 10
# How often a queued task looks whether its caller is still there.
CANCEL_POLL_SECONDS = 0.05


class _Task:
    __slots__ = ("inputs", "size", "key", "done", "result", "error", "enqueued")

    def __init__(self, inputs, size, key):
        self.inputs = inputs
        self.size = size
        self.key = key
        self.done = threading.Event()
        self.result = None
        self.error = None
        self.enqueued = time.monotonic()


class BatchScheduler:
    """Merges concurrent calls of `run_fn(inputs) -> outputs` into batches.

    Args:
        run_fn: callable. Runs one (batched) dict of numpy inputs, returns a dict of numpy outputs whose
            dimension 0 equals the batch size.
        max_batch_size: int. Largest batch, and largest single task accepted. Defaults to 1000.
        batch_timeout_micros: int. Longest wait of a batch's first task for company. Defaults to 0.
        max_enqueued_batches: int. Queue capacity in batches; beyond it tasks get UNAVAILABLE. Defaults to 10.
        num_batch_threads: int. Threads running batches. Defaults to 1.
        allowed_batch_sizes: ints. Batches are padded up to the next entry. Defaults to none.
        pad_variable_length_inputs: bool. Accepted for compatibility; tasks whose non-batch dimensions differ
            are never merged (they run in separate batches), so no padding of those dimensions is needed.
    """

    def __init__(self, run_fn: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]],
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                 batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS,
                 max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES, num_batch_threads: int = 1,
                 allowed_batch_sizes: Sequence[int] = (), pad_variable_length_inputs: bool = False):
        self.run_fn = run_fn
        self.max_batch_size = int(max_batch_size)
        self.batch_timeout_micros = int(batch_timeout_micros)
        self.max_enqueued_batches = int(max_enqueued_batches)
        self.num_batch_threads = max(1, int(num_batch_threads))
        self.allowed_batch_sizes = sorted(int(s) for s in allowed_batch_sizes)
        self.pad_variable_length_inputs = bool(pad_variable_length_inputs)
        self.batch_sizes_run: collections.Counter = collections.Counter()  # padded size → count (for tests)
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_size = 0
        self._cv = threading.Condition()
        self._stopped = False
        self._threads = [threading.Thread(target=self._loop, name=f"batch-{i}", daemon=True)
                         for i in range(self.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_parameters(cls, run_fn, params) -> "BatchScheduler":
        """Builds a scheduler from a `BatchingParameters` proto (unset fields take TF Serving's defaults)."""
        def get(field, default):
            return getattr(params, field).value if params is not None and params.HasField(field) else default
        return cls(run_fn, max_batch_size=get("max_batch_size", DEFAULT_MAX_BATCH_SIZE),
                   batch_timeout_micros=get("batch_timeout_micros", DEFAULT_BATCH_TIMEOUT_MICROS),
                   max_enqueued_batches=get("max_enqueued_batches", DEFAULT_MAX_ENQUEUED_BATCHES),
                   num_batch_threads=get("num_batch_threads", 1),
                   allowed_batch_sizes=list(params.allowed_batch_sizes) if params is not None else (),
                   pad_variable_length_inputs=params.pad_variable_length_inputs if params is not None else False)

    @staticmethod
    def task_size(inputs: Mapping[str, np.ndarray]) -> int:
        """The common dimension 0 of the inputs (TF Serving's ComputeTensorBatchSize checks)."""
        if not inputs:
            raise status.invalid_argument("Batching Run() must have at least one input tensor")
        size = None
        for array in inputs.values():
            if np.ndim(array) == 0:
                raise status.invalid_argument("Batching Run() input tensors must have at least one dimension")
            if size is None:
                size = array.shape[0]
            elif array.shape[0] != size:
                raise status.invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
        return int(size)

    def submit(self, inputs: Mapping[str, np.ndarray], cancel=None) -> dict[str, np.ndarray]:
        """Runs `inputs` as part of a batch and returns its share of the outputs (blocks until done).

        `cancel` (`serving.server.limits.CancelCheck` or None): a task whose caller goes away while it is still queued
        leaves the queue and fails with CANCELLED / DEADLINE_EXCEEDED; once its batch runs, it runs to the end
        (the other tasks of the batch need it).
        """
        if cancel is not None:
            cancel.check()
        size = self.task_size(inputs)
        if size > self.max_batch_size:
            raise status.invalid_argument(
                f"Task size {size} is larger than maximum input batch size {self.max_batch_size}")
        if size == 0:
            return dict(self.run_fn(inputs))
        key = tuple(sorted((alias, array.shape[1:], array.dtype.str) for alias, array in inputs.items()))
        task = _Task(dict(inputs), size, key)
        with self._cv:
            if self._stopped:
                raise status.ServingError(status.UNAVAILABLE, "Batch scheduler is shutting down")
            if self._queued_size + size > self.max_enqueued_batches * self.max_batch_size:
                raise status.ServingError(
                    status.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full")
            self._queue.append(task)
            self._queued_size += size
            self._cv.notify_all()
        if cancel is None:
            task.done.wait()
        else:
            while not task.done.wait(CANCEL_POLL_SECONDS):
                error = cancel.error()
                if error is None:
                    continue
                with self._cv:
                    if task in self._queue:  # not taken by a batch thread yet
                        self._queue.remove(task)
                        self._queued_size -= task.size
                        raise error
                task.done.wait()  # already running in a batch
                break
        if task.error is not None:
            raise task.error
        return task.result

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            pending = list(self._queue)
            self._queue.clear()
            self._queued_size = 0
            self._cv.notify_all()
        for task in pending:
            task.error = status.ServingError(status.UNAVAILABLE, "Servable is being unloaded")
            task.done.set()

    # === Batch threads ===
    def _take_batch(self) -> list[_Task] | None:
        with self._cv:
            while True:
                if self._stopped:
                    return None
                if self._queue:
                    head = self._queue[0]
                    ready = sum(t.size for t in self._queue if t.key == head.key)
                    waited = time.monotonic() - head.enqueued
                    remaining = self.batch_timeout_micros / 1e6 - waited
                    if ready >= self.max_batch_size or remaining <= 0:
                        break
                    self._cv.wait(remaining)
                else:
                    self._cv.wait()
            batch, total, keep = [], 0, collections.deque()
            while self._queue:
                task = self._queue.popleft()
                if task.key == head.key and total + task.size <= self.max_batch_size:
                    batch.append(task)
                    total += task.size
                else:
                    keep.append(task)
            self._queue = keep
            self._queued_size -= total
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                self._run_batch(batch)
            except status.ServingError as e:
                for task in batch:
                    task.error = e
            except Exception as e:  # never kill the batch thread
                for task in batch:
                    task.error = status.ServingError(status.INTERNAL, f"Batch failed: {e}")
            for task in batch:
                task.done.set()

    def _run_batch(self, batch: list[_Task]) -> None:
        total = sum(t.size for t in batch)
        padded = next((s for s in self.allowed_batch_sizes if s >= total), total)
        aliases = list(batch[0].inputs)
        merged = {}
        for alias in aliases:
            parts = [t.inputs[alias] for t in batch]
            if padded > total:
                first = parts[0][:1]
                parts.append(np.repeat(first, padded - total, axis=0))
            merged[alias] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        self.batch_sizes_run[padded] += 1
        outputs = self.run_fn(merged)
        for alias, value in outputs.items():
            if np.ndim(value) == 0 or value.shape[0] != padded:
                raise status.ServingError(
                    status.FAILED_PRECONDITION,
                    f"Batched output tensor \"{alias}\" has 0th dimension {np.shape(value)[:1]} but the batch has "
                    f"{padded} rows; a signature served with batching must keep the batch dimension on every "
                    "output")
        offset = 0
        for task in batch:
            task.result = {alias: value[offset:offset + task.size] for alias, value in outputs.items()}
            offset += task.size
