"""Turns `TextExample`s into BERT input arrays and label ids (classification and regression)."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from bert_tf import features
from bert_tf.data.errors import DataError
from bert_tf.data.examples import TextExample
from bert_tf.tokenization.packer import BertPacker

logger = logging.getLogger(__name__)


def label_ids(examples: Sequence[TextExample], label_names: Sequence[str], *, split: str = "eval") -> np.ndarray:
    """Class ids of `examples` under `label_names` (the training set's classes).

    Raises `DataError` naming the first file:line whose label was never seen in training: a model cannot
    predict a class it has no output for, and silently dropping such rows would overstate accuracy.
    """
    index = {name: i for i, name in enumerate(label_names)}
    ids = np.empty(len(examples), np.int32)
    unseen = {}
    for i, example in enumerate(examples):
        name = str(example.label)
        if example.label is None:
            raise DataError(f"{example.source}: the {split} example has no label")
        if name not in index:
            unseen.setdefault(name, example.source)
            continue
        ids[i] = index[name]
    if unseen:
        first = next(iter(unseen.items()))
        raise DataError(f"{first[1]}: {split} label {first[0]!r} never occurs in the training data "
                        f"({len(unseen)} unseen label(s): {sorted(unseen)[:10]}); known labels: {list(label_names)[:20]}"
                        + (" ..." if len(label_names) > 20 else ""))
    return ids


def encode_examples(tokenizer, examples: Sequence[TextExample], max_seq_length: int) -> dict:
    """Tokenizes and packs `[CLS] a [SEP] (b [SEP])`, truncating pairs longest-first as google-research/bert.

    Returns a dict of int32 arrays `(N, max_seq_length)`: `token_ids`, `segment_ids`, `padding_mask`.
    """
    if not examples:
        raise DataError("no examples to encode")
    packer = BertPacker(max_seq_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    out = {name: np.zeros((len(examples), max_seq_length), np.int32) for name in features.ENCODER_INPUTS}
    truncated = 0
    for i, example in enumerate(examples):
        ids_a = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.text_a))
        ids_b = None if example.text_b is None else tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.text_b))
        needed = len(ids_a) + (len(ids_b) + 3 if ids_b is not None else 2)
        truncated += needed > max_seq_length
        packed = packer.pack_python(ids_a, ids_b)
        for name in features.ENCODER_INPUTS:
            out[name][i] = packed[name]
    if truncated:
        logger.info("%d of %d examples were truncated to max_seq_length=%d", truncated, len(examples), max_seq_length)
    return out


def encode_pairs_separately(tokenizer, examples: Sequence[TextExample], max_seq_length: int) -> dict:
    """Packs each sentence of every pair alone, `[CLS] a [SEP]` and `[CLS] b [SEP]` (a bi-encoder's input).

    Returns a dict of int32 arrays `(N, 2, max_seq_length)`: `token_ids`, `segment_ids`, `padding_mask`; row 0 of
    each pair is `text_a`, row 1 `text_b`. Raises `DataError` naming the first example without a second text.
    """
    if not examples:
        raise DataError("no examples to encode")
    missing = next((e for e in examples if e.text_b is None), None)
    if missing is not None:
        raise DataError(f"{missing.source}: a bi-encoder scores sentence pairs, and this example has no second "
                        "text (text_b)")
    a, b = (encode_examples(tokenizer, [TextExample(e.guid, getattr(e, side), None, e.label, e.source)
                                        for e in examples], max_seq_length) for side in ("text_a", "text_b"))
    return {name: np.stack([a[name], b[name]], axis=1) for name in features.ENCODER_INPUTS}
