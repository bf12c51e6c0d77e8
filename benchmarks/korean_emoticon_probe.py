"""Does predicting removed emoticons make the built-in Korean BERT better at sentiment? A dev-only probe (issue 12).

Distant supervision from emoticons (Read 2005; Go et al. 2009; DeepMoji, Felbo et al. 2017): a review's emoticons
are labels that come with the unlabeled text. This script takes the reviews of the pre-training corpus's training
documents (the build's `train.txt`: the held-out documents and every NSMC evaluation text are not in it) that carry
exactly one of eight emoticon classes, deletes every emoticon character from the text
(`scripts/prepare_emoticon_data.py`), and trains the built-in model to name the class from the words that remain
(`run_classifier.py`, one epoch). No human label is read. The
encoder is then written as a Hugging Face directory (float16, as the build ships; the built-in generator copied
beside it) that `korean_finetune.py --model_dir` takes.

    python benchmarks/korean_emoticon_probe.py --train_text=runs/korean_bert/train.txt --output_dir=runs/emoticon
    python benchmarks/korean_finetune.py --model_dir=runs/emoticon/model --tasks=nsmc --inits=pretrained --seeds=0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from benchmarks.common import prepare, train_encoder  # noqa: E402
from bert_tf.data.emoticons import CLASSES, STRIP  # noqa: E402  (recorded in the JSON)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_text", required=True, help="the build's train.txt (pre-training training documents)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--model_dir", default=None, help="start (default: the built-in Korean BERT)")
    parser.add_argument("--per_class", type=int, default=12000)
    parser.add_argument("--min_chars", type=int, default=8)
    parser.add_argument("--learning_rate", default="1e-4")
    parser.add_argument("--num_train_epochs", default="1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from bert_tf.pretrained import korean_bert_dir, sha256_of
    start = args.model_dir or korean_bert_dir()
    os.makedirs(args.output_dir, exist_ok=True)
    started = time.time()
    data = os.path.join(args.output_dir, "emoticons.jsonl")
    prepared = prepare("prepare_emoticon_data.py", [f"--input_file={args.train_text}", f"--output_file={data}",
                                                    f"--per_class={args.per_class}",
                                                    f"--min_chars={args.min_chars}", f"--seed={args.seed}"])
    counts = prepared["counts"]
    print(f"{prepared['num_examples']} examples: {counts}", flush=True)
    model_dir, command, dev = train_encoder(start, data, args.output_dir, ["--text_a_column=text"],
                                            args.learning_rate, args.num_train_epochs, args.seed)
    record = {"command": " ".join(["python", "benchmarks/korean_emoticon_probe.py"]
                                  + (sys.argv[1:] if argv is None else list(argv))),
              "run_classifier": " ".join(command[1:]),
              "start_sha256": sha256_of(os.path.join(start, "model.safetensors")),
              "sha256": sha256_of(os.path.join(model_dir, "model.safetensors")), "classes": CLASSES,
              "strip": STRIP.pattern, "counts": counts, "num_examples": prepared["num_examples"],
              "classifier_dev": dev,
              "seconds": round(time.time() - started, 1)}
    with open(os.path.join(model_dir, "emoticon.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False, indent=2)
    print(json.dumps({k: record[k] for k in ("sha256", "num_examples", "classifier_dev", "seconds")}))


if __name__ == "__main__":
    main()
