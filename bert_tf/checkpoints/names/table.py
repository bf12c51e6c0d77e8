"""The name table: bert_tf's canonical weights, their kinds and shapes, each format's name for them, and the
layout transforms between formats (see the package docstring)."""

from __future__ import annotations

import re

import numpy as np

from bert_tf.config import BertConfig

GOOGLE_TF1 = "google_tf1"
HUGGING_FACE = "hf"
MODEL_GARDEN = "model_garden"

# === Weight kinds (decide the layout transforms) ===
EMBEDDING = "embedding"  # (rows, H)
VECTOR = "vector"  # (n,): biases, LayerNorm gamma/beta
KERNEL = "kernel"  # (in, out)
QKV_KERNEL = "qkv_kernel"  # (H, H); Keras MHA and Model Garden keep (H, N, D)
QKV_BIAS = "qkv_bias"  # (H,); Keras MHA and Model Garden keep (N, D)
ATTENTION_OUTPUT_KERNEL = "attention_output_kernel"  # (H, H); Keras MHA and Model Garden keep (N, D, H)

_MG_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"

# canonical, kind, Google TF1, Hugging Face (before the "bert." prefix), Model Garden (before /.ATTRIBUTES/...).
# `{i}` is the layer index; `{j}` Model Garden's object index of layer i (i + 4); `{p}` the pooler's (L + 4).
_ENCODER_TABLE = [
    ("embeddings/token", EMBEDDING, "bert/embeddings/word_embeddings",
     "embeddings.word_embeddings.weight", "encoder/layer_with_weights-0/embeddings"),
    ("embeddings/position", EMBEDDING, "bert/embeddings/position_embeddings",
     "embeddings.position_embeddings.weight", "encoder/layer_with_weights-1/embeddings"),
    ("embeddings/segment", EMBEDDING, "bert/embeddings/token_type_embeddings",
     "embeddings.token_type_embeddings.weight", "encoder/layer_with_weights-2/embeddings"),
    ("embeddings/layer_norm/gamma", VECTOR, "bert/embeddings/LayerNorm/gamma",
     "embeddings.LayerNorm.weight", "encoder/layer_with_weights-3/gamma"),
    ("embeddings/layer_norm/beta", VECTOR, "bert/embeddings/LayerNorm/beta",
     "embeddings.LayerNorm.bias", "encoder/layer_with_weights-3/beta"),
]
_LAYER_TABLE = [
    (f"layer_{{i}}/attention/{name}/kernel", QKV_KERNEL, f"bert/encoder/layer_{{i}}/attention/self/{name}/kernel",
     f"encoder.layer.{{i}}.attention.self.{name}.weight",
     f"encoder/layer_with_weights-{{j}}/_attention_layer/_{name}_dense/kernel")
    for name in ("query", "key", "value")
] + [
    (f"layer_{{i}}/attention/{name}/bias", QKV_BIAS, f"bert/encoder/layer_{{i}}/attention/self/{name}/bias",
     f"encoder.layer.{{i}}.attention.self.{name}.bias",
     f"encoder/layer_with_weights-{{j}}/_attention_layer/_{name}_dense/bias")
    for name in ("query", "key", "value")
] + [
    ("layer_{i}/attention/output/kernel", ATTENTION_OUTPUT_KERNEL, "bert/encoder/layer_{i}/attention/output/dense/kernel",
     "encoder.layer.{i}.attention.output.dense.weight",
     "encoder/layer_with_weights-{j}/_attention_layer/_output_dense/kernel"),
    ("layer_{i}/attention/output/bias", VECTOR, "bert/encoder/layer_{i}/attention/output/dense/bias",
     "encoder.layer.{i}.attention.output.dense.bias",
     "encoder/layer_with_weights-{j}/_attention_layer/_output_dense/bias"),
    ("layer_{i}/attention_layer_norm/gamma", VECTOR, "bert/encoder/layer_{i}/attention/output/LayerNorm/gamma",
     "encoder.layer.{i}.attention.output.LayerNorm.weight", "encoder/layer_with_weights-{j}/_attention_layer_norm/gamma"),
    ("layer_{i}/attention_layer_norm/beta", VECTOR, "bert/encoder/layer_{i}/attention/output/LayerNorm/beta",
     "encoder.layer.{i}.attention.output.LayerNorm.bias", "encoder/layer_with_weights-{j}/_attention_layer_norm/beta"),
    ("layer_{i}/intermediate/kernel", KERNEL, "bert/encoder/layer_{i}/intermediate/dense/kernel",
     "encoder.layer.{i}.intermediate.dense.weight", "encoder/layer_with_weights-{j}/_intermediate_dense/kernel"),
    ("layer_{i}/intermediate/bias", VECTOR, "bert/encoder/layer_{i}/intermediate/dense/bias",
     "encoder.layer.{i}.intermediate.dense.bias", "encoder/layer_with_weights-{j}/_intermediate_dense/bias"),
    ("layer_{i}/output/kernel", KERNEL, "bert/encoder/layer_{i}/output/dense/kernel",
     "encoder.layer.{i}.output.dense.weight", "encoder/layer_with_weights-{j}/_output_dense/kernel"),
    ("layer_{i}/output/bias", VECTOR, "bert/encoder/layer_{i}/output/dense/bias",
     "encoder.layer.{i}.output.dense.bias", "encoder/layer_with_weights-{j}/_output_dense/bias"),
    ("layer_{i}/output_layer_norm/gamma", VECTOR, "bert/encoder/layer_{i}/output/LayerNorm/gamma",
     "encoder.layer.{i}.output.LayerNorm.weight", "encoder/layer_with_weights-{j}/_output_layer_norm/gamma"),
    ("layer_{i}/output_layer_norm/beta", VECTOR, "bert/encoder/layer_{i}/output/LayerNorm/beta",
     "encoder.layer.{i}.output.LayerNorm.bias", "encoder/layer_with_weights-{j}/_output_layer_norm/beta"),
]
_POOLER_TABLE = [
    ("pooler/kernel", KERNEL, "bert/pooler/dense/kernel", "pooler.dense.weight", "encoder/layer_with_weights-{p}/kernel"),
    ("pooler/bias", VECTOR, "bert/pooler/dense/bias", "pooler.dense.bias", "encoder/layer_with_weights-{p}/bias"),
]
# Heads: Hugging Face's head keys sit at the root (no "bert." prefix).
_MLM_TABLE = [
    ("mlm/dense/kernel", KERNEL, "cls/predictions/transform/dense/kernel",
     "cls.predictions.transform.dense.weight", "masked_lm/dense/kernel"),
    ("mlm/dense/bias", VECTOR, "cls/predictions/transform/dense/bias",
     "cls.predictions.transform.dense.bias", "masked_lm/dense/bias"),
    ("mlm/layer_norm/gamma", VECTOR, "cls/predictions/transform/LayerNorm/gamma",
     "cls.predictions.transform.LayerNorm.weight", "masked_lm/layer_norm/gamma"),
    ("mlm/layer_norm/beta", VECTOR, "cls/predictions/transform/LayerNorm/beta",
     "cls.predictions.transform.LayerNorm.bias", "masked_lm/layer_norm/beta"),
    ("mlm/output_bias", VECTOR, "cls/predictions/output_bias", "cls.predictions.bias", "masked_lm/output_bias.Sbias"),
]
# Model Garden's BertPretrainerV2 has no next-sentence head (None).
_NSP_TABLE = [
    ("nsp/kernel", KERNEL, "cls/seq_relationship/output_weights", "cls.seq_relationship.weight", None),
    ("nsp/bias", VECTOR, "cls/seq_relationship/output_bias", "cls.seq_relationship.bias", None),
]
_FORMAT_COLUMN = {GOOGLE_TF1: 2, HUGGING_FACE: 3, MODEL_GARDEN: 4}
_KINDS = {row[0]: row[1] for row in _ENCODER_TABLE + _LAYER_TABLE + _POOLER_TABLE + _MLM_TABLE + _NSP_TABLE}

