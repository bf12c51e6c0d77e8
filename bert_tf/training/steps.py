"""The trainer's compiled steps and its input: one optimizer step (gradient accumulation, the trainer's own
all-reduce), the train loop of `steps_per_loop` steps, one eval batch, and the train iterator positioned after
the batches a restored step consumed.

What one train step does (under `strategy.run`, one call per replica): `grad_accum_steps` micro-batches are
drawn from the iterator; for each, forward + backward (optionally XLA-compiled), gradients summed; their mean
is all-reduced across replicas *by the trainer* and handed to the optimizer, so the optimizer's
`global_clipnorm` clips the global gradient (Keras' `fit` clips each replica's share) and with equal
micro-batches and a mean loss the update equals one step on the large batch.
"""

import keras
import tensorflow as tf

from bert_tf.training import distribute


class Steps:
    """The `tf.function`s of one trainer: `train_loop(iterator, n)`, `worker_step(iterator)` (parameter_server:
    one step scheduled on a worker) and `eval_step(batch)`. They update `step`, `train_loss`/`eval_loss` and
    the model's metrics."""

    def __init__(self, model, optimizer, strategy, step, *, train_loss, eval_loss, grad_accum_steps=1,
                 jit_compile=False, coordinator=None):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.step = step
        self.train_loss = train_loss
        self.eval_loss = eval_loss
        self.grad_accum_steps = grad_accum_steps
        self.coordinator = coordinator
        self.num_replicas = strategy.num_replicas_in_sync
        self._grad_fn = tf.function(self._forward_backward, jit_compile=True) if jit_compile \
            else self._forward_backward
        self.train_loop = tf.function(self._train_loop)
        self.worker_step = tf.function(self._one_step)
        self.eval_step = tf.function(self._eval_step)

    def _forward_backward(self, x, y, sample_weight):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, variables)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        batch_size = tf.shape(tf.nest.flatten(x)[0])[0]
        self.train_loss.update_state(tf.cast(loss, tf.float32) * self.num_replicas,
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
        if self.num_replicas > 1:
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
            self.eval_loss.update_state(tf.cast(loss, tf.float32) * self.num_replicas,
                                        sample_weight=tf.cast(batch_size, tf.float32))
            self.model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if self.coordinator is not None:  # parameter_server: the chief evaluates, reading the ps variables
            replica_fn(data)
        else:
            self.strategy.run(replica_fn, args=(data,))


def inner_optimizer(optimizer):
    """The optimizer inside a `LossScaleOptimizer`, else `optimizer` itself."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def take_over_gradient_all_reduce(optimizer):
    """The trainer all-reduces gradients itself (before clipping); stop Keras from summing them again."""
    inner = inner_optimizer(optimizer)
    if not hasattr(type(inner), "_all_reduce_sum_gradients"):
        raise RuntimeError(
            f"{type(inner).__name__} has no _all_reduce_sum_gradients: this Keras version is not supported "
            "for multi-replica training by bert_tf's Trainer (gradients would be all-reduced twice)")
    inner._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)


def local_dataset(dataset):
    """A `tf.data.Dataset`, or a dataset function called with a default `InputContext`."""
    return dataset if isinstance(dataset, tf.data.Dataset) else dataset(tf.distribute.InputContext())


def build_model_state(model, strategy, dataset):
    """One eager forward pass on one batch so lazily-built losses/metrics create their variables here,
    outside any replica context, and bad inputs fail now with a readable error."""
    batch = next(iter(local_dataset(dataset).take(1)))
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    with strategy.scope():
        y_pred = model(x, training=False)
        model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    model.reset_metrics()


def distributed_train_iterator(strategy, dataset, *, consumed, skip_consumed, coordinator=None):
    """The multi-replica train iterator, positioned after the `consumed` micro-batches (when `skip_consumed`)."""
    if coordinator is not None:
        # Every worker runs the whole pipeline (TF's parameter-server design); which worker took which step
        # is not recorded, so the input restarts on resume (seed shuffles with distribute.per_worker_seed).
        if isinstance(dataset, tf.data.Dataset):
            return iter(coordinator.create_per_worker_dataset(dataset))
        fn = dataset
        return iter(coordinator.create_per_worker_dataset(lambda: strategy.distribute_datasets_from_function(fn)))
    if isinstance(dataset, tf.data.Dataset):
        if consumed and skip_consumed:
            dataset = dataset.skip(consumed)  # global batches
    elif consumed and skip_consumed:
        fn = dataset
        local_replicas = len(strategy.extended.worker_devices)

        def dataset(input_context):  # per-replica batches: each pipeline feeds its local replicas
            return fn(input_context).skip(consumed * local_replicas)
    return iter(distribute.distribute_dataset(strategy, dataset))


def is_multi_worker(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return len(resolver.cluster_spec().as_dict().get("worker", [])) + \
        len(resolver.cluster_spec().as_dict().get("chief", [])) > 1
