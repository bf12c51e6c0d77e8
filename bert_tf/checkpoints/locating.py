"""Where a checkpoint is and which format it has (`detect_format`): files, directories, TF checkpoint prefixes,
and the object graph of bert_tf's own training checkpoints. The formats are described in `loading.py`."""

from __future__ import annotations

import fnmatch
import glob
import os

from bert_tf.checkpoints import names
from bert_tf.checkpoints.errors import CheckpointError

KERAS = "keras"
BERT_TF_TRAINING = "bert_tf_training"
FORMATS = (names.HUGGING_FACE, names.GOOGLE_TF1, names.MODEL_GARDEN, BERT_TF_TRAINING, KERAS)
# Object paths at which a bert_tf training checkpoint holds the encoder: a task model's `.encoder`, an
# `ElectraPretrainer`'s `.discriminator`, or the encoder itself as the model. (Paths in the object graph: the variables' own keys may sit elsewhere, e.g.
# under optimizer/_trainable_variables/N when the optimizer tracks them.)
_TRAINING_ENCODER_ROOTS = ("model/encoder", "model/discriminator", "model")
_UNSAFE = ("pytorch_model.bin", "*.bin", "*.pt", "*.pth", "*.ckpt.pt", "*.pkl", "*.h5", "*.msgpack")


def _tf():
    import tensorflow as tf
    return tf


def _is_tf_prefix(path):
    return os.path.isfile(path + ".index")


def _locate(path: str):
    """(format or "tf", weights path, directory) for a file, directory or checkpoint prefix."""
    path = os.fspath(path)
    if os.path.isfile(path):
        if path.endswith(".keras"):
            return KERAS, path, os.path.dirname(path)
        if path.endswith(".safetensors"):
            return names.HUGGING_FACE, path, os.path.dirname(path)
        if path.endswith(".safetensors.index.json"):
            return names.HUGGING_FACE, path, os.path.dirname(path)
        if path.endswith(".index"):
            return "tf", path[: -len(".index")], os.path.dirname(path)
        if ".data-" in os.path.basename(path):
            return "tf", path.split(".data-")[0], os.path.dirname(path)
        if any(fnmatch.fnmatch(os.path.basename(path), p) for p in _UNSAFE):
            raise CheckpointError(f"{path}: pickle-based (PyTorch/HDF5) checkpoints are not loaded for safety; "
                                  "convert it to safetensors (transformers: save_pretrained(safe_serialization=True))")
        raise CheckpointError(f"{path}: not a checkpoint bert_tf knows (.safetensors, .keras, a TF checkpoint)")
    if os.path.isdir(path):
        for name in ("model.safetensors.index.json", "model.safetensors"):
            if os.path.isfile(os.path.join(path, name)):
                return names.HUGGING_FACE, os.path.join(path, name), path
        keras_files = sorted(glob.glob(os.path.join(path, "*.keras")))
        if len(keras_files) == 1:
            return KERAS, keras_files[0], path
        latest = _tf().train.latest_checkpoint(path) if os.path.isfile(os.path.join(path, "checkpoint")) else None
        if latest and _is_tf_prefix(latest):
            return "tf", latest, path
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return "tf", indexes[0][: -len(".index")], path
        if len(indexes) > 1:
            raise CheckpointError(f"{path}: several TF checkpoints and no 'checkpoint' file naming the latest: "
                                  f"{[os.path.basename(i) for i in indexes]}; pass the prefix you want")
        unsafe = [f for p in _UNSAFE for f in glob.glob(os.path.join(path, p))]
        if unsafe:
            raise CheckpointError(f"{path}: only pickle-based weights ({os.path.basename(unsafe[0])}); they are not "
                                  "loaded for safety: convert to model.safetensors "
                                  "(transformers: save_pretrained(safe_serialization=True))")
        if len(keras_files) > 1:
            raise CheckpointError(f"{path}: several .keras files {keras_files}; pass the one you want")
        raise CheckpointError(f"{path}: no checkpoint found (expected model.safetensors, a TF checkpoint "
                              f"'*.index' + data, or a .keras file); it holds {sorted(os.listdir(path))[:10]}")
    if _is_tf_prefix(path):
        return "tf", path, os.path.dirname(path)
    raise CheckpointError(f"{path}: no such file, directory or checkpoint prefix")


def _tf_shapes(prefix):
    try:
        reader = _tf().train.load_checkpoint(prefix)
        return reader, {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    except Exception as e:  # tf.errors.OpError subclasses: DataLossError, NotFoundError, ...
        raise CheckpointError(f"{prefix}: cannot read the TensorFlow checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _object_graph(reader):
    """The object graph of an object-based TF checkpoint (None for a name-based one)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    if not reader.has_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"):
        return None
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return graph


def _node_at(graph, path):
    """The node id at an object path such as "model/encoder", or None."""
    node = 0
    for part in path.split("/"):
        node = next((c.node_id for c in graph.nodes[node].children if c.local_name == part), None)
        if node is None:
            return None
    return node


def _count_variables_under(graph, node):
    seen, stack, count = {node}, [node], 0
    while stack:
        current = graph.nodes[stack.pop()]
        count += any(a.name == "VARIABLE_VALUE" for a in current.attributes)
        for child in current.children:
            if child.node_id not in seen:
                seen.add(child.node_id)
                stack.append(child.node_id)
    return count


def _training_root(graph):
    """The object path of the encoder in a bert_tf training checkpoint, or None if it is not one."""
    if graph is None:
        return None
    return next((root for root in _TRAINING_ENCODER_ROOTS
                 if _node_at(graph, root + "/token_embedding") is not None
                 and _node_at(graph, root + "/pooler") is not None), None)


def _tf_format(prefix, shapes, reader):
    if any(n.startswith("bert/") for n in shapes):
        return names.GOOGLE_TF1
    if _training_root(_object_graph(reader)) is not None:
        return BERT_TF_TRAINING
    if any("encoder/layer_with_weights-" in n for n in shapes):
        return names.MODEL_GARDEN
    raise CheckpointError(f"{prefix}: a TensorFlow checkpoint but not a BERT bert_tf knows (neither "
                          "google-research/bert's 'bert/...' names nor Model Garden's 'encoder/layer_with_weights-N'); "
                          f"its names include {sorted(shapes)[:6]}")


def detect_format(path: str) -> str:
    """The format of the checkpoint at `path`: `"hf"`, `"google_tf1"`, `"model_garden"` or `"keras"`."""
    fmt, weights, _ = _locate(path)
    if fmt == "tf":
        reader, shapes = _tf_shapes(weights)
        return _tf_format(weights, shapes, reader)
    return fmt
