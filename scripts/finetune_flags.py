"""Flags shared by scripts/run_classifier.py, run_ner.py, run_squad.py and run_multiple_choice.py
(google-research/bert's names where that job exists there), and `run_task`, the `main()` body they share: each
script passes a `Task` with what it adds (its `finetune_<task>` call, report, eval and predict)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from absl import flags

import cli
from bert_tf.config import DTYPES  # TensorFlow-free: --help stays fast


def define_common_flags():
    flags.DEFINE_string("train_file", None, "Training data.")
    flags.DEFINE_string("eval_file", None, "Evaluation (test) data, scored once with the chosen model; never used to "
                        "choose the epoch or learning rate.")
    flags.DEFINE_string("dev_file", None, "Dev data (same format as --train_file), evaluated after every epoch: the "
                        "epoch and learning rate with the best dev metric are kept.")
    flags.DEFINE_float("dev_fraction", None, "Instead of --dev_file, carve this fraction of --train_file (fixed split "
                       "seed) as the dev set. A learning-rate sweep without either carves 0.1; one rate without "
                       "either keeps the final model.")
    flags.DEFINE_enum("head_initializer", "glorot_uniform", ["glorot_uniform", "truncated_normal"],
                      "Kernel initializer of the task head: glorot_uniform (Keras'/keras-hub's default; bert_tf's "
                      "recipe) or truncated_normal (stddev initializer_range=0.02: google-research/bert's recipe).")
    flags.DEFINE_string("predict_file", None, "Data to predict (--do_predict).")
    flags.DEFINE_string("init_checkpoint", None,
                        "Pre-trained weights in any format bert_tf loads (Hugging Face/bert_tf directory, Google TF1 "
                        "or Model Garden checkpoint, a bert_tf pre-training output, or a fine-tuned .keras task model). "
                        "Without it the model starts from random initialization (--bert_config_file or --preset).")
    flags.DEFINE_string("vocab_file", None, "vocab.txt; defaults to the one beside --init_checkpoint.")
    flags.DEFINE_string("bert_config_file", None, "bert_config.json / config.json (architecture).")
    flags.DEFINE_string("preset", None, "Architecture preset for random initialization (tiny, mini, small, medium, "
                        "base, large, test).")
    flags.DEFINE_bool("do_lower_case", None, "Uncased vocabulary; defaults to the checkpoint's config.")
    flags.DEFINE_integer("max_input_chars_per_word", 200, "Words longer than this many characters become [UNK]: 200 "
                         "is google-research/bert's limit, 100 Hugging Face's (for its ids on such words).")
    flags.DEFINE_integer("max_seq_length", 128, "Packed sequence length.")
    flags.DEFINE_integer("train_batch_size", 32, "Training batch size.")
    flags.DEFINE_integer("eval_batch_size", 64, "Evaluation/prediction batch size.")
    flags.DEFINE_string("learning_rate", "5e-5", "Peak learning rate, or a comma-separated list (the paper's sweep, "
                        "e.g. 5e-5,4e-5,3e-5,2e-5): one run per rate, the best on the dev set is kept.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
    flags.DEFINE_integer("max_train_steps", None, "Cap on optimizer steps (quick runs).")
    flags.DEFINE_float("warmup_proportion", 0.1, "Fraction of steps with linear learning-rate warmup.")
    flags.DEFINE_string("output_dir", None, "Where results, the best model, curves and TensorBoard logs go.")
    flags.DEFINE_bool("do_train", False, "Train.")
    flags.DEFINE_bool("do_eval", False, "Evaluate on --eval_file.")
    flags.DEFINE_bool("do_predict", False, "Predict --predict_file.")
    flags.DEFINE_string("distribution_strategy", "one_device", "one_device (the default, as run_pretraining.py: "
                        "/gpu:0 when a GPU is visible, else the CPU; off is the same), mirrored, "
                        "multi_worker_mirrored, parameter_server, tpu (multi_worker_mirrored and parameter_server "
                        "read TF_CONFIG).")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --distribution_strategy=tpu (local on a TPU "
                        "VM).")
    flags.DEFINE_list("save_formats", ["keras"], "keras (always), hf, google: also export the fine-tuned encoder.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_integer("evals_per_epoch", 1, "Evaluations (curve points) per epoch.")
    flags.DEFINE_enum("dtype", "float32", DTYPES,
                      "Precision: mixed_bfloat16 (CPUs with AVX-512 BF16, TPUs, A100+) or mixed_float16 (GPUs, with "
                      "loss scaling).")
    cli.define_renamed_flag("dtype_policy", "dtype")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the forward/backward pass.")
    flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches per optimizer step (--train_batch_size is the batch "
                         "of one optimizer step).")
    flags.DEFINE_integer("save_checkpoints_steps", None, "Checkpoint interval in steps (a rerun of the same command "
                         "resumes from the newest); default: at every evaluation, i.e. once per epoch.")
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "AdamW (google-research/bert) or LAMB.")
    flags.mark_flag_as_required("output_dir")


def user_errors():
    """The exceptions that mean a bad flag or input file (their message names the file, the line where there is
    one, and the problem): the scripts print them and exit with status 1 instead of a traceback."""
    from bert_tf.checkpoints import CheckpointError
    from bert_tf.config import ConfigError
    from bert_tf.data import DataError
    from bert_tf.finetuning import FinetuneError
    from bert_tf.tokenization import VocabError
    from bert_tf.training.trainer import TrainingStateError
    return DataError, FinetuneError, VocabError, CheckpointError, ConfigError, TrainingStateError


def common_kwargs(FLAGS):
    """The flags every finetune_* function takes, as keyword arguments."""
    from bert_tf.finetuning.options import TrainingOptions  # here, not at import: --help needs no TensorFlow
    return dict(init_checkpoint=FLAGS.init_checkpoint, vocab_file=FLAGS.vocab_file,
                bert_config_file=FLAGS.bert_config_file, preset=FLAGS.preset, do_lower_case=FLAGS.do_lower_case,
                max_seq_length=FLAGS.max_seq_length, train_batch_size=FLAGS.train_batch_size,
                eval_batch_size=FLAGS.eval_batch_size, learning_rate=FLAGS.learning_rate,
                num_train_epochs=FLAGS.num_train_epochs, max_train_steps=FLAGS.max_train_steps,
                warmup_proportion=FLAGS.warmup_proportion, output_dir=FLAGS.output_dir,
                distribution_strategy=FLAGS.distribution_strategy, save_formats=tuple(FLAGS.save_formats),
                seed=FLAGS.seed, evals_per_epoch=FLAGS.evals_per_epoch, dev_file=FLAGS.dev_file,
                dev_fraction=FLAGS.dev_fraction, head_initializer=FLAGS.head_initializer,
                max_input_chars_per_word=FLAGS.max_input_chars_per_word,
                training_options=TrainingOptions(dtype=FLAGS.dtype, jit_compile=FLAGS.jit_compile,
                                                 grad_accum_steps=FLAGS.grad_accum_steps,
                                                 optimizer_type=FLAGS.optimizer,
                                                 save_checkpoints_steps=FLAGS.save_checkpoints_steps,
                                                 tpu_address=FLAGS.tpu))


@dataclasses.dataclass(frozen=True)
class Task:
    """What one fine-tuning script adds to the shared `main()` body (`run_task`).

    Args:
        finetune: `() -> result` for --do_train (a `finetune_<task>` call with the script's flags); the result
            has `model`, `tokenizer`, `output_dir`, `eval_results`.
        report: `(result) -> None`, prints the lines after `eval results: <path>`.
        predict: `(model, tokenizer) -> path` for --do_predict (printed as `predictions: <path>`).
        evaluate: `(model, tokenizer) -> dict` for --do_eval without --do_train (written to eval_results.json),
            or None.
        actions: the flags of which one is required.
        predict_after_training: False when training already scores --predict_file (run_squad.py): --do_predict
            then predicts only without --do_train, and --predict_file is checked before the vocabulary.
        vocab_beside_model: without --vocab_file, look for the vocabulary beside --init_checkpoint.
        model_hint: appended to the error when --init_checkpoint is not a fine-tuned .keras model.
    """

    finetune: Callable
    report: Callable
    predict: Callable
    evaluate: Callable | None = None
    actions: tuple = ("do_train", "do_eval", "do_predict")
    predict_after_training: bool = True
    vocab_beside_model: bool = False
    model_hint: str = ""


def run_task(FLAGS, task):
    """The `main()` body every fine-tuning script shares: --do_train (fine-tune, report), or load the fine-tuned
    --init_checkpoint and --do_eval; then --do_predict. Bad flags or inputs print `error: ...` and return 1."""
    import os
    import sys

    from absl import app

    if not any(FLAGS[name].value for name in task.actions):
        raise app.UsageError(f"at least one of {', '.join('--' + name for name in task.actions)} is required")
    try:
        if FLAGS.do_train:
            if not FLAGS.train_file:
                raise app.UsageError("--do_train needs --train_file")
            result = task.finetune()
            model, tokenizer = result.model, result.tokenizer
            print(f"eval results: {os.path.join(result.output_dir, 'eval_results.json')}")
            task.report(result)
        else:
            model, tokenizer = _load_fine_tuned(FLAGS, task)
        if FLAGS.do_predict and (task.predict_after_training or not FLAGS.do_train):
            if not FLAGS.predict_file:
                raise app.UsageError("--do_predict needs --predict_file")
            print(f"predictions: {task.predict(model, tokenizer)}")
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _load_fine_tuned(FLAGS, task):
    """The fine-tuned model of --init_checkpoint and its tokenizer; with --do_eval, its eval results."""
    import os

    from absl import app

    from bert_tf.finetuning.outputs import EVAL_RESULTS, write_json_atomic
    from bert_tf.finetuning.setup import load_task_model, make_tokenizer, resolve_vocab
    model = load_task_model(FLAGS.init_checkpoint)
    if model is None:
        raise app.UsageError("without --do_train, --init_checkpoint must be a fine-tuned .keras model"
                             + task.model_hint)
    if not task.predict_after_training and not FLAGS.predict_file:
        raise app.UsageError("--do_predict needs --predict_file")
    for name in ("max_seq_length", "max_input_chars_per_word"):  # as the model was trained, as export does
        recorded = getattr(model, name, None)
        if recorded and not FLAGS[name].present:
            setattr(FLAGS, name, recorded)
            print(f"{name} {recorded}: as {FLAGS.init_checkpoint} was fine-tuned")
    vocab = resolve_vocab(FLAGS.vocab_file, None if FLAGS.vocab_file or not task.vocab_beside_model
                          else FLAGS.init_checkpoint)
    tokenizer = make_tokenizer(vocab, model.encoder.bert_config.do_lower_case if FLAGS.do_lower_case is None
                               else FLAGS.do_lower_case, FLAGS.max_input_chars_per_word)
    if FLAGS.do_eval and task.evaluate is not None:
        results = task.evaluate(model, tokenizer)
        os.makedirs(FLAGS.output_dir, exist_ok=True)
        write_json_atomic(os.path.join(FLAGS.output_dir, EVAL_RESULTS), results)
        print(results)
    return model, tokenizer
