"""BERT's basic tokenizer (clean, CJK split, lowercase + NFD accent strip, punctuation split) in core TF ops.

Used by both TF tokenizers (the tensorflow-text one and the core-op one): it turns a batch of UTF-8 strings
into words, exactly as `ReferenceTokenizer` does, using only core ops (`tf.strings.unicode_decode`,
`unicode_encode`, gathers on the `unicode_tables` constants, ragged/segment arithmetic, a stable argsort
for NFD's canonical ordering). All work is on flat per-character vectors; `row` is the batch row of each
character and `src` its character index in the original string.
"""

import numpy as np
import tensorflow as tf

from bert_tf.deprecation import renamed_kwargs
from bert_tf.tokenization import unicode_tables as ut


def _small_dtype(array):
    array = np.asarray(array)
    for dtype in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if array.min() >= info.min and array.max() <= info.max:
            return array.astype(dtype)
    return array


def _shift(x, fill):
    """x shifted right by one along axis 0, `fill` first (works for empty x)."""
    return tf.concat([tf.fill(tf.shape(x[:1]), tf.constant(fill, x.dtype)), x[:-1]], axis=0)


def _select(mask, *arrays):
    """`tf.boolean_mask` of several 1-D arrays by one mask (one `where`, then gathers: fewer ops to trace)."""
    index = tf.where(mask)[:, 0]
    return [tf.gather(x, index) for x in arrays]


