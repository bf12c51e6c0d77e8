"""create_optimizer: google-research/bert's schedule, weight-decay exclusions by bert_tf weight path, LAMB."""

import warnings
import zipfile

import numpy as np
import pytest
import keras
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder
from bert_tf.training.lamb import Lamb
from bert_tf.training.optimization import create_optimizer, uses_weight_decay
from bert_tf.training.warmup_linear_decay import WarmupLinearDecay


def _reference_lr(step, learning_rate, total, warmup):
    """google-research/bert optimization.py, transcribed: polynomial decay (power 1, end 0) + linear warmup."""
    decayed = learning_rate * (1.0 - min(step, total) / total)
    if warmup and step < warmup:
        return learning_rate * step / warmup
    return decayed


@pytest.mark.parametrize("total,warmup", [(97, 13), (50, 0)])
def test_schedule_matches_google_formula(total, warmup):
    schedule = WarmupLinearDecay(3e-4, num_train_steps=total, num_warmup_steps=warmup)
    for step in [0, 1, 5, 12, 13, 14, 40, 96, 97, 150]:
        np.testing.assert_allclose(float(schedule(step)), _reference_lr(step, 3e-4, total, warmup), rtol=1e-6,
                                   atol=1e-12)
    restored = WarmupLinearDecay.from_config(schedule.get_config())
    assert float(restored(17)) == float(schedule(17))


def test_learning_rate_name_and_the_deprecated_init_lr():
    schedule = WarmupLinearDecay(learning_rate=2e-4, num_train_steps=10)
    assert schedule.learning_rate == 2e-4
    assert schedule.get_config() == {"learning_rate": 2e-4, "num_train_steps": 10, "num_warmup_steps": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(create_optimizer(learning_rate=0.5, num_train_steps=10, num_warmup_steps=0).learning_rate) == 0.5
    with pytest.warns(DeprecationWarning, match="init_lr"):
        assert WarmupLinearDecay(init_lr=2e-4, num_train_steps=10).learning_rate == 2e-4
    with pytest.warns(DeprecationWarning, match="init_lr"):
        assert schedule.init_lr == 2e-4
    with pytest.warns(DeprecationWarning, match="init_lr"):
        opt = create_optimizer(init_lr=0.5, num_train_steps=10, num_warmup_steps=0)
    assert float(opt.learning_rate) == 0.5
    with pytest.raises(TypeError, match="both 'init_lr'"):
        create_optimizer(init_lr=0.5, learning_rate=0.5, num_train_steps=10, num_warmup_steps=0)


@pytest.mark.filterwarnings("ignore:Skipping variable loading")  # an optimizer never applied: nothing to load
def test_old_init_lr_config_still_deserializes(tmp_path):
    """An optimizer config saved before the rename (the schedule's key "init_lr"), in a Keras config dict and in
    a `.keras` file of a compiled model, loads with the same schedule."""
    config = keras.optimizers.serialize(create_optimizer(3e-4, 100, 10))
    schedule_config = config["config"]["learning_rate"]["config"]
    schedule_config["init_lr"] = schedule_config.pop("learning_rate")
    with pytest.warns(DeprecationWarning, match="init_lr"):
        restored = keras.optimizers.deserialize(config)
    assert isinstance(restored._learning_rate, WarmupLinearDecay) and restored._learning_rate.learning_rate == 3e-4

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=create_optimizer(3e-4, 100, 10), loss="mse")
    path = str(tmp_path / "new.keras")
    model.save(path)
    old_path = str(tmp_path / "old.keras")
    with zipfile.ZipFile(path) as new, zipfile.ZipFile(old_path, "w") as old:
        for item in new.infolist():
            data = new.read(item.filename)
            if item.filename == "config.json":
                assert b'"learning_rate": 0.0003' in data
                data = data.replace(b'"learning_rate": 0.0003', b'"init_lr": 0.0003')
            old.writestr(item, data)
    with pytest.warns(DeprecationWarning, match="init_lr"):
        loaded = keras.saving.load_model(old_path)
    assert loaded.optimizer._learning_rate.get_config() == {"learning_rate": 3e-4, "num_train_steps": 100,
                                                            "num_warmup_steps": 10}


