"""The request logic shared by the gRPC and REST front ends, step for step as TF Serving runs it.

Every method takes and returns the official `tensorflow_serving.apis` protos and raises `ServingError` with
TF Serving's code and message (predict_util.cc, classifier.cc, regressor.cc, multi_inference.cc,
get_model_metadata_impl.cc, get_model_status_impl.cc, server_core.cc); the tf.Example methods' own
steps are in `serving.server.examples`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     inference_pb2, model_pb2, predict_pb2, regression_pb2)

from serving.server import examples, status
from serving.server.batching import BatchScheduler
from serving.server.config import read_warmup_requests
from serving.server.limits import DEFAULT_MAX_REQUEST_ROWS, CancelCheck, check_request_rows
from serving.server.model_manager import ModelManager
from serving.server.servable import Servable
from serving.server.tensors import ndarray_to_proto, proto_to_ndarray

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
SIGNATURE_DEF_FIELD = "signature_def"
# Rows per chunk when a large request runs unbatched (see ServingCore's chunk_rows).
DEFAULT_CHUNK_ROWS = 64


def _join(keys) -> str:
    return ",".join(sorted(keys))


def make_model_spec(name: str, signature_name: str | None, version: int | None) -> model_pb2.ModelSpec:
    """TF Serving's MakeModelSpec: an empty signature name becomes "serving_default"."""
    spec = model_pb2.ModelSpec(name=name)
    if signature_name is not None:
        spec.signature_name = signature_name or DEFAULT_SIGNATURE
    if version is not None:
        spec.version.value = version
    return spec


