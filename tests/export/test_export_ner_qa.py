"""Raw-text exports of the token classifier (per-word NER tags) and span QA (answers with character offsets).

Each export is loaded in a fresh Python process that never imports tensorflow_text and compared with the Keras
model plus the Python-side decoding: `tokenize_words_with_offsets` for NER, and the project's own run_squad
pipeline (`bert_tf.data.squad`: sliding windows, max-context rule, n-best decoding with every start/end
considered) for QA.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertConfig, BertEncoder, features
from bert_tf.data import squad
from bert_tf.tasks import BertSpanQA, BertTokenClassifier
from bert_tf.tokenization import BertTokenizer, CoreOpsBertTokenizer
from serving import export

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = os.path.join(REPO_ROOT, "tests", "testdata", "vocab", "uncased_vocab.txt")
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
NER_MAX_SEQ_LENGTH = 20
NER_TEXTS = [
    "John Smith flew from Paris to New-York on Tuesday.",
    "Héllo, Wörld! naïve café cafe\u0301 Zoë",
    "좋은 영화였다 서울에서 만나요",
    # 18 pieces fit: the cut falls inside `unaffable` (un ##aff ##able), whose word is kept whole, and the
    # words after it are dropped.
    "a b c d e f g h i j k l m n o unaffable p q r s t",
    "",
    "   \t ",
    "中文字 and [MASK] tokens",
]

QA_MAX_SEQ_LENGTH = 24
QA_OPTIONS = dict(max_query_length=6, doc_stride=5, max_answer_length=4)
QA_PAIRS = [
    ("Where did the fox jump?", "The quick brown fox jumps over the lazy dog near the river bank at dawn, "
                                "then runs back home to its den in the old forest."),
    ("Qui est là?", "Héllo, Wörld! naïve café cafe\u0301 Zoë est là."),
    ("어디에서 열렸나요?", "회의는 서울에서 열렸다. 다음 회의는 부산시청에서 열린다."),
    ("an extremely long question that is cut to six pieces in the graph", "short context"),
    ("empty?", ""),
    ("x", "one"),
]

pytestmark = pytest.mark.slow


def _encoder(seed):
    keras.utils.set_random_seed(seed)
    config = BertConfig.preset("test", vocab_size=30522, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                              initializer_range=0.5)
    return BertEncoder.from_bert_config(config)


def _bold_head(model):
    """Redraws the head's weights at unit scale, so outputs differ clearly between positions and inputs."""
    encoder_weights = {id(w) for w in model.encoder.weights}
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if id(weight) not in encoder_weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
    return model


def _run_fresh(code, *args):
    """Runs `code` in a new interpreter (never importing tensorflow_text); returns its last stdout line as JSON."""
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600,
                            cwd=REPO_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# Loads the SavedModel, runs the named signatures on the given inputs, and audits its ops (core TF only).
