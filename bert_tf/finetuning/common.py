"""What every fine-tuning job shares: building the encoder and tokenizer, the training loop (the shared
`Trainer`, evaluated after every epoch, the best epoch kept), the learning-rate sweep, curves, exports."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from bert_tf.config import BertConfig

logger = logging.getLogger(__name__)

SAVE_FORMATS = ("keras", "hf", "google")
BEST_MODEL = "best_model.keras"
EVAL_RESULTS = "eval_results.json"
CURVES_PNG = "training_curves.png"


class FinetuneError(ValueError):
    """Arguments that cannot describe a fine-tuning run (the message says which and why)."""


def get_strategy(name: str, training_options: "TrainingOptions | None" = None):
    """`distribute.get_strategy(name, tpu_address=training_options.tpu_address)` with its errors (unknown
    name, missing TF_CONFIG, no TPU) as `FinetuneError`, which the scripts print without a traceback."""
    from bert_tf.training import distribute
    try:
        return distribute.get_strategy(name, tpu_address=(training_options or TrainingOptions()).tpu_address)
    except ValueError as e:
        raise FinetuneError(f"distribution strategy {name!r}: {e}") from None


class TrainingInterrupted(FinetuneError):
    """SIGINT/SIGTERM stopped training after a checkpoint was written; rerunning the command resumes."""


# === Model and tokenizer ===
def parse_learning_rates(value) -> list[float]:
    """`5e-5` or `"5e-5,3e-5"` or `[5e-5, 3e-5]` → list of floats (the paper's sweep)."""
    if isinstance(value, (int, float)):
        values = [float(value)]
    elif isinstance(value, str):
        try:
            values = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise FinetuneError(f"learning_rate {value!r} is not a number or a comma-separated list") from None
    else:
        values = [float(v) for v in value]
    if not values or any(not v > 0 for v in values):
        raise FinetuneError(f"learning rates must be positive, got {value!r}")
    return values


def check_init_checkpoint(init_checkpoint: str) -> None:
    """`FinetuneError` naming `--init_checkpoint` when nothing loadable is at that path (a typo would otherwise
    surface as a missing vocabulary or a deep loader error)."""
    from bert_tf.checkpoints import CheckpointError, detect_format
    path = os.fspath(init_checkpoint)
    if not os.path.exists(path) and not glob.glob(glob.escape(path) + ".*"):
        raise FinetuneError(f"--init_checkpoint: no checkpoint at {path} (no such file, directory or checkpoint "
                            "prefix)")
    try:
        detect_format(path)
    except CheckpointError as e:
        raise FinetuneError(f"--init_checkpoint: {e}") from None


def resolve_vocab(vocab_file: str | None, init_checkpoint: str | None) -> str:
    if init_checkpoint:
        check_init_checkpoint(init_checkpoint)
    if vocab_file:
        if not os.path.isfile(vocab_file):
            raise FinetuneError(f"vocab_file not found: {vocab_file}")
        return vocab_file
    if init_checkpoint:
        from bert_tf.checkpoints import find_vocab
        try:
            return find_vocab(init_checkpoint)
        except Exception as e:  # CheckpointError
            raise FinetuneError(f"--vocab_file is required: {e}") from None
    raise FinetuneError("--vocab_file is required when there is no --init_checkpoint with a vocab.txt beside it")


def load_task_model(path: str):
    """A fine-tuned bert_tf task saved as `.keras` (e.g. a previous run's `best_model.keras`), else None."""
    if not (path and path.endswith(".keras") and os.path.isfile(path)):
        return None
    from bert_tf.checkpoints import CheckpointError, load_task
    from bert_tf.tasks.task import Task
    try:
        model = load_task(path)
    except CheckpointError as e:
        raise FinetuneError(str(e)) from None
    return model if isinstance(model, Task) else None


def build_encoder(*, init_checkpoint: str | None = None, bert_config_file: str | None = None,
                  preset: str | None = None, vocab_size: int | None = None, do_lower_case: bool | None = None,
                  seed: int = 0):
    """The encoder to fine-tune: pre-trained weights from `init_checkpoint` (any format `load_encoder` reads),
    or a random initialization with `bert_config_file` or `preset` (the baseline without pre-training)."""
    from bert_tf.encoder import BertEncoder
    if init_checkpoint:
        from bert_tf.checkpoints import load_encoder
        config = BertConfig.from_json(bert_config_file, lowercase=do_lower_case) if bert_config_file else None
        return load_encoder(init_checkpoint, config, lowercase=do_lower_case)
    if bert_config_file:
        config = BertConfig.from_json(bert_config_file, lowercase=do_lower_case)
    elif preset:
        if vocab_size is None:
            raise FinetuneError("a preset needs the vocabulary size (from --vocab_file)")
        config = BertConfig.preset(preset, vocab_size=vocab_size)
        if do_lower_case is not None:
            config = config.replace(lowercase=bool(do_lower_case))
    else:
        raise FinetuneError("pass --init_checkpoint (pre-trained weights), or --bert_config_file or --preset "
                            "to train from random initialization")
    if vocab_size is not None and config.vocab_size != vocab_size:
        raise FinetuneError(f"the config's vocab_size {config.vocab_size} differs from the vocabulary file's "
                            f"{vocab_size} entries")
    logger.info("no --init_checkpoint: training from random initialization (%s)", bert_config_file or preset)
    keras.utils.set_random_seed(seed)  # the same seed, the same initial weights
    return BertEncoder.from_bert_config(config)


def make_tokenizer(vocab_file: str, do_lower_case: bool, max_input_chars_per_word: int = 200):
    """`BertTokenizer`; words over `max_input_chars_per_word` characters become [UNK] (200: google-research/bert;
    Hugging Face's tokenizer uses 100)."""
    from bert_tf.tokenization import BertTokenizer
    return BertTokenizer(vocab_file, lowercase=bool(do_lower_case), max_input_chars_per_word=max_input_chars_per_word)


# === Model selection ===
DEFAULT_DEV_FRACTION = 0.1
DEV_SPLIT_SEED = 0  # the carved dev set does not change with the training seed: runs of several seeds compare


def select_dev(train_items: list, dev_items: list | None = None, *, dev_file: str | None = None,
               dev_fraction: float | None = None, num_learning_rates: int = 1, what: str = "examples"):
    """Where the epoch and learning rate are chosen: `(train_items, dev_items or None, description)`.

    `dev_items` (read from `dev_file`) wins; else `dev_fraction` of the training items, drawn with the fixed
    seed `DEV_SPLIT_SEED`, becomes the dev set and leaves the training set. A sweep over several learning rates
    without either carves `DEFAULT_DEV_FRACTION` (the eval file is never used to choose). With one learning rate
    and no dev set, nothing is chosen: the final model is kept (google-research/bert's behaviour).
    """
    if dev_items is not None:
        if dev_fraction:
            raise FinetuneError("give a dev file or a dev fraction, not both")
        if not dev_items:
            raise FinetuneError(f"dev file {dev_file} has no {what}")
        return train_items, dev_items, f"dev_file {dev_file} ({len(dev_items)} {what})"
    if dev_fraction is None and num_learning_rates > 1:
        dev_fraction = DEFAULT_DEV_FRACTION
        logger.warning("%d learning rates and no dev set: choosing on %g of the training %s (seed %d); the eval "
                       "file is scored once, with the chosen model", num_learning_rates, dev_fraction, what,
                       DEV_SPLIT_SEED)
    if not dev_fraction:
        return train_items, None, None
    if not 0 < dev_fraction < 1:
        raise FinetuneError(f"dev_fraction must be between 0 and 1, got {dev_fraction!r}")
    n_dev = max(1, int(round(len(train_items) * dev_fraction)))
    if n_dev >= len(train_items):
        raise FinetuneError(f"dev_fraction {dev_fraction:g} of {len(train_items)} training {what} leaves none to "
                            "train on")
    dev_index = set(np.random.default_rng(DEV_SPLIT_SEED).permutation(len(train_items))[:n_dev].tolist())
    train = [x for i, x in enumerate(train_items) if i not in dev_index]
    dev = [x for i, x in enumerate(train_items) if i in dev_index]
    return train, dev, (f"{dev_fraction:g} of the training data ({len(dev)} of {len(train_items)} {what}, "
                        f"split seed {DEV_SPLIT_SEED})")


def selection_results(best: "RunResult", *, main_metric: str, dev_source: str | None, eval_file: str | None,
                      eval_metrics: dict | None) -> dict:
    """The part of `eval_results.json` that says which set each number comes from: the top-level metrics are the
    eval file's, computed once with the chosen model; `dev` holds the chosen model's dev metrics."""
    results = dict(eval_metrics or {})
    results.update({
        "eval_file": eval_file, "scored_on": "eval_file" if eval_metrics else None,
        "dev": best.best_metrics if dev_source else None, "dev_source": dev_source,
        "selection": (f"best dev {main_metric} over epochs and learning rates" if dev_source
                      else "final step (no dev set: nothing chosen)"),
        "learning_rate": best.learning_rate, "best_step": best.best_step, "sweep": best.sweep})
    return results


# === Training ===
@dataclasses.dataclass
class RunResult:
    """One learning rate's run."""

    learning_rate: float
    run_dir: str
    best_metrics: dict
    best_step: int
    history: dict
    model: object = None


def _save_keras_atomic(model, path):
    """Saves `model` as a `.keras` file without its optimizer: the optimizer's state (AdamW: two slots per weight)
    and compile settings belong in the training checkpoints, which resume training; `best_model.keras` is the
    model to use, export or fine-tune further (MiniLM: 91 MB instead of 273 MB). Keras 3 ignores
    `include_optimizer` for `.keras` files, so the optimizer is detached for the save and put back."""
    tmp = f"{path[:-len('.keras')]}.tmp-{os.getpid()}.keras"
    optimizer, compiled = getattr(model, "optimizer", None), getattr(model, "compiled", False)
    try:
        model.optimizer = None  # saving_lib walks the model's attributes: no optimizer variables are written
        model.compiled = False  # get_compile_config() -> {}: load_model(compile=True) builds no empty optimizer
        model.save(tmp)
    finally:
        model.optimizer, model.compiled = optimizer, compiled
    os.replace(tmp, path)


def write_json_atomic(path, values):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, ensure_ascii=False, default=float)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())  # else a crash soon after the rename can leave an empty or truncated file
    os.replace(tmp, path)


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
    if problem is None:
        best = history.get("best") if isinstance(history, dict) else None
        if not (isinstance(history, dict) and isinstance(history.get("train"), list)
                and isinstance(history.get("eval"), list)
                and (best is None or (isinstance(best, dict) and isinstance(best.get("step"), int)
                                      and isinstance(best.get("metrics"), dict)))):
            problem = "not a training history (an object with 'train' and 'eval' lists and a 'best' entry)"
    if problem is not None:
        raise FinetuneError(
            f"{path} is unreadable: {problem}. It records this run's evaluations and which one saved "
            f"{BEST_MODEL}: restore it, or delete it to resume from the newest checkpoint with a new history (the "
            "best model is then chosen among the evaluations from there on), or train in another output directory")
    return history


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Options every fine-tuning run takes: speed (the same ones as `scripts/run_pretraining.py`) and the
    checkpoint interval.

    Args:
        dtype_policy: str. `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"` (with dynamic loss scaling).
        jit_compile: bool. XLA-compile the forward/backward pass.
        grad_accum_steps: int. Micro-batches per optimizer step; `train_batch_size` stays the batch of one
            optimizer step, so the update equals the one of the full batch.
        optimizer_type: str. `"adamw"` (google-research/bert) or `"lamb"`.
        save_checkpoints_steps: int or None. Checkpoint interval in optimizer steps (a rerun resumes from the
            newest checkpoint). Defaults to None: at every evaluation (once per epoch unless `evals_per_epoch`).
        tpu_address: str or None. The TPU for the `tpu` distribution strategy (name or `grpc://` address;
            None or `"local"` on a TPU VM).
    """

    dtype_policy: str = "float32"
    jit_compile: bool = False
    grad_accum_steps: int = 1
    optimizer_type: str = "adamw"
    save_checkpoints_steps: int | None = None
    tpu_address: str | None = None

    def __post_init__(self):
        if self.dtype_policy not in ("float32", "mixed_bfloat16", "mixed_float16"):
            raise FinetuneError(f"dtype_policy must be float32, mixed_bfloat16 or mixed_float16, "
                                f"got {self.dtype_policy!r}")
        if self.grad_accum_steps < 1:
            raise FinetuneError(f"grad_accum_steps must be >= 1, got {self.grad_accum_steps}")
        if self.optimizer_type not in ("adamw", "lamb"):
            raise FinetuneError(f"optimizer must be adamw or lamb, got {self.optimizer_type!r}")
        if self.save_checkpoints_steps is not None and self.save_checkpoints_steps < 1:
            raise FinetuneError(f"save_checkpoints_steps must be >= 1, got {self.save_checkpoints_steps}")


# === Run settings: a finished run is reused, an unfinished one resumed, only with the same ones ===
_FINGERPRINTS = {
    "train_data_sha256": "the training data (examples, labels, tokenization, max_seq_length or the dev split)",
    "initial_weights_sha256": "the starting weights (another --init_checkpoint, --seed or head)",
}


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
    dropout, labels) and the encoder's architecture, the number of examples and the sequence length, and
    SHA-256 fingerprints of the training arrays and of the model's starting weights (which cover data files,
    tokenization, dev split, `--init_checkpoint` and the head's initialization)."""
    values = dict(settings)
    values["num_train_examples"] = int(len(next(iter(train_x.values()))))
    values["sequence_length"] = int(np.shape(train_x[sorted(train_x)[0]])[-1])
    config = model.get_config() if hasattr(model, "get_config") else {}
    for key, value in sorted(config.items()):
        if key not in ("name", "trainable", "dtype", "encoder"):
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
    another bert_tf version) are not compared."""
    recorded = history.get("config")
    if not isinstance(recorded, dict):
        recorded = {k: history[k] for k in ("learning_rate", "num_train_steps") if k in history}
        logger.warning("%s: made by an older bert_tf that recorded only %s of its settings", run_dir,
                       ", ".join(recorded) or "none")
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


def copy_encoder(encoder_config: dict, encoder_weights):
    """A fresh encoder from a config and weights, in the current dtype policy (not the one it was saved in)."""
    from bert_tf.encoder import BertEncoder
    encoder = BertEncoder.from_config({**encoder_config, "dtype": None})
    encoder.set_weights(encoder_weights)
    return encoder


def train_one(build_model: Callable[[], keras.Model], train_x, train_y, *, evaluate: Callable | None,
              main_metric: str, higher_is_better: bool = True, run_dir: str, learning_rate: float,
              num_train_epochs: float, train_batch_size: int, warmup_proportion: float = 0.1,
              max_train_steps: int | None = None, strategy=None, seed: int = 0, evals_per_epoch: int = 1,
              log_every_steps: int | None = None, save_checkpoints_steps: int | None = None,
              training_options: TrainingOptions | None = None, run_config: dict | None = None) -> RunResult:
    """Trains one model with `Trainer` + BERT's AdamW (warmup, linear decay) and evaluates it as it goes.

    `evaluate(model) -> dict` runs after every `1/evals_per_epoch` epoch (and at the end); the model with the
    best `main_metric` is saved to `run_dir/best_model.keras` (without `evaluate`, the final model is).
    Checkpoints, TensorBoard summaries (`summaries/train`, `summaries/eval`) and `history.json` go to `run_dir`;
    rerunning the same command resumes an interrupted run. `training_options` sets precision, XLA, gradient
    accumulation and the optimizer.

    A finished run in `run_dir` is reused, and an unfinished one resumed, only when it was made with the same
    settings (`run_settings`: the hyperparameters, the model's settings, fingerprints of the training data and
    of the starting weights, and `run_config`, a JSON-able dict of what else defines the result, e.g. the dev
    set); otherwise `check_same_run` raises `FinetuneError` naming the settings that differ.
    """
    from bert_tf.training import distribute, optimization
    options = training_options or TrainingOptions()
    if train_batch_size % options.grad_accum_steps:
        raise FinetuneError(f"train_batch_size {train_batch_size} is not divisible by grad_accum_steps "
                            f"{options.grad_accum_steps}")
    micro_batch_size = train_batch_size // options.grad_accum_steps
    from bert_tf.training.trainer import Trainer

    os.makedirs(run_dir, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    n = len(next(iter(train_x.values())))
    steps_per_epoch = max(1, math.ceil(n / train_batch_size))
    num_train_steps = max(1, int(round(steps_per_epoch * num_train_epochs)))
    if max_train_steps:
        num_train_steps = min(num_train_steps, int(max_train_steps))
    warmup = int(num_train_steps * warmup_proportion)
    eval_every = max(1, steps_per_epoch // max(1, evals_per_epoch))
    log_every = log_every_steps or max(1, min(eval_every, 50))
    save_every = save_checkpoints_steps or options.save_checkpoints_steps or eval_every
    history_path = os.path.join(run_dir, "history.json")
    history = {"train": [], "eval": [], "best": None, "done": False, "num_train_steps": num_train_steps,
               "learning_rate": learning_rate}
    if os.path.isfile(history_path):
        history = read_history(history_path)
    best_path = os.path.join(run_dir, BEST_MODEL)
    keras.utils.set_random_seed(seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(options.dtype_policy)  # the layers build_model makes take this policy
    try:
        with strategy.scope():
            model = build_model()
            optimizer = optimization.create_optimizer(learning_rate, num_train_steps, warmup,
                                                      optimizer_type=options.optimizer_type)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    with strategy.scope():
        model.compile(optimizer=optimizer)  # loss and metrics: the task's defaults
    settings = run_settings(model, train_x, train_y, learning_rate=learning_rate, num_train_epochs=num_train_epochs,
                            max_train_steps=max_train_steps, num_train_steps=num_train_steps,
                            train_batch_size=train_batch_size, warmup_proportion=warmup_proportion, seed=seed,
                            evals_per_epoch=evals_per_epoch, main_metric=main_metric,
                            dtype_policy=options.dtype_policy, grad_accum_steps=options.grad_accum_steps,
                            optimizer=options.optimizer_type, **(run_config or {}))
    if os.path.isfile(history_path):
        check_same_run(history, settings, run_dir)
    history["config"] = settings
    if not history.get("done"):
        write_json_atomic(history_path, history)  # the settings are on disk before the first checkpoint
    if history.get("done") and os.path.isfile(best_path):
        logger.info("%s: already trained; loading %s", run_dir, best_path)
        best = load_task_model(best_path)
        return RunResult(learning_rate, run_dir, history["best"]["metrics"] if history["best"] else {},
                         history["best"]["step"] if history["best"] else num_train_steps, history, best)

    def make_dataset(shuffle_seed):
        return (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                .shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True).repeat()
                .batch(micro_batch_size, drop_remainder=n >= micro_batch_size)
                .map(_trim_batch))

    if distribute.is_parameter_server(strategy):  # every worker runs this pipeline: give each its own order
        def dataset(input_context):
            del input_context
            return make_dataset(distribute.per_worker_seed())
    else:
        dataset = make_dataset(seed)
    trainer = Trainer(model, optimizer, dataset, model_dir=run_dir, num_train_steps=num_train_steps,
                      strategy=strategy, log_every_steps=log_every, grad_accum_steps=options.grad_accum_steps,
                      jit_compile=options.jit_compile,
                      save_checkpoints_steps=save_every, max_checkpoints_to_keep=2,
                      progress=False)  # 2: a corrupt newest one falls back
    trainer.restore()
    step = int(trainer.step.numpy())
    # Resumed from a checkpoint older than the last history entries (they are written at every log point,
    # checkpoints only every `save_every` steps): those steps are trained and evaluated again.
    history["train"] = [h for h in history["train"] if h["step"] <= step]
    history["eval"] = [h for h in history["eval"] if h["step"] <= step]
    bar = keras.utils.Progbar(num_train_steps, stateful_metrics=["loss", main_metric])
    best = history.get("best")
    interrupted = False
    while step < num_train_steps:
        # Stop at the next log point or eval point, whichever comes first.
        target = min(num_train_steps, (step // log_every + 1) * log_every, (step // eval_every + 1) * eval_every)
        # Segments end at log and eval points; checkpoints only every `save_every` steps and at the end.
        result = trainer.train(save_at_end=target == num_train_steps, until_step=target)
        step = result["step"]
        if result["interrupted"]:
            interrupted = True
            break
        loss = result["metrics"].get("loss")
        if loss is not None:
            history["train"].append({"step": step, "loss": float(loss),
                                     "learning_rate": float(result["metrics"].get("learning_rate", 0.0))})
        values = [("loss", float(loss))] if loss is not None else []
        if evaluate is not None and (step % eval_every == 0 or step == num_train_steps):
            metrics = {k: float(v) for k, v in evaluate(model).items()}
            history["eval"].append({"step": step, **metrics})
            trainer.write_scalars("eval", metrics, step)  # scalar events without the tensorboard package
            values.append((main_metric, metrics[main_metric]))
            better = best is None or (metrics[main_metric] > best["metrics"][main_metric] if higher_is_better
                                      else metrics[main_metric] < best["metrics"][main_metric])
            if better:
                best = {"step": step, "metrics": metrics}
                _save_keras_atomic(model, best_path)
            history["best"] = best
        bar.update(step, values=values)
        write_json_atomic(history_path, history)
    if interrupted:
        raise TrainingInterrupted(f"training stopped at step {step} of {num_train_steps} by a signal; the "
                                  f"checkpoint is in {run_dir}: rerun the same command to resume")
    if evaluate is None or best is None or not os.path.isfile(best_path):  # best None: history.json deleted
        _save_keras_atomic(model, best_path)                                # after the last evaluation
        best = best or {"step": step, "metrics": {}}
    history["best"] = best
    history["done"] = True
    write_json_atomic(history_path, history)
    plot_curves(history, os.path.join(run_dir, CURVES_PNG), main_metric)
    best_model = load_task_model(best_path) if best["step"] != step else model
    return RunResult(learning_rate, run_dir, best["metrics"], best["step"], history, best_model)


@tf.autograph.experimental.do_not_convert
def _trim_batch(x, y):
    """Cuts a batch's trailing all-padding positions (the model sees `(B, longest in batch)`): short texts padded
    to `max_seq_length` cost up to 4x the compute otherwise. The trainer's step is a `tf.function` over the
    iterator, so the variable length does not retrace it. Targets with the same last axis (token labels) are
    cut alike."""
    mask = x["padding_mask"]
    full = tf.shape(mask)[-1]
    longest = tf.reduce_max(tf.reduce_sum(tf.reshape(mask, (-1, full)), axis=-1))
    longest = tf.maximum(longest, 1)

    def cut(t):
        if t.shape.rank is not None and t.shape.rank >= 2 and t.shape[-1] == mask.shape[-1]:
            return t[..., :longest]
        return t

    return tf.nest.map_structure(cut, x), tf.nest.map_structure(cut, y)


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
            results = {}
            for key, value in outs.items():
                value = np.asarray(value)
                if per_token:
                    shape, fill = (len(mask), full) + value.shape[2:], (-10000.0 if key is not None else 0.0)
                else:
                    shape, fill = (len(mask),) + value.shape[1:], 0.0
                results[key] = np.full(shape, fill, np.float32)
        for key, value in outs.items():
            value = np.asarray(value, np.float32)
            if per_token:
                results[key][index, :longest] = value
            else:
                results[key][index] = value
    return results if None not in results else results[None]


def _per_token(model):
    """Whether the model's outputs have a per-token axis (token classification, span QA)."""
    return type(model).__name__ in ("BertTokenClassifier", "BertSpanQA")


