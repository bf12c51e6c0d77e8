"""What the gRPC (`serving.client.grpc_client.ServingClient`) and REST (`serving.client.rest_client.RestClient`)
clients share: input arrays and batch slices for requests, request dicts for bert_tf's raw-text exports, their
outputs turned into plain Python values, and `TextHelpers`, the base of both: their common settings and retry
backoff, and the raw-text calls themselves (classify_text included).

Imports neither client: each transport module imports this one, never the other way round."""

from __future__ import annotations

import random
import time
from typing import Any, Mapping, Sequence

import numpy as np

from bert_tf import features
from serving.server.tensors import to_string_array


# Padding of outputs whose width varies per request (per-word NER outputs are padded to the batch's largest
# word count), as the export pads them: -1 for ids and offsets, "" for strings, 0 otherwise.
_PAD_VALUES = {features.WORD_LABEL_IDS: -1, features.WORD_STARTS: -1, features.WORD_ENDS: -1}


def to_array(values: Any) -> np.ndarray:
    """numpy array from numpy / lists; str and bytes become an object array of UTF-8 bytes."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind in ("U", "S"):
            return to_string_array(values.tolist())
        return values
    if isinstance(values, (str, bytes)):
        return to_string_array(values)
    array = np.asarray(values)
    if array.dtype.kind in ("U", "S", "O"):
        return to_string_array(values)
    return array


def batch_slices(n: int, batch_size: int | None) -> list[slice]:
    """The row slices of `n` rows sent `batch_size` rows a request (one slice when no batch_size or n fits)."""
    if not batch_size or n <= batch_size:
        return [slice(0, n)]
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def input_batches(inputs: Mapping[str, Any], batch_size: int | None) -> list[dict[str, np.ndarray]]:
    """The inputs as arrays (`to_array`), in requests of `batch_size` rows: one request when there is no
    batch_size, or when the inputs do not agree on a row count (scalars are sent whole with every request)."""
    arrays = {name: to_array(value) for name, value in inputs.items()}
    rows = {a.shape[0] for a in arrays.values() if a.ndim > 0}
    slices = batch_slices(rows.pop(), batch_size) if len(rows) == 1 and batch_size else [slice(None)]
    return [{name: (a[part] if a.ndim > 0 else a) for name, a in arrays.items()} for part in slices]


def concat_batches(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The outputs of several requests (a long input list sent in batches) as one: concatenated along the
    batch axis, outputs of different widths padded to the widest first."""
    if len(parts) == 1:
        return dict(parts[0])
    merged = {}
    for key in parts[0]:
        arrays = [np.asarray(p[key]) for p in parts]
        if arrays[0].ndim > 1 and len({a.shape[1:] for a in arrays}) > 1:
            width = tuple(max(sizes) for sizes in zip(*(a.shape[1:] for a in arrays)))
            pad = b"" if arrays[0].dtype.kind in "SOU" else _PAD_VALUES.get(key, 0)
            arrays = [np.pad(a, [(0, 0)] + [(0, w - s) for w, s in zip(width, a.shape[1:])], constant_values=pad)
                      for a in arrays]
        merged[key] = np.concatenate(arrays, axis=0)
    return merged


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def text_results(outputs: Mapping[str, np.ndarray], label_names: Sequence[str] | None = None) -> list[dict]:
    """Classifier outputs (probabilities, labels) → [{"label": str, "probabilities": {label: float}}]."""
    probabilities = np.asarray(outputs[features.PROBABILITIES])
    labels = outputs.get(features.LABELS)
    if label_names is None:
        label_names = [str(i) for i in range(probabilities.shape[-1])]
    results = []
    for i, row in enumerate(probabilities):
        label = labels[i] if labels is not None else label_names[int(np.argmax(row))]
        results.append({"label": _text(label),
                        "probabilities": {str(name): float(p) for name, p in zip(label_names, row)}})
    return results


def entity_results(outputs: Mapping[str, np.ndarray]) -> list[list[dict]]:
    """Token-classifier (NER) export outputs → per text [{"word", "label", "score", "start", "end"}, ...]
    (character offsets into the text, end exclusive; padding dropped)."""
    counts = np.asarray(outputs[features.NUM_WORDS]).reshape(-1)
    words, labels = np.asarray(outputs[features.WORDS]), np.asarray(outputs[features.WORD_LABELS])
    scores = np.asarray(outputs[features.WORD_SCORES])
    starts, ends = np.asarray(outputs[features.WORD_STARTS]), np.asarray(outputs[features.WORD_ENDS])
    return [[{"word": _text(words[i, j]), "label": _text(labels[i, j]), "score": float(scores[i, j]),
              "start": int(starts[i, j]), "end": int(ends[i, j])} for j in range(int(n))]
            for i, n in enumerate(counts)]


def answer_results(outputs: Mapping[str, np.ndarray]) -> list[dict]:
    """Span-QA export outputs → per question {"answer", "score", "start", "end", "null_score"} (character
    offsets into the context, end exclusive; -1 and "" when the context is empty)."""
    answers = np.asarray(outputs[features.ANSWER]).reshape(-1)
    columns = [np.asarray(outputs[name]).reshape(-1) for name in
               (features.SCORE, features.ANSWER_START, features.ANSWER_END, features.NULL_SCORE)]
    return [{"answer": _text(a), "score": float(score), "start": int(start), "end": int(end),
             "null_score": float(null)} for a, score, start, end, null in zip(answers, *columns)]


