"""`ElectraPretrainer` and `ReplacedTokenHead`: the generator's samples land exactly at the masked positions,
the discriminator's labels and loss are ELECTRA's (checked by hand), config round trip, and it learns."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.heads import ReplacedTokenHead
from bert_tf.tasks import ElectraPretrainer
from bert_tf.tasks.electra_pretrainer import generator_config

VOCAB = 41
# Batch 2, sequence 7, 3 prediction slots (the last slot of row 0 is padding: position 0, weight 0).
ORIGINAL = np.array([[2, 5, 7, 9, 11, 3, 0], [2, 6, 8, 10, 12, 14, 3]], "int32")
POSITIONS = np.array([[1, 3, 0], [2, 4, 5]], "int32")
MASKED_IDS = np.array([[5, 9, 0], [8, 12, 14]], "int32")
WEIGHTS = np.array([[1, 1, 0], [1, 1, 1]], "float32")


def _inputs():
    masked = ORIGINAL.copy()
    masked[0, [1, 3]] = 4  # [MASK]
    masked[1, [2, 4, 5]] = 4
    return {"token_ids": masked, "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 0], [0] * 7], "int32"),
            "padding_mask": (ORIGINAL > 0).astype("int32"), "masked_positions": POSITIONS}


def _model(seed=3, disc_weight=50.0):
    keras.utils.set_random_seed(0)
    config = BertConfig.preset("test", vocab_size=VOCAB)
    return ElectraPretrainer(BertEncoder.from_bert_config(config),
                             BertEncoder.from_bert_config(generator_config(config, 0.5), name="generator"),
                             disc_weight=disc_weight, seed=seed)


def test_generator_config_follows_electra_sizing():
    mini = BertConfig.preset("mini", vocab_size=VOCAB)
    g = generator_config(mini, 0.25)
    assert (g.hidden_size, g.intermediate_size, g.num_attention_heads, g.num_hidden_layers) == (64, 256, 1, 4)
    g = generator_config(BertConfig.preset("base", vocab_size=VOCAB), 1 / 3)
    assert (g.hidden_size, g.intermediate_size, g.num_attention_heads) == (256, 1024, 4)
    with pytest.raises(ValueError, match="generator_hidden_size"):
        generator_config(mini, 0.0)


def test_replaced_token_head_shapes_and_config():
    head = ReplacedTokenHead(hidden_act="gelu_approximate", initializer_range=0.05)
    out = head(np.random.default_rng(0).normal(size=(2, 7, 12)).astype("float32"))
    assert tuple(out.shape) == (2, 7) and out.dtype == tf.float32
    clone = ReplacedTokenHead.from_config(head.get_config())
    assert (clone.hidden_act, clone.initializer_range) == ("gelu_approximate", 0.05)


def test_samples_replace_exactly_the_masked_positions():
    model = _model()
    x = _inputs()
    out = model(x)
    assert tuple(out["mlm_logits"].shape) == (2, 3, VOCAB) and tuple(out["rtd_logits"].shape) == (2, 7)
    replaced = out["replaced_ids"].numpy()
    untouched = np.ones_like(replaced, bool)
    untouched[0, [1, 3]] = untouched[1, [2, 4, 5]] = False
    # Every unmasked token (including [CLS] at position 0, where row 0's padding slot points) is the input's.
    np.testing.assert_array_equal(replaced[untouched], x["token_ids"][untouched])
    # The masked positions hold samples, not the [MASK] token (an untrained generator almost never samples it).
    assert (replaced[~untouched] != 4).mean() > 0.5
    # Sampling follows the generator: with the output bias forcing token 17, every masked position becomes 17.
    bias = model.masked_lm_head.output_bias
    bias.assign(np.where(np.arange(VOCAB) == 17, 1e4, 0.0).astype("float32"))
    replaced = model(x)["replaced_ids"].numpy()
    assert (replaced[~untouched] == 17).all() and (replaced[untouched] == x["token_ids"][untouched]).all()


def test_loss_is_mlm_plus_weighted_detection_loss_by_hand():
    model = _model(disc_weight=7.0)
    x = _inputs()
    y = {"masked_ids": MASKED_IDS, "masked_weights": WEIGHTS}
    rng = np.random.default_rng(1)
    mlm_logits = rng.normal(size=(2, 3, VOCAB)).astype("float32")
    rtd_logits = rng.normal(size=(2, 7)).astype("float32")
    replaced = ORIGINAL.copy()
    replaced[0, 1] = 30  # a real replacement
    replaced[1, 4] = 12  # the generator sampled the original token: counts as not replaced
    replaced[1, 5] = 33
    y_pred = {"mlm_logits": mlm_logits, "rtd_logits": rtd_logits, "replaced_ids": replaced}
    loss = float(model.compute_loss(x, y, y_pred))

    log_probs = mlm_logits - np.log(np.exp(mlm_logits).sum(-1, keepdims=True))
    mlm = -sum(WEIGHTS[b, p] * log_probs[b, p, MASKED_IDS[b, p]] for b in range(2) for p in range(3)) / (
        WEIGHTS.sum() + 1e-5)
    labels = np.zeros((2, 7), "float32")
    labels[0, 1] = labels[1, 5] = 1.0
    real = (ORIGINAL > 0).astype("float32")
    bce = np.logaddexp(0, rtd_logits) - labels * rtd_logits
    rtd = (bce * real).sum() / (real.sum() + 1e-5)
    assert loss == pytest.approx(mlm + 7.0 * rtd, rel=1e-5)
    metrics = {k: float(v) for k, v in model.compute_metrics(x, y, y_pred).items()}
    predicted = rtd_logits > 0
    assert metrics["replaced_token_accuracy"] == pytest.approx(((predicted == labels) * real).sum() / real.sum())


def test_config_round_trip_and_keras_save(tmp_path):
    model = _model(seed=5, disc_weight=20.0)
    x = _inputs()
    model(x)
    clone = ElectraPretrainer.from_config(model.get_config())
    assert (clone.disc_weight, clone.seed) == (20.0, 5)
    assert clone.generator.bert_config.hidden_size == 6 and clone.encoder.bert_config.hidden_size == 12
    path = str(tmp_path / "electra.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_generator_masked_lm_shares_the_generator_weights():
    model = _model()
    x = _inputs()
    out = model(x)
    masked_lm = model.generator_masked_lm()
    assert masked_lm.encoder is model.generator and not masked_lm.nsp
    logits = masked_lm({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask", "masked_positions")})
    np.testing.assert_allclose(logits["mlm_logits"], out["mlm_logits"], atol=1e-6)


def test_it_learns_to_detect_replacements():
    """On one repeated batch, both losses fall: the generator learns the masked tokens, the discriminator which
    positions were replaced."""
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = _inputs()
    y = {"masked_ids": MASKED_IDS, "masked_weights": WEIGHTS}
    before = {k: float(v) for k, v in model.evaluate(tf.data.Dataset.from_tensors((x, y)), verbose=0,
                                                      return_dict=True).items()}
    model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(60), verbose=0)
    after = {k: float(v) for k, v in model.evaluate(tf.data.Dataset.from_tensors((x, y)), verbose=0,
                                                     return_dict=True).items()}
    assert after["masked_lm_loss"] < 0.5 * before["masked_lm_loss"]
    assert after["replaced_token_loss"] < 0.7 * before["replaced_token_loss"]