LOAD_AND_RUN = r"""
import json, sys
import tensorflow as tf
from serving.export import audit
path, calls = sys.argv[1], json.loads(sys.argv[2])
loaded = tf.saved_model.load(path)
def plain(v):
    v = v.numpy()
    if v.dtype == object:
        return [[x.decode("utf-8") for x in row] if v.ndim == 2 else row.decode("utf-8") for row in v]
    return v.tolist()
out = {"signatures": sorted(loaded.signatures)}
for name, inputs in calls.items():
    sig = loaded.signatures[name]
    kwargs = {k: tf.constant(v, None if isinstance(v[0], str) else tf.int32) for k, v in inputs.items()}
    out[name] = {k: plain(v) for k, v in sig(**kwargs).items()}
counts, foreign = audit.audit(path)
out["foreign_ops"] = list(foreign)
out["num_op_types"] = len(counts)
out["tensorflow_text_imported"] = "tensorflow_text" in sys.modules
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB, do_lower_case=True)


# === Token classifier ===


@pytest.fixture(scope="module")
def ner_export(tmp_path_factory):
    model = _bold_head(BertTokenClassifier(_encoder(11), num_classes=len(TAGS), dropout=0.0, label_names=TAGS))
    base = str(tmp_path_factory.mktemp("ner"))
    # No label_names argument: they come from the model (BertTokenClassifier stores them in its config).
    path = export.export_saved_model(model, task_type="token_classifier", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=base, model_name="ner", max_seq_length=NER_MAX_SEQ_LENGTH,
                                     warmup_texts=["warm up", "Zoë"])
    return model, path


def _python_ner(model, tokenizer, texts):
    """Per-word tags the Python way: words with offsets, first `T - 2` pieces, tag of each word's first piece."""
    rows, per_text = [], []
    for text in texts:
        words = tokenizer.tokenize_words_with_offsets(text)
        pieces = [p for word in words for p, _, _ in word]
        rows.append(tokenizer.encode(text, max_seq_length=NER_MAX_SEQ_LENGTH))
        per_text.append((text, words, len(pieces)))
    inputs = {name: np.stack([row[name] for row in rows]) for name in features.ENCODER_INPUTS}
    probabilities = tf.nn.softmax(model(inputs, training=False)).numpy()  # [B, T, L]
    expected = []
    for b, (text, words, _) in enumerate(per_text):
        result = {"words": [], "labels": [], "label_ids": [], "scores": [], "starts": [], "ends": []}
        first = 0
        for word in words:
            if first < NER_MAX_SEQ_LENGTH - 2:
                start, end = word[0][1], word[-1][2]
                label_id = int(probabilities[b, first + 1].argmax())
                result["words"].append(text[start:end])
                result["labels"].append(TAGS[label_id])
                result["label_ids"].append(label_id)
                result["scores"].append(float(probabilities[b, first + 1].max()))
                result["starts"].append(start)
                result["ends"].append(end)
            first += len(word)
        expected.append(result)
    return expected, inputs, probabilities


def test_word_ids_match_python_word_grouping():
    texts = NER_TEXTS + ["a\u0301b, x!", "[CLS] kept whole"]
    for tokenizer in (CoreOpsBertTokenizer(VOCAB, do_lower_case=True),
                      CoreOpsBertTokenizer(VOCAB, do_lower_case=True, split_special_tokens=False)):
        ids, starts, _, word_ids = tokenizer.tokenize_tf_with_word_ids(tf.constant(texts))
        for i, text in enumerate(texts):
            words = tokenizer.tokenize_words_with_offsets(text)
            assert word_ids[i].numpy().tolist() == [w for w, word in enumerate(words) for _ in word]
            assert starts[i].numpy().tolist() == [s for word in words for _, s, _ in word]
            assert ids[i].numpy().tolist() == tokenizer.convert_tokens_to_ids([p for w in words for p, _, _ in w])


def test_ner_export_per_word_labels_match_python_decoding(ner_export, tokenizer):
    model, path = ner_export
    expected, inputs, probabilities = _python_ner(model, tokenizer, NER_TEXTS)
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({
        "serving_default": {"text": NER_TEXTS},
        "serve_token_ids": {k: v.tolist() for k, v in inputs.items()}}))
    assert out["tensorflow_text_imported"] is False
    assert out["foreign_ops"] == [] and out["num_op_types"] > 20
    assert out["signatures"] == ["serve_token_ids", "serving_default"]
    served = out["serving_default"]
    width = max(len(e["words"]) for e in expected)
    assert np.asarray(served[export.WORD_STARTS]).shape == (len(NER_TEXTS), width)
    for b, e in enumerate(expected):
        n = len(e["words"])
        assert served[export.NUM_WORDS][b] == n
        assert served[export.WORDS][b] == e["words"] + [""] * (width - n)
        assert served[export.WORD_LABELS][b] == e["labels"] + [""] * (width - n)
        assert served[export.WORD_LABEL_IDS][b] == e["label_ids"] + [-1] * (width - n)
        assert served[export.WORD_STARTS][b] == e["starts"] + [-1] * (width - n)
        assert served[export.WORD_ENDS][b] == e["ends"] + [-1] * (width - n)
        np.testing.assert_allclose(served[export.WORD_SCORES][b], e["scores"] + [0.0] * (width - n), atol=1e-5)
        # The word is the original text between its offsets (accents, casing and Hangul as written).
        text = NER_TEXTS[b]
        assert [text[s:t] for s, t in zip(e["starts"], e["ends"])] == served[export.WORDS][b][:n]
    assert served[export.WORDS][1][:6] == ["Héllo", ",", "Wörld", "!", "naïve", "café"]
    assert served[export.WORDS][1][6] == "cafe\u0301"  # the stripped accent stays part of the word
    assert served[export.WORDS][2][:3] == ["좋은", "영화였다", "서울에서"]
    assert served[export.WORDS][3][-1] == "unaffable"  # cut inside: kept whole; the words after it dropped
    assert served[export.NUM_WORDS][4:6] == [0, 0]
    # Not all words get the same tag (a mis-wired position would make them equal).
    assert len({label for e in expected for label in e["labels"]}) >= 3
    tokens = out["serve_token_ids"]
    np.testing.assert_allclose(tokens[features.PROBABILITIES], probabilities, atol=1e-5)
    mask = inputs[features.PADDING_MASK].astype(bool)
    assert np.array_equal(np.asarray(tokens[features.LABEL_IDS])[mask], probabilities.argmax(-1)[mask])
    assert [TAGS[i] for i in probabilities[0].argmax(-1)] == tokens[features.LABELS][0]


