"""What `BertTokenizer` and `CoreOpsBertTokenizer` share: the Python API (on `ReferenceTokenizer`) and the
TF graph around the WordPiece step (`GraphPretokenizer` before it, ids and offsets per batch row after it).
Subclasses only supply `_wordpiece_graph`.
"""

import os

import keras
import tensorflow as tf

from bert_tf.deprecation import renamed_attribute, renamed_kwargs
from bert_tf.tokenization import packer as packer_lib
from bert_tf.tokenization import vocab as vocab_lib
from bert_tf.tokenization.graph_pretokenizer import GraphPretokenizer
from bert_tf.tokenization.reference_tokenizer import ReferenceTokenizer


class _PythonState:
    """Plain holder, so Keras/TF attribute tracking leaves the Python vocab dicts alone."""

    def __init__(self, vocab, reference):
        self.vocab = vocab
        self.inverse = list(vocab.keys())
        self.reference = reference


def vocab_lookup_table(vocab_file, vocab):
    """A string -> int64 `StaticHashTable` (default -1) over the vocabulary.

    A canonical file (UTF-8, `\\n` line ends, no BOM) initializes the table directly, so
    `tf.saved_model.save` copies it into `assets/`; any other file is loaded from memory.
    """
    with open(vocab_file, "rb") as f:
        data = f.read()
    if b"\r" not in data and not data.startswith(b"\xef\xbb\xbf"):
        initializer = tf.lookup.TextFileInitializer(
            vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
    else:
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(vocab.keys())), tf.constant(list(vocab.values()), tf.int64))
    return tf.lookup.StaticHashTable(initializer, default_value=-1)