def text_inputs(texts: Sequence[str], text_b: Sequence[str] | None = None) -> dict:
    inputs = {features.TEXT: list(texts)}
    if text_b is not None:
        if len(text_b) != len(texts):
            raise ValueError(f"text_b has {len(text_b)} entries for {len(texts)} texts")
        inputs[features.TEXT_B] = list(text_b)
    return inputs


def qa_inputs(questions: Sequence[str], contexts: Sequence[str]) -> dict:
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions for {len(contexts)} contexts")
    return {features.QUESTION: list(questions), features.CONTEXT: list(contexts)}


class TextHelpers:
    """Raw-text helpers shared by the gRPC and REST clients (both provide `predict` and `classify`, and name the
    errors their transport raises in `_transport_errors`)."""

    _transport_errors: tuple[type[BaseException], ...] = ()

    def _init_target(self, model_name: str, version: int | None, version_label: str | None, signature_name: str,
                     timeout: float, retries: int, backoff_seconds: float, batch_size: int | None) -> None:
        """The settings both clients take: which model (version) they ask, and how they call it."""
        if version is not None and version_label is not None:
            raise ValueError("give version or version_label, not both")
        self.model_name = model_name
        self.version = version
        self.version_label = version_label
        self.signature_name = signature_name
        self.timeout = timeout
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.batch_size = batch_size

    def _sleep_before_retry(self, attempt: int) -> None:
        """Exponential backoff with jitter: `backoff_seconds` doubled per earlier attempt, plus up to 25%."""
        time.sleep(self.backoff_seconds * 2 ** attempt * (1 + random.random() * 0.25))

    def classify_text(self, texts: Sequence[str], text_b: Sequence[str] | None = None,
                      signature_name: str | None = None, batch_size: int | None = None) -> list[dict]:
        """Raw text → [{"label": str, "probabilities": {label: float}}] via a bert_tf classifier export.

        Uses the export's `serving_default` (inputs `text` [, `text_b`]; outputs `probabilities`, `label_ids`,
        `labels`); the label names keying the probability dict come from one call of the model's `classify`
        signature (its `classes` output lists them; cached), else, when that call fails or lists no names, from
        the predicted `labels`/`label_ids` of this answer (the classes nobody was predicted as keep their index),
        else indices.
        """
        outputs = self.predict(text_inputs(texts, text_b), signature_name=signature_name, batch_size=batch_size)
        return text_results(outputs, self._label_names(outputs, pair=text_b is not None))

    def _label_names(self, outputs: Mapping[str, np.ndarray], pair: bool = False) -> list[str]:
        names = self.__dict__.get("_cached_label_names")
        if names is not None:
            return names
        width = np.asarray(outputs[features.PROBABILITIES]).shape[-1]
        probe = {features.TEXT: "", features.TEXT_B: ""} if pair else {features.TEXT: ""}  # a pair export needs both
        try:  # the classify signature lists the label names per class
            classes = self.classify([probe], signature_name="classify")
        except self._transport_errors:
            classes = []
        if classes and len(classes[0]) == width and all(label for label, _ in classes[0]):
            self._cached_label_names = [_text(label) for label, _ in classes[0]]
            return self._cached_label_names
        names = [str(i) for i in range(width)]
        labels, label_ids = outputs.get(features.LABELS), outputs.get(features.LABEL_IDS)
        if labels is not None and label_ids is not None:  # partial knowledge: the labels that were predicted
            for i, label in zip(np.asarray(label_ids).ravel(), np.asarray(labels).ravel()):
                names[int(i)] = _text(label)
        return names

    def tag_text(self, texts: Sequence[str], signature_name: str | None = None,
                 batch_size: int | None = None) -> list[list[dict]]:
        """Raw text → per text its words with NER tags, via a bert_tf token_classifier export."""
        return entity_results(self.predict(text_inputs(texts), signature_name=signature_name,
                                           batch_size=batch_size))

    def answer_questions(self, questions: Sequence[str], contexts: Sequence[str],
                         signature_name: str | None = None, batch_size: int | None = None) -> list[dict]:
        """Questions and their contexts → answers with character offsets, via a bert_tf span_qa export."""
        return answer_results(self.predict(qa_inputs(questions, contexts), signature_name=signature_name,
                                           batch_size=batch_size))

    def embed_text(self, texts: Sequence[str], text_b: Sequence[str] | None = None,
                   signature_name: str | None = None, batch_size: int | None = None) -> np.ndarray:
        """Raw text → [N, H] float32 embeddings, via a bert_tf encoder export."""
        outputs = self.predict(text_inputs(texts, text_b), signature_name=signature_name, batch_size=batch_size)
        return np.asarray(outputs[features.EMBEDDING], dtype=np.float32)

    def regress_text(self, texts: Sequence[str], text_b: Sequence[str] | None = None,
                     signature_name: str | None = None, batch_size: int | None = None) -> list[float]:
        """Raw text (pairs) → one score each, via a bert_tf regressor or bi_encoder export."""
        outputs = self.predict(text_inputs(texts, text_b), signature_name=signature_name, batch_size=batch_size)
        return [float(v) for v in np.asarray(outputs[features.SCORE]).reshape(-1)]
