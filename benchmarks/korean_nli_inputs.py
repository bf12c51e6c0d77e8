"""Dev-only experiment: what the built-in Korean model learns from KLUE-NLI when given the pair, the hypothesis
alone, or the pair pooled per sentence.

Issue 12's KLUE-NLI bar (0.45) is above what the hypothesis alone gives a bag of character n-grams (0.441 on the
test file), yet the fine-tuned model stays near chance (0.346). This separates the two failures: the same 201-pair
dev set `run_classifier.py` carves from the 1,998 training pairs (10%, split seed 0, grouped by premise) and the
same 1,797 training pairs, written once as `premise, hypothesis` pairs and once as the hypothesis alone, then
`scripts/run_classifier.py --dev_file=<that dev set>` with issue 12's flags (two learning rates, 3 epochs, batch
32, seq 64). No `--eval_file`: the test file is never read. Variants:

    pair         the acceptance input: premise and hypothesis as one input, the model's mean pooling
    hypothesis   the hypothesis alone, as one sentence
    segments     the pair, but the head sees [a, b, |a-b|, a*b] of the mean over the premise's positions (a) and
                 over the hypothesis's (b) (patched into the classifier here; bert_tf has no such pooling)

    python benchmarks/korean_nli_inputs.py --variants=pair,hypothesis,segments --seeds=0,1,2

Writes `benchmarks/results/korean_pretraining/nli_inputs.json` (resumable: runs already there are skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO, mean_sd, resumable_payload, run_dev_only, write_runs  # noqa: E402
from benchmarks.korean_finetune import COMMON, RESOURCES, TASKS  # noqa: E402

VARIANTS = ("pair", "hypothesis", "segments")
OUTPUT = os.path.join(REPO, "benchmarks", "results", "korean_pretraining", "nli_inputs.json")


def write_split(directory: str) -> dict:
    """Writes `{pair,hypothesis}_{train,dev}.jsonl` of the dev carve `run_classifier.py` makes; their sizes."""
    from bert_tf.data import read_examples
    from bert_tf.finetuning.selection import select_dev

    examples = read_examples(TASKS["klue_nli"]["train"], "klue_nli")
    train, dev, _ = select_dev(examples, dev_fraction=0.1, group=lambda e: e.text_a)  # as run_classifier.py does
    for split, rows in (("train", train), ("dev", dev)):
        for variant, row in (("pair", lambda e: {"premise": e.text_a, "hypothesis": e.text_b, "label": e.label}),
                             ("hypothesis", lambda e: {"hypothesis": e.text_b, "label": e.label})):
            with open(os.path.join(directory, f"{variant}_{split}.jsonl"), "w", encoding="utf-8") as f:
                f.writelines(json.dumps(row(e), ensure_ascii=False) + "\n" for e in rows)
    return {"train": len(train), "dev": len(dev)}


def command(variant: str, seed: int, data: str, output_dir: str) -> list[str]:
    files = "hypothesis" if variant == "hypothesis" else "pair"
    columns = (["--text_a_column=hypothesis"] if variant == "hypothesis" else
               ["--text_a_column=premise", "--text_b_column=hypothesis"])
    flags = ["--data_format=jsonl", "--label_column=label", f"--train_file={data}/{files}_train.jsonl",
             f"--dev_file={data}/{files}_dev.jsonl", f"--max_seq_length={TASKS['klue_nli']['seq']}"] + columns + [
        f for f in COMMON if f != "--do_eval"] + [
        f"--init_checkpoint={os.path.relpath(os.path.join(RESOURCES, 'korean_bert'), REPO)}",
        f"--seed={seed}", f"--output_dir={output_dir}"]
    if variant == "segments":
        return [sys.executable, os.path.abspath(__file__), "--segments_child"] + flags
    return [sys.executable, os.path.join("scripts", "run_classifier.py")] + flags


def _segments_child(argv: list[str]) -> None:
    """Runs scripts/run_classifier.py in this process with the classifier's pooling replaced by per-sentence means."""
    from keras import ops

    from bert_tf import features
    from bert_tf.heads.sequence_pooling import masked_mean
    from bert_tf.tasks import task

    def pooled_head(head, encoded, inputs):
        sequence = encoded[features.SEQUENCE_OUTPUT]
        real = ops.cast(inputs[features.PADDING_MASK], "int32")
        second = ops.cast(inputs[features.SEGMENT_IDS], "int32")
        a, b = masked_mean(sequence, real * (1 - second)), masked_mean(sequence, real * second)
        return head.dense(head.dropout_layer(ops.concatenate([a, b, ops.abs(a - b), a * b], axis=-1)))

    task.Task._pooled_head = staticmethod(pooled_head)
    sys.argv = ["run_classifier.py"] + argv
    runpy.run_path(os.path.join(REPO, "scripts", "run_classifier.py"), run_name="__main__")


def _summarize(payload: dict) -> None:
    payload["summary"] = {v: mean_sd([r["dev_accuracy"] for r in sorted(payload["runs"], key=lambda r: r["seed"])
                                      if r["variant"] == v])
                          for v in VARIANTS if any(r["variant"] == v for r in payload["runs"])}


def main() -> None:
    # allow_abbrev=False: the child's --seed must reach run_classifier.py, not be read as an abbreviated --seeds
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default=OUTPUT)
    parser.add_argument("--segments_child", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.segments_child:
        return _segments_child(rest)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {VARIANTS}")
    payload = resumable_payload(args.output, __file__, None)
    payload["what"] = ("KLUE-NLI dev accuracy (201 pairs carved from the 1,998 training pairs, split seed 0, grouped "
                       "by premise) of the built-in Korean model fine-tuned with issue 12's flags on the pair, the "
                       "hypothesis alone, or the pair pooled per sentence; the test file is not read")
    from bert_tf.pretrained import KOREAN_BERT_SHA256, korean_bert_dir
    korean_bert_dir()  # verifies the weights the runs start from against KOREAN_BERT_SHA256
    sha = KOREAN_BERT_SHA256
    if payload.get("korean_bert_sha256", sha) != sha:
        parser.error(f"{args.output} holds runs of other Korean weights ({payload['korean_bert_sha256'][:8]}...); "
                     "give another --output")
    payload["korean_bert_sha256"] = sha  # the weights every run here started from
    done = {(r["variant"], r["seed"]) for r in payload["runs"]}
    with tempfile.TemporaryDirectory(prefix="ko_nli_") as data:
        payload["split"] = write_split(data)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for variant in variants:
                if (variant, seed) in done:
                    continue
                with tempfile.TemporaryDirectory(prefix="ko_nli_run_") as out:
                    cmd = command(variant, seed, data, out)
                    results, seconds = run_dev_only(cmd, out, seed)
                payload["runs"].append({
                    "variant": variant, "seed": seed, "seconds": round(seconds, 1),
                    "command": " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c
                                        for c in cmd[1:]).replace(data, "SPLIT_DIR").replace(out, "OUT"),
                    "dev_accuracy": results["dev"]["accuracy"], "dev_macro_f1": results["dev"]["macro_f1"],
                    "learning_rate": results["learning_rate"], "best_step": results["best_step"],
                    "sweep": [{k: s[k] for k in ("learning_rate", "best_step", "accuracy")}
                              for s in results["sweep"]]})
                print(payload["runs"][-1], flush=True)
                write_runs(args.output, payload, key=lambda r: (r["variant"], r["seed"]), summarize=_summarize)


if __name__ == "__main__":
    main()
