"""`benchmarks/korean_match_probe.py` labels every piece of a pair 1 when the same piece id is in the other segment:
the labels must follow the pieces kept after truncation, and [CLS], [SEP] and padding must carry no weight."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: benchmarks/
from benchmarks.korean_match_probe import match_example  # noqa: E402

CLS, SEP = 2, 3


def test_each_piece_is_labelled_by_the_other_segment():
    tokens, segments, mask, labels, weights = match_example([10, 11, 12, 11], [12, 13, 10], 12, CLS, SEP)
    assert tokens == [CLS, 10, 11, 12, 11, SEP, 12, 13, 10, SEP, 0, 0]
    assert segments == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert mask == [1] * 10 + [0, 0]
    # premise: 10 and 12 are in the hypothesis, 11 (twice) is not; hypothesis: 12 and 10 are in the premise, 13 not
    assert labels == [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0]
    assert weights == [0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]


def test_labels_follow_the_pieces_kept_after_truncation():
    # 9 slots for pieces (seq 12 less 3): the longer premise loses its tail (20, 21), so the hypothesis's 20 and 21
    # no longer match anything, while its 14 still does
    premise, hypothesis = [14, 15, 16, 17, 18, 19, 20, 21], [20, 21, 14]
    tokens, _, _, labels, weights = match_example(premise, hypothesis, 12, CLS, SEP)
    assert tokens == [CLS, 14, 15, 16, 17, 18, 19, SEP, 20, 21, 14, SEP]
    assert labels == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert sum(weights) == 9
