"""`plan()`: a checkpoint's `{name: shape}` checked against a `BertConfig` and mapped onto canonical weights,
without reading any tensor; `infer_config()` for Model Garden checkpoints, which carry no config."""

from __future__ import annotations

import dataclasses
import re

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.names.table import (_HF_TIED, _MG_TIED, _MG_VALUE, GOOGLE_TF1, HUGGING_FACE,
                                             IGNORED_PATTERNS, MODEL_GARDEN, canonical_names, canonical_shape,
                                             foreign_name, foreign_shape)
from bert_tf.config import BertConfig


@dataclasses.dataclass
class Plan:
    """How a checkpoint's tensors map onto canonical weights (no tensor read yet).

    Attributes:
        format: `GOOGLE_TF1`, `HUGGING_FACE` or `MODEL_GARDEN`.
        mapping: canonical name → the checkpoint's name for it.
        tied: the checkpoint's name of a duplicate → canonical name it must equal.
        ignored: checkpoint names deliberately not loaded (optimizer slots, buffers, counters).
        has_mlm: whether the masked-LM head is in the checkpoint.
        has_nsp: whether the next-sentence head is in the checkpoint.
    """

    format: str
    mapping: dict
    tied: dict
    ignored: list
    has_mlm: bool
    has_nsp: bool


def _describe(config):
    return (f"vocab_size={config.vocab_size}, hidden_size={config.hidden_size}, "
            f"num_hidden_layers={config.num_hidden_layers}, num_attention_heads={config.num_attention_heads}, "
            f"intermediate_size={config.intermediate_size}, max_position_embeddings={config.max_position_embeddings}, "
            f"type_vocab_size={config.type_vocab_size}")


def _examples(names, count=6):
    names = sorted(names)
    more = f" (and {len(names) - count} more)" if len(names) > count else ""
    return ", ".join(repr(n) for n in names[:count]) + more


def find_prefix(fmt: str, shapes: dict, source: str) -> str:
    """Hugging Face's key prefix (`""`, `"bert."`, ...) or Model Garden's root (`""`, `"model/"`, ...)."""
    if fmt == GOOGLE_TF1:
        return ""
    if fmt == HUGGING_FACE:
        anchor = "embeddings.word_embeddings.weight"
        prefixes = sorted({n[: -len(anchor)] for n in shapes if n.endswith(anchor) and
                           (len(n) == len(anchor) or n[-len(anchor) - 1] == ".")})
    else:
        prefixes = sorted({m.group(1) for n in shapes for m in [re.match(r"^(.*?)encoder/layer_with_weights-\d+/", n)]
                           if m})
    if len(prefixes) != 1:
        what = {"hf": "a Hugging Face BERT (key 'embeddings.word_embeddings.weight', optionally under 'bert.')",
                "model_garden": "a TF Model Garden BERT encoder (names 'encoder/layer_with_weights-N/...')"}[fmt]
        found = "several candidate prefixes " + repr(prefixes) if prefixes else "no such name"
        raise CheckpointError(f"{source}: not {what}: {found}; its names include {_examples(shapes)}")
    return prefixes[0]


def count_layers(fmt: str, shapes: dict, prefix: str = "") -> int:
    """Number of transformer layers a checkpoint holds (judged by its attention query kernels)."""
    pattern = {
        GOOGLE_TF1: r"^bert/encoder/layer_(\d+)/attention/self/query/kernel$",
        HUGGING_FACE: "^" + re.escape(prefix) + r"encoder\.layer\.(\d+)\.attention\.self\.query\.weight$",
        MODEL_GARDEN: "^" + re.escape(prefix) + r"encoder/layer_with_weights-(\d+)/_attention_layer/_query_dense/kernel/",
    }[fmt]
    return len({m.group(1) for n in shapes for m in [re.match(pattern, n)] if m})


def _has_heads(fmt, shapes, prefix):
    mlm = {GOOGLE_TF1: "cls/predictions/", HUGGING_FACE: "cls.predictions.", MODEL_GARDEN: prefix + "masked_lm/"}[fmt]
    nsp = {GOOGLE_TF1: "cls/seq_relationship/", HUGGING_FACE: "cls.seq_relationship.", MODEL_GARDEN: None}[fmt]
    has_mlm = any(n.startswith(mlm) for n in shapes)
    if fmt == MODEL_GARDEN:  # the word-embedding table alone is tracked under masked_lm/ too
        has_mlm = any(n.startswith(mlm) and not n.startswith(mlm + "embedding_table/") for n in shapes)
    has_nsp = bool(nsp) and any(n.startswith(nsp) for n in shapes)
    return has_mlm, has_nsp


