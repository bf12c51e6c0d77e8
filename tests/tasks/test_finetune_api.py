"""The library entry point the demo calls: finetune_classifier on the bundled Banking77 data with real MiniLM."""

import os

import numpy as np
import pytest

from bert_tf.finetuning import FinetuneError, finetune_classifier

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")


@pytest.mark.slow
def test_finetune_classifier_defaults_with_minilm(minilm_dir, tmp_path):
    result = finetune_classifier(init_checkpoint=minilm_dir, max_train_steps=2, max_seq_length=16,
                                 train_batch_size=8, output_dir=str(tmp_path))
    # Bundled Banking77: 77 intents; the checkpoint's 1_Pooling/config.json chose mean pooling.
    assert result.eval_results["pooling"] == "mean" and result.model.pooling == "mean"
    assert result.eval_results["num_train_examples"] == 5000 and result.eval_results["num_examples"] == 1000
    assert len(result.label_names) == 77 and "card_arrival" in result.label_names
    assert result.model.label_names == result.label_names
    assert os.path.isfile(os.path.join(str(tmp_path), "best_model.keras"))
    # No optimizer state in it (issue 13): about the 91 MB of weights, not 273 MB with AdamW's two slots.
    assert os.path.getsize(os.path.join(str(tmp_path), "best_model.keras")) < 100_000_000
    encoded = result.tokenizer.encode("how do I top up my card?", max_seq_length=result.max_seq_length)
    logits = np.asarray(result.model({k: v[None] for k, v in encoded.items()}, training=False))
    assert logits.shape == (1, len(result.label_names))


def test_finetune_classifier_needs_weights_or_architecture(tmp_path):
    with pytest.raises(FinetuneError, match="--vocab_file is required"):
        finetune_classifier(output_dir=str(tmp_path))


@pytest.mark.parametrize("vocab", [False, True])
def test_wrong_init_checkpoint_path_is_named(tmp_path, vocab):
    """A typo in --init_checkpoint says there is no checkpoint there (it said "--vocab_file is required")."""
    vocab_file = os.path.join(TESTDATA, "vocab", "uncased_vocab.txt") if vocab else None
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(FinetuneError, match=f"--init_checkpoint: no checkpoint at {missing} "):
        finetune_classifier(init_checkpoint=missing, vocab_file=vocab_file, output_dir=str(tmp_path / "out"),
                            max_train_examples=8)
