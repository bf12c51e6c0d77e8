"""One fine-tuning run: `train_one` trains one learning rate with the shared `Trainer`, evaluating as it goes
and keeping the best step; `sweep` runs every learning rate and keeps the best; `run_finetuning` is what every
`finetune_<task>` does after building its data and model (sweep, score the eval file once, write
`eval_results.json` and the exports)."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import os
import shutil
import warnings
from typing import Callable, Sequence

import keras
import tensorflow as tf

from bert_tf.finetuning.history import (BEST_MODEL, HISTORY, RunResult, check_same_run, new_history, read_history,
                                        run_settings)
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingInterrupted, TrainingOptions
from bert_tf.finetuning.outputs import (CURVES_PNG, EVAL_RESULTS, export_formats, plot_curves, plot_sweep,
                                        save_keras_atomic, write_json_atomic)
from bert_tf.finetuning.selection import selection_results
from bert_tf.finetuning.setup import load_task_model

logger = logging.getLogger(__name__)


def run_finetuning(options: FinetuneOptions, setup, build_model, train_x, train_y, *, main_metric: str,
                   evaluate: Callable | None, dev_source: str | None, eval_file: str | None,
                   score_eval: Callable | None = None, results: dict | None = None):
    """Sweeps `options.learning_rates` (see `sweep`), scores the chosen model once with `score_eval(model) ->
    metrics or None` (the eval file), and writes `eval_results.json` (`selection_results`, then `results`, then
    `exports`) to `options.output_dir`. Returns `(best RunResult, eval_results)`. Each model records
    `options.max_seq_length` and `max_input_chars_per_word` (saved with `best_model.keras`; export and
    evaluation of the saved model use them by default)."""
    def build_recorded(dtype):
        model = build_model(dtype)
        model.max_seq_length = options.max_seq_length
        model.max_input_chars_per_word = options.max_input_chars_per_word
        return model

    best = sweep(build_recorded, train_x, train_y, training_options=options.training_options,
                 learning_rates=options.learning_rates, output_dir=options.output_dir, evaluate=evaluate,
                 main_metric=main_metric, num_train_epochs=options.num_train_epochs,
                 train_batch_size=options.train_batch_size, warmup_proportion=options.warmup_proportion,
                 max_train_steps=options.max_train_steps, strategy=setup.strategy, seed=options.seed,
                 evals_per_epoch=options.evals_per_epoch, run_config={"dev": dev_source})
    eval_metrics = score_eval(best.model) if score_eval is not None else None
    eval_results = selection_results(best, main_metric=main_metric, dev_source=dev_source, eval_file=eval_file,
                                     eval_metrics=eval_metrics)
    eval_results.update(results or {})
    eval_results["exports"] = export_formats(best.model, options.output_dir, options.save_formats, setup.vocab_file)
    write_json_atomic(os.path.join(options.output_dir, EVAL_RESULTS), eval_results)
    return best, eval_results


def sweep(build_model, train_x, train_y, *, learning_rates: Sequence[float], output_dir: str, **kwargs) -> RunResult:
    """`train_one` for every learning rate (each in `output_dir/lr_<rate>`); the best run on the dev metric
    is copied to `output_dir/best_model.keras`, and `output_dir/training_curves.png` shows every rate's curves
    with the chosen one starred. The chosen run's `sweep` lists every rate's best step and metrics."""
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


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The step counts of one run: total steps, warmup, and the eval, log and checkpoint intervals."""

    steps_per_epoch: int
    num_train_steps: int
    warmup: int
    eval_every: int
    log_every: int
    save_every: int

    @classmethod
    def of(cls, n, *, train_batch_size, num_train_epochs, max_train_steps, warmup_proportion, evals_per_epoch,
           log_every_steps, save_checkpoints_steps, options: TrainingOptions):
        steps_per_epoch = max(1, math.ceil(n / train_batch_size))
        num_train_steps = max(1, int(round(steps_per_epoch * num_train_epochs)))
        if max_train_steps:
            num_train_steps = min(num_train_steps, int(max_train_steps))
        eval_every = max(1, steps_per_epoch // max(1, evals_per_epoch))
        return cls(steps_per_epoch, num_train_steps, int(num_train_steps * warmup_proportion), eval_every,
                   log_every_steps or max(1, min(eval_every, 50)),
                   save_checkpoints_steps or options.save_checkpoints_steps or eval_every)


def train_one(build_model: Callable[..., keras.Model], train_x, train_y, *, evaluate: Callable | None,
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
    accumulation and the optimizer; `build_model(dtype=training_options.dtype)` builds the model in that
    precision (a `build_model` without a `dtype` parameter is deprecated).

    A finished run in `run_dir` is reused, and an unfinished one resumed, only when it was made with the same
    settings (`run_settings`: the hyperparameters, the model's settings, fingerprints of the training data and
    of the starting weights, and `run_config`, a JSON-able dict of what else defines the result, e.g. the dev
    set); otherwise `check_same_run` raises `FinetuneError` naming the settings that differ.
    """
    options = training_options or TrainingOptions()
    if train_batch_size % options.grad_accum_steps:
        raise FinetuneError(f"train_batch_size {train_batch_size} is not divisible by grad_accum_steps "
                            f"{options.grad_accum_steps}")
    os.makedirs(run_dir, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    n = len(next(iter(train_x.values())))
    schedule = Schedule.of(n, train_batch_size=train_batch_size, num_train_epochs=num_train_epochs,
                           max_train_steps=max_train_steps, warmup_proportion=warmup_proportion,
                           evals_per_epoch=evals_per_epoch, log_every_steps=log_every_steps,
                           save_checkpoints_steps=save_checkpoints_steps, options=options)
    run = _Run(run_dir, schedule, learning_rate, evaluate, main_metric, higher_is_better)
    keras.utils.set_random_seed(seed)
    model, optimizer = _build_compiled(build_model, strategy, options, learning_rate, schedule)
    settings = run_settings(model, train_x, train_y, learning_rate=learning_rate, num_train_epochs=num_train_epochs,
                            max_train_steps=max_train_steps, num_train_steps=schedule.num_train_steps,
                            train_batch_size=train_batch_size, warmup_proportion=warmup_proportion, seed=seed,
                            evals_per_epoch=evals_per_epoch, main_metric=main_metric,
                            dtype=options.dtype, grad_accum_steps=options.grad_accum_steps,
                            optimizer=options.optimizer_type, **(run_config or {}))
    finished = run.record_settings(settings)
    if finished is not None:
        return finished
    dataset = _train_dataset(train_x, train_y, train_batch_size // options.grad_accum_steps, seed, strategy)
    from bert_tf.training.trainer import Trainer
    trainer = Trainer(model, optimizer, dataset, model_dir=run_dir, num_train_steps=schedule.num_train_steps,
                      strategy=strategy, log_every_steps=schedule.log_every, grad_accum_steps=options.grad_accum_steps,
                      jit_compile=options.jit_compile, save_checkpoints_steps=schedule.save_every,
                      max_checkpoints_to_keep=2, progress=False)  # 2: a corrupt newest one falls back
    return run.train(trainer, model)


def _build_compiled(build_model, strategy, options, learning_rate, schedule):
    """`build_model(dtype=options.dtype)` and its optimizer, compiled."""
    from bert_tf.training import optimization
    with strategy.scope():
        model = _build_in(build_model, options.dtype)
        optimizer = optimization.create_optimizer(learning_rate, schedule.num_train_steps, schedule.warmup,
                                                  optimizer_type=options.optimizer_type)
        model.compile(optimizer=optimizer)  # loss and metrics: the task's defaults
    return model, optimizer


def _build_in(build_model, dtype):
    """`build_model(dtype=dtype)`. Deprecated, for one release: a `build_model` without a `dtype` parameter is
    called with the global Keras dtype policy set to `dtype` meanwhile (and put back)."""
    try:
        parameters = inspect.signature(build_model).parameters.values()
    except (TypeError, ValueError):
        parameters = ()
    if any(p.name == "dtype" or p.kind is p.VAR_KEYWORD for p in parameters):
        return build_model(dtype=dtype)
    warnings.warn("build_model() without a dtype parameter is deprecated: take dtype= and build the model in it "
                  "(e.g. BertEncoder(..., dtype=dtype))", DeprecationWarning, stacklevel=4)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        return build_model()
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train_dataset(train_x, train_y, micro_batch_size, seed, strategy):
    """Shuffled (with `seed`), repeated micro-batches, each cut to its longest row; under parameter_server a
    dataset function, so that every worker shuffles in its own order."""
    from bert_tf.training import distribute
    n = len(next(iter(train_x.values())))

    def make_dataset(shuffle_seed):
        return (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                .shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True).repeat()
                .batch(micro_batch_size, drop_remainder=n >= micro_batch_size)
                .map(_trim_batch))

    if distribute.is_parameter_server(strategy):  # every worker runs this pipeline: give each its own order
        def dataset(input_context):
            del input_context
            return make_dataset(distribute.per_worker_seed())
        return dataset
    return make_dataset(seed)


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


class _Run:
    """One learning rate's run directory: its `history.json`, the evaluations and the best step."""

    def __init__(self, run_dir, schedule, learning_rate, evaluate, main_metric, higher_is_better):
        self.run_dir, self.schedule, self.learning_rate = run_dir, schedule, learning_rate
        self.evaluate, self.main_metric, self.higher_is_better = evaluate, main_metric, higher_is_better
        self.history_path = os.path.join(run_dir, HISTORY)
        self.best_path = os.path.join(run_dir, BEST_MODEL)
        self.resuming = os.path.isfile(self.history_path)
        self.history = read_history(self.history_path) if self.resuming else new_history(
            schedule.num_train_steps, learning_rate)

    def record_settings(self, settings):
        """Checks a recorded run against `settings` and records them; a finished run's `RunResult`, else None."""
        history = self.history
        if self.resuming:
            check_same_run(history, settings, self.run_dir)
        history["config"] = settings
        if not history.get("done"):
            write_json_atomic(self.history_path, history)  # the settings are on disk before the first checkpoint
        if history.get("done") and os.path.isfile(self.best_path):
            logger.info("%s: already trained; loading %s", self.run_dir, self.best_path)
            best = history["best"]
            return RunResult(self.learning_rate, self.run_dir, best["metrics"] if best else {},
                             best["step"] if best else self.schedule.num_train_steps, history,
                             load_task_model(self.best_path))
        return None

    def train(self, trainer, model) -> RunResult:
        """Resumes `trainer`, trains in segments that end at log and eval points, evaluates at each eval point
        (the best model saved), then finishes the record."""
        trainer.restore()
        step = int(trainer.step.numpy())
        # Resumed from a checkpoint older than the last history entries (they are written at every log point,
        # checkpoints only every `save_every` steps): those steps are trained and evaluated again.
        self.history["train"] = [h for h in self.history["train"] if h["step"] <= step]
        self.history["eval"] = [h for h in self.history["eval"] if h["step"] <= step]
        total, log_every, eval_every = self.schedule.num_train_steps, self.schedule.log_every, self.schedule.eval_every
        bar = keras.utils.Progbar(total, stateful_metrics=["loss", self.main_metric])
        while step < total:
            # Stop at the next log point or eval point, whichever comes first.
            target = min(total, (step // log_every + 1) * log_every, (step // eval_every + 1) * eval_every)
            # Segments end at log and eval points; checkpoints only every `save_every` steps and at the end.
            result = trainer.train(save_at_end=target == total, until_step=target)
            step = result["step"]
            if result["interrupted"]:
                raise TrainingInterrupted(f"training stopped at step {step} of {total} by a signal; the "
                                          f"checkpoint is in {self.run_dir}: rerun the same command to resume")
            values = self._record_segment(trainer, model, step, result["metrics"])
            bar.update(step, values=values)
            write_json_atomic(self.history_path, self.history)
        return self._finish(model, step)

    def _record_segment(self, trainer, model, step, metrics):
        """The segment's training loss and, at an eval point, the evaluation (a better one saves the model)."""
        history, main_metric = self.history, self.main_metric
        loss = metrics.get("loss")
        if loss is not None:
            history["train"].append({"step": step, "loss": float(loss),
                                     "learning_rate": float(metrics.get("learning_rate", 0.0))})
        values = [("loss", float(loss))] if loss is not None else []
        if self.evaluate is not None and (step % self.schedule.eval_every == 0
                                          or step == self.schedule.num_train_steps):
            scores = {k: float(v) for k, v in self.evaluate(model).items()}
            history["eval"].append({"step": step, **scores})
            trainer.write_scalars("eval", scores, step)  # scalar events without the tensorboard package
            values.append((main_metric, scores[main_metric]))
            best = history.get("best")
            better = best is None or (scores[main_metric] > best["metrics"][main_metric] if self.higher_is_better
                                      else scores[main_metric] < best["metrics"][main_metric])
            if better:
                history["best"] = {"step": step, "metrics": scores}
                save_keras_atomic(model, self.best_path)
            else:
                history["best"] = best
        return values

    def _finish(self, model, step) -> RunResult:
        best = self.history.get("best")
        # No evaluation, or none recorded (history.json deleted after the last one): the final model is kept.
        if self.evaluate is None or best is None or not os.path.isfile(self.best_path):
            save_keras_atomic(model, self.best_path)
            best = best or {"step": step, "metrics": {}}
        self.history["best"] = best
        self.history["done"] = True
        write_json_atomic(self.history_path, self.history)
        plot_curves(self.history, os.path.join(self.run_dir, CURVES_PNG), self.main_metric)
        best_model = load_task_model(self.best_path) if best["step"] != step else model
        return RunResult(self.learning_rate, self.run_dir, best["metrics"], best["step"], self.history, best_model)
