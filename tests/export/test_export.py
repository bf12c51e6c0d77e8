"""Raw-text SavedModel exports: portable (no tensorflow_text), same outputs as Keras, TF Serving signatures."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder, features
from bert_tf.tasks import BertBiEncoder, BertClassifier, BertRegressor
from bert_tf.tokenization import BertTokenizer
from serving import export

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = os.path.join(REPO_ROOT, "tests", "testdata", "vocab", "uncased_vocab.txt")
LABELS = ["alpha", "beta", "gamma", "delta", "epsilon"]
MAX_SEQ_LENGTH = 24
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Héllo, Wörld! naïve café",
    "좋은 영화였다 정말로",
    "a " * 40 + "very long input that must be truncated in the graph",
    "",
    "[MASK] is not a control token here",
]
TEXTS_B = ["short", "Another sentence, for the pair.", "두 번째 문장", "x", "not empty", "b " * 30]

pytestmark = pytest.mark.slow


def _encoder(seed):
    keras.utils.set_random_seed(seed)
    config = BertConfig.preset("test", vocab_size=30522, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                              initializer_range=0.5)  # large weights: outputs that clearly depend on the input
    return BertEncoder.from_bert_config(config)


def _bold_head(model):
    """Redraws the head's weights at unit scale, so outputs differ clearly between inputs (the default init
    gives outputs ~1e-4, too small to tell a mis-wired input from a right one)."""
    encoder_weights = {id(w) for w in model.encoder.weights}
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if id(weight) not in encoder_weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
    return model


def _keras_inputs(tokenizer, texts, texts_b=None):
    rows = [tokenizer.encode(a, None if texts_b is None else texts_b[i], max_seq_length=MAX_SEQ_LENGTH)
            for i, a in enumerate(texts)]
    return {name: np.stack([row[name] for row in rows]) for name in features.ENCODER_INPUTS}


def _run_fresh(code, *args):
    """Runs `code` in a new interpreter that never imports tensorflow_text; returns its last stdout line as JSON."""
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LOAD_AND_RUN = r"""
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
out = {"signatures": sorted(loaded.signatures)}
sig = loaded.signatures["serving_default"]
kwargs = {"text": tf.constant(texts["a"])}
if texts.get("b") is not None:
    kwargs["text_b"] = tf.constant(texts["b"])
out["serving_default"] = {k: (v.numpy().astype(str).tolist() if v.dtype == tf.string else v.numpy().tolist())
                          for k, v in sig(**kwargs).items()}
ids = texts.get("ids")
if ids is not None:
    res = loaded.signatures["serve_token_ids"](**{k: tf.constant(v, tf.int32) for k, v in ids.items()})
    out["serve_token_ids"] = {k: (v.numpy().astype(str).tolist() if v.dtype == tf.string else v.numpy().tolist())
                              for k, v in res.items()}
out["tensorflow_text_imported"] = "tensorflow_text" in sys.modules
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB, do_lower_case=True)


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory):
    model = _bold_head(BertClassifier(_encoder(3), num_classes=len(LABELS), pooling="mean", dropout=0.0))
    base = str(tmp_path_factory.mktemp("export"))
    path = export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=base, model_name="clf", max_seq_length=MAX_SEQ_LENGTH,
                                     label_names=LABELS, warmup_texts=["warm", "up"])
    return model, base, path


def test_classifier_export_layout_and_assets(classifier_export):
    _, base, path = classifier_export
    assert path == os.path.join(base, "clf", "1")
    assert sorted(os.listdir(os.path.join(base, "clf"))) == ["1"]  # no temporary folder left behind
    assets = sorted(os.listdir(os.path.join(path, "assets")))
    assert assets == ["labels.txt", "vocab.txt"]
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS
    assert os.path.getsize(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")) > 0
    assert export.next_version(os.path.join(base, "clf")) == 2


def test_classifier_export_loads_without_tensorflow_text_and_matches_keras(classifier_export, tokenizer):
    model, _, path = classifier_export
    ids = _keras_inputs(tokenizer, TEXTS)
    # Keras' own probabilities, on the Python tokenizer's packing.
    expected = tf.nn.softmax(model(ids, training=False)).numpy()
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"a": TEXTS, "ids": {k: v.tolist() for k, v in ids.items()}}))
    assert out["tensorflow_text_imported"] is False
    assert out["signatures"] == ["classify", "serve_token_ids", "serving_default"]
    served = out["serving_default"]
    np.testing.assert_allclose(served[features.PROBABILITIES], expected, atol=1e-5)
    np.testing.assert_allclose(out["serve_token_ids"][features.PROBABILITIES], expected, atol=1e-5)
    assert served[features.LABEL_IDS] == expected.argmax(-1).tolist()
    assert served[features.LABELS] == [LABELS[i] for i in expected.argmax(-1)]
    # Distinct inputs give distinct outputs (a mis-wired input would make rows equal).
    assert len({tuple(np.round(row, 6)) for row in expected}) == len(TEXTS)


