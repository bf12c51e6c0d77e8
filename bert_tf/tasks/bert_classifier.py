"""`BertClassifier`: BERT + a classification head, for single sentences and sentence pairs."""

import keras

from bert_tf.heads.classification_head import ClassificationHead
from bert_tf.tasks.task import Task


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(Task):
    """Sequence classification: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` → `num_classes` logits.

    Compiles by default with sparse categorical cross-entropy on logits and accuracy (see `Task.compile`).

    Args:
        encoder: `BertEncoder`.
        num_classes: int. Number of labels.
        pooling: str. `"cls"` (BERT's pooler, the paper), `"cls_token"`, `"mean"` or `"max"` (see
            `SequencePooling`). `bert_tf.tasks.default_pooling(checkpoint)` gives the mode a checkpoint was
            trained with (sentence-transformers' `1_Pooling/config.json`); `finetune_classifier` and
            `scripts/run_classifier.py` use it when no pooling is given. Defaults to `"cls"`.
        dropout: float. Dropout on the pooled vector. Defaults to 0.1.
        head_initializer: str. The head's kernel initializer: `"glorot_uniform"` (Keras' Dense default, as
            keras-hub) or `"truncated_normal"` (google-research/bert: stddev `initializer_range`). Defaults to
            `"glorot_uniform"` (see README, "Fine-tuning recipe").
        label_names: optional list of str, one per class, stored with the model (used by exports/serving).

    Inputs: dict of int32 `(B, T)` `token_ids`, `segment_ids`, `padding_mask`. Output: logits `(B, num_classes)`.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41))
    >>> model = BertClassifier(encoder, num_classes=5, pooling="mean")
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0).astype("int32")}
    >>> tuple(model(x).shape)
    (1, 5)
    """

    task_type = "classifier"
    config_keys = ("head_initializer", "num_classes", "pooling", "dropout", "label_names")

    def __init__(self, encoder, num_classes, pooling="cls", dropout=0.1, label_names=None,
                 head_initializer="glorot_uniform", **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        label_names = self._label_names(label_names, num_classes)
        head = ClassificationHead(num_classes, pooling=pooling, dropout=dropout, name="classification_head",
                                  **self._head_settings(encoder, head_initializer, kwargs))
        inputs = self._encoder_inputs()
        super().__init__(inputs=inputs, outputs=self._pooled_head(head, encoder(inputs), inputs), **kwargs)
        self._keep(encoder, head, head_initializer=head_initializer, num_classes=num_classes, pooling=pooling,
                   dropout=dropout, label_names=label_names)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
