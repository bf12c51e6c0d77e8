r"""Labels reviews by their emoticons for a sentence-level distant-supervision stage (the built-in Korean model's).

A review's emoticons are labels that come with unlabeled text (Read 2005; Go et al. 2009; DeepMoji, Felbo et al.
2017). From a pre-training text file (one review per line, blank lines between documents; the build's
`train.txt`, so no held-out document and no NSMC evaluation text) this keeps every review that carries exactly one
of eight emoticon classes, deletes every emoticon character from it (a lone ㅋ, one "!" or "^" would name the
label), keeps at most `--per_class` reviews per class (a seeded draw) and writes them as JSON lines
(`{"text", "label"}`) for `run_classifier.py --data_format=jsonl` (`bert_tf.data.emoticons` holds the classes
and the rule). No human label is read.

Example (the built-in Korean model's stage 4, see docs/RESULTS.md):
  python scripts/prepare_emoticon_data.py --input_file=runs/korean_bert/train.txt \
      --output_file=runs/korean_bert/emoticons.jsonl
"""

import json
import os
import sys

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "A pre-training text file (one review per line).")
flags.DEFINE_string("output_file", None, "Where the labelled reviews go (JSON lines).")
flags.DEFINE_integer("per_class", 12000, "At most this many reviews per class.")
flags.DEFINE_integer("min_chars", 8, "Reviews shorter than this once stripped are dropped.")
flags.DEFINE_integer("seed", 0, "Seed of the per-class draw and of the output order.")


def main(argv):
    del argv
    from bert_tf.atomic_files import write_jsonl
    from bert_tf.data.emoticons import emoticon_examples
    if not os.path.isfile(FLAGS.input_file):
        sys.exit(f"prepare_emoticon_data: no file at {FLAGS.input_file}")
    rows, counts = emoticon_examples(FLAGS.input_file, FLAGS.per_class, FLAGS.min_chars, FLAGS.seed)
    write_jsonl(rows, FLAGS.output_file)
    print(json.dumps({"num_examples": len(rows), "counts": counts}, ensure_ascii=False))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file"])
    cli.run(main)