class GraphPretokenizer(tf.Module):
    """Words of a batch of strings, in core TF ops (no tensorflow-text).

    Args:
        do_lower_case: bool. Lowercase (full Unicode, final sigma), NFD and drop combining marks.
        special_tokens: list of (str, int): special tokens kept whole (exact, case-sensitive match) and
            their ids; empty for google-research/bert's behaviour. Each must look like `[NAME]` with no
            bracket inside, so two matches can never overlap.

    Call `words(strings)` with a 1-D string tensor.
    """

    @renamed_kwargs(lowercase="do_lower_case")
    def __init__(self, do_lower_case=True, special_tokens=(), name=None):
        super().__init__(name=name)
        self.do_lower_case = bool(do_lower_case)
        for token, _ in special_tokens:
            if not (len(token) >= 3 and token[0] == "[" and token[-1] == "]"
                    and "[" not in token[1:-1] and "]" not in token[1:-1]):
                raise ValueError(f"special token {token!r} must look like [NAME] (no brackets inside) "
                                 "to be matched in the TF graph")
        self.special_tokens = [(t, int(i)) for t, i in special_tokens]
        tables = ut.get_tables()
        self.unidata_version = tables.unidata_version
        self._np = {
            "props_index": _small_dtype(tables.props.index), "props_blocks": _small_dtype(tables.props.blocks),
            "ccc_index": _small_dtype(tables.ccc.index), "ccc_blocks": _small_dtype(tables.ccc.blocks),
            "exp_index": _small_dtype(tables.expansion.index),
            "exp_blocks": tables.expansion.blocks.astype(np.int32),
            "exp_values": tables.expansion_values.astype(np.int32),
        }

    # --- table lookups (cps must be >= 0; placeholders are negative and handled by callers) ---

    def _lookup(self, name, cps):
        index = tf.constant(self._np[name + "_index"])
        blocks = tf.constant(self._np[name + "_blocks"])
        cps = tf.clip_by_value(cps, 0, ut.MAX_CODE_POINT)
        block = tf.cast(tf.gather(index, tf.bitwise.right_shift(cps, ut.BLOCK_BITS)), tf.int32)
        value = tf.gather(blocks, block * ut.BLOCK_SIZE + tf.bitwise.bitwise_and(cps, ut.BLOCK_SIZE - 1))
        return tf.cast(value, tf.int32)

    @staticmethod
    def _has(props, bit):
        return tf.not_equal(tf.bitwise.bitwise_and(props, bit), 0)

    # --- steps ---

    def _match_specials(self, cps, row_limit):
        """Per char: special-token number (1-based) starting here, and whether the char is inside a match."""
        n = tf.shape(cps)[0]
        positions = tf.range(n)
        max_len = max(len(t) for t, _ in self.special_tokens)
        padded = tf.concat([cps, tf.fill([max_len], -1)], axis=0)
        start_of = tf.zeros([n], tf.int32)
        delta = tf.zeros([n + max_len + 1], tf.int32)
        for k, (token, _) in enumerate(self.special_tokens):
            match = positions + len(token) <= row_limit
            for j, ch in enumerate(token):
                match &= tf.equal(padded[j:j + n], ord(ch))
            start_of = tf.where(match, k + 1, start_of)
            starts = tf.boolean_mask(positions, match)
            delta = tf.tensor_scatter_nd_add(delta, starts[:, None], tf.ones_like(starts))
            delta = tf.tensor_scatter_nd_add(delta, (starts + len(token))[:, None], -tf.ones_like(starts))
        covered = tf.cumsum(delta)[:n] > 0
        return start_of, covered

    def _final_sigma(self, cps, row, props):
        """True where a capital sigma lowercases to final sigma (CPython's Final_Sigma rule)."""
        non_ign = ~self._has(props, ut.IGNORABLE)
        cased = self._has(props, ut.CASED)
        nonign_pos = tf.cast(tf.where(non_ign)[:, 0], tf.int32)
        m = tf.shape(nonign_pos)[0]
        nonign_pos = tf.concat([nonign_pos, [0]], axis=0)  # a sentinel keeps the gathers below in range
        k = tf.cumsum(tf.cast(non_ign, tf.int32))  # 1-based rank among non-ignorables (for non-ignorables)
        prev_pos = tf.gather(nonign_pos, tf.maximum(k - 2, 0))
        has_prev = (k >= 2) & tf.equal(tf.gather(row, prev_pos), row)
        prev_cased = has_prev & tf.gather(cased, prev_pos)
        next_pos = tf.gather(nonign_pos, tf.minimum(k, m))
        has_next = (k < m) & tf.equal(tf.gather(row, next_pos), row)
        next_cased = has_next & tf.gather(cased, next_pos)
        return tf.equal(cps, ut.CAPITAL_SIGMA) & prev_cased & ~next_cased

    @tf.autograph.experimental.do_not_convert  # plain TF ops; skips slow AutoGraph conversion
    def words(self, strings):
        """Splits a batch of strings into words.

        Args:
            strings: string tensor [B].

        Returns:
            dict with
              `words`: string [W], every word of every row, in order (special-token words are " ");
              `word_len`: int32 [W], length in characters;
              `word_special`: int32 [W], the vocabulary id of a kept special token, else -1;
              `row_splits`: int64 [B + 1], words per row;
              `word_char_splits`: int64 [W + 1], each word's characters in the two vectors below;
              `char_start`, `char_end`: int32, the original character span of each word character.
        """
        strings = tf.convert_to_tensor(strings, tf.string)
        decoded = tf.strings.unicode_decode(strings, "UTF-8", errors="replace", replacement_char=0xFFFD)
        decoded = decoded.with_row_splits_dtype(tf.int32)
        nrows = tf.shape(strings, out_type=tf.int32)[0]
        chars = self._clean(decoded)
        if self.do_lower_case:
            chars = self._lowercase_nfd(*chars)
        return self._split(nrows, *chars)

    def _clean(self, decoded):
        """Per kept character: (cps, row, src, src_end, props, special, is_cjk); control characters dropped,
        special tokens kept whole (one character standing for the token, `special` its 1-based number)."""
        cps = decoded.flat_values
        row = decoded.value_rowids()
        row_starts = decoded.row_splits
        src = tf.range(tf.shape(cps)[0]) - tf.gather(row_starts, row)
        src_end = src + 1
        props = self._lookup("props", cps)
        keep = ~self._has(props, ut.DROP)
        special = tf.zeros_like(cps)
        if self.special_tokens:
            start_of, covered = self._match_specials(cps, tf.gather(row_starts, row + 1))
            lens = tf.constant([0] + [len(t) for t, _ in self.special_tokens], tf.int32)
            keep = (keep & ~covered) | (start_of > 0)
            special = start_of
            src_end = tf.where(start_of > 0, src + tf.gather(lens, start_of), src_end)
            props = tf.where(start_of > 0, 0, props)
        cps, row, src, src_end, props, special = _select(keep, cps, row, src, src_end, props, special)
        return cps, row, src, src_end, props, special, self._has(props, ut.CJK)

    def _lowercase_nfd(self, cps, row, src, src_end, props, special, is_cjk):
        """Lowercase + NFD + drop Mn, on the per-character vectors of `_clean` (same tuple out)."""
        final_sigma = self._final_sigma(cps, row, props)
        code = tf.where(special > 0, 0, self._lookup("exp", cps))
        expanded = code > 0
        length = tf.where(expanded, tf.bitwise.bitwise_and(code, (1 << ut.EXPANSION_LEN_BITS) - 1), 1)
        start = tf.bitwise.right_shift(code, ut.EXPANSION_LEN_BITS)
        parent = tf.repeat(tf.range(tf.shape(cps)[0]), length)
        first = tf.cumsum(length, exclusive=True)
        within = tf.range(tf.shape(parent)[0]) - tf.gather(first, parent)
        values = tf.gather(tf.constant(self._np["exp_values"]), tf.gather(start, parent) + within)
        new_cps = tf.where(tf.gather(expanded, parent), values, tf.gather(cps, parent))
        new_cps = tf.where(tf.gather(final_sigma, parent), ut.SMALL_FINAL_SIGMA, new_cps)
        cps = new_cps
        row, src, src_end, special, is_cjk = [
            tf.gather(x, parent) for x in (row, src, src_end, special, is_cjk)]
        # Canonical ordering: stable sort of each run of non-starters by combining class.
        ccc = tf.where(special > 0, 0, self._lookup("ccc", cps))
        row_change = tf.not_equal(row, _shift(row, -1))
        run = tf.cumsum(tf.cast(tf.equal(ccc, 0) | row_change, tf.int64))
        order = tf.argsort(run * 256 + tf.cast(ccc, tf.int64), stable=True)
        cps, row, src, src_end, special, is_cjk = [
            tf.gather(x, order) for x in (cps, row, src, src_end, special, is_cjk)]
        props = tf.where(special > 0, 0, self._lookup("props", cps))
        keep = ~self._has(props, ut.MN)
        # A dropped mark widens the span of the kept character before it in the same whitespace token
        # (not a space, CJK or special-token character), as in ReferenceTokenizer.
        num_kept = tf.reduce_sum(tf.cast(keep, tf.int32))
        group = tf.cumsum(tf.cast(keep, tf.int32)) - 1
        kept_pos = tf.concat([tf.cast(tf.where(keep)[:, 0], tf.int32), [0]], axis=0)  # + sentinel
        pred = tf.gather(kept_pos, tf.maximum(group, 0))
        widens = (~keep & (group >= 0) & tf.equal(tf.gather(row, pred), row)
                  & ~tf.gather(self._has(props, ut.SPACE) | is_cjk | (special > 0), pred))
        widened_end = tf.math.unsorted_segment_max(
            src_end, tf.where(widens, group, num_kept), num_kept + 1)[:num_kept]
        cps, row, src, src_end, special, is_cjk, props = _select(
            keep, cps, row, src, src_end, special, is_cjk, props)
        src_end = tf.maximum(src_end, widened_end)
        return cps, row, src, src_end, props, special, is_cjk

    def _split(self, nrows, cps, row, src, src_end, props, special, is_cjk):
        """The words (the dict `words` returns): whitespace separates; punctuation, CJK characters and special
        tokens stand alone."""
        space = self._has(props, ut.SPACE)
        single = self._has(props, ut.PUNCT) | (special > 0)
        row_start = tf.not_equal(row, _shift(row, -1))
        other_source = tf.not_equal(src, _shift(src, -1))
        word_start = ~space & (row_start | _shift(space, True) | single | _shift(single, False)
                               | (is_cjk & other_source) | (_shift(is_cjk, False) & other_source))
        keep = ~space
        cps, row, src, src_end, special, word_start = _select(keep, cps, row, src, src_end, special, word_start)
        word_id = tf.cumsum(tf.cast(word_start, tf.int32)) - 1
        num_words = tf.reduce_sum(tf.cast(word_start, tf.int32))
        word_chars = tf.RaggedTensor.from_value_rowids(
            tf.where(special > 0, 32, cps), word_id, nrows=num_words, validate=False)
        words = tf.strings.unicode_encode(word_chars, "UTF-8")
        word_first = tf.cast(tf.where(word_start)[:, 0], tf.int32)
        word_row = tf.gather(row, word_first)
        special_ids = tf.constant([-1] + [i for _, i in self.special_tokens], tf.int32)
        word_special = tf.gather(special_ids, tf.gather(special, word_first))
        row_lengths = tf.math.bincount(word_row, minlength=nrows, maxlength=nrows, dtype=tf.int64)
        return {
            "words": words,
            "word_len": tf.cast(word_chars.row_lengths(), tf.int32),
            "word_special": word_special,
            "row_splits": tf.concat([tf.zeros([1], tf.int64), tf.cumsum(row_lengths)], axis=0),
            "word_char_splits": tf.cast(word_chars.row_splits, tf.int64),
            "char_start": src,
            "char_end": src_end,
        }
