"""TF Serving's configuration files: `models.config`, the batching parameters file, and warmup requests.

All three are written with TF Serving's own protos (text format for the two config files, a TFRecord of
`PredictionLog` for warmup), atomically (temporary name, then `os.replace`), so the same files drive a real
`tensorflow_model_server`:

    tensorflow_model_server --model_config_file=models.config \
        --enable_batching --batching_parameters_file=batching.config

Example:

    write_model_config("models.config", [
        {"name": "intent", "base_path": "/models/intent",
         "version_policy": {"specific": [1, 2]}, "version_labels": {"stable": 1, "canary": 2}}])
    write_batching_parameters("batching.config", max_batch_size=32, batch_timeout_micros=2000)
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Iterable, Mapping, Sequence

from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.server.protos import BatchingParameters

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords


class ConfigError(ValueError):
    """A configuration file or argument that TF Serving would reject."""


def _umask() -> int:
    """The process umask; read from /proc on Linux, since os.umask changes it (for a moment, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: str, data: bytes) -> None:
    """Writes `path` whole or not at all (temporary file, fsync, rename), with the permissions `open()` gives
    (0666 less the umask; mkstemp's 0600 would hide the file from a server running as another user)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# === models.config ===

def model_config(name: str, base_path: str, version_policy: Any = None,
                 version_labels: Mapping[str, int] | None = None,
                 model_platform: str = "tensorflow") -> model_server_config_pb2.ModelConfig:
    """Builds one `ModelConfig`.

    Args:
        name: str. The model name clients ask for.
        base_path: str. The folder holding the integer version folders (`BASE/NAME`).
        version_policy: None (TF Serving's default, `latest {num_versions: 1}`), the string "all",
            `{"latest": N}`, `{"all": True}`, `{"specific": [versions]}`, or a `ServableVersionPolicy` proto.
        version_labels: dict. Label → version, e.g. `{"stable": 1, "canary": 2}`.
        model_platform: str. Defaults to "tensorflow".

    Returns:
        A `tensorflow.serving.ModelConfig`.
    """
    if not name:
        raise ConfigError("model config: name must not be empty")
    if not base_path:
        raise ConfigError(f"model config {name!r}: base_path must not be empty")
    config = model_server_config_pb2.ModelConfig(name=name, base_path=base_path, model_platform=model_platform)
    policy = config.model_version_policy
    if version_policy is None:
        config.ClearField("model_version_policy")
    elif isinstance(version_policy, type(policy)):
        policy.CopyFrom(version_policy)
    elif version_policy == "all" or (isinstance(version_policy, Mapping) and "all" in version_policy):
        policy.all.SetInParent()
    elif isinstance(version_policy, Mapping) and "latest" in version_policy:
        num = int(version_policy["latest"])
        if num < 1:
            raise ConfigError(f"model config {name!r}: latest num_versions must be >= 1, got {num}")
        policy.latest.num_versions = num
    elif isinstance(version_policy, Mapping) and "specific" in version_policy:
        versions = [int(v) for v in version_policy["specific"]]
        if not versions:
            raise ConfigError(f"model config {name!r}: specific version policy needs at least one version")
        policy.specific.versions.extend(versions)
    else:
        raise ConfigError(f"model config {name!r}: unknown version_policy {version_policy!r}; use "
                          "{'latest': N}, {'all': True} or {'specific': [..]}")
    for label, version in (version_labels or {}).items():
        config.version_labels[label] = int(version)
    return config


def write_model_config(path: str, models: Iterable[Mapping[str, Any] | model_server_config_pb2.ModelConfig]
                       ) -> model_server_config_pb2.ModelServerConfig:
    """Writes a text-format `ModelServerConfig { model_config_list { config {...} ... } }` atomically.

    Args:
        path: str. Output file (e.g. `models.config`).
        models: iterable of `ModelConfig` protos or dicts of `model_config()` keyword arguments.

    Returns:
        The `ModelServerConfig` written.
    """
    server_config = model_server_config_pb2.ModelServerConfig()
    names = set()
    for model in models:
        config = model if isinstance(model, model_server_config_pb2.ModelConfig) else model_config(**model)
        if config.name in names:
            raise ConfigError(f"{path}: model name {config.name!r} appears twice")
        names.add(config.name)
        server_config.model_config_list.config.add().CopyFrom(config)
    _atomic_write(path, text_format.MessageToString(server_config).encode("utf-8"))
    return server_config


def parse_model_config(text: str, source: str = "<string>") -> model_server_config_pb2.ModelServerConfig:
    """Parses text-format `ModelServerConfig`; errors name the source and the line."""
    try:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ConfigError(f"{source}: not a valid text-format ModelServerConfig: {e}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source}: only model_config_list is supported (TF Serving's custom_model_config "
                          "is not)")
    for i, model in enumerate(config.model_config_list.config):
        if not model.name or not model.base_path:
            raise ConfigError(f"{source}: config entry {i} needs both name and base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{source}: model {model.name!r} has model_platform {model.model_platform!r}; "
                              "only 'tensorflow' is served")
    return config


def read_model_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Reads a `models.config` file written by `write_model_config` or by hand for TF Serving."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read model config: {e.strerror}") from None
    return parse_model_config(text, path)


# === Batching parameters ===

def batching_parameters(max_batch_size: int | None = None, batch_timeout_micros: int | None = None,
                        max_enqueued_batches: int | None = None, num_batch_threads: int | None = None,
                        allowed_batch_sizes: Sequence[int] = (), pad_variable_length_inputs: bool = False,
                        thread_pool_name: str | None = None) -> BatchingParameters:
    """Builds a `tensorflow.serving.BatchingParameters`, checking TF Serving's rules.

    Args:
        max_batch_size: int. Largest batch the scheduler forms (and largest request accepted).
        batch_timeout_micros: int. How long the first request of a batch waits for company.
        max_enqueued_batches: int. Queue length in batches; beyond it requests get UNAVAILABLE.
        num_batch_threads: int. Threads that run batches.
        allowed_batch_sizes: ints. Increasing; the last must equal `max_batch_size`. Batches are padded up.
        pad_variable_length_inputs: bool. Pad inputs whose non-batch dimensions differ.
        thread_pool_name: str. Name of the batch thread pool.

    Returns:
        The proto; fields left None stay unset (the server's defaults apply).
    """
    params = BatchingParameters()
    for field, value in (("max_batch_size", max_batch_size), ("batch_timeout_micros", batch_timeout_micros),
                         ("max_enqueued_batches", max_enqueued_batches), ("num_batch_threads", num_batch_threads)):
        if value is not None:
            if int(value) < (0 if field == "batch_timeout_micros" else 1):
                raise ConfigError(f"batching parameters: {field} must be positive, got {value}")
            getattr(params, field).value = int(value)
    if thread_pool_name is not None:
        params.thread_pool_name.value = thread_pool_name
    params.allowed_batch_sizes.extend(int(s) for s in allowed_batch_sizes)
    params.pad_variable_length_inputs = bool(pad_variable_length_inputs)
    validate_batching_parameters(params)
    return params


def validate_batching_parameters(params: BatchingParameters, source: str = "batching parameters") -> None:
    """Raises ConfigError on what TF Serving refuses (allowed sizes not increasing or not ending at max)."""
    sizes = list(params.allowed_batch_sizes)
    if sizes:
        if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
            raise ConfigError(f"{source}: allowed_batch_sizes entries must be positive and in increasing order, "
                              f"got {sizes}")
        if params.HasField("max_batch_size") and sizes[-1] != params.max_batch_size.value:
            raise ConfigError(f"{source}: final entry in allowed_batch_sizes ({sizes[-1]}) must equal "
                              f"max_batch_size ({params.max_batch_size.value})")


def write_batching_parameters(path: str, params: BatchingParameters | None = None, **kwargs) -> BatchingParameters:
    """Writes a text-format batching parameters file atomically (pass a proto or `batching_parameters` kwargs)."""
    if params is None:
        params = batching_parameters(**kwargs)
    elif kwargs:
        raise TypeError("pass either params or keyword arguments, not both")
    validate_batching_parameters(params, path)
    _atomic_write(path, text_format.MessageToString(params).encode("utf-8"))
    return params


def read_batching_parameters(path: str) -> BatchingParameters:
    """Reads a text-format `BatchingParameters` file (fields added by newer TF Serving releases are ignored)."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read batching parameters: {e.strerror}") from None
    try:
        params = text_format.Parse(text, BatchingParameters(), allow_unknown_field=True)
    except text_format.ParseError as e:
        raise ConfigError(f"{path}: not a valid text-format BatchingParameters: {e}") from None
    validate_batching_parameters(params, path)
    return params


# === Warmup requests ===

def _to_prediction_log(request) -> prediction_log_pb2.PredictionLog:
    from tensorflow_serving.apis import (classification_pb2, inference_pb2, predict_pb2,
                                         regression_pb2)
    log = prediction_log_pb2.PredictionLog()
    if isinstance(request, prediction_log_pb2.PredictionLog):
        log.CopyFrom(request)
    elif isinstance(request, predict_pb2.PredictRequest):
        log.predict_log.request.CopyFrom(request)
    elif isinstance(request, classification_pb2.ClassificationRequest):
        log.classify_log.request.CopyFrom(request)
    elif isinstance(request, regression_pb2.RegressionRequest):
        log.regress_log.request.CopyFrom(request)
    elif isinstance(request, inference_pb2.MultiInferenceRequest):
        log.multi_inference_log.request.CopyFrom(request)
    else:
        raise ConfigError(f"warmup request of type {type(request).__name__} is not a PredictRequest, "
                          "ClassificationRequest, RegressionRequest, MultiInferenceRequest or PredictionLog")
    return log


def write_warmup_requests(export_dir: str, requests: Iterable) -> str:
    """Writes `<export_dir>/assets.extra/tf_serving_warmup_requests`: a TFRecord of `PredictionLog`s.

    Args:
        export_dir: str. A SavedModel version folder (`BASE/NAME/<version>`).
        requests: PredictRequest / ClassificationRequest / RegressionRequest / MultiInferenceRequest protos
            or PredictionLog protos; at most 1000 (TF Serving's limit).

    Returns:
        The path written.
    """
    import tensorflow as tf

    logs = [_to_prediction_log(r) for r in requests]
    if not logs:
        raise ConfigError("write_warmup_requests: no requests given")
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ConfigError(f"write_warmup_requests: {len(logs)} requests; TF Serving reads at most "
                          f"{MAX_WARMUP_RECORDS}")
    directory = os.path.join(export_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILE)
    tmp = path + ".tmp-writing"
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for log in logs:
                writer.write(log.SerializeToString())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_warmup_requests(export_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """Reads the warmup `PredictionLog`s of a version folder ([] when it has none)."""
    import tensorflow as tf

    path = os.path.join(export_dir, WARMUP_DIR, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    logs = []
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record)
            except Exception:  # protobuf DecodeError
                raise ConfigError(f"Failed to parse warmup record #{len(logs)} from {path}") from None
            logs.append(log)
            if len(logs) > MAX_WARMUP_RECORDS:
                raise ConfigError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    except tf.errors.OpError as e:
        raise ConfigError(f"{path}: {e.message}. Please verify your warmup data is in TFRecord format.") from None
    return logs
