r"""BERT pre-training (masked LM + next sentence prediction) on google-research/bert records.

Flags follow google-research/bert's run_pretraining.py, plus bert_tf's: --preset, --nsp, --dynamic_masking,
--grad_accum_steps, --jit_compile, --distribution_strategy, --dtype_policy, --optimizer=lamb.

--output_dir receives:
    training/ckpt-<step>.*     tf.train checkpoints (model, optimizer, step, input position) every
                               --save_checkpoints_steps and on SIGINT/SIGTERM; rerunning the same command resumes
    training/summaries/        TensorBoard scalars (loss, masked_lm_accuracy, ..., learning_rate)
    model.safetensors, config.json, bert_config.json, tokenizer_config.json, vocab.txt
                               the trained BertPretrainer as a bert_tf / Hugging Face directory (end of training)
    eval_results.json          with --do_eval

Exit status: 0 when done; 128 + signal number (130 SIGINT, 143 SIGTERM) after a clean interrupted save.

Example (Korean, BERT-Mini):
  python scripts/run_pretraining.py --input_file=/tmp/ko/train.tfrecord --eval_input_file=/tmp/ko/heldout.tfrecord \
      --vocab_file=/tmp/ko/vocab.txt --do_lower_case=false --preset=mini --output_dir=/tmp/ko/model \
      --train_batch_size=32 --max_seq_length=128 --num_train_steps=1000 --num_warmup_steps=100 \
      --learning_rate=1e-3 --do_train --do_eval
"""

import json
import os
import sys

from absl import app, flags, logging

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Input TF example files (comma-separated globs).")
flags.DEFINE_string("eval_input_file", None, "Held-out TF example files for --do_eval (records made from documents "
                    "not in --input_file). Required with --do_train --do_eval; --do_eval alone evaluates "
                    "--input_file.")
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model (or use --preset).")
flags.DEFINE_string("preset", None, "A BertConfig preset (tiny, mini, small, medium, base, large, test) sized to "
                    "--vocab_file.")
flags.DEFINE_string("vocab_file", None, "The vocabulary the records were made with (copied into --output_dir).")
flags.DEFINE_bool("do_lower_case", True, "Whether the vocabulary is uncased (stored in the config).")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint in any format bert_tf loads (heads loaded where "
                    "present). Ignored when --output_dir already has a checkpoint to resume.")
flags.DEFINE_string("output_dir", None, "Where checkpoints, summaries, the model and eval results go.")
flags.DEFINE_integer("max_seq_length", 128, "The records' sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "The records' masked LM slots.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the eval set.")
flags.DEFINE_integer("train_batch_size", 32, "Global batch size per optimizer step (micro-batches x accumulation).")
flags.DEFINE_integer("eval_batch_size", 8, "Global eval batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial (peak) learning rate. 5e-5 is google-research/bert's default, "
                   "meant for continuing from a pre-trained checkpoint (--init_checkpoint); from scratch, BERT-Base "
                   "used 1e-4, and the small presets train in a few thousand steps at 5e-4 to 1e-3 (docs/RESULTS.md).")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "AdamW (google-research/bert) or LAMB (large batches).")
flags.DEFINE_float("weight_decay_rate", 0.01, "Decoupled weight decay (not on LayerNorm or bias weights).")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save a checkpoint.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval batches (0: the whole eval set).")
flags.DEFINE_integer("eval_every_steps", 0, "With --do_train --do_eval: also evaluate on --eval_input_file every N "
                     "steps (a checkpoint is written there), appending to eval_history.json and the eval "
                     "TensorBoard scalars: held-out loss over training. 0: only at the end.")
flags.DEFINE_integer("log_every_steps", 100, "Interval of TensorBoard scalars.")
flags.DEFINE_integer("steps_per_loop", 1, "Steps per tf.function call.")
flags.DEFINE_bool("nsp", True, "Next sentence prediction head and loss (false: the paper's 'No NSP' ablation).")
flags.DEFINE_bool("dynamic_masking", False, "Draw new masks in the input pipeline instead of the stored ones.")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per optimizer step.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the forward/backward pass.")
flags.DEFINE_enum("distribution_strategy", "one_device",
                  ["off", "one_device", "mirrored", "multi_worker_mirrored", "parameter_server", "tpu"],
                  "tf.distribute strategy: one_device (/gpu:0 when a GPU is visible, else the CPU; off is the "
                  "same), mirrored, ... (multi_worker_mirrored and parameter_server read TF_CONFIG).")
flags.DEFINE_string("tpu", None, "TPU name/address for --distribution_strategy=tpu.")
flags.DEFINE_integer("num_gpus", None, "GPUs for mirrored (default: all visible).")
flags.DEFINE_enum("dtype_policy", "float32", ["float32", "mixed_float16", "mixed_bfloat16"],
                  "Keras dtype policy (mixed_float16 adds dynamic loss scaling).")
