"""Where bert_tf's tokenization and pre-training data follow google-research/bert rather than Hugging Face, and
the flag for the other behaviour (issue 13; found by running google-research/bert's own code on unseen text):

- words of 101-200 characters: google-research/bert's WordpieceTokenizer allows 200 characters, Hugging Face's
  100 (`max_input_chars_per_word`, `--max_input_chars_per_word`);
- a bare `\\r` in pre-training text: google-research/bert reads lines with `GFile.readline` (only `\\n` ends a
  line; the `\\r` is whitespace), Python's text files also split there (`universal_newlines`);
- a vocabulary without `[PAD]`: google-research/bert accepts it and pads with id 0; so does bert_tf.
"""

import pytest

from bert_tf.data.pretraining_data import PretrainingDataCreator
from bert_tf.finetuning.common import make_tokenizer
from bert_tf.tokenization import (HF_MAX_INPUT_CHARS_PER_WORD, MAX_INPUT_CHARS_PER_WORD, BertTokenizer,
                                  CoreOpsBertTokenizer, ReferenceTokenizer, load_vocab, pad_id)
from bert_tf.tokenization import reference_tokenizer as ref

WORD = "x" * 150  # google-research/bert splits it into pieces ("xx", "##xx", ...), Hugging Face gives [UNK]


def test_limits_are_google_research_berts_and_hugging_faces():
    assert (MAX_INPUT_CHARS_PER_WORD, HF_MAX_INPUT_CHARS_PER_WORD) == (200, 100)


@pytest.mark.parametrize("cls", [BertTokenizer, CoreOpsBertTokenizer])
def test_word_of_150_characters(vocab_file, cls):
    google = cls(vocab_file)
    assert google.max_input_chars_per_word == 200
    pieces = ref.google_wordpiece(WORD, load_vocab(vocab_file), max_input_chars_per_word=200)
    assert len(pieces) > 1 and "[UNK]" not in pieces
    assert google.tokenize(WORD) == pieces
    assert google.tokenize_tf([WORD]).to_list()[0] == google.convert_tokens_to_ids(pieces)
    hf = cls(vocab_file, max_input_chars_per_word=HF_MAX_INPUT_CHARS_PER_WORD)
    assert hf.tokenize(WORD) == ["[UNK]"] and hf.tokenize_tf([WORD]).to_list()[0] == [hf.unk_id]
    assert cls(vocab_file).tokenize("x" * 201) == ["[UNK]"]


def test_reference_and_literal_port_default_to_200(vocab_file):
    vocab = load_vocab(vocab_file)
    assert ReferenceTokenizer(vocab).tokenize(WORD)[0] == ref.google_wordpiece(WORD, vocab)[0] == "xx"
    assert ref.google_wordpiece(WORD, vocab, max_input_chars_per_word=100) == ["[UNK]"]


def test_fine_tuning_tokenizer_takes_the_limit(vocab_file):
    assert make_tokenizer(vocab_file, True).max_input_chars_per_word == 200
    assert make_tokenizer(vocab_file, True, 100).tokenize(WORD) == ["[UNK]"]


def test_vocabulary_without_pad_pads_with_id_0(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    vocab = load_vocab(str(path))
    assert "[PAD]" not in vocab and pad_id(vocab) == 0
    tok = BertTokenizer(str(path))
    assert tok.pad_id == 0
    encoded = tok.encode("hello world", max_seq_length=7)
    assert encoded["token_ids"].tolist() == [1, 4, 5, 2, 0, 0, 0]
    assert encoded["padding_mask"].tolist() == [1, 1, 1, 1, 0, 0, 0]


def test_vocabulary_without_unk_cls_or_sep_is_still_refused(tmp_path):
    from bert_tf.tokenization import VocabError
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[SEP]\n")
    with pytest.raises(VocabError, match=r"lacks the required special token\(s\) \[CLS\]"):
        load_vocab(str(path))


@pytest.mark.parametrize("universal, sentences", [(False, [["one", "two", "three", "four"], ["five"]]),
                                                  (True, [["one", "two"], ["three", "four"], ["five"]])])
def test_bare_carriage_return_in_pretraining_text(tmp_path, universal, sentences):
    words = ["one", "two", "three", "four", "five"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"one two\rthree four\r\nfive\n")
    creator = PretrainingDataCreator(ReferenceTokenizer(vocab), num_workers=1, universal_newlines=universal)
    assert creator.read_documents([str(path)]) == [sentences]
