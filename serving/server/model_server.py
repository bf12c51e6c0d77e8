"""A local model server that speaks TensorFlow Serving's gRPC and REST protocols.

`ModelServer` loads SavedModels from `BASE/NAME/<version>/` (or a `models.config`), serves them on
`tensorflow.serving.PredictionService` / `ModelService` (gRPC) and TF Serving's `/v1` REST API, polls for new
versions, replays warmup requests before a version becomes AVAILABLE, and optionally batches Predict calls.
Bad requests get TF Serving's status codes and messages. Defaults are safe: it binds 127.0.0.1, caps message
sizes, and serves TLS when given a certificate.

Example:

    with ModelServer(model_name="intent", model_base_path="/models/intent", port=0, rest_api_port=0) as server:
        print(server.grpc_address, server.rest_url)
"""

from __future__ import annotations

import concurrent.futures
import logging
import ssl

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from serving.server import config as serving_config
from serving.server import status
from serving.server.core import ServingCore
from serving.server.grpc_service import ModelServicer, PredictionServicer
from serving.server.limits import DEFAULT_MAX_REQUEST_ROWS
from serving.server.model_manager import (DEFAULT_LOAD_RETRY_INTERVAL_MICROS, DEFAULT_MAX_NUM_LOAD_RETRIES,
                                          ModelManager)
from serving.server.rest import (DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
                                 RestServer)

logger = logging.getLogger("bert_tf.serving")

