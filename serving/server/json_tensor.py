"""JSON ⇄ tensors for the REST API, rule for rule and message for message as TF Serving's json_tensor.cc.

Row format (`instances`) and columnar format (`inputs`) in, `predictions` / `outputs` out; `{"b64": ...}` for
binary strings; string outputs whose name ends in `_bytes` go out base64-encoded; floats are printed the way
TF Serving prints them (shortest of %g / max_digits10, whole numbers with ".0", NaN / Infinity tokens).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, Mapping

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from serving.server import status
from serving.server.tensors import dtype_string

_B64_KEY = "b64"
_BYTES_SUFFIX = "_bytes"
_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_UINT32 = (0, 2 ** 32 - 1)
_UINT64 = (0, 2 ** 64 - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NUMPY_DTYPES = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT16: np.int16, types_pb2.DT_INT8: np.int8, types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT64: np.int64, types_pb2.DT_BOOL: np.bool_, types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64, types_pb2.DT_STRING: object,
}


# === Parsing ===

class _Rapid:
    """Python json error messages → rapidjson's GetParseError_En wording."""
    MESSAGES = (
        ("Expecting value", "Invalid value."),
        ("Extra data", "The document root must not be followed by other values."),
        ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
        ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
        ("Unterminated string", "Missing a closing quotation mark in string."),
        ("Invalid control character", "Invalid encoding in string."),
        ("Invalid \\escape", "Invalid escape character in string."),
        ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    )

    @classmethod
    def message(cls, error: json.JSONDecodeError) -> str:
        if error.msg == "Expecting ',' delimiter":
            return ("Missing a comma or ']' after an array element." if error.doc[:error.pos].rstrip()
                    and _innermost_is_array(error.doc, error.pos) else
                    "Missing a comma or '}' after an object member.")
        for prefix, text in cls.MESSAGES:
            if error.msg.startswith(prefix):
                return text
        return error.msg + "."


def _innermost_is_array(doc: str, pos: int) -> bool:
    depth = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth.append(ch)
        elif ch in "]}" and depth:
            depth.pop()
    return bool(depth) and depth[-1] == "["


def parse_json(body: bytes) -> dict:
    """ParseJson: the document must be non-empty, valid (NaN/Infinity allowed) and an object."""
    if not body:
        raise status.invalid_argument("JSON Parse error: The document is empty")
    # surrogateescape keeps bytes that are not UTF-8 (rapidjson passes them through unvalidated).
    text = body.decode("utf-8", "surrogateescape")
    if not text.strip():
        raise status.invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise status.invalid_argument(
            f"JSON Parse error: {_Rapid.message(e)} at offset: {len(text[:e.pos].encode('utf-8', 'surrogateescape'))}"
        ) from None
    except RecursionError:
        raise status.invalid_argument("JSON Parse error: The document is nested too deeply.") from None
    except ValueError:  # an integer literal over Python's int-string limit (4300 digits)
        offset = _number_too_big_offset(text)
        if offset is None:
            raise
        raise status.invalid_argument(f"JSON Parse error: Number too big to be stored in double. at offset: "
                                      f"{len(text[:offset].encode('utf-8', 'surrogateescape'))}") from None
    if not isinstance(doc, dict):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Is not object")
    return doc


# A JSON string or number token; strings are matched first so that digits inside them are skipped.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?)(0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
_DOUBLE_GUARD = 1.7976931348623157e307  # rapidjson's ParseNumber overflow guard


def _number_too_big_offset(text: str) -> int | None:
    """Where rapidjson stops with kParseErrorNumberTooBig: the first number whose integer part overflows a double.

    rapidjson reads integer digits into a double once they pass uint64 and fails as soon as one more digit
    follows a value >= 1.7976931348623157e307; the error offset is the number's first character (its minus sign
    included). Only called after Python's parser refused the document, so it scans only on that error path."""
    for match in _TOKEN.finditer(text):
        digits = match.group(2)
        if digits is None or len(digits) < 2:
            continue
        if len(digits) > 310 or int(digits[:-1]) >= _DOUBLE_GUARD:
            return match.start()
    return None


def value_to_string(value: Any, limit: int = 100_000) -> str:
    """JsonValueToString (pretty-printed like rapidjson's PrettyWriter), cut at `limit` characters."""
    try:
        text = json.dumps(value, indent=4, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates written as \ud800 escapes
        return text.encode("utf-8", "surrogatepass")


def _is_b64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64_KEY), str)


