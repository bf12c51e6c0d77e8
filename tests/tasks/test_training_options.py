"""Fine-tuning speed options: gradient accumulation gives the full batch's update; bf16 and XLA train."""

import json
import os

import numpy as np
import pytest

from bert_tf import BertConfig
from bert_tf.finetuning import finetune_classifier
from bert_tf.finetuning.common import FinetuneError, TrainingOptions

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")
VOCAB = os.path.join(TESTDATA, "vocab", "uncased_vocab.txt")


def _run(tmp_path, name, options, **kwargs):
    config_file = tmp_path / "bert_config.json"
    if not config_file.exists():  # no dropout: runs differ only by the options under test
        BertConfig.preset("test", vocab_size=30522, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0).to_google_json(str(config_file))
    return finetune_classifier(
        os.path.join(TESTDATA, "banking77", "train.csv"), None, data_format="banking77", vocab_file=VOCAB,
        bert_config_file=str(config_file), do_lower_case=True, pooling="mean", dropout=0.0, max_seq_length=24,
        train_batch_size=8, learning_rate=1e-3, num_train_epochs=1, max_train_steps=3,
        output_dir=str(tmp_path / name), training_options=options, **kwargs)


@pytest.mark.slow
def test_grad_accumulation_equals_full_batch(tmp_path):
    full = _run(tmp_path, "full", TrainingOptions())
    accumulated = _run(tmp_path, "accum", TrainingOptions(grad_accum_steps=2))
    plain_small = finetune_classifier(  # the same micro-batches without accumulation: a different update
        os.path.join(TESTDATA, "banking77", "train.csv"), None, data_format="banking77", vocab_file=VOCAB,
        bert_config_file=str(tmp_path / "bert_config.json"), do_lower_case=True, pooling="mean", dropout=0.0,
        max_seq_length=24, train_batch_size=4, learning_rate=1e-3, num_train_epochs=1, max_train_steps=3,
        output_dir=str(tmp_path / "small"))
    for a, b in zip(full.model.get_weights(), accumulated.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-5)
    diff = max(np.abs(a - b).max() for a, b in zip(full.model.get_weights(), plain_small.model.get_weights()))
    assert diff > 1e-4


@pytest.mark.slow
def test_mixed_bfloat16_and_xla_train(tmp_path):
    result = _run(tmp_path, "bf16", TrainingOptions(dtype="mixed_bfloat16", jit_compile=True))
    assert result.model.dtype_policy.name == "mixed_bfloat16"
    assert result.model.encoder.transformer_layers[0].compute_dtype == "bfloat16"
    assert all(np.isfinite(w).all() for w in result.model.get_weights())
    import keras
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    assert json.loads((tmp_path / "bf16" / "history.json").read_text())["config"]["dtype"] == "mixed_bfloat16"


@pytest.mark.slow
def test_checkpoints_only_every_save_checkpoints_steps(tmp_path, monkeypatch):
    """40 rows, batch 8: 5 steps an epoch, 3 epochs; training pauses at every log/eval point (5, 10, 15) but
    checkpoints only every 4 steps and at the end (a MiniLM checkpoint is ~275 MB: it must not be written
    at every pause)."""
    from bert_tf.training.trainer import Trainer
    saved = []
    real_save = Trainer.save

    def recording_save(self, *args, **kwargs):
        saved.append(int(self.step.numpy()))
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "save", recording_save)
    config_file = tmp_path / "bert_config.json"
    BertConfig.preset("test", vocab_size=30522).to_google_json(str(config_file))
    finetune_classifier(
        os.path.join(TESTDATA, "banking77", "train.csv"), None, data_format="banking77", vocab_file=VOCAB,
        bert_config_file=str(config_file), do_lower_case=True, max_seq_length=16, train_batch_size=8,
        learning_rate=1e-3, num_train_epochs=3, output_dir=str(tmp_path / "every4"),
        training_options=TrainingOptions(save_checkpoints_steps=4))
    assert saved == [4, 8, 12, 15]


def test_training_options_validation():
    with pytest.raises(FinetuneError, match="save_checkpoints_steps"):
        TrainingOptions(save_checkpoints_steps=0)
    with pytest.raises(FinetuneError, match="dtype must be one of float32, mixed_bfloat16, mixed_float16"):
        TrainingOptions(dtype="float64")
    with pytest.raises(FinetuneError, match="grad_accum_steps"):
        TrainingOptions(grad_accum_steps=0)
    with pytest.raises(FinetuneError, match="optimizer"):
        TrainingOptions(optimizer_type="sgd")


def test_dtype_policy_is_a_deprecated_alias_of_dtype():
    assert TrainingOptions(dtype="mixed_bfloat16").dtype == "mixed_bfloat16"
    with pytest.warns(DeprecationWarning, match="dtype_policy=...\\) is deprecated.*use dtype="):
        options = TrainingOptions(dtype_policy="mixed_float16")
    assert options == TrainingOptions(dtype="mixed_float16")
    with pytest.warns(DeprecationWarning, match="TrainingOptions.dtype_policy is deprecated"):
        assert options.dtype_policy == "mixed_float16"
    with pytest.raises(TypeError, match="both 'dtype_policy'"):
        TrainingOptions(dtype_policy="float32", dtype="float32")
    with pytest.warns(DeprecationWarning), pytest.raises(FinetuneError, match="dtype must be one of"):
        TrainingOptions(dtype_policy="float64")  # validated like the new name
