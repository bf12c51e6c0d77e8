"""Faults (issue 7, part 3): `kill -9` of a fine-tuning run and rerunning the same command resumes it; a corrupt
newest checkpoint is reported by name and the previous one is used; an interrupted export never becomes a
servable version. (A run whose checkpoints are all unreadable is a bad-file case in test_bad_files.py.)

(`scripts/run_pretraining.py`'s SIGKILL/SIGTERM resumption is tested in tests/training/test_run_pretraining.py,
the Trainer's corrupt-checkpoint fallback in tests/training/test_trainer.py and an export that raises half way
in tests/export/test_export.py; these tests do the same to the fine-tuning script and to a real export process.)
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import grpc
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = os.path.join(REPO, "tests", "testdata", "parity", "interop_tiny", "hf", "vocab.txt")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")

# 120 training rows, batch 2: 60 steps per epoch; 6 evaluations per epoch -> an evaluation and a checkpoint
# every 10 steps (the fine-tuning scripts checkpoint at every evaluation); 4 epochs = 240 steps.
INTERVAL, TOTAL = 10, 240


def _write_data(d):
    rng = random.Random(1)
    words = "the man went to store he bought a gallon of milk dog is cute play".split()
    rows = [f"{' '.join(rng.choice(words) for _ in range(rng.randint(3, 8)))},{('pos', 'neg', 'neu')[i % 3]}"
            for i in range(120)]
    with open(os.path.join(d, "train.csv"), "w", encoding="utf-8") as f:
        f.write("text,label\n" + "\n".join(rows) + "\n")
    with open(os.path.join(d, "eval.csv"), "w", encoding="utf-8") as f:
        f.write("text,label\n" + "\n".join(rows[:9]) + "\n")


def _checkpoint_steps(out):
    """Steps of the checkpoints the state file lists (a checkpoint counts once the state file names it)."""
    try:
        with open(os.path.join(out, "checkpoint"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    return sorted(int(s) for s in re.findall(r'all_model_checkpoint_paths: "ckpt-(\d+)"', text))


def _kill_when(proc, out, condition, timeout=300):
    """SIGKILLs `proc` as soon as `condition(checkpoint steps)` holds; returns (steps, output so far)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        steps = _checkpoint_steps(out)
        if steps and condition(steps):
            proc.send_signal(signal.SIGKILL)
            output, _ = proc.communicate(timeout=60)
            return steps, output
        time.sleep(0.02)
    proc.kill()
    output, _ = proc.communicate(timeout=60)
    raise AssertionError(f"the run ended or stalled before it could be killed (rc {proc.returncode}, checkpoints "
                         f"{_checkpoint_steps(out)}):\n{output[-3000:]}")


@pytest.mark.slow
def test_finetuning_kill9_resumes_and_a_corrupt_checkpoint_falls_back(tmp_path):
    _write_data(str(tmp_path))
    out = str(tmp_path / "out")
    command = [sys.executable, os.path.join(REPO, "scripts", "run_classifier.py"), "--do_train", "--do_eval",
               "--data_format=csv", "--text_a_column=text", "--label_column=label",
               f"--train_file={tmp_path / 'train.csv'}", f"--eval_file={tmp_path / 'eval.csv'}",
               f"--dev_file={tmp_path / 'eval.csv'}",  # evaluations during training (this test's own data)
               f"--vocab_file={VOCAB}", "--preset=test", "--train_batch_size=2", "--num_train_epochs=4",
               "--evals_per_epoch=6", "--max_seq_length=16", "--learning_rate=1e-3", f"--output_dir={out}"]

    def start():
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                                cwd=REPO)

    # 1. kill -9 once two checkpoints exist.
    steps, _ = _kill_when(start(), out, lambda s: s[-1] >= 2 * INTERVAL)
    first = steps[-1]
    assert first < TOTAL and all(s % INTERVAL == 0 for s in steps), steps
    # At most one interval of work is lost: checkpoints are INTERVAL steps apart, the last one is resumed.
    # (TF's CheckpointManager lists a new checkpoint in the state file before it deletes the oldest one and
    # rewrites the file, so a kill in between sees one extra, older entry: only the newest two are compared.)
    assert len(steps) == 1 or steps[-1] - steps[-2] == INTERVAL, steps
    assert len(steps) <= 3, steps

    # 2. The same command resumes from that checkpoint (the log says so) and the step counter continues;
    #    kill it again once it has written two checkpoints of its own.
    steps, output = _kill_when(start(), out, lambda s: s[-1] >= first + 2 * INTERVAL)
    # (A kill after the next checkpoint's files were written but before the state file named it leaves a
    # complete ckpt-<first + INTERVAL>: the trainer restores the newest readable checkpoint on disk.)
    restored = re.search(rf"restored {re.escape(out)}/ckpt-(\d+) at step (\d+)", output)
    assert restored and restored.group(1) == restored.group(2) and int(restored.group(1)) in (
        first, first + INTERVAL), output[-3000:]
    first = int(restored.group(1))
    assert steps[-2:] == [steps[-1] - INTERVAL, steps[-1]] and steps[-2] > first, steps  # not restarted from 0
    assert len(steps) <= 3, steps
    second = steps[-1]
    assert second < TOTAL

    # 3. Truncate the newest checkpoint: the rerun names it, falls back to the previous one and finishes.
    data = os.path.join(out, f"ckpt-{second}.data-00000-of-00001")
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    run = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    assert f"checkpoint {out}/ckpt-{second} is unreadable" in output and "trying the previous checkpoint" in output
    assert f"restored {out}/ckpt-{second - INTERVAL} at step {second - INTERVAL}" in output
    assert _checkpoint_steps(out)[-1] == TOTAL
    with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    assert history["done"] and history["num_train_steps"] == TOTAL
    assert max(e["step"] for e in history["eval"]) == TOTAL
    with open(os.path.join(out, "eval_results.json"), encoding="utf-8") as f:
        assert 0.0 <= json.load(f)["accuracy"] <= 1.0


