"""`BertTokenClassifier`: BERT + a per-token head (NER with BIO or BIOES tags)."""

import keras

from bert_tf import features
from bert_tf.heads.token_classification_head import TokenClassificationHead
from bert_tf.metrics.token_accuracy import TokenAccuracy
from bert_tf.tasks.task import Task

IGNORE_LABEL = -100


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassifier(Task):
    """Token classification as in the paper's NER: a tag for the first word-piece of every word.

    Labels are int `(B, T)`: the tag id at each word's first piece and `-100` everywhere else (other pieces,
    `[CLS]`, `[SEP]`, padding). The default loss (sparse cross-entropy with `ignore_class=-100`) and metric
    (`TokenAccuracy`) skip those positions. `bert_tf.data.ner` builds such labels from words + tags and maps
    predictions back to words (and to characters for KLUE-NER).

    Args:
        encoder: `BertEncoder`.
        num_classes: int. Number of tags.
        dropout: float. Dropout before the output layer. Defaults to 0.1.
        head_initializer: str. The head's kernel initializer: `"glorot_uniform"` (Keras' Dense default, as
            keras-hub) or `"truncated_normal"` (google-research/bert: stddev `initializer_range`). Defaults to
            `"glorot_uniform"` (see README, "Fine-tuning recipe").
        label_names: optional list of str, the tag names (`"O"`, `"B-PER"`, ...; BIO or BIOES).

    Inputs: dict of int32 `(B, T)` `token_ids`, `segment_ids`, `padding_mask`. Output: logits `(B, T, num_classes)`.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> model = BertTokenClassifier(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41)), 5)
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> tuple(model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")}).shape)
    (1, 5, 5)
    """

    task_type = "token_classifier"
    config_keys = ("head_initializer", "num_classes", "dropout", "label_names")

    def __init__(self, encoder, num_classes, dropout=0.1, label_names=None, head_initializer="glorot_uniform",
                 **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        label_names = self._label_names(label_names, num_classes)
        head = TokenClassificationHead(num_classes, dropout=dropout, name="token_classification_head",
                                       **self._head_settings(encoder, head_initializer, kwargs))
        inputs = self._encoder_inputs()
        super().__init__(inputs=inputs, outputs=head(encoder(inputs)[features.SEQUENCE_OUTPUT]), **kwargs)
        self._keep(encoder, head, head_initializer=head_initializer, num_classes=num_classes, dropout=dropout,
                   label_names=label_names)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL)

    def default_metrics(self):
        return [TokenAccuracy(ignore_class=IGNORE_LABEL)]
