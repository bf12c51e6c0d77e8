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

What one train step does (under `strategy.run`, one call per replica):
`grad_accum_steps` micro-batches are drawn from the iterator; for each, forward + backward (optionally
XLA-compiled), gradients summed; their mean is all-reduced across replicas *by the trainer* and handed to the
optimizer, so the optimizer's `global_clipnorm` clips the global gradient (Keras' `fit` clips each replica's
share) and with equal micro-batches and a mean loss the update equals one step on the large batch. Under
`mixed_float16` the optimizer is wrapped in `keras.optimizers.LossScaleOptimizer`.

Checkpoints (`tf.train.Checkpoint` of model, optimizer, step counter, the *resume state* and, with one replica,
the *input iterator*; multi-replica runs re-position the input by skipping the consumed batches) are written by
a `tf.train.CheckpointManager` every `save_checkpoints_steps`, at the end, and when SIGINT/SIGTERM arrives (the
handler sets a flag; the loop finishes its step, saves and returns `interrupted=True`). Rerunning the same
command restores the latest checkpoint: step, weights, optimizer slots, the dataset position (with the
shuffle buffer and its RNG) and the resume state: every Keras `SeedGenerator` of the model (the dropout RNG
states, which `tf.train.Checkpoint` does not reach through Keras 3 layers) and the running loss/metric sums of
the current logging window. So with one replica a resumed run takes the same steps as an uninterrupted one:
the same batches, the same dropout masks, bit-identical losses and weights (tests/training/test_trainer.py).
Not exact, and why: multi-replica runs re-create the input and skip the consumed batches (exact only for a
deterministic pipeline, e.g. a seeded shuffle); parameter-server runs restart the input (which worker ran which
step is not recorded); random ops with stateful RNG *inside* the input pipeline (e.g. pre-training's
`--dynamic_masking`) are not in tf.data's iterator checkpoint; a checkpoint written before the resume state
existed restores without it (a warning says so).

Which checkpoint: the newest readable one among those the `checkpoint` state file lists and the
`ckpt-<step>.index` files (with all their data shards) in the directory, so a state file that is missing,
unreadable (garbled, binary) or stale does not restart training at step 0 (a warning names what was found;
an unreadable state file with no checkpoint beside it is a `CheckpointError`). TF writes a checkpoint's files
first and only then rewrites the state file (atomically), so a crash mid-save leaves the previous checkpoint
as the latest; a checkpoint that is present but unreadable (truncated, corrupt) is reported and the previous
good one is used. Nothing newer than the restored checkpoint is ever deleted or overwritten: unreadable newer
ones are renamed `ckpt-<step>.unreadable-<time>.*` (kept for inspection), and the state file is rewritten to
list the restored checkpoint and the older ones, which the manager then rotates as usual. Under multi-worker
training every worker takes part in saving (TF requires it) but only the chief's copy is kept (and only the
chief renames or rewrites anything); only the chief writes summaries and `eval_results.json`.