flags.DEFINE_integer("seed", 12345, "Initialisation and shuffle seed.")


def _fail(message):
    print(f"run_pretraining: {message}", file=sys.stderr)
    sys.exit(2)


def _config(vocab_size):
    from bert_tf.config import BertConfig, ConfigError

    if FLAGS.bert_config_file and FLAGS.preset:
        _fail("give at most one of --bert_config_file and --preset")
    if not (FLAGS.bert_config_file or FLAGS.preset):
        if FLAGS.init_checkpoint:
            return None  # the checkpoint's own config
        _fail("give --bert_config_file or --preset (or --init_checkpoint, whose config is used)")
    try:
        if FLAGS.bert_config_file:
            config = BertConfig.from_json(FLAGS.bert_config_file, lowercase=FLAGS.do_lower_case)
        else:
            config = BertConfig.preset(FLAGS.preset, vocab_size=vocab_size, lowercase=FLAGS.do_lower_case)
    except ConfigError as e:
        _fail(str(e))
    if config.vocab_size != vocab_size:
        _fail(f"{FLAGS.bert_config_file}: vocab_size {config.vocab_size} but {FLAGS.vocab_file} has {vocab_size} "
              "tokens")
    if FLAGS.max_seq_length > config.max_position_embeddings:
        _fail(f"--max_seq_length {FLAGS.max_seq_length} > max_position_embeddings {config.max_position_embeddings}")
    return config


