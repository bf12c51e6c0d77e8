"""Resumable benchmarks (`benchmarks/korean_finetune.py`, `benchmarks/finetune_accuracy.py`) share one results
file between invocations: two running at once must both keep their runs (`benchmarks.common.write_runs`)."""

import json
import multiprocessing
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: benchmarks/
from benchmarks.common import write_runs  # noqa: E402


def _key(run):
    return run["task"], run["seed"]


def _summarize(payload):
    payload["summary"] = sorted(f"{r['task']}/{r['seed']}={r['value']}" for r in payload["runs"])


def test_two_invocations_that_read_the_file_before_either_wrote_keep_both_runs(tmp_path):
    path = str(tmp_path / "results.json")
    with open(path, "w") as f:
        json.dump({"runs": [{"task": "nsmc", "seed": 0, "value": 1}], "candidate_summaries": {"aaaa": 1}}, f)
    with open(path) as f:
        first = json.load(f)  # both processes read the file at their start
    with open(path) as f:
        second = json.load(f)
    first["runs"].append({"task": "nsmc", "seed": 1, "value": 2})
    first["candidate_summaries"]["bbbb"] = 2
    write_runs(path, first, _key, _summarize, merged=("candidate_summaries",))
    second["runs"].append({"task": "klue_nli", "seed": 0, "value": 3})
    second["candidate_summaries"]["cccc"] = 3
    write_runs(path, second, _key, _summarize, merged=("candidate_summaries",))
    with open(path) as f:
        final = json.load(f)
    assert sorted(_key(r) for r in final["runs"]) == [("klue_nli", 0), ("nsmc", 0), ("nsmc", 1)]
    assert final["summary"] == ["klue_nli/0=3", "nsmc/0=1", "nsmc/1=2"]  # summarized after the merge
    assert final["candidate_summaries"] == {"aaaa": 1, "bbbb": 2, "cccc": 3}


def test_a_run_made_again_replaces_the_file_s_older_one(tmp_path):
    path = str(tmp_path / "results.json")
    write_runs(path, {"runs": [{"task": "nsmc", "seed": 0, "value": 1}]}, _key, _summarize)
    write_runs(path, {"runs": [{"task": "nsmc", "seed": 0, "value": 9}]}, _key, _summarize)
    with open(path) as f:
        assert json.load(f)["runs"] == [{"task": "nsmc", "seed": 0, "value": 9}]


def _writer(path, task, count):
    payload = {"runs": []}
    for seed in range(count):
        payload["runs"].append({"task": task, "seed": seed, "value": seed})
        write_runs(path, payload, _key, _summarize)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "results.json")
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_writer, args=(path, task, 25)) for task in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open(path) as f:
        runs = json.load(f)["runs"]
    assert sorted(_key(r) for r in runs) == sorted((t, s) for t in "abc" for s in range(25))
    assert os.path.isfile(path + ".lock")


def test_finetune_accuracy_counts_only_runs_that_started_from_the_current_weights():
    # The built-in Korean model was replaced three times; its old KorSTS rows stayed in the summary unnoticed.
    from benchmarks.finetune_accuracy import model_sha256, run_key, summarize

    korean, minilm = model_sha256("korean"), model_sha256("minilm")
    old = "48748b256c01e5c96008432687c9ae4fb4e6db02da3528f2236c29ed64b78b9e"
    assert korean != old
    runs = [{"task": "korsts", "system": "bert_tf", "seed": 0, "model_sha256": old, "result": {"spearman": 0.2}},
            {"task": "korsts", "system": "bert_tf", "seed": 0, "model_sha256": korean, "result": {"spearman": 0.5}},
            {"task": "korsts", "system": "bert_tf", "seed": 1, "model_sha256": korean, "result": {"spearman": 0.7}},
            {"task": "korsts", "system": "keras_hub", "seed": 0, "result": {"spearman": 0.4}},  # no record: not counted
            {"task": "banking77", "system": "bert_tf", "seed": 0, "model_sha256": minilm, "result": {"accuracy": 0.9}},
            {"task": "banking77", "system": "keras_hub", "seed": 0, "model_sha256": korean,
             "result": {"accuracy": 0.1}}]  # Banking77 runs on MiniLM: Korean weights are not its current ones
    rows = {(r["task"], r["system"]): (r["seeds"], r["values"]) for r in summarize(runs)}
    assert rows == {("korsts", "bert_tf"): ([0, 1], [0.5, 0.7]), ("banking77", "bert_tf"): ([0], [0.9])}
    assert run_key(runs[0]) != run_key(runs[1])  # the same run with new weights is a new run, kept beside the old
