"""Packing `[CLS] A [SEP] B [SEP]`: google-research/bert's longest-first truncation, segment ids, padding."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import features
from bert_tf.tokenization import BertPacker, truncate_seq_pair, truncated_lengths


@pytest.mark.parametrize("len_a,len_b,budget,expected", [
    (10, 2, 9, (7, 2)),  # only the longer one shrinks
    (2, 10, 9, (2, 7)),
    (5, 5, 9, (5, 4)),  # a tie trims B first
    (6, 6, 9, (5, 4)),
    (3, 8, 9, (3, 6)),
    (8, 3, 9, (6, 3)),
    (4, 3, 9, (4, 3)),  # under budget: untouched
    (12, 11, 10, (5, 5)),
    (0, 13, 5, (0, 5)),
])
def test_truncate_seq_pair_cases(len_a, len_b, budget, expected):
    a, b = list(range(len_a)), list(range(100, 100 + len_b))
    truncate_seq_pair(a, b, budget)
    assert (len(a), len(b)) == expected
    assert a == list(range(expected[0])) and b == list(range(100, 100 + expected[1]))  # tails are dropped


def test_closed_form_equals_google_loop():
    for budget in range(0, 14):
        for len_a in range(0, 16):
            for len_b in range(0, 16):
                a, b = [0] * len_a, [0] * len_b
                truncate_seq_pair(a, b, budget)
                assert tuple(int(x) for x in truncated_lengths(len_a, len_b, budget)) == (len(a), len(b))


def test_pack_pairs_tf():
    packer = BertPacker(max_seq_length=11, cls_id=101, sep_id=102, pad_id=0)
    a = tf.ragged.constant([[11, 12, 13, 14, 15, 16, 17, 18], [21, 22]])
    b = tf.ragged.constant([[31, 32, 33], [41, 42, 43]])
    out = packer(a, b)
    assert out[features.TOKEN_IDS].numpy().tolist() == [
        [101, 11, 12, 13, 14, 15, 102, 31, 32, 33, 102],  # budget 8: a 8 -> 5, b 3
        [101, 21, 22, 102, 41, 42, 43, 102, 0, 0, 0],
    ]
    assert out[features.SEGMENT_IDS].numpy().tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
    ]
    assert out[features.PADDING_MASK].numpy().tolist() == [[1] * 11, [1] * 8 + [0] * 3]
    assert all(v.dtype == tf.int32 and v.shape == (2, 11) for v in out.values())


def test_pack_single_segment_truncates_to_max_seq_length_minus_2():
    packer = BertPacker(max_seq_length=6, cls_id=2, sep_id=3, pad_id=9)
    out = packer(tf.ragged.constant([[5, 6, 7, 8, 10, 11, 12], [5], []]))
    assert out[features.TOKEN_IDS].numpy().tolist() == [
        [2, 5, 6, 7, 8, 3], [2, 5, 3, 9, 9, 9], [2, 3, 9, 9, 9, 9]]
    assert out[features.SEGMENT_IDS].numpy().sum() == 0
    assert out[features.PADDING_MASK].numpy().tolist() == [[1] * 6, [1] * 3 + [0] * 3, [1] * 2 + [0] * 4]


def test_python_packing_equals_tf_packing():
    rng = np.random.default_rng(7)
    packer = BertPacker(max_seq_length=9, cls_id=101, sep_id=102)
    fn = tf.function(lambda a, b: packer(a, b), autograph=False, input_signature=[
        tf.RaggedTensorSpec([None, None], tf.int32), tf.RaggedTensorSpec([None, None], tf.int32)])
    a = [list(rng.integers(1000, 2000, size=rng.integers(0, 12))) for _ in range(20)]
    b = [list(rng.integers(1000, 2000, size=rng.integers(0, 12))) for _ in range(20)]
    out = fn(tf.ragged.constant(a, dtype=tf.int32, ragged_rank=1, row_splits_dtype=tf.int64),
             tf.ragged.constant(b, dtype=tf.int32, ragged_rank=1, row_splits_dtype=tf.int64))
    for i in range(20):
        expected = packer.pack_python(a[i], b[i])
        for name in features.ENCODER_INPUTS:
            assert out[name].numpy()[i].tolist() == expected[name].tolist()


def test_bad_lengths():
    with pytest.raises(ValueError, match="max_seq_length must be >= 2"):
        BertPacker(max_seq_length=1, cls_id=1, sep_id=2)
    packer = BertPacker(max_seq_length=2, cls_id=1, sep_id=2)
    with pytest.raises(ValueError, match=">= 3 for pairs"):
        packer(tf.ragged.constant([[5]]), tf.ragged.constant([[6]]))
    with pytest.raises(ValueError, match="max_num_tokens"):
        truncate_seq_pair([1], [2], -1)


def test_old_seq_length_name_still_works_with_a_warning(tokenizers):
    """`seq_length` (BertPacker's keyword and attribute, `packer()`/`encode_tf()`'s keyword) is now
    `max_seq_length`; the old spelling works for one release and warns."""
    with pytest.warns(DeprecationWarning, match=r"seq_length=\.\.\.\) is deprecated.*use max_seq_length="):
        packer = BertPacker(seq_length=5, cls_id=1, sep_id=2)
    assert packer.max_seq_length == 5 and packer.get_config()["max_seq_length"] == 5
    with pytest.warns(DeprecationWarning, match="BertPacker.seq_length is deprecated"):
        assert packer.seq_length == 5
    tok = tokenizers[("core", True)]
    with pytest.warns(DeprecationWarning, match="packer"):
        assert tok.packer(seq_length=7).max_seq_length == 7
    with pytest.warns(DeprecationWarning, match="encode_tf"):
        old = tok.encode_tf(tf.constant(["What is BERT?"]), seq_length=9)
    new = tok.encode_tf(tf.constant(["What is BERT?"]), max_seq_length=9)
    assert old[features.TOKEN_IDS].numpy().tolist() == new[features.TOKEN_IDS].numpy().tolist()
    assert new[features.TOKEN_IDS].shape == (1, 9)
    with pytest.raises(TypeError, match="both 'seq_length'"):
        tok.encode_tf(tf.constant(["x"]), seq_length=9, max_seq_length=9)
    with pytest.raises(AttributeError, match="no attribute 'seq_len'"):
        packer.seq_len
