"""Fixtures for the tokenizer tests: the reference vocabulary and compiled tokenizers (built once)."""

import json
import os

import pytest

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")
VOCAB_FILE = os.path.join(TESTDATA, "vocab", "uncased_vocab.txt")
REFERENCE_FILE = os.path.join(TESTDATA, "parity", "wordpiece_reference.jsonl")


@pytest.fixture(scope="session")
def vocab_file():
    return VOCAB_FILE


@pytest.fixture(scope="session")
def reference_rows():
    """The 31 rows of wordpiece_reference.jsonl (Hugging Face's BERT tokenizer on the uncased vocab)."""
    with open(REFERENCE_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def tokenizers():
    """{(kind, split_special_tokens): tokenizer} for kind in "tf_text", "core"."""
    from bert_tf.tokenization import BertTokenizer, CoreOpsBertTokenizer
    from bert_tf.tokenization import HF_MAX_INPUT_CHARS_PER_WORD
    out = {}
    # The reference is Hugging Face's tokenizer: its word limit (100 characters; google-research/bert's and
    # bert_tf's default is 200), so the 120-character word of the reference file is [UNK] here too.
    hf = dict(max_input_chars_per_word=HF_MAX_INPUT_CHARS_PER_WORD)
    for split in (True, False):
        out[("tf_text", split)] = BertTokenizer(VOCAB_FILE, split_special_tokens=split, **hf)
        out[("core", split)] = CoreOpsBertTokenizer(VOCAB_FILE, split_special_tokens=split, **hf)
    return out


@pytest.fixture(scope="session")
def compiled(tokenizers):
    """{(kind, split): fn(list of str|bytes) -> (ids, starts, ends) as nested Python lists}, one trace each."""
    import tensorflow as tf

    out = {}
    for key, tok in tokenizers.items():
        fn = tf.function(tok.tokenize_tf_with_offsets, input_signature=[tf.TensorSpec([None], tf.string)])

        def run(strings, fn=fn):
            ids, starts, ends = fn(tf.constant(list(strings), tf.string))
            return ids.to_list(), starts.to_list(), ends.to_list()

        out[key] = run
    return out
