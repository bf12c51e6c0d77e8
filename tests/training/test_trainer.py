"""Trainer: training, gradient accumulation, checkpoints + resume (weights, step, input position), corrupt
checkpoints, signals, eval results, summaries, mixed precision and XLA."""

import glob
import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
import keras
import tensorflow as tf

from bert_tf.training.optimization import create_optimizer
from bert_tf.training.trainer import Trainer, TrainingStateError

N = 56  # examples; batch sizes below divide it so the data order is easy to reason about


def _data():
    rng = np.random.RandomState(7)
    x = rng.randn(N, 3).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5]], "float32") + 0.25).astype("float32")
    return x, y


def _dataset(batch, repeat=True):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return ds.repeat() if repeat else ds


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=["mae"])
    return model


def _trainer(model_dir, batch=8, steps=20, model=None, **kwargs):
    model = model or _model()
    kwargs.setdefault("progress", False)
    kwargs.setdefault("handle_signals", False)
    return Trainer(model, create_optimizer(0.05, steps, 2), _dataset(batch), model_dir=str(model_dir),
                   num_train_steps=steps, **kwargs)


def test_trains_logs_summaries_and_eval_results(tmp_path):
    trainer = _trainer(tmp_path, steps=30, save_checkpoints_steps=10, log_every_steps=10,
                       eval_dataset=_dataset(16, repeat=False), steps_per_loop=4)
    before = trainer.evaluate()
    result = trainer.train()
    after = trainer.evaluate()
    assert result["step"] == 30 and not result["interrupted"]
    assert after["loss"] < 0.5 * before["loss"]
    assert set(after) == {"loss", "mae", "step"} and after["step"] == 30
    assert set(result["metrics"]) == {"loss", "mae", "learning_rate", "steps_per_second"}
    assert result["metrics"]["learning_rate"] == 0.0  # linear decay reaches 0 at the last step
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index"))) == [
        "ckpt-10.index", "ckpt-20.index", "ckpt-30.index"]
    assert glob.glob(str(tmp_path / "summaries" / "train" / "events.out.tfevents.*"))
    assert glob.glob(str(tmp_path / "summaries" / "eval" / "events.out.tfevents.*"))
    # The scalars are real TensorBoard scalar events.
    tags = set()
    for event_file in glob.glob(str(tmp_path / "summaries" / "train" / "events.*")):
        for record in tf.data.TFRecordDataset(event_file):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.add(value.tag)
                assert value.metadata.plugin_data.plugin_name == "scalars"
    assert {"loss", "mae", "learning_rate"} <= tags
    path = trainer.write_eval_results(after)
    assert json.load(open(path)) == after
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_grad_accumulation_equals_large_batch(tmp_path):
    big = _trainer(tmp_path / "big", batch=8, steps=4, model=_model(1))
    small = _trainer(tmp_path / "small", batch=4, steps=4, model=_model(1), grad_accum_steps=2)
    one_small = _trainer(tmp_path / "one", batch=4, steps=4, model=_model(1))
    for a, b in zip(big.model.get_weights(), small.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    big.train()
    small.train()
    one_small.train()
    for a, b in zip(big.model.get_weights(), small.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # ... and the comparison has teeth: plain batch-4 steps end elsewhere.
    diffs = [np.abs(a - b).max() for a, b in zip(big.model.get_weights(), one_small.model.get_weights())]
    assert max(diffs) > 1e-3
    assert int(small.step.numpy()) == 4 and int(small.optimizer.iterations.numpy()) == 4


def test_resume_restores_weights_step_optimizer_and_input_position(tmp_path):
    first = _trainer(tmp_path, batch=8, steps=5, save_checkpoints_steps=5)
    first.train()
    expected_next = next(first._train_iterator)  # the batch step 6 would see
    weights = first.model.get_weights()
    slots = [v.numpy() for v in first.optimizer.variables]

    second = _trainer(tmp_path, batch=8, steps=5, model=_model(seed=99))
    assert second.restore().endswith("ckpt-5")
    assert int(second.step.numpy()) == 5
    for a, b in zip(weights, second.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(slots, [v.numpy() for v in second.optimizer.variables]):
        np.testing.assert_array_equal(a, b)
    got = next(second._train_iterator)
    np.testing.assert_array_equal(got[0].numpy(), expected_next[0].numpy())
    x, _ = _data()
    np.testing.assert_array_equal(got[0].numpy(), x[40:48])  # 5 steps x 8 examples consumed

    # A longer run in the same directory continues from step 5 to 9.
    third = _trainer(tmp_path, batch=8, steps=9, save_checkpoints_steps=100)
    result = third.train()
    assert result["step"] == 9 and third.restored_from.endswith("ckpt-5")
    assert result["checkpoint"].endswith("ckpt-9")


def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, capsys):
    _trainer(tmp_path, steps=6, save_checkpoints_steps=3).train()
    data_file = glob.glob(str(tmp_path / "ckpt-6.data-*"))[0]
    size = os.path.getsize(data_file)
    with open(data_file, "r+b") as f:
        f.truncate(size // 2)
    trainer = _trainer(tmp_path, steps=6)
    assert trainer.restore().endswith("ckpt-3")
    assert int(trainer.step.numpy()) == 3
    err = capsys.readouterr().err
    assert "ckpt-6 is unreadable" in err and "trying the previous checkpoint" in err

    # No readable checkpoint at all: a clear error, not a silent fresh start.
    for path in glob.glob(str(tmp_path / "ckpt-3.data-*")):
        with open(path, "r+b") as f:
            f.truncate(1)
    with pytest.raises(TrainingStateError, match="no readable checkpoint"):
        _trainer(tmp_path, steps=6).restore()


def test_sigterm_saves_and_stops_then_resume(tmp_path):
    trainer = _trainer(tmp_path, steps=100000, save_checkpoints_steps=100000, handle_signals=True)

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and int(trainer.step.numpy()) < 3:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=killer)
    thread.start()
    result = trainer.train()
    thread.join()
    assert result["interrupted"] and result["signal"] == "SIGTERM"
    stopped = result["step"]
    assert 3 <= stopped < 100000
    assert result["checkpoint"].endswith(f"ckpt-{stopped}")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or not callable(signal.getsignal(signal.SIGTERM)) \
        or signal.getsignal(signal.SIGTERM) != trainer._on_signal
    resumed = _trainer(tmp_path, steps=stopped + 2)
    assert resumed.train()["step"] == stopped + 2 and resumed.restored_from.endswith(f"ckpt-{stopped}")


def test_train_dataset_that_ends_gives_a_clear_error(tmp_path):
    model = _model()
    trainer = Trainer(model, create_optimizer(0.05, 50, 2), _dataset(8, repeat=False), model_dir=str(tmp_path),
                      num_train_steps=50, progress=False, handle_signals=False)
    with pytest.raises(ValueError, match="ran out at step 7: repeat"):
        trainer.train()


def test_mixed_precision_given_as_layer_dtype_leaves_the_global_policy_alone(tmp_path):
    """Loss scaling follows the model's layers (`dtype=` passed down), not the global policy."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh", dtype="mixed_float16"),
                              keras.layers.Dense(1, dtype="mixed_float16")])
    model.compile(loss="mse")
    trainer = _trainer(tmp_path, steps=4, model=model)
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    trainer.train()
    assert model.layers[0].compute_dtype == "float16" and keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(tmp_path, policy):
    keras.config.set_dtype_policy(policy)  # a user's global policy: the model (and its layers) take it
    try:
        model = _model()
        trainer = _trainer(tmp_path, steps=8, model=model, eval_dataset=_dataset(16, repeat=False))
        assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
        before = trainer.evaluate()["loss"]
        trainer.train()
        after = trainer.evaluate()["loss"]
        assert np.isfinite(after) and after < before
        assert model.layers[0].kernel.dtype == "float32" and model.layers[0].compute_dtype == policy[6:]
    finally:
        keras.config.set_dtype_policy("float32")


def test_jit_compile_matches_eager_graph(tmp_path):
    plain = _trainer(tmp_path / "plain", steps=5, model=_model(2))
    xla = _trainer(tmp_path / "xla", steps=5, model=_model(2), jit_compile=True)
    plain.train()
    xla.train()
    for a, b in zip(plain.model.get_weights(), xla.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# === Issue 14 E: the checkpoint state file missing, garbled or binary; stale; newer checkpoints never lost ===
def _damage_state_file(model_dir, how):
    path = model_dir / "checkpoint"
    if how == "deleted":
        path.unlink()
    elif how == "garbled":
        path.write_text("model_checkpoint_path: ckpt-30\nthis is {{ not a checkpoint state\n")
    else:  # binary garbage
        path.write_bytes(bytes(range(256)) * 8)


def _checkpoint_files(model_dir, step):
    return {p.name: p.read_bytes() for p in model_dir.iterdir() if p.name.startswith(f"ckpt-{step}.")}


@pytest.mark.parametrize("how", ["deleted", "garbled", "binary"])
def test_state_file_lost_resumes_from_the_newest_checkpoint_on_disk(tmp_path, capsys, how):
    _trainer(tmp_path, steps=30, save_checkpoints_steps=10, max_checkpoints_to_keep=2).train()
    ckpt_30 = _checkpoint_files(tmp_path, 30)
    assert ckpt_30 and _checkpoint_files(tmp_path, 20) and not _checkpoint_files(tmp_path, 10)
    _damage_state_file(tmp_path, how)
    capsys.readouterr()

    trainer = _trainer(tmp_path, steps=40, save_checkpoints_steps=10, max_checkpoints_to_keep=2)
    result = trainer.train()
    # Resumed at 30 (not restarted at 0), with a warning naming the state file and what was found.
    assert trainer.restored_from == str(tmp_path / "ckpt-30") and result["step"] == 40
    err = capsys.readouterr().err
    state = tmp_path / "checkpoint"
    assert f"the checkpoint state file {state} {'is missing' if how == 'deleted' else 'is unreadable'}" in err, err
    assert "found ckpt-30, ckpt-20" in err and "restoring the newest readable one" in err, err
    if how == "binary":
        assert "not UTF-8" in err
    # ckpt-30 was not overwritten; the rebuilt state file made ckpt-20 a managed checkpoint again, so the
    # manager rotated it out as usual (max_checkpoints_to_keep=2) and lists 30 and 40.
    assert _checkpoint_files(tmp_path, 30) == ckpt_30
    assert tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths == [
        str(tmp_path / "ckpt-30"), str(tmp_path / "ckpt-40")]
    assert not _checkpoint_files(tmp_path, 20) and not _checkpoint_files(tmp_path, 10)


@pytest.mark.parametrize("how", ["garbled", "binary"])
def test_unreadable_state_file_without_checkpoints_is_a_clear_error(tmp_path, how):
    (tmp_path / "checkpoint").write_text("")
    _damage_state_file(tmp_path, how)
    with pytest.raises(TrainingStateError, match=f"the checkpoint state file {tmp_path / 'checkpoint'} is unreadable"
                                              r" \(.*\) and .* holds no ckpt-<step> checkpoint"):
        _trainer(tmp_path, steps=5).train()
    # Missing, with no checkpoint: a fresh start, as always.
    (tmp_path / "checkpoint").unlink()
    assert _trainer(tmp_path, steps=2).train()["step"] == 2


def test_stale_state_file_does_not_hide_a_newer_checkpoint(tmp_path, capsys):
    _trainer(tmp_path, steps=30, save_checkpoints_steps=10).train()
    ckpt_30 = _checkpoint_files(tmp_path, 30)
    # As if killed after ckpt-30's files were written but before the state file named it.
    tf.__internal__.train.update_checkpoint_state(str(tmp_path), "ckpt-20", ["ckpt-10", "ckpt-20"],
                                                  save_relative_paths=True)
    trainer = _trainer(tmp_path, steps=40, save_checkpoints_steps=10)
    assert trainer.restore() == str(tmp_path / "ckpt-30") and int(trainer.step.numpy()) == 30
    assert "ckpt-30 in" in capsys.readouterr().err
    trainer.train()
    assert _checkpoint_files(tmp_path, 30) == ckpt_30
    assert [os.path.basename(p) for p in tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths] \
        == ["ckpt-10", "ckpt-20", "ckpt-30", "ckpt-40"]


def test_unreadable_newer_checkpoint_is_kept_aside_not_overwritten(tmp_path, capsys):
    _trainer(tmp_path, steps=6, save_checkpoints_steps=3).train()
    data_file = glob.glob(str(tmp_path / "ckpt-6.data-*"))[0]
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)
    damaged = _checkpoint_files(tmp_path, 6)
    trainer = _trainer(tmp_path, steps=9, save_checkpoints_steps=3)
    result = trainer.train()
    assert trainer.restored_from.endswith("ckpt-3") and result["step"] == 9
    err = capsys.readouterr().err
    assert "ckpt-6 is unreadable" in err and "kept the unreadable checkpoint" in err
    # The damaged files survive under another name (still a checkpoint prefix, no longer ckpt-<step>) ...
    aside = sorted(p.name for p in tmp_path.iterdir() if ".unreadable-" in p.name)
    assert len(aside) == 2 and all(name.startswith("ckpt-6.unreadable-") for name in aside), aside
    assert sorted(damaged.values()) == sorted((tmp_path / name).read_bytes() for name in aside)
    # ... and training wrote a new, readable ckpt-6 beside them.
    assert _trainer(tmp_path, steps=6).restore().endswith("ckpt-9")
    assert tf.train.load_checkpoint(str(tmp_path / "ckpt-6")).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 6


# === Issue 14 F: resume is bit-exact (dropout RNG state, input position, logging window) ===
def _bert_trainer(model_dir, total, **kwargs):
    """A tiny BERT classifier with dropout (hidden 12, heads 3, intermediate 37, vocab 41, seq 7), built from
    the same seed every time: what a rerun of the same command builds before it restores."""
    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier

    rng = np.random.default_rng(3)
    ids = rng.integers(4, 41, size=(24, 7)).astype("int32")
    mask = np.ones_like(ids)
    mask[::3, 5:] = 0
    x = {"token_ids": ids * mask, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    y = rng.integers(0, 5, size=(24,)).astype("int32")
    keras.utils.set_random_seed(5)
    encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=41))
    assert encoder.bert_config.hidden_dropout_prob > 0
    model = BertClassifier(encoder, num_classes=5)
    model.compile()
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(24, seed=1, reshuffle_each_iteration=True).repeat()
          .batch(4))
    kwargs.setdefault("progress", False)
    kwargs.setdefault("handle_signals", False)
    return Trainer(model, create_optimizer(1e-3, total, 2), ds, model_dir=str(model_dir), num_train_steps=total,
                   eval_dataset=tf.data.Dataset.from_tensor_slices((x, y)).batch(8), **kwargs)


def _step_losses(trainer, first, last, save_at=None):
    """Trains steps first..last one segment at a time; the loss of each step (log_every_steps=1)."""
    losses = []
    for step in range(first, last + 1):
        trainer.num_train_steps = step
        losses.append(trainer.train(save_at_end=step == save_at)["metrics"]["loss"])
    return losses


def test_resume_is_bit_exact(tmp_path):
    """Stopped after step K and resumed, the steps after K have the same losses, the model the same weights and
    optimizer state, bit for bit. Exact equality, no tolerance: both runs do the same float operations in the
    same order, and a different dropout mask moves this tiny model's loss by ~1e-4 (the check below), far
    above any rounding."""
    total, k = 10, 4
    straight = _bert_trainer(tmp_path / "straight", total, log_every_steps=1, save_checkpoints_steps=100)
    expected = _step_losses(straight, 1, total)

    first = _bert_trainer(tmp_path / "resumed", total, log_every_steps=1, save_checkpoints_steps=100)
    assert _step_losses(first, 1, k, save_at=k) == expected[:k]
    resumed = _bert_trainer(tmp_path / "resumed", total, log_every_steps=1, save_checkpoints_steps=100)
    assert resumed.restore().endswith(f"ckpt-{k}")
    assert _step_losses(resumed, k + 1, total) == expected[k:]
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(straight.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert straight.evaluate() == resumed.evaluate()

    # The comparison has teeth: without the dropout RNG state the resumed steps draw other masks.
    blind = _bert_trainer(tmp_path / "blind", total, log_every_steps=1, save_checkpoints_steps=100)
    blind._checkpoints.has_resume_state = False  # restores weights, optimizer, step and input position only
    shutil.copytree(tmp_path / "resumed", tmp_path / "blind", dirs_exist_ok=True)
    for name in os.listdir(tmp_path / "blind"):
        if name.startswith(f"ckpt-{total}."):
            os.remove(tmp_path / "blind" / name)
    tf.__internal__.train.update_checkpoint_state(str(tmp_path / "blind"), f"ckpt-{k}", [f"ckpt-{k}"],
                                                  save_relative_paths=True)
    assert blind.restore().endswith(f"ckpt-{k}")
    assert _step_losses(blind, k + 1, total) != expected[k:]


def test_resume_mid_logging_window_logs_the_same_averages(tmp_path):
    """A checkpoint between two log points (save every 3, log every 5): the resumed run's window average at
    step 10 still covers steps 6-10, as the uninterrupted run's does."""
    straight = _bert_trainer(tmp_path / "straight", 10, log_every_steps=5, save_checkpoints_steps=3)
    expected = straight.train()["metrics"]
    stopped = _bert_trainer(tmp_path / "resumed", 10, log_every_steps=5, save_checkpoints_steps=3)
    stopped.num_train_steps = 7
    stopped.train(save_at_end=False)  # checkpoints 3 and 6; step 7 is lost, as in a kill -9
    resumed = _bert_trainer(tmp_path / "resumed", 10, log_every_steps=5, save_checkpoints_steps=3)
    got = resumed.train()
    assert resumed.restored_from.endswith("ckpt-6")
    assert {k: v for k, v in got["metrics"].items() if k != "steps_per_second"} == {
        k: v for k, v in expected.items() if k != "steps_per_second"}


def test_checkpoint_without_resume_state_still_restores(tmp_path, capsys):
    """A checkpoint written before the resume state was saved (model, optimizer, step, input only) restores,
    with a warning that the resume is not bit-exact."""
    trainer = _trainer(tmp_path, steps=4)
    trainer.train(save_at_end=False)
    tf.train.CheckpointManager(trainer._core_checkpoint, str(tmp_path), max_to_keep=2,
                               checkpoint_name="ckpt").save(checkpoint_number=4)
    resumed = _trainer(tmp_path, steps=6)
    assert resumed.restore().endswith("ckpt-4") and int(resumed.step.numpy()) == 4
    assert "has no usable resume state (none saved" in capsys.readouterr().err
    for a, b in zip(trainer.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.train()["step"] == 6


def test_train_until_step_pauses_then_continues_as_one_run(tmp_path):
    """The public way to pause (issue 15): `train(until_step=...)` stops there without touching
    `num_train_steps`; `write_scalars` records what the caller measured; the steps are one run's."""
    straight = _trainer(tmp_path / "straight", steps=6, log_every_steps=1)
    expected = straight.train()["metrics"]
    paused = _trainer(tmp_path / "paused", steps=6, log_every_steps=1)
    first = paused.train(save_at_end=False, until_step=4)
    assert first["step"] == 4 and not first["interrupted"] and paused.num_train_steps == 6
    assert not glob.glob(str(tmp_path / "paused" / "ckpt-*.index"))
    paused.write_scalars("eval", {"accuracy": 0.5, "note": "not a number"}, 4)
    got = paused.train()
    assert got["step"] == 6 and {k: v for k, v in got["metrics"].items() if k != "steps_per_second"} == {
        k: v for k, v in expected.items() if k != "steps_per_second"}
    tags = set()
    for event_file in glob.glob(str(tmp_path / "paused" / "summaries" / "eval" / "events.*")):
        for record in tf.data.TFRecordDataset(event_file):
            tags |= {value.tag for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
    assert tags == {"accuracy"}
    assert paused.train(until_step=3)["step"] == 6  # nothing left before step 3


def test_one_process_at_a_time_trains_into_a_directory(tmp_path):
    """A second process training into a directory another one is training in gets a clear error naming the
    holder, before it reads or writes a checkpoint; a read-only restore (evaluating a run in progress) still
    reads it; the lock goes with its holder (even on SIGKILL), is shared inside one process, and is dropped when
    the Trainer is garbage collected."""
    import fcntl
    import gc
    import subprocess
    import sys

    from bert_tf.training.checkpointing import LOCK_FILE, TrainingDirectoryBusyError

    run = tmp_path / "run"

    def lock_is_free():
        with open(run / LOCK_FILE) as f:  # another open file: flock conflicts with it as with another process
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(f, fcntl.LOCK_UN)
            return True

    first = _trainer(run, steps=6)
    assert first.train()["step"] == 6 and os.path.exists(run / "ckpt-6.index")
    assert f"pid {os.getpid()} " in (run / LOCK_FILE).read_text() and not lock_is_free()
    del first
    gc.collect()
    assert lock_is_free()

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom bert_tf.training.checkpointing import lock_training_directory\n"
         "lock_training_directory(sys.argv[1]); print('held', flush=True); time.sleep(600)", str(run)],
        stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = _trainer(run, steps=8)
        with pytest.raises(TrainingDirectoryBusyError, match=rf"in use by pid {holder.pid} on .*another directory"):
            blocked.train()
        assert issubclass(TrainingDirectoryBusyError, TrainingStateError)  # what the scripts report cleanly
        assert int(blocked.step.numpy()) == 0 and sorted(glob.glob(str(run / "ckpt-*.index"))) == [
            str(run / "ckpt-6.index")]
        reader = _trainer(run, steps=8)  # run_pretraining.py --do_eval alone: reads the run in progress
        assert reader.restore(read_only=True).endswith("ckpt-6") and int(reader.step.numpy()) == 6
        with pytest.raises(TrainingDirectoryBusyError):  # ... but it cannot start training there
            reader.train()
    finally:
        holder.kill()
        holder.wait()
    del blocked, reader
    # SIGKILL left no way to clean up: the kernel dropped the lock with the process.
    resumed = _trainer(run, steps=8)
    assert resumed.train()["step"] == 8 and os.path.exists(run / "ckpt-8.index")
    second = _trainer(run, steps=10)  # the same process again (a notebook's new Trainer): shared, not refused
    assert second.train()["step"] == 10
    del resumed
    gc.collect()
    assert not lock_is_free()  # `second` still holds it
    del second
    gc.collect()
    assert lock_is_free()
