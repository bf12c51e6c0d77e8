"""Running a fine-tuned model over encoded arrays: length-sorted batches cut to their longest row."""

from __future__ import annotations

import numpy as np


def predict(model, inputs: dict, batch_size: int = 64):
    """Runs `model` over `inputs` (arrays padded to one length T) in batches sorted by length, each cut to its
    longest row; returns outputs in the original order. Per-token outputs (token classification logits
    `(N, T, C)`, span logits `(N, T)`) are padded back to T (span padding gets -10000, as the model's)."""
    mask = inputs["padding_mask"]
    full = mask.shape[-1]
    lengths = mask.reshape(len(mask), -1, full).sum(-1).max(-1)
    order = np.argsort(-lengths, kind="stable")
    per_token = _per_token(model)
    results = None
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        longest = max(1, int(lengths[index].max()))
        batch = {k: v[index][..., :longest] for k, v in inputs.items()}
        out = model(batch, training=False)
        outs = out if isinstance(out, dict) else {None: out}
        if results is None:
            results = _empty_results(outs, len(mask), full, per_token)
        for key, value in outs.items():
            value = np.asarray(value, np.float32)
            if per_token:
                results[key][index, :longest] = value
            else:
                results[key][index] = value
    return results if None not in results else results[None]


def _empty_results(outs, n, full, per_token):
    """Arrays for every output of `n` rows (per-token outputs `full` positions long), filled with padding."""
    results = {}
    for key, value in outs.items():
        value = np.asarray(value)
        if per_token:
            shape, fill = (n, full) + value.shape[2:], (-10000.0 if key is not None else 0.0)
        else:
            shape, fill = (n,) + value.shape[1:], 0.0
        results[key] = np.full(shape, fill, np.float32)
    return results


def _per_token(model):
    """Whether the model's outputs have a per-token axis (token classification, span QA)."""
    return getattr(model, "task_type", None) in ("token_classifier", "span_qa")


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
