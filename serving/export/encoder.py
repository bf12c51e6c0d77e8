"""Encoder export (`BertEncoder`): `text` [, `text_b`] -> `embedding` [B, H] (the mean over real tokens, or with
`pooling="cls"` the `[CLS]` vector) and `pooled_output` [B, H]."""

from __future__ import annotations

import tensorflow as tf

from bert_tf import features
from serving.export.module import ExportModule


class EncoderExport(ExportModule):
    TASK_TYPE = "encoder"
    MODEL_CLASS = "BertEncoder"

    def outputs_from_ids(self, inputs):
        outputs = self.model(inputs, training=False)
        sequence = tf.cast(outputs[features.SEQUENCE_OUTPUT], tf.float32)
        if self.options.pooling == "mean":  # in float32, whatever the model's dtype
            # Imported here: bert_tf.heads loads tensorflow_text, which the op audit's process must not have.
            from bert_tf.heads.sequence_pooling import masked_mean
            embedding = masked_mean(sequence, inputs[features.PADDING_MASK])
        else:
            embedding = sequence[:, 0, :]
        return {features.EMBEDDING: embedding,
                features.POOLED_OUTPUT: tf.cast(outputs[features.POOLED_OUTPUT], tf.float32)}