def test_classify_signature_for_tf_serving(classifier_export, tokenizer):
    model, _, path = classifier_export
    loaded = tf.saved_model.load(path)
    examples = []
    for text in TEXTS[:3]:
        example = tf.train.Example()
        example.features.feature[features.TEXT].bytes_list.value.append(text.encode("utf-8"))
        examples.append(example.SerializeToString())
    out = loaded.signatures["classify"](inputs=tf.constant(examples))
    expected = tf.nn.softmax(model(_keras_inputs(tokenizer, TEXTS[:3]), training=False)).numpy()
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=1e-5)
    assert out["classes"].numpy().astype(str).tolist() == [LABELS] * 3
    # TF Serving's Classify API checks the method name; TF2's saver would have written Predict.
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    signatures = proto.meta_graphs[0].signature_def
    assert signatures["classify"].method_name == "tensorflow/serving/classify"
    assert signatures["serving_default"].method_name == "tensorflow/serving/predict"
    assert list(signatures["classify"].inputs) == ["inputs"]


def test_audit_finds_only_core_ops_in_default_export(classifier_export):
    _, _, path = classifier_export
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "audit_saved_model.py"),
                             f"--saved_model_dir={path}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "0 outside the allowed set" in result.stdout
    assert "NOT CORE" not in result.stdout


def test_tf_text_export_uses_tf_text_ops_and_agrees(tmp_path, classifier_export):
    model, _, core_path = classifier_export
    path = export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="clf", max_seq_length=MAX_SEQ_LENGTH,
                                     label_names=LABELS, tokenizer_ops="tf_text")
    audit = [sys.executable, os.path.join(REPO_ROOT, "scripts", "audit_saved_model.py"), f"--saved_model_dir={path}"]
    strict = subprocess.run(audit, capture_output=True, text=True, timeout=300)
    assert strict.returncode != 0
    assert "ops outside core TensorFlow" in strict.stderr
    allowed = subprocess.run(audit + ["--allow_tf_text_ops=installed"], capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stdout[-2000:] + allowed.stderr[-2000:]
    import tensorflow_text  # noqa: F401  (the tf_text export needs its ops)
    tf_text_out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(TEXTS))
    core_out = tf.saved_model.load(core_path).signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(tf_text_out[features.PROBABILITIES].numpy(),
                               core_out[features.PROBABILITIES].numpy(), atol=1e-6)


def _examples(texts, texts_b):
    """Serialized tf.Examples with features `text` and `text_b`."""
    examples = []
    for a, b in zip(texts, texts_b):
        example = tf.train.Example()
        example.features.feature[features.TEXT].bytes_list.value.append(a.encode("utf-8"))
        example.features.feature[features.TEXT_B].bytes_list.value.append(b.encode("utf-8"))
        examples.append(example.SerializeToString())
    return tf.constant(examples)


def test_pair_regressor_export(tmp_path, tokenizer):
    model = _bold_head(BertRegressor(_encoder(5), pooling="cls", dropout=0.0))
    path = export.export_saved_model(model, task_type="regressor", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="sts", max_seq_length=MAX_SEQ_LENGTH,
                                     pair=True)
    expected = np.asarray(model(_keras_inputs(tokenizer, TEXTS, TEXTS_B), training=False)).reshape(-1)
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"a": TEXTS, "b": TEXTS_B}))
    assert out["signatures"] == ["regress", "serve_token_ids", "serving_default"]
    np.testing.assert_allclose(out["serving_default"][export.SCORE], expected, atol=1e-5)
    # Swapping the two sides changes the answer: text_b really is the second segment.
    swapped = np.asarray(model(_keras_inputs(tokenizer, TEXTS_B, TEXTS), training=False)).reshape(-1)
    assert np.abs(swapped - expected).max() > 1e-2
    regressed = tf.saved_model.load(path).signatures["regress"](inputs=_examples(TEXTS, TEXTS_B))["outputs"]
    np.testing.assert_allclose(regressed.numpy(), expected, atol=1e-5)


