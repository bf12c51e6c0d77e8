"""Tokens, ids and offsets of the three tokenizer implementations against the stored reference."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import features
from bert_tf.tokenization import BertTokenizer, CoreOpsBertTokenizer, ReferenceTokenizer, load_vocab
from bert_tf.tokenization import reference_tokenizer as ref

CLS, SEP, UNK = 101, 102, 100


def _expected(row, split):
    if split:
        return row["tokens_split_specials"], row["input_ids_split_specials"]
    return row["tokens"], row["input_ids"]


def test_reference_file_is_complete(reference_rows):
    assert len(reference_rows) == 31
    # Only the special-token line differs between the two behaviours.
    differing = [r["text"] for r in reference_rows if r["tokens"] != r["tokens_split_specials"]]
    assert differing == ["[CLS] [SEP] [MASK] [PAD] [UNK] should be split"]


@pytest.mark.parametrize("split", [True, False])
def test_python_tokenizer_matches_reference(tokenizers, reference_rows, split):
    tok = tokenizers[("core", split)]
    for row in reference_rows:
        tokens, ids = _expected(row, split)
        got = ["[CLS]"] + tok.tokenize(row["text"]) + ["[SEP]"]
        assert got == tokens, row["text"]
        assert tok.convert_tokens_to_ids(got) == ids, row["text"]


def test_literal_google_port_matches_reference(vocab_file, reference_rows):
    vocab = load_vocab(vocab_file)
    for row in reference_rows:
        words = ref.google_basic_tokenize(row["text"], do_lower_case=True)
        pieces = [p for w in words for p in ref.google_wordpiece(w, vocab, max_input_chars_per_word=100)]  # HF's
        assert ["[CLS]"] + pieces + ["[SEP]"] == row["tokens_split_specials"], row["text"]


@pytest.mark.parametrize("kind", ["tf_text", "core"])
@pytest.mark.parametrize("split", [True, False])
def test_tf_tokenizers_match_reference(compiled, tokenizers, reference_rows, kind, split):
    ids, _, _ = compiled[(kind, split)]([r["text"] for r in reference_rows])
    tok = tokenizers[(kind, split)]
    matches = 0
    for row, row_ids in zip(reference_rows, ids):
        tokens, expected = _expected(row, split)
        assert [CLS] + row_ids + [SEP] == expected, row["text"]
        assert ["[CLS]"] + tok.convert_ids_to_tokens(row_ids) + ["[SEP]"] == tokens
        matches += 1
    assert matches == 31


@pytest.mark.parametrize("kind", ["tf_text", "core"])
def test_tf_offsets_equal_python_offsets(compiled, tokenizers, reference_rows, kind):
    for split in (True, False):
        tok = tokenizers[(kind, split)]
        ids, starts, ends = compiled[(kind, split)]([r["text"] for r in reference_rows])
        for row, i, s, e in zip(reference_rows, ids, starts, ends):
            assert list(zip(tok.convert_ids_to_tokens(i), s, e)) == tok.tokenize_with_offsets(row["text"])


def test_korean_is_tokenized_into_jamo_not_unk(tokenizers, reference_rows):
    tok = tokenizers[("tf_text", True)]
    row = next(r for r in reference_rows if r["text"].startswith("안녕하세요"))
    pieces = tok.tokenize(row["text"])
    assert pieces == row["tokens_split_specials"][1:-1]
    jamo = [p for p in pieces if p not in ("[UNK]", ",", "!", ".", "bert")]
    assert len(jamo) >= 25 and pieces.count("[UNK]") == 2
    # NFD splits the syllable 안 (U+C548) into ᄋ ᅡ ᆫ, all pointing back at it.
    assert tok.tokenize_with_offsets("안")[:3] == [("ᄋ", 0, 1), ("##ᅡ", 0, 1), ("##ᆫ", 0, 1)]


def test_offsets_map_back_to_original_text(tokenizers):
    tok = tokenizers[("core", True)]
    text = "Héllo, Wörld! naïve café 안녕하세요 résumé"
    out = tok.tokenize_with_offsets(text)
    assert [(p, text[s:e]) for p, s, e in out if not p.startswith("##")][:6] == [
        ("hello", "Héllo"), (",", ","), ("world", "Wörld"), ("!", "!"), ("naive", "naïve"), ("cafe", "café")]
    assert [text[s:e] for p, s, e in out if p in ("resume",)] == ["résumé"]
    korean = [(p, text[s:e]) for p, s, e in out if s >= text.index("안") and e <= text.index("안") + 5]
    assert {t for _, t in korean} == set("안녕하세요")
    # Decomposed input (e + combining acute) maps to the two original code points.
    text = "Cafe\u0301 [MASK]"
    assert tok.tokenize_with_offsets(text) == [("cafe", 0, 5), ("[", 6, 7), ("mask", 7, 11), ("]", 11, 12)]
    keep = tokenizers[("core", False)]
    assert keep.tokenize_with_offsets(text) == [("cafe", 0, 5), ("[MASK]", 6, 12)]


def test_special_tokens_default_is_split(vocab_file):
    tok = BertTokenizer(vocab_file)
    assert tok.split_special_tokens is True
    assert tok.tokenize("[MASK]") == ["[", "mask", "]"]
    keep = BertTokenizer(vocab_file, split_special_tokens=False)
    # Exact, case-sensitive match only; text around it is tokenized on its own.
    assert keep.tokenize("a[MASK]b [mask] [CLS") == ["a", "[MASK]", "b", "[", "mask", "]", "[", "cl", "##s"]


def test_tokenize_words_groups_pieces(tokenizers):
    tok = tokenizers[("tf_text", True)]
    assert tok.tokenize_words("Unaffable tokenization, 안녕") == [
        ["una", "##ffa", "##ble"], ["token", "##ization"], [","],
        ["ᄋ", "##ᅡ", "##ᆫ", "##ᄂ", "##ᅧ", "##ᆼ"]]
    words = tok.tokenize_words_with_offsets("x supercalifragilisticexpialidocious")
    assert [w[0][1:] for w in words] == [(0, 1), (2, 7)]


def test_overlong_word_is_unk_with_char_limit(tokenizers, compiled):
    # 100 characters of jamo (300 UTF-8 bytes) are still tokenized: the limit counts characters, not bytes.
    word = "가" * 50  # NFD: 100 jamo
    assert "[UNK]" not in tokenizers[("core", True)].tokenize(word)
    assert tokenizers[("core", True)].tokenize(word + "가") == ["[UNK]"]
    for kind in ("core", "tf_text"):
        ids, starts, ends = compiled[(kind, True)]([word, word + "가", "a" * 101])
        assert UNK not in ids[0] and len(ids[0]) == 100
        assert ids[1] == [UNK] and (starts[1], ends[1]) == ([0], [51])
        assert ids[2] == [UNK]


def test_cased_mode_keeps_case_and_accents(vocab_file):
    vocab = load_vocab(vocab_file)
    texts = ["Héllo WORLD, ΟΔΟΣ!", "Straße İstanbul 中文", "\u00e9\u0301x"]
    core = CoreOpsBertTokenizer(vocab_file, do_lower_case=False)
    tf_text = BertTokenizer(vocab_file, do_lower_case=False)
    for text in texts:
        literal = [p for w in ref.google_basic_tokenize(text, do_lower_case=False)
                   for p in ref.google_wordpiece(w, vocab)]
        assert core.tokenize(text) == literal
        expected = vocab_lookup(vocab, literal)
        assert core.tokenize_tf(tf.constant([text])).to_list() == [expected]
        assert tf_text.tokenize_tf(tf.constant([text])).to_list() == [expected]
    assert ref.google_basic_tokenize("Héllo WORLD", do_lower_case=False) == ["Héllo", "WORLD"]


def vocab_lookup(vocab, tokens):
    return [vocab[t] for t in tokens]


def test_final_sigma_and_dotted_capital_i(tokenizers, compiled):
    # str.lower(): capital sigma at a word end -> final sigma; alone or inside a word -> sigma; İ -> i + dot -> i.
    texts = ["ΟΔΟΣ Σ ΑΣ. İ", "ΟΔΟΣΑ"]
    expected = [["ο", "##δ", "##ος", "σ", "α", "##ς", ".", "i"], ["ο", "##δ", "##ο", "##σ", "##α"]]
    assert [tokenizers[("core", True)].tokenize(t) for t in texts] == expected
    for kind in ("core", "tf_text"):
        ids, _, _ = compiled[(kind, True)](texts)
        assert [tokenizers[(kind, True)].convert_ids_to_tokens(i) for i in ids] == expected


def test_scalar_and_empty_inputs(tokenizers):
    for kind in ("core", "tf_text"):
        tok = tokenizers[(kind, True)]
        assert tok.tokenize_tf(tf.constant("What is BERT?")).numpy().tolist() == [2054, 2003, 14324, 1029]
        assert tok.tokenize_tf(tf.constant([], tf.string)).to_list() == []
        assert tok(tf.constant(["", " \t", "a"])).to_list() == [[], [], [1037]]
        # Rows with no cased / no kept character (hypothesis found these once: out-of-range gathers).
        assert tok(tf.constant(["^"])).to_list() == [[1034]]
        assert tok(tf.constant(["\u0301", "\u0301a", "Σ"])).to_list() == [[], [1037], [1173]]


def test_vocabulary_properties(tokenizers):
    tok = tokenizers[("core", True)]
    assert (tok.vocab_size, tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (
        30522, 0, 100, 101, 102, 103)
    assert tok.do_lower_case is True
    assert list(tok.vocab)[:2] == ["[PAD]", "[unused0]"]
    assert tok.convert_ids_to_tokens([7592, 999]) == ["hello", "!"]
    with pytest.raises(KeyError, match="not-a-token"):
        tok.convert_tokens_to_ids(["not-a-token"])
    with pytest.raises(IndexError, match="30522"):
        tok.convert_ids_to_tokens([30522])
    config = tok.get_config()
    assert config["vocab_file"].endswith("uncased_vocab.txt") and config["split_special_tokens"] is True


def test_encode_python_and_tf(tokenizers):
    tok = tokenizers[("tf_text", True)]
    out = tok.encode("The man went to the store.", "He bought milk.", max_seq_length=13)
    # a = 7 pieces, b = 4 pieces, budget 10: longest-first trims a to 6.
    assert out[features.TOKEN_IDS].tolist() == [
        101, 1996, 2158, 2253, 2000, 1996, 3573, 102, 2002, 4149, 6501, 1012, 102]
    assert out[features.SEGMENT_IDS].tolist() == [0] * 8 + [1] * 5
    assert out[features.PADDING_MASK].tolist() == [1] * 13
    single = tok.encode("What is BERT?", max_seq_length=9)
    assert single[features.TOKEN_IDS].tolist() == [101, 2054, 2003, 14324, 1029, 102, 0, 0, 0]
    assert single[features.PADDING_MASK].tolist() == [1] * 6 + [0] * 3
    for kind in ("tf_text", "core"):
        packed = tokenizers[(kind, True)].encode_tf(
            tf.constant(["The man went to the store.", "What is BERT?"]),
            tf.constant(["He bought milk.", ""]), max_seq_length=13)
        assert packed[features.TOKEN_IDS].numpy()[0].tolist() == out[features.TOKEN_IDS].tolist()
        assert packed[features.TOKEN_IDS].numpy()[1].tolist() == [
            101, 2054, 2003, 14324, 1029, 102, 102, 0, 0, 0, 0, 0, 0]
        assert packed[features.SEGMENT_IDS].numpy()[1].tolist() == [0] * 6 + [1] + [0] * 6
        np.testing.assert_array_equal(packed[features.PADDING_MASK].numpy()[1], [1] * 7 + [0] * 6)


def test_works_in_tf_data(tokenizers):
    tok = tokenizers[("core", True)]
    ds = tf.data.Dataset.from_tensor_slices(["Héllo world", "안녕", "What is BERT?"]).batch(2)
    ds = ds.map(lambda s: tok.encode_tf(s, max_seq_length=7))
    batches = list(ds.as_numpy_iterator())
    assert [b[features.TOKEN_IDS].shape for b in batches] == [(2, 7), (1, 7)]
    assert batches[0][features.TOKEN_IDS][0].tolist() == [101, 7592, 2088, 102, 0, 0, 0]
    assert batches[1][features.TOKEN_IDS][0].tolist() == [101, 2054, 2003, 14324, 1029, 102, 0]


def test_reference_tokenizer_standalone():
    vocab = {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, ",": 4, "[MASK]": 5}
    tok = ReferenceTokenizer(vocab, split_special_tokens=False)
    assert tok.tokenize("Unaffable,[MASK]x") == ["un", "##aff", "##able", ",", "[MASK]", "[UNK]"]
    with pytest.raises(TypeError, match="str"):
        tok.tokenize(b"bytes")


@pytest.mark.parametrize("cls", [BertTokenizer, CoreOpsBertTokenizer])
def test_get_config_round_trip(vocab_file, cls):
    tok = cls(vocab_file, do_lower_case=False, split_special_tokens=False, max_input_chars_per_word=7, name="tok")
    again = cls.from_config(tok.get_config())
    assert again.get_config() == tok.get_config()
    assert (again.do_lower_case, again.split_special_tokens, again.max_input_chars_per_word) == (False, False, 7)
    text = "Héllo [MASK] abcdefgh"
    assert again.tokenize(text) == tok.tokenize(text) == ["[UNK]", "[MASK]", "[UNK]"]
    assert again.tokenize_tf([text]).to_list() == [[100, 103, 100]]