class TokenizerBase(keras.layers.Layer):
    """Base of the BERT tokenizers (see `BertTokenizer` for the arguments and the API)."""

    # `lowercase` (the old name of `do_lower_case`) still loads: `.keras` files saved before the rename store it.
    @renamed_kwargs(lowercase="do_lower_case")
    def __init__(self, vocab_file, do_lower_case=True, split_special_tokens=True,
                 max_input_chars_per_word=vocab_lib.MAX_INPUT_CHARS_PER_WORD, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        # Inputs are string tensors, not backend floats (as keras-hub's preprocessing layers).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.vocab_file = os.fspath(vocab_file)
        self.do_lower_case = bool(do_lower_case)
        self.split_special_tokens = bool(split_special_tokens)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        vocab = vocab_lib.load_vocab(self.vocab_file)
        reference = ReferenceTokenizer(vocab, self.do_lower_case, self.split_special_tokens,
                                       self.max_input_chars_per_word)
        self._py = _PythonState(vocab, reference)
        specials = [] if self.split_special_tokens else [(t, vocab[t]) for t in reference.special_tokens]
        with tf.init_scope():
            self._pretokenizer = GraphPretokenizer(self.do_lower_case, specials)
            self._build_wordpiece()
        self.built = True

    # === Config ===

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_file": self.vocab_file,
            "do_lower_case": self.do_lower_case,
            "split_special_tokens": self.split_special_tokens,
            "max_input_chars_per_word": self.max_input_chars_per_word,
        })
        return config

    lowercase = renamed_attribute("lowercase", "do_lower_case")

    # === Vocabulary ===

    @property
    def vocab(self):
        """dict str -> int (ordered by id)."""
        return self._py.vocab

    @property
    def vocab_size(self):
        return len(self._py.vocab)

    @property
    def pad_id(self):
        return vocab_lib.pad_id(self._py.vocab)

    @property
    def unk_id(self):
        return self._py.vocab[vocab_lib.UNK_TOKEN]

    @property
    def cls_id(self):
        return self._py.vocab[vocab_lib.CLS_TOKEN]

    @property
    def sep_id(self):
        return self._py.vocab[vocab_lib.SEP_TOKEN]

    @property
    def mask_id(self):
        """Id of `[MASK]`; a vocabulary without it raises `VocabError` here."""
        if vocab_lib.MASK_TOKEN not in self._py.vocab:
            raise vocab_lib.VocabError(f"vocabulary file {self.vocab_file!r} has no {vocab_lib.MASK_TOKEN} token")
        return self._py.vocab[vocab_lib.MASK_TOKEN]

    def convert_tokens_to_ids(self, tokens):
        """Token strings -> ids. An unknown token raises `KeyError` naming it."""
        vocab = self._py.vocab
        out = []
        for token in tokens:
            if token not in vocab:
                raise KeyError(f"token {token!r} is not in the vocabulary {self.vocab_file!r}")
            out.append(vocab[token])
        return out

    def convert_ids_to_tokens(self, ids):
        """Ids -> token strings. An id outside [0, vocab_size) raises `IndexError`."""
        inverse = self._py.inverse
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(inverse):
                raise IndexError(f"token id {i} is outside the vocabulary (size {len(inverse)})")
            out.append(inverse[i])
        return out

    # === Python API (google-research/bert's algorithm, with offsets) ===

    def tokenize(self, text):
        """WordPiece tokens (list of str) of one `str`."""
        return self._py.reference.tokenize(text)

    def tokenize_with_offsets(self, text):
        """List of `(piece, start, end)`: character offsets into the original `text`."""
        return self._py.reference.tokenize_with_offsets(text)

    def tokenize_words(self, text):
        """Pieces grouped by basic-tokenizer word (list of lists of str), e.g. to label a word's first piece."""
        return self._py.reference.tokenize_words(text)

    def tokenize_words_with_offsets(self, text):
        """Like `tokenize_words`, each piece as `(piece, start, end)`."""
        return self._py.reference.tokenize_words_with_offsets(text)

    def encode(self, text, text_b=None, max_seq_length=128):
        """`[CLS] A [SEP] (B [SEP])`, truncated longest-first and padded to `max_seq_length`.

        Returns:
            dict of int32 numpy arrays [max_seq_length]: `token_ids`, `segment_ids`, `padding_mask`.
        """
        packer = packer_lib.BertPacker(max_seq_length, self.cls_id, self.sep_id, self.pad_id)
        ids_a = self.convert_tokens_to_ids(self.tokenize(text))
        ids_b = None if text_b is None else self.convert_tokens_to_ids(self.tokenize(text_b))
        return packer.pack_python(ids_a, ids_b)

    # === TF API ===

    def _build_wordpiece(self):
        raise NotImplementedError

    def _wordpiece_graph(self, words, word_len):
        """WordPiece for eligible words: returns (ids, char_lens), int32 ragged [S, (pieces)]."""
        raise NotImplementedError

    @tf.autograph.experimental.do_not_convert  # plain TF ops; skips slow AutoGraph conversion
    def _tokenize_graph(self, strings, with_word_ids=False):
        strings = tf.convert_to_tensor(strings, tf.string)
        scalar = strings.shape.rank == 0
        if scalar:
            strings = strings[None]
        if strings.shape.rank != 1:
            raise ValueError(f"strings must be a scalar or 1-D string tensor, got shape {strings.shape}")
        pre = self._pretokenizer.words(strings)
        words, word_len, word_special = pre["words"], pre["word_len"], pre["word_special"]
        num_words = tf.shape(words)[0]
        too_long = word_len > self.max_input_chars_per_word
        eligible = (word_special < 0) & ~too_long
        sel = tf.cast(tf.where(eligible)[:, 0], tf.int32)
        ids, lens = self._wordpiece_graph(tf.gather(words, sel), tf.gather(word_len, sel))
        # Whole-word pieces: kept special tokens, and over-long words ([UNK]).
        single = tf.cast(tf.where(~eligible)[:, 0], tf.int32)
        single_id = tf.where(tf.gather(word_special, single) >= 0, tf.gather(word_special, single), self.unk_id)
        word_of = tf.concat([tf.gather(sel, ids.value_rowids()), single], axis=0)
        piece_pos = tf.concat([tf.cast(tf.ragged.range(ids.row_lengths()).flat_values, tf.int32),
                               tf.zeros_like(single)], axis=0)
        all_ids = tf.concat([ids.flat_values, single_id], axis=0)
        all_lens = tf.concat([lens.flat_values, tf.gather(word_len, single)], axis=0)
        order = tf.argsort(tf.cast(word_of, tf.int64) * 1024 + tf.cast(piece_pos, tf.int64), stable=True)
        word_of = tf.gather(word_of, order)
        all_ids = tf.gather(all_ids, order)
        all_lens = tf.gather(all_lens, order)
        # Character offsets of each piece in the original string.
        piece_first = tf.cumsum(all_lens, exclusive=True)
        word_first_piece = tf.math.unsorted_segment_min(piece_first, word_of, num_words)
        start_in_word = piece_first - tf.gather(word_first_piece, word_of)
        first_char = tf.cast(tf.gather(pre["word_char_splits"], word_of), tf.int32) + start_in_word
        last_char = first_char + all_lens - 1
        starts = tf.gather(pre["char_start"], first_char)
        ends = tf.gather(pre["char_end"], last_char)

        def to_rows(values):
            per_word = tf.RaggedTensor.from_value_rowids(
                values, tf.cast(word_of, tf.int64), nrows=tf.cast(num_words, tf.int64), validate=False)
            per_row = tf.RaggedTensor.from_row_splits(per_word, pre["row_splits"], validate=False)
            rows = per_row.merge_dims(1, 2)
            return rows[0] if scalar else rows

        if not with_word_ids:
            return to_rows(all_ids), to_rows(starts), to_rows(ends)
        # Index of each piece's word within its own row (the batch's words are numbered across rows).
        word_row = tf.RaggedTensor.from_row_splits(tf.range(num_words), pre["row_splits"], validate=False)
        row_first_word = tf.cast(tf.gather(pre["row_splits"], word_row.value_rowids()), tf.int32)
        word_in_row = word_of - tf.gather(row_first_word, word_of)
        return to_rows(all_ids), to_rows(starts), to_rows(ends), to_rows(word_in_row)

    def tokenize_tf(self, strings):
        """Token ids of a batch of strings, in TF ops (graph mode, `tf.data`, SavedModels).

        Args:
            strings: string tensor [B] (or a scalar) of UTF-8 text; invalid bytes count as U+FFFD.

        Returns:
            int32 `tf.RaggedTensor` [B, (pieces)] (a 1-D tensor for a scalar input), without [CLS]/[SEP].
        """
        return self._tokenize_graph(strings)[0]

    def tokenize_tf_with_offsets(self, strings):
        """(ids, starts, ends): int32 ragged [B, (pieces)]; starts/ends are character (code point) offsets."""
        return self._tokenize_graph(strings)

    def tokenize_tf_with_word_ids(self, strings):
        """(ids, starts, ends, word_ids): int32 ragged [B, (pieces)]; `word_ids` numbers each piece's
        basic-tokenizer word within its row (0, 0, 1, 2, 2, ...), the grouping of `tokenize_words_with_offsets`
        (e.g. to read a token classifier's tag off each word's first piece)."""
        return self._tokenize_graph(strings, with_word_ids=True)

    def call(self, inputs):
        return self.tokenize_tf(inputs)

    @renamed_kwargs(seq_length="max_seq_length")
    def packer(self, max_seq_length):
        """A `BertPacker` with this vocabulary's [CLS]/[SEP]/[PAD] ids (old keyword `seq_length`: deprecated)."""
        return packer_lib.BertPacker(max_seq_length, self.cls_id, self.sep_id, self.pad_id)

    @renamed_kwargs(seq_length="max_seq_length")
    def encode_tf(self, strings, strings_b=None, max_seq_length=128):
        """Tokenize and pack a batch in TF ops: dict of int32 [B, max_seq_length] (`token_ids`, ...). The old
        keyword `seq_length` still works for one release, with a DeprecationWarning."""
        a = self.tokenize_tf(strings)
        b = None if strings_b is None else self.tokenize_tf(strings_b)
        return self.packer(max_seq_length)(a, b)

