"""`average_hf`: the weight-by-weight average of two Hugging Face directories (WiSE-FT), the built-in Korean
model's last build stage. The averaged directory loads, its weights are the average, the start's other files and
folders come along, and directories that cannot be averaged fail with an error naming why."""

import json
import os

import keras
import numpy as np
import pytest

from bert_tf.checkpoints import CheckpointError, average_hf, load_encoder, save_hf
from bert_tf.checkpoints.model_weights import collect
from bert_tf.config import BertConfig
from bert_tf.encoder import BertEncoder

CONFIG = BertConfig(vocab_size=23, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=20, max_position_embeddings=40)


def _directory(tmp_path, name, seed, *, dtype="float32", config=CONFIG):
    keras.utils.set_random_seed(seed)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                               + [f"w{i}" for i in range(config.vocab_size - 5)]) + "\n")
    return save_hf(BertEncoder.from_bert_config(config), str(tmp_path / name), vocab_file=str(vocab), dtype=dtype)


def _weights(directory):
    return {k: np.asarray(v, np.float64) for k, v in collect(load_encoder(directory)).items()}


@pytest.mark.parametrize("alpha", [0.5, 0.25])
def test_the_average_loads_and_is_the_weighted_mean(tmp_path, alpha):
    start, tuned = _directory(tmp_path, "start", 0), _directory(tmp_path, "tuned", 1)
    os.makedirs(os.path.join(start, "1_Pooling"))
    with open(os.path.join(start, "1_Pooling", "config.json"), "w") as f:
        json.dump({"pooling_mode_mean_tokens": True}, f)
    with open(os.path.join(start, "pretraining.json"), "w") as f:
        json.dump({"max_seq_length": 24}, f)
    out = average_hf(start, tuned, str(tmp_path / "avg"), alpha=alpha)
    a, b, avg = _weights(start), _weights(tuned), _weights(out)
    assert a.keys() == avg.keys() and len(avg) > 20
    for key in avg:
        np.testing.assert_allclose(avg[key], (1 - alpha) * a[key] + alpha * b[key], rtol=1e-6, atol=1e-7)
    assert not np.allclose(avg["embeddings/token"], a["embeddings/token"])
    for name in ("1_Pooling/config.json", "pretraining.json", "vocab.txt", "bert_config.json", "tokenizer_config.json"):
        with open(os.path.join(start, name), "rb") as f, open(os.path.join(out, name), "rb") as g:
            assert f.read() == g.read(), name


def test_float16_stays_float16_and_the_ends_are_the_inputs(tmp_path):
    from safetensors.numpy import load_file
    start = _directory(tmp_path, "start", 2, dtype="float16")
    tuned = _directory(tmp_path, "tuned", 3, dtype="float16")
    stored = load_file(os.path.join(average_hf(start, tuned, str(tmp_path / "avg")), "model.safetensors"))
    assert {v.dtype for v in stored.values()} == {np.dtype("float16")}
    for alpha, same in ((0.0, start), (1.0, tuned)):
        out = average_hf(start, tuned, str(tmp_path / f"end{alpha}"), alpha=alpha)
        with open(os.path.join(out, "model.safetensors"), "rb") as f, \
                open(os.path.join(same, "model.safetensors"), "rb") as g:
            assert f.read() == g.read()
    in_place = load_file(os.path.join(average_hf(tuned, start, tuned), "model.safetensors"))  # into its start
    key = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(in_place[key], stored[key])  # the average is symmetric at 0.5


def test_directories_that_cannot_be_averaged_say_why(tmp_path):
    start = _directory(tmp_path, "start", 0)
    wider = _directory(tmp_path, "wider", 1, config=CONFIG.replace(intermediate_size=24))
    with pytest.raises(CheckpointError, match="different bert_config.json"):
        average_hf(start, wider, str(tmp_path / "out"))
    os.remove(os.path.join(wider, "bert_config.json"))
    shapes = r"encoder.layer.0.intermediate.dense.bias has shape \(20,\) in .*start but \(24,\) in .*wider"
    with pytest.raises(CheckpointError, match=shapes):
        average_hf(start, wider, str(tmp_path / "out"))
    deeper = _directory(tmp_path, "deeper", 1, config=CONFIG.replace(num_hidden_layers=3))
    os.remove(os.path.join(deeper, "bert_config.json"))
    with pytest.raises(CheckpointError, match="different tensors.*encoder.layer.2"):
        average_hf(start, deeper, str(tmp_path / "out"))
    with pytest.raises(CheckpointError, match="no model.safetensors in"):
        average_hf(start, str(tmp_path), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="alpha must be in"):
        average_hf(start, start, str(tmp_path / "out"), alpha=1.5)
    assert not os.path.exists(tmp_path / "out")