def sweep(build_model, train_x, train_y, *, learning_rates: Sequence[float], output_dir: str, **kwargs) -> RunResult:
    """`train_one` for every learning rate (each in `output_dir/lr_<rate>`); the best run on the dev metric
    is copied to `output_dir/best_model.keras`, and `output_dir/training_curves.png` shows every rate's curves
    with the chosen one starred."""
    runs = []
    for lr in learning_rates:
        run_dir = os.path.join(output_dir, f"lr_{lr:g}") if len(learning_rates) > 1 else output_dir
        logger.info("fine-tuning with learning rate %g in %s", lr, run_dir)
        runs.append(train_one(build_model, train_x, train_y, run_dir=run_dir, learning_rate=lr, **kwargs))
    main_metric = kwargs["main_metric"]
    higher = kwargs.get("higher_is_better", True)
    scored = [r for r in runs if main_metric in r.best_metrics]
    if scored:
        best = (max if higher else min)(scored, key=lambda r: r.best_metrics[main_metric])
    else:
        best = runs[-1]
    if best.run_dir != output_dir:
        shutil.copyfile(os.path.join(best.run_dir, BEST_MODEL), os.path.join(output_dir, BEST_MODEL))
        plot_sweep(runs, best, os.path.join(output_dir, CURVES_PNG), main_metric)
    best.sweep = [{"learning_rate": r.learning_rate, "best_step": r.best_step, **r.best_metrics} for r in runs]
    return best


