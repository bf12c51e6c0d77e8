"""gRPC client for TensorFlow Serving (the real one or bert_tf's local server), on the official stubs.

`ServingClient` (re-exported by `serving.client`); its REST twin is `serving.client.rest_client.RestClient`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import grpc
import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                     regression_pb2)

from serving.client.text_helpers import TextHelpers, batch_slices, concat_batches, input_batches, to_array
from serving.server.tensors import ndarray_to_proto

DEFAULT_MAX_MESSAGE_BYTES = 2 ** 31 - 1
RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)


def tensor_proto(values: Any):
    """A TensorProto from numpy / lists / strings (float64 stays float64: pass float32 for DT_FLOAT)."""
    return ndarray_to_proto(to_array(values))


def from_tensor_proto(proto) -> np.ndarray:
    import tensorflow as tf
    array = tf.make_ndarray(proto)
    return array.astype(object) if array.dtype.kind == "O" else array


def make_example(feature_values: Mapping[str, Any]) -> example_pb2.Example:
    """A tf.train.Example from {name: value or list}: str/bytes → bytes_list, int → int64_list, float → float_list."""
    example = example_pb2.Example()
    for name, value in feature_values.items():
        values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
        feature = example.features.feature[name]
        for v in values:
            if isinstance(v, str):
                feature.bytes_list.value.append(v.encode("utf-8"))
            elif isinstance(v, bytes):
                feature.bytes_list.value.append(v)
            elif isinstance(v, (bool, int, np.integer)):
                feature.int64_list.value.append(int(v))
            else:
                feature.float_list.value.append(float(v))
    return example


def _examples(examples: Iterable) -> list[example_pb2.Example]:
    return [e if isinstance(e, example_pb2.Example) else make_example(e) for e in examples]


class ServingClient(TextHelpers):
    """Calls a TF Serving gRPC endpoint: predict, classify, regress, metadata, status, classify_text.

    Args:
        address: str. "host:port".
        model_name: str. The served model.
        version: int or None. Ask for this version (else the latest, or `version_label`).
        version_label: str or None. Ask for a labelled version ("stable", "canary").
        signature_name: str. Default signature for predict. Defaults to "serving_default".
        timeout: float. Deadline per call in seconds. Defaults to 30.
        retries: int. Retries on UNAVAILABLE with exponential backoff (and jitter). Defaults to 3.
        backoff_seconds: float. First backoff; doubles each retry. Defaults to 0.1.
        root_certificates: bytes or None. PEM CA certificates: use TLS (server certificates are verified).
        private_key, certificate_chain: bytes or None. Client certificate for mutual TLS.
        ssl_target_name_override: str or None. Host name to check in the server certificate.
        max_message_bytes: int. gRPC send and receive limits. Defaults to 2**31 - 1.
        batch_size: int or None. Split long inputs into requests of this many rows. Defaults to None.
    """

    _transport_errors = (grpc.RpcError,)  # what a failed `classify` raises (TextHelpers.classify_text)

    def __init__(self, address: str, model_name: str, version: int | None = None, version_label: str | None = None,
                 signature_name: str = "serving_default", timeout: float = 30.0, retries: int = 3,
                 backoff_seconds: float = 0.1, root_certificates: bytes | None = None,
                 private_key: bytes | None = None, certificate_chain: bytes | None = None,
                 ssl_target_name_override: str | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, batch_size: int | None = None):
        self._init_target(model_name, version, version_label, signature_name, timeout, retries, backoff_seconds,
                          batch_size)
        self.address = address
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        if ssl_target_name_override:
            options.append(("grpc.ssl_target_name_override", ssl_target_name_override))
        if root_certificates is not None or certificate_chain is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates, private_key=private_key,
                                                       certificate_chain=certificate_chain)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # === Plumbing ===
    def _fill_spec(self, spec, signature_name: str | None = None, version: int | None = None,
                   version_label: str | None = None) -> None:
        spec.name = self.model_name
        version = self.version if version is None and version_label is None else version
        version_label = self.version_label if version is None and version_label is None else version_label
        if version is not None:
            spec.version.value = int(version)
        elif version_label is not None:
            spec.version_label = version_label
        if signature_name is not None:
            spec.signature_name = signature_name

    def _call(self, method: Callable, request, timeout: float | None = None):
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=timeout or self.timeout)
            except grpc.RpcError as e:
                if e.code() not in RETRYABLE or attempt == self.retries:
                    raise
                self._sleep_before_retry(attempt)

    # === Calls ===
    def predict(self, inputs: Mapping[str, Any], signature_name: str | None = None,
                output_filter: Sequence[str] = (), version: int | None = None, version_label: str | None = None,
                batch_size: int | None = None, timeout: float | None = None) -> dict[str, np.ndarray]:
        """Predict on a dict of inputs (numpy arrays, lists, str lists); returns numpy outputs.

        Inputs longer than `batch_size` rows are sent in several requests and the outputs concatenated.
        """
        parts = []
        for batch in input_batches(inputs, batch_size or self.batch_size):
            request = predict_pb2.PredictRequest()
            self._fill_spec(request.model_spec, signature_name or self.signature_name, version, version_label)
            for name, array in batch.items():
                request.inputs[name].CopyFrom(ndarray_to_proto(array))
            request.output_filter.extend(output_filter)
            response = self._call(self._prediction.Predict, request, timeout)
            parts.append({name: from_tensor_proto(proto) for name, proto in response.outputs.items()})
        return concat_batches(parts)

    def classify(self, examples: Iterable, signature_name: str | None = None, context: Mapping | None = None,
                 version: int | None = None, version_label: str | None = None, batch_size: int | None = None,
                 timeout: float | None = None) -> list[list[tuple[str, float]]]:
        """Classify tf.Examples (or feature dicts); returns per example [(label, score), ...]."""
        responses = self._examples_calls(classification_pb2.ClassificationRequest, self._prediction.Classify,
                                         examples, signature_name, context, version, version_label, batch_size,
                                         timeout)
        return [[(c.label, c.score) for c in cl.classes] for response in responses
                for cl in response.result.classifications]

    def regress(self, examples: Iterable, signature_name: str | None = None, context: Mapping | None = None,
                version: int | None = None, version_label: str | None = None, batch_size: int | None = None,
                timeout: float | None = None) -> np.ndarray:
        """Regress tf.Examples (or feature dicts); returns a float32 array, one value per example."""
        responses = self._examples_calls(regression_pb2.RegressionRequest, self._prediction.Regress, examples,
                                         signature_name, context, version, version_label, batch_size, timeout)
        return np.asarray([r.value for response in responses for r in response.result.regressions], np.float32)

    def _examples_calls(self, request_type, rpc: Callable, examples: Iterable, signature_name, context, version,
                        version_label, batch_size, timeout) -> list:
        """The responses of `rpc` to `examples` sent `batch_size` a request, each with `context` when given."""
        examples = _examples(examples)
        responses = []
        for part in batch_slices(len(examples), batch_size or self.batch_size):
            request = request_type()
            self._fill_spec(request.model_spec, signature_name, version, version_label)
            if context is not None:
                request.input.example_list_with_context.context.CopyFrom(
                    context if isinstance(context, example_pb2.Example) else make_example(context))
                request.input.example_list_with_context.examples.extend(examples[part])
            else:
                request.input.example_list.examples.extend(examples[part])
            responses.append(self._call(rpc, request, timeout))
        return responses

    def get_model_metadata(self, version: int | None = None, version_label: str | None = None,
                           timeout: float | None = None) -> dict:
        """{"version": int, "signature_def": {name: SignatureDef proto}}."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._fill_spec(request.model_spec, None, version, version_label)
        response = self._call(self._prediction.GetModelMetadata, request, timeout)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return {"version": response.model_spec.version.value, "signature_def": dict(signature_map.signature_def)}

    def get_model_status(self, version: int | None = None, timeout: float | None = None) -> list[dict]:
        """[{"version": int, "state": "AVAILABLE", "error_code": int, "error_message": str}, ...]."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        if version is not None:
            request.model_spec.version.value = version
        response = self._call(self._model.GetModelStatus, request, timeout)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        return [{"version": s.version, "state": state_name(s.state), "error_code": s.status.error_code,
                 "error_message": s.status.error_message} for s in response.model_version_status]

    def wait_until_available(self, timeout: float = 60.0, version: int | None = None) -> None:
        """Polls GetModelStatus until a version is AVAILABLE (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if any(s["state"] == "AVAILABLE" for s in self.get_model_status(version=version)):
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"model {self.model_name} not AVAILABLE at {self.address} after {timeout}s")
            time.sleep(0.2)