class ServingCore:
    """Runs Predict / Classify / Regress / MultiInference / GetModelMetadata / GetModelStatus.

    Args:
        manager: ModelManager. Where servables come from.
        batching_parameters: BatchingParameters proto or None. When given, Predict calls are batched.
        enable_signature_method_name_check: bool. TF Serving's flag of the same name (default off): require
            method_name tensorflow/serving/{classify,regress} for Classify/Regress signatures.
        max_request_rows: int or None. Most rows (dimension 0, or tf.Examples) one request may carry; None or
            <= 0: no limit. Front ends check it with `serving.server.limits.check_request_rows(rows,
            core.max_request_rows, alias)` before building tensors.
        chunk_rows: int or None. Without batching, a request with more rows than this runs in chunks of this
            many rows (when its signature allows it), checking between chunks whether the caller is still
            there. None or <= 0: never chunk.

    The request methods take an optional `cancel` (`serving.server.limits.CancelCheck`): work stops between chunks
    or while queued for a batch once it reports the caller gone (CANCELLED / DEADLINE_EXCEEDED).
    """

    def __init__(self, manager: ModelManager, batching_parameters=None,
                 enable_signature_method_name_check: bool = False,
                 max_request_rows: int | None = DEFAULT_MAX_REQUEST_ROWS, chunk_rows: int | None = None):
        self.manager = manager
        self.batching_parameters = batching_parameters
        self.enable_signature_method_name_check = enable_signature_method_name_check
        self.max_request_rows = max_request_rows
        self.chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else chunk_rows

    # === Predict ===
    def _on_servable(self, request, run_on, cancel: CancelCheck | None):
        """Runs `run_on(servable, request, cancel)` on the servable the request's ModelSpec names, held meanwhile."""
        if not request.HasField("model_spec"):
            raise status.invalid_argument("Missing ModelSpec")
        with self.manager.serving(request.model_spec) as servable:
            return run_on(servable, request, cancel)

    def predict(self, request: predict_pb2.PredictRequest, cancel: CancelCheck | None = None
                ) -> predict_pb2.PredictResponse:
        return self._on_servable(request, self.predict_on, cancel)

    def predict_on(self, servable: Servable, request: predict_pb2.PredictRequest,
                   cancel: CancelCheck | None = None) -> predict_pb2.PredictResponse:
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = self._predict_signature(servable, signature_name)
        self._check_input_names(signature, request.inputs.keys())
        arrays = {alias: proto_to_ndarray(request.inputs[alias], alias, self.max_request_rows)
                  for alias in sorted(signature.inputs)}
        outputs = self.run_predict(servable, signature_name, arrays, list(request.output_filter), cancel)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(make_model_spec(request.model_spec.name, signature_name, servable.version))
        for alias, value in outputs.items():
            response.outputs[alias].CopyFrom(ndarray_to_proto(value, signature.outputs[alias].dtype))
        return response

    @staticmethod
    def _predict_signature(servable: Servable, signature_name: str):
        signature = servable.signature_defs.get(signature_name)
        if signature is None:
            raise status.ServingError(status.FAILED_PRECONDITION,
                                      f"Serving signature key \"{signature_name}\" not found.")
        return signature

    @staticmethod
    def _check_input_names(signature, request_keys) -> None:
        """VerifyRequestInputsSize + saved_model::GetInputValues, in TF Serving's order and words."""
        request_inputs = set(request_keys)
        signature_inputs = set(signature.inputs)
        if len(request_inputs) != len(signature_inputs):
            raise status.invalid_argument(
                f"input size does not match signature: {len(request_inputs)}!={len(signature_inputs)} "
                f"len({{{_join(request_inputs)}}}) != len({{{_join(signature_inputs)}}}). "
                f"Sent extra: {{{_join(request_inputs - signature_inputs)}}}. "
                f"Missing but required: {{{_join(signature_inputs - request_inputs)}}}.")
        for alias in sorted(signature_inputs):
            if alias not in request_inputs:
                raise status.invalid_argument(
                    f"Signature input alias: {alias}(feed name: {signature.inputs[alias].name}) not found in "
                    f"request and no default value provided. Inputs expected to be in the request "
                    f"{{{_join(request_inputs)}}}, or default input alias set: ")

    def run_predict(self, servable: Servable, signature_name: str, arrays: Mapping[str, np.ndarray],
                    output_filter: Sequence[str] = (), cancel: CancelCheck | None = None) -> dict[str, np.ndarray]:
        """Validates the output filter and the inputs, then runs the signature (batched when enabled; in
        chunks, stopping once `cancel` reports the caller gone, when not)."""
        for alias in sorted(arrays):
            if np.ndim(arrays[alias]):
                check_request_rows(np.shape(arrays[alias])[0], self.max_request_rows, alias)
        signature = self._predict_signature(servable, signature_name)
        self._check_input_names(signature, arrays.keys())
        seen = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise status.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{_join(signature.outputs)}}}.")
            if alias in seen:
                raise status.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        servable.validate_inputs(signature_name, arrays)
        if self.batching_parameters is not None:
            batcher = servable.batcher(signature_name, self._make_batcher)
            outputs = batcher.submit(arrays, cancel=cancel)
        else:
            outputs = servable.run(signature_name, arrays, cancel=cancel, chunk_rows=self.chunk_rows)
        aliases = list(output_filter) or sorted(signature.outputs)
        return {alias: outputs[alias] for alias in aliases}

    def _make_batcher(self, servable: Servable, signature_name: str) -> BatchScheduler:
        return BatchScheduler.from_parameters(lambda inputs: servable.run(signature_name, inputs),
                                              self.batching_parameters)

    # === Classify / Regress / MultiInference (serving.server.examples) ===
    def classify(self, request: classification_pb2.ClassificationRequest, cancel: CancelCheck | None = None
                 ) -> classification_pb2.ClassificationResponse:
        return self._on_servable(request, self.classify_on, cancel)

    def classify_on(self, servable: Servable, request, cancel: CancelCheck | None = None
                    ) -> classification_pb2.ClassificationResponse:
        return self._examples_on(examples.CLASSIFY, servable, request, cancel)

    def regress(self, request: regression_pb2.RegressionRequest, cancel: CancelCheck | None = None
                ) -> regression_pb2.RegressionResponse:
        return self._on_servable(request, self.regress_on, cancel)

    def regress_on(self, servable: Servable, request, cancel: CancelCheck | None = None
                   ) -> regression_pb2.RegressionResponse:
        return self._examples_on(examples.REGRESS, servable, request, cancel)

    def _examples_on(self, method: examples.ExampleMethod, servable: Servable, request,
                     cancel: CancelCheck | None):
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_defs.get(signature_name)
        if signature is None:
            raise status.invalid_argument(f"No signature was found with the name: {signature_name}")
        method.check_signature(signature, self.enable_signature_method_name_check)
        tensor = examples.examples_tensor(request.input, self.max_request_rows)
        outputs = self._run_examples(servable, signature_name, signature, tensor, cancel)
        response = method.response_type()
        response.model_spec.CopyFrom(make_model_spec(request.model_spec.name, request.model_spec.signature_name,
                                                     servable.version))
        method.fill_result(outputs, len(tensor), response.result)
        return response

    def _run_examples(self, servable: Servable, signature_name: str, signature, tensor: np.ndarray,
                      cancel: CancelCheck | None = None):
        input_alias = next(iter(signature.inputs))
        arrays = {input_alias: tensor}
        servable.validate_inputs(signature_name, arrays)
        return servable.run(signature_name, arrays, cancel=cancel, chunk_rows=self.chunk_rows)

    def multi_inference(self, request: inference_pb2.MultiInferenceRequest, cancel: CancelCheck | None = None
                        ) -> inference_pb2.MultiInferenceResponse:
        spec = request.tasks[0].model_spec if request.tasks and request.tasks[0].HasField("model_spec") \
            else model_pb2.ModelSpec()
        with self.manager.serving(spec) as servable:
            return self.multi_inference_on(servable, request, cancel)

    def multi_inference_on(self, servable: Servable, request, cancel: CancelCheck | None = None
                           ) -> inference_pb2.MultiInferenceResponse:
        model_name, input_alias, seen, plan = "", None, set(), []
        for task in request.tasks:
            if not task.model_spec.name:
                raise status.invalid_argument("Found ModelSpec with an empty model name.")
            if not model_name:
                model_name = task.model_spec.name
            elif model_name != task.model_spec.name:
                raise status.invalid_argument(
                    "All ModelSpecs in a MultiInferenceRequest must access the same model name.")
            signature_name = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if signature_name in seen:
                raise status.invalid_argument(f"Duplicate evaluation of signature: {signature_name}")
            seen.add(signature_name)
            signature = servable.signature_defs.get(signature_name)
            if signature is None:
                raise status.invalid_argument(f"Requested signature not found in model graph: {signature_name}")
            method = examples.BY_METHOD_NAME.get(task.method_name)
            if method is None:
                raise status.ServingError(status.UNIMPLEMENTED,
                                          f"Unsupported signature method_name: {task.method_name}")
            method.check_signature(signature, self.enable_signature_method_name_check)
            name = signature.inputs[examples.CLASSIFY_INPUTS].name
            if input_alias is None:
                input_alias = name
            elif input_alias != name:
                raise status.invalid_argument("Input tensor must be the same for all Signatures.")
            plan.append((task, method, signature_name, signature))
        tensor = examples.examples_tensor(request.input, self.max_request_rows)
        response = inference_pb2.MultiInferenceResponse()
        for task, method, signature_name, signature in plan:
            outputs = self._run_examples(servable, signature_name, signature, tensor, cancel)
            result = response.results.add()
            result.model_spec.CopyFrom(make_model_spec(task.model_spec.name, task.model_spec.signature_name,
                                                       servable.version))
            method.fill_result(outputs, len(tensor), getattr(result, method.result_field))
        return response

    # === Metadata and status ===
    def get_model_metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
                           ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise status.invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise status.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise status.invalid_argument(f"Metadata field {field} is not supported")
        servable = self.manager.get_servable(request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response

    def get_model_status(self, request: get_model_status_pb2.GetModelStatusRequest
                         ) -> get_model_status_pb2.GetModelStatusResponse:
        if not request.HasField("model_spec"):
            raise status.invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        states = self.manager.version_states(spec.name)
        response = get_model_status_pb2.GetModelStatusResponse()
        if spec.HasField("version"):
            version = spec.version.value
            if version not in states:
                raise status.ServingError(status.NOT_FOUND, f"Could not find version {version} of model {spec.name}")
            selected = {version: states[version]}
        else:
            if not states:
                raise status.ServingError(status.NOT_FOUND, f"Could not find any versions of model {spec.name}")
            selected = states
        for version, (state, error) in selected.items():
            entry = response.model_version_status.add(version=version, state=state)
            entry.status.error_code = error.code if error is not None else status.OK
            if error is not None:
                entry.status.error_message = error.message
        return response

    # === Warmup ===
    def warmup(self, servable: Servable) -> None:
        """Replays `assets.extra/tf_serving_warmup_requests` on a servable before it becomes AVAILABLE."""
        from serving.server.config import ConfigError
        try:
            logs = read_warmup_requests(servable.path)
        except ConfigError as e:
            raise status.invalid_argument(str(e)) from None
        for log in logs:
            kind = log.WhichOneof("log_type")
            if kind == "predict_log":
                self.predict_on(servable, log.predict_log.request)
            elif kind == "classify_log":
                self.classify_on(servable, log.classify_log.request)
            elif kind == "regress_log":
                self.regress_on(servable, log.regress_log.request)
            elif kind == "multi_inference_log":
                self.multi_inference_on(servable, log.multi_inference_log.request)
            else:
                raise status.ServingError(status.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}")
