"""Features and decoding: NER labels on first pieces and back, KLUE character mapping, SQuAD windows and n-best."""

import os

import numpy as np
import pytest

from bert_tf import data, metrics
from bert_tf.data import ner_features, squad
from bert_tf.data.examples import TaggedExample
from bert_tf.tokenization import BertTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "denver", "broncos", "won", "super", "bowl", "50",
         "in", "2016", ".", "who", "?", "when", "did", "they", "win", "play", "##ed", "new", "york", "city",
         "서울", "##에서", "회의", "##가", "열렸다", "어디", "##서", "열렸나", "##나", "김", "##철수", "##는", "갔다", ",",
         "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return BertTokenizer(str(path), do_lower_case=True)


TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")


@pytest.fixture(scope="module")
def kowiki_tokenizer():
    """A real cased Korean vocabulary (4k pieces learned from the Korean Wikipedia sample)."""
    return BertTokenizer(os.path.join(TESTDATA, "kowiki", "vocab_ko_cased_4k.txt"), do_lower_case=False)


@pytest.fixture(scope="module")
def korean_tokenizer(tokenizer):
    # Uncased BERT's NFD + accent stripping splits Hangul syllables into jamo: Korean vocabularies are cased.
    return BertTokenizer(tokenizer.vocab_file, do_lower_case=False)