def test_ner_export_assets_and_invalid_utf8(ner_export):
    _, path = ner_export
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == TAGS
    assert os.path.getsize(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")) > 0
    out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant([b"\xffabc d\xc3\xa9f", b"ok"]))
    # An invalid byte is one U+FFFD character (dropped by the tokenizer, but it still counts in the offsets).
    assert out[export.WORDS].numpy()[0, :2].tolist() == [b"abc", "déf".encode()]
    assert out[export.WORD_STARTS].numpy()[0, :2].tolist() == [1, 5]
    assert out[export.WORD_ENDS].numpy()[0, :2].tolist() == [4, 8]
    empty = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant([], tf.string))
    assert tuple(empty[export.WORDS].shape) == (0, 0) and tuple(empty[export.NUM_WORDS].shape) == (0,)


def test_ner_tf_text_export_agrees(tmp_path, ner_export):
    model, core_path = ner_export
    path = export.export_saved_model(model, task_type="token_classifier", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="ner", max_seq_length=NER_MAX_SEQ_LENGTH,
                                     tokenizer_ops="tf_text")
    import tensorflow_text  # noqa: F401  (the tf_text export needs its ops)
    texts = tf.constant(NER_TEXTS)
    tf_text_out = tf.saved_model.load(path).signatures["serving_default"](text=texts)
    core_out = tf.saved_model.load(core_path).signatures["serving_default"](text=texts)
    for key in (export.WORDS, export.WORD_LABELS, export.WORD_STARTS, export.WORD_ENDS, export.NUM_WORDS):
        assert tf_text_out[key].numpy().tolist() == core_out[key].numpy().tolist()


# === Span QA ===


@pytest.fixture(scope="module")
def qa_export(tmp_path_factory):
    model = _bold_head(BertSpanQA(_encoder(13)))
    base = str(tmp_path_factory.mktemp("qa"))
    path = export.export_saved_model(model, task_type="span_qa", vocab_file=VOCAB, do_lower_case=True, export_base=base,
                                     model_name="qa", max_seq_length=QA_MAX_SEQ_LENGTH, warmup_texts=["warm up"],
                                     **QA_OPTIONS)
    return model, path


def _python_qa(model, tokenizer, pairs):
    """run_squad's pipeline (`bert_tf.data.squad`) with every start/end considered (n_best_size = T)."""
    examples = [squad.SquadExample(qas_id=str(i), question=q, context=c) for i, (q, c) in enumerate(pairs)]
    feats = squad.convert_examples_to_features(examples, tokenizer, max_seq_length=QA_MAX_SEQ_LENGTH,
                                               doc_stride=QA_OPTIONS["doc_stride"],
                                               max_query_length=QA_OPTIONS["max_query_length"])
    inputs, _ = squad.features_to_arrays(feats, QA_MAX_SEQ_LENGTH)
    outputs = model(inputs, training=False)
    start_logits = np.asarray(outputs["start_logits"])
    end_logits = np.asarray(outputs["end_logits"])
    _, nbest, _ = squad.postprocess(examples, feats, start_logits, end_logits, n_best_size=QA_MAX_SEQ_LENGTH,
                                    max_answer_length=QA_OPTIONS["max_answer_length"])
    windows = [sum(f.example_index == i for f in feats) for i in range(len(pairs))]
    null = [min(float(start_logits[k, 0] + end_logits[k, 0]) for k, f in enumerate(feats) if f.example_index == i)
            for i in range(len(pairs))]
    return [nbest[str(i)][0] for i in range(len(pairs))], windows, null


