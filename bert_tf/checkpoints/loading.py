"""Loading any BERT checkpoint users bring into `BertEncoder` / `BertPretrainer`.

Formats (detected from the path, see `detect_format`):
- `"hf"`: a Hugging Face BERT directory (`config.json`, `model.safetensors` or a sharded
  `model.safetensors.index.json`, `vocab.txt`) with the `BertModel` key set (no prefix) or the
  `BertForPreTraining` one (`bert.` prefix, `cls.predictions.*`, `cls.seq_relationship.*`). bert_tf's own
  directories (written by `save_hf`) are this format plus a `bert_config.json`, which takes precedence
  because it records `lowercase`.
- `"google_tf1"`: google-research/bert's checkpoints (`bert_config.json`, `bert_model.ckpt.{index,data-*}`,
  `vocab.txt`); give the directory or the prefix (`.../bert_model.ckpt`).
- `"model_garden"`: TF Model Garden object-based checkpoints of `BertEncoder` or `BertPretrainerV2`
  (`encoder/layer_with_weights-N/...`, `masked_lm/...`). They carry no config: sizes are inferred from the
  tensor shapes (the head count from the einsum kernels), `hidden_act`/`lowercase` from the arguments
  (defaults "gelu" and True), or pass `config=`/`config_file=` (a `bert_config.json` beside it is also used).
- `"bert_tf_training"`: a `tf.train.Checkpoint(model=...)` written by `bert_tf.training.Trainer` around a
  `BertPretrainer`, a `BertEncoder` or any task model with an `.encoder` (names `model/encoder/...`); it needs
  the `bert_config.json` beside it (or `config=`/`config_file=`), which the training scripts write into their
  output directory. Only the model's variables are read (optimizer slots, step, input position are ignored).
- `"keras"`: a bert_tf `.keras` file (a `BertEncoder`, a `BertPretrainer`, or any model with an `.encoder`),
  or a directory holding exactly one.

Only safe formats are read: safetensors (numpy, header validated) and TensorFlow checkpoints. PyTorch
`.bin`/`.pt` files are refused (they are pickles).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import logging
import os

import numpy as np

from bert_tf.checkpoints import model_weights, names, safetensors_io
from bert_tf.checkpoints.checkpoint import Checkpoint
from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.task_loading import load_task
from bert_tf.config import BertConfig, ConfigError

logger = logging.getLogger(__name__)

KERAS = "keras"
BERT_TF_TRAINING = "bert_tf_training"
FORMATS = (names.HUGGING_FACE, names.GOOGLE_TF1, names.MODEL_GARDEN, BERT_TF_TRAINING, KERAS)
# Object paths at which a bert_tf training checkpoint holds the encoder: a task model's `.encoder`, or the
# encoder itself as the model. (Paths in the object graph: the variables' own keys may sit elsewhere, e.g.
# under optimizer/_trainable_variables/N when the optimizer tracks them.)
_TRAINING_ENCODER_ROOTS = ("model/encoder", "model")
_TRAINING_HEADS = {"masked-LM": "model/masked_lm_head", "next-sentence": "model/next_sentence_head"}
_UNSAFE = ("pytorch_model.bin", "*.bin", "*.pt", "*.pth", "*.ckpt.pt", "*.pkl", "*.h5", "*.msgpack")


# === Locating files ===
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


# Where bert_tf puts a model's vocabulary: beside it, or in the converted copies fine-tuning writes beside a
# best_model.keras.
_VOCAB_PLACES = ("vocab.txt", os.path.join("best_hf", "vocab.txt"), os.path.join("best_google", "vocab.txt"))


def find_vocab(path: str) -> str:
    """The `vocab.txt` of a checkpoint or `.keras` model: in its directory, or in the `best_hf/`/`best_google/`
    copies beside a fine-tuned `best_model.keras`; `CheckpointError` naming the places looked in if none."""
    path = os.fspath(path)
    if os.path.isfile(path) and path.endswith(".keras"):
        directory = os.path.dirname(path)
    else:
        directory = _locate(path)[2]
    candidates = [os.path.join(directory, place) for place in _VOCAB_PLACES]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise CheckpointError(f"no vocab.txt beside the checkpoint {path} (looked for {', '.join(candidates)}); "
                          "pass the vocabulary file explicitly")


# === Config ===
def _lowercase_from_tokenizer_config(directory):
    path = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                value = json.load(f).get("do_lower_case")
        except (OSError, ValueError, AttributeError):
            return None
        if isinstance(value, bool):
            return value
    return None


def _has_key(path, key):
    try:
        with open(path, encoding="utf-8") as f:
            return key in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def _resolve_config(fmt, directory, shapes, source, config, config_file, lowercase, hidden_act):
    if config is not None and config_file is not None:
        raise CheckpointError("pass config (a BertConfig) or config_file (a path), not both")
    if config is not None:
        if not isinstance(config, BertConfig):
            raise CheckpointError(f"config must be a BertConfig, got {type(config).__name__}; "
                                  "pass a path as config_file=")
        resolved = config.replace(lowercase=lowercase) if lowercase is not None else config
    else:
        if config_file is None:
            candidates = {
                names.HUGGING_FACE: ["bert_config.json", "config.json"],
                names.GOOGLE_TF1: ["bert_config.json", "config.json"],
                names.MODEL_GARDEN: ["bert_config.json"],
                BERT_TF_TRAINING: ["bert_config.json", "config.json"],
            }[fmt]
            found = [os.path.join(directory, c) for c in candidates if os.path.isfile(os.path.join(directory, c))]
            if fmt == names.HUGGING_FACE and len(found) == 2 and not _has_key(found[0], "lowercase"):
                found = found[1:]  # a stray Google config: the HF one describes these weights
            config_file = found[0] if found else None
        if config_file is None:
            if fmt != names.MODEL_GARDEN:
                raise CheckpointError(f"{source}: no bert_config.json/config.json beside the checkpoint; "
                                      "pass config= or config_file=")
            resolved = names.infer_config(fmt, shapes, source=source, hidden_act=hidden_act,
                                          lowercase=True if lowercase is None else lowercase)
            logger.info("%s: Model Garden checkpoint without a config; inferred %s", source, resolved)
        else:
            if lowercase is None and not _has_key(config_file, "lowercase"):
                lowercase = _lowercase_from_tokenizer_config(directory)
                if lowercase is None:
                    logger.info("%s says nothing about casing; assuming an uncased vocabulary (lowercase=True)",
                                config_file)
            try:
                resolved = BertConfig.from_json(config_file, lowercase=lowercase)
            except ConfigError as e:
                raise CheckpointError(str(e)) from None
    if hidden_act is not None:
        resolved = resolved.replace(hidden_act=hidden_act)
    return resolved


def _check_vocab(vocab_file, config):
    if vocab_file is None:
        return
    with open(vocab_file, encoding="utf-8") as f:
        count = sum(1 for line in f if line.rstrip("\n"))
    if count > config.vocab_size:
        raise CheckpointError(f"{vocab_file} has {count} tokens but the checkpoint's vocab_size is "
                              f"{config.vocab_size}; ids beyond it would have no embedding")


# === Reading ===
def _hf_files(weights_path):
    if weights_path.endswith(".index.json"):
        directory = os.path.dirname(weights_path)
        try:
            with open(weights_path, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{weights_path}: not a valid safetensors index ({e})") from None
        for name in files:
            if os.path.basename(name) != name:
                raise CheckpointError(f"{weights_path}: shard name {name!r} is not a plain file name")
        return [os.path.join(directory, name) for name in files]
    return [weights_path]


def read_checkpoint(path: str, config: BertConfig | None = None, *, config_file: str | None = None,
                    lowercase: bool | None = None, hidden_act: str | None = None) -> Checkpoint:
    """Reads a Hugging Face, Google TF1 or Model Garden checkpoint into canonical weights, strictly.

    Args:
        path: a directory, a weights file, or a TF checkpoint prefix.
        config: `BertConfig` to check the weights against; by default the config file beside the checkpoint
            (`bert_config.json` or `config.json`), inferred from shapes for Model Garden.
        config_file: path of a config file to use instead of the one beside the checkpoint.
        lowercase: overrides the config's casing (`--do_lower_case`); by default the config's own, else
            Hugging Face's `tokenizer_config.json`, else True.
        hidden_act: overrides the config's activation (e.g. `"gelu_approximate"`, google-research/bert's).

    Raises:
        CheckpointError: unknown/unsafe file, another architecture, a size that disagrees with the config,
            a missing variable, or a variable neither used nor known to be safe to ignore.
    """
    fmt, weights_path, directory = _locate(path)
    if fmt == KERAS:
        raise CheckpointError(f"{weights_path}: a .keras file holds a whole model; use load_encoder/load_pretrainer")
    if fmt == "tf":
        reader, shapes = _tf_shapes(weights_path)
        fmt = _tf_format(weights_path, shapes, reader)
        if fmt == BERT_TF_TRAINING:
            raise CheckpointError(f"{weights_path}: a bert_tf training checkpoint (object-based); use "
                                  "load_encoder/load_pretrainer")

        def get(name):
            return reader.get_tensor(name)
    else:
        files = _hf_files(weights_path)
        shapes, owner = {}, {}
        for file in files:
            for name, shape in safetensors_io.read_shapes(file).items():
                shapes[name], owner[name] = shape, file
        cache = {}

        def get(name):
            if owner[name] not in cache:
                cache.clear()  # one shard in memory at a time
                cache[owner[name]] = safetensors_io.read_tensors(owner[name])
            return cache[owner[name]][name]
    resolved = _resolve_config(fmt, directory, shapes, weights_path, config, config_file, lowercase, hidden_act)
    the_plan = names.plan(fmt, shapes, resolved, source=weights_path)
    weights = {}
    try:
        by_source = sorted(the_plan.mapping.items(), key=lambda item: item[1])
        for canonical, name in by_source:
            array = np.asarray(get(name))
            if not np.issubdtype(array.dtype, np.floating) and array.dtype.name != "bfloat16":
                raise CheckpointError(f"{weights_path}: variable {name!r} has dtype {array.dtype}, expected floats")
            weights[canonical] = names.to_canonical(fmt, canonical, array.astype(np.float32), resolved)
        for name, canonical in the_plan.tied.items():
            duplicate = np.asarray(get(name)).astype(np.float32)
            if not np.allclose(duplicate, weights[canonical], rtol=0, atol=1e-6):
                raise CheckpointError(
                    f"{weights_path}: {name!r} should be tied to {the_plan.mapping[canonical]!r} but differs by "
                    f"{np.abs(duplicate - weights[canonical]).max():.3g}; bert_tf ties the output projection to the "
                    "word embeddings and cannot load an untied one")
    except CheckpointError:
        raise
    except Exception as e:  # corrupt data shards surface as TF/safetensors errors
        raise CheckpointError(f"{weights_path}: cannot read tensors ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if the_plan.ignored:
        logger.info("%s: ignored %d variable(s) (optimizer slots, counters, buffers), e.g. %s",
                    weights_path, len(the_plan.ignored), the_plan.ignored[:3])
    vocab = os.path.join(directory, "vocab.txt")
    vocab = vocab if os.path.isfile(vocab) else None
    _check_vocab(vocab, resolved)
    return Checkpoint(format=fmt, path=weights_path, config=resolved, weights=weights,
                      sources=dict(the_plan.mapping), vocab_file=vocab, has_mlm=the_plan.has_mlm,
                      has_nsp=the_plan.has_nsp, ignored=the_plan.ignored)


# === Loading into models ===
def _rebuilt_encoder(encoder, config, config_file, lowercase, hidden_act, dtype, source):
    """The encoder itself, or a copy rebuilt with the requested config/dtype overrides."""
    from bert_tf.encoder import BertEncoder
    if config is None and config_file is None and lowercase is None and hidden_act is None and dtype is None:
        return encoder
    target = config if config is not None else (BertConfig.from_json(config_file) if config_file
                                                 else encoder.bert_config)
    changes = {k: v for k, v in (("lowercase", lowercase), ("hidden_act", hidden_act)) if v is not None}
    target = target.replace(**changes)
    rebuilt = BertEncoder.from_bert_config(target, dtype=dtype)
    model_weights.assign(model_weights.encoder_variables(rebuilt), model_weights.collect(encoder), source=source)
    return rebuilt


def _keras_encoder(path, **overrides):
    from bert_tf.encoder import BertEncoder
    path = _locate(path)[1]  # a .keras file, or the one inside a directory
    model = load_task(path)
    encoder = model if isinstance(model, BertEncoder) else model.encoder
    return model, _rebuilt_encoder(encoder, source=path, **overrides)


def load_encoder(path: str, config: BertConfig | None = None, *, config_file: str | None = None,
                 lowercase: bool | None = None, hidden_act: str | None = None, dtype=None):
    """A `BertEncoder` with the weights of any supported checkpoint (pre-training heads are ignored).

    Args:
        path: a directory, weights file, TF checkpoint prefix or `.keras` file (see the module docstring).
        config, config_file, lowercase, hidden_act: as `read_checkpoint`.
        dtype: Keras dtype policy for the new encoder (e.g. `"mixed_bfloat16"`). Defaults to the global one.

    Example:
        encoder = load_encoder("/path/to/uncased_L-12_H-768_A-12")   # Google TF1 directory
    """
    from bert_tf.encoder import BertEncoder
    fmt = detect_format(path)
    if fmt == KERAS:
        return _remember_vocab(_keras_encoder(path, config=config, config_file=config_file, lowercase=lowercase,
                                              hidden_act=hidden_act, dtype=dtype)[1], path)
    if fmt == BERT_TF_TRAINING:
        return _remember_vocab(
            _from_training_checkpoint(path, False, True, config, config_file, lowercase, hidden_act, dtype), path)
    checkpoint = read_checkpoint(path, config, config_file=config_file, lowercase=lowercase, hidden_act=hidden_act)
    encoder = BertEncoder.from_bert_config(checkpoint.config, dtype=dtype)
    model_weights.assign(model_weights.encoder_variables(encoder), checkpoint.encoder_weights(),
                         checkpoint.sources, source=checkpoint.path)
    if checkpoint.has_mlm or checkpoint.has_nsp:
        logger.info("%s: loaded the encoder; the checkpoint's pre-training heads are not used", checkpoint.path)
    return _remember_vocab(encoder, path)


def _remember_vocab(encoder, path):
    """Records the `vocab.txt` beside the checkpoint as `encoder.vocab_file` (None if there is none), so that
    `save_hf` and `save_google_tf1` write it into their output without being told: a saved directory is then
    usable on its own (ids mean nothing without their vocabulary)."""
    try:
        encoder.vocab_file = find_vocab(path)
    except CheckpointError:
        encoder.vocab_file = None
    return encoder


def load_pretrainer(path: str, config: BertConfig | None = None, *, nsp: bool = True,
                    config_file: str | None = None, lowercase: bool | None = None, hidden_act: str | None = None,
                    dtype=None):
    """A `BertPretrainer` with the encoder and, where the checkpoint has them, the pre-training heads.

    Heads the checkpoint lacks (Model Garden has no NSP head; Hugging Face `BertModel`, Model Garden encoder
    and `.keras` encoders have none) are freshly initialised, with a logged warning. With `nsp=False` a
    checkpoint's NSP head is dropped (logged).

    Args:
        path: as `load_encoder`.
        config, config_file, lowercase, hidden_act, dtype: as `load_encoder`.
        nsp: bool. Whether the pretrainer has the next-sentence head. Defaults to True.
    """
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    overrides = dict(config=config, config_file=config_file, lowercase=lowercase, hidden_act=hidden_act, dtype=dtype)
    fmt = detect_format(path)
    if fmt == BERT_TF_TRAINING:
        return _from_training_checkpoint(path, True, nsp, config, config_file, lowercase, hidden_act, dtype)
    if fmt == KERAS:
        model, encoder = _keras_encoder(path, **overrides)
        if isinstance(model, BertPretrainer) and encoder is model.encoder and model.nsp == nsp:
            return model
        pretrainer = BertPretrainer(encoder, nsp=nsp)
        if isinstance(model, BertPretrainer):
            heads = model_weights.collect(model)
            targets = model_weights.head_variables(pretrainer)
            available = {k: heads[k] for k in targets if k in heads}
            _assign_heads(pretrainer, targets, available, {}, path)
        else:
            logger.warning("%s: a bare encoder; the pre-training heads are freshly initialised", path)
        return pretrainer
    checkpoint = read_checkpoint(path, config, config_file=config_file, lowercase=lowercase, hidden_act=hidden_act)
    encoder = BertEncoder.from_bert_config(checkpoint.config, dtype=dtype)
    pretrainer = BertPretrainer(encoder, nsp=nsp)
    model_weights.assign(model_weights.encoder_variables(encoder), checkpoint.encoder_weights(),
                         checkpoint.sources, source=checkpoint.path)
    targets = model_weights.head_variables(pretrainer)
    available = {k: v for k, v in checkpoint.weights.items() if k in targets}
    _assign_heads(pretrainer, targets, available, checkpoint.sources, checkpoint.path)
    if checkpoint.has_nsp and not nsp:
        logger.info("%s: nsp=False, so the checkpoint's next-sentence head is not used", checkpoint.path)
    return pretrainer


def _assign_heads(pretrainer, targets, available, sources, source):
    for head, prefix in (("masked-LM", "mlm/"), ("next-sentence", "nsp/")):
        wanted = {k: v for k, v in targets.items() if k.startswith(prefix)}
        if not wanted:
            continue
        if not any(k in available for k in wanted):
            logger.warning("%s: the checkpoint has no %s head; it is freshly initialised", source, head)
            continue
        model_weights.assign(wanted, {k: available[k] for k in wanted if k in available}, sources, source=source)


def _from_training_checkpoint(path, pretrainer, nsp, config, config_file, lowercase, hidden_act, dtype):
    """Restores a `BertEncoder` (or `BertPretrainer`) from a bert_tf `Trainer` checkpoint, strictly."""
    import tensorflow as tf

    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    _, prefix, directory = _locate(path)
    reader, shapes = _tf_shapes(prefix)
    resolved = _resolve_config(BERT_TF_TRAINING, directory, shapes, prefix, config, config_file, lowercase,
                               hidden_act)
    graph = _object_graph(reader)
    root = _training_root(graph)
    encoder = BertEncoder.from_bert_config(resolved, dtype=dtype)
    model = BertPretrainer(encoder, nsp=nsp) if pretrainer else None
    present = {head: _node_at(graph, path) is not None for head, path in _TRAINING_HEADS.items()}
    # Proxy objects mirror the checkpoint's object paths, so exactly these objects are restored.
    if root == "model/encoder":
        model_node = {"encoder": encoder}
        if model is not None and present["masked-LM"]:
            model_node["masked_lm_head"] = model.masked_lm_head
        if model is not None and nsp and present["next-sentence"]:
            model_node["next_sentence_head"] = model.next_sentence_head
        target = tf.train.Checkpoint(model=tf.train.Checkpoint(**model_node))
    else:
        target = tf.train.Checkpoint(model=encoder)
    try:
        status = target.read(prefix)
        status.expect_partial()  # optimizer slots, step, input position: deliberately not read
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise CheckpointError(f"{prefix}: the bert_tf training checkpoint does not fit the config "
                              f"{resolved} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    # Source side: every variable the checkpoint holds under the encoder was restored into the encoder.
    stored = _count_variables_under(graph, _node_at(graph, root))
    if root == "model":
        stored -= sum(_count_variables_under(graph, _node_at(graph, path))
                      for head, path in _TRAINING_HEADS.items() if present[head])
    if stored != len(encoder.weights):
        raise CheckpointError(f"{prefix}: holds {stored} variables under {root!r} but the encoder has "
                              f"{len(encoder.weights)}; not a bert_tf BertEncoder checkpoint of this config")
    if model is None:
        return encoder
    for head in _TRAINING_HEADS:
        if head == "next-sentence" and not nsp:
            continue
        if not present[head]:
            logger.warning("%s: the checkpoint has no %s head; it is freshly initialised", prefix, head)
    return model
