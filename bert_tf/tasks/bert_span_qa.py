"""`BertSpanQA`: BERT + start/end logits for extractive question answering (SQuAD v1.1/v2.0, KorQuAD)."""

import keras

from bert_tf import features
from bert_tf.heads.span_head import SpanHead
from bert_tf.tasks.task import Task

START_LOGITS = "start_logits"
END_LOGITS = "end_logits"


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanQA(Task):
    """Extractive QA: `[CLS] question [SEP] context window [SEP]` → start and end logits per token.

    Targets are `y = {"start_logits": start_position, "end_logits": end_position}` (int `(B,)`, token
    positions in the window; 0 = `[CLS]` for "no answer in this window" and for SQuAD 2.0's unanswerable
    questions). The default loss is the mean of the two cross-entropies, google-research/bert's
    `(start_loss + end_loss) / 2`. Decoding (n-best, max-context windows, mapping back to text) is in
    `bert_tf.data.squad`.

    Args:
        encoder: `BertEncoder`.
        head_initializer: str. The head's kernel initializer: `"glorot_uniform"` (Keras' Dense default, as
            keras-hub) or `"truncated_normal"` (google-research/bert: stddev `initializer_range`). Defaults to
            `"glorot_uniform"` (see README, "Fine-tuning recipe").

    Inputs: dict of int32 `(B, T)` `token_ids`, `segment_ids`, `padding_mask`.
    Outputs: dict `start_logits` `(B, T)`, `end_logits` `(B, T)` (padding positions are -10000).

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> model = BertSpanQA(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41)))
    >>> ids = np.array([[2, 5, 3, 7, 3, 0]], "int32")
    >>> out = model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")})
    >>> tuple(out["start_logits"].shape), tuple(out["end_logits"].shape)
    ((1, 6), (1, 6))
    """

    task_type = "span_qa"
    config_keys = ("head_initializer",)

    def __init__(self, encoder, head_initializer="glorot_uniform", **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        head = SpanHead(name="span_head", **self._head_settings(encoder, head_initializer, kwargs))
        inputs = self._encoder_inputs()
        encoded = encoder(inputs)
        start_logits, end_logits = head(encoded[features.SEQUENCE_OUTPUT], padding_mask=inputs[features.PADDING_MASK])
        super().__init__(inputs=inputs, outputs={START_LOGITS: start_logits, END_LOGITS: end_logits}, **kwargs)
        self._keep(encoder, head, head_initializer=head_initializer)

    def default_loss(self):
        return {START_LOGITS: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                END_LOGITS: keras.losses.SparseCategoricalCrossentropy(from_logits=True)}

    def default_loss_weights(self):
        return {START_LOGITS: 0.5, END_LOGITS: 0.5}

    def default_metrics(self):
        return {START_LOGITS: [keras.metrics.SparseCategoricalAccuracy(name="start_accuracy")],
                END_LOGITS: [keras.metrics.SparseCategoricalAccuracy(name="end_accuracy")]}
