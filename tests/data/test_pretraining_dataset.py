"""PretrainingDataset: records -> BertPretrainer (x, y); dynamic masking; trains with the Trainer."""

import os
import random

import numpy as np
import pytest
import keras
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder, features
from bert_tf.data import pretraining_data as pd
from bert_tf.data.pretraining_dataset import PretrainingDataset
from bert_tf.tokenization import ReferenceTokenizer

SEQ, PREDS = 23, 5


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    words = [f"w{i}" for i in range(36)]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}  # 41 tokens
    tokenizer = ReferenceTokenizer(vocab, do_lower_case=True)
    rng = random.Random(0)
    directory = tmp_path_factory.mktemp("records")
    corpus = directory / "corpus.txt"
    with open(corpus, "w") as f:
        for _ in range(40):
            for _ in range(rng.randint(2, 6)):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + "\n")
            f.write("\n")
    outputs = [str(directory / "a.tfrecord"), str(directory / "b.tfrecord")]
    pd.PretrainingDataCreator(tokenizer, max_seq_length=SEQ, max_predictions_per_seq=PREDS, dupe_factor=2,
                              num_workers=1).create(str(corpus), outputs)
    return {"pattern": str(directory / "*.tfrecord"), "files": outputs, "vocab": vocab}


def test_static_records_map_onto_pretrainer_contract(records):
    ds = PretrainingDataset(records["pattern"], SEQ, PREDS, batch_size=6, is_training=False)()
    x, y = next(iter(ds))
    assert set(x) == {features.TOKEN_IDS, features.SEGMENT_IDS, features.PADDING_MASK, features.MASKED_POSITIONS}
    assert set(y) == {features.MASKED_IDS, features.MASKED_WEIGHTS, features.NEXT_SENTENCE_LABELS}
    assert x[features.TOKEN_IDS].shape == (6, SEQ) and x[features.MASKED_POSITIONS].shape == (6, PREDS)
    assert x[features.TOKEN_IDS].dtype == tf.int32 and y[features.MASKED_WEIGHTS].dtype == tf.float32
    assert y[features.NEXT_SENTENCE_LABELS].shape == (6,)
    first = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(records["files"][0]))).numpy())
    np.testing.assert_array_equal(x[features.TOKEN_IDS][0], first.features.feature["input_ids"].int64_list.value)
    np.testing.assert_array_equal(x[features.PADDING_MASK][0], first.features.feature["input_mask"].int64_list.value)
    np.testing.assert_array_equal(y[features.MASKED_IDS][0], first.features.feature["masked_lm_ids"].int64_list.value)
    x2, y2 = next(iter(PretrainingDataset(records["pattern"], SEQ, PREDS, 6, is_training=False, nsp=False)()))
    assert features.NEXT_SENTENCE_LABELS not in y2
    with pytest.raises(FileNotFoundError, match="matches no file"):
        PretrainingDataset("/nonexistent/*.tfrecord", SEQ, PREDS, 6)


def test_dynamic_masking_redraws_masks_and_never_masks_specials(records):
    vocab = records["vocab"]
    specials = [vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]]
    dynamic_args = dict(dynamic_masking=True, vocab_size=len(vocab), mask_token_id=vocab["[MASK]"],
                        unselectable_token_ids=specials)
    static = PretrainingDataset(records["pattern"], SEQ, PREDS, 200, is_training=False)()
    dynamic = PretrainingDataset(records["pattern"], SEQ, PREDS, 200, is_training=False, **dynamic_args)()
    (sx, sy), (dx, dy) = next(iter(static)), next(iter(dynamic))

    def unmasked(x, y):
        return PretrainingDataset._unmask(x[features.TOKEN_IDS], x[features.MASKED_POSITIONS],
                                          y[features.MASKED_IDS], y[features.MASKED_WEIGHTS]).numpy()
    # Undo both maskings: the same underlying sequences.
    original = unmasked(dx, dy)
    np.testing.assert_array_equal(unmasked(sx, sy), original)
    pos = dx[features.MASKED_POSITIONS].numpy()
    w = dy[features.MASKED_WEIGHTS].numpy() > 0
    selected = np.take_along_axis(original, pos, 1)[w]
    assert not np.isin(selected, specials).any()
    np.testing.assert_array_equal(dy[features.MASKED_IDS].numpy()[w], selected)
    assert 0.4 < np.mean(np.take_along_axis(dx[features.TOKEN_IDS].numpy(), pos, 1)[w] == vocab["[MASK]"]) < 1.0

    # The training pipeline (shuffled, repeated, under a global seed as `run_pretraining` sets it): each time a
    # sequence comes round again it gets new masks. 165 sequences, batches of 55, 4 passes.
    keras.utils.set_random_seed(11)
    training = PretrainingDataset(records["pattern"], SEQ, PREDS, 55, is_training=True, **dynamic_args)()
    masks = {}
    for x, y in training.take(12):
        rows, positions = unmasked(x, y), x[features.MASKED_POSITIONS].numpy()
        for row, p in zip(rows, positions):
            masks.setdefault(row.tobytes(), set()).add(p.tobytes())
    assert len(masks) >= 150  # (the corpus has ~165 distinct sequences)
    assert np.mean([len(m) > 1 for m in masks.values()]) > 0.9


def test_trains_bert_pretrainer_with_dynamic_masking(records, tmp_path):
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    from bert_tf.training.optimization import create_optimizer
    from bert_tf.training.trainer import Trainer

    vocab = records["vocab"]
    dataset = PretrainingDataset(records["pattern"], SEQ, PREDS, 4, dynamic_masking=True, vocab_size=len(vocab),
                                 mask_token_id=vocab["[MASK]"],
                                 unselectable_token_ids=[vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]])
    model = BertPretrainer(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=len(vocab))))
    trainer = Trainer(model, create_optimizer(1e-3, 4, 1), dataset(), model_dir=str(tmp_path), num_train_steps=4,
                      progress=False, handle_signals=False, eval_dataset=PretrainingDataset(
                          records["pattern"], SEQ, PREDS, 8, is_training=False)())
    result = trainer.train()
    assert result["step"] == 4 and {"masked_lm_accuracy", "next_sentence_accuracy"} <= set(result["metrics"])
    evals = trainer.evaluate()
    assert np.isfinite(evals["loss"]) and 0 <= evals["masked_lm_accuracy"] <= 1
    assert os.path.exists(str(tmp_path / "ckpt-4.index"))
