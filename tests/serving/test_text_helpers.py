"""The clients' raw-text helpers turn export outputs into Python values (the wire itself is tested with real
exports in tests/export); here a stub `predict` records the request and answers like each export would."""

import numpy as np
import pytest

from bert_tf import features
from serving.client.text_helpers import TextHelpers, concat_batches


class StubClient(TextHelpers):
    def __init__(self, outputs):
        self.outputs, self.requests = outputs, []

    def predict(self, inputs, signature_name=None, batch_size=None):
        self.requests.append((inputs, signature_name, batch_size))
        return self.outputs


def test_embed_and_regress_text_send_text_pairs_and_return_floats():
    embedding = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    client = StubClient({features.EMBEDDING: embedding, features.SCORE: np.array([0.5, 4.25, -1.0], np.float32)})
    out = client.embed_text(["a", "b", "c"], batch_size=2)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_array_equal(out, embedding)
    assert client.requests[-1] == ({features.TEXT: ["a", "b", "c"]}, None, 2)
    assert client.regress_text(["x", "y", "z"], ["p", "q", "r"], signature_name="serving_default") == [0.5, 4.25, -1.0]
    assert client.requests[-1][0] == {features.TEXT: ["x", "y", "z"], features.TEXT_B: ["p", "q", "r"]}
    with pytest.raises(ValueError, match="text_b has 1 entries for 2 texts"):
        client.regress_text(["x", "y"], ["p"])


def test_tag_text_drops_padding_and_answer_questions_keeps_offsets():
    client = StubClient({
        features.WORDS: np.array([[b"Zo\xc3\xab", b"lives"], [b"Paris", b""]], dtype=object),
        features.WORD_LABELS: np.array([[b"B-PER", b"O"], [b"B-LOC", b""]], dtype=object),
        features.WORD_SCORES: np.array([[0.9, 0.8], [0.7, 0.0]], np.float32),
        features.WORD_STARTS: np.array([[0, 4], [0, -1]]), features.WORD_ENDS: np.array([[3, 9], [5, -1]]),
        features.NUM_WORDS: np.array([2, 1]),
        features.ANSWER: np.array([b"\xec\x84\x9c\xec\x9a\xb8", b""], dtype=object),
        features.SCORE: np.array([3.5, np.finfo(np.float32).min], np.float32),
        features.ANSWER_START: np.array([4, -1]), features.ANSWER_END: np.array([6, -1]),
        features.NULL_SCORE: np.array([-1.5, 0.25], np.float32)})
    tagged = client.tag_text(["Zoë lives", "Paris"])
    assert tagged == [[{"word": "Zoë", "label": "B-PER", "score": pytest.approx(0.9), "start": 0, "end": 3},
                       {"word": "lives", "label": "O", "score": pytest.approx(0.8), "start": 4, "end": 9}],
                      [{"word": "Paris", "label": "B-LOC", "score": pytest.approx(0.7), "start": 0, "end": 5}]]
    answers = client.answer_questions(["어디?", "empty?"], ["회의는 서울에서", ""])
    assert client.requests[-1][0] == {features.QUESTION: ["어디?", "empty?"], features.CONTEXT: ["회의는 서울에서", ""]}
    assert answers[0] == {"answer": "서울", "score": 3.5, "start": 4, "end": 6, "null_score": -1.5}
    assert answers[1]["answer"] == "" and (answers[1]["start"], answers[1]["end"]) == (-1, -1)


def test_concat_batches_pads_per_word_outputs_like_the_export():
    first = {features.WORD_LABEL_IDS: np.array([[1, 2, 0]]), features.WORD_LABELS: np.array([[b"a", b"b", b"c"]]),
             features.WORD_SCORES: np.array([[0.5, 0.25, 0.125]], np.float32), features.NUM_WORDS: np.array([3])}
    second = {features.WORD_LABEL_IDS: np.array([[4], [5]]), features.WORD_LABELS: np.array([[b"d"], [b"e"]]),
              features.WORD_SCORES: np.array([[0.75], [1.0]], np.float32), features.NUM_WORDS: np.array([1, 1])}
    merged = concat_batches([first, second])
    np.testing.assert_array_equal(merged[features.WORD_LABEL_IDS], [[1, 2, 0], [4, -1, -1], [5, -1, -1]])
    assert merged[features.WORD_LABELS].tolist() == [[b"a", b"b", b"c"], [b"d", b"", b""], [b"e", b"", b""]]
    np.testing.assert_array_equal(merged[features.WORD_SCORES][1:, 1:], np.zeros((2, 2)))
    np.testing.assert_array_equal(merged[features.NUM_WORDS], [3, 1, 1])


class ClassifyingStub(StubClient):
    """A stub whose `classify` answers `rows` (or raises the transport's error when `rows` is an exception)."""
    _transport_errors = (ConnectionError,)

    def __init__(self, outputs, rows):
        super().__init__(outputs)
        self.rows, self.probes = rows, []

    def classify(self, examples, signature_name=None):
        self.probes.append((examples, signature_name))
        if isinstance(self.rows, Exception):
            raise self.rows
        return self.rows


def test_classify_text_names_labels_from_classify_else_from_the_predictions():
    outputs = {features.PROBABILITIES: np.array([[0.7, 0.1, 0.2], [0.1, 0.2, 0.7]], np.float32),
               features.LABEL_IDS: np.array([0, 2]), features.LABELS: np.array([b"neg", b"pos"], dtype=object)}
    named = ClassifyingStub(outputs, [[("neg", 0.3), ("mid", 0.3), ("pos", 0.4)]])
    for _ in range(2):
        results = named.classify_text(["a", "b"], text_b=["c", "d"])
        assert [r["label"] for r in results] == ["neg", "pos"]
        assert results[1]["probabilities"] == {"neg": pytest.approx(0.1), "mid": pytest.approx(0.2),
                                               "pos": pytest.approx(0.7)}
    # one probe (then cached), with text_b too: a pair export's classify signature needs both features
    assert named.probes == [([{features.TEXT: "", features.TEXT_B: ""}], "classify")]
    assert named.requests[-1][0] == {features.TEXT: ["a", "b"], features.TEXT_B: ["c", "d"]}

    for rows in (ConnectionError("no classify signature"), [[("", 0.5), ("", 0.5)]]):  # fails / names nothing
        unnamed = ClassifyingStub(outputs, rows)
        results = unnamed.classify_text(["a", "b"])
        assert [list(r["probabilities"]) for r in results] == [["neg", "1", "pos"]] * 2
        assert [r["label"] for r in results] == ["neg", "pos"]
        unnamed.classify_text(["a", "b"])
        assert len(unnamed.probes) == 2  # partial names are not cached: the next call asks the model again
    with pytest.raises(RuntimeError):  # an error that is not the transport's propagates
        ClassifyingStub(outputs, RuntimeError("bug")).classify_text(["a"])