def test_qa_export_answers_match_run_squad_decoding(qa_export, tokenizer):
    model, path = qa_export
    best, windows, null = _python_qa(model, tokenizer, QA_PAIRS)
    assert windows[0] >= 4 and windows[2] >= 2  # the long contexts really are read in several windows
    questions, contexts = [q for q, _ in QA_PAIRS], [c for _, c in QA_PAIRS]
    out = _run_fresh(LOAD_AND_RUN, path, json.dumps({"serving_default": {"question": questions,
                                                                         "context": contexts}}))
    assert out["tensorflow_text_imported"] is False
    assert out["foreign_ops"] == []
    assert out["signatures"] == ["serve_token_ids", "serving_default"]
    served = out["serving_default"]
    for i, (entry, context) in enumerate(zip(best, contexts)):
        if not context:  # no context piece, no span: run_squad's "empty" fallback
            assert entry["text"] == "empty"
            assert (served[export.ANSWER][i], served[export.ANSWER_START][i], served[export.ANSWER_END][i]) == \
                ("", -1, -1)
            assert served[export.SCORE][i] == float(np.finfo(np.float32).min)
            continue
        assert served[export.ANSWER][i] == entry["text"], i
        assert (served[export.ANSWER_START][i], served[export.ANSWER_END][i]) == (entry["start_char"],
                                                                                  entry["end_char"]), i
        start, end = served[export.ANSWER_START][i], served[export.ANSWER_END][i]
        assert context[start:end] == served[export.ANSWER][i]
        np.testing.assert_allclose(served[export.SCORE][i], entry["start_logit"] + entry["end_logit"], atol=1e-4)
    np.testing.assert_allclose(served[export.NULL_SCORE], null, atol=1e-4)
    # The answers come from different places (not a constant position) and keep the original characters.
    assert len({a for a in served[export.ANSWER] if a}) >= 4
    korean = served[export.ANSWER][2]
    assert korean and korean in contexts[2] and not korean.isascii()


