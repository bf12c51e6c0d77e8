"""`pretraining.json`: the longest sequences a checkpoint's weights were pre-trained on, and the fine-tuning
warning when a run goes longer (the built-in Korean model was pre-trained on 64 pieces, then on 128; its positions
128+ are untrained, which nothing in config.json shows)."""

import json
import logging
import os

import keras

from bert_tf.checkpoints import save_hf
from bert_tf.checkpoints.pretraining_record import (RECORD_FILE, pretrained_max_seq_length, read_pretraining_record,
                                                     untrained_positions_warning, write_pretraining_record)
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.finetuning.options import FinetuneOptions
from bert_tf.finetuning.setup import prepare
from bert_tf.pretrained import korean_bert_dir


def test_the_record_takes_the_longer_of_this_run_and_its_init_checkpoint(tmp_path):
    short, long_, fresh = tmp_path / "short", tmp_path / "long", tmp_path / "fresh"
    for d in (short, long_, fresh):
        d.mkdir()
    assert write_pretraining_record(str(short), max_seq_length=48, objective="mlm") == {
        "max_seq_length": 48, "objective": "mlm"}
    # continuing at 96 from a 48-piece model: 96; continuing that at 32: still 96 (positions 32-95 stay trained)
    assert write_pretraining_record(str(long_), max_seq_length=96, objective="electra",
                                    init_checkpoint=str(short))["max_seq_length"] == 96
    assert write_pretraining_record(str(fresh), max_seq_length=32, objective="electra",
                                    init_checkpoint=str(long_ / "model.safetensors"))["max_seq_length"] == 96
    with open(fresh / RECORD_FILE) as f:
        assert json.load(f) == {"max_seq_length": 96, "objective": "electra"}
    assert pretrained_max_seq_length(str(fresh)) == 96


def test_a_missing_or_damaged_record_says_nothing(tmp_path):
    assert read_pretraining_record(str(tmp_path)) == {} and pretrained_max_seq_length(str(tmp_path)) is None
    for text in ("{not json", "[64]", '{"max_seq_length": "64"}', '{"max_seq_length": true}',
                 '{"max_seq_length": -5}'):
        (tmp_path / RECORD_FILE).write_text(text)
        assert pretrained_max_seq_length(str(tmp_path)) is None, text
        assert untrained_positions_warning(str(tmp_path), 512) is None


def test_the_warning_names_the_untrained_positions(tmp_path):
    write_pretraining_record(str(tmp_path), max_seq_length=64, objective="electra")
    assert untrained_positions_warning(str(tmp_path), 64) is None
    assert untrained_positions_warning(str(tmp_path), 32) is None
    message = untrained_positions_warning(str(tmp_path), 128)
    assert "128" in message and "64 pieces" in message and "64-127" in message and RECORD_FILE in message


def test_the_built_in_korean_model_records_its_128_pieces():
    # Pre-trained on 64 pieces, then an ELECTRA leg on 128 (docs/RESULTS.md): fine-tuning at 128 does not warn.
    assert read_pretraining_record(korean_bert_dir()) == {"max_seq_length": 128, "objective": "electra"}
    assert untrained_positions_warning(korean_bert_dir(), 128) is None
    assert "128-255" in untrained_positions_warning(korean_bert_dir(), 256)


def test_fine_tuning_longer_than_pre_training_warns_once(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=40)
    directory = str(tmp_path / "enc")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(15)]) + "\n")
    save_hf(BertEncoder.from_bert_config(config), directory, vocab_file=str(vocab))
    write_pretraining_record(directory, max_seq_length=24, objective="mlm")
    with caplog.at_level(logging.WARNING, logger="bert_tf.finetuning.setup"):
        prepare(FinetuneOptions(init_checkpoint=directory, max_seq_length=24))
    assert not [r for r in caplog.records if RECORD_FILE in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="bert_tf.finetuning.setup"):
        prepare(FinetuneOptions(init_checkpoint=directory, max_seq_length=36))
    warned = [r.getMessage() for r in caplog.records if RECORD_FILE in r.getMessage()]
    assert len(warned) == 1 and "24-35" in warned[0] and directory in warned[0]
    # the same weights without the record (a Hugging Face download): nothing to say
    os.remove(os.path.join(directory, RECORD_FILE))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bert_tf.finetuning.setup"):
        prepare(FinetuneOptions(init_checkpoint=directory, max_seq_length=36))
    assert not [r for r in caplog.records if RECORD_FILE in r.getMessage()]