def _train_with_evals(trainer, start_step):
    """Trains to --num_train_steps in segments of --eval_every_steps, evaluating on the held-out records after
    each (the steps, learning rate and input are those of one uninterrupted run: segments only pause it)."""
    from bert_tf.training.trainer import write_json_atomic

    history_path = os.path.join(FLAGS.output_dir, "eval_history.json")
    history = []
    if os.path.isfile(history_path):
        try:
            with open(history_path, encoding="utf-8") as f:
                history = [h for h in json.load(f) if h["step"] <= start_step]
        except (OSError, ValueError, KeyError, TypeError) as e:
            logging.warning("%s is unreadable (%s): starting a new eval history", history_path, e)
    total = trainer.num_train_steps
    step = start_step
    result = {"step": step, "interrupted": False, "signal": None, "metrics": {}}
    while step < total:
        result = trainer.train(until_step=min(total, (step // FLAGS.eval_every_steps + 1) * FLAGS.eval_every_steps))
        step = result["step"]
        if result["interrupted"]:
            break
        metrics = trainer.evaluate(steps=FLAGS.max_eval_steps or None)
        history.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        trainer.write_scalars("eval", metrics, step)
        if trainer.is_chief:
            write_json_atomic(history_path, history)
        print(f"step {step}: held-out " + ", ".join(f"{k} = {v:.4f}" for k, v in sorted(metrics.items())),
              file=sys.stderr, flush=True)
    return result


def main(argv):
    del argv
    if not (FLAGS.do_train or FLAGS.do_eval):
        _fail("at least one of --do_train and --do_eval must be true")
    if FLAGS.do_train and FLAGS.do_eval and not FLAGS.eval_input_file:
        # google-research/bert evaluated on --input_file here, silently: the training records, whose loss says
        # how well they were memorised, not how well the model predicts text it has not seen.
        _fail("--do_train --do_eval needs --eval_input_file: held-out records (create_pretraining_data.py on "
              "documents kept out of --input_file). To score the training records anyway, pass "
              "--eval_input_file with the --input_file value")
    if FLAGS.train_batch_size % FLAGS.grad_accum_steps:
        _fail(f"--train_batch_size {FLAGS.train_batch_size} is not divisible by --grad_accum_steps "
              f"{FLAGS.grad_accum_steps}")
    logging.set_verbosity(logging.WARNING)  # TF's per-save INFO lines drown the progress bar
    import keras

    keras.config.set_dtype_policy(FLAGS.dtype_policy)  # before any layer is built
    keras.utils.set_random_seed(FLAGS.seed)

    from bert_tf.checkpoints import CheckpointError as CheckpointFileError
    from bert_tf.checkpoints import load_pretrainer, save_hf
    from bert_tf.config import ConfigError
    from bert_tf.data import DataError
    from bert_tf.data.pretraining_dataset import PretrainingDataset
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    from bert_tf.tokenization import VocabError, load_vocab, pad_id
    from bert_tf.training import distribute
    from bert_tf.training.optimization import create_optimizer
    from bert_tf.training.trainer import CheckpointError, Trainer

    try:
        vocab = load_vocab(FLAGS.vocab_file)
    except VocabError as e:
        _fail(str(e))
    config = _config(len(vocab))
    try:
        strategy = distribute.get_strategy(FLAGS.distribution_strategy, tpu_address=FLAGS.tpu, num_gpus=FLAGS.num_gpus)
    except ValueError as e:
        _fail(f"--distribution_strategy={FLAGS.distribution_strategy}: {e}")
    try:
        distribute.per_replica_batch_size(FLAGS.train_batch_size // FLAGS.grad_accum_steps,
                                          strategy.num_replicas_in_sync)
    except ValueError as e:
        _fail(f"--train_batch_size / --grad_accum_steps: {e}")
    train_dir = os.path.join(FLAGS.output_dir, "training")

    with strategy.scope():
        if FLAGS.init_checkpoint:
            try:
                model = load_pretrainer(FLAGS.init_checkpoint, nsp=FLAGS.nsp)
            except (CheckpointFileError, ConfigError) as e:
                _fail(f"--init_checkpoint: {e}")
            if config is not None and model.encoder.bert_config.replace(lowercase=config.lowercase) != \
                    config.replace(lowercase=config.lowercase):
                logging.warning("--init_checkpoint's config differs from the given one; using the checkpoint's")
            config = model.encoder.bert_config
            if config.vocab_size != len(vocab):
                _fail(f"--init_checkpoint has vocab_size {config.vocab_size} but {FLAGS.vocab_file} has {len(vocab)} "
                      "tokens")
            if FLAGS.max_seq_length > config.max_position_embeddings:
                _fail(f"--max_seq_length {FLAGS.max_seq_length} > the checkpoint's max_position_embeddings "
                      f"{config.max_position_embeddings}")
        else:
            model = BertPretrainer(BertEncoder.from_bert_config(config), nsp=FLAGS.nsp)
        optimizer = create_optimizer(FLAGS.learning_rate, FLAGS.num_train_steps, FLAGS.num_warmup_steps,
                                     optimizer_type=FLAGS.optimizer, weight_decay_rate=FLAGS.weight_decay_rate)

    eval_input_file = FLAGS.eval_input_file or FLAGS.input_file  # --do_eval alone: the records to score
    unselectable = [vocab["[CLS]"], vocab["[SEP]"], pad_id(vocab)]
    try:
        train_data = PretrainingDataset(
            FLAGS.input_file, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq,
            FLAGS.train_batch_size // FLAGS.grad_accum_steps, is_training=True, nsp=FLAGS.nsp,
            dynamic_masking=FLAGS.dynamic_masking, vocab_size=len(vocab), mask_token_id=vocab.get("[MASK]"),
            unselectable_token_ids=unselectable,
            seed=distribute.per_worker_seed if distribute.is_parameter_server(strategy) else FLAGS.seed,
        ) if FLAGS.do_train else None
        eval_data = PretrainingDataset(
            eval_input_file, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq,
            FLAGS.eval_batch_size, is_training=False, nsp=FLAGS.nsp) if FLAGS.do_eval else None
    except (FileNotFoundError, DataError) as e:
        _fail(str(e))

    trainer = Trainer(model, optimizer, train_data, model_dir=train_dir, num_train_steps=FLAGS.num_train_steps,
                      strategy=strategy, eval_dataset=eval_data, grad_accum_steps=FLAGS.grad_accum_steps,
                      jit_compile=FLAGS.jit_compile, save_checkpoints_steps=FLAGS.save_checkpoints_steps,
                      steps_per_loop=FLAGS.steps_per_loop, log_every_steps=FLAGS.log_every_steps)
    try:
        restored = trainer.restore()
    except CheckpointError as e:
        _fail(str(e))
    start_step = int(trainer.step.numpy())
    if restored:
        print(f"resuming from {restored} at step {start_step}", file=sys.stderr)
    summary = {"restored_from": restored, "start_step": start_step}
    if FLAGS.do_train:
        if FLAGS.eval_every_steps and FLAGS.do_eval:
            result = _train_with_evals(trainer, start_step)
        else:
            result = trainer.train()
        summary.update(step=result["step"], train_metrics=result["metrics"])
        if result["interrupted"]:
            print(json.dumps(summary))
            sys.exit(128 + (2 if result["signal"] == "SIGINT" else 15))
        if trainer.is_chief:
            save_hf(model, FLAGS.output_dir, vocab_file=FLAGS.vocab_file)
            summary["model_dir"] = FLAGS.output_dir
    if FLAGS.do_eval:
        results = trainer.evaluate(steps=FLAGS.max_eval_steps or None)
        path = trainer.write_eval_results(results, os.path.join(FLAGS.output_dir, "eval_results.json"))
        summary["eval"] = results
        summary["eval_input_file"] = eval_input_file
        print(f"***** Eval results ({eval_input_file}) *****", file=sys.stderr)
        for key in sorted(results):
            print(f"  {key} = {results[key]}", file=sys.stderr)
        if path:
            summary["eval_results_file"] = path
    summary["step"] = int(trainer.step.numpy())
    print(json.dumps(summary))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "vocab_file", "output_dir"])
    cli.run(main)
