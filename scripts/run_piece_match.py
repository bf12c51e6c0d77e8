r"""Teaches an encoder, at every piece of a sentence pair, whether the same piece is also in the other segment (the
built-in Korean model's piece-match stage; docs/RESULTS.md, "Matching pieces across the pair").

Pairs are made from a pre-training text file (one sentence or review per line, blank lines between documents;
the build's `train.txt`, so no held-out document and no evaluation text): half `prepare_pair_data.py
--style=graded` pairs, half `--style=copy` pairs. Their kinds are ignored: every piece of each segment is labelled
1 if the same piece id is in the other segment, and a Dense(1) on the last layer learns it (binary cross-entropy,
AdamW with 10% warmup). No human label is read. `--max_seq_length - 3` pieces of the two segments are kept
(longest first). The encoder goes to OUTPUT_DIR/model (float16, with the start's generator/, 1_Pooling/ and
pretraining.json), a directory every script takes as `--init_checkpoint`; TensorBoard scalars to
OUTPUT_DIR/summaries. A checkpoint after every epoch goes to OUTPUT_DIR/checkpoints: rerunning the same command
after an interruption resumes from the last finished epoch (to the same bytes as an uninterrupted run); other
flags for the same OUTPUT_DIR are refused, naming what differs.

Example (the built-in Korean model's stage 5):
  python scripts/run_piece_match.py --input_file=runs/korean_bert/train.txt \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import korean_bert_dir; print(korean_bert_dir())')" \
      --output_dir=runs/korean_bert/match
"""

import json
import os
import sys

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Pre-training text (a sentence per line, blank lines between documents).")
flags.DEFINE_string("init_checkpoint", None, "The model directory to start from (Hugging Face layout, with vocab.txt).")
flags.DEFINE_string("output_dir", None, "Receives model/ (the encoder) and summaries/.")
flags.DEFINE_integer("num_pairs", 30000, "Pairs to make, half graded, half copy style.")
flags.DEFINE_integer("max_seq_length", 64, "Pieces per packed pair, [CLS] and two [SEP] included.")
flags.DEFINE_integer("train_batch_size", 32, "Pairs per step.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (10% warmup, then linear decay to 0).")
flags.DEFINE_integer("num_train_epochs", 3, "Passes over the training pairs.")
flags.DEFINE_integer("dev_pairs", 600, "Pairs held out to report the match accuracy after each epoch.")
flags.DEFINE_float("coverage_weight", 0.0, "Weight of a second target, each segment's share of matching pieces "
                   "regressed from the mean-pooled last layer; 0 (the recorded stage) leaves it out.")
flags.DEFINE_float("cue_weight", 0.0, "Weight of a third target on the pooled vector: whether one segment is negated "
                   "and the other not, and whether the hypothesis has a number the premise lacks; > 0 also changes "
                   "the pairs' negation and numbers to make both common (bert_tf.data.text_pairs.cue_pair); 0 (the "
                   "recorded stages) leaves both out.")
flags.DEFINE_integer("seed", 3, "Seed of the pairs (graded: seed, copy: seed + 100), the split, the order and the head.")


def main(argv):
    del argv
    from bert_tf.data.text_pairs import match_pairs
    from bert_tf.finetuning import FinetuneError
    from bert_tf.finetuning.piece_match import train_piece_match
    from bert_tf.training.checkpointing import TrainingStateError
    if not os.path.isfile(FLAGS.input_file):
        sys.exit(f"run_piece_match: no file at {FLAGS.input_file}")
    if not os.path.isfile(os.path.join(FLAGS.init_checkpoint, "model.safetensors")):
        sys.exit(f"run_piece_match: --init_checkpoint={FLAGS.init_checkpoint} is not a model directory with "
                 "model.safetensors (Hugging Face layout)")
    try:
        rows = match_pairs(FLAGS.input_file, FLAGS.num_pairs, FLAGS.seed, cues=FLAGS.cue_weight > 0)
        record = train_piece_match(FLAGS.init_checkpoint, rows, FLAGS.output_dir,
                                   max_seq_length=FLAGS.max_seq_length, learning_rate=FLAGS.learning_rate,
                                   num_train_epochs=FLAGS.num_train_epochs, train_batch_size=FLAGS.train_batch_size,
                                   dev_rows=FLAGS.dev_pairs, seed=FLAGS.seed, coverage_weight=FLAGS.coverage_weight,
                                   cue_weight=FLAGS.cue_weight,
                                   command=" ".join(["python", "scripts/run_piece_match.py"] + sys.argv[1:]))
    except (ValueError, FinetuneError, TrainingStateError) as e:
        sys.exit(f"run_piece_match: {e}")
    print(json.dumps({k: record[k] for k in ("sha256", "history", "seconds")}))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "init_checkpoint", "output_dir"])
    cli.run(main)
