"""Exports bert_tf models as raw-text SavedModels in TensorFlow Serving's layout (`BASE/NAME/<version>/`).

Every export carries its tokenizer (vocabulary as an asset) and its label names (an asset too), truncates to
`max_seq_length` in the graph, and by default tokenizes with core TensorFlow ops only, so it loads in any TF 2.x
program and any TF Serving build without `import tensorflow_text`.

Signatures (tensor names from `bert_tf.features`):

| task | `serving_default` (raw text) | also |
|---|---|---|
| classifier | `text` [, `text_b`] → `probabilities` [B, C], `label_ids` [B], `labels` [B] | `serve_token_ids`, `classify` |
| regressor | `text` [, `text_b`] → `score` [B] | `serve_token_ids`, `regress` |
| encoder | `text` [, `text_b`] → `embedding` [B, H], `pooled_output` [B, H] | `serve_token_ids` |
| token_classifier | `text` → `words`, `word_labels`, ... [B, W], `num_words` [B] (below) | `serve_token_ids` |
| span_qa | `question`, `context` → `answer`, `score`, `answer_start`/`_end`, `null_score` [B] | `serve_token_ids` |

`serve_token_ids` takes `token_ids`, `segment_ids`, `padding_mask` ([B, T] int32) for clients that tokenize
themselves. `classify`/`regress` take serialized `tf.Example`s (feature `text`, and `text_b` for pairs) under the
key `inputs`, with TF Serving's method names, so its Classify and Regress APIs work.

Token classifier (NER; `BertTokenClassifier`, trained with each word's tag on its first word-piece): the text is
tokenized once; each basic-tokenizer word (the words of `tokenizer.tokenize_words_with_offsets`) gets the tag
predicted at its first piece. Outputs are dense and padded to the batch's largest word count W: `words`
(the word's original text, `text[word_starts:word_ends]` in characters), `word_labels` (`""` on padding),
`word_label_ids` (-1 on padding), `word_scores` (the tag's probability, 0 on padding), `word_starts` /
`word_ends` (character offsets into the original text, end exclusive; -1 on padding), `num_words`. Only the
first `max_seq_length - 2` pieces fit the model: words whose first piece falls beyond that are dropped
(`num_words` counts the words kept). `serve_token_ids` returns per-piece `probabilities` [B, T, L],
`label_ids` and `labels` [B, T].

Span QA (`BertSpanQA`): `[CLS] question [SEP] context [SEP]` with the question cut to `max_query_length`
pieces and the context split into google-research/bert `run_squad.py` windows of
`max_seq_length - len(question) - 3` pieces every `doc_stride` pieces, all in the graph. The answer is the
span with the highest `start_logit + end_logit` over all windows, with start <= end, at most
`max_answer_length` pieces, both inside the context, and the start piece in the window where it has the most
context (run_squad's rule; the whole search is exhaustive rather than over the 20 best starts and ends). It
comes back as the original text `context[answer_start:answer_end]` (character offsets, end exclusive), so
accents, casing and Korean text inside words come back as written. `score` is the span's logit sum;
`null_score` is the smallest `[CLS]` start + end logit sum over the windows (SQuAD 2.0 models: predict no
answer when `null_score - score` exceeds your threshold). An empty context has no span: `answer` is `""`,
the offsets are -1 and `score` is the lowest float32. `serve_token_ids` returns `start_logits`,
`end_logits` [B, T] and the best span `start_position`, `end_position`, `score` [B] over segment-1 tokens
(the last `[SEP]` excluded).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from bert_tf import features
# Output names live in `bert_tf.features`; re-exported here for callers of this module.
from bert_tf.features import (ANSWER, ANSWER_END, ANSWER_START, END_LOGITS, END_POSITION, NULL_SCORE,  # noqa: F401
                              NUM_WORDS, SCORE, START_LOGITS, START_POSITION, WORD_ENDS, WORD_LABEL_IDS,
                              WORD_LABELS, WORD_SCORES, WORD_STARTS, WORDS)

TASK_TYPES = ("classifier", "regressor", "encoder", "token_classifier", "span_qa")
TOKENIZER_OPS = ("core", "tf_text")
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"


class ExportError(ValueError):
    """Arguments that cannot produce a valid export."""


EXPORT_DTYPES = ("float32", "bfloat16")


def _replace_dtypes(config, dtype):
    if isinstance(config, dict):
        return {k: ({"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
                     "registered_name": None} if k == "dtype" and v is not None else _replace_dtypes(v, dtype))
                for k, v in config.items()}
    if isinstance(config, list):
        return [_replace_dtypes(v, dtype) for v in config]
    return config


def with_dtype(model, dtype: str | None):
    """`model` rebuilt with every layer computing in `dtype` and holding its weights in it (rounded once, so
    a served call does no per-call weight casts). None, or a `dtype` the model already computes and stores
    its weights in, returns the model itself. Outputs of the exported signatures stay float32 (they are cast
    at the signature boundary)."""
    if dtype is None:
        return model
    if dtype not in EXPORT_DTYPES:
        raise ExportError(f"dtype must be one of {EXPORT_DTYPES} (or None: the model's own), got {dtype!r}")
    if all(w.dtype == dtype for w in model.weights) and _compute_dtypes(model) == {dtype}:
        return model
    import keras
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)  # layers the task builds itself (its head) take the global policy
    try:
        clone = type(model).from_config(_replace_dtypes(model.get_config(), dtype))
    finally:
        keras.config.set_dtype_policy(previous)
    weights = model.get_weights()
    if len(clone.weights) != len(weights):
        raise ExportError(f"cannot rebuild the {type(model).__name__} in {dtype}: {len(clone.weights)} weights "
                          f"instead of {len(weights)}")
    clone.set_weights(weights)
    return clone


def _compute_dtypes(model) -> set:
    return {layer.dtype_policy.compute_dtype for layer in model._flatten_layers(include_self=False)
            if getattr(layer, "dtype_policy", None) is not None and layer.weights}


def next_version(model_base_path: str) -> int:
    """One more than the highest integer version folder under `model_base_path` (1 when there is none)."""
    versions = [int(name) for name in os.listdir(model_base_path) if name.isdigit()] \
        if os.path.isdir(model_base_path) else []
    return max(versions, default=0) + 1


class _TextPacker(tf.Module):
    """Raw strings -> encoder inputs inside the graph: tokenize, `[CLS] A [SEP] B [SEP]`, truncate to
    `max_seq_length` (longest-first for pairs), then trim the padding to the longest row of the batch."""

    def __init__(self, vocab_file: str, lowercase: bool, max_seq_length: int, tokenizer_ops: str,
                 max_input_chars_per_word: int = 200):
        super().__init__()
        from bert_tf import tokenization
        cls = tokenization.CoreOpsBertTokenizer if tokenizer_ops == "core" else tokenization.BertTokenizer
        self.tokenizer = cls(vocab_file, lowercase=lowercase, max_input_chars_per_word=max_input_chars_per_word)
        self.packer = self.tokenizer.packer(max_seq_length)

    def __call__(self, text, text_b=None):
        segment_b = None if text_b is None else self.tokenizer.tokenize_tf(text_b)
        packed = self.packer(self.tokenizer.tokenize_tf(text), segment_b)
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(packed[features.PADDING_MASK], axis=1)), 2)
        return {name: tensor[:, :length] for name, tensor in packed.items()}


class _ExportModule(tf.Module):
    def __init__(self, model, task_type: str, text_packer: _TextPacker, labels_file: str | None, pooling: str,
                 qa_options: dict | None = None):
        super().__init__()
        self.model = model
        self.task_type = task_type
        self.text_packer = text_packer
        self.pooling = pooling
        self.qa_options = dict(qa_options or {})
        if labels_file is not None:
            # Label id (line number) -> label name (the line); the file travels as an asset.
            self.label_ids_to_names = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(labels_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                              tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
                default_value="<unknown>")

    def outputs_from_ids(self, inputs):
        outputs = self.model(inputs, training=False)
        if self.task_type == "token_classifier":
            probabilities = tf.nn.softmax(tf.cast(_logits(outputs), tf.float32), axis=-1)  # [B, T, L]
            label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)  # [B, T]
            return {features.PROBABILITIES: probabilities, features.LABEL_IDS: label_ids,
                    features.LABELS: self.label_ids_to_names.lookup(label_ids)}
        if self.task_type == "span_qa":
            start_logits = tf.cast(outputs[START_LOGITS], tf.float32)
            end_logits = tf.cast(outputs[END_LOGITS], tf.float32)
            mask = tf.cast(inputs[features.PADDING_MASK], tf.int32)
            length = tf.reduce_sum(mask, axis=1, keepdims=True)
            positions = tf.range(tf.shape(mask)[1])[None, :]
            # Context tokens: segment 1, real, not the final [SEP].
            context = (tf.equal(tf.cast(inputs[features.SEGMENT_IDS], tf.int32), 1) & tf.equal(mask, 1)
                       & (positions < length - 1))
            score, start, end = _best_spans(start_logits, end_logits, context, context,
                                            self.qa_options["max_answer_length"])
            return {START_LOGITS: start_logits, END_LOGITS: end_logits, START_POSITION: start,
                    END_POSITION: end, SCORE: score}
        if self.task_type == "classifier":
            logits = _logits(outputs)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
            label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
            return {features.PROBABILITIES: probabilities, features.LABEL_IDS: label_ids,
                    features.LABELS: self.label_ids_to_names.lookup(label_ids)}
        if self.task_type == "regressor":
            return {SCORE: tf.reshape(tf.cast(_logits(outputs), tf.float32), [-1])}
        sequence = tf.cast(outputs[features.SEQUENCE_OUTPUT], tf.float32)
        if self.pooling == "mean":
            mask = tf.cast(inputs[features.PADDING_MASK], tf.float32)[:, :, None]
            embedding = tf.reduce_sum(sequence * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        else:
            embedding = sequence[:, 0, :]
        return {features.EMBEDDING: embedding,
                features.POOLED_OUTPUT: tf.cast(outputs[features.POOLED_OUTPUT], tf.float32)}


    # === Token classifier: per-word tags from raw text ===

    def tag_words(self, text):
        """text [B] -> per-word outputs (see the module docstring)."""
        tokenizer = self.text_packer.tokenizer
        ids, starts, ends, word_ids = tokenizer.tokenize_tf_with_word_ids(text)
        packed = self.text_packer.packer(ids)
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(packed[features.PADDING_MASK], axis=1)), 2)
        packed = {name: tensor[:, :length] for name, tensor in packed.items()}
        per_piece = self.outputs_from_ids(packed)
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
        kept = first & (position < self.text_packer.packer.seq_length - 2)
        index = tf.where(kept)[:, 0]
        k_row = tf.gather(row, index)
        k_position = tf.gather(position, index) + 1  # after [CLS]
        k_start = tf.gather(starts.flat_values, index)
        k_end = tf.gather(word_end, tf.gather(word_number, index))
        at = tf.stack([k_row, k_position], axis=1)
        k_label = tf.gather_nd(label_ids, at)
        k_score = tf.gather_nd(tf.reduce_max(probabilities, axis=-1), at)
        clean = _clean_utf8(text)
        k_word = tf.strings.substr(tf.gather(clean, k_row), k_start, k_end - k_start, unit="UTF8_CHAR")
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

    # === Span QA: answers from raw question + context, run_squad's windows in the graph ===

    def answer(self, question, context):
        """question, context [B] -> answer, score, answer_start, answer_end, null_score [B]."""
        options = self.qa_options
        tokenizer = self.text_packer.tokenizer
        seq_length = self.text_packer.packer.seq_length
        batch = tf.shape(context)[0]
        same_batch = tf.debugging.assert_equal(
            tf.shape(question)[0], batch, message="question and context must have the same batch size")
        with tf.control_dependencies([same_batch]):
            question, context = tf.identity(question), tf.identity(context)
        q_ids = tokenizer.tokenize_tf(question)[:, :options["max_query_length"]]
        c_ids, c_starts, c_ends = tokenizer.tokenize_tf_with_offsets(context)
        len_q = tf.cast(q_ids.row_lengths(), tf.int32)
        len_c = tf.cast(c_ids.row_lengths(), tf.int32)
        c_first = tf.cast(c_ids.row_splits[:-1], tf.int32)  # each row's first piece in the flat vectors

        # Windows (google-research/bert's loop in closed form): `room` pieces each, every `step` pieces,
        # until one reaches the end; an empty context still gets one (empty) window.
        room = seq_length - len_q - 3
        step = tf.minimum(room, options["doc_stride"])
        num_windows = tf.where(len_c > room, (len_c - room + step - 1) // step + 1, 1)
        w_row = tf.repeat(tf.range(batch), num_windows)
        w_start = tf.cast(tf.ragged.range(num_windows).flat_values, tf.int32) * tf.gather(step, w_row)
        w_len = tf.minimum(tf.gather(len_c, w_row) - w_start, tf.gather(room, w_row))
        w_offset = tf.gather(len_q, w_row) + 2  # position of the window's first context piece
        num_w = tf.shape(w_row)[0]

        # Pack [CLS] question [SEP] window [SEP] for every window.
        doc_index = tf.ragged.range(w_start, w_start + w_len)  # [W, (pieces)] piece index in its row
        window_ids = tf.gather(c_ids.flat_values, doc_index + tf.gather(c_first, w_row)[:, None])
        q_rows = tf.gather(q_ids, w_row)
        cls = tf.RaggedTensor.from_tensor(tf.fill([num_w, 1], tokenizer.cls_id))
        sep = tf.RaggedTensor.from_tensor(tf.fill([num_w, 1], tokenizer.sep_id))
        first = tf.concat([cls, q_rows, sep], axis=1)
        second = tf.concat([window_ids, sep], axis=1)
        token_ids = tf.concat([first, second], axis=1)
        segment_ids = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
        packed = {  # [W, longest window]
            features.TOKEN_IDS: token_ids.to_tensor(default_value=tokenizer.pad_id),
            features.SEGMENT_IDS: segment_ids.to_tensor(default_value=0),
            features.PADDING_MASK: tf.ones_like(token_ids).to_tensor(default_value=0),
        }
        outputs = self.model(packed, training=False)
        start_logits = tf.cast(outputs[START_LOGITS], tf.float32)  # [W, T]
        end_logits = tf.cast(outputs[END_LOGITS], tf.float32)

        # run_squad's max-context rule: a piece may start an answer only in the window where
        # min(left, right) + 0.01 * window length is highest (the first such window on ties).
        w_of_piece = tf.cast(doc_index.value_rowids(), tf.int32)
        j = doc_index.flat_values - tf.gather(w_start, w_of_piece)  # position inside the window's context
        lens = tf.gather(w_len, w_of_piece)
        ctx_score = (tf.cast(tf.minimum(j, lens - 1 - j), tf.float64)
                     + 0.01 * tf.cast(lens, tf.float64))
        piece = doc_index.flat_values + tf.gather(c_first, tf.gather(w_row, w_of_piece))  # flat piece id
        num_pieces = tf.shape(c_ids.flat_values)[0]
        best_ctx = tf.math.unsorted_segment_max(ctx_score, piece, num_pieces)
        candidate = tf.where(tf.equal(ctx_score, tf.gather(best_ctx, piece)), w_of_piece, num_w)
        best_window = tf.math.unsorted_segment_min(candidate, piece, num_pieces)
        max_context = tf.equal(tf.gather(best_window, piece), w_of_piece)
        at = tf.stack([w_of_piece, j + tf.gather(w_offset, w_of_piece)], axis=1)
        shape = tf.shape(start_logits)
        is_context = tf.scatter_nd(at, tf.ones_like(j), shape) > 0
        can_start = tf.scatter_nd(at, tf.cast(max_context, tf.int32), shape) > 0
        w_score, w_s, w_e = _best_spans(start_logits, end_logits, can_start, is_context,
                                        options["max_answer_length"])

        # The best window of each row (the first on ties), then its span in characters.
        row_score = tf.math.unsorted_segment_max(w_score, w_row, batch)
        pick = tf.where(tf.equal(w_score, tf.gather(row_score, w_row)), tf.range(num_w), num_w)
        winner = tf.math.unsorted_segment_min(pick, w_row, batch)
        found = row_score > tf.float32.min
        winner = tf.where(found, winner, 0)  # rows without a span read window 0 and are masked below
        s_piece = tf.gather(c_first, tf.range(batch)) + tf.gather(w_start, winner) + (
            tf.gather(w_s, winner) - tf.gather(w_offset, winner))
        e_piece = tf.gather(c_first, tf.range(batch)) + tf.gather(w_start, winner) + (
            tf.gather(w_e, winner) - tf.gather(w_offset, winner))
        sentinel = tf.zeros([1], tf.int32)  # keeps the gathers in range for an all-empty batch
        starts_flat = tf.concat([c_starts.flat_values, sentinel], axis=0)
        ends_flat = tf.concat([c_ends.flat_values, sentinel], axis=0)
        s_piece = tf.where(found, s_piece, num_pieces)
        e_piece = tf.where(found, e_piece, num_pieces)
        answer_start = tf.where(found, tf.gather(starts_flat, s_piece), -1)
        answer_end = tf.where(found, tf.gather(ends_flat, e_piece), -1)
        text = tf.strings.substr(_clean_utf8(context), tf.maximum(answer_start, 0),
                                 tf.maximum(answer_end - answer_start, 0), unit="UTF8_CHAR")
        null = tf.reduce_sum(start_logits[:, :1] + end_logits[:, :1], axis=1)  # [CLS]; [:, :1] is safe for 0 windows
        return {
            ANSWER: tf.where(found, text, ""),
            SCORE: row_score,
            ANSWER_START: answer_start,
            ANSWER_END: answer_end,
            NULL_SCORE: tf.math.unsorted_segment_min(null, w_row, batch),
        }


def _shift_right(x):
    """x shifted right by one along axis 0, -1 first (works for empty x)."""
    return tf.concat([tf.fill(tf.shape(x[:1]), tf.constant(-1, x.dtype)), x[:-1]], axis=0)


def _clean_utf8(strings):
    """Invalid UTF-8 as U+FFFD, as the tokenizer reads it, so character offsets index the same characters."""
    return tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def _best_spans(start_logits, end_logits, can_start, can_end, max_answer_length):
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


def _logits(outputs):
    if isinstance(outputs, dict):
        return outputs[features.LOGITS]
    return outputs


def _build_signatures(module: _ExportModule, pair: bool) -> dict:
    text_spec = tf.TensorSpec([None], tf.string, name=features.TEXT)
    text_b_spec = tf.TensorSpec([None], tf.string, name=features.TEXT_B)
    ids_spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in features.ENCODER_INPUTS}

    if module.task_type == "token_classifier":
        @tf.function(input_signature=[text_spec])
        def serving_default(text):
            return module.tag_words(text)
    elif module.task_type == "span_qa":
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.QUESTION),
                                      tf.TensorSpec([None], tf.string, name=features.CONTEXT)])
        def serving_default(question, context):
            return module.answer(question, context)
    elif pair:
        @tf.function(input_signature=[text_spec, text_b_spec])
        def serving_default(text, text_b):
            return module.outputs_from_ids(module.text_packer(text, text_b))
    else:
        @tf.function(input_signature=[text_spec])
        def serving_default(text):
            return module.outputs_from_ids(module.text_packer(text))

    @tf.function(input_signature=[ids_spec])
    def serve_token_ids(inputs):
        return module.outputs_from_ids(inputs)

    signatures = {"serving_default": serving_default, "serve_token_ids": serve_token_ids}
    if module.task_type in ("token_classifier", "span_qa"):
        return signatures

    example_spec = {features.TEXT: tf.io.FixedLenFeature([], tf.string)}
    if pair:
        example_spec[features.TEXT_B] = tf.io.FixedLenFeature([], tf.string)

    def from_examples(serialized):
        parsed = tf.io.parse_example(serialized, example_spec)
        packed = module.text_packer(parsed[features.TEXT], parsed.get(features.TEXT_B))
        return module.outputs_from_ids(packed)

    serialized_spec = tf.TensorSpec([None], tf.string, name="inputs")
    if module.task_type == "classifier":
        @tf.function(input_signature=[serialized_spec])
        def classify(inputs):
            outputs = from_examples(inputs)
            scores = outputs[features.PROBABILITIES]
            num_classes = tf.shape(scores)[1]
            names = module.label_ids_to_names.lookup(tf.range(num_classes, dtype=tf.int64))
            classes = tf.tile(names[None, :], [tf.shape(scores)[0], 1])
            return {"classes": classes, "scores": scores}
        signatures["classify"] = classify
    elif module.task_type == "regressor":
        @tf.function(input_signature=[serialized_spec])
        def regress(inputs):
            return {"outputs": from_examples(inputs)[SCORE]}
        signatures["regress"] = regress
    return signatures


_TASK_CLASSES = {"classifier": "BertClassifier", "regressor": "BertRegressor", "encoder": "BertEncoder",
                 "token_classifier": "BertTokenClassifier", "span_qa": "BertSpanQA"}


def _check_model(model, task_type: str) -> None:
    """A bert_tf model of another task gives a clear error here, not a shape error deep in tracing."""
    name = type(model).__name__
    known = set(_TASK_CLASSES.values())
    if name in known and name != _TASK_CLASSES[task_type]:
        raise ExportError(f"task_type {task_type!r} needs a {_TASK_CLASSES[task_type]}, got a {name}")


def _max_positions(model) -> int | None:
    encoder = getattr(model, "encoder", model)
    config = getattr(encoder, "bert_config", None)
    return getattr(config, "max_position_embeddings", None)


def _set_method_names(saved_model_dir: str, method_names: dict[str, str]) -> None:
    """TF2's saver writes every signature as Predict; TF Serving's Classify/Regress check the method name."""
    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for key, method in method_names.items():
            if key in meta_graph.signature_def:
                meta_graph.signature_def[key].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def export_saved_model(model, *, task_type: str, vocab_file: str, lowercase: bool, export_base: str,
                       model_name: str, max_seq_length: int = 128, label_names: Sequence[str] | None = None,
                       pair: bool = False, version: int | None = None, tokenizer_ops: str = "core",
                       pooling: str = "mean", warmup_texts: Sequence[str] | None = None,
                       max_query_length: int = 64, doc_stride: int = 128, max_answer_length: int = 30,
                       dtype: str | None = None, max_input_chars_per_word: int = 200) -> str:
    """Writes `export_base/model_name/<version>/` atomically and returns that path.

    Args:
        model: a bert_tf task model (`BertClassifier`, `BertRegressor`, `BertTokenClassifier`, `BertSpanQA`)
            or a `BertEncoder`.
        task_type: str. One of `"classifier"`, `"regressor"`, `"encoder"`, `"token_classifier"`, `"span_qa"`.
        vocab_file: str. The vocabulary the model was trained with; copied into the SavedModel's assets.
        lowercase: bool. Whether the vocabulary is uncased.
        export_base: str. TF Serving's `--model_base_path` parent: the model lands in `export_base/model_name`.
        model_name: str. TF Serving's model name.
        max_seq_length: int. Inputs longer than this are truncated in the graph (longest-first for pairs).
        label_names: list of str. Class (tag) names, in label-id order (classifier and token classifier; travels
            as an asset). Defaults to the model's own `label_names` when it has them.
        pair: bool. Whether the model takes sentence pairs (`text` and `text_b`).
        version: int. The version folder; defaults to one more than the highest present.
        tokenizer_ops: str. `"core"` (default: core TF ops only, portable) or `"tf_text"` (tensorflow-text ops).
        max_input_chars_per_word: int. Words longer than this many characters become `[UNK]` in the served
            tokenizer: 200 as google-research/bert (Hugging Face uses 100); use the value the model was trained with.
        pooling: str. For `"encoder"`: `"mean"` over real tokens or `"cls"`. Defaults to `"mean"`.
        warmup_texts: list of str. When given, `assets.extra/tf_serving_warmup_requests` gets a Predict request
            on `serving_default` with these texts, which TF Serving replays before the version is AVAILABLE
            (for `"span_qa"`, each text is both the question and the context).
        max_query_length: int. `"span_qa"`: questions are cut to this many pieces. Defaults to 64.
        doc_stride: int. `"span_qa"`: a long context is read in windows starting this many pieces apart.
            Defaults to 128.
        max_answer_length: int. `"span_qa"`: the longest answer, in pieces. Defaults to 30.
        dtype: str or None. None (default): the model's own precision. `"bfloat16"`: the served model
            computes in bfloat16 with its weights rounded to bfloat16 once (about 1.5-1.8x the float32
            throughput on CPUs with AVX512-BF16 or AMX, see docs/RESULTS.md; slower where the CPU lacks them).
            `"float32"`: computes and stores weights in float32 (e.g. a model trained with mixed_bfloat16).
            Outputs stay float32.
    """
    if task_type not in TASK_TYPES:
        raise ExportError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if tokenizer_ops not in TOKENIZER_OPS:
        raise ExportError(f"tokenizer_ops must be one of {TOKENIZER_OPS}, got {tokenizer_ops!r}")
    _check_model(model, task_type)
    if label_names is None and task_type in ("classifier", "token_classifier"):
        label_names = getattr(model, "label_names", None)
    if task_type in ("classifier", "token_classifier"):
        if not label_names:
            raise ExportError(f"a {task_type} export needs label_names (one per class, in label-id order); the "
                              "model has none stored")
        num_classes = getattr(model, "num_classes", None)
        if num_classes is not None and len(label_names) != num_classes:
            raise ExportError(f"{len(label_names)} label_names for a model with {num_classes} classes")
    if pair and task_type in ("token_classifier", "span_qa"):
        raise ExportError(f"pair=True does not apply to {task_type} (span_qa takes question and context)")
    max_positions = _max_positions(model)
    if max_positions is not None and max_seq_length > max_positions:
        raise ExportError(f"max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                          f"{max_positions}")
    if task_type == "span_qa":
        if max_query_length < 1 or doc_stride < 1 or max_answer_length < 1:
            raise ExportError("max_query_length, doc_stride and max_answer_length must be positive, got "
                              f"{max_query_length}, {doc_stride}, {max_answer_length}")
        if max_seq_length - max_query_length - 3 < 1:
            raise ExportError(f"max_seq_length {max_seq_length} leaves no room for the context after a "
                              f"{max_query_length}-piece question and 3 special tokens; lower max_query_length")
    if label_names and any("\n" in name or "\r" in name for name in label_names):
        raise ExportError("label names must not contain line breaks")
    if not os.path.isfile(vocab_file):
        raise ExportError(f"vocabulary file not found: {vocab_file}")
    if version is not None and (not isinstance(version, int) or version <= 0):
        raise ExportError(f"version must be a positive integer, got {version!r}")
    model_base_path = os.path.join(export_base, model_name)
    os.makedirs(model_base_path, exist_ok=True)
    version = version or next_version(model_base_path)
    final_dir = os.path.join(model_base_path, str(version))
    if os.path.exists(final_dir):
        raise ExportError(f"{final_dir} already exists; versions are immutable once written")

    # Not an integer name, so a server polling model_base_path never sees a half-written version.
    tmp_dir = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_base_path)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            labels_file = None
            if label_names:
                labels_file = os.path.join(scratch, "labels.txt")
                with open(labels_file, "w", encoding="utf-8") as f:
                    f.write("\n".join(label_names) + "\n")
            # Copied so the asset is always `assets/vocab.txt`, whatever the source file is called.
            vocab_copy = os.path.join(scratch, "vocab.txt")
            shutil.copyfile(vocab_file, vocab_copy)
            text_packer = _TextPacker(vocab_copy, lowercase, max_seq_length, tokenizer_ops, max_input_chars_per_word)
            qa_options = {"max_query_length": int(max_query_length), "doc_stride": int(doc_stride),
                          "max_answer_length": int(max_answer_length)}
            module = _ExportModule(with_dtype(model, dtype), task_type, text_packer, labels_file, pooling,
                                   qa_options)
            signatures = _build_signatures(module, pair)
            shutil.rmtree(tmp_dir)
            tf.saved_model.save(module, tmp_dir, signatures=signatures)
        _set_method_names(tmp_dir, {"classify": CLASSIFY_METHOD_NAME, "regress": REGRESS_METHOD_NAME})
        if warmup_texts:
            from tensorflow_serving.apis import predict_pb2

            from serving.server import config as serving_config
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = "serving_default"
            texts = [t.encode("utf-8") for t in warmup_texts]
            if task_type == "span_qa":
                request.inputs[features.QUESTION].CopyFrom(tf.make_tensor_proto(texts, tf.string))
                request.inputs[features.CONTEXT].CopyFrom(tf.make_tensor_proto(texts, tf.string))
            else:
                request.inputs[features.TEXT].CopyFrom(tf.make_tensor_proto(texts, tf.string))
            if pair:
                request.inputs[features.TEXT_B].CopyFrom(tf.make_tensor_proto(texts, tf.string))
            serving_config.write_warmup_requests(tmp_dir, [request])
        os.rename(tmp_dir, final_dir)
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir
