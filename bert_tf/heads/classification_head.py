"""`ClassificationHead`: pooling → dropout → dense, one logit per class (one output = regression)."""

import keras

from bert_tf.heads.head_initializer import head_kernel_initializer
from bert_tf.heads.sequence_pooling import SequencePooling


@keras.saving.register_keras_serializable(package="bert_tf")
class ClassificationHead(keras.layers.Layer):
    """The paper's sentence(-pair) classification layer: `Dense(num_classes)` on a pooled sequence vector.

    Args:
        num_classes: int. Number of outputs (1 for regression, e.g. STS-B/KorSTS).
        pooling: str. How the sequence becomes one vector, see `SequencePooling`: `"cls"` (BERT's pooler,
            google-research/bert's choice), `"cls_token"`, `"mean"` (sentence-transformers' checkpoints such
            as all-MiniLM-L6-v2 were trained with it) or `"max"`. Defaults to `"cls"`.
        dropout: float. Dropout before the output layer. Defaults to 0.1.
        initializer_range: float. Stddev of the truncated-normal kernel initializer. Defaults to 0.02.
        kernel_initializer: str or None. `"glorot_uniform"` or `"truncated_normal"` (stddev
            `initializer_range`, google-research/bert), see `head_initializer.HEAD_INITIALIZERS`. Defaults to
            None: `"truncated_normal"`.

    Call arguments:
        sequence_output: float `(B, T, H)`.
        pooled_output: float `(B, H)`; used by `pooling="cls"`.
        padding_mask: int `(B, T)`; used by `"mean"`/`"max"`.

    Returns logits `(B, num_classes)`.

    Example:
    >>> import numpy as np
    >>> head = ClassificationHead(5, pooling="mean")
    >>> x = np.random.rand(2, 7, 12).astype("float32")
    >>> tuple(head(x, padding_mask=np.ones((2, 7), "int32")).shape)
    (2, 5)
    """

    def __init__(self, num_classes, pooling="cls", dropout=0.1, initializer_range=0.02, kernel_initializer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.kernel_initializer = kernel_initializer
        # === Layers ===
        self.pooling_layer = SequencePooling(pooling, dtype=self.dtype_policy, name="pooling")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = keras.layers.Dense(
            num_classes, kernel_initializer=head_kernel_initializer(kernel_initializer, initializer_range),
            dtype=self.dtype_policy, name="logits")

    def build(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        self.dense.build((None, sequence_output_shape[-1]))
        self.built = True

    def call(self, sequence_output, pooled_output=None, padding_mask=None, training=None):
        # pooled: (B, H)
        pooled = self.pooling_layer(sequence_output, pooled_output=pooled_output, padding_mask=padding_mask)
        return self.dense(self.dropout_layer(pooled, training=training))

    def compute_output_shape(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        return (sequence_output_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "pooling": self.pooling,
                "dropout": self.dropout, "initializer_range": self.initializer_range,
                "kernel_initializer": self.kernel_initializer}