class TestNer:
    def test_first_piece_labels_and_decoding(self, tokenizer):
        example = TaggedExample("s", ("The", "Denver", "Broncos", "played", "New", "York"),
                                ("O", "B-org", "I-org", "O", "B-loc", "I-loc"))
        tags = ner_features.tag_names_of([example])
        assert tags == ["O", "B-loc", "I-loc", "B-org", "I-org"]
        feats = data.encode_tagged(tokenizer, [example], 12, tags)
        ids = feats.inputs["token_ids"][0]
        assert tokenizer.convert_ids_to_tokens(ids[:9]) == [
            "[CLS]", "the", "denver", "broncos", "play", "##ed", "new", "york", "[SEP]"]
        # "##ed" (position 5) is not a word's first piece: ignored.
        np.testing.assert_array_equal(feats.labels[0, :9], [-100, 0, 3, 4, 0, -100, 1, 2, -100])
        assert feats.labels[0, 9:].tolist() == [-100] * 3
        predicted = np.zeros((1, 12), np.int64)
        predicted[0, [2, 3, 6, 7]] = [3, 4, 1, 2]
        predicted[0, 5] = 3  # a continuation piece's prediction is ignored
        assert data.decode_tags(feats, [example], predicted, tags) == [list(example.tags)]

    def test_long_sentence_is_chunked_not_dropped(self, tokenizer):
        words = tuple("abcdefghijk")
        tags = tuple(["B-x"] + ["O"] * 10)
        example = TaggedExample("s", words, tags)
        feats = data.encode_tagged(tokenizer, [example], 6, ["O", "B-x"])
        assert feats.inputs["token_ids"].shape == (3, 6)  # 11 words, 4 per chunk
        predicted = np.zeros((3, 6), np.int64)
        predicted[0, 1] = 1
        assert data.decode_tags(feats, [example], predicted, ["O", "B-x"])[0] == list(tags)

    def test_unseen_eval_tag(self, tokenizer):
        example = TaggedExample("s", ("the",), ("B-new",), source="f.conll:7")
        with pytest.raises(data.DataError, match=r"f.conll:7: eval tag 'B-new' never occurs in the training data"):
            data.encode_tagged(tokenizer, [example], 8, ["O", "B-x"])

    def test_klue_character_labels_round_trip(self, kowiki_tokenizer):
        tokenizer = kowiki_tokenizer
        text = "김철수는 서울에서 갔다"
        char_tags = ["B-PS", "I-PS", "I-PS", "O", "O", "B-LC", "I-LC", "O", "O", "O", "O", "O"]
        example = TaggedExample("k", tuple(text), tuple(char_tags), text)
        tags = ["O", "B-LC", "I-LC", "B-PS", "I-PS"]
        feats = data.encode_tagged(tokenizer, [example], 16, tags)
        pieces = tokenizer.convert_ids_to_tokens(feats.inputs["token_ids"][0][:12])
        # One piece per syllable (WordPiece alone gives 김 ##철수 ##는 서울 ##에서 갔다: `##는` would carry the tag
        # of 수 and 는 at once); word-internal syllables keep their ## form.
        assert pieces == ["[CLS]", "김", "##철", "##수", "##는", "서", "##울", "##에", "##서", "갔", "##다", "[SEP]"]
        # Every syllable carries its own character's tag.
        assert feats.labels[0, :12].tolist() == [-100, 3, 4, 4, 0, 1, 2, 0, 0, 0, 0, -100]
        # Perfect piece predictions give back the exact character tags (spaces O).
        decoded = data.decode_tags(feats, [example], np.maximum(feats.labels, 0), tags)[0]
        assert decoded == char_tags
        assert metrics.entity_scores([char_tags], [decoded])["f1"] == 1.0

    def test_klue_ner_test_file_ceiling_is_one(self, kowiki_tokenizer):
        """Gold tags encoded and decoded back give character entity F1 1.0 on every KLUE-NER test sentence (the
        piece-level encoding capped it at 0.822: a piece such as `##는` spanned an entity's end and a particle)."""
        from bert_tf.data import klue_ner
        repo = os.path.dirname(os.path.dirname(TESTDATA))  # the 500-sentence sample the benchmarks use
        examples = klue_ner.read_klue_ner(os.path.join(repo, "benchmarks", "data", "klue_ner", "klue-ner-v1.1_test.tsv"))
        tags = data.tag_names_of(examples)
        feats = data.encode_tagged(kowiki_tokenizer, examples, 128, tags)
        decoded = data.decode_tags(feats, examples, np.maximum(feats.labels, 0), tags)
        gold = [list(e.tags) for e in examples]
        assert len(examples) == 500 and decoded == gold
        assert metrics.entity_scores(gold, decoded)["f1"] == 1.0

    def test_klue_space_inside_entity_is_bridged(self, tokenizer):
        text = "new york city"
        char_tags = ["B-LC"] + ["I-LC"] * 12
        example = TaggedExample("k", tuple(text), tuple(char_tags), text)
        feats = data.encode_tagged(tokenizer, [example], 8, ["O", "B-LC", "I-LC"])
        decoded = data.decode_tags(feats, [example], np.maximum(feats.labels, 0), ["O", "B-LC", "I-LC"])[0]
        assert decoded == char_tags


def _logits_for(feature, start_pos, end_pos, length, null=None):
    start = np.full(length, -5.0)
    end = np.full(length, -5.0)
    start[start_pos] = 5.0
    end[end_pos] = 5.0
    if null is not None:
        start[0] = end[0] = null
    return start, end


