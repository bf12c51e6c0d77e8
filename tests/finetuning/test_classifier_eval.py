"""classification_eval's macro-F1 on an eval set that lacks one of the training classes (poem sentiment's dev
set has no "mixed" verse): the absent, never-predicted class must not count as an F1 of 0."""

import numpy as np
import pytest

from bert_tf.finetuning.classifier import classification_eval


class _FixedLogits:
    """Stands in for a classifier: row i's logits pick the class written in its first token id."""

    def __init__(self, num_classes):
        self.num_classes = num_classes

    def __call__(self, batch, training=False):
        return 5.0 * np.eye(self.num_classes, dtype=np.float32)[np.asarray(batch["token_ids"])[:, 0]]


def _inputs(predicted):
    n, t = len(predicted), 7
    token_ids = np.zeros((n, t), np.int32)
    token_ids[:, 0] = predicted
    mask = np.zeros((n, t), np.int32)
    mask[:, :3] = 1
    return {"token_ids": token_ids, "segment_ids": np.zeros((n, t), np.int32), "padding_mask": mask}


def test_class_absent_from_eval_and_predictions_is_not_averaged_in():
    labels = np.array([0, 0, 1, 1, 1, 2])          # 4 training classes; class 3 never occurs here
    predicted = np.array([0, 0, 1, 1, 1, 2])
    result = classification_eval(_FixedLogits(4), _inputs(predicted), labels, regression=False, batch_size=4,
                                 num_classes=4)
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == pytest.approx(1.0)  # averaging class 3's F1 of 0 in gave 0.75
    assert result["mcc"] == pytest.approx(1.0)
    assert result["num_examples"] == 6


def test_class_predicted_but_absent_from_eval_still_counts_as_zero():
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 3, 1, 1, 2])           # one wrong prediction of the absent class 3
    result = classification_eval(_FixedLogits(5), _inputs(predicted), labels, regression=False, batch_size=2,
                                 num_classes=5)
    # per class F1: 0 -> 2/3, 1 -> 1, 2 -> 1, 3 -> 0 (predicted, never true); class 4 is nowhere
    assert result["accuracy"] == pytest.approx(0.8)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 1 + 1 + 0) / 4)