def test_qa_single_window_and_serve_token_ids(tmp_path, tokenizer):
    model = _bold_head(BertSpanQA(_encoder(17)))
    path = export.export_saved_model(model, task_type="span_qa", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="qa", max_seq_length=96)
    loaded = tf.saved_model.load(path)
    question, context = "Wer?", "Zoë und Jürgen fahren nach München, später nach Köln."
    out = loaded.signatures["serving_default"](question=tf.constant([question]), context=tf.constant([context]))
    feats = squad.convert_examples_to_features([squad.SquadExample("0", question, context)], tokenizer,
                                               max_seq_length=96)
    assert len(feats) == 1
    inputs, _ = squad.features_to_arrays(feats, 96)
    logits = model(inputs, training=False)
    s, e = np.asarray(logits["start_logits"])[0], np.asarray(logits["end_logits"])[0]
    # A direct reimplementation: best start <= end < start + 30 over the context pieces.
    positions = sorted(feats[0].token_to_char)
    score, span = max((s[i] + e[j], (i, j)) for i in positions for j in positions if 0 <= j - i < 30)
    start_char, end_char = feats[0].token_to_char[span[0]][0], feats[0].token_to_char[span[1]][1]
    assert out[export.ANSWER].numpy()[0].decode() == context[start_char:end_char]
    assert (int(out[export.ANSWER_START][0]), int(out[export.ANSWER_END][0])) == (start_char, end_char)
    np.testing.assert_allclose(out[export.SCORE].numpy()[0], score, atol=1e-4)
    by_ids = loaded.signatures["serve_token_ids"](**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(by_ids[export.START_LOGITS].numpy()[0], s, atol=1e-5)
    assert (int(by_ids[export.START_POSITION][0]), int(by_ids[export.END_POSITION][0])) == span
    np.testing.assert_allclose(by_ids[export.SCORE].numpy()[0], score, atol=1e-4)
    sig = loaded.signatures["serving_default"]
    empty = sig(question=tf.constant([], tf.string), context=tf.constant([], tf.string))
    assert {k: tuple(v.shape) for k, v in empty.items()} == {k: (0,) for k in (
        export.ANSWER, export.SCORE, export.ANSWER_START, export.ANSWER_END, export.NULL_SCORE)}
    with pytest.raises(tf.errors.InvalidArgumentError, match="question and context must have the same batch size"):
        sig(question=tf.constant(["a"]), context=tf.constant(["a", "b"]))


class PointerQA(keras.Model):
    """A stand-in QA model with known answers: start logit 10 on the given start ids, end logit 10 on the end ids."""

    def __init__(self, start_ids, end_ids, **kwargs):
        super().__init__(**kwargs)
        self.start_ids = list(start_ids)
        self.end_ids = list(end_ids)

    def call(self, inputs, training=False):
        ids = inputs[features.TOKEN_IDS]
        hits = [tf.reduce_any(tf.equal(ids[:, :, None], tf.constant(v, ids.dtype)), axis=-1)
                for v in (self.start_ids, self.end_ids)]
        return {"start_logits": 10.0 * tf.cast(hits[0], tf.float32),
                "end_logits": 10.0 * tf.cast(hits[1], tf.float32)}


def test_qa_known_spans_inside_korean_words_and_late_windows(tmp_path, tokenizer):
    # 서울에서 -> ᄉ ##ᅥ ##ᄋ ##ᅮ ##ᆯ ...: the answer 서울 starts a word and ends inside it (all jamo of one
    # syllable share its character span); Café Zoë keeps its accents; the third context puts it in a late window.
    model = PointerQA(tokenizer.convert_tokens_to_ids(["ᄉ", "cafe"]),
                       tokenizer.convert_tokens_to_ids(["##ᆯ", "zoe"]))
    path = export.export_saved_model(model, task_type="span_qa", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="qa", max_seq_length=QA_MAX_SEQ_LENGTH,
                                     **{**QA_OPTIONS, "max_answer_length": 5})
    contexts = ["회의는 서울에서 했다.", "Rendez-vous au Café Zoë demain",
                "x " * 30 + "Rendez-vous au Café Zoë demain"]
    out = tf.saved_model.load(path).signatures["serving_default"](question=tf.constant(["어디?", "où?", "où?"]),
                                                                  context=tf.constant(contexts))
    assert [a.decode() for a in out[export.ANSWER].numpy()] == ["서울", "Café Zoë", "Café Zoë"]
    assert out[export.ANSWER_START].numpy().tolist() == [4, 15, 75]
    assert out[export.ANSWER_END].numpy().tolist() == [6, 23, 83]
    np.testing.assert_allclose(out[export.SCORE].numpy(), [20.0, 20.0, 20.0])
    np.testing.assert_allclose(out[export.NULL_SCORE].numpy(), [0.0, 0.0, 0.0])
    # 서울 is 5 pieces: with max_answer_length 4 the best allowed span is the start piece's syllable alone.
    path = export.export_saved_model(model, task_type="span_qa", vocab_file=VOCAB, do_lower_case=True,
                                     export_base=str(tmp_path), model_name="qa", max_seq_length=QA_MAX_SEQ_LENGTH,
                                     **QA_OPTIONS)
    out = tf.saved_model.load(path).signatures["serving_default"](question=tf.constant(["어디?"]),
                                                                  context=tf.constant(contexts[:1]))
    assert out[export.ANSWER].numpy()[0].decode() == "서"
    np.testing.assert_allclose(out[export.SCORE].numpy(), [10.0])


def test_ner_qa_argument_errors(tmp_path):
    common = dict(vocab_file=VOCAB, do_lower_case=True, export_base=str(tmp_path), model_name="m")
    tagger = BertTokenClassifier(_encoder(2), num_classes=3, dropout=0.0)  # no label names stored
    with pytest.raises(export.ExportError, match="needs label_names"):
        export.export_saved_model(tagger, task_type="token_classifier", **common)
    with pytest.raises(export.ExportError, match="2 label_names for a model with 3 classes"):
        export.export_saved_model(tagger, task_type="token_classifier", label_names=["O", "B-X"], **common)
    with pytest.raises(export.ExportError, match="needs a BertSpanQA, got a BertTokenClassifier"):
        export.export_saved_model(tagger, task_type="span_qa", **common)
    qa = BertSpanQA(_encoder(2))
    with pytest.raises(export.ExportError, match="no room for the context"):
        export.export_saved_model(qa, task_type="span_qa", max_seq_length=66, **common)
    with pytest.raises(export.ExportError, match="max_position_embeddings"):
        export.export_saved_model(qa, task_type="span_qa", max_seq_length=100000, **common)
    with pytest.raises(export.ExportError, match="pair=True"):
        export.export_saved_model(qa, task_type="span_qa", pair=True, **common)
    assert not (tmp_path / "m").exists()  # bad arguments are caught before anything is written


def test_ner_and_qa_served_through_client_helpers(ner_export, qa_export, tokenizer):
    """Both exports behind the local server: `tag_text` / `answer_questions` over gRPC and REST give the
    Python-side decoding (words, tags, character offsets; answers as written in the context)."""
    from serving.client import RestClient, ServingClient
    from serving.server.config import write_model_config
    from serving.server import ModelServer

    ner_model, ner_path = ner_export
    qa_model, qa_path = qa_export
    config_file = os.path.join(os.path.dirname(os.path.dirname(ner_path)), "models.config")
    write_model_config(config_file, [{"name": "ner", "base_path": os.path.dirname(ner_path)},
                                     {"name": "qa", "base_path": os.path.dirname(qa_path)}])
    ner_texts = NER_TEXTS[:3]
    expected_ner, _, _ = _python_ner(ner_model, tokenizer, ner_texts)
    expected_qa, _, _ = _python_qa(qa_model, tokenizer, QA_PAIRS[:3])
    with ModelServer(model_config_file=config_file, port=0, rest_api_port=0) as server:
        grpc_ner = ServingClient(server.grpc_address, "ner")
        grpc_qa = ServingClient(server.grpc_address, "qa")
        grpc_ner.wait_until_available(timeout=120)
        grpc_qa.wait_until_available(timeout=120)
        for client_ner, client_qa in ((grpc_ner, grpc_qa),
                                      (RestClient(server.rest_url, "ner"), RestClient(server.rest_url, "qa"))):
            tagged = client_ner.tag_text(ner_texts, batch_size=2)  # split into 2 + 1: padding widths differ
            assert [len(t) for t in tagged] == [len(e["words"]) for e in expected_ner]
            for text, words, e in zip(ner_texts, tagged, expected_ner):
                assert [w["word"] for w in words] == e["words"]
                assert [w["label"] for w in words] == e["labels"]
                assert [(w["start"], w["end"]) for w in words] == list(zip(e["starts"], e["ends"]))
                assert all(text[w["start"]:w["end"]] == w["word"] for w in words)
                np.testing.assert_allclose([w["score"] for w in words], e["scores"], atol=1e-5)
            merged = client_ner.predict({features.TEXT: ner_texts}, batch_size=2)
            widest = max(len(e["words"]) for e in expected_ner)
            assert merged[export.WORD_LABEL_IDS].shape == (3, widest)
            assert list(merged[export.WORD_LABEL_IDS][2]) == expected_ner[2]["label_ids"] + \
                [-1] * (widest - len(expected_ner[2]["words"]))
            answers = client_qa.answer_questions([q for q, _ in QA_PAIRS[:3]], [c for _, c in QA_PAIRS[:3]])
            for (question, context), answer, entry in zip(QA_PAIRS[:3], answers, expected_qa):
                assert answer["answer"] == entry["text"] == context[answer["start"]:answer["end"]]
                assert answer["start"] == entry["start_char"]
            with pytest.raises(ValueError, match="2 questions for 1 contexts"):
                client_qa.answer_questions(["a", "b"], ["c"])
        grpc_ner.close()
        grpc_qa.close()
