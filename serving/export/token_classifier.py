"""Token classifier export (NER; `BertTokenClassifier`, trained with each word's tag on its first word-piece).

`serving_default`: `text` -> per word `words`, `word_labels`, `word_label_ids`, `word_scores`, `word_starts`,
`word_ends` [B, W] and `num_words` [B]. The text is tokenized once; each basic-tokenizer word (the words of
`tokenizer.tokenize_words_with_offsets`) gets the tag predicted at its first piece. Outputs are dense and padded
to the batch's largest word count W: `words` (the word's original text, `text[word_starts:word_ends]` in
characters), `word_labels` (`""` on padding), `word_label_ids` (-1 on padding), `word_scores` (the tag's
probability, 0 on padding), `word_starts` / `word_ends` (character offsets into the original text, end
exclusive; -1 on padding), `num_words`. Only the first `max_seq_length - 2` pieces fit the model: words whose
first piece falls beyond that are dropped (`num_words` counts the words kept). `serve_token_ids` returns
per-piece `probabilities` [B, T, L], `label_ids` and `labels` [B, T].
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf import features
from bert_tf.features import NUM_WORDS, WORD_ENDS, WORD_LABEL_IDS, WORD_LABELS, WORD_SCORES, WORD_STARTS, WORDS
from serving.export.module import ExportModule, TextPacker, clean_utf8, logits


class TokenClassifierExport(ExportModule):
    TASK_TYPE = "token_classifier"
    MODEL_CLASS = "BertTokenClassifier"
    NEEDS_LABELS = True
    TAKES_PAIR = False

    def outputs_from_ids(self, inputs):
        return self.label_outputs(logits(self.model(inputs, training=False)))  # [B, T, L], [B, T], [B, T]

    def text_specs(self, pair: bool) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name=features.TEXT)]

    def serve_text(self, text):
        """text [B] -> per-word outputs (see the module docstring)."""
        tokenizer = self.text_packer.tokenizer
        ids, starts, ends, word_ids = tokenizer.tokenize_tf_with_word_ids(text)
        per_piece = self.outputs_from_ids(TextPacker.trim(self.text_packer.packer(ids)))
        probabilities = per_piece[features.PROBABILITIES]  # [B, T, L]
        label_ids = per_piece[features.LABEL_IDS]  # [B, T]

        # Flat over every piece of the batch: its row, its position in the row, its word.
        row = tf.cast(ids.value_rowids(), tf.int32)
        position = tf.cast(tf.ragged.range(ids.row_lengths()).flat_values, tf.int32)
        word = word_ids.flat_values
        first = tf.equal(position, 0) | tf.not_equal(word, _shift_right(word))
        word_number = tf.cumsum(tf.cast(first, tf.int32)) - 1  # batch-wide word index of each piece
        num_batch_words = tf.reduce_sum(tf.cast(first, tf.int32))
        word_end = tf.math.unsorted_segment_max(ends.flat_values, word_number, num_batch_words)
        kept = first & (position < self.text_packer.packer.max_seq_length - 2)
        index = tf.where(kept)[:, 0]
        k_row = tf.gather(row, index)
        k_position = tf.gather(position, index) + 1  # after [CLS]
        k_start = tf.gather(starts.flat_values, index)
        k_end = tf.gather(word_end, tf.gather(word_number, index))
        at = tf.stack([k_row, k_position], axis=1)
        k_label = tf.gather_nd(label_ids, at)
        k_score = tf.gather_nd(tf.reduce_max(probabilities, axis=-1), at)
        k_word = tf.strings.substr(tf.gather(clean_utf8(text), k_row), k_start, k_end - k_start, unit="UTF8_CHAR")
        nrows = tf.shape(text, out_type=tf.int64)[0]

        def dense(values, fill):
            ragged = tf.RaggedTensor.from_value_rowids(values, tf.cast(k_row, tf.int64), nrows=nrows,
                                                       validate=False)
            return ragged.to_tensor(default_value=fill)

        num_words = tf.math.bincount(k_row, minlength=tf.cast(nrows, tf.int32),
                                     maxlength=tf.cast(nrows, tf.int32), dtype=tf.int32)
        return {
            WORDS: dense(k_word, ""),
            WORD_LABELS: dense(self.label_ids_to_names.lookup(k_label), ""),
            WORD_LABEL_IDS: dense(k_label, tf.constant(-1, tf.int64)),
            WORD_SCORES: dense(k_score, 0.0),
            WORD_STARTS: dense(k_start, -1),
            WORD_ENDS: dense(k_end, -1),
            NUM_WORDS: num_words,
        }


def _shift_right(x):
    """x shifted right by one along axis 0, -1 first (works for empty x)."""
    return tf.concat([tf.fill(tf.shape(x[:1]), tf.constant(-1, x.dtype)), x[:-1]], axis=0)
