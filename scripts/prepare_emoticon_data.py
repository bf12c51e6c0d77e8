r"""Labels reviews by their emoticons for a sentence-level distant-supervision stage (the built-in Korean model's).

A review's emoticons are labels that come with unlabeled text (Read 2005; Go et al. 2009; DeepMoji, Felbo et al.
2017). From a pre-training text file (one review per line, blank lines between documents; the build's
`train.txt`, so no held-out document and no NSMC evaluation text) this keeps every review that carries exactly one
of eight emoticon classes, deletes every emoticon character from it (a lone ㅋ, one "!" or "^" would name the
label), keeps at most `--per_class` reviews per class (a seeded draw) and writes them as JSON lines
(`{"text", "label"}`) for `run_classifier.py --data_format=jsonl`. No human label is read.

Example (the built-in Korean model's stage 4, see docs/RESULTS.md):
  python scripts/prepare_emoticon_data.py --input_file=runs/korean_bert/train.txt \
      --output_file=runs/korean_bert/emoticons.jsonl
"""

import collections
import json
import re

from absl import flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "A pre-training text file (one review per line).")
flags.DEFINE_string("output_file", None, "Where the labelled reviews go (JSON lines).")
flags.DEFINE_integer("per_class", 12000, "At most this many reviews per class.")
flags.DEFINE_integer("min_chars", 8, "Reviews shorter than this once stripped are dropped.")
flags.DEFINE_integer("seed", 0, "Seed of the per-class draw and of the output order.")

# The eight classes; a review is kept only when exactly one of them occurs in it.
CLASSES = {
    "laugh_k": r"ㅋ{2,}",
    "laugh_h": r"ㅎ{2,}",
    "cry": r"[ㅠㅜ]{2,}",
    "smile": r"\^[_\-]?\^|:\)",
    "annoyed": r"ㅡ[_.]?ㅡ|-[_.]-",
    "sweat": r";{2,}",
    "heart": r"[♥♡❤]",
    "bang": r"!{2,}",
}
# Deleted from every kept review, so that no trace of any class names the label.
STRIP = re.compile(r"[ㅋㅎㅠㅜㅡ♥♡❤;!^]+|-[_.]-|:\)")


def emoticon_examples(path: str, per_class: int, min_chars: int, seed: int):
    """(rows as `{"text", "label"}` dicts in a seeded order, counts per class `{"available", "used"}`)."""
    import numpy as np
    patterns = {name: re.compile(p) for name, p in CLASSES.items()}
    by_class = collections.defaultdict(list)
    seen = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            found = [name for name, p in patterns.items() if p.search(line)]
            if len(found) != 1:
                continue
            text = " ".join(STRIP.sub(" ", line).split())
            if len(text) < min_chars or text in seen:
                continue
            seen.add(text)
            by_class[found[0]].append(text)
    rng = np.random.default_rng(seed)
    rows, counts = [], {}
    for name in CLASSES:
        texts = by_class[name]
        chosen = [texts[i] for i in sorted(rng.choice(len(texts), min(per_class, len(texts)), replace=False))]
        counts[name] = {"available": len(texts), "used": len(chosen)}
        rows += [{"text": t, "label": name} for t in chosen]
    return [rows[i] for i in rng.permutation(len(rows))], counts


def main(argv):
    del argv
    from bert_tf.atomic_files import write_jsonl
    rows, counts = emoticon_examples(FLAGS.input_file, FLAGS.per_class, FLAGS.min_chars, FLAGS.seed)
    write_jsonl(rows, FLAGS.output_file)
    print(json.dumps({"num_examples": len(rows), "counts": counts}, ensure_ascii=False))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file"])
    cli.run(main)
