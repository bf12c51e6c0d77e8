"""REST twin of `ServingClient`: the same calls over TF Serving's /v1 HTTP API (stdlib HTTP; re-exported by
`serving.client`)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping

import numpy as np
from tensorflow.core.example import example_pb2

from serving.client.text_helpers import TextHelpers, concat_batches, input_batches

RETRYABLE_HTTP = (503,)


class RestError(Exception):
    """An HTTP error answer: `.status` (e.g. 400) and `.message` (the server's "error" text)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _jsonable(array: np.ndarray, b64: bool = False):
    if array.dtype == object or array.dtype.kind in ("S", "U"):
        def conv(v):
            if isinstance(v, bytes):
                if b64:
                    return {"b64": base64.b64encode(v).decode("ascii")}
                return v.decode("utf-8")
            return str(v)
        return np.vectorize(conv, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def _from_json(value, name: str) -> np.ndarray:
    def conv(v):
        if isinstance(v, dict) and "b64" in v:
            return base64.b64decode(v["b64"])
        if isinstance(v, str):
            return v.encode("utf-8")
        return v
    if isinstance(value, list) and value and _contains_strings(value):
        array = np.asarray(_map_nested(value, conv), dtype=object)
        return array
    array = np.asarray(value)
    if array.dtype == np.float64:
        array = array.astype(np.float32)  # TF Serving prints float32 outputs; float64 signatures are rare
    return array


def _contains_strings(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (str, dict))


def _map_nested(value, fn):
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    return fn(value)


def _example_json(example) -> dict:
    if not isinstance(example, example_pb2.Example):
        return {k: (v if not isinstance(v, bytes) else {"b64": base64.b64encode(v).decode("ascii")})
                for k, v in example.items()}
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[name] = [{"b64": base64.b64encode(v).decode("ascii")} for v in feature.bytes_list.value]
        elif kind == "float_list":
            out[name] = list(feature.float_list.value)
        elif kind == "int64_list":
            out[name] = list(feature.int64_list.value)
    return out


class RestClient(TextHelpers):
    """Calls TF Serving's REST API: predict, classify, regress, metadata, status, classify_text.

    Args:
        base_url: str. "http://host:8501" (or https://...).
        model_name: str. The served model.
        version: int or None. Ask for this version.
        version_label: str or None. Ask for a labelled version.
        signature_name: str. Default signature for predict. Defaults to "serving_default".
        timeout: float. Seconds per HTTP call. Defaults to 30.
        retries: int. Retries on HTTP 503 / connection errors, exponential backoff. Defaults to 3.
        backoff_seconds: float. First backoff. Defaults to 0.1.
        root_certificates: bytes or None. PEM CA to verify an https server with.
        batch_size: int or None. Split long inputs into requests of this many rows.
        columnar: bool. Send {"inputs": ...} (columnar) instead of {"instances": ...} (row). Defaults to True.
    """

    _transport_errors = (RestError,)  # what a failed `classify` raises (TextHelpers.classify_text)

    def __init__(self, base_url: str, model_name: str, version: int | None = None, version_label: str | None = None,
                 signature_name: str = "serving_default", timeout: float = 30.0, retries: int = 3,
                 backoff_seconds: float = 0.1, root_certificates: bytes | None = None,
                 batch_size: int | None = None, columnar: bool = True):
        self._init_target(model_name, version, version_label, signature_name, timeout, retries, backoff_seconds,
                          batch_size)
        self.base_url = base_url.rstrip("/")
        self.columnar = columnar
        self._ssl = None
        if root_certificates is not None:
            self._ssl = ssl.create_default_context(cadata=root_certificates.decode("ascii"))

    def _model_path(self, version: int | None = None, version_label: str | None = None) -> str:
        path = "/v1/models/" + urllib.parse.quote(self.model_name, safe="")
        if version is None and version_label is None:
            version, version_label = self.version, self.version_label
        if version is not None:
            path += f"/versions/{int(version)}"
        elif version_label is not None:
            path += "/labels/" + urllib.parse.quote(version_label, safe="")
        return path

    def request(self, method: str, path: str, body: dict | bytes | None = None, timeout: float | None = None):
        """One HTTP call with retries; returns the decoded JSON answer or raises RestError."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._ssl) as response:
                    return json.loads(response.read().decode("utf-8", "surrogateescape"))
            except urllib.error.HTTPError as e:
                text = e.read().decode("utf-8", "replace")
                try:
                    message = json.loads(text).get("error", text)
                except ValueError:
                    message = text
                if e.code not in RETRYABLE_HTTP or attempt == self.retries:
                    raise RestError(e.code, message) from None
            except urllib.error.URLError:
                if attempt == self.retries:
                    raise
            self._sleep_before_retry(attempt)

    def predict(self, inputs: Mapping[str, Any], signature_name: str | None = None,
                version: int | None = None, version_label: str | None = None, batch_size: int | None = None,
                timeout: float | None = None) -> dict[str, np.ndarray]:
        """Predict on a dict of inputs; returns {output name: numpy array} (strings as bytes)."""
        parts = []
        for sliced in input_batches(inputs, batch_size or self.batch_size):
            body: dict[str, Any] = {"signature_name": signature_name or self.signature_name}
            if self.columnar:
                body["inputs"] = {k: _jsonable(a, b64=k.endswith("_bytes")) for k, a in sliced.items()}
            else:
                count = next(iter(sliced.values())).shape[0]
                body["instances"] = [{k: _jsonable(a[i], b64=k.endswith("_bytes")) for k, a in sliced.items()}
                                     for i in range(count)]
            answer = self.request("POST", self._model_path(version, version_label) + ":predict", body, timeout)
            signature = signature_name or self.signature_name
            if self.columnar:
                outputs = answer["outputs"]
                if not isinstance(outputs, dict) or set(outputs) == {"b64"}:
                    outputs = {self._single_output_name(signature, version, version_label): outputs}
            else:
                predictions = answer["predictions"]
                if predictions and isinstance(predictions[0], dict) and not set(predictions[0]) == {"b64"}:
                    outputs = {k: [p[k] for p in predictions] for k in predictions[0]}
                else:
                    outputs = {self._single_output_name(signature, version, version_label): predictions}
            parts.append({k: _from_json(v, k) for k, v in outputs.items()})
        if len(parts) == 1:
            return parts[0]
        return concat_batches(parts)

    def _single_output_name(self, signature: str, version, version_label) -> str:
        """TF Serving drops the name of a lone output; recover it from the model's metadata (cached)."""
        cache = self.__dict__.setdefault("_output_names", {})
        key = (signature, version, version_label)
        if key not in cache:
            try:
                outputs = self.get_model_metadata(version, version_label)["signature_def"][signature]["outputs"]
                cache[key] = next(iter(outputs)) if len(outputs) == 1 else "output"
            except (RestError, KeyError):
                cache[key] = "output"
        return cache[key]

    def _examples_call(self, verb: str, examples: Iterable, signature_name: str | None, context,
                       version, version_label, batch_size, timeout) -> list:
        examples = list(examples)
        batch_size = batch_size or self.batch_size or max(len(examples), 1)
        results = []
        for start in range(0, len(examples), batch_size):
            body: dict[str, Any] = {"examples": [_example_json(e) for e in examples[start:start + batch_size]]}
            if signature_name:
                body["signature_name"] = signature_name
            if context is not None:
                body["context"] = _example_json(context)
            answer = self.request("POST", self._model_path(version, version_label) + ":" + verb, body, timeout)
            results.extend(answer["results"])
        return results

    def classify(self, examples: Iterable, signature_name: str | None = None, context=None,
                 version: int | None = None, version_label: str | None = None, batch_size: int | None = None,
                 timeout: float | None = None) -> list[list[tuple[str, float]]]:
        """Classify examples (tf.Example or feature dicts); per example [(label, score), ...]."""
        results = self._examples_call("classify", examples, signature_name, context, version, version_label,
                                      batch_size, timeout)
        return [[(label, float(score)) for label, score in row] for row in results]

    def regress(self, examples: Iterable, signature_name: str | None = None, context=None,
                version: int | None = None, version_label: str | None = None, batch_size: int | None = None,
                timeout: float | None = None) -> np.ndarray:
        """Regress examples; a float32 array, one value per example."""
        return np.asarray(self._examples_call("regress", examples, signature_name, context, version, version_label,
                                              batch_size, timeout), np.float32)

    def get_model_metadata(self, version: int | None = None, version_label: str | None = None,
                           timeout: float | None = None) -> dict:
        """{"version": int, "signature_def": {name: dict}} (JSON form of the SignatureDefs)."""
        answer = self.request("GET", self._model_path(version, version_label) + "/metadata", None, timeout)
        return {"version": int(answer["model_spec"]["version"]),
                "signature_def": answer["metadata"]["signature_def"]["signature_def"]}

    def get_model_status(self, version: int | None = None, timeout: float | None = None) -> list[dict]:
        """[{"version": int, "state": "AVAILABLE", "error_code": str, "error_message": str}, ...]."""
        path = "/v1/models/" + urllib.parse.quote(self.model_name, safe="")
        if version is not None:
            path += f"/versions/{int(version)}"
        answer = self.request("GET", path, None, timeout)
        return [{"version": int(s["version"]), "state": s["state"], "error_code": s["status"]["error_code"],
                 "error_message": s["status"]["error_message"]} for s in answer["model_version_status"]]
