"""save_hf / save_google_tf1 write the vocab.txt the encoder was loaded with (issue 13: the README's
`save_google_tf1(encoder, "/tmp/minilm_tf1")` wrote no vocab.txt, so the directory could not be used alone)."""

import logging
import os

from bert_tf import BertConfig, BertEncoder
from bert_tf.checkpoints import find_vocab, load_encoder, save_google_tf1, save_hf

TINY_HF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata", "parity",
                       "interop_tiny", "hf")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_loaded_encoder_saves_its_vocabulary(tmp_path):
    encoder = load_encoder(TINY_HF)
    assert encoder.vocab_file == os.path.join(TINY_HF, "vocab.txt")
    prefix = save_google_tf1(encoder, str(tmp_path / "tf1"))
    assert _read(tmp_path / "tf1" / "vocab.txt") == _read(os.path.join(TINY_HF, "vocab.txt"))
    save_hf(encoder, str(tmp_path / "hf"))
    assert _read(tmp_path / "hf" / "vocab.txt") == _read(os.path.join(TINY_HF, "vocab.txt"))
    # The saved directories are usable on their own: they load, with their vocabulary beside them.
    for path in (prefix, str(tmp_path / "hf")):
        assert load_encoder(path).vocab_file == find_vocab(path)


def test_encoder_of_unknown_vocabulary_warns(tmp_path, caplog):
    encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41))
    with caplog.at_level(logging.WARNING, logger="bert_tf.checkpoints.saving"):
        save_hf(encoder, str(tmp_path / "hf"))
    assert not os.path.exists(tmp_path / "hf" / "vocab.txt")
    assert "no vocab.txt written (this model's vocabulary is unknown); pass vocab_file=" in caplog.text
