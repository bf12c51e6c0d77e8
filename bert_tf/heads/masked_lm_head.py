"""`MaskedLMHead`: BERT's masked-language-model head, tied to the encoder's word embeddings."""

import keras
import keras_hub
from keras import ops

from bert_tf.layers import activations


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(keras_hub.layers.MaskedLMHead):
    """BERT's masked-LM head: gather → dense(H, `hidden_act`) → LayerNorm → `x @ word_embeddings^T + bias`.

    A thin subclass of keras-hub's `MaskedLMHead`, whose computation is exactly google-research/bert's
    `get_masked_lm_output` and Hugging Face's `BertLMPredictionHead`: it gathers the encoder's output at the
    masked positions, applies a dense layer of the same width with the encoder's activation, a LayerNorm,
    and projects onto the vocabulary through the transposed word-embedding table of `token_embedding`
    (weights tied, not copied) plus a per-token output bias.

    What this subclass adds over keras-hub's layer: the activation is named by `BertConfig.hidden_act`
    (`"gelu"` = exact erf GELU, `"gelu_approximate"` = the tanh form; keras-hub's default is `"relu"` and a
    function object would not survive `get_config`), the LayerNorm epsilon and initializer follow the
    BERT config, and the three trainable pieces are exposed as `dense`, `layer_norm` and `output_bias`
    for the checkpoint converters.

    Args:
        token_embedding: `keras_hub.layers.ReversibleEmbedding`. The encoder's word-embedding layer
            (`BertEncoder.token_embedding`); its table is used transposed as the output projection.
        hidden_act: str. Activation of the transform dense layer, a `BertConfig.hidden_act` name.
            Defaults to `"gelu"`.
        layer_norm_eps: float. LayerNorm epsilon. Defaults to 1e-12.
        initializer_range: float. Stddev of the truncated-normal kernel initializer. Defaults to 0.02.

    Call arguments:
        inputs: float tensor `(B, T, H)`, the encoder's `sequence_output`.
        mask_positions: int tensor `(B, P)`, positions to predict.

    Returns logits `(B, P, V)`.

    Example:
    >>> import numpy as np
    >>> embedding = keras_hub.layers.ReversibleEmbedding(41, 12)
    >>> head = MaskedLMHead(embedding)
    >>> x = embedding(np.array([[2, 5, 7, 3, 0]]))
    >>> tuple(head(x, mask_positions=np.array([[1, 2]])).shape)
    (1, 2, 41)
    """

    def __init__(self, token_embedding, hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.02,
                 **kwargs):
        for key in ("vocabulary_size", "intermediate_activation", "activation", "layer_norm_epsilon",
                    "kernel_initializer", "bias_initializer"):
            # keras-hub's own config keys: this class stores BERT's names instead (see get_config).
            kwargs.pop(key, None)
        super().__init__(
            token_embedding=token_embedding,
            intermediate_activation=activations.get(hidden_act),
            activation=None,
            layer_norm_epsilon=layer_norm_eps,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            bias_initializer="zeros",
            **kwargs)
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

    def call(self, inputs, mask_positions):
        """keras-hub's computation, with float32 logits: under a mixed policy keras-hub's `outputs + self._bias`
        adds the float32 bias variable to bfloat16 logits (it is not autocast after the shared embedding's own
        reverse call) and fails; and a 16k-30k-way softmax loss wants float32 logits anyway (8 mantissa bits of
        bfloat16 cost the loss its precision). Identical to keras-hub's under float32."""
        # x: (B, P, H) at the masked positions
        x = ops.take_along_axis(inputs, ops.expand_dims(mask_positions, axis=-1), axis=1)
        x = self._intermediate_layer_norm(self._intermediate_dense(x))
        logits = self.token_embedding(x, reverse=True) if self.token_embedding else ops.matmul(x, self._kernel)
        # logits: (B, P, V)
        logits = ops.cast(logits, "float32") + ops.cast(self._bias, "float32")
        return self.activation(logits) if self.activation is not None else logits

    # === Weights, by BERT's names (read by bert_tf.checkpoints) ===
    @property
    def dense(self) -> keras.layers.Dense:
        """The transform dense layer: kernel `(H, H)`, bias `(H,)`."""
        return self._intermediate_dense

    @property
    def layer_norm(self) -> keras.layers.LayerNormalization:
        """The transform LayerNorm: gamma `(H,)`, beta `(H,)`."""
        return self._intermediate_layer_norm

    @property
    def output_bias(self):
        """The output bias variable `(V,)`."""
        return self._bias

    # === Config ===
    def get_config(self):
        config = super().get_config()
        for key in ("vocabulary_size", "intermediate_activation", "activation", "layer_norm_epsilon",
                    "kernel_initializer", "bias_initializer"):
            config.pop(key, None)
        config.update({
            "hidden_act": self.hidden_act,
            "layer_norm_eps": self.layer_norm_eps,
            "initializer_range": self.initializer_range,
        })
        return config
