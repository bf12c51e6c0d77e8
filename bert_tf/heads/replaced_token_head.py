"""`ReplacedTokenHead`: ELECTRA's discriminator head, one "was this token replaced?" logit per position."""

import keras
from keras import ops

from bert_tf.layers import activations


@keras.saving.register_keras_serializable(package="bert_tf")
class ReplacedTokenHead(keras.layers.Layer):
    """ELECTRA's replaced-token-detection head: `dense(H, hidden_act)` → `dense(1)` at every position.

    The computation of google-research/electra's `_get_discriminator_output` and Hugging Face's
    `ElectraDiscriminatorPredictions` (`dense` → activation → `dense_prediction`), logits cast to float32.

    Args:
        hidden_act: str. Activation after the first dense layer, a `BertConfig.hidden_act` name.
            Defaults to `"gelu"`.
        initializer_range: float. Stddev of the truncated-normal kernel initializers. Defaults to 0.02.

    Call arguments:
        inputs: float tensor `(B, T, H)`, the discriminator's `sequence_output`.

    Returns float32 logits `(B, T)`; a positive logit means "replaced".

    Example:
    >>> import numpy as np
    >>> head = ReplacedTokenHead()
    >>> tuple(head(np.zeros((2, 7, 12), "float32")).shape)
    (2, 7)
    """

    def __init__(self, hidden_act="gelu", initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range

    def build(self, input_shape):
        # === Layers ===
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.dense = keras.layers.Dense(input_shape[-1], activation=activations.get(self.hidden_act),
                                        kernel_initializer=init, dtype=self.dtype_policy, name="dense")
        self.dense.build(input_shape)
        self.dense_prediction = keras.layers.Dense(1, kernel_initializer=init, dtype=self.dtype_policy,
                                                   name="dense_prediction")
        self.dense_prediction.build(tuple(input_shape[:-1]) + (input_shape[-1],))
        self.built = True

    def call(self, inputs):
        # inputs: (B, T, H) → logits: (B, T)
        logits = self.dense_prediction(self.dense(inputs))
        return ops.cast(ops.squeeze(logits, axis=-1), "float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_act": self.hidden_act, "initializer_range": self.initializer_range})
        return config
