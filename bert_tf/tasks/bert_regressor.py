"""`BertRegressor`: BERT + a one-output head trained with mean squared error (STS-B, KorSTS)."""

import keras

from bert_tf.heads.classification_head import ClassificationHead
from bert_tf.tasks.task import Task


@keras.saving.register_keras_serializable(package="bert_tf")
class BertRegressor(Task):
    """Sentence(-pair) regression: one score per input, MSE loss (the paper's STS-B setup).

    Args:
        encoder: `BertEncoder`.
        pooling: str. See `BertClassifier`. Defaults to `"cls"`.
        dropout: float. Dropout on the pooled vector. Defaults to 0.1.
        head_initializer: str. The head's kernel initializer: `"glorot_uniform"` (Keras' Dense default, as
            keras-hub) or `"truncated_normal"` (google-research/bert: stddev `initializer_range`). Defaults to
            `"glorot_uniform"` (see README, "Fine-tuning recipe").

    Inputs: dict of int32 `(B, T)` `token_ids`, `segment_ids`, `padding_mask`. Output: scores `(B, 1)`.
    Default metrics: mean squared error, mean absolute error (Pearson/Spearman are corpus-level: compute
    them on the predictions with `bert_tf.metrics`).

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> model = BertRegressor(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41)))
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> tuple(model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")}).shape)
    (1, 1)
    """

    task_type = "regressor"
    config_keys = ("head_initializer", "pooling", "dropout")

    def __init__(self, encoder, pooling="cls", dropout=0.1, head_initializer="glorot_uniform", **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        head = ClassificationHead(1, pooling=pooling, dropout=dropout, name="regression_head",
                                  **self._head_settings(encoder, head_initializer, kwargs))
        inputs = self._encoder_inputs()
        super().__init__(inputs=inputs, outputs=self._pooled_head(head, encoder(inputs), inputs), **kwargs)
        self._keep(encoder, head, head_initializer=head_initializer, pooling=pooling, dropout=dropout)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanSquaredError(name="mse"), keras.metrics.MeanAbsoluteError(name="mae")]
