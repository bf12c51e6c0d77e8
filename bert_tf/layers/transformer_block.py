"""`TransformerBlock`: BERT's post-LayerNorm transformer layer."""

import keras
from keras import ops

from bert_tf.layers import activations


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(keras.layers.Layer):
    """One BERT layer: self-attention, add & LayerNorm, feed-forward, add & LayerNorm (post-LN, as the paper).

    Unlike keras-hub's `TransformerEncoder`, attention-probability dropout and residual dropout are separate
    (BERT's `attention_probs_dropout_prob` and `hidden_dropout_prob`), and the activation is named by
    `BertConfig.hidden_act`, so the tanh GELU of google-research/bert is available next to the exact one.

    Args:
        num_attention_heads: int. Number of attention heads.
        intermediate_size: int. Width of the feed-forward layer.
        hidden_act: str. Name of the feed-forward activation (see `bert_tf.layers.activations`).
        hidden_dropout_prob: float. Dropout on both residual branches. Defaults to 0.1.
        attention_probs_dropout_prob: float. Dropout on attention probabilities. Defaults to 0.1.
        layer_norm_eps: float. LayerNorm epsilon. Defaults to 1e-12.
        initializer_range: float. Stddev of the truncated-normal kernel initializer. Defaults to 0.02.

    Call arguments:
        inputs: float tensor `(B, T, H)`.
        padding_mask: optional int/bool tensor `(B, T)`, 1 for real tokens.
        training: bool.

    Returns `(B, T, H)`.
    """

    def __init__(self, num_attention_heads, intermediate_size, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, layer_norm_eps=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self._activation = activations.get(hidden_act)
        self.supports_masking = True

    def build(self, input_shape):
        hidden_size = input_shape[-1]
        if hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of {self.num_attention_heads} heads")
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        # === Layers ===
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_attention_heads, key_dim=hidden_size // self.num_attention_heads,
            dropout=self.attention_probs_dropout_prob, kernel_initializer=init,
            dtype=self.dtype_policy, name="attention")
        self.attention.build(input_shape, input_shape, input_shape)
        self.attention_dropout = keras.layers.Dropout(self.hidden_dropout_prob, dtype=self.dtype_policy,
                                                      name="attention_output_dropout")
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=self.dtype_policy, name="attention_layer_norm")
        self.attention_layer_norm.build(input_shape)
        self.intermediate_dense = keras.layers.Dense(
            self.intermediate_size, kernel_initializer=init, dtype=self.dtype_policy, name="intermediate_dense")
        self.intermediate_dense.build(input_shape)
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=init, dtype=self.dtype_policy, name="output_dense")
        self.output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_size,))
        self.output_dropout = keras.layers.Dropout(self.hidden_dropout_prob, dtype=self.dtype_policy,
                                                   name="output_dropout")
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_eps, dtype=self.dtype_policy, name="output_layer_norm")
        self.output_layer_norm.build(input_shape)
        self.built = True

    def call(self, inputs, padding_mask=None, training=None):
        attention_mask = None
        if padding_mask is not None:
            mask = ops.cast(padding_mask, "bool")
            # attention_mask: (B, T_query, T_key); every query may attend to every real key.
            attention_mask = ops.logical_and(ops.expand_dims(ops.ones_like(mask), -1), ops.expand_dims(mask, 1))
        x = self.attention(inputs, inputs, inputs, attention_mask=attention_mask, training=training)
        x = self.attention_dropout(x, training=training)
        x = self.attention_layer_norm(inputs + x)
        h = self.output_dropout(self._feed_forward(x), training=training)
        return self.output_layer_norm(x + h)

    def _feed_forward(self, x):
        """dense(I, activation) → dense(H), on `x` [B, T, H] reshaped to [B*T, H].

        A rank-2 Dense is MatMul + BiasAdd, which TensorFlow's graph optimizer fuses with the activation into one
        oneDNN kernel on CPU; on the rank-3 tensor it is a BatchMatMul that is not fused, and exact GELU alone
        then costs as much as the matmul (`benchmarks/ffn_layout.py`). Same weights, same math.
        """
        h = ops.reshape(x, (-1, ops.shape(x)[-1]))
        h = self.output_dense(self._activation(self.intermediate_dense(h)))
        return ops.reshape(h, ops.shape(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "layer_norm_eps": self.layer_norm_eps,
            "initializer_range": self.initializer_range,
        })
        return config
