"""`TokenClassificationHead`: dropout → dense on every token (NER, POS)."""

import keras

from bert_tf.heads.fine_tuning_head import FineTuningHead, check_num_classes


@keras.saving.register_keras_serializable(package="bert_tf")
class TokenClassificationHead(FineTuningHead):
    """One logit vector per token, the paper's NER layer.

    Args:
        num_classes: int. Number of tags (e.g. 13 for BIO over 6 entity types).
        dropout: float. Dropout before the output layer. Defaults to 0.1.
        initializer_range, kernel_initializer: see `FineTuningHead`.

    Call arguments:
        sequence_output: float `(B, T, H)`.

    Returns logits `(B, T, num_classes)`.

    Example:
    >>> import numpy as np
    >>> tuple(TokenClassificationHead(5)(np.zeros((2, 7, 12), "float32")).shape)
    (2, 7, 5)
    """

    def __init__(self, num_classes, dropout=0.1, initializer_range=0.02, kernel_initializer=None, **kwargs):
        super().__init__(check_num_classes(num_classes), "logits", dropout=dropout,
                         initializer_range=initializer_range, kernel_initializer=kernel_initializer, **kwargs)
        self.num_classes = num_classes

    def build(self, sequence_output_shape):
        self.dense.build(sequence_output_shape)
        self.built = True

    def call(self, sequence_output, training=None):
        return self.head_output(sequence_output, training=training)

    def compute_output_shape(self, sequence_output_shape):
        return tuple(sequence_output_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
