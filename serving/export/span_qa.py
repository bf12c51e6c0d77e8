"""Span QA export (`BertSpanQA`): `question`, `context` -> `answer`, `score`, `answer_start`, `answer_end`,
`null_score` [B].

`[CLS] question [SEP] context [SEP]` with the question cut to `max_query_length` pieces and the context split
into google-research/bert `run_squad.py` windows of `max_seq_length - len(question) - 3` pieces every
`doc_stride` pieces, all in the graph. The answer is the span with the highest `start_logit + end_logit` over
all windows, with start <= end, at most `max_answer_length` pieces, both inside the context, and the start piece
in the window where it has the most context (run_squad's rule; the whole search is exhaustive rather than over
the 20 best starts and ends). It comes back as the original text `context[answer_start:answer_end]` (character
offsets, end exclusive), so accents, casing and Korean text inside words come back as written. `score` is the
span's logit sum; `null_score` is the smallest `[CLS]` start + end logit sum over the windows (SQuAD 2.0 models:
predict no answer when `null_score - score` exceeds your threshold). An empty context has no span: `answer` is
`""`, the offsets are -1 and `score` is the lowest float32. `serve_token_ids` returns `start_logits`,
`end_logits` [B, T] and the best span `start_position`, `end_position`, `score` [B] over segment-1 tokens (the
last `[SEP]` excluded).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from bert_tf import features
from bert_tf.features import (ANSWER, ANSWER_END, ANSWER_START, END_LOGITS, END_POSITION, NULL_SCORE, SCORE,
                              START_LOGITS, START_POSITION)
from serving.export.module import ExportError, ExportModule, ExportOptions, clean_utf8


class _Windows(NamedTuple):
    """run_squad's windows over a batch's contexts, W in all (flat over the batch)."""
    batch: tf.Tensor  # B
    row: tf.Tensor  # [W] the batch row of each window
    start: tf.Tensor  # [W] its first context piece, in its row's context
    length: tf.Tensor  # [W] its context pieces
    offset: tf.Tensor  # [W] the position of its first context piece in the packed window
    doc_index: tf.RaggedTensor  # [W, (pieces)] each window piece's index in its row's context
    context_first: tf.Tensor  # [B] each row's first piece in the flat context vectors
    context_ids: tf.RaggedTensor  # [B, (pieces)] the context pieces, then their character offsets
    context_starts: tf.RaggedTensor
    context_ends: tf.RaggedTensor


class SpanQAExport(ExportModule):
    TASK_TYPE = "span_qa"
    MODEL_CLASS = "BertSpanQA"
    TAKES_PAIR = False

    @classmethod
    def check_options(cls, max_seq_length: int, options: ExportOptions) -> None:
        if options.max_query_length < 1 or options.doc_stride < 1 or options.max_answer_length < 1:
            raise ExportError("max_query_length, doc_stride and max_answer_length must be positive, got "
                              f"{options.max_query_length}, {options.doc_stride}, {options.max_answer_length}")
        if max_seq_length - options.max_query_length - 3 < 1:
            raise ExportError(f"max_seq_length {max_seq_length} leaves no room for the context after a "
                              f"{options.max_query_length}-piece question and 3 special tokens; lower "
                              "max_query_length")

    @classmethod
    def warmup_inputs(cls, texts: list[bytes], pair: bool) -> dict[str, list[bytes]]:
        return {features.QUESTION: texts, features.CONTEXT: texts}  # each text is both

    def text_specs(self, pair: bool) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name=features.QUESTION),
                tf.TensorSpec([None], tf.string, name=features.CONTEXT)]

    def outputs_from_ids(self, inputs):
        outputs = self.model(inputs, training=False)
        start_logits = tf.cast(outputs[START_LOGITS], tf.float32)
        end_logits = tf.cast(outputs[END_LOGITS], tf.float32)
        mask = tf.cast(inputs[features.PADDING_MASK], tf.int32)
        length = tf.reduce_sum(mask, axis=1, keepdims=True)
        positions = tf.range(tf.shape(mask)[1])[None, :]
        # Context tokens: segment 1, real, not the final [SEP].
        context = (tf.equal(tf.cast(inputs[features.SEGMENT_IDS], tf.int32), 1) & tf.equal(mask, 1)
                   & (positions < length - 1))
        score, start, end = best_spans(start_logits, end_logits, context, context, self.options.max_answer_length)
        return {START_LOGITS: start_logits, END_LOGITS: end_logits, START_POSITION: start,
                END_POSITION: end, SCORE: score}

    def serve_text(self, question, context):
        """question, context [B] -> answer, score, answer_start, answer_end, null_score [B]."""
        same_batch = tf.debugging.assert_equal(
            tf.shape(question)[0], tf.shape(context)[0],
            message="question and context must have the same batch size")
        with tf.control_dependencies([same_batch]):
            question, context = tf.identity(question), tf.identity(context)
        windows, packed = self._pack_windows(question, context)
        outputs = self.model(packed, training=False)
        start_logits = tf.cast(outputs[START_LOGITS], tf.float32)  # [W, T]
        end_logits = tf.cast(outputs[END_LOGITS], tf.float32)
        can_start, is_context = _context_masks(windows, tf.shape(start_logits))
        spans = best_spans(start_logits, end_logits, can_start, is_context, self.options.max_answer_length)
        null = tf.reduce_sum(start_logits[:, :1] + end_logits[:, :1], axis=1)  # [CLS]; [:, :1] is safe for 0 windows
        return _answers(windows, context, spans, null)

    def _pack_windows(self, question, context):
        """The windows (google-research/bert's loop in closed form: `room` pieces each, every `step` pieces,
        until one reaches the end; an empty context still gets one, empty, window) and `[CLS] question [SEP]
        window [SEP]` packed for each, [W, longest window]."""
        tokenizer = self.text_packer.tokenizer
        batch = tf.shape(context)[0]
        q_ids = tokenizer.tokenize_tf(question)[:, :self.options.max_query_length]
        c_ids, c_starts, c_ends = tokenizer.tokenize_tf_with_offsets(context)
        len_q = tf.cast(q_ids.row_lengths(), tf.int32)
        len_c = tf.cast(c_ids.row_lengths(), tf.int32)
        c_first = tf.cast(c_ids.row_splits[:-1], tf.int32)  # each row's first piece in the flat vectors

        room = self.text_packer.packer.max_seq_length - len_q - 3
        step = tf.minimum(room, self.options.doc_stride)
        num_windows = tf.where(len_c > room, (len_c - room + step - 1) // step + 1, 1)
        w_row = tf.repeat(tf.range(batch), num_windows)
        w_start = tf.cast(tf.ragged.range(num_windows).flat_values, tf.int32) * tf.gather(step, w_row)
        w_len = tf.minimum(tf.gather(len_c, w_row) - w_start, tf.gather(room, w_row))
        w_offset = tf.gather(len_q, w_row) + 2  # position of the window's first context piece
        num_w = tf.shape(w_row)[0]

        doc_index = tf.ragged.range(w_start, w_start + w_len)  # [W, (pieces)] piece index in its row
        window_ids = tf.gather(c_ids.flat_values, doc_index + tf.gather(c_first, w_row)[:, None])
        q_rows = tf.gather(q_ids, w_row)
        cls = tf.RaggedTensor.from_tensor(tf.fill([num_w, 1], tokenizer.cls_id))
        sep = tf.RaggedTensor.from_tensor(tf.fill([num_w, 1], tokenizer.sep_id))
        first = tf.concat([cls, q_rows, sep], axis=1)
        second = tf.concat([window_ids, sep], axis=1)
        token_ids = tf.concat([first, second], axis=1)
        segment_ids = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
        packed = {
            features.TOKEN_IDS: token_ids.to_tensor(default_value=tokenizer.pad_id),
            features.SEGMENT_IDS: segment_ids.to_tensor(default_value=0),
            features.PADDING_MASK: tf.ones_like(token_ids).to_tensor(default_value=0),
        }
        windows = _Windows(batch, w_row, w_start, w_len, w_offset, doc_index, c_first, c_ids, c_starts, c_ends)
        return windows, packed


def _context_masks(windows: _Windows, shape):
    """(can_start, is_context) [W, T]: the context positions of each window, and those where a piece may start an
    answer: run_squad's max-context rule, only in the window where min(left, right) + 0.01 * window length is
    highest (the first such window on ties)."""
    num_w = tf.shape(windows.row)[0]
    w_of_piece = tf.cast(windows.doc_index.value_rowids(), tf.int32)
    j = windows.doc_index.flat_values - tf.gather(windows.start, w_of_piece)  # position inside the window's context
    lens = tf.gather(windows.length, w_of_piece)
    ctx_score = (tf.cast(tf.minimum(j, lens - 1 - j), tf.float64)
                 + 0.01 * tf.cast(lens, tf.float64))
    piece = windows.doc_index.flat_values + tf.gather(windows.context_first,
                                                      tf.gather(windows.row, w_of_piece))  # flat piece id
    num_pieces = tf.shape(windows.context_ids.flat_values)[0]
    best_ctx = tf.math.unsorted_segment_max(ctx_score, piece, num_pieces)
    candidate = tf.where(tf.equal(ctx_score, tf.gather(best_ctx, piece)), w_of_piece, num_w)
    best_window = tf.math.unsorted_segment_min(candidate, piece, num_pieces)
    max_context = tf.equal(tf.gather(best_window, piece), w_of_piece)
    at = tf.stack([w_of_piece, j + tf.gather(windows.offset, w_of_piece)], axis=1)
    is_context = tf.scatter_nd(at, tf.ones_like(j), shape) > 0
    can_start = tf.scatter_nd(at, tf.cast(max_context, tf.int32), shape) > 0
    return can_start, is_context


def _answers(windows: _Windows, context, spans, null):
    """The best window of each row (the first on ties), then its span in characters of the context."""
    w_score, w_s, w_e = spans
    batch, w_row = windows.batch, windows.row
    num_w = tf.shape(w_row)[0]
    row_score = tf.math.unsorted_segment_max(w_score, w_row, batch)
    pick = tf.where(tf.equal(w_score, tf.gather(row_score, w_row)), tf.range(num_w), num_w)
    winner = tf.math.unsorted_segment_min(pick, w_row, batch)
    found = row_score > tf.float32.min
    winner = tf.where(found, winner, 0)  # rows without a span read window 0 and are masked below
    first_piece = tf.gather(windows.context_first, tf.range(batch)) + tf.gather(windows.start, winner)
    s_piece = first_piece + (tf.gather(w_s, winner) - tf.gather(windows.offset, winner))
    e_piece = first_piece + (tf.gather(w_e, winner) - tf.gather(windows.offset, winner))
    num_pieces = tf.shape(windows.context_ids.flat_values)[0]
    sentinel = tf.zeros([1], tf.int32)  # keeps the gathers in range for an all-empty batch
    starts_flat = tf.concat([windows.context_starts.flat_values, sentinel], axis=0)
    ends_flat = tf.concat([windows.context_ends.flat_values, sentinel], axis=0)
    s_piece = tf.where(found, s_piece, num_pieces)
    e_piece = tf.where(found, e_piece, num_pieces)
    answer_start = tf.where(found, tf.gather(starts_flat, s_piece), -1)
    answer_end = tf.where(found, tf.gather(ends_flat, e_piece), -1)
    text = tf.strings.substr(clean_utf8(context), tf.maximum(answer_start, 0),
                             tf.maximum(answer_end - answer_start, 0), unit="UTF8_CHAR")
    return {
        ANSWER: tf.where(found, text, ""),
        SCORE: row_score,
        ANSWER_START: answer_start,
        ANSWER_END: answer_end,
        NULL_SCORE: tf.math.unsorted_segment_min(null, w_row, batch),
    }


def best_spans(start_logits, end_logits, can_start, can_end, max_answer_length):
    """Per row, the (start, end) with the highest start + end logit, start <= end < start + max_answer_length.

    Args:
        start_logits, end_logits: float32 [N, T].
        can_start, can_end: bool [N, T], the positions a span may start / end at.
        max_answer_length: int. Longest span, in tokens.

    Returns:
        (score, start, end) [N]: the lowest float32 and 0, 0 for rows without any allowed span.
    """
    length = tf.shape(start_logits)[1]
    # Only the band end - start < max_answer_length: [N, T, K] instead of all [N, T, T] pairs.
    end_index = tf.range(length)[:, None] + tf.range(max_answer_length)[None, :]  # [T, K]
    in_range = end_index < length
    end_index = tf.minimum(end_index, length - 1)
    allowed = can_start[:, :, None] & tf.gather(can_end, end_index, axis=1) & in_range[None]
    scores = start_logits[:, :, None] + tf.gather(end_logits, end_index, axis=1)  # [N, T(start), K]
    scores = tf.where(allowed, scores, -float("inf"))
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    best = tf.argmax(flat, axis=1, output_type=tf.int32)
    score = tf.reduce_max(flat, axis=1)
    found = tf.math.is_finite(score)
    start = tf.where(found, best // max_answer_length, 0)
    end = tf.where(found, start + best % max_answer_length, 0)
    # A finite marker (not -inf): unsorted_segment_max starts from the lowest float32, so -inf never survives it.
    return tf.where(found, score, tf.float32.min), start, end
