"""SQuAD v1.1/v2.0 (and KorQuAD, same format): reading, sliding-window features, and n-best decoding.

This follows google-research/bert's `run_squad.py` — query truncated to `max_query_length`, document windows
of `max_seq_length - len(query) - 3` pieces every `doc_stride` pieces, each token scored in the window where
it has the most context (`min(left, right) + 0.01 * window length`), the `n_best_size` best starts and ends,
spans of at most `max_answer_length` pieces, SQuAD 2.0's null answer as the `[CLS]` span with
`null_score_diff_threshold` — with one change: instead of whitespace words + `char_to_word_offset` +
`get_final_text` (which re-aligns a lowercased, accent-stripped answer with the original word), every word
piece keeps its character offsets in the original context (`tokenizer.tokenize_with_offsets`). An answer is
`context[start_char:end_char]` of its first and last pieces: exactly the original text, with exact offsets,
also inside Korean words (`서울에서` → `서울`), where whitespace words would force whole-word answers.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import os
from typing import Sequence

import numpy as np

from bert_tf import features
from bert_tf.atomic_files import write_json_atomic
from bert_tf.data.errors import DataError
from bert_tf.data.readers import _read_text

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question. `answers`: list of `(text, start_char)` (all gold answers; training uses the first)."""

    qas_id: str
    question: str
    context: str
    answers: tuple = ()
    is_impossible: bool = False
    source: str = ""


@dataclasses.dataclass
class SquadFeature:
    """One window of one example."""

    example_index: int
    window_index: int
    token_ids: list
    segment_ids: list
    token_to_char: dict  # position -> (start_char, end_char) for context pieces
    token_is_max_context: dict  # position -> bool
    start_position: int = 0
    end_position: int = 0


def read_squad(path: str, *, version_2_with_negative: bool = False, is_training: bool = False) -> list[SquadExample]:
    """Reads a SQuAD-format JSON file.

    Raises `DataError` (naming the file and the article/paragraph/question) for a missing key, an empty
    question or context, or (training) a v1.1 question without answers. An `answer_start` that does not point
    at its text is moved to the nearest occurrence of the text (warning); an answer that is not in the context
    at all is skipped in training with a warning, as google-research/bert does.
    """
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: not SQuAD format (expected an object with a 'data' list)")
    examples, skipped = [], 0
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs", []), list):
            raise DataError(f"{path}: data[{a}]: expected an object with a 'paragraphs' list")
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise DataError(f"{where}: expected an object with 'context' and 'qas'")
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                raise DataError(f"{where}: missing or empty 'context'")
            if not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{where}: missing 'qas' list")
            for q, qa in enumerate(paragraph["qas"]):
                qwhere = f"{where}.qas[{q}]"
                if not isinstance(qa, dict):
                    raise DataError(f"{qwhere}: expected an object with 'id', 'question' and 'answers'")
                if not isinstance(qa.get("answers", []), list):
                    raise DataError(f"{qwhere}: 'answers' must be a list")
                for key in ("id", "question"):
                    if key not in qa:
                        raise DataError(f"{qwhere}: missing {key!r}")
                if not str(qa["question"]).strip():
                    raise DataError(f"{qwhere} (id {qa['id']}): empty question")
                # SQuAD 2.0 marks unanswerable questions with is_impossible (and no answers).
                is_impossible = bool(qa.get("is_impossible", not qa.get("answers"))) \
                    if version_2_with_negative else False
                if qa.get("is_impossible") and not version_2_with_negative and is_training:
                    raise DataError(f"{qwhere} (id {qa['id']}): is_impossible=true in a file read as SQuAD v1.1; "
                                    "pass --version_2_with_negative")
                answers = []
                for k, answer in enumerate(qa.get("answers", [])):
                    if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
                        raise DataError(f"{qwhere}.answers[{k}] (id {qa['id']}): needs 'text' and 'answer_start'")
                    start = answer["answer_start"]
                    if isinstance(start, bool) or not isinstance(start, (int, str)) or not str(start).isdigit():
                        raise DataError(f"{qwhere}.answers[{k}] (id {qa['id']}): answer_start {start!r} is not a "
                                        "character offset (a non-negative integer)")
                    located = _locate(context, str(answer["text"]), int(start))
                    if located is None:
                        if is_training:
                            logger.warning("%s (id %s): answer %r is not in the context; skipped", qwhere, qa["id"],
                                           answer["text"])
                        continue
                    answers.append((answer["text"], located))
                if is_training and not is_impossible and not answers:
                    if not qa.get("answers"):
                        raise DataError(f"{qwhere} (id {qa['id']}): no answers (a SQuAD v1.1 training question "
                                        "needs one; for v2.0 data pass --version_2_with_negative)")
                    skipped += 1
                    continue
                examples.append(SquadExample(str(qa["id"]), str(qa["question"]), context, tuple(answers),
                                             is_impossible, qwhere))
    if skipped:
        logger.warning("%s: %d training questions skipped (answer not found in context)", path, skipped)
    if not examples:
        raise DataError(f"{path}: the file holds no questions")
    return examples


