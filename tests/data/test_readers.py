"""Readers on real samples (tests/testdata, with READMEs) and on malformed files: errors name file and line."""

import os

import numpy as np
import pytest

from bert_tf import data
from bert_tf.data import DataError

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "testdata")


def td(*parts):
    return os.path.join(TESTDATA, *parts)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


class TestClassificationFormats:
    def test_real_samples(self):
        banking = data.read_examples(td("banking77", "train.csv"), "banking77")
        assert len(banking) == 40 and banking[0].text_a == "I am still waiting on my card?"
        assert banking[0].label == "card_arrival" and banking[0].text_b is None
        assert len(data.label_names_of(banking)) == 5

        nsmc = data.read_examples(td("nsmc", "ratings_train.txt"), "nsmc")
        assert len(nsmc) == 40 and nsmc[1].text_a == "이성재 소름끼친다 ㅋㅋ" and nsmc[1].label == "positive"
        assert data.label_names_of(nsmc) == ["negative", "positive"]

        nli = data.read_examples(td("klue_nli", "klue-nli-v1.1_train.json"), "klue_nli")
        assert len(nli) == 30
        assert nli[0].text_a == "흡연자분들은 발코니가 있는 방이면 발코니에서 흡연이 가능합니다."
        assert nli[0].text_b == "어떤 방에서도 흡연은 금지됩니다." and nli[0].label == "contradiction"
        assert set(data.label_names_of(nli)) <= {"entailment", "neutral", "contradiction"}

        sts = data.read_examples(td("korsts", "sts-train.tsv"), "korsts")
        assert sts[0].label == pytest.approx(3.8) and sts[0].text_b == "남자가 플루트를 연주하고 있다."

        klue_sts = data.read_examples(td("klue_sts", "klue-sts-v1.1_sample.json"), "klue_sts")
        assert isinstance(klue_sts[0].label, float)

        poem = data.read_examples(td("poem_sentiment", "train.tsv"), "poem_sentiment")
        assert poem[0].text_a == "with pale blue berries. in these peaceful shades--"
        assert data.label_names_of(poem) == ["-1", "0", "1", "2"]

    def test_generic_csv_tsv_jsonl_columns(self, tmp_path):
        csv_path = write(tmp_path, "a.csv", 'q,a,y\n"hello, world",second,pos\nbye,"multi\nline",neg\n')
        examples = data.read_examples(csv_path, "csv", text_a_column="q", text_b_column="a", label_column="y")
        assert [(e.text_a, e.text_b, e.label) for e in examples] == [
            ("hello, world", "second", "pos"), ("bye", "multi\nline", "neg")]
        assert examples[1].source.endswith("a.csv:3")
        tsv_path = write(tmp_path, "a.tsv", "0\tgood movie\tpos\n1\tbad \"movie\tneg\n")
        examples = data.read_examples(tsv_path, "tsv", text_a_column="1", label_column="2", has_header=False)
        assert examples[1].text_a == 'bad "movie'
        jsonl = write(tmp_path, "a.jsonl", '{"t": "x y", "l": {"v": 2.5}}\n\n{"t": "z", "l": {"v": 1}}\n')
        examples = data.read_examples(jsonl, "jsonl", text_a_column="t", label_column="l.v", regression=True)
        assert [e.label for e in examples] == [2.5, 1.0]

    def test_prediction_files_without_labels(self, tmp_path):
        path = write(tmp_path, "p.tsv", "id\tdocument\n1\t좋다\n")
        assert data.read_examples(path, "nsmc", labeled=False)[0].label is None

    @pytest.mark.parametrize("text,fmt,kwargs,message", [
        ("id\tdocument\tlabel\n1\tgood\t1\n2\tbad\n", "nsmc", {}, r"x.txt:3: expected 3 fields, found 2"),
        ("id\tdocument\tlabel\n1\tgood\t1\n2\tbad\t\n", "nsmc", {}, r"x.txt:3: empty label"),
        ("id\tdocument\tlabel\n1\tgood\t2\n", "nsmc", {},
         r"x.txt:2: label '2' is not one of \['0', '1'\] \(0 = negative, 1 = positive\)"),
        ("genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\na\tb\tc\td\tfive\ts1\ts2\n", "korsts", {},
         r"x.txt:2: label 'five' is not a number"),
        ("text,category\n,card\n", "banking77", {}, r"x.txt:2: empty text_a"),
        ("q,y\nhi,1\n", "csv", {"text_a_column": "question", "label_column": "y"}, r"x.txt:1: no column 'question'"),
        ("", "nsmc", {}, r"x.txt: the file is empty"),
        ("id\tdocument\tlabel\n", "nsmc", {}, r"x.txt: the file holds no examples \(only a header\)"),
        ('[\n    {"premise": "a", "hypothesis": "b"},\n    {"premise": "c"}\n]', "klue_nli", {},
         r"x.txt:2: missing key 'gold_label'"),
        ('{"t": "a", "l": 1}\n{"t": "b", "l": \n', "jsonl", {"text_a_column": "t", "label_column": "l"},
         r"x.txt:2: not valid JSON"),
    ])
    def test_malformed_rows_name_file_and_line(self, tmp_path, text, fmt, kwargs, message):
        path = write(tmp_path, "x.txt", text)
        with pytest.raises(DataError, match=message):
            data.read_examples(path, fmt, **kwargs)

    def test_invalid_utf8_and_missing_file(self, tmp_path):
        path = tmp_path / "bad.tsv"
        path.write_bytes(b"id\tdocument\tlabel\n1\t\xff\xfe\t1\n")
        with pytest.raises(DataError, match=r"bad.tsv:2: not valid UTF-8"):
            data.read_examples(str(path), "nsmc")
        with pytest.raises(DataError, match="data file not found"):
            data.read_examples(str(tmp_path / "nope.tsv"), "nsmc")

    def test_unseen_eval_label(self, tmp_path):
        train = data.read_examples(td("banking77", "train.csv"), "banking77")
        path = write(tmp_path, "eval.csv", "text,category\nwhere is my card,card_arrival\nhello,greeting\n")
        evaluation = data.read_examples(path, "banking77")
        with pytest.raises(DataError, match=r"eval.csv:3: eval label 'greeting' never occurs in the training data"):
            data.label_ids(evaluation, data.label_names_of(train))
        np.testing.assert_array_equal(data.label_ids(evaluation[:1], data.label_names_of(train)), [0])


