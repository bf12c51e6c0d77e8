"""A run directory's record: `history.json` (evaluations, the best one, the settings that made the run) and the
check that a rerun is the same run (a finished run is reused, an unfinished one resumed, only with the same
settings)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import numpy as np
import tensorflow as tf

from bert_tf.deprecation import renamed_key
from bert_tf.finetuning.options import FinetuneError

logger = logging.getLogger(__name__)

BEST_MODEL = "best_model.keras"
HISTORY = "history.json"

_FINGERPRINTS = {
    "train_data_sha256": "the training data (examples, labels, tokenization, max_seq_length or the dev split)",
    "initial_weights_sha256": "the starting weights (another --init_checkpoint, --seed or head)",
}


@dataclasses.dataclass
class RunResult:
    """One learning rate's run; `sweep` (set on the run a sweep chose) lists every rate's best step and
    metrics."""

    learning_rate: float
    run_dir: str
    best_metrics: dict
    best_step: int
    history: dict
    model: object = None
    sweep: list | None = None


def new_history(num_train_steps: int, learning_rate: float) -> dict:
    return {"train": [], "eval": [], "best": None, "done": False, "num_train_steps": num_train_steps,
            "learning_rate": learning_rate}


def read_history(path: str) -> dict:
    """A run's `history.json`. One that is unreadable (truncated by a crash, overwritten with garbage) or not a
    history is a `FinetuneError` naming the file and the problem, not a silent fresh history: it records which
    evaluation saved `best_model.keras`, and without it the next evaluation would replace that model even when
    worse. The message says how to go on."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        history = json.loads(raw.decode("utf-8"))
        problem = None
    except OSError as e:
        problem = f"cannot be read ({e.strerror or e})"
    except UnicodeDecodeError as e:
        problem = f"not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x})"
    except ValueError as e:  # json.JSONDecodeError: truncated, garbled
        problem = f"not valid JSON ({str(e)[:200]})"
    if problem is None and not _is_history(history):
        problem = "not a training history (an object with 'train' and 'eval' lists and a 'best' entry)"
    if problem is not None:
        raise FinetuneError(
            f"{path} is unreadable: {problem}. It records this run's evaluations and which one saved "
            f"{BEST_MODEL}: restore it, or delete it to resume from the newest checkpoint with a new history (the "
            "best model is then chosen among the evaluations from there on), or train in another output directory")
    return history


def _is_history(history) -> bool:
    best = history.get("best") if isinstance(history, dict) else None
    return (isinstance(history, dict) and isinstance(history.get("train"), list)
            and isinstance(history.get("eval"), list)
            and (best is None or (isinstance(best, dict) and isinstance(best.get("step"), int)
                                  and isinstance(best.get("metrics"), dict))))


def _sha256_arrays(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def run_settings(model, train_x: dict, train_y, **settings) -> dict:
    """What defines the result of a fine-tuning run, as JSON-able values: `settings` (learning rate, steps,
    batch size, seed, ...), the task model's own settings (`get_config()` without names: head, pooling,
    dropout, labels) and the encoder's architecture, the number of examples and `max_seq_length` (the length the
    training arrays are padded to; `sequence_length` in histories of older versions), and SHA-256 fingerprints
    of the training arrays and of the model's starting weights (which cover data files, tokenization, dev split,
    `--init_checkpoint` and the head's initialization)."""
    values = dict(settings)
    values["num_train_examples"] = int(len(next(iter(train_x.values()))))
    values["max_seq_length"] = int(np.shape(train_x[sorted(train_x)[0]])[-1])
    config = model.get_config() if hasattr(model, "get_config") else {}
    for key, value in sorted(config.items()):
        if key not in ("name", "trainable", "dtype", "encoder", "max_seq_length"):  # max_seq_length: above
            values[f"model.{key}"] = value
    bert_config = getattr(getattr(model, "encoder", None), "bert_config", None)
    if bert_config is not None:
        values["encoder_config"] = bert_config.to_dict()
    values["train_data_sha256"] = _sha256_arrays(
        [train_x[k] for k in sorted(train_x)] + [np.asarray(y) for y in tf.nest.flatten(train_y)])
    values["initial_weights_sha256"] = _sha256_arrays(np.asarray(w) for w in model.get_weights())
    return json.loads(json.dumps(values, default=str))  # as it reads back from history.json (tuples -> lists)


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def check_same_run(history: dict, settings: dict, run_dir: str) -> None:
    """Raises `FinetuneError` when the run recorded in `history` (its `config`) was made with other `settings`
    than `run_settings` gives now: reusing its `best_model.keras` would report an old model as the new one, and
    resuming its checkpoint would mix two configurations. A history from before bert_tf recorded the settings
    is checked on the two it has (`learning_rate`, `num_train_steps`). Settings only one side has (added in
    another bert_tf version) are not compared; `dtype_policy` is the old name of `dtype`."""
    recorded = history.get("config")
    if isinstance(recorded, dict):
        recorded = renamed_key(recorded, "dtype_policy", "dtype", f"{run_dir}/{HISTORY}")
        recorded = renamed_key(recorded, "sequence_length", "max_seq_length", f"{run_dir}/{HISTORY}")
    else:
        recorded = {k: history[k] for k in ("learning_rate", "num_train_steps") if k in history}
        logger.warning("%s: made by an older bert_tf that recorded only %s of its settings", run_dir,
                       ", ".join(recorded) or "none")
    if isinstance(recorded.get("encoder_config"), dict):  # BertConfig's `lowercase` is now `do_lower_case`
        recorded = {**recorded, "encoder_config": renamed_key(recorded["encoder_config"], "lowercase",
                                                              "do_lower_case", f"{run_dir}/{HISTORY}")}
    differences = []
    for key in sorted(set(recorded) & set(settings)):
        before, now = recorded[key], settings[key]
        if before == now:
            continue
        if key in _FINGERPRINTS:
            differences.append(_FINGERPRINTS[key])
        elif isinstance(before, dict) and isinstance(now, dict):
            differences.extend(f"{key}.{k} {_short(before.get(k))} then, {_short(now.get(k))} now"
                               for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k))
        else:
            differences.append(f"{key} {_short(before)} then, {_short(now)} now")
    if differences:
        state = "a finished" if history.get("done") else "an unfinished"
        raise FinetuneError(
            f"{run_dir} holds {state} run made with other settings: " + "; ".join(differences) + ". Reusing "
            "or resuming it would report or continue a model these settings did not make. Pass a new "
            f"--output_dir, or delete {run_dir} to train there afresh")