Under `ParameterServerStrategy` (asynchronous) the trainer runs on the chief only: it schedules each step on
whichever worker is free through a `ClusterCoordinator` (every step up to the next log or checkpoint point,
then waits for them), the variables live on the `ps` tasks, and the chief saves, logs and evaluates (on its own
input pipeline, reading the variables from the `ps` tasks). Each worker runs the whole train pipeline (TF's
design: no worker index); seed its shuffles with `distribute.per_worker_seed()` so the workers see different
orders. The input restarts on resume.
"""

import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import threading
import time

import keras
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import summary_pb2
from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState

from bert_tf.training import distribute

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file
EVAL_RESULTS_FILE = "eval_results.json"
_CHECKPOINT_PREFIX = re.compile(rf"^{re.escape(CHECKPOINT_NAME)}-(\d+)$")
_DATA_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


class CheckpointError(RuntimeError):
    """No usable checkpoint could be restored from a directory that has some."""


class Trainer:
    """Runs training and evaluation of a Keras task model with checkpoints, summaries and resumption.

    Build the model and the optimizer inside `strategy.scope()` before creating the trainer.

    Args:
        model: keras.Model. The task model (see the module docstring for the loss/metrics contract).
        optimizer: keras.optimizers.Optimizer (e.g. from `optimization.create_optimizer`). Wrapped in a
            `LossScaleOptimizer` if the model's dtype policy is `mixed_float16` and it is not one already.
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
            checkpoint or log point is scheduled at once.)
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
        self._stop_signal = None
        self._restored = False
        self.restored_from = None

        policy = getattr(model, "dtype_policy", None) or keras.config.dtype_policy()
        if policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            with self.strategy.scope():
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.optimizer = optimizer
        self._num_replicas = self.strategy.num_replicas_in_sync
        if self._num_replicas > 1:
            self._take_over_gradient_all_reduce()

        with self.strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self._train_loss = keras.metrics.Mean(name="loss")
            self._eval_loss = keras.metrics.Mean(name="loss")
            self.optimizer.build(model.trainable_variables)

        # Input position: with one replica in one process the plain tf.data iterator goes into the checkpoint
        # (exact, whatever the pipeline). tf.distribute's multi-replica iterators cannot be checkpointed, so there
        # the position is restored by skipping the batches already consumed (exact for a deterministic pipeline,
        # e.g. a seeded shuffle).
        self.iterator_in_checkpoint = (self.checkpoint_iterator and self._num_replicas == 1
                                       and not _is_multi_worker(self.strategy) and self._coordinator is None)
        self._train_iterator = None
        if train_dataset is not None:
            self._build_model_state(train_dataset)
            if self.iterator_in_checkpoint:
                dataset = train_dataset if isinstance(train_dataset, tf.data.Dataset) else train_dataset(
                    tf.distribute.InputContext())
                with self.strategy.scope():
                    self._train_iterator = iter(dataset)
        elif eval_dataset is not None:
            self._build_model_state(eval_dataset)

        trackables = {"model": model, "optimizer": self.optimizer, "step": self.step}
        if self.iterator_in_checkpoint and self._train_iterator is not None:
            trackables["train_iterator"] = self._train_iterator
        # Restored on its own (`restore`), so a checkpoint written before it existed still restores.
        resume_variables = self._resume_variables()
        self._resume_state = tf.train.Checkpoint(**{f"v{i}": v for i, v in enumerate(resume_variables)})
        self._has_resume_state = bool(resume_variables)
        self._core_checkpoint = tf.train.Checkpoint(**trackables)
        self._resume_checkpoint = tf.train.Checkpoint(resume_state=self._resume_state)
        self.checkpoint = tf.train.Checkpoint(**trackables, resume_state=self._resume_state)  # what is saved
        if self.is_chief:
            self._save_dir = model_dir
        else:  # Every worker must save (collectives), but only the chief's files are kept.
            self._save_dir = os.path.join(model_dir, ".worker_tmp", f"worker_{distribute.task_id(self.strategy)}")
        self.manager = None  # made by `restore` (which first repairs a missing or unreadable state file)
        self._grad_fn = tf.function(self._forward_backward, jit_compile=True) if self.jit_compile \
            else self._forward_backward
        self._train_loop_fn = tf.function(self._train_loop)
        self._worker_step_fn = tf.function(self._one_step)
        self._eval_step_fn = tf.function(self._eval_step)

    # === Setup ===
    def _take_over_gradient_all_reduce(self):
        """The trainer all-reduces gradients itself (before clipping); stop Keras from summing them again."""
        inner = self.optimizer.inner_optimizer if isinstance(
            self.optimizer, keras.optimizers.LossScaleOptimizer) else self.optimizer
        if not hasattr(type(inner), "_all_reduce_sum_gradients"):
            raise RuntimeError(
                f"{type(inner).__name__} has no _all_reduce_sum_gradients: this Keras version is not supported "
                "for multi-replica training by bert_tf's Trainer (gradients would be all-reduced twice)")
        inner._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)

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

    def _build_model_state(self, dataset):
        """One eager forward pass on one batch so lazily-built losses/metrics create their variables here,
        outside any replica context, and bad inputs fail now with a readable error."""
        if isinstance(dataset, tf.data.Dataset):
            sample = dataset
        else:
            sample = dataset(tf.distribute.InputContext())
        batch = next(iter(sample.take(1)))
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        with self.strategy.scope():
            y_pred = self.model(x, training=False)
            self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
            self.model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        self.model.reset_metrics()

    # === Steps ===
    def _forward_backward(self, x, y, sample_weight):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, variables)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        batch_size = tf.shape(tf.nest.flatten(x)[0])[0]
        self._train_loss.update_state(tf.cast(loss, tf.float32) * self._num_replicas,
                                      sample_weight=tf.cast(batch_size, tf.float32))
        self.model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return grads

    def _replica_step(self, micro_batches):
        total = None
        for data in micro_batches:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            grads = self._grad_fn(x, y, sample_weight)
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
        if self.grad_accum_steps > 1:
            total = [g / float(self.grad_accum_steps) for g in total]
        if self._num_replicas > 1:
            total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, total)
        self.optimizer.apply(total, self.model.trainable_variables)

    def _train_loop(self, iterator, num_steps):
        for _ in tf.range(num_steps):
            self._one_step(iterator)

    def _one_step(self, iterator):
        """One optimizer step (parameter_server: scheduled on whichever worker is free)."""
        micro_batches = [next(iterator) for _ in range(self.grad_accum_steps)]
        self.strategy.run(self._replica_step, args=(micro_batches,))
        self.step.assign_add(1)

    def _eval_step(self, data):
        def replica_fn(data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            y_pred = self.model(x, training=False)
            loss = self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
            batch_size = tf.shape(tf.nest.flatten(x)[0])[0]
            self._eval_loss.update_state(tf.cast(loss, tf.float32) * self._num_replicas,
                                         sample_weight=tf.cast(batch_size, tf.float32))
            self.model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if self._coordinator is not None:  # parameter_server: the chief evaluates, reading the ps variables
            replica_fn(data)
        else:
            self.strategy.run(replica_fn, args=(data,))

    def _distributed_train_iterator(self):
        """The multi-replica train iterator, positioned after the batches the restored step consumed."""
        consumed = int(self.step.numpy()) * self.grad_accum_steps
        dataset = self.train_dataset
        if self._coordinator is not None:
            # Every worker runs the whole pipeline (TF's parameter-server design); which worker took which step
            # is not recorded, so the input restarts on resume (seed shuffles with distribute.per_worker_seed).
            if isinstance(dataset, tf.data.Dataset):
                return iter(self._coordinator.create_per_worker_dataset(dataset))
            fn = dataset
            return iter(self._coordinator.create_per_worker_dataset(
                lambda: self.strategy.distribute_datasets_from_function(fn)))
        if isinstance(dataset, tf.data.Dataset):
            if consumed and self.checkpoint_iterator:
                dataset = dataset.skip(consumed)  # global batches
        elif consumed and self.checkpoint_iterator:
            fn = dataset
            local_replicas = len(self.strategy.extended.worker_devices)

            def dataset(input_context):  # per-replica batches: each pipeline feeds its local replicas
                return fn(input_context).skip(consumed * local_replicas)
        return iter(distribute.distribute_dataset(self.strategy, dataset))

    # === Checkpoints ===
    def restore(self):
        """Restores the newest readable checkpoint in `model_dir`, if any. Returns its path or None.

        The candidates are the checkpoints the `checkpoint` state file lists and the `ckpt-<step>` checkpoints
        found on disk (an index file and all its data shards), newest step first: a missing, unreadable or
        stale state file does not hide them (a warning names the state file and the checkpoints found). A
        candidate whose files are missing, truncated or corrupt is skipped with a warning naming it and the
        problem; the previous one is tried. Raises `CheckpointError` if checkpoints exist and none is readable,
        or if the state file is unreadable and there is no checkpoint at all.

        On the chief, unreadable candidates newer than the restored one are renamed aside (never deleted or
        overwritten by the steps trained next) and the state file is rewritten when it did not list exactly
        the restored checkpoint and the older ones.
        """
        self._restored = True
        state_path = os.path.join(self.model_dir, STATE_FILE)
        state, state_problem = _read_state_file(self.model_dir)
        listed = _state_paths(state, self.model_dir) if state is not None else []
        on_disk = _scan_checkpoints(self.model_dir)
        candidates = _newest_first(listed + [p for p in on_disk if p not in listed])
        if state_problem is not None or (state is None and candidates):
            what = f"is unreadable ({state_problem})" if state_problem is not None else "is missing"
            if not candidates:
                raise CheckpointError(
                    f"the checkpoint state file {state_path} {what} and {self.model_dir} holds no "
                    f"{CHECKPOINT_NAME}-<step> checkpoint to resume from; delete {state_path} to start training "
                    "afresh in this directory")
            self._warn(f"the checkpoint state file {state_path} {what}; found "
                       f"{', '.join(os.path.basename(p) for p in candidates)} in {self.model_dir}: restoring the "
                       "newest readable one")
        elif listed:
            unlisted = [p for p in on_disk if p not in listed and _step_of(p) > _step_of(listed[-1])]
            if unlisted:
                self._warn(f"{', '.join(os.path.basename(p) for p in unlisted)} in {self.model_dir} "
                           f"{'is' if len(unlisted) == 1 else 'are'} newer than the state file's latest "
                           f"{os.path.basename(listed[-1])} (a save interrupted before it was recorded?): trying "
                           f"{'it' if len(unlisted) == 1 else 'them'} first")
        if not candidates:
            self._make_manager()
            return None
        problems = []
        for i, path in enumerate(candidates):
            try:
                # expect_partial: the resume state is restored next, by its own root (no "unused value" warnings)
                self._core_checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, OSError) as e:
                problem = f"checkpoint {path} is unreadable ({_first_line(e)})"
                problems.append(problem)
                self._warn(f"{problem}; trying the previous checkpoint")
                continue
            self._restore_resume_state(path)
            self.restored_from = path
            logger.info("restored %s at step %d", path, int(self.step.numpy()))
            if self.is_chief:
                self._settle_checkpoints(path, newer=candidates[:i], older=candidates[i + 1:], state=state)
            self._make_manager()
            return path
        raise CheckpointError(f"no readable checkpoint in {self.model_dir}: " + "; ".join(problems))

    def _restore_resume_state(self, path):
        """The dropout RNG states and metric sums (see `_resume_variables`); a checkpoint without them (written
        before they were saved) still restores, with a warning that the resume is not bit-exact."""
        if not self._has_resume_state:
            return
        try:
            self._resume_checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, OSError) as e:
            why = "none saved: an older bert_tf, or another model" if isinstance(e, AssertionError) else _first_line(e)
            self._warn(f"checkpoint {path} has no usable resume state ({why}): the dropout RNG and the logged "
                       "averages restart, so this run is not bit-identical to an uninterrupted one")

    def _settle_checkpoints(self, restored, newer, older, state):
        """Chief only, after restoring `restored`: renames the unreadable `newer` candidates aside (so the steps
        trained next cannot overwrite them, nor the manager delete them) and rewrites the state file when it
        does not list exactly `older` + `restored`, so the manager rotates those as usual."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in newer:
            moved = _move_checkpoint_aside(path, f"unreadable-{stamp}")
            if moved:
                self._warn(f"kept the unreadable checkpoint {path} as {moved}.* (nothing newer than the restored "
                           f"{os.path.basename(restored)} is deleted or overwritten)")
        keep = list(reversed(older)) + [restored]
        if state is not None and _state_paths(state, self.model_dir) == keep and \
                _state_paths(state, self.model_dir, latest_only=True) == [restored]:
            return
        timestamps = [_mtime(p) for p in keep]
        tf.__internal__.train.update_checkpoint_state(
            self.model_dir, model_checkpoint_path=restored, all_model_checkpoint_paths=keep,
            all_model_checkpoint_timestamps=timestamps, last_preserved_timestamp=min(timestamps) - 1.0,
            save_relative_paths=True)
        logger.info("rewrote %s: %s", os.path.join(self.model_dir, STATE_FILE),
                    ", ".join(os.path.basename(p) for p in keep))

    def _make_manager(self):
        """The `CheckpointManager` that writes and rotates checkpoints (reads the state file: after `restore`)."""
        if not self.is_chief:  # a temporary folder emptied after every save: a leftover is stale
            shutil.rmtree(self._save_dir, ignore_errors=True)
        else:
            _, problem = _read_state_file(self._save_dir)
            if problem is not None:
                raise CheckpointError(f"the checkpoint state file {os.path.join(self._save_dir, STATE_FILE)} is "
                                      f"unreadable ({problem}): call restore() first, which rebuilds it")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory=self._save_dir,
                                                  max_to_keep=self.max_checkpoints_to_keep,
                                                  checkpoint_name=CHECKPOINT_NAME)

    @staticmethod
    def _warn(message):
        logger.warning("%s", message)
        print(f"WARNING: {message}", file=sys.stderr)

    def save(self):
        """Writes a checkpoint at the current step (every worker calls this; only the chief's is kept)."""
        if self.manager is None:
            self._make_manager()
        step = int(self.step.numpy())
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            shutil.rmtree(self._save_dir, ignore_errors=True)
            return None
        return path

    # === Signals ===
    def _on_signal(self, signum, frame):
        del frame
        if self._stop_signal is not None:  # Second signal: stop hard.
            raise SystemExit(128 + signum)
        self._stop_signal = signum
        print(f"\nreceived {signal.Signals(signum).name}: saving a checkpoint after this step, then stopping "
              "(send it again to stop at once)", file=sys.stderr)

    def _stop_requested(self):
        flag = 1 if self._stop_signal is not None else 0
        if not _is_multi_worker(self.strategy):
            return bool(flag)
        # All workers must agree, or the ones still training would wait forever in a collective.
        if not hasattr(self, "_sum_flags_fn"):
            def sum_flags(flag):
                per_replica = self.strategy.run(tf.identity, args=(flag,))
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self._sum_flags_fn = tf.function(sum_flags)
        return int(self._sum_flags_fn(tf.constant(flag, tf.int32)).numpy()) > 0

    # === Train ===
    def train(self, save_at_end=True):
        """Trains up to `num_train_steps` (resuming from `model_dir`).

        Args:
            save_at_end: bool. Also write a checkpoint on reaching `num_train_steps` when that is not a multiple
                of `save_checkpoints_steps` (callers that train in segments pass False for all but the last).

        Returns:
            dict: `step` (int), `interrupted` (bool), `signal` (name or None), `checkpoint` (last path written
            or restored), `metrics` (the last logged training scalars).
        """
        if self.train_dataset is None:
            raise ValueError("this Trainer has no train_dataset")
        if not self._restored:
            self.restore()
        if not self.iterator_in_checkpoint and self._train_iterator is None:
            self._train_iterator = self._distributed_train_iterator()
        step = int(self.step.numpy())
        last_checkpoint = self.restored_from
        logs = {}
        if step >= self.num_train_steps:
            logger.info("already at step %d of %d: nothing to train", step, self.num_train_steps)
            return {"step": step, "interrupted": False, "signal": None, "checkpoint": last_checkpoint,
                    "metrics": logs}
        old_handlers = self._install_signal_handlers()
        writer = self._summary_writer("train")
        bar = _Progress(self.num_train_steps, initial=step, enabled=self.progress and self.is_chief)
        window_start, window_step = time.time(), step
        saved_at = step
        try:
            while step < self.num_train_steps:
                n = min(self.num_train_steps - step,
                        self.save_checkpoints_steps - step % self.save_checkpoints_steps,
                        self.log_every_steps - step % self.log_every_steps)
                try:
                    if self._coordinator is None:
                        n = min(n, self.steps_per_loop)
                        self._train_loop_fn(self._train_iterator, tf.constant(n, tf.int32))
                    else:  # schedule every step up to the next log/checkpoint point, then wait for them
                        for _ in range(n):
                            self._coordinator.schedule(self._worker_step_fn, args=(self._train_iterator,))
                        self._coordinator.join()
                        self.step.assign(step + n)  # a step a failed worker ran twice is not counted twice
                except tf.errors.OutOfRangeError:
                    raise ValueError(f"the train dataset ran out at step {step}: repeat() it "
                                     "(the trainer counts steps, not epochs)") from None
                step += n
                loss = float(self._train_loss.result())
                if not math.isfinite(loss):
                    logger.warning("step %d: loss is %s", step, loss)
                if step % self.log_every_steps == 0 or step == self.num_train_steps:
                    elapsed = max(time.time() - window_start, 1e-9)
                    logs = self._collect(self._train_loss)
                    logs["learning_rate"] = self._learning_rate()
                    logs["steps_per_second"] = (step - window_step) / elapsed
                    self._write_summaries(writer, logs, step)
                    self._train_loss.reset_state()
                    self.model.reset_metrics()
                    window_start, window_step = time.time(), step
                bar.update(step, loss=loss, lr=self._learning_rate())
                if step % self.save_checkpoints_steps == 0 or (save_at_end and step == self.num_train_steps):
                    last_checkpoint = self.save() or last_checkpoint
                    saved_at = step
                if self._stop_requested():
                    break
        finally:
            self._restore_signal_handlers(old_handlers)
            bar.close()
            if writer is not None:
                writer.flush()
        interrupted = step < self.num_train_steps
        if interrupted and saved_at != step:
            last_checkpoint = self.save() or last_checkpoint
        signame = signal.Signals(self._stop_signal).name if self._stop_signal is not None else None
        if interrupted:
            print(f"stopped at step {step} of {self.num_train_steps} ({signame}); checkpoint {last_checkpoint}. "
                  "Rerun the same command to resume.", file=sys.stderr)
        return {"step": step, "interrupted": interrupted, "signal": signame, "checkpoint": last_checkpoint,
                "metrics": logs}

    def _install_signal_handlers(self):
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return None
        self._stop_signal = None
        old = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            old[signum] = signal.signal(signum, self._on_signal)
        return old

    @staticmethod
    def _restore_signal_handlers(old):
        for signum, handler in (old or {}).items():
            signal.signal(signum, handler)

    # === Evaluate ===
    def evaluate(self, eval_dataset=None, steps=None):
        """Runs the model over `eval_dataset` (default: the constructor's) and returns `{name: float}`.

        Args:
            eval_dataset: a finite dataset or dataset function. Defaults to the constructor's.
            steps: int or None. Stop after this many batches. Defaults to None (the whole dataset).

        Returns:
            dict with `loss` and every metric of the model, plus `step`.
        """
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("no eval dataset given")
        self.model.reset_metrics()
        self._eval_loss.reset_state()
        if self._coordinator is not None:  # the chief evaluates on its own input pipeline
            batches = dataset if isinstance(dataset, tf.data.Dataset) else dataset(tf.distribute.InputContext())
        else:
            batches = distribute.distribute_dataset(self.strategy, dataset)
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            self._eval_step_fn(batch)
        results = self._collect(self._eval_loss)
        self.model.reset_metrics()
        results["step"] = int(self.step.numpy())
        writer = self._summary_writer("eval")
        if writer is not None:
            self._write_summaries(writer, {k: v for k, v in results.items() if k != "step"}, results["step"])
            writer.flush()
        return results

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
            results[name] = _to_float(value)
        results["loss"] = _to_float(loss_metric.result())
        return results

    def _learning_rate(self):
        opt = self.optimizer.inner_optimizer if isinstance(
            self.optimizer, keras.optimizers.LossScaleOptimizer) else self.optimizer
        return _to_float(opt.learning_rate)

    def _summary_writer(self, name):
        if not self.is_chief:
            return None
        if not hasattr(self, "_writers"):
            self._writers = {}
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.model_dir, "summaries", name))
        return self._writers[name]

    @staticmethod
    def _write_summaries(writer, logs, step):
        if writer is None:
            return
        with writer.as_default(step=step):
            for name, value in logs.items():
                if isinstance(value, (int, float)):
                    _write_scalar(name, value, step)