def test_bi_encoder_export(tmp_path, tokenizer):
    """A bi-encoder export packs `text` and `text_b` each alone (not as one pair), pads them to one length, and
    serves the same scores as the Keras model on the same ids; `pair` is implied; `regress` works too."""
    model = BertBiEncoder(_encoder(9), pooling="mean", score_range=(-2.0, 3.0))
    path = export.export_saved_model(model, task_type="bi_encoder", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="sim", max_seq_length=MAX_SEQ_LENGTH)
    a, b = _keras_inputs(tokenizer, TEXTS), _keras_inputs(tokenizer, TEXTS_B)
    ids = {name: np.stack([a[name], b[name]], axis=1) for name in features.ENCODER_INPUTS}  # (B, 2, T)
    expected = np.asarray(model(ids, training=False)).reshape(-1)
    # Each sentence alone: the cosine of the two mean-pooled encodings, mapped to the score range.
    u, v = (np.asarray(model.encoder(side, training=False)[features.SEQUENCE_OUTPUT]) for side in (a, b))
    pooled = [(x * m[features.PADDING_MASK][:, :, None]).sum(1) / m[features.PADDING_MASK].sum(1, keepdims=True)
              for x, m in ((u, a), (v, b))]
    cosine = (pooled[0] * pooled[1]).sum(1) / np.linalg.norm(pooled[0], axis=1) / np.linalg.norm(pooled[1], axis=1)
    np.testing.assert_allclose(expected, -2.0 + 5.0 * cosine, atol=1e-5)
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"a": TEXTS, "b": TEXTS_B,
                                                     "ids": {k: v.tolist() for k, v in ids.items()}}))
    assert out["signatures"] == ["regress", "serve_token_ids", "serving_default"]
    assert not out["tensorflow_text_imported"]
    np.testing.assert_allclose(out["serving_default"][export.SCORE], expected, atol=1e-5)
    np.testing.assert_allclose(out["serve_token_ids"][export.SCORE], expected, atol=1e-5)
    # A pair scored as one packed sequence (a cross-encoder's input) would give other scores.
    joint = _keras_inputs(tokenizer, TEXTS, TEXTS_B)
    assert not np.allclose(np.asarray(model({k: np.stack([v, v], 1) for k, v in joint.items()})).reshape(-1),
                           expected, atol=1e-3)
    regressed = tf.saved_model.load(path).signatures["regress"](inputs=_examples(TEXTS, TEXTS_B))["outputs"]
    np.testing.assert_allclose(regressed.numpy(), expected, atol=1e-5)


def test_bi_encoder_export_refuses_another_model(tmp_path):
    with pytest.raises(export.ExportError, match="task_type 'bi_encoder' needs a BertBiEncoder, got a BertRegressor"):
        export.export_saved_model(BertRegressor(_encoder(5)), task_type="bi_encoder", vocab_file=VOCAB,
                                  do_lower_case=True, export_base=str(tmp_path), model_name="sim")


def test_encoder_export_mean_embedding(tmp_path, tokenizer):
    encoder = _encoder(7)
    path = export.export_saved_model(encoder, task_type="encoder", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="emb", max_seq_length=MAX_SEQ_LENGTH)
    ids = _keras_inputs(tokenizer, TEXTS)
    outputs = encoder(ids, training=False)
    mask = ids[features.PADDING_MASK][:, :, None].astype(np.float32)
    expected = (np.asarray(outputs[features.SEQUENCE_OUTPUT]) * mask).sum(1) / mask.sum(1)
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"a": TEXTS}))
    np.testing.assert_allclose(out["serving_default"][features.EMBEDDING], expected, atol=1e-5)
    np.testing.assert_allclose(out["serving_default"][features.POOLED_OUTPUT],
                               np.asarray(outputs[features.POOLED_OUTPUT]), atol=1e-5)