DEFAULT_GRPC_MAX_MESSAGE_BYTES = 2 ** 31 - 1  # TF Serving accepts up to int32 max


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class ModelServer:
    """TF Serving-compatible model server (gRPC + REST) for tests, demos and local use.

    Args:
        model_name: str. Name of the single model to serve (with `model_base_path`).
        model_base_path: str. Folder with integer version subfolders.
        model_config_file: str. A text-format `models.config` (instead of name/base path).
        model_config: ModelServerConfig proto (instead of either of the above).
        port: int. gRPC port; 0 picks a free one. Defaults to 8500.
        rest_api_port: int or None. REST port; 0 picks a free one, None disables REST. Defaults to 8501.
        host: str. Interface to bind. Defaults to "127.0.0.1" (loopback only).
        enable_batching: bool. Batch concurrent Predict calls.
        batching_parameters: BatchingParameters proto, or a path to a text-format file.
        file_system_poll_wait_seconds: float. Poll period for new versions; 0 polls once at start, < 0 never.
        enable_model_warmup: bool. Replay assets.extra/tf_serving_warmup_requests before AVAILABLE.
        allow_version_labels_for_unavailable_models: bool. As TF Serving's flag.
        enable_signature_method_name_check: bool. As TF Serving's flag (default off).
        ssl_cert: bytes/str path or None. PEM server certificate chain; with `ssl_key`, serve TLS on both ports.
        ssl_key: bytes/str path or None. PEM private key.
        ssl_custom_ca: bytes/str path or None. PEM CA for client certificates.
        ssl_client_verify: bool. Require client certificates signed by `ssl_custom_ca`.
        grpc_max_message_bytes: int. gRPC send and receive limit. Defaults to 2**31 - 1.
        rest_max_body_bytes: int. Largest REST request body. Defaults to 64 MiB.
        rest_api_num_threads: int or None. REST handler threads (TF Serving's flag); complete requests wait for
            a free one, idle connections hold none. Defaults to 4 per CPU, as TF Serving.
        rest_api_idle_timeout_seconds: float. A REST connection silent this long between requests, a request
            head not complete in this time, or a body or reply stalled this long is closed. Defaults to 30.
        rest_api_max_connections: int. Open REST connections at most (then the longest-idle one is closed for
            a new one, or the new one gets 503 when none is idle). Defaults to 1000.
        grpc_max_workers: int. gRPC handler threads. Defaults to 16.
        max_request_rows: int or None. Most rows one request may carry (gRPC and REST); None or <= 0: no
            limit. Defaults to `serving.server.limits.DEFAULT_MAX_REQUEST_ROWS` (1024).
        request_chunk_rows: int or None. Without batching, larger requests run in chunks of this many rows and
            stop between chunks when the client cancels or its deadline passes. Defaults to 64; <= 0: never.
        max_num_load_retries: int. TF Serving's flag: retries of a failed version load. Defaults to 5.
        load_retry_interval_micros: int. TF Serving's flag: wait between load retries. Defaults to 1 minute.
    """

    def __init__(self, model_name: str | None = None, model_base_path: str | None = None,
                 model_config_file: str | None = None,
                 model_config: model_server_config_pb2.ModelServerConfig | None = None,
                 port: int = 8500, rest_api_port: int | None = 8501, host: str = "127.0.0.1",
                 enable_batching: bool = False, batching_parameters=None,
                 file_system_poll_wait_seconds: float = 1.0, enable_model_warmup: bool = True,
                 allow_version_labels_for_unavailable_models: bool = False,
                 enable_signature_method_name_check: bool = False,
                 ssl_cert=None, ssl_key=None, ssl_custom_ca=None, ssl_client_verify: bool = False,
                 grpc_max_message_bytes: int = DEFAULT_GRPC_MAX_MESSAGE_BYTES,
                 rest_api_num_threads: int | None = None,
                 rest_api_idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
                 rest_api_max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 rest_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, grpc_max_workers: int = 16,
                 max_request_rows: int | None = DEFAULT_MAX_REQUEST_ROWS, request_chunk_rows: int | None = None,
                 max_num_load_retries: int = DEFAULT_MAX_NUM_LOAD_RETRIES,
                 load_retry_interval_micros: int = DEFAULT_LOAD_RETRY_INTERVAL_MICROS):
        sources = sum(x is not None for x in (model_base_path, model_config_file, model_config))
        if sources != 1:
            raise ValueError("give exactly one of model_base_path (with model_name), model_config_file or "
                             "model_config")
        if model_config_file is not None:
            model_config = serving_config.read_model_config(model_config_file)
        elif model_base_path is not None:
            if not model_name:
                raise ValueError("model_base_path needs model_name")
            model_config = model_server_config_pb2.ModelServerConfig()
            model_config.model_config_list.config.add().CopyFrom(
                serving_config.model_config(model_name, model_base_path))
        self.model_config = model_config
        if isinstance(batching_parameters, str):
            batching_parameters = serving_config.read_batching_parameters(batching_parameters)
        if enable_batching and batching_parameters is None:
            batching_parameters = serving_config.batching_parameters(thread_pool_name="model_server_batch_threads")
        self.batching_parameters = batching_parameters if enable_batching else None
        self.host = host
        self.requested_port = port
        self.requested_rest_port = rest_api_port
        self.file_system_poll_wait_seconds = file_system_poll_wait_seconds
        self.grpc_max_message_bytes = int(grpc_max_message_bytes)
        self.rest_max_body_bytes = int(rest_max_body_bytes)
        self.rest_api_num_threads = rest_api_num_threads
        self.rest_api_idle_timeout_seconds = float(rest_api_idle_timeout_seconds)
        self.rest_api_max_connections = int(rest_api_max_connections)
        self.grpc_max_workers = grpc_max_workers
        self.tls = ssl_cert is not None or ssl_key is not None
        if self.tls and (ssl_cert is None or ssl_key is None):
            raise ValueError("TLS needs both ssl_cert and ssl_key")
        as_bytes = lambda v: None if v is None else (v if isinstance(v, bytes) else _read(v))  # noqa: E731
        self._cert, self._key, self._ca = as_bytes(ssl_cert), as_bytes(ssl_key), as_bytes(ssl_custom_ca)
        self._client_verify = ssl_client_verify
        if ssl_client_verify and self._ca is None:
            raise ValueError("ssl_client_verify needs ssl_custom_ca")
        self.manager = ModelManager(allow_version_labels_for_unavailable_models=
                                    allow_version_labels_for_unavailable_models,
                                    max_num_load_retries=max_num_load_retries,
                                    load_retry_interval_micros=load_retry_interval_micros)
        self.core = ServingCore(self.manager, self.batching_parameters,
                                enable_signature_method_name_check=enable_signature_method_name_check,
                                max_request_rows=max_request_rows, chunk_rows=request_chunk_rows)
        if enable_model_warmup:
            self.manager.warmup_fn = self.core.warmup
        self._grpc_server = None
        self._rest_server = None
        self.port: int | None = None
        self.rest_api_port: int | None = None

    @classmethod
    def from_ssl_config_file(cls, path: str, **kwargs) -> "ModelServer":
        """Builds a server whose TLS settings come from TF Serving's text-format `SSLConfig` file."""
        from google.protobuf import text_format
        from serving.server.protos import SSLConfig
        try:
            ssl_config = text_format.Parse(_read(path).decode("utf-8"), SSLConfig())
        except (OSError, text_format.ParseError) as e:
            raise serving_config.ConfigError(f"{path}: not a readable text-format SSLConfig: {e}") from None
        return cls(ssl_cert=ssl_config.server_cert.encode(), ssl_key=ssl_config.server_key.encode(),
                   ssl_custom_ca=ssl_config.custom_ca.encode() or None, ssl_client_verify=ssl_config.client_verify,
                   **kwargs)

    # === Lifecycle ===
    def start(self) -> "ModelServer":
        """Loads every configured model (warmup included), then opens the ports. Returns self."""
        self.manager.set_config(self.model_config)
        for name in self.manager.model_names():
            if not self.manager.available_versions(name):
                logger.warning("Model %s has no AVAILABLE version yet", name)
        self.manager.start_polling(self.file_system_poll_wait_seconds)
        options = [("grpc.max_send_message_length", self.grpc_max_message_bytes),
                   ("grpc.max_receive_message_length", self.grpc_max_message_bytes),
                   ("grpc.so_reuseport", 0)]
        self._grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=self.grpc_max_workers,
                                                                               thread_name_prefix="grpc"),
                                        options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(self.core),
                                                                             self._grpc_server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.core), self._grpc_server)
        address = f"{self.host}:{self.requested_port}" if ":" not in self.host else \
            f"[{self.host}]:{self.requested_port}"
        if self.tls:
            credentials = grpc.ssl_server_credentials([(self._key, self._cert)], root_certificates=self._ca,
                                                      require_client_auth=self._client_verify)
            self.port = self._grpc_server.add_secure_port(address, credentials)
        else:
            self.port = self._grpc_server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"could not bind gRPC port {address}")
        self._grpc_server.start()
        if self.requested_rest_port is not None:
            context = None
            if self.tls:
                import os
                import tempfile
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                with tempfile.TemporaryDirectory() as tmp:  # ssl loads PEMs from files only
                    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
                    with open(cert, "wb") as f:
                        f.write(self._cert)
                    with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                        f.write(self._key)
                    context.load_cert_chain(cert, key)
                if self._ca is not None:
                    context.load_verify_locations(cadata=self._ca.decode("ascii"))
                    if self._client_verify:
                        context.verify_mode = ssl.CERT_REQUIRED
            self._rest_server = RestServer(self.core, self.host, self.requested_rest_port, ssl_context=context,
                                           max_body_bytes=self.rest_max_body_bytes,
                                           num_threads=self.rest_api_num_threads,
                                           idle_timeout=self.rest_api_idle_timeout_seconds,
                                           max_connections=self.rest_api_max_connections)
            self.rest_api_port = self._rest_server.port
            self._rest_server.start()
        logger.info("Running gRPC ModelServer at %s:%d%s", self.host, self.port, " (TLS)" if self.tls else "")
        if self.rest_api_port:
            logger.info("Exporting HTTP/REST API at %s:%d", self.host, self.rest_api_port)
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stops accepting requests, finishes in-flight ones (up to `grace` seconds) and unloads models."""
        if self._rest_server is not None:
            self._rest_server.stop()
            self._rest_server = None
        if self._grpc_server is not None:
            self._grpc_server.stop(grace).wait()
            self._grpc_server = None
        self.manager.stop()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self) -> None:
        """Blocks until the gRPC server terminates (for the command-line server)."""
        if self._grpc_server is not None:
            self._grpc_server.wait_for_termination()

    # === Addresses ===
    @property
    def grpc_address(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{host}:{self.port}"

    @property
    def rest_url(self) -> str | None:
        if not self.rest_api_port:
            return None
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.rest_api_port}"

    def reload_config(self, model_config: model_server_config_pb2.ModelServerConfig) -> None:
        """Applies a new ModelServerConfig (what HandleReloadConfigRequest does)."""
        self.manager.set_config(model_config)
        self.model_config = model_config


__all__ = ["ModelServer", "status"]
