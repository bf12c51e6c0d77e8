"""`scripts/build_korean_bert.sh` end to end: every stage of the built-in Korean model's recipe (corpus split,
vocabulary, whole-word-masked records of 64 and 128 pieces, MLM, ELECTRA resumed over two step targets, the
128-piece leg, two emoticon rounds, their weight average, the piece-match stage and a third emoticon round, their
average, the coverage stage and a fourth emoticon round, the final weight average) run with tiny sizes on a tiny corpus, into a scratch
directory. The shipped model is never touched; a rerun skips every finished stage."""

import collections
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.data.emoticons import CLASSES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KOWIKI = os.path.join(REPO, "tests", "testdata", "kowiki", "kowiki_sample.txt")
# One emoticon of each of bert_tf.data.emoticons.CLASSES, so every class has reviews to draw from.
EMOTICONS = ["ㅋㅋㅋ", "ㅎㅎ", "ㅠㅠ", "^^", "ㅡㅡ", ";;", "♥", "!!!"]


def _sentences(limit):
    out = []
    with open(KOWIKI, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if len(line) >= 12:
                out.append(line[:60])
            if len(out) == limit:
                return out
    raise AssertionError("kowiki sample too short")


def _write_corpus(root):
    """A Wikipedia part (120 documents of the bundled sample) and a review part shaped like NSMC's unlabeled
    reviews (gzipped, one document per movie, short lines, each with one emoticon)."""
    os.makedirs(os.path.join(root, "kowiki_pretrain"))
    os.makedirs(os.path.join(root, "nsmc_unlabeled"))
    docs, doc = [], []
    with open(KOWIKI, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                doc.append(line.strip())
            elif doc:
                docs.append(doc)
                doc = []
            if len(docs) == 120:
                break
    with open(os.path.join(root, "kowiki_pretrain", "kowiki_sample.txt"), "w", encoding="utf-8") as f:
        f.write("".join("\n".join(d) + "\n\n" for d in docs))
    sentences = _sentences(900)
    with gzip.open(os.path.join(root, "nsmc_unlabeled", "nsmc_unlabeled.txt.gz"), "wt", encoding="utf-8") as f:
        for movie in range(300):
            lines = [f"{sentences[3 * movie + k]} {EMOTICONS[(movie + k) % 8]}" for k in range(3)]
            f.write("\n".join(lines) + "\n\n")


@pytest.mark.slow
def test_the_whole_recipe_runs_resumes_and_writes_a_loadable_model(tmp_path):
    from bert_tf.pretrained import korean_bert_dir, sha256_of
    shipped = sha256_of(os.path.join(korean_bert_dir(), "model.safetensors"))
    corpus, work, out = str(tmp_path / "corpus"), str(tmp_path / "work"), str(tmp_path / "model")
    _write_corpus(corpus)
    env = dict(os.environ, PYTHON=sys.executable, OUT=out, VOCAB_SIZE="1200", EMOTICON_PER_CLASS="12",
               STEPS="6", ELECTRA_STEPS="3,6", ELECTRA128_STEPS="4", MATCH_PAIRS="40", MATCH_DEV_PAIRS="8",
               CUDA_VISIBLE_DEVICES="")

    def build():
        run = subprocess.run(["bash", os.path.join(REPO, "scripts", "build_korean_bert.sh"), work, corpus],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=1500)
        assert run.returncode == 0, run.stdout[-4000:]
        return run.stdout

    log = build()
    printed = [line for line in log.splitlines() if line.startswith("KOREAN_BERT_SHA256 = ")]
    assert printed == [f"KOREAN_BERT_SHA256 = {sha256_of(os.path.join(out, 'model.safetensors'))}"]
    # The stages wrote what the next one reads: the ELECTRA run resumed from 3 to 6 steps, the 128-piece leg
    # ran on 128-piece records, each emoticon round read its own labelled sample.
    with open(os.path.join(work, "electra", "pretraining.json")) as f:
        assert json.load(f)["max_seq_length"] == 64
    with open(os.path.join(out, "pretraining.json")) as f:
        assert json.load(f)["max_seq_length"] == 128
    for round_ in ("emoticon1", "emoticon2", "emoticon3", "emoticon4"):
        with open(os.path.join(work, round_, "emoticons.jsonl"), encoding="utf-8") as f:
            labels = collections.Counter(json.loads(line)["label"] for line in f)
        assert labels == dict.fromkeys(CLASSES, 12)
        # The round's encoder keeps its start's declarations beside float16 weights (convert_checkpoint.py).
        for name in ("1_Pooling/config.json", "pretraining.json", "generator/model.safetensors", "vocab.txt"):
            assert os.path.isfile(os.path.join(work, round_, "model", name)), (round_, name)
    # The output is a model every script takes: Hugging Face layout, float16, mean pooling, the generator beside.
    for name in ("config.json", "vocab.txt", "model.safetensors", "generator/model.safetensors",
                 "1_Pooling/config.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().splitlines()
    assert 300 < len(vocab) <= 1200 and "[CLS]" in vocab
    from safetensors.numpy import load_file
    from bert_tf.checkpoints import load_encoder
    weights = load_file(os.path.join(out, "model.safetensors"))
    assert {w.dtype for w in weights.values()} == {np.dtype("float16")}
    # The model before the piece-match stage is the mean of the 128-piece model and the second emoticon round
    # (alpha 0.5); stage 5 is the mean of the piece-match stage (which started from that model) and the third
    # emoticon round (which started from the piece-match stage); the shipped encoder is the mean of the coverage
    # stage (from stage 5) and the fourth emoticon round (from the coverage stage).
    def tensor(*path):
        return load_file(os.path.join(work, *path, "model.safetensors"))[name].astype(np.float32)
    name = "encoder.layer.0.attention.self.query.weight"
    start, tuned, wise = tensor("electra128_f16"), tensor("emoticon2", "model"), tensor("wise")
    np.testing.assert_allclose(wise, (start + tuned) / 2, atol=1e-3)
    assert not np.array_equal(start, tuned)
    with open(os.path.join(work, "match", "model", "piece_match.json"), encoding="utf-8") as f:
        match = json.load(f)
    assert match["start_sha256"] == sha256_of(os.path.join(work, "wise", "model.safetensors"))
    assert (match["dev_pairs"], len(match["history"]["val_binary_accuracy"])) == (8, 3)
    assert match["sha256"] == sha256_of(os.path.join(work, "match", "model", "model.safetensors"))
    matched, third, stage5 = tensor("match", "model"), tensor("emoticon3", "model"), tensor("stage5")
    np.testing.assert_allclose(stage5, (matched + third) / 2, atol=1e-3)
    assert not np.array_equal(wise, matched) and not np.array_equal(matched, third)
    with open(os.path.join(work, "coverage", "model", "piece_match.json"), encoding="utf-8") as f:
        coverage = json.load(f)
    assert coverage["start_sha256"] == sha256_of(os.path.join(work, "stage5", "model.safetensors"))
    assert coverage["coverage_weight"] == 1.0 and "val_coverage_mae" in coverage["history"]
    covered, fourth = tensor("coverage", "model"), tensor("emoticon4", "model")
    np.testing.assert_allclose(weights[name].astype(np.float32), (covered + fourth) / 2, atol=1e-3)
    assert not os.path.exists(os.path.join(out, "piece_match.json"))  # a stage's record stays with the stage
    assert not np.array_equal(stage5, covered) and not np.array_equal(covered, fourth)
    config = load_encoder(out).get_config()
    assert config["num_hidden_layers"] == 4 and config["hidden_size"] == 256 and config["vocab_size"] == len(vocab)
    assert config["do_lower_case"] is False  # cased: lower-casing would decompose Hangul into jamo
    # A rerun skips every finished stage and writes the same model.
    first = sha256_of(os.path.join(out, "model.safetensors"))
    log = build()
    assert "run_classifier.py" not in log and f"KOREAN_BERT_SHA256 = {first}" in log
    assert sha256_of(os.path.join(korean_bert_dir(), "model.safetensors")) == shipped
