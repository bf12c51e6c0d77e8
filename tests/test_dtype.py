"""Precision is one `dtype` passed down (issue 15): bert_tf's models compute in the `dtype` they are given, and
pre-training, fine-tuning and export neither read nor change the process-global Keras dtype policy."""

import keras
import numpy as np
import pytest

from bert_tf import BertConfig, BertEncoder
from bert_tf.config import DTYPES
from bert_tf.tasks import BertClassifier
from bert_tf.tasks.bert_pretrainer import BertPretrainer
import tiny_pretraining  # tests/tiny_pretraining.py

CONFIG = BertConfig.preset("test", vocab_size=41)
IDS = np.array([[2, 5, 7, 3, 0]], "int32")
X = {"token_ids": IDS, "segment_ids": np.zeros_like(IDS), "padding_mask": (IDS > 0).astype("int32")}


@pytest.fixture
def global_policy(request):
    """Sets the global policy a user might have set (the test's parameter) and puts float32 back."""
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


def _policies(model):
    """The policies of the model itself and of every layer with weights (input layers hold none)."""
    return {model.dtype_policy.name} | {layer.dtype_policy.name for layer in model._flatten_layers() if layer.weights}


def test_one_tuple_of_precisions():
    assert DTYPES == ("float32", "mixed_bfloat16", "mixed_float16")


@pytest.mark.parametrize("global_policy", ["float32", "mixed_float16"], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_models_compute_in_their_dtype_not_the_global_policy(global_policy, dtype):
    encoder = BertEncoder.from_bert_config(CONFIG, dtype=dtype)
    classifier = BertClassifier(encoder, num_classes=3)
    pretrainer = BertPretrainer(BertEncoder.from_bert_config(CONFIG, dtype=dtype))
    for model in (encoder, classifier, pretrainer):
        assert _policies(model) == {dtype}, type(model).__name__
    assert classifier(X).dtype == ("bfloat16" if dtype == "mixed_bfloat16" else "float32")
    classifier.compile(optimizer="adam")  # Keras wraps the optimizer when the model itself is mixed_float16
    assert not isinstance(classifier.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == global_policy


@pytest.mark.parametrize("global_policy", ["mixed_float16"], indirect=True)
def test_saved_model_reloads_in_its_dtype(global_policy, tmp_path):
    path = str(tmp_path / "classifier.keras")
    BertClassifier(BertEncoder.from_bert_config(CONFIG, dtype="mixed_bfloat16"), num_classes=3).save(path)
    assert _policies(keras.saving.load_model(path)) == {"mixed_bfloat16"}


@pytest.mark.parametrize("global_policy", ["mixed_float16"], indirect=True)
def test_finetuning_builds_in_the_options_dtype(global_policy):
    from bert_tf.finetuning.run import _build_in

    model = _build_in(lambda dtype: BertClassifier(BertEncoder.from_bert_config(CONFIG, dtype=dtype), 3), "float32")
    assert _policies(model) == {"float32"} and keras.config.dtype_policy().name == "mixed_float16"


def test_build_model_without_dtype_is_deprecated_and_still_builds_in_dtype():
    from bert_tf.finetuning.run import _build_in

    with pytest.warns(DeprecationWarning, match="build_model\\(\\) without a dtype parameter is deprecated"):
        model = _build_in(lambda: BertClassifier(BertEncoder.from_bert_config(CONFIG), 3), "mixed_bfloat16")
    assert _policies(model) == {"mixed_bfloat16"} and keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("global_policy", ["mixed_float16"], indirect=True)
def test_export_dtype_ignores_and_keeps_the_global_policy(global_policy):
    from serving.export import with_dtype

    model = BertClassifier(BertEncoder.from_bert_config(CONFIG, dtype="mixed_bfloat16"), num_classes=3)
    served = with_dtype(model, "bfloat16")
    assert _policies(served) == {"bfloat16"} and all(w.dtype == "bfloat16" for w in served.weights)
    assert _policies(with_dtype(served, "float32")) == {"float32"}
    assert keras.config.dtype_policy().name == "mixed_float16"


def test_pretrain_builds_in_its_dtype_and_leaves_the_global_policy(tmp_path, monkeypatch):
    from bert_tf import pretraining

    built = []
    real_trainer = pretraining._trainer
    monkeypatch.setattr(pretraining, "_trainer", lambda options, strategy, vocab, model, optimizer: (
        built.append(model) or real_trainer(options, strategy, vocab, model, optimizer)))
    summary = pretraining.pretrain(pretraining.PretrainOptions(
        input_file=tiny_pretraining.write_records(tmp_path), vocab_file=str(tmp_path / "vocab.txt"), output_dir=str(tmp_path / "out"),
        preset="test", max_seq_length=23, max_predictions_per_seq=5, do_train=True, train_batch_size=4,
        num_train_steps=2, num_warmup_steps=1, dtype="mixed_bfloat16"))
    assert summary["step"] == 2 and np.isfinite(summary["train_metrics"]["loss"])
    assert _policies(built[0]) == {"mixed_bfloat16"}
    assert built[0].encoder.transformer_layers[0].compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"
