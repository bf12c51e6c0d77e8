"""Safe reading and writing of `.safetensors` files (numpy only; never pickle, never torch).

The header is validated before any tensor is read: a sane header length, valid UTF-8 JSON (nested no deeper
than Python's recursion limit allows: deeper is an error, not a `RecursionError`), known dtypes, shapes of
non-negative integers whose element count fits int64 (computed exactly, not in wrapping int64), and data
offsets that lie inside the file, match each tensor's size, and tile the data section as the format requires:
no two tensors overlap, no gap between them, none after the last (what the `safetensors` library itself
checks when it loads). Tensors are then read with `safetensors.numpy`.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import safetensors.numpy

from bert_tf.atomic_files import atomic_path
from bert_tf.checkpoints.errors import CheckpointError

_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
_INT64_MAX = 2 ** 63 - 1
_ITEM_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def read_header(path: str) -> dict:
    """The validated header of a safetensors file: `{name: {"dtype", "shape", "data_offsets"}}`."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: file not found")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len < 2 or header_len > min(_MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{path}: not a safetensors file (header length {header_len} does not fit "
                                  f"a file of {size} bytes)")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # ValueError: JSONDecodeError, or an integer of > 4300 digits
        raise CheckpointError(f"{path}: safetensors header is not valid JSON ({str(e)[:300]})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: safetensors header is not usable JSON (nested too deeply to parse)") \
            from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is not a JSON object")
    data_size = size - 8 - header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{path}: malformed header entry for {_short(name)}: {_short(info)}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ITEM_SIZES:
            raise CheckpointError(f"{path}: tensor {_short(name)} has unknown dtype {_short(dtype)}")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise CheckpointError(f"{path}: tensor {_short(name)} has an invalid shape {_short(shape)}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise CheckpointError(f"{path}: tensor {_short(name)} has data offsets {_short(offsets)} outside the "
                                  f"{data_size}-byte data section")
        expected = _size_in_bytes(shape, _ITEM_SIZES[dtype])
        if expected is None:
            raise CheckpointError(f"{path}: tensor {_short(name)} has a shape {_short(shape)} whose size in bytes "
                                  "overflows int64")
        if offsets[1] - offsets[0] != expected:
            raise CheckpointError(f"{path}: tensor {_short(name)} ({dtype} {_short(shape)}) needs {expected} bytes "
                                  f"but its offsets span {offsets[1] - offsets[0]}")
        tensors[name] = info
    _check_tiling(path, tensors, data_size)
    return tensors


def _size_in_bytes(shape, item_size):
    """`prod(shape) * item_size` in Python ints, or None as soon as a partial product passes int64 (as the
    safetensors library's checked multiplication does; `np.prod(shape, dtype=np.int64)` silently wraps:
    [2**32, 2**32] gave 0). Stopping early also keeps a long list of huge dimensions cheap."""
    size = item_size
    for dim in shape:
        size *= dim
        if size > _INT64_MAX:
            return None
    return size


def _short(value, limit=120):
    """`repr(value)`, cut to `limit` characters (header values come from the file: any size, any depth)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<a {type(value).__name__} nested too deeply to show>"
    return text if len(text) <= limit else text[:limit] + "..."


def _check_tiling(path, tensors, data_size):
    """The tensors' byte ranges cover the data section exactly, in order: no overlap (two tensors sharing bytes),
    no gap, nothing after the last one. Empty tensors may sit at any boundary."""
    end, previous = 0, None
    for name, info in sorted(tensors.items(), key=lambda item: (item[1]["data_offsets"], item[0])):
        start, stop = info["data_offsets"]
        if start < end:
            raise CheckpointError(f"{path}: tensor {_short(name)} (bytes {start}-{stop}) overlaps tensor "
                                  f"{_short(previous)} (which ends at byte {end})")
        if start > end:
            raise CheckpointError(f"{path}: bytes {end}-{start} of the data section belong to no tensor (a gap "
                                  f"before {_short(name)}; safetensors data is contiguous)")
        end, previous = stop, name
    if end != data_size:
        raise CheckpointError(f"{path}: the tensors end at byte {end} of a {data_size}-byte data section (bytes "
                              "after the last tensor belong to no tensor)")


def read_shapes(path: str) -> dict:
    """`{name: shape}` from the validated header (no tensor read)."""
    return {name: tuple(info["shape"]) for name, info in read_header(path).items()}


def read_tensors(path: str) -> dict:
    """All tensors of a safetensors file as numpy arrays, after `read_header` validated it."""
    read_header(path)
    try:
        return safetensors.numpy.load_file(path)
    except Exception as e:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{path}: cannot read tensors ({e})") from None


def write_tensors(path: str, tensors: dict, metadata: dict | None = None) -> None:
    """Writes `tensors` (name → numpy array) to `path` through a temporary name (atomic on one filesystem)."""
    with atomic_path(path) as tmp:
        safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp,
                                    metadata=metadata)
