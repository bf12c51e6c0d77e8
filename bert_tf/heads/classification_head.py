"""`ClassificationHead`: pooling → dropout → dense, one logit per class (one output = regression)."""

import keras

from bert_tf.heads.fine_tuning_head import FineTuningHead, check_num_classes


@keras.saving.register_keras_serializable(package="bert_tf")
class ClassificationHead(FineTuningHead):
    """The paper's sentence(-pair) classification layer: `Dense(num_classes)` on a pooled sequence vector.

    Args:
        num_classes: int. Number of outputs (1 for regression, e.g. STS-B/KorSTS).
        pooling: str. See `FineTuningHead`. Defaults to `"cls"`.
        dropout: float. Dropout before the output layer. Defaults to 0.1.
        initializer_range, kernel_initializer: see `FineTuningHead`.

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
        super().__init__(check_num_classes(num_classes), "logits", pooling=pooling, dropout=dropout,
                         initializer_range=initializer_range, kernel_initializer=kernel_initializer, **kwargs)
        self.num_classes = num_classes

    def build(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        self.dense.build((None, sequence_output_shape[-1]))
        self.built = True

    def call(self, sequence_output, pooled_output=None, padding_mask=None, training=None):
        return self.head_output(sequence_output, pooled_output, padding_mask, training=training)

    def compute_output_shape(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        return (sequence_output_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