def _first_line(e):
    """`Type: first line of the message` (at most 300 characters) of an exception."""
    message = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


def _read_state_file(directory):
    """`(CheckpointState or None, problem or None)` of `directory/checkpoint`; `(None, None)` if there is none.

    Unlike `tf.train.get_checkpoint_state` (which turns a garbled file into None, i.e. "no checkpoint", and
    raises `UnicodeDecodeError` on a binary one), every unreadable file is reported as a problem."""
    path = os.path.join(directory, STATE_FILE)
    try:
        if not tf.io.gfile.exists(path):
            return None, None
        with tf.io.gfile.GFile(path, "rb") as f:
            raw = f.read()
    except (tf.errors.OpError, OSError) as e:
        return None, f"cannot be read: {_first_line(e)}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text: byte {e.start} is 0x{raw[e.start]:02x}"
    state = CheckpointState()
    try:
        text_format.Parse(text, state)
    except text_format.ParseError as e:
        return None, f"not a checkpoint state: {str(e).splitlines()[0][:200]}"
    if not state.model_checkpoint_path:
        return None, "it names no checkpoint"
    return state, None


def _state_paths(state, directory, latest_only=False):
    """The state file's checkpoints, oldest first, as paths in `directory` (the latest one last); with
    `latest_only`, just `[the latest]`."""
    if latest_only:
        paths = [state.model_checkpoint_path]
    else:
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        if state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
    return [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]


