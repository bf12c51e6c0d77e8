"""Which rows a carved dev split takes (`selection.select_dev`): the row-level split, and whole groups when rows
share a premise (KLUE-NLI writes three hypotheses per premise, one per label)."""

import collections
import os

import pytest

from bert_tf.finetuning.classifier import _ClassificationData
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions
from bert_tf.finetuning.selection import select_dev

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "testdata")
KLUE_NLI = os.path.join(TESTDATA, "klue_nli", "klue-nli-v1.1_train.json")


def test_row_level_split_is_fixed_and_disjoint():
    items = [f"row{i}" for i in range(23)]
    train, dev, source = select_dev(items, dev_fraction=0.2)
    assert len(dev) == 5 and len(train) == 18  # round(23 * 0.2)
    assert sorted(train + dev) == sorted(items) and not set(train) & set(dev)
    assert train == [x for x in items if x in train]  # original order kept on both sides
    again = select_dev(list(items), dev_fraction=0.2)
    assert again[1] == dev  # the split seed is fixed: every run (and every training seed) gets the same dev set
    assert source == "0.2 of the training data (5 of 23 examples, split seed 0)"


def test_singleton_groups_give_the_row_level_split():
    items = list(range(40))
    plain = select_dev(items, dev_fraction=0.15)
    grouped = select_dev(items, dev_fraction=0.15, group=lambda x: f"key{x}")
    assert plain[:2] == grouped[:2]


def test_grouped_split_keeps_each_group_on_one_side():
    # 9 groups of 3 rows and 2 single rows: 29 items, 0.25 of them is 7 rows, reached with whole groups only
    items = [(f"p{g}", h) for g in range(9) for h in range(3)] + [("solo1", 0), ("solo2", 0)]
    train, dev, source = select_dev(items, dev_fraction=0.25, group=lambda x: x[0])
    train_keys, dev_keys = {k for k, _ in train}, {k for k, _ in dev}
    assert not train_keys & dev_keys
    assert 7 <= len(dev) <= 7 + 2  # stops at the first group that reaches the target
    assert len(train) + len(dev) == 29
    assert "11 groups" in source


def test_one_group_cannot_be_split():
    with pytest.raises(FinetuneError, match="one group"):
        select_dev([("same", i) for i in range(10)], dev_fraction=0.3, group=lambda x: x[0])


def test_klue_nli_dev_carve_keeps_premises_whole():
    """A sweep over two learning rates carves 0.1 of KLUE-NLI by premise: no premise has hypotheses on both sides
    and the dev premise keeps its three labels, so memorizing premises cannot help on dev. (The 30-row sample holds
    11 premises: nine with three hypotheses, one with two, one with one.)"""
    options = FinetuneOptions(learning_rate="1e-4,3e-4")
    data = _ClassificationData.read(options, KLUE_NLI, None, "klue_nli", (None, None, None, True), False, None)
    assert len(data.train) + len(data.dev) == 30
    train_premises = {e.text_a for e in data.train}
    dev_premises = collections.Counter(e.text_a for e in data.dev)
    assert dev_premises and not train_premises & set(dev_premises)
    assert len(data.dev) == 3 and set(dev_premises.values()) == {3}  # one premise: round(30 * 0.1) = 3 rows
    assert "11 groups" in data.dev_source

    row_level = select_dev(data.train + data.dev, dev_fraction=0.1)
    assert {e.text_a for e in row_level[0]} & {e.text_a for e in row_level[1]}  # what the grouping prevents
