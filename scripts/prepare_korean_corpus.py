r"""Splits the Korean pre-training corpora into train and held-out text files, by document.

The inputs are google-research/bert's pre-training text format (one sentence or review per line, a blank line
between documents): NSMC's unlabeled reviews (`nsmc_unlabeled.txt.gz`, one document per movie) and the Korean
Wikipedia sample. Every `--heldout_every`-th document of each corpus goes to the held-out file (deterministic,
no shuffling), so the held-out MLM loss measures text whose documents the model never saw.

Example (the built-in Korean model's recipe, see docs/RESULTS.md):
  python scripts/prepare_korean_corpus.py \
      --input_file=$CORPUS/nsmc_unlabeled/nsmc_unlabeled.txt.gz,$CORPUS/kowiki_pretrain/kowiki_sample.txt \
      --train_output=runs/korean_bert/train.txt --heldout_output=runs/korean_bert/heldout.txt
"""

import json
import os
import sys

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Comma-separated text files (.gz read transparently).")
flags.DEFINE_string("train_output", None, "Where the training documents go.")
flags.DEFINE_string("heldout_output", None, "Where the held-out documents go.")
flags.DEFINE_integer("heldout_every", 100, "Every N-th document of each input is held out.")


def main(argv):
    del argv
    stats = {"train_documents": 0, "train_lines": 0, "heldout_documents": 0, "heldout_lines": 0}
    from bert_tf.atomic_files import atomic_write
    from bert_tf.data.documents import read_documents
    # Both files appear only when every input was read (a missing input leaves neither, nor a temporary file).
    with atomic_write(FLAGS.train_output, makedirs=True) as train, \
            atomic_write(FLAGS.heldout_output, makedirs=True) as heldout:
        for path in FLAGS.input_file.split(","):
            if not os.path.isfile(path):
                sys.exit(f"prepare_korean_corpus: no file at {path}")
            for i, doc in enumerate(read_documents(path)):
                kind = "heldout" if i % FLAGS.heldout_every == FLAGS.heldout_every - 1 else "train"
                (heldout if kind == "heldout" else train).write("\n".join(doc) + "\n\n")
                stats[f"{kind}_documents"] += 1
                stats[f"{kind}_lines"] += len(doc)
    print(json.dumps(stats))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "train_output", "heldout_output"])
    cli.run(main)
