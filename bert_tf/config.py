"""`BertConfig`: the hyperparameters of a BERT encoder, its presets, and `bert_config.json`/`config.json` I/O.

Field names are google-research/bert's `bert_config.json` names (Hugging Face uses the same ones), so the
two files map onto the dataclass with almost no translation. Two fields are bert_tf's own and are what a
checkpoint needs to be used correctly: `layer_norm_eps` (Google's configs omit it: 1e-12) and `do_lower_case`
(google-research/bert's flag name; it guessed casing from the checkpoint's path). Files and calls that still
say `lowercase` (the old name) are read with a `DeprecationWarning`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from bert_tf.atomic_files import write_json_atomic
from bert_tf.deprecation import renamed_attribute, renamed_key, renamed_kwargs

HIDDEN_ACTIVATIONS = ("gelu", "gelu_approximate", "relu", "tanh", "swish")

# The precisions a bert_tf model trains in: the `dtype` (a Keras dtype policy name, as keras-hub's `dtype=`) of
# `TrainingOptions`, `PretrainOptions` and the training scripts' --dtype. The mixed ones keep float32 weights
# and compute in 16 bits; mixed_float16 trains with dynamic loss scaling. (An export's --dtype is the precision
# the served model holds its weights in: `serving.export.EXPORT_DTYPES`.)
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")

# Keys that published Google configs carry and that have no effect on the model (see the real Chinese
# BERT-Base config): accepted and dropped.
_GOOGLE_IGNORED_KEYS = frozenset({
    "directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
    "pooler_size_per_head", "pooler_type", "embedding_size",
})

# Keys of a Hugging Face BERT config.json that carry no architecture (or are checked separately below).
_HF_IGNORED_KEYS = frozenset({
    "_name_or_path", "architectures", "model_type", "transformers_version", "pad_token_id", "bos_token_id",
    "eos_token_id", "use_cache", "gradient_checkpointing", "torch_dtype", "dtype", "classifier_dropout",
    "id2label", "label2id", "problem_type", "output_past", "is_decoder", "add_cross_attention",
    "chunk_size_feed_forward", "output_hidden_states", "output_attentions", "return_dict", "tie_word_embeddings",
    "finetuning_task", "tokenizer_class", "prefix", "task_specific_params", "num_labels", "torchscript",
    "pruned_heads", "tf_legacy_loss", "use_bfloat16", "position_embedding_type",
}) | _GOOGLE_IGNORED_KEYS

# Hugging Face's names for the activations; "gelu" means the exact erf form in both libraries' code.
_HF_ACTIVATIONS = {
    "gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate", "relu": "relu", "tanh": "tanh", "silu": "swish", "swish": "swish",
}


class ConfigError(ValueError):
    """A config file or argument that does not describe a valid BERT."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyperparameters of a BERT encoder.

    Args:
        vocab_size: int. Size of the WordPiece vocabulary.
        hidden_size: int. Width of every layer. Defaults to 768.
        num_hidden_layers: int. Number of transformer blocks. Defaults to 12.
        num_attention_heads: int. Attention heads per block; must divide `hidden_size`. Defaults to 12.
        intermediate_size: int. Width of the feed-forward layer. Defaults to 3072.
        hidden_act: str. `"gelu"` (exact erf form, as Hugging Face), `"gelu_approximate"` (the tanh form
            google-research/bert's `modeling.py` used), `"relu"`, `"tanh"` or `"swish"`. Defaults to `"gelu"`.
        hidden_dropout_prob: float. Dropout on embeddings and on every residual branch. Defaults to 0.1.
        attention_probs_dropout_prob: float. Dropout on attention probabilities. Defaults to 0.1.
        max_position_embeddings: int. Longest sequence the position table covers. Defaults to 512.
        type_vocab_size: int. Number of segment ids. Defaults to 2.
        initializer_range: float. Stddev of the truncated-normal initializer. Defaults to 0.02.
        layer_norm_eps: float. LayerNorm epsilon. Defaults to 1e-12.
        do_lower_case: bool. Whether the vocabulary is uncased (lowercase + strip accents). Defaults to True.

    Example:
    >>> config = BertConfig.preset("tiny", vocab_size=30522)
    >>> config.hidden_size, config.num_hidden_layers
    (128, 2)
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    do_lower_case: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"BertConfig.hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                f"({self.num_attention_heads})")
        if self.hidden_act not in HIDDEN_ACTIVATIONS:
            raise ConfigError(f"BertConfig.hidden_act {self.hidden_act!r} is not one of {HIDDEN_ACTIVATIONS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"BertConfig.{name} must be in [0, 1), got {value!r}")

    # === Presets ===
    @classmethod
    def preset(cls, name: str, vocab_size: int, **overrides) -> "BertConfig":
        """Google's published sizes (`tiny` … `large`) plus `test`, a deliberately odd tiny size."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        layers, hidden, heads, intermediate = PRESETS[name]
        return cls(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                   num_attention_heads=heads, intermediate_size=intermediate, **overrides)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    lowercase = renamed_attribute("lowercase", "do_lower_case")

    @renamed_kwargs(lowercase="do_lower_case")
    def replace(self, **changes) -> "BertConfig":
        return dataclasses.replace(self, **changes)

    # === Plain dict (bert_tf's own form, also what get_config() stores) ===
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "config") -> "BertConfig":
        values = _renamed_casing_key(values, source)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ConfigError(f"{source}: unknown BertConfig key(s) {unknown}; known keys are {sorted(fields)}")
        if "vocab_size" not in values:
            raise ConfigError(f"{source}: 'vocab_size' is required")
        return cls(**values)

    # === google-research/bert's bert_config.json ===
    @classmethod
    @renamed_kwargs(lowercase="do_lower_case")
    def from_google_json(cls, path: str, *, do_lower_case: bool | None = None) -> "BertConfig":
        """Reads a google-research/bert `bert_config.json` (the extra keys published configs carry are accepted).

        Google's configs do not say whether the vocabulary is cased; pass `do_lower_case` (the `--do_lower_case`
        flag) or accept the default of True, which is right for every `uncased_*` release.
        """
        return cls._from_file_values(path, _read_json(path), _GOOGLE_IGNORED_KEYS, do_lower_case)

    def to_google_json(self, path: str) -> None:
        """Writes google-research/bert's format plus `layer_norm_eps` and `do_lower_case`, which bert_tf reads back."""
        values = self.to_dict()
        if self.hidden_act == "gelu_approximate":
            raise ConfigError("google-research/bert's config has no name for the tanh GELU distinct from 'gelu'; "
                              "save this model in bert_tf's or Hugging Face's format ('gelu_new')")
        _write_json_atomic(path, values)

    # === Hugging Face's config.json ===
    @classmethod
    @renamed_kwargs(lowercase="do_lower_case")
    def from_hf_json(cls, path: str, *, do_lower_case: bool | None = None) -> "BertConfig":
        values = _read_json(path)
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(f"{path}: model_type is {model_type!r}; bert_tf loads BERT checkpoints only")
        position_type = values.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ConfigError(f"{path}: position_embedding_type {position_type!r} is not supported (only 'absolute')")
        return cls._from_file_values(path, values, _HF_IGNORED_KEYS, do_lower_case, activations=_HF_ACTIVATIONS)

    @classmethod
    def _from_file_values(cls, path, values, ignored_keys, do_lower_case, activations=None):
        """A config from a file's JSON object: keys neither fields nor `ignored_keys` are an error; `activations`
        maps the file's `hidden_act` names to bert_tf's (None: taken as they are); `do_lower_case` overrides.
        A file with the old key `lowercase` is read as `do_lower_case` (with a `DeprecationWarning`)."""
        values = _renamed_casing_key(values, path)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields - ignored_keys)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {unknown} in a BERT config")
        kept = {k: v for k, v in values.items() if k in fields}
        if activations is not None:
            act = kept.get("hidden_act", "gelu")
            if act not in activations:
                raise ConfigError(f"{path}: hidden_act {act!r} is not supported; known: {sorted(activations)}")
            kept["hidden_act"] = activations[act]
        if do_lower_case is not None:
            kept["do_lower_case"] = bool(do_lower_case)
        try:
            return cls.from_dict(kept, source=path)
        except (TypeError, ConfigError) as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_hf_json(self, path: str) -> None:
        values = self.to_dict()
        values["hidden_act"] = "gelu_new" if self.hidden_act == "gelu_approximate" else \
            {"swish": "silu"}.get(self.hidden_act, self.hidden_act)
        del values["do_lower_case"]
        values.update({"model_type": "bert", "architectures": ["BertForPreTraining"], "pad_token_id": 0,
                       "position_embedding_type": "absolute"})
        _write_json_atomic(path, values)

    @classmethod
    @renamed_kwargs(lowercase="do_lower_case")
    def from_json(cls, path: str, *, do_lower_case: bool | None = None) -> "BertConfig":
        """Reads either format: a file with Hugging Face's own keys (`model_type`, ...) is theirs, else Google's."""
        values = _read_json(path)
        if {"model_type", "architectures", "transformers_version"} & set(values):
            return cls.from_hf_json(path, do_lower_case=do_lower_case)
        return cls.from_google_json(path, do_lower_case=do_lower_case)


def _renamed_casing_key(values: dict, source: str) -> dict:
    """`values` with the old key `lowercase` read as `do_lower_case` (DeprecationWarning); both: ConfigError."""
    try:
        return renamed_key(values, "lowercase", "do_lower_case", source)
    except ValueError as e:
        raise ConfigError(str(e)) from None


# `BertConfig(lowercase=...)` (the old field name) still works for one release, with a DeprecationWarning.
BertConfig.__init__ = renamed_kwargs(lowercase="do_lower_case")(BertConfig.__init__)

# name: (num_hidden_layers, hidden_size, num_attention_heads, intermediate_size)
PRESETS = {
    "tiny": (2, 128, 2, 512),
    "mini": (4, 256, 4, 1024),
    "small": (4, 512, 8, 2048),
    "medium": (8, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
    "large": (24, 1024, 16, 4096),
    "test": (2, 12, 3, 37),
}


def _read_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(values).__name__}")
    return values


def _write_json_atomic(path: str, values: dict) -> None:
    write_json_atomic(path, values, sort_keys=True)  # 2-space indent, sorted keys, final newline
