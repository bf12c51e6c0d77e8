"""The paper's feature-based approach: fixed contextual vectors from a pre-trained encoder.

Writes google-research/bert's `extract_features.py` JSON-lines format, or one pooled sentence vector per line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from typing import Iterator, Sequence

import numpy as np

from bert_tf import features
from bert_tf.atomic_files import write_jsonl  # noqa: F401  (re-exported: extract_features.py calls it here)
from bert_tf.heads.sequence_pooling import cls_token_alias, masked_mean
from bert_tf.tokenization import packer, vocab

POOLING_MODES = ("none", "cls_token", "mean")  # the names of bert_tf.heads.SequencePooling ("cls": deprecated)


class InputError(ValueError):
    """An input file that cannot be turned into examples."""


@dataclasses.dataclass(frozen=True)
class LineExample:
    """One line of input: `text_a`, and `text_b` for a `A ||| B` pair. `index` is the 0-based line number.

    (Not `bert_tf.data.TextExample`, a labeled example of a fine-tuning file with a string `guid`.)
    """

    index: int
    text_a: str
    text_b: str | None = None


def read_line_examples(path: str) -> list[LineExample]:
    """Reads one text per line, `A ||| B` for a pair (google-research/bert's `extract_features.py` input format;
    `bert_tf.data.read_examples` reads the fine-tuning formats).

    Raises `InputError` naming the file and line for a missing file, invalid UTF-8, an empty line or an
    empty side of a pair.
    """
    if not os.path.isfile(path):
        raise InputError(f"input file not found: {path}")
    examples = []
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}:{line_number}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                raise InputError(f"{path}:{line_number}: empty line (every line must hold a text or 'A ||| B')")
            text_b = None
            if " ||| " in line or line.count("|||") == 1:
                text_a, text_b = (part.strip() for part in line.split("|||", 1))
                if not text_a or not text_b:
                    raise InputError(f"{path}:{line_number}: one side of the 'A ||| B' pair is empty")
            else:
                text_a = line.strip()
            examples.append(LineExample(len(examples), text_a, text_b))
    if not examples:
        raise InputError(f"{path}: the file holds no text")
    return examples


def _encode(tokenizer, example: LineExample, max_seq_length: int):
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b is not None else None
    budget = max_seq_length - (3 if tokens_b is not None else 2)
    original = len(tokens_a) + (len(tokens_b) if tokens_b else 0)
    if tokens_b is not None:
        packer.truncate_seq_pair(tokens_a, tokens_b, budget)
    else:
        tokens_a = tokens_a[:budget]
    kept = len(tokens_a) + (len(tokens_b) if tokens_b else 0)
    if kept < original:
        logging.warning("line %d: %d word pieces truncated to fit --max_seq_length=%d (longest-first)",
                        example.index + 1, original - kept, max_seq_length)
    tokens = [vocab.CLS_TOKEN, *tokens_a, vocab.SEP_TOKEN]
    segment_ids = [0] * len(tokens)
    if tokens_b is not None:
        tokens += [*tokens_b, vocab.SEP_TOKEN]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, tokenizer.convert_tokens_to_ids(tokens), segment_ids


def extract_features(encoder, tokenizer, examples: Sequence[LineExample], *, layers: Sequence[int] = (-1, -2, -3, -4),
                     max_seq_length: int = 128, batch_size: int = 8, pooling: str = "none") -> Iterator[dict]:
    """Yields one JSON-ready dict per example.

    Args:
        encoder: `BertEncoder`.
        tokenizer: `BertTokenizer` matching the encoder's vocabulary.
        examples: `LineExample`s (see `read_line_examples`).
        layers: list of int. Transformer layers to output, negative from the top (-1 = last layer). Defaults
            to the last four, as google-research/bert.
        max_seq_length: int. Longer inputs are truncated longest-first (a warning names the line).
        batch_size: int. Examples per forward pass.
        pooling: str. `"none"` writes every token's vectors (google-research/bert's format:
            `{"linex_index", "features": [{"token", "layers": [{"index", "values"}]}]}`); `"cls_token"` or
            `"mean"` write one vector per example (`{"linex_index", "pooling", "layers": [{"index", "values"}]}`):
            the raw `[CLS]` position's vector, or the mean over real (non-padding) tokens (`masked_mean`), named
            as in `bert_tf.heads.SequencePooling`. `"cls"`, the old name of `"cls_token"`, is deprecated (one
            release). Values are rounded to 6 decimals.
    """
    pooling = cls_token_alias(pooling, "extract_features")
    if pooling not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
    num_layers = len(encoder.transformer_layers)
    for layer in layers:
        if not -num_layers <= layer < num_layers:
            raise ValueError(f"layer index {layer} is out of range for an encoder with {num_layers} layers")
    if max_seq_length > encoder.bert_config.max_position_embeddings:
        raise ValueError(f"max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                         f"{encoder.bert_config.max_position_embeddings}")
    if max_seq_length < 3:
        raise ValueError("max_seq_length must be at least 3 ([CLS] text [SEP])")
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        encoded = [_encode(tokenizer, example, max_seq_length) for example in batch]
        length = max(len(ids) for _, ids, _ in encoded)
        token_ids = np.zeros((len(batch), length), np.int32)
        segment_ids = np.zeros_like(token_ids)
        padding_mask = np.zeros_like(token_ids)
        for row, (_, ids, segments) in enumerate(encoded):
            token_ids[row, :len(ids)] = ids
            segment_ids[row, :len(ids)] = segments
            padding_mask[row, :len(ids)] = 1
        outputs = encoder({features.TOKEN_IDS: token_ids, features.SEGMENT_IDS: segment_ids,
                           features.PADDING_MASK: padding_mask}, training=False)
        all_layers = [np.asarray(x, np.float32) for x in outputs[features.ENCODER_OUTPUTS]]
        if pooling == "mean":  # the one masked mean pooling (SequencePooling's and the encoder export's)
            pooled = {layer: np.asarray(masked_mean(all_layers[layer], padding_mask)) for layer in layers}
        elif pooling == "cls_token":
            pooled = {layer: all_layers[layer][:, 0] for layer in layers}
        for row, example in enumerate(batch):
            tokens = encoded[row][0]
            if pooling == "none":
                yield {"linex_index": example.index, "features": [
                    {"token": token, "layers": [
                        {"index": layer, "values": _round(all_layers[layer][row, position])} for layer in layers]}
                    for position, token in enumerate(tokens)]}
            else:
                yield {"linex_index": example.index, "pooling": pooling, "layers": [
                    {"index": layer, "values": _round(pooled[layer][row])} for layer in layers]}


def _round(vector: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in vector]


_RENAMED = {"TextExample": "LineExample", "read_examples": "read_line_examples"}


def __getattr__(name):
    # The old names, deprecated (one release): they clashed with bert_tf.data's TextExample / read_examples.
    if name in _RENAMED:
        warnings.warn(f"bert_tf.feature_extraction.{name} is deprecated; use {_RENAMED[name]}", DeprecationWarning,
                      stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