# Tensors that are present in real checkpoints and deliberately not loaded.
IGNORED_PATTERNS = {
    GOOGLE_TF1: [
        re.compile(r".*/adam_[mv]$"),  # Adam slots of google-research/bert's AdamWeightDecayOptimizer
        re.compile(r"^global_step$"),
    ],
    HUGGING_FACE: [
        re.compile(r"^(.*\.)?embeddings\.position_ids$"),  # a constant buffer arange(max_position_embeddings)
    ],
    MODEL_GARDEN: [
        re.compile(r"^_CHECKPOINTABLE_OBJECT_GRAPH$"),
        re.compile(r"^(.*/)?save_counter/"),
        re.compile(r".*/\.OPTIMIZER_SLOT/"),
        re.compile(r"^(.*/)?optimizer/"),
        re.compile(r"^(.*/)?global_step/"),
    ],
}
# Duplicates of a loaded weight (tied in the source model): checked equal to it, not loaded twice.
_HF_TIED = {"cls.predictions.decoder.weight": "embeddings/token", "cls.predictions.decoder.bias": "mlm/output_bias"}
_MG_TIED = {"masked_lm/embedding_table": "embeddings/token"}


# === Canonical names ===
def canonical_names(num_layers: int, mlm: bool = False, nsp: bool = False) -> list[str]:
    """bert_tf's canonical weight names for an encoder of `num_layers` (plus the heads)."""
    names = [row[0] for row in _ENCODER_TABLE]
    for i in range(num_layers):
        names += [row[0].format(i=i) for row in _LAYER_TABLE]
    names += [row[0] for row in _POOLER_TABLE]
    if mlm:
        names += [row[0] for row in _MLM_TABLE]
    if nsp:
        names += [row[0] for row in _NSP_TABLE]
    return names


