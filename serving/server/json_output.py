"""Writing REST answers as TF Serving's json_tensor.cc does: `predictions` / `outputs`, classify and regress
results; string outputs whose name ends in `_bytes` go out base64-encoded; floats are printed the way TF Serving
prints them (shortest of %g / max_digits10, whole numbers with ".0", NaN / Infinity tokens)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Mapping

import numpy as np

from serving.server import status

_BYTES_SUFFIX = "_bytes"


def _decimal(value: float, is_float32: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%g" % value
    if (np.float32(float(text)) if is_float32 else float(text)) != (np.float32(value) if is_float32 else value):
        text = "%.9g" % value if is_float32 else "%.17g" % value
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text


def _scalar_json(value: Any, as_bytes: bool) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        if as_bytes:
            return '{"b64": "' + base64.b64encode(bytes(value)).decode("ascii") + '"}'
        return json.dumps(bytes(value).decode("utf-8", "surrogateescape"), ensure_ascii=False)
    if isinstance(value, (np.floating, float)):
        return _decimal(float(value), isinstance(value, np.float32) or isinstance(value, np.float16))
    if isinstance(value, (np.bool_, bool)):
        return "true" if value else "false"
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return json.dumps(str(value), ensure_ascii=False)


def _tensor_json(array, as_bytes: bool) -> str:
    if not isinstance(array, np.ndarray):
        return _scalar_json(array, as_bytes)
    if array.ndim == 0:
        return _scalar_json(array[()], as_bytes)
    return "[" + ", ".join(_tensor_json(array[i], as_bytes) for i in range(array.shape[0])) + "]"


def _is_bytes_output(name: str, array: np.ndarray) -> bool:
    return array.dtype == object and name.endswith(_BYTES_SUFFIX)


def predict_response_json(outputs: Mapping[str, np.ndarray], fmt: str) -> str:
    """MakeJsonFromTensors: {"predictions": ...} (row) or {"outputs": ...} (columnar)."""
    if not outputs:
        raise status.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == "row":
        batch = -1
        for name in names:
            array = outputs[name]
            if array.ndim == 0:
                raise status.invalid_argument(f"Tensor name: {name} has no shape information ")
            if batch >= 0 and array.shape[0] != batch:
                raise status.invalid_argument(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                                              f"expecting: {batch}")
            batch = array.shape[0]
        items = []
        for i in range(batch):
            if len(names) > 1:
                items.append("{" + ", ".join(json.dumps(n) + ": " + _tensor_json(outputs[n][i], _is_bytes_output(
                    n, outputs[n])) for n in names) + "}")
            else:
                items.append(_tensor_json(outputs[names[0]][i], _is_bytes_output(names[0], outputs[names[0]])))
        return '{"predictions": [' + ", ".join(items) + "]}"
    if len(names) > 1:
        body = "{" + ", ".join(json.dumps(n) + ": " + _tensor_json(outputs[n], _is_bytes_output(n, outputs[n]))
                               for n in names) + "}"
    else:
        body = _tensor_json(outputs[names[0]], _is_bytes_output(names[0], outputs[names[0]]))
    return '{"outputs": ' + body + "}"


def classification_json(result) -> str:
    """MakeJsonFromClassificationResult: {"results": [[[label, score], ...], ...]}."""
    if not result.classifications:
        raise status.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        rows.append("[" + ", ".join("[" + json.dumps(c.label, ensure_ascii=False) + ", " +
                                    _decimal(c.score, True) + "]" for c in classifications.classes) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def regression_json(result) -> str:
    """MakeJsonFromRegressionResult: {"results": [v1, v2, ...]}."""
    if not result.regressions:
        raise status.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(_decimal(r.value, True) for r in result.regressions) + "]}"
