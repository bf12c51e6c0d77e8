"""Resuming a fine-tuning run (issue 14 E, F): an unreadable `history.json` is a clear error naming it (not a
raw JSONDecodeError / UnicodeDecodeError), a deleted one resumes, and a run stopped after a checkpoint and
rerun ends bit-identical to an uninterrupted run (dropout RNG state and input position restored).

A tiny BERT classifier with distinct sizes (hidden 12, heads 3, intermediate 37, vocab 41, seq 7, 5 classes),
24 examples, batch 4: 6 steps per epoch, an evaluation (and a checkpoint) every 3 steps, 2 epochs = 12 steps.
"""

import json
import os
import shutil

import numpy as np
import pytest

from bert_tf import BertConfig, BertEncoder
from bert_tf.finetuning import FinetuneError
from bert_tf.finetuning.common import train_one
from bert_tf.tasks import BertClassifier

N, SEQ, VOCAB, CLASSES = 24, 7, 41, 5


def _data():
    rng = np.random.default_rng(3)
    ids = rng.integers(4, VOCAB, size=(N, SEQ)).astype("int32")
    mask = np.ones_like(ids)
    mask[::3, 5:] = 0
    x = {"token_ids": ids * mask, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    return x, rng.integers(0, CLASSES, size=(N,)).astype("int32")


def _build(dtype):
    return BertClassifier(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=VOCAB), dtype=dtype),
                          num_classes=CLASSES)


class _Evaluate:
    """Accuracy and loss on the training set; records the model's weights at each evaluation; raises (a crash
    after the checkpoint of that step was written) at `crash_at`."""

    def __init__(self, crash_at=None):
        self.crash_at = crash_at
        self.calls = 0
        self.weights = []

    def __call__(self, model):
        self.calls += 1
        if self.calls * 3 == self.crash_at:
            raise RuntimeError("simulated crash")
        x, y = _data()
        logits = np.asarray(model(x, training=False))
        log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
            - logits.max(-1, keepdims=True)
        self.weights.append([w.copy() for w in model.get_weights()])
        return {"accuracy": float(np.mean(logits.argmax(-1) == y)), "loss": float(-log_probs[np.arange(N), y].mean())}


def _run(run_dir, evaluate):
    x, y = _data()
    return train_one(_build, x, y, evaluate=evaluate, main_metric="accuracy", run_dir=str(run_dir),
                     learning_rate=1e-3, num_train_epochs=2, train_batch_size=4, evals_per_epoch=2, seed=7)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    evaluate = _Evaluate()
    result = _run(run_dir, evaluate)
    assert result.history["done"] and [e["step"] for e in result.history["eval"]] == [3, 6, 9, 12]
    return run_dir, result, evaluate


def test_interrupted_finetuning_resumes_bit_exact(tmp_path, finished_run):
    _, straight, straight_eval = finished_run
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(run_dir, _Evaluate(crash_at=6))  # ckpt-6 written, the evaluation at 6 never finished
    assert os.path.isfile(run_dir / "ckpt-6.index")
    resumed_eval = _Evaluate()
    resumed = _run(run_dir, resumed_eval)
    # Steps 7-12 were trained after the restart: the same losses, evaluations and final weights, bit for bit
    # (exact equality: a different dropout mask moves this model's loss by ~1e-4, far above rounding).
    after = lambda entries: [e for e in entries if e["step"] > 6]  # noqa: E731
    assert after(resumed.history["train"]) == after(straight.history["train"])
    assert after(resumed.history["eval"]) == after(straight.history["eval"])
    assert len(resumed_eval.weights) == 2  # the evaluations at 9 and 12
    for a, b in zip(resumed_eval.weights[-1], straight_eval.weights[-1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage, problem", [
    ("truncated", "not valid JSON"),
    ("binary", "not UTF-8 text"),
    ("not a history", "not a training history"),
])
def test_unreadable_history_json_is_a_clear_error(tmp_path, finished_run, damage, problem):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    path = run_dir / "history.json"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    elif damage == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    else:
        path.write_text(json.dumps([1, 2, 3]))
    with pytest.raises(FinetuneError, match=f"{path} is unreadable: {problem}") as error:
        _run(run_dir, _Evaluate())
    assert "delete it to resume from the newest checkpoint" in str(error.value)


def test_deleted_history_json_resumes(tmp_path, finished_run):
    """What the error message offers: without history.json the run resumes from its newest checkpoint (here the
    last step: nothing left to train) instead of failing on the missing best entry."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    os.remove(run_dir / "history.json")
    result = _run(run_dir, _Evaluate())
    assert result.history["done"] and result.best_step == 12
    assert os.path.isfile(run_dir / "best_model.keras")
