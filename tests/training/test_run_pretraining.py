"""scripts/run_pretraining.py end to end: SIGKILL mid-run and rerun resumes at the saved step and finishes;
SIGTERM saves and exits cleanly; the output directory loads back as a BertPretrainer."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import tiny_pretraining  # tests/tiny_pretraining.py

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "run_pretraining.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretrain")
    tiny_pretraining.write_records(directory, "train.tfrecord", num_documents=40, dupe_factor=2)
    return directory


def _command(data, output_dir, steps, save_every):
    return [sys.executable, SCRIPT, f"--input_file={data / 'train.tfrecord'}", f"--vocab_file={data / 'vocab.txt'}",
            "--preset=test", f"--output_dir={output_dir}", "--max_seq_length=23", "--max_predictions_per_seq=5",
            "--train_batch_size=4", f"--num_train_steps={steps}", "--num_warmup_steps=2", "--learning_rate=1e-3",
            f"--save_checkpoints_steps={save_every}", "--do_train", "--do_eval", "--max_eval_steps=5",
            f"--eval_input_file={data / 'train.tfrecord'}"]  # --do_train --do_eval needs one (issue 13)


def _steps(output_dir):
    """Steps of the checkpoints the state file lists (a checkpoint counts once the state file names it)."""
    state = os.path.join(output_dir, "training", "checkpoint")
    if not os.path.exists(state):
        return []
    with open(state) as f:
        lines = [line for line in f if line.startswith("all_model_checkpoint_paths")]
    return sorted(int(line.rsplit("ckpt-", 1)[1].split('"')[0]) for line in lines)


def _start_and_wait_for_checkpoint(command, output_dir, min_step, timeout=180):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if any(s >= min_step for s in _steps(output_dir)):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no checkpoint >= {min_step} within {timeout}s: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_finishes(data, tmp_path):
    out = tmp_path / "run"
    final = 150
    command = _command(data, out, steps=final, save_every=10)
    proc = _start_and_wait_for_checkpoint(command, out, 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The newest complete checkpoint: the one the state file names, or a newer one whose index was written just
    # before the kill, ahead of the state file (resume scans ckpt-*.index too, issue 14 item E).
    indexed = [int(os.path.basename(p)[len("ckpt-"):-len(".index")])
               for p in glob.glob(str(out / "training" / "ckpt-*.index"))]
    saved = max(_steps(out) + indexed)
    assert 10 <= saved < final, "the run finished before it could be killed"
    run = subprocess.run(command, capture_output=True, text=True, timeout=240)  # the same command
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["start_step"] == saved and summary["restored_from"].endswith(f"ckpt-{saved}")
    assert summary["step"] == final and max(_steps(out)) == final
    assert "resuming from" in run.stderr
    results = json.load(open(out / "eval_results.json"))
    assert results["step"] == final and 0 <= results["masked_lm_accuracy"] <= 1
    for name in ("model.safetensors", "bert_config.json", "config.json", "vocab.txt"):
        assert (out / name).exists()
    from bert_tf.checkpoints import load_pretrainer
    model = load_pretrainer(str(out), nsp=True)
    assert model.encoder.bert_config.vocab_size == 41 and model.encoder.bert_config.hidden_size == 12


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(data, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(_command(data, out, steps=100000, save_every=1000000), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 180
    while time.time() < deadline and not glob.glob(str(out / "training" / "summaries" / "train" / "events.*")):
        time.sleep(0.2)  # the summary writer exists once the training loop runs
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr and "received SIGTERM" in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["step"] > 0 and _steps(out) == [summary["step"]]


@pytest.mark.slow
def test_eval_every_steps_records_held_out_loss_over_training(data, tmp_path):
    """--eval_every_steps=3 over 7 steps: evaluations at steps 3, 6 and 7 (the end), each with the masked-LM loss
    and accuracy, in eval_history.json; the run's steps are those of one uninterrupted run."""
    output_dir = tmp_path / "evals"
    command = _command(data, output_dir, steps=7, save_every=100) + [
        "--eval_every_steps=3", f"--eval_input_file={data / 'train.tfrecord'}"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(output_dir / "eval_history.json") as f:
        history = json.load(f)
    assert [h["step"] for h in history] == [3, 6, 7]
    for h in history:
        assert np.isfinite(h["loss"]) and 0.0 <= h["masked_lm_accuracy"] <= 1.0, h
    assert json.loads(proc.stdout.strip().splitlines()[-1])["step"] == 7
    # TensorBoard gets each evaluation once (the final --do_eval reuses the step-7 evaluation).
    events = [(e.step, v.tag) for path in (output_dir / "training" / "summaries" / "eval").iterdir()
              for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value]
    assert sorted(step for step, tag in events if tag == "masked_lm_accuracy") == [3, 6, 7]
    with open(output_dir / "eval_results.json") as f:
        assert json.load(f)["masked_lm_accuracy"] == pytest.approx(history[-1]["masked_lm_accuracy"])


@pytest.mark.slow
def test_train_only_embeddings_changes_the_token_embeddings_and_nothing_else_of_the_encoder(data, tmp_path):
    """--train_only_embeddings from a pre-trained model (Artetxe et al. 2020: a frozen body learns a new
    vocabulary): after training, the saved encoder differs from its init checkpoint in the token embeddings only;
    the masked-LM head trains too. Then the same run without the flag changes the body as well."""
    from safetensors.numpy import load_file

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    body = tmp_path / "body"
    first = subprocess.run(_command(data, body, steps=3, save_every=3), capture_output=True, text=True, timeout=300,
                           env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    start = load_file(str(body / "model.safetensors"))
    runs = {}
    for name, extra in (("frozen", ["--train_only_embeddings"]), ("all", [])):
        out = tmp_path / name
        command = [a.replace("--learning_rate=1e-3", "--learning_rate=3e-2") for a in _command(data, out, 5, 5)
                   if a != "--preset=test"] + [f"--init_checkpoint={body}", "--nsp=false"] + extra
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        runs[name] = load_file(str(out / "model.safetensors"))
    encoder_names = [k for k in start if k.startswith("bert.") and "pooler" not in k]
    assert len(encoder_names) > 20 and "bert.embeddings.word_embeddings.weight" in encoder_names
    changed = lambda weights: {k for k in encoder_names if not np.array_equal(weights[k], start[k])}  # noqa: E731
    assert changed(runs["frozen"]) == {"bert.embeddings.word_embeddings.weight"}
    assert not np.array_equal(runs["frozen"]["cls.predictions.transform.dense.weight"],
                              start["cls.predictions.transform.dense.weight"])
    assert len(changed(runs["all"])) > 20  # without the flag the whole encoder trains

    # Resuming the frozen run without the flag cannot restore its checkpoints (no optimizer slots for the body):
    # refused, naming the flag and both ways forward, and the run still resumes with the flag.
    frozen = [a.replace("--learning_rate=1e-3", "--learning_rate=3e-2") for a in _command(data, tmp_path / "frozen",
                                                                                          7, 5) if a != "--preset=test"]
    frozen += [f"--init_checkpoint={body}", "--nsp=false"]
    refused = subprocess.run(frozen, capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (f"{tmp_path / 'frozen'} holds checkpoints of a run with --train_only_embeddings=true (now false): rerun "
            "with the same flags to resume it, or start the next stage in a new --output_dir with "
            f"--init_checkpoint={tmp_path / 'frozen'}") in refused.stderr
    resumed = subprocess.run(frozen + ["--train_only_embeddings"], capture_output=True, text=True, timeout=300,
                             env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["start_step"] == 5


@pytest.mark.slow
def test_electra_objective_trains_saves_the_discriminator_and_resumes(data, tmp_path):
    """--objective=electra on the same records: held-out replaced-token metrics over training, the discriminator
    saved as the model (loadable by every script), the generator beside it, resume from a checkpoint; and
    --objective=electra with NSP on is refused with a message naming the fix."""
    out = tmp_path / "electra"
    base = [a for a in _command(data, out, steps=6, save_every=3) if not a.startswith("--learning_rate")]
    electra = ["--objective=electra", "--nsp=false", "--generator_hidden_size=0.5", "--disc_weight=20",
               "--learning_rate=3e-3", "--eval_every_steps=3"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    refused = subprocess.run(base + ["--objective=electra"], capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 2 and "--objective=electra" in refused.stderr and "--nsp=false" in refused.stderr
    assert "Traceback" not in refused.stderr
    first = subprocess.run(base + electra, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    longer = [a.replace("--num_train_steps=6", "--num_train_steps=12") for a in base + electra]
    second = subprocess.run(longer, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["start_step"] == 6 and summary["step"] == 12
    with open(out / "eval_history.json") as f:
        history = json.load(f)
    assert [h["step"] for h in history] == [3, 6, 9, 12]
    assert all(0.0 <= h["replaced_token_accuracy"] <= 1.0 and np.isfinite(h["masked_lm_loss"]) for h in history)
    assert history[-1]["replaced_token_loss"] < history[0]["replaced_token_loss"]
    with open(out / "pretraining.json") as f:  # the sequence length the saved weights were pre-trained on
        assert json.load(f) == {"max_seq_length": 23, "objective": "electra"}

    from bert_tf.checkpoints import load_encoder
    saved = load_encoder(str(out))  # the discriminator, in Hugging Face BertModel layout
    assert saved.bert_config.hidden_size == 12
    with open(out / "config.json") as f:
        assert json.load(f)["architectures"] == ["BertModel"]
    from bert_tf.checkpoints import load_pretrainer
    generator = load_pretrainer(str(out / "generator"), nsp=False)  # a masked LM, head included
    assert generator.encoder.bert_config.hidden_size == 6
    with open(out / "generator" / "config.json") as f:
        assert json.load(f)["architectures"] == ["BertForMaskedLM"]
    assert np.abs(generator.masked_lm_head.output_bias.numpy()).max() > 0  # trained, not a fresh zero bias
    in_training = load_encoder(str(out / "training"), config_file=str(out / "bert_config.json"))
    for a, b in zip(saved.weights, in_training.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Continuing a finished ELECTRA run from its saved directories (a new output_dir: no optimizer state): one step
    # at a negligible learning rate leaves both networks, generator head included, where the first run ended.
    # Its record keeps the longer sequences its init_checkpoint says it was pre-trained on (here made 40).
    (out / "pretraining.json").write_text('{"max_seq_length": 40, "objective": "mlm"}')
    again = tmp_path / "again"
    cont = [a.replace(str(out), str(again)).replace("--num_train_steps=6", "--num_train_steps=1")
            for a in base + electra if not a.startswith("--learning_rate")] + [
        f"--init_checkpoint={out}", f"--generator_init_checkpoint={out / 'generator'}", "--learning_rate=1e-9"]
    third = subprocess.run(cont, capture_output=True, text=True, timeout=300, env=env)
    assert third.returncode == 0, third.stderr[-3000:]
    with open(again / "pretraining.json") as f:
        assert json.load(f) == {"max_seq_length": 40, "objective": "electra"}
    continued = load_pretrainer(str(again / "generator"), nsp=False)
    for a, b in zip(generator.weights, continued.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    for a, b in zip(saved.weights, load_encoder(str(again)).weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
