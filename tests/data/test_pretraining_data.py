"""create_pretraining_data: statistics on the real Korean sample, record format, determinism, whole-word masking,
balanced next-sentence labels, the script."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import pretraining_data as pd
from bert_tf.tokenization import ReferenceTokenizer, load_vocab

HERE = os.path.dirname(__file__)
KOWIKI = os.path.join(HERE, "..", "testdata", "kowiki")
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def original_name_to_features(max_seq_length, max_predictions_per_seq):
    """google-research/bert run_pretraining.py's input_fn_builder name_to_features, verbatim in meaning."""
    return {
        "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def _parse_files(paths, seq, preds):
    records = [r.numpy() for r in tf.data.TFRecordDataset(paths)]
    parsed = tf.io.parse_example(tf.constant(records), original_name_to_features(seq, preds))
    return {k: v.numpy() for k, v in parsed.items()}


def _korean_slice(path, num_docs):
    """The first `num_docs` documents of the real Korean Wikipedia sample."""
    out, docs = [], 0
    with open(os.path.join(KOWIKI, "kowiki_sample.txt"), encoding="utf-8") as f:
        for line in f:
            out.append(line)
            if not line.strip():
                docs += 1
                if docs >= num_docs:
                    break
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(out)


def test_korean_statistics_and_record_consistency(tmp_path):
    vocab = load_vocab(os.path.join(KOWIKI, "vocab_ko_cased_4k.txt"))
    tokenizer = ReferenceTokenizer(vocab, do_lower_case=False)
    text = tmp_path / "ko.txt"
    _korean_slice(text, 560)
    seq, preds = 128, 20
    creator = pd.PretrainingDataCreator(tokenizer, max_seq_length=seq, max_predictions_per_seq=preds, dupe_factor=2,
                                        random_seed=7, num_workers=2)
    outputs = [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")]
    stats = creator.create(str(text), outputs)
    p = _parse_files(outputs, seq, preds)
    n = len(p["input_ids"])
    assert n == stats["instances"] and abs(len(list(tf.data.TFRecordDataset(outputs[0]))) - n / 2) <= 1

    ids, mask, seg = p["input_ids"], p["input_mask"], p["segment_ids"]
    pos, mids, w = p["masked_lm_positions"], p["masked_lm_ids"], p["masked_lm_weights"]
    lengths = mask.sum(1)
    real = w > 0
    num_masked = real.sum(1)
    assert real.sum() >= 50_000

    # Masks, segments and padding are consistent.
    cls, sep, pad, msk = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"], vocab["[MASK]"]
    arange = np.arange(seq)[None, :]
    np.testing.assert_array_equal(mask, (arange < lengths[:, None]).astype(int))
    assert (ids[mask == 0] == pad).all() and (seg[mask == 0] == 0).all()
    assert (ids[:, 0] == cls).all()
    for row in range(n):
        length = lengths[row]
        seps = np.flatnonzero(ids[row, :length] == sep)
        assert len(seps) >= 2 and seps[-1] == length - 1  # the real [SEP]s are never masked
        boundary = np.flatnonzero(seg[row, :length])[0]  # first segment-B position
        assert ids[row, boundary - 1] == sep and (seg[row, :boundary] == 0).all() and (seg[row, boundary:length] == 1).all()
        k = num_masked[row]
        assert (w[row, :k] == 1).all() and (w[row, k:] == 0).all() and (pos[row, k:] == 0).all()
        assert (mids[row, k:] == 0).all()
        p_row = pos[row, :k]
        assert (np.diff(p_row) > 0).all() and (p_row > 0).all() and (p_row < length).all()
        assert not np.isin(p_row, [0, boundary - 1, length - 1]).any()

    # Selection: google-research/bert's rule, exactly. Each sequence gets round(15% of its length, [CLS] and [SEP]
    # included) positions, at least 1 and at most max_predictions_per_seq (no whole-word skips here). The count is
    # fixed by the length (no sampling noise), so it is checked row by row, not as a share with a tolerance.
    # (np.round and Python's round both round half to even.)
    expected_counts = np.clip(np.round(lengths * 0.15), 1, preds).astype(int)
    np.testing.assert_array_equal(num_masked, expected_counts)
    # Replacement split over the masked positions: each position independently [MASK] 80%, kept 10%, a uniformly
    # drawn vocabulary word 10% (which is [MASK] or the original with probability 1/|V| each). Each share is
    # checked within 5 standard errors sqrt(p(1-p)/n) of its expectation at this run's n.
    current = np.take_along_axis(ids, pos, 1)[real]
    original = mids[real]
    n_masked = len(current)
    shares = {"mask": np.mean(current == msk), "kept": np.mean(current == original),
              "random": np.mean((current != msk) & (current != original))}
    expected = {"mask": 0.8 + 0.1 / len(vocab), "kept": 0.1 + 0.1 / len(vocab), "random": 0.1 - 0.2 / len(vocab)}
    for key, p_expected in expected.items():
        bound = 5 * np.sqrt(p_expected * (1 - p_expected) / n_masked)
        assert abs(shares[key] - p_expected) <= bound, (key, shares[key], p_expected, bound, n_masked)
    # Next sentence: the paper's 50%.
    random_next = p["next_sentence_labels"][:, 0].mean()
    assert abs(random_next - 0.5) <= 0.02, random_next
    assert stats["random_next"] == pytest.approx(random_next)


def _english_tokenizer():
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "un", "##believ", "##able", "play",
             "##ing", "##ed", "a", "big", "red", "house", ".", "today", "it", "rained"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    return ReferenceTokenizer(vocab, do_lower_case=True)


def _english_corpus(path, docs=30, seed=0):
    rng = random.Random(seed)
    sentences = ["The cat sat on the mat.", "Unbelievable playing today.", "A big red house.",
                 "The dog ran far away.", "It rained today.", "Unbelievable, the cat played."]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(docs):
            for _ in range(rng.randint(2, 8)):
                f.write(rng.choice(sentences) + "\n")
            f.write("\n")


def test_deterministic_for_a_seed_whatever_the_workers(tmp_path):
    tokenizer = _english_tokenizer()
    corpus = tmp_path / "en.txt"
    _english_corpus(corpus, docs=40)
    outputs = {}
    for name, workers, seed in [("w1", 1, 3), ("w2", 2, 3), ("seed4", 2, 4)]:
        creator = pd.PretrainingDataCreator(tokenizer, max_seq_length=24, max_predictions_per_seq=5, dupe_factor=3,
                                            random_seed=seed, num_workers=workers, block_size=7)
        path = str(tmp_path / f"{name}.tfrecord")
        creator.create(str(corpus), path)
        outputs[name] = open(path, "rb").read()
    assert outputs["w1"] == outputs["w2"]
    assert outputs["w1"] != outputs["seed4"]


def test_whole_word_masking_masks_every_piece_of_a_word(tmp_path):
    tokenizer = _english_tokenizer()
    rng = random.Random(1)
    tokens = ["[CLS]"] + "un ##believ ##able the cat play ##ing ##ed".split() + ["[SEP]"] + \
        "un ##believ ##able it rained".split() + ["[SEP]"]
    words = [[1, 2, 3], [4], [5], [6, 7, 8], [10, 11, 12], [13], [14]]
    for _ in range(300):
        _, positions, labels = pd.create_masked_lm_predictions(
            tokens, 0.3, 20, list(tokenizer.vocab), rng, do_whole_word_mask=True)
        chosen = set(positions)
        for word in words:
            assert chosen.isdisjoint(word) or chosen.issuperset(word), (positions, word)
        assert labels == [tokens[i] for i in positions]
        assert not chosen & {0, 9, 15}


def test_balanced_next_sentence_where_the_original_forces_random(tmp_path):
    # Sentences as long as the target: every chunk holds one sentence. The original would make all random.
    rng = random.Random(0)
    vocab_words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(50)]
    documents = [[[f"w{rng.randrange(50)}" for _ in range(30)] for _ in range(rng.randint(1, 6))]
                 for _ in range(300)]
    labels = []
    for index in range(len(documents)):
        for inst in pd.create_instances_from_document(documents, index, 32, 0.0, 0.15, 5, vocab_words, rng):
            labels.append(inst.is_random_next)
            assert len(inst.tokens) <= 32
            boundary = inst.segment_ids.index(1)
            assert inst.tokens[boundary - 1] == "[SEP]" and inst.tokens[-1] == "[SEP]"
    assert len(labels) > 500
    assert abs(np.mean(labels) - 0.5) < 0.05


def test_serialized_records_equal_tensorflow_protos():
    inst = pd.TrainingInstance(tokens=["[CLS]", "the", "[MASK]", "[SEP]", "cat", "[SEP]"],
                               segment_ids=[0, 0, 0, 0, 1, 1], masked_lm_positions=[2], masked_lm_labels=["cat"],
                               is_random_next=True)
    vocab = _english_tokenizer().vocab
    data = pd.instance_to_example(inst, vocab, max_seq_length=8, max_predictions_per_seq=3)
    parsed = tf.train.Example.FromString(data)
    feats = parsed.features.feature
    assert list(feats["input_ids"].int64_list.value) == [2, 5, 4, 3, 6, 3, 0, 0]
    assert list(feats["input_mask"].int64_list.value) == [1] * 6 + [0, 0]
    assert list(feats["segment_ids"].int64_list.value) == [0, 0, 0, 0, 1, 1, 0, 0]
    assert list(feats["masked_lm_positions"].int64_list.value) == [2, 0, 0]
    assert list(feats["masked_lm_ids"].int64_list.value) == [6, 0, 0]
    assert list(feats["masked_lm_weights"].float_list.value) == [1.0, 0.0, 0.0]
    assert list(feats["next_sentence_labels"].int64_list.value) == [1]
    big = pd.serialize_example({"x": ("int64", [0, 1, 127, 128, 300, 2**40])})
    assert list(tf.train.Example.FromString(big).features.feature["x"].int64_list.value) == [0, 1, 127, 128, 300,
                                                                                             2**40]


def test_script_writes_records_and_reports_bad_input(tmp_path):
    corpus = tmp_path / "en.txt"
    _english_corpus(corpus, docs=10)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(_english_tokenizer().vocab) + "\n", encoding="utf-8")
    script = os.path.join(REPO, "scripts", "create_pretraining_data.py")
    out = tmp_path / "out.tfrecord"
    run = subprocess.run([sys.executable, script, f"--input_file={corpus}", f"--output_file={out}",
                          f"--vocab_file={vocab}", "--max_seq_length=32", "--max_predictions_per_seq=6",
                          "--dupe_factor=2", "--num_workers=1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = json.loads(run.stdout.strip().splitlines()[-1])
    p = _parse_files([str(out)], 32, 6)
    assert len(p["input_ids"]) == stats["instances"] > 10
    bad = subprocess.run([sys.executable, script, f"--input_file={tmp_path}/missing*.txt", f"--output_file={out}",
                          f"--vocab_file={vocab}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "matches no file" in bad.stderr and "Traceback" not in bad.stderr
