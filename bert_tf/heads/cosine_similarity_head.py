"""`CosineSimilarityHead`: a sentence pair scored by the cosine of its two pooled vectors (a bi-encoder)."""

import math

import keras
from keras import ops

from bert_tf.heads.sequence_pooling import SequencePooling


def check_score_range(score_range):
    """`score_range` as a `(low, high)` tuple of finite floats with low < high, else `ValueError`."""
    try:
        low, high = (float(x) for x in score_range)
    except (TypeError, ValueError):
        raise ValueError(f"score_range must be two numbers (low, high), got {score_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"score_range must be finite with low < high, got {score_range!r}")
    return low, high


@keras.saving.register_keras_serializable(package="bert_tf")
class CosineSimilarityHead(keras.layers.Layer):
    """Pools each sentence of a pair and scores the pair by the cosine of the two vectors, mapped from [0, 1] to
    `score_range`: `low + (high - low) * cos(u, v)`.

    sentence-transformers' `CosineSimilarityLoss` trains `cos(u, v)` towards the gold score scaled to [0, 1]
    (STS: score / 5); this head keeps the scores in the labels' own units instead, so predictions read like a
    regressor's (`BertBiEncoder` weights the squared error by `1 / (high - low) ** 2`, which makes it that loss).
    Only the pooling may have weights (`"cls"`: the encoder's pooler, which the encoder owns); the head itself
    has none.

    The task flattens its `(B, 2, T)` inputs to `(2B, T)` before the encoder (rows 2i and 2i + 1 are the two
    sentences of pair i); this head receives the flattened outputs.

    Args:
        pooling: str. See `SequencePooling`. Defaults to `"mean"` (sentence-transformers' default).
        score_range: (float, float). The scores that cosines 0 and 1 map to. Defaults to `(0.0, 1.0)`.

    Call arguments:
        sequence_output: float `(2B, T, H)`.
        pooled_output: float `(2B, H)`; used by `pooling="cls"`.
        padding_mask: int `(2B, T)`; used by `"mean"`/`"max"`.

    Returns float32 scores `(B, 1)`.

    Example:
    >>> import numpy as np
    >>> x = np.random.rand(6, 7, 12).astype("float32")
    >>> tuple(CosineSimilarityHead(score_range=(0, 5))(x, padding_mask=np.ones((6, 7), "int32")).shape)
    (3, 1)
    """

    def __init__(self, pooling="mean", score_range=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.pooling = pooling
        self.score_range = check_score_range(score_range)
        # === Layers ===
        self.pooling_layer = SequencePooling(pooling, dtype=self.dtype_policy, name="pooling")

    def build(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        self.built = True

    def call(self, sequence_output, pooled_output=None, padding_mask=None):
        pooled = self.pooling_layer(sequence_output, pooled_output=pooled_output, padding_mask=padding_mask)
        # pooled: (2B, H) -> pairs: (B, 2, H); the cosine in float32 whatever the compute dtype
        pairs = ops.reshape(ops.cast(pooled, "float32"), (-1, 2, ops.shape(pooled)[-1]))
        unit = pairs / ops.maximum(ops.norm(pairs, axis=-1, keepdims=True), 1e-12)
        cosine = ops.sum(unit[:, 0] * unit[:, 1], axis=-1, keepdims=True)  # (B, 1)
        low, high = self.score_range
        return low + (high - low) * cosine

    def compute_output_spec(self, sequence_output, pooled_output=None, padding_mask=None):
        return keras.KerasTensor((None, 1), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "score_range": list(self.score_range)}
