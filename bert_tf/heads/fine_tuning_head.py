"""`FineTuningHead`: what the fine-tuning heads share, `[pooling →] [dropout →] Dense`."""

import keras

from bert_tf.heads.head_initializer import head_kernel_initializer
from bert_tf.heads.sequence_pooling import SequencePooling


def check_num_classes(num_classes):
    """`num_classes` if it is a positive int (not a bool), else `ValueError`."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return num_classes


class FineTuningHead(keras.layers.Layer):
    """Base of `ClassificationHead`, `TokenClassificationHead`, `SpanHead` and `MultipleChoiceHead`: an optional
    `SequencePooling` (`pooling_layer`), an optional `Dropout` (`dropout_layer`), then the output `Dense` (`dense`).

    Args (the subclasses' own, documented once here):
        pooling: str or None. How a sequence becomes one vector, see `SequencePooling`: `"cls"` (BERT's pooler,
            google-research/bert's choice), `"cls_token"`, `"mean"` (sentence-transformers' checkpoints such as
            all-MiniLM-L6-v2 were trained with it) or `"max"`. None: no pooling (per-token heads).
        dropout: float or None. Dropout before the output layer. None: no dropout layer.
        initializer_range: float. Stddev of the truncated-normal kernel initializer. Defaults to 0.02.
        kernel_initializer: str or None. `"glorot_uniform"` or `"truncated_normal"` (stddev `initializer_range`,
            google-research/bert), see `head_initializer.HEAD_INITIALIZERS`. Defaults to None:
            `"truncated_normal"`.

    Subclasses pass `units` and `output_name` (the output layer's size and name, part of its weights' paths).
    `get_config` holds `pooling` and `dropout` only for a head that has them.
    """

    def __init__(self, units, output_name, *, pooling=None, dropout=None, initializer_range=0.02,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.pooling = pooling
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.kernel_initializer = kernel_initializer
        # === Layers (in this order: the dropout's seed and the kernel initializer's are drawn as they are made) ===
        if pooling is not None:
            self.pooling_layer = SequencePooling(pooling, dtype=self.dtype_policy, name="pooling")
        if dropout is not None:
            self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = keras.layers.Dense(
            units, kernel_initializer=head_kernel_initializer(kernel_initializer, initializer_range),
            dtype=self.dtype_policy, name=output_name)

    def head_output(self, sequence_output, pooled_output=None, padding_mask=None, training=None):
        """`dense(dropout(pool(sequence_output)))`, each step the head has."""
        x = sequence_output
        if self.pooling is not None:
            x = self.pooling_layer(sequence_output, pooled_output=pooled_output, padding_mask=padding_mask)
        if self.dropout is not None:
            x = self.dropout_layer(x, training=training)
        return self.dense(x)

    def get_config(self):
        config = {**super().get_config(), "initializer_range": self.initializer_range,
                  "kernel_initializer": self.kernel_initializer}
        if self.pooling is not None:
            config["pooling"] = self.pooling
        if self.dropout is not None:
            config["dropout"] = self.dropout
        return config
