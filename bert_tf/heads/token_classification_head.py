"""`TokenClassificationHead`: dropout → dense on every token (NER, POS)."""

import keras

from bert_tf.heads.head_initializer import head_kernel_initializer


@keras.saving.register_keras_serializable(package="bert_tf")
class TokenClassificationHead(keras.layers.Layer):
    """One logit vector per token, the paper's NER layer.

    Args:
        num_classes: int. Number of tags (e.g. 13 for BIO over 6 entity types).
        dropout: float. Dropout before the output layer. Defaults to 0.1.
        initializer_range: float. Stddev of the truncated-normal kernel initializer. Defaults to 0.02.
        kernel_initializer: str or None. `"glorot_uniform"` or `"truncated_normal"` (stddev
            `initializer_range`, google-research/bert), see `head_initializer.HEAD_INITIALIZERS`. Defaults to
            None: `"truncated_normal"`.

    Call arguments:
        sequence_output: float `(B, T, H)`.

    Returns logits `(B, T, num_classes)`.

    Example:
    >>> import numpy as np
    >>> tuple(TokenClassificationHead(5)(np.zeros((2, 7, 12), "float32")).shape)
    (2, 7, 5)
    """

    def __init__(self, num_classes, dropout=0.1, initializer_range=0.02, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.kernel_initializer = kernel_initializer
        # === Layers ===
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = keras.layers.Dense(
            num_classes, kernel_initializer=head_kernel_initializer(kernel_initializer, initializer_range),
            dtype=self.dtype_policy, name="logits")

    def build(self, sequence_output_shape):
        self.dense.build(sequence_output_shape)
        self.built = True

    def call(self, sequence_output, training=None):
        return self.dense(self.dropout_layer(sequence_output, training=training))

    def compute_output_shape(self, sequence_output_shape):
        return tuple(sequence_output_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout,
                "initializer_range": self.initializer_range,
                "kernel_initializer": self.kernel_initializer}