@pytest.mark.parametrize("pooling", ["cls_token", "cls"])
def test_encoder_export_cls_token_embedding(tmp_path, tokenizer, pooling):
    """pooling="cls_token": `embedding` is the raw [CLS] vector (BERT's pooler stays `pooled_output`), as in
    bert_tf.heads.SequencePooling. "cls", its old name here, gives the same export with a DeprecationWarning."""
    encoder = _encoder(7)
    kwargs = dict(task_type="encoder", vocab_file=VOCAB, do_lower_case=True, export_base=str(tmp_path), model_name="emb",
                  max_seq_length=MAX_SEQ_LENGTH, pooling=pooling)
    if pooling == "cls":
        with pytest.warns(DeprecationWarning, match="pooling='cls' for the raw .CLS. vector is deprecated"):
            path = export.export_saved_model(encoder, **kwargs)
    else:
        path = export.export_saved_model(encoder, **kwargs)
    outputs = encoder(_keras_inputs(tokenizer, TEXTS), training=False)
    served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(served[features.EMBEDDING].numpy(),
                               np.asarray(outputs[features.SEQUENCE_OUTPUT])[:, 0, :], atol=1e-5)
    np.testing.assert_allclose(served[features.POOLED_OUTPUT].numpy(), np.asarray(outputs[features.POOLED_OUTPUT]),
                               atol=1e-5)


def test_encoder_export_pooling_names_are_checked(tmp_path):
    common = dict(task_type="encoder", vocab_file=VOCAB, do_lower_case=True, export_base=str(tmp_path), model_name="m")
    with pytest.raises(export.ExportError, match=r"pooling must be one of \('mean', 'cls_token'\) for an encoder"):
        export.export_saved_model(_encoder(1), pooling="max", **common)
    assert not os.path.exists(tmp_path / "m")


def test_interrupted_export_never_becomes_a_version(tmp_path, monkeypatch):
    model = BertClassifier(_encoder(1), num_classes=2, dropout=0.0)

    def broken_save(*args, **kwargs):
        os.makedirs(os.path.join(args[1], "variables"))
        with open(os.path.join(args[1], "saved_model.pb"), "wb") as f:
            f.write(b"half written")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                  export_base=str(tmp_path), model_name="m", label_names=["no", "yes"])
    assert os.listdir(tmp_path / "m") == []  # neither a version folder nor a temporary one remains


def test_export_argument_errors(tmp_path):
    model = BertClassifier(_encoder(2), num_classes=2, dropout=0.0)
    common = dict(vocab_file=VOCAB, do_lower_case=True, export_base=str(tmp_path), model_name="m")
    with pytest.raises(export.ExportError, match="label_names"):
        export.export_saved_model(model, task_type="classifier", **common)
    with pytest.raises(export.ExportError, match="task_type"):
        export.export_saved_model(model, task_type="ner_typo", label_names=["a", "b"], **common)
    with pytest.raises(export.ExportError, match="vocabulary file not found"):
        export.export_saved_model(model, task_type="classifier", label_names=["a", "b"],
                                  **{**common, "vocab_file": str(tmp_path / "missing.txt")})
    with pytest.raises(export.ExportError, match="tokenizer_ops"):
        export.export_saved_model(model, task_type="classifier", label_names=["a", "b"], tokenizer_ops="spacy",
                                  **common)


def test_bfloat16_export_is_bfloat16_inside_and_close_to_float32(tmp_path, classifier_export, tokenizer):
    model, _, fp32_path = classifier_export
    path = export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="clf16", max_seq_length=MAX_SEQ_LENGTH,
                                     label_names=LABELS, dtype="bfloat16")
    assert all(w.dtype == "float32" for w in model.weights)  # the caller's model is left as it was
    variables = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    dtypes = set(variables.get_variable_to_dtype_map().values()) - {tf.string}
    assert dtypes == {tf.bfloat16}, dtypes  # weights stored rounded once, not cast per call
    expected = tf.nn.softmax(model(_keras_inputs(tokenizer, TEXTS), training=False)).numpy()
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"a": TEXTS}))
    served = np.asarray(out["serving_default"][features.PROBABILITIES])
    assert served.shape == expected.shape and not out["tensorflow_text_imported"]
    np.testing.assert_allclose(served.sum(-1), 1.0, atol=1e-5)  # float32 softmax at the boundary
    assert 1e-6 < np.abs(served - expected).max() < 0.05  # bfloat16 rounding: close, not bit-equal
    with pytest.raises(export.ExportError, match="dtype must be one of"):
        export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                  export_base=str(tmp_path), model_name="bad", label_names=LABELS, dtype="float16")


