"""Strategies by name; mirrored over two logical CPUs matches one device; two local workers train, write one
checkpoint (the chief's) and resume. The multi-process tests are slow (fresh processes: logical devices must be
configured before TensorFlow initialises)."""

import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.training import distribute

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def _run(args, env=None, timeout=240):
    out = subprocess.run([sys.executable, WORKER, *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_get_strategy_names_and_errors(monkeypatch):
    assert isinstance(distribute.get_strategy("off"), tf.distribute.OneDeviceStrategy)
    assert isinstance(distribute.get_strategy("ONE_DEVICE"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="unknown distribution strategy 'horovod'"):
        distribute.get_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker_mirrored")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.get_strategy("parameter_server")


def test_batch_helpers_and_chief(monkeypatch):
    assert distribute.per_replica_batch_size(32, 4) == 8
    with pytest.raises(ValueError, match="not divisible"):
        distribute.per_replica_batch_size(30, 4)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief() and distribute.task_id() == 0
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not distribute.is_chief() and distribute.task_id() == 1
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert distribute.is_chief()


def test_distribute_dataset_function_shards_per_replica():
    strategy = distribute.get_strategy("off")

    def dataset_fn(ctx):
        batch = ctx.get_per_replica_batch_size(4)
        return tf.data.Dataset.range(8).shard(ctx.num_input_pipelines, ctx.input_pipeline_id).batch(batch)

    batches = [b.numpy().tolist() for b in distribute.distribute_dataset(strategy, dataset_fn, 4)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_one_device(tmp_path):
    one = _run(["one_device", tmp_path / "one", 5])
    mirrored = _run(["mirrored", tmp_path / "mirrored", 5, 2])
    assert one["replicas"] == 1 and mirrored["replicas"] == 2
    assert len(one["losses"]) == 5
    np.testing.assert_allclose(mirrored["losses"], one["losses"], rtol=1e-4)
    np.testing.assert_allclose(mirrored["weights"], one["weights"], rtol=1e-4)
    assert one["losses"][-1] < one["losses"][0]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run_workers(model_dir, steps):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, WORKER, "multi_worker_mirrored", str(model_dir), str(steps)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return results


@pytest.mark.slow
def test_multi_worker_mirrored_trains_writes_one_checkpoint_and_resumes(tmp_path):
    first = _run_workers(tmp_path, 4)
    assert [r["chief"] for r in first] == [True, False]
    assert all(r["replicas"] == 2 and r["step"] == 4 and r["restored"] is None for r in first)
    assert first[0]["losses"] == pytest.approx(first[1]["losses"], rel=1e-5)
    assert first[0]["losses"][-1] < first[0]["losses"][0]
    # One set of checkpoints (the chief's; the worker script ends a train() call, and so saves, every step);
    # the other worker's temporary copies are gone.
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index"))) == [
        f"ckpt-{i}.index" for i in range(1, 5)]
    assert not glob.glob(str(tmp_path / ".worker_tmp" / "*" / "ckpt-*"))
    second = _run_workers(tmp_path, 6)
    assert all(r["start"] == 4 and r["restored"].endswith("ckpt-4") and r["step"] == 6 for r in second)
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index")))[-1] == "ckpt-6.index"


def test_trainer_refuses_parameter_server_strategy_clearly():
    """ParameterServerStrategy needs a ClusterCoordinator loop, which the Trainer does not have: a clear error
    up front instead of a failure inside strategy.run. (An uninitialised instance: a real one needs a cluster.)"""
    import keras

    from bert_tf.training.trainer import Trainer
    strategy_class = tf.distribute.experimental.ParameterServerStrategy
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="parameter_server: .*multi_worker_mirrored"):
        Trainer(model, keras.optimizers.SGD(), None, model_dir="unused", num_train_steps=1,
                strategy=strategy_class.__new__(strategy_class))
