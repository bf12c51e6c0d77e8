r"""Writes the encoder of any checkpoint bert_tf loads as a Hugging Face directory (bert_tf's own layout).

The input is anything `--init_checkpoint` takes: a fine-tuning output directory (its `best_model.keras`), a
`run_pretraining.py` output directory, a Hugging Face or bert_tf directory, a Google TF1 or Model Garden
checkpoint. The output is a directory every script takes as `--init_checkpoint` and Hugging Face's `BertModel`
reads (`bert_tf.checkpoints.save_hf`), optionally stored in float16 (half the size). `--companions_from` copies a
model directory's `generator/`, `1_Pooling/` and `pretraining.json` beside the weights: after fine-tuning an
encoder on an auxiliary task, the new encoder keeps its start's pooling declaration (which later fine-tuning
reads), its ELECTRA generator and the sequence length its positions were trained to.

Example (a stage of the built-in Korean model, scripts/build_korean_bert.sh):
  python scripts/convert_checkpoint.py --init_checkpoint=runs/korean_bert/emoticon1/classifier \
      --output_dir=runs/korean_bert/emoticon1/model --dtype=float16 \
      --companions_from=runs/korean_bert/electra128_f16
"""

import os
import sys

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("init_checkpoint", None, "The checkpoint whose encoder is written (any format bert_tf loads).")
flags.DEFINE_string("output_dir", None, "The Hugging Face directory to write (created, or its files replaced).")
flags.DEFINE_enum("dtype", "float32", ["float32", "float16"], "Stored precision of the weights.")
flags.DEFINE_string("vocab_file", None, "vocab.txt to write beside the weights; default: the checkpoint's own, "
                    "else the one in --companions_from.")
flags.DEFINE_string("companions_from", None, "A model directory whose generator/, 1_Pooling/ and "
                    "pretraining.json (those it has) are copied beside the weights.")


def main(argv):
    del argv
    from bert_tf.checkpoints import CheckpointError, load_encoder, save_hf
    path = FLAGS.init_checkpoint
    if not (os.path.exists(path) or os.path.isfile(path + ".index")):
        sys.exit(f"convert_checkpoint: --init_checkpoint {path} does not exist")
    if FLAGS.companions_from and not os.path.isdir(FLAGS.companions_from):
        sys.exit(f"convert_checkpoint: --companions_from {FLAGS.companions_from} is not a directory")
    vocab = FLAGS.vocab_file
    try:
        encoder = load_encoder(path)
    except (CheckpointError, ValueError, OSError) as e:
        sys.exit(f"convert_checkpoint: --init_checkpoint {path}: {e}")
    if vocab is None and getattr(encoder, "vocab_file", None) is None and FLAGS.companions_from:
        candidate = os.path.join(FLAGS.companions_from, "vocab.txt")
        vocab = candidate if os.path.isfile(candidate) else None
    try:
        save_hf(encoder, FLAGS.output_dir, vocab_file=vocab, dtype=FLAGS.dtype, companions_from=FLAGS.companions_from)
    except (CheckpointError, ValueError, OSError) as e:
        sys.exit(f"convert_checkpoint: {e}")
    print(os.path.abspath(FLAGS.output_dir))


if __name__ == "__main__":
    flags.mark_flags_as_required(["init_checkpoint", "output_dir"])
    cli.run(main)
