"""`MultipleChoiceHead`: one score per choice (SWAG), reshaped to `(B, C)`."""

import keras
from keras import ops

from bert_tf.heads.fine_tuning_head import FineTuningHead


@keras.saving.register_keras_serializable(package="bert_tf")
class MultipleChoiceHead(FineTuningHead):
    """Scores every (context, choice) sequence with `Dense(1)` on its pooled vector, then groups the scores
    per example: the paper's SWAG setup (a softmax over the C choices is applied by the loss).

    The task flattens its `(B, C, T)` inputs to `(B*C, T)` before the encoder; this head receives the
    encoder's flattened outputs and `num_choices_source`, any tensor whose axis 1 is C (the task passes its
    `(B, C, T)` token ids), so C may change from batch to batch.

    Args:
        pooling: str. See `FineTuningHead`. Defaults to `"cls"`.
        dropout: float. Dropout before the scoring layer. Defaults to 0.1.
        initializer_range, kernel_initializer: see `FineTuningHead`.

    Call arguments:
        sequence_output: float `(B*C, T, H)`.
        num_choices_source: tensor `(B, C, ...)`.
        pooled_output: float `(B*C, H)`; used by `pooling="cls"`.
        padding_mask: int `(B*C, T)`; used by `"mean"`/`"max"`.

    Returns logits `(B, C)`.

    Example:
    >>> import numpy as np
    >>> ids = np.ones((2, 4, 7), "int32")
    >>> x = np.random.rand(8, 7, 12).astype("float32")
    >>> tuple(MultipleChoiceHead(pooling="mean")(x, ids, padding_mask=np.ones((8, 7), "int32")).shape)
    (2, 4)
    """

    def __init__(self, pooling="cls", dropout=0.1, initializer_range=0.02, kernel_initializer=None, **kwargs):
        super().__init__(1, "choice_score", pooling=pooling, dropout=dropout, initializer_range=initializer_range,
                         kernel_initializer=kernel_initializer, **kwargs)

    def build(self, sequence_output_shape, num_choices_source_shape=None, pooled_output_shape=None,
              padding_mask_shape=None):
        self.dense.build((None, sequence_output_shape[-1]))
        self.built = True

    def call(self, sequence_output, num_choices_source, pooled_output=None, padding_mask=None, training=None):
        # scores: (B*C, 1) -> (B, C)
        scores = self.head_output(sequence_output, pooled_output, padding_mask, training=training)
        num_choices = ops.shape(num_choices_source)[1]
        return ops.reshape(scores, (-1, num_choices))

    def compute_output_shape(self, sequence_output_shape, num_choices_source_shape=None, pooled_output_shape=None,
                             padding_mask_shape=None):
        return (None, num_choices_source_shape[1] if num_choices_source_shape else None)