def curves_figure(runs: Sequence[tuple[float, dict]], main_metric: str, chosen: tuple[float, int] | None = None):
    """A matplotlib figure of training curves: `runs` is `[(learning_rate, history), ...]` (one run, or a
    learning-rate sweep), `chosen` the `(learning_rate, step)` that was kept (marked with a star).

    Left panel, "loss": the training loss (solid) and the dev-set loss (dashed, where the evaluation gives one);
    right panel: the dev-set `main_metric`. One colour per learning rate; the legends sit below the panels, off
    the curves. Without dev evaluations there is only the loss panel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_eval = any(history["eval"] for _, history in runs)
    fig, axes = plt.subplots(1, 2 if has_eval else 1, figsize=(11 if has_eval else 6.5, 4.2), squeeze=False)
    ax_loss, ax_metric = axes[0][0], (axes[0][1] if has_eval else None)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (learning_rate, history) in enumerate(runs):
        color = colors[i % len(colors)]
        name = f"lr {learning_rate:g}" if len(runs) > 1 else ""
        label = lambda what: f"{what}, {name}" if name else what  # noqa: E731
        train, evals = history["train"], history["eval"]
        if train:
            ax_loss.plot([h["step"] for h in train], [h["loss"] for h in train], "-", color=color,
                         label=label("train loss"))
        if evals and "loss" in evals[0]:
            ax_loss.plot([h["step"] for h in evals], [h["loss"] for h in evals], "s--", color=color,
                         label=label("dev loss"))
        if evals and ax_metric is not None:
            ax_metric.plot([h["step"] for h in evals], [h[main_metric] for h in evals], "o-", color=color,
                           label=label(f"dev {main_metric}"))
            if chosen is not None and chosen[0] == learning_rate:
                at = [h for h in evals if h["step"] == chosen[1]]
                if at:
                    ax_metric.plot([chosen[1]], [at[0][main_metric]], "*", color=color, markersize=16,
                                   markeredgecolor="black", label=f"chosen: {label(f'step {chosen[1]}')}")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    if ax_metric is not None:
        ax_metric.set_xlabel("step")
        ax_metric.set_ylabel(f"dev {main_metric}")
        ax_metric.set_title(f"dev {main_metric}")
    for ax in (ax_loss, ax_metric):
        if ax is not None and ax.get_lines():
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small", frameon=False)
    if len(runs) > 1:
        fig.suptitle("learning-rate sweep" + (f": lr {chosen[0]:g} chosen" if chosen else ""))
    else:
        fig.suptitle(f"learning rate {runs[0][0]:g}" if runs else "")
    return fig


def _save_figure(fig, path):
    import matplotlib.pyplot as plt
    tmp = f"{path[:-4]}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=100, bbox_inches="tight")  # "tight": the legends below the panels are kept
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_curves(history: dict, path: str, main_metric: str) -> str | None:
    """One run's training loss, dev loss and dev metric against the step, as a PNG (see `curves_figure`)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # matplotlib is an install requirement; be forgiving anyway
        logger.warning("matplotlib is not installed: no %s", path)
        return None
    best = history.get("best")
    chosen = (history.get("learning_rate"), best["step"]) if best and history["eval"] else None
    return _save_figure(curves_figure([(history.get("learning_rate", float("nan")), history)], main_metric,
                                      chosen), path)