def _locate(context, answer_text, answer_start):
    if context[answer_start:answer_start + len(answer_text)] == answer_text:
        return answer_start
    positions = []
    i = context.find(answer_text)
    while i != -1 and answer_text:
        positions.append(i)
        i = context.find(answer_text, i + 1)
    if not positions:
        return None
    best = min(positions, key=lambda pos: abs(pos - answer_start))
    logger.warning("answer %r: answer_start %d does not point at the text; using %d", answer_text, answer_start,
                   best)
    return best


def convert_examples_to_features(examples: Sequence[SquadExample], tokenizer, *, max_seq_length: int = 384,
                                 doc_stride: int = 128, max_query_length: int = 64,
                                 is_training: bool = False) -> list[SquadFeature]:
    """Sliding windows over each context (see the module docstring)."""
    if max_seq_length < 4:
        raise ValueError(f"max_seq_length must be at least 4, got {max_seq_length}")
    if doc_stride < 1:
        raise ValueError("doc_stride must be >= 1")
    result = []
    for e_index, example in enumerate(examples):
        query_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.question))[:max_query_length]
        doc = tokenizer.tokenize_with_offsets(example.context)
        doc_ids = tokenizer.convert_tokens_to_ids([piece for piece, _, _ in doc])
        tok_start = tok_end = None
        if is_training and not example.is_impossible:
            text, start_char = example.answers[0]
            end_char = start_char + len(text)
            inside = [i for i, (_, s, e) in enumerate(doc) if e > start_char and s < end_char]
            if inside:
                tok_start, tok_end = inside[0], inside[-1]
        max_tokens_for_doc = max_seq_length - len(query_ids) - 3
        if max_tokens_for_doc < 1:
            raise ValueError(f"{example.source or example.qas_id}: the question has {len(query_ids)} pieces, which "
                             f"leaves no room for the context in max_seq_length={max_seq_length}; lower "
                             "max_query_length or raise max_seq_length")
        spans, start = [], 0
        while start < len(doc) or not spans:
            length = min(len(doc) - start, max_tokens_for_doc)
            spans.append((start, length))
            if start + length >= len(doc):
                break
            start += min(length, doc_stride)
        for w, (span_start, span_length) in enumerate(spans):
            token_ids = [tokenizer.cls_id] + query_ids + [tokenizer.sep_id]
            segment_ids = [0] * len(token_ids)
            token_to_char, max_context = {}, {}
            for i in range(span_length):
                doc_index = span_start + i
                position = len(token_ids)
                token_to_char[position] = (doc[doc_index][1], doc[doc_index][2])
                max_context[position] = _is_max_context(spans, w, doc_index)
                token_ids.append(doc_ids[doc_index])
                segment_ids.append(1)
            token_ids.append(tokenizer.sep_id)
            segment_ids.append(1)
            start_position = end_position = 0
            if tok_start is not None:
                span_end = span_start + span_length - 1
                if tok_start >= span_start and tok_end <= span_end:
                    offset = len(query_ids) + 2
                    start_position = tok_start - span_start + offset
                    end_position = tok_end - span_start + offset
            result.append(SquadFeature(e_index, w, token_ids, segment_ids, token_to_char, max_context,
                                       start_position, end_position))
    return result


