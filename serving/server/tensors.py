"""TensorProto ⇄ numpy conversions with TF Serving's conventions (AsProtoField outputs, DataTypeString names)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.server import status
from serving.server.limits import check_request_rows


def dtype_string(dtype_enum: int) -> str:
    """TensorFlow's DataTypeString: DT_FLOAT → "float", DT_STRING → "string", DT_INT64 → "int64"."""
    name = types_pb2.DataType.Name(dtype_enum) if dtype_enum in types_pb2.DataType.values() else str(dtype_enum)
    return name[3:].lower() if name.startswith("DT_") else name


def array_dtype_enum(array: np.ndarray) -> int:
    """The DataType enum of a numpy array (object/bytes/str arrays are DT_STRING)."""
    if array.dtype.kind in ("O", "S", "U"):
        return types_pb2.DT_STRING
    return tf.as_dtype(array.dtype).as_datatype_enum


def to_string_array(values) -> np.ndarray:
    """A numpy object array of bytes from (nested) lists of str/bytes (str is UTF-8 encoded)."""
    array = np.asarray(values, dtype=object)
    flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.ravel()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


# Where each dtype's values travel in a TensorProto, and how many proto values make one element
# (TF's ProtoHelper<T>: complex numbers are two floats).
_VALUES_FIELD = {
    types_pb2.DT_FLOAT: ("float_val", 1), types_pb2.DT_DOUBLE: ("double_val", 1),
    types_pb2.DT_INT32: ("int_val", 1), types_pb2.DT_INT16: ("int_val", 1), types_pb2.DT_INT8: ("int_val", 1),
    types_pb2.DT_UINT8: ("int_val", 1), types_pb2.DT_UINT16: ("int_val", 1), types_pb2.DT_QINT8: ("int_val", 1),
    types_pb2.DT_QUINT8: ("int_val", 1), types_pb2.DT_QINT16: ("int_val", 1), types_pb2.DT_QUINT16: ("int_val", 1),
    types_pb2.DT_QINT32: ("int_val", 1), types_pb2.DT_INT64: ("int64_val", 1),
    types_pb2.DT_UINT32: ("uint32_val", 1), types_pb2.DT_UINT64: ("uint64_val", 1),
    types_pb2.DT_BOOL: ("bool_val", 1), types_pb2.DT_STRING: ("string_val", 1),
    types_pb2.DT_HALF: ("half_val", 1), types_pb2.DT_BFLOAT16: ("half_val", 1),
    types_pb2.DT_COMPLEX64: ("scomplex_val", 2), types_pb2.DT_COMPLEX128: ("dcomplex_val", 2),
    types_pb2.DT_RESOURCE: ("resource_handle_val", 1), types_pb2.DT_VARIANT: ("variant_val", 1),
}
_MAX_ELEMENTS = 2 ** 63 - 1  # TensorShape's num_elements is an int64
_MAX_RANK = 254  # TensorShape::MaxDimensions()

# TF's Tensor::FromProto (tensor.cc, FromProtoField) fills a tensor whose proto carries fewer values than its
# shape declares: with the last value repeated, or with zeros when there are none. tf.make_tensor_proto
# relies on it (`tf.make_tensor_proto(0, shape=[8, 128])` sends ONE value), and TF Serving inherits it, so a
# ~40-byte proto can ask for any size: dims [250000000] with one string is 250M strings. We decide:
# - values == elements, or `tensor_content` of exactly elements x item size: accepted (the request paid for
#   every element it gets, so the cost is bounded by the message size);
# - 1 <= values < elements ("splat" / padding with the last value, as TF does): accepted only within the row
#   limit and up to MAX_PADDED_ELEMENTS elements, so a valid tf.make_tensor_proto(scalar, shape=...) client
#   keeps working while no request expands to a large allocation;
# - no values at all for a non-empty shape: refused (TF would zero-fill it; it is never a real request, and
#   dims [20000] with no values would otherwise run a 20k-row inference);
# - more values than elements: refused (tf.make_ndarray cannot reshape them).
# All of it is decided from the dims and the value counts, before anything is allocated.
MAX_PADDED_ELEMENTS = 1 << 20


def _parse_error(alias: str, detail: str = "") -> status.ServingError:
    return status.invalid_argument(f"tensor parsing error: {alias}" + (f": {detail}" if detail else ""))


