"""Loading any BERT checkpoint users bring into `BertEncoder` / `BertPretrainer`.

Formats (detected from the path, see `detect_format`):
- `"hf"`: a Hugging Face BERT directory (`config.json`, `model.safetensors` or a sharded
  `model.safetensors.index.json`, `vocab.txt`) with the `BertModel` key set (no prefix) or the
  `BertForPreTraining` one (`bert.` prefix, `cls.predictions.*`, `cls.seq_relationship.*`). bert_tf's own
  directories (written by `save_hf`) are this format plus a `bert_config.json`, which takes precedence
  because it records `do_lower_case`.
- `"google_tf1"`: google-research/bert's checkpoints (`bert_config.json`, `bert_model.ckpt.{index,data-*}`,
  `vocab.txt`); give the directory or the prefix (`.../bert_model.ckpt`).
- `"model_garden"`: TF Model Garden object-based checkpoints of `BertEncoder` or `BertPretrainerV2`
  (`encoder/layer_with_weights-N/...`, `masked_lm/...`). They carry no config: sizes are inferred from the
  tensor shapes (the head count from the einsum kernels), `hidden_act`/`do_lower_case` from the arguments
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

import logging
import os

from bert_tf.checkpoints import model_weights
from bert_tf.checkpoints.errors import CheckpointError
# Re-exported: `from bert_tf.checkpoints.loading import detect_format, read_checkpoint, KERAS, ...` keeps working.
from bert_tf.checkpoints.locating import (  # noqa: F401
    BERT_TF_TRAINING, FORMATS, KERAS, _count_variables_under, _locate, _node_at, _object_graph, _tf_shapes,
    _training_root, detect_format)
from bert_tf.checkpoints.reading import _resolve_config, read_checkpoint
from bert_tf.checkpoints.task_loading import load_task
from bert_tf.config import BertConfig
from bert_tf.deprecation import renamed_kwargs

logger = logging.getLogger(__name__)
# Object paths of the pre-training heads in a bert_tf training checkpoint of a `BertPretrainer`.
_TRAINING_HEADS = {"masked-LM": "model/masked_lm_head", "next-sentence": "model/next_sentence_head"}


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


# === Loading into models ===
def _rebuilt_encoder(encoder, config, config_file, do_lower_case, hidden_act, dtype, source):
    """The encoder itself, or a copy rebuilt with the requested config/dtype overrides."""
    from bert_tf.encoder import BertEncoder
    if config is None and config_file is None and do_lower_case is None and hidden_act is None and dtype is None:
        return encoder
    target = config if config is not None else (BertConfig.from_json(config_file) if config_file
                                                 else encoder.bert_config)
    changes = {k: v for k, v in (("do_lower_case", do_lower_case), ("hidden_act", hidden_act)) if v is not None}
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


@renamed_kwargs(lowercase="do_lower_case")
def load_encoder(path: str, config: BertConfig | None = None, *, config_file: str | None = None,
                 do_lower_case: bool | None = None, hidden_act: str | None = None, dtype=None):
    """A `BertEncoder` with the weights of any supported checkpoint (pre-training heads are ignored).

    Args:
        path: a directory, weights file, TF checkpoint prefix or `.keras` file (see the module docstring).
        config, config_file, do_lower_case, hidden_act: as `read_checkpoint`.
        dtype: Keras dtype policy for the new encoder (e.g. `"mixed_bfloat16"`). Defaults to the global one.

    Example:
        encoder = load_encoder("/path/to/uncased_L-12_H-768_A-12")   # Google TF1 directory
    """
    from bert_tf.encoder import BertEncoder
    fmt = detect_format(path)
    if fmt == KERAS:
        return _remember_vocab(_keras_encoder(path, config=config, config_file=config_file, do_lower_case=do_lower_case,
                                              hidden_act=hidden_act, dtype=dtype)[1], path)
    if fmt == BERT_TF_TRAINING:
        return _remember_vocab(
            _from_training_checkpoint(path, False, True, config, config_file, do_lower_case, hidden_act, dtype), path)
    checkpoint = read_checkpoint(path, config, config_file=config_file, do_lower_case=do_lower_case,
                                 hidden_act=hidden_act)
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


@renamed_kwargs(lowercase="do_lower_case")
def load_pretrainer(path: str, config: BertConfig | None = None, *, nsp: bool = True,
                    config_file: str | None = None, do_lower_case: bool | None = None, hidden_act: str | None = None,
                    dtype=None):
    """A `BertPretrainer` with the encoder and, where the checkpoint has them, the pre-training heads.

    Heads the checkpoint lacks (Model Garden has no NSP head; Hugging Face `BertModel`, Model Garden encoder
    and `.keras` encoders have none) are freshly initialised, with a logged warning. With `nsp=False` a
    checkpoint's NSP head is dropped (logged).

    Args:
        path: as `load_encoder`.
        config, config_file, do_lower_case, hidden_act, dtype: as `load_encoder`.
        nsp: bool. Whether the pretrainer has the next-sentence head. Defaults to True.
    """
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    overrides = dict(config=config, config_file=config_file, do_lower_case=do_lower_case, hidden_act=hidden_act,
                     dtype=dtype)
    fmt = detect_format(path)
    if fmt == BERT_TF_TRAINING:
        return _from_training_checkpoint(path, True, nsp, config, config_file, do_lower_case, hidden_act, dtype)
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
    checkpoint = read_checkpoint(path, config, config_file=config_file, do_lower_case=do_lower_case,
                                 hidden_act=hidden_act)
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


def _from_training_checkpoint(path, pretrainer, nsp, config, config_file, do_lower_case, hidden_act, dtype):
    """Restores a `BertEncoder` (or `BertPretrainer`) from a bert_tf `Trainer` checkpoint, strictly."""
    import tensorflow as tf

    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    _, prefix, directory = _locate(path)
    reader, shapes = _tf_shapes(prefix)
    resolved = _resolve_config(BERT_TF_TRAINING, directory, shapes, prefix, config, config_file, do_lower_case,
                               hidden_act)
    graph = _object_graph(reader)
    root = _training_root(graph)
    encoder = BertEncoder.from_bert_config(resolved, dtype=dtype)
    model = BertPretrainer(encoder, nsp=nsp) if pretrainer else None
    present = {head: _node_at(graph, path) is not None for head, path in _TRAINING_HEADS.items()}
    if root == "model/discriminator":
        # ELECTRA: its heads (the generator's masked LM, the discriminator's) are not BERT's pre-training heads.
        present = dict.fromkeys(present, False)
    # Proxy objects mirror the checkpoint's object paths, so exactly these objects are restored.
    if root == "model/discriminator":
        target = tf.train.Checkpoint(model=tf.train.Checkpoint(discriminator=encoder))
    elif root == "model/encoder":
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
