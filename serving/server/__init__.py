"""A local model server that speaks TensorFlow Serving's gRPC and REST protocols (`ModelServer`).

It never imports `bert_tf`, `serving.export` or `serving.client` (tests/serving/test_server_package.py): it
serves any SavedModel in TF Serving's layout. Modules, from the outside in:

- `model_server` (`ModelServer`: ports, TLS, lifecycle), `grpc_service` (the gRPC servicers), `rest` (the REST
  server: `rest_connection` reads HTTP/1.1 with `http_parse`, `rest_api` routes /v1 requests, with `json_parse`,
  `json_tensor` and `json_output` for TF Serving's JSON);
- `core` (`ServingCore`: Predict, metadata, status, warmup) and `examples` (Classify / Regress / MultiInference
  on tf.Examples), both transports' request logic;
- `model_manager` (versions loaded, polled, retried, labelled; `versions` finds them on disk), `servable`
  (one loaded SavedModel), `batching`;
- `config` (models.config, batching parameters, warmup files), `limits`, `tensors`, `status`, `protos`.

Names are imported on first use (PEP 562), so that a client importing `serving.server.tensors` does not load
the whole server.
"""

import importlib

_EXPORTS = {
    "ModelServer": "serving.server.model_server",
    "DEFAULT_GRPC_MAX_MESSAGE_BYTES": "serving.server.model_server",
    "ServingCore": "serving.server.core",
    "ModelManager": "serving.server.model_manager",
    "ConfigError": "serving.server.config",
    "ServingError": "serving.server.status",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'serving.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
