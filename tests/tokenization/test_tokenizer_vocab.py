"""Vocabulary files: loading, clear errors naming the file and line, atomic writing."""

import os

import pytest

from bert_tf.tokenization import (BertTokenizer, CoreOpsBertTokenizer, ReferenceTokenizer, VocabError, load_vocab,
                                  write_vocab)

BASE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _write_bytes(tmp_path, data, name="vocab.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_loads_reference_vocab_in_order(vocab_file):
    vocab = load_vocab(vocab_file)
    assert len(vocab) == 30522
    assert list(vocab.items())[:2] == [("[PAD]", 0), ("[unused0]", 1)]
    assert [vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##ᅡ")] == [
        100, 101, 102, 103, 7592, 30006]


def test_vocab_error_is_value_error():
    assert issubclass(VocabError, ValueError)


@pytest.mark.parametrize("data,pattern", [
    (b"", r"is empty"),
    ("\n".join(BASE + ["a", "b", "a"]).encode() + b"\n", r"duplicate token 'a' on lines 6 and 8"),
    (b"[PAD]\n[UNK]\n\xff\xfe\n", r"not valid UTF-8 \(line 3"),
    (b"[PAD]\n[CLS]\n[SEP]\n", r"lacks the required special token\(s\) \[UNK\]"),
    (b"[UNK]\n[CLS]\n", r"lacks the required special token\(s\) \[SEP\]$"),  # [PAD] is optional (issue 13)
    ("\n".join(BASE + ["ok", " padded"]).encode(), r"line 7: token ' padded' has leading or trailing whitespace"),
    ("\n".join(BASE + ["", "x"]).encode(), r"line 6: empty line"),
])
def test_bad_vocab_files_name_file_and_line(tmp_path, data, pattern):
    path = _write_bytes(tmp_path, data)
    with pytest.raises(VocabError, match=pattern) as info:
        load_vocab(path)
    assert path in str(info.value)


def test_missing_file_and_directory(tmp_path):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(VocabError, match="does not exist") as info:
        load_vocab(missing)
    assert missing in str(info.value)
    with pytest.raises(VocabError, match="is a directory"):
        load_vocab(str(tmp_path))


def test_tokenizers_report_bad_vocab_without_tf_traceback(tmp_path):
    path = _write_bytes(tmp_path, b"[PAD]\n[UNK]\n[UNK]\n")
    for cls in (BertTokenizer, CoreOpsBertTokenizer):
        with pytest.raises(VocabError, match="duplicate token '\\[UNK\\]' on lines 2 and 3"):
            cls(path)


def test_reference_tokenizer_takes_a_vocab_path_like_google_s_full_tokenizer(tmp_path):
    # FullTokenizer(vocab_file) takes a path; ReferenceTokenizer took only the loaded dict, and a path string was
    # searched character by character: every word became [UNK], silently.
    tokens = BASE + ["한국", "##어", "##는", "hello"]
    path = _write_bytes(tmp_path, "\n".join(tokens).encode() + b"\n")
    expected = ["한국", "##어", "##는", "hello", "[UNK]"]
    assert ReferenceTokenizer(load_vocab(path), do_lower_case=False).tokenize("한국어는 hello 없다") == expected
    for given in (path, tmp_path / "vocab.txt", os.fsencode(path)):
        tok = ReferenceTokenizer(given, do_lower_case=False)
        assert tok.tokenize("한국어는 hello 없다") == expected
        assert tok.vocab["##는"] == tokens.index("##는")
    with pytest.raises(VocabError, match="does not exist"):
        ReferenceTokenizer(str(tmp_path / "missing.txt"))
    with pytest.raises(TypeError, match="vocab must be a dict token -> id .* got list"):
        ReferenceTokenizer(tokens)


def test_crlf_and_bom_files_are_accepted(tmp_path):
    tokens = BASE + ["héllo", "##x"]
    crlf = _write_bytes(tmp_path, "\r\n".join(tokens).encode() + b"\r\n", "crlf.txt")
    bom = _write_bytes(tmp_path, b"\xef\xbb\xbf" + "\n".join(tokens).encode(), "bom.txt")
    for path in (crlf, bom):
        vocab = load_vocab(path)
        assert list(vocab) == tokens and vocab["##x"] == 6
    # The TF tables see the same tokens (loaded from memory for such files).
    tok = CoreOpsBertTokenizer(crlf, do_lower_case=False)
    assert tok.tokenize_tf(["héllo [MASK]"]).to_list() == [[5, 1, 1, 1]]


def test_write_vocab_round_trip_is_atomic(tmp_path):
    path = str(tmp_path / "out.txt")
    tokens = BASE + ["안녕", "##s"]
    write_vocab(tokens, path)
    assert list(load_vocab(path)) == tokens
    write_vocab({t: i for i, t in enumerate(reversed(tokens))}, path)  # a dict is written in id order
    assert list(load_vocab(path)) == list(reversed(tokens))
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind
    with pytest.raises(VocabError, match="line break"):
        write_vocab(BASE + ["a\nb"], path)
    with pytest.raises(VocabError, match="'x' at ids 5 and 6"):
        write_vocab(BASE + ["x", "x"], path)
    assert list(load_vocab(path)) == list(reversed(tokens))  # failed writes leave the old file intact
