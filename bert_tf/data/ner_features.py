"""Token classification features: tags → word-piece labels, and predictions back to words or characters.

Word-level data (CoNLL): each word is tokenized on its own; its first piece carries the word's tag and the
other pieces carry -100 (ignored by `BertTokenClassifier`'s loss and metric), as in the BERT paper.

Character-level data (KLUE-NER) is encoded syllable by syllable, as KLUE's own baseline does: Korean entity
boundaries fall inside space-separated words (a particle follows the name: `서울에서` = LC `서울` + `에서`),
so a WordPiece piece that spans the boundary would carry one tag for two labels, capping character entity F1
at 0.822 on KLUE-NER's test sentences. Each character of a basic-tokenizer word becomes its own piece instead:
the word's first character in its word-initial form, the others in their `##` continuation form when the
vocabulary has it (what WordPiece produced for them in pre-training; else the word-initial form), and
every character carries its own tag, so the best achievable character F1 is 1.0. A character that
tokenizes to several pieces (an uncased vocabulary splits a Hangul syllable into jamo) is labelled on its
first piece. Predictions go back to characters: each character gets its piece's tag (`decode_tags` also
accepts pieces spanning several characters: the first gets the tag, the others continue it, `B-X`/`I-X` →
`I-X`, BIOES `S-X` → `B-X … E-X`); characters no piece covers (spaces) get `O`. Scores are then computed on
characters, KLUE's entity-level rule.

Sentences longer than `max_seq_length - 2` pieces are split into consecutive chunks (no word is dropped).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from bert_tf import features
from bert_tf.data.errors import DataError
from bert_tf.data.examples import TaggedExample
from bert_tf.tokenization.vocab import UNK_TOKEN

IGNORE_LABEL = -100
logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TaggedFeatures:
    """Model inputs and labels plus the maps that turn per-position predictions back into per-unit tags.

    `inputs`: dict of int32 `(N, T)`. `labels`: int32 `(N, T)` (-100 where ignored), or None when unlabeled.
    `positions`: per feature, a list of `(position, example_index, unit)` where unit is a word index
    (word level) or a `(start, end)` character span (character level).
    """

    inputs: dict
    labels: np.ndarray | None
    positions: list
    num_units: list  # per example: number of words or characters


def tag_names_of(examples: Sequence[TaggedExample]) -> list[str]:
    """All tags in `examples`, `O` first, then sorted by type and prefix (`B-LOC`, `I-LOC`, `B-PER`, ...)."""
    tags = {t for e in examples for t in (e.tags or ())}
    rest = sorted(tags - {"O"}, key=lambda t: (t[2:], t[:1]))
    return (["O"] if "O" in tags else []) + rest


def _tag_ids(examples, tag_names, split):
    index = {t: i for i, t in enumerate(tag_names)}
    for example in examples:
        if example.tags is None:
            continue
        for tag in example.tags:
            if tag not in index:
                raise DataError(f"{example.source}: {split} tag {tag!r} never occurs in the training data; "
                                f"known tags: {list(tag_names)}")
    return index


def _syllable_pieces(tokenizer, text):
    """[(piece_id, (i, i + 1), labelled)]: one piece per character of every basic-tokenizer word (see the module
    docstring); only a character's first piece is labelled."""
    vocab = tokenizer.vocab
    out = []
    for word in tokenizer.tokenize_words_with_offsets(text):
        if not word:
            continue
        start, end = word[0][1], word[-1][2]
        for i in range(start, end):
            pieces = tokenizer.tokenize(text[i]) or []
            if not pieces:  # a character the tokenizer drops (control, zero-width)
                continue
            if i > start and len(pieces) == 1 and f"##{pieces[0]}" in vocab:
                pieces = [f"##{pieces[0]}"]
            for k, piece_id in enumerate(tokenizer.convert_tokens_to_ids(pieces)):
                out.append((piece_id, (i, i + 1), k == 0))
    return out


def _pieces_of(tokenizer, example):
    """[(piece_id, unit, labelled)] for one example (unit = word index or (start, end) char span)."""
    out = []
    if example.char_level:
        return _syllable_pieces(tokenizer, example.text)
    for w, word in enumerate(example.words):
        pieces = tokenizer.tokenize(word) or [UNK_TOKEN]
        ids = tokenizer.convert_tokens_to_ids(pieces)
        for k, piece_id in enumerate(ids):
            out.append((piece_id, w, k == 0))
    return out


