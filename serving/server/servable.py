"""One loaded SavedModel version: its SignatureDefs (as TF Serving sees them) and a way to run a signature."""

from __future__ import annotations

import logging
import os
import threading
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving.server import status
from serving.server.tensors import (array_dtype_enum, dtype_string, shape_compatible, shape_string,
                                    signature_shape_string)

SERVE_TAG = "serve"
logger = logging.getLogger(__name__)


def read_meta_graph(export_dir: str, tag: str = SERVE_TAG) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef tagged `serve` from `export_dir/saved_model.pb`."""
    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            saved_model.ParseFromString(f.read())
    except OSError as e:
        raise status.ServingError(status.NOT_FOUND, f"Could not read SavedModel at {path}: {e.strerror}") from None
    except Exception as e:  # DecodeError
        raise status.ServingError(status.DATA_LOSS, f"Could not parse SavedModel at {path}: {e}") from None
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise status.ServingError(
        status.NOT_FOUND, f"Could not find meta graph def matching supplied tags: {{ {tag} }}. To inspect "
        f"available tag-sets in the SavedModel, please use the SavedModel CLI: `saved_model_cli` ({export_dir})")


# How long unloading a version waits for the requests that hold it.
DRAIN_SECONDS = 30.0


class Servable:
    """A SavedModel version loaded with `tf.saved_model.load`, run through its signatures.

    Args:
        name: str. Model name.
        version: int. Version number (the folder name).
        path: str. The version folder.

    Inputs are validated before TensorFlow sees them (dtype, rank and fixed dimensions against the
    SignatureDef), so a bad request gets INVALID_ARGUMENT with a clear message; TF runtime errors keep their
    canonical code with the Python decorations stripped.
    """

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = int(version)
        self.path = path
        self.meta_graph = read_meta_graph(path)
        self.signature_defs = dict(self.meta_graph.signature_def)
        try:
            self._loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
        except Exception as e:
            message = getattr(e, "message", None) or str(e)
            raise status.ServingError(status.INTERNAL, f"Failed to load SavedModel at {path}: "
                                      f"{status.clean_tf_message(message)}") from None
        self._functions = dict(self._loaded.signatures)
        self._batchers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._requests_done = threading.Condition(self._lock)
        self._in_flight = 0
        self.function_calls = 0  # signature function calls made (a chunked request makes several)
        # A signature's first call instantiates and optimizes its function graph. Concurrent first calls each
        # do that work at once: 8 of them on a BERT-Tiny export's `classify` took 17 s and +300 MB each
        # instead of 0.7 s and +37 MB for one (the soak's classify requests right after a version swap; see
        # benchmarks/soak.py). So a signature's first call runs alone; the calls arriving meanwhile wait for it.
        self._first_call_gates: dict[str, threading.Lock] = {}
        self._called: set[str] = set()
        self._chunkable = {key: _chunkable(signature) for key, signature in self.signature_defs.items()}

    # === Batching hooks ===
    def batcher(self, signature_name: str, factory):
        """The batch scheduler of a signature, created on first use by `factory(self, signature_name)`."""
        with self._lock:
            batcher = self._batchers.get(signature_name)
            if batcher is None:
                batcher = self._batchers[signature_name] = factory(self, signature_name)
            return batcher

    # === Handles (TF Serving's ServableHandle: a version is unloaded only when no request holds it) ===
    def hold(self) -> None:
        with self._lock:
            self._in_flight += 1

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._requests_done.notify_all()

    def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Waits up to `drain_seconds` for the requests holding this version to finish, then stops its
        batch schedulers (tasks still queued after that get UNAVAILABLE)."""
        with self._lock:
            if not self._requests_done.wait_for(lambda: self._in_flight == 0, timeout=drain_seconds):
                logger.warning("unloading %s version %d with %d requests still running after %.0f s", self.name,
                               self.version, self._in_flight, drain_seconds)
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.stop()

    # === Running ===
    def validate_inputs(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> None:
        """Checks dtypes (TF's "Expects arg[i] to be X but Y is provided") and shapes against the signature."""
        signature = self.signature_defs[signature_name]
        for index, alias in enumerate(sorted(signature.inputs)):
            info = signature.inputs[alias]
            array = inputs[alias]
            got = array_dtype_enum(array)
            if got != info.dtype:
                raise status.invalid_argument(
                    f"Expects arg[{index}] to be {dtype_string(info.dtype)} but {dtype_string(got)} is provided")
            if not shape_compatible(array.shape, info.tensor_shape):
                raise status.invalid_argument(
                    f"Input \"{alias}\" has shape {shape_string(array.shape)} but the signature \"{signature_name}\" "
                    f"expects {signature_shape_string(info.tensor_shape)}")

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_aliases: Sequence[str] | None = None, cancel=None,
            chunk_rows: int | None = None) -> dict[str, np.ndarray]:
        """Runs a signature on validated numpy inputs; returns the requested outputs as numpy arrays.

        Args:
            signature_name: str. The signature.
            inputs: dict alias → numpy array, validated against the signature.
            output_aliases: aliases to return; default all outputs.
            cancel: `serving.server.limits.CancelCheck` or None. Checked before running and between chunks: once the
                caller is gone, the rest of the work is skipped (CANCELLED / DEADLINE_EXCEEDED).
            chunk_rows: int or None. Run more rows than this in chunks of this many rows, when the signature
                allows it (see `_chunkable`); each chunk's outputs are joined along dimension 0.
        """
        function = self._functions.get(signature_name)
        if function is None:
            raise status.ServingError(status.FAILED_PRECONDITION,
                                      f"Serving signature key \"{signature_name}\" not found.")
        signature = self.signature_defs[signature_name]
        aliases = list(output_aliases) if output_aliases else list(signature.outputs)
        if cancel is not None:
            cancel.check()
        rows = _common_rows(inputs) if self._chunkable.get(signature_name) else None
        if rows is None or not chunk_rows or chunk_rows <= 0 or rows <= chunk_rows:
            return self._call(signature_name, function, signature, inputs, aliases)
        parts = []
        for start in range(0, rows, chunk_rows):
            if start and cancel is not None:
                cancel.check()
            chunk = {alias: array[start:start + chunk_rows] for alias, array in inputs.items()}
            size = min(chunk_rows, rows - start)
            outputs = self._call(signature_name, function, signature, chunk, aliases)
            if any(np.ndim(v) == 0 or v.shape[0] != size or (parts and v.shape[1:] != parts[0][a].shape[1:])
                   for a, v in outputs.items()):
                if start == 0:  # the outputs do not follow the rows after all: run the request whole
                    logger.warning("signature %s of %s version %d does not keep the batch dimension; large "
                                   "requests run unchunked", signature_name, self.name, self.version)
                    self._chunkable[signature_name] = False
                    return self._call(signature_name, function, signature, inputs, aliases)
                raise status.ServingError(status.INTERNAL, f"Chunk outputs of signature \"{signature_name}\" "
                                                           "changed shape between chunks")
            parts.append(outputs)
        return {alias: np.concatenate([part[alias] for part in parts], axis=0) for alias in aliases}

    def _call(self, signature_name: str, function, signature, inputs: Mapping[str, np.ndarray],
              aliases) -> dict[str, np.ndarray]:
        if signature_name not in self._called:
            with self._lock:
                gate = self._first_call_gates.setdefault(signature_name, threading.Lock())
            with gate:  # the first call runs alone (see __init__)
                if signature_name not in self._called:
                    try:
                        return self._invoke(function, signature, inputs, aliases)
                    finally:
                        self._called.add(signature_name)
        return self._invoke(function, signature, inputs, aliases)

    def _invoke(self, function, signature, inputs: Mapping[str, np.ndarray], aliases) -> dict[str, np.ndarray]:
        feeds = {alias: tf.constant(inputs[alias], dtype=tf.dtypes.as_dtype(signature.inputs[alias].dtype))
                 for alias in signature.inputs}
        with self._lock:
            self.function_calls += 1
        try:
            outputs = function(**feeds)
        except tf.errors.OpError as e:
            raise status.ServingError(e.error_code, status.clean_tf_message(e.message)) from None
        except (TypeError, ValueError) as e:
            raise status.invalid_argument(status.clean_tf_message(str(e))) from None
        return {alias: outputs[alias].numpy() for alias in aliases}


def _chunkable(signature) -> bool:
    """Whether a signature's rows can run in separate calls and be joined: every input and output has a
    batch dimension, and every output's other dimensions are fixed (outputs padded to the longest row of the
    batch, such as token-level outputs, would not join)."""
    if not signature.inputs or not signature.outputs:
        return False
    for info in signature.inputs.values():
        if info.tensor_shape.unknown_rank or not info.tensor_shape.dim:
            return False
    for info in signature.outputs.values():
        shape = info.tensor_shape
        if shape.unknown_rank or not shape.dim or shape.dim[0].size > 0 or \
                any(d.size < 0 for d in shape.dim[1:]):
            return False
    return True


def _common_rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    """Dimension 0 shared by every input, or None."""
    rows = {np.shape(array)[0] if np.ndim(array) else None for array in inputs.values()}
    return rows.pop() if len(rows) == 1 else None