def _scan_checkpoints(directory):
    """The `ckpt-<step>` checkpoints in `directory` that have an index file and every data shard, oldest first."""
    try:
        names = set(tf.io.gfile.listdir(directory))
    except (tf.errors.OpError, OSError):
        return []
    found = []
    for name in names:
        if not name.endswith(".index"):
            continue
        prefix = name[:-len(".index")]
        if not _CHECKPOINT_PREFIX.match(prefix):
            continue
        shards = [_DATA_SHARD.search(n) for n in names if n.startswith(prefix + ".data-")]
        counts = {int(m.group(2)) for m in shards if m}
        if len(counts) != 1 or {int(m.group(1)) for m in shards if m} != set(range(counts.pop())):
            continue
        found.append(os.path.join(directory, prefix))
    return sorted(found, key=_step_of)


def _step_of(path):
    match = _CHECKPOINT_PREFIX.match(os.path.basename(path))
    return int(match.group(1)) if match else -1


def _newest_first(paths):
    """Highest step first; paths not named `ckpt-<step>` last, latest listed first (a stable sort)."""
    return [p for _, p in sorted(enumerate(paths), key=lambda ip: (_step_of(ip[1]), ip[0]), reverse=True)]


def _mtime(prefix):
    try:
        return tf.io.gfile.stat(prefix + ".index").mtime_nsec / 1e9
    except (tf.errors.OpError, OSError):
        return time.time()


