"""BERT tokenization: vocabulary files, the WordPiece tokenizers (Python, tensorflow-text, core TF ops), packing.

- `BertTokenizer`: the main tokenizer (Python API with character offsets; TF API on tensorflow-text).
- `CoreOpsBertTokenizer`: the same ids with core TF ops only (portable SavedModels, any TF Serving).
- `BertPacker` / `truncate_seq_pair`: `[CLS] A [SEP] B [SEP]`, segment ids, padding, longest-first truncation.
- `load_vocab` / `write_vocab` / `VocabError`.
"""

from bert_tf.tokenization.bert_tokenizer import BertTokenizer
from bert_tf.tokenization.core_tokenizer import CoreOpsBertTokenizer
from bert_tf.tokenization.packer import BertPacker, truncate_seq_pair, truncated_lengths
from bert_tf.tokenization.reference_tokenizer import ReferenceTokenizer
from bert_tf.tokenization.vocab import (
    CLS_TOKEN, HF_MAX_INPUT_CHARS_PER_WORD, MASK_TOKEN, MAX_INPUT_CHARS_PER_WORD, PAD_TOKEN, SEP_TOKEN,
    SPECIAL_TOKENS, UNK_TOKEN, VocabError, load_vocab, pad_id, write_vocab)

__all__ = [
    "BertPacker", "BertTokenizer", "CLS_TOKEN", "CoreOpsBertTokenizer", "HF_MAX_INPUT_CHARS_PER_WORD",
    "MASK_TOKEN", "MAX_INPUT_CHARS_PER_WORD", "PAD_TOKEN", "ReferenceTokenizer", "SEP_TOKEN", "SPECIAL_TOKENS",
    "UNK_TOKEN", "VocabError", "load_vocab", "pad_id", "truncate_seq_pair", "truncated_lengths", "write_vocab",
]
