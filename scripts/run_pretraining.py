r"""BERT pre-training (masked LM + next sentence prediction) on google-research/bert records: the flags of
`bert_tf.pretraining.pretrain`.

Flags follow google-research/bert's run_pretraining.py, plus bert_tf's: --preset, --nsp, --objective=electra
(with google-research/electra's --generator_hidden_size, --disc_weight), --dynamic_masking,
--grad_accum_steps, --jit_compile, --distribution_strategy, --dtype, --optimizer=lamb.

--output_dir receives:
    training/ckpt-<step>.*     tf.train checkpoints (model, optimizer, step, input position) every
                               --save_checkpoints_steps and on SIGINT/SIGTERM; rerunning the same command resumes
    training/summaries/        TensorBoard scalars (loss, masked_lm_accuracy, ..., learning_rate)
    model.safetensors, config.json, bert_config.json, tokenizer_config.json, vocab.txt
                               the trained BertPretrainer as a bert_tf / Hugging Face directory (end of training);
                               --objective=electra: the discriminator (an encoder), the generator in generator/
    eval_results.json          with --do_eval

Exit status: 0 when done; 128 + signal number (130 SIGINT, 143 SIGTERM) after a clean interrupted save.

Example (Korean, BERT-Mini):
  python scripts/run_pretraining.py --input_file=/tmp/ko/train.tfrecord --eval_input_file=/tmp/ko/heldout.tfrecord \
      --vocab_file=/tmp/ko/vocab.txt --do_lower_case=false --preset=mini --output_dir=/tmp/ko/model \
      --train_batch_size=32 --max_seq_length=128 --num_train_steps=1000 --num_warmup_steps=100 \
      --learning_rate=1e-3 --do_train --do_eval
"""

import json
import sys

from absl import flags, logging

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)
from bert_tf.config import DTYPES  # TensorFlow-free

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
flags.DEFINE_enum("objective", "mlm", ["mlm", "electra"], "mlm: BERT's masked LM (+ NSP unless --nsp=false). "
                  "electra: ELECTRA's replaced-token detection (needs --nsp=false): a small generator fills the "
                  "records' masked positions with sampled tokens and the encoder learns to spot them at every "
                  "position; far more sample-efficient for small models. The same records serve both.")
flags.DEFINE_float("generator_hidden_size", 0.25, "--objective=electra: the generator's hidden and intermediate "
                   "sizes as a fraction of the encoder's (google-research/electra's flag; same depth).")
flags.DEFINE_string("generator_init_checkpoint", None, "--objective=electra: the generator's starting point, a "
                    "masked LM (e.g. the generator/ directory an ELECTRA run writes, to continue it); default: "
                    "random, sized by --generator_hidden_size. --init_checkpoint is the encoder's.")
flags.DEFINE_float("disc_weight", 50.0, "--objective=electra: weight of the discriminator loss against the "
                   "generator's masked-LM loss (google-research/electra's flag).")
flags.DEFINE_bool("train_only_embeddings", False, "--objective=mlm from --init_checkpoint: train only the token "
                  "embeddings (and the masked-LM head); position/segment embeddings, LayerNorms and every transformer "
                  "layer stay frozen. How a body pre-trained on one language learns a new vocabulary (Artetxe et al. "
                  "2020); the init checkpoint's token embeddings must already have the new vocabulary's size.")
flags.DEFINE_bool("dynamic_masking", False, "Draw new masks in the input pipeline instead of the stored ones.")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per optimizer step.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the forward/backward pass.")
flags.DEFINE_enum("distribution_strategy", "one_device",
                  ["off", "one_device", "mirrored", "multi_worker_mirrored", "parameter_server", "tpu"],
                  "tf.distribute strategy: one_device (/gpu:0 when a GPU is visible, else the CPU; off is the "
                  "same), mirrored, ... (multi_worker_mirrored and parameter_server read TF_CONFIG).")
flags.DEFINE_string("tpu", None, "TPU name/address for --distribution_strategy=tpu.")
flags.DEFINE_integer("num_gpus", None, "GPUs for mirrored (default: all visible).")
flags.DEFINE_enum("dtype", "float32", DTYPES, "Precision (a Keras dtype policy): mixed_bfloat16 (CPUs with "
                  "AVX-512 BF16, TPUs, A100+) or mixed_float16 (GPUs, with dynamic loss scaling).")
cli.define_renamed_flag("dtype_policy", "dtype")
flags.DEFINE_integer("seed", 12345, "Initialisation and shuffle seed.")


def _fail(message):
    print(f"run_pretraining: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    del argv
    from bert_tf.pretraining import PretrainError, PretrainOptions, check_options, pretrain

    options = PretrainOptions(**{name: getattr(FLAGS, name) for name in PretrainOptions.names()})
    try:
        check_options(options)  # before TensorFlow is imported
        logging.set_verbosity(logging.WARNING)  # TF's per-save INFO lines drown the progress bar
        summary = pretrain(options)
    except PretrainError as e:
        _fail(str(e))
    interrupted, signame = summary.pop("interrupted", False), summary.pop("signal", None)
    print(json.dumps(summary))
    if interrupted:
        sys.exit(128 + (2 if signame == "SIGINT" else 15))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "vocab_file", "output_dir"])
    cli.run(main)