def _decode_b64_object(value: Any) -> bytes:
    if not _is_b64_object(value):
        raise status.invalid_argument(f"JSON Value: {value_to_string(value)} not formatted correctly for base64 data")
    text = value[_B64_KEY].strip()
    if len(text) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise status.invalid_argument("Unable to base64 decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise status.invalid_argument("Unable to base64 decode") from None


def _type_error(value: Any, dtype: int) -> status.ServingError:
    return status.invalid_argument(f"JSON Value: {value_to_string(value)} Type: {_json_type(value)} is not of "
                                   f"expected type: {dtype_string(dtype)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _convert_scalar(value: Any, dtype: int):
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
            raise _type_error(value, dtype)
        if isinstance(value, float) and not math.isfinite(value):
            return value
        max_int = (1 << 24) - 1 if dtype == types_pb2.DT_FLOAT else (1 << 53) - 1
        target = "float" if dtype == types_pb2.DT_FLOAT else "double"
        if _is_int(value):
            if abs(value) > max_int:
                raise status.invalid_argument(f"Cannot convert JSON value: {value} to {target} without loss of "
                                              "precision.")
        elif dtype == types_pb2.DT_FLOAT and abs(value) > _FLOAT32_MAX:
            raise status.invalid_argument(f"Cannot convert JSON value: {value} to {target} without loss of precision.")
        return value
    if dtype in (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8):
        if not _is_int(value) or not _INT32[0] <= value <= _INT32[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_INT64:
        if not _is_int(value) or not _INT64[0] <= value <= _INT64[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_UINT32:
        if not _is_int(value) or not _UINT32[0] <= value <= _UINT32[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_UINT64:
        if not _is_int(value) or not _UINT64[0] <= value <= _UINT64[1]:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return _to_bytes(value)
    if dtype == types_pb2.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise status.ServingError(status.UNIMPLEMENTED, f"Conversion of JSON Value: {value_to_string(value)} to type: "
                                                   f"{dtype_string(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise status.invalid_argument(f"JSON Value: {value_to_string(value)} found at incorrect level: "
                                          f"{level + 1} in the JSON DOM. Expected at level: {rank}")
        if isinstance(value, dict):
            if dtype != types_pb2.DT_STRING:
                raise _type_error(value, dtype)
            out.append(_decode_b64_object(value))
        else:
            out.append(_convert_scalar(value, dtype))
        return
    if level >= rank:
        raise status.invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise status.invalid_argument(f"Encountered list at unexpected size: {len(value)} at level: {level} "
                                      f"expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _to_array(value: Any, dtype: int) -> np.ndarray:
    shape = _dense_shape(value)
    flat: list = []
    _fill(value, 0, shape, dtype, flat)
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if np_dtype is object:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.asarray(flat, dtype=np_dtype).reshape(shape)


def _status_text(error: status.ServingError) -> str:
    return f"{error.code_name}: {error.message}"


def _instances_to_arrays(instances: list, infos: Mapping[str, Any]) -> dict[str, np.ndarray]:
    names = sorted(infos)
    first = instances[0]
    if not isinstance(first, dict) and len(infos) > 1:
        raise status.invalid_argument("instances is a plain list, but expecting list of objects as multiple input "
                                      "tensors required as per tensorinfo_map")

    def is_object(v):
        return isinstance(v, dict) and not _is_b64_object(v)

    objects = is_object(first)
    rows: dict[str, list] = {}
    shapes: dict[str, list] = {}

    def add(item, name, index):
        if name not in infos:
            raise status.invalid_argument(f"JSON object: does not have named input: {name}")
        array = _to_array(item, infos[name].dtype)
        if name not in shapes:
            shapes[name] = list(array.shape)
        elif int(np.prod(shapes[name])) != array.size:
            raise status.invalid_argument(f"Expecting tensor size: {int(np.prod(shapes[name]))} but got: {array.size}")
        elif shapes[name] != list(array.shape):
            raise status.invalid_argument(f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                                          f"[{','.join(map(str, array.shape))}]")
        rows.setdefault(name, []).append(array)

    for index, element in enumerate(instances):
        if objects:
            if not is_object(element):
                raise status.invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, item in element.items():
                try:
                    add(item, name, index)
                except status.ServingError as e:
                    raise status.invalid_argument(f"Failed to process element: {index} key: {name} of 'instances' "
                                                  f"list. Error: {_status_text(e)}") from None
            if set(element) != set(names):
                raise status.invalid_argument(f"Failed to process element: {index} of 'instances' list. JSON object: "
                                              f"{value_to_string(element)} keys must be equal to: {','.join(names)}")
        else:
            if is_object(element):
                raise status.invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(element, names[0], index)
            except status.ServingError as e:
                raise status.invalid_argument(f"Failed to process element: {index} of 'instances' list. Error: "
                                              f"{_status_text(e)}") from None
    arrays = {}
    for name, parts in rows.items():
        arrays[name] = np.stack(parts) if parts[0].dtype != object else _stack_objects(parts)
    return arrays


def _stack_objects(parts: list[np.ndarray]) -> np.ndarray:
    out = np.empty((len(parts),) + parts[0].shape, dtype=object)
    for i, part in enumerate(parts):
        out[i, ...] = part
    return out


def predict_request_arrays(doc: dict, infos: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """FillPredictRequestFromJson after the signature lookup: arrays by input alias, and "row" or "columnar"."""
    if not infos:
        raise status.invalid_argument("Failed to get input map for signature: DEFAULT")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Not formatted correctly expecting only "
                                      "one of 'inputs' or 'instances' keys to exist ")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Excepting 'instances' to be an "
                                          "list/array")
        if not instances:
            raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} No values in 'instances' array")
        return _instances_to_arrays(instances, infos), "row"
    if has_inputs:
        value = doc["inputs"]
        if not isinstance(value, dict) or _is_b64_object(value):
            if len(infos) > 1:
                raise status.invalid_argument("inputs is a plain value/list, but expecting an object as multiple "
                                              "input tensors required as per tensorinfo_map")
            name = sorted(infos)[0]
            return {name: _to_array(value, infos[name].dtype)}, "columnar"
        arrays = {}
        for name in sorted(infos):
            if name not in value:
                raise status.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
            arrays[name] = _to_array(value[name], infos[name].dtype)
        return arrays, "columnar"
    raise status.invalid_argument("Missing 'inputs' or 'instances' key")


def signature_name(doc: dict) -> str:
    """FillSignature: the optional "signature_name" must be a string."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} not formatted correctly. 'signature_name' "
                                      "key must be a string value.")
    return name


# === Classify / regress requests ===

def _add_feature_value(value: Any, name: str, feature: feature_pb2.Feature) -> None:
    kind = feature.WhichOneof("kind")

    def check(expected):
        if kind not in (None, expected):
            kind_str = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(kind, "UNKNOWN")
            raise status.invalid_argument(f"Unexpected element type in feature: {name} expecting type: {kind_str}")

    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64_object(value)):
        raise status.invalid_argument(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if isinstance(value, bool):
        check("int64_list")
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        check("bytes_list")
        feature.bytes_list.value.append(_decode_b64_object(value))
    elif isinstance(value, str):
        check("bytes_list")
        feature.bytes_list.value.append(_to_bytes(value))
    elif isinstance(value, float):
        check("float_list")
        if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise status.invalid_argument(f"Cannot convert JSON value: {value} to float without loss of precision.")
        feature.float_list.value.append(value)
    else:
        check("int64_list")
        if value > _INT64[1]:
            raise status.invalid_argument(f"Feature: {name} has uint64 element. Only int64 is supported.")
        if value < _INT64[0]:
            raise status.invalid_argument(f"Feature: {name} has element with unexpected JSON type: Number")
        feature.int64_list.value.append(value)


def example_from_json(value: Any, example: example_pb2.Example) -> None:
    """MakeExampleFromJsonObject."""
    if not isinstance(value, dict):
        raise status.invalid_argument(f"Example must be JSON object but got JSON {_json_type(value)}")
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in (content if isinstance(content, list) else [content]):
            _add_feature_value(item, name, feature)
        example.features.feature[name].CopyFrom(feature)


def fill_examples_request(doc: dict, request) -> None:
    """FillClassifyRegressRequestFromJson (signature_name, context, examples) into a Classification/RegressionRequest."""
    request.model_spec.signature_name = signature_name(doc)
    has_context = "context" in doc
    if has_context:
        example_from_json(doc["context"], request.input.example_list_with_context.context)
    if "examples" not in doc:
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} When method is classify, key 'examples' is "
                                      "expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Expecting 'examples' value to be an "
                                      "list/array")
    if not examples:
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} 'examples' value is an empty array")
    for value in examples:
        target = request.input.example_list_with_context.examples.add() if has_context \
            else request.input.example_list.examples.add()
        example_from_json(value, target)


# === Writing ===

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