def encode_tagged(tokenizer, examples: Sequence[TaggedExample], max_seq_length: int,
                  tag_names: Sequence[str], *, split: str = "eval") -> TaggedFeatures:
    """Encodes tagged (or unlabeled) examples; see the module docstring."""
    if not examples:
        raise DataError("no examples to encode")
    if max_seq_length < 3:
        raise ValueError("max_seq_length must be at least 3")
    index = _tag_ids(examples, tag_names, split)
    labeled = all(e.tags is not None for e in examples)
    budget = max_seq_length - 2
    rows_ids, rows_labels, positions, num_units = [], [], [], []
    chunked = 0
    for e_index, example in enumerate(examples):
        pieces = _pieces_of(tokenizer, example)
        num_units.append(len(example.words))
        # Chunk boundaries: never split a word's pieces at word level.
        chunks, current = [], []
        for item in pieces:
            starts_unit = item[2]
            if len(current) >= budget and starts_unit:
                chunks.append(current)
                current = []
            elif len(current) >= budget:  # a single word longer than the budget: cut it
                chunks.append(current)
                current = []
            current.append(item)
        chunks.append(current)
        chunked += len(chunks) > 1
        for chunk in chunks:
            ids = [tokenizer.cls_id] + [p for p, _, _ in chunk] + [tokenizer.sep_id]
            labels = [IGNORE_LABEL] * len(ids)
            feature_positions = []
            for offset, (_, unit, labelled) in enumerate(chunk, start=1):
                if not labelled:
                    continue
                feature_positions.append((offset, e_index, unit))
                if labeled:
                    tag = example.tags[unit[0]] if example.char_level else example.tags[unit]
                    labels[offset] = index[tag]
            rows_ids.append(ids)
            rows_labels.append(labels)
            positions.append(feature_positions)
    if chunked:
        logger.info("%d sentences were longer than max_seq_length=%d and were split into chunks", chunked,
                    max_seq_length)
    n = len(rows_ids)
    inputs = {name: np.zeros((n, max_seq_length), np.int32) for name in features.ENCODER_INPUTS}
    labels = np.full((n, max_seq_length), IGNORE_LABEL, np.int32)
    for i, (ids, labs) in enumerate(zip(rows_ids, rows_labels)):
        inputs[features.TOKEN_IDS][i, :len(ids)] = ids
        inputs[features.PADDING_MASK][i, :len(ids)] = 1
        labels[i, :len(labs)] = labs
    return TaggedFeatures(inputs, labels if labeled else None, positions, num_units)


def _continue(tag):
    """The tag of a piece's later characters (character level)."""
    if tag == "O":
        return "O"
    prefix, type_ = tag[:1], tag[2:]
    return f"I-{type_}" if prefix in ("B", "I", "S") else tag  # E- continues as I- except its last char


def decode_tags(feats: TaggedFeatures, examples: Sequence[TaggedExample], predicted_ids: np.ndarray,
                tag_names: Sequence[str]) -> list[list[str]]:
    """Per-example tag lists (one per word, or one per character) from `(N, T)` predicted tag ids."""
    out = [["O"] * n for n in feats.num_units]
    covered = [[False] * n for n in feats.num_units]
    for row, feature_positions in enumerate(feats.positions):
        for position, e_index, unit in feature_positions:
            tag = tag_names[int(predicted_ids[row, position])]
            if not examples[e_index].char_level:
                out[e_index][unit] = tag
                continue
            start, end = unit
            end = min(end, len(out[e_index]))
            if end <= start:
                continue
            prefix, type_ = tag[:1], tag[2:]
            if prefix == "S" and end - start > 1:
                span = [f"B-{type_}"] + [f"I-{type_}"] * (end - start - 2) + [f"E-{type_}"]
            elif prefix == "E" and end - start > 1:
                span = [f"I-{type_}"] * (end - start - 1) + [tag]
            else:
                span = [tag] + [_continue(tag)] * (end - start - 1)
            out[e_index][start:end] = span
            covered[e_index][start:end] = [True] * (end - start)
    for e_index, example in enumerate(examples):
        if example.char_level:
            _bridge_gaps(out[e_index], covered[e_index])
    return out


def _bridge_gaps(tags, covered):
    """Characters no piece covers (spaces) inside an entity continue it: `B-X ␣ I-X` → `B-X I-X I-X`
    (KLUE tags the spaces inside an entity `I-X`)."""
    i = 0
    while i < len(tags):
        if covered[i]:
            i += 1
            continue
        j = i
        while j < len(tags) and not covered[j]:
            j += 1
        if 0 < i and j < len(tags):
            before, after = tags[i - 1], tags[j]
            if before[:1] in ("B", "I") and after[:1] in ("I", "E") and before[2:] == after[2:]:
                tags[i:j] = [f"I-{before[2:]}"] * (j - i)
        i = j
