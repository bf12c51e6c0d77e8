"""`BertMultipleChoice`: BERT scoring each of C (context, ending) pairs; softmax over choices (SWAG)."""

import keras

from bert_tf import features
from bert_tf.heads.multiple_choice_head import MultipleChoiceHead
from bert_tf.tasks.task import FlattenGroups, Task


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMultipleChoice(Task):
    """Multiple choice as in the paper's SWAG experiment: each choice is packed with the context as
    `[CLS] context [SEP] choice [SEP]`, scored by `Dense(1)` on the pooled vector, and the C scores of an
    example are trained with a softmax cross-entropy against the index of the right choice.

    Args:
        encoder: `BertEncoder`.
        pooling: str. See `BertClassifier`. Defaults to `"cls"`.
        dropout: float. Dropout before the scoring layer. Defaults to 0.1.
        head_initializer: str. The head's kernel initializer: `"glorot_uniform"` (Keras' Dense default, as
            keras-hub) or `"truncated_normal"` (google-research/bert: stddev `initializer_range`). Defaults to
            `"glorot_uniform"` (see README, "Fine-tuning recipe").

    Inputs: dict of int32 `(B, C, T)` `token_ids`, `segment_ids`, `padding_mask`. Output: logits `(B, C)`.
    Labels: int `(B,)`, the index of the right choice.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> model = BertMultipleChoice(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41)))
    >>> ids = np.array([[[2, 5, 3, 7, 3], [2, 5, 3, 9, 3], [2, 5, 3, 8, 3]]], "int32")
    >>> tuple(model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")}).shape)
    (1, 3)
    """

    task_type = "multiple_choice"
    config_keys = ("head_initializer", "pooling", "dropout")

    def __init__(self, encoder, pooling="cls", dropout=0.1, head_initializer="glorot_uniform", **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        flatten = {name: FlattenGroups(name=f"flatten_{name}") for name in features.ENCODER_INPUTS}
        head = MultipleChoiceHead(pooling=pooling, dropout=dropout, name="multiple_choice_head",
                                  **self._head_settings(encoder, head_initializer, kwargs))
        # inputs: (B, C, T) each; flat: (B*C, T)
        inputs = self._encoder_inputs(shape=(None, None))
        flat = {name: flatten[name](inputs[name]) for name in features.ENCODER_INPUTS}
        encoded = encoder(flat)
        logits = head(encoded[features.SEQUENCE_OUTPUT], inputs[features.TOKEN_IDS],
                      pooled_output=encoded[features.POOLED_OUTPUT], padding_mask=flat[features.PADDING_MASK])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self._keep(encoder, head, head_initializer=head_initializer, pooling=pooling, dropout=dropout)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
