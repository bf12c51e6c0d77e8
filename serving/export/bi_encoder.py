"""Bi-encoder export (`BertBiEncoder`): `text`, `text_b` -> `score` [B], each text packed alone; also `regress` on
tf.Examples (features `text` and `text_b`; TF Serving's Regress: `outputs` [B])."""

from __future__ import annotations

import tensorflow as tf

from bert_tf import features
from bert_tf.features import SCORE
from serving.export.module import REGRESS_METHOD_NAME, ExportModule, logits


class BiEncoderExport(ExportModule):
    TASK_TYPE = "bi_encoder"
    MODEL_CLASS = "BertBiEncoder"
    NEEDS_PAIR = True
    IDS_SHAPE = (None, 2, None)  # (B, 2, T): each pair's two sentences, each packed alone
    EXAMPLE_SIGNATURE = ("regress", REGRESS_METHOD_NAME)

    def pack(self, text, text_b=None):
        """`[CLS] text [SEP]` and `[CLS] text_b [SEP]`, padded to the longer of the two batches: `(B, 2, T)`."""
        a, b = self.text_packer(text), self.text_packer(text_b)
        length = tf.maximum(tf.shape(a[features.TOKEN_IDS])[1], tf.shape(b[features.TOKEN_IDS])[1])

        def padded(x):
            return tf.pad(x, [[0, 0], [0, length - tf.shape(x)[1]]])
        return {name: tf.stack([padded(a[name]), padded(b[name])], axis=1) for name in features.ENCODER_INPUTS}

    def outputs_from_ids(self, inputs):
        return {SCORE: tf.reshape(tf.cast(logits(self.model(inputs, training=False)), tf.float32), [-1])}

    def example_outputs(self, outputs):
        return {"outputs": outputs[SCORE]}
