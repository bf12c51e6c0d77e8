"""Distribution strategies by name (Model Garden's names), batch-size arithmetic and dataset distribution.

Distribution is explicit: a script calls `strategy = get_strategy(flags.distribution_strategy, ...)`, builds
model, optimizer and metrics inside `strategy.scope()`, and hands the strategy to the `Trainer`. Nothing here
sets a global strategy.

Names (as Model Garden's `distribute_utils.get_distribution_strategy`):
    `off` / `one_device`: one device (`/gpu:0` if a GPU is visible, else `/cpu:0`).
    `mirrored`: synchronous data parallelism over the local GPUs (or `num_gpus` of them).
    `multi_worker_mirrored`: synchronous data parallelism over several hosts; the cluster comes from the
        `TF_CONFIG` environment variable (`{"cluster": {"worker": ["host1:port", ...]}, "task": {"type":
        "worker", "index": i}}`). Worker 0 is the chief.
    `parameter_server`: asynchronous training with `tf.distribute.ParameterServerStrategy`; the cluster comes
        from `TF_CONFIG` and needs a `chief`, one or more `worker`s and one or more `ps` tasks. Every task runs
        the same command: on `worker` and `ps` tasks `get_strategy` starts a `tf.distribute.Server` and serves
        until the process is stopped (it never returns); on the `chief` it returns the strategy, and the
        `Trainer` drives the workers through a `ClusterCoordinator`.
    `tpu`: `TPUStrategy` on the TPU at `tpu_address` (`""`/`"local"` for a TPU VM).
"""

import json
import os
import socket
import sys

import tensorflow as tf

STRATEGY_NAMES = ("off", "one_device", "mirrored", "multi_worker_mirrored", "parameter_server", "tpu")


def get_strategy(name="one_device", tpu_address=None, num_gpus=None, all_reduce_alg=None):
    """Returns the `tf.distribute.Strategy` called `name`.

    Args:
        name: str. One of `STRATEGY_NAMES`. Case-insensitive. Defaults to `"one_device"`.
        tpu_address: str or None. TPU name or `grpc://` address for `tpu`. Defaults to None (local TPU).
        num_gpus: int or None. GPUs for `mirrored` / `one_device`; None means all visible (one for one_device).
        all_reduce_alg: str or None. `mirrored`: `"nccl"` or `"hierarchical_copy"`; `multi_worker_mirrored`:
            `"ring"` or `"nccl"`. Defaults to TF's choice.

    Returns:
        A `tf.distribute.Strategy`.

    Example:
    >>> get_strategy("off").num_replicas_in_sync
    1
    """
    key = (name or "off").lower()
    if key not in STRATEGY_NAMES:
        raise ValueError(f"unknown distribution strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    if key in ("off", "one_device"):
        gpus = tf.config.list_logical_devices("GPU")
        device = "/gpu:0" if gpus and num_gpus != 0 else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if key == "mirrored":
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if num_gpus is not None:
            if num_gpus > len(gpus):
                raise ValueError(f"mirrored: asked for {num_gpus} GPUs but only {len(gpus)} are visible")
            gpus = gpus[:num_gpus]
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        cross_device_ops = None
        if all_reduce_alg == "nccl":
            cross_device_ops = tf.distribute.NcclAllReduce()
        elif all_reduce_alg == "hierarchical_copy":
            cross_device_ops = tf.distribute.HierarchicalCopyAllReduce()
        elif all_reduce_alg is not None:
            raise ValueError(f"mirrored: all_reduce_alg must be nccl or hierarchical_copy, got {all_reduce_alg!r}")
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    if key == "multi_worker_mirrored":
        _require_tf_config(key)
        implementation = {None: tf.distribute.experimental.CommunicationImplementation.AUTO,
                          "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                          "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL}
        if all_reduce_alg not in implementation:
            raise ValueError(f"multi_worker_mirrored: all_reduce_alg must be ring or nccl, got {all_reduce_alg!r}")
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation[all_reduce_alg])
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if key == "parameter_server":
        _require_tf_config(key)
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        cluster = resolver.cluster_spec().as_dict()
        missing = [job for job in ("chief", "worker", "ps") if not cluster.get(job)]
        if missing:
            raise ValueError(f"parameter_server: TF_CONFIG's cluster needs chief, worker and ps tasks; it has no "
                             f"{', '.join(missing)} (has {', '.join(sorted(cluster)) or 'nothing'})")
        if resolver.task_type in ("worker", "ps"):
            serve_parameter_server_task(resolver)  # never returns
        if resolver.task_type != "chief":
            raise ValueError(f"parameter_server: task type {resolver.task_type!r} is not supported; TF_CONFIG's "
                             "task must be chief, worker or ps")
        return tf.distribute.ParameterServerStrategy(resolver)
    # tpu
    if tpu_address and tpu_address.startswith("grpc://"):
        _check_tpu_reachable(tpu_address)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        if tpu_address not in (None, "", "local"):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        where = f"at {tpu_address!r}" if tpu_address not in (None, "", "local") else "on this machine"
        raise ValueError(f"tpu: no TPU found {where} ({str(e).strip().splitlines()[0][:200]}); on a TPU VM pass "
                         "--tpu=local, otherwise --tpu=<TPU name or grpc://host:port>") from None
    return tf.distribute.TPUStrategy(resolver)


