"""`SpanHead`: start and end logits over the tokens (SQuAD-style extractive QA)."""

import keras
from keras import ops

from bert_tf.heads.fine_tuning_head import FineTuningHead


@keras.saving.register_keras_serializable(package="bert_tf")
class SpanHead(FineTuningHead):
    """The paper's SQuAD layer: one dense layer with two outputs per token, the start and end logits.

    For SQuAD 2.0, "no answer" is the span that starts and ends at `[CLS]` (position 0), as in
    google-research/bert; nothing special is needed in the layer. Padding positions get a logit of -10000
    so no probability mass (and no loss) lands on them.

    Args:
        initializer_range, kernel_initializer: see `FineTuningHead`.

    Call arguments:
        sequence_output: float `(B, T, H)`.
        padding_mask: optional int `(B, T)`, 1 for real tokens.

    Returns a tuple `(start_logits, end_logits)`, each `(B, T)`.

    Example:
    >>> import numpy as np
    >>> start, end = SpanHead()(np.zeros((2, 7, 12), "float32"))
    >>> tuple(start.shape), tuple(end.shape)
    ((2, 7), (2, 7))
    """

    def __init__(self, initializer_range=0.02, kernel_initializer=None, **kwargs):
        super().__init__(2, "span_logits", initializer_range=initializer_range,
                         kernel_initializer=kernel_initializer, **kwargs)

    def build(self, sequence_output_shape, padding_mask_shape=None):
        self.dense.build(sequence_output_shape)
        self.built = True

    def call(self, sequence_output, padding_mask=None):
        # logits: (B, T, 2)
        logits = self.head_output(sequence_output)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        if padding_mask is not None:
            penalty = (1.0 - ops.cast(padding_mask, logits.dtype)) * ops.cast(-10000.0, logits.dtype)
            start_logits = start_logits + penalty
            end_logits = end_logits + penalty
        return start_logits, end_logits

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        shape = tuple(sequence_output_shape[:-1])
        return shape, shape
