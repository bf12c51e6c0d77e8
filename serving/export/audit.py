"""Lists the ops a SavedModel's graphs use and says which of them core TensorFlow does not know.

A SavedModel that uses only core ops loads in any TF 2.x program and any TF Serving build; one that uses
tensorflow-text ops needs `import tensorflow_text` (and, on TF Serving, a build whose embedded TF Text has those
ops). Run this in a process that has NOT imported tensorflow_text: the op registry then holds core ops only.
"""

from __future__ import annotations

import collections
import os
import sys

from tensorflow.core.protobuf import saved_model_pb2


class AuditError(ValueError):
    """The path is not a readable SavedModel."""


def list_ops(saved_model_dir: str) -> collections.Counter:
    """Counts op types over every graph and function in `saved_model_dir/saved_model.pb`."""
    path = os.path.join(saved_model_dir, "saved_model.pb")
    if not os.path.isfile(path):
        raise AuditError(f"not a SavedModel directory (no saved_model.pb): {saved_model_dir}")
    saved_model = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            saved_model.ParseFromString(f.read())
    except Exception as e:  # protobuf raises DecodeError, a bare Exception subclass
        raise AuditError(f"{path}: not a valid SavedModel protobuf ({e})") from None
    counts = collections.Counter()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        counts.update(node.op for node in graph.node)
        for function in graph.library.function:
            counts.update(node.op for node in function.node_def)
    # Calls to graph functions show up as ops named after the function; they are not kernels.
    function_names = {f.signature.name for mg in saved_model.meta_graphs for f in mg.graph_def.library.function}
    for name in function_names:
        counts.pop(name, None)
    return counts


def is_core_op(op_type: str) -> bool:
    """True when this process's op registry knows the op without tensorflow_text loaded."""
    if "tensorflow_text" in sys.modules:
        raise RuntimeError("tensorflow_text is imported in this process; core ops cannot be told apart. "
                           "Run the audit in a fresh process.")
    from tensorflow.python.framework import op_def_registry
    return op_def_registry.get(op_type) is not None


def _registered_ops() -> set[str]:
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api
    buffer = c_api.TF_GetAllOpList()
    try:
        return {op.name for op in op_def_pb2.OpList.FromString(c_api.TF_GetBuffer(buffer)).op}
    finally:
        c_api.TF_DeleteBuffer(buffer)


def installed_tf_text_ops() -> list[str]:
    """The op names that importing the installed tensorflow-text adds to the registry (imports it!)."""
    before = _registered_ops()
    import tensorflow_text  # noqa: F401
    return sorted(_registered_ops() - before)


def audit(saved_model_dir: str, allowed_extra_ops: set[str] = frozenset()) -> tuple[collections.Counter, list[str]]:
    """Returns (op counts, sorted list of ops that are neither core TF nor in `allowed_extra_ops`)."""
    counts = list_ops(saved_model_dir)
    foreign = sorted(op for op in counts if op not in allowed_extra_ops and not is_core_op(op))
    return counts, foreign
