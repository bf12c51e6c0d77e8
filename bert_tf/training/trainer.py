"""`Trainer`: a step-based custom training loop (Model Garden / orbit style) shared by every bert_tf script.

The loss contract is Keras' own, so a task model that trains with `model.fit` trains here unchanged:

* the model is called as `y_pred = model(x, training=True)`;
* the loss is `model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)`:
  either the model was compiled with `loss=...` (Keras builds the loss), or it overrides `compute_loss`;
* the metrics are `model.compute_metrics(x, y, y_pred, sample_weight)`: compiled `metrics=...`, or a
  `compute_metrics` override / `metrics` property with the model's own trackers;
* under a multi-replica strategy, `compute_loss` must return the replica's share, i.e. its batch loss divided by
  `strategy.num_replicas_in_sync`. Keras' `Loss` objects (and so `compile(loss=...)`) already do this; a
  custom `compute_loss` that reduces with plain ops must divide itself (the replica losses are *summed*).

The datasets yield `(x, y)` or `(x, y, sample_weight)` batches (`keras.utils.unpack_x_y_sample_weight`); the
train dataset must repeat forever (`.repeat()`), the eval dataset must end.

One train step (`steps.py`): gradient accumulation, the trainer's own all-reduce, then the optimizer (wrapped in
a `LossScaleOptimizer` under `mixed_float16`). Scalars and the progress bar: `summaries.py`.

Checkpoints (`checkpointing.py`: model, optimizer, step, the *resume state* and, with one replica, the *input
iterator*; multi-replica runs re-position the input by skipping the consumed batches) are written every
`save_checkpoints_steps`, at the end, and when SIGINT/SIGTERM arrives (`signals.py`: the loop finishes its
step, saves and returns `interrupted=True`). Rerunning the same command restores the latest checkpoint: step,
weights, optimizer slots, the dataset position (with the shuffle buffer and its RNG) and the resume state (the
dropout RNG states of every Keras `SeedGenerator`, which `tf.train.Checkpoint` does not reach through Keras 3
layers, and the running loss/metric sums of the logging window). So with one replica a resumed run takes the
same steps as an uninterrupted one: bit-identical losses and weights (tests/training/test_trainer.py). Not
exact: multi-replica runs skip the consumed batches of a re-created input (exact for a deterministic pipeline);
parameter-server runs restart the input; stateful random ops *inside* the input pipeline (pre-training's
`--dynamic_masking`) are not in tf.data's iterator checkpoint. Only the chief writes summaries and
`eval_results.json`.

Under `ParameterServerStrategy` the trainer runs on the chief only: it schedules each step on whichever worker
is free (every step up to the next log or checkpoint point, then waits for them), the variables live on the
`ps` tasks, and the chief saves, logs and evaluates on its own input pipeline. Each worker runs the whole train
pipeline: seed its shuffles with `distribute.per_worker_seed()`. The input restarts on resume.

Callers that pause training (to evaluate with their own code, say) call `train(until_step=...)`, then
`write_scalars("eval", metrics, step)` for what they measured, and `train` again: the steps, learning rate
and input are those of one uninterrupted run.
"""

import logging
import math
import os
import sys
import time

import keras
import tensorflow as tf

from bert_tf.training import distribute
from bert_tf.training.checkpointing import (CHECKPOINT_NAME, STATE_FILE, CheckpointError, TrainingCheckpoints,
                                           TrainingDirectoryBusyError, TrainingStateError)
from bert_tf.training.signals import StopSignal
from bert_tf.training.steps import (Steps, build_model_state, distributed_train_iterator, inner_optimizer,
                                    is_multi_worker, local_dataset, take_over_gradient_all_reduce)
from bert_tf.training.summaries import Progress, SummaryWriters, to_float, write_json_atomic

logger = logging.getLogger(__name__)

EVAL_RESULTS_FILE = "eval_results.json"

__all__ = ["CHECKPOINT_NAME", "STATE_FILE", "EVAL_RESULTS_FILE", "CheckpointError",  # deprecated: TrainingStateError
           "Trainer", "TrainingDirectoryBusyError", "TrainingStateError", "write_json_atomic"]


