"""`BertPretrainer`: encoder + masked-LM head + next-sentence head, with BERT's pre-training loss and metrics."""

import keras
from keras import ops

from bert_tf import features
from bert_tf.encoder import BertEncoder
from bert_tf.heads.masked_lm_head import MaskedLMHead
from bert_tf.heads.next_sentence_head import NextSentenceHead

# google-research/bert's run_pretraining.py: numerator / (denominator + 1e-5).
_WEIGHT_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(keras.Model):
    """BERT pre-training model: `BertEncoder` + `MaskedLMHead` (tied to the word embeddings) + `NextSentenceHead`.

    Inputs (dict): the encoder's `token_ids`, `segment_ids`, `padding_mask` (int32 `(B, T)`) plus
    `masked_positions` (int32 `(B, P)`; padding slots may point at position 0, their weight is 0).

    Outputs (dict): `mlm_logits` `(B, P, V)`; `nsp_logits` `(B, 2)` (only when `nsp=True`).

    Training contract (`model.fit(dataset)` where the dataset yields `(x, y)`):
        `x`: the inputs above, names from `bert_tf.features`.
        `y`: a dict with `masked_ids` (int `(B, P)`, the original token ids at the masked positions),
            `masked_weights` (float `(B, P)`, 1.0 for real predictions and 0.0 for padding slots) and, when
            `nsp=True`, `next_sentence_labels` (int `(B,)` or `(B, 1)`; 0 = actual next, 1 = random).
        No `sample_weight`: the per-prediction weights live in `y["masked_weights"]` (passing a third
        element raises).
    Compile with an optimizer only: `model.compile(optimizer=...)` (no `loss`, no `metrics`); the loss and the
    metrics are built in (`compute_loss`/`compute_metrics` are overridden), as in google-research/bert:
        loss = sum(w * CE(mlm)) / (sum(w) + 1e-5) + mean(CE(nsp))
    Logged metrics: `loss`, `masked_lm_loss`, `masked_lm_accuracy` (weighted by `masked_weights`), and with NSP
    `next_sentence_loss`, `next_sentence_accuracy`. Logits are cast to float32 before the loss, so the model
    trains under the `mixed_bfloat16` policy.

    The google-research/bert record features map onto this contract as: `input_ids`→`token_ids`,
    `input_mask`→`padding_mask`, `segment_ids`→`segment_ids`, `masked_lm_positions`→`masked_positions`,
    `masked_lm_ids`→`masked_ids`, `masked_lm_weights`→`masked_weights`, `next_sentence_labels` unchanged.

    Args:
        encoder: `BertEncoder`. The encoder; the MLM head reuses its `token_embedding` (tied weights).
        nsp: bool. Whether to add the next-sentence head and loss (False = the paper's "No NSP" ablation).
            Defaults to True.

    Example:
    >>> import numpy as np
    >>> from bert_tf.config import BertConfig
    >>> encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41))
    >>> model = BertPretrainer(encoder)
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> out = model({"token_ids": ids, "segment_ids": np.zeros_like(ids),
    ...              "padding_mask": (ids > 0).astype("int32"), "masked_positions": np.array([[1, 2]], "int32")})
    >>> tuple(out["mlm_logits"].shape), tuple(out["nsp_logits"].shape)
    ((1, 2, 41), (1, 2))
    """

    task_type = "pretrainer"

    def __init__(self, encoder, nsp=True, **kwargs):
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"BertPretrainer needs a bert_tf BertEncoder, got {type(encoder).__name__}")
        config = encoder.bert_config
        # The heads compute in the encoder's dtype policy (as does the model itself, set below).
        dtype = kwargs.pop("dtype", None) or encoder.dtype_policy

        # === Layers ===
        masked_lm_head = MaskedLMHead(
            encoder.token_embedding, hidden_act=config.hidden_act, layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range, dtype=dtype, name="masked_lm_head")
        next_sentence_head = NextSentenceHead(
            initializer_range=config.initializer_range, dtype=dtype, name="next_sentence_head") if nsp else None

        # === Functional Model ===
        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in features.ENCODER_INPUTS}
        inputs[features.MASKED_POSITIONS] = keras.Input(
            shape=(None,), dtype="int32", name=features.MASKED_POSITIONS)
        encoded = encoder({name: inputs[name] for name in features.ENCODER_INPUTS})
        outputs = {features.MLM_LOGITS: masked_lm_head(
            encoded[features.SEQUENCE_OUTPUT], mask_positions=inputs[features.MASKED_POSITIONS])}
        if nsp:
            outputs[features.NSP_LOGITS] = next_sentence_head(encoded[features.POOLED_OUTPUT])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.dtype_policy = masked_lm_head.dtype_policy  # not the global policy a functional Model takes
        self.encoder = encoder
        self.nsp = nsp
        self.masked_lm_head = masked_lm_head
        self.next_sentence_head = next_sentence_head

        # === Metrics ===
        self.masked_lm_loss = keras.metrics.Mean(name="masked_lm_loss")
        self.masked_lm_accuracy = keras.metrics.SparseCategoricalAccuracy(name="masked_lm_accuracy")
        if nsp:
            self.next_sentence_loss = keras.metrics.Mean(name="next_sentence_loss")
            self.next_sentence_accuracy = keras.metrics.SparseCategoricalAccuracy(name="next_sentence_accuracy")

    # === Loss and metrics ===
    def _check_targets(self, y, sample_weight):
        if sample_weight is not None:
            raise ValueError(
                "BertPretrainer takes no sample_weight: put the per-prediction weights in "
                f"y[{features.MASKED_WEIGHTS!r}]")
        needed = [features.MASKED_IDS, features.MASKED_WEIGHTS] + ([features.NEXT_SENTENCE_LABELS] if self.nsp else [])
        if not isinstance(y, dict) or any(name not in y for name in needed):
            got = sorted(y) if isinstance(y, dict) else type(y).__name__
            raise ValueError(f"BertPretrainer needs y as a dict with keys {needed}; got {got}")

    def _mlm_parts(self, y, y_pred):
        logits = ops.cast(y_pred[features.MLM_LOGITS], "float32")  # (B, P, V)
        labels = ops.cast(y[features.MASKED_IDS], "int32")  # (B, P)
        weights = ops.cast(y[features.MASKED_WEIGHTS], "float32")  # (B, P)
        per_position = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)  # (B, P)
        loss = ops.sum(per_position * weights) / (ops.sum(weights) + _WEIGHT_EPSILON)
        return logits, labels, weights, loss

    def _nsp_parts(self, y, y_pred):
        logits = ops.cast(y_pred[features.NSP_LOGITS], "float32")  # (B, 2)
        labels = ops.reshape(ops.cast(y[features.NEXT_SENTENCE_LABELS], "int32"), (-1,))  # (B,)
        loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        return logits, labels, loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Weighted-mean MLM cross-entropy (+ mean NSP cross-entropy) (+ any layer losses); updates the loss metrics."""
        self._check_targets(y, sample_weight)
        _, _, weights, mlm_loss = self._mlm_parts(y, y_pred)
        self.masked_lm_loss.update_state(mlm_loss, sample_weight=ops.sum(weights))
        total = mlm_loss
        if self.nsp:
            _, _, nsp_loss = self._nsp_parts(y, y_pred)
            self.next_sentence_loss.update_state(nsp_loss)
            total = total + nsp_loss
        if self.losses:
            total = total + ops.sum(self.losses)
        # Under a tf.distribute strategy each replica returns its share: gradients are summed across replicas.
        import tensorflow as tf
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return total / replicas if replicas > 1 else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the accuracies (the losses were updated in `compute_loss`) and returns all metric results."""
        logits, labels, weights, _ = self._mlm_parts(y, y_pred)
        self.masked_lm_accuracy.update_state(labels, logits, sample_weight=weights)
        if self.nsp:
            nsp_logits, nsp_labels, _ = self._nsp_parts(y, y_pred)
            self.next_sentence_accuracy.update_state(nsp_labels, nsp_logits)
        return self.get_metrics_result()

    # === Config ===
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "encoder": keras.layers.serialize(self.encoder), "nsp": self.nsp}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        return cls(**config)
