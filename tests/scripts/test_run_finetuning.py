"""Each fine-tuning script end to end as a subprocess, on tiny real data and a tiny random-init model.

The same tiny vocabulary (tests/testdata/parity/interop_tiny/hf/vocab.txt) makes most words [UNK]; these runs
check the plumbing (flags, files written, metrics present and sane), not accuracy.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(REPO, "tests", "testdata")
VOCAB = os.path.join(TESTDATA, "parity", "interop_tiny", "hf", "vocab.txt")
TINY = ["--vocab_file", VOCAB, "--preset", "test", "--train_batch_size", "8", "--eval_batch_size", "8",
        "--num_train_epochs", "1", "--learning_rate", "1e-3"]


def run(script, *args, check=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", script), *args], capture_output=True,
                          text=True, env=env, timeout=600, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def results(output_dir):
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_run_classifier_sweep_predict_and_exports(tmp_path):
    out = str(tmp_path / "out")
    run("run_classifier.py", "--do_train", "--do_eval", "--do_predict", "--data_format=banking77",
        f"--train_file={TESTDATA}/banking77/train.csv", f"--eval_file={TESTDATA}/banking77/test.csv",
        f"--predict_file={TESTDATA}/banking77/test.csv", "--max_seq_length=24", f"--output_dir={out}",
        *TINY, "--learning_rate=1e-3,3e-4", "--save_formats=keras,hf,google", "--max_input_chars_per_word=5")
    r = results(out)
    assert 0.0 <= r["accuracy"] <= 1.0 and r["num_examples"] == 15
    assert [s["learning_rate"] for s in r["sweep"]] == [1e-3, 3e-4] and r["pooling"] == "cls"
    for name in ("best_model.keras", "training_curves.png", "predictions.tsv", "lr_0.001/summaries/train",
                 "lr_0.0003/summaries/eval", "best_hf/model.safetensors", "best_google/bert_model.ckpt.index"):
        assert os.path.exists(os.path.join(out, name)), name
    # The vocabulary travels with the model: export_model.py finds it beside best_model.keras.
    assert open(os.path.join(out, "vocab.txt"), encoding="utf-8").read() == open(VOCAB, encoding="utf-8").read()
    with open(os.path.join(out, "training_curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    lines = open(os.path.join(out, "predictions.tsv"), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("guid\tprediction") and len(lines) == 16

    # Evaluate the saved model again without training: the same accuracy, packed to the recorded length 24
    # without --max_seq_length (the flag's default is 128), words over the recorded 5 characters as [UNK].
    again = str(tmp_path / "again")
    proc = run("run_classifier.py", "--do_eval", "--data_format=banking77",
               f"--eval_file={TESTDATA}/banking77/test.csv", f"--init_checkpoint={out}/best_model.keras",
               f"--vocab_file={VOCAB}", f"--output_dir={again}")
    assert "max_seq_length 24: as" in proc.stdout and "max_input_chars_per_word 5: as" in proc.stdout
    assert results(again)["accuracy"] == pytest.approx(r["accuracy"])

    _check_export_packs_to_the_recorded_max_seq_length(out, tmp_path / "serving", 24)


def _check_export_packs_to_the_recorded_max_seq_length(out, export_base, recorded):
    """best_model.keras records the max_seq_length (and max_input_chars_per_word, 5) it was fine-tuned with:
    export_model.py without the flags uses them; an explicit flag still wins. The served length L shows as: two
    texts that differ only after their first L - 2 pieces get identical outputs, two that differ in piece L - 2
    do not. The word limit: "gallon" and "bought" (in the vocabulary, 6 characters) are both [UNK] under 5."""
    import numpy as np
    import tensorflow as tf

    from bert_tf.checkpoints import load_task
    model = load_task(os.path.join(out, "best_model.keras"))
    assert (model.max_seq_length, model.max_input_chars_per_word) == (recorded, 5)

    def check_packed_length(version, length):
        serve = tf.saved_model.load(os.path.join(export_base, "clf", version)).signatures["serving_default"]

        def probabilities(words):  # one word piece per word (all in the vocabulary)
            return serve(text=tf.constant([" ".join(words)]))["probabilities"].numpy()

        kept = [f"tok{i}" for i in range(length - 2)]  # [CLS] + these + [SEP] fill `length`
        np.testing.assert_array_equal(probabilities(kept + ["the", "man"]), probabilities(kept + ["milk", "dog"]))
        assert not np.array_equal(probabilities(kept[:-1] + ["the"]), probabilities(kept[:-1] + ["milk"]))
        return np.array_equal(probabilities(["gallon"]), probabilities(["bought"]))  # both [UNK]?

    export = [f"--model={out}/best_model.keras", f"--export_base={export_base}", "--model_name=clf", "--nowarmup"]
    assert f"max_seq_length {recorded}," in run("export_model.py", *export).stdout
    assert check_packed_length("1", recorded)
    flags = ["--max_seq_length=16", "--max_input_chars_per_word=200"]
    assert "max_seq_length 16," in run("export_model.py", *export, *flags).stdout
    assert not check_packed_length("2", 16)


@pytest.mark.slow
def test_run_classifier_regression_pairs_and_bad_data(tmp_path):
    out = str(tmp_path / "sts")
    run("run_classifier.py", "--do_train", "--do_eval", "--data_format=korsts",
        f"--train_file={TESTDATA}/korsts/sts-train.tsv", f"--eval_file={TESTDATA}/korsts/sts-dev.tsv",
        "--max_seq_length=32", f"--output_dir={out}", *TINY)
    r = results(out)
    assert r["task_type"] == "regressor" and -1.0 <= r["pearson"] <= 1.0 and r["mse"] >= 0
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tdocument\tlabel\n1\tgood\t1\n2\tbad\n", encoding="utf-8")
    proc = run("run_classifier.py", "--do_train", "--data_format=nsmc", f"--train_file={bad}",
               f"--output_dir={tmp_path / 'x'}", *TINY, check=False)
    assert proc.returncode == 1 and "bad.tsv:3: expected 3 fields, found 2" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_run_classifier_bi_encoder_predict_and_export(tmp_path):
    """--task_type=bi_encoder end to end: train on KorSTS pairs, write predictions, export (the task type and the
    pair inputs come from the model), and the SavedModel scores the raw pairs as predictions.tsv does."""
    import numpy as np
    import tensorflow as tf
    out, export_base = str(tmp_path / "bi"), str(tmp_path / "serving")
    dev = f"{TESTDATA}/korsts/sts-dev.tsv"
    run("run_classifier.py", "--do_train", "--do_eval", "--do_predict", "--data_format=korsts",
        "--task_type=bi_encoder", f"--train_file={TESTDATA}/korsts/sts-train.tsv", f"--eval_file={dev}",
        f"--predict_file={dev}", "--max_seq_length=20", "--score_range=0,6", f"--output_dir={out}", *TINY)
    r = results(out)
    assert r["task_type"] == "bi_encoder" and r["pooling"] == "mean" and -1.0 <= r["spearman"] <= 1.0
    assert r["score_range"] == [0.0, 6.0]  # --score_range, not KorSTS's default 0-5
    with open(os.path.join(out, "predictions.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    assert rows[0] == ["guid", "score", "text_a", "text_b"] and len(rows) == 21
    run("export_model.py", f"--model={out}/best_model.keras", f"--export_base={export_base}", "--model_name=sim",
        "--nowarmup")
    texts, texts_b, scores = [r[2] for r in rows[1:]], [r[3] for r in rows[1:]], [float(r[1]) for r in rows[1:]]
    served = tf.saved_model.load(os.path.join(export_base, "sim", "1")).signatures["serving_default"](
        text=tf.constant(texts), text_b=tf.constant(texts_b))
    np.testing.assert_allclose(served["score"].numpy(), scores, atol=1e-4)
    # Served over gRPC (Predict through the text helper, and TF Serving's Regress API) and REST.
    from serving.client import RestClient, ServingClient
    from serving.server import ModelServer
    with ModelServer(model_name="sim", model_base_path=os.path.join(export_base, "sim"), port=0,
                     rest_api_port=0) as server:
        with ServingClient(server.grpc_address, "sim") as client:
            client.wait_until_available(timeout=120)
            np.testing.assert_allclose(client.regress_text(texts, texts_b), scores, atol=1e-4)
            examples = [{"text": a, "text_b": b} for a, b in zip(texts, texts_b)]
            np.testing.assert_allclose(client.regress(examples, signature_name="regress"), scores, atol=1e-4)
        rest = RestClient(server.rest_url, "sim")
        np.testing.assert_allclose(rest.regress_text(texts[:3], texts_b[:3]), scores[:3], atol=1e-4)
    proc = run("run_classifier.py", "--do_train", "--data_format=korsts", "--task_type=bi_encoder",
               f"--train_file={TESTDATA}/korsts/sts-train.tsv", "--score_range=0,4", f"--output_dir={tmp_path / 'x'}",
               *TINY, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert ("sts-train.tsv: 15 training score(s) lie outside the bi-encoder's score range 0-4 (for example 4.25)"
            in proc.stderr)


@pytest.mark.slow
def test_run_classifier_task_type_names(tmp_path):
    """--task_type takes the task classes' names (regressor here, on a generic tsv); the old
    classification/regression are accepted for one release with a warning."""
    out = str(tmp_path / "tsv")
    proc = run("run_classifier.py", "--do_train", "--data_format=tsv", f"--train_file={TESTDATA}/korsts/sts-train.tsv",
               "--text_a_column=sentence1", "--text_b_column=sentence2", "--label_column=score",
               "--task_type=regressor", "--max_seq_length=32", "--max_train_steps=2", f"--output_dir={out}", *TINY)
    assert results(out)["task_type"] == "regressor" and "deprecated" not in proc.stderr
    for old, new in (("classification", "classifier"), ("regression", "regressor")):
        proc = run("run_classifier.py", "--do_train", f"--task_type={old}", f"--output_dir={tmp_path / old}",
                   check=False)
        assert f"WARNING: --task_type={old} is deprecated" in proc.stderr and f"use --task_type={new}" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--dtype", "--dtype_policy"])  # --dtype_policy: deprecated, for one release
def test_dtype_flag_reaches_the_model(tmp_path, flag):
    out = str(tmp_path / "out")
    proc = run("run_classifier.py", "--do_train", "--data_format=banking77", "--max_train_steps=1",
               f"--train_file={TESTDATA}/banking77/train.csv", "--max_seq_length=16", f"--output_dir={out}", *TINY,
               f"{flag}=mixed_bfloat16")
    with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["dtype"] == "mixed_bfloat16"
    assert ("--dtype_policy is deprecated" in proc.stderr) == (flag == "--dtype_policy")


@pytest.mark.slow
def test_run_ner(tmp_path):
    out = str(tmp_path / "ner")
    run("run_ner.py", "--do_train", "--do_eval", "--do_predict", "--data_format=conll",
        f"--train_file={TESTDATA}/wnut17/wnut17train.sample.conll",
        f"--eval_file={TESTDATA}/wnut17/wnut17train.sample.conll",
        f"--predict_file={TESTDATA}/wnut17/emerging.dev.sample.conll", "--max_seq_length=32",
        f"--output_dir={out}", *TINY)
    r = results(out)
    assert 0.0 <= r["f1"] <= 1.0 and "O" in r["tags"] and 0.0 < r["tag_accuracy"] <= 1.0
    # Per-type precision/recall/F1/support; supports add up to the gold entities of the eval file.
    from bert_tf.data import conll
    from bert_tf.metrics import get_entities
    gold = [get_entities(list(e.tags)) for e in conll.read_conll(f"{TESTDATA}/wnut17/wnut17train.sample.conll")]
    gold_types = {entity[0] for sentence in gold for entity in sentence}
    assert {k[len("support_"):] for k in r if k.startswith("support_")} >= gold_types
    assert r["support"] == sum(len(sentence) for sentence in gold) == \
        sum(r[f"support_{t}"] for t in gold_types) > 0
    assert all(0.0 <= r[f"{m}_{t}"] <= 1.0 for t in gold_types for m in ("precision", "recall", "f1"))
    predictions = open(os.path.join(out, "predictions.txt"), encoding="utf-8").read().split("\n\n")
    assert len([p for p in predictions if p.strip()]) == 12


@pytest.mark.slow
def test_run_ner_klue_characters(tmp_path):
    out = str(tmp_path / "klue")
    run("run_ner.py", "--do_train", "--do_eval", "--data_format=klue_ner",
        f"--train_file={TESTDATA}/klue_ner/klue-ner-v1.1_train.tsv",
        f"--eval_file={TESTDATA}/klue_ner/klue-ner-v1.1_test.tsv", "--max_seq_length=64", "--do_lower_case=false",
        f"--output_dir={out}", *TINY)
    r = results(out)
    assert 0.0 <= r["f1"] <= 1.0 and r["data_format"] == "klue_ner"
    first = open(os.path.join(out, "eval_predictions.txt"), encoding="utf-8").read().split("\n\n")[0].splitlines()
    assert first[0].split("\t")[0] == "팀"  # one line per character of the first test sentence


@pytest.mark.slow
def test_run_squad(tmp_path):
    out = str(tmp_path / "squad")
    run("run_squad.py", "--do_train", "--do_predict", f"--train_file={TESTDATA}/squad/train-v1.1-sample.json",
        f"--predict_file={TESTDATA}/squad/dev-v1.1-sample.json", "--max_seq_length=64", "--doc_stride=32",
        "--max_query_length=16", "--max_answer_length=10", "--n_best_size=20", f"--output_dir={out}", *TINY)
    r = results(out)
    assert 0.0 <= r["exact_match"] <= 100.0 and 0.0 <= r["f1"] <= 100.0
    predictions = json.load(open(os.path.join(out, "predictions.json"), encoding="utf-8"))
    nbest = json.load(open(os.path.join(out, "nbest_predictions.json"), encoding="utf-8"))
    dev = json.load(open(f"{TESTDATA}/squad/dev-v1.1-sample.json", encoding="utf-8"))
    qids = {qa["id"] for a in dev["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert set(predictions) == qids == set(nbest)
    contexts = [p["context"] for a in dev["data"] for p in a["paragraphs"]]
    checked = 0
    for qid, entries in nbest.items():
        assert 1 <= len(entries) <= 20
        top = entries[0]
        assert predictions[qid] == top["text"]
        if top["start_char"] >= 0:  # else google-research/bert's "empty" fallback (no valid span at all)
            assert any(c[top["start_char"]:top["end_char"]] == top["text"] for c in contexts)
            checked += 1
    # A tiny random model trained one epoch mostly learns "[CLS]" (the label of windows without the answer);
    # with 20 candidates per side most questions still get a real span.
    assert checked > len(nbest) // 2


@pytest.mark.slow
def test_run_squad_v2_null_odds(tmp_path):
    v2 = tmp_path / "v2.json"
    context = "the man went to the store . he bought a gallon of milk ."
    v2.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{
        "context": context,
        "qas": [{"id": "a", "question": "what did he buy ?", "is_impossible": False,
                 "answers": [{"text": "a gallon of milk", "answer_start": context.index("a gallon")}]},
                {"id": "b", "question": "what did the dog play ?", "is_impossible": True, "answers": []}]}]}]}))
    out = str(tmp_path / "out")
    run("run_squad.py", "--do_train", "--do_predict", f"--train_file={v2}", f"--predict_file={v2}",
        "--version_2_with_negative", "--max_seq_length=48", f"--output_dir={out}", *TINY)
    r = results(out)
    assert r["HasAns_total"] == 1 and r["NoAns_total"] == 1
    null_odds = json.load(open(os.path.join(out, "null_odds.json"), encoding="utf-8"))
    assert set(null_odds) == {"a", "b"}


@pytest.mark.slow
def test_run_multiple_choice(tmp_path):
    out = str(tmp_path / "mc")
    run("run_multiple_choice.py", "--do_train", "--do_eval", "--do_predict",
        f"--train_file={TESTDATA}/swag_handmade/train.csv", f"--eval_file={TESTDATA}/swag_handmade/val.csv",
        f"--predict_file={TESTDATA}/swag_handmade/val.csv", "--max_seq_length=24", "--pooling=mean",
        f"--output_dir={out}", *TINY)
    r = results(out)
    assert r["num_examples"] == 2 and r["pooling"] == "mean" and 0.0 <= r["accuracy"] <= 1.0
    lines = open(os.path.join(out, "predictions.tsv"), encoding="utf-8").read().splitlines()
    assert lines[0] == "guid\tprediction\tp0\tp1\tp2\tp3" and len(lines) == 3
