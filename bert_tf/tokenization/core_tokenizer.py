"""`CoreOpsBertTokenizer`: the BERT tokenizer in core TensorFlow ops only, for portable SavedModels."""

import tensorflow as tf

from bert_tf.tokenization.tokenizer_base import TokenizerBase, vocab_lookup_table


class CoreOpsBertTokenizer(TokenizerBase):
    """BERT's full tokenizer (basic + WordPiece) in core TF ops only: no tensorflow-text op anywhere.

    A SavedModel that calls it loads in any TF 2.x program and any TF Serving build without
    `import tensorflow_text`. It gives exactly the ids of `BertTokenizer` (and of google-research/bert):
    normalization is table-driven (`unicode_tables`), WordPiece is a `tf.while_loop` that, for every word
    still open, looks up all candidate pieces at the current position (byte `tf.strings.substr` + a
    `tf.lookup.StaticHashTable` initialized from the vocabulary file, which SavedModels copy into `assets/`;
    candidates are bounded by the longest vocabulary piece starting with that character) and keeps the
    longest match.

    Args:
        vocab_file: str. WordPiece vocabulary, one token per line.
        do_lower_case: bool. Uncased model: lowercase, NFD, strip accents. Defaults to True.
        split_special_tokens: bool. If True, text spelling `[MASK]` etc. is ordinary text (google-research/bert;
            raw user text cannot inject control tokens). If False, it stays that special token (Hugging Face).
            Defaults to True.
        max_input_chars_per_word: int. Longer words (in characters) become `[UNK]`. Defaults to 200,
            google-research/bert's value; Hugging Face's `BertTokenizer` uses 100 (pass 100 for its ids on
            words of 101-200 characters).
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).

    The Python API (`tokenize`, `tokenize_with_offsets`, `tokenize_words`, `encode`, ...) and the TF API
    (`tokenize_tf`, `tokenize_tf_with_offsets`, `encode_tf`, calling the layer) are those of `BertTokenizer`.

    Example:
    >>> tok = CoreOpsBertTokenizer(vocab_file)
    >>> tok.tokenize_tf(tf.constant(["Héllo, world!"]))
    <tf.RaggedTensor [[7592, 1010, 2088, 999]]>
    """

    def _build_wordpiece(self):
        self._table = vocab_lookup_table(self.vocab_file, self._py.vocab)
        # The longest vocabulary piece that starts with a given character (as a word start, or after "##"):
        # bounds the candidates tried at each position (1-2 for Hangul jamo instead of the 18 of English).
        longest = {}
        for token in self._py.vocab:
            suffix = token.startswith("##") and len(token) > 2
            body = token[2:] if suffix else token
            key = ord(body[0]) * 2 + int(suffix)
            longest[key] = max(longest.get(key, 0), len(body))
        keys = sorted(longest)
        self._longest_piece = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64),
                                                tf.constant([longest[k] for k in keys], tf.int64)),
            default_value=0)

    @tf.autograph.experimental.do_not_convert  # plain TF ops; skips slow AutoGraph conversion
    def _wordpiece_graph(self, words, word_len):
        num = tf.shape(words)[0]
        max_chars = self.max_input_chars_per_word
        char_splits, cps, byte_starts, byte_ends, word_bytes = _char_byte_spans(words, word_len)

        def new_array():
            # Element 0 is empty, so `concat()` works even when the loop never runs (e.g. eagerly, no words).
            array = tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False, element_shape=[None])
            return array.write(0, tf.zeros([0], tf.int32))

        def body(step, idx, pos, out_word, out_pos, out_len, out_id, failed):
            count = tf.shape(idx)[0]
            first_char = tf.gather(char_splits, idx) + pos
            remaining = tf.gather(word_len, idx) - pos
            suffix = pos > 0
            longest = tf.cast(self._longest_piece.lookup(tf.gather(cps, first_char) * 2
                                                         + tf.cast(suffix, tf.int64)), tf.int32)
            # Fast path: the whole rest of the word is one piece (most words of a good vocabulary).
            word = tf.gather(words, idx)
            rest_start = tf.gather(byte_starts, first_char)
            rest_key = tf.strings.join([tf.where(suffix, "##", ""), tf.strings.substr(
                word, rest_start, tf.gather(word_bytes, idx) - rest_start)])
            rest_id = tf.cast(self._table.lookup(rest_key), tf.int32)
            rest_hit = rest_id >= 0
            # Otherwise every shorter candidate that could be in the vocabulary.
            bound = tf.where(rest_hit, 0, tf.minimum(longest, remaining - 1))
            cand = tf.ragged.range(bound)  # candidate lengths - 1, per open word
            owner = tf.cast(cand.value_rowids(), tf.int32)
            length = tf.cast(cand.flat_values, tf.int32) + 1
            start_char = tf.gather(first_char, owner)
            start_byte = tf.gather(byte_starts, start_char)
            end_byte = tf.gather(byte_ends, start_char + length - 1)
            sub = tf.strings.substr(tf.gather(word, owner), start_byte, end_byte - start_byte)
            key = tf.strings.join([tf.where(tf.gather(suffix, owner), "##", ""), sub])
            ids = tf.cast(self._table.lookup(key), tf.int32)
            valid = ids >= 0
            best_len = tf.maximum(tf.math.unsorted_segment_max(tf.where(valid, length, 0), owner, count), 0)
            chosen = valid & tf.equal(length, tf.gather(best_len, owner))
            best_id = tf.math.unsorted_segment_max(tf.where(chosen, ids, -1), owner, count)
            best_len = tf.where(rest_hit, remaining, best_len)
            best_id = tf.where(rest_hit, rest_id, best_id)
            found = best_len > 0
            out_word = out_word.write(step, tf.boolean_mask(idx, found))
            out_pos = out_pos.write(step, tf.boolean_mask(pos, found))
            out_len = out_len.write(step, tf.boolean_mask(best_len, found))
            out_id = out_id.write(step, tf.boolean_mask(best_id, found))
            failed = failed.write(step, tf.boolean_mask(idx, ~found))
            new_pos = pos + best_len
            more = found & (new_pos < tf.gather(word_len, idx))
            return (step + 1, tf.boolean_mask(idx, more), tf.boolean_mask(new_pos, more),
                    out_word, out_pos, out_len, out_id, failed)

        start_idx = tf.boolean_mask(tf.range(num), word_len > 0)
        loop_vars = (tf.constant(1), start_idx, tf.zeros_like(start_idx),
                     new_array(), new_array(), new_array(), new_array(), new_array())
        _, _, _, out_word, out_pos, out_len, out_id, failed = tf.while_loop(
            lambda step, idx, *_: tf.size(idx) > 0, body, loop_vars,
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None]))
            + (tf.TensorShape(None),) * 5,
            maximum_iterations=max_chars + 2)
        return _pieces_per_word(num, word_len, self.unk_id, out_word.concat(), out_pos.concat(),
                                out_len.concat(), out_id.concat(), failed.concat())