def _move_checkpoint_aside(prefix, tag):
    """Renames the files of checkpoint `prefix` to `prefix.<tag>.*` (still a loadable checkpoint prefix, no
    longer `ckpt-<step>`); returns the new prefix, or None if it had no files."""
    directory, base = os.path.split(prefix)
    try:
        names = [n for n in tf.io.gfile.listdir(directory) if n.startswith(base + ".") and (
            n == base + ".index" or n.startswith(base + ".data-"))]
    except (tf.errors.OpError, OSError):
        return None
    for name in names:
        tf.io.gfile.rename(os.path.join(directory, name),
                           os.path.join(directory, f"{base}.{tag}{name[len(base):]}"), overwrite=False)
    return f"{prefix}.{tag}" if names else None


def _write_scalar(name, value, step):
    """`tf.summary.scalar` without the `tensorboard` package: the same event record (plugin `scalars`)."""
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)


def _is_multi_worker(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return len(resolver.cluster_spec().as_dict().get("worker", [])) + \
        len(resolver.cluster_spec().as_dict().get("chief", [])) > 1


def _to_float(value):
    value = value.numpy() if hasattr(value, "numpy") else value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value.tolist() if hasattr(value, "tolist") else value


def write_json_atomic(path, values):
    """Writes `values` as pretty JSON to `path` via a temporary file and `os.replace`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Progress:
    """A small progress bar on stderr: redraws in place on a terminal, prints a line per update otherwise."""

    def __init__(self, total, initial=0, enabled=True, stream=None):
        self.total = total
        self.start_step = initial
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.time()
        self.last_print = 0.0

    def update(self, step, **values):
        if not self.enabled:
            return
        now = time.time()
        if not self.tty and now - self.last_print < 10 and step < self.total:
            return
        self.last_print = now
        rate = (step - self.start_step) / max(now - self.start, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        width = 30
        done = int(width * step / max(self.total, 1))
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        parts = " - ".join(f"{k}: {v:.4g}" for k, v in values.items())
        line = (f"step {step}/{self.total} [{bar}] {rate:.2f} steps/s - ETA {_format_seconds(eta)}"
                f"{' - ' + parts if parts else ''}")
        if self.tty:
            self.stream.write("\r" + line + " " * 4)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _format_seconds(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
