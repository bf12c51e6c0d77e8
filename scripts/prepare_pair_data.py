r"""Makes sentence pairs from unlabeled text for a cross-sentence stage (the built-in Korean model's pair probe).

Natural-language inference asks how much of a hypothesis its premise already says. This script makes pairs whose
answer is known by construction, from a pre-training text file (one sentence or review per line, blank lines
between documents; the build's `train.txt`, so no held-out document and no evaluation text). Premises are lines
of `--min_words` to `--max_words` words; each gets one hypothesis of one of three kinds, a third each, all with
the same length distribution (50-90% of the premise's words, at least 3):

- `part`: the premise's words with the rest deleted (a contiguous span, or scattered deletions), order kept;
- `altered`: such a part with 30% of its words (at least one) replaced by words of a line from another document;
- `other`: a span of that length from another line of the same document.

The pairs are written as JSON lines (`{"premise", "hypothesis", "label"}`) for `run_classifier.py
--data_format=jsonl --text_a_column=premise --text_b_column=hypothesis`. No human label is read.

Example:
  python scripts/prepare_pair_data.py --input_file=runs/korean_bert/train.txt \
      --output_file=runs/korean_bert/pairs.jsonl --num_pairs=30000
"""

import json
import os
import sys

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Pre-training text (a sentence per line, blank lines between documents).")
flags.DEFINE_string("output_file", None, "Where the pairs go (JSON lines).")
flags.DEFINE_integer("num_pairs", 30000, "Pairs to write (fewer if the file has fewer usable premises).")
flags.DEFINE_integer("min_words", 5, "Shortest premise, in whitespace-separated words.")
flags.DEFINE_integer("max_words", 20, "Longest premise, in whitespace-separated words.")
flags.DEFINE_integer("seed", 0, "Seed of every draw.")
flags.DEFINE_enum("style", "copy", ["copy", "graded"],
                  "copy: the kinds above, one hypothesis per premise; graded: part / altered (about 15% of the words "
                  "changed, digits first) / added (a shorter part with words of another line of the same document), "
                  "one of each per premise, particles varied (bert_tf.data.text_pairs).")


def main(argv):
    del argv
    from bert_tf.atomic_files import write_jsonl
    from bert_tf.data.text_pairs import pair_examples
    if not os.path.isfile(FLAGS.input_file):
        sys.exit(f"prepare_pair_data: no file at {FLAGS.input_file}")
    try:
        rows, counts = pair_examples(FLAGS.input_file, FLAGS.num_pairs, FLAGS.min_words, FLAGS.max_words,
                                     FLAGS.seed, FLAGS.style)
    except ValueError as e:
        sys.exit(f"prepare_pair_data: {e}")
    write_jsonl(rows, FLAGS.output_file)
    print(json.dumps({"num_examples": len(rows), "counts": counts}, ensure_ascii=False))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file"])
    cli.run(main)
