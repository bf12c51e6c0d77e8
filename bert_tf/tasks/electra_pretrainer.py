"""`ElectraPretrainer`: ELECTRA's replaced-token detection (Clark et al., 2020) with bert_tf encoders.

A small generator (a `BertEncoder` + `MaskedLMHead`) fills the masked positions of a pre-training record with
tokens sampled from its own masked-LM distribution; the discriminator (the `BertEncoder` that is kept and
fine-tuned) reads the result and predicts, at every position, whether the token there was replaced. The
discriminator learns from every input token instead of the 15% a masked LM is scored on, which is why ELECTRA
reaches a given fine-tuning accuracy with several times less pre-training compute than BERT's MLM, most of all
for small models.
"""

import keras
import tensorflow as tf
from keras import ops

from bert_tf import features
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.heads.masked_lm_head import MaskedLMHead
from bert_tf.heads.replaced_token_head import ReplacedTokenHead

# google-research/bert's run_pretraining.py: numerator / (denominator + 1e-5).
_WEIGHT_EPSILON = 1e-5


def generator_config(config: BertConfig, generator_hidden_size: float = 0.25) -> BertConfig:
    """The generator's architecture for a discriminator of `config`, as google-research/electra sizes it:
    the same depth and vocabulary, `generator_hidden_size` times the hidden and intermediate sizes, one
    attention head per 64 hidden units (at least one)."""
    if not 0.0 < generator_hidden_size <= 1.0:
        raise ValueError(f"generator_hidden_size must be in (0, 1], got {generator_hidden_size!r}")
    hidden = max(1, int(round(config.hidden_size * generator_hidden_size)))
    heads = max(1, hidden // 64)
    while hidden % heads:
        heads -= 1
    return config.replace(hidden_size=hidden, num_attention_heads=heads,
                          intermediate_size=max(1, int(round(config.intermediate_size * generator_hidden_size))))


@keras.saving.register_keras_serializable(package="bert_tf")
class ElectraPretrainer(keras.Model):
    """ELECTRA pre-training: generator (`BertEncoder` + tied `MaskedLMHead`) → sampled replacements →
    discriminator (`BertEncoder` + `ReplacedTokenHead`).

    Inputs: `BertPretrainer`'s (the records of `create_pretraining_data.py`, masked with the 80/10/10 rule):
    `token_ids`, `segment_ids`, `padding_mask` (int32 `(B, T)`) and `masked_positions` (int32 `(B, P)`;
    padding slots point at position 0, the `[CLS]` token, which is never masked).

    Outputs (dict): `mlm_logits` `(B, P, V)` (the generator's), `rtd_logits` `(B, T)` (the discriminator's,
    positive = "replaced") and `replaced_ids` `(B, T)`: the discriminator's input, `token_ids` with every
    masked position replaced by a token sampled from the generator (gradients do not flow through sampling).

    Training contract: as `BertPretrainer` without NSP (`y` = `masked_ids`, `masked_weights`). The loss is
    google-research/electra's: `mlm_loss + disc_weight * rtd_loss`, where `rtd_loss` is the sigmoid
    cross-entropy averaged over the real (non-padding) tokens, and a sampled token equal to the original
    counts as not replaced. Logged metrics: `masked_lm_loss`, `masked_lm_accuracy` (the generator),
    `replaced_token_loss`, `replaced_token_accuracy` (the discriminator, over real tokens).

    Args:
        discriminator: `BertEncoder`. The encoder being pre-trained (`encoder` is an alias).
        generator: `BertEncoder`. The generator (see `generator_config`), same vocabulary size.
        disc_weight: float. Weight of the discriminator loss. Defaults to 50.0 (ELECTRA's).
        seed: int or None. Seed of the sampling. Defaults to None.

    Example:
    >>> import numpy as np
    >>> config = BertConfig.preset("test", vocab_size=41)
    >>> model = ElectraPretrainer(BertEncoder.from_bert_config(config),
    ...                           BertEncoder.from_bert_config(config.replace(hidden_size=6)))
    >>> ids = np.array([[2, 5, 7, 3, 0]], "int32")
    >>> out = model({"token_ids": ids, "segment_ids": np.zeros_like(ids),
    ...              "padding_mask": (ids > 0).astype("int32"), "masked_positions": np.array([[1, 2]], "int32")})
    >>> tuple(out["mlm_logits"].shape), tuple(out["rtd_logits"].shape), tuple(out["replaced_ids"].shape)
    ((1, 2, 41), (1, 5), (1, 5))
    """

    task_type = "electra_pretrainer"

    def __init__(self, discriminator, generator, disc_weight=50.0, seed=None, **kwargs):
        for role, encoder in (("discriminator", discriminator), ("generator", generator)):
            if not isinstance(encoder, BertEncoder):
                raise TypeError(f"ElectraPretrainer needs a bert_tf BertEncoder as {role}, got "
                                f"{type(encoder).__name__}")
        if generator.bert_config.vocab_size != discriminator.bert_config.vocab_size:
            raise ValueError(f"the generator's vocab_size {generator.bert_config.vocab_size} differs from the "
                             f"discriminator's {discriminator.bert_config.vocab_size}")
        dtype = kwargs.pop("dtype", None) or discriminator.dtype_policy
        super().__init__(dtype=dtype, **kwargs)
        g, d = generator.bert_config, discriminator.bert_config

        # === Layers ===
        self.discriminator = discriminator
        self.generator = generator
        self.masked_lm_head = MaskedLMHead(
            generator.token_embedding, hidden_act=g.hidden_act, layer_norm_eps=g.layer_norm_eps,
            initializer_range=g.initializer_range, dtype=dtype, name="generator_lm_head")
        self.replaced_token_head = ReplacedTokenHead(
            hidden_act=d.hidden_act, initializer_range=d.initializer_range, dtype=dtype,
            name="discriminator_predictions")
        self.sampling_seed = keras.random.SeedGenerator(seed)
        # Built now (a subclassed model builds its layers lazily): an optimizer built on `trainable_variables`
        # before the first call must see every weight.
        self.masked_lm_head.build((None, None, g.hidden_size), (None, None))
        self.replaced_token_head.build((None, None, d.hidden_size))

        # === Config ===
        self.disc_weight = disc_weight
        self.seed = seed

        # === Metrics ===
        self.masked_lm_loss = keras.metrics.Mean(name="masked_lm_loss")
        self.masked_lm_accuracy = keras.metrics.SparseCategoricalAccuracy(name="masked_lm_accuracy")
        self.replaced_token_loss = keras.metrics.Mean(name="replaced_token_loss")
        self.replaced_token_accuracy = keras.metrics.BinaryAccuracy(name="replaced_token_accuracy")

    @property
    def encoder(self) -> BertEncoder:
        """The discriminator: the encoder pre-training produces (saved, fine-tuned)."""
        return self.discriminator

    def generator_masked_lm(self):
        """The generator as a `BertPretrainer` without NSP (its encoder and masked-LM head, weights shared), which
        `bert_tf.checkpoints.save_hf` writes as a Hugging Face `BertForMaskedLM`."""
        from bert_tf.tasks.bert_pretrainer import BertPretrainer
        masked_lm = BertPretrainer(self.generator, nsp=False)
        copy_masked_lm_head(self.masked_lm_head, masked_lm.masked_lm_head)
        return masked_lm

    def call(self, inputs, training=None):
        token_ids = ops.cast(inputs[features.TOKEN_IDS], "int32")  # (B, T)
        positions = ops.cast(inputs[features.MASKED_POSITIONS], "int32")  # (B, P)
        rest = {name: inputs[name] for name in (features.SEGMENT_IDS, features.PADDING_MASK)}
        generated = self.generator({features.TOKEN_IDS: token_ids, **rest}, training=training)
        mlm_logits = self.masked_lm_head(generated[features.SEQUENCE_OUTPUT], mask_positions=positions)  # (B, P, V)
        vocab = ops.shape(mlm_logits)[-1]
        sampled = keras.random.categorical(ops.reshape(ops.stop_gradient(mlm_logits), (-1, vocab)), 1,
                                           seed=self.sampling_seed, dtype="int32")
        sampled = ops.reshape(sampled, ops.shape(positions))  # (B, P)
        replaced_ids = _scatter(token_ids, positions, sampled, positions > 0)  # (B, T)
        discriminated = self.discriminator({features.TOKEN_IDS: replaced_ids, **rest}, training=training)
        rtd_logits = self.replaced_token_head(discriminated[features.SEQUENCE_OUTPUT])  # (B, T)
        return {features.MLM_LOGITS: mlm_logits, features.RTD_LOGITS: rtd_logits,
                features.REPLACED_IDS: replaced_ids}

    # === Loss and metrics ===
    def _check_targets(self, y, sample_weight):
        if sample_weight is not None:
            raise ValueError("ElectraPretrainer takes no sample_weight: put the per-prediction weights in "
                             f"y[{features.MASKED_WEIGHTS!r}]")
        needed = [features.MASKED_IDS, features.MASKED_WEIGHTS]
        if not isinstance(y, dict) or any(name not in y for name in needed):
            got = sorted(y) if isinstance(y, dict) else type(y).__name__
            raise ValueError(f"ElectraPretrainer needs y as a dict with keys {needed}; got {got}")

    def _parts(self, x, y, y_pred):
        logits = ops.cast(y_pred[features.MLM_LOGITS], "float32")  # (B, P, V)
        labels = ops.cast(y[features.MASKED_IDS], "int32")  # (B, P)
        weights = ops.cast(y[features.MASKED_WEIGHTS], "float32")  # (B, P)
        per_position = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        mlm_loss = ops.sum(per_position * weights) / (ops.sum(weights) + _WEIGHT_EPSILON)
        original = _scatter(ops.cast(x[features.TOKEN_IDS], "int32"), ops.cast(x[features.MASKED_POSITIONS], "int32"),
                            labels, weights > 0)  # (B, T): the text before masking
        is_replaced = ops.cast(ops.not_equal(y_pred[features.REPLACED_IDS], original), "float32")  # (B, T)
        real = ops.cast(x[features.PADDING_MASK], "float32")  # (B, T)
        rtd_logits = y_pred[features.RTD_LOGITS]
        per_token = ops.binary_crossentropy(is_replaced, rtd_logits, from_logits=True)
        rtd_loss = ops.sum(per_token * real) / (ops.sum(real) + _WEIGHT_EPSILON)
        return dict(logits=logits, labels=labels, weights=weights, mlm_loss=mlm_loss, is_replaced=is_replaced,
                    real=real, rtd_logits=rtd_logits, rtd_loss=rtd_loss)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`mlm_loss + disc_weight * rtd_loss` (+ any layer losses); updates the loss metrics."""
        self._check_targets(y, sample_weight)
        p = self._parts(x, y, y_pred)
        self.masked_lm_loss.update_state(p["mlm_loss"], sample_weight=ops.sum(p["weights"]))
        self.replaced_token_loss.update_state(p["rtd_loss"], sample_weight=ops.sum(p["real"]))
        total = p["mlm_loss"] + self.disc_weight * p["rtd_loss"]
        if self.losses:
            total = total + ops.sum(self.losses)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return total / replicas if replicas > 1 else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        p = self._parts(x, y, y_pred)
        self.masked_lm_accuracy.update_state(p["labels"], p["logits"], sample_weight=p["weights"])
        self.replaced_token_accuracy.update_state(p["is_replaced"], ops.sigmoid(p["rtd_logits"]),
                                                  sample_weight=p["real"])
        return self.get_metrics_result()

    # === Config ===
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "discriminator": keras.layers.serialize(self.discriminator),
                "generator": keras.layers.serialize(self.generator),
                "disc_weight": self.disc_weight, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for role in ("discriminator", "generator"):
            config[role] = keras.layers.deserialize(config[role])
        return cls(**config)


def copy_masked_lm_head(source, target):
    """Copies a `MaskedLMHead`'s own weights (transform dense, LayerNorm, output bias; not the tied embeddings)."""
    target.dense.set_weights(source.dense.get_weights())
    target.layer_norm.set_weights(source.layer_norm.get_weights())
    target.output_bias.assign(source.output_bias)


def _scatter(token_ids, positions, values, valid):
    """`token_ids` `(B, T)` with `values` `(B, P)` written at `positions` `(B, P)` where `valid` `(B, P)`."""
    batch = ops.shape(positions)[0]
    rows = ops.broadcast_to(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), ops.shape(positions))
    index = ops.stack([rows, positions], axis=-1)  # (B, P, 2)
    return tf.tensor_scatter_nd_update(token_ids, tf.boolean_mask(index, valid),
                                       tf.boolean_mask(ops.cast(values, token_ids.dtype), valid))