class TestTagged:
    def test_wnut17(self):
        examples = data.read_conll(td("wnut17", "wnut17train.sample.conll"))
        assert len(examples) == 30
        first = examples[0]
        assert first.words[:3] == ("@paulwalk", "It", "'s")
        i = first.words.index("Empire")
        assert first.tags[i:i + 3] == ("B-location", "I-location", "I-location")
        assert "O" == data.tag_names_of(examples)[0]

    def test_klue_ner(self):
        examples = data.read_klue_ner(td("klue_ner", "klue-ner-v1.1_train.tsv"))
        assert len(examples) == 20
        first = examples[0]
        assert first.guid == "klue-ner-v1_dev_00000-wikitree"
        assert first.text.startswith("경찰은 또 성매매") and first.char_level
        assert first.tags[:3] == ("B-OG", "I-OG", "O") and len(first.tags) == len(first.text)

    @pytest.mark.parametrize("text,reader,message", [
        ("EU\tB-ORG\nrejects\n", data.read_conll, r"x:2: expected 'WORD<TAB>TAG'"),
        ("EU\tB-ORG\nrejects\tORG\n", data.read_conll, r"x:2: tag 'ORG' is not O or B-/I-/E-/S-<TYPE>"),
        ("## id-1\t가나\n가\tO\n나다\tO\n", data.read_klue_ner, r"x:3: expected 'CHAR<TAB>TAG' with a single"),
        ("\n\n", data.read_conll, r"x: the file is empty"),
    ])
    def test_malformed(self, tmp_path, text, reader, message):
        with pytest.raises(DataError, match=message):
            reader(write(tmp_path, "x", text))


class TestSwag:
    def test_read(self):
        examples = data.read_swag(td("swag_handmade", "train.csv"))
        assert len(examples) == 6 and examples[1].label == 1
        assert examples[1].choices[1] == "He hits the nail into the wood."

    def test_bad_label(self, tmp_path):
        path = write(tmp_path, "s.csv", "sent1,sent2,ending0,ending1,label\nA.,B,c,d,0\nA.,B,c,d,2\n")
        with pytest.raises(DataError, match=r"s.csv:3: label '2' is not an ending index 0..1"):
            data.read_swag(path)


class TestSquadReader:
    def test_real_sample(self):
        examples = data.read_squad(td("squad", "train-v1.1-sample.json"), is_training=True)
        assert len(examples) > 5
        for e in examples:
            text, start = e.answers[0]
            assert e.context[start:start + len(text)] == text

    def test_errors(self, tmp_path):
        bad = write(tmp_path, "s.json", '{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1"}]}]}]}')
        with pytest.raises(DataError, match=r"s.json: data\[0\].paragraphs\[0\].qas\[0\]: missing 'question'"):
            data.read_squad(bad)
        no_answer = write(tmp_path, "n.json", '{"data": [{"paragraphs": [{"context": "abc", "qas": '
                                              '[{"id": "1", "question": "q?", "answers": []}]}]}]}')
        with pytest.raises(DataError, match="no answers"):
            data.read_squad(no_answer, is_training=True)
        assert data.read_squad(no_answer, version_2_with_negative=True, is_training=True)[0].answers == ()
