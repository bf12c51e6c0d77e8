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

Checkpoints (`tf.train.Checkpoint` of model, optimizer, step counter and, with one replica, the *input
iterator*; multi-replica runs re-position the input by skipping the consumed batches) are written by a
`tf.train.CheckpointManager` every `save_checkpoints_steps`, at the end, and when SIGINT/SIGTERM arrives (the
handler sets a flag; the loop finishes its step, saves and returns `interrupted=True`). Rerunning the same
command restores the latest checkpoint: step, weights, optimizer slots and the dataset position. TF writes a
checkpoint's files first and only then rewrites the `checkpoint` state file (atomically), so a crash mid-save
leaves the previous checkpoint as the latest; a checkpoint that is present but unreadable (truncated, corrupt)
is reported and the previous good one is used. Under multi-worker training every worker takes part in saving
(TF requires it) but only the chief's copy is kept; only the chief writes summaries and `eval_results.json`.

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
import shutil
import signal
import sys
import threading
import time

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_tf.training import distribute

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
EVAL_RESULTS_FILE = "eval_results.json"


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
        self.checkpoint = tf.train.Checkpoint(**trackables)
        if self.is_chief:
            self._save_dir = model_dir
        else:  # Every worker must save (collectives), but only the chief's files are kept.
            self._save_dir = os.path.join(model_dir, ".worker_tmp", f"worker_{distribute.task_id(self.strategy)}")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory=self._save_dir,
                                                  max_to_keep=self.max_checkpoints_to_keep,
                                                  checkpoint_name=CHECKPOINT_NAME)
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

        A checkpoint listed in the state file whose files are missing, truncated or corrupt is skipped with a
        warning naming it and the problem; the previous one is tried. If checkpoints exist and none is
        readable, raises `CheckpointError`.
        """
        self._restored = True
        state = tf.train.get_checkpoint_state(self.model_dir)
        if state is None or not state.model_checkpoint_path:
            return None
        candidates = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        if state.model_checkpoint_path not in candidates:
            candidates.append(state.model_checkpoint_path)
        candidates = [c if os.path.isabs(c) else os.path.join(self.model_dir, c) for c in candidates]
        problems = []
        for path in reversed(candidates):
            try:
                status = self.checkpoint.restore(path)
                status.assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, OSError) as e:
                message = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                problem = f"checkpoint {path} is unreadable ({type(e).__name__}: {message})"
                problems.append(problem)
                logger.warning("%s; trying the previous checkpoint", problem)
                print(f"WARNING: {problem}; trying the previous checkpoint", file=sys.stderr)
                continue
            self.restored_from = path
            logger.info("restored %s at step %d", path, int(self.step.numpy()))
            return path
        raise CheckpointError(f"no readable checkpoint in {self.model_dir}: " + "; ".join(problems))

    def save(self):
        """Writes a checkpoint at the current step (every worker calls this; only the chief's is kept)."""
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
