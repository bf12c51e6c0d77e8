"""Classifier export (`BertClassifier`): `text` [, `text_b`] -> `probabilities` [B, C], `label_ids` [B],
`labels` [B]; also `classify` on tf.Examples (TF Serving's Classify: `classes` and `scores` [B, C])."""

from __future__ import annotations

import tensorflow as tf

from bert_tf import features
from serving.export.module import CLASSIFY_METHOD_NAME, ExportModule, logits


class ClassifierExport(ExportModule):
    TASK_TYPE = "classifier"
    MODEL_CLASS = "BertClassifier"
    NEEDS_LABELS = True
    EXAMPLE_SIGNATURE = ("classify", CLASSIFY_METHOD_NAME)

    def outputs_from_ids(self, inputs):
        return self.label_outputs(logits(self.model(inputs, training=False)))

    def example_outputs(self, outputs):
        scores = outputs[features.PROBABILITIES]
        num_classes = tf.shape(scores)[1]
        names = self.label_ids_to_names.lookup(tf.range(num_classes, dtype=tf.int64))
        classes = tf.tile(names[None, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}