class TestSquad:
    def test_english_windows_targets_and_answer_text(self, tokenizer):
        context = "The Denver Broncos won Super Bowl 50 in 2016."
        answer = "Denver Broncos"
        example = squad.SquadExample("q1", "Who won Super Bowl 50?", context, ((answer, context.index(answer)),))
        feats = squad.convert_examples_to_features([example], tokenizer, max_seq_length=16, doc_stride=3,
                                                   max_query_length=64, is_training=True)
        # query: who won super bowl 50 ? = 6 pieces -> 16 - 6 - 3 = 7 doc pieces per window; 10 doc pieces
        assert [f.window_index for f in feats] == [0, 1]
        first = feats[0]
        tokens = tokenizer.convert_ids_to_tokens(first.token_ids)
        assert tokens[first.start_position:first.end_position + 1] == ["denver", "broncos"]
        assert (feats[1].start_position, feats[1].end_position) == (0, 0)  # the answer is not in window 1
        inputs, targets = squad.features_to_arrays(feats, 16)
        assert inputs["token_ids"].shape == (2, 16) and targets["start_logits"].tolist() == [9, 0]
        assert inputs["segment_ids"][0].tolist()[:10] == [0] * 8 + [1] * 2

        # Decoding: the predicted span maps back to the original (cased) text and offsets.
        starts, ends = zip(*[_logits_for(f, f.start_position or 1, f.end_position or 1, 16) for f in feats])
        predictions, nbest, null_odds = squad.postprocess([example], feats, np.stack(starts), np.stack(ends),
                                                          n_best_size=5, max_answer_length=30)
        assert predictions == {"q1": "Denver Broncos"}
        assert nbest["q1"][0]["start_char"] == 4 and nbest["q1"][0]["end_char"] == 18
        assert abs(sum(n["probability"] for n in nbest["q1"]) - 1.0) < 1e-6
        assert null_odds == {}

    def test_max_context_picks_the_better_window(self, tokenizer):
        context = "a b c d e f g h i j k"
        example = squad.SquadExample("q", "who ?", context, (("f", context.index("f")),))
        feats = squad.convert_examples_to_features([example], tokenizer, max_seq_length=10, doc_stride=2,
                                                   max_query_length=8)
        # 5 doc pieces per window, stride 2: windows a-e, c-g, e-i, g-k; "f" (index 5) is centred in c-g.
        owners = [f.window_index for f in feats for pos, (s, _) in f.token_to_char.items()
                  if s == context.index("f") and f.token_is_max_context[pos]]
        assert owners == [1]

    def test_korean_answer_inside_a_word(self, korean_tokenizer):
        tokenizer = korean_tokenizer
        context = "김철수는 서울에서 회의가 열렸다."
        example = squad.SquadExample("k1", "어디서 회의가 열렸나?", context, (("서울", 5),))
        feats = squad.convert_examples_to_features([example], tokenizer, max_seq_length=32, is_training=True)
        tokens = tokenizer.convert_ids_to_tokens(feats[0].token_ids)
        assert tokens[feats[0].start_position:feats[0].end_position + 1] == ["서울"]
        start, end = _logits_for(feats[0], feats[0].start_position, feats[0].end_position, 32)
        predictions, nbest, _ = squad.postprocess([example], feats, start[None], end[None])
        assert predictions["k1"] == "서울"  # not the whole word "서울에서"
        assert context[nbest["k1"][0]["start_char"]:nbest["k1"][0]["end_char"]] == "서울"

    def test_version_2_null_answer_and_threshold(self, tokenizer):
        context = "The Denver Broncos won Super Bowl 50 in 2016."
        example = squad.SquadExample("q2", "When did they win?", context, (), is_impossible=True)
        feats = squad.convert_examples_to_features([example], tokenizer, max_seq_length=32, is_training=True)
        assert (feats[0].start_position, feats[0].end_position) == (0, 0)
        tokens = tokenizer.convert_ids_to_tokens(feats[0].token_ids)
        year = tokens.index("2016")
        start, end = _logits_for(feats[0], year, year, 32, null=4.0)  # span score 10, null score 8
        predictions, nbest, null_odds = squad.postprocess([example], feats, start[None], end[None],
                                                          version_2_with_negative=True)
        assert null_odds["q2"] == pytest.approx(8.0 - 10.0)
        assert predictions["q2"] == "2016"
        assert "" in [n["text"] for n in nbest["q2"]]
        predictions, _, _ = squad.postprocess([example], feats, start[None], end[None],
                                              version_2_with_negative=True, null_score_diff_threshold=-3.0)
        assert predictions["q2"] == ""

    def test_write_predictions(self, tmp_path):
        paths = squad.write_predictions(str(tmp_path), {"a": "x"}, {"a": []}, {"a": 1.5})
        assert sorted(paths) == ["nbest_predictions.json", "null_odds.json", "predictions.json"]
