"""`pretraining.json`: what pre-training a checkpoint directory's weights saw, beside the weights.

BERT learns one position embedding per position it is shown. Weights pre-trained only on sequences of 64
pieces have random position embeddings 64 and up (google-research/bert trains 90% of its steps at 128 and then
a short leg at 512 for exactly this reason), yet nothing in `config.json` says so: `max_position_embeddings`
counts the rows that exist, not the ones trained. `scripts/run_pretraining.py` writes

    {"max_seq_length": 64, "objective": "electra"}

next to the model it saves (`max_seq_length`: the longest sequences any pre-training run of these weights used,
this run's or, when it continued from `init_checkpoint`, that checkpoint's record, whichever is longer), and
fine-tuning longer than that logs a warning. Directories without the file (Hugging Face downloads, Google's
checkpoints) say nothing.
"""

from __future__ import annotations

import json
import os

RECORD_FILE = "pretraining.json"


def _directory(path: str) -> str:
    path = os.fspath(path)
    return path if os.path.isdir(path) else os.path.dirname(path)


def read_pretraining_record(path: str) -> dict:
    """The record of the checkpoint at `path` (a directory, or a file or TF checkpoint prefix inside one), `{}`
    when there is none or it is unreadable (it only informs: it must never stop a load)."""
    try:
        with open(os.path.join(_directory(path), RECORD_FILE), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def pretrained_max_seq_length(path: str) -> int | None:
    """`max_seq_length` of the record at `path`, or None."""
    value = read_pretraining_record(path).get("max_seq_length")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def write_pretraining_record(directory: str, *, max_seq_length: int, objective: str,
                             init_checkpoint: str | None = None) -> dict:
    """Writes `directory/pretraining.json` atomically: this run's `max_seq_length` and `objective`, the sequence
    length the longer of this run's and `init_checkpoint`'s record. Returns what it wrote."""
    from bert_tf.atomic_files import write_json_atomic
    inherited = pretrained_max_seq_length(init_checkpoint) if init_checkpoint else None
    record = {"max_seq_length": max(max_seq_length, inherited or 0), "objective": objective}
    write_json_atomic(os.path.join(directory, RECORD_FILE), record, sort_keys=True)
    return record


def untrained_positions_warning(path: str, max_seq_length: int) -> str | None:
    """The warning for fine-tuning the weights at `path` on sequences of `max_seq_length`, or None when their
    record covers it (or there is no record)."""
    trained = pretrained_max_seq_length(path)
    if trained is None or max_seq_length <= trained:
        return None
    return (f"max_seq_length {max_seq_length} is longer than the {trained} pieces {path} was pre-trained on "
            f"({RECORD_FILE}): its position embeddings {trained}-{max_seq_length - 1} never saw pre-training, so "
            f"inputs longer than {trained} pieces rely on what this fine-tuning alone teaches them")
