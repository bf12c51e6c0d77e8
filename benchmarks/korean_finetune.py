"""The built-in Korean BERT against random initialization of the same architecture, on the four Korean samples.

Each run is the user's own command, `scripts/run_classifier.py` or `scripts/run_ner.py`, in its own process,
with issue 12's acceptance flags: `--learning_rate=1e-4,3e-4 --num_train_epochs=3 --train_batch_size=32`, a
sequence length of 64 (128 for KLUE-NER, whose input is one piece per syllable). With two learning rates and no
`--dev_file` the script carves 10% of the training file (fixed split seed) as the dev set, picks the epoch and
learning rate there, and scores the test file once with that model. Pre-trained runs pass
`--init_checkpoint=$(korean_bert_dir)`; random runs pass `--bert_config_file` and `--vocab_file` of the same
directory instead (same architecture, vocabulary and pooling, random weights). Casing comes from the config.

    python benchmarks/korean_finetune.py --tasks=nsmc,klue_nli,korsts,klue_ner --inits=pretrained,random \
        --seeds=0,1,2

`korsts_bi` is KorSTS with `--task_type=bi_encoder` (sentence-transformers' bi-encoder) instead of the paper's
cross-encoder regressor (`korsts`).

Results are appended to benchmarks/results/korean_finetune.json as each run finishes; rerunning the same
command skips the runs already there (an interrupted benchmark resumes). `summary` is the built-in model's;
a `--model_dir` candidate's goes under `candidate_summaries`, keyed by the start of its weights' SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO, mean_sd, resumable_payload, write_runs  # noqa: E402

DATA = os.path.join(REPO, "benchmarks", "data")
RESOURCES = os.path.join(REPO, "bert_tf", "resources")
COMMON = ["--do_train", "--do_eval", "--train_batch_size=32", "--learning_rate=1e-4,3e-4", "--num_train_epochs=3"]

TASKS = {
    "nsmc": dict(script="run_classifier.py", data_format="nsmc", seq=64, metric="accuracy",
                 train=os.path.join(RESOURCES, "nsmc", "ratings_train.txt"),
                 test=os.path.join(RESOURCES, "nsmc", "ratings_test.txt")),
    "klue_nli": dict(script="run_classifier.py", data_format="klue_nli", seq=64, metric="accuracy",
                     train=os.path.join(DATA, "klue_nli", "klue-nli-v1.1_train.json"),
                     test=os.path.join(DATA, "klue_nli", "klue-nli-v1.1_test.json")),
    "korsts": dict(script="run_classifier.py", data_format="korsts", seq=64, metric="spearman",
                   train=os.path.join(DATA, "korsts", "sts-train.tsv"),
                   test=os.path.join(DATA, "korsts", "sts-dev.tsv")),
    # KorSTS with a bi-encoder (each sentence encoded alone, cosine; sentence-transformers' setup) instead of
    # the paper's cross-encoder regressor above.
    "korsts_bi": dict(script="run_classifier.py", data_format="korsts", seq=64, metric="spearman",
                      flags=["--task_type=bi_encoder"], train=os.path.join(DATA, "korsts", "sts-train.tsv"),
                      test=os.path.join(DATA, "korsts", "sts-dev.tsv")),
    "klue_ner": dict(script="run_ner.py", data_format="klue_ner", seq=128, metric="f1",
                     train=os.path.join(DATA, "klue_ner", "klue-ner-v1.1_train.tsv"),
                     test=os.path.join(DATA, "klue_ner", "klue-ner-v1.1_test.tsv")),
}
INITS = ("pretrained", "random")


def command(task: str, init: str, seed: int, model_dir: str, output_dir: str) -> list[str]:
    t = TASKS[task]
    start = ([f"--init_checkpoint={model_dir}"] if init == "pretrained" else
             [f"--bert_config_file={model_dir}/bert_config.json", f"--vocab_file={model_dir}/vocab.txt"])
    return ([sys.executable, os.path.join("scripts", t["script"]), f"--data_format={t['data_format']}",
             f"--train_file={os.path.relpath(t['train'], REPO)}", f"--eval_file={os.path.relpath(t['test'], REPO)}",
             f"--max_seq_length={t['seq']}", f"--seed={seed}", f"--output_dir={output_dir}"] + t.get("flags", [])
            + COMMON + start)


def run_key(run: dict) -> tuple:
    return run["task"], run["init"], run["seed"], run.get("start_sha256")


def architecture_sha256(model_dir: str) -> str:
    """SHA-256 of what a random-init run starts from: the model's bert_config.json (its settings, sorted, with the
    casing under one name: the file once said `lowercase`, now `do_lower_case`) and vocab.txt."""
    with open(os.path.join(model_dir, "bert_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if "lowercase" in config:
        config["do_lower_case"] = config.pop("lowercase")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode("utf-8"))
    with open(os.path.join(model_dir, "vocab.txt"), "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()


def summarize(runs: list[dict], keys: dict) -> list[dict]:
    """Mean and sd per (task, init) over the runs of the current model (older models' runs stay in the file)."""
    runs = [r for r in runs if r.get("start_sha256") == keys[r["init"]]]
    rows = []
    for task in TASKS:
        for init in INITS:
            values = [r["result"][TASKS[task]["metric"]] for r in runs if (r["task"], r["init"]) == (task, init)]
            if values:
                rows.append({"task": task, "init": init, "metric": TASKS[task]["metric"], **mean_sd(values)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--inits", default=",".join(INITS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "korean_finetune.json"))
    parser.add_argument("--model_dir", default=None,
                        help="A candidate Korean model directory (Hugging Face layout) instead of the built-in one: "
                             "how a rebuilt model is compared, on the dev numbers, before it replaces the shipped one")
    args = parser.parse_args(argv)
    from bert_tf.pretrained import KOREAN_BERT_SHA256, korean_bert_dir, sha256_of
    builtin = korean_bert_dir()  # verifies the built-in weights against KOREAN_BERT_SHA256 (one read)
    model_dir = os.path.abspath(args.model_dir) if args.model_dir else builtin
    payload = resumable_payload(args.output, __file__, argv)
    # A pre-trained run belongs to the weights it started from; a random run only to the architecture and vocabulary,
    # so rebuilding the weights with the same vocabulary reuses the random baseline.
    builtin_keys = {"pretrained": KOREAN_BERT_SHA256, "random": architecture_sha256(builtin)}
    keys = builtin_keys if model_dir == builtin else {
        "pretrained": sha256_of(os.path.join(model_dir, "model.safetensors")), "random": architecture_sha256(model_dir)}

    def update_summaries(payload):
        payload["summary"] = summarize(payload["runs"], builtin_keys)
        if keys != builtin_keys:
            payload.setdefault("candidate_summaries", {})[keys["pretrained"][:8]] = summarize(payload["runs"], keys)
    done = {run_key(r) for r in payload["runs"]}
    # Runs made on different machines share the file: each run records its own CPU (the file's top-level
    # `command` and `machine` are the last invocation's).
    machine = {k: payload["machine"].get(k) for k in ("cpu_model", "cpu_flags", "cpu_count")}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for task in args.tasks.split(","):
            for init in args.inits.split(","):
                if (task, init, seed, keys[init]) in done:
                    continue
                with tempfile.TemporaryDirectory(prefix=f"ko_{task}_{init}_") as out:
                    cmd = command(task, init, seed, model_dir, out)
                    print(f"--- {task} {init} seed {seed}", flush=True)
                    start = time.time()
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                    seconds = round(time.time() - start, 1)
                    if proc.returncode:
                        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                        print(f"    FAILED (exit {proc.returncode})", flush=True)
                        continue
                    with open(os.path.join(out, "eval_results.json"), encoding="utf-8") as f:
                        results = json.load(f)
                shown = ["python"] + [c.replace(model_dir, "$KO") for c in cmd[1:] if not c.startswith("--output_dir")]
                numbers = {k: v for k, v in results.items() if isinstance(v, (int, float))}
                print(f"    {TASKS[task]['metric']} = {numbers.get(TASKS[task]['metric'])} ({seconds} s)", flush=True)
                payload["runs"].append({"task": task, "init": init, "seed": seed, "start_sha256": keys[init],
                                        "command": " ".join(shown), "seconds": seconds, "result": numbers,
                                        "selection": results.get("selection"), "scored_on": results.get("scored_on"),
                                        "dev": results.get("dev"), "dev_source": results.get("dev_source"),
                                        "machine": machine, "finished": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                      time.gmtime())})
                write_runs(args.output, payload, run_key, update_summaries, merged=("candidate_summaries",))
    write_runs(args.output, payload, run_key, update_summaries, merged=("candidate_summaries",))
    for r in summarize(payload["runs"], keys):
        print(f"{r['task']:9} {r['init']:10} {r['metric']:9} {r['mean']:.4f} ± {r['sd']:.4f} (n={r['n']}) {r['values']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