def test_adamw_defaults_and_weight_decay_exclusions_by_path():
    encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41))
    opt = create_optimizer(1e-4, 100, 10)
    assert isinstance(opt, keras.optimizers.AdamW)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.weight_decay, opt.global_clipnorm) == (0.9, 0.999, 1e-6, 0.01,
                                                                                              1.0)
    opt.build(encoder.trainable_variables)
    decayed = {v.path for v in encoder.trainable_variables if uses_weight_decay(opt, v)}
    skipped = {v.path for v in encoder.trainable_variables} - decayed
    # Every LayerNorm weight and every bias is skipped; kernels and embedding tables decay.
    for path in skipped:
        assert "layer_norm" in path or path.endswith("/bias"), path
    for path in decayed:
        assert path.endswith("/kernel") or path.endswith("/embeddings"), path
    assert "embeddings_layer_norm/gamma" in skipped and "transformer_layer_1/output_layer_norm/beta" in skipped
    assert "transformer_layer_0/attention/query/bias" in skipped and "pooler_dense/bias" in skipped
    assert "token_embedding/embeddings" in decayed and "transformer_layer_1/intermediate_dense/kernel" in decayed
    n_ln = sum("layer_norm" in v.path for v in encoder.trainable_variables)
    n_bias = sum(v.path.endswith("/bias") for v in encoder.trainable_variables)
    assert len(skipped) == n_ln + n_bias == 2 * 5 + 2 * 6 + 1  # 5 LayerNorms, 6 biases per layer x2, pooler bias


def test_adamw_decay_is_applied_only_to_kernels():
    kernel = keras.Variable(np.full((2, 2), 3.0, "float32"), name="kernel")
    gamma = keras.Variable(np.full((2,), 3.0, "float32"), name="gamma")
    opt = create_optimizer(0.1, 10, 0, weight_decay_rate=0.5)
    opt.apply([tf.zeros((2, 2)), tf.zeros((2,))], [kernel, gamma])
    # Zero gradient: Adam's update is 0, so only decoupled decay moves weights: w -= lr * wd * w (lr at step 0 = 0.1).
    np.testing.assert_allclose(kernel.numpy(), 3.0 - 0.1 * 0.5 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(gamma.numpy(), 3.0)


def _numpy_lamb(w, grads, lr, wd, decay=True, adapt=True, b1=0.9, b2=0.999, eps=1e-6):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        if decay:
            update = update + wd * w
        ratio = 1.0
        if adapt:
            wn, un = np.linalg.norm(w), np.linalg.norm(update)
            ratio = wn / un if wn > 0 and un > 0 else 1.0
        w = w - lr * ratio * update
    return w


def test_lamb_matches_paper_update_and_exclusions():
    rng = np.random.RandomState(3)
    w0 = rng.randn(3, 5).astype("float32")
    b0 = rng.randn(5).astype("float32")
    grads = [(rng.randn(3, 5).astype("float32"), rng.randn(5).astype("float32")) for _ in range(3)]
    kernel = keras.Variable(w0, name="kernel")
    bias = keras.Variable(b0, name="bias")
    opt = Lamb(learning_rate=0.01, weight_decay_rate=0.1, exclude_from_weight_decay=["bias"], global_clipnorm=None)
    for gk, gb in grads:
        opt.apply([tf.constant(gk), tf.constant(gb)], [kernel, bias])
    np.testing.assert_allclose(kernel.numpy(), _numpy_lamb(w0, [g[0] for g in grads], 0.01, 0.1), rtol=2e-5)
    np.testing.assert_allclose(bias.numpy(), _numpy_lamb(b0, [g[1] for g in grads], 0.01, 0.1, decay=False,
                                                         adapt=False), rtol=2e-5)
    assert Lamb.from_config(opt.get_config()).exclude_from_layer_adaptation == ["bias"]


def test_create_optimizer_lamb_and_bad_type():
    opt = create_optimizer(1e-3, 10, 2, optimizer_type="lamb")
    assert isinstance(opt, Lamb) and opt.weight_decay_rate == 0.01 and opt.global_clipnorm == 1.0
    with pytest.raises(ValueError, match="optimizer_type"):
        create_optimizer(1e-3, 10, 2, optimizer_type="sgd")
