"""`scripts/convert_checkpoint.py` (`save_hf(..., companions_from=)`): any checkpoint's encoder as a Hugging Face
directory, float16 if asked, keeping its start's generator/, 1_Pooling/ and pretraining.json (the built-in Korean
model's emoticon stage writes each round this way)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from bert_tf.checkpoints import CheckpointError, load_encoder, save_hf
from bert_tf.checkpoints.model_weights import collect
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder
from bert_tf.tasks import default_pooling

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts",
                      "convert_checkpoint.py")
CONFIG = BertConfig(vocab_size=29, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=20, max_position_embeddings=48)


def _start(tmp_path):
    """A model directory as a build stage leaves it: weights, vocab, mean pooling, a generator, pretraining.json."""
    keras.utils.set_random_seed(3)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                               + [f"w{i}" for i in range(CONFIG.vocab_size - 5)]) + "\n")
    start = save_hf(BertEncoder.from_bert_config(CONFIG), str(tmp_path / "start"), vocab_file=str(vocab))
    os.makedirs(os.path.join(start, "1_Pooling"))
    with open(os.path.join(start, "1_Pooling", "config.json"), "w") as f:
        json.dump({"pooling_mode_mean_tokens": True}, f)
    with open(os.path.join(start, "pretraining.json"), "w") as f:
        json.dump({"max_seq_length": 32}, f)
    save_hf(BertEncoder.from_bert_config(CONFIG), os.path.join(start, "generator"), vocab_file=str(vocab))
    return start


def test_the_encoder_is_written_in_float16_with_its_starts_companions(tmp_path):
    start = _start(tmp_path)
    keras.utils.set_random_seed(7)
    tuned = BertEncoder.from_bert_config(CONFIG)  # stands for the encoder fine-tuned from `start`
    checkpoint = save_hf(tuned, str(tmp_path / "tuned"), vocab_file=os.path.join(start, "vocab.txt"))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, SCRIPT, f"--init_checkpoint={checkpoint}", f"--output_dir={out}",
                          "--dtype=float16", f"--companions_from={start}"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    from safetensors.numpy import load_file
    stored = load_file(str(out / "model.safetensors"))
    assert {w.dtype for w in stored.values()} == {np.dtype("float16")}
    written, expected = collect(load_encoder(str(out))), collect(tuned)
    assert written.keys() == expected.keys()
    for name, value in expected.items():  # the tuned weights (float16-rounded), not the start's
        np.testing.assert_allclose(np.asarray(written[name], np.float32), np.asarray(value, np.float32),
                                   rtol=1e-3, atol=1e-4)
    assert default_pooling(str(out)) == "mean"
    with open(out / "pretraining.json") as f:
        assert json.load(f) == {"max_seq_length": 32}
    assert (out / "generator" / "model.safetensors").read_bytes() == \
        open(os.path.join(start, "generator", "model.safetensors"), "rb").read()
    assert (out / "vocab.txt").read_text() == open(os.path.join(start, "vocab.txt")).read()


def test_bad_inputs_are_named_and_nothing_is_written(tmp_path):
    start = _start(tmp_path)
    out = tmp_path / "out"
    for flags, message in (([f"--init_checkpoint={tmp_path / 'nope'}"], f"{tmp_path / 'nope'} does not exist"),
                           ([f"--init_checkpoint={start}", f"--companions_from={tmp_path / 'nodir'}"],
                            "is not a directory")):
        run = subprocess.run([sys.executable, SCRIPT, f"--output_dir={out}", *flags], capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr
        assert not out.exists()
    with pytest.raises(CheckpointError, match="companions_from=.* is not a directory"):
        save_hf(load_encoder(start), str(out), companions_from=str(tmp_path / "nodir"))
