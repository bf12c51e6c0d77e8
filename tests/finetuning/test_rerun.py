"""Rerunning a fine-tuning run (issue 13): a finished run is reused, and an unfinished one resumed, only with the
settings that made it; other settings are a clear `FinetuneError` naming them (never the old model reported as
the new one, never two configurations mixed in one checkpoint). `best_model.keras` carries no optimizer state.

A tiny BERT classifier with distinct sizes (hidden 12, heads 3, intermediate 37, vocab 41, seq 7, 5 classes),
24 examples, batch 4: 6 steps per epoch, 1 epoch.
"""

import io
import json
import os
import shutil
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest

from bert_tf import BertConfig, BertEncoder
from bert_tf.finetuning import FinetuneError
from bert_tf.finetuning.common import BEST_MODEL, train_one
from bert_tf.tasks import BertClassifier

N, SEQ, VOCAB, CLASSES = 24, 7, 41, 5


def _data(seed=3):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, VOCAB, size=(N, SEQ)).astype("int32")
    mask = np.ones_like(ids)
    mask[::3, 5:] = 0
    x = {"token_ids": ids * mask, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    return x, rng.integers(0, CLASSES, size=(N,)).astype("int32")


def _build(head_initializer="glorot_uniform"):
    def build(dtype):
        return BertClassifier(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=VOCAB), dtype=dtype),
                              num_classes=CLASSES, head_initializer=head_initializer)
    return build


def _evaluate(model):
    x, y = _data()
    logits = np.asarray(model(x, training=False))
    return {"accuracy": float(np.mean(logits.argmax(-1) == y))}


def _run(run_dir, *, data_seed=3, head_initializer="glorot_uniform", **kwargs):
    settings = dict(learning_rate=1e-3, num_train_epochs=1, train_batch_size=4, seed=7, run_config={"dev": None})
    settings.update(kwargs)
    x, y = _data(data_seed)
    return train_one(_build(head_initializer), x, y, evaluate=_evaluate, main_metric="accuracy",
                     run_dir=str(run_dir), **settings)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    result = _run(run_dir)
    assert result.history["done"]
    return run_dir, result


