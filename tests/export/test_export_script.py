"""scripts/export_model.py: a `.keras` model saved as the fine-tuning scripts save it → a served SavedModel."""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder, features
from bert_tf.tasks import BertClassifier
from bert_tf.tokenization import BertTokenizer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO_ROOT, "scripts", "export_model.py")
VOCAB = os.path.join(REPO_ROOT, "tests", "testdata", "vocab", "uncased_vocab.txt")
LABELS = ["negative", "neutral", "positive"]
TEXTS = ["The film was great!", "Héllo, naïve café", "좋은 영화였다", ""]

pytestmark = pytest.mark.slow


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=600,
                          cwd=REPO_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory):
    """A classifier with its label names, saved as best_model.keras with vocab.txt beside it."""
    keras.utils.set_random_seed(21)
    config = BertConfig.preset("test", vocab_size=30522, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                              initializer_range=0.5)
    model = BertClassifier(BertEncoder.from_bert_config(config), num_classes=len(LABELS), pooling="mean",
                           dropout=0.0, label_names=LABELS)
    rng = np.random.default_rng(0)
    encoder_weights = {id(w) for w in model.encoder.weights}
    for weight in model.weights:
        if id(weight) not in encoder_weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
    run_dir = tmp_path_factory.mktemp("run")
    path = str(run_dir / "best_model.keras")
    model.save(path)
    shutil.copyfile(VOCAB, run_dir / "vocab.txt")
    return model, path


def test_export_script_writes_a_served_classifier(saved_classifier, tmp_path):
    model, path = saved_classifier
    result = _run(f"--model={path}", f"--export_base={tmp_path}", "--model_name=clf", "--max_seq_length=16")
    assert result.returncode == 0, result.stderr[-3000:]
    version_dir = os.path.join(tmp_path, "clf", "1")
    assert f"wrote {version_dir}" in result.stdout
    assert "as classifier" in result.stdout  # the task type came from the model
    # Labels from the model's config, the vocabulary from beside the .keras file, warmup by default.
    with open(os.path.join(version_dir, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS
    assert os.path.isfile(os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests"))
    out = tf.saved_model.load(version_dir).signatures["serving_default"](text=tf.constant(TEXTS))
    tokenizer = BertTokenizer(VOCAB, do_lower_case=True)
    rows = [tokenizer.encode(text, max_seq_length=16) for text in TEXTS]
    inputs = {name: np.stack([row[name] for row in rows]) for name in features.ENCODER_INPUTS}
    expected = tf.nn.softmax(model(inputs, training=False)).numpy()
    np.testing.assert_allclose(out[features.PROBABILITIES].numpy(), expected, atol=1e-5)
    assert out[features.LABELS].numpy().astype(str).tolist() == [LABELS[i] for i in expected.argmax(-1)]

    # A second run adds version 2, here with explicit flags (renamed labels, no warmup).
    result = _run(f"--model={path}", f"--export_base={tmp_path}", "--model_name=clf", "--max_seq_length=16",
                  f"--vocab_file={VOCAB}", "--label_names=bad,meh,good", "--nowarmup", "--task_type=classifier")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(tmp_path, "clf", "2", "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == ["bad", "meh", "good"]
    assert not os.path.exists(os.path.join(tmp_path, "clf", "2", "assets.extra"))


def test_export_script_clear_errors(saved_classifier, tmp_path):
    _, path = saved_classifier
    common = [f"--export_base={tmp_path}", "--model_name=m"]
    missing = _run(f"--model={tmp_path / 'nope.keras'}", f"--vocab_file={VOCAB}", *common)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    wrong_task = _run(f"--model={path}", "--task_type=span_qa", *common)
    assert wrong_task.returncode != 0
    assert "--task_type=span_qa does not match the model, a BertClassifier (classifier)" in wrong_task.stderr
    bad_labels = _run(f"--model={path}", "--label_names=a,b", *common)
    assert bad_labels.returncode != 0 and "2 label_names for a model with 3 classes" in bad_labels.stderr
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copyfile(path, lone / "best_model.keras")
    no_vocab = _run(f"--model={lone / 'best_model.keras'}", *common)
    assert no_vocab.returncode != 0 and "no --vocab_file given and no vocab.txt found" in no_vocab.stderr
    assert "Traceback" not in missing.stderr + wrong_task.stderr + bad_labels.stderr + no_vocab.stderr
    assert not os.path.exists(tmp_path / "m") or os.listdir(tmp_path / "m") == []


RESOLVE_PROBE = """
import sys
sys.argv = ["export_model.py"]
sys.path.insert(0, {scripts!r})
import export_model
from bert_tf import BertConfig, BertEncoder, tasks
encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=99))
models = [tasks.BertClassifier(encoder, 3), tasks.BertRegressor(encoder), tasks.BertBiEncoder(encoder),
          tasks.BertTokenClassifier(encoder, 3), tasks.BertSpanQA(encoder), encoder, tasks.BertMultipleChoice(encoder)]
for model in models:
    try:
        print(type(model).__name__, export_model.resolve_task_type(model, None))
    except export_model.ExportScriptError as e:
        print(type(model).__name__, "error:", e)
print("encoder of a classifier:", export_model.resolve_task_type(models[0], "encoder"))
"""


def test_task_type_is_the_model_class_task_type():
    """The task type export_model.py infers is the task class's own `task_type` (a bare encoder: encoder)."""
    probe = RESOLVE_PROBE.format(scripts=os.path.join(REPO_ROOT, "scripts"))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                            cwd=REPO_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "BertClassifier classifier", "BertRegressor regressor", "BertBiEncoder bi_encoder",
        "BertTokenClassifier token_classifier",
        "BertSpanQA span_qa", "BertEncoder encoder",
        "BertMultipleChoice error: cannot tell the task type of a BertMultipleChoice; pass --task_type",
        "encoder of a classifier: encoder"]


def test_export_script_encoder_pooling_cls_token_and_the_deprecated_cls(saved_classifier, tmp_path):
    """--pooling=cls_token: `embedding` is the raw [CLS] vector; --pooling=cls (its old name here) warns and
    exports the same."""
    model, path = saved_classifier
    tokenizer = BertTokenizer(VOCAB, do_lower_case=True)
    rows = [tokenizer.encode(text, max_seq_length=16) for text in TEXTS]
    inputs = {name: np.stack([row[name] for row in rows]) for name in features.ENCODER_INPUTS}
    expected = np.asarray(model.encoder(inputs, training=False)[features.SEQUENCE_OUTPUT])[:, 0]
    for version, pooling in enumerate(("cls_token", "cls"), start=1):
        result = _run(f"--model={path}", "--task_type=encoder", f"--pooling={pooling}", f"--export_base={tmp_path}",
                      "--model_name=emb", "--max_seq_length=16", "--nowarmup")
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("WARNING: --pooling=cls is deprecated" in result.stderr) == (pooling == "cls")
        served = tf.saved_model.load(os.path.join(tmp_path, "emb", str(version))).signatures["serving_default"](
            text=tf.constant(TEXTS))
        np.testing.assert_allclose(served[features.EMBEDDING].numpy(), expected, atol=1e-5)