def plot_sweep(runs: Sequence["RunResult"], best: "RunResult", path: str, main_metric: str) -> str | None:
    """Every learning rate's curves in one PNG, the chosen run and step starred (see `curves_figure`)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logger.warning("matplotlib is not installed: no %s", path)
        return None
    return _save_figure(curves_figure([(r.learning_rate, r.history) for r in runs], main_metric,
                                      (best.learning_rate, best.best_step)), path)


def copy_vocab(vocab_file: str, output_dir: str) -> str:
    """The vocabulary the model was trained with, as `output_dir/vocab.txt` beside `best_model.keras` (written
    atomically), so the output directory is self-contained: `scripts/export_model.py` finds it there."""
    target = os.path.join(output_dir, "vocab.txt")
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        tmp = f"{target}.tmp-{os.getpid()}"
        shutil.copyfile(vocab_file, tmp)
        os.replace(tmp, target)
    return target


def export_formats(model, output_dir: str, save_formats: Sequence[str], vocab_file: str) -> dict:
    """Besides `best_model.keras` (the whole task model) and its `vocab.txt`, writes the fine-tuned *encoder* as
    a Hugging Face directory (`hf`) and/or a google-research/bert TF1 checkpoint (`google`). Returns
    {format: path}."""
    unknown = [f for f in save_formats if f not in SAVE_FORMATS]
    if unknown:
        raise FinetuneError(f"unknown save format(s) {unknown}; choose from {SAVE_FORMATS}")
    paths = {"keras": os.path.join(output_dir, BEST_MODEL), "vocab": copy_vocab(vocab_file, output_dir)}
    if "hf" in save_formats:
        from bert_tf.checkpoints import save_hf
        paths["hf"] = save_hf(model.encoder, os.path.join(output_dir, "best_hf"), vocab_file=vocab_file)
    if "google" in save_formats:
        from bert_tf.checkpoints import save_google_tf1
        paths["google"] = save_google_tf1(model.encoder, os.path.join(output_dir, "best_google"), vocab_file=vocab_file)
    return paths


def default_output_dir(output_dir: str | None, prefix: str) -> str:
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        return output_dir
    return tempfile.mkdtemp(prefix=f"bert_tf_{prefix}_")


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
