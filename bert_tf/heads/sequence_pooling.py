"""`SequencePooling`: one vector per sequence from the encoder's outputs (`[CLS]` pooler, `[CLS]` token, mean, max)."""

import warnings

import keras
from keras import ops

POOLING_MODES = ("cls", "cls_token", "mean", "max")


def cls_token_alias(pooling: str, where: str) -> str:
    """`pooling` as feature extraction and the encoder export take it: their old `"cls"` (the raw `[CLS]` vector
    there, not the pooler it is here) is read as `"cls_token"`, with a DeprecationWarning naming `where` (kept
    for one release); any other value is returned unchanged."""
    if pooling != "cls":
        return pooling
    warnings.warn(f"{where}: pooling='cls' for the raw [CLS] vector is deprecated and will be removed in the next "
                  "release; use pooling='cls_token' ('cls' is BERT's pooler in SequencePooling and the heads)",
                  DeprecationWarning, stacklevel=3)
    return "cls_token"


def masked_mean(sequence_output, padding_mask):
    """The mean of `sequence_output` `(B, T, H)` over the positions where `padding_mask` `(B, T)` is 1, computed
    in `sequence_output`'s dtype: `(B, H)` (zeros for a row with no real token). The one masked mean pooling:
    `SequencePooling("mean")` and the encoder export (serving/export/encoder.py) use it."""
    mask = ops.expand_dims(ops.cast(padding_mask, sequence_output.dtype), -1)  # (B, T, 1)
    total = ops.sum(sequence_output * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), 1e-9)
    return total / count


@keras.saving.register_keras_serializable(package="bert_tf")
class SequencePooling(keras.layers.Layer):
    """Reduces `(B, T, H)` token vectors to `(B, H)`.

    Modes:
        `"cls"`: BERT's pooler output (dense + tanh on `[CLS]`), what google-research/bert classifies on.
        `"cls_token"`: the raw last-layer `[CLS]` vector (sentence-transformers' `pooling_mode_cls_token`).
        `"mean"`: mean of the last layer over real tokens (`padding_mask` = 1), sentence-transformers'
            `pooling_mode_mean_tokens`; `[CLS]` and `[SEP]` are included, as there.
        `"max"`: element-wise max over real tokens (`pooling_mode_max_tokens`).

    The same names hold everywhere a sequence is pooled: feature extraction (`bert_tf.feature_extraction`,
    `scripts/extract_features.py --pooling`) and the encoder export (`export_saved_model(pooling=)`,
    `scripts/export_model.py --pooling`) offer `"cls_token"` and `"mean"` (computed by `masked_mean`). There,
    `"cls"` used to mean the raw `[CLS]` vector: it is still read as `"cls_token"`, with a deprecation warning,
    for one release (`cls_token_alias`).

    Args:
        mode: str. One of `"cls"`, `"cls_token"`, `"mean"`, `"max"`. Defaults to `"cls"`.

    Call arguments:
        sequence_output: float `(B, T, H)`.
        pooled_output: float `(B, H)`; required for `"cls"`, ignored otherwise.
        padding_mask: int `(B, T)`, 1 for real tokens; required for `"mean"` and `"max"`.

    Returns `(B, H)`.

    Example:
    >>> import numpy as np
    >>> x = np.arange(12, dtype="float32").reshape(1, 3, 4)
    >>> SequencePooling("mean")(x, padding_mask=np.array([[1, 1, 0]])).numpy().tolist()
    [[2.0, 3.0, 4.0, 5.0]]
    """

    def __init__(self, mode="cls", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, sequence_output, pooled_output=None, padding_mask=None):
        if self.mode == "cls":
            if pooled_output is None:
                raise ValueError("pooling='cls' needs the encoder's pooled_output")
            return pooled_output
        if self.mode == "cls_token":
            return sequence_output[:, 0, :]
        if padding_mask is None:
            raise ValueError(f"pooling={self.mode!r} needs the padding_mask")
        if self.mode == "mean":
            return masked_mean(sequence_output, padding_mask)
        mask = ops.expand_dims(ops.cast(padding_mask, sequence_output.dtype), -1)  # (B, T, 1)
        very_negative = ops.cast(-1e9 if sequence_output.dtype == "float32" else -6e4, sequence_output.dtype)
        return ops.max(ops.where(mask > 0, sequence_output, very_negative), axis=1)

    def compute_output_shape(self, sequence_output_shape, pooled_output_shape=None, padding_mask_shape=None):
        return (sequence_output_shape[0], sequence_output_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