def _check_tpu_reachable(tpu_address, timeout=30.0):
    """Fails clearly when a `grpc://host:port` TPU address is malformed or refuses connections.

    TensorFlow's cluster connect waits without a deadline on an unreachable address (minutes, not an error).
    """
    host, _, port = tpu_address[len("grpc://"):].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"tpu: {tpu_address!r} is not a grpc://host:port address (e.g. grpc://10.0.0.2:8470)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"tpu: cannot reach the TPU worker at {tpu_address!r} ({e.strerror or e}) within "
                         f"{timeout:g} s; check the address and the firewall") from None


def serve_parameter_server_task(resolver):
    """Runs this `worker` or `ps` task of a parameter-server cluster until the process is stopped.

    The chief's `ClusterCoordinator` sends the work; TF's parameter-server design has no "training is over"
    message, so the cluster manager (or the user) stops these processes when the chief has finished.
    """
    # A worker that fails mid-step reports UNAVAILABLE to the coordinator, which reschedules the step.
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc", start=True)
    print(f"parameter_server: {resolver.task_type} {resolver.task_id} serving at {server.target}; waiting for "
          "the chief (stop this process when training is done)", file=sys.stderr, flush=True)
    server.join()
    raise SystemExit(0)


def is_parameter_server(strategy) -> bool:
    """Whether `strategy` is a `ParameterServerStrategy` (asynchronous, driven by a ClusterCoordinator)."""
    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)


def per_worker_seed():
    """The `seed` to give the shuffles of an input pipeline that every parameter-server worker runs.

    Under `parameter_server` every worker runs the same input pipeline, traced once on the chief (TF's design:
    one pipeline per worker, no worker index). A shuffle with a fixed seed, or with none under a global seed
    (`keras.utils.set_random_seed`), would give every worker the same order. Called while the pipeline
    function is traced, this clears that graph's seed and returns None, so the pipeline's random ops get no
    seed and each worker process seeds them itself (different orders on different workers, new ones when a
    worker restarts). Called eagerly (the chief's own look at the data), it returns None and changes nothing.
    """
    if not tf.executing_eagerly():
        tf.compat.v1.get_default_graph().seed = None
    return None


def _require_tf_config(name):
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(f"{name} needs the cluster in the TF_CONFIG environment variable, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                         '"index": 0}}')
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    if "cluster" not in config or "task" not in config:
        raise ValueError(f"TF_CONFIG needs 'cluster' and 'task' keys, got {sorted(config)}")


def is_chief(strategy=None) -> bool:
    """Whether this process writes checkpoints and summaries: the chief (or worker 0 if there is no chief)."""
    resolver = getattr(getattr(strategy, "cluster_resolver", None), "task_type", None)
    if strategy is not None and resolver is not None:
        task_type = strategy.cluster_resolver.task_type
        task_id = strategy.cluster_resolver.task_id
        if task_type is None:
            return True
        if task_type == "chief":
            return True
        if task_type == "worker":
            cluster = strategy.cluster_resolver.cluster_spec().as_dict()
            return "chief" not in cluster and task_id == 0
        return False
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    cluster = json.loads(raw).get("cluster", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") in (None, "worker") and "chief" not in cluster and task.get("index", 0) == 0


def task_id(strategy=None) -> int:
    """This process's worker index (0 without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_id", None) is not None:
        return int(resolver.task_id)
    raw = os.environ.get("TF_CONFIG")
    return int(json.loads(raw).get("task", {}).get("index", 0)) if raw else 0


def per_replica_batch_size(global_batch_size: int, num_replicas: int) -> int:
    """The batch each replica sees; `global_batch_size` must divide evenly."""
    if global_batch_size % num_replicas:
        raise ValueError(f"global batch size {global_batch_size} is not divisible by the "
                         f"{num_replicas} replicas in sync")
    return global_batch_size // num_replicas


def distribute_dataset(strategy, dataset_or_fn, global_batch_size=None):
    """Distributes a dataset over `strategy`'s replicas.

    Args:
        strategy: a `tf.distribute.Strategy`.
        dataset_or_fn: either a `tf.data.Dataset` already batched to the *global* batch size (split across
            replicas by `experimental_distribute_dataset`; under multi-worker each worker auto-shards), or a
            function `fn(input_context) -> tf.data.Dataset` batched to
            `input_context.get_per_replica_batch_size(global_batch_size)` and sharded with
            `dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)` (Model Garden's
            pattern).
        global_batch_size: int or None. Only checked for divisibility.

    Returns:
        A `tf.distribute.DistributedDataset` (iterable; its iterators can be checkpointed).
    """
    if global_batch_size is not None:
        per_replica_batch_size(global_batch_size, strategy.num_replicas_in_sync)
    if isinstance(dataset_or_fn, tf.data.Dataset):
        return strategy.experimental_distribute_dataset(dataset_or_fn)
    if callable(dataset_or_fn):
        return strategy.distribute_datasets_from_function(dataset_or_fn)
    raise TypeError(f"expected a tf.data.Dataset or a function(input_context), got {type(dataset_or_fn).__name__}")
