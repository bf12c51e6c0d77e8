"""Encoder export (`BertEncoder`): `text` [, `text_b`] -> `embedding` [B, H] (the mean over real tokens, or with
`pooling="cls_token"` the raw `[CLS]` vector; names as in `bert_tf.heads.SequencePooling`) and `pooled_output`
[B, H] (BERT's pooler)."""

from __future__ import annotations

import tensorflow as tf

from bert_tf import features
from serving.export.module import ExportError, ExportModule, ExportOptions

POOLING_MODES = ("mean", "cls_token")


class EncoderExport(ExportModule):
    TASK_TYPE = "encoder"
    MODEL_CLASS = "BertEncoder"

    @classmethod
    def check_options(cls, max_seq_length: int, options: ExportOptions) -> None:
        if options.pooling not in POOLING_MODES:
            raise ExportError(f"pooling must be one of {POOLING_MODES} for an encoder, got {options.pooling!r}")

    def outputs_from_ids(self, inputs):
        outputs = self.model(inputs, training=False)
        sequence = tf.cast(outputs[features.SEQUENCE_OUTPUT], tf.float32)
        if self.options.pooling == "mean":  # in float32, whatever the model's dtype
            # Imported here: bert_tf.heads loads tensorflow_text, which the op audit's process must not have.
            from bert_tf.heads.sequence_pooling import masked_mean
            embedding = masked_mean(sequence, inputs[features.PADDING_MASK])
        else:  # "cls_token"
            embedding = sequence[:, 0, :]
        return {features.EMBEDDING: embedding,
                features.POOLED_OUTPUT: tf.cast(outputs[features.POOLED_OUTPUT], tf.float32)}
