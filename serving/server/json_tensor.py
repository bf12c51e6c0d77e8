"""JSON → arrays and tf.Examples for the REST API, rule for rule and message for message as TF Serving's
json_tensor.cc: row format (`instances`) and columnar format (`inputs`) of Predict, `{"b64": ...}` for binary
strings, the `examples` (and `context`) of Classify and Regress. Answers are written by `json_output`."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from serving.server import status
from serving.server.json_parse import (decode_b64_object, is_b64_object, json_type, signature_name, to_bytes,
                                       value_to_string)
from serving.server.tensors import dtype_string

_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_UINT32 = (0, 2 ** 32 - 1)
_UINT64 = (0, 2 ** 64 - 1)
# The integer types a JSON number may fill, and the range it must then lie in (TF Serving's checks).
_INT_RANGES = {
    types_pb2.DT_INT32: _INT32, types_pb2.DT_INT16: _INT32, types_pb2.DT_INT8: _INT32, types_pb2.DT_UINT8: _INT32,
    types_pb2.DT_INT64: _INT64, types_pb2.DT_UINT32: _UINT32, types_pb2.DT_UINT64: _UINT64,
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NUMPY_DTYPES = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT16: np.int16, types_pb2.DT_INT8: np.int8, types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT64: np.int64, types_pb2.DT_BOOL: np.bool_, types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64, types_pb2.DT_STRING: object,
}


# === Predict requests ===

def _type_error(value: Any, dtype: int) -> status.ServingError:
    return status.invalid_argument(f"JSON Value: {value_to_string(value)} Type: {json_type(value)} is not of "
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
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if not _is_int(value) or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return to_bytes(value)
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
            out.append(decode_b64_object(value))
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
        return isinstance(v, dict) and not is_b64_object(v)

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


def _list_member(doc: dict, key: str, not_a_list: str, empty: str) -> list:
    """doc[key], which must be a non-empty list (else INVALID_ARGUMENT "JSON Value: <doc> <not_a_list | empty>")."""
    value = doc[key]
    if not isinstance(value, list):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} {not_a_list}")
    if not value:
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} {empty}")
    return value


def predict_request_arrays(doc: dict, infos: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """FillPredictRequestFromJson after the signature lookup: arrays by input alias, and "row" or "columnar"."""
    if not infos:
        raise status.invalid_argument("Failed to get input map for signature: DEFAULT")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Not formatted correctly expecting only "
                                      "one of 'inputs' or 'instances' keys to exist ")
    if has_instances:
        instances = _list_member(doc, "instances", "Excepting 'instances' to be an list/array",
                                 "No values in 'instances' array")
        return _instances_to_arrays(instances, infos), "row"
    if has_inputs:
        value = doc["inputs"]
        if not isinstance(value, dict) or is_b64_object(value):
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


# === Classify / regress requests ===

def _add_feature_value(value: Any, name: str, feature: feature_pb2.Feature) -> None:
    kind = feature.WhichOneof("kind")

    def check(expected):
        if kind not in (None, expected):
            kind_str = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(kind, "UNKNOWN")
            raise status.invalid_argument(f"Unexpected element type in feature: {name} expecting type: {kind_str}")

    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_b64_object(value)):
        raise status.invalid_argument(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")
    if isinstance(value, bool):
        check("int64_list")
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        check("bytes_list")
        feature.bytes_list.value.append(decode_b64_object(value))
    elif isinstance(value, str):
        check("bytes_list")
        feature.bytes_list.value.append(to_bytes(value))
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
        raise status.invalid_argument(f"Example must be JSON object but got JSON {json_type(value)}")
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
    examples = _list_member(doc, "examples", "Expecting 'examples' value to be an list/array",
                            "'examples' value is an empty array")
    for value in examples:
        target = request.input.example_list_with_context.examples.add() if has_context \
            else request.input.example_list.examples.add()
        example_from_json(value, target)
