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
    with pytest.raises(ValueError, match=r"tpu: no TPU found on this machine \(.*\); on a TPU VM pass --tpu=local"):
        distribute.get_strategy("tpu")  # no TPU here: a clear error, not TF's "Please provide a TPU Name"
    with pytest.raises(ValueError, match=r"tpu: 'grpc://nothing' is not a grpc://host:port address"):
        distribute.get_strategy("tpu", tpu_address="grpc://nothing")  # TF's connect would wait for minutes
    with socket.socket() as s:  # a port nobody listens on: refused at once, not a silent wait inside TF
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(ValueError, match=rf"tpu: cannot reach the TPU worker at 'grpc://127.0.0.1:{closed_port}'"):
        distribute.get_strategy("tpu", tpu_address=f"grpc://127.0.0.1:{closed_port}")
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


def _run_parameter_server_cluster(command, timeout=300):
    """Runs `command` as chief, 2 workers and 1 ps on 127.0.0.1 (each with its TF_CONFIG); returns the chief's
    stdout and the other tasks' stderr once the chief is done (they serve until killed: TF's design)."""
    ports = _free_ports(4)
    cluster = {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{p}" for p in ports[1:3]],
               "ps": [f"127.0.0.1:{ports[3]}"]}
    tasks = [("ps", 0), ("worker", 0), ("worker", 1), ("chief", 0)]
    procs = {}
    try:
        for task_type, index in tasks:
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster,
                                                         "task": {"type": task_type, "index": index}}))
            procs[(task_type, index)] = subprocess.Popen([sys.executable, *map(str, command)], stdout=subprocess.PIPE,
                                                         stderr=subprocess.PIPE, text=True, env=env)
        chief = procs[("chief", 0)]
        out, err = chief.communicate(timeout=timeout)
        assert chief.returncode == 0, err[-3000:]
        servers = {}
        for key, proc in procs.items():
            if key != ("chief", 0):
                assert proc.poll() is None, f"{key} exited early: {proc.communicate()[1][-2000:]}"
                proc.kill()
                servers[key] = proc.communicate()[1]
        return out, servers
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_parameter_server_trains_on_two_workers_checkpoints_and_resumes(tmp_path):
    out, servers = _run_parameter_server_cluster([WORKER, "parameter_server", tmp_path, 4])
    first = json.loads(out.strip().splitlines()[-1])
    assert first["chief"] is True and first["restored"] is None and first["step"] == 4
    assert len(first["losses"]) == 4 and first["losses"][-1] < first["losses"][0]
    for (task_type, index), err in servers.items():
        assert f"parameter_server: {task_type} {index} serving at" in err
    # The chief alone writes checkpoints (the worker script ends a train() call, and so saves, every step); no
    # worker copies.
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index"))) == [
        f"ckpt-{i}.index" for i in range(1, 5)]
    assert not os.path.exists(tmp_path / ".worker_tmp")
    second = json.loads(_run_parameter_server_cluster([WORKER, "parameter_server", tmp_path, 6])[0]
                        .strip().splitlines()[-1])
    assert second["start"] == 4 and second["restored"].endswith("ckpt-4") and second["step"] == 6
    assert second["losses"][-1] < first["losses"][0]
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt-*.index")))[-1] == "ckpt-6.index"


@pytest.mark.slow
def test_run_classifier_under_parameter_server_learns_and_saves(tmp_path):
    """The fine-tuning script, unchanged, on a chief + 2 workers + 1 ps: it learns a separable toy task (the
    workers shuffle with their own seeds), evaluates on the chief and writes the best model and checkpoints.
    (On one device the same flags reach accuracy 1.0; with --learning_rate=1e-3 they stay at 0.5. Asynchronous
    updates make it noisier: at 6 epochs 2 of 10 runs stayed below 0.9, so it trains 12.)"""
    rng = np.random.RandomState(3)
    rows = ["text,label"]
    for i in range(48):
        label = i % 2
        words = rng.choice(["apple", "pear", "plum"] if label else ["car", "bus", "train"], 3)
        rows.append(f"{' '.join(words)} number {i},{'fruit' if label else 'vehicle'}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    vocab = os.path.join(os.path.dirname(__file__), "..", "testdata", "vocab", "uncased_vocab.txt")
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "run_classifier.py")
    out_dir = tmp_path / "out"
    _run_parameter_server_cluster([
        script, "--do_train", "--do_eval", "--data_format=csv", "--text_a_column=text", "--label_column=label",
        f"--train_file={tmp_path / 'train.csv'}", f"--eval_file={tmp_path / 'train.csv'}", f"--vocab_file={vocab}",
        "--preset=test", "--max_seq_length=16", "--train_batch_size=8", "--num_train_epochs=12",
        "--learning_rate=1e-2", f"--output_dir={out_dir}", "--distribution_strategy=parameter_server"])
    results = json.loads((out_dir / "eval_results.json").read_text())
    assert results["accuracy"] >= 0.9, results
    assert (out_dir / "best_model.keras").is_file() and glob.glob(str(out_dir / "ckpt-72.index"))


def test_parameter_server_needs_chief_worker_and_ps(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="parameter_server: TF_CONFIG's cluster needs chief, worker and ps tasks; "
                                         "it has no chief, ps"):
        distribute.get_strategy("parameter_server")


def test_per_worker_seed_differs_between_evaluations():
    """Each worker runs the traced pipeline; two runs of it (as on two workers) shuffle differently even under
    a global seed (0, the scripts' default, once made tf.data compare a seed tensor as a bool)."""
    tf.random.set_seed(0)

    @tf.function
    def pipeline():
        return tf.data.Dataset.range(50).shuffle(50, seed=distribute.per_worker_seed())

    orders = [list(pipeline().as_numpy_iterator()) for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(50)) and orders[0] != orders[1]
    fixed = tf.function(lambda: tf.data.Dataset.range(50).shuffle(50))  # without it: the same order twice
    assert list(fixed().as_numpy_iterator()) == list(fixed().as_numpy_iterator())