def kind(canonical: str) -> str:
    return _KINDS[re.sub(r"^layer_\d+/", "layer_{i}/", canonical)]


def canonical_shape(canonical: str, config: BertConfig) -> tuple:
    """The shape of a canonical weight for `config`."""
    h, v = config.hidden_size, config.vocab_size
    fixed = {
        "embeddings/token": (v, h), "embeddings/position": (config.max_position_embeddings, h),
        "embeddings/segment": (config.type_vocab_size, h), "pooler/kernel": (h, h),
        "mlm/dense/kernel": (h, h), "mlm/output_bias": (v,), "nsp/kernel": (h, 2), "nsp/bias": (2,),
    }
    if canonical in fixed:
        return fixed[canonical]
    if canonical.endswith("intermediate/kernel"):
        return (h, config.intermediate_size)
    if canonical.endswith("intermediate/bias"):
        return (config.intermediate_size,)
    if canonical.endswith("output/kernel") and canonical.startswith("layer_") and "attention" not in canonical:
        return (config.intermediate_size, h)
    return (h, h) if kind(canonical) != VECTOR and kind(canonical) != QKV_BIAS else (h,)


def foreign_name(fmt: str, canonical: str, num_layers: int, prefix: str = "") -> str | None:
    """The name of a canonical weight in format `fmt` (`prefix`: Hugging Face's `bert.` / Model Garden's root)."""
    template = _template(fmt, canonical)
    if template is None:
        return None
    match = re.match(r"^layer_(\d+)/", canonical)
    i = int(match.group(1)) if match else 0
    name = template.format(i=i, j=i + 4, p=num_layers + 4)
    if fmt == HUGGING_FACE:
        return name if name.startswith("cls.") else prefix + name
    if fmt == MODEL_GARDEN:
        return prefix + name + _MG_VALUE
    return name


def _template(fmt, canonical):
    generic = re.sub(r"^layer_\d+/", "layer_{i}/", canonical)
    for row in _ENCODER_TABLE + _LAYER_TABLE + _POOLER_TABLE + _MLM_TABLE + _NSP_TABLE:
        if row[0] == generic:
            return row[_FORMAT_COLUMN[fmt]]
    raise KeyError(canonical)


# === Layout transforms ===
def _transposed(fmt: str, canonical: str) -> bool:
    """Whether format `fmt` stores this weight transposed (decided by kind: square kernels look alike)."""
    if fmt == HUGGING_FACE:
        return kind(canonical) in (KERNEL, QKV_KERNEL, ATTENTION_OUTPUT_KERNEL)  # torch.nn.Linear: (out, in)
    if fmt == GOOGLE_TF1:
        return canonical == "nsp/kernel"  # cls/seq_relationship/output_weights is (2, H)
    return False


def foreign_shape(fmt: str, canonical: str, config: BertConfig) -> tuple:
    """The shape the weight has in format `fmt` for `config`."""
    shape = canonical_shape(canonical, config)
    if _transposed(fmt, canonical):
        return shape[::-1]
    if fmt == MODEL_GARDEN:
        n, d = config.num_attention_heads, config.head_size
        k = kind(canonical)
        if k == QKV_KERNEL:
            return (shape[0], n, d)
        if k == QKV_BIAS:
            return (n, d)
        if k == ATTENTION_OUTPUT_KERNEL:
            return (n, d, shape[1])
    return shape


def to_canonical(fmt: str, canonical: str, array: np.ndarray, config: BertConfig) -> np.ndarray:
    """Turns a tensor of format `fmt` (already shape-checked) into the canonical layout."""
    if _transposed(fmt, canonical):
        return np.ascontiguousarray(array.T)
    return np.reshape(array, canonical_shape(canonical, config))


def from_canonical(fmt: str, canonical: str, array: np.ndarray, config: BertConfig) -> np.ndarray:
    """Turns a canonical-layout tensor into format `fmt`'s layout."""
    if _transposed(fmt, canonical):
        return np.ascontiguousarray(array.T)
    return np.reshape(array, foreign_shape(fmt, canonical, config))
