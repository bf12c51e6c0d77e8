"""`BertBiEncoder`: sentence-pair similarity from two sentences encoded alone (sentence-transformers' bi-encoder)."""

import keras

from bert_tf import features
from bert_tf.heads.cosine_similarity_head import CosineSimilarityHead
from bert_tf.tasks.task import FlattenGroups, Task


@keras.saving.register_keras_serializable(package="bert_tf")
class BertBiEncoder(Task):
    """Sentence-pair similarity as sentence-transformers trains it (Reimers and Gurevych 2019): each sentence is
    packed alone as `[CLS] sentence [SEP]`, both go through the same encoder, each is pooled, and the pair's score
    is the cosine of the two vectors scaled to `score_range` (`CosineSimilarityHead`), trained with
    sentence-transformers' `CosineSimilarityLoss`: the mean squared error between the cosine and the gold score
    scaled to [0, 1] (here: the squared error of the scores, weighted by `1 / (high - low) ** 2`, the compiled
    `loss_weights`, so the loss and its gradients, which fine-tuning clips at norm 1, are on that scale).

    The paper's STS-B setup (`BertRegressor`, a cross-encoder: both sentences in one input, a regression head) reads
    the two sentences together; a bi-encoder starts from the checkpoint's own sentence embeddings (their cosine
    already ranks pairs before any training), which is what makes it the better choice on a few thousand pairs,
    and its fine-tuned encoder gives sentence embeddings for search (`export_saved_model(task_type="encoder")`).

    Args:
        encoder: `BertEncoder`.
        pooling: str. See `SequencePooling`. Defaults to `"mean"` (sentence-transformers' default).
        score_range: (float, float). The scores that cosine 0 and 1 map to, e.g. `(0, 5)` for STS. Defaults to
            `(0.0, 1.0)`. `finetune_classifier` sets it to its training labels' (min, max).

    Inputs: dict of int32 `(B, 2, T)` `token_ids`, `segment_ids`, `padding_mask` (row 0 of each pair: the first
    sentence, row 1: the second, each packed alone). Output: float32 scores `(B, 1)`.
    Default metrics: mean squared error, mean absolute error, in the scores' units (Pearson/Spearman:
    `bert_tf.metrics`).

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertConfig, BertEncoder
    >>> model = BertBiEncoder(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41)),
    ...                       score_range=(0, 5))
    >>> ids = np.array([[[2, 5, 7, 3, 0], [2, 9, 3, 0, 0]]], "int32")
    >>> tuple(model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids > 0).astype("int32")}).shape)
    (1, 1)
    """

    task_type = "bi_encoder"
    config_keys = ("pooling", "score_range")

    def __init__(self, encoder, pooling="mean", score_range=(0.0, 1.0), **kwargs):
        self._check_encoder(encoder, type(self).__name__)
        flatten = {name: FlattenGroups(name=f"flatten_{name}") for name in features.ENCODER_INPUTS}
        head = CosineSimilarityHead(pooling=pooling, score_range=score_range, name="similarity_head",
                                    dtype=kwargs.pop("dtype", None) or encoder.dtype_policy)
        # inputs: (B, 2, T) each; flat: (2B, T), the two sentences of pair i at rows 2i and 2i + 1
        inputs = self._encoder_inputs(shape=(2, None))
        flat = {name: flatten[name](inputs[name]) for name in features.ENCODER_INPUTS}
        encoded = encoder(flat)
        scores = head(encoded[features.SEQUENCE_OUTPUT], pooled_output=encoded[features.POOLED_OUTPUT],
                      padding_mask=flat[features.PADDING_MASK])
        super().__init__(inputs=inputs, outputs=scores, **kwargs)
        self._keep(encoder, head, pooling=pooling, score_range=head.score_range)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_loss_weights(self):
        low, high = self.score_range
        return 1.0 / (high - low) ** 2

    def default_metrics(self):
        return [keras.metrics.MeanSquaredError(name="mse"), keras.metrics.MeanAbsoluteError(name="mae")]