def _is_max_context(spans, current, position):
    """google-research/bert's `_check_is_max_context`: score = min(left, right) + 0.01 * length."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return current == best_index


def features_to_arrays(feats: Sequence[SquadFeature], max_seq_length: int) -> tuple[dict, dict]:
    """Model inputs `(N, max_seq_length)` and targets `{"start_logits", "end_logits"}` `(N,)` (BertSpanQA's y)."""
    n = len(feats)
    inputs = {name: np.zeros((n, max_seq_length), np.int32) for name in features.ENCODER_INPUTS}
    for i, f in enumerate(feats):
        inputs[features.TOKEN_IDS][i, :len(f.token_ids)] = f.token_ids
        inputs[features.SEGMENT_IDS][i, :len(f.segment_ids)] = f.segment_ids
        inputs[features.PADDING_MASK][i, :len(f.token_ids)] = 1
    targets = {"start_logits": np.array([f.start_position for f in feats], np.int32),
               "end_logits": np.array([f.end_position for f in feats], np.int32)}
    return inputs, targets


def _best_indexes(logits, n_best_size):
    return [int(i) for i in np.argsort(-np.asarray(logits), kind="stable")[:n_best_size]]


def _softmax(scores):
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def postprocess(examples: Sequence[SquadExample], feats: Sequence[SquadFeature], start_logits: np.ndarray,
                end_logits: np.ndarray, *, n_best_size: int = 20, max_answer_length: int = 30,
                version_2_with_negative: bool = False, null_score_diff_threshold: float = 0.0):
    """google-research/bert's `write_predictions` (see the module docstring).

    Args:
        examples, feats: from `read_squad` and `convert_examples_to_features`.
        start_logits, end_logits: float `(len(feats), T)`, the model's outputs for the features in order.

    Returns:
        `(predictions, nbest, null_odds)`: `{qid: text}` (`""` = no answer), `{qid: [{"text", "probability",
        "start_logit", "end_logit", "start_char", "end_char"}, ...]}`, and `{qid: null score - best non-null
        score}` (v2 only, else empty).
    """
    by_example = collections.defaultdict(list)
    for index, feature in enumerate(feats):
        by_example[feature.example_index].append(index)
    predictions, all_nbest, null_odds = {}, {}, {}
    for e_index, example in enumerate(examples):
        prelim = []
        null = None  # (score, start_logit, end_logit)
        for index in by_example.get(e_index, []):
            feature = feats[index]
            start, end = np.asarray(start_logits[index]), np.asarray(end_logits[index])
            if version_2_with_negative:
                score = float(start[0] + end[0])
                if null is None or score < null[0]:
                    null = (score, float(start[0]), float(end[0]))
            for s in _best_indexes(start, n_best_size):
                for e in _best_indexes(end, n_best_size):
                    if s not in feature.token_to_char or e not in feature.token_to_char:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    if not feature.token_is_max_context.get(s, False):
                        continue
                    prelim.append((float(start[s] + end[e]), float(start[s]), float(end[e]), index, s, e))
        if version_2_with_negative and null is not None:
            prelim.append((null[0], null[1], null[2], None, 0, 0))
        prelim.sort(key=lambda p: p[0], reverse=True)
        nbest, seen = [], set()
        for total, s_logit, e_logit, index, s, e in prelim:
            if len(nbest) >= n_best_size:
                break
            if index is None:
                text, start_char, end_char = "", -1, -1
            else:
                feature = feats[index]
                start_char, end_char = feature.token_to_char[s][0], feature.token_to_char[e][1]
                text = example.context[start_char:end_char]
            if text in seen:
                continue
            seen.add(text)
            nbest.append({"text": text, "start_logit": s_logit, "end_logit": e_logit,
                          "start_char": start_char, "end_char": end_char})
        if version_2_with_negative and "" not in seen and null is not None:
            nbest.append({"text": "", "start_logit": null[1], "end_logit": null[2], "start_char": -1, "end_char": -1})
        if not nbest:
            nbest.append({"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "start_char": -1, "end_char": -1})
        probabilities = _softmax([n["start_logit"] + n["end_logit"] for n in nbest])
        for entry, probability in zip(nbest, probabilities):
            entry["probability"] = probability
        all_nbest[example.qas_id] = nbest
        best_non_null = next((n for n in nbest if n["text"]), None)
        if not version_2_with_negative:
            predictions[example.qas_id] = nbest[0]["text"]
            continue
        if best_non_null is None:
            null_odds[example.qas_id] = float("inf") if null is not None else 0.0
            predictions[example.qas_id] = ""
            continue
        diff = null[0] - best_non_null["start_logit"] - best_non_null["end_logit"]
        null_odds[example.qas_id] = diff
        predictions[example.qas_id] = "" if diff > null_score_diff_threshold else best_non_null["text"]
    return predictions, all_nbest, null_odds


def write_predictions(output_dir: str, predictions: dict, nbest: dict, null_odds: dict | None = None) -> dict:
    """Writes `predictions.json`, `nbest_predictions.json` and (v2) `null_odds.json` atomically; returns paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = {}
    files = {"predictions.json": predictions, "nbest_predictions.json": nbest}
    if null_odds:
        files["null_odds.json"] = null_odds
    for name, values in files.items():
        path = os.path.join(output_dir, name)
        write_json_atomic(path, values, ensure_ascii=False)
        paths[name] = path
    return paths


def dataset_json(path: str) -> list:
    """The `data` list of a SQuAD file (for `bert_tf.metrics.squad_v1_evaluate` / `squad_v2_evaluate`)."""
    return json.loads(_read_text(path))["data"]
