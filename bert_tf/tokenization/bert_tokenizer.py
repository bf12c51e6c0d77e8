"""`BertTokenizer`: the project's BERT tokenizer (Python API + a tensorflow-text TF graph)."""

import tensorflow as tf

from bert_tf.tokenization import vocab as vocab_lib
from bert_tf.tokenization.tokenizer_base import TokenizerBase


class BertTokenizer(TokenizerBase):
    """BERT's full tokenizer: google-research/bert's BasicTokenizer + WordPiece, in Python and in TF.

    Behaviour (identical in every API and in `CoreOpsBertTokenizer`): drop control characters, U+0000 and
    U+FFFD; split on whitespace; split CJK ideographs; when `do_lower_case`, Python's `str.lower`, NFD and drop
    combining marks (Hangul syllables become jamo); split off punctuation; WordPiece greedy
    longest-match-first, `[UNK]` for a word with no full match or longer than `max_input_chars_per_word`.

    The Python API runs google-research/bert's algorithm in pure Python (`ReferenceTokenizer`) and gives
    character offsets into the original text. The TF API (`tokenize_tf`, `tokenize_tf_with_offsets`,
    `encode_tf`, or calling the layer on a string tensor) works in graph mode, `tf.data` and SavedModels:
    normalization and word splitting use core-op tables from Python's `unicodedata` (tensorflow-text's own
    normalizers follow other Unicode versions and differ on a few dozen code points, and its
    `BertTokenizer` case-folds with NFKC, which changes ligatures and full-width letters), and the WordPiece
    step is tensorflow-text's `FastWordpieceTokenizer`. For exports without tensorflow-text ops use
    `CoreOpsBertTokenizer`, which gives the same ids.

    Args:
        vocab_file: str. WordPiece vocabulary, one token per line (the line number is the id).
        do_lower_case: bool. Uncased model: lowercase, NFD, strip accents. Defaults to True.
        split_special_tokens: bool. If True (google-research/bert), text that spells `[MASK]`, `[CLS]`, ...
            is ordinary text (`[`, `mask`, `]`), so raw user text cannot inject control tokens. If False
            (Hugging Face's default), such text (exact, case-sensitive) stays that special token.
            Defaults to True.
        max_input_chars_per_word: int. Longer words (in characters) become `[UNK]`. Defaults to 200,
            google-research/bert's value; Hugging Face's `BertTokenizer` uses 100 (pass 100 for its ids on
            words of 101-200 characters).
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).

    Example:
    >>> tok = BertTokenizer(vocab_file)
    >>> tok.tokenize("Héllo, naïve café")
    ['hello', ',', 'naive', 'cafe']
    >>> tok.tokenize_with_offsets("Héllo!")
    [('hello', 0, 5), ('!', 5, 6)]
    >>> tok.encode("a b", "c", max_seq_length=8)["segment_ids"]
    array([0, 0, 0, 0, 1, 1, 0, 0], dtype=int32)
    >>> tok.tokenize_tf(tf.constant(["Héllo, world!"]))
    <tf.RaggedTensor [[7592, 1010, 2088, 999]]>
    """

    def _build_wordpiece(self):
        import tensorflow_text as tf_text  # imported here: CoreOpsBertTokenizer users never load it

        tokens = list(self._py.vocab.keys())
        self._fast_wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=tokens, suffix_indicator="##",
            # Google's limit counts characters; ours is applied before this op, so its byte limit never bites.
            max_bytes_per_word=4 * self.max_input_chars_per_word + 4,
            token_out_type=tf.int64, unknown_token=vocab_lib.UNK_TOKEN, no_pretokenization=True,
            support_detokenization=False)

    @tf.autograph.experimental.do_not_convert  # plain TF ops; skips slow AutoGraph conversion
    def _wordpiece_graph(self, words, word_len):
        ids, starts, ends = self._fast_wordpiece.tokenize_with_offsets(words)
        word_of = ids.value_rowids()
        piece = tf.strings.substr(tf.gather(words, word_of), tf.cast(starts.flat_values, tf.int32),
                                  tf.cast(ends.flat_values - starts.flat_values, tf.int32), unit="BYTE")
        lens = ids.with_flat_values(tf.strings.length(piece, unit="UTF8_CHAR"))
        return tf.cast(ids, tf.int32), lens