class Trainer:
    """Runs training and evaluation of a Keras task model with checkpoints, summaries and resumption.

    Build the model and the optimizer inside `strategy.scope()` before creating the trainer.

    Args:
        model: keras.Model. The task model (see the module docstring for the loss/metrics contract).
        optimizer: keras.optimizers.Optimizer (e.g. from `optimization.create_optimizer`). Wrapped in a
            `LossScaleOptimizer` if the model or a layer of it is `mixed_float16` and it is not one already.
        train_dataset: a repeating `tf.data.Dataset` batched to the global micro-batch size (global batch /
            `grad_accum_steps`), or a function `fn(input_context) -> tf.data.Dataset` batched per replica (see
            `distribute.distribute_dataset`). None for an eval-only trainer.
        model_dir: str. Where checkpoints (`ckpt-<step>`), summaries (`summaries/train`, `summaries/eval`) and
            `eval_results.json` go.
        num_train_steps: int. Optimizer steps to train for (total, across restarts).
        strategy: tf.distribute.Strategy or None. Defaults to the current (default) strategy.
        eval_dataset: a finite `tf.data.Dataset` (or dataset function) for `evaluate()`. Defaults to None.
        grad_accum_steps: int. Micro-batches per optimizer step. Defaults to 1.
        jit_compile: bool. XLA-compile the forward/backward pass. Defaults to False.
        save_checkpoints_steps: int. Checkpoint interval in steps. Defaults to 1000.
        max_checkpoints_to_keep: int. Defaults to 5.
        steps_per_loop: int. Steps run inside one `tf.function` call (fewer Python round trips); never crosses
            a checkpoint or log boundary. Defaults to 1. (Under parameter_server every step up to the next
            checkpoint or log point is scheduled at once.) A stop signal is seen between calls, so SIGTERM
            waits for at most one call's steps before the checkpoint (the Korean build's 10 steps: about 4 s
            at its 2.5 steps/s, well inside Kubernetes' default 30 s grace period).
        log_every_steps: int. Interval of TensorBoard scalars and progress lines. Defaults to 100.
        checkpoint_iterator: bool. Resume at the saved input position: with one replica the tf.data iterator
            is checkpointed (the pipeline must be checkpointable: no `py_function`/generators); with several
            replicas the consumed batches are skipped on resume. False restarts the input. Defaults to True.
        handle_signals: bool. Install SIGINT/SIGTERM handlers during `train()` (main thread only). Defaults
            to True.
        progress: bool. Progress bar on stderr (chief only). Defaults to True.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> ds = tf.data.Dataset.from_tensor_slices((np.ones((8, 3), "float32"), np.ones((8, 1)))).batch(4).repeat()
    >>> import tempfile
    >>> trainer = Trainer(model, keras.optimizers.SGD(0.1), ds, model_dir=tempfile.mkdtemp(), num_train_steps=3,
    ...                   progress=False, handle_signals=False)
    >>> trainer.train(until_step=2)["step"]
    2
    >>> trainer.train()["step"]
    3
    """

    def __init__(self, model, optimizer, train_dataset, *, model_dir, num_train_steps, strategy=None,
                 eval_dataset=None, grad_accum_steps=1, jit_compile=False, save_checkpoints_steps=1000,
                 max_checkpoints_to_keep=5, steps_per_loop=1, log_every_steps=100, checkpoint_iterator=True,
                 handle_signals=True, progress=True):
        if grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
        if save_checkpoints_steps < 1 or steps_per_loop < 1 or log_every_steps < 1:
            raise ValueError("save_checkpoints_steps, steps_per_loop and log_every_steps must be >= 1")
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        # parameter_server: this process is the chief; it schedules steps on the workers and joins them.
        self._coordinator = (tf.distribute.coordinator.ClusterCoordinator(self.strategy)
                             if distribute.is_parameter_server(self.strategy) else None)
        self.model_dir = model_dir
        self.num_train_steps = int(num_train_steps)
        self.grad_accum_steps = int(grad_accum_steps)
        self.jit_compile = bool(jit_compile)
        self.save_checkpoints_steps = int(save_checkpoints_steps)
        self.max_checkpoints_to_keep = int(max_checkpoints_to_keep)
        self.steps_per_loop = int(steps_per_loop)
        self.log_every_steps = int(log_every_steps)
        self.checkpoint_iterator = bool(checkpoint_iterator)
        self.handle_signals = bool(handle_signals)
        self.progress = bool(progress)
        self.is_chief = distribute.is_chief(self.strategy)
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self._stop = StopSignal(self.strategy, self.handle_signals)
        self._restored = False
        self.restored_from = None
        self.summaries = SummaryWriters(model_dir, self.is_chief)
        self.optimizer = self._prepare_optimizer(optimizer)
        self._num_replicas = self.strategy.num_replicas_in_sync
        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self._train_loss = keras.metrics.Mean(name="loss")
            self._eval_loss = keras.metrics.Mean(name="loss")
            self.optimizer.build(model.trainable_variables)
        self._prepare_input()
        self._checkpoints = self._make_checkpoints()
        self._steps = Steps(model, self.optimizer, self.strategy, self.step, train_loss=self._train_loss,
                            eval_loss=self._eval_loss, grad_accum_steps=self.grad_accum_steps,
                            jit_compile=self.jit_compile, coordinator=self._coordinator)

    # === Setup ===
    def _prepare_optimizer(self, optimizer):
        """Loss scaling under `mixed_float16`; with several replicas the trainer all-reduces the gradients."""
        policies = {x.dtype_policy.name for x in self.model._flatten_layers() if x.weights or x is self.model}
        if "mixed_float16" in policies and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            with self.strategy.scope():
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        if self.strategy.num_replicas_in_sync > 1:
            take_over_gradient_all_reduce(optimizer)
        return optimizer

    def _prepare_input(self):
        """Builds the model's loss/metric state on one batch and, where it is checkpointed, the train iterator.

        Input position: with one replica in one process the plain tf.data iterator goes into the checkpoint
        (exact, whatever the pipeline). tf.distribute's multi-replica iterators cannot be checkpointed, so
        there the position is restored by skipping the batches already consumed (exact for a deterministic
        pipeline, e.g. a seeded shuffle)."""
        self.iterator_in_checkpoint = (self.checkpoint_iterator and self._num_replicas == 1
                                       and not is_multi_worker(self.strategy) and self._coordinator is None)
        self._train_iterator = None
        if self.train_dataset is not None:
            build_model_state(self.model, self.strategy, self.train_dataset)
            if self.iterator_in_checkpoint:
                with self.strategy.scope():
                    self._train_iterator = iter(local_dataset(self.train_dataset))
        elif self.eval_dataset is not None:
            build_model_state(self.model, self.strategy, self.eval_dataset)

    def _make_checkpoints(self):
        trackables = {"model": self.model, "optimizer": self.optimizer, "step": self.step}
        if self.iterator_in_checkpoint and self._train_iterator is not None:
            trackables["train_iterator"] = self._train_iterator
        if self.is_chief:
            save_dir = self.model_dir
        else:  # Every worker must save (collectives), but only the chief's files are kept.
            save_dir = os.path.join(self.model_dir, ".worker_tmp", f"worker_{distribute.task_id(self.strategy)}")
        return TrainingCheckpoints(self.model_dir, trackables, self._resume_variables(), is_chief=self.is_chief,
                                   save_dir=save_dir, max_to_keep=self.max_checkpoints_to_keep)

    def _resume_variables(self):
        """What a bit-exact resume needs beyond weights, optimizer, step and input: the state of every Keras
        `SeedGenerator` of the model (`model.variables` minus `model.weights`: the dropout RNGs) and the running
        sums of the training loss and the model's metrics (the current logging window). In a fixed order: the
        same model gives the same list."""
        weights = {id(w) for w in self.model.weights}
        seeds = [v for v in self.model.variables if id(v) not in weights]
        found, seen = [], set()
        for v in seeds + list(self._train_loss.variables) + list(self.model.metrics_variables):
            if id(v) not in seen:
                seen.add(id(v))
                found.append(v)
        return found

    @property
    def checkpoint(self):
        """The `tf.train.Checkpoint` that is saved (model, optimizer, step, input, resume state)."""
        return self._checkpoints.checkpoint

    @property
    def manager(self):  # the tf.train.CheckpointManager (None until `restore` or `save`)
        return self._checkpoints.manager

    @property
    def _core_checkpoint(self):
        return self._checkpoints.core

    # === Checkpoints ===
    def restore(self, read_only=False):
        """Restores the newest readable checkpoint in `model_dir`, if any. Returns its path or None.

        The candidates are the checkpoints the state file lists and the `ckpt-<step>` ones on disk, newest
        first; unreadable ones are skipped with a warning (and, on the chief, renamed aside when newer than the
        restored one). Raises `TrainingStateError` if checkpoints exist and none is readable, or if the state
        file is unreadable and there is no checkpoint at all (see `checkpointing.py`). The chief takes the
        directory's training lock first (`TrainingDirectoryBusyError` if another process trains there), unless
        `read_only` (to evaluate a run in progress: no lock, nothing renamed or rewritten; a later `train` or
        `save` takes the lock then)."""
        self._restored = True
        path = self._checkpoints.restore(self.step, read_only=read_only)
        if path is not None:
            self.restored_from = path
        return path

    def save(self):
        """Writes a checkpoint at the current step (every worker calls this; only the chief's is kept)."""
        return self._checkpoints.save(int(self.step.numpy()))

    @property
    def _on_signal(self):
        return self._stop.on_signal

    # === Train ===
    def train(self, save_at_end=True, *, until_step=None):
        """Trains up to `until_step` (default and at most `num_train_steps`), resuming from `model_dir`.

        Args:
            save_at_end: bool. Also write a checkpoint on reaching `until_step` when that is not a multiple of
                `save_checkpoints_steps` (callers that train in segments pass False for all but the last).
            until_step: int or None. Where this call stops: a pause (the scalars are logged and, with
                `save_at_end`, a checkpoint written there); the learning-rate schedule and the input are
                those of the whole run. Defaults to `num_train_steps`.

        Returns:
            dict: `step` (int), `interrupted` (bool: stopped by a signal before `until_step`), `signal` (name or
            None), `checkpoint` (last path written or restored), `metrics` (the last logged training scalars).
        """
        if self.train_dataset is None:
            raise ValueError("this Trainer has no train_dataset")
        end = self.num_train_steps if until_step is None else min(int(until_step), self.num_train_steps)
        if not self._restored:
            self.restore()
        self._checkpoints.lock()  # (held since the restore, unless that one was read-only)
        if not self.iterator_in_checkpoint and self._train_iterator is None:
            self._train_iterator = distributed_train_iterator(
                self.strategy, self.train_dataset, consumed=int(self.step.numpy()) * self.grad_accum_steps,
                skip_consumed=self.checkpoint_iterator, coordinator=self._coordinator)
        step = int(self.step.numpy())
        if step >= end:
            logger.info("already at step %d of %d: nothing to train", step, end)
            return {"step": step, "interrupted": False, "signal": None, "checkpoint": self.restored_from,
                    "metrics": {}}
        step, logs, last_checkpoint = self._train_until(step, end, save_at_end)
        interrupted = step < end
        signame = self._stop.name
        if interrupted:
            print(f"stopped at step {step} of {end} ({signame}); checkpoint {last_checkpoint}. "
                  "Rerun the same command to resume.", file=sys.stderr)
        return {"step": step, "interrupted": interrupted, "signal": signame, "checkpoint": last_checkpoint,
                "metrics": logs}

    def _train_until(self, step, end, save_at_end):
        """The step loop from `step` to `end`: `(step reached, last logged scalars, last checkpoint)`."""
        old_handlers = self._stop.install()
        bar = Progress(end, initial=step, enabled=self.progress and self.is_chief)
        window = [time.time(), step]
        logs, saved_at, last_checkpoint = {}, step, self.restored_from
        try:
            while step < end:
                n = min(end - step, self.save_checkpoints_steps - step % self.save_checkpoints_steps,
                        self.log_every_steps - step % self.log_every_steps)
                step = self._run_steps(step, n)
                loss = float(self._train_loss.result())
                if not math.isfinite(loss):
                    logger.warning("step %d: loss is %s", step, loss)
                if step % self.log_every_steps == 0 or step == end:
                    logs = self._log_window(step, window)
                bar.update(step, loss=loss, lr=self._learning_rate())
                if step % self.save_checkpoints_steps == 0 or (save_at_end and step == end):
                    last_checkpoint = self.save() or last_checkpoint
                    saved_at = step
                if self._stop.requested():
                    break
        finally:
            self._stop.uninstall(old_handlers)
            bar.close()
            writer = self.summaries.get("train")
            if writer is not None:
                writer.flush()
        if step < end and saved_at != step:
            last_checkpoint = self.save() or last_checkpoint
        return step, logs, last_checkpoint

    def _run_steps(self, step, n):
        """Runs `n` steps from `step` (at most `steps_per_loop` in one call); returns the step reached."""
        try:
            if self._coordinator is None:
                n = min(n, self.steps_per_loop)
                self._steps.train_loop(self._train_iterator, tf.constant(n, tf.int32))
            else:  # schedule every step up to the next log/checkpoint point, then wait for them
                for _ in range(n):
                    self._coordinator.schedule(self._steps.worker_step, args=(self._train_iterator,))
                self._coordinator.join()
                self.step.assign(step + n)  # a step a failed worker ran twice is not counted twice
        except tf.errors.OutOfRangeError:
            raise ValueError(f"the train dataset ran out at step {step}: repeat() it "
                             "(the trainer counts steps, not epochs)") from None
        return step + n

    def _log_window(self, step, window):
        """Writes the logging window's training scalars at `step`, starts a new window; returns the scalars."""
        elapsed = max(time.time() - window[0], 1e-9)
        logs = self._collect(self._train_loss)
        logs["learning_rate"] = self._learning_rate()
        logs["steps_per_second"] = (step - window[1]) / elapsed
        self.summaries.write("train", logs, step, flush=False)
        self._train_loss.reset_state()
        self.model.reset_metrics()
        window[:] = [time.time(), step]
        return logs

    # === Evaluate ===
    def evaluate(self, eval_dataset=None, steps=None):
        """Runs the model over `eval_dataset` (default: the constructor's) and returns `{name: float}`.

        Args:
            eval_dataset: a finite dataset or dataset function. Defaults to the constructor's.
            steps: int or None. Stop after this many batches. Defaults to None (the whole dataset).

        Returns:
            dict with `loss` and every metric of the model, plus `step`. The values (not `step`) are also
            written as `summaries/eval` scalars at the current step."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("no eval dataset given")
        self.model.reset_metrics()
        self._eval_loss.reset_state()
        if self._coordinator is not None:  # the chief evaluates on its own input pipeline
            batches = local_dataset(dataset)
        else:
            batches = distribute.distribute_dataset(self.strategy, dataset)
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            self._steps.eval_step(batch)
        results = self._collect(self._eval_loss)
        self.model.reset_metrics()
        results["step"] = int(self.step.numpy())
        self.write_scalars("eval", {k: v for k, v in results.items() if k != "step"}, results["step"])
        return results

    def write_scalars(self, name, values, step):
        """Writes the int/float entries of `values` as TensorBoard scalars at `step` to `model_dir/summaries/
        <name>` (e.g. `"eval"` for metrics a caller computed itself); chief only."""
        self.summaries.write(name, values, step)

    def write_eval_results(self, results, path=None):
        """Writes `results` as JSON to `path` (default `model_dir/eval_results.json`), atomically; chief only."""
        if not self.is_chief:
            return None
        path = path or os.path.join(self.model_dir, EVAL_RESULTS_FILE)
        write_json_atomic(path, results)
        return path

    # === Helpers ===
    def _collect(self, loss_metric):
        results = {}
        for name, value in self.model.get_metrics_result().items():
            if name == "loss":
                continue
            results[name] = to_float(value)
        results["loss"] = to_float(loss_metric.result())
        return results

    def _learning_rate(self):
        return to_float(inner_optimizer(self.optimizer).learning_rate)
