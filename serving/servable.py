"""One loaded SavedModel version: its SignatureDefs (as TF Serving sees them) and a way to run a signature."""

from __future__ import annotations

import logging
import os
import threading
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import status
from serving.tensors import (array_dtype_enum, dtype_string, shape_compatible, shape_string,
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
            output_aliases: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Runs a signature on validated numpy inputs; returns the requested outputs as numpy arrays."""
        function = self._functions.get(signature_name)
        if function is None:
            raise status.ServingError(status.FAILED_PRECONDITION,
                                      f"Serving signature key \"{signature_name}\" not found.")
        signature = self.signature_defs[signature_name]
        feeds = {alias: tf.constant(inputs[alias], dtype=tf.dtypes.as_dtype(signature.inputs[alias].dtype))
                 for alias in signature.inputs}
        try:
            outputs = function(**feeds)
        except tf.errors.OpError as e:
            raise status.ServingError(e.error_code, status.clean_tf_message(e.message)) from None
        except (TypeError, ValueError) as e:
            raise status.invalid_argument(status.clean_tf_message(str(e))) from None
        aliases = list(output_aliases) if output_aliases else list(signature.outputs)
        result = {}
        for alias in aliases:
            value = outputs[alias].numpy()
            result[alias] = value
        return result
