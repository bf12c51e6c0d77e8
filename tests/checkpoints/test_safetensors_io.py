"""Safetensors headers are validated before any tensor is read; unsafe formats are refused."""

import json
import os
import struct

import numpy as np
import pytest

from bert_tf.checkpoints import CheckpointError, load_encoder, safetensors_io


def _write_raw(path, header, data=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)
    return str(path)


def test_round_trip_and_header(tmp_path):
    path = str(tmp_path / "w.safetensors")
    tensors = {"a": np.arange(6, dtype="float32").reshape(2, 3), "b": np.ones(5, "float32")}
    safetensors_io.write_tensors(path, tensors, metadata={"format": "pt"})
    assert safetensors_io.read_shapes(path) == {"a": (2, 3), "b": (5,)}
    back = safetensors_io.read_tensors(path)
    np.testing.assert_array_equal(back["a"], tensors["a"])
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]  # no temporary left behind


@pytest.mark.parametrize("case, header, data, message", [
    ("bad json", None, b"", "not valid JSON"),
    ("offsets past the end", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "outside"),
    ("size mismatch", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12 bytes"),
    ("unknown dtype", {"a": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype"),
    ("negative shape", {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "invalid shape"),
    ("not an object", [1, 2], b"", "not a JSON object"),
])
def test_invalid_headers_are_rejected(tmp_path, case, header, data, message):
    path = str(tmp_path / "bad.safetensors")
    if header is None:
        raw = b"{not json"
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
    else:
        _write_raw(path, header, data)
    with pytest.raises(CheckpointError, match=message):
        safetensors_io.read_header(path)


def _f32(shape, start, stop):
    return {"dtype": "F32", "shape": shape, "data_offsets": [start, stop]}


_OVERFLOWING_OR_OVERLAPPING = [
    # np.prod(..., dtype=int64) wraps: 2**32 * 2**32 elements "need" 0 bytes, and [0, 0] matched.
    ("shape product wraps to 0", {"a": _f32([2 ** 32, 2 ** 32], 0, 0)}, b"", "overflows int64"),
    ("shape product wraps to 4 elements", {"a": _f32([2 ** 62 + 1, 4], 0, 16)}, b"\0" * 16, "overflows int64"),
    ("bytes overflow, elements fit", {"a": {"dtype": "F64", "shape": [2 ** 61], "data_offsets": [0, 0]}}, b"",
     "overflows int64"),
    ("many huge dimensions", {"a": _f32([2 ** 62] * 100_000, 0, 0)}, b"", "overflows int64"),
    ("overlapping tensors", {"a": _f32([2], 0, 8), "b": _f32([2], 4, 12)}, b"\0" * 12, "'b' .*overlaps tensor 'a'"),
    ("the same bytes twice", {"a": _f32([2], 0, 8), "b": _f32([2], 0, 8)}, b"\0" * 8, "overlaps"),
    ("empty tensor inside another", {"a": _f32([2], 0, 8), "b": _f32([0], 4, 4)}, b"\0" * 8, "overlaps"),
    ("a gap", {"a": _f32([1], 0, 4), "b": _f32([1], 8, 12)}, b"\0" * 12, "bytes 4-8 .* belong to no tensor"),
    ("bytes after the last tensor", {"a": _f32([1], 0, 4)}, b"\0" * 12, "end at byte 4 of a 12-byte"),
    # Python refuses to convert more than 4300 digits (a ValueError that is not a JSONDecodeError).
    ("integer of 5000 digits", b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 0]}}',
     b"", "not valid JSON"),
]


@pytest.mark.parametrize("case, header, data, message", _OVERFLOWING_OR_OVERLAPPING,
                         ids=[c[0] for c in _OVERFLOWING_OR_OVERLAPPING])
def test_overflowing_and_overlapping_headers_are_rejected(tmp_path, case, header, data, message):
    path = _write_raw(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(CheckpointError, match=message):
        safetensors_io.read_header(path)
    with pytest.raises(CheckpointError):
        safetensors_io.read_tensors(path)


def test_deeply_nested_header_is_a_checkpoint_error(tmp_path):
    for depth in (100_000, 1_000):  # deeper than the recursion limit; parseable but still not a header
        raw = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
        path = tmp_path / f"deep{depth}.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw)
        with pytest.raises(CheckpointError, match="nested too deeply|malformed header entry") as error:
            safetensors_io.read_header(str(path))
        assert len(str(error.value)) < 500


def test_empty_tensors_and_metadata_tile_the_data_section(tmp_path):
    """Zero-size tensors at any boundary are fine (the safetensors library writes and reads them)."""
    path = str(tmp_path / "w.safetensors")
    tensors = {"e0": np.zeros((0, 3), "float32"), "a": np.ones(3, "float32"), "e1": np.zeros(0, "int64"),
               "b": np.arange(2, dtype="int8")}
    safetensors_io.write_tensors(path, tensors, metadata={"format": "pt"})
    assert safetensors_io.read_shapes(path) == {"e0": (0, 3), "a": (3,), "e1": (0,), "b": (2,)}
    header = {"__metadata__": {"k": "v"}, "z": _f32([0], 0, 0), "a": _f32([1], 0, 4), "y": _f32([0], 4, 4)}
    assert set(safetensors_io.read_header(_write_raw(tmp_path / "h.safetensors", header, b"\0" * 4))) == {
        "z", "a", "y"}


def test_absurd_header_length_is_rejected(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
    with pytest.raises(CheckpointError, match="header length"):
        safetensors_io.read_header(str(path))
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="shorter"):
        safetensors_io.read_header(str(tmp_path / "short.safetensors"))


def test_pickle_checkpoints_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 41}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="pickle-based"):
        load_encoder(str(tmp_path))
    with pytest.raises(CheckpointError, match="pickle-based"):
        load_encoder(str(tmp_path / "pytorch_model.bin"))
