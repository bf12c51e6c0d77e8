"""Which pooling a checkpoint was trained with: sentence-transformers' `1_Pooling/config.json`, else `"cls"`; and
writing that declaration beside an encoder whose head pooled otherwise (`write_pooling_config`)."""

from __future__ import annotations

import json
import logging
import os

# sentence-transformers' flag → bert_tf's SequencePooling mode.
_SENTENCE_TRANSFORMERS_MODES = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls_token",
    "pooling_mode_max_tokens": "max",
}


def default_pooling(checkpoint_path: str | None) -> str:
    """The pooling a classifier on this checkpoint should use when the user did not choose one.

    A sentence-transformers model directory carries `1_Pooling/config.json`; its encoder was trained to
    make that pooled vector meaningful (all-MiniLM-L6-v2: mean pooling, and its `[CLS]` pooler weights
    were never trained, so classifying on the pooler stays near chance). Then this returns the mode it names
    (`"mean"`, `"cls_token"` or `"max"`; `pooling_mode_mean_sqrt_len_tokens` maps to `"mean"`, the same
    direction). Otherwise (Google or Model Garden checkpoints, bert_tf pre-training outputs, no checkpoint)
    it returns `"cls"`, BERT's pooler, as the paper.

    Args:
        checkpoint_path: str or None. A checkpoint directory or file (for a file, its directory is searched).
    """
    if not checkpoint_path:
        return "cls"
    directory = checkpoint_path if os.path.isdir(checkpoint_path) else os.path.dirname(checkpoint_path)
    path = os.path.join(directory, "1_Pooling", "config.json")
    if not os.path.isfile(path):
        return "cls"
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable sentence-transformers pooling config ({e})") from None
    for key, mode in _SENTENCE_TRANSFORMERS_MODES.items():
        if values.get(key):
            logging.info("pooling %r from %s", mode, path)
            return mode
    if values.get("pooling_mode_mean_sqrt_len_tokens"):
        return "mean"
    raise ValueError(f"{path}: no pooling mode bert_tf supports is enabled ({sorted(values)})")


def write_pooling_config(directory: str, pooling: str, hidden_size: int) -> str | None:
    """Declares in `directory` the pooling a head on its encoder was trained with, as `default_pooling` reads it
    (sentence-transformers' `1_Pooling/config.json`), so that fine-tuning from the directory pools the same way.

    `"cls"` (BERT's pooler) is what a directory without the file means, so nothing is written for it (and a stale
    declaration is removed). Returns the file's path, or None.
    """
    from bert_tf.atomic_files import write_json_atomic
    modes = {mode: key for key, mode in _SENTENCE_TRANSFORMERS_MODES.items()}
    path = os.path.join(directory, "1_Pooling", "config.json")
    if pooling == "cls":
        if os.path.isfile(path):
            os.remove(path)
        return None
    if pooling not in modes:
        raise ValueError(f"unknown pooling {pooling!r}: expected cls or one of {sorted(modes)}")
    values = {"word_embedding_dimension": hidden_size,
              **{key: mode == pooling for key, mode in _SENTENCE_TRANSFORMERS_MODES.items()},
              "pooling_mode_mean_sqrt_len_tokens": False}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json_atomic(path, values)
    return path
