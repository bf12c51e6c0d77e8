"""Regressor export (`BertRegressor`): `text` [, `text_b`] -> `score` [B]; also `regress` on tf.Examples (TF
Serving's Regress: `outputs` [B])."""

from __future__ import annotations

import tensorflow as tf

from bert_tf.features import SCORE
from serving.export.module import REGRESS_METHOD_NAME, ExportModule, logits


class RegressorExport(ExportModule):
    TASK_TYPE = "regressor"
    MODEL_CLASS = "BertRegressor"
    EXAMPLE_SIGNATURE = ("regress", REGRESS_METHOD_NAME)

    def outputs_from_ids(self, inputs):
        return {SCORE: tf.reshape(tf.cast(logits(self.model(inputs, training=False)), tf.float32), [-1])}

    def example_outputs(self, outputs):
        return {"outputs": outputs[SCORE]}