def _check_proto_size(proto: tensor_pb2.TensorProto, alias: str, max_rows: int | None) -> None:
    """Refuses, before any allocation, a proto whose shape is invalid, exceeds the row limit, or declares
    more elements than it carries (beyond the bounded padding TF allows)."""
    if proto.dtype == types_pb2.DT_INVALID or proto.tensor_shape.unknown_rank:
        raise _parse_error(alias)
    dims = [d.size for d in proto.tensor_shape.dim]
    if len(dims) > _MAX_RANK or any(d < 0 for d in dims):
        raise _parse_error(alias)
    elements = 1
    for d in dims:  # Python ints do not overflow: compare with int64's range as TensorShape does
        elements *= d
        if elements > _MAX_ELEMENTS:
            raise _parse_error(alias, f"shape {shape_string(dims)} has more than 2^63-1 elements")
    if dims:
        check_request_rows(dims[0], max_rows, alias)
    if elements == 0:
        return
    if proto.tensor_content and proto.dtype != types_pb2.DT_STRING:
        try:
            item_size = tf.dtypes.as_dtype(proto.dtype).size
        except (TypeError, ValueError):
            raise _parse_error(alias) from None
        if len(proto.tensor_content) != elements * item_size:
            raise _parse_error(alias, f"shape {shape_string(dims)} needs {elements * item_size} bytes of "
                                      f"tensor_content, got {len(proto.tensor_content)}")
        return
    field, per_element = _VALUES_FIELD.get(proto.dtype, (None, 1))
    values = len(getattr(proto, field)) // per_element if field else 0
    if values == elements:
        return
    if values == 0:
        raise _parse_error(alias, f"shape {shape_string(dims)} declares {elements} elements but the tensor "
                                  "carries no values")
    if values > elements:
        raise _parse_error(alias)
    if elements > MAX_PADDED_ELEMENTS:
        raise _parse_error(alias, f"shape {shape_string(dims)} declares {elements} elements but the tensor "
                                  f"carries {values}; padding to the declared shape is accepted up to "
                                  f"{MAX_PADDED_ELEMENTS} elements")


def proto_to_ndarray(proto: tensor_pb2.TensorProto, alias: str, max_rows: int | None = None) -> np.ndarray:
    """tf.make_ndarray with TF's Tensor::FromProto validation; failure → "tensor parsing error: ALIAS".

    Args:
        proto: TensorProto. The request's tensor.
        alias: str. The input's name, for messages.
        max_rows: int or None. The per-request row limit (dimension 0); None or <= 0: none.
    """
    _check_proto_size(proto, alias, max_rows)
    try:
        dims = [d.size for d in proto.tensor_shape.dim]
        array = tf.make_ndarray(proto)
        if list(array.shape) != dims:
            raise ValueError("shape mismatch")
        if proto.dtype == types_pb2.DT_STRING:
            array = array.astype(object)
        return array
    except Exception:
        raise _parse_error(alias) from None


_FIELD_BY_DTYPE = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val", types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val", types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val", types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
}


def ndarray_to_proto(array: np.ndarray, dtype_enum: int | None = None) -> tensor_pb2.TensorProto:
    """A TensorProto with values in the typed repeated field, as TF Serving's Predict answers (AsProtoField)."""
    array = np.asarray(array)
    if dtype_enum is None:
        dtype_enum = array_dtype_enum(array)
    field = _FIELD_BY_DTYPE.get(dtype_enum)
    if field is None:  # half, bfloat16, complex, ...: fall back to tensor_content
        proto = tf.make_tensor_proto(array, dtype=tf.dtypes.as_dtype(dtype_enum))
        return proto
    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]))
    flat = array.ravel()
    if field == "string_val":
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat)
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def shape_compatible(shape: tuple, signature_shape: tensor_shape_pb2.TensorShapeProto) -> bool:
    """True when `shape` fits a signature shape (unknown rank, or same rank with -1 wildcards)."""
    if signature_shape.unknown_rank:
        return True
    dims = [d.size for d in signature_shape.dim]
    return len(dims) == len(shape) and all(d < 0 or d == s for d, s in zip(dims, shape))


def shape_string(dims) -> str:
    return "[" + ",".join(str(int(d)) for d in dims) + "]"


def signature_shape_string(signature_shape: tensor_shape_pb2.TensorShapeProto) -> str:
    if signature_shape.unknown_rank:
        return "[?]"
    return "[" + ",".join("?" if d.size < 0 else str(d.size) for d in signature_shape.dim) + "]"
