"""`BertEncoder`: the BERT transformer encoder as a Keras 3 functional model."""

import keras
import keras_hub

from bert_tf import features
from bert_tf.config import BertConfig
from bert_tf.deprecation import renamed_kwargs
from bert_tf.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(keras.Model):
    """BERT: token + segment + position embeddings, LayerNorm, dropout, post-LN transformer blocks, pooler.

    The constructor takes exactly the fields of `BertConfig` (use `BertEncoder.from_bert_config`).

    Inputs (dict, int32, `(B, T)`): `token_ids`, `segment_ids`, `padding_mask` (1 for real tokens).
    Outputs (dict):
        `sequence_output`: `(B, T, H)`, the last layer.
        `pooled_output`: `(B, H)`, dense + tanh on the `[CLS]` position.
        `encoder_outputs`: list of `num_hidden_layers` tensors `(B, T, H)`, every layer's output.
        `embedding_output`: `(B, T, H)`, the embedding block's output (Hugging Face's `hidden_states[0]`).

    Example:
    >>> config = BertConfig.preset("test", vocab_size=41)
    >>> encoder = BertEncoder.from_bert_config(config)
    >>> import numpy as np
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> out = encoder({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0).astype("int32")})
    >>> tuple(out["sequence_output"].shape), tuple(out["pooled_output"].shape), len(out["encoder_outputs"])
    ((1, 5, 12), (1, 12), 2)
    """

    # `lowercase` (the old name of `do_lower_case`) still loads: `.keras` files saved before the rename store it.
    @renamed_kwargs(lowercase="do_lower_case")
    def __init__(self, vocab_size, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                 initializer_range=0.02, layer_norm_eps=1e-12, do_lower_case=True, dtype=None, **kwargs):
        # Validates every field with one set of rules.
        config = BertConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads, intermediate_size=intermediate_size, hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob, attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps, do_lower_case=do_lower_case)
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)

        # === Layers ===
        token_embedding = keras_hub.layers.ReversibleEmbedding(
            vocab_size, hidden_size, embeddings_initializer=init, dtype=dtype, name="token_embedding")
        position_embedding = keras_hub.layers.PositionEmbedding(
            max_position_embeddings, initializer=init, dtype=dtype, name="position_embedding")
        segment_embedding = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=init, dtype=dtype, name="segment_embedding")
        embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=dtype, name="embeddings_layer_norm")
        embeddings_dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=dtype, name="embeddings_dropout")
        blocks = [
            TransformerBlock(num_attention_heads, intermediate_size, hidden_act=hidden_act,
                             hidden_dropout_prob=hidden_dropout_prob,
                             attention_probs_dropout_prob=attention_probs_dropout_prob,
                             layer_norm_eps=layer_norm_eps, initializer_range=initializer_range,
                             dtype=dtype, name=f"transformer_layer_{i}")
            for i in range(num_hidden_layers)
        ]
        pooler = keras.layers.Dense(hidden_size, activation="tanh", kernel_initializer=init, dtype=dtype,
                                    name="pooler_dense")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name=features.TOKEN_IDS)
        segment_ids = keras.Input(shape=(None,), dtype="int32", name=features.SEGMENT_IDS)
        padding_mask = keras.Input(shape=(None,), dtype="int32", name=features.PADDING_MASK)
        tokens = token_embedding(token_ids)
        x = tokens + position_embedding(tokens) + segment_embedding(segment_ids)
        embedding_output = embeddings_dropout(embeddings_layer_norm(x))
        x = embedding_output
        encoder_outputs = []
        for block in blocks:
            x = block(x, padding_mask=padding_mask)
            encoder_outputs.append(x)
        pooled_output = pooler(x[:, 0, :])
        super().__init__(
            inputs={features.TOKEN_IDS: token_ids, features.SEGMENT_IDS: segment_ids,
                    features.PADDING_MASK: padding_mask},
            outputs={features.SEQUENCE_OUTPUT: x, features.POOLED_OUTPUT: pooled_output,
                     features.ENCODER_OUTPUTS: encoder_outputs, features.EMBEDDING_OUTPUT: embedding_output},
            dtype=dtype, **kwargs)

        # === Config ===
        self.dtype_policy = token_embedding.dtype_policy  # `dtype`, not the global policy a functional Model takes
        self.bert_config = config
        self.token_embedding = token_embedding
        self.position_embedding = position_embedding
        self.segment_embedding = segment_embedding
        self.embeddings_layer_norm = embeddings_layer_norm
        self.transformer_layers = blocks
        self.pooler = pooler

    def call(self, inputs, training=None, mask=None):
        # Keras falls back to positional wiring (with only a warning) when a dict has extra keys, which would
        # silently feed e.g. `masked_positions` as `padding_mask`: pick the three inputs by name instead.
        if isinstance(inputs, dict):
            missing = [name for name in features.ENCODER_INPUTS if name not in inputs]
            if missing:
                raise ValueError(f"BertEncoder inputs are missing {missing}; got keys {sorted(inputs)}")
            inputs = {name: inputs[name] for name in features.ENCODER_INPUTS}
        return super().call(inputs, training=training, mask=mask)

    @classmethod
    def from_bert_config(cls, config: BertConfig, **kwargs) -> "BertEncoder":
        return cls(**config.to_dict(), **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": keras.dtype_policies.serialize(
            self.token_embedding.dtype_policy)}
        config.update(self.bert_config.to_dict())
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
