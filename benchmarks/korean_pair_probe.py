"""Does a cross-sentence stage on pairs made from the corpus itself help the built-in Korean BERT on KLUE-NLI?
A dev-only probe (issue 12; the rule is in docs/RESULTS.md, "Pairs made from the text itself").

`scripts/prepare_pair_data.py` makes premise/hypothesis pairs from the pre-training corpus's training documents
(the build's `train.txt`) whose kind is known by construction: `part` (the premise's words with some deleted),
`altered` (such a part with 30% of its words from another document) or `other` (a span of another line of the
same document). The built-in model is fine-tuned to name the kind, the two texts as the two segments
(`run_classifier.py`, one epoch), and its encoder is written as a Hugging Face directory (float16, with the
start's generator/, 1_Pooling/ and pretraining.json) that `korean_finetune.py --model_dir` takes. No human label
is read.

    python benchmarks/korean_pair_probe.py --train_text=runs/korean_bert/train.txt --output_dir=runs/pairs
    python benchmarks/korean_finetune.py --model_dir=runs/pairs/model --tasks=klue_nli --inits=pretrained --seeds=0,1,2
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_text", required=True, help="the build's train.txt (pre-training training documents)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--model_dir", default=None, help="start (default: the built-in Korean BERT)")
    parser.add_argument("--num_pairs", type=int, default=30000)
    parser.add_argument("--learning_rate", default="1e-4")
    parser.add_argument("--num_train_epochs", default="1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="copy", choices=("copy", "graded"), help="prepare_pair_data.py --style")
    args = parser.parse_args(argv)
    from bert_tf.pretrained import korean_bert_dir, sha256_of
    start = args.model_dir or korean_bert_dir()
    os.makedirs(args.output_dir, exist_ok=True)
    started = time.time()
    data = os.path.join(args.output_dir, "pairs.jsonl")
    prepared = prepare("prepare_pair_data.py", [f"--input_file={args.train_text}", f"--output_file={data}",
                                                f"--num_pairs={args.num_pairs}", f"--seed={args.seed}",
                                                f"--style={args.style}"])
    print(f"{prepared['num_examples']} pairs: {prepared['counts']}", flush=True)
    model_dir, command, dev = train_encoder(start, data, args.output_dir,
                                            ["--text_a_column=premise", "--text_b_column=hypothesis"],
                                            args.learning_rate, args.num_train_epochs, args.seed)
    record = {"command": " ".join(["python", "benchmarks/korean_pair_probe.py"]
                                  + (sys.argv[1:] if argv is None else list(argv))),
              "run_classifier": " ".join(command[1:]),
              "start_sha256": sha256_of(os.path.join(start, "model.safetensors")),
              "sha256": sha256_of(os.path.join(model_dir, "model.safetensors")),
              "counts": prepared["counts"], "num_examples": prepared["num_examples"], "classifier_dev": dev,
              "seconds": round(time.time() - started, 1)}
    with open(os.path.join(model_dir, "pairs.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False, indent=2)
    print(json.dumps({k: record[k] for k in ("sha256", "num_examples", "classifier_dev", "seconds")}))


if __name__ == "__main__":
    main()