def _variable_dtypes(path):
    variables = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    return set(variables.get_variable_to_dtype_map().values()) - {tf.string}


def test_export_keeps_the_models_precision_unless_told(tmp_path, classifier_export):
    """dtype=None exports a bfloat16 model as bfloat16 (it once silently became float32, losing the speed);
    dtype="float32" converts it back."""
    model, _, _ = classifier_export
    bf16 = export.with_dtype(model, "bfloat16")
    assert export.with_dtype(bf16, "bfloat16") is bf16 and export.with_dtype(model, None) is model
    kwargs = dict(task_type="classifier", vocab_file=VOCAB, do_lower_case=True, export_base=str(tmp_path),
                  max_seq_length=MAX_SEQ_LENGTH, label_names=LABELS)
    assert _variable_dtypes(export.export_saved_model(bf16, model_name="own", **kwargs)) == {tf.bfloat16}
    assert _variable_dtypes(export.export_saved_model(bf16, model_name="f32", dtype="float32", **kwargs)) == {
        tf.float32}


def _assert_packed_length(path, length):
    """Texts that differ only after their first `length - 2` pieces ([CLS] and [SEP] fill the rest) get
    identical outputs; texts that differ in piece `length - 2` do not."""
    serve = tf.saved_model.load(path).signatures["serving_default"]

    def probabilities(words):  # each word is one piece of the vocabulary
        return serve(text=tf.constant([" ".join(words)]))[features.PROBABILITIES].numpy()

    kept = ["the", "quick", "brown", "fox"] * length
    kept = kept[:length - 2]
    np.testing.assert_array_equal(probabilities(kept + ["film", "dog"]), probabilities(kept + ["lazy", "cat"]))
    assert not np.array_equal(probabilities(kept[:-1] + ["film"]), probabilities(kept[:-1] + ["lazy"]))


def test_export_packs_to_the_max_seq_length_the_model_records(tmp_path):
    """A fine-tuned task records `max_seq_length` (saved with it); export packs to it unless told otherwise, and
    a model without one packs to 128 as before."""
    model = _bold_head(BertClassifier(_encoder(5), num_classes=2, pooling="mean", dropout=0.0))
    kwargs = dict(task_type="classifier", vocab_file=VOCAB, lowercase=True, export_base=str(tmp_path),
                  label_names=["no", "yes"])
    assert export.resolve_max_seq_length(model) == export.DEFAULT_MAX_SEQ_LENGTH == 128
    _assert_packed_length(export.export_saved_model(model, model_name="default", **kwargs), 128)
    model.max_seq_length = 12
    assert export.resolve_max_seq_length(model) == 12 and export.resolve_max_seq_length(model, 20) == 20
    _assert_packed_length(export.export_saved_model(model, model_name="recorded", **kwargs), 12)
    _assert_packed_length(export.export_saved_model(model, model_name="explicit", max_seq_length=20, **kwargs), 20)


@pytest.mark.parametrize("tokenizer_ops", ["core", "tf_text"])
def test_export_max_input_chars_per_word(tmp_path, tokenizer_ops):
    """The served tokenizer turns words longer than `max_input_chars_per_word` into [UNK], like the training
    tokenizer with the same setting: with 6, "unbelievable" (12 characters) is [UNK] but "film" is not."""
    encoder = _encoder(11)
    texts = ["an unbelievable film", "film"]
    path = export.export_saved_model(encoder, task_type="encoder", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="short_words",
                                     max_seq_length=MAX_SEQ_LENGTH, tokenizer_ops=tokenizer_ops,
                                     max_input_chars_per_word=6)
    short = BertTokenizer(VOCAB, do_lower_case=True, max_input_chars_per_word=6)
    assert short.tokenize(texts[0]) == ["an", "[UNK]", "film"]
    assert BertTokenizer(VOCAB, do_lower_case=True).tokenize(texts[0])[1] != "[UNK]"
    served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
    for lengths_from, close in ((short, True), (BertTokenizer(VOCAB, do_lower_case=True), False)):
        ids = _keras_inputs(lengths_from, texts)
        outputs = encoder(ids, training=False)
        mask = ids[features.PADDING_MASK][:, :, None].astype(np.float32)
        expected = (np.asarray(outputs[features.SEQUENCE_OUTPUT]) * mask).sum(1) / mask.sum(1)
        assert np.allclose(served[features.EMBEDDING].numpy()[0], expected[0], atol=1e-5) == close