def plan(fmt: str, shapes: dict, config: BertConfig, *, source: str = "checkpoint") -> Plan:
    """Maps a checkpoint's `{name: shape}` onto canonical weights for `config`, strictly.

    Raises `CheckpointError` (naming `source`) when the names are not a BERT of this format, the layer count
    or any shape disagrees with `config`, a needed tensor is missing, or a tensor is neither mapped, tied nor
    explicitly ignored.
    """
    shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
    prefix = find_prefix(fmt, shapes, source)
    if fmt == GOOGLE_TF1 and "bert/embeddings/word_embeddings" not in shapes:
        raise CheckpointError(f"{source}: not a google-research/bert checkpoint (no 'bert/embeddings/word_embeddings'); "
                              f"its names include {_examples(shapes)}")
    layers = count_layers(fmt, shapes, prefix)
    if layers != config.num_hidden_layers:
        raise CheckpointError(f"{source}: the checkpoint has {layers} transformer layers but the config says "
                              f"num_hidden_layers={config.num_hidden_layers}")
    has_mlm, has_nsp = _has_heads(fmt, shapes, prefix)
    mapping, tied = {}, {}
    missing = []
    for canonical in canonical_names(layers, mlm=has_mlm, nsp=has_nsp):
        name = foreign_name(fmt, canonical, layers, prefix)
        if fmt == MODEL_GARDEN and canonical == "embeddings/token" and name not in shapes:
            # Model Garden's pretrainer tracks the shared word-embedding table under masked_lm/ only.
            name = prefix + "masked_lm/embedding_table" + _MG_VALUE
        if name not in shapes:
            missing.append(name)
            continue
        expected = foreign_shape(fmt, canonical, config)
        if shapes[name] != expected:
            raise CheckpointError(
                f"{source}: variable {name!r} has shape {list(shapes[name])} but the config "
                f"({_describe(config)}) needs {list(expected)}")
        mapping[canonical] = name
    if missing:
        raise CheckpointError(f"{source}: {len(missing)} variable(s) a BERT of this format needs are missing: "
                              f"{_examples(missing)}")
    extra_tied = _HF_TIED if fmt == HUGGING_FACE else _MG_TIED if fmt == MODEL_GARDEN else {}
    used = set(mapping.values())
    ignored, unknown = [], []
    for name in shapes:
        if name in used:
            continue
        bare = name[len(prefix):-len(_MG_VALUE)] if fmt == MODEL_GARDEN and name.endswith(_MG_VALUE) else name
        if bare in extra_tied and extra_tied[bare] in mapping:
            canonical = extra_tied[bare]
            expected = canonical_shape(canonical, config)  # the duplicates are stored in canonical layout
            if shapes[name] != expected:
                raise CheckpointError(f"{source}: tied variable {name!r} has shape {list(shapes[name])}, "
                                      f"expected {list(expected)} like {mapping[canonical]!r}")
            tied[name] = canonical
        elif any(p.match(name) for p in IGNORED_PATTERNS[fmt]):
            ignored.append(name)
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(
            f"{source}: {len(unknown)} variable(s) are not part of a BERT encoder/pre-training model and are not "
            f"known to be safe to ignore: {_examples(unknown)}")
    return Plan(format=fmt, mapping=mapping, tied=tied, ignored=sorted(ignored), has_mlm=has_mlm, has_nsp=has_nsp)


def infer_config(fmt: str, shapes: dict, *, source: str = "checkpoint", **fields) -> BertConfig:
    """Reads a config off the tensor shapes (Model Garden checkpoints carry no config file).

    Sizes come from the shapes (the head count from the einsum-shaped attention kernels `(H, N, D)`, so only
    Model Garden checkpoints can be inferred fully); what shapes cannot tell (`hidden_act`, `do_lower_case`,
    `layer_norm_eps`, dropout rates) comes from `fields` or `BertConfig`'s defaults.
    """
    if fmt != MODEL_GARDEN:
        raise CheckpointError(f"{source}: a {fmt} checkpoint needs a config file (the head count cannot be "
                              "read from its shapes); pass config=")
    shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
    prefix = find_prefix(fmt, shapes, source)
    layers = count_layers(fmt, shapes, prefix)

    def shape_of(name):
        full = prefix + name + _MG_VALUE
        if full not in shapes:
            raise CheckpointError(f"{source}: cannot infer the config: {full!r} is missing")
        return shapes[full]

    token = prefix + "encoder/layer_with_weights-0/embeddings" + _MG_VALUE
    vocab, hidden = shapes.get(token) or shape_of("masked_lm/embedding_table")
    _, heads, _ = shape_of("encoder/layer_with_weights-4/_attention_layer/_query_dense/kernel")
    inferred = dict(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=shape_of("encoder/layer_with_weights-4/_intermediate_dense/bias")[0],
        max_position_embeddings=shape_of("encoder/layer_with_weights-1/embeddings")[0],
        type_vocab_size=shape_of("encoder/layer_with_weights-2/embeddings")[0])
    inferred.update({k: v for k, v in fields.items() if v is not None})
    return BertConfig(**inferred)
