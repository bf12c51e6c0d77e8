"""The REST API's routes (TF Serving's /v1, case-insensitive as its regexes): (method, path, body) -> (HTTP
status, JSON text) over a ServingCore. The HTTP transport is `serving.server.rest`."""

from __future__ import annotations

import json
import logging
import re
import urllib.parse

from google.protobuf import json_format
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_pb2, regression_pb2)

from serving.server import json_output, json_parse, json_tensor, status
from serving.server.core import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD, ServingCore
from serving.server.limits import CancelCheck, check_request_rows

logger = logging.getLogger("bert_tf.serving")

API_PATH = re.compile(r"(?i)/v1/.*")
_PREDICTION = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    if version:
        value = int(version)
        if value > 2 ** 63 - 1:
            raise status.invalid_argument(f"Failed to convert version: {version} to numeric.")
        spec.version.value = value
    if label:
        spec.version_label = label
    return spec


class RestApi:
    """Turns (method, path, body) into (HTTP status, JSON text) over a ServingCore."""

    def __init__(self, core: ServingCore):
        self.core = core

    def handle(self, method: str, path: str, body: bytes, cancel: CancelCheck | None = None) -> tuple[int, str]:
        """Runs one request. `cancel` (e.g. the client's connection is still open) is checked between chunks or
        batches of the inference: once the client is gone the rest of the work is skipped (CANCELLED)."""
        try:
            return 200, self._dispatch(method, path, body, cancel)
        except status.ServingError as e:
            return status.http_status(e.code), json.dumps({"error": e.message}, ensure_ascii=False)
        except Exception as e:  # one request fails, the server stays up
            logger.exception("REST request %s %s failed", method, path)
            return 500, json.dumps({"error": f"{type(e).__name__}: {e}"})

    def _dispatch(self, method: str, path: str, body: bytes, cancel: CancelCheck | None) -> str:
        malformed = status.invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, verb = match.groups()
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            # The path pattern is case-insensitive, the verb is not (TF Serving compares it with ==): ":PREDICT"
            # matches the pattern but names no method, so it stays "Malformed request" (400).
            if verb == "predict":
                return self._predict(spec, body, cancel)
            if verb in ("classify", "regress"):
                return self._classify_regress(spec, body, verb, cancel)
            raise malformed
        if method == "GET":
            match = _STATUS.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, metadata = match.groups()
            if not name:
                raise status.invalid_argument("Missing model name in request.")
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            if metadata == "metadata":  # "/METADATA" matches the pattern; TF Serving then answers the status
                return self._metadata(spec)
            response = self.core.get_model_status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
            return json_format.MessageToJson(response, always_print_fields_with_no_presence=True,
                                             preserving_proto_field_name=True, indent=1)
        raise malformed

    def _check_rows(self, value, alias: str | None) -> None:
        """The per-request row limit on a JSON list, before it becomes a tensor."""
        if isinstance(value, list):
            check_request_rows(len(value), self.core.max_request_rows, alias)

    def _predict(self, spec: model_pb2.ModelSpec, body: bytes, cancel: CancelCheck | None) -> str:
        doc = json_parse.parse_json(body)
        spec.signature_name = json_parse.signature_name(doc)
        with self.core.manager.serving(spec) as servable:
            signature_name = spec.signature_name or DEFAULT_SIGNATURE
            signature = servable.signature_defs.get(signature_name)
            if signature is None:
                raise status.invalid_argument(
                    f"Serving signature name: \"{signature_name}\" not found in signature def")
            only = next(iter(signature.inputs)) if len(signature.inputs) == 1 else None
            self._check_rows(doc.get("instances"), only)
            inputs = doc.get("inputs")
            if isinstance(inputs, dict):
                for alias in sorted(signature.inputs):
                    self._check_rows(inputs.get(alias), alias)
            else:
                self._check_rows(inputs, only)
            arrays, fmt = json_tensor.predict_request_arrays(doc, signature.inputs)
            outputs = self.core.run_predict(servable, signature_name, arrays, cancel=cancel)
        return json_output.predict_response_json(outputs, fmt)

    def _classify_regress(self, spec: model_pb2.ModelSpec, body: bytes, verb: str,
                          cancel: CancelCheck | None) -> str:
        doc = json_parse.parse_json(body)
        self._check_rows(doc.get("examples"), None)
        if verb == "classify":
            request = classification_pb2.ClassificationRequest(model_spec=spec)
            json_tensor.fill_examples_request(doc, request)
            return json_output.classification_json(self.core.classify(request, cancel).result)
        request = regression_pb2.RegressionRequest(model_spec=spec)
        json_tensor.fill_examples_request(doc, request)
        return json_output.regression_json(self.core.regress(request, cancel).result)

    def _metadata(self, spec: model_pb2.ModelSpec) -> str:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD])
        response = self.core.get_model_metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True, indent=1)
        return ("{\n\"model_spec\":" + json_format.MessageToJson(response.model_spec, **options) + ",\n"
                "\"metadata\": {\"signature_def\": " + json_format.MessageToJson(signature_map, **options) + "}\n}\n")
