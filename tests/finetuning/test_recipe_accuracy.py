"""The default fine-tuning recipe must keep its accuracy lead over google-research/bert's head initializer.

Issue 11: with the paper's truncated-normal(0.02) head, MiniLM on Banking77 (mean-pooled features, 77 classes)
underfits a short budget: Adam moves each head weight by at most ~lr per step, so a head that starts at 0.02
cannot grow confident logits in a few hundred steps. The default head is glorot-uniform (Keras' and keras-hub's).
"""

import pytest

from bert_tf.finetuning import finetune_classifier


@pytest.mark.slow
def test_default_recipe_beats_paper_head_on_a_short_budget(minilm_dir, tmp_path):
    """Real MiniLM, 1,500 Banking77 training rows (seed-0 sample, all 77 intents), 90 steps of batch 32 at peak lr
    1e-4 (the 3-epoch schedule capped at 90 steps), sequence 32, scored on the bundled 1,000 test rows.

    Measured (2026-12-02, this machine): default recipe (glorot-uniform head) 0.655; the same run with
    `head_initializer="truncated_normal"` (the old default, google-research/bert's) 0.514. The bound sits between.
    """
    result = finetune_classifier(init_checkpoint=minilm_dir, max_train_examples=1500, max_train_steps=90,
                                 max_seq_length=32, train_batch_size=32, learning_rate=1e-4, num_train_epochs=3,
                                 output_dir=str(tmp_path))
    assert result.eval_results["head_initializer"] == "glorot_uniform"
    assert result.eval_results["selection"].startswith("final step")  # one rate, no dev set: nothing chosen
    assert result.eval_results["scored_on"] == "eval_file" and result.eval_results["num_examples"] == 1000
    assert result.eval_results["accuracy"] >= 0.60, result.eval_results