def _char_byte_spans(words, word_len):
    """Characters of every word: row splits, code points and byte spans (so candidates are cheap byte
    substrings), and each word's length in bytes."""
    chars, byte_starts = tf.strings.unicode_decode_with_offsets(words, "UTF-8")
    char_splits = tf.cast(chars.row_splits, tf.int32)
    cps = tf.cast(chars.flat_values, tf.int64)
    byte_starts = tf.cast(byte_starts.flat_values, tf.int32)
    word_bytes = tf.strings.length(words)
    next_start = tf.concat([byte_starts[1:], [0]], axis=0)
    is_last = tf.scatter_nd(tf.maximum(char_splits[1:] - 1, 0)[:, None],
                            tf.cast(word_len > 0, tf.int32), tf.shape(byte_starts)) > 0
    byte_ends = tf.where(is_last, tf.gather(word_bytes, tf.cast(chars.value_rowids(), tf.int32)),
                         next_start)
    return char_splits, cps, byte_starts, byte_ends, word_bytes


def _pieces_per_word(num, word_len, unk, word_of, piece_pos, piece_len, piece_id, failed):
    """(ids, lens) ragged [num, (pieces)] from the loop's flat pieces; a word that failed is one `unk`."""
    is_failed = tf.scatter_nd(failed[:, None], tf.ones_like(failed), [num]) > 0
    keep = ~tf.gather(is_failed, word_of)
    word_of = tf.concat([tf.boolean_mask(word_of, keep), failed], axis=0)
    piece_pos = tf.concat([tf.boolean_mask(piece_pos, keep), tf.zeros_like(failed)], axis=0)
    piece_len = tf.concat([tf.boolean_mask(piece_len, keep), tf.gather(word_len, failed)], axis=0)
    piece_id = tf.concat([tf.boolean_mask(piece_id, keep), tf.fill(tf.shape(failed), unk)], axis=0)
    order = tf.argsort(tf.cast(word_of, tf.int64) * 1024 + tf.cast(piece_pos, tf.int64), stable=True)
    word_of = tf.gather(word_of, order)
    ids = tf.RaggedTensor.from_value_rowids(tf.gather(piece_id, order), word_of, nrows=num, validate=False)
    lens = tf.RaggedTensor.from_value_rowids(tf.gather(piece_len, order), word_of, nrows=num, validate=False)
    return ids, lens