@pytest.mark.slow
def test_export_killed_midway_never_becomes_a_servable_version(tmp_path):
    """A real export process SIGKILLed while it writes: its temporary folder is left behind, but the model has no
    version, a local server ignores the leftover, and the next export still gets version 1."""
    import keras

    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier
    from serving.export import next_version
    from serving.server.versions import list_versions

    keras.utils.set_random_seed(7)
    model = BertClassifier(BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=99)), num_classes=3,
                           dropout=0.0, label_names=["a", "b", "c"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(str(run_dir / "best_model.keras"))
    shutil.copyfile(VOCAB, run_dir / "vocab.txt")
    base = tmp_path / "exports" / "clf"
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "scripts", "export_model.py"),
                             f"--model={run_dir / 'best_model.keras'}", f"--export_base={tmp_path / 'exports'}",
                             "--model_name=clf", "--max_seq_length=16"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV, cwd=REPO)
    deadline = time.time() + 300
    # Kill once the SavedModel is being written into the temporary folder.
    while time.time() < deadline and proc.poll() is None:
        temps = [n for n in os.listdir(base) if n.startswith(".tmp-")] if base.is_dir() else []
        if temps and os.path.exists(base / temps[0] / "variables"):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the export was not killed midway:\n{output[-3000:]}"
    left = os.listdir(base)
    assert left and all(n.startswith(".tmp-1-") for n in left), left  # no integer version folder
    assert list_versions(str(base)) == [] and next_version(str(base)) == 1

    # Even a complete SavedModel under a temporary name is not a version (the rename is what publishes it).
    export_leftover = base / left[0]
    shutil.rmtree(export_leftover)
    from serving import export
    final = export.export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                      export_base=str(tmp_path / "exports"), model_name="clf", max_seq_length=16,
                                      label_names=["a", "b", "c"])
    assert final == str(base / "1")
    os.rename(final, export_leftover)  # as if killed just before the rename
    assert list_versions(str(base)) == []

    from serving.client import ServingClient
    from serving.server import ModelServer
    with ModelServer(model_name="clf", model_base_path=str(base), port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0.1) as server:
        client = ServingClient(server.grpc_address, "clf", retries=0)
        time.sleep(0.5)  # several polls of the folder
        assert "AVAILABLE" not in _states(client).values()
        with pytest.raises(grpc.RpcError):
            client.predict({"text": ["the man went to the store"]})
        shutil.copytree(export_leftover, base / "3")  # a published version is picked up; the leftover never is
        deadline = time.time() + 60
        while time.time() < deadline and _states(client).get(3) != "AVAILABLE":
            time.sleep(0.1)
        assert _states(client) == {3: "AVAILABLE"}
        result = client.predict({"text": ["the man went to the store"]})
        assert result["probabilities"].shape == (1, 3)


def _states(client):
    """{version: state} of the client's model; {} while the server knows no version of it."""
    try:
        return {s["version"]: s["state"] for s in client.get_model_status()}
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e
        return {}