def _copy(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    return run_dir


def test_history_records_the_run_settings(finished_run):
    config = json.loads((finished_run[0] / "history.json").read_text())["config"]
    assert config["learning_rate"] == 1e-3 and config["num_train_steps"] == 6 and config["seed"] == 7
    assert config["train_batch_size"] == 4 and config["max_seq_length"] == SEQ and config["num_train_examples"] == N
    assert config["model.head_initializer"] == "glorot_uniform" and config["model.num_classes"] == CLASSES
    assert config["dtype"] == "float32" and "dtype_policy" not in config
    assert config["encoder_config"]["hidden_size"] == 12
    assert len(config["train_data_sha256"]) == 64 and len(config["initial_weights_sha256"]) == 64


def test_rerun_with_the_same_settings_reuses_the_finished_run(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    mtime = os.path.getmtime(run_dir / BEST_MODEL)
    result = _run(run_dir)
    assert result.best_metrics == finished_run[1].best_metrics
    assert os.path.getmtime(run_dir / BEST_MODEL) == mtime  # not trained again


@pytest.mark.parametrize("change, named", [
    (dict(learning_rate=3e-5), "learning_rate 0.001 then, 3e-05 now"),
    (dict(num_train_epochs=2), "num_train_epochs 1 then, 2 now"),
    (dict(train_batch_size=8), "train_batch_size 4 then, 8 now"),
    (dict(seed=8), "seed 7 then, 8 now"),
    (dict(warmup_proportion=0.2), "warmup_proportion 0.1 then, 0.2 now"),
    (dict(head_initializer="truncated_normal"), 'model.head_initializer "glorot_uniform" then, "truncated_normal" now'),
    (dict(data_seed=4), "the training data"),
    (dict(run_config={"dev": "dev_file other.csv (5 examples)"}), 'dev null then, "dev_file other.csv'),
])
def test_rerun_with_other_settings_is_refused(finished_run, tmp_path, change, named):
    run_dir = _copy(finished_run, tmp_path)
    before = (run_dir / "history.json").read_bytes()
    with pytest.raises(FinetuneError) as error:
        _run(run_dir, **change)
    message = str(error.value)
    assert f"{run_dir} holds a finished run made with other settings" in message
    assert named in message
    assert "Pass a new --output_dir, or delete" in message
    assert (run_dir / "history.json").read_bytes() == before  # nothing rewritten


def test_unfinished_run_with_other_settings_is_not_resumed(tmp_path):
    """A run stopped after its first checkpoint, rerun with another learning rate: its checkpoint (made with
    the old rate) must not be continued."""
    run_dir = tmp_path / "run"

    def crash(model):
        raise RuntimeError("simulated crash")

    x, y = _data()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_one(_build(), x, y, evaluate=crash, main_metric="accuracy", run_dir=str(run_dir), learning_rate=1e-3,
                  num_train_epochs=1, train_batch_size=4, seed=7, evals_per_epoch=2, run_config={"dev": None})
    assert os.path.isfile(run_dir / "ckpt-3.index")
    with pytest.raises(FinetuneError, match="holds an unfinished run made with other settings: learning_rate "
                                            "0.001 then, 0.0001 now"):
        _run(run_dir, learning_rate=1e-4, evals_per_epoch=2)
    result = _run(run_dir, evals_per_epoch=2)  # the same settings resume it
    assert result.history["done"] and result.best_step in (3, 6)


def test_legacy_history_is_checked_on_what_it_recorded(finished_run, tmp_path):
    """A history.json from before the settings were recorded (learning_rate and num_train_steps only)."""
    run_dir = _copy(finished_run, tmp_path)
    history = json.loads((run_dir / "history.json").read_text())
    del history["config"]
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.raises(FinetuneError, match="num_train_steps 6 then, 12 now"):
        _run(run_dir, num_train_epochs=2)
    assert _run(run_dir).best_metrics == finished_run[1].best_metrics


def test_history_with_the_old_dtype_policy_key_is_read_as_dtype(finished_run, tmp_path):
    """history.json written before the rename says `dtype_policy`: read as `dtype` (with a warning), so the same
    precision reuses the run and another one is refused, not silently mixed."""
    run_dir = _copy(finished_run, tmp_path)
    history = json.loads((run_dir / "history.json").read_text())
    history["config"]["dtype_policy"] = history["config"].pop("dtype")
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.warns(DeprecationWarning, match="uses the old key 'dtype_policy'"):
        assert _run(run_dir).best_metrics == finished_run[1].best_metrics
    history["config"]["dtype_policy"] = "mixed_bfloat16"
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.warns(DeprecationWarning), pytest.raises(FinetuneError, match='dtype "mixed_bfloat16" then, '
                                                                              '"float32" now'):
        _run(run_dir)


def test_history_with_the_old_sequence_length_key_is_read_as_max_seq_length(finished_run, tmp_path):
    """history.json of older versions names the padded length `sequence_length`: it is compared as
    `max_seq_length` (with a DeprecationWarning), and a matching run is reused."""
    run_dir = _copy(finished_run, tmp_path)
    history = json.loads((run_dir / "history.json").read_text())
    history["config"]["sequence_length"] = history["config"].pop("max_seq_length") + 2
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.warns(DeprecationWarning, match="old key 'sequence_length'"):
        with pytest.raises(FinetuneError, match=f"max_seq_length {SEQ + 2} then, {SEQ} now"):
            _run(run_dir)
    history["config"]["sequence_length"] = SEQ
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.warns(DeprecationWarning, match="old key 'sequence_length'"):
        assert _run(run_dir).best_metrics == finished_run[1].best_metrics


def test_best_model_keras_has_no_optimizer_state(finished_run):
    path = finished_run[0] / BEST_MODEL
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            names = []
            weights.visit(names.append)
            arrays = [name for name in names if isinstance(weights[name], h5py.Dataset)]
    assert not [name for name in names if "optimizer" in name]
    assert not config.get("compile_config")
    # One array per model weight (AdamW's two slots per weight and its step counter would triple the file).
    model = keras.models.load_model(path, compile=False)
    assert len(arrays) == len(model.weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Skipping variable loading for optimizer" warning either
        keras.models.load_model(path)
